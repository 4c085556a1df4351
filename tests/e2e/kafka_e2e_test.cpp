// advx serve consuming Kafka, through the binary, against librdkafka's mock cluster (the real protocol on
// loopback, 3 partitions per topic) living in this test process: produce events with duplicates and
// malformed values, kill the server with SIGKILL mid-stream, restart it, and check the exact stored
// counts — nothing lost, nothing twice, rejects included. Each test runs on DuckDB and on ClickHouse.
// The topics of these tests are not keyed by user (messages go to partitions round robin or at random),
// and one worker reads every partition: records are stored where they arrive (forward_miskeyed = false).
// A fleet, with the producer contract, is tests/e2e/fleet_e2e_test.cpp.
#include <gtest/gtest.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "../support/eventually.hpp"
#include "formats/csv/csv_parser.hpp"
#include "gen/bid_request_encoder.hpp"
#include "serve_runner.hpp"
#include "store_target.hpp"

namespace advx::test {
namespace {

class MockKafka {
 public:
  MockKafka() {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cluster_ = rd_kafka_handle_mock_cluster(producer_);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  ~MockKafka() {
    rd_kafka_flush(producer_, 10000);
    rd_kafka_destroy(producer_);
  }
  void create_topic(const std::string& name, int partitions) {
    rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
  }
  void produce(const std::string& topic, int32_t partition, const std::string& value) {
    for (;;) {
      const rd_kafka_resp_err_t e =
          rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(e);
        return;
      }
      rd_kafka_poll(producer_, 10);
    }
  }
  void flush() { ASSERT_EQ(rd_kafka_flush(producer_, 30000), RD_KAFKA_RESP_ERR_NO_ERROR); }
  const std::string& bootstraps() const { return bootstraps_; }

 private:
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

// A Confluent-compatible schema registry with one schema (id 1), as the real one (a JVM service, not
// installable here) answers GET /schemas/ids/{id}.
class TestRegistry {
 public:
  explicit TestRegistry(const std::string& schema) {
    std::string escaped;
    for (char c : schema) {
      if (c == '"' || c == '\\') escaped += '\\';
      if (c == '\n') {
        escaped += "\\n";
        continue;
      }
      escaped += c;
    }
    body_ = "{\"schema\":\"" + escaped + "\"}";
    server_.Get(R"(/schemas/ids/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] == "1")
        res.set_content(body_, "application/vnd.schemaregistry.v1+json");
      else
        res.status = 404;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~TestRegistry() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::string body_;
  int port_ = 0;
  std::thread thread_;
};

// The one number a `SELECT … AS n` answers through /v1/sql, or -1.
long long query_n(int port, const std::string& sql) {
  HttpAnswer a = http_request("POST", "http://127.0.0.1:" + std::to_string(port) + "/v1/sql", sql);
  if (a.status != 200) return -1;
  const size_t at = a.body.find("\"n\":");
  return at == std::string::npos ? -1 : std::atoll(a.body.c_str() + at + 4);
}

class KafkaE2E : public ::testing::TestWithParam<StoreKind> {};

TEST_P(KafkaE2E, KilledMidStreamLosesNothingAndStoresNothingTwice) {
  TempDir dir;
  const StoreTarget store(GetParam(), dir);
  ASSERT_EQ(store.error(), "");
  write_file(dir.path() / "dims/campaigns.csv", "campaign_id,advertiser_id\nc1,adv1\nc2,adv2\n");
  write_file(dir.path() / "dims/creatives.csv", "creative_id,campaign_id\ncr1,c1\ncr2,c2\n");
  MockKafka kafka;
  kafka.create_topic("ad-impressions", 3);
  kafka.create_topic("clicks-conversions", 3);
  kafka.create_topic("bid-requests", 3);

  // 30,000 impression messages: unique ids, 600 exact re-sends of an earlier message (on any partition),
  // 300 malformed values. 3,000 click lines, 60 of them re-sent.
  std::mt19937 rng(7);
  std::vector<std::string> sent;
  size_t malformed = 0;
  std::set<std::string> ids;
  for (int i = 0; i < 30000; i++) {
    std::string value;
    if (i % 100 == 50) {
      value = "{\"impression_id\":\"broken-" + std::to_string(i);  // malformed
      ++malformed;
    } else if (i % 50 == 7 && !sent.empty()) {
      value = sent[rng() % sent.size()];  // a re-send: a duplicate
    } else {
      const std::string id = "imp-" + std::to_string(i);
      ids.insert(id);
      value = "{\"impression_id\":\"" + id + "\",\"ad_creative_id\":\"cr" + std::to_string(1 + i % 2) +
              "\",\"user_id\":\"u" + std::to_string(i % 997) + "\",\"timestamp\":\"2026-11-01T" +
              std::to_string(10 + i % 10) + ":00:00Z\",\"website\":\"a.example.com\",\"win_price_cpm\":1.5}";
      sent.push_back(value);
    }
    kafka.produce("ad-impressions", int32_t(rng() % 3), value);
  }
  std::vector<std::string> clicks;
  for (int i = 0; i < 3000; i++) {
    std::string line = i % 50 == 3 && !clicks.empty()
                           ? clicks[rng() % clicks.size()]
                           : "k-" + std::to_string(i) + ",2026-11-01T" + std::to_string(10 + i % 10) +
                                 ":00:30Z,u" + std::to_string((i * 10) % 997) + ",c" +
                                 std::to_string(1 + (i * 10) % 2) + ",,click,,,";
    if (line.rfind("k-", 0) == 0 && std::find(clicks.begin(), clicks.end(), line) == clicks.end())
      clicks.push_back(line);
    kafka.produce("clicks-conversions", int32_t(rng() % 3), line);
  }
  // 9,000 bid requests in the Confluent wire format (schema id 1), 180 re-sent, 90 not framed at all.
  const std::string schema = slurp(std::string(ADVX_SOURCE_DIR) + "/schemas/bid_request.avsc");
  TestRegistry registry(schema);
  gen::BidRequestEncoder encoder(schema);
  std::vector<std::string> bids;
  size_t bad_frames = 0;
  for (int i = 0; i < 9000; i++) {
    std::string value;
    if (i % 100 == 99) {
      value = "not avro " + std::to_string(i);
      ++bad_frames;
    } else if (i % 50 == 11 && !bids.empty()) {
      value = bids[rng() % bids.size()];
    } else {
      const std::string id = "auction-" + std::to_string(i);
      gen::BidRequestValues v;
      v.id = id;
      v.timestamp_ms = 1793527200000 + i;  // 2026-11-01T10:00:00Z
      std::string datum;
      encoder.encode(v, datum);
      value = std::string("\0\0\0\0\1", 5) + datum;
      bids.push_back(value);
    }
    kafka.produce("bid-requests", int32_t(rng() % 3), value);
  }
  kafka.flush();
  const long long total_messages = 42000;

  // A short session timeout, so that the killed member leaves the group soon.
  write_file(
      dir.path() / "advx.toml",
      "[kafka]\nenabled = true\nforward_miskeyed = false\nbrokers = \"" + kafka.bootstraps() +
          "\"\nschema_registry = \"" + registry.url() +
          "\"\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n"
          "[pipeline]\ncommit_events = 1000\n");
  std::vector<std::string> args = {"--config", dir.str("advx.toml"), "--dims", dir.str("dims"),
                                   "--http",   "127.0.0.1:0"};
  for (const std::string& a : store.args("k")) args.push_back(a);
  // The messages consumed: the committed offsets; on ClickHouse the positions the rows carry (the next
  // offset of a partition is its largest source_record in the dedup state, written last, plus one).
  const std::string consumed =
      store.clickhouse()
          ? "SELECT sum(m + 1) AS n FROM (SELECT max(source_record) AS m FROM advx_dedup_state WHERE "
            "startsWith(source, 'kafka:') GROUP BY source)"
          : "SELECT coalesce(sum(next_offset), 0) AS n FROM advx_kafka_offsets";
  {
    ServeProcess first(args, dir.str("serve1.log"));
    ASSERT_TRUE(first.started()) << slurp(dir.str("serve1.log"));
    // Kill it once some but not all of the messages are stored.
    long long n = 0;
    for (int i = 0; i < 3000 && (n = query_n(first.port(), consumed)) < 5000; i++)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GE(n, 5000) << slurp(dir.str("serve1.log"));
    ASSERT_LT(n, total_messages) << "consumed everything before the kill: make the test bigger";
    EXPECT_EQ(first.kill(SIGKILL), 128 + SIGKILL);
  }
  ServeProcess second(args, dir.str("serve2.log"));
  ASSERT_TRUE(second.started()) << slurp(dir.str("serve2.log"));
  long long n = 0;
  for (int i = 0; i < 1200 && (n = query_n(second.port(), consumed)) < total_messages; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(n, total_messages) << slurp(dir.str("serve2.log"));
  EXPECT_EQ(second.kill(SIGTERM), 0) << slurp(dir.str("serve2.log"));

  auto count = [&](const std::string& q) { return store.sql("k", q); };
  EXPECT_EQ(count("SELECT count(*), count(DISTINCT event_key) FROM impressions"),
            std::to_string(ids.size()) + "," + std::to_string(ids.size()) + "\n")
      << "impressions stored twice (key, source, record, ingested_at):\n"
      << count(
             store.clickhouse()
                 ? "SELECT event_key, source, source_record, ingested_at_us FROM impressions WHERE event_key "
                   "IN "
                   "(SELECT event_key FROM impressions GROUP BY event_key HAVING count() > 1) ORDER BY "
                   "event_key, ingested_at_us LIMIT 12"
                 : "SELECT event_key, source, source_record, ingested_at FROM impressions WHERE event_key IN "
                   "(SELECT event_key FROM impressions GROUP BY event_key HAVING count(*) > 1) ORDER BY ALL "
                   "LIMIT 12")
      << slurp(dir.str("serve1.log")).substr(0, 3000) << "\n---\n"
      << slurp(dir.str("serve2.log")).substr(0, 3000);
  EXPECT_EQ(
      count(store.clickhouse()
                ? "SELECT stream, reason, count(*), count(DISTINCT source, source_record) FROM rejects "
                  "GROUP BY stream, reason ORDER BY stream, reason"
                : "SELECT stream, reason, count(*), count(DISTINCT source || source_record) FROM rejects "
                  "GROUP BY ALL ORDER BY ALL"),
      "bid_requests,malformed_avro," + std::to_string(bad_frames) + "," + std::to_string(bad_frames) +
          "\nimpressions,malformed_json," + std::to_string(malformed) + "," + std::to_string(malformed) +
          "\n");
  EXPECT_EQ(count("SELECT count(*), count(DISTINCT auction_id) FROM " + store.table("bid_requests")),
            std::to_string(bids.size()) + "," + std::to_string(bids.size()) + "\n");
  EXPECT_EQ(count("SELECT count(*), count(DISTINCT event_key) FROM " + store.table("clicks")),
            std::to_string(clicks.size()) + "," + std::to_string(clicks.size()) + "\n");
  if (store.clickhouse()) {
    // FINAL shows one version of a row: a second copy stored by a replay would hide there. The rows as
    // the pipeline stored them (version 0) are at most one per event: background merges only remove
    // copies, so more than that is a row stored twice.
    for (const auto& [table, n] : {std::pair<std::string, size_t>{"bid_requests", bids.size()},
                                   std::pair<std::string, size_t>{"clicks", clicks.size()}})
      EXPECT_LE(std::stoull(count("SELECT count(*) FROM " + table + " WHERE advx_version = 0")), n) << table;
  }
  // Every click went through attribution (attributed or orphan), those of the replay included.
  EXPECT_EQ(count(store.clickhouse() ? "SELECT countIf(attribution IS NULL) FROM " + store.table("clicks")
                                     : "SELECT count(*) FILTER (attribution IS NULL) FROM clicks"),
            "0\n");
}

// Equivalence: the same generated impressions and clicks/conversions through Kafka and through advx ingest
// give the same tables and identical reports.
TEST_P(KafkaE2E, SameDataAsIngestGivesIdenticalReports) {
  TempDir dir;
  const StoreTarget store(GetParam(), dir);
  ASSERT_EQ(store.error(), "");
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "6000", "--seed", "11", "--files",
                      "1", "--duplicate-rate", "0", "--quiet"},
                     dir.str())
                .exit_code,
            0);
  ASSERT_EQ(store
                .run("batch", {"ingest", "--dims", dir.str("data/dims"), "-q", dir.str("data/impressions"),
                               dir.str("data/clicks_conversions")})
                .exit_code,
            0);
  MockKafka kafka;
  kafka.create_topic("ad-impressions", 3);
  kafka.create_topic("clicks-conversions", 3);
  // One message per JSON line; CSV rows re-written in the consumer's column order, every field quoted.
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "data/impressions")) {
    std::istringstream lines(slurp(e.path().string()));
    int i = 0;
    for (std::string line; std::getline(lines, line);) kafka.produce("ad-impressions", i++ % 3, line);
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> columns = {
      {"event_id", {"event_id"}},
      {"event_timestamp", {"event_timestamp", "timestamp", "event_time"}},
      {"user_id", {"user_id"}},
      {"ad_campaign_id", {"ad_campaign_id", "campaign_id"}},
      {"ad_creative_id", {"ad_creative_id", "creative_id"}},
      {"event_type", {"event_type"}},
      {"conversion_type", {"conversion_type"}},
      {"conversion_value", {"conversion_value"}},
      {"currency", {"currency"}}};
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "data/clicks_conversions")) {
    std::string error;
    const auto rows = parse_csv_document(slurp(e.path().string()), &error);
    ASSERT_TRUE(error.empty()) << error;
    std::vector<int> index;  // header position of each consumer column, or -1
    for (const auto& [name, aliases] : columns) {
      int at = -1;
      for (size_t c = 0; c < rows[0].size(); c++) {
        std::string h = rows[0][c];
        for (char& ch : h) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        for (const auto& a : aliases)
          if (h == a) at = int(c);
      }
      index.push_back(at);
    }
    for (size_t r = 1; r < rows.size(); r++) {
      std::string line;
      for (size_t k = 0; k < index.size(); k++) {
        if (k) line += ',';
        if (index[k] < 0 || size_t(index[k]) >= rows[r].size()) continue;
        std::string v = rows[r][size_t(index[k])];
        if (v.find('\n') != std::string::npos) v.replace(v.find('\n'), 1, " ");
        std::string q = "\"";
        for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        line += q + "\"";
      }
      kafka.produce("clicks-conversions", int32_t(r % 3), line);
    }
  }
  kafka.flush();
  write_file(dir.path() / "advx.toml", "[kafka]\nenabled = true\nforward_miskeyed = false\nbrokers = \"" +
                                           kafka.bootstraps() + "\"\nbid_requests_topic = \"\"\n");
  std::vector<std::string> serve_args = {"--config", dir.str("advx.toml"), "--dims", dir.str("data/dims"),
                                         "--http",   "127.0.0.1:0"};
  for (const std::string& a : store.args("kafka")) serve_args.push_back(a);
  ServeProcess serve(serve_args, dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string stored_q = "SELECT (SELECT count(*) FROM impressions) + (SELECT count(*) FROM " +
                               store.table("clicks") + ") + (SELECT count(*) FROM " +
                               store.table("conversions") + ") + (SELECT count(*) FROM rejects) AS n";
  const long long batch_read = std::atoll(store.sql("batch", stored_q).c_str());
  ASSERT_GT(batch_read, 6000);
  long long n = 0;
  for (int i = 0; i < 600 && (n = query_n(serve.port(), stored_q)) < batch_read; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(n, batch_read) << slurp(dir.str("serve.log"));
  EXPECT_EQ(serve.kill(SIGTERM), 0);
  std::vector<std::string> queries =
      store.clickhouse()
          ? std::vector<
                std::string>{"SELECT count(*), sum(" +
                                 store.hash({"event_key", "campaign_id", "event_time_us"}) +
                                 ") FROM impressions",
                             "SELECT stream, reason, count(*) FROM rejects GROUP BY stream, reason ORDER "
                             "BY stream, reason"}
          : std::vector<std::string>{
                "SELECT count(*), sum(hash(event_key, campaign_id, event_time)) FROM impressions",
                "SELECT stream, reason, count(*) FROM rejects GROUP BY ALL ORDER BY ALL"};
  for (const std::string& q : store.attribution_digests()) queries.push_back(q);
  for (const std::string& q : queries) EXPECT_EQ(store.sql("kafka", q), store.sql("batch", q)) << q;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"campaigns", "--by", "day"}, {"funnel", "--by", "campaign"}, {"latency"}}) {
    EXPECT_EQ(store.report("kafka", args), store.report("batch", args)) << args[0];
  }
}

INSTANTIATE_TEST_SUITE_P(, KafkaE2E, kBothStores);

// ClickHouse goes away while serve consumes Kafka: /readyz turns 503 and the consumer holds its partitions
// (advx_kafka_partition_paused), reading nothing it cannot store; once the server is back it resumes by
// itself, and every message is stored exactly once. The server is the test's own: it is stopped and started.
TEST(KafkaClickHouse, StoreDownPausesThePartitionsAndResumesWithNothingLost) {
  TempDir dir;
  ClickHouseServer server;
  ASSERT_NO_THROW(server.start());
  write_file(dir.path() / "dims/campaigns.csv", "campaign_id,advertiser_id\nc1,adv1\n");
  write_file(dir.path() / "dims/creatives.csv", "creative_id,campaign_id\ncr1,c1\n");
  MockKafka kafka;
  for (const char* topic : {"ad-impressions", "clicks-conversions", "bid-requests"})
    kafka.create_topic(topic, 3);
  auto produce = [&](int from, int to) {
    for (int i = from; i < to; i++)
      kafka.produce("ad-impressions", i % 3,
                    "{\"impression_id\":\"imp-" + std::to_string(i) +
                        "\",\"ad_creative_id\":\"cr1\",\"user_id\":\"u" + std::to_string(i % 101) +
                        "\",\"timestamp\":\"2026-11-01T10:00:00Z\",\"website\":\"a.example.com\"}");
    kafka.flush();
  };
  produce(0, 3000);
  write_file(dir.path() / "advx.toml",
             "[kafka]\nenabled = true\nforward_miskeyed = false\nbrokers = \"" + kafka.bootstraps() +
                 "\"\nbid_requests_topic = \"\"\n[pipeline]\ncommit_events = 500\n");
  const std::string url = server.url("advx_kafka_down");
  ServeProcess serve(
      {"--config", dir.str("advx.toml"), "--dims", dir.str("dims"), "--http", "127.0.0.1:0", "--store", url},
      dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
  const std::string consumed =
      "SELECT sum(m + 1) AS n FROM (SELECT max(source_record) AS m FROM advx_dedup_state WHERE "
      "startsWith(source, 'kafka:') GROUP BY source)";
  ASSERT_TRUE(eventually([&] { return query_n(serve.port(), consumed) == 3000; }, std::chrono::seconds(60)))
      << slurp(dir.str("serve.log"));
  const auto paused_partitions = [&] {
    const std::string metrics = http_request("GET", base + "/metrics").body;
    int n = 0;
    for (int p = 0; p < 3; p++)
      n += metrics.find("advx_kafka_partition_paused{topic=\"ad-impressions\",partition=\"" +
                        std::to_string(p) + "\"} 1\n") != std::string::npos;
    return n;
  };
  EXPECT_EQ(paused_partitions(), 0);

  server.stop();
  produce(3000, 9000);
  EXPECT_TRUE(eventually([&] { return http_request("GET", base + "/readyz").status == 503; },
                         std::chrono::seconds(30)));
  EXPECT_TRUE(eventually([&] { return paused_partitions() == 3; }, std::chrono::seconds(30)))
      << http_request("GET", base + "/metrics").body;

  server.start();
  EXPECT_TRUE(eventually([&] { return query_n(serve.port(), consumed) == 9000; }, std::chrono::seconds(120)))
      << slurp(dir.str("serve.log"));
  EXPECT_TRUE(eventually([&] { return http_request("GET", base + "/readyz").status == 200; },
                         std::chrono::seconds(30)));
  EXPECT_TRUE(eventually([&] { return paused_partitions() == 0; }, std::chrono::seconds(30)));
  EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));

  const CommandResult r = run_advx(
      {"sql", "--store", url, "--format", "csv", "SELECT count(), uniqExact(event_key) FROM impressions"},
      dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(r.out.find('\n') + 1), "9000,9000\n");
}

}  // namespace
}  // namespace advx::test
