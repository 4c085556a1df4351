// /metrics text: exact samples for a known snapshot, every line well-formed, a series per stream and reason
// from the start.
#include "server/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <sstream>

namespace advx {
namespace {

TEST(Metrics, SamplesOfASnapshot) {
  MetricsSnapshot m;
  m.engine.streams[0].read = 10;
  m.engine.streams[0].stored = 6;
  m.engine.streams[0].duplicates = 1;
  m.engine.streams[0].by_reason[size_t(Reason::malformed_json)] = 2;
  m.engine.streams[0].by_reason[size_t(Reason::bot_user_agent)] = 1;
  m.engine.late[0] = 3;
  m.engine.watermark_us[0] = 1'793'527'200'500'000;
  m.engine.queue_bytes = 4096;
  m.engine.commits = 7;
  m.engine.dedup_keys = 50;
  m.engine.dedup_spilled_keys = 30;
  m.engine.dedup_memory_bytes = 1234;
  m.kafka.push_back({"ad-impressions", 2, 40, 100});
  m.kafka.push_back({"ad-impressions", 1, -1, 100, true});  // position not known yet: no lag sample
  m.http.push_back({"/v1/impressions", 200, 12});
  m.http.push_back({"other", 404, 1});
  m.queries = {1, 2, 30, 4, 5, 6};
  const std::string text = prometheus_text(m);
  for (const char* line : {
           "advx_up 1\n",
           "advx_events_read_total{stream=\"impressions\"} 10\n",
           "advx_events_stored_total{stream=\"impressions\"} 6\n",
           "advx_events_stored_total{stream=\"bid_requests\"} 0\n",
           "advx_events_duplicates_total{stream=\"impressions\"} 1\n",
           "advx_events_late_total{stream=\"impressions\"} 3\n",
           "advx_events_rejected_total{stream=\"impressions\",reason=\"malformed_json\"} 2\n",
           "advx_events_rejected_total{stream=\"clicks_conversions\",reason=\"malformed_csv\"} 0\n",
           "advx_events_filtered_total{stream=\"impressions\",reason=\"bot_user_agent\"} 1\n",
           "advx_watermark_seconds{stream=\"impressions\"} 1793527200.5\n",
           "advx_queue_bytes 4096\n",
           "advx_commits_total 7\n",
           "advx_dedup_keys{tier=\"memory\"} 20\n",
           "advx_dedup_keys{tier=\"disk\"} 30\n",
           "advx_dedup_memory_bytes 1234\n",
           "advx_kafka_consumer_lag{topic=\"ad-impressions\",partition=\"2\"} 60\n",
           "advx_kafka_partition_paused{topic=\"ad-impressions\",partition=\"2\"} 0\n",
           "advx_kafka_partition_paused{topic=\"ad-impressions\",partition=\"1\"} 1\n",
           "advx_http_requests_total{endpoint=\"/v1/impressions\",status=\"200\"} 12\n",
           "advx_http_requests_total{endpoint=\"other\",status=\"404\"} 1\n",
           "advx_queries_running 1\n",
           "advx_queries_waiting 2\n",
           "advx_queries_total{outcome=\"ok\"} 30\n",
           "advx_queries_total{outcome=\"failed\"} 4\n",
           "advx_queries_total{outcome=\"timeout\"} 5\n",
           "advx_queries_total{outcome=\"refused\"} 6\n",
           "# TYPE advx_events_read_total counter\n",
           "# TYPE advx_queue_bytes gauge\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // Partition 1's position is not known: no lag sample (its paused gauge only).
  EXPECT_EQ(text.find("advx_kafka_consumer_lag{topic=\"ad-impressions\",partition=\"1\"}"),
            std::string::npos);
  EXPECT_EQ(text.find("reason=\"bot_user_agent\"} 0\nadvx_events_rejected"), std::string::npos);
  // Rejected series hold no filter reason and the other way round.
  EXPECT_EQ(text.find("advx_events_rejected_total{stream=\"impressions\",reason=\"bot_user_agent\"}"),
            std::string::npos);
  // Every line is a comment or `name{labels} value`; every metric has HELP and TYPE.
  const std::regex sample_line(R"(^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$)");
  std::istringstream lines(text);
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample_line)) << line;
    ++samples;
  }
  // + the histograms: batch and commit (13 bounds + Inf, _sum, _count), lag per stream (15 + 1 + 2), and
  // the monitor's two unlabelled series, the dedup keys by tier and the dedup memory.
  // + the query pool: running, waiting and answered by four outcomes; + paused per Kafka partition, and
  // the position of the one whose position is known; + fenced batches; + forwarded per stream.
  EXPECT_EQ(samples,
            1 + 5 * 3 + 3 * 8 + 3 * 3 + 3 + 6 + 2 + 1 + 2 * 16 + 3 * 18 + 2 + 2 + 1 + 2 + 4 + 2 + 1 + 1 + 3);
}

// The exact exposition of a histogram with known observations: cumulative buckets, +Inf, _sum, _count.
TEST(Metrics, HistogramGoldenLines) {
  MetricsSnapshot m;
  for (double v : {0.00390625, 0.00390625, 0.25, 12.0}) m.engine.batch_seconds.observe(v);
  for (double v : {3.0, 7200.0, 100000.0, 0.0}) m.engine.event_lag[size_t(Stream::events)].observe(v);
  const std::string text = prometheus_text(m);
  const char* batch =
      "# HELP advx_batch_seconds Duration of committed micro-batches, first submission taken to commit "
      "done.\n"
      "# TYPE advx_batch_seconds histogram\n"
      "advx_batch_seconds_bucket{le=\"0.001\"} 0\n"
      "advx_batch_seconds_bucket{le=\"0.0025\"} 0\n"
      "advx_batch_seconds_bucket{le=\"0.005\"} 2\n"
      "advx_batch_seconds_bucket{le=\"0.01\"} 2\n"
      "advx_batch_seconds_bucket{le=\"0.025\"} 2\n"
      "advx_batch_seconds_bucket{le=\"0.05\"} 2\n"
      "advx_batch_seconds_bucket{le=\"0.1\"} 2\n"
      "advx_batch_seconds_bucket{le=\"0.25\"} 3\n"  // le: a value equal to the bound is in its bucket
      "advx_batch_seconds_bucket{le=\"0.5\"} 3\n"
      "advx_batch_seconds_bucket{le=\"1\"} 3\n"
      "advx_batch_seconds_bucket{le=\"2.5\"} 3\n"
      "advx_batch_seconds_bucket{le=\"5\"} 3\n"
      "advx_batch_seconds_bucket{le=\"10\"} 3\n"
      "advx_batch_seconds_bucket{le=\"+Inf\"} 4\n"
      "advx_batch_seconds_sum 12.2578125\n"
      "advx_batch_seconds_count 4\n"
      "# HELP advx_commit_seconds ";
  EXPECT_NE(text.find(batch), std::string::npos) << text;
  const char* lag =
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"1\"} 1\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"5\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"15\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"30\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"60\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"120\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"300\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"600\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"900\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"1200\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"1800\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"3600\"} 2\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"7200\"} 3\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"21600\"} 3\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"86400\"} 3\n"
      "advx_event_lag_seconds_bucket{stream=\"clicks_conversions\",le=\"+Inf\"} 4\n"
      "advx_event_lag_seconds_sum{stream=\"clicks_conversions\"} 107203\n"
      "advx_event_lag_seconds_count{stream=\"clicks_conversions\"} 4\n";
  EXPECT_NE(text.find(lag), std::string::npos) << text;
  // Empty histograms exist from the start, with zeros.
  EXPECT_NE(text.find("advx_commit_seconds_bucket{le=\"+Inf\"} 0\nadvx_commit_seconds_sum 0\n"
                      "advx_commit_seconds_count 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE advx_event_lag_seconds histogram\n"
                      "advx_event_lag_seconds_bucket{stream=\"impressions\",le=\"1\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("advx_event_lag_seconds_count{stream=\"bid_requests\"} 0\n"), std::string::npos);
}

TEST(Metrics, HistogramValue) {
  LatencyHistogram a, b;
  a.observe(0.001);  // on the bound: its bucket
  a.observe(0.0011);
  b.observe(11);  // above every bound: +Inf
  b.observe(-1);  // below every bound: the first
  a.merge(b);
  EXPECT_EQ(a.count, 4u);
  EXPECT_DOUBLE_EQ(a.sum, 0.001 + 0.0011 + 11 - 1);
  EXPECT_EQ(a.counts[0], 2u);
  EXPECT_EQ(a.counts[1], 1u);
  EXPECT_EQ(a.counts[LatencyHistogram::kBuckets - 1], 1u);
  // The lag histogram puts values where lag_bucket() does (shared with the monitor's delay rule).
  for (double v : {0.0, 0.5, 1.0, 1.000001, 299.0, 300.0, 7200.0, 86400.0, 86401.0, 1e9})
    EXPECT_EQ(LagHistogram::bucket(v), lag_bucket(v)) << v;
}

TEST(Metrics, LeValuesAsPrometheusWritesThem) {
  EXPECT_EQ(prometheus_float(0.005), "0.005");
  EXPECT_EQ(prometheus_float(0.0025), "0.0025");
  EXPECT_EQ(prometheus_float(1), "1");
  EXPECT_EQ(prometheus_float(2.5), "2.5");
  EXPECT_EQ(prometheus_float(86400), "86400");
  EXPECT_EQ(prometheus_float(100000), "100000");
  EXPECT_EQ(prometheus_float(1e6), "1e+06");
  EXPECT_EQ(prometheus_float(1234567), "1.234567e+06");
  EXPECT_EQ(prometheus_float(0.0001), "0.0001");
  EXPECT_EQ(prometheus_float(0.00001), "1e-05");
  EXPECT_EQ(prometheus_float(-0.5), "-0.5");
  EXPECT_EQ(prometheus_float(INFINITY), "+Inf");
  EXPECT_EQ(prometheus_float(-INFINITY), "-Inf");
}

// The monitor's series: one advx_alerts sample per active alert (empty labels left out), deliveries by
// receiver and result, evaluations; HELP and TYPE even when there is nothing.
TEST(Metrics, AlertSeries) {
  MetricsSnapshot empty;
  const std::string none = prometheus_text(empty);
  for (const char* line : {"# TYPE advx_alerts gauge\n", "# TYPE advx_alert_deliveries_total counter\n",
                           "# TYPE advx_rule_evaluations_total counter\n", "advx_rule_evaluations_total 0\n",
                           "# TYPE advx_rule_evaluation_seconds gauge\n", "advx_rule_evaluation_seconds 0\n"})
    EXPECT_NE(none.find(line), std::string::npos) << line;
  EXPECT_EQ(none.find("advx_alerts{"), std::string::npos);

  MetricsSnapshot m;
  m.alerts.push_back({"ctr_anomaly", "impressions", "c\"7", "warning", "firing"});
  m.alerts.push_back({"freshness", "bid_requests", "", "critical", "pending"});
  m.deliveries.push_back({"slack", 5, 2, 1, 0});
  m.rule_evaluations = 42;
  m.last_evaluation_seconds = 0.125;
  const std::string text = prometheus_text(m);
  for (const char* line : {
           "advx_alerts{alertname=\"ctr_anomaly\",source=\"impressions\",campaign=\"c\\\"7\",severity="
           "\"warning\","
           "alertstate=\"firing\"} 1\n",
           "advx_alerts{alertname=\"freshness\",source=\"bid_requests\",severity=\"critical\","
           "alertstate=\"pending\"} 1\n",
           "advx_alert_deliveries_total{receiver=\"slack\",result=\"sent\"} 5\n",
           "advx_alert_deliveries_total{receiver=\"slack\",result=\"retried\"} 2\n",
           "advx_alert_deliveries_total{receiver=\"slack\",result=\"failed\"} 1\n",
           "advx_alert_deliveries_total{receiver=\"slack\",result=\"dropped\"} 0\n",
           "advx_rule_evaluations_total 42\n",
           "advx_rule_evaluation_seconds 0.125\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

}  // namespace
}  // namespace advx
