// The same binary on every store (issues 12, 13): generated data with every defect, ingested through
// `advx ingest` into DuckDB, into a real ClickHouse 18.16 and into two of them as the shards of a cluster,
// gives the same summary and byte-identical reports; a ClickHouse that cannot be reached is a one-line
// error and exit 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../support/clickhouse_server.hpp"
#include "cli_runner.hpp"

namespace advx::test {
namespace {

class StoreParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new TempDir();
    try {
      server = new ClickHouseServer();
      server->start();
      cluster = new ClickHouseCluster();
      cluster->start();
    } catch (const std::exception& e) {
      start_error = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
    delete cluster;
    cluster = nullptr;
    delete dir;
    dir = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_error.empty()) << start_error; }

  inline static TempDir* dir = nullptr;
  inline static ClickHouseServer* server = nullptr;
  inline static ClickHouseCluster* cluster = nullptr;
  inline static std::string start_error;
};

// The counts of a --json summary, without the run's own figures (times, the store's name).
std::string counts_of(const std::string& json) {
  std::string out;
  for (const char* key : {"\"read\":", "\"stored\":", "\"rejected\":", "\"filtered\":", "\"duplicates\":"}) {
    for (size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1))
      out += json.substr(at, json.find_first_of(",}", at) - at) + " ";
  }
  return out;
}

TEST_F(StoreParity, ReportsAreByteIdenticalOnDuckDbAndClickHouse) {
  ASSERT_EQ(run_advx({"gen", "--out", dir->str("data"), "--impressions", "20000", "--seed", "12", "--files",
                      "2", "--quiet"},
                     dir->str())
                .exit_code,
            0);
  const std::vector<std::string> files = generated_files(dir->path() / "data");
  ASSERT_GE(files.size(), 6u);
  const std::string duck = dir->str("parity.duckdb");
  const std::string ch = server->url("advx_parity");
  const std::string sharded = cluster->url("advx_parity");
  // Two runs each, so the second run's attribution revisits pairs the first stored.
  const std::vector<std::string> first(files.begin(), files.begin() + long(files.size() / 2));
  const std::vector<std::string> second(files.begin() + long(files.size() / 2), files.end());
  // DuckDB, ClickHouse, the sharded ClickHouse: each compared with DuckDB.
  const std::vector<std::vector<std::string>> stores = {
      {"--db", duck}, {"--store", ch}, {"--store", sharded}};
  std::string summaries[3];
  for (size_t s = 0; s < stores.size(); s++) {
    const std::vector<std::string>& store = stores[s];
    for (const auto* part : {&first, &second}) {
      std::vector<std::string> args = {"ingest", "--dims", dir->str("data/dims"), "--json"};
      args.insert(args.end(), store.begin(), store.end());
      args.insert(args.end(), part->begin(), part->end());
      const CommandResult r = run_advx(args, dir->str());
      ASSERT_EQ(r.exit_code, 0) << r.err;
      summaries[s] += counts_of(r.out);
    }
  }
  EXPECT_EQ(summaries[1], summaries[0]);
  EXPECT_EQ(summaries[2], summaries[0]);
  EXPECT_NE(summaries[0].find("\"duplicates\":"), std::string::npos);

  const std::vector<std::vector<std::string>> reports = {
      {"campaigns"},
      {"campaigns", "--by", "day"},
      {"campaigns", "--by", "hour", "--from", "2026-11-01T05:30:00Z", "--to", "2026-11-01T17:00:00.5Z"},
      {"campaigns", "--by", "creative,site,country,device"},
      {"campaigns", "--by", "day", "--no-rollup"},
      {"funnel"},
      {"funnel", "--by", "campaign"},
      {"latency"},
      {"latency", "--by", "campaign"},
      {"frequency"},
      {"frequency", "--by", "campaign"}};
  for (const auto& args : reports) {
    for (const char* format : {"csv", "json", "table"}) {
      std::vector<std::string> a = {"report"};
      a.insert(a.end(), args.begin(), args.end());
      a.insert(a.end(), {"--format", format});
      std::vector<std::string> on_duck = a;
      on_duck.insert(on_duck.end(), stores[0].begin(), stores[0].end());
      const CommandResult d = run_advx(on_duck, dir->str());
      ASSERT_EQ(d.exit_code, 0) << d.err;
      EXPECT_GE(std::count(d.out.begin(), d.out.end(), '\n'), 2) << args[0];
      for (size_t s = 1; s < stores.size(); s++) {
        std::vector<std::string> on_ch = a;
        on_ch.insert(on_ch.end(), stores[s].begin(), stores[s].end());
        const CommandResult c = run_advx(on_ch, dir->str());
        ASSERT_EQ(c.exit_code, 0) << c.err;
        EXPECT_EQ(c.out, d.out) << args[0] << " " << (args.size() > 2 ? args[2] : "") << " " << format
                                << " on " << stores[s][1];
      }
    }
  }

  // advx check: the per-minute signals and the alerts they fire, from either store.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"check", "--signals", "--format", "csv"},
        std::vector<std::string>{"check", "--format", "csv"}}) {
    std::vector<std::string> on_duck = args;
    on_duck.insert(on_duck.end(), stores[0].begin(), stores[0].end());
    const CommandResult d = run_advx(on_duck, dir->str());
    if (args[1] == "--signals") {
      EXPECT_GE(std::count(d.out.begin(), d.out.end(), '\n'), 20);
    }
    for (size_t s = 1; s < stores.size(); s++) {
      std::vector<std::string> on_ch = args;
      on_ch.insert(on_ch.end(), stores[s].begin(), stores[s].end());
      const CommandResult c = run_advx(on_ch, dir->str());
      EXPECT_EQ(c.exit_code, d.exit_code) << c.err;
      EXPECT_EQ(c.out, d.out) << args[1] << " on " << stores[s][1];
      EXPECT_EQ(c.err, d.err) << args[1] << " on " << stores[s][1];
    }
  }
}

TEST_F(StoreParity, AClickHouseThatCannotBeReachedIsOneLineAndExit1) {
  const CommandResult r =
      run_advx({"report", "campaigns", "--store", "clickhouse://127.0.0.1:1/advx"}, dir->str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
  const CommandResult bad = run_advx({"report", "campaigns", "--store", "mysql://x"}, dir->str());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("duckdb:PATH"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace advx::test
