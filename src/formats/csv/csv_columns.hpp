// The clicks/conversions header names (SPEC 1.2) as the CSV decoder reads them, for code that writes CSV
// for that decoder: `advx publish` puts each record's fields in the column order `advx serve` expects.
#pragma once
#include <string_view>

namespace advx {

// The EventField (as an int) a header name maps to — case-insensitive, spaces and tabs around it ignored,
// with the SPEC 1.2 aliases — or -1 for a column the decoder does not know.
int csv_column_field(std::string_view header_name);

}  // namespace advx
