#include "monitor/quality_frame.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace advx::monitor {

void StreamMinute::add(const StreamMinute& o) {
  stored += o.stored;
  rejected += o.rejected;
  filtered += o.filtered;
  duplicates += o.duplicates;
  for (size_t i = 0; i < lag.size(); i++) lag[i] += o.lag[i];
  max_lag_s = std::max(max_lag_s, o.max_lag_s);
  unknown += o.unknown;
  auction_named += o.auction_named;
  auction_unknown += o.auction_unknown;
  auction_won += o.auction_won;
  clicks += o.clicks;
  orphan_clicks += o.orphan_clicks;
  conversions += o.conversions;
}

void QualityFrame::replace_minutes(QualityFrame&& newer, std::optional<Stream> only) {
  for (auto& [m, s] : newer.streams) {
    auto& mine = streams[m];
    for (int i = 0; i < kStreamCount; i++) {
      if (only && Stream(i) != *only) continue;
      // Duplicates are not stored: a re-read knows none, keep what the engine added.
      s[size_t(i)].duplicates = mine[size_t(i)].duplicates;
      mine[size_t(i)] = s[size_t(i)];
    }
  }
  for (auto& [m, c] : newer.campaigns) {
    if (!only) {
      campaigns[m] = std::move(c);
      continue;
    }
    if (*only != Stream::events) continue;  // the campaigns' counts of the other streams are impressions
    for (auto& [id, counts] : campaigns[m]) counts.clicks = counts.conversions = 0;
    for (const auto& [id, counts] : c) {
      CampaignMinute& mine = campaigns[m][id];
      mine.clicks = counts.clicks;
      mine.conversions = counts.conversions;
    }
  }
}

void QualityFrame::trim(int64_t minute_us, int64_t campaign_minute_us) {
  streams.erase(streams.begin(), streams.lower_bound(minute_us));
  campaigns.erase(campaigns.begin(), campaigns.lower_bound(campaign_minute_us));
}

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
         "count(*) FILTER (cat = 0), count(*) FILTER (cat = 1), count(*) FILTER (cat = 2), "
         "count(*) FILTER (cat = 0 AND unknown), count(*) FILTER (cat = 0 AND named), "
         "count(*) FILTER (cat = 0 AND auction_unknown), count(*) FILTER (cat = 0 AND auction_won), "
         "count(*) FILTER (cat = 0 AND is_click), count(*) FILTER (cat = 0 AND orphan), "
         "count(*) FILTER (cat = 0 AND is_conversion), max(" +
         lag + ") FILTER (cat = 0) FROM x WHERE clock >= " + ts(from_us) + " AND clock < " + ts(to_us) +
         " GROUP BY GROUPING SETS ((minute, bucket), (minute, campaign_id))";
}

uint64_t to_u64(const std::string& s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

int64_t to_i64(const std::string& s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

QualityFrame read_quality_frame(DuckDbStore& store, int64_t from_us, int64_t to_us, ArrivalClock clock,
                                int64_t bucket_us, std::optional<Stream> only) {
  QualityFrame frame;
  frame.bucket_us = bucket_us;
  if (from_us >= to_us) return frame;
  for (int si = 0; si < kStreamCount; si++) {
    if (only && Stream(si) != *only) continue;
    const QueryResult r = store.query(frame_sql(Stream(si), from_us, to_us, clock, bucket_us));
    for (size_t row = 0; row < r.rows.size(); row++) {
      const auto& v = r.rows[row];
      const int64_t minute = to_i64(v[0]);
      if (v[3] == "1") {  // grouped by bucket: the stream's counts
        StreamMinute m;
        m.stored = to_u64(v[4]);
        m.rejected = to_u64(v[5]);
        m.filtered = to_u64(v[6]);
        m.unknown = to_u64(v[7]);
        m.auction_named = to_u64(v[8]);
        m.auction_unknown = to_u64(v[9]);
        m.auction_won = to_u64(v[10]);
        m.clicks = to_u64(v[11]);
        m.orphan_clicks = to_u64(v[12]);
        m.conversions = to_u64(v[13]);
        if (!r.is_null[row][14]) m.max_lag_s = std::strtod(v[14].c_str(), nullptr);
        const int64_t bucket = to_i64(v[1]);
        if (bucket >= 0 && size_t(bucket) < kLagBucketCount) m.lag[size_t(bucket)] = m.stored;
        frame.streams[minute][size_t(si)].add(m);
      } else if (!r.is_null[row][2]) {  // grouped by campaign
        CampaignMinute& c = frame.campaigns[minute][v[2]];
        if (Stream(si) == Stream::impressions) c.impressions += to_u64(v[4]);
        c.clicks += to_u64(v[11]);
        c.conversions += to_u64(v[13]);
      }
    }
  }
  return frame;
}

StoredExtent stored_extent(DuckDbStore& store) {
  const QueryResult r = store.query(
      "SELECT epoch_us(date_trunc('minute', quantile_disc(t, 0.001))), epoch_us(date_trunc('minute', "
      "quantile_disc(t, 0.999))) "
      "FROM (SELECT event_time AS t FROM impressions UNION ALL SELECT event_time FROM clicks UNION ALL "
      "SELECT "
      "event_time FROM conversions UNION ALL SELECT event_time FROM bid_requests)");
  StoredExtent e;
  if (r.rows.empty() || r.is_null[0][0]) return e;
  e.first_minute_us = to_i64(r.rows[0][0]);
  e.end_minute_us = to_i64(r.rows[0][1]) + kMinuteUs;
  return e;
}

}  // namespace advx::monitor
