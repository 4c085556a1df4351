// The stored tables (SPEC 3), declared once. The DuckDB DDL and the columnar batches appended to them are
// both derived from these lists, so a column can never be added to one and forgotten in the other.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace advx {

enum class ColumnType : uint8_t {
  varchar,    // data: std::string_view[]
  blob,       // data: std::string_view[]
  boolean,    // data: uint8_t[] (0/1)
  utinyint,   // data: uint8_t[]
  integer,    // data: int32_t[]
  bigint,     // data: int64_t[]
  ubigint,    // data: uint64_t[]
  double_,    // data: double[]
  timestamp,  // data: int64_t[] epoch microseconds, UTC (DuckDB TIMESTAMP)
  date,       // data: int32_t[] days since 1970-01-01
  money,      // DECIMAL(38,12): exact sums of money (rollups); written by SQL only, never appended
};

// The SQL type of a column (DuckDB's names): the DDL and the messages that name a column's type.
constexpr std::string_view sql_type_name(ColumnType t) {
  switch (t) {
    case ColumnType::varchar:
      return "VARCHAR";
    case ColumnType::blob:
      return "BLOB";
    case ColumnType::boolean:
      return "BOOLEAN";
    case ColumnType::utinyint:
      return "UTINYINT";
    case ColumnType::integer:
      return "INTEGER";
    case ColumnType::bigint:
      return "BIGINT";
    case ColumnType::ubigint:
      return "UBIGINT";
    case ColumnType::double_:
      return "DOUBLE";
    case ColumnType::timestamp:
      return "TIMESTAMP";
    case ColumnType::date:
      return "DATE";
    case ColumnType::money:
      return "DECIMAL(38,12)";
  }
  return "?";
}

struct ColumnDef {
  std::string_view name;
  ColumnType type;
  std::string_view comment;
};

struct TableDef {
  std::string_view name;
  std::span<const ColumnDef> columns;
};

namespace tables {
using CT = ColumnType;

inline constexpr ColumnDef kImpressionColumns[] = {
    {"event_key", CT::varchar,
     "dedup key: impression_id, or fp: and a fingerprint of the standardized fields"},
    {"impression_id", CT::varchar, ""},
    {"event_time", CT::timestamp, "UTC"},
    {"event_date", CT::date, "UTC date of event_time"},
    {"event_hour", CT::utinyint, "UTC hour of event_time"},
    {"creative_id", CT::varchar, ""},
    {"campaign_id", CT::varchar, "from the creative (dims), else the record's own"},
    {"advertiser_id", CT::varchar, "from the campaign (dims)"},
    {"user_id", CT::varchar, ""},
    {"site", CT::varchar, "website reduced to a lower-case host"},
    {"auction_id", CT::varchar, ""},
    {"win_price_cpm", CT::double_, ""},
    {"country", CT::varchar, "ISO 3166-1 alpha-2"},
    {"device_type", CT::varchar, "desktop, mobile, tablet, ctv or other"},
    {"os", CT::varchar, "OS family from the user agent"},
    {"browser", CT::varchar, "browser family from the user agent"},
    {"user_agent", CT::varchar, ""},
    {"ip", CT::varchar, ""},
    {"unknown_creative", CT::boolean, "the creative is not in the dimension data"},
    {"source", CT::varchar, "input the record came from"},
    {"source_record", CT::ubigint, "line or record number in the input"},
    {"ingested_at", CT::timestamp, ""},
};

inline constexpr ColumnDef kClickColumns[] = {
    {"event_key", CT::varchar, "dedup key: event_id, or fp: and a fingerprint of the standardized fields"},
    {"event_id", CT::varchar, ""},
    {"event_time", CT::timestamp, "UTC"},
    {"event_date", CT::date, ""},
    {"event_hour", CT::utinyint, ""},
    {"user_id", CT::varchar, ""},
    {"campaign_id", CT::varchar, ""},
    {"advertiser_id", CT::varchar, "from the campaign (dims)"},
    {"creative_id", CT::varchar, ""},
    {"unknown_campaign", CT::boolean, ""},
    {"source", CT::varchar, ""},
    {"source_record", CT::ubigint, ""},
    {"ingested_at", CT::timestamp, ""},
    {"attribution", CT::varchar, "attributed or orphan (SPEC 2.6)"},
    {"attributed_impression_key", CT::varchar, "event_key of the impression the click is attributed to"},
    {"seconds_from_impression", CT::double_, "click time minus impression time"},
};

inline constexpr ColumnDef kConversionColumns[] = {
    {"event_key", CT::varchar, ""},
    {"event_id", CT::varchar, ""},
    {"event_time", CT::timestamp, "UTC"},
    {"event_date", CT::date, ""},
    {"event_hour", CT::utinyint, ""},
    {"user_id", CT::varchar, ""},
    {"campaign_id", CT::varchar, ""},
    {"advertiser_id", CT::varchar, ""},
    {"creative_id", CT::varchar, ""},
    {"conversion_type", CT::varchar, "lower case"},
    {"conversion_value", CT::double_, ""},
    {"currency", CT::varchar, "ISO 4217, upper case"},
    {"unknown_campaign", CT::boolean, ""},
    {"source", CT::varchar, ""},
    {"source_record", CT::ubigint, ""},
    {"ingested_at", CT::timestamp, ""},
    {"attribution", CT::varchar, "click_through, view_through or unattributed (SPEC 2.6)"},
    {"attributed_click_key", CT::varchar, "event_key of the click (click_through)"},
    {"attributed_impression_key", CT::varchar,
     "the click's impression (click_through) or the one seen (view_through)"},
    {"seconds_from_touch", CT::double_, "conversion time minus the click or impression time"},
};

inline constexpr ColumnDef kBidRequestColumns[] = {
    {"auction_id", CT::varchar, "dedup key"},
    {"event_time", CT::timestamp, "UTC"},
    {"event_date", CT::date, ""},
    {"event_hour", CT::utinyint, ""},
    {"user_id", CT::varchar, ""},
    {"site_domain", CT::varchar, ""},
    {"app_bundle", CT::varchar, ""},
    {"country", CT::varchar, ""},
    {"device_type", CT::varchar, ""},
    {"os", CT::varchar, ""},
    {"browser", CT::varchar, ""},
    {"user_agent", CT::varchar, ""},
    {"ip", CT::varchar, ""},
    {"imp_count", CT::integer, ""},
    {"bid_floor", CT::double_, ""},
    {"exchange", CT::varchar, ""},
    {"targeting", CT::varchar, "JSON text"},
    {"source", CT::varchar, ""},
    {"source_record", CT::ubigint, ""},
    {"ingested_at", CT::timestamp, ""},
    {"won", CT::boolean, "an impression names this auction (SPEC 2.6)"},
};

inline constexpr ColumnDef kRejectColumns[] = {
    {"stream", CT::varchar, "impressions, clicks_conversions or bid_requests"},
    {"category", CT::varchar, "rejected or filtered"},
    {"reason", CT::varchar, "machine-readable reason code (SPEC 2.1, 2.3)"},
    {"detail", CT::varchar, "for a person"},
    {"source", CT::varchar, "input the record came from"},
    {"source_record", CT::ubigint, "line or record number in the input"},
    {"raw", CT::blob, "the record's bytes as read"},
    {"event_time", CT::timestamp, "when known (filtered records)"},
    {"ingested_at", CT::timestamp, ""},
};

// Dedup keys of everything stored (SPEC 2.4), so that dedup holds across runs. 32 bytes a key.
inline constexpr ColumnDef kDedupStateColumns[] = {
    {"stream", CT::utinyint, "key space: see transforms/dedup.hpp"},
    {"key_hi", CT::ubigint, "128-bit hash of the dedup key"},
    {"key_lo", CT::ubigint, ""},
    {"event_time", CT::bigint, "epoch microseconds"},
    {"payload_hash", CT::ubigint, "to count duplicate_conflicts"},
    // Where the key's record came from, as in the row it admitted: a store without multi-table commits
    // reads its positions back from here (docs/STORES.md).
    {"source", CT::varchar, "input the record came from"},
    {"source_record", CT::ubigint, "line, record or Kafka offset in the input"},
};

inline constexpr ColumnDef kCampaignColumns[] = {
    {"campaign_id", CT::varchar, ""}, {"advertiser_id", CT::varchar, ""}, {"campaign_name", CT::varchar, ""},
    {"start_date", CT::date, ""},     {"end_date", CT::date, ""},         {"currency", CT::varchar, ""},
};

inline constexpr ColumnDef kCreativeColumns[] = {
    {"creative_id", CT::varchar, ""}, {"campaign_id", CT::varchar, ""}, {"format", CT::varchar, ""},
    {"width", CT::integer, ""},       {"height", CT::integer, ""},
};

// Per campaign and UTC hour, maintained after every ingest for the hours it touched (correlate/rollups).
// Counts follow the campaign report: impressions and spend by the creative's campaign, clicks and
// conversions by the campaign they name, won bid requests by the campaign of the winning impression.
inline constexpr ColumnDef kHourlyCampaignColumns[] = {
    {"hour", CT::timestamp, "UTC hour (event_time truncated)"},
    {"campaign_id", CT::varchar, ""},
    {"bid_requests_won", CT::bigint, "won bid requests, at the hour of the bid request"},
    {"impressions", CT::bigint, ""},
    {"spend", CT::money, "sum(win_price_cpm) / 1000, exact (each price as DECIMAL(38,9))"},
    {"clicks", CT::bigint, ""},
    {"attributed_clicks", CT::bigint, ""},
    {"orphan_clicks", CT::bigint, ""},
    {"conversions", CT::bigint, ""},
    {"click_through_conversions", CT::bigint, ""},
    {"view_through_conversions", CT::bigint, ""},
    {"unattributed_conversions", CT::bigint, ""},
    {"conversion_value", CT::money, "exact (each value as DECIMAL(38,9))"},
};

// advx serve: where each Kafka partition resumes, written in the same transaction as the rows it produced.
inline constexpr ColumnDef kKafkaOffsetColumns[] = {
    {"topic", CT::varchar, ""},
    {"partition", CT::integer, ""},
    {"next_offset", CT::bigint, "the next offset to read: every message before it is stored"},
    {"updated_at", CT::timestamp, ""},
};

// Fleet fencing (docs/FLEET.md): who claimed a Kafka partition, with which epoch. The highest epoch of
// a partition names its owner; a batch of another member is refused.
inline constexpr ColumnDef kKafkaClaimColumns[] = {
    {"topic", CT::varchar, ""},
    {"partition", CT::integer, ""},
    {"epoch", CT::bigint, "one more than the partition's highest before"},
    {"member", CT::varchar, "the worker: host, pid and a random id of its start"},
    {"claimed_at", CT::timestamp, ""},
};

// How far attribution has gone: rows with ingested_at up to here have been attributed (one row).
inline constexpr ColumnDef kAttributionProgressColumns[] = {
    {"attributed_through", CT::timestamp, "the ingested_at of the newest rows attributed"},
};

// Attribution still owed (correlate/attribution.hpp): a row per committed transaction of event rows, written
// in that transaction and deleted by the attribution pass that covers it. Rows left after a crash are paid by
// the next ingest or the next start of serve.
inline constexpr ColumnDef kAttributionPendingColumns[] = {
    {"ingested_at", CT::timestamp, "the ingested_at of rows not attributed yet"},
};

inline constexpr TableDef kImpressions{"impressions", kImpressionColumns};
inline constexpr TableDef kClicks{"clicks", kClickColumns};
inline constexpr TableDef kConversions{"conversions", kConversionColumns};
inline constexpr TableDef kBidRequests{"bid_requests", kBidRequestColumns};
inline constexpr TableDef kRejects{"rejects", kRejectColumns};
inline constexpr TableDef kDedupState{"advx_dedup_state", kDedupStateColumns};
inline constexpr TableDef kCampaigns{"campaigns", kCampaignColumns};
inline constexpr TableDef kCreatives{"creatives", kCreativeColumns};
inline constexpr TableDef kHourlyCampaign{"campaign_hourly", kHourlyCampaignColumns};
inline constexpr TableDef kKafkaOffsets{"advx_kafka_offsets", kKafkaOffsetColumns};
inline constexpr TableDef kKafkaClaims{"advx_kafka_claims", kKafkaClaimColumns};
inline constexpr TableDef kAttributionProgress{"advx_attribution_progress", kAttributionProgressColumns};
inline constexpr TableDef kAttributionPending{"advx_attribution_pending", kAttributionPendingColumns};

// The index of the column `name` in `def`, or -1.
constexpr int column_index(const TableDef& def, std::string_view name) {
  for (size_t i = 0; i < def.columns.size(); i++)
    if (def.columns[i].name == name) return int(i);
  return -1;
}

inline constexpr const TableDef* kAll[] = {
    &kImpressions,    &kClicks,       &kConversions,         &kBidRequests,
    &kRejects,        &kDedupState,   &kCampaigns,           &kCreatives,
    &kHourlyCampaign, &kKafkaOffsets, &kAttributionProgress, &kAttributionPending,
    &kKafkaClaims};
}  // namespace tables

// Column-major data for appending rows to a table: one entry per column of `def`, in order.
// `valid` may be null (all valid); otherwise valid[row] == 0 stores NULL. `sel`, when set, lists the rows
// to append (in order); otherwise rows 0..rows-1.
struct ColumnData {
  const void* data = nullptr;
  const uint8_t* valid = nullptr;
};

struct TableSlice {
  const TableDef* def = nullptr;
  size_t rows = 0;
  std::span<const ColumnData> columns;
  const uint32_t* sel = nullptr;
  size_t sel_count = 0;

  size_t count() const { return sel ? sel_count : rows; }
  size_t row(size_t i) const { return sel ? sel[i] : i; }
};

}  // namespace advx
