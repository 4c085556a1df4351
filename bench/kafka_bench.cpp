// Kafka consumption from librdkafka's mock cluster (in this process, 3 partitions), two ways in the same
// run: (1) the KafkaConsumer alone into a counting sink, (2) the consumer feeding the StreamEngine into a
// DuckDB file — what advx serve does. Prints events/s and peak RSS. `kafka_bench [N=200000] [DB]`.
//
// Both are timed from the moment every partition delivers. A new group's first join takes ~3 s in the mock
// cluster, and the mock answers a partition's first offset lookup with "no current leader" now and then,
// so that partition starts 0.5 - 1 s after the others: that wait is printed apart ("start-up"), not
// counted as consumption. Environment: KAFKA_BENCH_SKIP_ALONE=1 runs (2) only; KAFKA_BENCH_PROPS=
// "name=value,..." adds consumer properties (e.g. queued.min.messages=100000, librdkafka's default);
// KAFKA_BENCH_DEBUG=1 prints, every 10 ms, what is consumed, queued and stored.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/stream_engine.hpp"
#include "sources/kafka/kafka_consumer.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

long peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 200000;  // the mock keeps ~5 MB a partition
  const std::string db = argc > 2 ? argv[2] : "bench/out/kafka_bench.duckdb";
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
  rd_kafka_conf_set(conf, "batch.num.messages", "10000", err, sizeof err);
  // A mock partition keeps 5 MB of message sets and silently drops older ones: compress to stay under it.
  rd_kafka_conf_set(conf, "compression.codec", "lz4", err, sizeof err);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!producer) {
    std::fprintf(stderr, "kafka_bench: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(producer);
  rd_kafka_mock_topic_create(cluster, "ad-impressions", 3, 1);
  const std::string brokers = rd_kafka_mock_cluster_bootstraps(cluster);

  auto t0 = Clock::now();
  std::string value;
  for (long i = 0; i < n; i++) {
    value = "{\"impression_id\":\"k" + std::to_string(i) +
            "\",\"ad_creative_id\":\"100001\",\"user_id\":\"u-" + std::to_string(i % 100000) +
            "\",\"timestamp\":\"2026-11-23T10:00:00.000Z\",\"website\":\"news.example.com\","
            "\"win_price_cpm\":1.25,\"user_agent\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
            "Chrome/130.0\",\"ip\":\"203.0.113.7\",\"country\":\"US\",\"device_type\":\"desktop\"}";
    while (rd_kafka_producev(
               producer, RD_KAFKA_V_TOPIC("ad-impressions"), RD_KAFKA_V_PARTITION(int32_t(i % 3)),
               RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(producer, 5);
  }
  rd_kafka_flush(producer, 120000);
  std::printf("produced %ld JSON impressions (%zu B each) to the mock cluster in %.2f s\n", n, value.size(),
              since(t0));

  advx::KafkaOptions ko;
  ko.brokers = brokers;
  ko.events_topic = "";
  ko.bid_requests_topic = "";
  if (const char* props = getenv("KAFKA_BENCH_PROPS")) {
    const std::string all = props;
    for (size_t at = 0; at < all.size();) {
      const size_t end = std::min(all.find(',', at), all.size());
      const std::string kv = all.substr(at, end - at);
      if (const size_t eq = kv.find('='); eq != std::string::npos)
        ko.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      at = end + 1;
    }
  }
  if (!getenv("KAFKA_BENCH_SKIP_ALONE")) {  // (1) the consumer alone
    std::atomic<long> messages{0};
    std::map<int32_t, int64_t> positions;
    std::mutex m;
    advx::KafkaHooks hooks;
    hooks.submit = [&](advx::Submission s) {
      std::lock_guard lock(m);
      if (s.kafka) positions[s.kafka->partition] = s.kafka->next_offset;
      long total = 0;
      for (const auto& [p, next] : positions) total += next;
      messages = total;
      return true;
    };
    hooks.flush = [] {};
    hooks.positions = [](const std::string&) { return std::map<int32_t, int64_t>{}; };
    ko.group_id = "bench-consumer-only";
    advx::KafkaConsumer consumer(ko, hooks, nullptr);
    std::string error;
    if (!consumer.start(&error)) {
      std::fprintf(stderr, "kafka_bench: %s\n", error.c_str());
      return 1;
    }
    t0 = Clock::now();
    while (messages == 0 && since(t0) < 60) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto first = Clock::now();
    auto delivering = [&] {
      std::lock_guard lock(m);
      return positions.size() == 3;
    };
    while (!delivering() && messages < n && since(first) < 60)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const long at_start = messages;
    t0 = Clock::now();
    while (messages < n && since(t0) < 600) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double s = since(t0);
    consumer.stop();
    std::printf("%-44s %8.2f s %10.0f events/s  peak RSS %ld MB (start-up %.2f s)\n",
                "KafkaConsumer alone (counting sink)", s, double(messages - at_start) / s, peak_rss_mb(),
                std::chrono::duration<double>(t0 - first).count());
  }
  {  // (2) consumer -> engine -> DuckDB, as advx serve
    std::filesystem::create_directories(std::filesystem::path(db).parent_path());
    std::filesystem::remove(db);
    std::filesystem::remove(db + ".wal");
    advx::DuckDbStore store(db);
    store.ensure_schema();
    store.execute("SET memory_limit = '1GB'");
    store.execute("SET checkpoint_threshold = '128MB'");
    advx::StreamEngine engine(store, advx::Dimensions{}, advx::StreamEngineOptions{});
    engine.start();
    advx::KafkaHooks hooks;
    hooks.submit = [&](advx::Submission s) { return engine.submit(std::move(s)); };
    hooks.flush = [&] { engine.flush(); };
    hooks.positions = [&](const std::string& topic) { return engine.kafka_positions(topic); };
    ko.group_id = "bench-serve";
    advx::KafkaConsumer consumer(ko, hooks, nullptr);
    std::string error;
    if (!consumer.start(&error)) {
      std::fprintf(stderr, "kafka_bench: %s\n", error.c_str());
      return 1;
    }
    t0 = Clock::now();
    while (consumer.messages() == 0 && since(t0) < 60)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto first = Clock::now();
    auto delivering = [&] {
      const std::vector<advx::PartitionLag> lag = consumer.lag();
      return lag.size() == 3 && std::all_of(lag.begin(), lag.end(),
                                            [](const advx::PartitionLag& p) { return p.next_offset > 0; });
    };
    while (!delivering() && consumer.messages() < uint64_t(n) && since(first) < 60)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const advx::EngineStats before = engine.stats();
    t0 = Clock::now();
    const bool debug = getenv("KAFKA_BENCH_DEBUG") != nullptr;
    uint64_t read = 0;
    while ((read = engine.stats().streams[0].read) < uint64_t(n) && since(t0) < 600) {
      std::this_thread::sleep_for(std::chrono::milliseconds(debug ? 10 : 5));
      if (debug) {
        const advx::EngineStats es = engine.stats();
        std::fprintf(stderr,
                     "%.3f s: consumed %llu, queued %zu B in %zu submissions, read %llu, %llu commits\n",
                     since(t0), (unsigned long long)consumer.messages(), es.queue_bytes, es.queue_submissions,
                     (unsigned long long)read, (unsigned long long)es.commits);
      }
    }
    const double s = since(t0);
    const advx::EngineStats after = engine.stats();
    consumer.stop();
    engine.stop();
    std::printf("%-44s %8.2f s %10.0f events/s  peak RSS %ld MB (stored %llu, start-up %.2f s)\n",
                "KafkaConsumer -> StreamEngine -> DuckDB", s, double(read - before.streams[0].read) / s,
                peak_rss_mb(), (unsigned long long)engine.stats().streams[0].stored,
                std::chrono::duration<double>(t0 - first).count());
    // Where the engine's time went: its micro-batches (first submission taken to commit done) and the
    // COMMITs alone; for the rest of the timed span it waited for input.
    std::printf("%-44s %8.2f s in %llu micro-batches, COMMIT %.2f s of it\n", "  engine busy",
                after.batch_seconds.sum - before.batch_seconds.sum,
                (unsigned long long)(after.commits - before.commits),
                after.commit_seconds.sum - before.commit_seconds.sum);
  }
  rd_kafka_destroy(producer);
  return 0;
}
