// Hand-written formatting for the generator's hot loop: appends to a std::string, no locale, no iostreams.
#pragma once
#include <charconv>
#include <cstdint>
#include <string>

namespace advx::gen {

inline void put_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, size_t(r.ptr - buf));
}

// v / 10^decimals with exactly `decimals` digits after the point ("12.340"); v may be negative.
inline void put_fixed(std::string& out, int64_t v, int decimals) {
  if (v < 0) {
    out.push_back('-');
    v = -v;
  }
  int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  put_int(out, v / scale);
  if (decimals == 0) return;
  out.push_back('.');
  char buf[20];
  int64_t frac = v % scale;
  for (int i = decimals - 1; i >= 0; --i) {
    buf[i] = char('0' + frac % 10);
    frac /= 10;
  }
  out.append(buf, size_t(decimals));
}

inline void put_hex(std::string& out, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = digits - 1; i >= 0; --i) {
    buf[i] = kHex[v & 15];
    v >>= 4;
  }
  out.append(buf, size_t(digits));
}

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second, milli;
};

// Howard Hinnant's days-to-civil, for epoch milliseconds (negative included).
inline Civil civil_from_ms(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  Civil c{};
  c.milli = unsigned(rem % 1000);
  rem /= 1000;
  c.second = unsigned(rem % 60);
  c.minute = unsigned(rem / 60 % 60);
  c.hour = unsigned(rem / 3600);
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = int64_t(yoe) + era * 400 + (c.month <= 2 ? 1 : 0);
  return c;
}

inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

inline char* put_digits(char* p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = char('0' + v % 10);
    v /= 10;
  }
  return p + n;
}

// "YYYY-MM-DD" then, when `with_time`, sep + "HH:MM:SS" and ".fff" when `with_ms`.
inline void put_datetime(std::string& out, int64_t ms, char sep, bool with_time = true, bool with_ms = true) {
  const Civil c = civil_from_ms(ms);
  char buf[32];
  char* p = put_digits(buf, unsigned(c.year), 4);
  *p++ = '-';
  p = put_digits(p, c.month, 2);
  *p++ = '-';
  p = put_digits(p, c.day, 2);
  if (with_time) {
    *p++ = sep;
    p = put_digits(p, c.hour, 2);
    *p++ = ':';
    p = put_digits(p, c.minute, 2);
    *p++ = ':';
    p = put_digits(p, c.second, 2);
    if (with_ms) {
      *p++ = '.';
      p = put_digits(p, c.milli, 3);
    }
  }
  out.append(buf, size_t(p - buf));
}

// ISO-8601 in local time at `offset_min` from UTC: "...+02:00", or "Z" when the offset is 0.
inline void put_iso(std::string& out, int64_t ms, int offset_min) {
  put_datetime(out, ms + int64_t(offset_min) * 60000, 'T');
  if (offset_min == 0) {
    out.push_back('Z');
    return;
  }
  char buf[6];
  buf[0] = offset_min < 0 ? '-' : '+';
  const unsigned a = unsigned(offset_min < 0 ? -offset_min : offset_min);
  put_digits(buf + 1, a / 60, 2);
  buf[3] = ':';
  put_digits(buf + 4, a % 60, 2);
  out.append(buf, 6);
}

}  // namespace advx::gen
