#include "server/http_json.hpp"

#include <cstdint>
#include <set>

#include "core/json_text.hpp"
#include "core/reason.hpp"

namespace advx::http {

namespace {

void append_u64(std::string& out, const char* name, uint64_t value, bool first = false) {
  if (!first) out += ',';
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

bool is_json_number(std::string_view s) {
  size_t i = 0;
  const auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == s.size();
}

std::string error_json(std::string_view message, std::string_view code) {
  std::string out = "{\"error\":";
  append_json_string(message, out);
  if (!code.empty()) {
    out += ",\"code\":";
    append_json_string(code, out);
  }
  out += '}';
  return out;
}

std::string submit_result_json(const SubmitResult& result) {
  std::string out = "{";
  append_u64(out, "read", result.read, true);
  append_u64(out, "stored", result.stored);
  append_u64(out, "rejected", result.rejected());
  append_u64(out, "filtered", result.filtered());
  append_u64(out, "duplicates", result.duplicates);
  append_u64(out, "late", result.late);
  out += ",\"reasons\":{";
  bool first = true;
  for (int r = 0; r < kReasonCount; ++r) {
    const uint64_t n = result.by_reason[static_cast<size_t>(r)];
    if (n == 0) continue;
    if (!first) out += ',';
    first = false;
    append_json_string(reason_name(static_cast<Reason>(r)), out);
    out += ':';
    out += std::to_string(n);
  }
  out += "}}";
  return out;
}

std::string pixel_json(const std::vector<std::pair<std::string, std::string>>& params) {
  std::set<std::string_view> seen;
  std::string out = "{";
  for (const auto& [name, value] : params) {
    if (!seen.insert(name).second) continue;
    if (out.size() > 1) out += ',';
    append_json_string(name, out);
    out += ':';
    if (name == "win_price_cpm" && is_json_number(value)) {
      out += value;
    } else {
      append_json_string(value, out);
    }
  }
  out += '}';
  return out;
}

}  // namespace advx::http
