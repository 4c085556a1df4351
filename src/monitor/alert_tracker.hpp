// The lifecycle of alerts (docs/ALERTS.md), as Prometheus runs it: a breach opens an alert as pending;
// breached through the rule's `for:` it turns firing; the first evaluation without the breach resolves it
// (a pending one is just dropped). While firing it is notified again only after the repeat interval.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "monitor/alert.hpp"
#include "monitor/notifier.hpp"
#include "monitor/rules.hpp"

namespace advx::monitor {

struct Transition {
  Alert alert;
  Notice notice;
};

class AlertTracker {
 public:
  // `keep_history`: keep every fired alert for fired() (advx check); a long-running server does not.
  explicit AlertTracker(int64_t repeat_interval_us, bool keep_history = true)
      : repeat_interval_us_(repeat_interval_us), keep_history_(keep_history) {}

  // One evaluation: `breaches` is everything breached at `now_us`. Returns what is to be notified.
  std::vector<Transition> update(const std::vector<Breach>& breaches, int64_t now_us);

  std::vector<Alert> active() const;  // pending and firing, by rule, source, campaign
  // Every alert that fired since the tracker began, in the order they fired (resolved ones with their
  // resolved_at): what `advx check` reports. Empty without keep_history.
  const std::vector<Alert>& fired() const { return fired_; }

 private:
  struct Tracked {
    Alert alert;
    int64_t notified_at_us = 0;
    size_t fired_index = SIZE_MAX;  // into fired_
  };
  int64_t repeat_interval_us_;
  bool keep_history_;
  std::map<std::string, Tracked> active_;  // by alert_key
  std::vector<Alert> fired_;
};

}  // namespace advx::monitor
