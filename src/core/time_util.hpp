// Time: parsing the timestamp forms of SPEC 1.4 into UTC epoch microseconds, and calendar helpers.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace advx {

inline constexpr int64_t kMicrosPerSecond = 1'000'000;
inline constexpr int64_t kMicrosPerHour = 3600 * kMicrosPerSecond;
inline constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

struct CivilDate {
  int64_t year;
  unsigned month;
  unsigned day;
};
constexpr CivilDate civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = int64_t(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

inline int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
inline int32_t date_of(int64_t micros) { return int32_t(floor_div(micros, kMicrosPerDay)); }
inline uint8_t hour_of(int64_t micros) {
  return uint8_t(floor_div(micros - int64_t(date_of(micros)) * kMicrosPerDay, kMicrosPerHour));
}

// Epoch seconds, milliseconds or microseconds, told apart by magnitude (SPEC 1.4): below 1e11 seconds
// (up to year 5138), below 1e14 milliseconds, below 1e17 microseconds. Negative or larger: false.
bool epoch_number_to_micros(double value, int64_t* micros);
bool epoch_integer_to_micros(int64_t value, int64_t* micros);

// ISO-8601 `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM|±HHMM|±HH)`, the same with a space instead of `T`, and
// either without a zone (taken as UTC); or a plain decimal number (epoch, as above). Leading and trailing
// blanks are ignored. Fractions beyond microseconds are truncated. Years before 1970 are refused.
bool parse_timestamp_text(std::string_view text, int64_t* micros);

// `YYYY-MM-DD` -> days since epoch.
bool parse_date(std::string_view text, int32_t* days);

// Now, by the system clock, in epoch microseconds.
int64_t wall_clock_us();

// For messages and tests: `2026-11-01T12:34:56.123456Z`.
std::string format_timestamp(int64_t micros);

}  // namespace advx
