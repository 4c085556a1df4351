// An alert of the data-quality monitor (SPEC 5, docs/ALERTS.md): one rule breached for one source and,
// for per-campaign rules, one campaign. Its identity is (rule, source, campaign); its lifecycle is
// pending (breached, waiting out the rule's `for:`) → firing → resolved.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace advx::monitor {

enum class AlertState : uint8_t { pending, firing, resolved };

constexpr std::string_view alert_state_name(AlertState s) {
  switch (s) {
    case AlertState::pending:
      return "pending";
    case AlertState::firing:
      return "firing";
    case AlertState::resolved:
      return "resolved";
  }
  return "?";
}

struct Alert {
  // Labels: the identity.
  std::string rule;      // the rule's name, e.g. "ctr_anomaly" (Alertmanager's alertname)
  std::string source;    // stream name ("impressions", "clicks_conversions", "bid_requests") or ""
  std::string campaign;  // campaign id for per-campaign rules, else ""
  std::string severity;  // "critical", "warning" or "info"
  // Annotations.
  std::string summary;   // one line for people, e.g. "CTR of campaign c7 is 9.8x its baseline"
  double value = 0;      // the observed value that breached (latest evaluation)
  double threshold = 0;  // the configured threshold it is compared with
  AlertState state = AlertState::pending;
  int64_t active_since_us = 0;  // first evaluation that breached (start of pending)
  int64_t fired_at_us = 0;      // when it turned firing; 0 while pending
  int64_t resolved_at_us = 0;   // when it resolved; 0 before
  int64_t evaluated_at_us = 0;  // the evaluation that produced this state
};

// "rule|source|campaign": a stable key for maps, logs and Alertmanager fingerprints.
inline std::string alert_key(const Alert& a) { return a.rule + '|' + a.source + '|' + a.campaign; }

}  // namespace advx::monitor
