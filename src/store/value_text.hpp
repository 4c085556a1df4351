// Values as text, written the way DuckDB's VARCHAR cast writes them (so `advx sql` on the embedded store
// shows what the DuckDB CLI shows), and the same for every engine, so two stores holding the same rows
// print the same reports byte for byte.
#pragma once
#include <cstdint>
#include <string>

namespace advx::value_text {

void append_int(int64_t v, std::string& out);
void append_u128(unsigned __int128 v, std::string& out);
void append_i128(__int128 v, std::string& out);
// Shortest round-trip digits, fixed notation for exponents -4..15 (with ".0" on whole numbers),
// scientific with a two-digit exponent otherwise; nan, inf, -inf.
void append_double(double v, std::string& out);
void append_float(float v, std::string& out);
void append_decimal(__int128 unscaled, uint8_t scale, std::string& out);
// Days since 1970-01-01: YYYY-MM-DD (proleptic Gregorian, " (BC)" before year 1), infinity, -infinity.
void append_date(int64_t days, std::string& out);
// HH:MM:SS[.fff] from units of 10^-frac_digits seconds, trailing zeros trimmed; hours are not wrapped.
void append_time(int64_t units, int frac_digits, std::string& out);
// YYYY-MM-DD HH:MM:SS[.ffffff] from units per day (86400e6 for microseconds); infinity, -infinity.
void append_timestamp(int64_t units, int64_t units_per_day, int frac_digits, std::string& out);
void append_padded(int64_t v, int width, std::string& out);

}  // namespace advx::value_text
