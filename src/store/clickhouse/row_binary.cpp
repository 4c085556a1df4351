#include "store/clickhouse/row_binary.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>

#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/store.hpp"

namespace advx::clickhouse {
namespace {

static_assert(std::endian::native == std::endian::little, "RowBinary is little-endian, as this host");

// The days Date holds and both 18.16 and current releases show right: 18.16's calendar ends at
// 2106-02-07 (day 49710), though the UInt16 would go on to 2149.
constexpr int32_t kMaxDate = 49710;

std::string where(const TableDef& t, const ColumnDef& c) {
  return "clickhouse: " + std::string(t.name) + "." + std::string(c.name);
}

template <class T>
void put(std::string& out, const T& v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out += char(uint8_t(v));
}

size_t column_index(const TableDef& t, std::string_view name) {
  for (size_t c = 0; c < t.columns.size(); c++)
    if (t.columns[c].name == name) return c;
  return t.columns.size();
}

}  // namespace

std::string insert_prefix(const TableDef& table, std::string_view db) {
  std::string sql = "INSERT INTO " + quote_ident(db) + "." + quote_ident(table.name) + " (";
  bool first = true;
  for (const ColumnDef& c : table.columns) {
    if (c.type == ColumnType::money) continue;
    if (!first) sql += ", ";
    first = false;
    sql += quote_ident(stored_name(c));
  }
  return sql + ") FORMAT RowBinary";
}

void append_row_binary(const TableSlice& slice, std::string& out) {
  const TableDef& t = *slice.def;
  const size_t ncols = t.columns.size();
  std::vector<uint8_t> required(ncols);
  for (size_t c = 0; c < ncols; c++) required[c] = is_required(t, c) ? 1 : 0;
  const size_t n = slice.count();
  out.reserve(out.size() + n * ncols * 6);
  for (size_t i = 0; i < n; i++) {
    const size_t r = slice.row(i);
    for (size_t c = 0; c < ncols; c++) {
      const ColumnDef& def = t.columns[c];
      const ColumnData& col = slice.columns[c];
      const bool valid = col.data && (!col.valid || col.valid[r]);
      if (def.type == ColumnType::money) {
        // Not in the insert's column list: a value there would be lost without a word.
        if (valid)
          throw StoreError(where(t, def) + ": money columns are written by SQL, never appended",
                           StoreErrorCode::invalid);
        continue;
      }
      if (required[c]) {
        if (!valid)
          throw StoreError(where(t, def) + " is NULL, but the table's key needs it", StoreErrorCode::invalid);
      } else {
        out += char(valid ? 0 : 1);
        if (!valid) continue;
      }
      switch (def.type) {
        case ColumnType::varchar:
        case ColumnType::blob: {
          const std::string_view s = static_cast<const std::string_view*>(col.data)[r];
          put_varint(out, s.size());
          out.append(s.data(), s.size());
          break;
        }
        case ColumnType::boolean:
        case ColumnType::utinyint:
          out += char(static_cast<const uint8_t*>(col.data)[r]);
          break;
        case ColumnType::integer:
          put(out, static_cast<const int32_t*>(col.data)[r]);
          break;
        case ColumnType::date: {
          const int32_t days = static_cast<const int32_t*>(col.data)[r];
          if (days < 0 || days > kMaxDate)
            throw StoreError(where(t, def) + " = " +
                                 format_timestamp(int64_t(days) * kMicrosPerDay).substr(0, 10) +
                                 ": ClickHouse's Date holds 1970-01-01 to 2106-02-07",
                             StoreErrorCode::invalid);
          put(out, uint16_t(days));
          break;
        }
        case ColumnType::bigint:
        case ColumnType::timestamp:
          put(out, static_cast<const int64_t*>(col.data)[r]);
          break;
        case ColumnType::ubigint:
          put(out, static_cast<const uint64_t*>(col.data)[r]);
          break;
        case ColumnType::double_:
          put(out, static_cast<const double*>(col.data)[r]);
          break;
        case ColumnType::money:
          break;
      }
    }
  }
}

std::string row_binary(const TableSlice& slice) {
  std::string out;
  append_row_binary(slice, out);
  return out;
}

std::vector<PartitionRows> split_by_partition(const TableSlice& slice) {
  const TableDef& t = *slice.def;
  const TableLayout& layout = table_layout(t);
  const size_t n = slice.count();
  std::vector<PartitionRows> parts;
  if (layout.rule == PartitionRule::single) {
    parts.push_back({0, {}});
    parts[0].rows.reserve(n);
    for (size_t i = 0; i < n; i++) parts[0].rows.push_back(uint32_t(slice.row(i)));
    return parts;
  }
  const size_t c = column_index(t, layout.partition_column);
  const ColumnData& col = slice.columns[c];
  // Most slices hold one or two days: a small ordered map of day -> index in `parts`.
  std::map<int64_t, size_t> index;
  for (size_t i = 0; i < n; i++) {
    const size_t r = slice.row(i);
    if (!col.data || (col.valid && !col.valid[r]))
      throw StoreError(where(t, t.columns[c]) + " is NULL, but the table is partitioned by it",
                       StoreErrorCode::invalid);
    // The server's own partition expression: event_date's days, or intDiv(us, 86400000000), which rounds
    // toward zero as C++ division does.
    const int64_t key = layout.rule == PartitionRule::date_column
                            ? int64_t(static_cast<const int32_t*>(col.data)[r])
                            : static_cast<const int64_t*>(col.data)[r] / kMicrosPerDay;
    auto [it, added] = index.try_emplace(key, parts.size());
    if (added) parts.push_back({key, {}});
    parts[it->second].rows.push_back(uint32_t(r));
  }
  std::sort(parts.begin(), parts.end(),
            [](const PartitionRows& a, const PartitionRows& b) { return a.partition < b.partition; });
  return parts;
}

}  // namespace advx::clickhouse
