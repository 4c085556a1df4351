// Parquet export on ClickHouse: the rows of a table in the range, read a chunk of hours at a time (the
// versioned tables with FINAL, timestamps from their NAME_us columns), as a TableSlice of the schema's
// table, into DuckDB's ParquetWriter, which writes them as the DuckDB store's export does.
#include "store/clickhouse/clickhouse_export.hpp"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/clickhouse_store.hpp"
#include "store/duckdb/duckdb_export.hpp"

namespace advx {
namespace clickhouse {

std::vector<ExportRange> export_chunks(std::span<const std::pair<int64_t, uint64_t>> hour_counts,
                                       const ExportRange& range, uint64_t max_rows) {
  std::vector<ExportRange> chunks;
  if (hour_counts.empty()) return chunks;
  ExportRange current{range.from_us, std::nullopt};
  uint64_t rows = 0;
  for (const auto& [hour, n] : hour_counts) {
    if (rows > 0 && rows + n > max_rows) {
      current.to_us = hour * kMicrosPerHour;
      chunks.push_back(current);
      current = {hour * kMicrosPerHour, std::nullopt};
      rows = 0;
    }
    rows += n;
  }
  current.to_us = range.to_us;
  chunks.push_back(current);
  return chunks;
}

}  // namespace clickhouse

namespace {

// The ResultTable slot each schema type reads into (clickhouse_http.hpp's column_kind of its stored type).
ValueType result_type(ColumnType type) {
  switch (type) {
    case ColumnType::varchar:
    case ColumnType::blob:
      return ValueType::text;
    case ColumnType::ubigint:
      return ValueType::decimal;  // UInt64: exact, scale 0
    case ColumnType::double_:
      return ValueType::real;
    case ColumnType::date:
      return ValueType::date;
    default:
      return ValueType::integer;  // UInt8, Int32, Int64 (and a timestamp's NAME_us)
  }
}

// The rows of one chunk's result as a TableSlice of `def`: the result's columns are the table's, in schema
// order. Views into the result where its slot has the schema's layout, converted copies elsewhere.
class ChunkRows {
 public:
  ChunkRows(const TableDef& def, const ResultTable& result) : def_(def), rows_(result.rows()) {
    if (result.columns.size() != def.columns.size())
      throw StoreError("clickhouse: the export of " + std::string(def.name) + " read " +
                           std::to_string(result.columns.size()) + " columns, not " +
                           std::to_string(def.columns.size()),
                       StoreErrorCode::internal);
    for (size_t c = 0; c < def.columns.size(); c++) {
      const ColumnDef& col = def.columns[c];
      const ResultColumn& r = result.columns[c];
      if (r.type != result_type(col.type) || r.scale != 0)
        throw StoreError("clickhouse: " + std::string(def.name) + "." + r.name + " is " + r.engine_type +
                             ", not the " + std::string(sql_type_name(col.type)) +
                             " advx expects (a table from another advx version?)",
                         StoreErrorCode::internal);
      ColumnData& d = columns_.emplace_back();
      bool any_null = false;
      for (uint8_t n : r.nulls) any_null = any_null || n != 0;
      if (any_null) {
        std::vector<uint8_t> valid(rows_);
        for (size_t i = 0; i < rows_; i++) valid[i] = r.nulls[i] == 0;
        d.valid = keep(std::move(valid));
      }
      switch (col.type) {
        case ColumnType::varchar:
        case ColumnType::blob:
          d.data = keep(std::vector<std::string_view>(r.texts.begin(), r.texts.end()));
          break;
        case ColumnType::boolean:
        case ColumnType::utinyint:
          d.data = keep(std::vector<uint8_t>(r.ints.begin(), r.ints.end()));
          break;
        case ColumnType::integer:
        case ColumnType::date:
          d.data = keep(std::vector<int32_t>(r.ints.begin(), r.ints.end()));
          break;
        case ColumnType::bigint:
        case ColumnType::timestamp:
          d.data = r.ints.data();
          break;
        case ColumnType::ubigint:
          d.data = keep(std::vector<uint64_t>(r.decimals.begin(), r.decimals.end()));
          break;
        case ColumnType::double_:
          d.data = r.reals.data();
          break;
        case ColumnType::money:
          throw StoreError("clickhouse: " + std::string(def.name) + " has a money column: not exported",
                           StoreErrorCode::internal);
      }
    }
  }

  TableSlice slice() const { return TableSlice{&def_, rows_, columns_}; }

 private:
  template <class T>
  const T* keep(std::vector<T> values) {
    auto owned = std::make_shared<std::vector<T>>(std::move(values));
    kept_.push_back(owned);
    return owned->data();
  }

  const TableDef& def_;
  size_t rows_;
  std::vector<ColumnData> columns_;
  std::vector<std::shared_ptr<const void>> kept_;
};

// The UTC date of a day number as ClickHouse reads a Date literal.
std::string date_literal(int64_t day) {
  const CivilDate d = civil_from_days(day);
  char text[32];
  std::snprintf(text, sizeof text, "'%04d-%02u-%02u'", int(d.year), d.month, d.day);
  return text;
}

}  // namespace

TableExportStats ClickHouseStore::export_table(const ExportTableSpec& spec, const std::string& dir,
                                               const ExportRange& range) {
  const TableDef* def = nullptr;
  for (const TableDef* t : tables::kAll)
    if (t->name == spec.table) def = t;
  const int time_index = def ? tables::column_index(*def, spec.time_column) : -1;
  if (time_index < 0 || def->columns[size_t(time_index)].type != ColumnType::timestamp)
    throw StoreError(
        "clickhouse: cannot export " + std::string(spec.table) + " by " + std::string(spec.time_column),
        StoreErrorCode::invalid);
  const std::string time = clickhouse::quote_ident(clickhouse::stored_name(def->columns[size_t(time_index)]));
  const std::string table = clickhouse::quote_ident(database()) + "." + clickhouse::quote_ident(def->name);
  const clickhouse::TableLayout& layout = clickhouse::table_layout(*def);

  // The rows in `r`; an event table's partitions (its event_date) are named too, so the other days' are
  // never read (ClickHouse prunes partitions by the partition column, not by the time they derive from).
  const auto where = [&](const ExportRange& r) {
    std::string w = " WHERE 1";
    constexpr int64_t kLastDate = 49'710;  // 2106-02-07, the last day of ClickHouse's Date
    const bool by_date = layout.rule == clickhouse::PartitionRule::date_column;
    if (r.from_us) {
      w += " AND " + time + " >= " + std::to_string(*r.from_us);
      const int64_t day = date_of(*r.from_us);
      if (by_date && day > 0 && day <= kLastDate)
        w += " AND " + clickhouse::quote_ident(layout.partition_column) + " >= " + date_literal(day);
    }
    if (r.to_us) {
      w += " AND " + time + " < " + std::to_string(*r.to_us);
      const int64_t day = date_of(*r.to_us - 1);
      if (by_date && day >= 0 && day < kLastDate)
        w += " AND " + clickhouse::quote_ident(layout.partition_column) + " <= " + date_literal(day);
    }
    return w;
  };

  // Rows per hour, to cut the range into chunks of about kExportChunkRows. Counted without FINAL (every
  // row version): only the chunks' sizes depend on it, never which rows are read.
  constexpr const char* kHourUs = "toInt64(3600000000)";
  const std::string hour =
      "intDiv(" + time + ", " + kHourUs + ") - (modulo(" + time + ", " + kHourUs + ") < 0)";
  const ResultTable counts = query("SELECT " + hour + " AS h, toInt64(count()) AS n FROM " + table +
                                   where(range) + " GROUP BY h ORDER BY h");
  std::vector<std::pair<int64_t, uint64_t>> hours;
  for (size_t i = 0; i < counts.rows(); i++)
    hours.emplace_back(counts.columns[0].int_at(i), uint64_t(counts.columns[1].int_at(i)));

  std::string columns;
  for (const ColumnDef& col : def->columns)
    columns += (columns.empty() ? "" : ", ") + clickhouse::quote_ident(clickhouse::stored_name(col));
  // The versioned tables' newest row versions: attribution never changes a row's time, so the WHERE may
  // run before FINAL merges the versions.
  const std::string source = table + (clickhouse::is_versioned(*def) ? " FINAL" : "");

  ParquetWriter writer;
  for (const ExportRange& chunk : clickhouse::export_chunks(hours, range, clickhouse::kExportChunkRows)) {
    const ResultTable rows = query("SELECT " + columns + " FROM " + source + where(chunk));
    writer.append(ChunkRows(*def, rows).slice());
  }
  return writer.write(spec, dir, range);
}

}  // namespace advx
