// KafkaConsumer: the Kafka input of `advx serve` (SPEC 1, 4, 6). One consumer in a consumer group reads the
// three topics and hands runs of messages to the engine as Submissions (KafkaBatcher says how).
//
// Exactly once: offsets live in the store, written by the engine in the same transaction as the rows they
// produced (Submission.kafka = next offset of the partition). Kafka's own committed offsets are never read
// (enable.auto.commit and enable.auto.offset.store are off); they are written after the store has the
// rows (every second, and at a revocation), so that kafka-consumer-groups and lag exporters see the truth. On
// every assignment the consumer asks the store where each partition stands (hooks.positions) and starts
// there, at the beginning of a partition the store has never seen. On a revocation it first submits what it
// has batched, waits until the engine has committed all of it (hooks.flush), then gives the partitions up: so
// the next owner, reading the positions, sees everything this consumer will ever commit for them. That needs
// the eager rebalance protocol (the default range/roundrobin assignors); a cooperative assignor is refused.
//
// Backpressure: when hooks.submit refuses (the engine's queue is full), the submission is kept and offered
// again every 20 ms, in order; nothing is dropped. A short refusal just waits. After 250 ms of refusals
// every assigned partition is paused (librdkafka then drops what it prefetched and fetches it again from
// the last message handed to us once resumed) and rd_kafka_consumer_poll() goes on every 20 ms, so that the
// consumer stays in its group (max.poll.interval.ms) and a rebalance is served without waiting for the
// engine. Partitions are resumed once every kept submission is accepted.
//
// Schema registry: a bid request whose schema id the registry cannot be asked about now (unreachable, 5xx)
// stops its partition where it is: the messages before it are submitted, it and every later message of
// that partition are held (the partition is paused), and the lookup is retried with a growing backoff
// (200 ms .. 5 s). Nothing is skipped, nothing is rejected for it. Other partitions go on.
//
// A submission the engine could not store (done: store_error or shutting_down) makes the consumer go back:
// it drops what it has of that partition, waits for the engine (flush) and seeks to the stored position.
// That is exact only if the engine never commits a later submission of a partition after an earlier one of
// it failed (otherwise the stored position jumps over the failed messages).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/stream_engine.hpp"
#include "sources/kafka/schema_registry.hpp"

namespace advx {

struct KafkaOptions {
  std::string brokers;  // bootstrap.servers
  std::string group_id = "advx";
  std::string impressions_topic = "ad-impressions";  // JSON values, one object per message ("": not read)
  std::string events_topic = "clicks-conversions";   // CSV values: one data line per message, columns in
                                                     // csv_columns order ("": not read)
  std::string bid_requests_topic = "bid-requests";   // Confluent-framed Avro (0x00, 4-byte big-endian schema
                                                     // id, datum) ("": not read)
  std::string csv_columns =
      "event_id,event_timestamp,user_id,ad_campaign_id,ad_creative_id,event_type,conversion_type,"
      "conversion_value,currency";
  std::string schema_registry_url;   // needed for bid requests unless a SchemaRegistry is passed in
  size_t max_batch_messages = 5000;  // per Submission
  size_t max_batch_bytes = 4 << 20;  // per Submission (its body); a larger single message still goes alone
  int poll_timeout_ms = 100;         // a poll waits this long; a batch waits at most this long for more
  int stop_timeout_ms = 30'000;      // stop(): how long to offer batched messages to a refusing engine before
                                     // leaving them to be read again from the stored positions next time
  // Extra librdkafka properties. They override advx's defaults (client.id=advx, auto.offset.reset=earliest:
  // a stored position the log no longer holds restarts at the oldest message kept, never at the end;
  // queued.min.messages=10000000, so that prefetching is bounded by queued.max.messages.kbytes alone;
  // fetch.queue.backoff.ms=10 where librdkafka knows it, 2.2 on) but not enable.auto.commit=false and
  // enable.auto.offset.store=false; a cooperative assignor is refused.
  std::vector<std::pair<std::string, std::string>> properties;
};

struct KafkaHooks {
  // false = engine queue full: wait (e.g. 10-50 ms) and retry the same submission; never drop. Called on the
  // consumer's thread. The consumer passes a copy, so a refused submission is still its own.
  std::function<bool(Submission)> submit;
  // Returns when everything submitted is committed (or failed).
  std::function<void()> flush;
  // The stored next offset per partition of `topic`.
  std::function<std::map<int32_t, int64_t>(const std::string& topic)> positions;
  // Optional, for a fleet (docs/FLEET.md). `assigned` is called with the whole new assignment before its
  // positions are read and before anything of it is submitted (a store error is retried like positions);
  // `revoked` after a revocation's flush, before the partitions are given up; `closing` when the consumer
  // is leaving the group (stop()).
  std::function<void(const std::vector<std::pair<std::string, int32_t>>& partitions)> assigned;
  std::function<void(bool closing)> revoked;
};

// The consumer's part in its group, for /metrics and /readyz.
struct KafkaGroupStats {
  bool rebalancing = true;            // from joining or a revocation until the next assignment (maybe empty)
  uint64_t rebalances = 0;            // assignments received
  size_t assigned = 0;                // partitions assigned now
  double last_rebalance_seconds = 0;  // the last revocation (or the start) to its assignment, positions read
  uint64_t offset_commits = 0;        // commits of stored offsets to Kafka that succeeded...
  uint64_t offset_commit_errors = 0;  // ...and failed
  uint64_t fenced_submissions = 0;    // submissions the engine refused as fenced
};

struct PartitionLag {
  std::string topic;
  int32_t partition;
  int64_t next_offset;     // the next offset the consumer will read (-1: not known yet)
  int64_t high_watermark;  // the partition's end, as of the last fetch (-1: not known yet)
  bool paused = false;     // fetching held: the pipeline refuses batches (store down, queue full)
};

class KafkaConsumer {
 public:
  // `registry` may be null: then one is made from options.schema_registry_url when that is set.
  KafkaConsumer(KafkaOptions options, KafkaHooks hooks, SchemaRegistry* registry);
  ~KafkaConsumer();  // stop()
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Checks the options, creates the consumer, subscribes to the topics and starts the poll thread. False
  // with a one-line `error` on bad configuration. Brokers are contacted in the background: an unreachable
  // cluster is logged on stderr, not an error here.
  bool start(std::string* error);

  // Stops polling, submits what is batched, flushes via hooks.flush, closes the consumer (leaving the group).
  // Idempotent. Stop the consumer before the engine.
  void stop();

  // Per assigned partition: where the consumer stands and where the partition ends (for /metrics).
  std::vector<PartitionLag> lag() const;
  uint64_t messages() const;  // messages consumed so far (one read again after a failed commit counts again)
  KafkaGroupStats group_stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx
