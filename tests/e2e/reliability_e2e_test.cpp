// SPEC 6 through the binary: a killed attribution is completed by the next run, no byte sequence fails a
// batch, a file of blank lines is no records, and a retried HTTP body stores its rejects once.
// (The kill matrix, tests/e2e/kill_matrix_test.cpp, kills ingest and serve at many more points.)
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "cli_runner.hpp"
#include "formats/avro/ocf_writer.hpp"
#include "gen/bid_request_encoder.hpp"
#include "serve_runner.hpp"

namespace advx::test {
namespace {

// 1,000 good clicks and, after the 500th, one whose user_id holds the bytes FF FE.
std::string clicks_with_one_bad_byte_row() {
  std::string csv = "event_id,event_timestamp,user_id,ad_campaign_id,event_type\n";
  for (int i = 1; i <= 1000; i++) {
    csv += "e" + std::to_string(i) + ",2026-11-01T10:00:00Z,u" + std::to_string(i) + ",c1,click\n";
    if (i == 500) csv += "e-bad,2026-11-01T10:00:00Z,\xff\xfe,c1,click\n";
  }
  return csv;
}

std::string one(const std::string& db, const std::string& query, const std::string& scratch) {
  std::string rows = sql_rows(db, query, scratch);
  while (!rows.empty() && rows.back() == '\n') rows.pop_back();
  return rows;
}

TEST(IngestReliability, InvalidUtf8InOneRowRejectsThatRowAndStoresTheRest) {
  TempDir dir;
  write_file(dir.path() / "clicks.csv", clicks_with_one_bad_byte_row());
  const std::string db = dir.str("a.duckdb");
  CommandResult r = run_advx({"ingest", "--db", db, "-q", "--json", dir.str("clicks.csv")}, dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(one(db, "SELECT count(*) FROM clicks", dir.str()), "1000");
  EXPECT_EQ(one(db, "SELECT reason || ' ' || detail || ' ' || source_record || ' ' || hex(raw) FROM rejects",
                dir.str()),
            "bad_value user_id is not valid UTF-8 502 "
            "652D6261642C323032362D31312D30315431303A30303A30305A2CFFFE2C63312C636C69636B");
}

// NUL, control and non-UTF-8 bytes in CSV fields and in Avro strings: each such record is one bad_value
// reject with its raw bytes; every other record of the file is stored and the run exits 0.
TEST(IngestReliability, BadBytesInCsvAndAvroFieldsRejectOnlyTheirRecords) {
  TempDir dir;
  using namespace std::string_literals;  // the rows hold NUL bytes
  write_file(dir.path() / "clicks.csv",
             "event_id,event_timestamp,user_id,ad_campaign_id,event_type\n"
             "e1,2026-11-01T10:00:00Z,u1,c1,click\n"
             "e2,2026-11-01T10:00:00Z,u\0x,c1,click\n"
             "e3,2026-11-01T10:00:00Z,u3,c\x01,click\n"
             "e4,2026-11-01T10:00:00Z,u4,c1,cl\xff"
             "ick\n"
             "e5,2026-11-01T10:00:00Z,u5,c1,click\n"s);
  const std::string schema = slurp(std::string(ADVX_SOURCE_DIR) + "/schemas/bid_request.avsc");
  gen::BidRequestEncoder enc(schema);
  std::FILE* f = std::fopen(dir.str("bids.avro").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  {
    avro::OcfWriter w(f, schema, avro::Codec::deflate);
    const char* domains[] = {"ok.example", "bad\xc0\xaf.example", "ok2.example", "nul\x01.example"};
    int i = 0;
    for (const char* domain : domains) {
      gen::BidRequestValues v;
      const std::string id = "a" + std::to_string(++i);
      v.id = id;
      v.timestamp_ms = 1793523600000;
      v.has_site = true;
      v.site_domain = domain;
      std::string datum;
      enc.encode(v, datum);
      w.append(datum);
    }
  }
  std::fclose(f);
  const std::string db = dir.str("a.duckdb");
  CommandResult r =
      run_advx({"ingest", "--db", db, "-q", dir.str("clicks.csv"), dir.str("bids.avro")}, dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(one(db, "SELECT string_agg(event_id, ' ' ORDER BY event_id) FROM clicks", dir.str()), "e1 e5");
  EXPECT_EQ(one(db, "SELECT string_agg(auction_id, ' ' ORDER BY auction_id) FROM bid_requests", dir.str()),
            "a1 a3");
  EXPECT_EQ(
      sql_rows(db, "SELECT stream, reason, detail FROM rejects ORDER BY source_record, stream", dir.str()),
      "bid_requests,bad_value,site.domain is not valid UTF-8\n"
      "clicks_conversions,bad_value,user_id contains a control character\n"
      "bid_requests,bad_value,site.domain contains a control character\n"
      "clicks_conversions,bad_value,ad_campaign_id contains a control character\n"
      "clicks_conversions,bad_value,event_type is not valid UTF-8\n");
}

// A file of blank lines larger than the record bound: before, the reader carried it as one record and
// failed the file with "a record is longer than 1 MB".
TEST(IngestReliability, AFileOfOnlyBlankLinesIsNoRecords) {
  TempDir dir;
  write_file(dir.path() / "nl.jsonl", std::string(10 << 20, '\n'));
  const std::string db = dir.str("a.duckdb");
  CommandResult r =
      run_advx({"ingest", "--db", db, "-q", "--max-record-mb", "1", dir.str("nl.jsonl")}, dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("1 files read, 0 failed; 0 records"), std::string::npos) << r.out;
}

// A kill after the rows committed and before attribution did: the debt stays in the store, and the next
// run pays it, whether or not it brings anything new. Before, the rerun found nothing new, attributed
// nothing and every click stayed without attribution.
TEST(IngestReliability, AttributionKilledBeforeItsCommitIsCompletedByTheNextRun) {
  TempDir dir;
  ASSERT_EQ(
      run_advx({"gen", "--out", dir.str("d"), "--impressions", "20000", "--quiet"}, dir.str()).exit_code, 0);
  const std::string ref = dir.str("ref.duckdb"), db = dir.str("x.duckdb");
  ASSERT_EQ(run_advx({"ingest", "--db", ref, "-q", dir.str("d")}, dir.str()).exit_code, 0);
  CommandResult killed = run_advx_env({"ADVX_CRASH_AT=attribution.before_commit"},
                                      {"ingest", "--db", db, "-q", dir.str("d")}, dir.str());
  ASSERT_EQ(killed.signal, SIGKILL) << killed.err;
  ASSERT_NE(killed.err.find("crash point attribution.before_commit reached"), std::string::npos);
  EXPECT_NE(one(db, "SELECT count(*) FROM advx_attribution_pending", dir.str()), "0");
  EXPECT_EQ(one(db, "SELECT count(*) FROM clicks WHERE attribution IS NOT NULL", dir.str()), "0");

  ASSERT_EQ(run_advx({"ingest", "--db", db, "-q", dir.str("d")}, dir.str()).exit_code, 0);
  EXPECT_EQ(one(db, "SELECT count(*) FROM advx_attribution_pending", dir.str()), "0");
  for (const char* q :
       {"SELECT attribution, attributed_impression_key, seconds_from_impression FROM clicks ORDER BY ALL",
        "SELECT attribution, attributed_click_key, attributed_impression_key FROM conversions ORDER BY ALL",
        "SELECT count(*) FILTER (won) FROM bid_requests", "SELECT * FROM campaign_hourly ORDER BY ALL"}) {
    EXPECT_EQ(sql_rows(db, q, dir.str()), sql_rows(ref, q, dir.str())) << q;
  }
  EXPECT_NE(one(ref, "SELECT count(*) FROM clicks WHERE attribution = 'attributed'", dir.str()), "0");
  EXPECT_EQ(report_csv(db, {"campaigns"}, dir.str()), report_csv(ref, {"campaigns"}, dir.str()));
}

class ServeReliability : public ::testing::Test {
 protected:
  void SetUp() override {
    serve = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"}, dir.str("serve.log"));
    ASSERT_TRUE(serve->started()) << slurp(dir.str("serve.log"));
    base = "http://127.0.0.1:" + std::to_string(serve->port());
  }
  std::string count_after_stop(const std::string& query) {
    EXPECT_EQ(serve->kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
    return one(dir.str("s.duckdb"), query, dir.str());
  }
  TempDir dir;
  std::unique_ptr<ServeProcess> serve;
  std::string base;
};

// Before, the body got 503 "retry later" and /readyz turned 503: a client obeying Retry-After retried
// forever and the 1,000 good clicks were never stored.
TEST_F(ServeReliability, InvalidUtf8InOneRowOfABodyRejectsThatRowAndStoresTheRest) {
  const HttpAnswer a = http_request("POST", base + "/v1/events", clicks_with_one_bad_byte_row());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(json_number(a.body, "stored"), 1000) << a.body;
  EXPECT_EQ(json_number(a.body, "rejected"), 1) << a.body;
  EXPECT_EQ(http_request("GET", base + "/readyz").status, 200);
  EXPECT_EQ(count_after_stop("SELECT (SELECT count(*) FROM clicks) || ' ' || (SELECT count(*) FROM rejects "
                             "WHERE reason = 'bad_value')"),
            "1000 1");
}

// A client that lost the answer sends the same body again: its events are duplicates, and so are its
// rejects (their identity comes from the body, not from the request). With an Idempotency-Key the key is
// the identity.
TEST_F(ServeReliability, ARetriedBodyStoresItsRejectsOnce) {
  const std::string body =
      "event_id,event_timestamp,user_id,ad_campaign_id,event_type\n"
      "e1,2026-11-01T10:00:00Z,u1,c1,click\n"
      "e2,not a time,u2,c1,click\n"
      "e3,2026-11-01T10:00:00Z,,c1,click\n";
  for (int i = 0; i < 3; i++) {
    const HttpAnswer a = http_request("POST", base + "/v1/events", body);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(json_number(a.body, "rejected"), i == 0 ? 2 : 0) << i << a.body;
    EXPECT_EQ(json_number(a.body, "duplicates"), i == 0 ? 0 : 3) << i << a.body;
  }
  for (int i = 0; i < 2; i++) {
    const HttpAnswer a = http_request("POST", base + "/v1/events", body + "e4,bad,u4,c1,click\n",
                                      {"Idempotency-Key: batch-17"});
    ASSERT_EQ(a.status, 200) << a.body;
  }
  EXPECT_EQ(http_request("POST", base + "/v1/events", body, {"Idempotency-Key: bad key"}).status, 400);
  EXPECT_EQ(count_after_stop("SELECT (SELECT count(*) FROM rejects) || ' ' || (SELECT count(*) FROM clicks)"),
            "5 1");  // 2 rejects of the plain body, 3 of the keyed one; e1 once
}

}  // namespace
}  // namespace advx::test
