#include "server/query_pool.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace advx {

namespace {

using Clock = std::chrono::steady_clock;

// How often an overdue query is interrupted again until it returns (see the top of query_pool.hpp).
constexpr std::chrono::milliseconds kInterruptRepeat{10};

struct Job {
  std::function<ResultTable(Store&)> work;
  Clock::time_point deadline = Clock::time_point::max();
  // The rest is guarded by the pool's mutex.
  enum class State : uint8_t { waiting, running, done, abandoned };  // abandoned: its caller has answered
  State state = State::waiting;
  bool started = false;      // a worker took it
  bool interrupted = false;  // by the watchdog: its error, if any, is the interruption
  ResultTable result;
  std::exception_ptr error;
};

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

}  // namespace

struct QueryPool::Impl {
  struct Worker {
    std::unique_ptr<Store> connection;
    std::shared_ptr<Job> job;  // the query it runs; null when idle
    std::thread thread;
  };

  QueryPoolOptions options;
  mutable std::mutex mutex;
  std::condition_variable work_cv;   // workers: a job was queued, or stopping
  std::condition_variable done_cv;   // callers: a job is done, or stopping
  std::condition_variable watch_cv;  // watchdog: a job started or was abandoned, or stopping
  std::deque<std::shared_ptr<Job>> queue;
  std::vector<std::unique_ptr<Worker>> workers;
  std::thread watchdog;
  bool stopping = false;
  bool watchdog_exit = false;
  std::mutex stop_mutex;  // stop() joins once
  bool joined = false;
  Stats counts;  // succeeded, failed, timed_out, refused: counted by the callers, once each

  void work(Worker& w) {
    std::unique_lock lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      std::shared_ptr<Job> job = std::move(queue.front());
      queue.pop_front();
      job->state = Job::State::running;
      job->started = true;
      w.job = job;
      watch_cv.notify_all();
      lock.unlock();
      ResultTable result;
      std::exception_ptr error;
      try {
        result = job->work(*w.connection);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      w.job.reset();
      if (job->state == Job::State::running) {
        job->state = Job::State::done;
        job->result = std::move(result);
        job->error = error;
        done_cv.notify_all();
      }
    }
  }

  // Interrupts every query past its deadline, abandoned by its caller or running while stopping, again
  // and again until it has returned; sleeps until the next deadline otherwise.
  void watch() {
    std::unique_lock lock(mutex);
    while (!watchdog_exit) {
      const Clock::time_point now = Clock::now();
      Clock::time_point next = Clock::time_point::max();
      for (const auto& w : workers) {
        if (!w->job) continue;
        if (stopping || w->job->state == Job::State::abandoned || w->job->deadline <= now) {
          w->connection->interrupt();
          w->job->interrupted = true;
          next = std::min(next, now + kInterruptRepeat);
        } else {
          next = std::min(next, w->job->deadline);
        }
      }
      if (next == Clock::time_point::max())
        watch_cv.wait(lock);
      else
        watch_cv.wait_until(lock, next);
    }
  }
};

QueryPool::QueryPool(std::vector<std::unique_ptr<Store>> connections, QueryPoolOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (connections.empty()) throw std::invalid_argument("QueryPool needs at least one connection");
  impl_->options = std::move(options);
  for (auto& c : connections) {
    auto w = std::make_unique<Impl::Worker>();
    w->connection = std::move(c);
    impl_->workers.push_back(std::move(w));
  }
  impl_->counts.workers = static_cast<int>(impl_->workers.size());
  for (auto& w : impl_->workers) w->thread = std::thread([this, worker = w.get()] { impl_->work(*worker); });
  impl_->watchdog = std::thread([this] { impl_->watch(); });
}

QueryPool::~QueryPool() { stop(); }

ResultTable QueryPool::query_read_only(std::string sql) {
  return run([sql = std::move(sql)](Store& store) { return store.query_read_only(sql); });
}

ResultTable QueryPool::report(ReportRequest request) {
  return run([request = std::move(request)](Store& store) { return store.report(request); });
}

ResultTable QueryPool::run(std::function<ResultTable(Store&)> work) {
  Impl& d = *impl_;
  auto job = std::make_shared<Job>();
  job->work = std::move(work);
  const std::chrono::milliseconds timeout = d.options.timeout;
  if (timeout.count() > 0) job->deadline = Clock::now() + timeout;
  std::unique_lock lock(d.mutex);
  if (d.stopping) {
    ++d.counts.refused;
    throw QueryUnavailable("shutting down: no new queries");
  }
  d.queue.push_back(job);
  d.work_cv.notify_one();
  const auto answered = [&] { return job->state == Job::State::done || d.stopping; };
  if (job->deadline == Clock::time_point::max())
    d.done_cv.wait(lock, answered);
  else
    d.done_cv.wait_until(lock, job->deadline, answered);
  // A query the watchdog interrupted may have failed before this thread woke at the deadline: its error
  // is the interruption, answered as such below.
  if (job->state == Job::State::done && !(job->error && job->interrupted)) {
    ++(job->error ? d.counts.failed : d.counts.succeeded);
    if (job->error) std::rethrow_exception(job->error);
    return std::move(job->result);
  }
  const bool was_running = job->started;
  if (!was_running) std::erase(d.queue, job);
  job->state = Job::State::abandoned;
  d.watch_cv.notify_all();
  if (d.stopping) {
    ++d.counts.refused;
    throw QueryUnavailable(was_running ? "shutting down: the query was interrupted"
                                       : "shutting down: the query was not run");
  }
  ++d.counts.timed_out;
  const std::string setting = d.options.timeout_setting.empty() ? "" : " " + d.options.timeout_setting;
  if (was_running)
    throw QueryTimeout("the query ran past the " + seconds_text(timeout) + " timeout" + setting +
                       " and was interrupted");
  throw QueryTimeout("the query found no free query worker within the " + seconds_text(timeout) + " timeout" +
                     setting + ": all " + std::to_string(d.workers.size()) + " were busy");
}

void QueryPool::stop() {
  Impl& d = *impl_;
  std::lock_guard stop_lock(d.stop_mutex);
  if (d.joined) return;
  {
    std::lock_guard lock(d.mutex);
    d.stopping = true;
    for (const auto& job : d.queue) job->state = Job::State::abandoned;
    d.queue.clear();
    d.work_cv.notify_all();
    d.done_cv.notify_all();
    d.watch_cv.notify_all();
  }
  for (auto& w : d.workers)
    if (w->thread.joinable()) w->thread.join();
  {
    std::lock_guard lock(d.mutex);
    d.watchdog_exit = true;
    d.watch_cv.notify_all();
  }
  if (d.watchdog.joinable()) d.watchdog.join();
  d.joined = true;
}

QueryPool::Stats QueryPool::stats() const {
  std::lock_guard lock(impl_->mutex);
  Stats s = impl_->counts;
  for (const auto& w : impl_->workers) s.running += w->job ? 1 : 0;
  s.waiting = static_cast<int>(impl_->queue.size());
  return s;
}

}  // namespace advx
