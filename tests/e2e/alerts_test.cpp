// advx serve's monitor end to end: a burst of malformed records fires reject_rate, the webhook receiver
// in the test (or a real Prometheus Alertmanager) gets it, GET /v1/alerts and /metrics show it, and once the
// burst ends it resolves. One-second buckets, so that the lifecycle plays out in seconds.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "../support/external_servers.hpp"
#include "serve_runner.hpp"

namespace advx::test {
namespace {

using namespace std::chrono_literals;

// Records every POST body it receives.
class WebhookReceiver {
 public:
  WebhookReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      bodies_.push_back(req.body);
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib 0.11's stop() does nothing before the loop runs (and the loop would then never end).
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<std::string> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  // The first body containing `text`, waiting up to `timeout`; "" when none came.
  std::string wait_for(const std::string& text, std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {  // looks at least once, also with a timeout of 0
      for (const std::string& b : bodies())
        if (b.find(text) != std::string::npos) return b;
      if (std::chrono::steady_clock::now() >= deadline) return "";
      std::this_thread::sleep_for(100ms);
    }
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
};

// `good` valid impressions timestamped now + `shift_s`, then `bad` malformed lines.
std::string impressions(int good, int bad, int seq, int64_t shift_s = 0) {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count() +
      shift_s;
  std::string body;
  for (int i = 0; i < good; i++)
    body += R"({"impression_id":"i)" + std::to_string(seq) + "-" + std::to_string(i) +
            R"(","ad_creative_id":"cr1","user_id":"u1","timestamp":)" + std::to_string(now) +
            R"(,"website":"news.example.com"})" + "\n";
  for (int i = 0; i < bad; i++) body += "{not json\n";
  return body;
}

TEST(ServeAlerts, AMalformedBurstFiresAndResolvesThroughTheWebhook) {
  TempDir dir;
  WebhookReceiver hook;
  write_file(dir.path() / "advx.toml",
             "[monitor]\nbucket = \"1s\"\nwebhook_url = \"" + hook.url() +
                 "\"\n[rules.reject_rate]\nwindow = \"3s\"\nfor = \"1s\"\nmin_count = 10\nthreshold = 0.5\n");
  ServeProcess serve({"--config", dir.str("advx.toml"), "--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"},
                     dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());

  // The burst: 80 % malformed, for 5 seconds.
  std::string firing;
  for (int i = 0; i < 25 && firing.empty(); i++) {
    ASSERT_EQ(http_request("POST", base + "/v1/impressions", impressions(5, 20, i)).status, 200);
    std::this_thread::sleep_for(200ms);  // pacing: the traffic spans the monitor's 1 s buckets
  }
  firing = hook.wait_for("[FIRING] reject_rate", 15s);
  ASSERT_FALSE(firing.empty()) << slurp(dir.str("serve.log"));
  EXPECT_NE(firing.find(R"("title":"rule","value":"reject_rate")"), std::string::npos) << firing;
  EXPECT_NE(firing.find(R"("title":"source","value":"impressions")"), std::string::npos) << firing;
  EXPECT_NE(firing.find(R"("title":"severity","value":"warning")"), std::string::npos) << firing;
  EXPECT_NE(firing.find(R"("title":"threshold","value":"0.5")"), std::string::npos) << firing;
  EXPECT_NE(firing.find(R"("title":"value","value":"0.8")"), std::string::npos) << firing;
  EXPECT_NE(firing.find("80.0% of records rejected"), std::string::npos) << firing;

  const HttpAnswer alerts = http_request("GET", base + "/v1/alerts");
  EXPECT_EQ(alerts.status, 200);
  EXPECT_NE(alerts.body.find(R"("rule": "reject_rate", "source": "impressions", "campaign": null, )"
                             R"("severity": "warning", "state": "firing")"),
            std::string::npos)
      << alerts.body;

  const std::string metrics = http_request("GET", base + "/metrics").body;
  EXPECT_NE(metrics.find(R"(advx_alerts{alertname="reject_rate",source="impressions",severity="warning",)"
                         R"(alertstate="firing"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(advx_alert_deliveries_total{receiver="webhook",result="sent"} 1)"),
            std::string::npos)
      << metrics;

  // The burst is over: nothing rejected any more (good records keep coming), the alert resolves.
  std::string resolved;
  for (int i = 0; i < 50 && resolved.empty(); i++) {
    ASSERT_EQ(http_request("POST", base + "/v1/impressions", impressions(20, 0, 100 + i)).status, 200);
    std::this_thread::sleep_for(200ms);  // pacing: the traffic spans the monitor's 1 s buckets
    resolved = hook.wait_for("[RESOLVED] reject_rate", 0s);
  }
  if (resolved.empty()) resolved = hook.wait_for("[RESOLVED] reject_rate", 10s);
  ASSERT_FALSE(resolved.empty()) << slurp(dir.str("serve.log"));
  EXPECT_NE(resolved.find(R"("title":"state","value":"resolved")"), std::string::npos) << resolved;
  EXPECT_EQ(http_request("GET", base + "/v1/alerts").body.find("reject_rate"), std::string::npos);
  // Exactly one firing and one resolved notification: not repeated while firing (repeat interval 4 h).
  int firing_count = 0, resolved_count = 0;
  for (const std::string& b : hook.bodies()) {
    firing_count += b.find("[FIRING] reject_rate") != std::string::npos;
    resolved_count += b.find("[RESOLVED] reject_rate") != std::string::npos;
  }
  EXPECT_EQ(firing_count, 1);
  EXPECT_EQ(resolved_count, 1);
  EXPECT_EQ(serve.kill(SIGTERM), 0);
  const std::string log = slurp(dir.str("serve.log"));
  EXPECT_NE(log.find("advx alert: FIRING reject_rate source=impressions"), std::string::npos) << log;
  EXPECT_NE(log.find("advx alert: RESOLVED reject_rate source=impressions"), std::string::npos) << log;
}

// The value of the sample `series` (its name and labels as printed) in a /metrics answer, or -1.
double metric_value(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  return at == std::string::npos ? -1 : std::atof(metrics.c_str() + at + series.size() + 2);
}

TEST(ServeAlerts, AlertmanagerReceivesTheAlertAndSeesItResolve) {
  ASSERT_TRUE(installed(kAlertmanagerBinary, "prometheus-alertmanager"));
  AlertmanagerProcess am;
  ASSERT_NE(am.port(), 0);
  std::string why;
  ASSERT_TRUE(am.wait_ready(&why)) << why;

  TempDir dir;
  write_file(dir.path() / "advx.toml",
             "[monitor]\nbucket = \"1s\"\nalertmanager_url = \"" + am.url() +
                 "\"\nalertmanager_resend = \"2s\"\n"
                 "[rules.reject_rate]\nwindow = \"3s\"\nfor = \"1s\"\nmin_count = 10\nthreshold = 0.5\n");
  ServeProcess serve({"--config", dir.str("advx.toml"), "--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"},
                     dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());

  // The burst, 80 % malformed, until Alertmanager lists the alert as active (20 s at most).
  std::string error;
  std::map<std::string, ListedAlert> listed;
  const auto fire_deadline = std::chrono::steady_clock::now() + 20s;
  for (int i = 0; std::chrono::steady_clock::now() < fire_deadline; i++) {
    ASSERT_EQ(http_request("POST", base + "/v1/impressions", impressions(5, 20, i)).status, 200);
    std::this_thread::sleep_for(200ms);  // pacing: the traffic spans the monitor's 1 s buckets
    listed = listed_alerts(am.port(), "reject_rate", &error);
    ASSERT_TRUE(error.empty()) << error;
    if (listed.count("") && listed[""].state == "active") break;
  }
  ASSERT_TRUE(listed.count("") && listed[""].state == "active")
      << "not active in Alertmanager: " << slurp(dir.str("serve.log"));
  ASSERT_EQ(listed.size(), 1u);  // no campaign label: one alert per source
  const ListedAlert fired = listed[""];
  EXPECT_EQ(fired.source, "impressions");
  EXPECT_EQ(fired.severity, "warning");
  EXPECT_EQ(fired.value, "0.8");
  EXPECT_EQ(fired.threshold, "0.5");
  EXPECT_NE(fired.summary.find("80.0% of records rejected"), std::string::npos) << fired.summary;
  const std::string suffix = "/v1/alerts";
  EXPECT_TRUE(
      fired.generator_url.size() >= suffix.size() &&
      fired.generator_url.compare(fired.generator_url.size() - suffix.size(), suffix.size(), suffix) == 0)
      << fired.generator_url;

  // The burst is over: only good records. Resolved, the alert's endsAt is in the past, and Alertmanager
  // 0.25 drops it from its list at once.
  const auto resolve_deadline = std::chrono::steady_clock::now() + 15s;
  for (int i = 0; std::chrono::steady_clock::now() < resolve_deadline; i++) {
    ASSERT_EQ(http_request("POST", base + "/v1/impressions", impressions(20, 0, 100 + i)).status, 200);
    std::this_thread::sleep_for(200ms);  // pacing: the traffic spans the monitor's 1 s buckets
    listed = listed_alerts(am.port(), "reject_rate", &error);
    ASSERT_TRUE(error.empty()) << error;
    if (listed.empty()) break;
  }
  EXPECT_TRUE(listed.empty()) << "still listed as " << listed.begin()->second.state << "\n"
                              << slurp(dir.str("serve.log"));

  // Firing and resolved, at least (firing alerts are re-sent every 2 s): the counter moves once the
  // answer is in, so it may trail Alertmanager's list for a moment.
  const std::string sent = R"(advx_alert_deliveries_total{receiver="alertmanager",result="sent"})";
  std::string metrics;
  const auto metrics_deadline = std::chrono::steady_clock::now() + 5s;
  do {
    metrics = http_request("GET", base + "/metrics").body;
    if (metric_value(metrics, sent) >= 2) break;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < metrics_deadline);
  EXPECT_GE(metric_value(metrics, sent), 2) << metrics;
  EXPECT_EQ(metric_value(metrics, R"(advx_alert_deliveries_total{receiver="alertmanager",result="failed"})"),
            0)
      << metrics;
  EXPECT_EQ(serve.kill(SIGTERM), 0);
}

// A source delivering 20 minutes late: the p95 event-time lag of what arrives (processing time, i.e.
// ingested_at, less event time) is over the 10-minute threshold; on-time data resolves it.
TEST(ServeAlerts, ALateSourceFiresDelayAndResolvesWhenItCatchesUp) {
  TempDir dir;
  WebhookReceiver hook;
  write_file(dir.path() / "advx.toml",
             "[monitor]\nbucket = \"1s\"\nwebhook_url = \"" + hook.url() +
                 "\"\n[rules.delay]\nwindow = \"3s\"\nfor = \"1s\"\nmin_count = 10\n");
  ServeProcess serve({"--config", dir.str("advx.toml"), "--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"},
                     dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
  std::string firing;
  for (int i = 0; i < 40 && firing.empty(); i++) {
    ASSERT_EQ(http_request("POST", base + "/v1/impressions", impressions(10, 0, i, -20 * 60)).status, 200);
    std::this_thread::sleep_for(200ms);  // pacing: the traffic spans the monitor's 1 s buckets
    firing = hook.wait_for("[FIRING] delay", 0s);
  }
  ASSERT_FALSE(firing.empty()) << slurp(dir.str("serve.log"));
  // 20 minutes and a few seconds of lag: in the (20, 30] minute bucket, the p95 bounded by the largest lag.
  EXPECT_NE(firing.find("impressions: p95 event-time lag 20.0 minutes"), std::string::npos) << firing;
  EXPECT_NE(firing.find(R"("title":"threshold","value":"10")"), std::string::npos) << firing;
  std::string resolved;
  for (int i = 0; i < 50 && resolved.empty(); i++) {
    ASSERT_EQ(http_request("POST", base + "/v1/impressions", impressions(10, 0, 100 + i)).status, 200);
    std::this_thread::sleep_for(200ms);  // pacing: the traffic spans the monitor's 1 s buckets
    resolved = hook.wait_for("[RESOLVED] delay", 0s);
  }
  EXPECT_FALSE(resolved.empty()) << slurp(dir.str("serve.log"));
  EXPECT_EQ(serve.kill(SIGTERM), 0);
}

TEST(ServeAlerts, AlertsEndpointIsEmptyOnAHealthyServerAndGoneWhenTheMonitorIsOff) {
  TempDir dir;
  write_file(dir.path() / "off.toml", "[monitor]\nenabled = false\n");
  {
    ServeProcess serve({"--db", dir.str("a.duckdb"), "--http", "127.0.0.1:0"}, dir.str("a.log"));
    ASSERT_TRUE(serve.started());
    const HttpAnswer a =
        http_request("GET", "http://127.0.0.1:" + std::to_string(serve.port()) + "/v1/alerts");
    EXPECT_EQ(a.status, 200);
    EXPECT_NE(a.body.find(R"("alerts": [])"), std::string::npos) << a.body;
  }
  ServeProcess serve({"--config", dir.str("off.toml"), "--db", dir.str("b.duckdb"), "--http", "127.0.0.1:0"},
                     dir.str("b.log"));
  ASSERT_TRUE(serve.started());
  EXPECT_EQ(http_request("GET", "http://127.0.0.1:" + std::to_string(serve.port()) + "/v1/alerts").status,
            404);
}

}  // namespace
}  // namespace advx::test
