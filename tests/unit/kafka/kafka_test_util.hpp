// Test doubles for the Kafka input, all on loopback:
//  - FakeRegistry: a Confluent-compatible schema registry reduced to GET /schemas/ids/{id}. The real
//    registry is a JVM service that cannot be installed here; this speaks the same API (answers, status
//    codes, error_code 40403) on 127.0.0.1 and counts requests.
//  - FakeEngine: the StreamEngine's contract as KafkaHooks: a bounded queue, a worker that "commits" each
//    submission with its Kafka position atomically, flush(), positions(); it can refuse submissions, fail
//    one (store_error), and it refuses a Kafka submission that does not start at the stored position (or,
//    after a failure of a partition with no stored position, at the failed submission's first offset): the
//    continuity rule proposed for the engine. It counts such breaks.
//  - MockKafka: librdkafka's mock cluster plus a producer that records where each message landed.
//  - Body readers: a committed submission back to (offset -> record).
#pragma once
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sources/kafka/kafka_consumer.hpp"

namespace advx::kafka_test {

using namespace std::chrono_literals;

// Waits up to `timeout` for `pred`, checking every 10 ms.
inline bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Avro's zigzag varint (int and long).
inline std::string zigzag(int64_t v) {
  uint64_t n = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  std::string out;
  while (n >= 0x80) {
    out += char((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out += char(n);
  return out;
}

// A datum in the Confluent wire format: magic byte 0, the schema id (big-endian), the datum.
inline std::string framed(int32_t schema_id, const std::string& datum) {
  std::string out(1, '\0');
  for (int shift = 24; shift >= 0; shift -= 8) out += char((uint32_t(schema_id) >> shift) & 0xff);
  return out + datum;
}

// ---- the schema registry ----------------------------------------------------------------------------------

class FakeRegistry {
 public:
  FakeRegistry() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0)
      throw std::runtime_error("FakeRegistry: cannot listen");
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeRegistry() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void add_schema(int32_t id, std::string schema) {
    std::lock_guard lock(mutex_);
    schemas_[id] = std::move(schema);
  }
  void set_failing(bool failing) { failing_ = failing; }  // answer 500 to everything
  int requests(int32_t id) const {
    std::lock_guard lock(mutex_);
    auto it = requests_.find(id);
    return it == requests_.end() ? 0 : it->second;
  }
  int total_requests() const {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& [id, count] : requests_) n += count;
    return n;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      handle(c);
      ::close(c);
    }
  }
  void handle(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, size_t(n));
    }
    int status = 404;
    std::string body = R"({"error_code":404,"message":"HTTP 404 Not Found"})";
    const std::string prefix = "GET /schemas/ids/";
    if (req.starts_with(prefix)) {
      const int32_t id = std::atoi(req.c_str() + prefix.size());
      std::lock_guard lock(mutex_);
      requests_[id]++;
      if (failing_) {
        status = 500;
        body = R"({"error_code":50001,"message":"Error in the backend data store"})";
      } else if (auto it = schemas_.find(id); it != schemas_.end()) {
        status = 200;
        body = R"({"schema":)" + json_string(it->second) + "}";
      } else {
        body = R"({"error_code":40403,"message":"Schema )" + std::to_string(id) + R"( not found"})";
      }
    }
    const std::string reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Internal Server Error";
    std::string resp = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                       "\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < resp.size()) {
      ssize_t n = ::send(c, resp.data() + sent, resp.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += size_t(n);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failing_{false};
  mutable std::mutex mutex_;
  std::map<int32_t, std::string> schemas_;
  std::map<int32_t, int> requests_;
  std::thread thread_;
};

// ---- the engine -------------------------------------------------------------------------------------------

// The first offset a Kafka submission covers (the inverse of the batcher's record_base).
inline int64_t first_offset(const Submission& s) {
  return s.record_base + (s.format == BodyFormat::csv ? 2 : 1);
}

class FakeEngine {
 public:
  struct Options {
    size_t capacity = 64;                       // submissions queued before submit() refuses
    std::chrono::milliseconds commit_delay{0};  // per submission, on the worker
    int refuse_first = 0;                       // submit() refuses this many calls first
    std::set<int> fail;                         // these processed submissions (0-based) fail: store_error
  };
  FakeEngine() : FakeEngine(Options{}) {}
  explicit FakeEngine(Options o) : o_(o), worker_([this] { run(); }) {}
  ~FakeEngine() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      wake_.notify_all();
    }
    worker_.join();
  }

  KafkaHooks hooks() {
    KafkaHooks h;
    h.submit = [this](Submission s) { return submit(std::move(s)); };
    h.flush = [this] { flush(); };
    h.positions = [this](const std::string& topic) { return positions(topic); };
    return h;
  }

  bool submit(Submission s) {
    std::lock_guard lock(mutex_);
    ++submit_calls_;
    if (refuse_remaining_ > 0 || refusing_ || queue_.size() >= o_.capacity) {
      if (refuse_remaining_ > 0) --refuse_remaining_;
      ++refused_;
      return false;
    }
    queue_.push_back(std::move(s));
    ++submitted_;
    wake_.notify_all();
    return true;
  }
  void flush() {
    std::unique_lock lock(mutex_);
    const uint64_t target = submitted_;
    done_cv_.wait(lock, [&] { return finished_ >= target; });
  }
  std::map<int32_t, int64_t> positions(const std::string& topic) {
    std::lock_guard lock(mutex_);
    std::map<int32_t, int64_t> out;
    for (const auto& [key, next] : positions_)
      if (key.first == topic) out[key.second] = next;
    return out;
  }

  void set_refusing(bool refusing) {
    std::lock_guard lock(mutex_);
    refusing_ = refusing;
  }
  std::vector<Submission> committed() const {
    std::lock_guard lock(mutex_);
    return committed_;
  }
  size_t committed_count() const {
    std::lock_guard lock(mutex_);
    return committed_.size();
  }
  std::map<std::pair<std::string, int32_t>, int64_t> all_positions() const {
    std::lock_guard lock(mutex_);
    return positions_;
  }
  int breaks() const {  // Kafka submissions that did not start at the stored position
    std::lock_guard lock(mutex_);
    return breaks_;
  }
  int failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  int refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  // Called for each committed submission, on the worker, without the lock.
  std::function<void(const Submission&)> on_commit;

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Submission s = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      if (o_.commit_delay.count() > 0) std::this_thread::sleep_for(o_.commit_delay);
      lock.lock();
      SubmitResult r;
      const int n = processed_++;
      auto key = std::make_pair(s.kafka->topic, s.kafka->partition);
      auto pos = positions_.find(key);
      // Where the next submission of the partition must start: the stored position, or after a failure of
      // a partition with none stored yet, the failed submission's first offset.
      auto required = pos != positions_.end() ? std::optional<int64_t>(pos->second) : std::nullopt;
      if (auto f = failed_first_.find(key); f != failed_first_.end() && !required) required = f->second;
      if (o_.fail.count(n)) {
        r.status = SubmitResult::Status::store_error;
        r.error = "injected store failure";
        ++failed_;
        if (!required) failed_first_[key] = first_offset(s);
      } else if (required && first_offset(s) != *required) {
        r.status = SubmitResult::Status::store_error;
        r.error = "out of sequence";
        ++breaks_;
      } else {
        positions_[key] = s.kafka->next_offset;  // with the rows, atomically
        committed_.push_back(s);
        if (on_commit) {
          lock.unlock();
          on_commit(s);
          lock.lock();
        }
      }
      auto done = std::move(s.done);
      lock.unlock();
      if (done) done(r);
      lock.lock();
      ++finished_;
      done_cv_.notify_all();
    }
  }

  Options o_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, done_cv_;
  std::deque<Submission> queue_;
  std::vector<Submission> committed_;
  std::map<std::pair<std::string, int32_t>, int64_t> positions_;
  std::map<std::pair<std::string, int32_t>, int64_t> failed_first_;
  uint64_t submitted_ = 0, finished_ = 0;
  int processed_ = 0, submit_calls_ = 0, refused_ = 0, breaks_ = 0, failed_ = 0;
  int refuse_remaining_ = o_.refuse_first;
  bool refusing_ = false;
  bool stop_ = false;
  std::thread worker_;
};

// ---- reading bodies back ----------------------------------------------------------------------------------

// (topic, partition, offset)
using MessageKey = std::tuple<std::string, int32_t, int64_t>;

inline void parse_source(const std::string& source, std::string* topic, int32_t* partition) {
  // "kafka:<topic>/<partition>"
  const size_t slash = source.rfind('/');
  *topic = source.substr(6, slash - 6);
  *partition = std::stoi(source.substr(slash + 1));
}

// Each record of a submission with the offset record_base gives it: JSON and CSV lines (the CSV header
// skipped, empty padding lines skipped), Avro datums.
inline std::vector<std::pair<int64_t, std::string>> records_of(const Submission& s,
                                                               const std::string& csv_header = "") {
  std::vector<std::pair<int64_t, std::string>> out;
  if (s.format == BodyFormat::avro_datums) {
    size_t pos = 0;
    int64_t index = 1;
    while (pos + 4 <= s.body.size()) {
      const auto* p = reinterpret_cast<const unsigned char*>(s.body.data() + pos);
      const uint32_t n = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
      out.emplace_back(s.record_base + index, s.body.substr(pos + 4, n));
      pos += 4 + n;
      ++index;
    }
    return out;
  }
  int64_t line = 1;
  size_t pos = 0;
  while (pos <= s.body.size()) {
    size_t nl = s.body.find('\n', pos);
    if (nl == std::string::npos) nl = s.body.size();
    std::string text = s.body.substr(pos, nl - pos);
    const bool header = s.format == BodyFormat::csv && line == 1;
    if (header) {
      if (!csv_header.empty() && text != csv_header) throw std::runtime_error("bad CSV header: " + text);
    } else if (!text.empty()) {
      out.emplace_back(s.record_base + line, text);
    }
    if (nl == s.body.size()) break;
    pos = nl + 1;
    ++line;
  }
  return out;
}

// ---- the mock cluster -------------------------------------------------------------------------------------

// Mock partitions keep at most 5 MB (or 100,000 message sets) each and drop the oldest beyond that
// (librdkafka 2.0.2, rdkafka_mock.c): tests that produce much use several partitions or compression.
class MockKafka {
 public:
  explicit MockKafka(int brokers = 1, const char* compression = "none") {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!host_) throw std::runtime_error(err);
    cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
    if (!cluster_) throw std::runtime_error("cannot create the mock cluster");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_conf_set(conf, "batch.num.messages", "10000", err, sizeof err);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err);
    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rd_kafka_conf_set(conf, "compression.codec", compression, err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(conf, &MockKafka::delivered);
    rd_kafka_conf_set_opaque(conf, this);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!producer_) throw std::runtime_error(err);
  }
  ~MockKafka() {
    rd_kafka_flush(producer_, 10000);
    rd_kafka_destroy(producer_);
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }

  const std::string& bootstraps() const { return bootstraps_; }
  void create_topic(const std::string& name, int partitions = 3) {
    if (rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1))
      throw std::runtime_error("cannot create topic " + name);
  }

  // Queues a message to a partition; flush() waits until all are stored and their offsets known.
  void produce(const std::string& topic, int32_t partition, const std::string& value) {
    auto* v = new std::string(value);
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic.c_str()),
                                    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_VALUE(v->data(), v->size()),
                                    RD_KAFKA_V_OPAQUE(v), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(producer_, 10);
    if (err) {
      delete v;
      throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
    }
    rd_kafka_poll(producer_, 0);
  }
  void flush() {
    if (rd_kafka_flush(producer_, 30000)) throw std::runtime_error("producer flush timed out");
    if (errors_) throw std::runtime_error("delivery failed");
  }
  // Every message produced and delivered: (topic, partition, offset) -> value.
  std::map<MessageKey, std::string> produced() const {
    std::lock_guard lock(mutex_);
    return produced_;
  }

 private:
  static void delivered(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<MockKafka*>(opaque);
    auto* v = static_cast<std::string*>(m->_private);
    if (m->err) {
      self->errors_++;
    } else {
      std::lock_guard lock(self->mutex_);
      self->produced_[{rd_kafka_topic_name(m->rkt), m->partition, m->offset}] = std::move(*v);
    }
    delete v;
  }

  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstraps_;
  mutable std::mutex mutex_;
  std::map<MessageKey, std::string> produced_;
  std::atomic<int> errors_{0};
};

}  // namespace advx::kafka_test
