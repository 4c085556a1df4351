// /metrics text: exact samples for a known snapshot, every line well-formed, a series per stream and reason
// from the start.
#include "server/metrics.hpp"

#include <gtest/gtest.h>

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
  m.kafka.push_back({"ad-impressions", 2, 40, 100});
  m.kafka.push_back({"ad-impressions", 1, -1, 100});  // position not known yet: no sample
  m.http.push_back({"/v1/impressions", 200, 12});
  m.http.push_back({"other", 404, 1});
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
           "advx_kafka_consumer_lag{topic=\"ad-impressions\",partition=\"2\"} 60\n",
           "advx_http_requests_total{endpoint=\"/v1/impressions\",status=\"200\"} 12\n",
           "advx_http_requests_total{endpoint=\"other\",status=\"404\"} 1\n",
           "# TYPE advx_events_read_total counter\n",
           "# TYPE advx_queue_bytes gauge\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(text.find("partition=\"1\""), std::string::npos);
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
  EXPECT_EQ(samples, 1 + 5 * 3 + 3 * 8 + 3 * 3 + 3 + 6 + 2 + 1);
}

}  // namespace
}  // namespace advx
