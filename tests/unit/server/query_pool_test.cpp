// QueryPool over an in-memory DuckDB: a query past its timeout is interrupted and its caller answered; a
// runaway query holds one worker only; stop() answers every caller at once.
#include "server/query_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/duckdb/duckdb_store.hpp"

namespace advx {
namespace {

using std::chrono::milliseconds;

// 5e11 pairs: hours of work, whatever the machine.
const std::string kRunaway =
    "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range < b.range";

// Polls `done` until it holds or 60 s have passed (a deadline, not a timing assertion).
bool wait_for(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// Runs `f` when the scope ends, also when an assertion returned early (a thread left joinable would end the
// test program).
template <class F>
struct AtExit {
  F f;
  ~AtExit() { f(); }
};

// The outcome of one call: its first cell, or the kind and text of what it threw.
struct Outcome {
  std::string value;
  std::string kind;  // "", "timeout", "unavailable", "store"
  std::string message;
};

Outcome call(QueryPool& pool, const std::string& sql) {
  Outcome o;
  try {
    const ResultTable r = pool.query_read_only(sql);
    if (r.rows() > 0 && !r.columns.empty()) o.value = r.text(0, 0);
  } catch (const QueryTimeout& e) {
    o.kind = "timeout";
    o.message = e.what();
  } catch (const QueryUnavailable& e) {
    o.kind = "unavailable";
    o.message = e.what();
  } catch (const StoreError& e) {
    o.kind = "store";
    o.message = e.what();
  }
  return o;
}

// A latch the test opens.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

class QueryPoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<QueryPool> make_pool(int workers, milliseconds timeout) {
    std::vector<std::unique_ptr<Store>> connections;
    for (int i = 0; i < workers; i++) connections.push_back(store.another_connection());
    QueryPoolOptions o;
    o.timeout = timeout;
    o.timeout_setting = "(test)";
    return std::make_unique<QueryPool>(std::move(connections), o);
  }

  DuckDbStore store{":memory:"};  // outlives the pools
};

TEST_F(QueryPoolTest, ARunawayQueryIsInterruptedAtItsTimeoutAndItsWorkerServesTheNextQuery) {
  auto pool = make_pool(1, milliseconds(1000));
  const Outcome o = call(*pool, kRunaway);
  EXPECT_EQ(o.kind, "timeout") << o.message;
  EXPECT_EQ(o.message, "the query ran past the 1 s timeout (test) and was interrupted");
  // DuckDB unwinds the interrupted query, and the same worker (the only one) runs the next query
  EXPECT_TRUE(wait_for([&] { return pool->stats().running == 0; }));
  EXPECT_EQ(call(*pool, "SELECT 42").value, "42");
  const QueryPool::Stats s = pool->stats();
  EXPECT_EQ(s.timed_out, 1u);
  EXPECT_EQ(s.succeeded, 1u);
  EXPECT_EQ(s.failed, 0u);
}

TEST_F(QueryPoolTest, ARunawayQueryHoldsOneWorkerWhileOtherQueriesRun) {
  auto pool = make_pool(2, std::chrono::minutes(10));
  std::atomic<bool> runaway_answered{false};
  Outcome runaway;
  std::thread t([&] {
    runaway = call(*pool, kRunaway);
    runaway_answered = true;
  });
  AtExit cleanup{[&] {
    pool->stop();
    if (t.joinable()) t.join();
  }};
  ASSERT_TRUE(wait_for([&] { return pool->stats().running == 1 || runaway_answered; }));
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(call(*pool, "SELECT " + std::to_string(i)).value, std::to_string(i));
    EXPECT_FALSE(runaway_answered) << runaway.kind << " " << runaway.message;
  }
  pool->stop();
  t.join();
  EXPECT_EQ(runaway.kind, "unavailable");
  EXPECT_EQ(runaway.message, "shutting down: the query was interrupted");
}

// A query that finds every worker busy is answered at its deadline too, and never runs afterwards.
TEST_F(QueryPoolTest, AQueryWaitingForABusyWorkerTimesOutAndNeverRuns) {
  auto pool = make_pool(1, milliseconds(1000));
  Gate release;
  std::thread holder([&] {
    try {
      pool->run([&](Store&) {
        release.wait();
        return ResultTable{};
      });
    } catch (const QueryTimeout&) {  // expected: it is held past the timeout
    }
  });
  AtExit cleanup{[&] {
    release.open();
    if (holder.joinable()) holder.join();
  }};
  ASSERT_TRUE(wait_for([&] { return pool->stats().running == 1; }));
  std::atomic<bool> ran{false};
  std::string message;
  try {
    pool->run([&](Store&) {
      ran = true;
      return ResultTable{};
    });
  } catch (const QueryTimeout& e) {
    message = e.what();
  }
  EXPECT_EQ(message, "the query found no free query worker within the 1 s timeout (test): all 1 were busy");
  // The holder's caller counts its own timeout when it wakes at its deadline; opening the gate first would
  // let a late wake-up (TSan, a loaded machine) find the query done and count it a success.
  EXPECT_TRUE(wait_for([&] { return pool->stats().timed_out == 2; }));
  release.open();
  holder.join();
  EXPECT_TRUE(wait_for([&] { return pool->stats().running == 0; }));
  EXPECT_EQ(call(*pool, "SELECT 1").value, "1");  // the worker is free, and took nothing stale
  EXPECT_FALSE(ran);
  EXPECT_EQ(pool->stats().timed_out, 2u);
}

// DuckDB forgets an interrupt that arrives before a statement starts: a query that starts after its
// deadline (here held before it runs) is still interrupted, because the interrupt is repeated.
TEST_F(QueryPoolTest, AQueryThatStartsAfterItsDeadlineIsStillInterrupted) {
  auto pool = make_pool(1, milliseconds(500));
  Gate start_query;
  std::string error;
  std::string message;
  try {
    pool->run([&](Store& connection) {
      start_query.wait();
      try {
        return connection.query_read_only(kRunaway);
      } catch (const StoreError& e) {
        error = e.what();
        throw;
      }
    });
  } catch (const QueryTimeout& e) {
    message = e.what();
  }
  EXPECT_EQ(message, "the query ran past the 0.5 s timeout (test) and was interrupted");
  start_query.open();  // the watchdog has interrupted the idle connection many times by now
  EXPECT_TRUE(wait_for([&] { return pool->stats().running == 0; }));
  pool->stop();  // joins the worker: `error` is written
  EXPECT_NE(error.find("Interrupted"), std::string::npos) << error;
}

// stop() answers the running and the waiting callers at once, and every later call.
TEST_F(QueryPoolTest, StopAnswersRunningAndWaitingCallersAndRefusesNewOnes) {
  auto pool = make_pool(1, milliseconds(0));  // no timeout
  Outcome running, waiting;
  std::thread a([&] { running = call(*pool, kRunaway); });
  std::thread b;
  AtExit cleanup{[&] {
    pool->stop();
    for (std::thread* t : {&a, &b})
      if (t->joinable()) t->join();
  }};
  ASSERT_TRUE(wait_for([&] { return pool->stats().running == 1; }));
  b = std::thread([&] { waiting = call(*pool, "SELECT 1"); });
  ASSERT_TRUE(wait_for([&] { return pool->stats().waiting == 1; }));
  pool->stop();
  a.join();
  b.join();
  EXPECT_EQ(running.kind, "unavailable");
  EXPECT_EQ(running.message, "shutting down: the query was interrupted");
  EXPECT_EQ(waiting.kind, "unavailable");
  EXPECT_EQ(waiting.message, "shutting down: the query was not run");
  const Outcome later = call(*pool, "SELECT 1");
  EXPECT_EQ(later.kind, "unavailable");
  EXPECT_EQ(later.message, "shutting down: no new queries");
  EXPECT_EQ(pool->stats().refused, 3u);
  pool->stop();  // idempotent
}

TEST_F(QueryPoolTest, RefusedOrFailingSqlIsTheStoresError) {
  auto pool = make_pool(1, milliseconds(10000));
  Outcome o = call(*pool, "DROP TABLE nothing");
  EXPECT_EQ(o.kind, "store");
  EXPECT_TRUE(o.message.starts_with("advx sql is read-only")) << o.message;
  o = call(*pool, "SELECT nope");
  EXPECT_EQ(o.kind, "store");
  EXPECT_EQ(pool->stats().failed, 2u);
}

}  // namespace
}  // namespace advx
