// advx publish feeding advx serve, through the binaries: a generated data set (every defect) published to
// librdkafka's mock cluster in this process (8 partitions a topic, reached over TCP) and a schema registry,
// consumed by advx serve until its stored positions reach the ends of the partitions, gives the tables
// advx ingest makes of the same files — every column but where a row came from and when it arrived (source,
// source_record, ingested_at) — and the rejects of ingest less the malformed records publish withheld,
// exactly as many as publish reported bad.
#include <gtest/gtest.h>

#include "../support/eventually.hpp"
#include "../support/schema_registry_server.hpp"
#include "../unit/kafka/kafka_test_util.hpp"
#include "publish_runner.hpp"
#include "serve_runner.hpp"

namespace advx::test {
namespace {

TEST(PublishE2E, ServeOfPublishedFilesEqualsIngestOfThem) {
  TempDir dir;
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "5000", "--seed", "23", "--files",
                      "2", "--quiet"},
                     dir.str())
                .exit_code,
            0);
  kafka_test::MockKafka kafka;
  for (const char* topic : {"ad-impressions", "clicks-conversions", "bid-requests"})
    kafka.create_topic(topic, 8);
  testing::SchemaRegistryServer registry;

  const CommandResult published = run_advx(
      {"publish", "--brokers", kafka.bootstraps(), "--schema-registry", registry.url(), dir.str("data")},
      dir.str());
  ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
  const uint64_t sent = sum_before(published.out, "sent");
  const uint64_t bad = sum_before(published.out, "bad");
  const uint64_t read = sum_before(published.out, "read");
  EXPECT_EQ(read, sent + bad) << published.out;
  EXPECT_GT(bad, 0u) << published.out;  // generated data has malformed records
  // Per topic and in all: every message delivered.
  EXPECT_EQ(sum_before(published.out, "delivered"), 2 * sent) << published.out;
  EXPECT_EQ(sum_before(published.out, "failed"), 0u) << published.out;

  ASSERT_EQ(run_advx({"ingest", "-q", "--db", dir.str("batch.duckdb"), dir.str("data")}, dir.str()).exit_code,
            0);
  const std::string serve_db = dir.str("serve.duckdb");
  {
    ServeProcess serve({"--db", serve_db, "--dims", dir.str("data/dims"), "--http", "127.0.0.1:0",
                        "--kafka-brokers", kafka.bootstraps(), "--schema-registry", registry.url()},
                       dir.str("serve.log"));
    ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
    // Every partition's stored position at its end: every message published is stored (or rejected).
    const auto stored = [&] {
      const HttpAnswer a =
          http_request("POST", "http://127.0.0.1:" + std::to_string(serve.port()) + "/v1/sql",
                       "SELECT coalesce(sum(next_offset), 0) AS n FROM advx_kafka_offsets");
      return a.status == 200 ? json_number(a.body, "n") : -1;
    };
    EXPECT_TRUE(eventually([&] { return stored() == (long long)sent; }, std::chrono::seconds(120)))
        << stored() << " of " << sent << "\n"
        << slurp(dir.str("serve.log"));
    EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
  }

  const std::string batch_db = dir.str("batch.duckdb");
  for (const std::string table : {"impressions", "clicks", "conversions", "bid_requests"}) {
    const std::string q =
        "SELECT * EXCLUDE (source, source_record, ingested_at) FROM " + table + " ORDER BY ALL";
    const std::string batch = sql_rows(batch_db, q, dir.str()), served = sql_rows(serve_db, q, dir.str());
    EXPECT_GT(batch.size(), 0u) << table;
    EXPECT_EQ(line_diff(batch, served), "") << table;
  }
  const std::string hourly = "SELECT * FROM campaign_hourly ORDER BY ALL";
  EXPECT_EQ(line_diff(sql_rows(batch_db, hourly, dir.str()), sql_rows(serve_db, hourly, dir.str())), "");

  // Rejects: ingest's less the malformed ones publish did not send. A CSV reject's raw bytes are the line
  // as it travelled (serve's column order), not the file's, so they are left out of the comparison.
  const std::string rejects =
      "SELECT stream, category, reason, detail, CASE WHEN stream = 'clicks_conversions' THEN NULL ELSE raw "
      "END, "
      "event_time FROM rejects ";
  const std::string malformed = "reason IN ('malformed_json', 'malformed_csv', 'malformed_avro')";
  EXPECT_EQ(line_diff(sql_rows(batch_db, rejects + "WHERE NOT " + malformed + " ORDER BY ALL", dir.str()),
                      sql_rows(serve_db, rejects + "ORDER BY ALL", dir.str())),
            "");
  EXPECT_EQ(sql_rows(batch_db, "SELECT count(*) FROM rejects WHERE " + malformed, dir.str()),
            std::to_string(bad) + "\n");
  EXPECT_EQ(sql_rows(serve_db, "SELECT count(*) FROM rejects WHERE " + malformed, dir.str()), "0\n");
  EXPECT_NE(sql_rows(serve_db, "SELECT count(*) FROM rejects", dir.str()), "0\n");  // validation's rejects
}

// The failures a user meets first, each one line and its exit code: wrong usage 2; brokers that do not
// answer, a registry that cannot be reached, a file that cannot be read 1 (the other files still sent).
TEST(PublishE2E, FailuresAreOneLineWithTheirExitCodes) {
  TempDir dir;
  write_file(dir.path() / "i.jsonl", "{\"user_id\":\"u1\"}\n");
  write_file(dir.path() / "b.avro", "Obj\x01 not really");
  auto one_line = [](const CommandResult& r) { return r.err.find('\n') + 1 == r.err.size(); };

  CommandResult r = run_advx({"publish", "--no-such-flag", dir.str("i.jsonl")}, dir.str());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_advx({"publish", dir.str("i.jsonl")}, dir.str());  // no brokers
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(one_line(r)) << r.err;
  r = run_advx({"publish", "--brokers", "127.0.0.1:1", dir.str("b.avro")}, dir.str());  // no registry
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("schema registry"), std::string::npos) << r.err;
  r = run_advx({"publish", "--brokers", "127.0.0.1:1", "--timeout", "1", dir.str("i.jsonl")}, dir.str());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_NE(r.err.find("brokers 127.0.0.1:1: no answer within 1 s"), std::string::npos) << r.err;

  kafka_test::MockKafka kafka;
  for (const char* topic : {"ad-impressions", "bid-requests"}) kafka.create_topic(topic, 8);
  r = run_advx({"publish", "--brokers", kafka.bootstraps(), "--schema-registry", "http://127.0.0.1:1",
                "--timeout", "2", "-q", dir.str("i.jsonl"), dir.str("missing.csv")},
               dir.str());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("missing.csv: no such file or directory"), std::string::npos) << r.err;
  r = run_advx({"publish", "--brokers", kafka.bootstraps(), "--schema-registry", "http://127.0.0.1:1",
                "--timeout", "2", "-q", dir.str("i.jsonl"), dir.str("b.avro")},
               dir.str());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("impressions -> ad-impressions: 1 files, 1 read, 1 sent"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("b.avro: truncated Avro file header"), std::string::npos) << r.err;

  // Bid requests whose schema cannot be registered: nothing of them is sent.
  ASSERT_EQ(
      run_advx({"gen", "--out", dir.str("data"), "--impressions", "20", "--quiet"}, dir.str()).exit_code, 0);
  r = run_advx({"publish", "--brokers", kafka.bootstraps(), "--schema-registry", "http://127.0.0.1:1",
                "--timeout", "2", "-q", dir.str("data/bid_requests")},
               dir.str());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_NE(r.err.find("advx publish: schema registry http://127.0.0.1:1: "), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(" 0 sent"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace advx::test
