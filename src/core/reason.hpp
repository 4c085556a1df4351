// Why a record did not become a stored event (SPEC 2.1, 2.3). The names are the machine-readable codes
// stored in `rejects.reason` and printed in summaries: never rename one.
#pragma once
#include <cstdint>
#include <string_view>

namespace advx {

enum class Reason : uint8_t {
  malformed_json,
  malformed_csv,
  malformed_avro,
  missing_field,
  bad_timestamp,
  future_timestamp,
  bad_value,
  campaign_mismatch,
  // category `filtered` (invalid traffic)
  bot_user_agent,
  blocked_ip,
  blocked_site,
  count_
};
inline constexpr int kReasonCount = int(Reason::count_);

constexpr std::string_view reason_name(Reason r) {
  switch (r) {
    case Reason::malformed_json:
      return "malformed_json";
    case Reason::malformed_csv:
      return "malformed_csv";
    case Reason::malformed_avro:
      return "malformed_avro";
    case Reason::missing_field:
      return "missing_field";
    case Reason::bad_timestamp:
      return "bad_timestamp";
    case Reason::future_timestamp:
      return "future_timestamp";
    case Reason::bad_value:
      return "bad_value";
    case Reason::campaign_mismatch:
      return "campaign_mismatch";
    case Reason::bot_user_agent:
      return "bot_user_agent";
    case Reason::blocked_ip:
      return "blocked_ip";
    case Reason::blocked_site:
      return "blocked_site";
    case Reason::count_:
      break;
  }
  return "?";
}

constexpr bool is_filter_reason(Reason r) {
  return r == Reason::bot_user_agent || r == Reason::blocked_ip || r == Reason::blocked_site;
}

constexpr std::string_view reason_category(Reason r) { return is_filter_reason(r) ? "filtered" : "rejected"; }

}  // namespace advx
