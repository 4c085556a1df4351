// advx gen -> advx ingest: the generator counts exactly what it injects (its _manifest.json), the ingest
// must report exactly that, per stream and reason. Two implementations that must agree on every record.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "cli_runner.hpp"
#include "manifest_check.hpp"

namespace advx::test {
namespace {

TEST(GeneratedE2E, IngestReportsExactlyWhatGenInjected) {
  TempDir dir;
  CommandResult g = run_advx({"gen",
                              "--out",
                              dir.str("data"),
                              "--impressions",
                              "40000",
                              "--seed",
                              "11",
                              "--files",
                              "3",
                              "--duplicate-rate",
                              "0.03",
                              "--malformed-rate",
                              "0.02",
                              "--bot-rate",
                              "0.03",
                              "--late-rate",
                              "0.02",
                              "--out-of-order-rate",
                              "0.1",
                              "--unknown-creative-rate",
                              "0.01",
                              "--quiet"},
                             dir.str());
  ASSERT_EQ(g.exit_code, 0) << g.err;
  simdjson::dom::parser p1, p2;
  simdjson::dom::element summary, manifest;
  const std::string manifest_text = slurp(dir.str("data/_manifest.json"));
  ASSERT_FALSE(p2.parse(manifest_text).get(manifest));
  // Also with a dedup budget of 1 MB, far below the ~150k keys: most spill to disk, nothing changes.
  CommandResult spilled = run_advx(
      {"ingest", "--db", dir.str("spilled.duckdb"), "--json", "--dedup-memory-mb", "1", dir.str("data")},
      dir.str());
  ASSERT_EQ(spilled.exit_code, 0) << spilled.err;
  ASSERT_FALSE(p1.parse(spilled.out).get(summary)) << spilled.out;
  expect_matches_manifest(summary, manifest);
  EXPECT_GT(count_at(summary, "/dedup_spilled_keys"), 50'000u) << spilled.out;

  CommandResult r = run_advx({"ingest", "--db", dir.str("g.duckdb"), "--json", dir.str("data")}, dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(p1.parse(r.out).get(summary)) << r.out;
  expect_matches_manifest(summary, manifest);
  EXPECT_EQ(count_at(summary, "/dedup_spilled_keys"), 0u);

  // The tables hold what the summary says.
  CommandResult q = run_advx({"sql", "--db", dir.str("g.duckdb"), "--format", "csv",
                              "SELECT (SELECT count(*) FROM impressions), (SELECT count(*) FROM clicks), "
                              "(SELECT count(*) FROM conversions), (SELECT count(*) FROM bid_requests)"},
                             dir.str());
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const std::string expected = std::to_string(count_at(manifest, "/impressions/stored")) + "," +
                               std::to_string(count_at(manifest, "/clicks_conversions/stored_clicks")) + "," +
                               std::to_string(count_at(manifest, "/clicks_conversions/stored_conversions")) +
                               "," + std::to_string(count_at(manifest, "/bid_requests/stored"));
  EXPECT_EQ(q.out.substr(q.out.find('\n') + 1), expected + "\n");
}

// Any split of the inputs into runs stores what one run stores (dedup holds across runs). Files one run
// each in the same order: identical rows. In reverse order: the same events (the same keys); only which
// copy of a conflicting duplicate is kept may differ, since the first to arrive wins (SPEC 2.4).
TEST(GeneratedE2E, SplitAcrossRunsGivesTheSameTables) {
  TempDir dir;
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "8000", "--seed", "5", "--files", "3",
                      "--quiet"},
                     dir.str())
                .exit_code,
            0);
  ASSERT_EQ(run_advx({"ingest", "--db", dir.str("one.duckdb"), "-q", dir.str("data")}, dir.str()).exit_code,
            0);
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "data"))
    if (e.is_regular_file() && e.path().filename().string()[0] != '_' &&
        e.path().parent_path().filename() != "dims")
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 9u);
  for (const char* db : {"fwd.duckdb", "rev.duckdb"}) {
    for (const auto& f : files) {
      CommandResult r =
          run_advx({"ingest", "--db", dir.str(db), "--dims", dir.str("data/dims"), "-q", f}, dir.str());
      ASSERT_EQ(r.exit_code, 0) << f << r.err;
    }
    std::reverse(files.begin(), files.end());
  }
  auto query = [&](const std::string& db, const std::string& sql) {
    CommandResult r = run_advx({"sql", "--db", dir.str(db), "--format", "csv", sql}, dir.str());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  for (const char* table : {"impressions", "clicks", "conversions", "bid_requests", "rejects"}) {
    const std::string t = table;
    const std::string key = t == "bid_requests" ? "auction_id"
                            : t == "rejects"    ? "source, source_record"
                                                : "event_key";
    const std::string rows = t == "rejects" ? key + ", reason, raw" : key + ", event_time, user_id";
    const std::string full = "SELECT count(*), sum(hash(" + rows + ")) FROM " + t;
    const std::string keys = "SELECT count(*), sum(hash(" + key + ")) FROM " + t;
    EXPECT_EQ(query("one.duckdb", full), query("fwd.duckdb", full)) << t;
    EXPECT_EQ(query("one.duckdb", keys), query("rev.duckdb", keys)) << t;
  }
}

}  // namespace
}  // namespace advx::test
