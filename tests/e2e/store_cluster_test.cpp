// The sharded ClickHouse (issue 13; docs/STORES.md, "Sharded ClickHouse") through the advx binary: an
// `advx ingest` killed (SIGKILL, the kill matrix's crash point clickhouse.insert) between two inserts of
// a micro-batch, on either shard and in either phase (rows, then dedup keys), then run again, stores
// every record once and reports exactly what DuckDB does for the same files.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "store_target.hpp"

namespace advx::test {
namespace {

TEST(StoreCluster, KilledBetweenShardInsertsThenRunAgainStoresEachRecordOnce) {
  TempDir dir;
  const StoreTarget cluster(StoreKind::clickhouse_cluster, dir);
  ASSERT_EQ(cluster.error(), "");
  const StoreTarget duck(StoreKind::duckdb, dir);
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "4000", "--seed", "5", "--quiet"},
                     dir.str())
                .exit_code,
            0);
  const std::vector<std::string> ingest = {"ingest", dir.str("data"), "--quiet"};
  ASSERT_EQ(duck.run("ref", ingest).exit_code, 0);
  const std::vector<std::vector<std::string>> reports = {
      {"campaigns", "--by", "day"}, {"campaigns", "--by", "site"}, {"funnel"}, {"frequency"}};
  // Kills at the 3rd, 9th, 16th and 24th insert (these files make fewer than 27): in the first shard's rows,
  // in the second's, among the dedup keys, in a later micro-batch.
  for (const int at : {3, 9, 16, 24}) {
    SCOPED_TRACE(at);
    const std::string name = "kill" + std::to_string(at);
    std::vector<std::string> args = {"ingest"};
    for (const std::string& a : cluster.args(name)) args.push_back(a);
    args.insert(args.end(), ingest.begin() + 1, ingest.end());
    const CommandResult killed =
        run_advx_env({"ADVX_CRASH_AT=clickhouse.insert:" + std::to_string(at)}, args, dir.str());
    ASSERT_NE(killed.err.find("crash point clickhouse.insert reached"), std::string::npos) << killed.err;
    const CommandResult again = cluster.run(name, ingest);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    for (const char* table : {"impressions", "clicks", "conversions", "bid_requests", "rejects"}) {
      const std::string ref = duck.sql("ref", std::string("SELECT count(*) FROM ") + table);
      EXPECT_EQ(
          cluster.sql(name, "SELECT count(*), uniqExact(source, source_record) FROM " + cluster.table(table)),
          ref.substr(0, ref.size() - 1) + "," + ref)
          << table;
    }
    for (const auto& r : reports) EXPECT_EQ(cluster.report(name, r), duck.report("ref", r)) << r[0];
    cluster.drop(name);
  }
}

}  // namespace
}  // namespace advx::test
