// KafkaProducer: messages out to Kafka, for `advx publish` (docs/PUBLISH.md). librdkafka's idempotent
// producer (enable.idempotence: acks=all, retries without duplicates or reordering within a partition) with
// the murmur2_random partitioner — Java's default, so a key lands on the partition Kafka Streams and Java
// producers choose: murmur2(key) % partitions; a message without a key goes to a random partition.
//
// Delivery is counted per topic from librdkafka's delivery reports. A message that cannot be delivered within
// `timeout_ms` (message.timeout.ms: brokers gone, a topic that does not exist) is a failed delivery with
// librdkafka's reason, never silently dropped; a fatal producer error (idempotence broken, fenced) fails
// every message still queued.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace advx {

struct KafkaProducerOptions {
  std::string brokers;     // bootstrap.servers
  int timeout_ms = 30000;  // reaching the cluster, and each message's delivery (message.timeout.ms)
  // Extra librdkafka properties, applied after advx's defaults (linger.ms=20, batch.num.messages=10000,
  // queue.buffering.max.messages=1000000, client.id=advx-publish) and before what advx insists on:
  // enable.idempotence=true, acks=all, partitioner=murmur2_random.
  std::vector<std::pair<std::string, std::string>> properties;
};

struct TopicDelivery {
  uint64_t queued = 0;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  uint64_t bytes = 0;  // value bytes queued
};

class KafkaProducer {
 public:
  // Null with a one-line `error` on bad configuration.
  static std::unique_ptr<KafkaProducer> create(const KafkaProducerOptions& options, std::string* error);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Asks the cluster for `topic`'s metadata, waiting up to the timeout: false with a one-line `error` when no
  // broker answers or the topic does not exist. Sets `partitions`.
  bool check_topic(const std::string& topic, int* partitions, std::string* error);

  // Queues one message (copied); `key` nullopt: no key. While librdkafka's queue is full it serves delivery
  // reports and waits. False when the message cannot be queued (a fatal producer error, a queue full for
  // longer than the timeout) with `error` set; the message then counts as failed.
  bool produce(const std::string& topic, std::optional<std::string_view> key, std::string_view value,
               std::string* error);

  // Serves delivery reports without waiting (call now and then while producing).
  void poll();

  // Waits until every queued message is delivered or failed, at most the timeout past the last progress.
  // False when messages were still in flight at the end (they count as failed).
  bool flush();

  std::map<std::string, TopicDelivery> delivery() const;
  // The first delivery error, e.g. "ad-impressions: Local: Message timed out" (empty: none).
  std::string first_error() const;

  struct Impl;

 private:
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx
