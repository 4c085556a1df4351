// ResultTable: what a store's query gives back, typed and column by column, the same on every engine.
// Values keep their type (integers, exact decimals, timestamps in microseconds), so callers read numbers
// as numbers, and one renderer (value_text.hpp) writes them as text for people and tools: the same value
// reads the same whichever engine stored it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace advx {

enum class ValueType : uint8_t {
  boolean,       // ints: 0/1
  integer,       // ints: signed 64-bit
  real,          // reals: double
  decimal,       // decimals: unscaled 128-bit, `scale` digits after the point (also HUGEINT, scale 0)
  text,          // texts
  timestamp,     // ints: epoch microseconds, UTC (DuckDB TIMESTAMP, ClickHouse DateTime + micros)
  timestamp_tz,  // ints: epoch microseconds, shown in UTC with "+00" (DuckDB TIMESTAMPTZ)
  date,          // ints: days since 1970-01-01
  other,         // texts: a type with no portable form (INTERVAL, UUID, BLOB, ...), as its engine writes it
};

struct ResultColumn {
  std::string name;
  ValueType type = ValueType::text;
  std::string engine_type;  // the engine's own name of the type: "BIGINT", "DECIMAL(38,12)", "Int64"
  uint8_t scale = 0;        // decimal
  bool single = false;      // real: a 32-bit float, written with a float's shortest digits
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<__int128> decimals;
  std::vector<std::string> texts;
  std::vector<uint8_t> nulls;  // one per row: 1 = NULL (the value slot then holds a zero or empty)

  size_t size() const { return nulls.size(); }
  bool is_null(size_t row) const { return nulls[row] != 0; }
  bool is_number() const {
    return type == ValueType::integer || type == ValueType::real || type == ValueType::decimal;
  }

  // Appending values: the slot of the column's type (or only the null mark) grows by one.
  void push_null();
  void push_int(int64_t v);  // boolean, integer, timestamp, timestamp_tz, date
  void push_real(double v);
  void push_decimal(__int128 unscaled);
  void push_text(std::string v);  // text, other

  // A value as a number: integers and booleans exactly, decimals and reals as double. NULL reads 0.
  int64_t int_at(size_t row) const;
  double real_at(size_t row) const;
  // The value's text (value_text.hpp); NULL gives "".
  std::string text_at(size_t row) const;
  void append_text(size_t row, std::string& out) const;
};

struct ResultTable {
  std::vector<ResultColumn> columns;

  size_t rows() const { return columns.empty() ? 0 : columns.front().size(); }
  // The column named `name`, or nullptr.
  const ResultColumn* find(std::string_view name) const;
  // The column named `name`; throws std::out_of_range naming it when the result has none.
  const ResultColumn& column(std::string_view name) const;
  // Convenience for tests and messages: the text of one cell.
  std::string text(size_t row, size_t col) const { return columns.at(col).text_at(row); }
};

}  // namespace advx
