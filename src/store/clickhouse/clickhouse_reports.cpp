// The reports of `advx report` on ClickHouse (docs/REPORTS.md says what each column means): the SQL of
// store/duckdb/duckdb_reports.cpp, the reference these queries give the same answers as, translated for
// 18.16 and current releases; clickhouse_reports.hpp says how they stay exact.
#include "store/clickhouse/clickhouse_reports.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/clickhouse_store.hpp"

namespace advx::clickhouse {
namespace {

using report::Dimension;
using report::HourSplit;
using report::Scan;
using report::TimeRange;

// A table of the store, qualified with its database.
std::string table(std::string_view db, std::string_view name) {
  return quote_ident(db) + "." + quote_ident(name);
}

// The tables attribution rewrites as new row versions: read with FINAL.
std::string final_table(std::string_view db, std::string_view name) { return table(db, name) + " FINAL"; }

// A Date literal of days since 1970, or "" outside what a Date holds (1970-01-01 to 2106-02-07).
std::string date_literal(int64_t days) {
  if (days < 0 || days > 65535) return "";
  const CivilDate c = civil_from_days(days);
  char buf[32];
  std::snprintf(buf, sizeof buf, "'%04d-%02u-%02u'", int(c.year), c.month, c.day);
  return buf;
}

// An event table's `event_time_us` within the range, or 1. With the days of event_date the range spans
// (event_date is the UTC date of event_time: the pipeline writes both), so that only those partitions are
// read: the edges of a range a few hours wide read a day of impressions, not all of them.
std::string in_range(const TimeRange& range, const char* column = "event_time_us", bool dated = true) {
  std::vector<std::string> terms;
  if (range.from_us) {
    terms.push_back(std::string(column) + " >= " + std::to_string(*range.from_us));
    if (const std::string d = date_literal(date_of(*range.from_us)); dated && !d.empty())
      terms.push_back("event_date >= " + d);
  }
  if (range.to_us) {
    terms.push_back(std::string(column) + " < " + std::to_string(*range.to_us));
    if (const std::string d = date_literal(date_of(*range.to_us - 1)); dated && !d.empty())
      terms.push_back("event_date <= " + d);
  }
  std::string s;
  for (const std::string& t : terms) s += (s.empty() ? "" : " AND ") + t;
  return s.empty() ? "1" : s;
}

// Any of the ranges (0 for none).
std::string in_ranges(const std::vector<TimeRange>& ranges) {
  if (ranges.size() == 1) return in_range(ranges[0]);
  std::string s;
  for (const TimeRange& r : ranges) s += (s.empty() ? "((" : ") OR (") + in_range(r);
  return s.empty() ? "0" : s + "))";
}

std::string ratio(const std::string& num, const std::string& den) {
  return "if(" + den + " > 0, toFloat64(" + num + ") / toFloat64(" + den + "), NULL)";
}

// DuckDB's `x::DECIMAL(38,9)` of a double, as the unscaled value (a Decimal(38, 0)): x * 10^9 rounded half
// away from zero (C's round(), which DuckDB calls). Spelled out: round() of a Float64 rounds half to even
// in current ClickHouse releases and half away from zero in 18.16.
std::string unscaled_9(const std::string& x) {
  const std::string v = "(" + x + " * 1e9)";
  return "toDecimal128(trunc(" + v + ") + if(abs(" + v + " - trunc(" + v + ")) >= 0.5, if(" + v +
         " < 0, -1.0, 1.0), 0.0), 0)";
}

// Money as DuckDB sums it (duckdb_reports.cpp): a spend is `win_price_cpm::DECIMAL(38,9) * 0.001`, a
// value `conversion_value::DECIMAL(38,9)::DECIMAL(38,12)`, both Decimal(38, 12) here; NULL as 0 (a sum
// skips it, and sums of nothing are 0 in the report).
constexpr const char* kZeroMoney = "toDecimal128(0, 12)";
std::string spend_of(const std::string& price) {
  return "ifNull(toDecimal128(" + unscaled_9(price) + ", 12) / 1000000000000, " + kZeroMoney + ")";
}
std::string value_of(const std::string& value) {
  return "ifNull(toDecimal128(" + unscaled_9(value) + ", 12) / 1000000000, " + kZeroMoney + ")";
}

// DuckDB's DECIMAL(38,12) -> DOUBLE cast (TryCastDecimalToFloatingPoint) of a non-NULL Decimal(38, 12):
// unscaled / 10^12 while |unscaled| <= 2^53 (what ClickHouse's toFloat64 computes), else the integer part
// and the fraction converted on their own and added. The integer part goes through Int64: a sum of money
// beyond 9.2e18 would not convert right (amounts are below 10^15, so that takes 9,000 of the largest).
std::string money_double(const std::string& d) {
  return "if(abs(" + d + ") <= toDecimal128('9007.199254740992', 12), toFloat64(" + d +
         "), toFloat64(toInt64(" + d + ")) + toFloat64(" + d + " - toDecimal128(toInt64(" + d + "), 12)))";
}

// ---- campaigns ------------------------------------------------------------------------------------------

// What each event table contributes to a key (duckdb_reports.cpp, kKeys): clicks and conversions take
// site, country and device (and the creative when they name none) from their attributed impression (the
// ai_ columns), a won bid request from its winning impression (w_), its day and hour from itself.
struct KeyExpr {
  Dimension dim;
  const char* type;  // the key's type in every fact row
  const char* impression;
  const char* click;
  const char* conversion;
  const char* won_bid;
  const char* rollup;  // campaign_hourly (day and hour only)
};

constexpr KeyExpr kKeys[] = {
    {Dimension::creative, "Nullable(String)", "creative_id",
     "coalesce(nullIf(creative_id, ''), ai_creative_id)", "coalesce(nullIf(creative_id, ''), ai_creative_id)",
     "w_creative_id", ""},
    {Dimension::site, "Nullable(String)", "site", "ai_site", "ai_site", "w_site", ""},
    {Dimension::country, "Nullable(String)", "country", "ai_country", "ai_country", "w_country", ""},
    {Dimension::device, "Nullable(String)", "device_type", "ai_device_type", "ai_device_type",
     "w_device_type", ""},
    // The rollup's day and hour from hour_us (times before 1970, which a Date cannot hold, come out wrong).
    {Dimension::day, "Nullable(Date)", "event_date", "event_date", "event_date", "event_date",
     "toDate('1970-01-01') + toInt32(intDiv(hour_us, 86400000000))"},
    {Dimension::hour, "Nullable(UInt8)", "event_hour", "event_hour", "event_hour", "event_hour",
     "toUInt8(intDiv(hour_us, 3600000000) % 24)"},
};

const KeyExpr& key_expr(Dimension d) {
  for (const KeyExpr& k : kKeys)
    if (k.dim == d) return k;
  return kKeys[0];  // not reached: campaign is never looked up
}

// The fact rows every source contributes, one column list for all (UNION ALL matches by position):
// k0..kN (the keys), cid, the counts f_won..f_un, the money f_val and f_spd, f_rows (1: an event or a
// rollup row; 0: a campaign of the dimension table).
struct Fact {
  std::string cid;
  std::string won = "0", imp = "0", clk = "0", att = "0", orp = "0", cnv = "0", ct = "0", vt = "0", un = "0";
  std::string val = kZeroMoney, spd = kZeroMoney;
  std::string rows = "1";
};

std::string fact_columns(const std::vector<Dimension>& keys, const char* KeyExpr::*source, const Fact& f) {
  std::string s;
  for (size_t k = 0; k < keys.size(); ++k) {
    const KeyExpr& e = key_expr(keys[k]);
    const std::string expr = source ? std::string(e.*source) : "NULL";
    s += "CAST(" + expr + " AS " + e.type + ") AS k" + std::to_string(k) + ", ";
  }
  s += "CAST(" + f.cid + " AS Nullable(String)) AS cid";
  const std::pair<const char*, const std::string*> counts[] = {
      {"f_won", &f.won}, {"f_imp", &f.imp}, {"f_clk", &f.clk}, {"f_att", &f.att}, {"f_orp", &f.orp},
      {"f_cnv", &f.cnv}, {"f_ct", &f.ct},   {"f_vt", &f.vt},   {"f_un", &f.un}};
  for (const auto& [name, expr] : counts) s += ", toInt64(" + *expr + ") AS " + name;
  s += ", toDecimal128(" + f.val + ", 12) AS f_val, toDecimal128(" + f.spd + ", 12) AS f_spd, toInt64(" +
       f.rows + ") AS f_rows";
  return s;
}

// The argMin()s over tuples below aggregate the rows of a subquery, not of the table: on a Distributed table
// (a sharded store) the shards would compute them and send their states, and 18.16's shards crash
// serializing an argMin state of tuples of Nullable strings (a segfault, now and then). From a subquery, the
// shards send rows and the entry server aggregates them; on one server it is the same plan.
//
// One impression per event_key (should two stored impressions share one: the first by event_time, source,
// source_record, as DuckDB's row_number() picks), only for the keys `wanted` (a subquery) names. Columns:
// aik (the join key, Nullable(String) whatever the tables hold) and ai_creative_id, ai_site, ai_country,
// ai_device_type.
std::string impression_by_key(std::string_view db, const std::string& wanted) {
  return "(SELECT CAST(event_key AS Nullable(String)) AS aik, tupleElement(t, 1) AS ai_creative_id, "
         "tupleElement(t, 2) AS ai_site, tupleElement(t, 3) AS ai_country, tupleElement(t, 4) AS "
         "ai_device_type FROM (SELECT event_key, argMin(tuple(creative_id, site, country, device_type), "
         "tuple(event_time_us, isNull(source), ifNull(source, ''), isNull(source_record), "
         "ifNull(source_record, 0))) AS t FROM (SELECT event_key, creative_id, site, country, device_type, "
         "event_time_us, source, source_record FROM " +
         table(db, "impressions") + " WHERE event_key IN (" + wanted + ")) GROUP BY event_key))";
}

// The winning impression of each auction `won_auctions` (a subquery) names: the smallest event_key among
// the impressions naming it, ties to the smallest campaign, creative, site, country, device (NULLs last,
// as DuckDB orders). Columns: aid (the auction, Nullable(String) whatever the tables hold),
// w_campaign_id, w_creative_id, w_site, w_country, w_device_type.
std::string winners(std::string_view db, const std::string& won_auctions) {
  std::string order = "tuple(";
  const char* cols[] = {"event_key", "campaign_id", "creative_id", "site", "country", "device_type"};
  for (size_t i = 0; i < std::size(cols); ++i)
    order += std::string(i ? ", " : "") + "isNull(" + cols[i] + "), ifNull(" + cols[i] + ", '')";
  order += ")";
  return "(SELECT CAST(auction_id AS Nullable(String)) AS aid, tupleElement(w, 1) AS w_campaign_id, "
         "tupleElement(w, 2) AS w_creative_id, "
         "tupleElement(w, 3) AS w_site, tupleElement(w, 4) AS w_country, tupleElement(w, 5) AS w_device_type "
         "FROM (SELECT auction_id, argMin(tuple(campaign_id, creative_id, site, country, device_type), " +
         order +
         ") AS w FROM (SELECT auction_id, event_key, campaign_id, creative_id, site, country, "
         "device_type FROM " +
         table(db, "impressions") + " WHERE auction_id IN (" + won_auctions + ")) GROUP BY auction_id))";
}

std::string campaigns_sql(const std::vector<Dimension>& by, const TimeRange& range, Scan scan,
                          std::string_view db) {
  const std::vector<Dimension> keys = report::other_keys(by);
  bool needs_impression = false;  // a key that clicks and conversions take from their impression
  for (Dimension d : keys)
    needs_impression = needs_impression || (d != Dimension::day && d != Dimension::hour);
  HourSplit split;
  if (scan == Scan::rollup && !needs_impression)
    split = report::split_hours(range);
  else
    split.raw.push_back(range);

  std::vector<std::string> facts;
  if (!split.raw.empty()) {
    const std::string raw = in_ranges(split.raw);
    {
      Fact f;
      f.cid = "campaign_id";
      f.imp = "1";
      f.spd = spend_of("win_price_cpm");
      facts.push_back("SELECT " + fact_columns(keys, &KeyExpr::impression, f) + " FROM " +
                      table(db, "impressions") + " WHERE " + raw);
    }
    // Clicks and conversions, with their attributed impression when a key needs it. The WHERE on the
    // event time may be applied before FINAL: attribution never changes it.
    const auto event_source = [&](const char* name, const char* columns) {
      const std::string rows =
          "(SELECT " + std::string(columns) + " FROM " + final_table(db, name) + " WHERE " + raw + ")";
      if (!needs_impression) return rows;
      const std::string wanted =
          "SELECT attributed_impression_key FROM " + final_table(db, name) + " WHERE " + raw;
      return rows + " ANY LEFT JOIN " + impression_by_key(db, wanted) + " USING aik";
    };
    {
      Fact f;
      f.cid = "campaign_id";
      f.clk = "1";
      f.att = "ifNull(attribution = 'attributed', 0)";
      f.orp = "ifNull(attribution = 'orphan', 0)";
      facts.push_back("SELECT " + fact_columns(keys, &KeyExpr::click, f) + " FROM " +
                      event_source("clicks",
                                   "campaign_id, creative_id, event_date, event_hour, attribution, "
                                   "CAST(attributed_impression_key AS Nullable(String)) AS aik"));
    }
    {
      Fact f;
      f.cid = "campaign_id";
      f.cnv = "1";
      f.ct = "ifNull(attribution = 'click_through', 0)";
      f.vt = "ifNull(attribution = 'view_through', 0)";
      f.un = "ifNull(attribution = 'unattributed', 0)";
      f.val = value_of("conversion_value");
      facts.push_back(
          "SELECT " + fact_columns(keys, &KeyExpr::conversion, f) + " FROM " +
          event_source("conversions",
                       "campaign_id, creative_id, event_date, event_hour, attribution, "
                       "CAST(attributed_impression_key AS Nullable(String)) AS aik, conversion_value"));
    }
    {
      // `won` is rewritten by attribution: the WHERE must see the rows after FINAL, as it does (18.16
      // moves no condition before FINAL, nor do current releases by default).
      const std::string won_bids =
          "SELECT CAST(auction_id AS Nullable(String)) AS aid, event_date, event_hour FROM " +
          final_table(db, "bid_requests") + " WHERE " + raw + " AND ifNull(won, 0) = 1";
      const std::string won_auctions = "SELECT auction_id FROM " + final_table(db, "bid_requests") +
                                       " WHERE " + raw + " AND ifNull(won, 0) = 1";
      Fact f;
      f.cid = "w_campaign_id";
      f.won = "1";
      facts.push_back("SELECT " + fact_columns(keys, &KeyExpr::won_bid, f) + " FROM (" + won_bids +
                      ") ALL INNER JOIN " + winners(db, won_auctions) + " USING aid");
    }
  }
  if (split.rollup) {
    // Whole hours from the rollup; the all-zero rows are tombstones of hours that lost their last event.
    // (Partitions by the day of hour_us: ClickHouse prunes them from the bounds on hour_us itself.)
    const std::string where = in_range(*split.rollup, "hour_us", false);
    std::string nonzero;
    for (const char* c :
         {"bid_requests_won", "impressions", "clicks", "attributed_clicks", "orphan_clicks", "conversions",
          "click_through_conversions", "view_through_conversions", "unattributed_conversions"})
      nonzero += std::string(nonzero.empty() ? "" : " OR ") + "ifNull(" + c + ", 0) != 0";
    Fact f;
    f.cid = "campaign_id";
    f.won = "ifNull(bid_requests_won, 0)";
    f.imp = "ifNull(impressions, 0)";
    f.clk = "ifNull(clicks, 0)";
    f.att = "ifNull(attributed_clicks, 0)";
    f.orp = "ifNull(orphan_clicks, 0)";
    f.cnv = "ifNull(conversions, 0)";
    f.ct = "ifNull(click_through_conversions, 0)";
    f.vt = "ifNull(view_through_conversions, 0)";
    f.un = "ifNull(unattributed_conversions, 0)";
    f.val = "ifNull(conversion_value, " + std::string(kZeroMoney) + ")";
    f.spd = "ifNull(spend, " + std::string(kZeroMoney) + ")";
    facts.push_back("SELECT " + fact_columns(keys, &KeyExpr::rollup, f) + " FROM " +
                    final_table(db, "campaign_hourly") + " WHERE " + where + " AND (" + nonzero + ")");
  }
  {
    // Every campaign of the dimension table, as a row of zeros with its keys NULL; kept below only when
    // the campaign has no event in range.
    Fact f;
    f.cid = "campaign_id";
    f.rows = "0";
    facts.push_back("SELECT " + fact_columns(keys, nullptr, f) + " FROM (SELECT DISTINCT campaign_id FROM " +
                    table(db, "campaigns") + " WHERE campaign_id IS NOT NULL)");
  }

  std::string key_list;
  for (size_t k = 0; k < keys.size(); ++k) key_list += "k" + std::to_string(k) + ", ";
  std::string all_facts;
  for (size_t f = 0; f < facts.size(); ++f) all_facts += (f ? " UNION ALL " : "") + facts[f];
  const char* sums[] = {"won", "imp", "clk", "att", "orp", "cnv", "ct", "vt", "un", "val", "spd", "rows"};
  std::string agg = "SELECT " + key_list + "cid";
  for (const char* s : sums) agg += std::string(", sum(f_") + s + ") AS s_" + s;
  agg += " FROM (" + all_facts + ") GROUP BY " + key_list + "cid";

  // Per campaign: its groups with events, or, for a campaign of the dimension table with none, its row of
  // zeros (one pass: the groups as an array of tuples).
  std::string tuple = "tuple(" + key_list;
  // The money as its exact text: 18.16 crashes (a NULL read in ColumnDecimal::deserializeAndInsertFromArena)
  // on groupArray of a tuple holding a Decimal.
  const auto is_money = [](std::string_view s) { return s == "val" || s == "spd"; };
  for (size_t s = 0; s < std::size(sums); ++s) {
    const std::string col = "s_" + std::string(sums[s]);
    tuple += std::string(s ? ", " : "") + (is_money(sums[s]) ? "toString(" + col + ")" : col);
  }
  tuple += ")";
  const size_t rows_at = keys.size() + std::size(sums);  // s_rows: the tuple's last element (1-based)
  std::string rows = "SELECT ";
  for (size_t k = 0; k < keys.size(); ++k)
    rows += "tupleElement(r, " + std::to_string(k + 1) + ") AS k" + std::to_string(k) + ", ";
  rows += "cid";
  for (size_t s = 0; s < std::size(sums); ++s) {
    const std::string element = "tupleElement(r, " + std::to_string(keys.size() + s + 1) + ")";
    rows += ", " + (is_money(sums[s]) ? "toDecimal128(" + element + ", 12)" : element) + " AS s_" + sums[s];
  }
  // (18.16's lambdas cannot read a column of the query: the filter is chosen outside arrayFilter.)
  rows += " FROM (SELECT cid, if(max(s_rows) > 0, arrayFilter(x -> tupleElement(x, " +
          std::to_string(rows_at) + ") > 0, groupArray(" + tuple + ")), groupArray(" + tuple +
          ")) AS g FROM (" + agg + ") GROUP BY cid) ARRAY JOIN g AS r";

  std::string sql = "SELECT ";
  for (size_t k = 0; k < keys.size(); ++k)
    sql += "k" + std::to_string(k) + " AS " + quote_ident(report::dimension_column(keys[k])) + ", ";
  sql +=
      "cid AS campaign_id, adv AS advertiser_id, toInt64(s_won) AS bid_requests_won, toInt64(s_imp) AS "
      "impressions, toInt64(s_clk) AS clicks, toInt64(s_att) AS attributed_clicks, toInt64(s_orp) AS "
      "orphan_clicks, " +
      ratio("clicks", "impressions") +
      " AS ctr, toInt64(s_cnv) AS conversions, toInt64(s_ct) AS click_through_conversions, toInt64(s_vt) AS "
      "view_through_conversions, toInt64(s_un) AS unattributed_conversions, " +
      ratio("conversions", "clicks") + " AS conversion_rate, " + money_double("s_val") +
      " AS conversion_value, " + money_double("s_spd") +
      " AS spend, if(clicks > 0, spend / toFloat64(clicks), NULL) AS cpc, if(conversions > 0, spend / "
      "toFloat64(conversions), NULL) AS cpa, if(spend > 0, conversion_value / spend, NULL) AS roas FROM (" +
      rows + ") ANY LEFT JOIN (SELECT campaign_id AS cid, min(advertiser_id) AS adv FROM " +
      table(db, "campaigns") + " WHERE campaign_id IS NOT NULL GROUP BY campaign_id) USING cid ORDER BY ";
  for (Dimension d : keys) sql += quote_ident(report::dimension_column(d)) + " NULLS LAST, ";
  sql += "campaign_id NULLS LAST";
  return sql;
}

// ---- funnel, latency, frequency -------------------------------------------------------------------------

std::string funnel_sql(bool by_campaign, const TimeRange& range, Scan scan, std::string_view db) {
  if (by_campaign) {
    // A bid request names no campaign until it is won: per campaign, bid_requests and win_rate are NULL.
    return "SELECT campaign_id, CAST(NULL AS Nullable(Int64)) AS bid_requests, bid_requests_won, "
           "impressions, "
           "clicks, conversions, CAST(NULL AS Nullable(Float64)) AS win_rate, ctr, conversion_rate FROM (" +
           campaigns_sql({}, range, scan, db) + ") ORDER BY campaign_id NULLS LAST";
  }
  const std::string r = in_range(range);
  return "SELECT toInt64(tupleElement(b, 1)) AS bid_requests, toInt64(tupleElement(b, 2)) AS "
         "bid_requests_won, toInt64((SELECT count() FROM " +
         table(db, "impressions") + " WHERE " + r + ")) AS impressions, toInt64((SELECT count() FROM " +
         final_table(db, "clicks") + " WHERE " + r + ")) AS clicks, toInt64((SELECT count() FROM " +
         final_table(db, "conversions") + " WHERE " + r + ")) AS conversions, " +
         ratio("bid_requests_won", "bid_requests") + " AS win_rate, " + ratio("clicks", "impressions") +
         " AS ctr, " + ratio("conversions", "clicks") +
         " AS conversion_rate FROM (SELECT (SELECT tuple(count(), countIf(ifNull(won, 0) = 1)) FROM " +
         final_table(db, "bid_requests") + " WHERE " + r + ") AS b)";
}

// DuckDB's quantile_cont(x, q) of the sorted Array(Float64) `a`: RN = (n - 1) * q, FRN = floor(RN),
// CRN = ceil(RN); v[FRN] when they meet, else lo * (1 - d) + hi * d with d = RN - FRN (DuckDB 1.4's
// InterpolateOperator for doubles; lo + (hi - lo) * d differs in the last bit for 1 in 3 pairs). NULL for
// no values.
std::string quantile_cont(const std::string& a, const char* q) {
  const std::string rn = "((toFloat64(length(" + a + ")) - 1.0) * " + q + ")";
  const std::string lo = a + "[toUInt64(floor(greatest(" + rn + ", 0.0))) + 1]";
  const std::string hi = a + "[toUInt64(ceil(greatest(" + rn + ", 0.0))) + 1]";
  const std::string d = "(" + rn + " - floor(" + rn + "))";
  return "if(length(" + a + ") = 0, NULL, if(floor(" + rn + ") = ceil(" + rn + "), " + lo + ", " + lo +
         " * (1.0 - " + d + ") + " + hi + " * " + d + "))";
}

std::string latency_sql(bool by_campaign, const TimeRange& range, std::string_view db) {
  // `attribution` and the seconds are rewritten by attribution: the WHERE sees the rows after FINAL.
  const std::string r = in_range(range);
  const std::string values =
      "SELECT campaign_id AS cid, toUInt8(1) AS k, assumeNotNull(seconds_from_impression) AS s FROM " +
      final_table(db, "clicks") +
      " WHERE attribution = 'attributed' AND seconds_from_impression IS NOT NULL AND " + r +
      " UNION ALL SELECT campaign_id AS cid, toUInt8(2) AS k, assumeNotNull(seconds_from_touch) AS s FROM " +
      final_table(db, "conversions") +
      " WHERE attribution = 'click_through' AND seconds_from_touch IS NOT NULL AND " + r;
  const std::string per =
      std::string("SELECT ") + (by_campaign ? "cid, " : "") +
      "arraySort(groupArrayIf(s, k = 1)) AS a1, arraySort(groupArrayIf(s, k = 2)) AS a2 FROM (" + values +
      ")" + (by_campaign ? " GROUP BY cid" : "");
  // Both metrics for each campaign with a value (and overall always): one row each.
  return std::string("SELECT ") + (by_campaign ? "cid AS campaign_id, " : "") +
         "if(m = 1, 'impression_to_click', 'click_to_conversion') AS metric, toInt64(length(a)) AS "
         "`count`, " +
         quantile_cont("a", "0.5") + " AS p50_seconds, " + quantile_cont("a", "0.9") + " AS p90_seconds, " +
         quantile_cont("a", "0.99") + " AS p99_seconds FROM (SELECT " + (by_campaign ? "cid, " : "") +
         "m, if(m = 1, a1, a2) AS a FROM (" + per + ") ARRAY JOIN [1, 2] AS m) ORDER BY " +
         (by_campaign ? "campaign_id NULLS LAST, " : "") + "m";
}

std::string frequency_sql(bool by_campaign, const TimeRange& range, std::string_view db) {
  const std::string r = in_range(range);
  // Impressions per user (and campaign); converted: a conversion in range by the user (of the campaign,
  // a NULL campaign matching a NULL one, as IS NOT DISTINCT FROM).
  const std::string per_user = "SELECT assumeNotNull(user_id) AS uid, " +
                               std::string(by_campaign ? "campaign_id AS cid, " : "") + "count() AS n FROM " +
                               table(db, "impressions") + " WHERE user_id IS NOT NULL AND " + r +
                               " GROUP BY uid" + (by_campaign ? ", cid" : "");
  const std::string converted =
      by_campaign
          ? "(uid, isNull(cid), ifNull(cid, '')) IN (SELECT assumeNotNull(user_id), isNull(campaign_id), "
            "ifNull(campaign_id, '') FROM " +
                final_table(db, "conversions") + " WHERE user_id IS NOT NULL AND " + r + ")"
          : "uid IN (SELECT assumeNotNull(user_id) FROM " + final_table(db, "conversions") +
                " WHERE user_id IS NOT NULL AND " + r + ")";
  const std::string users = std::string("SELECT ") + (by_campaign ? "cid, " : "") +
                            "n, multiIf(n = 1, 1, n = 2, 2, n = 3, 3, n <= 5, 4, n <= 10, 5, 6) AS b, " +
                            converted + " AS converted FROM (" + per_user + ")";
  std::string users_a = "[", imps_a = "[", conv_a = "[";
  for (int b = 1; b <= 6; ++b) {
    const std::string sep = b > 1 ? ", " : "";
    const std::string is_b = "b = " + std::to_string(b);
    users_a += sep + "countIf(" + is_b + ")";
    imps_a += sep + "sumIf(n, " + is_b + ")";
    conv_a += sep + "countIf(" + is_b + " AND converted)";
  }
  const std::string buckets = std::string("SELECT ") + (by_campaign ? "cid, " : "") + users_a +
                              "] AS users_a, " + imps_a + "] AS imps_a, " + conv_a + "] AS conv_a FROM (" +
                              users + ")" + (by_campaign ? " GROUP BY cid" : "");
  // Every bucket, for each campaign with impressions in range (and overall always).
  return std::string("SELECT ") + (by_campaign ? "cid AS campaign_id, " : "") +
         "label AS impressions_per_user, toInt64(users_b) AS users, toInt64(imps_b) AS impressions, "
         "toInt64(conv_b) AS converting_users, " +
         ratio("converting_users", "users") + " AS conversion_rate FROM (" + buckets +
         ") ARRAY JOIN users_a AS users_b, imps_a AS imps_b, conv_a AS conv_b, [1, 2, 3, 4, 5, 6] AS bucket, "
         "['1', '2', '3', '4-5', '6-10', '11+'] AS label ORDER BY " +
         (by_campaign ? "campaign_id NULLS LAST, " : "") + "bucket";
}

}  // namespace

std::string clickhouse_report_sql(const ReportRequest& q, std::string_view db) {
  switch (q.kind) {
    case report::Kind::campaigns:
      return campaigns_sql(q.by, q.range, q.scan, db);
    case report::Kind::funnel:
      return funnel_sql(q.by_campaign, q.range, q.scan, db);
    case report::Kind::latency:
      return latency_sql(q.by_campaign, q.range, db);
    case report::Kind::frequency:
      return frequency_sql(q.by_campaign, q.range, db);
  }
  return {};
}

void retype_report_result(ResultTable& result) {
  for (ResultColumn& col : result.columns) {
    if (col.type == ValueType::real) {
      col.single = false;  // a Float32 was read as a float and widened; the report columns are doubles
    } else if (col.type == ValueType::decimal && col.scale == 0) {
      // UInt64 (count(), sums of counts): DuckDB's BIGINT.
      std::vector<int64_t> ints(col.size(), 0);
      for (size_t r = 0; r < col.size(); ++r) {
        if (col.is_null(r)) continue;
        const __int128 v = col.decimals[r];
        if (v > INT64_MAX || v < INT64_MIN)
          throw StoreError("clickhouse: report column " + col.name + " holds a count beyond int64",
                           StoreErrorCode::internal);
        ints[r] = int64_t(v);
      }
      col.type = ValueType::integer;
      col.ints = std::move(ints);
      col.decimals.clear();
    } else if (col.type == ValueType::boolean) {
      col.type = ValueType::integer;
    }
  }
}

}  // namespace advx::clickhouse

namespace advx {

ResultTable ClickHouseStore::report(const ReportRequest& request) {
  ResultTable result = query(clickhouse::clickhouse_report_sql(request, database()));
  clickhouse::retype_report_result(result);
  return result;
}

}  // namespace advx
