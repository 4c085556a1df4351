#include "monitor/quality_frame.hpp"

#include <algorithm>
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

QualityFrame read_quality_frame(Store& store, int64_t from_us, int64_t to_us, ArrivalClock clock,
                                int64_t bucket_us, std::optional<Stream> only) {
  QualityFrame frame;
  frame.bucket_us = bucket_us;
  if (from_us >= to_us) return frame;
  for (int si = 0; si < kStreamCount; si++) {
    if (only && Stream(si) != *only) continue;
    const ResultTable r = store.quality_counts(Stream(si), from_us, to_us, clock, bucket_us);
    const ResultColumn& minute_col = r.column("minute");
    const ResultColumn& by_bucket = r.column("by_bucket");
    const ResultColumn& bucket_col = r.column("bucket");
    const ResultColumn& campaign = r.column("campaign_id");
    const ResultColumn& stored = r.column("stored");
    const ResultColumn& clicks = r.column("clicks");
    const ResultColumn& conversions = r.column("conversions");
    const ResultColumn& max_lag = r.column("max_lag_s");
    auto count = [&](const char* name, size_t row) { return uint64_t(r.column(name).int_at(row)); };
    for (size_t row = 0; row < r.rows(); row++) {
      const int64_t minute = minute_col.int_at(row);
      if (by_bucket.int_at(row) == 1) {  // grouped by bucket: the stream's counts
        StreamMinute m;
        m.stored = uint64_t(stored.int_at(row));
        m.rejected = count("rejected", row);
        m.filtered = count("filtered", row);
        m.unknown = count("unknown", row);
        m.auction_named = count("auction_named", row);
        m.auction_unknown = count("auction_unknown", row);
        m.auction_won = count("auction_won", row);
        m.clicks = uint64_t(clicks.int_at(row));
        m.orphan_clicks = count("orphan_clicks", row);
        m.conversions = uint64_t(conversions.int_at(row));
        if (!max_lag.is_null(row)) m.max_lag_s = max_lag.real_at(row);
        const int64_t bucket = bucket_col.int_at(row);
        if (bucket >= 0 && size_t(bucket) < kLagBucketCount) m.lag[size_t(bucket)] = m.stored;
        frame.streams[minute][size_t(si)].add(m);
      } else if (!campaign.is_null(row)) {  // grouped by campaign
        CampaignMinute& c = frame.campaigns[minute][campaign.text_at(row)];
        if (Stream(si) == Stream::impressions) c.impressions += uint64_t(stored.int_at(row));
        c.clicks += uint64_t(clicks.int_at(row));
        c.conversions += uint64_t(conversions.int_at(row));
      }
    }
  }
  return frame;
}

StoredExtent stored_extent(Store& store) {
  StoredExtent e;
  if (auto x = store.event_time_extent()) {
    e.first_minute_us = x->first;
    e.end_minute_us = x->second + kMinuteUs;
  }
  return e;
}

}  // namespace advx::monitor
