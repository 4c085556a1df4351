// KafkaConsumer against librdkafka's mock cluster (in-process brokers on loopback) and a fake engine
// (kafka_test_util.hpp) that commits each submission with its Kafka position atomically, as the real
// engine does. Every test checks the end state message by message: each produced message is in exactly one
// committed submission, at the record its offset says, in the right stream and format.
#include "sources/kafka/kafka_consumer.hpp"

#include <gtest/gtest.h>

#include <set>

#include "kafka_test_util.hpp"
#include "sources/kafka/kafka_batcher.hpp"

namespace advx {
namespace {

using namespace kafka_test;

const std::string kImps = "ad-impressions";
const std::string kEvents = "clicks-conversions";
const std::string kBids = "bid-requests";

// Tests share one mock cluster; each has its own topics, named after the defaults plus a suffix.
bool is_impressions(const std::string& topic) { return topic.starts_with(kImps); }
bool is_events(const std::string& topic) { return topic.starts_with(kEvents); }
bool is_bids(const std::string& topic) { return topic.starts_with(kBids); }
const std::string kBidSchema =
    R"({"type":"record","name":"BidRequest","fields":[{"name":"id","type":"string"},)"
    R"({"name":"timestamp","type":"long"}]})";

std::string bid(int i) {
  const std::string id = "auc" + std::to_string(i);
  return framed(1, zigzag(int64_t(id.size())) + id + zigzag(1700000000000 + i));
}

std::string imp(int i) {
  return R"({"impression_id":"i)" + std::to_string(i) +
         R"(","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-01-01T00:00:00Z","website":"a.com"})";
}

std::string event(int i) { return "e" + std::to_string(i) + ",2026-01-01T00:00:00Z,u1,c1,cr1,click,,,"; }

int unique_group() {
  static std::atomic<int> n{0};
  return n++;
}

KafkaOptions options_for(const MockKafka& kafka) {
  KafkaOptions o;
  o.brokers = kafka.bootstraps();
  o.group_id = "advx-test-" + std::to_string(unique_group());
  o.poll_timeout_ms = 50;
  o.max_batch_messages = 100;
  o.properties = {{"session.timeout.ms", "4000"},
                  {"heartbeat.interval.ms", "200"},
                  {"log_level", "3"},
                  {"topic.metadata.refresh.interval.ms", "1000"}};
  return o;
}

// Every record of every committed submission, checked for stream, format and source on the way.
std::map<MessageKey, std::vector<std::string>> committed_records(const FakeEngine& engine,
                                                                 const std::string& csv_header) {
  std::map<MessageKey, std::vector<std::string>> out;
  for (const Submission& s : engine.committed()) {
    std::string topic;
    int32_t partition = -1;
    parse_source(s.source, &topic, &partition);
    EXPECT_EQ(s.kafka->topic, topic);
    EXPECT_EQ(s.kafka->partition, partition);
    if (is_impressions(topic)) {
      EXPECT_EQ(s.stream, Stream::impressions);
      EXPECT_EQ(s.format, BodyFormat::json);
    } else if (is_events(topic)) {
      EXPECT_EQ(s.stream, Stream::events);
      EXPECT_EQ(s.format, BodyFormat::csv);
    } else {
      EXPECT_EQ(s.stream, Stream::bid_requests);
      EXPECT_EQ(s.format, BodyFormat::avro_datums);
    }
    auto records = records_of(s, csv_header);
    EXPECT_FALSE(records.empty());
    if (!records.empty()) {
      EXPECT_EQ(s.kafka->next_offset, records.back().first + 1);
    }
    for (auto& [offset, text] : records) out[{topic, partition, offset}].push_back(std::move(text));
  }
  return out;
}

size_t count_records(const FakeEngine& engine) {
  size_t n = 0;
  for (const Submission& s : engine.committed()) n += records_of(s).size();
  return n;
}

// What a produced value looks like inside a committed body.
std::string expected_record(const std::string& topic, const std::string& value, bool schema_known = true) {
  if (!is_bids(topic)) return value;
  return schema_known ? value.substr(5) : value;
}

// Each produced message exactly once, at its offset; positions = last offset + 1 per partition.
// Unless `breaks_allowed`, every submission also started exactly at the stored position of its partition.
void expect_exactly_once(const MockKafka& kafka, const std::set<std::string>& topics,
                         const FakeEngine& engine, const std::string& csv_header,
                         const std::function<bool(const MessageKey&)>& schema_known = nullptr,
                         bool breaks_allowed = false) {
  auto produced = kafka.produced();
  std::erase_if(produced, [&](const auto& kv) { return !topics.count(std::get<0>(kv.first)); });
  const auto got = committed_records(engine, csv_header);
  std::map<std::pair<std::string, int32_t>, int64_t> last;
  size_t missing = 0, twice = 0, wrong = 0;
  for (const auto& [key, value] : produced) {
    auto it = got.find(key);
    if (it == got.end()) {
      ++missing;
      continue;
    }
    if (it->second.size() != 1) ++twice;
    const bool known = !schema_known || schema_known(key);
    if (it->second[0] != expected_record(std::get<0>(key), value, known)) ++wrong;
    auto& l = last[{std::get<0>(key), std::get<1>(key)}];
    l = std::max(l, std::get<2>(key) + 1);
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(twice, 0u);
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(got.size(), produced.size());  // nothing that was not produced
  EXPECT_EQ(engine.all_positions(), last);
  if (!breaks_allowed) {
    EXPECT_EQ(engine.breaks(), 0);
  }
}

// One mock cluster for the suite (a cluster takes up to a second to go away); topics of their own per test.
class KafkaConsumerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new MockKafka(1); }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void SetUp() override {
    const std::string suffix = "-" + std::to_string(unique_group());
    imps = kImps + suffix;
    events = kEvents + suffix;
    bids = kBids + suffix;
    for (const std::string& t : topics()) kafka.create_topic(t, 3);
    registry.add_schema(1, kBidSchema);
  }
  std::set<std::string> topics() const { return {imps, events, bids}; }
  KafkaOptions options() const {
    KafkaOptions o = options_for(kafka);
    o.impressions_topic = imps;
    o.events_topic = events;
    o.bid_requests_topic = bids;
    return o;
  }

  static inline MockKafka* shared_ = nullptr;
  MockKafka& kafka = *shared_;
  std::string imps, events, bids;
  FakeRegistry registry;
};

TEST_F(KafkaConsumerTest, ThreeTopicsExactlyOnce) {
  for (int i = 0; i < 600; ++i) kafka.produce(imps, i % 3, imp(i));
  for (int i = 0; i < 300; ++i) kafka.produce(events, i % 3, event(i));
  for (int i = 0; i < 300; ++i) kafka.produce(bids, i % 3, bid(i));
  kafka.flush();

  FakeEngine engine;
  SchemaRegistry reg(registry.url());
  KafkaOptions o = options();
  KafkaConsumer consumer(o, engine.hooks(), &reg);
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 1200; }, 30s)) << count_records(engine);
  // Lag: every partition read to its end.
  EXPECT_TRUE(wait_for(
      [&] {
        auto lag = consumer.lag();
        return lag.size() == 9 && std::all_of(lag.begin(), lag.end(), [](const PartitionLag& l) {
                 return l.high_watermark >= 0 && l.next_offset == l.high_watermark;
               });
      },
      5s));
  for (const PartitionLag& l : consumer.lag()) EXPECT_EQ(l.high_watermark, l.topic == imps ? 200 : 100);
  consumer.stop();
  consumer.stop();  // idempotent
  EXPECT_TRUE(consumer.lag().empty());
  EXPECT_EQ(consumer.messages(), 1200u);
  expect_exactly_once(kafka, topics(), engine, o.csv_columns);
  EXPECT_EQ(registry.requests(1), 1);  // cached after the first
  std::set<std::string> sources;
  for (const Submission& s : engine.committed()) {
    sources.insert(s.source);
    if (s.format == BodyFormat::avro_datums) {
      EXPECT_EQ(s.schema_id, 1);
      ASSERT_TRUE(s.schema_json);
      EXPECT_EQ(*s.schema_json, kBidSchema);
    }
  }
  EXPECT_EQ(sources.size(), 9u);
}

TEST_F(KafkaConsumerTest, RestartResumesFromStoredPositions) {
  for (int i = 0; i < 600; ++i) kafka.produce(imps, i % 3, imp(i));
  for (int i = 0; i < 300; ++i) kafka.produce(events, i % 3, event(i));
  kafka.flush();
  FakeEngine::Options eo;
  eo.commit_delay = 2ms;  // slow enough to stop in the middle
  FakeEngine engine(eo);  // the store both consumers share
  KafkaOptions o = options();
  o.bid_requests_topic = "";
  o.max_batch_messages = 20;
  std::string error;
  {
    KafkaConsumer first(o, engine.hooks(), nullptr);
    ASSERT_TRUE(first.start(&error)) << error;
    ASSERT_TRUE(wait_for([&] { return engine.committed_count() >= 3; }, 30s));
    first.stop();  // leaves the group after committing what it had batched
  }
  const size_t stored_first = count_records(engine);
  EXPECT_GT(stored_first, 0u);
  for (int i = 600; i < 900; ++i) kafka.produce(imps, i % 3, imp(i));
  kafka.flush();
  {
    KafkaConsumer second(o, engine.hooks(), nullptr);
    ASSERT_TRUE(second.start(&error)) << error;
    EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 1200; }, 30s)) << count_records(engine);
    second.stop();
    EXPECT_EQ(second.messages(), 1200 - stored_first);  // it read only what was not stored
  }
  expect_exactly_once(kafka, topics(), engine, o.csv_columns);
}

TEST_F(KafkaConsumerTest, RefusedSubmissionsAreOfferedAgain) {
  for (int i = 0; i < 600; ++i) kafka.produce(imps, i % 3, imp(i));
  for (int i = 0; i < 300; ++i) kafka.produce(events, i % 3, event(i));
  kafka.flush();
  FakeEngine::Options eo;
  eo.capacity = 2;
  eo.refuse_first = 5;
  eo.commit_delay = 1ms;
  FakeEngine engine(eo);
  KafkaOptions o = options();
  o.bid_requests_topic = "";
  o.max_batch_messages = 10;
  KafkaConsumer consumer(o, engine.hooks(), nullptr);
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  ASSERT_TRUE(wait_for([&] { return count_records(engine) >= 100; }, 30s));
  // A full queue for longer than the consumer waits before pausing (250 ms): it offers the submission again
  // every 20 ms, so 15 refusals span 280 ms at least, however slow the machine.
  const int refused_before = engine.refused();
  engine.set_refusing(true);
  ASSERT_TRUE(wait_for([&] { return engine.refused() >= refused_before + 15; }, 30s));
  const size_t during = count_records(engine);
  engine.set_refusing(false);
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 900; }, 30s)) << count_records(engine);
  consumer.stop();
  EXPECT_LT(during, 900u);
  EXPECT_GT(engine.refused(), 5);
  expect_exactly_once(kafka, topics(), engine, o.csv_columns);
}

// librdkafka before 2.2 stops fetching once its queue holds queued.max.messages.kbytes and looks again up to
// a second later; the consumer wakes it as soon as it has emptied the queue. Behind a slow engine the 64 KB
// queue fills and empties ~35 times for these 2.4 MB: 16 - 21 s when each stop waits (measured with the
// wake-up switched off), ~1.5 s with it. From librdkafka 2.2 on, fetch.queue.backoff.ms does the same.
TEST_F(KafkaConsumerTest, FetcherStoppedByAFullQueueIsRestartedAtOnce) {
  const int n = 20'000;
  for (int i = 0; i < n; ++i) {
    kafka.produce(imps, 0, imp(i));
    if (i % 200 == 199) kafka.flush();  // message sets of 200 (~23 KB): fetches stop at 64 KB, not beyond
  }
  kafka.flush();
  FakeEngine::Options eo;  // slower than the fetcher: its queue fills up, and is then emptied
  eo.capacity = 4;
  eo.commit_delay = 1ms;
  FakeEngine engine(eo);
  KafkaOptions o = options();
  o.events_topic = o.bid_requests_topic = "";
  o.max_batch_messages = 100;
  o.properties.emplace_back("queued.max.messages.kbytes", "64");
  o.properties.emplace_back("fetch.message.max.bytes", "32768");
  KafkaConsumer consumer(o, engine.hooks(), nullptr);
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  ASSERT_TRUE(wait_for([&] { return consumer.messages() > 0; }, 30s));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_for([&] { return consumer.messages() >= uint64_t(n); }, 120s)) << consumer.messages();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= size_t(n); }, 30s)) << count_records(engine);
  consumer.stop();
  EXPECT_LT(seconds, 10.0);
  expect_exactly_once(kafka, topics(), engine, o.csv_columns);
}

TEST_F(KafkaConsumerTest, BadFramingAndUnknownSchemaIdBecomeRejectSubmissions) {
  const std::vector<std::string> values = {
      bid(0), std::string("\0\0\1", 3), "\1\0\0\0\1abc", framed(99, "zz"),
      bid(4), framed(99, "zz"),         std::string(),   bid(7)};
  for (const std::string& v : values) kafka.produce(bids, 1, v);
  kafka.flush();
  FakeEngine engine;
  KafkaOptions o = options();
  o.schema_registry_url = registry.url();  // no SchemaRegistry given: the consumer makes its own
  KafkaConsumer consumer(o, engine.hooks(), nullptr);
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= values.size(); }, 30s)) << count_records(engine);
  consumer.stop();
  const std::set<int64_t> good = {0, 4, 7};
  expect_exactly_once(kafka, topics(), engine, o.csv_columns,
                      [&](const MessageKey& k) { return good.count(std::get<2>(k)) > 0; });
  // The runs: [0] schema 1 | [1, 2] not framed | [3] unknown 99 | [4] schema 1 | [5] unknown | [6] | [7]
  std::vector<std::tuple<int64_t, int32_t, std::string, bool>> runs;  // first offset, id, error, has schema
  for (const Submission& s : engine.committed())
    runs.emplace_back(first_offset(s), s.schema_id, s.error, bool(s.schema_json));
  const std::string not_framed = "not in the Confluent wire format";
  EXPECT_EQ(runs, (std::vector<std::tuple<int64_t, int32_t, std::string, bool>>{
                      {0, 1, "", true},
                      {1, -1, not_framed, false},
                      {3, 99, "unknown schema id 99", false},
                      {4, 1, "", true},
                      {5, 99, "unknown schema id 99", false},
                      {6, -1, not_framed, false},
                      {7, 1, "", true}}));
  EXPECT_EQ(registry.requests(99), 1);  // a "not found" is remembered for a while
  EXPECT_EQ(registry.requests(1), 1);
}

TEST_F(KafkaConsumerTest, RegistryOutageHoldsBidRequestsUntilItEnds) {
  registry.set_failing(true);
  for (int i = 0; i < 60; ++i) kafka.produce(bids, i % 3, bid(i));
  for (int i = 0; i < 60; ++i) kafka.produce(imps, i % 3, imp(i));
  kafka.flush();
  FakeEngine engine;
  SchemaRegistry reg(registry.url(), 1000);
  KafkaOptions o = options();
  KafkaConsumer consumer(o, engine.hooks(), &reg);
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  // Impressions go on meanwhile; no bid request is submitted, none rejected.
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 60; }, 30s));
  // The mock cluster may start a partition up to a second late. Wait until the held bid requests have been
  // retried (three partitions ask once each, then again after a 200 ms backoff): the consumer went on for
  // longer than a batch waits (100 ms) since it met the failing registry, and flush() commits whatever it
  // submitted meanwhile, so a wrongly released bid request would be in committed() by now.
  EXPECT_TRUE(wait_for([&] { return registry.requests(1) >= 5; }, 30s));
  engine.flush();
  for (const Submission& s : engine.committed()) EXPECT_NE(s.stream, Stream::bid_requests);
  EXPECT_GE(registry.requests(1), 1);
  registry.set_failing(false);
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 120; }, 30s)) << count_records(engine);
  consumer.stop();
  expect_exactly_once(kafka, topics(), engine, o.csv_columns);
  for (const Submission& s : engine.committed())  // none was rejected
    EXPECT_TRUE(s.stream != Stream::bid_requests || s.schema_json) << s.error;
}

TEST_F(KafkaConsumerTest, FailedCommitIsReadAgain) {
  for (int i = 0; i < 900; ++i) kafka.produce(imps, i % 3, imp(i));
  kafka.flush();
  FakeEngine::Options eo;
  eo.fail = {0, 25};  // the first submission (no position stored yet) and a later one are not stored
  eo.commit_delay = 2ms;
  FakeEngine engine(eo);
  KafkaOptions o = options();
  o.bid_requests_topic = "";
  o.max_batch_messages = 20;
  KafkaConsumer consumer(o, engine.hooks(), nullptr);
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 900; }, 30s)) << count_records(engine);
  consumer.stop();
  EXPECT_EQ(engine.failed(), 2);
  // Later submissions of that partition already queued are refused as out of sequence, until the consumer
  // has gone back to the stored position.
  expect_exactly_once(kafka, topics(), engine, o.csv_columns, nullptr, /*breaks_allowed=*/true);
}

TEST_F(KafkaConsumerTest, RebalanceBetweenTwoConsumersLosesAndRepeatsNothing) {
  for (int i = 0; i < 900; ++i) kafka.produce(imps, i % 3, imp(i));
  kafka.flush();
  FakeEngine::Options eo;
  eo.commit_delay = 1ms;
  eo.capacity = 8;
  FakeEngine engine(eo);
  KafkaOptions o = options();
  o.bid_requests_topic = "";
  o.events_topic = "";
  o.max_batch_messages = 20;
  std::atomic<int> by_a{0}, by_b{0};
  auto counted = [&](std::atomic<int>& n) {
    KafkaHooks h = engine.hooks();
    h.submit = [&engine, &n](Submission s) {
      if (!engine.submit(std::move(s))) return false;
      ++n;
      return true;
    };
    return h;
  };
  KafkaConsumer a(o, counted(by_a), nullptr);
  KafkaConsumer b(o, counted(by_b), nullptr);
  std::string error;
  ASSERT_TRUE(a.start(&error)) << error;
  ASSERT_TRUE(wait_for([&] { return count_records(engine) >= 60; }, 30s));
  ASSERT_TRUE(b.start(&error)) << error;  // a rebalance while `a` is busy
  std::thread producer([&] {
    for (int i = 900; i < 1800; ++i) {
      kafka.produce(imps, i % 3, imp(i));
      if (i % 50 == 0) std::this_thread::sleep_for(20ms);  // pacing: messages arrive during the rebalance
    }
    kafka.flush();
  });
  EXPECT_TRUE(wait_for([&] { return !a.lag().empty() && !b.lag().empty(); }, 30s));
  producer.join();
  EXPECT_TRUE(wait_for([&] { return count_records(engine) >= 1800; }, 30s)) << count_records(engine);
  a.stop();
  b.stop();
  EXPECT_GT(by_a, 0);
  EXPECT_GT(by_b, 0);
  expect_exactly_once(kafka, topics(), engine, o.csv_columns);
}

// What the group's tools see (docs/FLEET.md): the offsets the store holds are committed to Kafka after the
// rows are stored, the assignment goes through the fleet hooks first, and the group counters follow.
std::map<int32_t, int64_t> kafka_committed(const MockKafka& kafka, const std::string& group,
                                           const std::string& topic, int partitions) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", kafka.bootstraps().c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  std::map<int32_t, int64_t> out;
  if (!rk) return out;
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++) rd_kafka_topic_partition_list_add(l, topic.c_str(), p);
  if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int i = 0; i < l->cnt; i++)
      if (l->elems[i].offset >= 0) out[l->elems[i].partition] = l->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(rk);
  return out;
}

TEST_F(KafkaConsumerTest, StoredOffsetsAreCommittedToKafkaAndTheFleetHooksSeeTheAssignment) {
  for (int i = 0; i < 600; ++i) kafka.produce(imps, i % 3, imp(i));
  kafka.flush();
  FakeEngine engine;
  KafkaOptions o = options();
  o.events_topic = "";
  o.bid_requests_topic = "";
  std::mutex m;
  std::vector<std::vector<std::pair<std::string, int32_t>>> assignments;
  std::vector<bool> revocations;
  KafkaHooks h = engine.hooks();
  h.assigned = [&](const std::vector<std::pair<std::string, int32_t>>& parts) {
    // Before anything of the assignment is submitted.
    EXPECT_EQ(count_records(engine), 0u);
    std::lock_guard lock(m);
    assignments.push_back(parts);
  };
  h.revoked = [&](bool closing) {
    std::lock_guard lock(m);
    revocations.push_back(closing);
  };
  KafkaConsumer consumer(o, h, nullptr);
  EXPECT_TRUE(consumer.group_stats().rebalancing);  // joining
  std::string error;
  ASSERT_TRUE(consumer.start(&error)) << error;
  ASSERT_TRUE(wait_for([&] { return count_records(engine) >= 600; }, 30s)) << count_records(engine);
  const std::map<int32_t, int64_t> want{{0, 200}, {1, 200}, {2, 200}};
  EXPECT_EQ(engine.positions(imps), want);
  // Committed to Kafka within about a second of being stored.
  EXPECT_TRUE(wait_for([&] { return kafka_committed(kafka, o.group_id, imps, 3) == want; }, 15s))
      << kafka_committed(kafka, o.group_id, imps, 3).size();
  const KafkaGroupStats g = consumer.group_stats();
  EXPECT_FALSE(g.rebalancing);
  EXPECT_EQ(g.rebalances, 1u);
  EXPECT_EQ(g.assigned, 3u);
  EXPECT_GE(g.offset_commits, 1u);
  EXPECT_EQ(g.offset_commit_errors, 0u);
  EXPECT_EQ(g.fenced_submissions, 0u);
  consumer.stop();
  std::lock_guard lock(m);
  ASSERT_EQ(assignments.size(), 1u);
  const std::vector<std::pair<std::string, int32_t>> all{{imps, 0}, {imps, 1}, {imps, 2}};
  auto got = assignments[0];
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, all);
  EXPECT_EQ(revocations, std::vector<bool>{true});  // leaving the group at stop
}

// Not an assertion: the consume rate from the mock cluster with an engine that does nothing, for
// docs/BENCHMARKS.md. Timed once every partition delivers (the group join, ~3 s in the mock, and
// librdkafka's 0.5 s retry when a partition's leader is not known yet at assignment are left out). The
// producer compresses (lz4): a mock partition keeps only 5 MB.
TEST(KafkaConsumerBench, ConsumeRate) {
#if defined(__SANITIZE_ADDRESS__)
  const int n = 20'000;  // instrumented: a smoke run only
#else
  const int n = 200'000;
#endif
  MockKafka kafka(1, "lz4");
  kafka.create_topic(kImps, 3);
  for (int i = 0; i < n; ++i) kafka.produce(kImps, i % 3, imp(i));
  kafka.flush();
  FakeEngine::Options eo;
  eo.capacity = 1000;
  FakeEngine engine(eo);
  using Clock = std::chrono::steady_clock;
  std::mutex m;
  std::set<std::string> started;
  int64_t consumed = 0, consumed_at_start = 0;
  Clock::time_point all_started, last;
  engine.on_commit = [&](const Submission& s) {
    std::lock_guard lock(m);
    consumed += s.kafka->next_offset - first_offset(s);
    last = Clock::now();
    if (started.insert(s.source).second && started.size() == 3) {
      all_started = last;
      consumed_at_start = consumed;
    }
  };
  KafkaOptions o = options_for(kafka);
  o.events_topic = o.bid_requests_topic = "";
  o.max_batch_messages = 5000;
  KafkaConsumer consumer(o, engine.hooks(), nullptr);
  std::string error;
  const auto t0 = Clock::now();
  ASSERT_TRUE(consumer.start(&error)) << error;
  EXPECT_TRUE(wait_for(
      [&] {
        std::lock_guard lock(m);
        return consumed >= n;
      },
      60s))
      << consumed;
  consumer.stop();
  std::lock_guard lock(m);
  const double s = std::chrono::duration<double>(last - all_started).count();
  std::printf(
      "kafka consume: %d JSON messages of %zu bytes from 3 partitions of the mock cluster: %.0f messages/s "
      "(%lld in %.3f s once all partitions deliver; %.2f s in all, with the group join)\n",
      n, imp(0).size(), double(n - consumed_at_start) / s, static_cast<long long>(n - consumed_at_start), s,
      std::chrono::duration<double>(last - t0).count());
}

TEST(KafkaConsumerConfig, BadConfigurationIsOneLineError) {
  FakeEngine engine;
  auto fails = [&](KafkaOptions o, const std::string& expected, KafkaHooks hooks) {
    KafkaConsumer c(std::move(o), std::move(hooks), nullptr);
    std::string error;
    EXPECT_FALSE(c.start(&error));
    EXPECT_NE(error.find(expected), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_FALSE(error.empty());
  };
  KafkaOptions good;
  good.brokers = "127.0.0.1:1";
  good.schema_registry_url = "http://127.0.0.1:1";
  KafkaOptions o = good;
  o.brokers = "";
  fails(o, "brokers", engine.hooks());
  o = good;
  o.csv_columns = "event_id,\"user_id";
  fails(o, "csv_columns", engine.hooks());
  o = good;
  o.properties = {{"partition.assignment.strategy", "cooperative-sticky"}};
  fails(o, "eager", engine.hooks());
  o = good;
  o.properties = {{"no.such.property", "1"}};
  fails(o, "no.such.property", engine.hooks());
  o = good;
  o.schema_registry_url = "";
  fails(o, "schema registry", engine.hooks());
  o = good;
  o.impressions_topic = o.events_topic = o.bid_requests_topic = "";
  fails(o, "no topic", engine.hooks());
  o = good;
  o.events_topic = o.impressions_topic;
  fails(o, "two streams", engine.hooks());
  fails(good, "hooks", KafkaHooks{});

  // A good configuration starts even with no broker reachable (librdkafka connects in the background).
  KafkaConsumer c(good, engine.hooks(), nullptr);
  std::string error;
  EXPECT_TRUE(c.start(&error)) << error;
  EXPECT_FALSE(c.start(&error));
  c.stop();
}

}  // namespace
}  // namespace advx
