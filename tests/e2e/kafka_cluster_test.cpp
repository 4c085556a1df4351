// The cross-process Kafka harness: advx_test_kafka (librdkafka's mock cluster in a process of its own) seen
// by other processes over TCP — Debian's kcat as producer, consumer and consumer-group member, this test
// process as another librdkafka client — and its schema registry over HTTP.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../support/eventually.hpp"
#include "../support/external_servers.hpp"
#include "../support/kafka_cluster_process.hpp"
#include "../support/schema_registry_server.hpp"
#include "cli_runner.hpp"
#include "core/kafka_partition.hpp"
#include "serve_runner.hpp"

namespace advx::test {
namespace {

using advx::testing::KafkaClusterOptions;
using advx::testing::KafkaClusterProcess;
using namespace std::chrono_literals;

constexpr const char* kKcat = "/usr/bin/kcat";

// Runs `args` (quoted one by one) under coreutils' `timeout`, so a hung client fails the test instead of
// holding it; stdin from `stdin_path` (else /dev/null). Its stdout and stderr, and its exit code (124: the
// timeout).
CommandResult run(const std::vector<std::string>& args, const TempDir& dir,
                  const std::string& stdin_path = "", int timeout_s = 60) {
  std::string cmd = "timeout " + std::to_string(timeout_s);
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  cmd += " < " + shell_quote(stdin_path.empty() ? "/dev/null" : stdin_path);
  cmd += " > " + shell_quote(dir.str("run.out")) + " 2> " + shell_quote(dir.str("run.err"));
  CommandResult r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir.str("run.out"));
  r.err = slurp(dir.str("run.err"));
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// 200 lines `KEY:VALUE` for kcat -K: — 40 keys (user-0 .. user-39), each 5 times, values unique.
std::string keyed_lines() {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "user-" + std::to_string(i % 40) + ":value-" + std::to_string(i) + "\n";
  return text;
}

// Produces keyed_lines() to ad-impressions with kcat, keyed, by Kafka's default partitioner (murmur2_random:
// Java's murmur2 for a keyed record, as advx publish does; core/kafka_partition.hpp).
void produce_keyed(const KafkaClusterProcess& kafka, const TempDir& dir) {
  write_file(dir.path() / "keyed.txt", keyed_lines());
  const CommandResult p = run({kKcat, "-P", "-b", kafka.bootstrap(), "-t", "ad-impressions", "-K:", "-X",
                               "partitioner=murmur2_random"},
                              dir, dir.str("keyed.txt"));
  ASSERT_EQ(p.exit_code, 0) << p.err;
}

// The committed offset of each partition 0..partitions-1 of `topic` for `group`, asked by this process
// (OffsetFetch): -1001 (RD_KAFKA_OFFSET_INVALID) where none; empty when the request failed.
std::map<int32_t, int64_t> committed_offsets(const std::string& bootstrap, const std::string& group,
                                             const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) return {};
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  std::map<int32_t, int64_t> out;
  if (rd_kafka_committed(rk, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

TEST(KafkaCluster, KcatListsTheDefaultTopicsOnThreeBrokers) {
  ASSERT_TRUE(installed(kKcat, "kcat"));
  TempDir dir;
  KafkaClusterProcess kafka;
  EXPECT_EQ(std::count(kafka.bootstrap().begin(), kafka.bootstrap().end(), ',') + 1, 3) << kafka.bootstrap();
  EXPECT_TRUE(kafka.registry_url().empty());

  const CommandResult r = run({kKcat, "-L", "-b", kafka.bootstrap()}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> topics;
  const std::regex topic_line(R"re(topic "([^"]+)" with (\d+) partitions)re");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), topic_line), end; it != end; ++it)
    topics[(*it)[1]] = std::stoi((*it)[2]);
  const std::map<std::string, int> expected = {
      {"ad-impressions", 8}, {"clicks-conversions", 8}, {"bid-requests", 8}};
  EXPECT_EQ(topics, expected) << r.out;
  EXPECT_NE(r.out.find(" 3 brokers:"), std::string::npos) << r.out;
}

TEST(KafkaCluster, TopicsAndBrokersAsAsked) {
  ASSERT_TRUE(installed(kKcat, "kcat"));
  TempDir dir;
  KafkaClusterOptions o;
  o.brokers = 1;
  o.topics = {{"a", 2}, {"b.c", 5}};
  KafkaClusterProcess kafka(o);
  const CommandResult r = run({kKcat, "-L", "-b", kafka.bootstrap()}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" 1 brokers:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("topic \"a\" with 2 partitions"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("topic \"b.c\" with 5 partitions"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ad-impressions"), std::string::npos) << r.out;
}

TEST(KafkaCluster, KeyedMessagesComeBackEachKeyOnItsPartition) {
  ASSERT_TRUE(installed(kKcat, "kcat"));
  TempDir dir;
  KafkaClusterProcess kafka;
  produce_keyed(kafka, dir);

  const CommandResult c = run({kKcat, "-C", "-b", kafka.bootstrap(), "-t", "ad-impressions", "-e", "-o",
                               "beginning", "-q", "-f", "%p %o %k %s\\n"},
                              dir);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const std::vector<std::string> lines = lines_of(c.out);
  ASSERT_EQ(lines.size(), 200u) << c.out;
  std::multiset<std::string> got, want;
  for (const std::string& l : lines_of(keyed_lines())) want.insert(l);
  std::map<std::string, std::set<int32_t>> partitions_of_key;
  std::set<std::pair<int32_t, int64_t>> positions;
  for (const std::string& l : lines) {
    std::istringstream in(l);
    int32_t partition = -1;
    int64_t offset = -1;
    std::string key, value;
    in >> partition >> offset >> key >> value;
    got.insert(key + ":" + value);
    partitions_of_key[key].insert(partition);
    positions.emplace(partition, offset);
    EXPECT_EQ(partition, kafka_partition_of(key, 8)) << "key " << key << " not where murmur2 puts it";
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(positions.size(), 200u);  // no message twice
  ASSERT_EQ(partitions_of_key.size(), 40u);
  for (const auto& [key, partitions] : partitions_of_key) EXPECT_EQ(partitions.size(), 1u) << key;
}

// Two kcat processes, one consumer group: each ends up with a part of the 8 partitions, between them all of
// them, and all 200 messages read; the offsets they commit are read back by a third process (this one).
TEST(KafkaCluster, TwoKcatGroupMembersSplitThePartitionsAndCommit) {
  ASSERT_TRUE(installed(kKcat, "kcat"));
  TempDir dir;
  KafkaClusterProcess kafka;
  produce_keyed(kafka, dir);

  const std::string group = "kcat-pair";
  // A short session timeout: the mock waits session.timeout.ms - 1 s for members that have not rejoined.
  const std::vector<std::string> member = {"-b",
                                           kafka.bootstrap(),
                                           "-G",
                                           group,
                                           "-o",
                                           "beginning",
                                           "-u",
                                           "-f",
                                           "%p %o %k\\n",
                                           "-X",
                                           "session.timeout.ms=6000",
                                           "-X",
                                           "heartbeat.interval.ms=500",
                                           "-X",
                                           "partition.assignment.strategy=range",
                                           "-X",
                                           "auto.commit.interval.ms=200",
                                           "ad-impressions"};
  ChildProcess a(kKcat, member, dir.str("a.log"));
  ChildProcess b(kKcat, member, dir.str("b.log"));

  // What a member's log says: its current assignment (after its last "rebalanced" line) and the
  // (partition, offset) of every message it printed.
  struct Seen {
    std::set<int32_t> assigned;
    std::set<std::pair<int32_t, int64_t>> read;
  };
  auto seen = [](const std::string& log) {
    Seen s;
    const std::regex partition_ref(R"(ad-impressions \[(\d+)\])");
    for (const std::string& line : lines_of(log)) {
      if (line.find("rebalanced") != std::string::npos) {
        s.assigned.clear();
        if (line.find("assigned:") == std::string::npos) continue;
        for (std::sregex_iterator it(line.begin(), line.end(), partition_ref), end; it != end; ++it)
          s.assigned.insert(std::stoi((*it)[1]));
      } else if (!line.empty() && line[0] != '%') {
        std::istringstream in(line);
        int32_t p = -1;
        int64_t o = -1;
        if (in >> p >> o) s.read.emplace(p, o);
      }
    }
    return s;
  };
  Seen sa, sb;
  const bool split = eventually(
      [&] {
        sa = seen(slurp(dir.str("a.log")));
        sb = seen(slurp(dir.str("b.log")));
        std::set<int32_t> all = sa.assigned;
        all.insert(sb.assigned.begin(), sb.assigned.end());
        std::set<std::pair<int32_t, int64_t>> read = sa.read;
        read.insert(sb.read.begin(), sb.read.end());
        return !sa.assigned.empty() && !sb.assigned.empty() && all.size() == 8 &&
               sa.assigned.size() + sb.assigned.size() == 8 && read.size() == 200;
      },
      60s);
  ASSERT_TRUE(split) << "a:\n" << slurp(dir.str("a.log")) << "\nb:\n" << slurp(dir.str("b.log"));
  // range over 8 partitions and 2 members: 4 each.
  EXPECT_EQ(sa.assigned.size(), 4u);
  EXPECT_EQ(sb.assigned.size(), 4u);

  // kcat auto-commits every 200 ms; the committed offsets reach the end of every partition.
  std::map<int32_t, int64_t> ends;
  for (const std::string& l : lines_of(slurp(dir.str("a.log")) + slurp(dir.str("b.log")))) {
    std::istringstream in(l);
    int32_t p = -1;
    int64_t o = -1;
    if (l[0] != '%' && in >> p >> o) ends[p] = std::max(ends[p], o + 1);
  }
  std::map<int32_t, int64_t> committed;
  const bool all_committed = eventually(
      [&] {
        committed = committed_offsets(kafka.bootstrap(), group, "ad-impressions", 8);
        return committed == ends;
      },
      60s);
  EXPECT_TRUE(all_committed) << "committed " << ::testing::PrintToString(committed) << " ends "
                             << ::testing::PrintToString(ends);
}

TEST(KafkaCluster, SchemaRegistryOfTheProgram) {
  KafkaClusterOptions o;
  o.registry = true;
  KafkaClusterProcess kafka(o);
  ASSERT_TRUE(kafka.registry_url().starts_with("http://127.0.0.1:")) << kafka.registry_url();
  const std::string url = kafka.registry_url();
  const std::vector<std::string> content_type = {"Content-Type: application/vnd.schemaregistry.v1+json"};

  // A schema with characters JSON must escape, inside the body's string.
  const std::string schema = R"({"type":"record","name":"BidRequest","doc":"a \"quoted\" doc\\ with é\n",)"
                             R"("fields":[{"name":"id","type":"string"}]})";
  const std::string body = "{\"schema\":" + advx::testing::registry_json::quote(schema) + "}";
  const HttpAnswer post =
      http_request("POST", url + "/subjects/bid-requests-value/versions", body, content_type);
  ASSERT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(post.body, R"({"id":1})");
  // The same text under another subject: the same id (ids are global); another text: the next one.
  const HttpAnswer again =
      http_request("POST", url + "/subjects/other-value/versions", body, {"Content-Type: application/json"});
  EXPECT_EQ(again.body, R"({"id":1})");
  const HttpAnswer second = http_request("POST", url + "/subjects/other-value/versions",
                                         R"({"schema":"\"string\""})", content_type);
  EXPECT_EQ(second.body, R"({"id":2})");

  const HttpAnswer get = http_request("GET", url + "/schemas/ids/1");
  ASSERT_EQ(get.status, 200) << get.body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(get.body).get(doc), simdjson::SUCCESS) << get.body;
  std::string_view text;
  ASSERT_EQ(doc["schema"].get(text), simdjson::SUCCESS) << get.body;
  EXPECT_EQ(std::string(text), schema);

  const HttpAnswer missing = http_request("GET", url + "/schemas/ids/99");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json_number(missing.body, "error_code"), 40403) << missing.body;

  const HttpAnswer latest = http_request("GET", url + "/subjects/other-value/versions/latest");
  ASSERT_EQ(latest.status, 200) << latest.body;
  EXPECT_EQ(json_number(latest.body, "version"), 2) << latest.body;
  EXPECT_EQ(json_number(latest.body, "id"), 2) << latest.body;
  EXPECT_EQ(http_request("GET", url + "/subjects").body, R"(["bid-requests-value","other-value"])");
  EXPECT_EQ(json_number(http_request("GET", url + "/subjects/nope/versions/latest").body, "error_code"),
            40401);

  for (const std::string bad :
       {"not json", R"({"schema":{"type":"string"}})", R"({"schema":"{unclosed"})", "{}"}) {
    const HttpAnswer r = http_request("POST", url + "/subjects/x/versions", bad, content_type);
    EXPECT_EQ(r.status, 422) << bad;
    EXPECT_EQ(json_number(r.body, "error_code"), 42201) << bad << " -> " << r.body;
  }
}

TEST(KafkaCluster, SchemaRegistryInProcessCountsRequests) {
  advx::testing::SchemaRegistryServer registry;
  EXPECT_EQ(registry.register_schema("s", "\"long\""), 1);
  EXPECT_EQ(registry.register_schema("t", "\"long\""), 1);
  EXPECT_EQ(registry.register_schema("t", "\"int\""), 2);
  EXPECT_EQ(registry.schema(2), "\"int\"");
  EXPECT_FALSE(registry.schema(3).has_value());
  EXPECT_EQ(registry.requests(), 0);
  const HttpAnswer a = http_request("GET", registry.url() + "/schemas/ids/2");
  EXPECT_EQ(a.body, R"({"schema":"\"int\""})");
  // \u escapes, a surrogate pair among them, decode to UTF-8.
  const HttpAnswer p =
      http_request("POST", registry.url() + "/subjects/u/versions",
                   R"({"schemaType":"AVRO","schema":"\"\u00e9\ud83d\ude00\"","references":[]})");
  EXPECT_EQ(p.body, R"({"id":3})");
  EXPECT_EQ(registry.schema(3), "\"\xC3\xA9\xF0\x9F\x98\x80\"");
  EXPECT_EQ(registry.requests(), 2);
}

TEST(KafkaCluster, EndsOnEofOfItsStdinAndOnSigterm) {
  TempDir dir;
  // stdin is /dev/null: it starts, says ready and ends by itself with 0.
  const CommandResult r = run({ADVX_TEST_KAFKA, "--brokers", "1"}, dir, "", 30);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("bootstrap.servers=127.0.0.1:")) << r.out;
  EXPECT_TRUE(r.out.ends_with("\nready\n")) << r.out;

  KafkaClusterOptions one_broker;
  one_broker.brokers = 1;
  KafkaClusterProcess kafka(one_broker);
  EXPECT_EQ(kafka.stop(), 0) << kafka.log();

  EXPECT_EQ(run({ADVX_TEST_KAFKA, "--help"}, dir).exit_code, 0);
  const CommandResult bad = run({ADVX_TEST_KAFKA, "--topic", "x:0"}, dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--topic"), std::string::npos) << bad.err;
  KafkaClusterOptions no_partitions = one_broker;
  no_partitions.topics = {{"x", 0}};
  EXPECT_THROW(KafkaClusterProcess{no_partitions}, std::runtime_error);
}

}  // namespace
}  // namespace advx::test
