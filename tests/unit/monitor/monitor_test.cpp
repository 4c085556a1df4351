// The monitor thread of advx serve: once per bucket, and a store that fails is not hammered.
#include "monitor/monitor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "store/duckdb/duckdb_store.hpp"

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

// Waits for `done` with a deadline far beyond any loaded machine: the events are waited for, never assumed
// to have happened after a fixed sleep.
template <class Pred>
bool eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// The test's clock: the time it is set to, and how often the monitor's thread has looked at it (the thread
// reads it twice per turn of its loop and nowhere else, so reads prove it had the chance to act).
struct TestClock {
  std::atomic<int64_t> now{T0 + 500'000};
  std::atomic<uint64_t> reads{0};
  std::function<int64_t()> fn() {
    return [this] {
      reads++;
      return now.load();
    };
  }
  // Returns once the monitor has gone round its loop `turns` more times.
  bool wait_turns(int turns) {
    const uint64_t from = reads.load();
    return eventually([&] { return reads.load() >= from + 2 * uint64_t(turns); });
  }
};

TEST(Monitor, EvaluatesOncePerBucket) {
  auto store = std::make_unique<DuckDbStore>(":memory:");
  store->ensure_schema();
  TestClock clock;
  Monitor m(std::move(store), one_second_buckets(), {}, clock.fn());
  m.start();
  ASSERT_TRUE(eventually([&] { return m.stats().evaluations >= 1; }));
  // Twenty more looks within the same bucket evaluate nothing more.
  ASSERT_TRUE(clock.wait_turns(20));
  EXPECT_EQ(m.stats().evaluations, 1u);
  EXPECT_EQ(m.stats().errors, 0u);
  clock.now += 1'000'000;
  ASSERT_TRUE(eventually([&] { return m.stats().evaluations >= 2; }));
  ASSERT_TRUE(clock.wait_turns(20));
  EXPECT_EQ(m.stats().evaluations, 2u);
  EXPECT_EQ(m.stats().errors, 0u);
  m.stop();
}

TEST(Monitor, AFailingStoreIsTriedOncePerBucketNotInALoop) {
  auto store = std::make_unique<DuckDbStore>(":memory:");  // no tables: every read fails
  TestClock clock;
  Monitor m(std::move(store), one_second_buckets(), {}, clock.fn());
  m.start();
  ASSERT_TRUE(eventually([&] { return m.stats().errors >= 1; }));
  ASSERT_TRUE(clock.wait_turns(20));  // not retried within the bucket
  EXPECT_EQ(m.stats().errors, 1u);
  EXPECT_EQ(m.stats().evaluations, 0u);
  clock.now += 1'000'000;
  ASSERT_TRUE(eventually([&] { return m.stats().errors >= 2; }));
  ASSERT_TRUE(clock.wait_turns(20));
  EXPECT_EQ(m.stats().errors, 2u);
  EXPECT_EQ(m.stats().evaluations, 0u);
  m.stop();
}

}  // namespace
}  // namespace advx::monitor
