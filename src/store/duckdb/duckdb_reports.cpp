#include "store/duckdb/duckdb_reports.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/time_util.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx::report {

namespace {

// What each event table contributes to a key. Clicks and conversions have no site, country or device of
// their own: they take them (and the creative, when they name none) from their attributed impression.
// A won bid request takes them from its winning impression, and its day and hour from itself.
struct KeyExpr {
  Dimension dim;
  const char* impression;  // alias i
  const char* click;       // alias c, attributed impression ai
  const char* conversion;  // alias v, attributed impression ai
  const char* won_bid;     // alias b, winning impression w
};

constexpr KeyExpr kKeys[] = {
    {Dimension::creative, "i.creative_id", "coalesce(nullif(c.creative_id, ''), ai.creative_id)",
     "coalesce(nullif(v.creative_id, ''), ai.creative_id)", "w.creative_id"},
    {Dimension::site, "i.site", "ai.site", "ai.site", "w.site"},
    {Dimension::country, "i.country", "ai.country", "ai.country", "w.country"},
    {Dimension::device, "i.device_type", "ai.device_type", "ai.device_type", "w.device_type"},
    {Dimension::day, "i.event_date", "c.event_date", "v.event_date", "b.event_date"},
    {Dimension::hour, "i.event_hour", "c.event_hour", "v.event_hour", "b.event_hour"},
};

const KeyExpr& key_expr(Dimension d) {
  for (const KeyExpr& k : kKeys)
    if (k.dim == d) return k;
  return kKeys[0];  // not reached: campaign is never looked up
}

// `alias.event_time` within the range, or TRUE.
std::string in_range(const TimeRange& range, const char* alias) {
  std::string s;
  if (range.from_us)
    s += std::string(alias) + ".event_time >= make_timestamp(" + std::to_string(*range.from_us) + ")";
  if (range.to_us) {
    if (!s.empty()) s += " AND ";
    s += std::string(alias) + ".event_time < make_timestamp(" + std::to_string(*range.to_us) + ")";
  }
  return s.empty() ? "TRUE" : s;
}

// Any of the ranges (FALSE for none).
std::string in_ranges(const std::vector<TimeRange>& ranges, const char* alias) {
  if (ranges.size() == 1) return in_range(ranges[0], alias);
  std::string s;
  for (const TimeRange& r : ranges) s += (s.empty() ? "((" : ") OR (") + in_range(r, alias);
  return s.empty() ? "FALSE" : s + "))";
}

// Money is summed exactly, so that any grouping of the same rows (by hour in the rollup, by run, in any
// order) gives the same total to the last digit: each amount as DECIMAL(38,9), sums as DECIMAL(38,12).
// The validator bounds amounts (kMaxAmount), so neither can overflow. campaign_hourly uses the same forms.
constexpr const char* kSpendOfImpression = "i.win_price_cpm::DECIMAL(38,9) * 0.001";
constexpr const char* kValueOfConversion = "v.conversion_value::DECIMAL(38,9)::DECIMAL(38,12)";

std::string quoted(std::string_view column) { return "\"" + std::string(column) + "\""; }

// "expr AS "col", " for each key, taking the expression for one event table.
std::string key_select(const std::vector<Dimension>& keys, const char* KeyExpr::*source) {
  std::string s;
  for (Dimension d : keys)
    s += std::string(key_expr(d).*source) + " AS " + quoted(dimension_column(d)) + ", ";
  return s;
}

std::string key_list(const std::vector<Dimension>& keys, const char* prefix) {
  std::string s;
  for (Dimension d : keys) s += prefix + quoted(dimension_column(d)) + ", ";
  return s;
}

std::string ratio(const std::string& num, const std::string& den) {
  return "CASE WHEN " + den + " > 0 THEN " + num + "::DOUBLE / " + den + " END";
}

}  // namespace

std::string campaigns_sql(const std::vector<Dimension>& by, const TimeRange& range, Scan scan) {
  const std::vector<Dimension> keys = other_keys(by);
  bool needs_impression = false;  // a key that clicks and conversions take from their impression
  for (Dimension d : keys)
    needs_impression = needs_impression || (d != Dimension::day && d != Dimension::hour);
  // campaign_hourly has campaign, day and hour: it serves the whole hours of the range for those keys.
  HourSplit split;
  if (scan == Scan::rollup && !needs_impression)
    split = split_hours(range);
  else
    split.raw.push_back(range);
  const std::string raw_range_i = in_ranges(split.raw, "i"), raw_range_c = in_ranges(split.raw, "c"),
                    raw_range_v = in_ranges(split.raw, "v"), raw_range_b = in_ranges(split.raw, "b");

  const std::string attributed_join =
      needs_impression ? " LEFT JOIN imp_by_key ai ON ai.event_key = {}.attributed_impression_key" : "";
  auto join_for = [&](const char* alias) {
    std::string j = attributed_join;
    const size_t at = j.find("{}");
    if (at != std::string::npos) j.replace(at, 2, alias);
    return j;
  };

  std::string sql = "WITH ";
  if (needs_impression) {
    // One impression per key, should two stored impressions share one.
    sql +=
        "imp_by_key AS (SELECT event_key, creative_id, site, country, device_type FROM impressions "
        "QUALIFY row_number() OVER (PARTITION BY event_key ORDER BY event_time, source, source_record) = "
        "1), ";
  }
  std::vector<std::string> facts;
  if (!split.raw.empty()) {
    // The winning impression of an auction: the smallest event_key among the impressions naming it, ties
    // to the smallest campaign, creative, site, country, device (as the rollup). Only auctions of won bid
    // requests in range are looked at. An aggregate, not a window: it needs far less memory.
    sql +=
        "win AS (SELECT auction_id, w.campaign_id, w.creative_id, w.site, w.country, w.device_type FROM "
        "(SELECT auction_id, arg_min({'campaign_id': campaign_id, 'creative_id': creative_id, 'site': site, "
        "'country': country, 'device_type': device_type}, (event_key, campaign_id, creative_id, site, "
        "country, device_type)) AS w FROM impressions WHERE auction_id IN (SELECT b.auction_id FROM "
        "bid_requests b WHERE b.won AND " +
        raw_range_b + ") GROUP BY auction_id)), ";
    facts.push_back("SELECT " + key_select(keys, &KeyExpr::impression) + "i.campaign_id, 1 AS n_imp, " +
                    std::string(kSpendOfImpression) + " AS spend FROM impressions i WHERE " + raw_range_i);
    facts.push_back("SELECT " + key_select(keys, &KeyExpr::click) +
                    "c.campaign_id, 1 AS n_click, (c.attribution = 'attributed')::INTEGER AS n_attributed, "
                    "(c.attribution = 'orphan')::INTEGER AS n_orphan FROM clicks c" +
                    join_for("c") + " WHERE " + raw_range_c);
    facts.push_back("SELECT " + key_select(keys, &KeyExpr::conversion) +
                    "v.campaign_id, 1 AS n_conv, (v.attribution = 'click_through')::INTEGER AS n_ct, "
                    "(v.attribution = 'view_through')::INTEGER AS n_vt, "
                    "(v.attribution = 'unattributed')::INTEGER AS n_un, " +
                    std::string(kValueOfConversion) +
                    " AS value "
                    "FROM conversions v" +
                    join_for("v") + " WHERE " + raw_range_v);
    facts.push_back("SELECT " + key_select(keys, &KeyExpr::won_bid) +
                    "w.campaign_id, 1 AS n_won FROM bid_requests b JOIN win w ON w.auction_id = b.auction_id "
                    "WHERE b.won AND " +
                    raw_range_b);
  }
  if (split.rollup) {
    // Whole hours from the rollup.
    std::string rollup_keys;
    for (Dimension d : keys)
      rollup_keys +=
          d == Dimension::day ? "h.hour::DATE AS \"day\", " : "hour(h.hour)::UTINYINT AS \"hour\", ";
    std::string where = "TRUE";
    if (split.rollup->from_us)
      where += " AND h.hour >= make_timestamp(" + std::to_string(*split.rollup->from_us) + ")";
    if (split.rollup->to_us)
      where += " AND h.hour < make_timestamp(" + std::to_string(*split.rollup->to_us) + ")";
    facts.push_back("SELECT " + rollup_keys +
                    "h.campaign_id, h.bid_requests_won AS n_won, h.impressions AS n_imp, h.spend, "
                    "h.clicks AS n_click, h.attributed_clicks AS n_attributed, h.orphan_clicks AS n_orphan, "
                    "h.conversions AS n_conv, h.click_through_conversions AS n_ct, "
                    "h.view_through_conversions AS n_vt, h.unattributed_conversions AS n_un, "
                    "h.conversion_value AS value FROM campaign_hourly h WHERE " +
                    where);
  }
  sql += "facts AS (";
  for (size_t f = 0; f < facts.size(); ++f) sql += (f ? " UNION ALL BY NAME " : "") + facts[f];
  sql += "), ";
  sql += "agg AS (SELECT " + key_list(keys, "") +
         "campaign_id, sum(n_won) AS n_won, sum(n_imp) AS n_imp, sum(n_click) AS n_click, "
         "sum(n_attributed) AS n_attributed, sum(n_orphan) AS n_orphan, sum(n_conv) AS n_conv, "
         "sum(n_ct) AS n_ct, sum(n_vt) AS n_vt, sum(n_un) AS n_un, sum(value) AS value, sum(spend) AS spend "
         "FROM facts GROUP BY ALL), ";
  // Campaigns of the dimension table with no event in range: one row of zeros, keys NULL.
  sql +=
      "all_rows AS (SELECT * FROM agg UNION ALL BY NAME SELECT DISTINCT campaign_id FROM campaigns "
      "WHERE campaign_id IS NOT NULL AND campaign_id NOT IN "
      "(SELECT campaign_id FROM agg WHERE campaign_id IS NOT NULL)), ";
  sql +=
      "t AS (SELECT " + key_list(keys, "r.") +
      "r.campaign_id, d.advertiser_id, "
      "coalesce(r.n_won, 0)::BIGINT AS bid_requests_won, coalesce(r.n_imp, 0)::BIGINT AS impressions, "
      "coalesce(r.n_click, 0)::BIGINT AS clicks, coalesce(r.n_attributed, 0)::BIGINT AS attributed_clicks, "
      "coalesce(r.n_orphan, 0)::BIGINT AS orphan_clicks, coalesce(r.n_conv, 0)::BIGINT AS conversions, "
      "coalesce(r.n_ct, 0)::BIGINT AS click_through_conversions, "
      "coalesce(r.n_vt, 0)::BIGINT AS view_through_conversions, "
      "coalesce(r.n_un, 0)::BIGINT AS unattributed_conversions, "
      "coalesce(r.value, 0)::DOUBLE AS conversion_value, coalesce(r.spend, 0)::DOUBLE AS spend "
      "FROM all_rows r LEFT JOIN (SELECT campaign_id, min(advertiser_id) AS advertiser_id FROM campaigns "
      "GROUP BY campaign_id) d ON d.campaign_id = r.campaign_id) ";
  sql += "SELECT " + key_list(keys, "") +
         "campaign_id, advertiser_id, bid_requests_won, impressions, clicks, attributed_clicks, "
         "orphan_clicks, " +
         ratio("clicks", "impressions") +
         " AS ctr, conversions, click_through_conversions, view_through_conversions, "
         "unattributed_conversions, " +
         ratio("conversions", "clicks") + " AS conversion_rate, conversion_value, spend, " +
         ratio("spend", "clicks") + " AS cpc, " + ratio("spend", "conversions") + " AS cpa, " +
         ratio("conversion_value", "spend") + " AS roas FROM t ORDER BY ";
  for (Dimension d : keys) sql += quoted(dimension_column(d)) + " NULLS LAST, ";
  sql += "campaign_id NULLS LAST";
  return sql;
}

std::string funnel_sql(bool by_campaign, const TimeRange& range, Scan scan) {
  if (by_campaign) {
    // A bid request names no campaign until it is won: per campaign, bid_requests and win_rate are NULL.
    return "SELECT campaign_id, NULL::BIGINT AS bid_requests, bid_requests_won, impressions, clicks, "
           "conversions, NULL::DOUBLE AS win_rate, ctr, conversion_rate FROM (" +
           campaigns_sql({}, range, scan) + ") ORDER BY campaign_id NULLS LAST";
  }
  return "WITH b AS (SELECT count(*)::BIGINT AS n, (count(*) FILTER (WHERE x.won))::BIGINT AS w "
         "FROM bid_requests x WHERE " +
         in_range(range, "x") + "), i AS (SELECT count(*)::BIGINT AS n FROM impressions x WHERE " +
         in_range(range, "x") + "), c AS (SELECT count(*)::BIGINT AS n FROM clicks x WHERE " +
         in_range(range, "x") + "), v AS (SELECT count(*)::BIGINT AS n FROM conversions x WHERE " +
         in_range(range, "x") +
         ") SELECT b.n AS bid_requests, b.w AS bid_requests_won, i.n AS impressions, c.n AS clicks, "
         "v.n AS conversions, " +
         ratio("b.w", "b.n") + " AS win_rate, " + ratio("c.n", "i.n") + " AS ctr, " + ratio("v.n", "c.n") +
         " AS conversion_rate FROM b, i, c, v";
}

std::string latency_sql(bool by_campaign, const TimeRange& range) {
  std::string sql =
      "WITH x AS (SELECT c.campaign_id, 1 AS k, c.seconds_from_impression AS s FROM clicks c "
      "WHERE c.attribution = 'attributed' AND c.seconds_from_impression IS NOT NULL AND " +
      in_range(range, "c") +
      " UNION ALL SELECT v.campaign_id, 2 AS k, v.seconds_from_touch AS s FROM conversions v "
      "WHERE v.attribution = 'click_through' AND v.seconds_from_touch IS NOT NULL AND " +
      in_range(range, "v") +
      "), m(k, metric) AS (VALUES (1, 'impression_to_click'), (2, 'click_to_conversion'))";
  const std::string campaign = by_campaign ? "g.campaign_id, " : "";
  if (by_campaign) sql += ", g AS (SELECT DISTINCT campaign_id FROM x)";
  sql += " SELECT " + campaign +
         "m.metric, count(x.s)::BIGINT AS count, quantile_cont(x.s, 0.5) AS p50_seconds, "
         "quantile_cont(x.s, 0.9) AS p90_seconds, quantile_cont(x.s, 0.99) AS p99_seconds FROM m " +
         (by_campaign ? "CROSS JOIN g " : "") + "LEFT JOIN x ON x.k = m.k" +
         (by_campaign ? " AND x.campaign_id IS NOT DISTINCT FROM g.campaign_id" : "") + " GROUP BY " +
         campaign + "m.k, m.metric ORDER BY " + (by_campaign ? "g.campaign_id NULLS LAST, " : "") + "m.k";
  return sql;
}

std::string frequency_sql(bool by_campaign, const TimeRange& range) {
  std::string sql =
      "WITH per_user AS (SELECT i.user_id, " + std::string(by_campaign ? "i.campaign_id, " : "") +
      "count(*) AS n FROM impressions i WHERE i.user_id IS NOT NULL AND " + in_range(range, "i") +
      " GROUP BY ALL), conv AS (SELECT DISTINCT v.user_id" + (by_campaign ? ", v.campaign_id" : "") +
      " FROM conversions v WHERE v.user_id IS NOT NULL AND " + in_range(range, "v") +
      "), u AS (SELECT p.*, CASE WHEN p.n = 1 THEN 1 WHEN p.n = 2 THEN 2 WHEN p.n = 3 THEN 3 "
      "WHEN p.n <= 5 THEN 4 WHEN p.n <= 10 THEN 5 ELSE 6 END AS b, "
      "cv.user_id IS NOT NULL AS converted FROM per_user p LEFT JOIN conv cv "
      "ON cv.user_id = p.user_id" +
      (by_campaign ? " AND cv.campaign_id IS NOT DISTINCT FROM p.campaign_id" : "") +
      "), buckets(b, label) AS (VALUES (1, '1'), (2, '2'), (3, '3'), (4, '4-5'), (5, '6-10'), "
      "(6, '11+'))";
  if (by_campaign) sql += ", g AS (SELECT DISTINCT campaign_id FROM per_user)";
  sql += " SELECT " + std::string(by_campaign ? "g.campaign_id, " : "") +
         "buckets.label AS impressions_per_user, count(u.user_id)::BIGINT AS users, "
         "coalesce(sum(u.n), 0)::BIGINT AS impressions, "
         "(count(u.user_id) FILTER (WHERE u.converted))::BIGINT AS converting_users, " +
         ratio("count(u.user_id) FILTER (WHERE u.converted)", "count(u.user_id)") +
         " AS conversion_rate FROM buckets " + (by_campaign ? "CROSS JOIN g " : "") +
         "LEFT JOIN u ON u.b = buckets.b" +
         (by_campaign ? " AND u.campaign_id IS NOT DISTINCT FROM g.campaign_id" : "") + " GROUP BY " +
         (by_campaign ? "g.campaign_id, " : "") + "buckets.b, buckets.label ORDER BY " +
         (by_campaign ? "g.campaign_id NULLS LAST, " : "") + "buckets.b";
  return sql;
}

std::string report_sql(const ReportRequest& q) {
  switch (q.kind) {
    case Kind::campaigns:
      return campaigns_sql(q.by, q.range, q.scan);
    case Kind::funnel:
      return funnel_sql(q.by_campaign, q.range, q.scan);
    case Kind::latency:
      return latency_sql(q.by_campaign, q.range);
    case Kind::frequency:
      return frequency_sql(q.by_campaign, q.range);
  }
  return {};
}

}  // namespace advx::report

namespace advx {

ResultTable DuckDbStore::report(const ReportRequest& request) { return query(report::report_sql(request)); }

}  // namespace advx
