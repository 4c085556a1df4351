// advx serve on ClickHouse (issue 12): the collector's bodies stored in a real clickhouse-server 18.16
// give the reports advx ingest gives on DuckDB; while the server is down the collector answers 503 with
// Retry-After and /readyz is 503; once it is back everything resumes on its own, and nothing retried is
// lost or stored twice.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "../support/clickhouse_server.hpp"
#include "../support/eventually.hpp"
#include "serve_runner.hpp"

namespace advx::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

TEST(ServeClickHouse, StoreDownAnswers503AndResumesWithNothingLost) {
  TempDir dir;
  ClickHouseServer server;
  ASSERT_NO_THROW(server.start());
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "8000", "--seed", "21", "--quiet"},
                     dir.str())
                .exit_code,
            0);
  const CommandResult batch = run_advx(
      {"ingest", "--db", dir.str("batch.duckdb"), "--dims", dir.str("data/dims"), "-q", dir.str("data")},
      dir.str());
  ASSERT_EQ(batch.exit_code, 0) << batch.err;

  const std::string url = server.url("advx_serve");
  ServeProcess serve({"--store", url, "--dims", dir.str("data/dims"), "--http", "127.0.0.1:0"},
                     dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
  EXPECT_EQ(http_request("GET", base + "/readyz").status, 200);

  // Every body, in the order advx ingest reads the files.
  std::vector<std::pair<std::string, std::string>> bodies;  // endpoint, body
  for (const auto& f : generated_files(dir.path() / "data")) {
    const std::string ext = fs::path(f).extension().string();
    const std::string endpoint = ext == ".jsonl" ? "/v1/impressions"
                                 : ext == ".csv" ? "/v1/events"
                                                 : "/v1/bid-requests";
    const std::string content = slurp(f);
    for (const std::string& b :
         ext == ".avro" ? std::vector<std::string>{content} : pieces(content, ext == ".csv", 500))
      bodies.emplace_back(endpoint, b);
  }
  ASSERT_GT(bodies.size(), 10u);
  const size_t half = bodies.size() / 2;
  for (size_t i = 0; i < half; i++) {
    const HttpAnswer a = http_request("POST", base + bodies[i].first, bodies[i].second);
    ASSERT_EQ(a.status, 200) << a.body;
  }

  // The store goes away: the next body is answered 503 with Retry-After, and the server is not ready.
  server.stop();
  const HttpAnswer down = http_request("POST", base + bodies[half].first, bodies[half].second);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_FALSE(down.header("Retry-After").empty()) << down.headers;
  EXPECT_TRUE(eventually([&] { return http_request("GET", base + "/readyz").status == 503; }, seconds(30)));

  // It comes back: the client's retries of the same body succeed, and the rest goes in.
  server.start();
  EXPECT_TRUE(eventually(
      [&] { return http_request("POST", base + bodies[half].first, bodies[half].second).status == 200; },
      seconds(60)));
  for (size_t i = half + 1; i < bodies.size(); i++) {
    const HttpAnswer a = http_request("POST", base + bodies[i].first, bodies[i].second);
    ASSERT_EQ(a.status, 200) << a.body;
  }
  EXPECT_TRUE(eventually([&] { return http_request("GET", base + "/readyz").status == 200; }, seconds(30)));
  EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));

  // Everything stored once: the reports equal the batch run's on DuckDB.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"campaigns", "--by", "day"}, {"funnel"}, {"latency"}}) {
    std::vector<std::string> on_ch = {"report"}, on_duck = {"report"};
    on_ch.insert(on_ch.end(), args.begin(), args.end());
    on_duck.insert(on_duck.end(), args.begin(), args.end());
    on_ch.insert(on_ch.end(), {"--store", url, "--format", "csv"});
    on_duck.insert(on_duck.end(), {"--db", dir.str("batch.duckdb"), "--format", "csv"});
    const CommandResult c = run_advx(on_ch, dir.str());
    const CommandResult d = run_advx(on_duck, dir.str());
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(c.out, d.out) << args[0];
  }
}

}  // namespace
}  // namespace advx::test
