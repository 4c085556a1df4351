// advx gen --incident -> advx ingest: each incident has the effect the data-quality monitor must see in the
// store, the manifest lists what it did, and the manifest's counts still equal what ingest reports.
// One day of 200k impressions (2026-11-01, UTC), one kind of incident per run.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "manifest_check.hpp"

namespace advx::test {
namespace {

// Generates one day with `args` added, ingests it, and checks the manifest against the ingest summary.
class GenIncident : public ::testing::Test {
 protected:
  void generate(std::vector<std::string> args) {
    std::vector<std::string> all = {"gen",    "--out", dir.str("data"), "--impressions", "200000",
                                    "--seed", "7",     "--quiet"};
    all.insert(all.end(), args.begin(), args.end());
    CommandResult g = run_advx(all, dir.str());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    manifest_text = slurp(dir.str("data/_manifest.json"));
    ASSERT_FALSE(mparser.parse(manifest_text).get(manifest)) << manifest_text;
    CommandResult r = run_advx({"ingest", "--db", db(), "--json", dir.str("data")}, dir.str());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    simdjson::dom::parser sparser;
    simdjson::dom::element summary;
    ASSERT_FALSE(sparser.parse(r.out).get(summary)) << r.out;
    expect_matches_manifest(summary, manifest);
  }
  std::string db() const { return dir.str("g.duckdb"); }
  // The single number a query returns.
  double num(const std::string& query) {
    const std::string rows = sql_rows(db(), query, dir.str());
    EXPECT_FALSE(rows.empty()) << query;
    return std::strtod(rows.c_str(), nullptr);
  }
  // The count of incident `i` of the manifest under `key`, checking its kind.
  uint64_t incident(size_t i, const std::string& kind, const std::string& key) {
    std::string_view k;
    EXPECT_FALSE(manifest.at_pointer("/incidents/" + std::to_string(i) + "/kind").get(k)) << manifest_text;
    EXPECT_EQ(k, kind);
    return count_at(manifest, "/incidents/" + std::to_string(i) + "/" + key);
  }

  TempDir dir;
  std::string manifest_text;
  simdjson::dom::parser mparser;
  simdjson::dom::element manifest;
};

std::string ts(const std::string& hhmmss) { return "TIMESTAMP '2026-11-01 " + hhmmss + "'"; }
std::string between(const std::string& from, const std::string& to) {
  return "event_time >= " + ts(from) + " AND event_time < " + ts(to);
}
// Every stored row of a stream's table(s), with its position in its file.
std::string rows_of(const std::string& stream) {
  if (stream == "clicks_conversions")
    return "(SELECT event_time, source_record FROM clicks UNION ALL SELECT event_time, source_record FROM "
           "conversions)";
  return stream;
}

// Without late and out-of-order events (their timestamps are shifted away from their arrival), a silent
// source has no event at all from the window: the last 3 s are the most by which an event may precede its
// arrival (clicks and conversions arrive up to 3 s after their time, bid requests carry times up to 2 s
// before the impression's). Before and after the window the traffic is as usual.
TEST_F(GenIncident, SilentSourceDeliversNothingFromTheWindow) {
  generate({"--late-rate", "0", "--out-of-order-rate", "0", "--incident",
            "silent@10:00/30m,stream=impressions", "--incident", "silent@12:00/30m,stream=clicks_conversions",
            "--incident", "silent@14:00/30m,stream=bid_requests"});
  const char* streams[] = {"impressions", "clicks_conversions", "bid_requests"};
  const char* starts[] = {"10:00:00", "12:00:00", "14:00:00"};
  const char* ends[] = {"10:29:57", "12:29:57", "14:29:57"};
  const char* before[] = {"09:30:00", "11:30:00", "13:30:00"};
  const char* after[] = {"10:30:00", "12:30:00", "14:30:00"};
  const char* after_end[] = {"11:00:00", "13:00:00", "15:00:00"};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(streams[i]);
    const std::string t = rows_of(streams[i]);
    EXPECT_EQ(num("SELECT count(*) FROM " + t + " WHERE " + between(starts[i], ends[i])), 0);
    const double usual = num("SELECT count(*) FROM " + t + " WHERE " + between(before[i], starts[i]));
    const double resumed = num("SELECT count(*) FROM " + t + " WHERE " + between(after[i], after_end[i]));
    EXPECT_GT(usual, 0);
    EXPECT_NEAR(resumed / usual, 1.0, 0.5);
    // Half an hour of the stream went missing, and the manifest says how much.
    EXPECT_NEAR(double(incident(i, "silent", "dropped")) / usual, 1.0, 0.5);
  }
  EXPECT_GT(incident(0, "silent", "dropped"), 4000u) << manifest_text;  // ~200000 / 48
}

// A delayed record is written where its late arrival puts it: after records at least `lag` newer. In file
// order, the newest event time before a record (the clock a checker has) is then lag/2 or more ahead of it
// for exactly the delayed records (no late, out-of-order, malformed or bot records to blur it: all delayed
// records are stored), and for none of the on-time ones. The on-time half of the window keeps the clock.
TEST_F(GenIncident, DelayedRecordsArriveAfterNewerOnes) {
  generate({"--late-rate", "0", "--out-of-order-rate", "0", "--malformed-rate", "0", "--bot-rate", "0",
            "--incident", "delay@10:00/1h,stream=impressions", "--incident",
            "delay@12:00/2h,stream=clicks_conversions", "--incident",
            "delay@16:00/1h,stream=bid_requests,lag=30m,share=0.3"});
  const char* streams[] = {"impressions", "clicks_conversions", "bid_requests"};
  const char* windows[] = {"10:00:00", "11:00:00", "12:00:00", "14:00:00", "16:00:00", "17:00:00"};
  const int half_lag_min[] = {10, 10, 15};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(streams[i]);
    const std::string clocked =
        "WITH c AS (SELECT event_time, max(event_time) OVER (ORDER BY source_record ROWS BETWEEN UNBOUNDED "
        "PRECEDING AND 1 PRECEDING) AS clock FROM " +
        rows_of(streams[i]) + ") SELECT count(*) FROM c WHERE clock - event_time >= INTERVAL " +
        std::to_string(half_lag_min[i]) + " MINUTE";
    const uint64_t delayed = incident(i, "delay", "delayed");
    EXPECT_GT(delayed, 0u);
    EXPECT_EQ(num(clocked), double(delayed));
    EXPECT_EQ(num(clocked + " AND NOT (" + between(windows[2 * i], windows[2 * i + 1]) + ")"), 0);
    // About the share of the window's records.
    const double in_window = num("SELECT count(*) FROM " + rows_of(streams[i]) + " WHERE " +
                                 between(windows[2 * i], windows[2 * i + 1]));
    EXPECT_NEAR(double(delayed) / in_window, i == 2 ? 0.3 : 0.5, i == 1 ? 0.1 : 0.03);
  }
}

// Click fraud on one campaign: ten times its clicks per impression in the window, every one attributed.
TEST_F(GenIncident, CtrSpikeMultipliesTheCampaignsAttributedClicks) {
  generate({"--incident", "ctr_spike@06:00/4h"});  // the first campaign of campaigns.csv: 1001
  const uint64_t extra = incident(0, "ctr_spike", "extra_clicks");
  EXPECT_EQ(count_at(manifest, "/incidents/0/campaign_id"), 1001u);
  const std::string in = between("06:00:00", "10:00:00");
  const double clicks_in = num("SELECT count(*) FROM clicks WHERE campaign_id = '1001' AND " + in);
  const double clicks_out =
      num("SELECT count(*) FROM clicks WHERE campaign_id = '1001' AND NOT (" + in + ")");
  const double imps_in = num("SELECT count(*) FROM impressions WHERE campaign_id = '1001' AND " + in);
  const double imps_out =
      num("SELECT count(*) FROM impressions WHERE campaign_id = '1001' AND NOT (" + in + ")");
  ASSERT_GT(clicks_out, 0);
  const double ratio = (clicks_in / imps_in) / (clicks_out / imps_out);
  EXPECT_GE(ratio, 8.0) << clicks_in << "/" << imps_in << " vs " << clicks_out << "/" << imps_out;
  EXPECT_LE(ratio, 13.0);
  EXPECT_GE(clicks_in, double(extra));
  EXPECT_EQ(
      num("SELECT count(*) FROM clicks WHERE attribution <> 'attributed' AND campaign_id = '1001' AND " + in),
      0);
  // Other campaigns' click rates are untouched: no orphans anywhere.
  EXPECT_EQ(num("SELECT count(*) FROM clicks WHERE attribution = 'orphan'"), 0);
}

// Orphan clicks replace ordinary ones (the click volume stays): about the share of the window's clicks,
// exactly the manifest's count, none outside the window.
TEST_F(GenIncident, OrphanClicksTakeTheirShareOfTheWindow) {
  generate({"--incident", "orphan_clicks@06:00/8h"});
  const std::string in = between("06:00:00", "14:00:00");
  const double orphans = num("SELECT count(*) FROM clicks WHERE attribution = 'orphan' AND " + in);
  const double clicks = num("SELECT count(*) FROM clicks WHERE " + in);
  EXPECT_EQ(orphans, double(incident(0, "orphan_clicks", "orphan_clicks")));
  EXPECT_GE(orphans / clicks, 0.25) << orphans << " of " << clicks;
  EXPECT_LE(orphans / clicks, 0.35) << orphans << " of " << clicks;
  EXPECT_EQ(num("SELECT count(*) FROM clicks WHERE attribution = 'orphan' AND NOT (" + in + ")"), 0);
}

// Malformed records in the window's part of each file: the share asked for (plus the usual 0.1 %).
// The part is taken between the median positions of the first and of the last ten minutes' stored rows.
TEST_F(GenIncident, MalformedShareOfTheWindowsPartOfTheFile) {
  generate({"--incident", "malformed@10:00/1h,stream=impressions", "--incident",
            "malformed@12:00/4h,stream=clicks_conversions", "--incident",
            "malformed@18:00/1h,stream=bid_requests,share=0.2"});
  const char* streams[] = {"impressions", "clicks_conversions", "bid_requests"};
  const char* reasons[] = {"malformed_json", "malformed_csv", "malformed_avro"};
  const char* windows[] = {"10:00:00", "10:10:00", "10:50:00", "11:00:00", "12:00:00", "12:10:00",
                           "15:50:00", "16:00:00", "18:00:00", "18:10:00", "18:50:00", "19:00:00"};
  const double share[] = {0.5, 0.5, 0.2};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(streams[i]);
    const std::string t = rows_of(streams[i]);
    const std::string lo = "(SELECT quantile_disc(source_record, 0.5) FROM " + t + " WHERE " +
                           between(windows[4 * i], windows[4 * i + 1]) + ")";
    const std::string hi = "(SELECT quantile_disc(source_record, 0.5) FROM " + t + " WHERE " +
                           between(windows[4 * i + 2], windows[4 * i + 3]) + ")";
    const double bad =
        num("SELECT count(*) FROM rejects WHERE stream = '" + std::string(streams[i]) + "' AND reason = '" +
            reasons[i] + "' AND source_record BETWEEN " + lo + " AND " + hi);
    const double records = num("SELECT " + hi + " - " + lo + " + 1");
    EXPECT_NEAR(bad / records, share[i], i == 1 ? 0.1 : 0.03) << bad << " of " << records;
    EXPECT_GT(incident(i, "malformed", "malformed"), 0u);
  }
  // Outside the windows, the usual rate (0.5 % of records get a defect, a fifth of them malformed).
  const double before =
      num("SELECT count(*) FROM rejects WHERE stream = 'impressions' AND reason = 'malformed_json' AND "
          "source_record < (SELECT min(source_record) FROM impressions WHERE " +
          between("09:00:00", "09:01:00") + ")");
  EXPECT_GT(before, 0);
  EXPECT_LT(before, 150);  // ~75 in 9 hours
}

// All kinds at once, with the usual late and out-of-order events: the manifest still equals the ingest
// summary (checked by generate), and a silent window's stored events are late ones, written after the
// source resumed: none of them before the first event 5 minutes past the window (the usual out-of-order
// shifts reach 3 minutes (impressions) and 5 minutes (clicks) around the edges).
TEST_F(GenIncident, AllKindsTogetherStillMatchTheManifest) {
  generate({"--incident", "silent@10:00/30m,stream=impressions",
            "--incident", "silent@12:00/30m,stream=clicks_conversions",
            "--incident", "silent@14:00/30m,stream=bid_requests",
            "--incident", "delay@16:00/1h,stream=impressions",
            "--incident", "delay@16:00/1h,stream=clicks_conversions",
            "--incident", "delay@16:00/1h,stream=bid_requests,lag=30m,share=0.3",
            "--incident", "ctr_spike@06:00/2h,campaign=1002,factor=5",
            "--incident", "orphan_clicks@08:00/2h",
            "--incident", "malformed@18:00/30m,stream=impressions",
            "--incident", "malformed@19:00/30m,stream=clicks_conversions",
            "--incident", "malformed@20:00/30m,stream=bid_requests"});
  simdjson::dom::array incidents;
  ASSERT_FALSE(manifest["incidents"].get(incidents));
  EXPECT_EQ(incidents.size(), 11u);
  std::string_view start;
  ASSERT_FALSE(manifest.at_pointer("/incidents/6/start").get(start));
  EXPECT_EQ(start, "2026-11-01T06:00:00Z");
  EXPECT_EQ(count_at(manifest, "/incidents/6/campaign_id"), 1002u);
  // Per stream: 5 minutes into the window, 5 minutes before its end, 5 minutes after it, an hour later.
  const char* streams[] = {"impressions", "clicks_conversions", "bid_requests"};
  const char* windows[3][4] = {{"10:05:00", "10:25:00", "10:35:00", "11:35:00"},
                               {"12:05:00", "12:25:00", "12:35:00", "13:35:00"},
                               {"14:05:00", "14:25:00", "14:35:00", "15:35:00"}};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(streams[i]);
    const std::string t = rows_of(streams[i]);
    const char* const* w = windows[i];
    const double hour = num("SELECT count(*) FROM " + t + " WHERE " + between(w[2], w[3]));
    const double inside = num("SELECT count(*) FROM " + t + " WHERE " + between(w[0], w[1]));
    EXPECT_LT(inside, 0.05 * hour / 3) << inside << " in 20 minutes, " << hour << " in an hour after";
    EXPECT_EQ(num("SELECT count(*) FROM " + t + " WHERE " + between(w[0], w[1]) +
                  " AND source_record < (SELECT min(source_record) FROM " + t +
                  " WHERE event_time >= " + ts(w[2]) + ")"),
              0);
  }
}

TEST(GenIncidentCli, BadIncidentsAreUsageErrors) {
  TempDir dir;
  for (const std::string bad :
       {"flood@10:00/30m", "silent@10:00/30m", "silent@10:00/30m,stream=logs",
        "silent@25:00/30m,stream=impressions", "silent@10:00/30x,stream=impressions",
        "silent@23:45/30m,stream=impressions", "delay@10:00/30m,stream=impressions,share=0",
        "delay@10:00/30m,stream=impressions,share=1.5", "delay@10:00/30m,stream=impressions,speed=2",
        "ctr_spike@10:00/1h,campaign=99", "orphan_clicks@10:00",
        "malformed@2026-10-31T23:00:00Z/2h,stream=bid_requests"}) {
    SCOPED_TRACE(bad);
    CommandResult r =
        run_advx({"gen", "--out", dir.str("data"), "--impressions", "100", "--incident", bad}, dir.str());
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.err.starts_with("advx gen: --incident " + bad + ": ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  CommandResult help = run_advx({"gen", "--help"}, dir.str());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--incident"), std::string::npos);
  EXPECT_NE(help.out.find("silent@10:00/30m,stream=impressions"), std::string::npos);
}

}  // namespace
}  // namespace advx::test
