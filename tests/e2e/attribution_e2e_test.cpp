// SPEC 2.6 attribution through the binary: hand-computed cases at every boundary, across runs, and the
// property that the result depends only on the set of events, not on their order or split into runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>

#include "batch_runner.hpp"
#include "cli_runner.hpp"
#include "formats/avro/ocf_writer.hpp"
#include "gen/bid_request_encoder.hpp"

namespace advx::test {
namespace {

namespace fs = std::filesystem;

constexpr char kCampaigns[] = "campaign_id,advertiser_id\nc1,adv1\nc2,adv2\n";
constexpr char kCreatives[] = "creative_id,campaign_id\ncr1,c1\ncr2,c1\ncr3,c2\n";

std::string imp(const std::string& id, const std::string& user, const std::string& creative,
                const std::string& ts, const std::string& auction = "") {
  return R"({"impression_id":")" + id + R"(","user_id":")" + user + R"(","ad_creative_id":")" + creative +
         R"(","timestamp":")" + ts + R"(","website":"example.com")" +
         (auction.empty() ? "" : R"(,"auction_id":")" + auction + "\"") + "}\n";
}

// An Avro file of bid requests with these auction ids, at 2026-11-01T09:00:00Z.
void write_bid_requests(const fs::path& path, std::initializer_list<std::string_view> auctions) {
  const std::string schema = slurp(std::string(ADVX_SOURCE_DIR) + "/schemas/bid_request.avsc");
  gen::BidRequestEncoder enc(schema);
  fs::create_directories(path.parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  {
    avro::OcfWriter w(f, schema, avro::Codec::null);
    for (std::string_view id : auctions) {
      gen::BidRequestValues v;
      v.id = id;
      v.timestamp_ms = 1793523600000;
      std::string datum;
      enc.encode(v, datum);
      w.append(datum);
    }
  }
  std::fclose(f);
}

class Attribution : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir.path() / "dims/campaigns.csv", kCampaigns);
    write_file(dir.path() / "dims/creatives.csv", kCreatives);
  }
  void ingest(const std::string& file) {
    CommandResult r =
        run_advx({"ingest", "--db", dir.str("a.duckdb"), "--dims", dir.str("dims"), "-q", file}, dir.str());
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  }
  std::string sql(const std::string& q) {
    CommandResult r = run_advx({"sql", "--db", dir.str("a.duckdb"), "--format", "csv", q}, dir.str());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(r.out.find('\n') + 1);  // rows only
  }
  TempDir dir;
};

TEST_F(Attribution, ClicksAtEveryBoundary) {
  write_file(dir.path() / "imps.jsonl",
             imp("i-edge", "u1", "cr1", "2026-11-01T10:00:00Z") +       // exactly 1 h before k-edge
                 imp("i-past", "u2", "cr1", "2026-11-01T10:00:00Z") +   // 1 h + 1 µs before k-past
                 imp("i-tie-b", "u3", "cr1", "2026-11-01T10:00:00Z") +  // a tie: the smaller key wins
                 imp("i-tie-a", "u3", "cr1", "2026-11-01T10:00:00Z") +
                 imp("i-older", "u4", "cr1", "2026-11-01T10:00:00Z") +  // the latest one wins
                 imp("i-newer", "u4", "cr2", "2026-11-01T10:10:00Z") +
                 imp("i-after", "u5", "cr1", "2026-11-01T10:30:00.000001Z") +  // after the click: never
                 imp("i-cr1", "u6", "cr1", "2026-11-01T10:20:00Z") +           // the click names cr2
                 imp("i-other-campaign", "u7", "cr3", "2026-11-01T10:20:00Z"));
  write_file(dir.path() / "clicks.csv",
             "event_id,event_timestamp,user_id,ad_campaign_id,ad_creative_id,event_type\n"
             "k-edge,2026-11-01T11:00:00Z,u1,c1,,click\n"
             "k-past,2026-11-01T11:00:00.000001Z,u2,c1,,click\n"
             "k-tie,2026-11-01T10:30:00Z,u3,c1,,click\n"
             "k-latest,2026-11-01T10:30:00Z,u4,c1,,click\n"
             "k-creative,2026-11-01T10:30:00Z,u4,c1,cr1,click\n"
             "k-after,2026-11-01T10:30:00Z,u5,c1,,click\n"
             "k-wrong-creative,2026-11-01T10:30:00Z,u6,c1,cr2,click\n"
             "k-wrong-campaign,2026-11-01T10:30:00Z,u7,c1,,click\n"
             "k-unknown-campaign,2026-11-01T10:30:00Z,u1,c9,,click\n");
  ingest(dir.str("imps.jsonl"));
  ingest(dir.str("clicks.csv"));
  EXPECT_EQ(
      sql("SELECT event_key, attribution, attributed_impression_key, seconds_from_impression FROM clicks "
          "ORDER BY event_key"),
      "k-after,orphan,,\n"
      "k-creative,attributed,i-older,1800.0\n"
      "k-edge,attributed,i-edge,3600.0\n"
      "k-latest,attributed,i-newer,1200.0\n"
      "k-past,orphan,,\n"
      "k-tie,attributed,i-tie-a,1800.0\n"
      "k-unknown-campaign,orphan,,\n"
      "k-wrong-campaign,orphan,,\n"
      "k-wrong-creative,orphan,,\n");
}

TEST_F(Attribution, LateImpressionsReattributeInALaterRun) {
  write_file(dir.path() / "clicks.csv",
             "event_id,event_timestamp,user_id,ad_campaign_id,event_type,conversion_type\n"
             "k1,2026-11-01T10:30:00Z,u1,c1,click,\n"
             "v1,2026-11-02T10:00:00Z,u1,c1,conversion,purchase\n"
             "v2,2026-11-01T12:00:00Z,u2,c1,conversion,signup\n"
             "v3,2026-11-03T10:00:00.000001Z,u3,c1,conversion,lead\n");
  ingest(dir.str("clicks.csv"));
  const std::string clicks_q =
      "SELECT event_key, attribution, attributed_impression_key FROM clicks ORDER BY 1";
  const std::string conv_q =
      "SELECT event_key, attribution, attributed_click_key, attributed_impression_key, seconds_from_touch "
      "FROM conversions ORDER BY 1";
  EXPECT_EQ(sql(clicks_q), "k1,orphan,\n");
  EXPECT_EQ(sql(conv_q),
            "v1,click_through,k1,,84600.0\n"  // a click counts whether or not it is attributed
            "v2,unattributed,,,\n"
            "v3,unattributed,,,\n");
  // The impressions arrive a run later: the click and the conversions are attributed again.
  write_file(dir.path() / "imps.jsonl",
             imp("i1", "u1", "cr1", "2026-11-01T10:00:00Z") + imp("i2", "u2", "cr1", "2026-11-01T11:00:00Z") +
                 imp("i3", "u3", "cr2", "2026-11-02T10:00:00Z", "a3"));  // 1 day + 1 µs before v3
  ingest(dir.str("imps.jsonl"));
  EXPECT_EQ(sql(clicks_q), "k1,attributed,i1\n");
  EXPECT_EQ(sql(conv_q),
            "v1,click_through,k1,i1,84600.0\n"  // both a click and an impression: the click wins
            "v2,view_through,,i2,3600.0\n"
            "v3,unattributed,,,\n");
  // A bid request stored after the impression naming it is marked won; one that no impression names is not.
  write_bid_requests(dir.path() / "bids.avro", {"a3", "a9"});
  ingest(dir.str("bids.avro"));
  EXPECT_EQ(sql("SELECT auction_id, won FROM bid_requests ORDER BY 1"), "a3,true\na9,false\n");
  // And an impression stored after its bid request marks it too.
  write_file(dir.path() / "imps2.jsonl", imp("i9", "u9", "cr1", "2026-11-01T09:00:01Z", "a9"));
  ingest(dir.str("imps2.jsonl"));
  EXPECT_EQ(sql("SELECT auction_id, won FROM bid_requests ORDER BY 1"), "a3,true\na9,true\n");
}

// An auction's win belongs to the smallest impression key naming it: an impression of another campaign
// arriving later with a smaller key moves the won bid request, and the rollup of both campaigns follows.
TEST_F(Attribution, LaterImpressionMovesTheWinBetweenCampaigns) {
  write_bid_requests(dir.path() / "bids.avro", {"a1"});                                         // 09:00
  write_file(dir.path() / "imps.jsonl", imp("i9", "u1", "cr3", "2026-11-01T09:00:01Z", "a1"));  // c2
  ingest(dir.str("bids.avro"));
  ingest(dir.str("imps.jsonl"));
  // "campaign_id=bid_requests_won " for each row of the campaign report.
  auto won = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"report", "campaigns", "--db", dir.str("a.duckdb"), "--format", "csv"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = run_advx(args, dir.str());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string out;
    std::istringstream lines(r.out);
    std::string line;
    std::getline(lines, line);  // header: campaign_id,advertiser_id,bid_requests_won,...
    while (std::getline(lines, line)) {
      std::vector<std::string> cells;
      std::istringstream fields(line);
      for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
      out += cells.at(0) + "=" + cells.at(2) + " ";
    }
    return out;
  };
  EXPECT_EQ(won({}), "c1=0 c2=1 ");
  EXPECT_EQ(won({"--no-rollup"}), "c1=0 c2=1 ");
  write_file(dir.path() / "imps2.jsonl", imp("i1", "u2", "cr1", "2026-11-01T09:00:02Z", "a1"));  // c1
  ingest(dir.str("imps2.jsonl"));
  EXPECT_EQ(sql("SELECT hour, campaign_id, bid_requests_won, impressions FROM campaign_hourly ORDER BY 2"),
            "2026-11-01 09:00:00,c1,1,1\n2026-11-01 09:00:00,c2,0,1\n");
  EXPECT_EQ(won({}), "c1=1 c2=0 ");
  EXPECT_EQ(won({"--no-rollup"}), "c1=1 c2=0 ");
}

// The result depends only on the set of accepted events (SPEC 2.6): one run, every file on its own in
// reverse order, clicks/conversions before impressions, and random chunks over random runs give the same
// attribution columns, the same rollup and the same reports.
TEST(AttributionProperty, OrderAndSplitDoNotMatter) {
  TempDir dir;
  // No duplicates: with conflicting copies the first to arrive is kept, which would change the set.
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "20000", "--seed", "3", "--files",
                      "3", "--duplicate-rate", "0", "--quiet"},
                     dir.str())
                .exit_code,
            0);
  const std::vector<std::string> files = generated_files(dir.path() / "data");
  ASSERT_EQ(files.size(), 9u);
  // One binary-level run (the whole folder, as a user types it); the other orders and splits run the same
  // library call in this process, one run per call, each with its own dedup load and attribution pass.
  auto ingest_each = [&](const std::string& db, const std::vector<std::string>& order) {
    for (const auto& f : order) test::ingest_in_process(dir.str(db), dir.str("data/dims"), {f});
  };
  ASSERT_EQ(run_advx({"ingest", "--db", dir.str("one.duckdb"), "-q", dir.str("data")}, dir.str()).exit_code,
            0);
  ingest_each("reverse.duckdb", std::vector<std::string>(files.rbegin(), files.rend()));
  std::vector<std::string> events_first;  // clicks_conversions/, then bid_requests/, then impressions/
  for (const char* folder : {"clicks_conversions", "bid_requests", "impressions"})
    for (const auto& f : files)
      if (f.find(std::string("/") + folder + "/") != std::string::npos) events_first.push_back(f);
  ingest_each("events-first.duckdb", events_first);
  // Every JSON and CSV file cut into random chunks (at record ends: CSV only where the quotes balance, so
  // every chunk reads the same records), the chunks and the Avro files shuffled, a few per run.
  std::mt19937 rng(20261124);
  std::vector<std::string> pieces;
  for (const auto& f : files) {
    const std::string ext = fs::path(f).extension().string();
    if (ext != ".jsonl" && ext != ".csv") {
      pieces.push_back(f);
      continue;
    }
    std::string text = slurp(f);
    std::string header;
    if (ext == ".csv") {
      header = text.substr(0, text.find('\n') + 1);
      text.erase(0, header.size());
    }
    std::vector<size_t> ends;  // record ends: after a newline outside quotes
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '"' && ext == ".csv") quoted = !quoted;
      if (text[i] == '\n' && !quoted) ends.push_back(i + 1);
    }
    ASSERT_GT(ends.size(), 100u);
    size_t from = 0;
    while (from < text.size()) {
      const size_t target = from + std::uniform_int_distribution<size_t>(1, text.size() / 3)(rng);
      auto cut = std::lower_bound(ends.begin(), ends.end(), target);
      const size_t to = cut == ends.end() ? text.size() : *cut;
      const std::string piece = dir.str("chunks/" + std::to_string(pieces.size()) + ext);
      write_file(piece, header + text.substr(from, to - from));
      pieces.push_back(piece);
      from = to;
    }
  }
  ASSERT_GT(pieces.size(), files.size() + 6);
  std::shuffle(pieces.begin(), pieces.end(), rng);
  for (size_t i = 0; i < pieces.size();) {
    const size_t n = std::min(pieces.size() - i, std::uniform_int_distribution<size_t>(1, 4)(rng));
    test::ingest_in_process(dir.str("chunks.duckdb"), dir.str("data/dims"),
                            std::vector<std::string>(pieces.begin() + i, pieces.begin() + i + n));
    i += n;
  }
  const std::vector<std::string> dbs = {"one.duckdb", "reverse.duckdb", "events-first.duckdb",
                                        "chunks.duckdb"};

  const std::string q =
      "SELECT (SELECT count(*) || ' ' || count(*) FILTER (attribution = 'attributed') || ' ' || "
      "        sum(hash(event_key, attribution, attributed_impression_key, seconds_from_impression)) FROM "
      "clicks), "
      "       (SELECT count(*) || ' ' || count(*) FILTER (attribution = 'click_through') || ' ' || "
      "        count(*) FILTER (attribution = 'view_through') || ' ' || "
      "        sum(hash(event_key, attribution, attributed_click_key, attributed_impression_key, "
      "seconds_from_touch)) "
      "        FROM conversions), "
      "       (SELECT count(*) FILTER (won) FROM bid_requests)";
  auto result = [&](const std::string& db) { return test::sql_rows_in_process(dir.str(db), q); };
  const std::string one = result("one.duckdb");
  EXPECT_NE(one.find(" "), std::string::npos);
  for (const auto& db : dbs) EXPECT_EQ(result(db), one) << db;
  // The hourly rollup, maintained run by run for the hours each run touched, equals the same numbers
  // aggregated from scratch over the raw tables, whatever the order of the runs.
  const std::string rollup = "SELECT * FROM campaign_hourly ORDER BY hour, campaign_id NULLS LAST";
  const std::string from_raw = R"sql(
    WITH i AS (SELECT date_trunc('hour', event_time) AS hour, campaign_id, count(*) AS n,
                      coalesce(sum(win_price_cpm::DECIMAL(38,9) * 0.001), 0) AS spend
               FROM impressions GROUP BY ALL),
         c AS (SELECT date_trunc('hour', event_time) AS hour, campaign_id, count(*) AS n,
                      count(*) FILTER (attribution = 'attributed') AS a, count(*) FILTER (attribution = 'orphan') AS o
               FROM clicks GROUP BY ALL),
         v AS (SELECT date_trunc('hour', event_time) AS hour, campaign_id, count(*) AS n,
                      count(*) FILTER (attribution = 'click_through') AS ct,
                      count(*) FILTER (attribution = 'view_through') AS vt,
                      count(*) FILTER (attribution = 'unattributed') AS ua, coalesce(sum(conversion_value::DECIMAL(38,9)), 0)::DECIMAL(38,12) AS val
               FROM conversions GROUP BY ALL),
         win AS (SELECT auction_id, arg_min(campaign_id, (event_key, campaign_id)) AS campaign_id
                 FROM impressions WHERE auction_id IS NOT NULL GROUP BY ALL),
         w AS (SELECT date_trunc('hour', b.event_time) AS hour, win.campaign_id, count(*) AS n
               FROM bid_requests b JOIN win ON win.auction_id = b.auction_id WHERE b.won GROUP BY ALL),
         k AS (SELECT hour, campaign_id FROM i UNION SELECT hour, campaign_id FROM c
               UNION SELECT hour, campaign_id FROM v UNION SELECT hour, campaign_id FROM w)
    SELECT k.hour, k.campaign_id, coalesce(w.n, 0), coalesce(i.n, 0), coalesce(i.spend, 0), coalesce(c.n, 0),
           coalesce(c.a, 0), coalesce(c.o, 0), coalesce(v.n, 0), coalesce(v.ct, 0), coalesce(v.vt, 0),
           coalesce(v.ua, 0), coalesce(v.val, 0)
    FROM k LEFT JOIN i ON i.hour = k.hour AND i.campaign_id IS NOT DISTINCT FROM k.campaign_id
    LEFT JOIN c ON c.hour = k.hour AND c.campaign_id = k.campaign_id
    LEFT JOIN v ON v.hour = k.hour AND v.campaign_id = k.campaign_id
    LEFT JOIN w ON w.hour = k.hour AND w.campaign_id IS NOT DISTINCT FROM k.campaign_id
    ORDER BY k.hour, k.campaign_id NULLS LAST)sql";
  // Rows without the header: the column names differ.
  auto rows = [&](const std::string& db, const std::string& sql) {
    return test::sql_rows_in_process(dir.str(db), sql);
  };
  const std::string expected = rows("one.duckdb", from_raw);
  EXPECT_GT(std::count(expected.begin(), expected.end(), '\n'), 20);
  for (const auto& db : dbs) EXPECT_EQ(rows(db, rollup), expected) << db;

  // And the reports, from the rollup and from the raw tables alike.
  auto report = [&](const std::string& db, const std::vector<std::string>& args) {
    return report_csv(dir.str(db), args, dir.str());
  };
  const std::vector<std::vector<std::string>> reports = {
      {"campaigns", "--by", "day"},
      {"campaigns", "--by", "hour", "--from", "2026-11-01T05:30:00Z", "--to", "2026-11-01T17:00:00.5Z"},
      {"campaigns", "--by", "site,device"},
      {"funnel"},
      {"funnel", "--by", "campaign"},
      {"latency", "--by", "campaign"},
      {"frequency"}};
  for (const auto& args : reports) {
    const std::string expected_report = report("one.duckdb", args);
    EXPECT_GE(std::count(expected_report.begin(), expected_report.end(), '\n'), 2)
        << args[0];  // header, rows
    for (const auto& db : dbs) EXPECT_EQ(report(db, args), expected_report) << db << " " << args[0];
    if (args[0] == "campaigns" || args[0] == "funnel") {
      std::vector<std::string> raw = args;
      raw.push_back("--no-rollup");
      EXPECT_EQ(report("chunks.duckdb", raw), expected_report) << args[0] << " --no-rollup";
    }
  }

  // Every click of this data has its impression; every won flag has an impression naming its auction.
  CommandResult r =
      run_advx({"sql", "--db", dir.str("one.duckdb"), "--format", "csv",
                "SELECT count(*) FILTER (attribution = 'orphan'), count(*) FILTER (attribution IS NULL) "
                "FROM clicks"},
               dir.str());
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1), "0,0\n");
  r = run_advx(
      {"sql", "--db", dir.str("one.duckdb"), "--format", "csv",
       "SELECT (SELECT count(*) FILTER (won) FROM bid_requests) = (SELECT count(DISTINCT i.auction_id) "
       "FROM impressions i JOIN bid_requests b ON b.auction_id = i.auction_id)"},
      dir.str());
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1), "true\n");
}

}  // namespace
}  // namespace advx::test
