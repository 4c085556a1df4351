// Delivers alert notifications to the log, a Slack-compatible webhook and Prometheus Alertmanager
// (POST /api/v2/alerts), on its own thread: callers only queue, so a slow or dead receiver never blocks
// ingestion or rule evaluation. Each delivery is retried with exponential backoff; when the queue is full
// the oldest waiting delivery is dropped and counted (the next evaluation sends the current state again).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitor/alert.hpp"

namespace advx::monitor {

struct NotifierOptions {
  std::string webhook_url;       // Slack-compatible incoming webhook; empty: none
  std::string alertmanager_url;  // base URL, e.g. http://127.0.0.1:9093 (POSTs <url>/api/v2/alerts); "": none
  bool log = true;               // one line per notification on stderr
  std::string generator_url;     // Alertmanager's generatorURL, e.g. http://127.0.0.1:8080/v1/alerts
  // How long Alertmanager keeps a firing alert without hearing from us again (its endsAt = sent + this):
  // if advx dies, Alertmanager resolves the alert by itself instead of keeping it forever.
  int64_t alertmanager_end_grace_ms = 5 * 60 * 1000;
  int max_attempts = 5;              // per delivery, the first try included
  int64_t initial_backoff_ms = 500;  // doubled after each failure...
  int64_t max_backoff_ms = 30'000;   // ...up to this
  int64_t timeout_ms = 5000;         // per HTTP request (connect + transfer)
  size_t max_queue = 1000;           // waiting deliveries per receiver
};

// Why a notification is sent.
enum class Notice : uint8_t {
  firing,    // the alert just turned firing
  repeat,    // still firing, the repeat interval has passed
  resolved,  // it resolved
};

// Counters for /metrics (advx_alert_deliveries_total{receiver,result}).
struct DeliveryStats {
  std::string receiver;  // "webhook", "alertmanager", "log"
  uint64_t sent = 0;     // delivered (HTTP 2xx)
  uint64_t retried = 0;  // attempts that failed and were tried again
  uint64_t failed = 0;   // given up after max_attempts (or a 4xx other than 408/429: not retried)
  uint64_t dropped = 0;  // dropped from a full queue
};

class Notifier {
 public:
  explicit Notifier(NotifierOptions options);
  ~Notifier();  // stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void start();
  // Stops the thread. Deliveries still waiting get one last try each within `deadline_ms`, then are dropped.
  void stop(int64_t deadline_ms = 2000);

  // Webhook and log: one message per call. Never blocks.
  void notify(const Alert& alert, Notice notice);

  // Alertmanager: the alerts in one POST. Firing alerts get startsAt = fired_at and endsAt = now +
  // alertmanager_end_grace_ms; resolved ones endsAt = resolved_at. Pending alerts are not sent. The caller
  // re-sends firing alerts periodically (as Prometheus does), so Alertmanager keeps them. Never blocks.
  void send_to_alertmanager(const std::vector<Alert>& alerts);

  // Blocks until nothing is waiting or in flight, or `timeout_ms` passed; true when drained (for tests).
  bool drain(int64_t timeout_ms);

  std::vector<DeliveryStats> stats() const;  // one entry per configured receiver, log included when on

 private:
  struct Delivery;
  struct Curl;  // the libcurl multi handle the worker drives (curl_multi_wakeup wakes it from any thread)
  enum Receiver : uint8_t { kWebhook, kAlertmanager, kReceivers };

  void run();
  void enqueue(Receiver receiver, std::unique_ptr<Delivery> d);
  void drop_oldest_waiting(Receiver receiver);  // mutex_ held
  // The next delivery of `receiver` that may be tried now (mutex_ held), or queue_.end().
  std::deque<std::unique_ptr<Delivery>>::iterator next_due(Receiver receiver, int64_t now_ms);
  void finished(std::unique_ptr<Delivery> d, int outcome, const std::string& error);  // mutex_ held
  void notify_idle_if_done();                                                         // mutex_ held

  NotifierOptions options_;
  std::unique_ptr<Curl> curl_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<std::unique_ptr<Delivery>> queue_;  // waiting deliveries, oldest first
  size_t waiting_[kReceivers] = {0, 0};          // per receiver, in queue_
  bool busy_[kReceivers] = {false, false};       // a request of that receiver is in flight
  size_t in_flight_ = 0;
  uint64_t next_seq_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  int64_t stop_deadline_ms_ = 0;  // steady clock
  std::vector<DeliveryStats> stats_;
  int stats_index_[kReceivers + 1] = {-1, -1, -1};  // webhook, alertmanager, log
  std::thread thread_;
};

// The JSON bodies, exposed for tests and docs.
// Slack-compatible: {"text": "...", "attachments": [{"color", "title", "text", "fields": [...]}]}; fields
// carry rule, source, campaign, severity, state, value and threshold.
std::string slack_payload(const Alert& alert, Notice notice);
// Alertmanager API v2: a JSON array of {labels{alertname,source,campaign,severity}, annotations{summary,
// value,threshold}, startsAt, endsAt, generatorURL}; times RFC 3339 UTC. `now_us` sets endsAt of firing ones.
std::string alertmanager_payload(const std::vector<Alert>& alerts, int64_t now_us,
                                 const NotifierOptions& options);

}  // namespace advx::monitor
