// StreamEngine: the real-time path of SPEC 2 for `advx serve`, on the same stages as `advx ingest` (the
// same decoders, Validator, Deduplicator, store and attribution). Inputs arrive as Submissions — an HTTP
// body, a pixel hit, a run of Kafka messages of one partition — into a queue bounded in bytes; one engine
// thread decodes, validates, deduplicates and appends them, and commits in micro-batches. A submission's
// `done` is called only after the transaction holding its rows has committed, so an answer of "accepted"
// means durable (group commit: whatever queued during one commit goes into the next). Kafka positions are
// written in the same transaction as the rows they produced (table advx_kafka_offsets): after a crash the
// consumer resumes exactly where the store ends — nothing lost, nothing twice.
//
// A second thread re-attributes (SPEC 2.6) the rows committed since its last pass, every
// attribution_interval, on its own connection, and maintains the hourly rollup like advx ingest does.
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/histogram.hpp"
#include "core/reason.hpp"
#include "core/stream.hpp"
#include "correlate/attribution.hpp"
#include "formats/decoder.hpp"
#include "pipeline/summary.hpp"
#include "store/store.hpp"
#include "transforms/dedup.hpp"
#include "transforms/dimensions.hpp"
#include "transforms/validate.hpp"

namespace advx {

class AvroDatumDecoder;

// A Kafka position: the next offset to read of one partition once the submission's rows are stored.
struct KafkaPosition {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
  // The submission's first offset. When the engine knows where the partition stands (stored, or taken by
  // an earlier submission of this batch), a submission that does not start there is refused with
  // store_error "out of sequence": after a failed commit, a later run of the same partition must not be
  // stored past the failed one (the consumer seeks back and sends again). -1: no check.
  int64_t first_offset = -1;
  // The topic's partition count (0: not known). With it and StreamEngineOptions::forward, a record whose
  // user_id belongs to another partition (the producer contract, docs/FLEET.md) is forwarded there.
  int32_t partitions = 0;
};

// A record that arrived on a partition its user_id does not belong to, sent on to the one it does.
struct ForwardedRecord {
  std::string topic;
  int32_t partition = 0;  // its user's partition
  std::string_view key;   // the user_id
  std::string value;      // the message as the topic carries it (Avro: Confluent-framed again)
  std::string origin;     // TOPIC/PARTITION/OFFSET it was read at
};

// How a submission's body is encoded.
enum class BodyFormat : uint8_t {
  json,      // NDJSON or one JSON array of objects (impressions)
  csv,       // CSV with a header line (clicks and conversions)
  avro_ocf,  // an Avro Object Container File (bid requests)
  // Binary Avro datums written with `schema_json` (the Confluent wire format with its 5-byte header
  // stripped), each preceded by its length as a 4-byte little-endian integer. With schema_json null every
  // datum is a malformed_avro reject, `error` giving the reason (unknown schema id, bad framing).
  avro_datums,
};

// What one submission gave: the numbers of an HTTP answer.
struct SubmitResult {
  enum class Status : uint8_t {
    ok,             // decoded (bad records are counted as rejects) and committed
    bad_input,      // the body cannot be decoded at all (e.g. not Avro): nothing stored, `error` says why
    store_error,    // the commit failed: nothing of the batch was stored; retry later
    shutting_down,  // the engine stopped before this submission was processed
    // Kafka, in a fleet: another member claimed the submission's partition since this one was assigned
    // it (docs/FLEET.md, "Fencing"). Nothing of it was stored; the partition is the other member's now.
    fenced,
  };
  Status status = Status::ok;
  std::string error;
  uint64_t read = 0;
  uint64_t stored = 0;
  uint64_t duplicates = 0;
  uint64_t late = 0;  // stored, but behind the watermark (SPEC 2.6)
  // Kafka: records forwarded to their user's partition (not counted in `read`: its reader counts them).
  uint64_t forwarded = 0;
  std::array<uint64_t, kReasonCount> by_reason{};  // rejected and filtered, by reason
  uint64_t rejected() const;
  uint64_t filtered() const;
};

struct Submission {
  Stream stream = Stream::impressions;
  BodyFormat format = BodyFormat::json;
  std::string body;    // the whole input
  std::string source;  // stored as `source`, e.g. "http:/v1/impressions"
  // Added to each record's number (its line in the body, CSV counting the header as line 1, or its datum's
  // index from 1) to give the stored source_record. Kafka sets it so that source_record is the message's
  // offset: a replay after a crash then gives rejects the same identity, and they are not stored twice.
  int64_t record_base = 0;
  std::shared_ptr<const std::string> schema_json;  // avro_datums: the writer schema
  int32_t schema_id = -1;                          // avro_datums: its registry id (decoders are cached by it)
  std::string error;                               // avro_datums without schema: why (stored as detail)
  std::optional<KafkaPosition> kafka;              // committed with the rows
  std::function<void(const SubmitResult&)> done;   // called once, on the engine thread, after the commit
};

struct StreamEngineOptions {
  ValidationOptions validation;                       // now_us and ingested_at_us are set per batch
  int64_t dedup_window_us = 24 * 3600 * 1'000'000LL;  // SPEC 2.4
  // The dedup index's memory; beyond it keys spill to sorted runs on disk (transforms/dedup_runs.hpp), by
  // default next to the database.
  DedupSpill dedup_spill{size_t(512) << 20, ""};
  size_t max_queue_bytes = 64 << 20;                   // submissions waiting; beyond it submit() refuses
  int64_t commit_interval_ms = 1000;                   // a micro-batch commits at least this often...
  size_t commit_events = 100'000;                      // ...or at this many records read
  int64_t allowed_lateness_us = 5 * 60 * 1'000'000LL;  // SPEC 2.6 watermark = latest event time - this
  int64_t attribution_interval_ms = 1000;
  AttributionWindows windows;
  std::string attribution_memory_limit = "1GB";
  // A fleet worker (docs/FLEET.md): its member id. Set, the engine refuses to commit a batch holding a
  // Kafka partition another member claimed since (fencing), and the attribution thread runs its passes
  // only while set_attribution_enabled(true) says this worker leads them.
  std::string fleet_member;
  // A fleet worker's producer for records whose user_id belongs to another partition than the one they
  // came on: `forward` queues one, `flush_forwards` waits until every one queued is acknowledged (before
  // the micro-batch that read them commits; it throws StoreError when they cannot be, and the batch is
  // tried again). Unset: such records are stored where they arrive (one process holds every partition).
  std::function<void(const ForwardedRecord&)> forward;
  std::function<void()> flush_forwards;
};

// Counters for /metrics and the logs; a snapshot, consistent within itself.
struct EngineStats {
  std::array<StreamSummary, kStreamCount> streams;  // committed records only
  std::array<uint64_t, kStreamCount> late{};
  std::array<int64_t, kStreamCount> watermark_us{};  // 0 until the stream has data
  size_t queue_bytes = 0;
  size_t queue_submissions = 0;
  uint64_t commits = 0;
  uint64_t store_errors = 0;
  uint64_t attribution_runs = 0;
  uint64_t fenced_batches = 0;
  std::array<uint64_t, kStreamCount>
      forwarded{};  // records sent on to their user's partition  // micro-batches refused because another
                    // member claimed a partition of them
  double last_commit_seconds = 0;
  // Committed micro-batches only, like the counters above.
  LatencyHistogram batch_seconds;   // a micro-batch: its first submission taken to its commit done
  LatencyHistogram commit_seconds;  // the store's COMMIT alone (the write)
  // Per stream, processing time (the batch's ingested_at) less event time, in seconds and at least 0, of
  // every stored event; bounds kLagBucketsSeconds (core/lag_buckets.hpp), shared with the monitor's rule.
  std::array<LagHistogram, kStreamCount> event_lag;
  // The dedup index, as of the last micro-batch.
  uint64_t dedup_keys = 0;          // in memory and spilled
  uint64_t dedup_spilled_keys = 0;  // on disk
  uint64_t dedup_memory_bytes = 0;
};

class StreamEngine {
 public:
  // `store` is the engine's connection (the engine owns its transactions); the attribution thread opens
  // another connection to the same database.
  StreamEngine(Store& store, Dimensions dims, StreamEngineOptions options);
  ~StreamEngine();  // stop()
  StreamEngine(const StreamEngine&) = delete;
  StreamEngine& operator=(const StreamEngine&) = delete;

  // Loads the dedup state and starts the engine and attribution threads.
  void start();

  // Queues a submission. False when the queue holds max_queue_bytes already or the engine is stopping, and
  // for a Kafka submission while the store is failing: the caller answers 429/503 (or pauses and retries,
  // for Kafka); `done` is then never called.
  bool submit(Submission s);

  // Blocks until everything submitted before the call is committed (or failed).
  void flush();

  // Stops taking submissions, processes and commits everything queued, runs a last attribution pass and
  // joins the threads. Idempotent.
  void stop();

  // SIGHUP: the new dimensions apply from the next micro-batch on.
  void reload_dimensions(Dimensions dims);

  // The stored Kafka positions of `topic`: partition -> next offset to read.
  std::map<int32_t, int64_t> kafka_positions(const std::string& topic);

  // A fleet worker was assigned `partitions` (its whole assignment, after a rebalance). It claims them in
  // the store (fencing), and before the next micro-batch the engine rebuilds its dedup index from the
  // store's keys of exactly these partitions and of every source that is not Kafka, forgets where it
  // thought the partitions stood, and has the store read its replay positions again: another worker may
  // have written to them meanwhile. Call it before submitting anything of the new assignment.
  void kafka_partitions_assigned(const std::vector<std::pair<std::string, int32_t>>& partitions);

  // Whether this engine runs attribution passes (one worker of a fleet leads them; docs/FLEET.md).
  // Disabling waits for a pass in progress to end; with `final_pass` it first runs one more pass, so that
  // what this worker stored is attributed before another worker leads. Enabled by default.
  void set_attribution_enabled(bool enabled, bool final_pass = false);

  EngineStats stats() const;
  bool healthy() const { return !store_failed_; }  // false after a store error, until a commit succeeds

 private:
  struct Batch;
  struct Scratch;
  void run();
  void attribution_loop();
  void begin_batch(Batch& batch);
  void process(Submission& s, Batch& batch);
  void decode(Submission& s, size_t len, RawBatch& raw, SubmitResult& r);
  void finish_batch(Batch& batch, bool committed, const std::string& error);
  void reload_dedup_state();
  void apply_assignment(const std::vector<std::pair<std::string, int32_t>>& partitions);
  bool fence(Batch& batch);
  void forward_miskeyed(const Submission& s, RawBatch& raw, SubmitResult& r, Batch& batch);

  Store& store_;
  std::unique_ptr<Store> attribution_store_;
  std::unique_ptr<Store> query_store_;  // kafka_positions(), from other threads
  std::mutex query_mutex_;
  StreamEngineOptions options_;
  std::unique_ptr<Dimensions> dims_;
  std::unique_ptr<Validator> validator_;
  std::unique_ptr<Deduplicator> dedup_;
  std::unique_ptr<Scratch> scratch_;                                     // the engine thread's reused buffers
  std::map<int32_t, std::unique_ptr<AvroDatumDecoder>> datum_decoders_;  // by schema id
  std::array<int64_t, kStreamCount> max_event_time_us_{};                // engine thread
  std::map<std::pair<std::string, int32_t>, int64_t> kafka_committed_;   // engine thread: stored positions
  int64_t last_ingested_at_us_ = 0;                                      // engine thread
  DedupScope dedup_scope_;  // engine thread: the keys the dedup index holds (a fleet worker: its partitions)

  mutable std::mutex mutex_;
  std::condition_variable wake_;        // the engine: work queued or stop
  std::condition_variable progressed_;  // flush(): a batch finished
  std::deque<Submission> queue_;
  size_t queue_bytes_ = 0;
  uint64_t submitted_ = 0;  // submissions accepted so far
  uint64_t finished_ = 0;   // of those, committed or failed
  bool stopping_ = false;
  bool started_ = false;
  bool stopped_ = false;
  std::unique_ptr<Dimensions> pending_dims_;
  std::optional<std::vector<std::pair<std::string, int32_t>>> pending_assignment_;
  std::atomic<bool> store_failed_{false};
  // The dedup index holds keys of rows that were not stored (a failed commit) and could not be rebuilt
  // from the store yet: no batch runs until it is (else a record whose commit failed would be taken for a
  // duplicate of itself when it is tried again).
  bool dedup_stale_ = false;
  int retry_pause_ms_ = 0;  // after a store error: 500 ms, doubling to 5 s while the store stays down
  // Kafka submissions of a failed batch wait at the front of the queue to be tried again (mutex_): until
  // one commits, submit() refuses more of them, so the consumer pauses its partitions instead of reading
  // into memory what cannot be stored yet.
  bool kafka_retrying_ = false;
  EngineStats stats_;

  std::mutex attribution_mutex_;
  std::condition_variable attribution_wake_;
  bool attribution_stop_ = false;
  int64_t committed_through_us_ = 0;  // ingested_at of the newest committed batch (attribution_mutex_)
  bool attribution_enabled_ = true;   // attribution_mutex_, as the rest of this block
  bool attribution_running_ = false;  // a pass is in progress
  bool attribution_force_ = false;    // set_attribution_enabled(false, true): one more pass, now
  std::condition_variable attribution_idle_;  // a pass ended, or the forced one ran

  std::thread engine_thread_;
  std::thread attribution_thread_;
};

}  // namespace advx
