// The data-quality counts on DuckDB (monitor/quality_frame.hpp explains the arrival clocks).
#include <string>

#include "core/lag_buckets.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx {
namespace {

std::string ts(int64_t us) { return "make_timestamp(" + std::to_string(us) + "::BIGINT)"; }

// The lag bucket of a stored row, as SQL: the index of the first bound the lag is at most.
std::string lag_bucket_sql(const std::string& lag_seconds) {
  std::string s = "CASE";
  for (size_t i = 0; i < kLagBucketsSeconds.size(); i++)
    s += " WHEN " + lag_seconds + " <= " + std::to_string(kLagBucketsSeconds[i]) + " THEN " +
         std::to_string(i);
  return s + " ELSE " + std::to_string(kLagBucketsSeconds.size()) + " END";
}

// The rows of one stream with the columns every stream has: event_time, ingested_at, source,
// source_record, cat (0 stored, 1 rejected, 2 filtered), campaign_id and the discrepancy flags.
std::string stream_rows(Stream s, const std::string& row_filter, const std::string& bid_filter) {
  const std::string rejects =
      "SELECT event_time, ingested_at, source, source_record, CASE WHEN category = 'filtered' THEN 2 ELSE 1 "
      "END AS cat, NULL::VARCHAR AS campaign_id, false AS unknown, false AS named, false AS auction_unknown, "
      "false AS auction_won, false AS is_click, false AS orphan, false AS is_conversion FROM rejects WHERE "
      "stream = '" +
      std::string(stream_name(s)) + "'" + row_filter;
  switch (s) {
    case Stream::impressions:
      return "SELECT i.event_time, i.ingested_at, i.source, i.source_record, 0 AS cat, i.campaign_id, "
             "i.unknown_creative AS unknown, i.auction_id IS NOT NULL AS named, "
             "i.auction_id IS NOT NULL AND b.auction_id IS NULL AS auction_unknown, "
             "coalesce(b.won, false) AS auction_won, false AS is_click, false AS orphan, "
             "false AS is_conversion FROM impressions i "
             "LEFT JOIN (SELECT auction_id, bool_or(won) AS won FROM bid_requests WHERE true" +
             bid_filter + " GROUP BY auction_id) b ON i.auction_id = b.auction_id WHERE true" + row_filter +
             " UNION ALL " + rejects;
    case Stream::events:
      return "SELECT event_time, ingested_at, source, source_record, 0 AS cat, campaign_id, "
             "unknown_campaign AS unknown, false AS named, false AS auction_unknown, false AS auction_won, "
             "true AS is_click, "
             "attribution = 'orphan' AS orphan, false AS is_conversion FROM clicks WHERE true" +
             row_filter +
             " UNION ALL SELECT event_time, ingested_at, source, source_record, 0, campaign_id, "
             "unknown_campaign, false, false, false, false, false, true FROM conversions WHERE true" +
             row_filter + " UNION ALL " + rejects;
    case Stream::bid_requests:
      return "SELECT event_time, ingested_at, source, source_record, 0 AS cat, NULL::VARCHAR AS campaign_id, "
             "false AS unknown, false AS named, false AS auction_unknown, false AS auction_won, false AS "
             "is_click, false AS orphan, false AS is_conversion FROM bid_requests WHERE true" +
             row_filter + " UNION ALL " + rejects;
  }
  return {};
}

// Rows per chunk of the file-order clock: small enough that a chunk spans seconds of a dense stream and a
// minute or so of a sparse one, large enough that a few records out of order do not move its percentiles.
constexpr int kClockChunk = 16;

std::string frame_sql(Stream s, int64_t from_us, int64_t to_us, ArrivalClock clock, int64_t bucket_us) {
  std::string rows;
  // Bid requests an impression may name: within an hour of it (the auction precedes its impression, by
  // seconds usually). By the clock, the impressions' event times are the frame's range; by ingested_at,
  // they are wherever the arriving impressions say (a backfill brings last week's).
  std::string bid_filter = " AND event_time >= " + ts(from_us - 3600'000'000LL) + " AND event_time < " +
                           ts(to_us + 3600'000'000LL);
  if (clock == ArrivalClock::ingested_at) {
    const std::string arrived = " AND ingested_at >= " + ts(from_us) + " AND ingested_at < " + ts(to_us);
    bid_filter = " AND event_time >= (SELECT lo FROM bounds) AND event_time <= (SELECT hi FROM bounds)";
    // One scan for both bounds, and only where they are used.
    rows = s == Stream::impressions
               ? "WITH bounds AS MATERIALIZED (SELECT min(event_time) - INTERVAL 1 HOUR AS lo, "
                 "max(event_time) + INTERVAL 1 HOUR AS hi FROM impressions WHERE true" +
                     arrived + "), "
               : "WITH ";
    rows += "x AS (SELECT *, ingested_at AS clock FROM (" + stream_rows(s, arrived, bid_filter) + "))";
  } else {
    rows =
        "WITH r AS (" + stream_rows(s, "", bid_filter) +
        "), n AS (SELECT *, row_number() OVER (ORDER BY ingested_at, source, source_record) AS rn FROM r), "
        "o AS (SELECT *, (rn - 1) // " +
        std::to_string(kClockChunk) +
        " AS chunk FROM n), c AS (SELECT chunk, quantile_disc(event_time, 0.75) AS q, "
        "quantile_disc(event_time, 0.1) AS q10 FROM o GROUP BY chunk), k AS (SELECT chunk, q, q10, max(q) "
        "OVER (ORDER BY chunk ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND 1 PRECEDING) AS prev FROM c), y AS (SELECT o.*, k.q, CASE WHEN o.event_time IS NOT NULL THEN "
        "greatest(k.prev, k.q10, o.event_time) END AS own FROM o JOIN k USING (chunk)), x AS (SELECT *, "
        "coalesce(own, last_value(own IGNORE NULLS) OVER (ORDER BY rn ROWS UNBOUNDED PRECEDING), q) AS "
        "clock FROM y)";
  }
  const std::string lag = "greatest(epoch(clock - event_time), 0)";
  const std::string b = std::to_string(bucket_us);
  return rows + " SELECT epoch_us(clock) // " + b + " * " + b + " AS minute, CASE WHEN cat = 0 THEN " +
         lag_bucket_sql(lag) +
         " ELSE -1 END AS bucket, campaign_id, grouping(campaign_id) AS by_bucket, "
         "count(*) FILTER (cat = 0) AS stored, count(*) FILTER (cat = 1) AS rejected, "
         "count(*) FILTER (cat = 2) AS filtered, count(*) FILTER (cat = 0 AND unknown) AS unknown, "
         "count(*) FILTER (cat = 0 AND named) AS auction_named, "
         "count(*) FILTER (cat = 0 AND auction_unknown) AS auction_unknown, "
         "count(*) FILTER (cat = 0 AND auction_won) AS auction_won, "
         "count(*) FILTER (cat = 0 AND is_click) AS clicks, count(*) FILTER (cat = 0 AND orphan) AS "
         "orphan_clicks, "
         "count(*) FILTER (cat = 0 AND is_conversion) AS conversions, max(" +
         lag + ") FILTER (cat = 0) AS max_lag_s FROM x WHERE clock >= " + ts(from_us) + " AND clock < " +
         ts(to_us) + " GROUP BY GROUPING SETS ((minute, bucket), (minute, campaign_id))";
}

}  // namespace

ResultTable DuckDbStore::quality_counts(Stream stream, int64_t from_us, int64_t to_us, ArrivalClock clock,
                                        int64_t bucket_us) {
  return query(frame_sql(stream, from_us, to_us, clock, bucket_us));
}

std::optional<std::pair<int64_t, int64_t>> DuckDbStore::event_time_extent() {
  const ResultTable r = query(
      "SELECT epoch_us(date_trunc('minute', quantile_disc(t, 0.001))), epoch_us(date_trunc('minute', "
      "quantile_disc(t, 0.999))) "
      "FROM (SELECT event_time AS t FROM impressions UNION ALL SELECT event_time FROM clicks UNION ALL "
      "SELECT event_time FROM conversions UNION ALL SELECT event_time FROM bid_requests)");
  if (r.rows() == 0 || r.columns[0].is_null(0)) return std::nullopt;
  return std::pair{r.columns[0].int_at(0), r.columns[1].int_at(0)};
}

}  // namespace advx
