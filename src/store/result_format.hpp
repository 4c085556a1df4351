// Query results as text for people and tools: `advx sql` and the reports share these. They read the
// typed values (store/result.hpp), so two engines holding the same rows print the same bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/result.hpp"

namespace advx {

// A result already written as text, laid out for the table format.
struct TextTable {
  std::vector<std::string> column_names;
  std::vector<uint8_t> right_align;            // per column: numbers are right-aligned
  std::vector<std::vector<std::string>> rows;  // [row][col]
  std::vector<std::vector<uint8_t>> is_null;   // [row][col]
};

TextTable as_text(const ResultTable& result);

// Aligned columns, psql style: a header, a separator line, numbers right-aligned, NULL shown as "NULL"
// (as the DuckDB CLI does), a footer "(3 rows)". A value's line breaks start new lines inside its cell;
// other control characters are shown as \t, \r or \xHH so they cannot break the layout.
std::string format_table(const TextTable& table);
std::string format_table(const ResultTable& result);

// RFC 4180: header row, fields quoted when they hold a comma, quote, CR or LF, quotes doubled. NULL is an
// empty field and the empty string is "", so the two stay apart. Lines end in LF, as DuckDB's COPY writes.
std::string format_csv(const ResultTable& result);

// An array of objects, one per row and one line each. Numbers are JSON numbers (nan and inf, which JSON
// cannot hold, become strings), booleans true/false, NULL is null, everything else a string.
std::string format_json(const ResultTable& result);

// The format a command's --format names: "csv", "json", anything else the table.
std::string format_result(const ResultTable& result, std::string_view format);

namespace report {

// For the `table` format of the reports only: counts with thousands separators, ctr/conversion_rate/
// win_rate as percentages with 2 decimals, money and the other numbers with 2 decimals. Numbers stay
// right-aligned; NULL stays NULL.
TextTable humanize(const ResultTable& result);

}  // namespace report
}  // namespace advx
