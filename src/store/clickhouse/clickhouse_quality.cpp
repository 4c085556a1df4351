// The data-quality counts on ClickHouse (monitor/quality_frame.hpp explains the arrival clocks).
// ClickHouse 18.16 has no window functions, and the file-order clock is a running computation over the
// rows in the order they were read (chunks of 16, running maxima, the last value seen); so the store reads
// each stream's rows once, in that order, and this file computes the clock and the counts in C++, exactly as
// store/duckdb/duckdb_quality.cpp does in SQL.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/lag_buckets.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/clickhouse_store.hpp"

namespace advx {
namespace {

constexpr int64_t kHourUs = 3'600'000'000LL;
constexpr size_t kClockChunk = 16;

// One stored row or reject, as the counts need it.
struct QualityRow {
  std::optional<int64_t> event_time;  // rejects may have none
  int64_t ingested_at = 0;
  std::string source;
  uint64_t record = 0;
  int cat = 0;  // 0 stored, 1 rejected, 2 filtered
  std::optional<std::string> campaign;
  bool unknown = false, named = false, auction_unknown = false, auction_won = false;
  bool is_click = false, orphan = false, is_conversion = false;
};

// The flag columns every branch query selects, in this order, after t, ing, source, rec, cat, campaign.
constexpr const char* kFlags[] = {"unknown",  "named",  "auction_unknown", "auction_won",
                                  "is_click", "orphan", "is_conversion"};

void read_rows(ClickHouseStore& store, const std::string& sql, std::vector<QualityRow>& out) {
  const ResultTable r = store.query(sql);
  const ResultColumn& t = r.column("t");
  const ResultColumn& ing = r.column("ing");
  const ResultColumn& source = r.column("source");
  const ResultColumn& rec = r.column("rec");
  const ResultColumn& cat = r.column("cat");
  const ResultColumn& campaign = r.column("campaign_id");
  const ResultColumn* flags[std::size(kFlags)];
  for (size_t f = 0; f < std::size(kFlags); f++) flags[f] = &r.column(kFlags[f]);
  for (size_t i = 0; i < r.rows(); i++) {
    QualityRow& q = out.emplace_back();
    if (!t.is_null(i)) q.event_time = t.int_at(i);
    q.ingested_at = ing.int_at(i);
    q.source = source.text_at(i);
    q.record = rec.is_null(i) ? 0 : uint64_t(rec.int_at(i));
    q.cat = int(cat.int_at(i));
    if (!campaign.is_null(i)) q.campaign = campaign.text_at(i);
    bool* dst[] = {&q.unknown,  &q.named,  &q.auction_unknown, &q.auction_won,
                   &q.is_click, &q.orphan, &q.is_conversion};
    for (size_t f = 0; f < std::size(kFlags); f++)
      *dst[f] = !flags[f]->is_null(i) && flags[f]->int_at(i) != 0;
  }
}

std::string between(const char* column, int64_t from, int64_t to) {
  return std::string(" AND ") + column + " >= " + std::to_string(from) + " AND " + column + " < " +
         std::to_string(to);
}

// The rows of one stream, as duckdb_quality.cpp's stream_rows() selects them: `row_filter` on the stream's
// tables and its rejects, `bid_filter` on the bid requests an impression's auction is looked up in.
std::vector<QualityRow> stream_rows(ClickHouseStore& store, Stream s, const std::string& row_filter,
                                    const std::string& bid_filter) {
  const std::string db = clickhouse::quote_ident(store.database()) + ".";
  std::vector<QualityRow> rows;
  switch (s) {
    case Stream::impressions:
      read_rows(
          store,
          "SELECT event_time_us AS t, ingested_at_us AS ing, source, source_record AS rec, 0 AS cat, "
          "campaign_id, unknown_creative AS unknown, isNotNull(auction_id) AS named, "
          "isNotNull(auction_id) AND b_present = 0 AS auction_unknown, b_won AS auction_won, 0 AS is_click, "
          "0 AS orphan, 0 AS is_conversion FROM (SELECT event_time_us, ingested_at_us, source, "
          "source_record, campaign_id, unknown_creative, auction_id, ifNull(auction_id, '') AS aid FROM " +
              db + "impressions WHERE 1" + row_filter +
              ") ANY LEFT JOIN (SELECT auction_id AS aid, ifNull(max(won), 0) AS b_won, 1 AS b_present "
              "FROM " +
              db + "bid_requests FINAL WHERE 1" + bid_filter + " GROUP BY aid) USING (aid)",
          rows);
      break;
    case Stream::events:
      read_rows(
          store,
          "SELECT event_time_us AS t, ingested_at_us AS ing, source, source_record AS rec, 0 AS cat, "
          "campaign_id, unknown_campaign AS unknown, 0 AS named, 0 AS auction_unknown, 0 AS auction_won, "
          "1 AS is_click, attribution = 'orphan' AS orphan, 0 AS is_conversion FROM " +
              db + "clicks FINAL WHERE 1" + row_filter,
          rows);
      read_rows(
          store,
          "SELECT event_time_us AS t, ingested_at_us AS ing, source, source_record AS rec, 0 AS cat, "
          "campaign_id, unknown_campaign AS unknown, 0 AS named, 0 AS auction_unknown, 0 AS auction_won, "
          "0 AS is_click, 0 AS orphan, 1 AS is_conversion FROM " +
              db + "conversions FINAL WHERE 1" + row_filter,
          rows);
      break;
    case Stream::bid_requests:
      read_rows(
          store,
          "SELECT event_time_us AS t, ingested_at_us AS ing, source, source_record AS rec, 0 AS cat, "
          "CAST(NULL AS Nullable(String)) AS campaign_id, 0 AS unknown, 0 AS named, 0 AS auction_unknown, "
          "0 AS auction_won, 0 AS is_click, 0 AS orphan, 0 AS is_conversion FROM " +
              db + "bid_requests FINAL WHERE 1" + row_filter,
          rows);
      break;
  }
  read_rows(
      store,
      "SELECT event_time_us AS t, ingested_at_us AS ing, source, source_record AS rec, "
      "if(category = 'filtered', 2, 1) AS cat, CAST(NULL AS Nullable(String)) AS campaign_id, 0 AS unknown, "
      "0 AS named, 0 AS auction_unknown, 0 AS auction_won, 0 AS is_click, 0 AS orphan, 0 AS is_conversion "
      "FROM " +
          db + "rejects WHERE stream = " + clickhouse::quote_string(stream_name(s)) + row_filter,
      rows);
  return rows;
}

// DuckDB's quantile_disc: the value of rank max(1, n - floor(n - n*q)) of the sorted values.
int64_t quantile_disc(std::vector<int64_t>& v, double q) {
  const size_t n = v.size();
  const double scaled = double(n) * q;
  const size_t floored = size_t(std::floor(double(n) - scaled));
  const size_t index = std::max<size_t>(1, n - floored) - 1;
  std::nth_element(v.begin(), v.begin() + long(index), v.end());
  return v[index];
}

// The file-order clock of every row (in place of ingested_at): rows cut, in the order they were read, into
// chunks of 16; a row arrived at the latest 75th percentile of the chunks before it, its own chunk's 10th
// percentile or its own event time, whichever is latest; a row without a time when the row before it did.
std::vector<std::optional<int64_t>> file_order_clock(std::vector<QualityRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const QualityRow& a, const QualityRow& b) {
    return std::tie(a.ingested_at, a.source, a.record) < std::tie(b.ingested_at, b.source, b.record);
  });
  std::vector<std::optional<int64_t>> clock(rows.size());
  std::optional<int64_t> prev;  // max of the earlier chunks' q
  std::optional<int64_t> last_own;
  for (size_t start = 0; start < rows.size(); start += kClockChunk) {
    const size_t end = std::min(rows.size(), start + kClockChunk);
    std::vector<int64_t> times;
    for (size_t i = start; i < end; i++)
      if (rows[i].event_time) times.push_back(*rows[i].event_time);
    std::optional<int64_t> q, q10;
    if (!times.empty()) {
      q = quantile_disc(times, 0.75);
      q10 = quantile_disc(times, 0.1);
    }
    for (size_t i = start; i < end; i++) {
      std::optional<int64_t> own;
      if (rows[i].event_time) {
        own = *rows[i].event_time;  // greatest() of DuckDB skips NULLs
        if (prev) own = std::max(*own, *prev);
        if (q10) own = std::max(*own, *q10);
        last_own = own;
      }
      clock[i] = own ? own : last_own ? last_own : q;
    }
    if (q) prev = prev ? std::max(*prev, *q) : *q;
  }
  return clock;
}

struct Counts {
  uint64_t stored = 0, rejected = 0, filtered = 0, unknown = 0, named = 0, auction_unknown = 0,
           auction_won = 0, clicks = 0, orphan = 0, conversions = 0;
  std::optional<double> max_lag;
  void add(const QualityRow& r, std::optional<double> lag) {
    if (r.cat == 1) {
      rejected++;
      return;
    }
    if (r.cat == 2) {
      filtered++;
      return;
    }
    stored++;
    unknown += r.unknown;
    named += r.named;
    auction_unknown += r.auction_unknown;
    auction_won += r.auction_won;
    clicks += r.is_click;
    orphan += r.orphan;
    conversions += r.is_conversion;
    if (lag) max_lag = max_lag ? std::max(*max_lag, *lag) : *lag;
  }
};

ResultColumn column(const char* name, ValueType type) {
  ResultColumn c;
  c.name = name;
  c.type = type;
  c.engine_type = type == ValueType::text ? "String" : type == ValueType::real ? "Float64" : "Int64";
  return c;
}

}  // namespace

ResultTable ClickHouseStore::quality_counts(Stream stream, int64_t from_us, int64_t to_us, ArrivalClock clock,
                                            int64_t bucket_us) {
  std::vector<QualityRow> rows;
  std::vector<std::optional<int64_t>> clocks;
  if (clock == ArrivalClock::ingested_at) {
    const std::string arrived = between("ingested_at_us", from_us, to_us);
    std::string bid_filter;
    if (stream == Stream::impressions) {
      // The bid requests an arriving impression can name: within an hour of the arriving impressions.
      const ResultTable b =
          query("SELECT min(event_time_us) AS lo, max(event_time_us) AS hi, count() AS n FROM " +
                clickhouse::quote_ident(database()) + ".impressions WHERE 1" + arrived);
      if (b.column("n").int_at(0) > 0)
        bid_filter = " AND event_time_us >= " + std::to_string(b.column("lo").int_at(0) - kHourUs) +
                     " AND event_time_us <= " + std::to_string(b.column("hi").int_at(0) + kHourUs);
      else
        bid_filter = " AND 0";
    }
    rows = stream_rows(*this, stream, arrived, bid_filter);
    for (const QualityRow& r : rows) clocks.push_back(r.ingested_at);
  } else {
    rows = stream_rows(*this, stream, "", between("event_time_us", from_us - kHourUs, to_us + kHourUs));
    clocks = file_order_clock(rows);
  }

  // GROUPING SETS ((minute, bucket), (minute, campaign_id)), as DuckDB groups them.
  std::map<std::pair<int64_t, int64_t>, Counts> by_bucket;
  std::map<std::pair<int64_t, std::optional<std::string>>, Counts> by_campaign;
  for (size_t i = 0; i < rows.size(); i++) {
    if (!clocks[i] || *clocks[i] < from_us || *clocks[i] >= to_us) continue;
    const QualityRow& r = rows[i];
    const int64_t c = *clocks[i];
    std::optional<double> lag;
    if (r.event_time) lag = std::max(double(c - *r.event_time) / 1e6, 0.0);
    int64_t bucket = -1;
    if (r.cat == 0) {
      bucket = int64_t(kLagBucketsSeconds.size());
      for (size_t b = 0; b < kLagBucketsSeconds.size(); b++) {
        if (lag && *lag <= double(kLagBucketsSeconds[b])) {
          bucket = int64_t(b);
          break;
        }
      }
    }
    const int64_t minute = c / bucket_us * bucket_us;
    by_bucket[{minute, bucket}].add(r, lag);
    by_campaign[{minute, r.campaign}].add(r, lag);
  }

  ResultTable out;
  out.columns = {column("minute", ValueType::integer),        column("bucket", ValueType::integer),
                 column("campaign_id", ValueType::text),      column("by_bucket", ValueType::integer),
                 column("stored", ValueType::integer),        column("rejected", ValueType::integer),
                 column("filtered", ValueType::integer),      column("unknown", ValueType::integer),
                 column("auction_named", ValueType::integer), column("auction_unknown", ValueType::integer),
                 column("auction_won", ValueType::integer),   column("clicks", ValueType::integer),
                 column("orphan_clicks", ValueType::integer), column("conversions", ValueType::integer),
                 column("max_lag_s", ValueType::real)};
  auto emit = [&](int64_t minute, std::optional<int64_t> bucket, const std::optional<std::string>* campaign,
                  const Counts& k) {
    auto& c = out.columns;
    c[0].push_int(minute);
    if (bucket)
      c[1].push_int(*bucket);
    else
      c[1].push_null();
    if (campaign && campaign->has_value())
      c[2].push_text(**campaign);
    else
      c[2].push_null();
    c[3].push_int(campaign ? 0 : 1);
    const uint64_t v[] = {k.stored,          k.rejected,    k.filtered, k.unknown, k.named,
                          k.auction_unknown, k.auction_won, k.clicks,   k.orphan,  k.conversions};
    for (size_t i = 0; i < std::size(v); i++) c[4 + i].push_int(int64_t(v[i]));
    if (k.max_lag)
      c[14].push_real(*k.max_lag);
    else
      c[14].push_null();
  };
  for (const auto& [key, k] : by_bucket) emit(key.first, key.second, nullptr, k);
  for (const auto& [key, k] : by_campaign) emit(key.first, std::nullopt, &key.second, k);
  return out;
}

std::optional<std::pair<int64_t, int64_t>> ClickHouseStore::event_time_extent() {
  // DuckDB's quantile_disc at 0.1 % and 99.9 %, of every event time, floored to the minute.
  const std::string db = clickhouse::quote_ident(database()) + ".";
  const ResultTable n = query("SELECT (SELECT count() FROM " + db + "impressions) + (SELECT count() FROM " +
                              db + "clicks FINAL) + (SELECT count() FROM " + db +
                              "conversions FINAL) + (SELECT count() FROM " + db + "bid_requests FINAL) AS n");
  const int64_t total = n.column("n").int_at(0);
  if (total == 0) return std::nullopt;
  auto rank = [&](double q) {
    const double scaled = double(total) * q;
    const int64_t floored = int64_t(std::floor(double(total) - scaled));
    return std::max<int64_t>(1, total - floored) - 1;
  };
  auto at = [&](int64_t index) {
    const ResultTable r = query("SELECT t FROM (SELECT event_time_us AS t FROM " + db +
                                "impressions UNION ALL SELECT event_time_us AS t FROM " + db +
                                "clicks FINAL UNION ALL SELECT event_time_us AS t FROM " + db +
                                "conversions FINAL UNION ALL SELECT event_time_us AS t FROM " + db +
                                "bid_requests FINAL) ORDER BY t LIMIT " + std::to_string(index) + ", 1");
    const int64_t t = r.column("t").int_at(0);
    return t - (((t % 60'000'000) + 60'000'000) % 60'000'000);
  };
  return std::pair{at(rank(0.001)), at(rank(0.999))};
}

}  // namespace advx
