// Text of DuckDB values read straight from result vectors, written the way DuckDB's own VARCHAR cast
// writes them (so `advx sql` shows what the DuckDB CLI shows). Internal to the DuckDB store.
#pragma once
#include <duckdb.h>

#include <string>
#include <vector>

#include "store/result.hpp"

namespace advx::duckdb_text {

// What render() needs to know about one result column, looked up once per column, not per value.
struct ColumnText {
  duckdb_type id = DUCKDB_TYPE_INVALID;
  duckdb_type internal = DUCKDB_TYPE_INVALID;  // storage of DECIMAL and ENUM values
  uint8_t scale = 0;                           // DECIMAL
  std::vector<std::string> enum_values;        // ENUM dictionary
  std::string type_name;                       // as DuckDB spells it, e.g. "DECIMAL(18,3)"
  bool supported = true;                       // nested types (LIST, STRUCT, ...) are not rendered
};

ColumnText describe_column(duckdb_logical_type type);

// The portable type a column's values are read as (store/result.hpp); `other` keeps DuckDB's text.
ValueType value_type(const ColumnText& col);

// Appends the value of `row` to `out` (a column of value_type(col)); the caller has checked validity.
void push(const ColumnText& col, const void* data, idx_t row, ResultColumn& out);

}  // namespace advx::duckdb_text
