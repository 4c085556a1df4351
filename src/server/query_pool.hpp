// QueryPool: the queries of `advx serve` (/v1/sql, /v1/report/*) and of `advx sql --timeout`, bounded in
// time and kept apart from everything else (docs/SERVE.md, "Queries").
//
// - Each worker thread owns one read connection and runs one query at a time on it, so a runaway query holds
//   one worker and nothing else: other queries run on the other workers, and ingestion, health and metrics
//   never wait for a query.
// - A query is answered within its timeout, counted from the call: the caller stops waiting at the deadline
//   (QueryTimeout), whether the query was still waiting for a worker (it then never runs) or running (it is
//   interrupted with duckdb_interrupt, which DuckDB notices between vectors; the worker is free again once
//   DuckDB has unwound it).
// - stop() refuses new queries, answers the waiting callers at once (QueryUnavailable), interrupts the
//   running queries and joins the workers: a shutdown never waits for a query to finish by itself.
//
// DuckDB forgets an interrupt that arrives before a statement starts (it clears the flag as each statement
// begins), so a watchdog thread interrupts an overdue query again every few milliseconds until it returns.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace advx {

// The query did not finish within its timeout and was interrupted (HTTP 504, code "query_timeout").
class QueryTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The pool is stopping (or stopped): the query was not run, or was interrupted (HTTP 503, "shutting_down").
class QueryUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct QueryPoolOptions {
  std::chrono::milliseconds timeout{30'000};  // from the call to the answer; 0: none
  // How the timeout is set, for the message: "([http] query_timeout_s)", "(--timeout)".
  std::string timeout_setting;
};

class QueryPool {
 public:
  // One worker per connection (at least one). The connections' database must outlive the pool.
  QueryPool(std::vector<std::unique_ptr<Store>> connections, QueryPoolOptions options);
  ~QueryPool();  // stop()
  QueryPool(const QueryPool&) = delete;
  QueryPool& operator=(const QueryPool&) = delete;

  // Runs `work` on a free worker's connection and returns its result. Throws QueryTimeout past the timeout,
  // QueryUnavailable once stopping, and whatever `work` throws (StoreError for refused or failing SQL).
  // `work` may run after this returned (a query being interrupted): it must own what it uses.
  ResultTable run(std::function<ResultTable(Store&)> work);
  // run() of Store::query_read_only(sql).
  ResultTable query_read_only(std::string sql);
  // run() of Store::report(request).
  ResultTable report(ReportRequest request);

  // Refuses new queries, answers the callers waiting, interrupts the running queries and joins the
  // workers. Idempotent.
  void stop();

  struct Stats {
    int workers = 0;
    int running = 0;  // queries on a worker now (an interrupted one until DuckDB has unwound it)
    int waiting = 0;  // queries waiting for a worker
    uint64_t succeeded = 0, failed = 0, timed_out = 0, refused = 0;  // answered so far, by outcome
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx
