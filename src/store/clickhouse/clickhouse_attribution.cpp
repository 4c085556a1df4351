// Attribution on ClickHouse (correlate/attribution.hpp, docs/ATTRIBUTION.md): the DuckDB store's rules and
// results (store/duckdb/duckdb_attribution.cpp), in what 18.16 and current releases both run, without
// multi-table transactions and without UPDATE.
//
// Rows change by new versions: clicks, conversions, bid_requests and campaign_hourly are
// ReplacingMergeTree(advx_version) (clickhouse_schema.hpp). A pass takes a version V above every one in
// use (the wall clock in µs, raised above the last pass's, which is recorded before any row is written)
// and INSERTs ... SELECTs whole rows again with V wherever its result differs from what FINAL reads now.
// Set-based, as on DuckDB, but with the dialect 18.16 has: no window functions, no ASOF JOIN, one JOIN per
// SELECT, equality joins only. The latest event at or before another, ties to the smallest key, is
// `argMin(tuple(time, key), tuple(-time, key))` over an equi-join on (user, campaign) filtered by the
// window in WHERE; "none" is a flag column of the joined side (an ANY LEFT JOIN gives defaults, not NULL,
// without join_use_nulls). Money sums are exact: each price is rounded to 9 decimals as DuckDB's
// DOUBLE -> DECIMAL(38,9) cast does (x * 1e9 in double, rounded half away from zero; 18.16's toDecimal
// truncates), then summed as Decimal(38, 0) units and scaled.
//
// What is owed (crash consistency, SPEC 6). A micro-batch writes its debt (a row of
// advx_attribution_pending, 0 = owed, with a random id) in its own INSERT after its event rows, so a
// crash may store rows without their debt. A pass therefore covers ingested_at from the smallest owed
// debt or just above the progress mark (the largest debt paid), whichever is lower, up to the largest
// owed debt or the newest stored row, whichever is higher: rows stored without a debt are attributed by
// the next pass too. Order of the writes, each safe to be the last before a kill:
//   1. a progress row with V (not moving the mark): the next pass's version is above V;
//   2. clicks; 3. conversions (they read the clicks' new impression keys); 4. bid requests won;
//   5. the touched hours of campaign_hourly (all-zero rows where a key's counts went to nothing, as
//      readers skip all-zero rows);
//   6. the debts seen, paid: new versions of exactly those rows (a debt written meanwhile stays owed);
//   7. the progress mark: the largest debt paid, never the newest row: a row above the largest debt may
//      belong to a micro-batch still being written (advx serve attributes while it stores), whose later
//      rows and debt must not be taken for paid;
//   8. days of debts long paid, dropped (drop_paid_days()).
// A kill before 6 leaves the debts owed: the next pass computes the same results over a range at least as
// wide (the result depends only on the stored events) and writes only what still differs. A kill between
// 6 and 7 leaves the mark behind: the next pass covers the range again and finds nothing to change.
// Passes must run one at a time on a database (each process runs its passes in one thread; an advx
// ingest and an advx serve on the same database at once could interleave two passes). With two writers
// at once, a writer killed between its event rows and its debt may leave rows below the other's mark,
// which no pass then revisits until a debt of their range comes; one writer's ingested_at only grow.
//
// A pass whose range holds every impression and bid request (a first pass over a bulk load) takes the
// won bid requests as every one any impression names and every hour of a won bid request as touched,
// which is what DuckDB's statements give then, without joining every auction to find it.
//
// Scratch tables (Memory, named with V, dropped at the end; those of a pass killed an hour ago or more are
// dropped by the next one) hold the touched pairs, hours and won counts. Big passes run in slices by hash
// of user_id (pairs) or auction_id (bid requests), so each statement's sets and hash joins stay small.
// ADVX_CH_ATTR_TRACE=1 in the environment prints each statement and its time to stderr.
#include "store/clickhouse/clickhouse_attribution.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "core/crash_point.hpp"
#include "core/table_schema.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/row_binary.hpp"

namespace advx::clickhouse {
namespace {

using std::string;
using std::string_view;

// Rows per slice: a set or a hash join of about this many string keys fits well in 1 GB.
constexpr uint64_t kPairsPerSlice = 2'000'000;
constexpr uint64_t kAuctionsPerSlice = 2'000'000;
constexpr uint64_t kWonPerSlice = 1'000'000;
// Won bid requests per slice of the pass that writes their new versions: whole rows (user agent,
// targeting JSON; ~1 KB each in an INSERT SELECT's blocks), so far fewer than keys. 1M in one statement
// took 980 MB on 18.16 and failed at ingest's 1 GB attribution limit.
constexpr uint64_t kWonVersionsPerSlice = 250'000;
constexpr int64_t kScratchStaleUs = 3600LL * 1'000'000;

// The hour of a µs time, floored as DuckDB's date_trunc('hour', ...) does (also before 1970).
string hour_of(string_view us) {
  const string u(us);
  // Signed divisors: 3600000000 alone is a UInt32 literal, and 18.16 wraps the sum in 32 bits.
  const string h = "toInt64(3600000000)";
  return "(" + u + " - ((" + u + " % " + h + ") + " + h + ") % " + h + ")";
}

// A Float64 as DuckDB casts it to DECIMAL(38,9), in units of 1e-9, as Decimal(38, 0): v = x * 1e9 in
// double, then rounded half away from zero (C's round(): trunc and the exact fractional part, so no
// double rounding), then an exact integral double to Decimal.
string units9(string_view x) {
  const string v = "(" + string(x) + " * 1e9)";
  return "toDecimal128(trunc(" + v + ") + if(abs(" + v + " - trunc(" + v + ")) >= 0.5, if(" + v +
         " < 0, -1.0, 1.0), 0.0), 0)";
}

// Rows with event times in [lo, hi]: by event_date too, so that ClickHouse reads only those days'
// partitions (the tables are partitioned by event_date; event times are never before 1970).
string times_between(int64_t lo, int64_t hi) {
  const auto day = [](int64_t us) {
    return quote_string(format_timestamp(std::max<int64_t>(us, 0)).substr(0, 10));
  };
  return " AND event_time_us BETWEEN " + std::to_string(lo) + " AND " + std::to_string(hi) +
         " AND event_date BETWEEN toDate(" + day(lo) + ") AND toDate(" + day(hi) + ")";
}

uint64_t slices_for(uint64_t rows, uint64_t per_slice) {
  return std::max<uint64_t>(1, (rows + per_slice - 1) / per_slice);
}

class Pass {
 public:
  Pass(HttpClient& c, string_view db, const AttributionWindows& w, const Settings& settings,
       string_view global_db)
      : c_(c), db_(db), global_db_(global_db), w_(w), settings_(settings) {
    // FINAL reads here filter on columns a newer version changes (attribution): such a filter must run
    // after the versions are merged, never as a PREWHERE before. Neither 18.16 (probed) nor current
    // releases (optimize_move_to_prewhere_if_final = 0) move a WHERE to PREWHERE under FINAL, and the
    // reads without FINAL need that move to skip columns, so it stays on.
  }

  AttributionResult run(AttributionStop stop, int64_t version_us);

 private:
  string t(string_view table) const { return quote_ident(db_) + "." + quote_ident(table); }
  // A table of every shard (the Distributed one) on a cluster, else the table itself.
  string g(string_view table) const {
    return global_db_.empty() ? t(table) : quote_ident(global_db_) + "." + quote_ident(table);
  }
  // The impressions naming auctions: those of every shard on a cluster.
  string imps() const { return g("impressions"); }
  // IN in a query over g() tables whose subquery reads this shard's tables (or scratch tables, which only
  // this server has): GLOBAL, so the set is built here and sent to the shards, not read on each of them.
  string in_here() const { return global_db_.empty() ? " IN " : " GLOBAL IN "; }
  string scratch(string_view what) const { return t("advx_attr_" + string(what) + "_" + std::to_string(v_)); }
  void exec(const string& sql) {
    const auto t0 = std::chrono::steady_clock::now();
    c_.execute(sql, settings_);
    trace(t0, sql);
    crash_point("attribution.write");  // the kill matrix: after each write of a pass
  }
  ResultTable query(const string& sql) {
    const auto t0 = std::chrono::steady_clock::now();
    ResultTable r = c_.query(sql, settings_);
    trace(t0, sql);
    return r;
  }
  static void trace(std::chrono::steady_clock::time_point t0, const string& sql) {
    static const bool on = std::getenv("ADVX_CH_ATTR_TRACE") != nullptr;
    if (on)
      std::fprintf(stderr, "%.3f s  %.160s\n",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), sql.c_str());
  }
  int64_t scalar(const string& sql) {
    const ResultTable r = query(sql);
    if (r.rows() == 0 || r.columns.empty() || r.columns[0].is_null(0)) return 0;
    return r.columns[0].int_at(0);
  }
  string range() const {
    string r = "ingested_at_us <= " + std::to_string(hi_);
    if (lo_) r = "ingested_at_us >= " + std::to_string(*lo_) + " AND " + r;
    return "(" + r + ")";
  }
  // Rows of the pairs of slice `s` (user and campaign set, the pair touched).
  string in_pairs(uint64_t s) const {
    return "(user_id IS NOT NULL AND campaign_id IS NOT NULL AND (assumeNotNull(user_id), "
           "assumeNotNull(campaign_id)) IN (SELECT user_id, campaign_id FROM " +
           scratch("pairs") + " WHERE cityHash64(user_id) % " + std::to_string(pair_slices_) + " = " +
           std::to_string(s) + "))";
  }
  // The event times of `table`'s rows in the pairs of slice `s`, or nullopt when it has none.
  std::optional<std::pair<int64_t, int64_t>> extent(string_view table, uint64_t s) {
    const ResultTable r =
        query("SELECT count() AS n, min(event_time_us) AS lo, max(event_time_us) AS hi FROM " + t(table) +
              " WHERE " + in_pairs(s));
    if (r.rows() == 0 || r.column("n").int_at(0) == 0) return std::nullopt;
    return std::make_pair(r.column("lo").int_at(0), r.column("hi").int_at(0));
  }
  string user_slice(uint64_t s, uint64_t n) const {
    return "cityHash64(assumeNotNull(user_id)) % " + std::to_string(n) + " = " + std::to_string(s);
  }
  static string auction_slice(string_view col, uint64_t s, uint64_t n) {
    return "cityHash64(" + string(col) + ") % " + std::to_string(n) + " = " + std::to_string(s);
  }
  // The stored columns of `table` in insert order (a timestamp as its _us, no DEFAULT-only column).
  static std::vector<string> stored_columns(const TableDef& table) {
    std::vector<string> cols;
    for (const ColumnDef& c : table.columns) cols.push_back(stored_name(c));
    return cols;
  }
  // INSERT INTO table (cols, advx_version) SELECT <each col, or its replacement>, V
  string insert_versions(const TableDef& table, const std::vector<std::pair<string, string>>& replace) const;

  void read_owed();
  void drop_stale_scratch();
  void touched_pairs();
  void clicks();
  void conversions();
  void won();
  void touched_hours();
  void rollup();
  void pay();
  void drop_paid_days(int64_t mark);

  HttpClient& c_;
  string db_;
  string global_db_;
  AttributionWindows w_;
  Settings settings_;

  std::optional<int64_t> mark_;  // the progress mark (largest debt paid)
  int64_t last_version_ = 0;
  std::vector<std::pair<int64_t, string>> debts_;  // owed: ingested_at_us, advx_debt
  std::optional<int64_t> lo_;                      // none: from the first row
  int64_t hi_ = 0;
  uint64_t v_ = 0;
  uint64_t pair_slices_ = 1;
  bool full_ = false;  // the range holds every impression and bid request
  AttributionResult result_;
};

string Pass::insert_versions(const TableDef& table,
                             const std::vector<std::pair<string, string>>& replace) const {
  string cols, select;
  for (const string& col : stored_columns(table)) {
    cols += quote_ident(col) + ", ";
    string expr = quote_ident(col);
    for (const auto& [name, with] : replace)
      if (name == col) expr = with;
    select += expr + ", ";
  }
  return "INSERT INTO " + t(table.name) + " (" + cols + string(kVersionColumn) + ") SELECT " + select +
         std::to_string(v_);
}

void Pass::read_owed() {
  const ResultTable p =
      query("SELECT max(attributed_through_us) AS mark, toInt64(max(advx_version)) AS v FROM " +
            t("advx_attribution_progress"));
  if (p.rows() > 0 && !p.column("mark").is_null(0)) mark_ = p.column("mark").int_at(0);
  if (p.rows() > 0 && !p.column("v").is_null(0)) last_version_ = p.column("v").int_at(0);
  // Owed: the newest version of each debt is still 0.
  const ResultTable d = query("SELECT ingested_at_us AS t, toString(advx_debt) AS id FROM " +
                              t("advx_attribution_pending") + " FINAL WHERE advx_version = 0");
  for (size_t r = 0; r < d.rows(); r++) debts_.emplace_back(d.column("t").int_at(r), d.column("id").texts[r]);
}

void Pass::drop_stale_scratch() {
  const ResultTable r = query("SELECT name FROM system.tables WHERE database = " + quote_string(db_) +
                              " AND startsWith(name, 'advx_attr_')");
  for (size_t i = 0; i < r.rows(); i++) {
    const string& name = r.columns[0].texts[i];
    const size_t us = name.rfind('_');
    int64_t made = 0;
    try {
      made = std::stoll(name.substr(us + 1));
    } catch (const std::exception&) {
      continue;
    }
    if (made + kScratchStaleUs < int64_t(v_)) exec("DROP TABLE IF EXISTS " + t(name));
  }
}

// The pairs whose attribution the range may change (kTouched): those of its clicks and conversions, and
// those of its impressions that have a click or a conversion at all. The set side of that last IN is the
// smaller of the range's impressions and all clicks and conversions.
void Pass::touched_pairs() {
  exec("CREATE TABLE " + scratch("pairs") + " (user_id String, campaign_id String) ENGINE = Memory");
  const string notnull = "user_id IS NOT NULL AND campaign_id IS NOT NULL";
  const string pair = "assumeNotNull(user_id) AS u, assumeNotNull(campaign_id) AS c";
  const uint64_t range_imps =
      uint64_t(scalar("SELECT count() FROM " + t("impressions") + " WHERE " + range()));
  const uint64_t engaged = uint64_t(scalar("SELECT count() FROM " + t("clicks"))) +
                           uint64_t(scalar("SELECT count() FROM " + t("conversions")));
  const uint64_t range_events =
      uint64_t(scalar("SELECT count() FROM " + t("clicks") + " WHERE " + range())) +
      uint64_t(scalar("SELECT count() FROM " + t("conversions") + " WHERE " + range()));
  pair_slices_ = slices_for(range_events + std::min(range_imps, engaged), kPairsPerSlice);
  for (uint64_t s = 0; s < pair_slices_; s++) {
    const string slice = user_slice(s, pair_slices_);
    const string events = "SELECT " + pair + " FROM " + t("clicks") + " WHERE " + notnull + " AND " + slice +
                          " UNION ALL SELECT " + pair + " FROM " + t("conversions") + " WHERE " + notnull +
                          " AND " + slice;
    string imps;
    if (range_imps <= engaged) {
      // Few impressions in the range: the engaged rows are streamed against their pairs.
      imps = "SELECT u, c FROM (" + events + ") WHERE (u, c) IN (SELECT " + pair + " FROM " +
             t("impressions") + " WHERE " + range() + " AND " + notnull + " AND " + slice + ")";
    } else {
      imps = "SELECT " + pair + " FROM " + t("impressions") + " WHERE " + range() + " AND " + notnull +
             " AND " + slice + " AND (assumeNotNull(user_id), assumeNotNull(campaign_id)) IN (" + events +
             ")";
    }
    exec("INSERT INTO " + scratch("pairs") + " SELECT DISTINCT u, c FROM (SELECT " + pair + " FROM " +
         t("clicks") + " WHERE " + range() + " AND " + notnull + " AND " + slice + " UNION ALL SELECT " +
         pair + " FROM " + t("conversions") + " WHERE " + range() + " AND " + notnull + " AND " + slice +
         " UNION ALL " + imps + ")");
  }
  result_.pairs = uint64_t(scalar("SELECT count() FROM " + scratch("pairs")));
}

// kClicks: the latest impression of the click's user and campaign (and creative, when it names one) at
// or before it and at most the click window before it; ties on time to the smallest impression key.
void Pass::clicks() {
  result_.clicks = 0;
  for (uint64_t s = 0; s < pair_slices_; s++)
    result_.clicks += uint64_t(scalar("SELECT count() FROM " + t("clicks") + " FINAL WHERE " + in_pairs(s)));
  if (result_.clicks == 0) return;
  const string window = std::to_string(w_.click_us);
  for (uint64_t s = 0; s < pair_slices_; s++) {
    const auto span = extent("clicks", s);
    if (!span) continue;
    // The candidates: an equi-join on the pair, the rest filtered after it. Clicks on the hashed side (the
    // fewer); clicks without FINAL: versions repeat a click, which changes no argMin.
    const string best =
        "SELECT j_campaign AS k_campaign, c_time AS k_time, c_key AS k_key, "
        "argMin(tuple(i_time, i_key), tuple(-i_time, i_key)) AS r_best, 1 AS r_found FROM (SELECT "
        "assumeNotNull(user_id) AS j_user, assumeNotNull(campaign_id) AS j_campaign, creative_id AS "
        "i_creative, "
        "event_time_us AS i_time, assumeNotNull(event_key) AS i_key FROM " +
        t("impressions") + " WHERE " + in_pairs(s) + times_between(span->first - w_.click_us, span->second) +
        ") ALL INNER JOIN (SELECT assumeNotNull(user_id) AS j_user, assumeNotNull(campaign_id) AS "
        "j_campaign, "
        "creative_id AS c_creative, event_time_us AS c_time, event_key AS c_key FROM " +
        t("clicks") + " WHERE " + in_pairs(s) +
        ") USING (j_user, j_campaign) WHERE (isNull(c_creative) OR i_creative = c_creative) AND i_time <= "
        "c_time "
        "AND c_time - i_time <= " +
        window + " GROUP BY k_campaign, k_time, k_key";
    const string n_attr = "if(r_found = 1, 'attributed', 'orphan')";
    const string n_key = "if(r_found = 1, tupleElement(r_best, 2), NULL)";
    const string n_sec = "if(r_found = 1, (event_time_us - tupleElement(r_best, 1)) / 1e6, NULL)";
    exec(insert_versions(tables::kClicks, {{"attribution", n_attr + " AS n_attr"},
                                           {"attributed_impression_key", n_key + " AS n_key"},
                                           {"seconds_from_impression", n_sec + " AS n_sec"}}) +
         " FROM (SELECT *, " +
         "assumeNotNull(campaign_id) AS k_campaign, event_time_us AS k_time, event_key AS k_key FROM " +
         t("clicks") + " FINAL WHERE " + in_pairs(s) + ") ANY LEFT JOIN (" + best +
         ") USING (k_campaign, k_time, k_key) WHERE NOT (ifNull(attribution, '') = n_attr AND "
         "isNull(attributed_impression_key) = isNull(n_key) AND ifNull(attributed_impression_key, '') = "
         "ifNull(n_key, '') AND isNull(seconds_from_impression) = isNull(n_sec) AND "
         "ifNull(seconds_from_impression, 0) = ifNull(n_sec, 0))");
  }
}

// kConversions: click_through to the latest click of its user and campaign within the click-through
// window (its impression key as the click has it now), else view_through to the latest impression within
// the view-through window, else unattributed.
void Pass::conversions() {
  result_.conversions = 0;
  for (uint64_t s = 0; s < pair_slices_; s++)
    result_.conversions +=
        uint64_t(scalar("SELECT count() FROM " + t("conversions") + " FINAL WHERE " + in_pairs(s)));
  if (result_.conversions == 0) return;
  std::vector<string> cols = stored_columns(tables::kConversions);
  string conv_cols;
  for (const string& c : cols) conv_cols += quote_ident(c) + ", ";
  for (uint64_t s = 0; s < pair_slices_; s++) {
    const auto span = extent("conversions", s);
    if (!span) continue;
    const string conv =
        "SELECT assumeNotNull(user_id) AS j_user, assumeNotNull(campaign_id) AS j_campaign, "
        "event_time_us AS v_time, event_key AS v_key FROM " +
        t("conversions") + " WHERE " + in_pairs(s);
    const string by_click =
        "SELECT j_campaign AS k_campaign, v_time AS k_time, v_key AS k_key, "
        "argMin(tuple(ck_time, ck_key, ck_imp), tuple(-ck_time, ck_key)) AS r_click, 1 AS r_click_found FROM "
        "(SELECT assumeNotNull(user_id) AS j_user, assumeNotNull(campaign_id) AS j_campaign, event_time_us "
        "AS "
        "ck_time, event_key AS ck_key, attributed_impression_key AS ck_imp FROM " +
        t("clicks") + " FINAL WHERE " + in_pairs(s) +
        times_between(span->first - w_.click_through_us, span->second) + ") ALL INNER JOIN (" + conv +
        ") USING (j_user, j_campaign) WHERE ck_time <= v_time AND v_time - ck_time <= " +
        std::to_string(w_.click_through_us) + " GROUP BY k_campaign, k_time, k_key";
    const string by_view =
        "SELECT j_campaign AS k_campaign, v_time AS k_time, v_key AS k_key, "
        "argMin(tuple(i_time, i_key), tuple(-i_time, i_key)) AS r_view, 1 AS r_view_found FROM "
        "(SELECT assumeNotNull(user_id) AS j_user, assumeNotNull(campaign_id) AS j_campaign, event_time_us "
        "AS "
        "i_time, assumeNotNull(event_key) AS i_key FROM " +
        t("impressions") + " WHERE " + in_pairs(s) +
        times_between(span->first - w_.view_through_us, span->second) + ") ALL INNER JOIN (" + conv +
        ") USING (j_user, j_campaign) WHERE i_time <= v_time AND v_time - i_time <= " +
        std::to_string(w_.view_through_us) + " GROUP BY k_campaign, k_time, k_key";
    const string n_attr =
        "if(r_click_found = 1, 'click_through', if(r_view_found = 1, 'view_through', 'unattributed'))";
    const string n_click = "if(r_click_found = 1, tupleElement(r_click, 2), NULL)";
    const string n_imp =
        "if(r_click_found = 1, tupleElement(r_click, 3), if(r_view_found = 1, tupleElement(r_view, 2), "
        "NULL))";
    const string n_sec =
        "if(r_click_found = 1, (event_time_us - tupleElement(r_click, 1)) / 1e6, if(r_view_found = 1, "
        "(event_time_us - tupleElement(r_view, 1)) / 1e6, NULL))";
    exec(insert_versions(tables::kConversions, {{"attribution", n_attr + " AS n_attr"},
                                                {"attributed_click_key", n_click + " AS n_click"},
                                                {"attributed_impression_key", n_imp + " AS n_imp"},
                                                {"seconds_from_touch", n_sec + " AS n_sec"}}) +
         " FROM (SELECT " + conv_cols + "k_campaign, k_time, k_key, r_click, r_click_found FROM (SELECT *, " +
         "assumeNotNull(campaign_id) AS k_campaign, event_time_us AS k_time, event_key AS k_key FROM " +
         t("conversions") + " FINAL WHERE " + in_pairs(s) + ") ANY LEFT JOIN (" + by_click +
         ") USING (k_campaign, k_time, k_key)) ANY LEFT JOIN (" + by_view +
         ") USING (k_campaign, k_time, k_key) WHERE NOT (ifNull(attribution, '') = n_attr AND "
         "isNull(attributed_click_key) = isNull(n_click) AND ifNull(attributed_click_key, '') = "
         "ifNull(n_click, '') AND isNull(attributed_impression_key) = isNull(n_imp) AND "
         "ifNull(attributed_impression_key, '') = ifNull(n_imp, '') AND isNull(seconds_from_touch) = "
         "isNull(n_sec) AND ifNull(seconds_from_touch, 0) = ifNull(n_sec, 0))");
  }
}

// kWon: bid requests named by impressions of the range, and bid requests of the range named by any
// impression, are won (never unwon again, as on DuckDB). A new version for each one not won yet.
void Pass::won() {
  const uint64_t range_imps =
      uint64_t(scalar("SELECT count() FROM " + imps() + " WHERE " + range() + " AND auction_id IS NOT NULL"));
  const uint64_t range_bids =
      uint64_t(scalar("SELECT count() FROM " + t("bid_requests") + " WHERE " + range()));
  // Every row in the range (a first pass over a bulk load): every bid request named by any impression, the
  // same set as DuckDB's two updates give then, with one set to build instead of three.
  full_ = range_imps == uint64_t(scalar("SELECT count() FROM " + imps() + " WHERE auction_id IS NOT NULL")) &&
          range_bids == uint64_t(scalar("SELECT count() FROM " + t("bid_requests")));
  const uint64_t n = range_imps + range_bids;
  if (n == 0) return;
  // The set of one statement: the impressions' auctions (every one, or those of the range and the
  // range's bid requests').
  // Sized by the new versions a slice may write (at most its share of those auctions), which bounds its
  // sets of keys too.
  const uint64_t slices = slices_for(full_ ? range_imps : n, kWonVersionsPerSlice);
  for (uint64_t s = 0; s < slices; s++) {
    const string imp_slice = auction_slice("assumeNotNull(auction_id)", s, slices);
    const string named =
        full_ ? "auction_id IN (SELECT assumeNotNull(auction_id) FROM " + imps() +
                    " WHERE auction_id IS NOT NULL AND " + imp_slice + ")"
              : "(auction_id IN (SELECT assumeNotNull(auction_id) FROM " + imps() + " WHERE " + range() +
                    " AND auction_id IS NOT NULL AND " + imp_slice + ") OR (" + range() +
                    " AND auction_id IN (SELECT assumeNotNull(auction_id) FROM " + imps() +
                    " WHERE auction_id IS NOT NULL AND " + imp_slice + " AND assumeNotNull(auction_id)" +
                    in_here() + "(SELECT auction_id FROM " + t("bid_requests") + " WHERE " + range() +
                    " AND " + auction_slice("auction_id", s, slices) + "))))";
    // Without FINAL (a scan of every bid request each pass): the stored row (version 0, not won) of each
    // request named, unless a version of it exists already (every version is won = 1), read whole only
    // where the PREWHERE on the auction holds.
    const string candidates = " PREWHERE " + auction_slice("auction_id", s, slices) + " AND " + named;
    exec(insert_versions(tables::kBidRequests, {{"won", "1"}}) + " FROM " + t("bid_requests") + candidates +
         " WHERE advx_version = 0 AND won = 0 AND (event_time_us, auction_id) NOT IN (SELECT event_time_us, "
         "auction_id FROM " +
         t("bid_requests") + candidates + " WHERE advx_version > 0)");
  }
}

// kTouchedHours, then kWonSlice: the (campaign, hour) keys whose numbers the range may have changed (the
// campaign as a NULL flag and a text, so that a NULL campaign is a key of its own), and the won bid
// requests of those hours by the campaign of the auction's winning impression.
void Pass::touched_hours() {
  exec("CREATE TABLE " + scratch("hours") + " (cn UInt8, c String, hour_us Int64) ENGINE = Memory");
  const string key =
      "isNull(campaign_id) AS cn, ifNull(campaign_id, '') AS c, " + hour_of("event_time_us") + " AS hour_us";
  const string all_pairs =
      "(user_id IS NOT NULL AND campaign_id IS NOT NULL AND (assumeNotNull(user_id), "
      "assumeNotNull(campaign_id)) "
      "IN (SELECT user_id, campaign_id FROM " +
      scratch("pairs") + "))";
  // Immutable columns only: no FINAL needed, DISTINCT folds the versions.
  exec("INSERT INTO " + scratch("hours") + " SELECT DISTINCT cn, c, hour_us FROM (SELECT " + key + " FROM " +
       t("impressions") + " WHERE " + range() + " UNION ALL SELECT " + key + " FROM " + t("clicks") +
       " WHERE " + all_pairs + " UNION ALL SELECT " + key + " FROM " + t("conversions") + " WHERE " +
       all_pairs + ")");
  // Every campaign naming an auction the range touched: a new impression with a smaller key moves the win.
  const uint64_t n = uint64_t(scalar("SELECT count() FROM " + imps() + " WHERE " + range() +
                                     " AND auction_id IS NOT NULL")) +
                     uint64_t(scalar("SELECT count() FROM " + t("bid_requests") + " WHERE " + range()));
  const uint64_t slices = slices_for(n, kAuctionsPerSlice);
  if (full_) {
    // Every row in the range: every hour of a won bid request is touched. Its keys are found below, without
    // joining every auction twice: the winners' (from the won counts), and the keys stored for those hours
    // (a campaign that lost a win). Any other key has nothing new: recomputing more keys is harmless.
    exec("INSERT INTO " + scratch("hours") + " SELECT DISTINCT 1, '', " + hour_of("event_time_us") +
         " FROM " + t("bid_requests") + " WHERE won = 1");
  }
  for (uint64_t s = 0; s < (n == 0 || full_ ? 0 : slices); s++) {
    const string imp_slice = auction_slice("assumeNotNull(auction_id)", s, slices);
    const string bid_slice = auction_slice("auction_id", s, slices);
    const string touched = "(SELECT assumeNotNull(auction_id) FROM " + imps() + " WHERE " + range() +
                           " AND auction_id IS NOT NULL AND " + imp_slice +
                           " UNION ALL SELECT auction_id FROM " + t("bid_requests") + " WHERE " + range() +
                           " AND " + bid_slice + ")";
    exec("INSERT INTO " + scratch("hours") + " SELECT DISTINCT isNull(i_campaign), ifNull(i_campaign, ''), " +
         hour_of("b_time") + " FROM (SELECT auction_id AS a, event_time_us AS b_time FROM " +
         t("bid_requests") + " WHERE " + bid_slice + " AND auction_id IN " + touched +
         ") ALL INNER JOIN (SELECT assumeNotNull(auction_id) AS a, campaign_id AS i_campaign FROM " + imps() +
         " WHERE auction_id IS NOT NULL AND " + imp_slice + " AND assumeNotNull(auction_id)" + in_here() +
         touched + ") USING (a)");
  }

  exec("CREATE TABLE " + scratch("won") + " (cn UInt8, c String, hour_us Int64, won UInt64) ENGINE = Memory");
  // Won bid requests of the touched hours: a version with won = 1 (the pipeline stores 0 and passes only
  // ever write 1) means won; DISTINCT folds a request's versions.
  const string won_bids =
      "won = 1 AND " + hour_of("event_time_us") + " IN (SELECT hour_us FROM " + scratch("hours") + ")";
  const uint64_t won = uint64_t(scalar("SELECT count() FROM " + t("bid_requests") + " WHERE " + won_bids));
  const uint64_t wslices = slices_for(won, kWonPerSlice);
  for (uint64_t s = 0; s < (won == 0 ? 0 : wslices); s++) {
    const string bid_slice = auction_slice("auction_id", s, wslices);
    // The winner: the smallest event_key naming the auction, then the smallest campaign; argMin skips a
    // NULL campaign as DuckDB's arg_min does (NULL when every impression naming it has none). Over the
    // rows of a subquery: on a cluster the impressions are a Distributed table, and 18.16's shards crash
    // now and then serializing argMin states of tuples (clickhouse_reports.cpp).
    exec("INSERT INTO " + scratch("won") +
         " SELECT isNull(w_campaign), ifNull(w_campaign, ''), b_hour, count() FROM (SELECT DISTINCT "
         "auction_id AS "
         "a, event_time_us, " +
         hour_of("event_time_us") + " AS b_hour FROM " + t("bid_requests") + " WHERE " + won_bids + " AND " +
         bid_slice +
         ") ALL INNER JOIN (SELECT a, argMin(campaign_id, tuple(event_key, campaign_id)) AS w_campaign FROM "
         "(SELECT assumeNotNull(auction_id) AS a, event_key, campaign_id FROM " +
         imps() + " WHERE auction_id IS NOT NULL AND " +
         auction_slice("assumeNotNull(auction_id)", s, wslices) + " AND assumeNotNull(auction_id)" +
         in_here() + "(SELECT auction_id FROM " + t("bid_requests") + " WHERE " + won_bids + " AND " +
         bid_slice + ")) GROUP BY a) USING (a) GROUP BY isNull(w_campaign), ifNull(w_campaign, ''), b_hour");
  }
  if (full_) {
    exec("INSERT INTO " + scratch("hours") + " SELECT cn, c, hour_us FROM " + scratch("won"));
    exec("INSERT INTO " + scratch("hours") +
         " SELECT isNull(campaign_id), ifNull(campaign_id, ''), hour_us FROM " + t("campaign_hourly") +
         " WHERE hour_us IN (SELECT hour_us FROM " + scratch("hours") + ")");
  }
}

// kRollup: the touched keys' numbers from scratch; a new version where they differ from the stored row
// (an all-zero row where the stored one had numbers and nothing counts any more).
void Pass::rollup() {
  const ResultTable extent =
      query("SELECT count() AS n, min(hour_us) AS lo, max(hour_us) AS hi FROM " + scratch("hours"));
  if (extent.rows() == 0 || extent.column("n").int_at(0) == 0) return;
  const string hours =
      times_between(extent.column("lo").int_at(0), extent.column("hi").int_at(0) + 3'599'999'999);
  const string keys = "(SELECT cn, c, hour_us FROM " + scratch("hours") + ")";
  const string key =
      "isNull(campaign_id) AS cn, ifNull(campaign_id, '') AS c, " + hour_of("event_time_us") + " AS hour_us";
  const string in_keys =
      "(isNull(campaign_id), ifNull(campaign_id, ''), " + hour_of("event_time_us") + ") IN " + keys + hours;
  const string zero_dec = "toDecimal128(0, 0)";
  const string z = "toUInt64(0)";
  // One row per source and key, all of the same types: n_won, n_imp, n_spend, n_clk, n_att, n_orph,
  // n_conv, n_ct, n_vt, n_ua, n_val.
  const auto row = [&](const string& won, const string& imp, const string& spend, const string& clk,
                       const string& att, const string& orph, const string& conv, const string& ct,
                       const string& vt, const string& ua, const string& val) {
    return "toUInt64(" + won + ") AS n_won, toUInt64(" + imp + ") AS n_imp, " + spend +
           " AS n_spend, toUInt64(" + clk + ") AS n_clk, toUInt64(" + att + ") AS n_att, toUInt64(" + orph +
           ") AS n_orph, toUInt64(" + conv + ") AS n_conv, toUInt64(" + ct + ") AS n_ct, toUInt64(" + vt +
           ") AS n_vt, toUInt64(" + ua + ") AS n_ua, " + val + " AS n_val";
  };
  const string parts =
      // every touched key, so a key whose counts went to nothing gets its all-zero row
      "SELECT cn, c, hour_us, " + row(z, z, zero_dec, z, z, z, z, z, z, z, zero_dec) + " FROM " +
      scratch("hours") + " UNION ALL SELECT cn, c, hour_us, " +
      row(z, "count()", "ifNull(sum(" + units9("win_price_cpm") + "), " + zero_dec + ")", z, z, z, z, z, z, z,
          zero_dec) +
      " FROM (SELECT " + key + ", win_price_cpm FROM " + t("impressions") + " WHERE " + in_keys +
      ") GROUP BY cn, c, hour_us UNION ALL SELECT cn, c, hour_us, " +
      row(z, z, zero_dec, "count()", "countIf(attribution = 'attributed')", "countIf(attribution = 'orphan')",
          z, z, z, z, zero_dec) +
      " FROM (SELECT " + key + ", attribution FROM " + t("clicks") +
      " FINAL WHERE campaign_id IS NOT NULL AND " + in_keys +
      ") GROUP BY cn, c, hour_us UNION ALL SELECT cn, c, hour_us, " +
      row(z, z, zero_dec, z, z, z, "count()", "countIf(attribution = 'click_through')",
          "countIf(attribution = 'view_through')", "countIf(attribution = 'unattributed')",
          "ifNull(sum(" + units9("conversion_value") + "), " + zero_dec + ")") +
      " FROM (SELECT " + key + ", attribution, conversion_value FROM " + t("conversions") +
      " FINAL WHERE campaign_id IS NOT NULL AND " + in_keys +
      ") GROUP BY cn, c, hour_us UNION ALL SELECT cn, c, hour_us, " +
      row("sum(won)", z, zero_dec, z, z, z, z, z, z, z, zero_dec) + " FROM " + scratch("won") +
      " GROUP BY cn, c, hour_us";
  const string sums =
      "SELECT cn, c, hour_us, sum(n_won) AS s_won, sum(n_imp) AS s_imp, sum(n_spend) AS s_spend, sum(n_clk) "
      "AS "
      "s_clk, sum(n_att) AS s_att, sum(n_orph) AS s_orph, sum(n_conv) AS s_conv, sum(n_ct) AS s_ct, "
      "sum(n_vt) AS "
      "s_vt, sum(n_ua) AS s_ua, sum(n_val) AS s_val FROM (" +
      parts + ") WHERE (cn, c, hour_us) IN " + keys + " GROUP BY cn, c, hour_us";
  const string stored =
      "SELECT isNull(campaign_id) AS cn, ifNull(campaign_id, '') AS c, hour_us, bid_requests_won AS o_won, "
      "impressions AS o_imp, spend AS o_spend, clicks AS o_clk, attributed_clicks AS o_att, orphan_clicks AS "
      "o_orph, conversions AS o_conv, click_through_conversions AS o_ct, view_through_conversions AS o_vt, "
      "unattributed_conversions AS o_ua, conversion_value AS o_val, 1 AS o_found FROM " +
      t("campaign_hourly") + " FINAL WHERE (isNull(campaign_id), ifNull(campaign_id, ''), hour_us) IN " +
      keys;
  const string spend = "s_spend * toDecimal128('0.000000000001', 12)";  // DECIMAL(38,9) * 0.001
  const string value = "s_val * toDecimal128('0.000000001', 12)";       // DECIMAL(38,9) as (38,12)
  const string same =
      "ifNull(o_won, 0) = s_won AND ifNull(o_imp, 0) = s_imp AND ifNull(o_spend, toDecimal128(0, 12)) = " +
      spend +
      " AND ifNull(o_clk, 0) = s_clk AND ifNull(o_att, 0) = s_att AND ifNull(o_orph, 0) = s_orph AND "
      "ifNull(o_conv, 0) = s_conv AND ifNull(o_ct, 0) = s_ct AND ifNull(o_vt, 0) = s_vt AND ifNull(o_ua, 0) "
      "= "
      "s_ua AND ifNull(o_val, toDecimal128(0, 12)) = " +
      value;
  exec("INSERT INTO " + t("campaign_hourly") +
       " (hour_us, campaign_id, bid_requests_won, impressions, spend, clicks, attributed_clicks, "
       "orphan_clicks, "
       "conversions, click_through_conversions, view_through_conversions, unattributed_conversions, "
       "conversion_value, advx_version) SELECT hour_us, if(cn = 1, NULL, c), s_won, s_imp, " +
       spend + ", s_clk, s_att, s_orph, s_conv, s_ct, s_vt, s_ua, " + value + ", " + std::to_string(v_) +
       " FROM (" + sums + ") ANY LEFT JOIN (" + stored +
       ") USING (cn, c, hour_us) WHERE if(o_found = 1, NOT (" + same +
       "), s_won + s_imp + s_clk + s_conv > 0)");
}

// The debts table keeps every debt and the version that paid it: days whose debts are all paid, a week
// or more before the mark, are dropped whole (a synchronous DROP PARTITION, where 18.16's DELETE is an
// asynchronous mutation). A debt made that long ago and written only now would be dropped with its day:
// no micro-batch takes a week between its first insert and its debt.
void Pass::drop_paid_days(int64_t mark) {
  constexpr int64_t kDayUs = 86400LL * 1'000'000, kKeepDays = 7;
  const int64_t before = (mark >= 0 ? mark / kDayUs : -((-mark + kDayUs - 1) / kDayUs)) - kKeepDays;
  const ResultTable parts =
      query("SELECT DISTINCT partition FROM system.parts WHERE database = " + quote_string(db_) +
            " AND table = 'advx_attribution_pending' AND active");
  for (size_t i = 0; i < parts.rows(); i++) {
    int64_t day = 0;
    try {
      day = std::stoll(parts.columns[0].texts[i]);
    } catch (const std::exception&) {
      continue;
    }
    if (day >= before) continue;
    const string in_day = "intDiv(ingested_at_us, toInt64(86400000000)) = " + std::to_string(day);
    if (scalar("SELECT count() FROM " + t("advx_attribution_pending") + " FINAL WHERE " + in_day +
               " AND advx_version = 0") == 0)
      exec("ALTER TABLE " + t("advx_attribution_pending") + " DROP PARTITION " + std::to_string(day));
  }
}

void Pass::pay() {
  if (debts_.empty()) return;
  string sql =
      "INSERT INTO " + t("advx_attribution_pending") + " (ingested_at_us, advx_debt, advx_version) VALUES ";
  for (size_t i = 0; i < debts_.size(); i++) {
    if (i) sql += ", ";
    sql += "(" + std::to_string(debts_[i].first) + ", " + debts_[i].second + ", " + std::to_string(v_) + ")";
  }
  exec(sql);
}

AttributionResult Pass::run(AttributionStop stop, int64_t version_us) {
  read_owed();
  // Rows above the mark: stored by a micro-batch whose debt never came (a kill between its inserts), or
  // by one being written now (its debt will come and be owed).
  const string above = mark_ ? " WHERE ingested_at_us > " + std::to_string(*mark_) : string();
  std::optional<int64_t> newest;
  for (const char* table : {"impressions", "clicks", "conversions", "bid_requests"}) {
    // On a cluster, the rows of every shard: a shard's won bid requests may be named by impressions another
    // shard stored above this one's mark, without a debt here (a kill between the shards' inserts).
    const ResultTable r = query("SELECT count() AS n, max(ingested_at_us) AS m FROM " + g(table) + above);
    if (r.rows() && r.column("n").int_at(0) > 0 && !r.column("m").is_null(0))
      newest = std::max(newest.value_or(std::numeric_limits<int64_t>::min()), r.column("m").int_at(0));
  }
  if (debts_.empty() && !newest) return {};
  int64_t lowest_debt = std::numeric_limits<int64_t>::max(),
          highest_debt = std::numeric_limits<int64_t>::min();
  for (const auto& [at, id] : debts_) {
    lowest_debt = std::min(lowest_debt, at);
    highest_debt = std::max(highest_debt, at);
  }
  if (mark_) lo_ = std::min(lowest_debt, *mark_ + 1);  // no mark: from the first row
  hi_ = std::max(highest_debt, newest.value_or(std::numeric_limits<int64_t>::min()));

  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  v_ = uint64_t(std::max<int64_t>({version_us > 0 ? version_us : now, last_version_ + 1, 1}));
  // 1. The version, before any row carries it.
  exec("INSERT INTO " + t("advx_attribution_progress") + " (attributed_through_us, advx_version) VALUES (" +
       (mark_ ? std::to_string(*mark_) : string("NULL")) + ", " + std::to_string(v_) + ")");
  drop_stale_scratch();
  const auto drop_scratch = [&] {
    for (const char* what : {"pairs", "hours", "won"}) exec("DROP TABLE IF EXISTS " + scratch(what));
  };
  try {
    touched_pairs();
    if (result_.pairs > 0) {
      clicks();
      if (stop == AttributionStop::after_clicks) {
        drop_scratch();
        return result_;
      }
      conversions();
    }
    won();
    touched_hours();
    rollup();
    crash_point("attribution.before_commit");  // results written, debts owed (the kill matrix)
    pay();
    if (!debts_.empty()) {
      const int64_t mark = std::max(highest_debt, mark_.value_or(highest_debt));
      exec("INSERT INTO " + t("advx_attribution_progress") +
           " (attributed_through_us, advx_version) VALUES (" + std::to_string(mark) + ", " +
           std::to_string(v_) + ")");
      drop_paid_days(mark);
    }
  } catch (...) {
    try {
      drop_scratch();
    } catch (const StoreError&) {
    }
    throw;
  }
  drop_scratch();
  return result_;
}

}  // namespace

AttributionResult attribute_pending(HttpClient& client, std::string_view db,
                                    const AttributionWindows& windows, const Settings& settings,
                                    AttributionStop stop, int64_t version_us, std::string_view global_db) {
  Pass pass(client, db, windows, settings, global_db);
  return pass.run(stop, version_us);
}

void insert_debt(HttpClient& client, std::string_view db, int64_t ingested_at_us) {
  client.execute("INSERT INTO " + quote_ident(db) + ".advx_attribution_pending (ingested_at_us) VALUES (" +
                 std::to_string(ingested_at_us) + ")");
}

}  // namespace advx::clickhouse
