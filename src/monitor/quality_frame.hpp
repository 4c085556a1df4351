// The signals the data-quality rules read (docs/ALERTS.md): per arrival minute and stream, counts of
// what arrived (stored, rejected, filtered, duplicates), the event-time lag of stored events as a
// histogram, and the discrepancy counts; per minute and campaign, impressions, clicks and conversions.
// Read from the store by one query per stream, so `advx check` (over any stored range) and `advx serve`
// (every evaluation, over the newest minutes) see the same numbers.
//
// The arrival clock. advx serve stamps every row with its micro-batch's wall-clock time (ingested_at),
// which is when it arrived. A batch run stamps a whole run with one time, so for stored files the clock is
// rebuilt from file order: cut each stream's rows, in the order they were read, into chunks of 16; a
// chunk's time is the 75th percentile of its event times (robust to the few records out of order); a row
// arrived at the latest such time of the chunks before it, or at its own chunk's 10th percentile, or at
// its own event time, whichever is latest; a record without a time (a malformed one) when the record read
// before it did. On-time rows thus land in their own minute, a record read after newer ones is late by
// the difference, and a stretch of file with no rows of a stream is a stretch of time the source was
// silent (the chunk after it starts late, even for its few records out of order).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/lag_buckets.hpp"
#include "core/stream.hpp"
#include "store/store.hpp"

namespace advx::monitor {

using advx::ArrivalClock;  // ingested_at (advx serve) or file_order (advx check)

inline constexpr int64_t kMinuteUs = 60'000'000;
inline int64_t floor_to(int64_t us, int64_t step) { return us - (((us % step) + step) % step); }
inline int64_t floor_minute(int64_t us) { return floor_to(us, kMinuteUs); }

struct StreamMinute {
  uint64_t stored = 0;
  uint64_t rejected = 0;
  uint64_t filtered = 0;
  uint64_t duplicates = 0;                      // advx serve only: the store does not keep duplicates
  std::array<uint64_t, kLagBucketCount> lag{};  // stored events by event-time lag
  double max_lag_s = 0;                         // the largest lag (bounds a quantile read from the buckets)
  uint64_t unknown = 0;          // impressions: unknown creative; clicks and conversions: unknown campaign
  uint64_t auction_named = 0;    // impressions naming an auction_id
  uint64_t auction_unknown = 0;  // ...whose bid request is not stored
  uint64_t auction_won = 0;      // ...whose bid request is marked won
  uint64_t clicks = 0, orphan_clicks = 0, conversions = 0;  // clicks_conversions
  uint64_t records() const { return stored + rejected + filtered; }
  void add(const StreamMinute& o);
};

struct CampaignMinute {
  uint64_t impressions = 0, clicks = 0, conversions = 0;
};

struct QualityFrame {
  int64_t bucket_us = kMinuteUs;  // the width of a "minute": one minute, or less in tests of advx serve
  std::map<int64_t, std::array<StreamMinute, kStreamCount>> streams;   // minute (epoch µs) -> per stream
  std::map<int64_t, std::map<std::string, CampaignMinute>> campaigns;  // minute -> campaign -> counts
  // Replaces the minutes of `newer` in this frame (a re-read of the newest minutes in advx serve); with
  // `only`, just that stream's counts (and for clicks_conversions the campaigns' clicks and conversions).
  void replace_minutes(QualityFrame&& newer, std::optional<Stream> only = std::nullopt);
  // Drops minutes before `minute_us`; campaign minutes before `campaign_minute_us`.
  void trim(int64_t minute_us, int64_t campaign_minute_us);
};

// Reads the buckets [from_us, to_us) of the arrival clock (both multiples of bucket_us); with `only`, just
// that stream. Throws StoreError.
QualityFrame read_quality_frame(Store& store, int64_t from_us, int64_t to_us, ArrivalClock clock,
                                int64_t bucket_us = kMinuteUs, std::optional<Stream> only = std::nullopt);

// The stored data's extent: the first and last minute with events, taken at the 0.1th and 99.9th
// percentiles of event times so that a few late records or records from the future do not stretch it;
// 0 when empty.
struct StoredExtent {
  int64_t first_minute_us = 0;
  int64_t end_minute_us = 0;  // exclusive: the minute after the last one
};
StoredExtent stored_extent(Store& store);

}  // namespace advx::monitor
