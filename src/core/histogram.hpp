// A Prometheus-style histogram value: fixed upper bounds, a count per bucket (not cumulative; the last
// bucket, +Inf, counts what is above every bound), the sum and the count of the observations. A value v goes
// into the first bucket whose bound is >= v (Prometheus' `le`, "less or equal").
//
// The bounds are a template argument (a reference to a constexpr array of static storage), so a histogram
// is a plain array of counters with no pointer and copies, compares and merges as a value:
//
//   Histogram<kLatencyBucketsSeconds> h;  h.observe(0.003);  other.merge(h);
//
// HistogramView is the type-erased read side, for renderers (the /metrics text) that take any bounds.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/lag_buckets.hpp"

namespace advx {

// Upper bounds, in seconds, of the latency histograms (a micro-batch, a store commit): Prometheus' own
// default buckets (client_golang DefBuckets) plus 1 ms, from 1 ms to 10 s.
inline constexpr std::array<double, 13> kLatencyBucketsSeconds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct HistogramView {
  std::span<const double> bounds;    // ascending upper bounds, +Inf left out
  std::span<const uint64_t> counts;  // bounds.size() + 1 buckets, not cumulative, +Inf last
  double sum = 0;
  uint64_t count = 0;
};

template <const auto& Bounds>
struct Histogram {
  static constexpr size_t kBounds = std::size(Bounds);
  static constexpr size_t kBuckets = kBounds + 1;

  std::array<uint64_t, kBuckets> counts{};
  double sum = 0;
  uint64_t count = 0;

  static constexpr std::span<const double> bounds() { return {Bounds.data(), kBounds}; }

  // The bucket of `v`: the first whose bound is >= v; kBounds (+Inf) when above them all (or NaN).
  static constexpr size_t bucket(double v) {
    size_t i = 0;
    while (i < kBounds && !(v <= Bounds[i])) i++;
    return i;
  }

  void observe(double v) {
    counts[bucket(v)]++;
    sum += v;
    count++;
  }

  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; i++) counts[i] += o.counts[i];
    sum += o.sum;
    count += o.count;
  }

  HistogramView view() const { return {bounds(), counts, sum, count}; }

  bool operator==(const Histogram&) const = default;
};

using LatencyHistogram = Histogram<kLatencyBucketsSeconds>;
using LagHistogram = Histogram<kLagBucketsSeconds>;  // buckets as lag_bucket() (core/lag_buckets.hpp)
static_assert(LagHistogram::kBuckets == kLagBucketCount);

}  // namespace advx
