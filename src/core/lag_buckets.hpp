// The upper bounds, in seconds, of the event-time lag histogram (processing time − event time): shared by
// the advx_event_lag_seconds metric of advx serve and the delay rule of the monitor, so that a p95 read
// from Prometheus and one computed by `advx check` fall in the same buckets. Chosen around the decisions
// people make: seconds (healthy real time), minutes (a stalled consumer), hours (a replay, a late file).
#pragma once
#include <array>
#include <cstddef>

namespace advx {

inline constexpr std::array<double, 15> kLagBucketsSeconds = {1,   5,    15,   30,   60,   120,   300,  600,
                                                              900, 1200, 1800, 3600, 7200, 21600, 86400};
// Bucket i counts lags <= kLagBucketsSeconds[i] (and above bucket i-1); one more bucket counts the rest.
inline constexpr size_t kLagBucketCount = kLagBucketsSeconds.size() + 1;

inline size_t lag_bucket(double seconds) {
  size_t i = 0;
  while (i < kLagBucketsSeconds.size() && seconds > kLagBucketsSeconds[i]) i++;
  return i;
}

}  // namespace advx
