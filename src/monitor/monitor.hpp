// The monitor of advx serve (docs/ALERTS.md): a thread that, once per bucket (a minute by default),
// brings its QualityFrame up to date from the store (the newest buckets only; the frame keeps the history
// the rules look back on), adds the engine's duplicate counts, evaluates the rules, runs the alert
// lifecycle and hands notifications to the Notifier. It reads on its own connection and never waits for
// a receiver, so ingestion does not notice it beyond the reads.
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitor/alert_tracker.hpp"
#include "monitor/notifier.hpp"
#include "monitor/quality_frame.hpp"
#include "monitor/rules.hpp"

namespace advx::monitor {

struct MonitorOptions {
  std::vector<Rule> rules = default_rules();
  int64_t bucket_us = kMinuteUs;                    // the rules' "minute"; smaller only for tests
  int64_t poll_us = 5'000'000;                      // how often the thread looks for a completed bucket
  int64_t settle_us = 2'000'000;                    // a bucket is read this long after it ended (commits)
  int64_t repeat_interval_us = 4 * 3600'000'000LL;  // webhook/log: a firing alert again after this
  int64_t alertmanager_resend_us = 60'000'000;      // Alertmanager: firing alerts again after this
  NotifierOptions notifier;
};

struct MonitorStats {
  uint64_t evaluations = 0;
  double last_evaluation_seconds = 0;  // reading the store and evaluating the rules
  uint64_t errors = 0;                 // evaluations that failed to read the store
  std::vector<DeliveryStats> deliveries;
};

class Monitor {
 public:
  // `store`: a connection for the monitor alone. `duplicates`: the engine's cumulative duplicate count
  // per stream. `clock`: wall-clock µs (tests may pass their own).
  Monitor(std::unique_ptr<Store> store, MonitorOptions options,
          std::function<std::array<uint64_t, kStreamCount>()> duplicates,
          std::function<int64_t()> clock = {});
  ~Monitor();  // stop()
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // False with a message when the options cannot work (a window shorter than a bucket).
  bool check_options(std::string* error) const;
  void start();
  void stop();

  // One evaluation at `now_us` (bucket-aligned): what the thread does each bucket. For tests.
  void evaluate_at(int64_t now_us);

  std::vector<Alert> active() const;
  // GET /v1/alerts: {"evaluated_at": ..., "alerts": [{rule, source, campaign, severity, state,
  // active_since, fired_at, value, threshold, summary}, ...]} with pending and firing alerts.
  std::string alerts_json() const;
  MonitorStats stats() const;

 private:
  void run();
  void refresh_frame(int64_t now_us);

  std::unique_ptr<Store> store_;
  MonitorOptions options_;
  std::function<std::array<uint64_t, kStreamCount>()> duplicates_;
  std::function<int64_t()> clock_;
  Notifier notifier_;

  // The evaluation thread's state.
  QualityFrame frame_;
  int64_t loaded_to_us_ = 0;  // the frame holds buckets before this
  std::array<uint64_t, kStreamCount> last_duplicates_{};
  int64_t last_eval_us_ = 0;
  int64_t last_resend_us_ = 0;

  mutable std::mutex mutex_;  // guards what other threads read
  AlertTracker tracker_;
  const Lookback lookback_;
  MonitorStats stats_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace advx::monitor
