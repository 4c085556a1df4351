// advx report's SQL (docs/REPORTS.md) over a hand-built store whose every report row is computed by hand.
#include "store/duckdb/duckdb_reports.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "../../support/store_test_util.hpp"
#include "store/duckdb/duckdb_store.hpp"
#include "store/result_format.hpp"

namespace advx {
namespace {

using Rows = std::vector<std::vector<std::string>>;

// The store every test starts from (times UTC):
//   campaigns c1..c4 (adv1..adv4); c4 has no events; c9 appears only in a click (not in the dims).
//   impressions  i1 11-01 10:00 c1 cr1 u1 a.com a1 2.0 | i2 11-01 11:00 c1 cr1 u2 b.com a2 1.0
//                i3 11-02 09:00 c1 cr2 u1 a.com a3 3.0 | i4 11-01 12:00 c2 cr3 u3 a.com a4 4.0
//                i5 11-01 13:00 c3 cr4 u4 b.com a5 0.5          (win_price_cpm; spend = sum / 1000)
//   bid requests a1..a5 won, one second before their impression; a6 not won.
//   clicks       k1 u1 c1 -> i1 (30 s) | k2 u2 c2 orphan (u2 saw i2 of c1: the click counts toward c2)
//                k3 u1 c1 -> i3 (10 s) | k4 u3 c2 -> i4 (50 s) | k5 u9 c9 orphan
//   conversions  v1 u1 c1 click_through k1 (1800 s) 100 | v2 u1 c1 click_through k3 (3600 s) 50
//                v3 u3 c2 click_through k4 (1750 s) 20  | v4 u7 c2 unattributed 5
//                v5 u4 c3 view_through i5 (1800 s) 10
class ReportQueries : public ::testing::Test {
 protected:
  void SetUp() override {
    store.ensure_schema();
    store.execute(
        "INSERT INTO campaigns BY NAME SELECT * FROM (VALUES ('c1', 'adv1'), ('c2', 'adv2'), ('c3', 'adv3'), "
        "('c4', 'adv4')) v(campaign_id, advertiser_id)");
    store.execute(
        "INSERT INTO impressions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
        "event_hour FROM (VALUES "
        "('i1', TIMESTAMP '2026-11-01 10:00:00', 'cr1', 'c1', 'u1', 'a.com', 'a1', 2.0, 'US', 'desktop'), "
        "('i2', TIMESTAMP '2026-11-01 11:00:00', 'cr1', 'c1', 'u2', 'b.com', 'a2', 1.0, 'US', 'mobile'), "
        "('i3', TIMESTAMP '2026-11-02 09:00:00', 'cr2', 'c1', 'u1', 'a.com', 'a3', 3.0, 'DE', 'desktop'), "
        "('i4', TIMESTAMP '2026-11-01 12:00:00', 'cr3', 'c2', 'u3', 'a.com', 'a4', 4.0, 'US', 'desktop'), "
        "('i5', TIMESTAMP '2026-11-01 13:00:00', 'cr4', 'c3', 'u4', 'b.com', 'a5', 0.5, 'FR', 'mobile')) "
        "v(event_key, event_time, creative_id, campaign_id, user_id, site, auction_id, win_price_cpm, "
        "country, "
        "device_type)");
    store.execute(
        "INSERT INTO bid_requests BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
        "event_hour FROM (VALUES "
        "('a1', TIMESTAMP '2026-11-01 09:59:59', true), ('a2', TIMESTAMP '2026-11-01 10:59:59', true), "
        "('a3', TIMESTAMP '2026-11-02 08:59:59', true), ('a4', TIMESTAMP '2026-11-01 11:59:59', true), "
        "('a5', TIMESTAMP '2026-11-01 12:59:59', true), ('a6', TIMESTAMP '2026-11-01 14:00:00', false)) "
        "v(auction_id, event_time, won)");
    store.execute(
        "INSERT INTO clicks BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS event_hour "
        "FROM (VALUES "
        "('k1', TIMESTAMP '2026-11-01 10:00:30', 'u1', 'c1', 'cr1', 'attributed', 'i1', 30.0), "
        "('k2', TIMESTAMP '2026-11-01 11:01:00', 'u2', 'c2', NULL, 'orphan', NULL, NULL), "
        "('k3', TIMESTAMP '2026-11-02 09:00:10', 'u1', 'c1', NULL, 'attributed', 'i3', 10.0), "
        "('k4', TIMESTAMP '2026-11-01 12:00:50', 'u3', 'c2', 'cr3', 'attributed', 'i4', 50.0), "
        "('k5', TIMESTAMP '2026-11-01 15:00:00', 'u9', 'c9', NULL, 'orphan', NULL, NULL)) "
        "v(event_key, event_time, user_id, campaign_id, creative_id, attribution, attributed_impression_key, "
        "seconds_from_impression)");
    store.execute(
        "INSERT INTO conversions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
        "event_hour FROM (VALUES "
        "('v1', TIMESTAMP '2026-11-01 10:30:30', 'u1', 'c1', 100.0, 'click_through', 'k1', 'i1', 1800.0), "
        "('v2', TIMESTAMP '2026-11-02 10:00:10', 'u1', 'c1', 50.0, 'click_through', 'k3', 'i3', 3600.0), "
        "('v3', TIMESTAMP '2026-11-01 12:30:00', 'u3', 'c2', 20.0, 'click_through', 'k4', 'i4', 1750.0), "
        "('v4', TIMESTAMP '2026-11-01 20:00:00', 'u7', 'c2', 5.0, 'unattributed', NULL, NULL, NULL), "
        "('v5', TIMESTAMP '2026-11-01 13:30:00', 'u4', 'c3', 10.0, 'view_through', NULL, 'i5', 1800.0)) "
        "v(event_key, event_time, user_id, campaign_id, conversion_value, attribution, attributed_click_key, "
        "attributed_impression_key, seconds_from_touch)");
    fill_rollup();
  }

  // campaign_hourly as advx ingest maintains it, aggregated here from scratch (every auction of the
  // fixture has one impression, so the winning impression is simply the one naming it).
  void fill_rollup() {
    store.execute(R"sql(
      INSERT INTO campaign_hourly BY NAME
      WITH e AS (
        SELECT event_time AS t, campaign_id, 1 AS impressions,
               win_price_cpm::DECIMAL(38,9) * 0.001 AS spend FROM impressions
        UNION ALL BY NAME
        SELECT event_time AS t, campaign_id, 1 AS clicks, (attribution = 'attributed')::INT AS attributed_clicks,
               (attribution = 'orphan')::INT AS orphan_clicks FROM clicks
        UNION ALL BY NAME
        SELECT event_time AS t, campaign_id, 1 AS conversions,
               (attribution = 'click_through')::INT AS click_through_conversions,
               (attribution = 'view_through')::INT AS view_through_conversions,
               (attribution = 'unattributed')::INT AS unattributed_conversions,
               conversion_value::DECIMAL(38,9) AS conversion_value FROM conversions
        UNION ALL BY NAME
        SELECT b.event_time AS t, i.campaign_id, 1 AS bid_requests_won
        FROM bid_requests b JOIN impressions i ON i.auction_id = b.auction_id WHERE b.won)
      SELECT date_trunc('hour', t) AS hour, campaign_id,
             coalesce(sum(bid_requests_won), 0) AS bid_requests_won, coalesce(sum(impressions), 0) AS impressions,
             coalesce(sum(spend), 0) AS spend, coalesce(sum(clicks), 0) AS clicks,
             coalesce(sum(attributed_clicks), 0) AS attributed_clicks, coalesce(sum(orphan_clicks), 0) AS orphan_clicks,
             coalesce(sum(conversions), 0) AS conversions,
             coalesce(sum(click_through_conversions), 0) AS click_through_conversions,
             coalesce(sum(view_through_conversions), 0) AS view_through_conversions,
             coalesce(sum(unattributed_conversions), 0) AS unattributed_conversions,
             coalesce(sum(conversion_value), 0) AS conversion_value
      FROM e GROUP BY ALL)sql");
  }

  // The named columns of every row, NULL as "NULL".
  Rows run(const std::string& sql, const std::vector<std::string>& columns = {}) {
    const ResultTable r = store.query_read_only(sql);
    const std::vector<std::string> names = test::column_names(r);
    std::vector<size_t> idx;
    if (columns.empty()) {
      for (size_t c = 0; c < names.size(); ++c) idx.push_back(c);
    } else {
      for (const auto& name : columns) {
        size_t c = 0;
        while (c < names.size() && names[c] != name) ++c;
        EXPECT_LT(c, names.size()) << "no column " << name;
        idx.push_back(c);
      }
    }
    Rows rows;
    for (size_t i = 0; i < r.rows(); ++i) {
      std::vector<std::string> row;
      for (size_t c : idx)
        row.push_back(c >= names.size() ? "?" : r.columns[c].is_null(i) ? "NULL" : r.columns[c].text_at(i));
      rows.push_back(row);
    }
    return rows;
  }

  DuckDbStore store{":memory:"};
};

bool as_number(const std::string& s, double* v) {
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return !s.empty() && *end == '\0';
}

// Cells equal as text, or as numbers within 1e-12 relative (ratios and money are DOUBLE).
void expect_rows(const Rows& actual, const Rows& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t r = 0; r < actual.size(); ++r) {
    ASSERT_EQ(actual[r].size(), expected[r].size()) << "row " << r;
    for (size_t c = 0; c < actual[r].size(); ++c) {
      double a = 0, e = 0;
      if (as_number(actual[r][c], &a) && as_number(expected[r][c], &e))
        EXPECT_NEAR(a, e, 1e-12 * std::max(1.0, std::fabs(e))) << "row " << r << " col " << c;
      else
        EXPECT_EQ(actual[r][c], expected[r][c]) << "row " << r << " col " << c;
    }
  }
}

TEST_F(ReportQueries, CampaignsEveryColumn) {
  ResultTable r = store.query_read_only(report::campaigns_sql({}, {}));
  EXPECT_EQ(
      test::column_names(r),
      (std::vector<std::string>{
          "campaign_id", "advertiser_id", "bid_requests_won", "impressions", "clicks", "attributed_clicks",
          "orphan_clicks", "ctr", "conversions", "click_through_conversions", "view_through_conversions",
          "unattributed_conversions", "conversion_rate", "conversion_value", "spend", "cpc", "cpa", "roas"}));
  expect_rows(run(report::campaigns_sql({}, {})),
              {
                  // c1: 3 impressions (spend 6/1000), 2 attributed clicks, 2 click-through conversions (150).
                  {"c1", "adv1", "3", "3", "2", "2", "0", "0.6666666666666666", "2", "2", "0", "0", "1.0",
                   "150.0", "0.006", "0.003", "0.003", "25000"},
                  // c2: the orphan click k2 counts here although u2's impression is c1's; ctr above 1.
                  {"c2", "adv2", "1", "1", "2", "1", "1", "2.0", "2", "1", "0", "1", "1.0", "25.0", "0.004",
                   "0.002", "0.002", "6250"},
                  // c3: no click: conversion_rate and cpc NULL, ctr 0.
                  {"c3", "adv3", "1", "1", "0", "0", "0", "0.0", "1", "0", "1", "0", "NULL", "10.0", "0.0005",
                   "NULL", "0.0005", "20000"},
                  // c4: only in the dimension table.
                  {"c4", "adv4", "0", "0", "0", "0", "0", "NULL", "0", "0", "0", "0", "NULL", "0.0", "0.0",
                   "NULL", "NULL", "NULL"},
                  // c9: only in a click, not in the dimension table: no advertiser, no spend.
                  {"c9", "NULL", "0", "0", "1", "0", "1", "NULL", "0", "0", "0", "0", "0.0", "0.0", "0.0",
                   "0.0", "NULL", "NULL"},
              });
}

TEST_F(ReportQueries, CampaignsByDay) {
  const std::string sql = report::campaigns_sql({report::Dimension::day}, {});
  EXPECT_EQ(store.query_read_only(sql).columns[0].name, "day");
  expect_rows(run(sql, {"day", "campaign_id", "bid_requests_won", "impressions", "clicks", "conversions",
                        "conversion_value", "spend", "cpc", "roas"}),
              {
                  {"2026-11-01", "c1", "2", "2", "1", "1", "100.0", "0.003", "0.003", "33333.333333333336"},
                  {"2026-11-01", "c2", "1", "1", "2", "2", "25.0", "0.004", "0.002", "6250"},
                  {"2026-11-01", "c3", "1", "1", "0", "1", "10.0", "0.0005", "NULL", "20000"},
                  {"2026-11-01", "c9", "0", "0", "1", "0", "0.0", "0.0", "0.0", "NULL"},
                  {"2026-11-02", "c1", "1", "1", "1", "1", "50.0", "0.003", "0.003", "16666.666666666668"},
                  {"NULL", "c4", "0", "0", "0", "0", "0.0", "0.0", "NULL", "NULL"},
              });
}

// Clicks and conversions take the site of their attributed impression; orphans and unattributed have none.
TEST_F(ReportQueries, CampaignsBySiteAndCampaign) {
  const std::string sql = report::campaigns_sql(
      {report::Dimension::site, report::Dimension::campaign, report::Dimension::site}, {});
  expect_rows(run(sql, {"site", "campaign_id", "bid_requests_won", "impressions", "clicks", "orphan_clicks",
                        "conversions", "view_through_conversions", "unattributed_conversions"}),
              {
                  {"a.com", "c1", "2", "2", "2", "0", "2", "0", "0"},
                  {"a.com", "c2", "1", "1", "1", "0", "1", "0", "0"},
                  {"b.com", "c1", "1", "1", "0", "0", "0", "0", "0"},
                  {"b.com", "c3", "1", "1", "0", "0", "1", "1", "0"},
                  {"NULL", "c2", "0", "0", "1", "1", "1", "0", "1"},
                  {"NULL", "c4", "0", "0", "0", "0", "0", "0", "0"},
                  {"NULL", "c9", "0", "0", "1", "1", "0", "0", "0"},
              });
}

TEST_F(ReportQueries, CampaignsByEveryKeyRuns) {
  using D = report::Dimension;
  const std::string sql =
      report::campaigns_sql({D::hour, D::creative, D::country, D::device, D::day, D::site, D::campaign}, {});
  ResultTable r = store.query_read_only(sql);
  const std::vector<std::string> names = test::column_names(r);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 8),
            (std::vector<std::string>{"hour", "creative_id", "country", "device_type", "day", "site",
                                      "campaign_id", "advertiser_id"}));
  // k3 names no creative: it takes cr2 from its impression i3.
  expect_rows(
      run("SELECT creative_id, campaign_id, sum(clicks) FROM (" + sql + ") GROUP BY ALL ORDER BY ALL"),
      {
          {"cr1", "c1", "1"},
          {"cr2", "c1", "1"},
          {"cr3", "c2", "1"},
          {"cr4", "c3", "0"},
          {"NULL", "c2", "1"},
          {"NULL", "c4", "0"},
          {"NULL", "c9", "1"},
      });
}

// from inclusive, to exclusive, on each table's own event_time; c9 has no event in range and is not a
// dimension campaign, so it is left out.
TEST_F(ReportQueries, CampaignsTimeRangeBoundaries) {
  int64_t from = 0, to = 0;
  ASSERT_TRUE(report::parse_time_bound("2026-11-01T11:00:00Z", &from));
  ASSERT_TRUE(report::parse_time_bound("2026-11-01 13:00:00+01:00", &to));
  report::TimeRange range;
  range.from_us = from;
  range.to_us = to;
  expect_rows(run(report::campaigns_sql({}, range),
                  {"campaign_id", "bid_requests_won", "impressions", "clicks", "orphan_clicks", "spend"}),
              {
                  {"c1", "0", "1", "0", "0", "0.001"},  // i2 at exactly 11:00; a2 at 10:59:59 is out
                  {"c2", "1", "0", "1", "1", "0.0"},    // a4 at 11:59:59 in, i4 at exactly 12:00 out
                  {"c3", "0", "0", "0", "0", "0.0"},
                  {"c4", "0", "0", "0", "0", "0.0"},
              });
}

// The rollup serves whole hours, the raw tables the partial hours at the edges: for every range whose
// bounds fall on, just before, just after or between hours, and every key set the rollup can serve, the two
// paths give the same rows.
TEST_F(ReportQueries, RollupAndRawAgreeOnEveryRange) {
  using D = report::Dimension;
  const char* bounds[] = {"2026-10-31",
                          "2026-11-01T10:00:00Z",
                          "2026-11-01T10:00:30Z",
                          "2026-11-01T10:59:59Z",
                          "2026-11-01T11:00:00Z",
                          "2026-11-01T11:30:00Z",
                          "2026-11-01T12:00:50Z",
                          "2026-11-01T13:00:00Z",
                          "2026-11-01T20:00:00.000001Z",
                          "2026-11-02T09:00:05Z",
                          "2026-11-03"};
  std::vector<std::optional<int64_t>> points = {std::nullopt};
  for (const char* b : bounds) {
    int64_t us = 0;
    ASSERT_TRUE(report::parse_time_bound(b, &us)) << b;
    points.push_back(us);
  }
  const std::vector<std::vector<D>> key_sets = {{}, {D::day}, {D::hour}, {D::hour, D::day}};
  int compared = 0;
  for (const auto& from : points) {
    for (const auto& to : points) {
      if (from && to && *from >= *to) continue;
      report::TimeRange range;
      range.from_us = from;
      range.to_us = to;
      for (const auto& keys : key_sets) {
        SCOPED_TRACE("range " + std::to_string(from.value_or(-1)) + " .. " + std::to_string(to.value_or(-1)) +
                     ", keys " + std::to_string(keys.size()));
        expect_rows(run(report::campaigns_sql(keys, range, report::Scan::rollup)),
                    run(report::campaigns_sql(keys, range, report::Scan::raw)));
        ++compared;
      }
      expect_rows(run(report::funnel_sql(true, range, report::Scan::rollup)),
                  run(report::funnel_sql(true, range, report::Scan::raw)));
    }
  }
  EXPECT_EQ(compared, 4 * (1 + 2 * 11 + 55));
}

// Which path reads what: a change made to the rollup alone shows for whole hours, not for partial ones,
// not with Scan::raw, and not for keys the rollup does not have.
TEST_F(ReportQueries, RollupServesWholeHoursOnly) {
  store.execute(
      "UPDATE campaign_hourly SET impressions = impressions + 100 WHERE campaign_id = 'c1' AND impressions > "
      "0");
  const std::vector<std::string> cols = {"campaign_id", "impressions"};
  auto c1_impressions = [&](const std::vector<report::Dimension>& by, const report::TimeRange& range,
                            report::Scan scan) {
    return run(report::campaigns_sql(by, range, scan), cols)[0][1];
  };
  report::TimeRange all, whole_hour, partial_hour;
  int64_t t = 0;
  ASSERT_TRUE(report::parse_time_bound("2026-11-01T10:00:00Z", &t));
  whole_hour.from_us = t;  // i1 at 10:00, i2 at 11:00 (c1's hours: 10, 11 and 09 on 11-02)
  whole_hour.to_us = t + 2 * 3'600'000'000LL;
  partial_hour.from_us = t;
  partial_hour.to_us = t + 1;  // [10:00:00, 10:00:00.000001): only i1, read raw
  EXPECT_EQ(c1_impressions({}, all, report::Scan::rollup), "303");
  EXPECT_EQ(c1_impressions({}, all, report::Scan::raw), "3");
  EXPECT_EQ(c1_impressions({}, whole_hour, report::Scan::rollup), "202");
  EXPECT_EQ(c1_impressions({}, partial_hour, report::Scan::rollup), "1");
  EXPECT_EQ(c1_impressions({report::Dimension::site}, all, report::Scan::rollup), "2");  // a.com, from raw
}

TEST_F(ReportQueries, FunnelOverallAndByCampaign) {
  expect_rows(run(report::funnel_sql(false, {})),
              {{"6", "5", "5", "5", "5", "0.8333333333333334", "1.0", "1.0"}});
  ResultTable r = store.query_read_only(report::funnel_sql(true, {}));
  EXPECT_EQ(test::column_names(r),
            (std::vector<std::string>{"campaign_id", "bid_requests", "bid_requests_won", "impressions",
                                      "clicks", "conversions", "win_rate", "ctr", "conversion_rate"}));
  expect_rows(run(report::funnel_sql(true, {})),
              {
                  {"c1", "NULL", "3", "3", "2", "2", "NULL", "0.6666666666666666", "1.0"},
                  {"c2", "NULL", "1", "1", "2", "2", "NULL", "2.0", "1.0"},
                  {"c3", "NULL", "1", "1", "0", "1", "NULL", "0.0", "NULL"},
                  {"c4", "NULL", "0", "0", "0", "0", "NULL", "NULL", "NULL"},
                  {"c9", "NULL", "0", "0", "1", "0", "NULL", "NULL", "0.0"},
              });
  report::TimeRange day2;
  day2.from_us = int64_t(20759) * 86400000000;  // 2026-11-02
  expect_rows(run(report::funnel_sql(false, day2)), {{"1", "1", "1", "1", "1", "1.0", "1.0", "1.0"}});
}

// quantile_cont interpolates: of 10, 30, 50 the p90 is 30 + 0.8 * 20.
TEST_F(ReportQueries, LatencyPercentiles) {
  ResultTable r = store.query_read_only(report::latency_sql(false, {}));
  EXPECT_EQ(test::column_names(r),
            (std::vector<std::string>{"metric", "count", "p50_seconds", "p90_seconds", "p99_seconds"}));
  expect_rows(run(report::latency_sql(false, {})),
              {
                  {"impression_to_click", "3", "30", "46", "49.6"},
                  {"click_to_conversion", "3", "1800", "3240", "3564"},  // v5 is view_through: not counted
              });
  expect_rows(run(report::latency_sql(true, {})),
              {
                  {"c1", "impression_to_click", "2", "20", "28", "29.8"},
                  {"c1", "click_to_conversion", "2", "2700", "3420", "3582"},
                  {"c2", "impression_to_click", "1", "50", "50", "50"},
                  {"c2", "click_to_conversion", "1", "1750", "1750", "1750"},
              });
  report::TimeRange none;
  none.to_us = 0;
  expect_rows(run(report::latency_sql(false, none)), {
                                                         {"impression_to_click", "0", "NULL", "NULL", "NULL"},
                                                         {"click_to_conversion", "0", "NULL", "NULL", "NULL"},
                                                     });
}

TEST_F(ReportQueries, FrequencyBuckets) {
  // u5 sees c3 4 times, u6 sees it 11 times, at one-minute steps on 11-03.
  store.execute(
      "INSERT INTO impressions BY NAME SELECT 'f' || u || n AS event_key, TIMESTAMP '2026-11-03 00:00:00' + "
      "INTERVAL (n) MINUTE AS event_time, 'cr4' AS creative_id, 'c3' AS campaign_id, u AS user_id FROM "
      "(SELECT 'u5' AS u, range AS n FROM range(4) UNION ALL SELECT 'u6', range FROM range(11))");
  ResultTable r = store.query_read_only(report::frequency_sql(false, {}));
  EXPECT_EQ(test::column_names(r), (std::vector<std::string>{"impressions_per_user", "users", "impressions",
                                                             "converting_users", "conversion_rate"}));
  expect_rows(run(report::frequency_sql(false, {})),
              {
                  {"1", "3", "3", "2", "0.6666666666666666"},  // u2, u3 (converts), u4 (converts)
                  {"2", "1", "2", "1", "1.0"},                 // u1
                  {"3", "0", "0", "0", "NULL"},
                  {"4-5", "1", "4", "0", "0.0"},
                  {"6-10", "0", "0", "0", "NULL"},
                  {"11+", "1", "11", "0", "0.0"},
              });
  Rows by = run(report::frequency_sql(true, {}));
  ASSERT_EQ(by.size(), 18u);  // c1, c2, c3: six buckets each
  Rows non_empty;
  for (const auto& row : by)
    if (row[2] != "0") non_empty.push_back(row);
  expect_rows(non_empty, {
                             {"c1", "1", "1", "1", "0", "0.0"},  // u2 converted, but not for c1
                             {"c1", "2", "1", "2", "1", "1.0"},
                             {"c2", "1", "1", "1", "1", "1.0"},
                             {"c3", "1", "1", "1", "1", "1.0"},
                             {"c3", "4-5", "1", "4", "0", "0.0"},
                             {"c3", "11+", "1", "11", "0", "0.0"},
                         });
  EXPECT_EQ(by[2], (std::vector<std::string>{"c1", "3", "0", "0", "0", "NULL"}));
}

TEST(ReportFormat, HumanizeForTheTable) {
  DuckDbStore store(":memory:");
  const ResultTable r = store.query(
      "SELECT * FROM (VALUES ('1234567', 23::UTINYINT, 1234567::BIGINT, 0.023123::DOUBLE, 12345.678::DOUBLE, "
      "3.14159::DOUBLE), ('x', 0, -1000, 1.0, 0.004, NULL), ('y', 1, 999, NULL, 'nan'::DOUBLE, 0.0)) "
      "t(campaign_id, hour, impressions, ctr, spend, roas)");
  const TextTable h = report::humanize(r);
  EXPECT_EQ(h.right_align, (std::vector<uint8_t>{0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(h.rows, (Rows{{"1234567", "23", "1,234,567", "2.31%", "12,345.68", "3.14"},
                          {"x", "0", "-1,000", "100.00%", "0.00", ""},
                          {"y", "1", "999", "", "nan", "0.00"}}));
}

TEST(ReportArgs, DimensionsAndTimeBounds) {
  report::Dimension d{};
  EXPECT_TRUE(report::parse_dimension("device", &d));
  EXPECT_EQ(report::dimension_column(d), "device_type");
  EXPECT_FALSE(report::parse_dimension("device_type", &d));
  EXPECT_EQ(report::dimension_names().size(), 7u);
  int64_t us = 0;
  EXPECT_TRUE(report::parse_time_bound("2026-11-02", &us));
  EXPECT_EQ(us, int64_t(20759) * 86400000000);
  EXPECT_TRUE(report::parse_time_bound("2026-11-01T01:00:00+01:00", &us));
  EXPECT_EQ(us, int64_t(20758) * 86400000000);
  EXPECT_FALSE(report::parse_time_bound("yesterday", &us));
  EXPECT_FALSE(report::parse_time_bound("2026-13-01", &us));
}

}  // namespace
}  // namespace advx
