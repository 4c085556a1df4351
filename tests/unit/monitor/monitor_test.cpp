// The monitor thread of advx serve: once per bucket, and a store that fails is not hammered.
#include "monitor/monitor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace advx::monitor {
namespace {

using namespace std::chrono_literals;

constexpr int64_t T0 = 1793491200000000LL;  // 2026-11-01T00:00:00Z

MonitorOptions one_second_buckets() {
  MonitorOptions o;
  o.bucket_us = 1'000'000;
  o.poll_us = 1000;  // looks every millisecond
  o.settle_us = 0;
  o.notifier.log = false;
  return o;
}

TEST(Monitor, EvaluatesOncePerBucket) {
  auto store = std::make_unique<DuckDbStore>(":memory:");
  store->ensure_schema();
  std::atomic<int64_t> now{T0 + 500'000};
  Monitor m(std::move(store), one_second_buckets(), {}, [&] { return now.load(); });
  m.start();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(m.stats().evaluations, 1u);
  EXPECT_EQ(m.stats().errors, 0u);
  now += 1'000'000;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(m.stats().evaluations, 2u);
  m.stop();
}

TEST(Monitor, AFailingStoreIsTriedOncePerBucketNotInALoop) {
  auto store = std::make_unique<DuckDbStore>(":memory:");  // no tables: every read fails
  std::atomic<int64_t> now{T0 + 500'000};
  Monitor m(std::move(store), one_second_buckets(), {}, [&] { return now.load(); });
  m.start();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(m.stats().errors, 1u);
  EXPECT_EQ(m.stats().evaluations, 0u);
  now += 1'000'000;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(m.stats().errors, 2u);
  m.stop();
}

}  // namespace
}  // namespace advx::monitor
