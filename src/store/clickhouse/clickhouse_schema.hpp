// The tables of core/table_schema.hpp as ClickHouse tables, for 18.16 (Debian 12's package) and current
// releases alike. The conventions, decided once for every table:
// - Every column is Nullable except the key columns (those the partition and sorting keys read), which
//   the pipeline always sets. 18.16 refuses Nullable columns in a sorting key ("Sorting key cannot contain
//   nullable columns", code 44), and current releases only with allow_nullable_key. A Nullable column that
//   a key must start with (campaign_id) enters the key as an expression, `ifNull(campaign_id, '')`, so a
//   NULL campaign stays NULL in the data. A query gets the index by filtering on that same expression.
// - A `timestamp` column NAME is stored as `NAME_us Int64`: epoch microseconds, the truth, what advx reads
//   and writes (18.16 has no DateTime64, and its DateTime is unsigned seconds). Beside it, for people,
//   `NAME DateTime('UTC') DEFAULT toDateTime(intDiv(NAME_us, 1000000), 'UTC')`, which inserts never write.
//   The zone is part of the type so the text reads the same whatever the server's zone. Before 1970 and
//   after 2106-02-07 that column shows nonsense (DateTime is UInt32 seconds); NAME_us stays exact.
// - `date` is Date (days as UInt16: 1970-01-01 to 2106-02-07, what both 18.16 and current releases show
//   right; the encoder refuses other days), `boolean` and `utinyint` UInt8, `integer` Int32, `bigint`
//   Int64, `ubigint` UInt64, `double_` Float64, `varchar` and `blob` String (bytes), and `money`
//   Decimal(38, 12): 18.16 keeps sums of it exact (sum() stays Decimal(38, 12)).
// - MergeTree, partitioned by the UTC day: event tables by event_date; rejects, the dedup state and the
//   rollup by the day of their time column, `intDiv(NAME_us, toInt64(86400000000))` (a signed divisor:
//   with a UInt64 literal 18.16 divides the microseconds as unsigned, and a negative time lands in a far
//   partition); tiny tables (campaigns, creatives, Kafka offsets, attribution progress and debts) in one
//   partition, tuple(); attribution debts by the day of their ingested_at. The sorting key starts with
//   the campaign where a table has one.
// - Rows that attribution changes (clicks, conversions, bid_requests, campaign_hourly) are never UPDATEd
//   (18.16's ALTER ... UPDATE is an asynchronous mutation): those tables are
//   `ReplacingMergeTree(advx_version)` with a ClickHouse-only column `advx_version UInt64 DEFAULT 0`, and
//   a sorting key that names the row within its partition (clicks and conversions: campaign, time,
//   event_key; bid_requests: time, auction_id; the rollup: campaign, hour). The pipeline's inserts never
//   write advx_version (0); an attribution pass writes whole rows again with its own, larger version, and
//   readers see the newest version of each row by reading with FINAL (clickhouse_attribution.cpp).
//   Two rows the pipeline stores with the same key would be one row here: the dedup keeps them apart
//   (the same event_key at the same time and campaign is a duplicate), so it never happens in practice.
//   The attribution debts are versioned the same way (0 = owed, else the pass that paid it), each with
//   a random id of its own, `advx_debt UInt64 DEFAULT rand64()`, so a pass pays exactly the debts it saw.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/table_schema.hpp"

namespace advx::clickhouse {

// The ClickHouse type of a column of this type, without Nullable: "String", "Decimal(38, 12)", "Int64" (a
// timestamp's NAME_us).
std::string clickhouse_type(ColumnType type);

// How the rows of a table are split into partitions, so an insert can go one partition at a time.
enum class PartitionRule : uint8_t {
  single,       // PARTITION BY tuple(): one partition
  date_column,  // PARTITION BY a Date column: its days
  micros_day,   // PARTITION BY intDiv(NAME_us, 86400000000): days since 1970, rounded toward zero
};

// A column that only the ClickHouse table has (not in core/table_schema.hpp): the inserts of the
// pipeline never name it, so it takes its DEFAULT.
struct ExtraColumn {
  std::string_view name;
  std::string_view type;
  std::string_view default_expr;
  std::string_view comment;
};

struct TableLayout {
  std::string_view partition_by;  // SQL, after PARTITION BY
  std::string_view order_by;      // SQL, after ORDER BY
  // Columns that are not Nullable: what the keys read. A NULL in one of them cannot be stored.
  std::span<const std::string_view> required;
  PartitionRule rule = PartitionRule::single;
  std::string_view partition_column;  // the schema column the rule reads (date_column, micros_day)
  // The ENGINE clause without PARTITION BY / ORDER BY: "MergeTree" or "ReplacingMergeTree(advx_version)".
  std::string_view engine = "MergeTree";
  // ClickHouse-only columns, after the schema's.
  std::span<const ExtraColumn> extra = {};
};

// The name of the row-version column of the versioned tables.
inline constexpr std::string_view kVersionColumn = "advx_version";

// The layout of a table of tables::kAll (by name); another table gets one partition, ORDER BY tuple() and
// every column Nullable.
const TableLayout& table_layout(const TableDef& table);
// The engine's name as system.tables shows it: "MergeTree" or "ReplacingMergeTree".
std::string_view engine_name(const TableDef& table);
// Whether the table keeps row versions (ReplacingMergeTree(advx_version)): read it with FINAL.
bool is_versioned(const TableDef& table);
// Whether column `index` of `table` is stored without Nullable.
bool is_required(const TableDef& table, size_t index);
// The stored name of a column: NAME_us for a timestamp, else NAME.
std::string stored_name(const ColumnDef& column);

// `name` in backquotes, for identifiers (`partition` is a keyword).
std::string quote_ident(std::string_view name);
// A ClickHouse string literal: quotes and backslashes escaped.
std::string quote_string(std::string_view text);

std::string create_database_sql(std::string_view db);
// CREATE TABLE IF NOT EXISTS db.table (...) ENGINE = MergeTree ..., with the column comments.
std::string create_table_sql(const TableDef& table, std::string_view db);

}  // namespace advx::clickhouse
