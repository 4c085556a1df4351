#include "store/value_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace advx::value_text {
namespace {

using i128 = __int128;
using u128 = unsigned __int128;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

void append_u128(unsigned __int128 v, std::string& out) {
  char buf[40];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  } while (v != 0);
  out.append(p, buf + sizeof buf - p);
}

void append_i128(__int128 v, std::string& out) {
  if (v < 0) {
    out += '-';
    append_u128(static_cast<u128>(0) - static_cast<u128>(v), out);
  } else {
    append_u128(static_cast<u128>(v), out);
  }
}

void append_int(int64_t v, std::string& out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_padded(int64_t v, int width, std::string& out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  for (int n = static_cast<int>(res.ptr - buf); n < width; ++n) out += '0';
  out.append(buf, res.ptr);
}

// DuckDB prints floats as {fmt} does: shortest round-trip digits, fixed notation for exponents -4..15
// (with ".0" on whole numbers), scientific with a two-digit exponent otherwise.
template <class F>
void append_floating(F v, std::string& out) {
  if (std::isnan(v)) {
    out += "nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-inf" : "inf";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(res.ptr - buf));
  if (s.front() == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  size_t e_pos = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exp = std::atoi(std::string(s.substr(e_pos + 1)).c_str());
  if (exp < -4 || exp >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += exp < 0 ? "e-" : "e+";
    append_padded(std::abs(exp), 2, out);
  } else if (exp >= 0) {
    size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out += digits;
      out.append(int_len - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, int_len);
      out += '.';
      out.append(digits, int_len);
    }
  } else {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
  }
}

void append_decimal(__int128 v, uint8_t scale, std::string& out) {
  if (scale == 0) {
    append_i128(v, out);
    return;
  }
  if (v < 0) out += '-';
  std::string digits;
  append_u128(v < 0 ? static_cast<u128>(0) - static_cast<u128>(v) : static_cast<u128>(v), digits);
  if (digits.size() <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
  out.append(digits, 0, digits.size() - scale);
  out += '.';
  out.append(digits, digits.size() - scale);
}

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
void append_date(int64_t days, std::string& out) {
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t year = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  year += month <= 2;
  bool bc = year <= 0;
  append_padded(bc ? 1 - year : year, 4, out);
  out += '-';
  append_padded(month, 2, out);
  out += '-';
  append_padded(day, 2, out);
  if (bc) out += " (BC)";
}

// HH:MM:SS[.fff] from units of 10^-frac_digits seconds, trailing zeros trimmed. Hours are not wrapped,
// so intervals longer than a day print as DuckDB prints them.
void append_time(int64_t units, int frac_digits, std::string& out) {
  int64_t per_second = 1;
  for (int i = 0; i < frac_digits; ++i) per_second *= 10;
  int64_t secs = units / per_second;
  int64_t frac = units % per_second;
  append_padded(secs / 3600, 2, out);
  out += ':';
  append_padded(secs / 60 % 60, 2, out);
  out += ':';
  append_padded(secs % 60, 2, out);
  if (frac != 0) {
    std::string f;
    append_padded(frac, frac_digits, f);
    while (f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
}

void append_timestamp(int64_t units, int64_t units_per_day, int frac_digits, std::string& out) {
  if (units == std::numeric_limits<int64_t>::max()) {
    out += "infinity";
    return;
  }
  if (units == -std::numeric_limits<int64_t>::max()) {
    out += "-infinity";
    return;
  }
  int64_t days = floor_div(units, units_per_day);
  append_date(days, out);
  out += ' ';
  append_time(units - days * units_per_day, frac_digits, out);
}

void append_double(double v, std::string& out) { append_floating(v, out); }
void append_float(float v, std::string& out) { append_floating(v, out); }

}  // namespace advx::value_text
