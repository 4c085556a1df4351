// KafkaForwarder: a fleet worker's producer for records that came on a partition their user_id does not
// belong to (docs/FLEET.md, "The producer contract"). It sends each to its user's partition of the same
// topic, keyed by the user_id, with a header `advx-forwarded-from: TOPIC/PARTITION/OFFSET`, through
// librdkafka's idempotent producer. The engine flushes it before the micro-batch that read them commits,
// so a position never passes over a record that is neither stored nor forwarded.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/stream_engine.hpp"

namespace advx {

class KafkaForwarder {
 public:
  // `properties`: serve's [kafka.properties]; those librdkafka does not know for a producer are left out.
  KafkaForwarder(std::string brokers, std::vector<std::pair<std::string, std::string>> properties);
  ~KafkaForwarder();
  KafkaForwarder(const KafkaForwarder&) = delete;
  KafkaForwarder& operator=(const KafkaForwarder&) = delete;

  bool start(std::string* error);
  // Queues one record (waits while librdkafka's queue is full).
  void forward(const ForwardedRecord& record);
  // Returns once every record queued so far is acknowledged; throws StoreError (unavailable) when one
  // was not, or past `timeout_ms`.
  void flush(int timeout_ms = 30'000);
  uint64_t forwarded() const { return delivered_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> delivered_{0};
};

}  // namespace advx
