#include "store/duckdb/duckdb_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

#include "store/value_text.hpp"

namespace advx::duckdb_text {
namespace {

using i128 = __int128;
using u128 = unsigned __int128;

using value_text::append_time;
using value_text::append_timestamp;
using value_text::append_u128;

constexpr int64_t kNanosPerDay = 86'400'000'000'000LL;

template <class T>
void append_int(T v, std::string& out) {
  if constexpr (std::is_signed_v<T>)
    value_text::append_int(v, out);
  else
    append_u128(v, out);
}

void append_unit(int64_t n, const char* unit, std::string& out) {
  if (!out.empty()) out += ' ';
  append_int(n, out);
  out += ' ';
  out += unit;
  if (n != 1 && n != -1) out += 's';
}

void append_interval(const duckdb_interval& iv, std::string& out) {
  std::string s;
  int32_t years = iv.months / 12;
  int32_t months = iv.months - years * 12;
  if (years != 0) append_unit(years, "year", s);
  if (months != 0) append_unit(months, "month", s);
  if (iv.days != 0) append_unit(iv.days, "day", s);
  if (iv.micros != 0) {
    if (!s.empty()) s += ' ';
    int64_t micros = iv.micros;
    if (micros < 0) {
      s += '-';
      micros = -micros;
    }
    append_time(micros, 6, s);
  }
  if (s.empty()) s = "00:00:00";
  out += s;
}

void append_uuid(const duckdb_hugeint& h, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t hi = static_cast<uint64_t>(h.upper) ^ (uint64_t{1} << 63);  // DuckDB flips the top bit to sort
  uint64_t lo = h.lower;
  char buf[36];
  int pos = 0;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) buf[pos++] = '-';
    uint64_t word = i < 16 ? hi : lo;
    int shift = 60 - 4 * (i % 16);
    buf[pos++] = kHex[(word >> shift) & 0xF];
  }
  out.append(buf, sizeof buf);
}

std::string_view string_of(const duckdb_string_t* s) {
  auto* mutable_s = const_cast<duckdb_string_t*>(s);
  return {duckdb_string_t_data(mutable_s), duckdb_string_t_length(*mutable_s)};
}

// DuckDB's BLOB text: printable ASCII as is, everything else (and quotes, backslash) as \xHH.
void append_blob(std::string_view b, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : b) {
    if (c >= 32 && c <= 126 && c != '\\' && c != '\'' && c != '"') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
}

i128 hugeint_value(const duckdb_hugeint& h) {
  return static_cast<i128>((static_cast<u128>(static_cast<uint64_t>(h.upper)) << 64) | h.lower);
}

const char* simple_type_name(duckdb_type id) {
  switch (id) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
      return "TINYINT";
    case DUCKDB_TYPE_SMALLINT:
      return "SMALLINT";
    case DUCKDB_TYPE_INTEGER:
      return "INTEGER";
    case DUCKDB_TYPE_BIGINT:
      return "BIGINT";
    case DUCKDB_TYPE_UTINYINT:
      return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT:
      return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER:
      return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT:
      return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT:
      return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT:
      return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT:
      return "FLOAT";
    case DUCKDB_TYPE_DOUBLE:
      return "DOUBLE";
    case DUCKDB_TYPE_VARCHAR:
      return "VARCHAR";
    case DUCKDB_TYPE_BLOB:
      return "BLOB";
    case DUCKDB_TYPE_DATE:
      return "DATE";
    case DUCKDB_TYPE_TIME:
      return "TIME";
    case DUCKDB_TYPE_TIME_NS:
      return "TIME_NS";
    case DUCKDB_TYPE_TIME_TZ:
      return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S:
      return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL:
      return "INTERVAL";
    case DUCKDB_TYPE_UUID:
      return "UUID";
    case DUCKDB_TYPE_ENUM:
      return "ENUM";
    case DUCKDB_TYPE_LIST:
      return "LIST";
    case DUCKDB_TYPE_STRUCT:
      return "STRUCT";
    case DUCKDB_TYPE_MAP:
      return "MAP";
    case DUCKDB_TYPE_ARRAY:
      return "ARRAY";
    case DUCKDB_TYPE_UNION:
      return "UNION";
    case DUCKDB_TYPE_BIT:
      return "BIT";
    case DUCKDB_TYPE_BIGNUM:
      return "BIGNUM";
    case DUCKDB_TYPE_SQLNULL:
      return "NULL";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

ColumnText describe_column(duckdb_logical_type type) {
  ColumnText col;
  col.id = duckdb_get_type_id(type);
  col.type_name = simple_type_name(col.id);
  switch (col.id) {
    case DUCKDB_TYPE_DECIMAL: {
      col.internal = duckdb_decimal_internal_type(type);
      col.scale = duckdb_decimal_scale(type);
      col.type_name =
          "DECIMAL(" + std::to_string(duckdb_decimal_width(type)) + "," + std::to_string(col.scale) + ")";
      break;
    }
    case DUCKDB_TYPE_ENUM: {
      col.internal = duckdb_enum_internal_type(type);
      uint32_t n = duckdb_enum_dictionary_size(type);
      col.enum_values.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        char* v = duckdb_enum_dictionary_value(type, i);
        col.enum_values.emplace_back(v ? v : "");
        duckdb_free(v);
      }
      if (char* alias = duckdb_logical_type_get_alias(type)) {
        col.type_name = alias;
        duckdb_free(alias);
      }
      break;
    }
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_MAP:
    case DUCKDB_TYPE_ARRAY:
    case DUCKDB_TYPE_UNION:
    case DUCKDB_TYPE_BIT:
    case DUCKDB_TYPE_BIGNUM:
    case DUCKDB_TYPE_TIME_TZ:
    case DUCKDB_TYPE_INVALID:
    case DUCKDB_TYPE_ANY:
      col.supported = false;
      break;
    default:
      break;
  }
  if (std::strcmp(simple_type_name(col.id), "UNKNOWN") == 0 && col.id != DUCKDB_TYPE_DECIMAL) {
    col.supported = false;
  }
  return col;
}

// DuckDB's own text of a value whose type value_type() reads as `other` (push() keeps every other type as
// a typed value); the caller has checked that the row is valid.
static void render_other(const ColumnText& col, const void* data, idx_t row, std::string& out) {
  switch (col.id) {
    case DUCKDB_TYPE_UHUGEINT: {
      const auto& h = static_cast<const duckdb_uhugeint*>(data)[row];
      append_u128((static_cast<u128>(h.upper) << 64) | h.lower, out);
      return;
    }
    case DUCKDB_TYPE_BLOB:
      append_blob(string_of(static_cast<const duckdb_string_t*>(data) + row), out);
      return;
    case DUCKDB_TYPE_TIME:
      append_time(static_cast<const int64_t*>(data)[row], 6, out);
      return;
    case DUCKDB_TYPE_TIME_NS:
      append_time(static_cast<const int64_t*>(data)[row], 9, out);
      return;
    case DUCKDB_TYPE_TIMESTAMP_NS:
      append_timestamp(static_cast<const int64_t*>(data)[row], kNanosPerDay, 9, out);
      return;
    case DUCKDB_TYPE_TIMESTAMP_MS:
      append_timestamp(static_cast<const int64_t*>(data)[row], 86'400'000LL, 3, out);
      return;
    case DUCKDB_TYPE_TIMESTAMP_S:
      append_timestamp(static_cast<const int64_t*>(data)[row], 86'400LL, 0, out);
      return;
    case DUCKDB_TYPE_INTERVAL:
      append_interval(static_cast<const duckdb_interval*>(data)[row], out);
      return;
    case DUCKDB_TYPE_UUID:
      append_uuid(static_cast<const duckdb_hugeint*>(data)[row], out);
      return;
    case DUCKDB_TYPE_ENUM: {
      uint64_t idx = 0;
      switch (col.internal) {
        case DUCKDB_TYPE_UTINYINT:
          idx = static_cast<const uint8_t*>(data)[row];
          break;
        case DUCKDB_TYPE_USMALLINT:
          idx = static_cast<const uint16_t*>(data)[row];
          break;
        default:
          idx = static_cast<const uint32_t*>(data)[row];
          break;
      }
      if (idx < col.enum_values.size()) out += col.enum_values[idx];
      return;
    }
    default:
      return;  // typed (push), or unsupported: describe_column marked it, callers refuse such columns
  }
}

ValueType value_type(const ColumnText& col) {
  switch (col.id) {
    case DUCKDB_TYPE_BOOLEAN:
      return ValueType::boolean;
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
      return ValueType::integer;
    case DUCKDB_TYPE_UBIGINT:  // beyond int64: exact as a decimal of scale 0
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_DECIMAL:
      return ValueType::decimal;
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
      return ValueType::real;
    case DUCKDB_TYPE_VARCHAR:
      return ValueType::text;
    case DUCKDB_TYPE_DATE:
      return ValueType::date;
    case DUCKDB_TYPE_TIMESTAMP:
      return ValueType::timestamp;
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return ValueType::timestamp_tz;
    default:
      return ValueType::other;
  }
}

void push(const ColumnText& col, const void* data, idx_t row, ResultColumn& out) {
  switch (col.id) {
    case DUCKDB_TYPE_BOOLEAN:
      out.push_int(static_cast<const bool*>(data)[row] ? 1 : 0);
      return;
    case DUCKDB_TYPE_TINYINT:
      out.push_int(static_cast<const int8_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_SMALLINT:
      out.push_int(static_cast<const int16_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_INTEGER:
      out.push_int(static_cast<const int32_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_BIGINT:
      out.push_int(static_cast<const int64_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_UTINYINT:
      out.push_int(static_cast<const uint8_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_USMALLINT:
      out.push_int(static_cast<const uint16_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_UINTEGER:
      out.push_int(static_cast<const uint32_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_UBIGINT:
      out.push_decimal(static_cast<const uint64_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_HUGEINT:
      out.push_decimal(hugeint_value(static_cast<const duckdb_hugeint*>(data)[row]));
      return;
    case DUCKDB_TYPE_FLOAT:
      out.push_real(static_cast<const float*>(data)[row]);
      return;
    case DUCKDB_TYPE_DOUBLE:
      out.push_real(static_cast<const double*>(data)[row]);
      return;
    case DUCKDB_TYPE_DECIMAL: {
      i128 v = 0;
      switch (col.internal) {
        case DUCKDB_TYPE_SMALLINT:
          v = static_cast<const int16_t*>(data)[row];
          break;
        case DUCKDB_TYPE_INTEGER:
          v = static_cast<const int32_t*>(data)[row];
          break;
        case DUCKDB_TYPE_BIGINT:
          v = static_cast<const int64_t*>(data)[row];
          break;
        default:
          v = hugeint_value(static_cast<const duckdb_hugeint*>(data)[row]);
          break;
      }
      out.push_decimal(v);
      return;
    }
    case DUCKDB_TYPE_VARCHAR:
      out.push_text(std::string(string_of(static_cast<const duckdb_string_t*>(data) + row)));
      return;
    case DUCKDB_TYPE_DATE:
      out.push_int(static_cast<const int32_t*>(data)[row]);
      return;
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      out.push_int(static_cast<const int64_t*>(data)[row]);
      return;
    default: {
      std::string text;
      render_other(col, data, row, text);
      out.push_text(std::move(text));
      return;
    }
  }
}

}  // namespace advx::duckdb_text
