// The signals read from a real store: counts per arrival minute, lag buckets, discrepancy counts, and the
// file-order clock that stands in for arrival times of batch-ingested files.
#include "monitor/quality_frame.hpp"

#include <gtest/gtest.h>

#include "store/duckdb/duckdb_store.hpp"

namespace advx::monitor {
namespace {

constexpr int64_t M = kMinuteUs;
constexpr int64_t T0 = 1793491200000000LL;  // 2026-11-01T00:00:00Z
constexpr int kImp = int(Stream::impressions), kEv = int(Stream::events), kBid = int(Stream::bid_requests);

std::string ts(int64_t us) { return "make_timestamp(" + std::to_string(us) + "::BIGINT)"; }

TEST(QualityFrame, FileOrderClockPlacesDelayedRecordsWhereTheyWereRead) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  const std::string at = ts(T0 + 3600 * 1'000'000LL);  // one batch run: one ingested_at for all
  // File f1, in this order: 200 on-time impressions one second apart from T0; 10 whose event time is 20
  // minutes before T0 (delayed); one malformed record; 100 more on time.
  store.execute(
      "INSERT INTO impressions (event_key, event_time, campaign_id, unknown_creative, source, "
      "source_record, ingested_at) SELECT 'k' || i, " +
      ts(T0) +
      " + to_seconds(i), 'c1', false, 'f1', "
      "i + 1, " +
      at + " FROM range(200) t(i)");
  store.execute(
      "INSERT INTO impressions (event_key, event_time, campaign_id, unknown_creative, source, "
      "source_record, ingested_at) SELECT 'd' || i, " +
      ts(T0 - 20 * M) +
      ", 'c2', false, 'f1', "
      "201 + i, " +
      at + " FROM range(10) t(i)");
  store.execute(
      "INSERT INTO rejects (stream, category, reason, source, source_record, ingested_at) VALUES "
      "('impressions', 'rejected', 'malformed_json', 'f1', 211, " +
      at + ")");
  store.execute(
      "INSERT INTO impressions (event_key, event_time, campaign_id, unknown_creative, source, "
      "source_record, ingested_at) SELECT 'k' || (200 + i), " +
      ts(T0) +
      " + to_seconds(200 + i), "
      "'c1', false, 'f1', 212 + i, " +
      at + " FROM range(100) t(i)");

  const QualityFrame f = read_quality_frame(store, T0 - 60 * M, T0 + 60 * M, ArrivalClock::file_order);
  ASSERT_EQ(f.streams.size(), 5u);  // minutes 0..4: the delayed records arrived in minute 3
  // Chunks of 16 rows: rows 192..207 are 8 on-time rows of 00:03:12..19 and 8 delayed ones, rows 208..223
  // the last 2 delayed, the reject and 13 on-time rows. The delayed rows take the clock of the chunks
  // read before them (the 75th percentile of rows 176..191, 00:03:08, or of rows 192..207, 00:03:16): they
  // arrived in minute 3, 23 minutes and some seconds late, and so did the reject read after them.
  const uint64_t stored[] = {60, 60, 60, 70, 60};
  for (int m = 0; m < 5; m++) {
    const StreamMinute& s = f.streams.at(T0 + m * M)[kImp];
    EXPECT_EQ(s.stored, stored[m]) << m;
    EXPECT_EQ(s.rejected, m == 3 ? 1u : 0u) << m;
    // On-time rows lag nothing, or the seconds to their chunk's 10th percentile.
    EXPECT_EQ(s.lag[0] + s.lag[1] + s.lag[2] + s.lag[3], 60u) << m;
    EXPECT_EQ(s.lag[lag_bucket(23 * 60 + 20)], m == 3 ? 10u : 0u) << m;
    if (m == 3) {
      EXPECT_GE(s.max_lag_s, 23 * 60 + 8) << m;  // 00:03:08 or :16 less 20 minutes before T0
      EXPECT_LE(s.max_lag_s, 23 * 60 + 16) << m;
    } else {
      EXPECT_LT(s.max_lag_s, 30) << m;
    }
    EXPECT_EQ(s.records(), s.stored + s.rejected);
    EXPECT_EQ(f.streams.at(T0 + m * M)[kEv].records(), 0u);
  }
  EXPECT_EQ(f.campaigns.at(T0 + 3 * M).at("c1").impressions, 60u);
  EXPECT_EQ(f.campaigns.at(T0 + 3 * M).at("c2").impressions, 10u);

  const StoredExtent e = stored_extent(store);
  EXPECT_EQ(e.first_minute_us, T0 - 20 * M);
  EXPECT_EQ(e.end_minute_us, T0 + 5 * M);
}

TEST(QualityFrame, IngestedAtClockCountsDiscrepancies) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  const std::string at = ts(T0 + 30'000'000);  // arrived at 00:00:30
  const std::string ev = ts(T0 + 25'000'000);  // happened at 00:00:25: 5 s of lag
  store.execute(
      "INSERT INTO bid_requests (auction_id, event_time, source, source_record, ingested_at, won) VALUES "
      "('a1', " +
      ev + ", 'http', 1, " + at + ", true), ('a2', " + ev + ", 'http', 2, " + at + ", false)");
  store.execute(
      "INSERT INTO impressions (event_key, event_time, campaign_id, unknown_creative, auction_id, source, "
      "source_record, ingested_at) VALUES "
      "('i1', " +
      ev + ", 'c1', false, 'a1', 'http', 1, " + at +
      "), "
      "('i2', " +
      ev + ", 'c1', false, 'a2', 'http', 2, " + at +
      "), "
      "('i3', " +
      ev + ", 'c1', false, 'a3', 'http', 3, " + at +
      "), "
      "('i4', " +
      ev + ", NULL, true, NULL, 'http', 4, " + at + ")");
  store.execute(
      "INSERT INTO clicks (event_key, event_time, campaign_id, unknown_campaign, source, source_record, "
      "ingested_at, attribution) VALUES "
      "('k1', " +
      ev + ", 'c1', false, 'http', 1, " + at +
      ", 'attributed'), "
      "('k2', " +
      ev + ", 'c1', false, 'http', 2, " + at +
      ", 'attributed'), "
      "('k3', " +
      ev + ", 'c9', true, 'http', 3, " + at + ", 'orphan')");
  store.execute(
      "INSERT INTO conversions (event_key, event_time, campaign_id, unknown_campaign, source, "
      "source_record, ingested_at) VALUES ('v1', " +
      ev + ", 'c1', false, 'http', 4, " + at + ")");
  store.execute(
      "INSERT INTO rejects (stream, category, reason, source, source_record, event_time, ingested_at) "
      "VALUES ('impressions', 'filtered', 'bot_user_agent', 'http', 5, " +
      ev + ", " + at +
      "), "
      "('clicks_conversions', 'rejected', 'malformed_csv', 'http', 6, NULL, " +
      at + ")");
  // A backfill: an impression of two days ago arriving now names a bid request of its own time, which is
  // stored: its auction is known.
  const std::string old_time = ts(T0 - 2 * 24 * 60 * M);
  store.execute(
      "INSERT INTO bid_requests (auction_id, event_time, source, source_record, ingested_at, won) "
      "VALUES ('b1', " +
      old_time + ", 'http', 3, " + at + ", true)");
  store.execute(
      "INSERT INTO impressions (event_key, event_time, campaign_id, unknown_creative, auction_id, "
      "source, source_record, ingested_at) VALUES ('i5', " +
      old_time +
      ", 'c1', false, 'b1', 'http', "
      "5, " +
      at + ")");
  // A row ingested in the next minute is outside [T0, T0 + 1 min).
  store.execute(
      "INSERT INTO impressions (event_key, event_time, source, source_record, ingested_at) VALUES "
      "('late', " +
      ev + ", 'http', 9, " + ts(T0 + 61'000'000) + ")");

  const QualityFrame f = read_quality_frame(store, T0, T0 + M, ArrivalClock::ingested_at);
  ASSERT_EQ(f.streams.size(), 1u);
  const auto& s = f.streams.at(T0);
  EXPECT_EQ(s[kImp].stored, 5u);
  EXPECT_EQ(s[kImp].filtered, 1u);
  EXPECT_EQ(s[kImp].unknown, 1u);
  EXPECT_EQ(s[kImp].auction_named, 4u);
  EXPECT_EQ(s[kImp].auction_unknown, 1u);
  EXPECT_EQ(s[kImp].auction_won, 2u);
  EXPECT_EQ(s[kImp].lag[lag_bucket(5)], 4u);
  EXPECT_EQ(s[kImp].lag[lag_bucket(2 * 86400.0 + 30)], 1u);
  EXPECT_EQ(s[kEv].stored, 4u);
  EXPECT_EQ(s[kEv].rejected, 1u);
  EXPECT_EQ(s[kEv].clicks, 3u);
  EXPECT_EQ(s[kEv].orphan_clicks, 1u);
  EXPECT_EQ(s[kEv].conversions, 1u);
  EXPECT_EQ(s[kEv].unknown, 1u);
  EXPECT_EQ(s[kBid].stored, 3u);
  const auto& c = f.campaigns.at(T0);
  EXPECT_EQ(c.at("c1").impressions, 4u);
  EXPECT_EQ(c.at("c1").clicks, 2u);
  EXPECT_EQ(c.at("c1").conversions, 1u);
  EXPECT_EQ(c.at("c9").clicks, 1u);
  EXPECT_EQ(c.count(""), 0u);  // impressions of unknown creatives have no campaign

  // Buckets narrower than a minute (tests of advx serve).
  const QualityFrame g = read_quality_frame(store, T0, T0 + M, ArrivalClock::ingested_at, 10'000'000);
  ASSERT_EQ(g.streams.size(), 1u);
  EXPECT_EQ(g.streams.begin()->first, T0 + 30'000'000);
}

TEST(QualityFrame, ReplaceKeepsTheEngineDuplicates) {
  QualityFrame f;
  f.streams[T0][kImp].stored = 1;
  f.streams[T0][kImp].duplicates = 7;
  QualityFrame newer;
  newer.streams[T0][kImp].stored = 5;
  newer.streams[T0 + M][kImp].stored = 2;
  f.replace_minutes(std::move(newer));
  EXPECT_EQ(f.streams[T0][kImp].stored, 5u);
  EXPECT_EQ(f.streams[T0][kImp].duplicates, 7u);
  EXPECT_EQ(f.streams[T0 + M][kImp].stored, 2u);
  f.trim(T0 + M, T0);
  EXPECT_EQ(f.streams.size(), 1u);
}

TEST(QualityFrame, ReplacingOneStreamKeepsTheOthers) {
  QualityFrame f;
  f.streams[T0][kImp].stored = 100;
  f.streams[T0][kEv].clicks = 3;
  f.streams[T0][kEv].orphan_clicks = 3;
  f.campaigns[T0]["c1"] = {50, 2, 1};
  f.campaigns[T0]["c2"] = {50, 1, 0};
  QualityFrame clicks;  // a re-read of the clicks: two orphans found their impressions
  clicks.streams[T0][kEv].clicks = 3;
  clicks.streams[T0][kEv].orphan_clicks = 1;
  clicks.campaigns[T0]["c1"] = {0, 2, 1};
  clicks.campaigns[T0]["c2"] = {0, 1, 1};
  f.replace_minutes(std::move(clicks), Stream::events);
  EXPECT_EQ(f.streams[T0][kImp].stored, 100u);
  EXPECT_EQ(f.streams[T0][kEv].orphan_clicks, 1u);
  EXPECT_EQ(f.campaigns[T0]["c1"].impressions, 50u);
  EXPECT_EQ(f.campaigns[T0]["c2"].impressions, 50u);
  EXPECT_EQ(f.campaigns[T0]["c2"].conversions, 1u);
}

}  // namespace
}  // namespace advx::monitor
