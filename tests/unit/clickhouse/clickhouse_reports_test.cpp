// advx report on ClickHouse (store/clickhouse/clickhouse_reports.hpp) gives the DuckDB store's bytes: the
// same rows, stored in a DuckDbStore(":memory:") and copied from it into a real clickhouse-server (18.16
// here) through RowBinary, so that both hold the very same values, give the same format_csv, format_json
// and humanized format_table of every report variant that tests/unit/duckdb/duckdb_reports_test.cpp
// covers, on every range that test tries.
//
// ClickHouse holds more than DuckDB: older versions of rows that attribution rewrote (advx_version 0 under
// the current 1) and all-zero rollup rows (the tombstones of hours that lost their last event), so every
// comparison also checks that the reports read the current versions (FINAL) and skip the tombstones.
#include "store/clickhouse/clickhouse_reports.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../../support/store_test_util.hpp"
#include "clickhouse_fixture.hpp"
#include "core/table_schema.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/clickhouse_store.hpp"
#include "store/duckdb/duckdb_store.hpp"
#include "store/result_format.hpp"

namespace advx::test {
namespace {

namespace ch = clickhouse;
using report::Dimension;
using report::Kind;
using report::Scan;
using report::TimeRange;

// The tables attribution rewrites: ReplacingMergeTree(advx_version), read with FINAL.
constexpr const TableDef* kVersioned[] = {&tables::kClicks, &tables::kConversions, &tables::kBidRequests,
                                          &tables::kHourlyCampaign};

// ---- RowBinary of a DuckDB result -----------------------------------------------------------------------

void put_varint(uint64_t v, std::string& out) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out += char(b);
  } while (v);
}

template <class T>
void put_le(T v, std::string& out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // x86: little-endian already
  out.append(bytes, sizeof(T));
}

// The rows of `rows` (a DuckDB `SELECT *` of `def`, every column in schema order) as a RowBinary body in
// the layout of clickhouse_schema.hpp, plus advx_version when `version` is set.
// The value type a DuckDB result gives a column of this type.
ValueType duckdb_value_type(ColumnType t) {
  switch (t) {
    case ColumnType::varchar:
    case ColumnType::blob:
      return ValueType::text;
    case ColumnType::boolean:
      return ValueType::boolean;
    case ColumnType::utinyint:
    case ColumnType::integer:
    case ColumnType::bigint:
      return ValueType::integer;
    case ColumnType::ubigint:
    case ColumnType::money:
      return ValueType::decimal;
    case ColumnType::double_:
      return ValueType::real;
    case ColumnType::timestamp:
      return ValueType::timestamp;
    case ColumnType::date:
      return ValueType::date;
  }
  return ValueType::other;
}

std::string row_binary_of(const TableDef& def, const ResultTable& rows, std::optional<uint64_t> version) {
  if (rows.columns.size() != def.columns.size()) {
    ADD_FAILURE() << def.name << ": " << rows.columns.size() << " columns, not " << def.columns.size();
    return {};
  }
  for (size_t c = 0; c < def.columns.size(); ++c) {
    if (rows.columns[c].type != duckdb_value_type(def.columns[c].type)) {
      ADD_FAILURE() << def.name << "." << def.columns[c].name << " is " << rows.columns[c].engine_type;
      return {};
    }
  }
  std::string out;
  for (size_t r = 0; r < rows.rows(); ++r) {
    for (size_t c = 0; c < def.columns.size(); ++c) {
      const ResultColumn& col = rows.columns[c];
      const bool required = ch::is_required(def, c);
      if (col.is_null(r)) {
        EXPECT_FALSE(required) << def.name << "." << def.columns[c].name << " is NULL in row " << r;
        out += char(1);
        continue;
      }
      if (!required) out += char(0);
      switch (def.columns[c].type) {
        case ColumnType::varchar:
        case ColumnType::blob:
          put_varint(col.texts[r].size(), out);
          out += col.texts[r];
          break;
        case ColumnType::boolean:
        case ColumnType::utinyint:
          put_le<uint8_t>(uint8_t(col.ints[r]), out);
          break;
        case ColumnType::integer:
          put_le<int32_t>(int32_t(col.ints[r]), out);
          break;
        case ColumnType::bigint:
        case ColumnType::timestamp:
          put_le<int64_t>(col.ints[r], out);
          break;
        case ColumnType::ubigint:
          put_le<uint64_t>(uint64_t(col.decimals[r]), out);
          break;
        case ColumnType::double_:
          put_le<double>(col.reals[r], out);
          break;
        case ColumnType::date:
          put_le<uint16_t>(uint16_t(col.ints[r]), out);
          break;
        case ColumnType::money:
          EXPECT_EQ(col.scale, 12);
          put_le<__int128>(col.decimals[r], out);
          break;
      }
    }
    if (version) put_le<uint64_t>(*version, out);
  }
  return out;
}

std::string insert_prefix(const TableDef& def, const std::string& db, bool versioned) {
  std::string cols;
  for (const ColumnDef& c : def.columns)
    cols += (cols.empty() ? "" : ", ") + ch::quote_ident(ch::stored_name(c));
  if (versioned) cols += ", advx_version";
  return "INSERT INTO " + ch::quote_ident(db) + "." + ch::quote_ident(def.name) + " (" + cols +
         ") FORMAT RowBinary";
}

// The request, for failure messages.
std::string describe(const ReportRequest& q) {
  static const char* kinds[] = {"campaigns", "funnel", "latency", "frequency"};
  std::string s = kinds[int(q.kind)];
  if (q.kind == Kind::campaigns) {
    s += " --by ";
    for (Dimension d : q.by) s += std::string(report::dimension_column(d)) + ",";
  }
  if (q.by_campaign) s += " --by campaign";
  s += " [" + (q.range.from_us ? std::to_string(*q.range.from_us) : std::string("-")) + ", " +
       (q.range.to_us ? std::to_string(*q.range.to_us) : std::string("-")) + ")";
  s += q.scan == Scan::raw ? " raw" : " rollup";
  return s;
}

int64_t at(const char* text) {
  int64_t us = 0;
  EXPECT_TRUE(report::parse_time_bound(text, &us)) << text;
  return us;
}

// ---- the fixture ----------------------------------------------------------------------------------------

// The store of duckdb_reports_test.cpp (times UTC):
//   campaigns c1..c4 (adv1..adv4); c4 has no events; c9 appears only in a click (not in the dims).
//   impressions  i1 11-01 10:00 c1 cr1 u1 a.com a1 2.0 | i2 11-01 11:00 c1 cr1 u2 b.com a2 1.0
//                i3 11-02 09:00 c1 cr2 u1 a.com a3 3.0 | i4 11-01 12:00 c2 cr3 u3 a.com a4 4.0
//                i5 11-01 13:00 c3 cr4 u4 b.com a5 0.5          (win_price_cpm; spend = sum / 1000)
//   bid requests a1..a5 won, one second before their impression; a6 not won.
//   clicks       k1 u1 c1 -> i1 (30 s) | k2 u2 c2 orphan | k3 u1 c1 -> i3 (10 s) | k4 u3 c2 -> i4 (50 s)
//                k5 u9 c9 orphan
//   conversions  v1 u1 c1 click_through k1 (1800 s) 100 | v2 u1 c1 click_through k3 (3600 s) 50
//                v3 u3 c2 click_through k4 (1750 s) 20  | v4 u7 c2 unattributed 5
//                v5 u4 c3 view_through i5 (1800 s) 10
// and campaign_hourly aggregated from them as advx ingest keeps it. Each test has a database of its own.
class ClickHouseReports : public ClickHouseTest {
 protected:
  void SetUp() override {
    ClickHouseTest::SetUp();
    if (HasFatalFailure()) return;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    db_ = std::string("reports_") + info->name();
    admin_ = client();
    admin_->execute("DROP DATABASE IF EXISTS " + ch::quote_ident(db_));
    admin_->execute(ch::create_database_sql(db_));
    store_ = std::make_unique<ClickHouseStore>(server_->url(db_));
    store_->ensure_schema();
    for (const TableDef* t : kVersioned) ASSERT_TRUE(ch::is_versioned(*t)) << t->name;

    duck.ensure_schema();
    duck.execute("SET threads = 1");  // tiny queries: four times faster than on two threads here
    duck.execute(
        "INSERT INTO campaigns BY NAME SELECT * FROM (VALUES ('c1', 'adv1'), ('c2', 'adv2'), ('c3', 'adv3'), "
        "('c4', 'adv4')) v(campaign_id, advertiser_id)");
    duck.execute(
        "INSERT INTO impressions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
        "event_hour FROM (VALUES "
        "('i1', TIMESTAMP '2026-11-01 10:00:00', 'cr1', 'c1', 'u1', 'a.com', 'a1', 2.0, 'US', 'desktop'), "
        "('i2', TIMESTAMP '2026-11-01 11:00:00', 'cr1', 'c1', 'u2', 'b.com', 'a2', 1.0, 'US', 'mobile'), "
        "('i3', TIMESTAMP '2026-11-02 09:00:00', 'cr2', 'c1', 'u1', 'a.com', 'a3', 3.0, 'DE', 'desktop'), "
        "('i4', TIMESTAMP '2026-11-01 12:00:00', 'cr3', 'c2', 'u3', 'a.com', 'a4', 4.0, 'US', 'desktop'), "
        "('i5', TIMESTAMP '2026-11-01 13:00:00', 'cr4', 'c3', 'u4', 'b.com', 'a5', 0.5, 'FR', 'mobile')) "
        "v(event_key, event_time, creative_id, campaign_id, user_id, site, auction_id, win_price_cpm, "
        "country, device_type)");
    duck.execute(
        "INSERT INTO bid_requests BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
        "event_hour FROM (VALUES "
        "('a1', TIMESTAMP '2026-11-01 09:59:59', true), ('a2', TIMESTAMP '2026-11-01 10:59:59', true), "
        "('a3', TIMESTAMP '2026-11-02 08:59:59', true), ('a4', TIMESTAMP '2026-11-01 11:59:59', true), "
        "('a5', TIMESTAMP '2026-11-01 12:59:59', true), ('a6', TIMESTAMP '2026-11-01 14:00:00', false)) "
        "v(auction_id, event_time, won)");
    duck.execute(
        "INSERT INTO clicks BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS event_hour "
        "FROM (VALUES "
        "('k1', TIMESTAMP '2026-11-01 10:00:30', 'u1', 'c1', 'cr1', 'attributed', 'i1', 30.0), "
        "('k2', TIMESTAMP '2026-11-01 11:01:00', 'u2', 'c2', NULL, 'orphan', NULL, NULL), "
        "('k3', TIMESTAMP '2026-11-02 09:00:10', 'u1', 'c1', NULL, 'attributed', 'i3', 10.0), "
        "('k4', TIMESTAMP '2026-11-01 12:00:50', 'u3', 'c2', 'cr3', 'attributed', 'i4', 50.0), "
        "('k5', TIMESTAMP '2026-11-01 15:00:00', 'u9', 'c9', NULL, 'orphan', NULL, NULL)) "
        "v(event_key, event_time, user_id, campaign_id, creative_id, attribution, attributed_impression_key, "
        "seconds_from_impression)");
    duck.execute(
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

  void TearDown() override {
    if (admin_) admin_->execute("DROP DATABASE IF EXISTS " + ch::quote_ident(db_));
  }

  // campaign_hourly as advx ingest maintains it, aggregated from scratch (duckdb_reports_test.cpp; the
  // winning impression of an auction is the one naming it with the smallest event_key).
  void fill_rollup() {
    duck.execute("DELETE FROM campaign_hourly");
    duck.execute(R"sql(
      INSERT INTO campaign_hourly BY NAME
      WITH win AS (SELECT auction_id, arg_min(campaign_id, event_key) AS campaign_id FROM impressions
                   GROUP BY auction_id),
      e AS (
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
        SELECT b.event_time AS t, w.campaign_id, 1 AS bid_requests_won
        FROM bid_requests b JOIN win w ON w.auction_id = b.auction_id WHERE b.won)
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

  // `sql` (a DuckDB SELECT of all the columns of `def`, in schema order) inserted into ClickHouse's `def`
  // as one INSERT (one part), with `version` on a versioned table.
  void copy(const TableDef& def, const std::string& sql, uint64_t version) {
    const ResultTable rows = duck.query(sql);
    if (rows.rows() == 0) return;
    const bool v = ch::is_versioned(def);
    const std::string body = row_binary_of(def, rows, v ? std::optional(version) : std::nullopt);
    if (!body.empty()) store_->client().insert(insert_prefix(def, db_, v), body, false);
  }

  // The DuckDB store's tables into ClickHouse: first stale versions (what the rows were before
  // attribution rewrote them) and tombstones over hours that had rows, then the current rows, version 1.
  void load_clickhouse() {
    const std::vector<const TableDef*> plain = {&tables::kCampaigns, &tables::kImpressions};
    for (const TableDef* t : plain) copy(*t, "SELECT * FROM " + std::string(t->name), 0);
    // Stale versions of the same rows (same keys), each table in a part of its own.
    copy(tables::kClicks,
         "SELECT * REPLACE (CASE WHEN attribution = 'orphan' THEN 'attributed' ELSE 'orphan' END AS "
         "attribution, "
         "CASE WHEN attribution = 'orphan' THEN 'i2' END AS attributed_impression_key, 99.5::DOUBLE AS "
         "seconds_from_impression) FROM clicks",
         0);
    copy(tables::kConversions,
         "SELECT * REPLACE ('click_through' AS attribution, 'k2' AS attributed_click_key, 'i2' AS "
         "attributed_impression_key, 7.25::DOUBLE AS seconds_from_touch) FROM conversions",
         0);
    copy(tables::kBidRequests, "SELECT * REPLACE (NOT won AS won) FROM bid_requests", 0);
    copy(tables::kHourlyCampaign,
         "SELECT * REPLACE (impressions + 7 AS impressions, spend + 1 AS spend, clicks + 1 AS clicks) FROM "
         "campaign_hourly",
         0);
    // An hour that lost its last event: a stale row, and over it the tombstone (all zeros), for c4 (a
    // campaign without events: the tombstone must not give it keys) and for c1 (at an hour of no event).
    const std::string hourly_row =
        "SELECT TIMESTAMP '2026-11-01 16:00:00' AS hour, c AS campaign_id, n::BIGINT AS bid_requests_won, "
        "n::BIGINT AS impressions, (n * 0.5)::DECIMAL(38,12) AS spend, n::BIGINT AS clicks, n::BIGINT AS "
        "attributed_clicks, 0::BIGINT AS orphan_clicks, n::BIGINT AS conversions, 0::BIGINT AS "
        "click_through_conversions, n::BIGINT AS view_through_conversions, 0::BIGINT AS "
        "unattributed_conversions, (n * 2)::DECIMAL(38,12) AS conversion_value FROM (VALUES ('c4'), ('c1')) "
        "t(c), (VALUES (";
    copy(tables::kHourlyCampaign, hourly_row + "3)) u(n)", 0);
    copy(tables::kHourlyCampaign, hourly_row + "0)) u(n)", 1);
    for (const TableDef* t : kVersioned) copy(*t, "SELECT * FROM " + std::string(t->name), 1);
  }

  // Both stores give the same columns (names, value types, scales) and the same bytes in every format.
  void expect_same(const ReportRequest& q) {
    SCOPED_TRACE(describe(q));
    const ResultTable d = duck.report(q);
    ResultTable c;
    try {
      c = store_->report(q);
    } catch (const StoreError& e) {
      ADD_FAILURE() << e.what() << "\n"
                    << ch::clickhouse_report_sql(q, db_) << (server_->running() ? "" : server_->log_tail());
      return;
    }
    ASSERT_EQ(column_names(c), column_names(d));
    for (size_t i = 0; i < d.columns.size(); ++i) {
      EXPECT_EQ(int(c.columns[i].type), int(d.columns[i].type)) << d.columns[i].name;
      EXPECT_EQ(c.columns[i].scale, d.columns[i].scale) << d.columns[i].name;
      EXPECT_EQ(c.columns[i].single, d.columns[i].single) << d.columns[i].name;
    }
    EXPECT_EQ(format_csv(c), format_csv(d));
    EXPECT_EQ(format_json(c), format_json(d));
    EXPECT_EQ(format_table(report::humanize(c)), format_table(report::humanize(d)));
    rows_compared_ += d.rows();
    ++compared_;
  }

  static ReportRequest campaigns(std::vector<Dimension> by, TimeRange range = {}, Scan scan = Scan::rollup) {
    ReportRequest q;
    q.kind = Kind::campaigns;
    q.by = std::move(by);
    q.range = range;
    q.scan = scan;
    return q;
  }
  static ReportRequest other(Kind kind, bool by_campaign, TimeRange range = {}, Scan scan = Scan::rollup) {
    ReportRequest q;
    q.kind = kind;
    q.by_campaign = by_campaign;
    q.range = range;
    q.scan = scan;
    return q;
  }

  // How many report variants of duckdb_reports_test.cpp a range is tried with: those whose plan the
  // range's cut into whole and partial hours shapes (the campaigns by hour and day, and per campaign, from
  // the rollup), every variant but the keys only the raw tables have, or all of them.
  enum class Variants { hour_split, all_but_raw_keys, all };

  void expect_every_report_same(const TimeRange& range, Variants variants = Variants::all) {
    expect_same(campaigns({Dimension::hour, Dimension::day}, range));
    expect_same(other(Kind::funnel, true, range));
    if (variants == Variants::hour_split) return;
    const std::vector<std::vector<Dimension>> rollup_keys = {
        {}, {Dimension::day}, {Dimension::hour}, {Dimension::hour, Dimension::day}};
    for (const auto& keys : rollup_keys) {
      if (keys.size() < 2) expect_same(campaigns(keys, range));
      expect_same(campaigns(keys, range, Scan::raw));
    }
    if (variants == Variants::all) {
      using D = Dimension;
      const std::vector<std::vector<Dimension>> raw_keys = {
          {D::site, D::campaign, D::site},
          {D::creative},
          {D::country},
          {D::device},
          {D::day, D::site},
          {D::hour, D::creative, D::country, D::device, D::day, D::site, D::campaign}};
      for (const auto& keys : raw_keys) expect_same(campaigns(keys, range));
    }
    expect_same(other(Kind::funnel, true, range, Scan::raw));
    expect_same(other(Kind::funnel, false, range));
    for (bool by : {false, true}) {
      expect_same(other(Kind::latency, by, range));
      expect_same(other(Kind::frequency, by, range));
    }
  }

  DuckDbStore duck{":memory:"};
  std::string db_;
  std::unique_ptr<ch::HttpClient> admin_;
  std::unique_ptr<ClickHouseStore> store_;
  size_t compared_ = 0, rows_compared_ = 0;
};

// The stale versions and tombstones are there: without FINAL and the tombstone filter the numbers would
// differ from DuckDB's.
TEST_F(ClickHouseReports, FixtureHoldsStaleVersionsAndTombstones) {
  load_clickhouse();
  const auto count = [&](const std::string& sql) { return store_->query(sql).text(0, 0); };
  const std::string t = ch::quote_ident(db_) + ".";
  EXPECT_EQ(count("SELECT count() FROM " + t + "clicks"), "10");
  EXPECT_EQ(count("SELECT count() FROM " + t + "clicks FINAL"), "5");
  EXPECT_EQ(count("SELECT count() FROM " + t + "bid_requests FINAL WHERE won = 1"), "5");
  EXPECT_EQ(count("SELECT count() FROM " + t +
                  "campaign_hourly FINAL WHERE bid_requests_won = 0 AND impressions = 0 AND clicks = 0 AND "
                  "conversions = 0"),
            "2");
}

// Every report variant, with every key set, over the whole store and a range with partial hours.
TEST_F(ClickHouseReports, EveryReportEqualsDuckDb) {
  load_clickhouse();
  expect_every_report_same({});
  expect_every_report_same({at("2026-11-01T10:30:00Z"), at("2026-11-01T13:00:01Z")});
  expect_every_report_same({at("2026-11-01T11:00:00Z"), at("2026-11-01 13:00:00+01:00")});
  EXPECT_GT(rows_compared_, 300u);
}

// advx report opens the store read-only (readonly=1 on every statement): the reports need nothing more.
TEST_F(ClickHouseReports, ReadOnlyStoreGivesTheSameReports) {
  load_clickhouse();
  ClickHouseStore read_only(server_->url(db_), StoreMode::read_only);
  const ReportRequest requests[] = {
      campaigns({}), campaigns({Dimension::site}, {at("2026-11-01T10:30:00Z"), {}}),
      other(Kind::funnel, false), other(Kind::latency, true), other(Kind::frequency, true)};
  for (const ReportRequest& q : requests) {
    SCOPED_TRACE(describe(q));
    EXPECT_EQ(format_csv(read_only.report(q)), format_csv(duck.report(q)));
  }
}

// The 78 ranges of ReportQueries.RollupAndRawAgreeOnEveryRange: bounds on, just before, just after and
// between hours, open or not. On each the variants its cut into hours shapes; every variant on every sixth
// (a query takes some 50 ms on 18.16 here: all of them on all ranges would take a minute and a half).
TEST_F(ClickHouseReports, EveryRangeEqualsDuckDb) {
  load_clickhouse();
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
  for (const char* b : bounds) points.push_back(at(b));
  int ranges = 0;
  for (const auto& from : points) {
    for (const auto& to : points) {
      if (from && to && *from >= *to) continue;
      expect_every_report_same({from, to}, ranges % 12 == 0  ? Variants::all
                                           : ranges % 6 == 0 ? Variants::all_but_raw_keys
                                                             : Variants::hour_split);
      ++ranges;
    }
  }
  EXPECT_EQ(ranges, 1 + 2 * 11 + 55);
}

// A change to the rollup alone (a new version of its rows, as attribution writes them) shows for whole
// hours and not for partial ones, nor with Scan::raw, nor for keys the rollup does not have.
TEST_F(ClickHouseReports, RollupServesWholeHoursOnly) {
  load_clickhouse();
  const std::string changed = "impressions = impressions + 100 WHERE campaign_id = 'c1' AND impressions > 0";
  duck.execute("UPDATE campaign_hourly SET " + changed);
  copy(tables::kHourlyCampaign,
       "SELECT * FROM campaign_hourly WHERE campaign_id = 'c1' AND impressions > 100", 2);
  const int64_t t = at("2026-11-01T10:00:00Z");
  for (const TimeRange& range : {TimeRange{}, TimeRange{t, t + 2 * 3'600'000'000LL}, TimeRange{t, t + 1}}) {
    expect_same(campaigns({}, range));
    expect_same(campaigns({}, range, Scan::raw));
    expect_same(campaigns({Dimension::day}, range));
    expect_same(campaigns({Dimension::site}, range));
    expect_same(other(Kind::funnel, true, range));
  }
  EXPECT_EQ(duck.report(campaigns({})).text(0, 3), "303");
}

// ReportQueries.FrequencyBuckets: u5 sees c3 4 times, u6 11 times.
TEST_F(ClickHouseReports, FrequencyBuckets) {
  duck.execute(
      "INSERT INTO impressions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
      "event_hour "
      "FROM (SELECT 'f' || u || n AS event_key, TIMESTAMP '2026-11-03 00:00:00' + INTERVAL (n) MINUTE AS "
      "event_time, 'cr4' AS creative_id, 'c3' AS campaign_id, u AS user_id FROM "
      "(SELECT 'u5' AS u, range AS n FROM range(4) UNION ALL SELECT 'u6', range FROM range(11)))");
  fill_rollup();
  load_clickhouse();
  for (const TimeRange& range :
       {TimeRange{}, TimeRange{at("2026-11-03T00:02:00Z"), std::nullopt}, TimeRange{std::nullopt, 0}}) {
    expect_same(other(Kind::frequency, false, range));
    expect_same(other(Kind::frequency, true, range));
    expect_same(campaigns({Dimension::hour}, range));
  }
  EXPECT_EQ(duck.report(other(Kind::frequency, true)).rows(), 18u);
}

// Many values: percentiles interpolated between values of every magnitude, money of every magnitude
// (sums beyond 2^53 units of 10^-12, where DuckDB's DECIMAL -> DOUBLE cast takes its second path), and
// amounts whose tenth decimal rounds half away from zero; campaigns in byte order (upper case, lower case,
// UTF-8), NULL ones (impressions of unknown creatives), and an empty one in the dimension table only (the
// pipeline stores no event with an empty campaign: the versioned tables' sorting key, ifNull(campaign_id,
// ''), would make one row of a NULL and an empty campaign's). Random but seeded.
TEST_F(ClickHouseReports, ManyValuesEqualDuckDb) {
  static const char* kCampaigns[] = {"'m0'", "'m1'", "'m2'", "'m3'", "'m4'", "NULL", "'Zed'", "'zed'", "'é'"};
  std::mt19937_64 rng(20261203);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto value = [&]() {
    switch (rng() % 6) {
      case 0:
        return double(rng() % 100000) / 100.0;  // cents
      case 1:
        return unit(rng) * 1e6;
      case 2:
        return unit(rng) * 1e-6;
      case 3:
        return double(rng() % 1000) + 0.5e-9 * double(1 + 2 * (rng() % 5));  // halves of 10^-9
      case 4:
        return unit(rng) * 9e14;
      default:
        return unit(rng);
    }
  };
  const auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g::DOUBLE", v);
    return std::string(buf);
  };
  const int64_t base = at("2026-11-05T00:00:00Z");
  std::string imps, clicks, convs;
  for (int i = 0; i < 400; ++i) {
    const std::string camp = kCampaigns[rng() % std::size(kCampaigns)];
    const std::string user = "'w" + std::to_string(rng() % 60) + "'";
    const std::string ts = "make_timestamp(" +
                           std::to_string(base + int64_t(rng() % (3 * 86400)) * 1'000'000 + int64_t(i)) + ")";
    const std::string site = "'s" + std::to_string(rng() % 3) + ".com'";
    imps += std::string(imps.empty() ? "" : ", ") + "('mi" + std::to_string(i) + "', " + ts + ", " + camp +
            ", " + user + ", " + site + ", 'ma" + std::to_string(i) + "', " + num(value()) + ")";
    if (i % 2 == 0)
      clicks += std::string(clicks.empty() ? "" : ", ") + "('mk" + std::to_string(i) + "', " + ts + ", " +
                user + ", " + camp + ", " +
                (i % 6 == 0 ? "'orphan', NULL, NULL"
                            : "'attributed', 'mi" + std::to_string(i) + "', " + num(value())) +
                ")";
    if (i % 3 == 0)
      convs += std::string(convs.empty() ? "" : ", ") + "('mv" + std::to_string(i) + "', " + ts + ", " +
               user + ", " + camp + ", " + num(value()) + ", " +
               (i % 9 == 0 ? "'view_through', 'mi" + std::to_string(i) + "'"
                           : "'click_through', 'mi" + std::to_string(i) + "'") +
               ", " + num(value()) + ")";
  }
  duck.execute(
      "INSERT INTO campaigns BY NAME SELECT 'm' || range AS campaign_id, 'madv' AS advertiser_id FROM "
      "range(4)");
  duck.execute(
      "INSERT INTO campaigns BY NAME SELECT * FROM (VALUES ('Zed', 'advZ'), ('', 'adv-empty'), ('é', NULL), "
      "('Ö', 'dims only')) v(campaign_id, advertiser_id)");
  duck.execute(
      "INSERT INTO impressions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
      "event_hour "
      "FROM (VALUES " +
      imps + ") v(event_key, event_time, campaign_id, user_id, site, auction_id, win_price_cpm)");
  duck.execute(
      "INSERT INTO bid_requests BY NAME SELECT auction_id, event_time - INTERVAL 1 SECOND AS event_time, "
      "(event_time - INTERVAL 1 SECOND)::DATE AS event_date, hour(event_time - INTERVAL 1 SECOND) AS "
      "event_hour, "
      "true AS won FROM impressions WHERE event_key LIKE 'mi%'");
  duck.execute(
      "INSERT INTO clicks BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS event_hour "
      "FROM (VALUES " +
      clicks +
      ") v(event_key, event_time, user_id, campaign_id, attribution, "
      "attributed_impression_key, seconds_from_impression)");
  duck.execute(
      "INSERT INTO conversions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
      "event_hour "
      "FROM (VALUES " +
      convs +
      ") v(event_key, event_time, user_id, campaign_id, conversion_value, attribution, "
      "attributed_impression_key, seconds_from_touch)");
  fill_rollup();
  load_clickhouse();
  // The money sums reach the second path of DuckDB's cast.
  const ResultTable big = duck.query(
      "SELECT max(spend) > 9007.2 AND max(conversion_value) > 9007.2 FROM "
      "(SELECT campaign_id, sum(spend) AS spend, sum(conversion_value) AS "
      "conversion_value FROM campaign_hourly GROUP BY ALL)");
  EXPECT_EQ(big.text(0, 0), "true");
  expect_every_report_same({});
  expect_every_report_same({at("2026-11-05T10:30:00Z"), at("2026-11-07T03:15:00Z")});
}

}  // namespace
}  // namespace advx::test
