#include "sources/kafka/kafka_consumer.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "formats/decoder.hpp"
#include "sources/kafka/kafka_batcher.hpp"

namespace advx {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kRetryPause{20};           // between offers of a refused submission
constexpr milliseconds kPauseAfterRefusals{250};  // then the partitions are paused and polling goes on
constexpr int kBackoffFirstMs = 200;              // schema registry unavailable: first retry...
constexpr int kBackoffMaxMs = 5000;               // ...doubling up to this
constexpr int kBurstMessages = 1000;              // messages polled back to back without the loop's checks
constexpr int kWakeTimeoutMs = 1000;              // drained(): the longest wait for an offsets query

void log_line(const std::string& text) { std::fprintf(stderr, "advx serve: kafka: %s\n", text.c_str()); }

// The copy of a submission offered to the engine (a refused one stays ours). Its body has room for the
// kInputPadding bytes the engine appends before decoding, so that the engine's thread — the pipeline's
// bottleneck — does not reallocate and copy the whole body again.
Submission copy_for_engine(Submission& s) {
  std::string body = std::move(s.body);
  Submission copy = s;  // every field but the body
  s.body = std::move(body);
  copy.body.clear();
  copy.body.reserve(s.body.size() + kInputPadding);
  copy.body.append(s.body);
  return copy;
}

// Submissions the engine could not store, reported by `done` on the engine's thread.
struct FailureLog {
  struct Failure {
    int kind;
    int32_t partition;
    int64_t first_offset;
    std::string error;
  };
  std::mutex mutex;
  std::vector<Failure> failures;
  std::atomic<bool> any{false};

  void add(Failure f) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(f));
    any = true;
  }
  std::vector<Failure> take() {
    std::lock_guard lock(mutex);
    any = false;
    std::vector<Failure> out;
    out.swap(failures);
    return out;
  }
};

// What the engine has stored, per partition: the next offset, to be committed to Kafka (set by `done` on
// the engine's thread, taken by the poll thread), and the group counters other threads read.
struct StoredOffsets {
  std::mutex mutex;
  std::map<std::pair<int, int32_t>, int64_t> next;  // (topic kind, partition) -> next offset
  bool dirty = false;
  std::atomic<uint64_t> fenced{0};

  void record(int kind, int32_t partition, int64_t next_offset) {
    std::lock_guard lock(mutex);
    int64_t& n = next[{kind, partition}];
    n = std::max(n, next_offset);
    dirty = true;
  }
};

// One message held back while its partition waits for the schema registry.
struct Held {
  int64_t offset;
  std::string value;
};

// The consumer's view of one assigned partition (poll thread only).
struct PartitionState {
  int64_t next = -1;     // the offset expected next (-1: not known)
  bool blocked = false;  // waiting for the schema registry; paused, later messages held
  bool dropped = false;  // a failed submission could not be rewound (stopping): its messages are ignored
  std::deque<Held> held;
  Clock::time_point retry_at;
  int backoff_ms = kBackoffFirstMs;
};

struct TopicPartitionList {
  rd_kafka_topic_partition_list_t* list;
  explicit TopicPartitionList(int size) : list(rd_kafka_topic_partition_list_new(std::max(size, 1))) {}
  ~TopicPartitionList() { rd_kafka_topic_partition_list_destroy(list); }
  TopicPartitionList(const TopicPartitionList&) = delete;
  TopicPartitionList& operator=(const TopicPartitionList&) = delete;
};

}  // namespace

struct KafkaConsumer::Impl {
  using Key = std::pair<int, int32_t>;  // (topic kind, partition)

  KafkaOptions opt;
  KafkaHooks hooks;
  SchemaRegistry* registry;
  std::unique_ptr<SchemaRegistry> own_registry;
  std::array<std::string, kKafkaTopicKinds> topics;
  KafkaBatcher batcher;

  rd_kafka_t* rk = nullptr;
  std::thread thread;
  std::mutex stop_mutex;
  std::atomic<bool> stop_requested{false};
  std::atomic<uint64_t> messages{0};
  std::shared_ptr<FailureLog> failures = std::make_shared<FailureLog>();
  std::shared_ptr<StoredOffsets> stored = std::make_shared<StoredOffsets>();
  Clock::time_point last_offset_commit;  // poll thread

  // The group, for group_stats() from any thread.
  std::atomic<bool> rebalancing{true};
  std::atomic<uint64_t> rebalances{0};
  std::atomic<size_t> assigned_count{0};
  std::atomic<double> last_rebalance_seconds{0};
  std::atomic<uint64_t> offset_commits{0};
  std::atomic<uint64_t> offset_commit_errors{0};
  Clock::time_point rebalance_started = Clock::now();  // poll thread
  std::map<int, int32_t> partition_counts;             // poll thread: by topic kind, from the metadata

  // For lag(), from any thread.
  struct Assigned {
    int kind;
    int32_t partition;
    int64_t start;  // the offset assigned (RD_KAFKA_OFFSET_BEGINNING: the log start)
  };
  mutable std::mutex state_mutex;
  rd_kafka_t* rk_for_lag = nullptr;
  std::vector<Assigned> assigned;

  // Poll thread only.
  std::deque<Submission> pending;  // made, not yet accepted by the engine; in order
  std::vector<Submission> made;
  std::map<Key, PartitionState> parts;
  std::optional<Clock::time_point> next_retry;  // the earliest retry_at of a blocked partition
  bool paused_all = false;
  std::atomic<bool> paused_for_lag{false};  // paused_all, for lag() on another thread
  std::optional<Clock::time_point> refused_since;
  Clock::time_point batch_opened;
  std::set<int> logged_errors;
  bool registry_down_logged = false;
  int32_t last_schema_id = -1;  // the last schema found, to spare the registry's lock per message
  std::shared_ptr<const std::string> last_schema;
  // Waking a fetcher that stopped on a full queue (librdkafka before 2.2; see drained()).
  bool wake_fetcher = false;
  uint64_t full_messages = 0;    // queued.min.messages
  uint64_t full_bytes = 0;       // queued.max.messages.kbytes, in bytes
  uint64_t streak_messages = 0;  // messages taken since the queue was last empty...
  uint64_t streak_bytes = 0;     // ...and their bytes

  Impl(KafkaOptions o, KafkaHooks h, SchemaRegistry* r)
      : opt(std::move(o)),
        hooks(std::move(h)),
        registry(r),
        batcher(opt.csv_columns, opt.max_batch_messages, opt.max_batch_bytes) {
    topics = {opt.impressions_topic, opt.events_topic, opt.bid_requests_topic};
  }

  int kind_of(const char* topic) const {
    for (int k = 0; k < kKafkaTopicKinds; ++k)
      if (topics[size_t(k)] == topic) return k;
    return -1;
  }

  bool check_options(std::string* error);
  bool create(std::string* error);
  void run();
  void shutdown();

  // Messages.
  bool poll_once(int timeout_ms);
  void drained();
  void on_message(int kind, int32_t partition, int64_t offset, std::string_view value);
  bool process(int kind, int32_t partition, int64_t offset, std::string_view value, PartitionState& st);
  void take_made();
  void close_batch();

  // Submissions.
  bool submit_pending();
  void submit_all_or_give_up();

  // Rebalances.
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_assign(rd_kafka_topic_partition_list_t* list);
  void on_revoke();
  std::optional<std::map<int32_t, int64_t>> stored_positions(const std::string& topic);
  bool tell_assigned(const std::vector<std::pair<std::string, int32_t>>& partitions);
  int32_t partition_count(const std::string& topic);
  void commit_offsets(bool sync);

  // Pausing.
  void set_paused(const std::vector<Key>& keys, bool pause);
  void pause_all();
  void resume_all();
  void retry_blocked();
  void rewind_failed();

  void log_once(int code, const std::string& text) {
    if (logged_errors.insert(code).second) log_line(text);
  }
};

// ---- configuration ----------------------------------------------------------------------------------------

bool KafkaConsumer::Impl::check_options(std::string* error) {
  if (opt.brokers.empty()) return *error = "no brokers given (bootstrap.servers)", false;
  if (opt.group_id.empty()) return *error = "the consumer group id is empty", false;
  if (opt.max_batch_messages == 0) return *error = "max_batch_messages must be at least 1", false;
  if (opt.max_batch_bytes == 0) return *error = "max_batch_bytes must be at least 1", false;
  if (opt.poll_timeout_ms <= 0) return *error = "poll_timeout_ms must be positive", false;
  if (!hooks.submit || !hooks.flush || !hooks.positions)
    return *error = "the submit, flush and positions hooks are all required", false;
  bool any = false;
  for (int k = 0; k < kKafkaTopicKinds; ++k) {
    if (topics[size_t(k)].empty()) continue;
    any = true;
    for (int j = 0; j < k; ++j)
      if (topics[size_t(j)] == topics[size_t(k)])
        return *error = "topic " + topics[size_t(k)] + " is given for two streams", false;
  }
  if (!any) return *error = "no topic to read", false;
  if (!opt.events_topic.empty()) {
    if (opt.csv_columns.find_first_of("\r\n") != std::string::npos)
      return *error = "csv_columns must be one line", false;
    // The header must be one the CSV decoder accepts, or every submission of the topic would fail.
    std::string header = opt.csv_columns + "\n";
    const size_t len = header.size();
    header.append(kInputPadding, '\0');
    std::unique_ptr<Decoder> decoder = make_csv_decoder();
    RawBatch raw(Stream::events);
    decoder->decode(std::string_view(header.data(), len), true, raw);
    if (!decoder->fatal_error().empty() || opt.csv_columns.empty())
      return *error = "csv_columns is not a CSV header: " +
                      (opt.csv_columns.empty() ? std::string("empty") : decoder->fatal_error()),
             false;
  }
  if (!opt.bid_requests_topic.empty() && !registry) {
    if (opt.schema_registry_url.empty())
      return *error = "reading " + opt.bid_requests_topic +
                      " needs a schema registry (schema_registry_url), or set its topic to \"\"",
             false;
    own_registry = std::make_unique<SchemaRegistry>(opt.schema_registry_url);
    registry = own_registry.get();
  }
  return true;
}

bool KafkaConsumer::Impl::create(std::string* error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
      return true;
    *error = "property " + name + ": " + errstr;
    return false;
  };
  bool ok = set("bootstrap.servers", opt.brokers) && set("group.id", opt.group_id) &&
            set("client.id", "advx") &&
            // A stored position the log no longer has (retention) or does not have yet (a recreated topic)
            // is read from the start of what there is: nothing is skipped.
            set("auto.offset.reset", "earliest");
  // Prefetching. librdkafka stops fetching once its local queue holds queued.min.messages (default 100,000)
  // or queued.max.messages.kbytes (64 MB), and looks again only when its broker thread next wakes up: up to
  // 1 s later (librdkafka issue #2879; fetch.queue.backoff.ms from 2.2 on). A queue emptied sooner leaves
  // the consumer, and the engine behind it, idle for the rest of that second. So: the queue is bounded by
  // bytes only (the message count at its maximum), the backoff is short where it can be set, and elsewhere
  // drained() wakes the fetcher.
  ok = ok && set("queued.min.messages", "10000000");
  const bool backoff_settable = ok && rd_kafka_conf_set(conf, "fetch.queue.backoff.ms", "10", errstr,
                                                        sizeof(errstr)) == RD_KAFKA_CONF_OK;
  for (const auto& [name, value] : opt.properties) ok = ok && set(name, value);
  // Offsets live in the store, committed with the rows: never by librdkafka (set after the user's properties,
  // which cannot change them).
  ok = ok && set("enable.auto.commit", "false") && set("enable.auto.offset.store", "false");
  if (ok) {
    char value[256];
    size_t size = sizeof(value);
    if (rd_kafka_conf_get(conf, "partition.assignment.strategy", value, &size) == RD_KAFKA_CONF_OK &&
        std::string_view(value).find("cooperative") != std::string_view::npos) {
      *error = "partition.assignment.strategy " + std::string(value) +
               ": advx needs an eager assignor (range, roundrobin)";
      ok = false;
    }
  }
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return false;
  }
  if (!backoff_settable) {  // the thresholds as they are now, after the user's properties
    auto get = [&](const char* name) -> uint64_t {
      char value[64];
      size_t size = sizeof(value);
      return rd_kafka_conf_get(conf, name, value, &size) == RD_KAFKA_CONF_OK
                 ? std::strtoull(value, nullptr, 10)
                 : 0;
    };
    full_messages = get("queued.min.messages");
    full_bytes = get("queued.max.messages.kbytes") * 1024;
    wake_fetcher = full_messages > 0 && full_bytes > 0;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, &Impl::rebalance_cb);
  rd_kafka_conf_set_error_cb(conf, &Impl::error_cb);
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));  // owns conf when it succeeds
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    *error = errstr;
    return false;
  }
  rd_kafka_poll_set_consumer(rk);  // errors and rebalances come through rd_kafka_consumer_poll()
  TopicPartitionList subscription(kKafkaTopicKinds);
  for (const std::string& t : topics)
    if (!t.empty()) rd_kafka_topic_partition_list_add(subscription.list, t.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, subscription.list)) {
    *error = std::string("subscribe: ") + rd_kafka_err2str(err);
    rd_kafka_destroy(rk);
    rk = nullptr;
    return false;
  }
  std::lock_guard lock(state_mutex);
  rk_for_lag = rk;
  return true;
}

// ---- the poll loop ----------------------------------------------------------------------------------------

void KafkaConsumer::Impl::run() {
  while (!stop_requested) {
    if (const auto now = Clock::now(); now - last_offset_commit >= milliseconds(1000)) {
      last_offset_commit = now;
      commit_offsets(false);
    }
    if (failures->any) {
      if (paused_all) resume_all();  // a seek needs the partition fetching
      rewind_failed();
    }
    retry_blocked();
    if (!submit_pending()) {
      const auto now = Clock::now();
      if (!refused_since) refused_since = now;
      if (!paused_all && now - *refused_since >= kPauseAfterRefusals) pause_all();
      if (paused_all)
        poll_once(int(kRetryPause.count()));  // the group and rebalances are served meanwhile
      else
        std::this_thread::sleep_for(kRetryPause);
      continue;
    }
    refused_since.reset();
    if (paused_all) resume_all();

    int timeout = opt.poll_timeout_ms;
    const auto now = Clock::now();
    if (!batcher.empty()) {
      const auto waited = std::chrono::duration_cast<milliseconds>(now - batch_opened).count();
      if (waited >= opt.poll_timeout_ms) {
        close_batch();
        continue;
      }
      timeout = int(opt.poll_timeout_ms - waited);
    }
    if (next_retry)
      timeout = int(std::clamp<int64_t>(std::chrono::duration_cast<milliseconds>(*next_retry - now).count(),
                                        0, timeout));
    if (!poll_once(timeout)) {
      close_batch();  // nothing came: what is batched goes now
      continue;
    }
    // More is probably queued: take it without the bookkeeping above (a clock reading costs as much as
    // batching a message), until the queue is empty or a submission is ready for the engine.
    for (int i = 0; i < kBurstMessages && pending.empty() && !failures->any && !stop_requested; ++i)
      if (!poll_once(0)) break;
  }
  shutdown();
}

void KafkaConsumer::Impl::shutdown() {
  rewind_failed();  // failed partitions submit nothing more
  close_batch();
  submit_all_or_give_up();
  hooks.flush();
  // Leaves the group; the revocation it makes is served here, by on_revoke.
  if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk))
    log_line(std::string("closing the consumer: ") + rd_kafka_err2str(err));
  {
    std::lock_guard lock(state_mutex);
    rk_for_lag = nullptr;
    assigned.clear();
  }
  rd_kafka_destroy(rk);
  rk = nullptr;
}

bool KafkaConsumer::Impl::poll_once(int timeout_ms) {
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, timeout_ms);
  if (!m) {
    drained();
    return false;
  }
  bool data = false;
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      std::string what = rd_kafka_message_errstr(m);
      if (m->rkt) what = std::string(rd_kafka_topic_name(m->rkt)) + ": " + what;
      log_once(int(m->err), what + " (logged once)");
    }
  } else if (int kind = m->rkt ? kind_of(rd_kafka_topic_name(m->rkt)) : -1; kind >= 0) {
    messages.fetch_add(1, std::memory_order_relaxed);
    ++streak_messages;
    streak_bytes += m->len;
    on_message(kind, m->partition, m->offset,
               std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0));
    data = true;
  }
  rd_kafka_message_destroy(m);
  return data;
}

void KafkaConsumer::Impl::on_message(int kind, int32_t partition, int64_t offset, std::string_view value) {
  PartitionState& st = parts[{kind, partition}];
  if (st.dropped) return;
  if (st.next >= 0 && offset < st.next) {
    // librdkafka went back: an offset reset after the stored position fell outside the log (a recreated
    // topic). What the log holds now is read; the stored position follows it.
    log_once(-100000, topics[size_t(kind)] + "/" + std::to_string(partition) + ": offsets went back to " +
                          std::to_string(offset) + " (offset reset: was the topic recreated?) (logged once)");
  }
  st.next = offset + 1;
  if (st.blocked) {
    st.held.push_back({offset, std::string(value)});
    return;
  }
  process(kind, partition, offset, value, st);
}

// Batches one message. False when it needs the schema registry and the registry cannot answer: the message
// is then held, with every later one of its partition, and the partition paused.
bool KafkaConsumer::Impl::process(int kind, int32_t partition, int64_t offset, std::string_view value,
                                  PartitionState& st) {
  AvroSchemaInfo avro;
  if (kind == int(KafkaTopicKind::bid_requests)) {
    std::string_view datum;
    if (!parse_confluent_frame(value, &avro.id, &datum)) {
      avro.id = -1;
      avro.error = kNotConfluentFramed;
    } else if (avro.id == last_schema_id && last_schema) {
      avro.schema = last_schema;
    } else {
      std::string error;
      switch (registry->schema(avro.id, &avro.schema, &error)) {
        case SchemaRegistry::Lookup::found:
          last_schema_id = avro.id;
          last_schema = avro.schema;
          if (registry_down_logged) {
            log_line("the schema registry answers again");
            registry_down_logged = false;
          }
          break;
        case SchemaRegistry::Lookup::unknown_id:
          avro.error = unknown_schema_error(avro.id);
          break;
        case SchemaRegistry::Lookup::unavailable: {
          if (!registry_down_logged) {
            log_line(error + "; " + topics[size_t(kind)] + "/" + std::to_string(partition) +
                     " waits at offset " + std::to_string(offset) + " and retries");
            registry_down_logged = true;
          }
          close_batch();  // what came before it goes now
          st.blocked = true;
          st.held.push_front({offset, std::string(value)});
          st.retry_at = Clock::now() + milliseconds(st.backoff_ms);
          st.backoff_ms = std::min(st.backoff_ms * 2, kBackoffMaxMs);
          if (!next_retry || st.retry_at < *next_retry) next_retry = st.retry_at;
          if (!paused_all) set_paused({{kind, partition}}, true);
          return false;
        }
      }
    }
  }
  const bool was_empty = batcher.empty();
  batcher.add(KafkaTopicKind(kind), topics[size_t(kind)], partition, offset, value,
              kind == int(KafkaTopicKind::bid_requests) ? &avro : nullptr, made);
  if (was_empty || !made.empty()) batch_opened = Clock::now();
  take_made();
  return true;
}

void KafkaConsumer::Impl::take_made() {
  for (Submission& s : made) {
    // A failure to store is reported back, so that the partition is read again from the stored position.
    const int kind = kind_of(s.kafka->topic.c_str());
    const int32_t partition = s.kafka->partition;
    const int64_t first = s.record_base + (s.format == BodyFormat::csv ? 2 : 1);
    const int64_t next = s.kafka->next_offset;
    if (auto it = partition_counts.find(kind); it != partition_counts.end()) s.kafka->partitions = it->second;
    s.done = [log = failures, stored = stored, kind, partition, first, next](const SubmitResult& r) {
      if (r.status == SubmitResult::Status::ok)
        stored->record(kind, partition, next);
      else if (r.status == SubmitResult::Status::fenced)
        stored->fenced.fetch_add(1, std::memory_order_relaxed);  // another member's partition now
      else if (r.status == SubmitResult::Status::store_error ||
               r.status == SubmitResult::Status::shutting_down)
        log->add({kind, partition, first, r.error});
      else if (r.status == SubmitResult::Status::bad_input)
        std::fprintf(stderr, "advx serve: kafka: a submission from offset %lld was not decodable: %s\n",
                     static_cast<long long>(first), r.error.c_str());
    };
    pending.push_back(std::move(s));
  }
  made.clear();
}

void KafkaConsumer::Impl::close_batch() {
  batcher.flush(made);
  take_made();
}

// librdkafka before 2.2 stops fetching when its queue is full (see create()) and looks again only when its
// broker thread next wakes up, up to 1 s later. Such a stop leaves at least a full queue to take before the
// queue is empty: when it runs empty after that much, the fetcher has most likely stopped, and is woken. Any
// request to a partition's leader wakes that broker's thread, which then finds the queue empty and fetches.
// An offsets query (one request per leader) is such a request that changes nothing; pausing and resuming
// would also wake it, but throw away a fetch in flight and back the partition off for fetch.error.backoff.ms.
// When the fetcher had not stopped after all, the query is all it costs.
void KafkaConsumer::Impl::drained() {
  const bool was_full = streak_messages >= full_messages / 4 * 3 || streak_bytes >= full_bytes / 4 * 3;
  streak_messages = 0;
  streak_bytes = 0;
  if (!wake_fetcher || !was_full || paused_all) return;
  TopicPartitionList lagging(int(parts.size()));
  for (const auto& [key, st] : parts) {
    if (st.blocked || st.dropped) continue;
    const char* topic = topics[size_t(key.first)].c_str();
    int64_t low = -1, high = -1;
    rd_kafka_get_watermark_offsets(rk, topic, key.second, &low, &high);  // as of the last fetch
    if (high >= 0 && std::max(st.next, low) >= high) continue;           // read to its end: nothing to fetch
    // Asks for the latest offset (timestamp -1): one request per leader, whatever the answer.
    rd_kafka_topic_partition_list_add(lagging.list, topic, key.second)->offset = -1;
  }
  if (lagging.list->cnt > 0) rd_kafka_offsets_for_times(rk, lagging.list, kWakeTimeoutMs);
}

// ---- submissions ------------------------------------------------------------------------------------------

bool KafkaConsumer::Impl::submit_pending() {
  while (!pending.empty()) {
    if (!hooks.submit(copy_for_engine(pending.front()))) return false;  // the refused one is still ours
    pending.pop_front();
  }
  return true;
}

// Before a revocation or at stop: everything made must reach the engine, in order. While stopping, an engine
// that refuses for stop_timeout_ms wins: the messages stay unstored and are read again next time.
void KafkaConsumer::Impl::submit_all_or_give_up() {
  const auto started = Clock::now();
  while (!submit_pending()) {
    if (stop_requested && Clock::now() - started >= milliseconds(opt.stop_timeout_ms)) {
      log_line("the engine refused " + std::to_string(pending.size()) + " submissions for " +
               std::to_string(opt.stop_timeout_ms) +
               " ms while stopping; their messages will be read again from the stored positions");
      pending.clear();
      return;
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

// ---- rebalances -------------------------------------------------------------------------------------------

void KafkaConsumer::Impl::rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                       rd_kafka_topic_partition_list_t* list, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->on_assign(list);
  } else {
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
      log_line(std::string("rebalance error: ") + rd_kafka_err2str(err));
    self->on_revoke();
  }
  (void)rk;
}

void KafkaConsumer::Impl::error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  self->log_once(err, std::string(reason) + " (logged once)");
  (void)rk;
}

// Without the positions no partition can be started exactly: retried until the store answers, or nullopt
// once we are stopping.
std::optional<std::map<int32_t, int64_t>> KafkaConsumer::Impl::stored_positions(const std::string& topic) {
  for (bool paused_here = false;;) {
    try {
      std::map<int32_t, int64_t> positions = hooks.positions(topic);
      if (paused_here) resume_all();  // a seek needs the partition fetching
      return positions;
    } catch (const std::exception& e) {
      log_line("cannot read the stored positions of " + topic + " (retrying): " + e.what());
      if (stop_requested) return std::nullopt;
      // The store is away (a ClickHouse server down): nothing read now could be stored, so every
      // partition's fetching is held until it answers again (advx_kafka_partition_paused).
      if (!paused_all) {
        pause_all();
        paused_here = true;
      }
      std::this_thread::sleep_for(milliseconds(1000));
    }
  }
}

// The fleet's hook (claims, the engine's dedup scope) before the positions are read: retried, with every
// partition paused, until the store answers; false once stopping.
bool KafkaConsumer::Impl::tell_assigned(const std::vector<std::pair<std::string, int32_t>>& partitions) {
  if (!hooks.assigned) return true;
  for (bool paused_here = false;;) {
    try {
      hooks.assigned(partitions);
      if (paused_here) resume_all();
      return true;
    } catch (const std::exception& e) {
      log_line(std::string("cannot take the assignment in the store (retrying): ") + e.what());
      if (stop_requested) return false;
      if (!paused_all) {
        pause_all();
        paused_here = true;
      }
      std::this_thread::sleep_for(milliseconds(1000));
    }
  }
}

// How many partitions a topic has (0: the metadata did not say within 5 s): the engine checks each record's
// user_id against it (docs/FLEET.md, "The producer contract").
int32_t KafkaConsumer::Impl::partition_count(const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (!rkt) return 0;
  const rd_kafka_metadata_t* md = nullptr;
  int32_t n = 0;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
    for (int i = 0; i < md->topic_cnt; i++)
      if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[i].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return n;
}

// Kafka's committed offsets follow the store (they are never read back: the store is the truth), for the
// group's tools and lag exporters. Only partitions assigned now; asynchronous but at a revocation.
void KafkaConsumer::Impl::commit_offsets(bool sync) {
  std::map<std::pair<int, int32_t>, int64_t> next;
  {
    std::lock_guard lock(stored->mutex);
    if (!stored->dirty) return;
    stored->dirty = false;
    next = stored->next;
  }
  TopicPartitionList l(int(next.size()));
  for (const auto& [key, offset] : next)
    if (parts.count(key))
      rd_kafka_topic_partition_list_add(l.list, topics[size_t(key.first)].c_str(), key.second)->offset =
          offset;
  if (l.list->cnt == 0) return;
  if (rd_kafka_commit(rk, l.list, sync ? 0 : 1) == RD_KAFKA_RESP_ERR_NO_ERROR)
    offset_commits.fetch_add(1, std::memory_order_relaxed);
  else
    offset_commit_errors.fetch_add(1, std::memory_order_relaxed);
}

void KafkaConsumer::Impl::on_assign(rd_kafka_topic_partition_list_t* list) {
  std::map<std::string, std::map<int32_t, int64_t>> stored;
  std::vector<Assigned> now_assigned;
  parts.clear();
  next_retry.reset();
  std::vector<std::pair<std::string, int32_t>> partitions;
  for (int i = 0; i < list->cnt; ++i)
    if (kind_of(list->elems[i].topic) >= 0)
      partitions.emplace_back(list->elems[i].topic, list->elems[i].partition);
  if (!tell_assigned(partitions)) {  // stopping
    rd_kafka_assign(rk, nullptr);
    return;
  }
  partition_counts.clear();
  for (const auto& [topic, partition] : partitions)
    if (const int kind = kind_of(topic.c_str()); kind >= 0 && !partition_counts.count(kind))
      partition_counts[kind] = partition_count(topic);
  for (int i = 0; i < list->cnt; ++i) {
    rd_kafka_topic_partition_t& p = list->elems[i];
    auto it = stored.find(p.topic);
    if (it == stored.end()) {
      std::optional<std::map<int32_t, int64_t>> positions = stored_positions(p.topic);
      if (!positions) {  // stopping: take nothing rather than start anywhere but the stored position
        rd_kafka_assign(rk, nullptr);
        return;
      }
      it = stored.emplace(p.topic, std::move(*positions)).first;
    }
    auto pos = it->second.find(p.partition);
    p.offset = pos != it->second.end() ? pos->second : RD_KAFKA_OFFSET_BEGINNING;
    const int kind = kind_of(p.topic);
    if (kind < 0) continue;
    parts[{kind, p.partition}].next = p.offset >= 0 ? p.offset : -1;
    now_assigned.push_back({kind, p.partition, p.offset});
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk, list)) {
    log_line(std::string("assign: ") + rd_kafka_err2str(err));
    return;
  }
  last_rebalance_seconds = std::chrono::duration<double>(Clock::now() - rebalance_started).count();
  rebalances.fetch_add(1, std::memory_order_relaxed);
  assigned_count = now_assigned.size();
  rebalancing = false;
  std::lock_guard lock(state_mutex);
  assigned = std::move(now_assigned);
}

void KafkaConsumer::Impl::on_revoke() {
  close_batch();
  if (rk && rd_kafka_assignment_lost(rk)) {
    // The group gave the partitions away already (we were too slow to heartbeat or poll): another member
    // may be reading them from the stored positions. What is not submitted yet must not be.
    log_line("the assignment was lost; unsubmitted messages are left to the new owner");
    pending.clear();
  } else {
    submit_all_or_give_up();
  }
  hooks.flush();  // everything we submitted is committed before the next owner reads the positions
  rebalancing = true;
  rebalance_started = Clock::now();
  if (rk && !rd_kafka_assignment_lost(rk)) commit_offsets(true);
  {
    std::lock_guard lock(stored->mutex);
    stored->next.clear();
    stored->dirty = false;
  }
  if (hooks.revoked) hooks.revoked(stop_requested.load());
  // librdkafka may keep an application's pause across assignments: resume what we paused while it is
  // still ours. (Resuming a partition that is not paused is not free either: it restarts
  // a pending offset lookup, so only what was paused is resumed.)
  std::vector<Key> paused;
  for (const auto& [key, st] : parts)
    if (paused_all || st.blocked) paused.push_back(key);
  set_paused(paused, false);
  paused_all = false;
  parts.clear();  // held messages were never submitted: the next owner reads them
  next_retry.reset();
  {
    std::lock_guard lock(state_mutex);
    assigned.clear();
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk, nullptr))
    log_line(std::string("unassign: ") + rd_kafka_err2str(err));
}

// ---- pausing, the registry, rewinds -----------------------------------------------------------------------

void KafkaConsumer::Impl::set_paused(const std::vector<Key>& keys, bool pause) {
  if (keys.empty()) return;
  TopicPartitionList l(int(keys.size()));
  for (const auto& [kind, partition] : keys)
    rd_kafka_topic_partition_list_add(l.list, topics[size_t(kind)].c_str(), partition);
  if (pause)
    rd_kafka_pause_partitions(rk, l.list);
  else
    rd_kafka_resume_partitions(rk, l.list);
}

void KafkaConsumer::Impl::pause_all() {
  std::vector<Key> keys;
  for (const auto& [key, st] : parts) keys.push_back(key);
  set_paused(keys, true);
  paused_all = true;
  paused_for_lag = true;
}

void KafkaConsumer::Impl::resume_all() {
  std::vector<Key> keys;
  for (const auto& [key, st] : parts)
    if (!st.blocked) keys.push_back(key);
  set_paused(keys, false);
  paused_all = false;
  paused_for_lag = false;
}

void KafkaConsumer::Impl::retry_blocked() {
  if (!next_retry) return;
  const auto now = Clock::now();
  if (now < *next_retry) return;
  next_retry.reset();
  for (auto& [key, st] : parts) {
    if (!st.blocked || now < st.retry_at) continue;
    std::deque<Held> held = std::move(st.held);
    st.held.clear();
    st.blocked = false;
    while (!held.empty()) {
      const Held& h = held.front();
      if (!process(key.first, key.second, h.offset, h.value, st)) {
        held.pop_front();  // process() put it back at the front of st.held
        for (Held& rest : held) st.held.push_back(std::move(rest));
        break;
      }
      held.pop_front();
    }
    if (!st.blocked) {
      st.backoff_ms = kBackoffFirstMs;
      if (!paused_all) set_paused({key}, false);
    }
  }
  for (const auto& [key, st] : parts)
    if (st.blocked && (!next_retry || st.retry_at < *next_retry)) next_retry = st.retry_at;
}

void KafkaConsumer::Impl::rewind_failed() {
  if (!failures->any) return;
  std::map<Key, FailureLog::Failure> failed;  // the first failure per partition
  auto collect = [&] {
    for (FailureLog::Failure& f : failures->take()) {
      const Key key{f.kind, f.partition};
      auto it = failed.find(key);
      if (it == failed.end() || f.first_offset < it->second.first_offset) failed[key] = std::move(f);
    }
    // Nothing more of these partitions goes to the engine: it is all read again.
    for (const auto& [key, f] : failed) {
      batcher.discard(topics[size_t(key.first)], key.second);
      std::erase_if(pending, [&](const Submission& s) {
        return s.kafka->partition == key.second && s.kafka->topic == topics[size_t(key.first)];
      });
    }
  };
  collect();
  // Whatever of them was in flight is committed or failed after the flush. That waits for the store: with
  // a server down, until it is back, and nothing is fetched meanwhile (advx_kafka_partition_paused).
  const bool paused_here = !paused_all;
  if (paused_here) pause_all();
  hooks.flush();
  collect();
  if (paused_here) resume_all();  // a seek needs the partition fetching
  std::map<std::string, std::map<int32_t, int64_t>> stored;
  for (const auto& [key, f] : failed) {
    auto part = parts.find(key);
    if (part == parts.end()) continue;  // not ours any more: the owner starts from the stored position
    const std::string& topic = topics[size_t(key.first)];
    PartitionState& st = part->second;
    auto it = stored.find(topic);
    if (it == stored.end()) {
      std::optional<std::map<int32_t, int64_t>> positions = stored_positions(topic);
      if (!positions) {  // stopping: nothing more of this partition may be submitted
        st = PartitionState{};
        st.dropped = true;
        set_paused({key}, true);
        continue;
      }
      it = stored.emplace(topic, std::move(*positions)).first;
    }
    auto pos = it->second.find(key.second);
    const int64_t target = pos != it->second.end() ? pos->second : RD_KAFKA_OFFSET_BEGINNING;
    const bool was_blocked = st.blocked;
    st = PartitionState{};
    st.next = target >= 0 ? target : -1;
    if (was_blocked) set_paused({key}, false);
    TopicPartitionList l(1);
    rd_kafka_topic_partition_list_add(l.list, topic.c_str(), key.second)->offset = target;
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk, l.list, 10'000)) {
      log_line("seek " + topic + "/" + std::to_string(key.second) + ": " + rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
    }
    std::string where = target >= 0 ? "offset " + std::to_string(target) : std::string("the beginning");
    log_line(topic + "/" + std::to_string(key.second) + ": messages from offset " +
             std::to_string(f.first_offset) + " were not stored (" + f.error + "); reading again from " +
             where);
    if (target > f.first_offset)
      log_line(topic + "/" + std::to_string(key.second) +
               ": a later submission was stored after it: offsets " + std::to_string(f.first_offset) + ".." +
               std::to_string(target - 1) + " are missing from the store");
  }
}

// ---- KafkaConsumer ----------------------------------------------------------------------------------------

KafkaConsumer::KafkaConsumer(KafkaOptions options, KafkaHooks hooks, SchemaRegistry* registry)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(hooks), registry)) {}

KafkaConsumer::~KafkaConsumer() { stop(); }

bool KafkaConsumer::start(std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->rk || impl_->thread.joinable()) return *error = "the consumer is started already", false;
  if (!impl_->check_options(error) || !impl_->create(error)) return false;
  impl_->stop_requested = false;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  return true;
}

void KafkaConsumer::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (!impl_->thread.joinable()) return;
  impl_->stop_requested = true;
  impl_->thread.join();
}

std::vector<PartitionLag> KafkaConsumer::lag() const {
  std::lock_guard lock(impl_->state_mutex);
  std::vector<PartitionLag> out;
  if (!impl_->rk_for_lag || impl_->assigned.empty()) return out;
  rd_kafka_t* rk = impl_->rk_for_lag;
  TopicPartitionList l(int(impl_->assigned.size()));
  for (const Impl::Assigned& a : impl_->assigned)
    rd_kafka_topic_partition_list_add(l.list, impl_->topics[size_t(a.kind)].c_str(), a.partition);
  rd_kafka_position(rk, l.list);
  for (int i = 0; i < l.list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = l.list->elems[i];
    const Impl::Assigned& a = impl_->assigned[size_t(i)];
    int64_t low = RD_KAFKA_OFFSET_INVALID, high = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_get_watermark_offsets(rk, p.topic, p.partition, &low, &high);
    int64_t next = p.offset >= 0 ? p.offset : a.start >= 0 ? a.start : low >= 0 ? low : -1;
    out.push_back({p.topic, p.partition, next, high >= 0 ? high : -1, impl_->paused_for_lag.load()});
  }
  return out;
}

KafkaGroupStats KafkaConsumer::group_stats() const {
  KafkaGroupStats g;
  g.rebalancing = impl_->rebalancing;
  g.rebalances = impl_->rebalances;
  g.assigned = impl_->assigned_count;
  g.last_rebalance_seconds = impl_->last_rebalance_seconds;
  g.offset_commits = impl_->offset_commits;
  g.offset_commit_errors = impl_->offset_commit_errors;
  g.fenced_submissions = impl_->stored->fenced;
  return g;
}

uint64_t KafkaConsumer::messages() const { return impl_->messages.load(std::memory_order_relaxed); }

}  // namespace advx
