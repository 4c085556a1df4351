// The Notifier against real HTTP receivers: an httplib server in the test (webhook, retries, a receiver that
// never answers) and a real Prometheus Alertmanager 0.25 process (installed by scripts/setup).
#include "monitor/notifier.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>

#include "../../support/external_servers.hpp"
#include "core/time_util.hpp"

namespace advx::monitor {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t micros_of(int64_t y, unsigned m, unsigned d, int hh, int mm, int ss) {
  return (days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss) * kMicrosPerSecond;
}

// Alertmanager's own time format (RFC 3339, milliseconds, Z).
std::string am_time(int64_t micros) {
  std::string t = format_timestamp(micros / 1000 * 1000);
  return t.substr(0, 23) + "Z";
}

Alert ctr_alert(AlertState state = AlertState::firing) {
  Alert a;
  a.rule = "ctr_anomaly";
  a.source = "clicks_conversions";
  a.campaign = "c7";
  a.severity = "warning";
  a.summary = "CTR of \"c7\" is 0.21,\nfour times its baseline";  // a quote and a newline to escape
  a.value = 0.21;
  a.threshold = 0.05;
  a.state = state;
  a.active_since_us = micros_of(2026, 11, 1, 9, 55, 0);
  a.fired_at_us = micros_of(2026, 11, 1, 10, 0, 0);
  if (state == AlertState::resolved) a.resolved_at_us = micros_of(2026, 11, 1, 10, 30, 0) + 250'000;
  return a;
}

DeliveryStats stats_of(const std::vector<DeliveryStats>& all, const std::string& receiver) {
  for (const DeliveryStats& s : all)
    if (s.receiver == receiver) return s;
  ADD_FAILURE() << "no stats for " << receiver;
  return DeliveryStats{"<missing>"};
}

// An HTTP receiver: records every POST and answers with the status `status_for(n)` gives the n-th (0-based).
class Receiver {
 public:
  struct Request {
    std::string path, content_type, body;
    Clock::time_point at;
  };

  Receiver() {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      int n;
      {
        std::lock_guard lock(mutex_);
        n = int(requests_.size());
        requests_.push_back({req.path, req.get_header_value("Content-Type"), req.body, Clock::now()});
      }
      std::unique_lock lock(mutex_);
      if (hold_) released_.wait(lock, [&] { return !hold_; });  // a receiver that never answers
      res.status = status_for_(n);
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib 0.11's stop() does nothing before the loop runs (and the loop would then never end).
    for (int i = 0; i < 5000 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    release();
    server_.stop();
    thread_.join();
  }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void answer(std::function<int(int)> status_for) { status_for_ = std::move(status_for); }  // before use
  void hold() { hold_ = true; }                                                             // before use
  void release() {
    std::lock_guard lock(mutex_);
    hold_ = false;
    released_.notify_all();
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  size_t count() const { return requests().size(); }

 private:
  httplib::Server server_;
  std::function<int(int)> status_for_ = [](int) { return 200; };
  mutable std::mutex mutex_;
  std::condition_variable released_;
  bool hold_ = false;
  std::vector<Request> requests_;
  int port_ = 0;
  std::thread thread_;
};

NotifierOptions webhook_options(const Receiver& r) {
  NotifierOptions o;
  o.webhook_url = r.url();
  o.log = false;
  o.initial_backoff_ms = 10;
  o.max_backoff_ms = 1000;
  o.timeout_ms = 5000;
  return o;
}

// The fields of a Slack attachment as title -> value.
std::map<std::string, std::string> slack_fields(simdjson::dom::element attachment) {
  std::map<std::string, std::string> out;
  for (simdjson::dom::element f : attachment["fields"].get_array()) {
    EXPECT_TRUE(f["short"].get_bool().value());
    out[std::string(f["title"].get_string().value())] = std::string(f["value"].get_string().value());
  }
  return out;
}

TEST(Notifier, WebhookGetsOneSlackMessagePerNotice) {
  Receiver receiver;
  NotifierOptions o = webhook_options(receiver);
  o.log = true;
  Notifier notifier(o);
  notifier.start();
  notifier.notify(ctr_alert(AlertState::firing), Notice::firing);
  notifier.notify(ctr_alert(AlertState::resolved), Notice::resolved);
  ASSERT_TRUE(notifier.drain(5000));

  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  simdjson::dom::parser parser;
  const struct {
    const char* text;
    const char* color;
    const char* state;
  } expected[] = {
      {"[FIRING] ctr_anomaly: CTR of \"c7\" is 0.21,\nfour times its baseline", "#d00000", "firing"},
      {"[RESOLVED] ctr_anomaly: CTR of \"c7\" is 0.21,\nfour times its baseline", "#2eb67d", "resolved"},
  };
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(requests[i].path, "/hook");
    EXPECT_EQ(requests[i].content_type, "application/json");
    EXPECT_EQ(requests[i].body, slack_payload(ctr_alert(i == 0 ? AlertState::firing : AlertState::resolved),
                                              i == 0 ? Notice::firing : Notice::resolved));
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(requests[i].body).get(doc), simdjson::SUCCESS) << requests[i].body;
    EXPECT_EQ(doc["text"].get_string().value(), expected[i].text);
    simdjson::dom::array attachments = doc["attachments"].get_array();
    ASSERT_EQ(attachments.size(), 1u);
    simdjson::dom::element att = attachments.at(0);
    EXPECT_EQ(att["color"].get_string().value(), expected[i].color);
    EXPECT_EQ(att["title"].get_string().value(), "ctr_anomaly source=clicks_conversions campaign=c7");
    EXPECT_EQ(att["text"].get_string().value(), "CTR of \"c7\" is 0.21,\nfour times its baseline");
    const std::map<std::string, std::string> want = {
        {"rule", "ctr_anomaly"}, {"source", "clicks_conversions"}, {"campaign", "c7"},
        {"severity", "warning"}, {"state", expected[i].state},     {"value", "0.21"},
        {"threshold", "0.05"}};
    EXPECT_EQ(slack_fields(att), want);
  }
  const auto stats = notifier.stats();
  ASSERT_EQ(stats.size(), 2u);  // log and webhook; no Alertmanager configured
  EXPECT_EQ(stats_of(stats, "log").sent, 2u);
  const DeliveryStats w = stats_of(stats, "webhook");
  EXPECT_EQ(w.sent, 2u);
  EXPECT_EQ(w.retried + w.failed + w.dropped, 0u);
}

TEST(Notifier, SlackPayloadLeavesOutEmptyLabels) {
  Alert a;
  a.rule = "freshness";
  a.severity = "critical";
  a.summary = "no data";
  a.value = 600;
  a.threshold = 300;
  a.state = AlertState::firing;
  EXPECT_EQ(slack_payload(a, Notice::repeat),
            R"({"text":"[REPEAT] freshness: no data","attachments":[{"color":"#d00000","title":"freshness",)"
            R"("text":"no data","fields":[{"title":"rule","value":"freshness","short":true},)"
            R"({"title":"severity","value":"critical","short":true},)"
            R"({"title":"state","value":"firing","short":true},{"title":"value","value":"600","short":true},)"
            R"({"title":"threshold","value":"300","short":true}]}]})");
}

TEST(Notifier, RetriesServerErrorsWithDoublingBackoff) {
  Receiver receiver;
  receiver.answer([](int n) { return n < 2 ? 503 : 200; });
  Notifier notifier(webhook_options(receiver));  // backoff 10 ms, then 20 ms
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  ASSERT_TRUE(notifier.drain(5000));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].body, requests[2].body);
  EXPECT_GE(requests[1].at - requests[0].at, std::chrono::milliseconds(10));
  EXPECT_GE(requests[2].at - requests[1].at, std::chrono::milliseconds(20));
  const DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.sent, 1u);
  EXPECT_EQ(w.retried, 2u);
  EXPECT_EQ(w.failed, 0u);
  EXPECT_EQ(w.dropped, 0u);
}

TEST(Notifier, Retries408And429) {
  Receiver receiver;
  receiver.answer([](int n) { return n == 0 ? 429 : n == 1 ? 408 : 204; });
  Notifier notifier(webhook_options(receiver));
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  ASSERT_TRUE(notifier.drain(5000));
  EXPECT_EQ(receiver.count(), 3u);
  const DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.sent, 1u);
  EXPECT_EQ(w.retried, 2u);
}

TEST(Notifier, GivesUpAfterMaxAttempts) {
  Receiver receiver;
  receiver.answer([](int) { return 500; });
  NotifierOptions o = webhook_options(receiver);
  o.max_attempts = 3;
  Notifier notifier(o);
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  ASSERT_TRUE(notifier.drain(5000));
  EXPECT_EQ(receiver.count(), 3u);
  const DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.sent, 0u);
  EXPECT_EQ(w.retried, 2u);
  EXPECT_EQ(w.failed, 1u);
}

TEST(Notifier, ClientErrorsAreNotRetried) {
  Receiver receiver;
  receiver.answer([](int) { return 400; });
  Notifier notifier(webhook_options(receiver));
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  ASSERT_TRUE(notifier.drain(5000));
  EXPECT_EQ(receiver.count(), 1u);
  const DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.failed, 1u);
  EXPECT_EQ(w.retried, 0u);
  EXPECT_EQ(w.sent, 0u);
}

TEST(Notifier, ConnectionRefusedIsRetriedThenFails) {
  std::string url;
  {
    Receiver gone;  // a port that was just free, closed again
    url = gone.url();
  }
  NotifierOptions o;
  o.log = false;
  o.webhook_url = url;
  o.max_attempts = 3;
  o.initial_backoff_ms = 5;
  Notifier notifier(o);
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  ASSERT_TRUE(notifier.drain(5000));
  const DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.retried, 2u);
  EXPECT_EQ(w.failed, 1u);
}

// One alert's messages keep their order while its first one waits for a backoff; another alert's message
// goes ahead meanwhile.
TEST(Notifier, BackoffDelaysOnlyTheSameAlert) {
  Receiver receiver;
  receiver.answer([](int n) { return n == 0 ? 503 : 200; });
  NotifierOptions o = webhook_options(receiver);
  o.initial_backoff_ms = 300;
  Notifier notifier(o);
  notifier.notify(ctr_alert(AlertState::firing), Notice::firing);
  notifier.notify(ctr_alert(AlertState::resolved), Notice::resolved);
  Alert other = ctr_alert();
  other.campaign = "c8";
  notifier.notify(other, Notice::firing);
  notifier.start();
  ASSERT_TRUE(notifier.drain(5000));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].body, slack_payload(ctr_alert(AlertState::firing), Notice::firing));  // 503
  EXPECT_EQ(requests[1].body, slack_payload(other, Notice::firing));  // during the backoff
  EXPECT_LT(requests[1].at - requests[0].at, std::chrono::milliseconds(250));
  EXPECT_EQ(requests[2].body, slack_payload(ctr_alert(AlertState::firing), Notice::firing));
  EXPECT_EQ(requests[3].body, slack_payload(ctr_alert(AlertState::resolved), Notice::resolved));
  EXPECT_EQ(stats_of(notifier.stats(), "webhook").sent, 3u);
}

TEST(Notifier, NeverBlocksAndBoundsTheQueue) {
  Receiver receiver;
  receiver.hold();  // takes requests, never answers (until the test ends)
  NotifierOptions o = webhook_options(receiver);
  o.max_queue = 10;
  o.timeout_ms = 60'000;
  Notifier notifier(o);
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  const auto wait_start = Clock::now();
  while (receiver.count() == 0 && Clock::now() - wait_start < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(receiver.count(), 1u);  // in flight, and it stays so

  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) {
    Alert a = ctr_alert();
    a.campaign = "c" + std::to_string(100 + i);
    notifier.notify(a, Notice::firing);
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  // One in flight, at most one request per receiver at a time: 10 of the 100 wait, 90 were dropped.
  DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.dropped, 90u);
  EXPECT_EQ(w.sent, 0u);
  EXPECT_FALSE(notifier.drain(50));

  // stop: the request in flight holds the receiver until the deadline; then it and the 10 are dropped.
  const auto stop_start = Clock::now();
  notifier.stop(300);
  const auto took = Clock::now() - stop_start;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.dropped, 101u);
  EXPECT_EQ(w.sent + w.failed + w.retried, 0u);
  EXPECT_EQ(receiver.count(), 1u);
  notifier.notify(ctr_alert(), Notice::firing);  // after stop: dropped at once
  EXPECT_EQ(stats_of(notifier.stats(), "webhook").dropped, 102u);
}

TEST(Notifier, StopGivesWaitingDeliveriesALastTry) {
  Receiver receiver;
  receiver.answer([](int n) { return n == 0 ? 503 : 200; });
  NotifierOptions o = webhook_options(receiver);
  o.initial_backoff_ms = 60'000;  // the retry would wait a minute
  Notifier notifier(o);
  notifier.start();
  notifier.notify(ctr_alert(), Notice::firing);
  const auto wait_start = Clock::now();
  while (stats_of(notifier.stats(), "webhook").retried == 0 &&
         Clock::now() - wait_start < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto stop_start = Clock::now();
  notifier.stop(2000);
  EXPECT_LT(Clock::now() - stop_start, std::chrono::milliseconds(1000));
  EXPECT_EQ(receiver.count(), 2u);
  const DeliveryStats w = stats_of(notifier.stats(), "webhook");
  EXPECT_EQ(w.sent, 1u);
  EXPECT_EQ(w.retried, 1u);
}

TEST(Notifier, AlertmanagerPayloadIsExact) {
  NotifierOptions o;
  o.generator_url = "http://127.0.0.1:8080/v1/alerts";
  o.alertmanager_end_grace_ms = 5 * 60 * 1000;
  Alert firing = ctr_alert(AlertState::firing);
  Alert resolved = ctr_alert(AlertState::resolved);
  resolved.rule = "freshness";
  resolved.source = "impressions";
  resolved.campaign = "";
  resolved.severity = "critical";
  resolved.summary = "no impressions for 12 minutes";
  resolved.value = 720;
  resolved.threshold = 600;
  Alert pending = ctr_alert(AlertState::pending);
  pending.fired_at_us = 0;
  const int64_t now = micros_of(2026, 11, 1, 10, 31, 0) + 999'999;  // milliseconds are truncated
  EXPECT_EQ(alertmanager_payload({firing, pending, resolved}, now, o),
            R"([{"labels":{"alertname":"ctr_anomaly","severity":"warning","source":"clicks_conversions",)"
            R"("campaign":"c7"},"annotations":{"summary":"CTR of \"c7\" is 0.21,\nfour times its baseline",)"
            R"("value":"0.21","threshold":"0.05"},"startsAt":"2026-11-01T10:00:00.000Z",)"
            R"("endsAt":"2026-11-01T10:36:00.999Z","generatorURL":"http://127.0.0.1:8080/v1/alerts"},)"
            R"({"labels":{"alertname":"freshness","severity":"critical","source":"impressions"},)"
            R"("annotations":{"summary":"no impressions for 12 minutes","value":"720","threshold":"600"},)"
            R"("startsAt":"2026-11-01T10:00:00.000Z","endsAt":"2026-11-01T10:30:00.250Z",)"
            R"("generatorURL":"http://127.0.0.1:8080/v1/alerts"}])");
  // Not fired yet: startsAt is the start of pending. No generator URL: none sent.
  firing.fired_at_us = 0;
  const std::string unfired = alertmanager_payload({firing}, now, NotifierOptions{});
  EXPECT_NE(unfired.find(R"("startsAt":"2026-11-01T09:55:00.000Z")"), std::string::npos) << unfired;
  EXPECT_EQ(unfired.find("generatorURL"), std::string::npos) << unfired;
  EXPECT_EQ(alertmanager_payload({pending}, now, o), "[]");
  EXPECT_EQ(alertmanager_payload({}, now, o), "[]");
}

TEST(Notifier, AlertmanagerGetsNothingForPendingAlerts) {
  Receiver receiver;
  NotifierOptions o;
  o.log = false;
  o.alertmanager_url = receiver.url("/am/");  // a trailing slash is ignored
  Notifier notifier(o);
  notifier.start();
  notifier.send_to_alertmanager({ctr_alert(AlertState::pending)});
  notifier.send_to_alertmanager({});
  notifier.send_to_alertmanager({ctr_alert(AlertState::pending), ctr_alert(AlertState::firing)});
  ASSERT_TRUE(notifier.drain(5000));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/am/api/v2/alerts");
  EXPECT_EQ(requests[0].content_type, "application/json");
  EXPECT_EQ(requests[0].body.find("\"ctr_anomaly\""),
            requests[0].body.rfind("\"ctr_anomaly\""));  // one alert
  const auto stats = notifier.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats_of(stats, "alertmanager").sent, 1u);
}

// ---- A real Alertmanager ----

using test::AlertmanagerProcess;
using test::listed_alerts;

TEST(NotifierAlertmanager, FiresAndResolvesInARealAlertmanager) {
  ASSERT_TRUE(test::installed(test::kAlertmanagerBinary, "prometheus-alertmanager"));
  AlertmanagerProcess am;
  ASSERT_NE(am.port(), 0);
  std::string why;
  ASSERT_TRUE(am.wait_ready(&why)) << why;

  NotifierOptions o;
  o.log = false;
  o.alertmanager_url = am.url();
  o.generator_url = "http://127.0.0.1:8080/v1/alerts";
  o.initial_backoff_ms = 20;
  Notifier notifier(o);
  notifier.start();

  const int64_t now = now_us();
  Alert c7 = ctr_alert(AlertState::firing);
  c7.rule = "advx_notifier_test";
  c7.active_since_us = now - 120 * kMicrosPerSecond;
  c7.fired_at_us = now - 60 * kMicrosPerSecond;
  Alert c8 = c7;
  c8.campaign = "c8";
  c8.value = 0.5;
  Alert pending = c7;
  pending.campaign = "c9";
  pending.state = AlertState::pending;
  pending.fired_at_us = 0;
  notifier.send_to_alertmanager({c7, c8, pending});
  ASSERT_TRUE(notifier.drain(5000));
  EXPECT_EQ(stats_of(notifier.stats(), "alertmanager").sent, 1u);

  std::string error;
  auto listed = listed_alerts(am.port(), c7.rule, &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(listed.size(), 2u);  // c7 and c8; the pending c9 was not sent
  ASSERT_TRUE(listed.count("c7"));
  EXPECT_EQ(listed["c7"].state, "active");
  EXPECT_EQ(listed["c7"].starts_at, am_time(c7.fired_at_us));
  EXPECT_EQ(listed["c7"].value, "0.21");
  EXPECT_EQ(listed["c7"].generator_url, "http://127.0.0.1:8080/v1/alerts");
  EXPECT_EQ(listed["c8"].state, "active");
  EXPECT_EQ(listed["c8"].value, "0.5");

  // c7 resolves (endsAt in the past), c8 still fires: Alertmanager 0.25 lists only alerts whose endsAt is
  // ahead, so c7 disappears from GET /api/v2/alerts at once (there is no "resolved" state in its answer).
  c7.state = AlertState::resolved;
  c7.resolved_at_us = now_us() - kMicrosPerSecond;
  notifier.send_to_alertmanager({c7, c8});
  ASSERT_TRUE(notifier.drain(5000));
  const DeliveryStats s = stats_of(notifier.stats(), "alertmanager");
  EXPECT_EQ(s.sent, 2u);
  EXPECT_EQ(s.failed + s.retried + s.dropped, 0u);
  const auto start = Clock::now();
  do {
    listed = listed_alerts(am.port(), c7.rule, &error);
    ASSERT_TRUE(error.empty()) << error;
    if (!listed.count("c7")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (Clock::now() - start < std::chrono::seconds(5));
  EXPECT_FALSE(listed.count("c7")) << "c7 still listed as " << listed["c7"].state;
  ASSERT_TRUE(listed.count("c8"));
  EXPECT_EQ(listed["c8"].state, "active");
}

}  // namespace
}  // namespace advx::monitor
