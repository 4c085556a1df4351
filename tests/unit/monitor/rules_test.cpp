// The data-quality rules on hand-built frames: each rule's threshold exactly, the data it needs before it
// judges, and what must stay quiet.
#include "monitor/rules.hpp"

#include <gtest/gtest.h>

namespace advx::monitor {
namespace {

constexpr int64_t M = kMinuteUs;
constexpr int64_t T0 = 1793491200000000LL;  // 2026-11-01T00:00:00Z
constexpr int kImp = int(Stream::impressions), kEv = int(Stream::events);

Rule only(RuleKind kind) {
  for (const Rule& r : default_rules())
    if (r.kind == kind) return r;
  return {};
}

std::vector<Breach> run(const Rule& r, const QualityFrame& f, int64_t now) { return evaluate({r}, f, now); }

// `n` stored records in each minute [from, to) of stream s.
void fill(QualityFrame& f, int s, int64_t from, int64_t to, uint64_t n) {
  for (int64_t m = from; m < to; m += M) {
    StreamMinute& x = f.streams[m][size_t(s)];
    x.stored = n;
    x.lag = {};
    x.lag[0] = n;
  }
}

TEST(Rules, DefaultsHaveOneRulePerKindNamedAfterIt) {
  const std::vector<Rule> rules = default_rules();
  ASSERT_EQ(rules.size(), size_t(kRuleKindCount));
  for (int i = 0; i < kRuleKindCount; i++) {
    EXPECT_EQ(rules[size_t(i)].kind, RuleKind(i));
    EXPECT_EQ(rules[size_t(i)].name, rule_kind_name(RuleKind(i)));
    RuleKind k{};
    EXPECT_TRUE(parse_rule_kind(rules[size_t(i)].name, &k));
    EXPECT_EQ(k, RuleKind(i));
  }
  RuleKind k{};
  EXPECT_FALSE(parse_rule_kind("latency", &k));
}

TEST(Rules, FreshnessFiresAtTheThresholdOnlyForALiveSource) {
  QualityFrame f;
  fill(f, kImp, T0, T0 + 60 * M, 100);          // live for an hour, then silent
  const Rule r = only(RuleKind::freshness);     // 10 minutes
  EXPECT_TRUE(run(r, f, T0 + 69 * M).empty());  // 9 minutes of silence
  const auto b = run(r, f, T0 + 70 * M);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].source, "impressions");
  EXPECT_DOUBLE_EQ(b[0].value, 10);
  EXPECT_EQ(b[0].summary, "impressions: no data for 10 minutes");
  // A trickle (data in 20 of the 60 minutes before the last) is not a feed that stopped.
  QualityFrame trickle;
  for (int i = 0; i < 60; i += 3) fill(trickle, kEv, T0 + i * M, T0 + (i + 1) * M, 1);
  EXPECT_TRUE(run(r, trickle, T0 + 120 * M).empty());
  // Beyond the baseline (24 h) a source is not in use any more: nothing to say.
  EXPECT_TRUE(run(r, f, T0 + 60 * M + 24 * 60 * M + M).empty());
}

TEST(Rules, DelayReadsTheP95OfTheLagHistogram) {
  QualityFrame f;
  // 10 minutes x 100 records: 94 on time (<= 1 s), 6 late by 15-20 minutes (bucket <= 1200 s).
  for (int i = 0; i < 10; i++) {
    StreamMinute& x = f.streams[T0 + i * M][kImp];
    x.stored = 100;
    x.lag[lag_bucket(0.5)] = 94;
    x.lag[lag_bucket(1100)] = 6;
  }
  const Rule r = only(RuleKind::delay);  // p95 > 10 minutes over 10 minutes, >= 200 records
  const auto b = run(r, f, T0 + 10 * M);
  ASSERT_EQ(b.size(), 1u);
  // rank 950 of 1000: 10 into the 60 records of the (900, 1200] bucket -> 900 + 300 * 10/60 = 950 s.
  EXPECT_NEAR(b[0].value, 950.0 / 60, 1e-9);
  // No quantile is above the largest lag seen: 16 minutes bounds the interpolated 950 s.
  f.streams[T0][kImp].max_lag_s = 16 * 60;
  EXPECT_DOUBLE_EQ(run(r, f, T0 + 10 * M).at(0).value, 950.0 / 60);
  f.streams[T0][kImp].max_lag_s = 15 * 60;
  EXPECT_DOUBLE_EQ(run(r, f, T0 + 10 * M).at(0).value, 15);
  // 5 late in 100: p95 is the last on-time record's bucket.
  for (auto& [m, s] : f.streams) {
    s[kImp].lag[lag_bucket(0.5)] = 95;
    s[kImp].lag[lag_bucket(1100)] = 5;
  }
  EXPECT_TRUE(run(r, f, T0 + 10 * M).empty());
  // Too few records to judge.
  QualityFrame small;
  small.streams[T0][kImp].stored = 199;
  small.streams[T0][kImp].lag[lag_bucket(5000)] = 199;
  EXPECT_TRUE(run(r, small, T0 + M).empty());
  small.streams[T0][kImp].stored = 200;
  small.streams[T0][kImp].lag[lag_bucket(5000)] = 200;
  EXPECT_EQ(run(r, small, T0 + M).size(), 1u);
}

TEST(Rules, LagQuantileInterpolatesLikeHistogramQuantile) {
  std::array<uint64_t, kLagBucketCount> h{};
  EXPECT_EQ(lag_quantile(h, 0.95), 0);
  h[0] = 100;  // all <= 1 s
  EXPECT_DOUBLE_EQ(lag_quantile(h, 0.5), 0.5);
  h = {};
  h[kLagBucketCount - 1] = 10;  // beyond the last bound: its lower bound
  EXPECT_DOUBLE_EQ(lag_quantile(h, 0.95), 86400);
}

TEST(Rules, VolumeFiresOnADropAndASpikeNotOnNoise) {
  const Rule r = only(RuleKind::volume);  // |z| >= 6 and >= 50 % change, 5-minute window, 60-minute baseline
  QualityFrame f;
  for (int i = 0; i < 60; i++) fill(f, kImp, T0 + i * M, T0 + (i + 1) * M, i % 2 ? 1010 : 990);
  fill(f, kImp, T0 + 60 * M, T0 + 65 * M, 1000);
  EXPECT_TRUE(run(r, f, T0 + 65 * M).empty());
  fill(f, kImp, T0 + 60 * M, T0 + 65 * M, 300);  // -70 %
  auto b = run(r, f, T0 + 65 * M);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_LT(b[0].value, -6);
  EXPECT_NE(b[0].summary.find("300 records/minute against a baseline of 1000"), std::string::npos)
      << b[0].summary;
  fill(f, kImp, T0 + 60 * M, T0 + 65 * M, 3000);  // +200 %
  b = run(r, f, T0 + 65 * M);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_GT(b[0].value, 6);
  // Significant but small (+30 %): not an anomaly worth waking someone.
  fill(f, kImp, T0 + 60 * M, T0 + 65 * M, 1300);
  EXPECT_TRUE(run(r, f, T0 + 65 * M).empty());
  // Below min_count (10/minute at baseline): not judged.
  QualityFrame thin;
  fill(thin, kEv, T0, T0 + 60 * M, 5);
  EXPECT_TRUE(run(r, thin, T0 + 65 * M).empty());
  // Less than half the baseline of history: not judged.
  QualityFrame young;
  fill(young, kImp, T0 + 40 * M, T0 + 60 * M, 1000);
  EXPECT_TRUE(run(r, young, T0 + 65 * M).empty());
}

TEST(Rules, VolumeIsSeasonalWithAWeekOfHistory) {
  const Rule r = only(RuleKind::volume);
  QualityFrame f;
  // Eight days, 1000/minute except 10:00-10:05 each day, a daily peak of 5000: the peak is normal.
  for (int d = 0; d < 8; d++) {
    const int64_t day = T0 + d * 1440 * M;
    fill(f, kImp, day + 540 * M, day + 600 * M, 1000);
    fill(f, kImp, day + 600 * M, day + 605 * M, 5000);
  }
  const int64_t now = T0 + 7 * 1440 * M + 605 * M;
  EXPECT_TRUE(run(r, f, now).empty());
  // Today's peak missing is a drop, though it equals the last hour's rate.
  fill(f, kImp, now - 5 * M, now, 1000);
  const auto b = run(r, f, now);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NE(b[0].summary.find("seasonal"), std::string::npos);
}

TEST(Rules, CtrSpikeAndDropPerCampaign) {
  const Rule r = only(RuleKind::ctr);  // 3x, 15-minute window, 3-hour baseline, >= 20 clicks
  QualityFrame f;
  for (int i = 0; i < 195; i++) {
    f.campaigns[T0 + i * M]["c1"] = {100, 2, 0};  // 2 %
    f.campaigns[T0 + i * M]["c2"] = {100, 2, 0};
  }
  const int64_t now = T0 + 195 * M;
  EXPECT_TRUE(run(r, f, now).empty());
  for (int i = 180; i < 195; i++) f.campaigns[T0 + i * M]["c1"].clicks = 20;  // 10x
  auto b = run(r, f, now);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].campaign, "c1");
  EXPECT_EQ(b[0].source, "clicks_conversions");
  // expected = 1500 impressions * (360 + 1) / 18000 = 30.08 clicks; observed 300.
  EXPECT_NEAR(b[0].value, 300 / (1500.0 * 361 / 18000), 1e-9);
  // A drop to nothing, with enough expected clicks to notice.
  for (int i = 180; i < 195; i++) f.campaigns[T0 + i * M]["c1"].clicks = 0;
  b = run(r, f, now);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].value, 0);
  EXPECT_NE(b[0].summary.find("fell to"), std::string::npos);
  // Impressions gone too: a volume problem, not a CTR one.
  for (int i = 180; i < 195; i++) f.campaigns[T0 + i * M]["c1"] = {10, 20, 0};
  EXPECT_TRUE(run(r, f, now).empty());
}

TEST(Rules, SharesFireAtTheirThresholdWithEnoughData) {
  QualityFrame f;
  for (int i = 0; i < 15; i++) {
    StreamMinute& ev = f.streams[T0 + i * M][kEv];
    ev.stored = 10;
    ev.clicks = 10;
    ev.orphan_clicks = i < 3 ? 5 : 0;  // 15 of 150 = 10 %
    StreamMinute& imp = f.streams[T0 + i * M][kImp];
    imp.stored = 100;
    imp.rejected = 12;  // 12 of 112 (10.7 %)
    imp.unknown = 4;    // 4 %
    imp.auction_named = 100;
    imp.auction_unknown = 5;  // 5 %
    imp.auction_won = 95;     // all known ones won
  }
  const int64_t now = T0 + 15 * M;
  auto orphan = run(only(RuleKind::orphan_clicks), f, now);
  ASSERT_EQ(orphan.size(), 1u);
  EXPECT_DOUBLE_EQ(orphan[0].value, 0.1);
  EXPECT_EQ(orphan[0].summary, "clicks_conversions: 10.0% of clicks are orphans (15 of 150)");
  EXPECT_TRUE(run(only(RuleKind::unknown_creative), f, now).empty());  // 4 % < 5 %
  EXPECT_EQ(run(only(RuleKind::unknown_auction), f, now).size(), 1u);  // 5 % >= 5 %
  EXPECT_TRUE(run(only(RuleKind::won_gap), f, now).empty());
  const auto rejects = run(only(RuleKind::reject_rate), f, now);  // 10-minute window
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].source, "impressions");
  EXPECT_NEAR(rejects[0].value, 120.0 / 1120, 1e-12);
  EXPECT_TRUE(run(only(RuleKind::duplicate_rate), f, now).empty());
  f.streams[now - M][kImp].duplicates = 1000;  // 1000 of 1000 + 1120
  EXPECT_EQ(run(only(RuleKind::duplicate_rate), f, now).size(), 1u);
  // Below min_count (20 clicks), the orphan share is not judged.
  QualityFrame few;
  few.streams[T0][kEv].clicks = 19;
  few.streams[T0][kEv].orphan_clicks = 19;
  EXPECT_TRUE(run(only(RuleKind::orphan_clicks), few, T0 + M).empty());
}

TEST(Rules, DisabledRulesAreNotEvaluated) {
  QualityFrame f;
  fill(f, kImp, T0, T0 + 60 * M, 100);
  Rule r = only(RuleKind::freshness);
  r.enabled = false;
  EXPECT_TRUE(run(r, f, T0 + 90 * M).empty());
}

TEST(Rules, Durations) {
  int64_t us = 0;
  EXPECT_TRUE(parse_duration("90s", &us));
  EXPECT_EQ(us, 90'000'000);
  EXPECT_TRUE(parse_duration("10m", &us));
  EXPECT_EQ(us, 600'000'000);
  EXPECT_TRUE(parse_duration("1.5h", &us));
  EXPECT_EQ(us, 5400'000'000LL);
  EXPECT_TRUE(parse_duration("250ms", &us));
  EXPECT_EQ(us, 250'000);
  EXPECT_TRUE(parse_duration("30", &us));
  EXPECT_EQ(us, 30'000'000);
  EXPECT_FALSE(parse_duration("10 minutes", &us));
  EXPECT_FALSE(parse_duration("-1s", &us));
  EXPECT_FALSE(parse_duration("", &us));
  EXPECT_EQ(format_duration(600'000'000), "10m");
  EXPECT_EQ(format_duration(7200'000'000LL), "2h");
  EXPECT_EQ(format_duration(5'000'000), "5s");
}

}  // namespace
}  // namespace advx::monitor
