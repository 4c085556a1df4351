#include "store/clickhouse/clickhouse_schema.hpp"

namespace advx::clickhouse {
namespace {

using sv = std::string_view;

// The key columns of each table, never NULL where the pipeline writes them: event times and dates
// (validation rejects records without one), ingested_at (set on every stored row), the dedup keys, the
// Kafka positions and the hour of the rollup.
constexpr sv kEventRequired[] = {"event_time", "event_date"};
// Versioned event tables: the column that names the row in the sorting key is required too (the
// pipeline always sets it: the dedup key).
constexpr sv kKeyedEventRequired[] = {"event_time", "event_date", "event_key"};
constexpr sv kBidRequired[] = {"event_time", "event_date", "auction_id"};
constexpr sv kRejectRequired[] = {"ingested_at"};
constexpr sv kDedupRequired[] = {"stream", "key_hi", "key_lo", "event_time"};
constexpr sv kHourlyRequired[] = {"hour"};
constexpr sv kKafkaRequired[] = {"topic", "partition"};
constexpr sv kClaimRequired[] = {"topic", "partition", "epoch"};
constexpr sv kPendingRequired[] = {"ingested_at"};

constexpr sv kReplacing = "ReplacingMergeTree(advx_version)";
constexpr ExtraColumn kVersioned[] = {
    {"advx_version", "UInt64", "0",
     "row version: 0 as the pipeline stored it, else the attribution pass that wrote it (read with FINAL)"}};
constexpr ExtraColumn kPendingExtra[] = {
    {"advx_debt", "UInt64", "rand64()", "the debt's own id: a pass pays exactly the debts it read"},
    {"advx_version", "UInt64", "0", "0: owed; else the version of the attribution pass that paid it"}};
constexpr ExtraColumn kProgressExtra[] = {
    {"advx_version", "UInt64", "0", "the version of the pass, written when it starts and when it ends"}};

struct NamedLayout {
  sv table;
  TableLayout layout;
};

// Event tables: a day a partition, then by campaign and time (the campaign reports and attribution read
// one campaign's rows over a time range). bid_requests has no campaign: by time.
const NamedLayout kLayouts[] = {
    {"impressions",
     {"event_date", "(ifNull(campaign_id, ''), event_time_us)", kEventRequired, PartitionRule::date_column,
      "event_date"}},
    {"clicks",
     {"event_date", "(ifNull(campaign_id, ''), event_time_us, event_key)", kKeyedEventRequired,
      PartitionRule::date_column, "event_date", kReplacing, kVersioned}},
    {"conversions",
     {"event_date", "(ifNull(campaign_id, ''), event_time_us, event_key)", kKeyedEventRequired,
      PartitionRule::date_column, "event_date", kReplacing, kVersioned}},
    {"bid_requests",
     {"event_date", "(event_time_us, auction_id)", kBidRequired, PartitionRule::date_column, "event_date",
      kReplacing, kVersioned}},
    // Most rejects have no event time: by the day they were ingested.
    {"rejects",
     {"intDiv(ingested_at_us, toInt64(86400000000))", "ingested_at_us", kRejectRequired,
      PartitionRule::micros_day, "ingested_at"}},
    // One partition: a micro-batch's keys are then one INSERT, one part, atomic. The Kafka positions are
    // read from here (the largest source_record of a partition's source), so keys split over several
    // inserts (one a day, as before) could leave a position past keys a crash did not write: a hole the
    // replay would not fill. event_time is a bigint of microseconds here: no _us suffix.
    {"advx_dedup_state", {"tuple()", "(stream, key_hi, key_lo)", kDedupRequired, PartitionRule::single, ""}},
    {"campaigns", {"tuple()", "ifNull(campaign_id, '')", {}, PartitionRule::single, ""}},
    {"creatives",
     {"tuple()", "(ifNull(campaign_id, ''), ifNull(creative_id, ''))", {}, PartitionRule::single, ""}},
    {"campaign_hourly",
     {"intDiv(hour_us, toInt64(86400000000))", "(ifNull(campaign_id, ''), hour_us)", kHourlyRequired,
      PartitionRule::micros_day, "hour", kReplacing, kVersioned}},
    {"advx_kafka_offsets", {"tuple()", "(topic, `partition`)", kKafkaRequired, PartitionRule::single, ""}},
    {"advx_kafka_claims",
     {"tuple()", "(topic, `partition`, epoch)", kClaimRequired, PartitionRule::single, ""}},
    // Progress: a row when a pass starts (its version) and one when it ends (the mark): max() reads it.
    {"advx_attribution_progress",
     {"tuple()", "tuple()", {}, PartitionRule::single, "", "MergeTree", kProgressExtra}},
    // Debts by the day they were made: a pass drops the days long paid (clickhouse_attribution.cpp).
    {"advx_attribution_pending",
     {"intDiv(ingested_at_us, toInt64(86400000000))", "(ingested_at_us, advx_debt)", kPendingRequired,
      PartitionRule::micros_day, "ingested_at", kReplacing, kPendingExtra}},
};

const TableLayout kOtherLayout{"tuple()", "tuple()", {}, PartitionRule::single, ""};

}  // namespace

std::string clickhouse_type(ColumnType type) {
  switch (type) {
    case ColumnType::varchar:
    case ColumnType::blob:
      return "String";
    case ColumnType::boolean:
    case ColumnType::utinyint:
      return "UInt8";
    case ColumnType::integer:
      return "Int32";
    case ColumnType::bigint:
    case ColumnType::timestamp:  // NAME_us
      return "Int64";
    case ColumnType::ubigint:
      return "UInt64";
    case ColumnType::double_:
      return "Float64";
    case ColumnType::date:
      return "Date";
    case ColumnType::money:
      return "Decimal(38, 12)";
  }
  return "String";
}

const TableLayout& table_layout(const TableDef& table) {
  for (const NamedLayout& l : kLayouts)
    if (l.table == table.name) return l.layout;
  return kOtherLayout;
}

std::string_view engine_name(const TableDef& table) {
  const sv engine = table_layout(table).engine;
  return engine.substr(0, engine.find('('));
}

bool is_versioned(const TableDef& table) { return table_layout(table).engine == kReplacing; }

bool is_required(const TableDef& table, size_t index) {
  const sv name = table.columns[index].name;
  for (sv r : table_layout(table).required)
    if (r == name) return true;
  return false;
}

std::string stored_name(const ColumnDef& column) {
  std::string name(column.name);
  if (column.type == ColumnType::timestamp) name += "_us";
  return name;
}

std::string quote_ident(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`' || c == '\\') out += '\\';
    out += c;
  }
  return out + "`";
}

std::string quote_string(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string create_database_sql(std::string_view db) {
  return "CREATE DATABASE IF NOT EXISTS " + quote_ident(db);
}

std::string create_table_sql(const TableDef& table, std::string_view db) {
  const TableLayout& layout = table_layout(table);
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_ident(db) + "." + quote_ident(table.name) + " (";
  bool first = true;
  const auto column = [&](const std::string& name, const std::string& type, std::string_view rest,
                          std::string_view comment) {
    sql += first ? "\n  " : ",\n  ";
    first = false;
    sql += quote_ident(name) + " " + type;
    if (!rest.empty()) sql += " " + std::string(rest);
    if (!comment.empty()) sql += " COMMENT " + quote_string(comment);
  };
  for (size_t c = 0; c < table.columns.size(); c++) {
    const ColumnDef& col = table.columns[c];
    const bool required = is_required(table, c);
    const std::string type = clickhouse_type(col.type);
    const auto nullable = [&](const std::string& t) { return required ? t : "Nullable(" + t + ")"; };
    if (col.type != ColumnType::timestamp) {
      column(std::string(col.name), nullable(type), "", col.comment);
      continue;
    }
    const std::string us = stored_name(col);
    std::string comment = "epoch microseconds";
    if (!col.comment.empty()) comment += ", " + std::string(col.comment);
    column(us, nullable(type), "", comment);
    column(std::string(col.name), nullable("DateTime('UTC')"),
           "DEFAULT toDateTime(intDiv(" + quote_ident(us) + ", 1000000), 'UTC')",
           us + " in seconds, for people (advx never writes it)");
  }
  for (const ExtraColumn& x : layout.extra)
    column(std::string(x.name), std::string(x.type), "DEFAULT " + std::string(x.default_expr), x.comment);
  sql += "\n) ENGINE = " + std::string(layout.engine) + " PARTITION BY " + std::string(layout.partition_by) +
         " ORDER BY " + std::string(layout.order_by);
  return sql;
}

}  // namespace advx::clickhouse
