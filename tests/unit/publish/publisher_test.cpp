// advx publish's framing and producer against librdkafka's in-process mock cluster (8 partitions a topic),
// consumed back: one message per record in serve's wire format, the key = the record's user_id, the
// partition = Java's murmur2(key) % 8, bad records counted by reason and not sent, and a summary that adds
// up. The schema registry is tests/support's Confluent-compatible server, over HTTP.
#include "publish/publisher.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "../../support/schema_registry_server.hpp"
#include "../kafka/kafka_test_util.hpp"
#include "formats/avro/ocf_writer.hpp"
#include "sinks/kafka/kafka_producer.hpp"
#include "sources/kafka/schema_registry.hpp"

namespace advx {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int kPartitions = 8;

// Kafka's Java client: Utils.murmur2, and the default partitioner's toPositive(murmur2(key)) % partitions.
int32_t java_murmur2(std::string_view key) {
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const int32_t length = int32_t(key.size());
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  uint32_t h = 0x9747b28c ^ uint32_t(length);
  const int32_t length4 = length / 4;
  for (int32_t i = 0; i < length4; i++) {
    const int32_t i4 = i * 4;
    uint32_t k = uint32_t(data[i4]) | uint32_t(data[i4 + 1]) << 8 | uint32_t(data[i4 + 2]) << 16 |
                 uint32_t(data[i4 + 3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const int32_t tail = length & ~3;
  switch (length % 4) {
    case 3:
      h ^= uint32_t(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t(data[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return int32_t(h);
}

int32_t java_partition(std::string_view key, int partitions) {
  return int32_t((uint32_t(java_murmur2(key)) & 0x7fffffff) % uint32_t(partitions));
}

TEST(JavaMurmur2, KnownValues) {
  // From Kafka's UtilsTest.testMurmur2.
  EXPECT_EQ(java_murmur2("21"), -973932308);
  EXPECT_EQ(java_murmur2("foobar"), -790332482);
  EXPECT_EQ(java_murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(java_murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(java_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(java_murmur2(std::string_view("abc", 3)), 479470107);
}

struct Message {
  int32_t partition;
  int64_t offset;
  std::optional<std::string> key;
  std::string value;
};

// Every message of `topic`, read from the start of each partition to its end, in (partition, offset) order.
std::vector<Message> consume_all(const std::string& brokers, const std::string& topic) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "publisher-test", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(kPartitions);
  for (int p = 0; p < kPartitions; p++)
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  std::vector<Message> out;
  std::set<int32_t> at_end;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (at_end.size() < size_t(kPartitions) && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(m->partition);
    } else if (!m->err) {
      Message msg{m->partition, m->offset, std::nullopt,
                  std::string(static_cast<const char*>(m->payload), m->len)};
      if (m->key) msg.key = std::string(static_cast<const char*>(m->key), m->key_len);
      out.push_back(std::move(msg));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (at_end.size() < size_t(kPartitions)) throw std::runtime_error("did not reach the end of " + topic);
  std::sort(out.begin(), out.end(), [](const Message& a, const Message& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
  return out;
}

class Publish : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* t : {"ad-impressions", "clicks-conversions", "bid-requests"})
      kafka_.create_topic(t, kPartitions);
    dir_ = fs::temp_directory_path() / ("advx-publish-" + std::to_string(std::random_device()()));
    fs::create_directories(dir_);
    KafkaProducerOptions o;
    o.brokers = kafka_.bootstraps();
    o.timeout_ms = 20000;
    std::string error;
    producer_ = KafkaProducer::create(o, &error);
    ASSERT_TRUE(producer_) << error;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  // Publishes `files` and waits for every delivery.
  PublishSummary publish(const std::vector<std::string>& files, const std::string& registry_url = "",
                         PublishOptions options = {}) {
    SchemaRegistry registry(registry_url.empty() ? "http://127.0.0.1:1" : registry_url, 5000);
    Publisher publisher(
        *producer_,
        [&](const std::string& subject, const std::string& schema, int32_t* id, std::string* error) {
          return registry.register_schema(subject, schema, id, error);
        },
        options);
    publisher.on_bad = [this](const std::string& line) { bad_lines_.push_back(line); };
    for (const std::string& f : files) publisher.publish_file(f);
    EXPECT_TRUE(producer_->flush()) << producer_->first_error();
    PublishSummary s = publisher.summary();
    s.delivery = producer_->delivery();
    return s;
  }

  kafka_test::MockKafka kafka_{1};
  fs::path dir_;
  std::unique_ptr<KafkaProducer> producer_;
  std::vector<std::string> bad_lines_;
};

// Each message's key and partition: the key is `user_id`, the partition Java's for that key.
void expect_keyed(const std::vector<Message>& got) {
  for (const Message& m : got)
    if (m.key) {
      EXPECT_EQ(m.partition, java_partition(*m.key, kPartitions)) << *m.key;
    }
}

TEST_F(Publish, JsonLinesAreOneMessageEachKeyedByUserId) {
  const std::vector<std::string> good = {
      R"({"ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z","website":"a.com"})",
      R"({"ad_creative_id":"cr1","user_id":"  u2 ","timestamp":"2026-11-01T10:00:01Z","website":"a.com"})",
      R"({"ad_creative_id":"cr2","user_id":12345678901234567890123,"timestamp":1793527200,"website":"b.com"})",
      R"({"ad_creative_id":"cr2","user_id":42,"timestamp":1793527200,"website":"b.com"})",
      R"({"ad_creative_id":"cr2","user_id":"u\u0033","timestamp":1793527200,"website":"b.com"})",
      R"({"ad_creative_id":"cr2","timestamp":"not a time","website":"b.com"})",  // invalid, still sent
  };
  const std::vector<std::optional<std::string>> keys = {"u1", "u2", "12345678901234567890123",
                                                        "42", "u3", std::nullopt};
  std::string file;
  for (size_t i = 0; i < good.size(); i++) {
    file += good[i] + "\n";
    if (i == 1) file += "{\"user_id\":\"broken\n";  // malformed
    if (i == 3) file += "\n[1,2]\r\n";              // a blank line (no record) and an array: malformed
  }
  const PublishSummary s = publish({write("imps.jsonl", file)});
  const PublishStreamSummary& st = s.streams[size_t(Stream::impressions)];
  EXPECT_EQ(st.read, 8u);
  EXPECT_EQ(st.sent, 6u);
  EXPECT_EQ(st.bad[size_t(Reason::malformed_json)], 2u);
  EXPECT_EQ(st.bad_total(), 2u);
  EXPECT_EQ(st.without_key, 1u);
  EXPECT_EQ(st.read, st.sent + st.bad_total());
  ASSERT_EQ(bad_lines_.size(), 2u);
  EXPECT_NE(bad_lines_[0].find("imps.jsonl: line 3"), std::string::npos) << bad_lines_[0];
  EXPECT_NE(bad_lines_[0].find("(malformed_json)"), std::string::npos) << bad_lines_[0];
  EXPECT_EQ(s.delivery.at("ad-impressions").delivered, 6u);

  const std::vector<Message> got = consume_all(kafka_.bootstraps(), "ad-impressions");
  ASSERT_EQ(got.size(), good.size());
  expect_keyed(got);
  for (size_t i = 0; i < good.size(); i++) {
    auto it = std::find_if(got.begin(), got.end(), [&](const Message& m) { return m.value == good[i]; });
    ASSERT_NE(it, got.end()) << good[i];
    EXPECT_EQ(it->key, keys[i]) << good[i];
  }
}

TEST_F(Publish, JsonArrayElementsAreMessagesInFileOrder) {
  // One user: one partition, so the messages keep the file's order there.
  std::string file = "[\n";
  for (int i = 0; i < 50; i++)
    file += std::string(i ? "," : "") + R"({"ad_creative_id":"cr1","user_id":"same","impression_id":"i)" +
            std::to_string(i) + R"(","timestamp":"2026-11-01T10:00:00Z","website":"a.com"})" + "\n";
  file += "]\n";
  const PublishSummary s = publish({write("array.json", file)});
  EXPECT_EQ(s.streams[0].sent, 50u);
  const std::vector<Message> got = consume_all(kafka_.bootstraps(), "ad-impressions");
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; i++) {
    EXPECT_EQ(got[size_t(i)].partition, java_partition("same", kPartitions));
    EXPECT_NE(got[size_t(i)].value.find("\"i" + std::to_string(i) + "\""), std::string::npos);
  }
}

TEST_F(Publish, CsvRowsAreLinesInServesColumnOrder) {
  // Another order, alias names in any case, no event_id/currency column, an unknown column, quoted fields
  // with commas, quotes and a line break, a malformed row (text after a closing quote), a short row.
  const std::string file =
      "\xEF\xBB\xBF"
      "Campaign_ID,referrer,timestamp,USER_ID,conversion_type,event_type,creative_id,conversion_value\r\n"
      "c1,\"https://x/?a=1,2\",2026-11-01T10:00:00Z,u1,,click,cr1,\r\n"
      "\"c,2\",,2026-11-01T10:00:01Z,\" u2\",purchase,conversion,cr2,12.50\r\n"
      "c1,,2026-11-01T10:00:02Z,\"say \"\"hi\"\"\",,click,\"multi\nline\",\r\n"
      "c1,,\"2026\"x,u4,,click,,\r\n"
      "c3,,2026-11-01T10:00:03Z\r\n";
  const PublishSummary s = publish({write("events.csv", file)});
  const PublishStreamSummary& st = s.streams[size_t(Stream::events)];
  EXPECT_EQ(st.read, 5u);
  EXPECT_EQ(st.sent, 4u);
  EXPECT_EQ(st.bad[size_t(Reason::malformed_csv)], 1u);
  EXPECT_EQ(st.without_key, 1u);  // the short row has no user_id
  EXPECT_EQ(st.read, st.sent + st.bad_total());
  ASSERT_EQ(bad_lines_.size(), 1u);
  EXPECT_NE(bad_lines_[0].find("events.csv: line 6"), std::string::npos) << bad_lines_[0];

  // serve's default csv_columns: event_id,event_timestamp,user_id,ad_campaign_id,ad_creative_id,event_type,
  // conversion_type,conversion_value,currency
  const std::map<std::optional<std::string>, std::string> want = {
      {"u1", ",2026-11-01T10:00:00Z,u1,c1,cr1,click,,,"},
      {"u2", ",2026-11-01T10:00:01Z, u2,\"c,2\",cr2,conversion,purchase,12.50,"},
      {"say \"hi\"", ",2026-11-01T10:00:02Z,\"say \"\"hi\"\"\",c1,\"multi\nline\",click,,,"},
      {std::nullopt, ",2026-11-01T10:00:03Z,,c3,,,,,"},
  };
  const std::vector<Message> got = consume_all(kafka_.bootstraps(), "clicks-conversions");
  ASSERT_EQ(got.size(), want.size());
  expect_keyed(got);
  for (const Message& m : got) {
    auto it = want.find(m.key);
    ASSERT_NE(it, want.end()) << (m.key ? *m.key : "(none)");
    EXPECT_EQ(m.value, it->second);
  }
}

TEST_F(Publish, CsvColumnsOfTheConfigDecideTheLine) {
  PublishOptions o;
  o.csv_columns = "user_id,TIMESTAMP,campaign_id,event_type,extra";
  const PublishSummary s =
      publish({write("e.csv", "event_time,ad_campaign_id,user_id\n2026-11-01T10:00:00Z,c1,u1\n")}, "", o);
  EXPECT_EQ(s.streams[1].sent, 1u);
  const std::vector<Message> got = consume_all(kafka_.bootstraps(), "clicks-conversions");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, "u1,2026-11-01T10:00:00Z,c1,,");
  EXPECT_EQ(got[0].key, "u1");
}

constexpr std::string_view kBidSchema =
    R"({"type":"record","name":"Bid","fields":[{"name":"id","type":"string"},)"
    R"({"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},)"
    R"({"name":"user","type":["null",{"type":"record","name":"User","fields":[{"name":"id","type":"string"}]}]}]})";

std::string bid_datum(const std::string& id, const std::optional<std::string>& user, int branch = -1) {
  std::string d;
  avro::put_string(d, id);
  avro::put_long(d, 1793527200000);
  avro::put_long(d, branch >= 0 ? branch : user ? 1 : 0);
  if (user) avro::put_string(d, *user);
  return d;
}

TEST_F(Publish, AvroDatumsAreConfluentFramedWithTheRegisteredSchemaId) {
  testing::SchemaRegistryServer registry;
  registry.register_schema("other-value", "\"string\"");  // so that our schema's id is not 1
  const std::string path = (dir_ / "bids.avro").string();
  std::vector<std::string> datums;
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    avro::OcfWriter w(f, kBidSchema, avro::Codec::deflate, 3, 3);  // blocks of 3 records
    for (int i = 0; i < 9; i++) {
      std::string d = bid_datum("a" + std::to_string(i),
                                i == 2 ? std::nullopt : std::optional("user-" + std::to_string(i)));
      if (i == 4) d = bid_datum("a4", "user-4", 7);  // a union branch the schema does not have
      w.append(d);
      datums.push_back(d);
    }
    w.flush();
    std::fclose(f);
  }
  const PublishSummary s = publish({path, path}, registry.url());  // twice: one registration
  const PublishStreamSummary& st = s.streams[size_t(Stream::bid_requests)];
  // Block 2 (records 4-6): record 5 cannot be read, nor record 6 after it.
  EXPECT_EQ(st.read, 18u);
  EXPECT_EQ(st.bad[size_t(Reason::malformed_avro)], 4u);
  EXPECT_EQ(st.sent, 14u);
  EXPECT_EQ(st.keyed_by_id, 2u);  // a2 (twice) has no user: keyed by its auction_id
  EXPECT_EQ(st.without_key, 0u);
  const std::optional<std::string> text = registry.schema(2);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, kBidSchema);
  ASSERT_EQ(st.schema_ids, std::set<int32_t>{2});

  const std::vector<Message> got = consume_all(kafka_.bootstraps(), "bid-requests");
  ASSERT_EQ(got.size(), 14u);
  expect_keyed(got);
  std::map<std::string, int> seen;
  for (const Message& m : got) {
    ASSERT_GE(m.value.size(), 5u);
    EXPECT_EQ(m.value.substr(0, 5), std::string("\0\0\0\0\2", 5));
    seen[m.value.substr(5)]++;
  }
  for (int i = 0; i < 9; i++) EXPECT_EQ(seen[datums[size_t(i)]], i == 4 || i == 5 ? 0 : 2) << i;
  for (const Message& m : got) {
    ASSERT_TRUE(m.key);
    if (*m.key == "a2") continue;          // no user: its auction id, the datum's first string
    const auto at = m.value.find(*m.key);  // the user id is the datum's last string
    EXPECT_EQ(at, m.value.size() - m.key->size()) << *m.key;
  }
}

TEST_F(Publish, RegistryUnreachableStopsWithOneErrorAndSendsNothing) {
  const std::string path = (dir_ / "bids.avro").string();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    avro::OcfWriter w(f, kBidSchema, avro::Codec::null);
    w.append(bid_datum("a1", "u1"));
    w.flush();
    std::fclose(f);
  }
  const PublishSummary s = publish({path});  // the registry URL names a closed port
  EXPECT_EQ(s.streams[2].sent, 0u);
  EXPECT_NE(s.fatal.find("schema registry http://127.0.0.1:1"), std::string::npos) << s.fatal;
  EXPECT_EQ(s.fatal.find('\n'), std::string::npos);
}

TEST_F(Publish, AnUnreadableFileFailsAloneAndTheOthersAreSent) {
  const std::string good = write("a.jsonl", R"({"user_id":"u1"})"
                                            "\n");
  const std::string corrupt = write("b.jsonl.gz", std::string("\x1f\x8b\x08\x00garbage", 12));
  const PublishSummary s = publish({corrupt, (dir_ / "missing.jsonl").string(), good});
  EXPECT_EQ(s.failures.size(), 2u);
  EXPECT_EQ(s.files_ok, 1u);
  EXPECT_EQ(s.streams[0].sent, 1u);
  EXPECT_EQ(consume_all(kafka_.bootstraps(), "ad-impressions").size(), 1u);
}

TEST_F(Publish, SummaryAddsUp) {
  const PublishSummary s = publish({write("i.jsonl", R"({"user_id":"u1"})"
                                                     "\n{bad\n"),
                                    write("e.csv", "user_id,campaign_id\nu1,c1\nu2,\"c\"x\n")});
  const std::string text = format_publish_summary(s);
  EXPECT_NE(text.find("impressions -> ad-impressions: 1 files, 2 read, 1 sent, 1 bad (malformed_json 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("clicks_conversions -> clicks-conversions: 1 files, 2 read, 1 sent, 1 bad (malformed_csv 1)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("sent 2 messages"), std::string::npos) << text;
  EXPECT_NE(text.find("2 delivered, 0 failed"), std::string::npos) << text;
}

TEST(KafkaProducer, UnreachableBrokersAreOneLineAfterTheTimeout) {
  KafkaProducerOptions o;
  o.brokers = "127.0.0.1:1";
  o.timeout_ms = 500;
  std::string error;
  auto producer = KafkaProducer::create(o, &error);
  ASSERT_TRUE(producer) << error;
  int partitions = 0;
  EXPECT_FALSE(producer->check_topic("ad-impressions", &partitions, &error));
  EXPECT_NE(error.find("brokers 127.0.0.1:1: no answer within 0.5 s"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  // A message queued anyway times out: a failed delivery, counted.
  ASSERT_TRUE(producer->produce("ad-impressions", std::string_view("k"), "v", &error)) << error;
  EXPECT_FALSE(producer->flush() && producer->delivery().at("ad-impressions").failed == 0);
  EXPECT_EQ(producer->delivery().at("ad-impressions").failed, 1u);
  EXPECT_NE(producer->first_error().find("ad-impressions: "), std::string::npos) << producer->first_error();
}

TEST(KafkaProducer, AnUnknownPropertyIsAOneLineError) {
  kafka_test::MockKafka kafka(1);
  KafkaProducerOptions o;
  o.brokers = kafka.bootstraps();
  o.properties = {{"enable.idempotence", "false"}, {"no.such.property", "1"}};
  std::string error;
  EXPECT_FALSE(KafkaProducer::create(o, &error));
  EXPECT_NE(error.find("no.such.property"), std::string::npos) << error;
  o.properties = {{"enable.idempotence", "false"}, {"acks", "1"}, {"linger.ms", "1"}};  // overridden
  EXPECT_TRUE(KafkaProducer::create(o, &error)) << error;
}

}  // namespace
}  // namespace advx
