// GET /metrics scraped by a real Prometheus (the Debian package, /usr/bin/prometheus): the exposition parses
// (up = 1), the counters arrive with the values the collector answered, and the histograms are histograms
// (their _count series and histogram_quantile() over their buckets work).
#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../support/external_servers.hpp"
#include "core/time_util.hpp"
#include "serve_runner.hpp"

namespace advx::test {
namespace {

std::string url_encode(const std::string& s) {
  std::string out;
  const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The value of the first sample of an instant query, as Prometheus' JSON gives it
// ({"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[<t>,"25"]}]}}),
// or "" when there is none yet.
std::string query_value(const std::string& base, const std::string& promql) {
  const HttpAnswer a = http_request("GET", base + "/api/v1/query?query=" + url_encode(promql));
  if (a.status != 200) return "";
  const size_t at = a.body.find("\"value\":[");
  if (at == std::string::npos) return "";
  const size_t open = a.body.find('"', a.body.find(',', at));
  if (open == std::string::npos) return "";
  const size_t end = a.body.find('"', open + 1);
  return end == std::string::npos ? "" : a.body.substr(open + 1, end - open - 1);
}

// Polls until the query answers `want` (or `timeout` passes); returns the last answer.
std::string wait_for(const std::string& base, const std::string& promql, const std::string& want,
                     std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string got;
  while (std::chrono::steady_clock::now() < deadline) {
    got = query_value(base, promql);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return got;
}

std::string iso_seconds_ago(int64_t ago) { return format_timestamp(wall_clock_us() - ago * 1'000'000); }

TEST(PrometheusE2E, ScrapesCountersAndHistograms) {
  ASSERT_TRUE(installed(kPrometheusBinary, "prometheus"));
  TempDir dir;
  ServeProcess serve({"--db", dir.str("serve.duckdb"), "--http", "127.0.0.1:0"}, dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.first_line();
  const std::string advx = "http://127.0.0.1:" + std::to_string(serve.port());

  // 25 valid impressions, five seconds old, and 2 lines that are not JSON.
  std::string body;
  for (int i = 0; i < 25; i++) {
    body += R"({"impression_id":"p)" + std::to_string(i) + R"(","ad_creative_id":"cr1","user_id":"u)" +
            std::to_string(i % 7) + R"(","timestamp":")" + iso_seconds_ago(5) + R"(","website":"a.com"})" +
            "\n";
    if (i == 10 || i == 20) body += "{not json\n";
  }
  const HttpAnswer posted = http_request("POST", advx + "/v1/impressions", body);
  ASSERT_EQ(posted.status, 200) << posted.body;
  ASSERT_EQ(json_number(posted.body, "stored"), 25) << posted.body;
  ASSERT_EQ(json_number(posted.body, "rejected"), 2) << posted.body;

  const int port = free_port();
  ASSERT_GT(port, 0);
  write_file(dir.path() / "prometheus.yml",
             "global:\n"
             "  scrape_interval: 1s\n"
             "  scrape_timeout: 1s\n"
             "  evaluation_interval: 1s\n"
             "scrape_configs:\n"
             "  - job_name: advx\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:" +
                 std::to_string(serve.port()) + "']\n");
  const std::string prom_log = dir.str("prometheus.log");
  ChildProcess prometheus(
      kPrometheusBinary,
      {"--config.file=" + dir.str("prometheus.yml"), "--storage.tsdb.path=" + dir.str("tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      prom_log);
  const std::string prom = "http://127.0.0.1:" + std::to_string(port);

  // up = 1 once a scrape parsed: the whole exposition is valid for Prometheus' own parser.
  EXPECT_EQ(wait_for(prom, "up{job=\"advx\"}", "1"), "1") << slurp(prom_log);
  EXPECT_EQ(wait_for(prom, "advx_events_stored_total{stream=\"impressions\"}", "25"), "25")
      << slurp(prom_log);
  EXPECT_EQ(
      wait_for(prom, "advx_events_rejected_total{stream=\"impressions\",reason=\"malformed_json\"}", "2"),
      "2");
  EXPECT_EQ(wait_for(prom, "advx_event_lag_seconds_count{stream=\"impressions\"}", "25"), "25");
  EXPECT_EQ(wait_for(prom, "advx_event_lag_seconds_bucket{stream=\"impressions\",le=\"+Inf\"}", "25"), "25");
  // Five-second-old events: every one within le="15" (the test may take a few seconds to post them).
  EXPECT_EQ(wait_for(prom, "advx_event_lag_seconds_bucket{stream=\"impressions\",le=\"15\"}", "25"), "25");
  EXPECT_EQ(wait_for(prom, "advx_event_lag_seconds_count{stream=\"bid_requests\"}", "0"), "0");
  // The buckets make a histogram Prometheus can take a quantile of.
  const std::string median =
      query_value(prom, "histogram_quantile(0.5, advx_event_lag_seconds_bucket{stream=\"impressions\"})");
  ASSERT_FALSE(median.empty());
  EXPECT_GT(std::atof(median.c_str()), 1.0) << median;
  EXPECT_LE(std::atof(median.c_str()), 15.0) << median;
  EXPECT_GE(std::atoi(query_value(prom, "advx_batch_seconds_count").c_str()), 1);
  EXPECT_EQ(query_value(prom, "advx_batch_seconds_count - advx_commit_seconds_count"), "0");
  // The monitor evaluates once at start and then once a minute: the series is there and counts.
  EXPECT_GE(std::atoi(query_value(prom, "advx_rule_evaluations_total").c_str()), 1);

  EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
}

}  // namespace
}  // namespace advx::test
