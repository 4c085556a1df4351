#include "core/time_util.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

namespace advx {
namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at p; false if any is not a digit.
bool read_digits(const char*& p, const char* end, int n, int* out) {
  if (end - p < n) return false;
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(p[i])) return false;
    v = v * 10 + (p[i] - '0');
  }
  p += n;
  *out = v;
  return true;
}

constexpr bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
constexpr int days_in_month(int y, int m) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_epoch_text(std::string_view s, int64_t* micros) {
  // Integers take the exact path; a fraction goes through double (sub-microsecond error at most).
  bool has_dot = false;
  for (char c : s) {
    if (c == '.') {
      if (has_dot) return false;
      has_dot = true;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  if (s.empty() || s == ".") return false;
  if (!has_dot) {
    if (s.size() > 18) return false;
    int64_t v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return epoch_integer_to_micros(v, micros);
  }
  std::string tmp(s);
  char* end = nullptr;
  double d = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size()) return false;
  return epoch_number_to_micros(d, micros);
}

}  // namespace

bool epoch_integer_to_micros(int64_t v, int64_t* micros) {
  if (v < 0) return false;
  if (v < 100'000'000'000LL) {
    *micros = v * kMicrosPerSecond;
  } else if (v < 100'000'000'000'000LL) {
    *micros = v * 1000;
  } else if (v < 100'000'000'000'000'000LL) {
    *micros = v;
  } else {
    return false;
  }
  return true;
}

bool epoch_number_to_micros(double v, int64_t* micros) {
  if (!std::isfinite(v) || v < 0) return false;
  double us;
  if (v < 1e11) {
    us = v * 1e6;
  } else if (v < 1e14) {
    us = v * 1e3;
  } else if (v < 1e17) {
    us = v;
  } else {
    return false;
  }
  *micros = int64_t(std::floor(us + 0.5));  // nearest microsecond: 1.7e9 + 0.123 s must give .123000
  return true;
}

bool parse_timestamp_text(std::string_view text, int64_t* micros) {
  std::string_view s = trim(text);
  if (s.size() < 10 || s[4] != '-') return parse_epoch_text(s, micros);
  const char* p = s.data();
  const char* end = p + s.size();
  int year, month, day, hour, minute, second;
  if (!read_digits(p, end, 4, &year) || p == end || *p++ != '-' || !read_digits(p, end, 2, &month) ||
      p == end || *p++ != '-' || !read_digits(p, end, 2, &day))
    return false;
  if (p == end || (*p != 'T' && *p != 't' && *p != ' ')) return false;
  ++p;
  if (!read_digits(p, end, 2, &hour) || p == end || *p++ != ':' || !read_digits(p, end, 2, &minute) ||
      p == end || *p++ != ':' || !read_digits(p, end, 2, &second))
    return false;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59)
    return false;
  int64_t frac_us = 0;
  if (p != end && (*p == '.' || *p == ',')) {
    ++p;
    int digits = 0;
    while (p != end && is_digit(*p)) {
      if (digits < 6) frac_us = frac_us * 10 + (*p - '0');
      ++digits;
      ++p;
    }
    if (digits == 0) return false;
    for (int i = digits; i < 6; i++) frac_us *= 10;
  }
  int64_t offset_s = 0;
  if (p != end) {
    if (*p == 'Z' || *p == 'z') {
      ++p;
    } else if (*p == '+' || *p == '-') {
      const int sign = *p == '-' ? -1 : 1;
      ++p;
      int oh = 0, om = 0;
      if (!read_digits(p, end, 2, &oh)) return false;
      if (p != end && *p == ':') ++p;
      if (p != end && !read_digits(p, end, 2, &om)) return false;
      if (oh > 23 || om > 59) return false;
      offset_s = sign * (oh * 3600 + om * 60);
    } else {
      return false;
    }
  }
  if (p != end) return false;
  const int64_t days = days_from_civil(year, unsigned(month), unsigned(day));
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  if (secs < 0) return false;
  *micros = secs * kMicrosPerSecond + frac_us;
  return true;
}

bool parse_date(std::string_view text, int32_t* days) {
  std::string_view s = trim(text);
  const char* p = s.data();
  const char* end = p + s.size();
  int y, m, d;
  if (!read_digits(p, end, 4, &y) || p == end || *p++ != '-' || !read_digits(p, end, 2, &m) || p == end ||
      *p++ != '-' || !read_digits(p, end, 2, &d) || p != end)
    return false;
  if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return false;
  *days = int32_t(days_from_civil(y, unsigned(m), unsigned(d)));
  return true;
}

std::string format_timestamp(int64_t micros) {
  const int64_t days = floor_div(micros, kMicrosPerDay);
  int64_t rem = micros - days * kMicrosPerDay;
  const CivilDate c = civil_from_days(days);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ", (long long)c.year, c.month,
                c.day, (long long)(rem / kMicrosPerHour), (long long)(rem / 60'000'000 % 60),
                (long long)(rem / kMicrosPerSecond % 60), (long long)(rem % kMicrosPerSecond));
  return buf;
}

int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace advx
