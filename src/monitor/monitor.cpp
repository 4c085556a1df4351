#include "monitor/monitor.hpp"

#include <chrono>
#include <cstdio>

#include "core/json_text.hpp"
#include "core/time_util.hpp"

namespace advx::monitor {

namespace {

void append_number(double v, std::string& out) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out += buf;
}

}  // namespace

Monitor::Monitor(std::unique_ptr<Store> store, MonitorOptions options,
                 std::function<std::array<uint64_t, kStreamCount>()> duplicates,
                 std::function<int64_t()> clock)
    : store_(std::move(store)),
      options_(std::move(options)),
      duplicates_(std::move(duplicates)),
      clock_(clock ? std::move(clock) : wall_clock_us),
      notifier_(options_.notifier),
      tracker_(options_.repeat_interval_us, /*keep_history=*/false),
      // The frame keeps what the rules look back on; per-campaign buckets (the bulk of it) only as far
      // back as the campaign rules need.
      lookback_(lookback(options_.rules, options_.bucket_us)) {
  frame_.bucket_us = options_.bucket_us;
}

Monitor::~Monitor() { stop(); }

bool Monitor::check_options(std::string* error) const {
  for (const Rule& r : options_.rules) {
    if (r.enabled && r.kind != RuleKind::freshness && r.window_us < options_.bucket_us) {
      *error = "rule " + r.name + ": window " + format_duration(r.window_us) +
               " is shorter than one bucket (" + format_duration(options_.bucket_us) + ")";
      return false;
    }
  }
  return true;
}

void Monitor::start() {
  notifier_.start();
  thread_ = std::thread(&Monitor::run, this);
}

void Monitor::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  notifier_.stop();
}

void Monitor::run() {
  std::unique_lock lock(mutex_);
  int64_t failed_at = -1;  // a bucket whose evaluation failed is not retried: the next bucket covers it
  while (!stopping_) {
    const int64_t now = floor_to(clock_() - options_.settle_us, options_.bucket_us);
    if (now > last_eval_us_ && now != failed_at) {
      lock.unlock();
      try {
        evaluate_at(now);
      } catch (const StoreError& e) {
        std::fprintf(stderr, "advx serve: monitor: %s\n", e.what());
        failed_at = now;
        std::lock_guard l(mutex_);
        stats_.errors++;
      }
      lock.lock();
      continue;
    }
    // Sleep until the next bucket is due, polling at most poll_us apart.
    const int64_t due = now + options_.bucket_us + options_.settle_us - clock_();
    wake_.wait_for(lock, std::chrono::microseconds(std::max<int64_t>(1000, std::min(due, options_.poll_us))));
  }
}

void Monitor::refresh_frame(int64_t now_us) {
  const int64_t bucket = options_.bucket_us;
  // The new buckets; and the clicks of the one before them again, for attribution since (an orphan a
  // second ago may have met its impression). Rows are not committed late into a bucket: it is read
  // settle_us after it ends.
  if (loaded_to_us_ == 0) {
    frame_.replace_minutes(read_quality_frame(*store_, floor_to(now_us - lookback_.streams_us, bucket),
                                              now_us, ArrivalClock::ingested_at, bucket));
  } else {
    frame_.replace_minutes(read_quality_frame(*store_, loaded_to_us_ - bucket, loaded_to_us_,
                                              ArrivalClock::ingested_at, bucket, Stream::events),
                           Stream::events);
    frame_.replace_minutes(
        read_quality_frame(*store_, loaded_to_us_, now_us, ArrivalClock::ingested_at, bucket));
  }
  loaded_to_us_ = now_us;
  frame_.trim(now_us - lookback_.streams_us, now_us - lookback_.campaigns_us);
}

void Monitor::evaluate_at(int64_t now_us) {
  const auto t0 = std::chrono::steady_clock::now();
  refresh_frame(now_us);
  // Duplicates are not stored: the engine's counts since the last evaluation go to the bucket just ended.
  if (duplicates_) {
    const std::array<uint64_t, kStreamCount> d = duplicates_();
    auto& bucket = frame_.streams[now_us - options_.bucket_us];
    for (int s = 0; s < kStreamCount; s++) {
      bucket[size_t(s)].duplicates += d[size_t(s)] - last_duplicates_[size_t(s)];
      last_duplicates_[size_t(s)] = d[size_t(s)];
    }
  }
  const std::vector<Breach> breaches = evaluate(options_.rules, frame_, now_us);
  std::vector<Transition> transitions;
  std::vector<Alert> firing;
  {
    std::lock_guard lock(mutex_);
    transitions = tracker_.update(breaches, now_us);
    last_eval_us_ = now_us;
    for (const Alert& a : tracker_.active())
      if (a.state == AlertState::firing) firing.push_back(a);
  }
  std::vector<Alert> to_alertmanager;
  for (const Transition& t : transitions) {
    notifier_.notify(t.alert, t.notice);
    if (t.notice == Notice::resolved) to_alertmanager.push_back(t.alert);
  }
  // Alertmanager hears of every change at once, and of every firing alert again each resend interval.
  if (!transitions.empty() || now_us - last_resend_us_ >= options_.alertmanager_resend_us) {
    to_alertmanager.insert(to_alertmanager.end(), firing.begin(), firing.end());
    notifier_.send_to_alertmanager(to_alertmanager);
    last_resend_us_ = now_us;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard lock(mutex_);
  stats_.evaluations++;
  stats_.last_evaluation_seconds = seconds;
}

std::vector<Alert> Monitor::active() const {
  std::lock_guard lock(mutex_);
  return tracker_.active();
}

std::string Monitor::alerts_json() const {
  std::vector<Alert> alerts;
  int64_t evaluated = 0;
  {
    std::lock_guard lock(mutex_);
    alerts = tracker_.active();
    evaluated = last_eval_us_;
  }
  std::string out = "{\"evaluated_at\": ";
  if (evaluated)
    append_json_string(format_timestamp(evaluated), out);
  else
    out += "null";
  out += ", \"alerts\": [";
  for (size_t i = 0; i < alerts.size(); i++) {
    const Alert& a = alerts[i];
    out += i ? ",\n  {" : "\n  {";
    const std::pair<const char*, const std::string*> texts[] = {
        {"rule", &a.rule}, {"source", &a.source}, {"campaign", &a.campaign}, {"severity", &a.severity}};
    for (const auto& [k, v] : texts) {
      out += '"';
      out += k;
      out += "\": ";
      if (v->empty())
        out += "null";
      else
        append_json_string(*v, out);
      out += ", ";
    }
    out += "\"state\": ";
    append_json_string(alert_state_name(a.state), out);
    out += ", \"active_since\": ";
    append_json_string(format_timestamp(a.active_since_us), out);
    out += ", \"fired_at\": ";
    if (a.fired_at_us)
      append_json_string(format_timestamp(a.fired_at_us), out);
    else
      out += "null";
    out += ", \"value\": ";
    append_number(a.value, out);
    out += ", \"threshold\": ";
    append_number(a.threshold, out);
    out += ", \"summary\": ";
    append_json_string(a.summary, out);
    out += '}';
  }
  out += alerts.empty() ? "]}\n" : "\n]}\n";
  return out;
}

MonitorStats Monitor::stats() const {
  MonitorStats s;
  {
    std::lock_guard lock(mutex_);
    s = stats_;
  }
  s.deliveries = notifier_.stats();
  return s;
}

}  // namespace advx::monitor
