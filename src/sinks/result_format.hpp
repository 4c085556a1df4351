// Query results as text for people and tools: `advx sql` and the reports share these.
#pragma once
#include <string>
#include <string_view>

#include "sinks/duckdb_store.hpp"

namespace advx {

// Aligned columns, psql style: a header, a separator line, numbers right-aligned, NULL shown as "NULL"
// (as the DuckDB CLI does), a footer "(3 rows)". A value's line breaks start new lines inside its cell;
// other control characters are shown as \t, \r or \xHH so they cannot break the layout.
std::string format_table(const QueryResult& result);

// RFC 4180: header row, fields quoted when they hold a comma, quote, CR or LF, quotes doubled. NULL is an
// empty field and the empty string is "", so the two stay apart. Lines end in LF, as DuckDB's COPY writes.
std::string format_csv(const QueryResult& result);

// An array of objects, one per row and one line each. Numeric DuckDB types are JSON numbers (nan and inf,
// which JSON cannot hold, become strings), BOOLEAN is true/false, NULL is null, everything else a string.
std::string format_json(const QueryResult& result);

// The format a command's --format names: "csv", "json", anything else the table.
std::string format_result(const QueryResult& result, std::string_view format);

// Whether a DuckDB type name (QueryResult::column_types) is a number: integers, FLOAT, DOUBLE, DECIMAL.
bool is_numeric_type(std::string_view type_name);

}  // namespace advx
