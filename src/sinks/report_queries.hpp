// The SQL of `advx report` (SPEC 2.7, docs/REPORTS.md): campaign performance, the funnel, attribution
// latency and impression frequency, as SELECTs over the stored tables. Builders return SQL text, so the
// same reports can run through DuckDbStore::query_read_only() from the CLI, the tests or a server.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sinks/duckdb_store.hpp"

namespace advx::report {

// A `--by` key of `advx report campaigns`. The result column of each is named in dimension_column().
enum class Dimension : uint8_t { campaign, creative, site, country, device, day, hour };

// The names accepted by --by: campaign, creative, site, country, device, day, hour.
const std::vector<std::string>& dimension_names();
// Parses one --by name; false when it is not one of dimension_names().
bool parse_dimension(std::string_view name, Dimension* out);
// The result column of a key: campaign_id, creative_id, site, country, device_type, day, hour.
std::string_view dimension_column(Dimension d);

// Event time filter, applied to each event table's own event_time: from inclusive, to exclusive.
struct TimeRange {
  std::optional<int64_t> from_us;  // epoch microseconds, UTC
  std::optional<int64_t> to_us;
};

// --from/--to text: what parse_timestamp_text() accepts, or a plain date YYYY-MM-DD (its midnight, UTC).
bool parse_time_bound(std::string_view text, int64_t* micros);

// Where the campaign report reads whole hours from. `rollup`: from campaign_hourly (which advx ingest
// maintains) when the keys are campaign, day and hour, and from the raw event tables only for the partial
// hours at the edges of the range or for other keys. `raw`: the raw tables always (to check the rollup,
// or for a store whose rollup was never built).
enum class Scan : uint8_t { rollup, raw };

// advx report campaigns. `by` lists the keys in the order given (duplicates and `campaign` are ignored:
// campaign_id is always a key and comes after the others).
std::string campaigns_sql(const std::vector<Dimension>& by, const TimeRange& range, Scan scan = Scan::rollup);

// advx report funnel: one row overall, or one per campaign.
std::string funnel_sql(bool by_campaign, const TimeRange& range, Scan scan = Scan::rollup);

// advx report latency: impression -> click and click -> conversion percentiles.
std::string latency_sql(bool by_campaign, const TimeRange& range);

// advx report frequency: impressions per user (per user and campaign with by_campaign) in buckets.
std::string frequency_sql(bool by_campaign, const TimeRange& range);

// For the `table` format only: counts with thousands separators, ctr/conversion_rate/win_rate as
// percentages with 2 decimals, money and the other decimals with 2 decimals. Column types are kept so
// numbers stay right-aligned; NULL stays NULL.
QueryResult humanize(const QueryResult& result);

}  // namespace advx::report
