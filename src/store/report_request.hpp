// What `advx report` asks a store for (SPEC 2.7, docs/REPORTS.md): the campaign report and its keys, the
// funnel, attribution latency and impression frequency, over a range of event time. Each engine writes
// the SQL of these in its own folder; the answers are the same on every engine.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// Where the campaign report reads whole hours from. `rollup`: from campaign_hourly (which ingest
// maintains) when the keys are campaign, day and hour, and from the raw event tables only for the partial
// hours at the edges of the range or for other keys. `raw`: the raw tables always (to check the rollup,
// or for a store whose rollup was never built).
enum class Scan : uint8_t { rollup, raw };

enum class Kind : uint8_t { campaigns, funnel, latency, frequency };

struct ReportRequest {
  Kind kind = Kind::campaigns;
  // campaigns: the keys in the order given (duplicates and `campaign` are ignored: campaign_id is always
  // a key and comes after the others).
  std::vector<Dimension> by;
  bool by_campaign = false;  // funnel, latency, frequency: one row (set) per campaign
  TimeRange range;
  Scan scan = Scan::rollup;  // campaigns and funnel
};

// Engine-independent pieces of the reports' plans, shared by every engine's SQL.
// A range cut into the whole UTC hours inside it (read from campaign_hourly) and the partial hours at its
// edges (read from the raw tables). Bounds left open stay open.
struct HourSplit {
  std::optional<TimeRange> rollup;
  std::vector<TimeRange> raw;
};
HourSplit split_hours(const TimeRange& range);

// The keys other than campaign, in the order given, without duplicates.
std::vector<Dimension> other_keys(const std::vector<Dimension>& by);

}  // namespace advx::report

namespace advx {
using report::ReportRequest;
}
