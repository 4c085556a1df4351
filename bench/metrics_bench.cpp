// GET /metrics at scale: prometheus_text() for a snapshot with one active alert per campaign (1,000 by
// default), Kafka lag for 30 partitions, 50 HTTP endpoint/status pairs and filled histograms; then the same
// snapshot served by an in-process HttpServer and fetched over a keep-alive connection, as Prometheus does.
// Prints mean and p99 milliseconds per render / per request and the bytes. Target: <= 10 ms at 1,000
// campaigns. `metrics_bench [CAMPAIGNS=1000] [RENDERS=2000]`.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/http_server.hpp"
#include "server/metrics.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double mean_ms = 0;
  double p99_ms = 0;
};

Timing summarize(std::vector<double> ms) {
  Timing t;
  for (double v : ms) t.mean_ms += v;
  t.mean_ms /= double(ms.size());
  std::sort(ms.begin(), ms.end());
  t.p99_ms = ms[std::min(ms.size() - 1, size_t(double(ms.size()) * 0.99))];
  return t;
}

advx::MetricsSnapshot snapshot(int campaigns) {
  advx::MetricsSnapshot m;
  for (int i = 0; i < advx::kStreamCount; i++) {
    m.engine.streams[size_t(i)].read = 123'456'789;
    m.engine.streams[size_t(i)].stored = 120'000'000;
    m.engine.watermark_us[size_t(i)] = 1'795'000'000'000'000;
    for (int k = 0; k < 100'000; k++) m.engine.event_lag[size_t(i)].observe(double(k % 5000));
  }
  for (int k = 0; k < 10'000; k++) {
    m.engine.batch_seconds.observe(0.0003 * (k % 300));
    m.engine.commit_seconds.observe(0.0001 * (k % 300));
  }
  static const char* const kSeverity[] = {"critical", "warning", "info"};
  static const char* const kRules[] = {"ctr_anomaly", "conversion_rate_anomaly", "volume_anomaly"};
  for (int c = 0; c < campaigns; c++)
    m.alerts.push_back({kRules[c % 3], "impressions", "campaign-" + std::to_string(100000 + c),
                        kSeverity[c % 3], c % 4 == 0 ? "pending" : "firing"});
  for (int p = 0; p < 30; p++)
    m.kafka.push_back({p < 10   ? "ad-impressions"
                       : p < 20 ? "clicks-conversions"
                                : "bid-requests",
                       p % 10, 1'000'000 + p, 1'000'500 + p});
  static const char* const kEndpoints[] = {
      "/v1/impressions",      "/v1/events",        "/v1/bid-requests", "/v1/pixel", "/v1/sql",
      "/v1/report/campaigns", "/v1/report/funnel", "/metrics",         "/healthz",  "other"};
  static const int kStatus[] = {200, 400, 401, 413, 503};
  for (const char* e : kEndpoints)
    for (int s : kStatus) m.http.push_back({e, s, uint64_t(s) * 1000});
  m.deliveries.push_back({"slack", 1200, 3, 1, 0});
  m.deliveries.push_back({"alertmanager", 1200, 0, 0, 0});
  m.deliveries.push_back({"log", 1200, 0, 0, 0});
  m.rule_evaluations = 8640;
  m.last_evaluation_seconds = 0.042;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const int campaigns = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int renders = argc > 2 ? std::atoi(argv[2]) : 2000;
  const advx::MetricsSnapshot m = snapshot(campaigns);

  // 1. prometheus_text() alone (a copy of the snapshot first, as the serve hook builds one per scrape).
  std::vector<double> ms;
  size_t bytes = 0;
  for (int i = 0; i < renders; i++) {
    const auto t0 = Clock::now();
    const advx::MetricsSnapshot copy = m;
    const std::string text = advx::prometheus_text(copy);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    bytes = text.size();
  }
  const Timing render = summarize(ms);
  std::printf("metrics_bench: %d campaign alerts, 30 partitions, %zu endpoint/status pairs: %zu bytes\n",
              campaigns, m.http.size(), bytes);
  std::printf("  prometheus_text   mean %.3f ms  p99 %.3f ms  (%d renders)\n", render.mean_ms, render.p99_ms,
              renders);

  // 2. GET /metrics over HTTP from an in-process HttpServer, one keep-alive connection.
  advx::HttpServerOptions options;
  options.port = 0;
  options.threads = 4;
  advx::ServerHooks hooks;
  hooks.metrics = [&m] { return advx::prometheus_text(m); };
  advx::HttpServer server(options, hooks);
  std::string error;
  if (!server.start(&error)) {
    std::fprintf(stderr, "metrics_bench: %s\n", error.c_str());
    return 1;
  }
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  ms.clear();
  size_t body = 0;
  const int requests = std::max(1, renders / 4);
  for (int i = 0; i < requests; i++) {
    const auto t0 = Clock::now();
    const httplib::Result r = client.Get("/metrics");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || r->status != 200) {
      std::fprintf(stderr, "metrics_bench: GET /metrics failed\n");
      return 1;
    }
    body = r->body.size();
  }
  server.stop();
  const Timing http = summarize(ms);
  std::printf(
      "  GET /metrics      mean %.3f ms  p99 %.3f ms  (%d requests, %zu bytes)  target <= 10 ms: %s\n",
      http.mean_ms, http.p99_ms, requests, body, http.p99_ms <= 10 ? "met" : "MISSED");
  return 0;
}
