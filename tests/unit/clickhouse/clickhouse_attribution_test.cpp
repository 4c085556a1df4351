// Attribution on ClickHouse (store/clickhouse/clickhouse_attribution.cpp) equals attribution on DuckDB: the
// same rows go into a DuckDbStore(":memory:") and into a real clickhouse-server (18.16 here), both stores
// run their passes, and the attribution columns of clicks and conversions, bid_requests.won and the
// non-zero rows of campaign_hourly are compared row by row as text. The cases are those of
// tests/e2e/attribution_e2e_test.cpp (every boundary, late impressions, the win moving between campaigns),
// exact money, a pass with nothing owed, a pass killed midway, rows stored without their debt, and random
// events in random runs.
#include "store/clickhouse/clickhouse_attribution.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../../support/store_test_util.hpp"
#include "clickhouse_fixture.hpp"
#include "core/table_buffer.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/row_binary.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx::test {
namespace {

namespace ch = clickhouse;

int64_t ts(const std::string& text) {
  int64_t us = 0;
  EXPECT_TRUE(parse_timestamp_text(text, &us)) << text;
  return us;
}

// One run's rows: impressions, clicks, conversions and bid requests, all with the run's ingested_at.
struct Batch {
  explicit Batch(int64_t at) : ingested_at(at) {}
  int64_t ingested_at;
  TableBuffer imps{tables::kImpressions}, clicks{tables::kClicks}, convs{tables::kConversions},
      bids{tables::kBidRequests};
  uint64_t record = 0;

  // The creatives of the e2e test: cr1, cr2 -> c1, cr3 -> c2; any other has no campaign.
  static std::string campaign_of(const std::string& creative) {
    if (creative == "cr1" || creative == "cr2") return "c1";
    if (creative == "cr3") return "c2";
    return "";
  }
  Batch& imp(const std::string& key, const std::string& user, const std::string& creative, int64_t t,
             const std::string& auction = "", double price = -1) {
    using namespace col;
    const size_t r = imps.add_row();
    imps.set_owned_str(imp_event_key, r, key);
    imps.set_owned_str(imp_impression_id, r, key);
    imps.set_i64(imp_event_time, r, t);
    imps.set_i32(imp_event_date, r, date_of(t));
    imps.set_u8(imp_event_hour, r, hour_of(t));
    imps.set_owned_str(imp_creative_id, r, creative);
    const std::string campaign = campaign_of(creative);
    if (!campaign.empty()) imps.set_owned_str(imp_campaign_id, r, campaign);
    imps.set_owned_str(imp_user_id, r, user);
    imps.set_owned_str(imp_site, r, "example.com");
    if (!auction.empty()) imps.set_owned_str(imp_auction_id, r, auction);
    if (price >= 0) imps.set_f64(imp_win_price_cpm, r, price);
    imps.set_bool(imp_unknown_creative, r, campaign.empty());
    imps.set_owned_str(imp_source, r, "imps");
    imps.set_u64(imp_source_record, r, record++);
    imps.set_i64(imp_ingested_at, r, ingested_at);
    return *this;
  }
  void event(TableBuffer& b, const std::string& key, const std::string& user, const std::string& campaign,
             const std::string& creative, int64_t t) {
    using namespace col;
    const size_t r = b.add_row();
    b.set_owned_str(ev_event_key, r, key);
    b.set_owned_str(ev_event_id, r, key);
    b.set_i64(ev_event_time, r, t);
    b.set_i32(ev_event_date, r, date_of(t));
    b.set_u8(ev_event_hour, r, hour_of(t));
    b.set_owned_str(ev_user_id, r, user);
    b.set_owned_str(ev_campaign_id, r, campaign);
    if (!creative.empty()) b.set_owned_str(ev_creative_id, r, creative);
  }
  Batch& click(const std::string& key, const std::string& user, const std::string& campaign,
               const std::string& creative, int64_t t) {
    using namespace col;
    event(clicks, key, user, campaign, creative, t);
    const size_t r = clicks.rows() - 1;
    clicks.set_bool(clk_unknown_campaign, r, campaign != "c1" && campaign != "c2");
    clicks.set_owned_str(clk_source, r, "clicks");
    clicks.set_u64(clk_source_record, r, record++);
    clicks.set_i64(clk_ingested_at, r, ingested_at);
    return *this;
  }
  Batch& conv(const std::string& key, const std::string& user, const std::string& campaign, int64_t t,
              double value = 0) {
    using namespace col;
    event(convs, key, user, campaign, "", t);
    const size_t r = convs.rows() - 1;
    convs.set_owned_str(conv_conversion_type, r, "purchase");
    convs.set_f64(conv_conversion_value, r, value);
    convs.set_bool(conv_unknown_campaign, r, campaign != "c1" && campaign != "c2");
    convs.set_owned_str(conv_source, r, "convs");
    convs.set_u64(conv_source_record, r, record++);
    convs.set_i64(conv_ingested_at, r, ingested_at);
    return *this;
  }
  Batch& bid(const std::string& auction, int64_t t) {
    using namespace col;
    const size_t r = bids.add_row();
    bids.set_owned_str(bid_auction_id, r, auction);
    bids.set_i64(bid_event_time, r, t);
    bids.set_i32(bid_event_date, r, date_of(t));
    bids.set_u8(bid_event_hour, r, hour_of(t));
    bids.set_owned_str(bid_source, r, "bids");
    bids.set_u64(bid_source_record, r, record++);
    bids.set_i64(bid_ingested_at, r, ingested_at);
    bids.set_bool(bid_won, r, false);
    return *this;
  }
  std::vector<TableBuffer*> buffers() { return {&imps, &clicks, &convs, &bids}; }
};

// The compared columns of each table, as DuckDB and ClickHouse write them (won as a number on both).
struct Compared {
  const char* name;
  const char* duckdb;
  const char* clickhouse;  // {} = the database
};
const Compared kCompared[] = {
    {"clicks",
     "SELECT event_key, attribution, attributed_impression_key, seconds_from_impression FROM clicks ORDER BY "
     "event_key, epoch_us(event_time)",
     "SELECT event_key, attribution, attributed_impression_key, seconds_from_impression FROM {}.clicks FINAL "
     "ORDER BY event_key, event_time_us"},
    {"conversions",
     "SELECT event_key, attribution, attributed_click_key, attributed_impression_key, seconds_from_touch "
     "FROM "
     "conversions ORDER BY event_key, epoch_us(event_time)",
     "SELECT event_key, attribution, attributed_click_key, attributed_impression_key, seconds_from_touch "
     "FROM "
     "{}.conversions FINAL ORDER BY event_key, event_time_us"},
    {"bid_requests",
     "SELECT auction_id, won::INTEGER AS won FROM bid_requests ORDER BY auction_id, epoch_us(event_time)",
     "SELECT auction_id, toInt32(won) AS won FROM {}.bid_requests FINAL ORDER BY auction_id, event_time_us"},
    {"campaign_hourly",
     "SELECT epoch_us(hour) AS hour_us, campaign_id, bid_requests_won, impressions, spend, clicks, "
     "attributed_clicks, orphan_clicks, conversions, click_through_conversions, view_through_conversions, "
     "unattributed_conversions, conversion_value FROM campaign_hourly ORDER BY hour_us, campaign_id NULLS "
     "FIRST",
     "SELECT hour_us, campaign_id, bid_requests_won, impressions, spend, clicks, attributed_clicks, "
     "orphan_clicks, conversions, click_through_conversions, view_through_conversions, "
     "unattributed_conversions, conversion_value FROM {}.campaign_hourly FINAL WHERE bid_requests_won + "
     "impressions + clicks + conversions > 0 ORDER BY hour_us, campaign_id NULLS FIRST"},
};

std::string with_db(std::string sql, const std::string& db) {
  for (size_t p; (p = sql.find("{}")) != std::string::npos;) sql.replace(p, 2, db);
  return sql;
}

// Rows as text with NULL marked, so NULL and '' differ.
std::vector<std::string> rows_text(const ResultTable& r) {
  std::vector<std::string> out;
  for (size_t i = 0; i < r.rows(); i++) {
    std::string line;
    for (size_t c = 0; c < r.columns.size(); c++) {
      if (c) line += " | ";
      line += r.columns[c].is_null(i) ? "NULL" : r.columns[c].text_at(i);
    }
    out.push_back(line);
  }
  return out;
}

class ClickHouseAttribution : public ClickHouseTest {
 protected:
  void SetUp() override {
    ClickHouseTest::SetUp();
    if (HasFatalFailure()) return;
    db_ = std::string("attr_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    c_ = client();
    c_->execute("DROP DATABASE IF EXISTS " + db_);
    c_->execute(ch::create_database_sql(db_));
    for (const TableDef* t : tables::kAll) c_->execute(ch::create_table_sql(*t, db_));
    duck_ = std::make_unique<DuckDbStore>(":memory:");
    duck_->ensure_schema();
  }
  void TearDown() override {
    if (c_) c_->execute("DROP DATABASE IF EXISTS " + db_);
  }

  // Stores a run in both stores, with its debt (or, `debt` false, in ClickHouse without it: a micro-batch
  // killed between its event inserts and its debt).
  void store(Batch& run, bool debt = true) {
    duck_->begin();
    for (TableBuffer* b : run.buffers())
      if (b->rows()) duck_->append(b->slice());
    duck_->owe_attribution(run.ingested_at);
    duck_->commit();
    for (TableBuffer* b : run.buffers()) {
      if (!b->rows()) continue;
      const TableSlice slice = b->slice();
      c_->insert(ch::insert_prefix(b->def(), db_), ch::row_binary(slice), false);
    }
    if (debt) ch::insert_debt(*c_, db_, run.ingested_at);
  }
  AttributionResult pass_duckdb() { return duck_->attribute_pending(windows_); }
  AttributionResult pass_clickhouse(ch::AttributionStop stop = ch::AttributionStop::never) {
    return ch::attribute_pending(*c_, db_, windows_, {}, stop);
  }
  void both_passes() {
    pass_duckdb();
    pass_clickhouse();
  }
  std::vector<std::string> duck_rows(const Compared& t) { return rows_text(duck_->query(t.duckdb)); }
  std::vector<std::string> ch_rows(const Compared& t) {
    return rows_text(c_->query(with_db(t.clickhouse, db_)));
  }
  // Every compared table equal on both stores; the number of rows of the table named `nonempty` > 0.
  void expect_same(const std::string& where) {
    for (const Compared& t : kCompared) {
      const auto d = duck_rows(t);
      const auto c = ch_rows(t);
      EXPECT_EQ(c, d) << where << ": " << t.name;
    }
  }
  std::vector<std::string> duck(const std::string& sql) { return rows_text(duck_->query(sql)); }
  std::vector<std::string> chq(const std::string& sql) { return rows_text(c_->query(with_db(sql, db_))); }
  // Rows of each versioned table, every version counted.
  std::string versions() {
    std::string out;
    for (const char* t :
         {"clicks", "conversions", "bid_requests", "campaign_hourly", "advx_attribution_pending"})
      out += chq(std::string("SELECT count() FROM {}.") + t).at(0) + " ";
    return out;
  }

  std::string db_;
  std::unique_ptr<ch::HttpClient> c_;
  std::unique_ptr<DuckDbStore> duck_;
  AttributionWindows windows_;
};

const int64_t kT1 = ts("2026-11-20T00:00:00Z"), kT2 = kT1 + 1000, kT3 = kT1 + 2000, kT4 = kT1 + 3000;

TEST_F(ClickHouseAttribution, ClicksAtEveryBoundary) {
  Batch imps(kT1);
  imps.imp("i-edge", "u1", "cr1", ts("2026-11-01T10:00:00Z"))   // exactly 1 h before k-edge
      .imp("i-past", "u2", "cr1", ts("2026-11-01T10:00:00Z"))   // 1 h + 1 µs before k-past
      .imp("i-tie-b", "u3", "cr1", ts("2026-11-01T10:00:00Z"))  // a tie: the smaller key wins
      .imp("i-tie-a", "u3", "cr1", ts("2026-11-01T10:00:00Z"))
      .imp("i-older", "u4", "cr1", ts("2026-11-01T10:00:00Z"))  // the latest one wins
      .imp("i-newer", "u4", "cr2", ts("2026-11-01T10:10:00Z"))
      .imp("i-after", "u5", "cr1", ts("2026-11-01T10:30:00.000001Z"))  // after the click: never
      .imp("i-cr1", "u6", "cr1", ts("2026-11-01T10:20:00Z"))           // the click names cr2
      .imp("i-other-campaign", "u7", "cr3", ts("2026-11-01T10:20:00Z"))
      .imp("i-unknown", "u1", "cr9", ts("2026-11-01T10:20:00Z"));  // no campaign: attributes nothing
  store(imps);
  both_passes();
  Batch clicks(kT2);
  clicks.click("k-edge", "u1", "c1", "", ts("2026-11-01T11:00:00Z"))
      .click("k-past", "u2", "c1", "", ts("2026-11-01T11:00:00.000001Z"))
      .click("k-tie", "u3", "c1", "", ts("2026-11-01T10:30:00Z"))
      .click("k-latest", "u4", "c1", "", ts("2026-11-01T10:30:00Z"))
      .click("k-creative", "u4", "c1", "cr1", ts("2026-11-01T10:30:00Z"))
      .click("k-after", "u5", "c1", "", ts("2026-11-01T10:30:00Z"))
      .click("k-wrong-creative", "u6", "c1", "cr2", ts("2026-11-01T10:30:00Z"))
      .click("k-wrong-campaign", "u7", "c1", "", ts("2026-11-01T10:30:00Z"))
      .click("k-unknown-campaign", "u1", "c9", "", ts("2026-11-01T10:30:00Z"));
  store(clicks);
  const AttributionResult d = pass_duckdb();
  const AttributionResult c = pass_clickhouse();
  EXPECT_EQ(c.pairs, d.pairs);
  EXPECT_EQ(c.clicks, d.clicks);
  EXPECT_EQ(c.conversions, d.conversions);
  expect_same("after the clicks");
  // The e2e test's answers, on ClickHouse.
  EXPECT_EQ(chq("SELECT event_key, attribution, attributed_impression_key, seconds_from_impression FROM "
                "{}.clicks FINAL ORDER BY event_key"),
            (std::vector<std::string>{
                "k-after | orphan | NULL | NULL", "k-creative | attributed | i-older | 1800.0",
                "k-edge | attributed | i-edge | 3600.0", "k-latest | attributed | i-newer | 1200.0",
                "k-past | orphan | NULL | NULL", "k-tie | attributed | i-tie-a | 1800.0",
                "k-unknown-campaign | orphan | NULL | NULL", "k-wrong-campaign | orphan | NULL | NULL",
                "k-wrong-creative | orphan | NULL | NULL"}));
}

TEST_F(ClickHouseAttribution, LateImpressionsReattributeInALaterRun) {
  Batch events(kT1);
  events.click("k1", "u1", "c1", "", ts("2026-11-01T10:30:00Z"))
      .conv("v1", "u1", "c1", ts("2026-11-02T10:00:00Z"), 10.5)
      .conv("v2", "u2", "c1", ts("2026-11-01T12:00:00Z"), 0.3)
      .conv("v3", "u3", "c1", ts("2026-11-03T10:00:00.000001Z"));
  store(events);
  both_passes();
  expect_same("clicks and conversions alone");
  EXPECT_EQ(chq("SELECT event_key, attribution, attributed_click_key, attributed_impression_key, "
                "seconds_from_touch FROM {}.conversions FINAL ORDER BY event_key"),
            (std::vector<std::string>{"v1 | click_through | k1 | NULL | 84600.0",
                                      "v2 | unattributed | NULL | NULL | NULL",
                                      "v3 | unattributed | NULL | NULL | NULL"}));
  // The impressions a run later: the click and the conversions are attributed again.
  Batch late(kT2);
  late.imp("i1", "u1", "cr1", ts("2026-11-01T10:00:00Z"), "", 1.25)
      .imp("i2", "u2", "cr1", ts("2026-11-01T11:00:00Z"), "", 0.3)
      .imp("i3", "u3", "cr2", ts("2026-11-02T10:00:00Z"), "a3", 2.675);  // 1 day + 1 µs before v3
  store(late);
  both_passes();
  expect_same("late impressions");
  EXPECT_EQ(chq("SELECT event_key, attribution, attributed_click_key, attributed_impression_key, "
                "seconds_from_touch FROM {}.conversions FINAL ORDER BY event_key"),
            (std::vector<std::string>{"v1 | click_through | k1 | i1 | 84600.0",
                                      "v2 | view_through | NULL | i2 | 3600.0",
                                      "v3 | unattributed | NULL | NULL | NULL"}));
  // A bid request stored after the impression naming it is won; one no impression names is not.
  Batch bids(kT3);
  bids.bid("a3", ts("2026-11-01T09:00:00Z")).bid("a9", ts("2026-11-01T09:00:00Z"));
  store(bids);
  both_passes();
  expect_same("bid requests");
  EXPECT_EQ(chq("SELECT auction_id, toInt32(won) FROM {}.bid_requests FINAL ORDER BY 1"),
            (std::vector<std::string>{"a3 | 1", "a9 | 0"}));
  // And an impression stored after its bid request marks it too.
  Batch later(kT4);
  later.imp("i9", "u9", "cr1", ts("2026-11-01T09:00:01Z"), "a9");
  store(later);
  both_passes();
  expect_same("an impression after its bid request");
  EXPECT_EQ(chq("SELECT auction_id, toInt32(won) FROM {}.bid_requests FINAL ORDER BY 1"),
            (std::vector<std::string>{"a3 | 1", "a9 | 1"}));
}

TEST_F(ClickHouseAttribution, LaterImpressionMovesTheWinBetweenCampaigns) {
  Batch bids(kT1);
  bids.bid("a1", ts("2026-11-01T09:00:00Z"));
  store(bids);
  both_passes();
  Batch first(kT2);
  first.imp("i9", "u1", "cr3", ts("2026-11-01T09:00:01Z"), "a1");  // c2
  store(first);
  both_passes();
  expect_same("the first impression");
  EXPECT_EQ(chq("SELECT campaign_id, bid_requests_won, impressions FROM {}.campaign_hourly FINAL ORDER BY 1"),
            (std::vector<std::string>{"c2 | 1 | 1"}));
  Batch second(kT3);
  second.imp("i1", "u2", "cr1", ts("2026-11-01T09:00:02Z"), "a1");  // c1, a smaller key
  store(second);
  both_passes();
  expect_same("the win moved");
  EXPECT_EQ(chq("SELECT campaign_id, bid_requests_won, impressions FROM {}.campaign_hourly FINAL ORDER BY 1"),
            (std::vector<std::string>{"c1 | 1 | 1", "c2 | 0 | 1"}));
}

// The rollup's money is exact and equal: DuckDB rounds each double to 9 decimals (half away from zero),
// which 18.16's toDecimal (truncating) does not; and a key whose counts go to nothing.
TEST_F(ClickHouseAttribution, MoneyIsExactAndEqual) {
  Batch run(kT1);
  const double prices[] = {0.3,
                           2.675,
                           0.1,
                           1e-10,
                           0.0000000025,
                           0.0000000015,
                           123.4567891239999,
                           1.0000000004999,
                           7.0000000005,
                           19.99,
                           0.000000000499999,
                           1e9 + 0.0000005};
  int n = 0;
  for (double p : prices) {
    run.imp("p" + std::to_string(n), "u" + std::to_string(n % 3), n % 2 ? "cr1" : "cr3",
            ts("2026-11-01T10:00:00Z") + n * 600'000'000LL, "", p);
    run.conv("v" + std::to_string(n), "u" + std::to_string(n % 3), n % 2 ? "c1" : "c2",
             ts("2026-11-01T10:05:00Z") + n * 600'000'000LL, p * 3);
    n++;
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; i++) {
    const double p = std::uniform_real_distribution<double>(0, 50)(rng);
    const double rounded = std::round(p * 1e4) / 1e4;  // prices as people write them
    run.imp("r" + std::to_string(i), "ur", "cr2", ts("2026-11-01T12:00:00Z") + i * 1'000'000LL, "",
            i % 2 ? p : rounded);
  }
  store(run);
  both_passes();
  expect_same("money");
  EXPECT_GE(std::stoi(chq("SELECT count() FROM {}.campaign_hourly FINAL WHERE impressions > 0").at(0)), 5);
}

// A second pass with nothing owed changes nothing; one with new rows writes only what changed.
TEST_F(ClickHouseAttribution, APassWithNothingOwedChangesNothing) {
  Batch run(kT1);
  run.imp("i1", "u1", "cr1", ts("2026-11-01T10:00:00Z"), "a1", 1.5)
      .click("k1", "u1", "c1", "", ts("2026-11-01T10:10:00Z"))
      .conv("v1", "u1", "c1", ts("2026-11-01T11:00:00Z"), 3)
      .bid("a1", ts("2026-11-01T09:59:59Z"));
  store(run);
  both_passes();
  expect_same("one run");
  const std::string before = versions();
  const AttributionResult again = pass_clickhouse();
  EXPECT_EQ(again.pairs, 0u);
  EXPECT_EQ(versions(), before);
  expect_same("again");
  // A run of an unrelated pair: the first pair's rows get no new version.
  Batch other(kT2);
  other.click("k2", "u2", "c2", "", ts("2026-11-01T10:10:00Z"));
  store(other);
  both_passes();
  expect_same("another pair");
  EXPECT_EQ(chq("SELECT count() FROM {}.clicks WHERE event_key = 'k1'").at(0), "2");  // stored + 1 version
}

// A pass killed after its click versions (before conversions, bid requests, rollup, debts and mark) is
// completed by the next one, with the same result.
TEST_F(ClickHouseAttribution, APassKilledMidwayIsCompletedByTheNext) {
  Batch run(kT1);
  run.imp("i1", "u1", "cr1", ts("2026-11-01T10:00:00Z"), "a1", 1.5)
      .imp("i2", "u1", "cr1", ts("2026-11-01T10:20:00Z"), "", 2)
      .click("k1", "u1", "c1", "", ts("2026-11-01T10:30:00Z"))
      .conv("v1", "u1", "c1", ts("2026-11-01T11:00:00Z"), 3)
      .bid("a1", ts("2026-11-01T09:59:59Z"));
  store(run);
  pass_duckdb();
  pass_clickhouse(ch::AttributionStop::after_clicks);
  EXPECT_EQ(chq("SELECT attribution FROM {}.clicks FINAL").at(0), "attributed");
  EXPECT_EQ(chq("SELECT count() FROM {}.conversions FINAL WHERE attribution IS NULL").at(0), "1");
  EXPECT_EQ(chq("SELECT count() FROM {}.advx_attribution_pending FINAL WHERE advx_version = 0").at(0), "1");
  pass_clickhouse();
  expect_same("completed");
  EXPECT_EQ(chq("SELECT count() FROM {}.advx_attribution_pending FINAL WHERE advx_version = 0").at(0), "0");
  EXPECT_EQ(pass_clickhouse().pairs, 0u);
}

// Rows stored without their debt (a micro-batch killed between its event inserts and its debt) are
// attributed by the next pass, whatever it owes.
TEST_F(ClickHouseAttribution, RowsStoredWithoutTheirDebtAreAttributed) {
  Batch first(kT1);
  first.imp("i1", "u1", "cr1", ts("2026-11-01T10:00:00Z"), "a1", 1.5);
  store(first);
  both_passes();
  Batch lost(kT2);
  lost.click("k1", "u1", "c1", "", ts("2026-11-01T10:30:00Z")).bid("a1", ts("2026-11-01T09:59:00Z"));
  store(lost, false);
  pass_duckdb();
  pass_clickhouse();  // no debt at all: the rows above the mark
  expect_same("without a debt");
  Batch next(kT3);
  next.conv("v1", "u1", "c1", ts("2026-11-01T11:00:00Z"), 3);
  store(next);
  both_passes();
  expect_same("and a later run");
}

// Debts are kept with the version that paid them; days paid a week before the mark are dropped whole.
TEST_F(ClickHouseAttribution, DaysOfPaidDebtsAreDropped) {
  const int64_t day = kMicrosPerDay;
  Batch old(kT1 - 10 * day);
  old.imp("i1", "u1", "cr1", ts("2026-11-01T10:00:00Z"), "a1", 1.5);
  store(old);
  Batch owed(kT1 - 9 * day);  // stored, owed, and paid by the same pass as the newer one
  owed.click("k1", "u1", "c1", "", ts("2026-11-01T10:30:00Z"));
  store(owed);
  both_passes();
  const std::string days =
      "SELECT DISTINCT partition FROM system.parts WHERE database = '{}' AND table = "
      "'advx_attribution_pending' AND active ORDER BY 1";
  EXPECT_EQ(chq(days).size(), 2u);  // the mark is their own day: kept
  Batch now(kT1);
  now.conv("v1", "u1", "c1", ts("2026-11-01T11:00:00Z"), 2);
  store(now);
  both_passes();
  expect_same("after the drop");
  EXPECT_EQ(chq(days), std::vector<std::string>{std::to_string(kT1 / day)});
  EXPECT_EQ(pass_clickhouse().pairs, 0u);  // what was dropped was paid: nothing is owed again
  expect_same("again");
}

// Random events over few users, campaigns and auctions with times at the windows' edges, stored in DuckDB
// in one run and in ClickHouse in random runs in random order: the same results.
TEST_F(ClickHouseAttribution, RandomRunsInAnyOrderEqualOneRun) {
  std::mt19937_64 rng(20261203);
  const int64_t base = ts("2026-11-01T10:00:00Z");
  const int64_t steps[] = {0,
                           1,
                           windows_.click_us,
                           windows_.click_us + 1,
                           windows_.view_through_us,
                           windows_.view_through_us + 1,
                           600'000'000,
                           1'800'000'000};
  auto pick = [&](int n) { return int(std::uniform_int_distribution<int>(0, n - 1)(rng)); };
  auto when = [&] { return base + steps[pick(8)] + steps[pick(8)] - steps[pick(8)] / 2; };
  const char* creatives[] = {"cr1", "cr2", "cr3", "cr9"};
  struct Ev {
    int kind;
    std::string key, user, creative, auction;
    int64_t t;
    double price;
  };
  std::vector<Ev> evs;
  for (int i = 0; i < 300; i++) {
    Ev e;
    e.kind = pick(10) < 5 ? 0 : pick(3) + 1;  // impression, click, conversion, bid request
    e.key = "e" + std::to_string(pick(1000));
    e.user = "u" + std::to_string(pick(6));
    e.creative = creatives[pick(4)];
    e.auction = pick(3) ? "a" + std::to_string(pick(40)) : "";
    e.t = when();
    e.price = pick(5) * 0.35;
    evs.push_back(e);
  }
  // Unique keys per table (the dedup's job upstream).
  std::set<std::string> seen;
  std::vector<Ev> unique;
  for (const Ev& e : evs)
    if (seen.insert(std::to_string(e.kind) + (e.kind == 3 ? e.auction : e.key)).second &&
        (e.kind != 3 || !e.auction.empty()))
      unique.push_back(e);
  auto add = [](Batch& r, const Ev& e) {
    const std::string campaign =
        Batch::campaign_of(e.creative).empty() ? "c1" : Batch::campaign_of(e.creative);
    if (e.kind == 0) r.imp(e.key, e.user, e.creative, e.t, e.auction, e.price);
    if (e.kind == 1) r.click(e.key, e.user, campaign, e.key.back() % 2 ? e.creative : "", e.t);
    if (e.kind == 2) r.conv(e.key, e.user, campaign, e.t, e.price);
    if (e.kind == 3) r.bid(e.auction, e.t);
  };
  // DuckDB: one run.
  {
    Batch all(kT1);
    for (const Ev& e : unique) add(all, e);
    duck_->begin();
    for (TableBuffer* b : all.buffers())
      if (b->rows()) duck_->append(b->slice());
    duck_->owe_attribution(all.ingested_at);
    duck_->commit();
    pass_duckdb();
  }
  // ClickHouse: shuffled, in runs of random sizes, a pass after each.
  std::shuffle(unique.begin(), unique.end(), rng);
  int64_t at = kT1;
  for (size_t i = 0; i < unique.size();) {
    const size_t n = std::min(unique.size() - i, size_t(20 + pick(80)));
    Batch r(at += 1000);
    for (size_t j = i; j < i + n; j++) add(r, unique[j]);
    for (TableBuffer* b : r.buffers())
      if (b->rows()) c_->insert(ch::insert_prefix(b->def(), db_), ch::row_binary(b->slice()), false);
    ch::insert_debt(*c_, db_, r.ingested_at);
    pass_clickhouse();
    i += n;
  }
  expect_same("random runs");
  EXPECT_GT(std::stoi(duck("SELECT count() FROM clicks WHERE attribution = 'attributed'").at(0)), 0);
  EXPECT_GT(std::stoi(duck("SELECT count() FROM conversions WHERE attribution = 'view_through'").at(0)), 0);
  EXPECT_GT(std::stoi(duck("SELECT count() FROM bid_requests WHERE won").at(0)), 0);
}

}  // namespace
}  // namespace advx::test

namespace advx::test {
namespace {

// A first pass over ADVX_CH_ATTR_IMPRESSIONS impressions (1M by default; 10M for the figure in the
// report), with a click per 50, a conversion per 200 and three bid requests per impression, under a 1 GB
// max_memory_usage: it must finish, and say how long it took. Slow: not in the default run.
class ClickHouseAttributionSlow : public ClickHouseAttribution {};

TEST_F(ClickHouseAttributionSlow, FirstPassOverManyImpressionsFitsInMemory) {
  const char* env = std::getenv("ADVX_CH_ATTR_IMPRESSIONS");
  const int64_t n = env ? std::atoll(env) : 1'000'000;
  const std::string N = std::to_string(n), at = std::to_string(kT1);
  const std::string base = std::to_string(ts("2026-11-01T00:00:00Z"));
  const auto time = [&](const std::string& i) { return "(" + base + " + " + i + " * 50000)"; };
  const auto date = [&](const std::string& us) { return "toDate(intDiv(" + us + ", 1000000))"; };
  const auto t0 = std::chrono::steady_clock::now();
  c_->execute(
      "INSERT INTO " + db_ +
      ".impressions (event_key, event_time_us, event_date, event_hour, creative_id, campaign_id, user_id, "
      "auction_id, win_price_cpm, source, source_record, ingested_at_us) SELECT concat('i', "
      "toString(number)), " +
      time("number") + ", " + date(time("number")) +
      ", 0, 'cr', concat('c', toString(number % 50)), concat('u', toString(number % " +
      std::to_string(n / 4) + ")), concat('a', toString(number)), (number % 1000) / 100, 'imps', number, " +
      at + " FROM numbers(" + N + ")");
  c_->execute("INSERT INTO " + db_ +
              ".clicks (event_key, event_time_us, event_date, event_hour, user_id, campaign_id, source, "
              "source_record, "
              "ingested_at_us) SELECT concat('k', toString(number)), " +
              time("number * 50") + " + 30000000, " + date(time("number * 50")) +
              ", 0, concat('u', toString(number * 50 % " + std::to_string(n / 4) +
              ")), concat('c', toString(number * 50 % 50)), 'clicks', number, " + at + " FROM numbers(" +
              std::to_string(n / 50) + ")");
  c_->execute(
      "INSERT INTO " + db_ +
      ".conversions (event_key, event_time_us, event_date, event_hour, user_id, campaign_id, "
      "conversion_value, source, source_record, ingested_at_us) SELECT concat('v', toString(number)), " +
      time("number * 200") + " + 600000000, " + date(time("number * 200")) +
      ", 0, concat('u', toString(number * 200 % " + std::to_string(n / 4) +
      ")), concat('c', toString(number * 200 % 50)), 1.5, 'convs', number, " + at + " FROM numbers(" +
      std::to_string(n / 200) + ")");
  c_->execute("INSERT INTO " + db_ +
              ".bid_requests (auction_id, event_time_us, event_date, event_hour, source, source_record, "
              "ingested_at_us, won) SELECT concat('a', toString(number)), " +
              time("number / 3") + ", " + date(time("number / 3")) + ", 0, 'bids', number, " + at +
              ", 0 FROM numbers(" + std::to_string(3 * n) + ")");
  ch::insert_debt(*c_, db_, kT1);
  const auto t1 = std::chrono::steady_clock::now();
  const AttributionResult r = ch::attribute_pending(*c_, db_, windows_, {{"max_memory_usage", "1000000000"}});
  const auto t2 = std::chrono::steady_clock::now();
  std::printf(
      "%lld impressions: stored in %.1f s, attributed in %.1f s (%llu pairs, %llu clicks, %llu "
      "conversions)\n",
      (long long)n, std::chrono::duration<double>(t1 - t0).count(),
      std::chrono::duration<double>(t2 - t1).count(), (unsigned long long)r.pairs,
      (unsigned long long)r.clicks, (unsigned long long)r.conversions);
  EXPECT_EQ(r.clicks, uint64_t(n / 50));
  EXPECT_EQ(chq("SELECT count() FROM {}.clicks FINAL WHERE attribution = 'attributed'").at(0),
            std::to_string(n / 50));
  EXPECT_EQ(chq("SELECT count() FROM {}.bid_requests FINAL WHERE won = 1").at(0), N);
  EXPECT_EQ(chq("SELECT sum(impressions), sum(bid_requests_won) FROM {}.campaign_hourly FINAL").at(0),
            N + " | " + N);
  // And a second pass, with nothing owed, is quick.
  const auto t3 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch::attribute_pending(*c_, db_, windows_).pairs, 0u);
  std::printf("second pass: %.2f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t3).count());
}

}  // namespace
}  // namespace advx::test
