// advx serve's configuration: the documented example loads, every problem is one line naming the key.
#include "cli/serve_config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace advx::cli {
namespace {

std::string write_config(const std::string& text) {
  static int n = 0;
  const std::string path =
      (std::filesystem::temp_directory_path() /
       ("advx_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".toml"))
          .string();
  std::ofstream(path) << text;
  return path;
}

TEST(ServeConfig, TheExampleInTheRepoLoads) {
  ServeConfig c;
  std::string error;
  ASSERT_TRUE(load_serve_config(std::string(ADVX_SOURCE_DIR) + "/advx.example.toml", &c, &error)) << error;
  EXPECT_EQ(c.db, "advx.duckdb");
  EXPECT_EQ(c.http_host, "127.0.0.1");
  EXPECT_EQ(c.http_port, 8080);
  EXPECT_FALSE(c.kafka_enabled);
  EXPECT_EQ(c.kafka_brokers, "127.0.0.1:9092");
  EXPECT_EQ(c.engine.commit_interval_ms, 1000);
  EXPECT_EQ(c.engine.allowed_lateness_us, 300'000'000);
  EXPECT_EQ(c.engine.max_queue_bytes, size_t(64) << 20);
  ASSERT_EQ(c.kafka_properties.size(), 1u);
  EXPECT_EQ(c.kafka_properties[0].first, "fetch.max.bytes");
}

TEST(ServeConfig, ValuesAreRead) {
  ServeConfig c;
  std::string error;
  ASSERT_TRUE(load_serve_config(write_config("[http]\nlisten = \"0.0.0.0:9000\"\ntoken = \"s3cret\"\n"
                                             "[pipeline]\nclick_window_s = 1.5\nblock_ips = [\"10.0.0.1\"]\n"
                                             "[kafka]\nenabled = true\nbrokers = \"k:9092\"\n"),
                                &c, &error))
      << error;
  EXPECT_EQ(c.http_host, "0.0.0.0");
  EXPECT_EQ(c.http_port, 9000);
  EXPECT_EQ(c.token, "s3cret");
  EXPECT_EQ(c.engine.windows.click_us, 1'500'000);
  EXPECT_EQ(c.block_ips, std::vector<std::string>{"10.0.0.1"});
  EXPECT_TRUE(c.kafka_enabled);
}

TEST(ServeConfig, ProblemsAreOneLineNamingTheKey) {
  auto fails = [](const std::string& text) {
    ServeConfig c;
    std::string error;
    EXPECT_FALSE(load_serve_config(write_config(text), &c, &error)) << text;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    return error.substr(error.find(": ") + 2);
  };
  EXPECT_EQ(fails("[http]\nlistn = \"x\"\n"), "unknown key listn in [http]");
  EXPECT_EQ(fails("[htp]\n"), "unknown section [htp] (known: store, http, kafka, pipeline, monitor, rules)");
  EXPECT_EQ(fails("[http]\nthreads = \"many\"\n"), "[http] threads must be an integer");
  EXPECT_EQ(fails("[http]\nthreads = 0\n"), "[http] threads must be between 1 and 4096");
  EXPECT_EQ(fails("[http]\nlisten = \"8080\"\n"),
            "[http] listen must be host:port, e.g. 127.0.0.1:8080 (got \"8080\")");
  EXPECT_EQ(fails("[pipeline]\nclick_window_s = -1\n"),
            "[pipeline] click_window_s must be a number of seconds >= 0");
  EXPECT_EQ(fails("[kafka]\nenabled = true\n"), "[kafka] enabled needs brokers");
  EXPECT_EQ(
      fails("[rules.latency]\nthreshold = 1\n"),
      "[rules.latency] unknown rule kind \"latency\" (known: freshness, delay, volume, ctr, conversion_rate, "
      "orphan_clicks, unknown_creative, unknown_campaign, unknown_auction, won_gap, reject_rate, "
      "duplicate_rate)");
  EXPECT_EQ(fails("[rules.ctr]\nwindow = \"ten minutes\"\n"),
            "[rules.ctr] window must be a duration such as \"90s\", \"10m\" or \"2h\"");
  EXPECT_EQ(fails("[rules.ctr]\nkind = \"volume\"\n"), "[rules.ctr] kind volume differs from the rule's ctr");
  EXPECT_EQ(fails("[rules.ctr]\nseverity = \"page\"\n"),
            "[rules.ctr] severity must be critical, warning or info");
  EXPECT_EQ(fails("[rules.ctr]\ntreshold = 2\n"), "[rules.ctr] unknown key treshold");
  EXPECT_EQ(fails("[monitor]\nbucket = \"7s\"\n"),
            "[monitor] bucket must divide a minute and be at least 1s (e.g. \"1m\", \"10s\")");
  EXPECT_FALSE(fails("[http\n").empty());  // TOML syntax: toml11's first line
  ServeConfig c;
  std::string error;
  EXPECT_FALSE(load_serve_config("/nonexistent/advx.toml", &c, &error));
  EXPECT_EQ(error.rfind("/nonexistent/advx.toml: ", 0), 0u) << error;
}

TEST(ServeConfig, RulesOverrideTheDefaultsOrAddRules) {
  ServeConfig c;
  std::string error;
  ASSERT_TRUE(load_serve_config(std::string(ADVX_SOURCE_DIR) + "/advx.example.toml", &c, &error)) << error;
  EXPECT_EQ(c.monitor_bucket_us, 60'000'000);
  EXPECT_EQ(c.repeat_interval_us, 4 * 3600'000'000LL);
  EXPECT_TRUE(c.notifier.webhook_url.empty());
  ASSERT_EQ(c.rules.size(), size_t(monitor::kRuleKindCount) + 1);  // the defaults and ctr_fast
  const monitor::Rule& fast = c.rules.back();
  EXPECT_EQ(fast.name, "ctr_fast");
  EXPECT_EQ(fast.kind, monitor::RuleKind::ctr);
  EXPECT_EQ(fast.threshold, 10);
  EXPECT_EQ(fast.window_us, 5 * 60'000'000LL);
  EXPECT_EQ(fast.for_us, 0);
  EXPECT_EQ(fast.baseline_us, 3 * 3600'000'000LL);  // from the ctr defaults
  EXPECT_EQ(fast.severity, "critical");

  ServeConfig d;
  ASSERT_TRUE(load_serve_config(write_config("[monitor]\nbucket = \"1s\"\nwebhook_url = \"http://h/x\"\n"
                                             "[rules.reject_rate]\nthreshold = 0.5\nwindow = \"5s\"\n"
                                             "for = 2\nenabled = false\n"),
                                &d, &error))
      << error;
  EXPECT_EQ(d.monitor_bucket_us, 1'000'000);
  EXPECT_EQ(d.notifier.webhook_url, "http://h/x");
  ASSERT_EQ(d.rules.size(), size_t(monitor::kRuleKindCount));
  const monitor::Rule& r = d.rules[size_t(monitor::RuleKind::reject_rate)];
  EXPECT_EQ(r.threshold, 0.5);
  EXPECT_EQ(r.window_us, 5'000'000);
  EXPECT_EQ(r.for_us, 2'000'000);
  EXPECT_FALSE(r.enabled);
}

TEST(ServeConfig, ListenAddresses) {
  std::string host;
  int port = -1;
  EXPECT_TRUE(parse_listen("127.0.0.1:0", &host, &port));
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(parse_listen("[::1]:8080", &host, &port));
  EXPECT_EQ(host, "[::1]");
  EXPECT_FALSE(parse_listen(":8080", &host, &port));
  EXPECT_FALSE(parse_listen("host:65536", &host, &port));
  EXPECT_FALSE(parse_listen("host:80x", &host, &port));
}

}  // namespace
}  // namespace advx::cli
