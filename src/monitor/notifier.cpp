// The Notifier: one worker thread drives a libcurl multi handle, so the webhook and Alertmanager each have
// at most one request in flight at the same time, and the thread sleeps in curl_multi_poll until a socket is
// ready, the earliest backoff ends or a caller wakes it (curl_multi_wakeup, safe from any thread).
//
// Order: a delivery may overtake an older one of the same receiver that waits for its backoff only when they
// concern different alerts (disjoint alert keys). So one alert's FIRING never arrives after its RESOLVED, and
// an Alertmanager batch never re-fires an alert a newer batch resolved.
#include "monitor/notifier.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "core/json_text.hpp"
#include "core/time_util.hpp"

namespace advx::monitor {

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Shortest text that reads back as the same double: 0.21, 120, 1e-07.
std::string number_text(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// RFC 3339 in UTC with milliseconds, as Alertmanager writes them: 2026-11-01T10:00:00.000Z.
std::string rfc3339_ms(int64_t micros) {
  std::string t = format_timestamp(floor_div(micros, 1000) * 1000);  // 2026-11-01T10:00:00.000000Z
  t.resize(t.size() - 4);
  t += 'Z';
  return t;
}

std::string_view notice_word(Notice n) {
  switch (n) {
    case Notice::firing:
      return "FIRING";
    case Notice::repeat:
      return "REPEAT";
    case Notice::resolved:
      return "RESOLVED";
  }
  return "?";
}

void add_field(std::string& out, bool& first, std::string_view key, std::string_view value) {
  if (!first) out += ',';
  first = false;
  append_json_string(key, out);
  out += ':';
  append_json_string(value, out);
}

void add_slack_field(std::string& out, std::string_view title, std::string_view value) {
  if (out.back() != '[') out += ',';
  out += "{\"title\":";
  append_json_string(title, out);
  out += ",\"value\":";
  append_json_string(value, out);
  out += ",\"short\":true}";
}

// "rule source=s campaign=c" (the empty labels left out).
std::string alert_title(const Alert& a) {
  std::string t = a.rule;
  if (!a.source.empty()) t += " source=" + a.source;
  if (!a.campaign.empty()) t += " campaign=" + a.campaign;
  return t;
}

// The log line: control characters (a newline in a summary) become blanks, so it stays one line.
std::string log_line(const Alert& a, Notice notice) {
  std::string line = "advx alert: ";
  line += notice_word(notice);
  line += ' ';
  line += alert_title(a);
  if (!a.severity.empty()) line += " severity=" + a.severity;
  line += " value=" + number_text(a.value) + " threshold=" + number_text(a.threshold) + ": " + a.summary;
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  line += '\n';
  return line;
}

std::once_flag curl_init;

size_t keep_some(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() < 200) out->append(data, std::min(size * n, 200 - out->size()));
  return size * n;
}

enum Outcome : int { kSent, kRetry, kFail, kAborted };

}  // namespace

std::string slack_payload(const Alert& alert, Notice notice) {
  std::string out = "{\"text\":";
  std::string text = "[";
  text += notice_word(notice);
  text += "] " + alert.rule + ": " + alert.summary;
  append_json_string(text, out);
  out += ",\"attachments\":[{\"color\":";
  out += notice == Notice::resolved ? "\"#2eb67d\"" : "\"#d00000\"";
  out += ",\"title\":";
  append_json_string(alert_title(alert), out);
  out += ",\"text\":";
  append_json_string(alert.summary, out);
  out += ",\"fields\":[";
  add_slack_field(out, "rule", alert.rule);
  if (!alert.source.empty()) add_slack_field(out, "source", alert.source);
  if (!alert.campaign.empty()) add_slack_field(out, "campaign", alert.campaign);
  if (!alert.severity.empty()) add_slack_field(out, "severity", alert.severity);
  add_slack_field(out, "state", alert_state_name(alert.state));
  add_slack_field(out, "value", number_text(alert.value));
  add_slack_field(out, "threshold", number_text(alert.threshold));
  out += "]}]}";
  return out;
}

std::string alertmanager_payload(const std::vector<Alert>& alerts, int64_t now_us,
                                 const NotifierOptions& options) {
  std::string out = "[";
  for (const Alert& a : alerts) {
    if (a.state == AlertState::pending) continue;
    if (out.size() > 1) out += ',';
    out += "{\"labels\":{";
    bool first = true;
    add_field(out, first, "alertname", a.rule);
    if (!a.severity.empty()) add_field(out, first, "severity", a.severity);
    if (!a.source.empty()) add_field(out, first, "source", a.source);
    if (!a.campaign.empty()) add_field(out, first, "campaign", a.campaign);
    out += "},\"annotations\":{";
    first = true;
    add_field(out, first, "summary", a.summary);
    add_field(out, first, "value", number_text(a.value));
    add_field(out, first, "threshold", number_text(a.threshold));
    out += '}';
    const int64_t starts = a.fired_at_us != 0 ? a.fired_at_us : a.active_since_us;
    if (starts != 0) out += ",\"startsAt\":\"" + rfc3339_ms(starts) + '"';
    int64_t ends = a.state == AlertState::resolved ? (a.resolved_at_us != 0 ? a.resolved_at_us : now_us)
                                                   : now_us + options.alertmanager_end_grace_ms * 1000;
    ends = std::max(ends, starts);  // Alertmanager refuses the whole batch when one ends before it starts
    out += ",\"endsAt\":\"" + rfc3339_ms(ends) + '"';
    if (!options.generator_url.empty()) {
      out += ",\"generatorURL\":";
      append_json_string(options.generator_url, out);
    }
    out += '}';
  }
  out += ']';
  return out;
}

struct Notifier::Curl {
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  Curl() {
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for larger bodies
  }
  ~Curl() {
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
  }
  void wake() const { curl_multi_wakeup(multi); }
};

struct Notifier::Delivery {
  Receiver receiver;
  uint64_t seq = 0;  // enqueue order: the age
  std::string url;
  std::string body;           // webhook: fixed; Alertmanager: rebuilt at each attempt (endsAt = now + grace)
  std::vector<Alert> alerts;  // Alertmanager only
  std::vector<std::string> keys;  // alert_key of the alerts concerned
  int attempts = 0;
  int64_t next_attempt_ms = 0;  // steady clock
  // While in flight.
  CURL* easy = nullptr;
  std::string response;
};

Notifier::Notifier(NotifierOptions options) : options_(std::move(options)), curl_(std::make_unique<Curl>()) {
  options_.max_queue = std::max<size_t>(options_.max_queue, 1);
  options_.max_attempts = std::max(options_.max_attempts, 1);
  while (!options_.alertmanager_url.empty() && options_.alertmanager_url.back() == '/')
    options_.alertmanager_url.pop_back();
  const auto add = [&](int slot, const char* name) {
    stats_index_[slot] = int(stats_.size());
    stats_.push_back(DeliveryStats{name});
  };
  if (options_.log) add(kReceivers, "log");
  if (!options_.webhook_url.empty()) add(kWebhook, "webhook");
  if (!options_.alertmanager_url.empty()) add(kAlertmanager, "alertmanager");
}

Notifier::~Notifier() { stop(); }

void Notifier::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopped_ || stopping_) return;  // once
  thread_ = std::thread([this] { run(); });
}

void Notifier::stop(int64_t deadline_ms) {
  {
    std::unique_lock lock(mutex_);
    if (stopped_ || stopping_) return;
    stopping_ = true;
    stop_deadline_ms_ = steady_ms() + std::max<int64_t>(deadline_ms, 0);
    // Never started: the last tries still happen, on a thread of their own.
    if (!thread_.joinable() && !queue_.empty()) thread_ = std::thread([this] { run(); });
  }
  curl_->wake();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  stopped_ = true;
  for (const auto& d : queue_) stats_[size_t(stats_index_[d->receiver])].dropped++;  // queued meanwhile
  queue_.clear();
  waiting_[kWebhook] = waiting_[kAlertmanager] = 0;
  idle_.notify_all();
}

void Notifier::notify(const Alert& alert, Notice notice) {
  if (options_.log) {
    const std::string line = log_line(alert, notice);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::lock_guard lock(mutex_);
    stats_[size_t(stats_index_[kReceivers])].sent++;
  }
  if (options_.webhook_url.empty()) return;
  auto d = std::make_unique<Delivery>();
  d->url = options_.webhook_url;
  d->body = slack_payload(alert, notice);
  d->keys.push_back(alert_key(alert));
  enqueue(kWebhook, std::move(d));
}

void Notifier::send_to_alertmanager(const std::vector<Alert>& alerts) {
  if (options_.alertmanager_url.empty()) return;
  auto d = std::make_unique<Delivery>();
  for (const Alert& a : alerts) {
    if (a.state == AlertState::pending) continue;
    d->alerts.push_back(a);
    d->keys.push_back(alert_key(a));
  }
  if (d->alerts.empty()) return;
  d->url = options_.alertmanager_url + "/api/v2/alerts";
  enqueue(kAlertmanager, std::move(d));
}

void Notifier::enqueue(Receiver receiver, std::unique_ptr<Delivery> d) {
  {
    std::lock_guard lock(mutex_);
    DeliveryStats& st = stats_[size_t(stats_index_[receiver])];
    if (stopped_) {  // nobody will send it
      st.dropped++;
      return;
    }
    d->receiver = receiver;
    d->seq = next_seq_++;
    d->next_attempt_ms = steady_ms();
    queue_.push_back(std::move(d));
    if (++waiting_[receiver] > options_.max_queue) drop_oldest_waiting(receiver);
  }
  curl_->wake();
}

void Notifier::drop_oldest_waiting(Receiver receiver) {
  const auto it =
      std::find_if(queue_.begin(), queue_.end(), [&](const auto& d) { return d->receiver == receiver; });
  if (it == queue_.end()) return;
  queue_.erase(it);
  waiting_[receiver]--;
  stats_[size_t(stats_index_[receiver])].dropped++;
}

std::deque<std::unique_ptr<Notifier::Delivery>>::iterator Notifier::next_due(Receiver receiver,
                                                                             int64_t now_ms) {
  std::vector<const std::string*> blocked;  // keys of older deliveries still waiting for their backoff
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    const Delivery& d = **it;
    if (d.receiver != receiver) continue;
    if (stopping_) return it;  // the last tries: in order, backoffs cut short
    const bool free = std::none_of(d.keys.begin(), d.keys.end(), [&](const std::string& k) {
      return std::any_of(blocked.begin(), blocked.end(), [&](const std::string* b) { return *b == k; });
    });
    if (free && d.next_attempt_ms <= now_ms) return it;
    for (const std::string& k : d.keys) blocked.push_back(&k);
  }
  return queue_.end();
}

void Notifier::finished(std::unique_ptr<Delivery> d, int outcome, const std::string& error) {
  DeliveryStats& st = stats_[size_t(stats_index_[d->receiver])];
  if (outcome == kSent) {
    st.sent++;
  } else if (outcome == kAborted) {
    st.dropped++;
  } else if (outcome == kRetry && !stopping_ && d->attempts < options_.max_attempts) {
    st.retried++;
    int64_t backoff = std::max<int64_t>(options_.initial_backoff_ms, 0);
    for (int i = 1; i < d->attempts && backoff < options_.max_backoff_ms; ++i) backoff *= 2;
    d->next_attempt_ms = steady_ms() + std::min(backoff, options_.max_backoff_ms);
    const Receiver r = d->receiver;
    // Back in its place by age, so it stays the oldest of its receiver (and the first dropped).
    const auto at = std::upper_bound(queue_.begin(), queue_.end(), d->seq,
                                     [](uint64_t seq, const auto& other) { return seq < other->seq; });
    queue_.insert(at, std::move(d));
    if (++waiting_[r] > options_.max_queue) drop_oldest_waiting(r);
  } else {
    st.failed++;
    std::string why = error;
    for (char& c : why)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    std::fprintf(stderr, "advx alert: %s delivery failed after %d attempt%s: %s\n", st.receiver.c_str(),
                 d->attempts, d->attempts == 1 ? "" : "s", why.c_str());
  }
}

void Notifier::notify_idle_if_done() {
  if (queue_.empty() && in_flight_ == 0) idle_.notify_all();
}

void Notifier::run() {
  CURLM* multi = curl_->multi;
  Delivery* active[kReceivers] = {nullptr, nullptr};  // owned while in flight
  const auto release = [&](Delivery* d) {
    curl_multi_remove_handle(multi, d->easy);
    curl_easy_cleanup(d->easy);
    d->easy = nullptr;
    active[d->receiver] = nullptr;
    busy_[d->receiver] = false;
    in_flight_--;
    return std::unique_ptr<Delivery>(d);
  };
  for (;;) {
    int wait_ms = 1000;
    {
      std::lock_guard lock(mutex_);
      const int64_t now = steady_ms();
      if (stopping_ && (now >= stop_deadline_ms_ || (queue_.empty() && in_flight_ == 0))) {
        for (Delivery* d : active)
          if (d) finished(release(d), kAborted, "");
        for (const auto& d : queue_) stats_[size_t(stats_index_[d->receiver])].dropped++;
        queue_.clear();
        waiting_[kWebhook] = waiting_[kAlertmanager] = 0;
        idle_.notify_all();
        return;
      }
      int64_t wake_at = stopping_ ? stop_deadline_ms_ : now + 1000;
      for (int r = 0; r < kReceivers; ++r) {
        if (busy_[r]) continue;
        const auto it = next_due(Receiver(r), now);
        if (it == queue_.end()) {
          for (const auto& d : queue_)
            if (d->receiver == r && d->next_attempt_ms > now) wake_at = std::min(wake_at, d->next_attempt_ms);
          continue;
        }
        Delivery* d = it->release();
        queue_.erase(it);
        waiting_[r]--;
        if (d->receiver == kAlertmanager)
          d->body = alertmanager_payload(d->alerts, wall_clock_us(), options_);
        d->attempts++;
        d->response.clear();
        d->easy = curl_easy_init();
        CURL* e = d->easy;
        curl_easy_setopt(e, CURLOPT_URL, d->url.c_str());
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body.data());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(d->body.size()));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, curl_->headers);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(options_.timeout_ms));
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "advx-notifier");
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_some);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &d->response);
        curl_easy_setopt(e, CURLOPT_PRIVATE, d);
        curl_multi_add_handle(multi, e);
        active[r] = d;
        busy_[r] = true;
        in_flight_++;
      }
      wait_ms = int(std::clamp<int64_t>(wake_at - now, 0, 1000));
    }

    int running = 0;
    curl_multi_perform(multi, &running);
    bool done_any = false;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Delivery* d = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&d));
      const CURLcode result = msg->data.result;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      int outcome;
      std::string error;
      if (result != CURLE_OK) {
        error = curl_easy_strerror(result);
        const bool permanent = result == CURLE_UNSUPPORTED_PROTOCOL || result == CURLE_URL_MALFORMAT;
        outcome = permanent ? kFail : kRetry;
      } else if (status >= 200 && status < 300) {
        outcome = kSent;
      } else {
        error = "HTTP " + std::to_string(status) + ": " + d->response;
        outcome = status == 408 || status == 429 || status >= 500 ? kRetry : kFail;
      }
      std::lock_guard lock(mutex_);
      finished(release(d), outcome, error);
      notify_idle_if_done();
      done_any = true;
    }
    if (!done_any) curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }
}

bool Notifier::drain(int64_t timeout_ms) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)),
                        [&] { return queue_.empty() && in_flight_ == 0; });
}

std::vector<DeliveryStats> Notifier::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace advx::monitor
