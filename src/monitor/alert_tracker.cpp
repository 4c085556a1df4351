#include "monitor/alert_tracker.hpp"

namespace advx::monitor {

std::vector<Transition> AlertTracker::update(const std::vector<Breach>& breaches, int64_t now_us) {
  std::vector<Transition> out;
  std::map<std::string, const Breach*> seen;
  for (const Breach& b : breaches) {
    Alert probe;
    probe.rule = b.rule->name;
    probe.source = b.source;
    probe.campaign = b.campaign;
    const std::string key = alert_key(probe);
    seen[key] = &b;
    auto [it, inserted] = active_.try_emplace(key);
    Alert& a = it->second.alert;
    if (inserted) {
      a = std::move(probe);
      a.severity = b.rule->severity;
      a.active_since_us = now_us;
      a.state = AlertState::pending;
    }
    a.summary = b.summary;
    a.value = b.value;
    a.threshold = b.rule->threshold;
    a.evaluated_at_us = now_us;
    if (a.state == AlertState::pending && now_us - a.active_since_us >= b.rule->for_us) {
      a.state = AlertState::firing;
      a.fired_at_us = now_us;
      it->second.notified_at_us = now_us;
      if (keep_history_) {
        it->second.fired_index = fired_.size();
        fired_.push_back(a);
      }
      out.push_back({a, Notice::firing});
    } else if (a.state == AlertState::firing) {
      if (keep_history_) fired_[it->second.fired_index] = a;
      if (now_us - it->second.notified_at_us >= repeat_interval_us_) {
        it->second.notified_at_us = now_us;
        out.push_back({a, Notice::repeat});
      }
    }
  }
  for (auto it = active_.begin(); it != active_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    Alert& a = it->second.alert;
    if (a.state == AlertState::firing) {
      a.state = AlertState::resolved;
      a.resolved_at_us = now_us;
      a.evaluated_at_us = now_us;
      if (keep_history_) fired_[it->second.fired_index] = a;
      out.push_back({a, Notice::resolved});
    }
    it = active_.erase(it);
  }
  return out;
}

std::vector<Alert> AlertTracker::active() const {
  std::vector<Alert> v;
  v.reserve(active_.size());
  for (const auto& [k, t] : active_) v.push_back(t.alert);
  return v;
}

}  // namespace advx::monitor
