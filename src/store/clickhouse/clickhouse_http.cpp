#include "store/clickhouse/clickhouse_http.hpp"

#include <curl/curl.h>
#include <zlib.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

#include "core/time_util.hpp"

namespace advx::clickhouse {
namespace {

using Code = StoreErrorCode;

constexpr std::string_view kUrlForm = "clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE]";

[[noreturn]] void bad_url(const std::string& why) {
  throw StoreError("bad ClickHouse URL: " + why + " (expected " + std::string(kUrlForm) + ")", Code::invalid);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, const char* what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) bad_url(std::string("bad %-escape in the ") + what);
    out += char(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool is_ident(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); i++)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// ClickHouse's exception codes (src/Common/ErrorCodes.cpp), by what a caller does about them.
StoreErrorCode code_of(int code, std::string_view message) {
  switch (code) {
    case 8:   // THERE_IS_NO_COLUMN
    case 10:  // NOT_FOUND_COLUMN_IN_BLOCK
    case 16:  // NO_SUCH_COLUMN_IN_TABLE
    case 47:  // UNKNOWN_IDENTIFIER
    case 60:  // UNKNOWN_TABLE
    case 81:  // UNKNOWN_DATABASE
      return Code::not_found;
    case 164:  // READONLY: writes, settings and table functions in readonly mode
    case 192:  // UNKNOWN_USER
    case 193:  // WRONG_PASSWORD
    case 194:  // REQUIRED_PASSWORD
    case 195:  // IP_ADDRESS_NOT_ALLOWED
    case 201:  // QUOTA_EXPIRED
    case 291:  // DATABASE_ACCESS_DENIED
    case 392:  // QUERY_IS_PROHIBITED
    case 446:  // FUNCTION_NOT_ALLOWED
    case 497:  // ACCESS_DENIED (current releases)
    case 516:  // AUTHENTICATION_FAILED (current releases)
      return Code::refused;
    case 159:  // TIMEOUT_EXCEEDED: max_execution_time
    case 160:  // TOO_SLOW: min_execution_speed
    case 394:  // QUERY_WAS_CANCELLED: KILL QUERY
      return Code::interrupted;
    case 202:  // TOO_MANY_SIMULTANEOUS_QUERIES
    case 252:  // TOO_MANY_PARTS: inserts faster than merges, try again later
      return Code::unavailable;
    case 1:    // UNSUPPORTED_METHOD
    case 6:    // CANNOT_PARSE_TEXT
    case 20:   // NUMBER_OF_COLUMNS_DOESNT_MATCH
    case 25:   // CANNOT_PARSE_ESCAPE_SEQUENCE
    case 26:   // CANNOT_PARSE_QUOTED_STRING
    case 27:   // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    case 32:   // ATTEMPT_TO_READ_AFTER_EOF: a RowBinary body cut short
    case 33:   // CANNOT_READ_ALL_DATA
    case 34:   // TOO_MANY_ARGUMENTS_FOR_FUNCTION
    case 35:   // TOO_FEW_ARGUMENTS_FOR_FUNCTION
    case 36:   // BAD_ARGUMENTS
    case 38:   // CANNOT_PARSE_DATE
    case 41:   // CANNOT_PARSE_DATETIME
    case 42:   // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    case 43:   // ILLEGAL_TYPE_OF_ARGUMENT
    case 44:   // ILLEGAL_COLUMN
    case 46:   // UNKNOWN_FUNCTION
    case 48:   // NOT_IMPLEMENTED
    case 50:   // UNKNOWN_TYPE
    case 53:   // TYPE_MISMATCH
    case 57:   // TABLE_ALREADY_EXISTS
    case 62:   // SYNTAX_ERROR
    case 63:   // UNKNOWN_AGGREGATE_FUNCTION
    case 69:   // ARGUMENT_OUT_OF_BOUND
    case 70:   // CANNOT_CONVERT_TYPE
    case 72:   // CANNOT_PARSE_NUMBER
    case 73:   // UNKNOWN_FORMAT
    case 80:   // INCORRECT_QUERY
    case 82:   // DATABASE_ALREADY_EXISTS
    case 113:  // THERE_IS_NO_SESSION: SET over HTTP
    case 115:  // UNKNOWN_SETTING
    case 117:  // INCORRECT_DATA
    case 179:  // MULTIPLE_EXPRESSIONS_FOR_ALIAS
    case 184:  // ILLEGAL_AGGREGATION
    case 207:  // AMBIGUOUS_IDENTIFIER
    case 211:  // EMPTY_QUERY
    case 215:  // NOT_AN_AGGREGATE
    case 321:  // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    case 349:  // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    case 352:  // AMBIGUOUS_COLUMN_NAME
    case 386:  // NO_COMMON_TYPE
    case 407:  // DECIMAL_OVERFLOW
      return Code::invalid;
    default:
      break;
  }
  // Older and newer releases word some refusals without a code of their own.
  if (message.find("in readonly mode") != std::string_view::npos) return Code::refused;
  return Code::internal;
}

// The first line of a ClickHouse exception text without its boilerplate: 18.16 writes
// `Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = DB::Exception`, current
// releases `Code: 60. DB::Exception: Table x does not exist. (UNKNOWN_TABLE) (version 24.3.1.1)`.
std::string exception_message(std::string_view line, int* code) {
  *code = -1;
  std::string_view s = line;
  if (s.starts_with("Code: ")) {
    s.remove_prefix(6);
    int n = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc()) {
      *code = n;
      s.remove_prefix(size_t(p - s.data()));
    }
    if (s.starts_with(", ") || s.starts_with(". ")) s.remove_prefix(2);
  }
  for (std::string_view prefix : {"e.displayText() = ", "DB::Exception: ", "DB::ErrnoException: "})
    if (s.starts_with(prefix)) s.remove_prefix(prefix.size());
  if (s.ends_with(", e.what() = DB::Exception")) s.remove_suffix(26);
  if (const size_t v = s.rfind(" (version "); v != std::string_view::npos && s.ends_with(")"))
    s = s.substr(0, v);
  return std::string(trim(s));
}

std::string url_escape(CURL* curl, std::string_view s) {
  char* e = curl_easy_escape(curl, s.data(), int(s.size()));
  if (!e) throw StoreError("clickhouse: out of memory escaping a URL", Code::internal);
  std::string out(e);
  curl_free(e);
  return out;
}

size_t write_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t read_header(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "X-ClickHouse-Exception-Code:";
  if (starts_with_ci(line, kName)) *static_cast<std::string*>(user) = trim(line.substr(kName.size()));
  return size * n;
}

// Aborts the transfer once cancel() asked for it.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

std::string gzip(std::string_view in) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer (Content-Encoding: gzip), not a raw zlib stream.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw StoreError("clickhouse: cannot start gzip", Code::internal);
  std::string out(deflateBound(&z, uLong(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t produced = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw StoreError("clickhouse: gzip failed", Code::internal);
  out.resize(produced);
  return out;
}

std::string random_hex(size_t n) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  while (out.size() < n) {
    const uint32_t r = rd();
    for (int i = 0; i < 8 && out.size() < n; i++) out += kHex[(r >> (4 * i)) & 15];
  }
  return out;
}

// What every request sets: URL, the POST body (not copied: it must outlive the transfer), the connect
// timeout, the response sink, and Basic auth when the endpoint has a user.
void set_request(CURL* c, const Endpoint& ep, const std::string& url, std::string_view body,
                 std::string* sink) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
  if (!ep.user.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, long(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, ep.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, ep.password.c_str());
  }
}

std::once_flag curl_init;

CURL* new_handle() {
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* c = curl_easy_init();
  if (!c) throw StoreError("clickhouse: cannot create a curl handle", Code::internal);
  return c;
}

// ---- results -------------------------------------------------------------------------------------------

// Splits `type` as NAME(ARGS) -> NAME, ARGS (ARGS empty without parentheses).
void split_type(std::string_view type, std::string_view* name, std::string_view* args) {
  const size_t open = type.find('(');
  if (open == std::string_view::npos || !type.ends_with(")")) {
    *name = type;
    *args = {};
    return;
  }
  *name = type.substr(0, open);
  *args = type.substr(open + 1, type.size() - open - 2);
}

bool utc_zone(std::string_view zone) {
  for (std::string_view z :
       {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu",
        "Etc/Zulu", "GMT0", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "UTC0"})
    if (zone == z) return true;
  return false;
}

// The zone argument of DateTime('Zone') / DateTime64(P, 'Zone'), quotes removed; empty when none.
std::string_view zone_arg(std::string_view args) {
  const size_t q = args.find('\'');
  if (q == std::string_view::npos) return {};
  const size_t e = args.find('\'', q + 1);
  if (e == std::string_view::npos) return {};
  return args.substr(q + 1, e - q - 1);
}

bool parse_int_digits(std::string_view s, int64_t* out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_fixed(std::string_view s, size_t at, size_t len, unsigned* out) {
  if (at + len > s.size()) return false;
  unsigned v = 0;
  for (size_t i = at; i < at + len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + unsigned(s[i] - '0');
  }
  *out = v;
  return true;
}

// YYYY-MM-DD -> days; 18.16 writes the zero date as 0000-00-00.
bool parse_day(std::string_view s, int64_t* days) {
  unsigned y = 0, m = 0, d = 0;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !parse_fixed(s, 0, 4, &y) || !parse_fixed(s, 5, 2, &m) ||
      !parse_fixed(s, 8, 2, &d))
    return false;
  if (y == 0 && m == 0 && d == 0) {
    *days = 0;
    return true;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  *days = days_from_civil(int64_t(y), m, d);
  return true;
}

// YYYY-MM-DD hh:mm:ss[.f…] -> epoch microseconds (the text in UTC).
bool parse_datetime(std::string_view s, int64_t* micros) {
  int64_t days = 0;
  unsigned h = 0, mi = 0, se = 0;
  if (s.size() < 19 || s[10] != ' ' || s[13] != ':' || s[16] != ':' || !parse_day(s.substr(0, 10), &days) ||
      !parse_fixed(s, 11, 2, &h) || !parse_fixed(s, 14, 2, &mi) || !parse_fixed(s, 17, 2, &se))
    return false;
  int64_t frac = 0;
  if (s.size() > 19) {
    if (s[19] != '.') return false;
    int digits = 0;
    for (size_t i = 20; i < s.size(); i++) {
      if (s[i] < '0' || s[i] > '9') return false;
      if (digits < 6) {  // beyond microseconds: truncated, like advx's own timestamps
        frac = frac * 10 + (s[i] - '0');
        digits++;
      }
    }
    for (; digits < 6; digits++) frac *= 10;
  }
  *micros = ((days * 24 + h) * 60 + mi) * 60 * kMicrosPerSecond + int64_t(se) * kMicrosPerSecond + frac;
  return true;
}

bool parse_decimal(std::string_view s, uint8_t scale, __int128* out) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  __int128 v = 0;
  int frac = -1;  // digits after the point so far; -1 before the point
  for (char c : s) {
    if (c == '.' && frac < 0) {
      frac = 0;
      continue;
    }
    if (c < '0' || c > '9') return false;
    if (frac >= 0) {
      if (frac == scale) continue;  // more digits than the scale: none are written, but be safe
      frac++;
    }
    v = v * 10 + (c - '0');
  }
  for (int f = frac < 0 ? 0 : frac; f < scale; f++) v *= 10;
  *out = neg ? -v : v;
  return true;
}

bool parse_real(std::string_view s, bool is_float32, double* out) {
  std::string_view t = s;
  bool neg = false;
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t == "nan") {
    *out = neg ? -std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (t == "inf") {
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  // A Float32 is read as a float and widened, so it holds the value DuckDB's FLOAT holds.
  if (is_float32) {
    float f = 0;
    const auto [p, ec] = std::from_chars(s.data() + (s[0] == '+'), s.data() + s.size(), f);
    if (ec != std::errc() || p != s.data() + s.size()) return false;
    *out = f;
    return true;
  }
  const auto [p, ec] = std::from_chars(s.data() + (s[0] == '+'), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

[[noreturn]] void bad_result(const ResultColumn& col, std::string_view field) {
  std::string shown;  // one line: control bytes as '?'
  for (char ch : field.substr(0, 40)) shown += static_cast<unsigned char>(ch) < ' ' ? '?' : ch;
  throw StoreError(
      "clickhouse: cannot read \"" + shown + "\" as " + col.engine_type + " (column " + col.name + ")",
      Code::internal);
}

void push_field(ResultColumn& col, const ColumnKind& kind, std::string_view raw) {
  if (kind.nullable && raw == "\\N") {
    col.push_null();
    return;
  }
  switch (kind.type) {
    case ValueType::boolean:
      if (raw == "true" || raw == "1")
        col.push_int(1);
      else if (raw == "false" || raw == "0")
        col.push_int(0);
      else
        bad_result(col, raw);
      return;
    case ValueType::integer: {
      int64_t v = 0;
      if (!parse_int_digits(raw, &v)) bad_result(col, raw);
      col.push_int(v);
      return;
    }
    case ValueType::real: {
      double v = 0;
      if (raw.empty() || !parse_real(raw, kind.is_float32, &v)) bad_result(col, raw);
      col.push_real(v);
      return;
    }
    case ValueType::decimal: {
      __int128 v = 0;
      if (!parse_decimal(raw, kind.scale, &v)) bad_result(col, raw);
      col.push_decimal(v);
      return;
    }
    case ValueType::date:
    case ValueType::timestamp:
    case ValueType::timestamp_tz: {
      int64_t v = 0;
      if (!(kind.type == ValueType::date ? parse_day(raw, &v) : parse_datetime(raw, &v)))
        bad_result(col, raw);
      col.push_int(v);
      return;
    }
    case ValueType::text:
    case ValueType::other:
      col.push_text(tsv_unescape(raw));
      return;
  }
}

}  // namespace

// ---- URL -----------------------------------------------------------------------------------------------

Endpoint parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "clickhouse://";
  if (!url.starts_with(kScheme)) bad_url("it must start with clickhouse://");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= ' ' || c == 127)
      bad_url("blanks and control characters are not allowed");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) bad_url("no query string or fragment");
  const size_t slash = rest.find('/');
  // An '@' after the first '/': a password with a raw '/' (the message must not show any of it).
  if (slash != std::string_view::npos && rest.find('@', slash) != std::string_view::npos)
    bad_url("'@' after the host: write '/' and '@' in a user or password as %2F and %40");
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

  Endpoint ep;
  std::string_view hostport = authority;
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    hostport = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    ep.user = percent_decode(userinfo.substr(0, colon), "user");
    if (colon != std::string_view::npos) ep.password = percent_decode(userinfo.substr(colon + 1), "password");
    if (ep.user.empty()) bad_url("empty user name before '@'");
  }
  std::string_view port_text;
  if (hostport.starts_with("[")) {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) bad_url("unclosed '[' in the host");
    ep.host = std::string(hostport.substr(1, close - 1));
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url("unexpected text after the [IPv6] host");
      port_text = after.substr(1);
      if (port_text.empty()) bad_url("empty port after ':'");
    }
  } else {
    const size_t colon = hostport.find(':');
    ep.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.find(':') != std::string_view::npos) bad_url("an IPv6 host goes in brackets: [::1]");
      if (port_text.empty()) bad_url("empty port after ':'");
    }
  }
  if (ep.host.empty()) bad_url("no host");
  if (!port_text.empty()) {
    int64_t port = 0;
    if (!parse_int_digits(port_text, &port) || port_text[0] == '+' || port_text[0] == '-' || port < 1 ||
        port > 65535)
      bad_url("the port must be a number from 1 to 65535, not \"" + std::string(port_text) + "\"");
    ep.port = int(port);
  }
  if (path.ends_with("/")) path.remove_suffix(1);
  if (!path.empty()) {
    if (!is_ident(path))
      bad_url("the database must be a name of letters, digits and _, not \"" + std::string(path) + "\"");
    ep.database = std::string(path);
  }
  return ep;
}

bool is_cluster_url(std::string_view url) {
  return url.starts_with("clickhouse://") && url.find("?cluster=") != std::string_view::npos;
}

ClusterEndpoints parse_cluster_url(std::string_view url) {
  constexpr std::string_view kScheme = "clickhouse://";
  if (!url.starts_with(kScheme)) bad_url("it must start with clickhouse://");
  const size_t q = url.find('?');
  if (q == std::string_view::npos) bad_url("a cluster needs ?cluster=NAME");
  const std::string_view query = url.substr(q + 1);
  if (!query.starts_with("cluster=") || query.find_first_of("&#") != std::string_view::npos)
    bad_url("the only query parameter is cluster=NAME");
  ClusterEndpoints out;
  out.cluster = std::string(query.substr(8));
  if (!is_ident(out.cluster))
    bad_url("the cluster must be a name of letters, digits and _, not \"" + out.cluster + "\"");
  const std::string_view rest = url.substr(kScheme.size(), q - kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  const size_t at = authority.rfind('@');
  const std::string_view userinfo =
      at == std::string_view::npos ? std::string_view() : authority.substr(0, at + 1);
  std::string_view hosts = at == std::string_view::npos ? authority : authority.substr(at + 1);
  // Each host as a single-server URL of its own: the same checks, the same defaults.
  while (true) {
    const size_t comma = hosts.find(',');
    const std::string_view host = hosts.substr(0, comma);
    if (host.empty()) bad_url("an empty host in the list of shards");
    out.shards.push_back(
        parse_url(std::string(kScheme) + std::string(userinfo) + std::string(host) + std::string(path)));
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  for (size_t i = 0; i < out.shards.size(); i++)
    for (size_t j = 0; j < i; j++)
      if (out.shards[i].host == out.shards[j].host && out.shards[i].port == out.shards[j].port)
        bad_url("the shard " + out.shards[i].host + ":" + std::to_string(out.shards[i].port) +
                " is listed twice");
  return out;
}

bool is_loopback(const Endpoint& ep) {
  return ep.host == "localhost" || ep.host == "::1" || ep.host.starts_with("127.");
}

std::string endpoint_url(const Endpoint& ep) {
  std::string out = "clickhouse://";
  if (!ep.user.empty()) out += ep.user + "@";
  out += ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  out += ":" + std::to_string(ep.port) + "/" + ep.database;
  return out;
}

// ---- errors --------------------------------------------------------------------------------------------

StoreError server_error(std::string_view body, long http_status) {
  std::string_view first = trim(body);
  first = first.substr(0, first.find('\n'));
  first = trim(first);
  int code = -1;
  std::string message = exception_message(first, &code);
  if (code >= 0)
    return StoreError("clickhouse: " + message + " (code " + std::to_string(code) + ")",
                      code_of(code, message));
  std::string text = "clickhouse: HTTP " + std::to_string(http_status);
  if (!message.empty()) text += ": " + message.substr(0, 300);
  if (http_status == 502 || http_status == 503 || http_status == 504)
    return StoreError(text, Code::unavailable);
  if (http_status == 401 || http_status == 403) return StoreError(text, Code::refused);
  return StoreError(text, code_of(-1, message));
}

// ---- types and results ---------------------------------------------------------------------------------

ColumnKind column_kind(std::string_view type, bool server_utc) {
  ColumnKind kind;
  std::string_view t = type;
  for (;;) {  // LowCardinality(Nullable(String)) and the like
    if (t.starts_with("Nullable(") && t.ends_with(")")) {
      kind.nullable = true;
      t = t.substr(9, t.size() - 10);
    } else if (t.starts_with("LowCardinality(") && t.ends_with(")")) {
      t = t.substr(15, t.size() - 16);
    } else {
      break;
    }
  }
  std::string_view name, args;
  split_type(t, &name, &args);
  kind.type = ValueType::other;
  if (name == "Int8" || name == "Int16" || name == "Int32" || name == "Int64" || name == "UInt8" ||
      name == "UInt16" || name == "UInt32") {
    kind.type = ValueType::integer;
  } else if (name == "UInt64" || name == "Int128") {
    // Always a decimal of scale 0, whatever the values, as DuckDB's UBIGINT reads: exact beyond INT64_MAX,
    // and one type per column whatever rows a query returns.
    kind.type = ValueType::decimal;
  } else if (name == "Bool") {
    kind.type = ValueType::boolean;
  } else if (name == "Float32" || name == "Float64") {
    kind.type = ValueType::real;
    kind.is_float32 = name == "Float32";
  } else if (name == "Decimal" || name == "Decimal32" || name == "Decimal64" || name == "Decimal128") {
    // Decimal(P, S) or DecimalNN(S); Decimal256 does not fit 128 bits and stays `other`.
    const size_t comma = args.find(',');
    const std::string_view s = trim(comma == std::string_view::npos ? args : args.substr(comma + 1));
    int64_t scale = 0;
    if (parse_int_digits(s, &scale) && scale >= 0 && scale <= 38 &&
        (name != "Decimal" || comma != std::string_view::npos)) {
      kind.type = ValueType::decimal;
      kind.scale = uint8_t(scale);
    }
  } else if (name == "String" || name == "FixedString" || name == "Enum8" || name == "Enum16" ||
             name == "Enum") {
    kind.type = ValueType::text;
  } else if (name == "Date" || name == "Date32") {
    kind.type = ValueType::date;
  } else if (name == "DateTime" || name == "DateTime64") {
    // A DateTime is shown in its column's zone, or the server's without one. Only UTC text reads back
    // as the instant; in any other zone the value stays text (`other`) rather than be read wrong.
    // DateTime64's fraction is read to the microsecond.
    const std::string_view zone = zone_arg(args);
    if (zone.empty() ? server_utc : utc_zone(zone)) kind.type = ValueType::timestamp;
  }
  // UUID, IPv4/IPv6, Array, Tuple, Map, Nested, AggregateFunction...: `other`, the text as ClickHouse
  // writes it (UUID as DuckDB's store reads it: no portable form, result.hpp).
  return kind;
}

std::string tsv_unescape(std::string_view s) {
  if (s.find('\\') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    // ClickHouse's escapes of control bytes; any other escaped character is itself (\\ \' \" \/).
    static constexpr std::string_view kEscaped("tnr0bfav", 8), kByte("\t\n\r\0\b\f\a\v", 8);
    if (const size_t k = kEscaped.find(c); k != std::string_view::npos) {
      out += kByte[k];
    } else if (c == 'x' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += char(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

ResultTable parse_tsv_with_names_and_types(std::string_view body, bool server_utc) {
  ResultTable table;
  size_t pos = 0;
  // The next line without its '\n'; false at the end of the body. Escaped fields hold no raw '\n'.
  const auto next_line = [&](std::string_view* line) {
    if (pos >= body.size()) return false;
    const size_t nl = body.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? body.size() : nl;
    *line = body.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? body.size() : nl + 1;
    return true;
  };
  const auto fields = [](std::string_view line, std::vector<std::string_view>& out) {
    out.clear();
    size_t start = 0;
    for (;;) {
      const size_t tab = line.find('\t', start);
      out.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
  };
  std::string_view names_line, types_line;
  if (!next_line(&names_line) || !next_line(&types_line))
    throw StoreError("clickhouse: a result without its header of names and types", Code::internal);
  std::vector<std::string_view> names, types, row;
  fields(names_line, names);
  fields(types_line, types);
  if (names.size() != types.size())
    throw StoreError("clickhouse: a result whose header has " + std::to_string(names.size()) + " names and " +
                         std::to_string(types.size()) + " types",
                     Code::internal);
  std::vector<ColumnKind> kinds;
  for (size_t c = 0; c < names.size(); c++) {
    ResultColumn col;
    col.name = tsv_unescape(names[c]);
    col.engine_type = tsv_unescape(types[c]);
    const ColumnKind kind = column_kind(col.engine_type, server_utc);
    col.type = kind.type;
    col.scale = kind.scale;
    kinds.push_back(kind);
    table.columns.push_back(std::move(col));
  }
  std::string_view line;
  while (next_line(&line)) {
    fields(line, row);
    if (row.size() != kinds.size())
      throw StoreError("clickhouse: a result row of " + std::to_string(row.size()) + " fields, not " +
                           std::to_string(kinds.size()),
                       Code::internal);
    for (size_t c = 0; c < kinds.size(); c++) push_field(table.columns[c], kinds[c], row[c]);
  }
  return table;
}

// ---- the client ----------------------------------------------------------------------------------------

HttpClient::HttpClient(Endpoint endpoint) : endpoint_(std::move(endpoint)) {
  curl_ = new_handle();
  // A query id unique across clients and processes: KILL QUERY finds this client's statement by it.
  id_prefix_ = "advx-" + random_hex(16) + "-";
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string HttpClient::base_url() const {
  const std::string host =
      endpoint_.host.find(':') != std::string::npos ? "[" + endpoint_.host + "]" : endpoint_.host;
  return "http://" + host + ":" + std::to_string(endpoint_.port) + "/";
}

HttpClient::Response HttpClient::request(std::string_view query_param, std::string_view body,
                                         const Settings& settings, bool gzip_body) {
  CURL* c = static_cast<CURL*>(curl_);
  const std::string query_id = id_prefix_ + std::to_string(next_id_++);
  std::string url = base_url() + "?database=" + url_escape(c, endpoint_.database) + "&query_id=" + query_id;
  // The status tells the outcome: the server holds the result until the statement has ended, so an error
  // never follows a 200 and part of a result.
  url += "&wait_end_of_query=1";
  // readonly goes last: in readonly mode a server may refuse to change the settings that follow it.
  for (const auto& [name, value] : settings)
    if (name != "readonly") url += "&" + url_escape(c, name) + "=" + url_escape(c, value);
  for (const auto& [name, value] : settings)
    if (name == "readonly") url += "&readonly=" + url_escape(c, value);
  if (!query_param.empty()) url += "&query=" + url_escape(c, query_param);

  std::string compressed;
  if (gzip_body) {
    compressed = gzip(body);
    body = compressed;
  }

  Response r;
  curl_easy_reset(c);  // keeps the connection cache: the connection stays alive between statements
  set_request(c, endpoint_, url, body, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.exception_code);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &abort_);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before large bodies
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  if (gzip_body) headers = curl_slist_append(headers, "Content-Encoding: gzip");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    running_query_id_ = query_id;
    abort_.store(false);
  }
  const CURLcode rc = curl_easy_perform(c);
  bool aborted = false;
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    running_query_id_.clear();
    aborted = abort_.exchange(false);
  }
  curl_slist_free_all(headers);

  if (rc != CURLE_OK) {
    const std::string where = "clickhouse: " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": ";
    if (rc == CURLE_ABORTED_BY_CALLBACK || aborted)
      throw StoreError(where + "statement cancelled", Code::interrupted);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      // Sent (request bytes out): the statement ran past the limit; else the server could not be reached.
      long sent = 0;
      curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
      if (sent > 0)
        throw StoreError(where + "no answer within " + std::to_string(timeout_.count()) + " ms",
                         Code::interrupted);
      throw StoreError(where + "cannot connect: " + curl_easy_strerror(rc), Code::unavailable);
    }
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_GOT_NOTHING:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_PARTIAL_FILE:
        // Down, restarting, or gone in the middle of a statement: try again later.
        throw StoreError(where + curl_easy_strerror(rc), Code::unavailable);
      default:
        throw StoreError(where + curl_easy_strerror(rc), Code::internal);
    }
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  // A cancel() that came after the last byte is too late: the statement has ended, and it stands.
  if (r.status != 200 || !r.exception_code.empty()) throw server_error(r.body, r.status);
  return r;
}

std::string HttpClient::execute(std::string_view sql, const Settings& settings) {
  return request({}, sql, settings, false).body;
}

ResultTable HttpClient::query(std::string_view sql, const Settings& settings) {
  std::string_view s = trim(sql);
  while (s.ends_with(";")) s = trim(s.substr(0, s.size() - 1));
  std::string text(s);
  text += "\nFORMAT TabSeparatedWithNamesAndTypes";
  const Response r = request({}, text, settings, false);
  // Plain DateTime columns need the server's zone; asked once, only when a result has one.
  bool utc = server_utc_ == 1;
  if (server_utc_ < 0) {
    const size_t header_end = r.body.find('\n', r.body.find('\n') + 1);
    const std::string_view types = std::string_view(r.body).substr(0, header_end);
    if (types.find("DateTime") != std::string_view::npos) utc = server_utc();
  }
  return parse_tsv_with_names_and_types(r.body, utc);
}

bool HttpClient::server_utc() {
  if (server_utc_ < 0) {
    std::string zone = request({}, "SELECT timezone() FORMAT TabSeparated", {}, false).body;
    server_utc_ = utc_zone(trim(zone)) ? 1 : 0;
  }
  return server_utc_ == 1;
}

void HttpClient::insert(std::string_view insert_prefix, std::string_view body, bool compress,
                        const Settings& settings) {
  request(insert_prefix, body, settings, compress);
}

void HttpClient::cancel() {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(running_mutex_);
    id = running_query_id_;
  }
  if (id.empty()) return;
  // KILL through a handle of its own (this thread's), so the server ends the statement too instead of
  // computing on for a client that is gone. Best effort: a server that cannot be reached is not waited
  // for, and nothing here throws (callers interrupt from watchdogs and destructors).
  CURL* c = curl_easy_init();
  if (c) {
    char* db = curl_easy_escape(c, endpoint_.database.data(), int(endpoint_.database.size()));
    const std::string sql = "KILL QUERY WHERE query_id = '" + id + "' ASYNC";
    const std::string url = base_url() + "?database=" + (db ? db : "default");
    if (db) curl_free(db);
    std::string sink;
    set_request(c, endpoint_, url, sql, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
  }
  // Then the transfer itself, in case the KILL missed (the statement not registered yet, or a user not
  // allowed to KILL): the statement ends here at once either way.
  std::lock_guard<std::mutex> lock(running_mutex_);
  if (running_query_id_ == id) abort_.store(true);
}

}  // namespace advx::clickhouse
