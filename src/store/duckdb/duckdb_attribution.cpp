// Attribution on DuckDB (correlate/attribution.hpp, docs/ATTRIBUTION.md): set-based UPDATEs of the touched
// (user, campaign) pairs, in one transaction with the debts they pay.
#include <algorithm>
#include <string>

#include "core/crash_point.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx {
namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

uint64_t count(DuckDbStore& store, const std::string& sql) {
  const ResultTable r = store.query(sql);
  return r.rows() == 0 ? 0 : static_cast<uint64_t>(r.columns[0].int_at(0));
}

// $RUN: the run's ingested_at; $CLICK, $CT, $VT: the windows as microseconds.
// The pairs whose attribution this run may change: those of its clicks and conversions, and those of its
// impressions that have a click or a conversion at all (an impression alone attributes nothing; skipping
// those pairs keeps a first run over 10M impressions from recomputing millions of empty pairs).
constexpr const char* kTouched = R"sql(
CREATE OR REPLACE TEMP TABLE advx_touched AS
WITH engaged AS (SELECT user_id, campaign_id FROM clicks UNION SELECT user_id, campaign_id FROM conversions)
SELECT DISTINCT i.user_id, i.campaign_id FROM impressions i
SEMI JOIN engaged e ON e.user_id = i.user_id AND e.campaign_id = i.campaign_id
WHERE i.ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN)
UNION SELECT DISTINCT user_id, campaign_id FROM clicks WHERE ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN)
UNION SELECT DISTINCT user_id, campaign_id FROM conversions WHERE ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN);
)sql";

// A click: the latest impression of its user and campaign (and creative, when it names one) at or before
// it and at most the click window before it; ties on time to the smallest impression key.
constexpr const char* kClicks = R"sql(
UPDATE clicks SET attribution = b.attribution, attributed_impression_key = b.imp_key,
                  seconds_from_impression = b.seconds
FROM (
  WITH clk AS (
    SELECT c.rowid AS rid, c.user_id, c.campaign_id, c.creative_id, c.event_time
    FROM clicks c JOIN advx_touched t ON t.user_id = c.user_id AND t.campaign_id = c.campaign_id
  ), best AS (  -- an inner equi-join, so that DuckDB hashes on (user, campaign) and filters the rest
    SELECT clk.rid, i.event_key AS imp_key, (epoch_us(clk.event_time) - epoch_us(i.event_time)) / 1e6 AS seconds
    FROM clk JOIN impressions i ON i.user_id = clk.user_id AND i.campaign_id = clk.campaign_id
    WHERE (clk.creative_id IS NULL OR i.creative_id = clk.creative_id)
      AND i.event_time <= clk.event_time AND epoch_us(clk.event_time) - epoch_us(i.event_time) <= $CLICK
    QUALIFY row_number() OVER (PARTITION BY clk.rid ORDER BY i.event_time DESC, i.event_key ASC) = 1
  )
  SELECT clk.rid, CASE WHEN best.rid IS NULL THEN 'orphan' ELSE 'attributed' END AS attribution,
         best.imp_key, best.seconds
  FROM clk LEFT JOIN best ON best.rid = clk.rid
) b
WHERE clicks.rowid = b.rid;
)sql";

// A conversion: click_through to the latest click of its user and campaign within the click-through
// window, else view_through to the latest impression within the view-through window, else unattributed.
constexpr const char* kConversions = R"sql(
UPDATE conversions SET attribution = b.attribution, attributed_click_key = b.click_key,
                       attributed_impression_key = b.imp_key, seconds_from_touch = b.seconds
FROM (
  WITH conv AS (
    SELECT v.rowid AS rid, v.user_id, v.campaign_id, v.event_time
    FROM conversions v JOIN advx_touched t ON t.user_id = v.user_id AND t.campaign_id = v.campaign_id
  ), by_click AS (
    SELECT conv.rid, k.event_key AS click_key, k.attributed_impression_key AS imp_key,
           (epoch_us(conv.event_time) - epoch_us(k.event_time)) / 1e6 AS seconds
    FROM conv JOIN clicks k
      ON k.user_id = conv.user_id AND k.campaign_id = conv.campaign_id AND k.event_time <= conv.event_time
     AND epoch_us(conv.event_time) - epoch_us(k.event_time) <= $CT
    QUALIFY row_number() OVER (PARTITION BY conv.rid ORDER BY k.event_time DESC, k.event_key ASC) = 1
  ), by_view AS (
    SELECT conv.rid, i.event_key AS imp_key, (epoch_us(conv.event_time) - epoch_us(i.event_time)) / 1e6 AS seconds
    FROM conv JOIN impressions i
      ON i.user_id = conv.user_id AND i.campaign_id = conv.campaign_id AND i.event_time <= conv.event_time
     AND epoch_us(conv.event_time) - epoch_us(i.event_time) <= $VT
    QUALIFY row_number() OVER (PARTITION BY conv.rid ORDER BY i.event_time DESC, i.event_key ASC) = 1
  )
  SELECT conv.rid,
         CASE WHEN c.rid IS NOT NULL THEN 'click_through' WHEN w.rid IS NOT NULL THEN 'view_through'
              ELSE 'unattributed' END AS attribution,
         c.click_key,
         CASE WHEN c.rid IS NOT NULL THEN c.imp_key ELSE w.imp_key END AS imp_key,
         CASE WHEN c.rid IS NOT NULL THEN c.seconds ELSE w.seconds END AS seconds
  FROM conv LEFT JOIN by_click c ON c.rid = conv.rid LEFT JOIN by_view w ON w.rid = conv.rid
) b
WHERE conversions.rowid = b.rid;
)sql";

// Bid requests named by impressions of this run, and bid requests of this run named by any impression.
constexpr const char* kWon = R"sql(
UPDATE bid_requests SET won = true
WHERE NOT won AND auction_id IN (SELECT auction_id FROM impressions
                                 WHERE ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN) AND auction_id IS NOT NULL);
UPDATE bid_requests SET won = true
WHERE NOT won AND ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN)
  AND auction_id IN (SELECT auction_id FROM impressions WHERE auction_id IS NOT NULL);
)sql";

// The hourly rollup (campaign_hourly): rebuilt for every (campaign, hour) whose numbers this run may have
// changed — hours of the run's impressions, of every click and conversion of a touched pair (their
// attribution may have moved), and of bid requests won through an impression or a bid request of the run.
constexpr const char* kTouchedHours = R"sql(
CREATE OR REPLACE TEMP TABLE advx_touched_hours AS
SELECT DISTINCT campaign_id, date_trunc('hour', event_time) AS hour FROM impressions
WHERE ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN)
UNION SELECT DISTINCT c.campaign_id, date_trunc('hour', c.event_time) FROM clicks c
  JOIN advx_touched t ON t.user_id = c.user_id AND t.campaign_id = c.campaign_id
UNION SELECT DISTINCT v.campaign_id, date_trunc('hour', v.event_time) FROM conversions v
  JOIN advx_touched t ON t.user_id = v.user_id AND t.campaign_id = v.campaign_id
UNION SELECT DISTINCT i.campaign_id, date_trunc('hour', b.event_time) FROM bid_requests b
  JOIN impressions i ON i.auction_id = b.auction_id
  -- every campaign naming an auction the run touched: a new impression with a smaller key moves the win
  WHERE b.auction_id IN (SELECT auction_id FROM impressions WHERE ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN)
                         UNION ALL SELECT auction_id FROM bid_requests WHERE ingested_at BETWEEN make_timestamp($FROM) AND make_timestamp($RUN));
CREATE OR REPLACE TEMP TABLE advx_won (hour TIMESTAMP, campaign_id VARCHAR, won BIGINT);
)sql";

// Won bid requests of the touched hours by the campaign of the auction's winning impression: the smallest
// event_key naming it, then the smallest campaign (the report's rule). One pass per slice of auctions
// ($SLICE of $SLICES by hash): on a first run over millions of auctions, one pass's string-keyed
// aggregate and join would not fit the memory limit, and DuckDB cannot spill all of it.
constexpr const char* kWonSlice = R"sql(
INSERT INTO advx_won
WITH bids AS (
  SELECT auction_id, date_trunc('hour', event_time) AS hour FROM bid_requests
  WHERE won AND hash(auction_id) % $SLICES = $SLICE
    AND date_trunc('hour', event_time) IN (SELECT DISTINCT hour FROM advx_touched_hours)
), winner AS (
  SELECT auction_id, arg_min(campaign_id, (event_key, campaign_id)) AS campaign_id FROM impressions
  WHERE auction_id IS NOT NULL AND hash(auction_id) % $SLICES = $SLICE
    AND auction_id IN (SELECT auction_id FROM bids)
  GROUP BY auction_id
)
SELECT b.hour, w.campaign_id, count(*) FROM bids b JOIN winner w ON w.auction_id = b.auction_id GROUP BY ALL;
)sql";

constexpr const char* kRollup = R"sql(
-- campaign_id is NULL for impressions of unknown creatives: they have a row of their own, as in the report.
DELETE FROM campaign_hourly h USING advx_touched_hours t
WHERE h.hour = t.hour AND h.campaign_id IS NOT DISTINCT FROM t.campaign_id;

INSERT INTO campaign_hourly
WITH imp AS (
  SELECT h.hour, h.campaign_id, count(*) AS impressions, coalesce(sum(i.win_price_cpm::DECIMAL(38,9) * 0.001), 0) AS spend  -- exact: see report_queries.cpp
  FROM advx_touched_hours h JOIN impressions i
    ON i.campaign_id IS NOT DISTINCT FROM h.campaign_id AND date_trunc('hour', i.event_time) = h.hour
  GROUP BY ALL
), clk AS (
  SELECT h.hour, h.campaign_id, count(*) AS clicks, count(*) FILTER (c.attribution = 'attributed') AS attributed,
         count(*) FILTER (c.attribution = 'orphan') AS orphan
  FROM advx_touched_hours h JOIN clicks c ON c.campaign_id = h.campaign_id AND date_trunc('hour', c.event_time) = h.hour
  GROUP BY ALL
), conv AS (
  SELECT h.hour, h.campaign_id, count(*) AS conversions,
         count(*) FILTER (v.attribution = 'click_through') AS click_through,
         count(*) FILTER (v.attribution = 'view_through') AS view_through,
         count(*) FILTER (v.attribution = 'unattributed') AS unattributed,
         coalesce(sum(v.conversion_value::DECIMAL(38,9)), 0) AS value
  FROM advx_touched_hours h JOIN conversions v
    ON v.campaign_id = h.campaign_id AND date_trunc('hour', v.event_time) = h.hour
  GROUP BY ALL
), won AS (
  SELECT hour, campaign_id, sum(won) AS won FROM advx_won GROUP BY ALL
)
SELECT h.hour, h.campaign_id, coalesce(won.won, 0), coalesce(imp.impressions, 0), coalesce(imp.spend, 0),
       coalesce(clk.clicks, 0), coalesce(clk.attributed, 0), coalesce(clk.orphan, 0), coalesce(conv.conversions, 0),
       coalesce(conv.click_through, 0), coalesce(conv.view_through, 0), coalesce(conv.unattributed, 0),
       coalesce(conv.value, 0)
FROM advx_touched_hours h
LEFT JOIN imp ON imp.hour = h.hour AND imp.campaign_id IS NOT DISTINCT FROM h.campaign_id
LEFT JOIN clk ON clk.hour = h.hour AND clk.campaign_id = h.campaign_id
LEFT JOIN conv ON conv.hour = h.hour AND conv.campaign_id = h.campaign_id
LEFT JOIN won ON won.hour = h.hour AND won.campaign_id IS NOT DISTINCT FROM h.campaign_id
-- a row only where something counts, as in the report (a campaign can lose its last won bid of an hour)
WHERE coalesce(won.won, 0) + coalesce(imp.impressions, 0) + coalesce(clk.clicks, 0)
      + coalesce(conv.conversions, 0) > 0;

DROP TABLE advx_touched_hours;
DROP TABLE advx_won;
)sql";

// Auctions per pass of kWonSlice: about 1M string keys aggregated and joined fit well within the 1 GB
// that advx ingest gives attribution by default.
constexpr uint64_t kAuctionsPerSlice = 1'000'000;

}  // namespace

void DuckDbStore::owe_attribution(int64_t ingested_at_us) {
  execute("INSERT INTO advx_attribution_pending VALUES (make_timestamp(" + std::to_string(ingested_at_us) +
          "))");
}

AttributionResult DuckDbStore::attribute_pending(const AttributionWindows& w) {
  DuckDbStore& store = *this;
  AttributionResult r;
  store.begin();
  int64_t ingested_from_us = 0, ingested_to_us = 0;
  try {
    // The debts visible to this transaction's snapshot; rows committed later keep theirs for the next pass.
    const ResultTable owed = store.query(
        "SELECT count(*) AS n, epoch_us(min(ingested_at)) AS lo, epoch_us(max(ingested_at)) AS hi FROM "
        "advx_attribution_pending");
    if (owed.rows() == 0 || owed.column("n").int_at(0) == 0) {
      store.commit();
      return r;
    }
    ingested_from_us = owed.column("lo").int_at(0);
    ingested_to_us = owed.column("hi").int_at(0);
  } catch (...) {
    store.rollback();
    throw;
  }
  // Every row with ingested_at between the oldest and the newest debt is attributed again. Rows in that
  // range without a debt of their own were attributed already; attributing them again gives the same
  // result (attribution depends only on the set of stored events), so the range is safe and lets DuckDB
  // skip row groups by their ingested_at bounds.
  auto bind = [&](const char* sql) {
    std::string s = replace_all(sql, "$FROM", std::to_string(ingested_from_us));
    s = replace_all(s, "$RUN", std::to_string(ingested_to_us));
    s = replace_all(s, "$CLICK", std::to_string(w.click_us));
    s = replace_all(s, "$CT", std::to_string(w.click_through_us));
    return replace_all(s, "$VT", std::to_string(w.view_through_us));
  };
  try {
    store.execute(bind(kTouched));
    r.pairs = count(store, "SELECT count(*) FROM advx_touched");
    if (r.pairs > 0) {
      r.clicks =
          count(store, "SELECT count(*) FROM clicks c JOIN advx_touched t USING (user_id, campaign_id)");
      r.conversions =
          count(store, "SELECT count(*) FROM conversions c JOIN advx_touched t USING (user_id, campaign_id)");
      if (r.clicks) store.execute(bind(kClicks));
      if (r.conversions) store.execute(bind(kConversions));
    }
    store.execute(bind(kWon));
    store.execute(bind(kTouchedHours));
    const uint64_t won =
        count(store,
              "SELECT count(*) FROM bid_requests WHERE won AND date_trunc('hour', event_time) "
              "IN (SELECT DISTINCT hour FROM advx_touched_hours)");
    const uint64_t slices = std::max<uint64_t>(1, (won + kAuctionsPerSlice - 1) / kAuctionsPerSlice);
    for (uint64_t slice = 0; slice < slices; ++slice) {
      std::string sql = replace_all(kWonSlice, "$SLICES", std::to_string(slices));
      store.execute(replace_all(sql, "$SLICE", std::to_string(slice)));
    }
    store.execute(bind(kRollup));
    store.execute("DROP TABLE advx_touched");
    // Paid: the debts this pass saw (a debt committed meanwhile has a row this snapshot does not see).
    store.execute("DELETE FROM advx_attribution_pending WHERE ingested_at BETWEEN make_timestamp(" +
                  std::to_string(ingested_from_us) + ") AND make_timestamp(" +
                  std::to_string(ingested_to_us) + ")");
    // How far attribution has gone, for people (docs/TABLES.md); nothing resumes from it.
    store.execute(
        "CREATE OR REPLACE TEMP TABLE advx_progress AS SELECT greatest(coalesce(max(attributed_through), "
        "make_timestamp(0)), make_timestamp(" +
        std::to_string(ingested_to_us) +
        ")) AS t FROM advx_attribution_progress; DELETE FROM advx_attribution_progress; INSERT INTO "
        "advx_attribution_progress SELECT t FROM advx_progress; DROP TABLE advx_progress;");
    crash_point("attribution.before_commit");
    store.commit();
  } catch (...) {
    store.rollback();
    throw;
  }
  return r;
}

}  // namespace advx
