// advx ingest end to end, on hand-written inputs whose every outcome is counted by hand below.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "cli_runner.hpp"
#include "formats/avro/ocf_writer.hpp"
#include "gen/bid_request_encoder.hpp"

namespace advx::test {
namespace {

namespace fs = std::filesystem;

uint64_t at(simdjson::dom::element root, const std::string& pointer) {
  auto v = root.at_pointer(pointer);
  if (v.error()) {
    ADD_FAILURE() << "no " << pointer;
    return ~0ull;
  }
  uint64_t out = 0;
  if (v.get(out)) ADD_FAILURE() << pointer << " is not a count";
  return out;
}

constexpr char kCampaigns[] =
    "campaign_id,advertiser_id,campaign_name,start_date,end_date,currency\n"
    "c1,adv1,\"Spring, Sale\",2026-10-01,2026-12-31,USD\n"
    "c2,adv2,\"The \"\"Big\"\" One\",2026-10-01,2026-12-31,EUR\n";
constexpr char kCreatives[] =
    "creative_id,campaign_id,format,width,height\n"
    "cr1,c1,banner,300,250\n"
    "cr2,c2,video,,\n";

// 16 lines, 15 records (one blank line): 4 stored, 3 duplicates (1 conflicting), 6 rejected, 2 filtered.
constexpr char kImpressions[] =
    R"j({"impression_id":"i1","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z","website":"https://WWW.News.Example.com:443/a?b","win_price_cpm":2.0,"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36","country":"us"})j"
    "\n"
    R"j({"impression_id":"i2","ad_creative_id":"cr2","user_id":"u2","timestamp":1793529000,"website":"shop.example.org","win_price_cpm":1.5})j"
    "\n"
    R"j({"ad_creative_id":123,"user_id":"u3","timestamp":"2026-11-01 11:00:00.250","website":"example.com"})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u4","timestamp":"2026-11-01T12:00:00+02:00","website":"a.example"})j"
    "\r\n"
    R"j({"impression_id":"i1","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z","website":"https://WWW.News.Example.com:443/a?b","win_price_cpm":2.0,"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36","country":"us"})j"
    "\n"
    R"j({"impression_id":"i2","ad_creative_id":"cr2","user_id":"u2","timestamp":1793529000,"website":"other.example.org","win_price_cpm":1.5})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u4","timestamp":"2026-11-01T12:00:00+02:00","website":"a.example"})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u5",)j"
    "\n"
    R"j({"ad_creative_id":"cr1","timestamp":"2026-11-01T10:00:00Z","website":"x.com"})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u6","timestamp":"not a time","website":"x.com"})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u7","timestamp":"2099-01-01T00:00:00Z","website":"x.com"})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u8","timestamp":"2026-11-01T10:00:00Z","website":"x.com","user_agent":"Mozilla/5.0 (compatible; Googlebot/2.1)"})j"
    "\n"
    R"j({"ad_creative_id":"cr1","user_id":"u9","timestamp":"2026-11-01T10:00:00Z","website":"x.com","campaign_id":"c2"})j"
    "\n"
    "   \n"
    R"j({"ad_creative_id":"cr2","user_id":"u10","timestamp":"2026-11-01T10:00:00Z","website":"x.com","win_price_cpm":-1})j"
    "\n"
    R"j({"ad_creative_id":"cr2","user_id":"u11","timestamp":"2026-11-01T10:00:00Z","website":"http://ads.blocked.example/x","extra":1})j";

// BOM, CRLF, free column order, aliases, quoted commas and newlines. 12 records: 5 stored (3 clicks,
// 2 conversions), 1 duplicate, 6 rejected (a user id with a newline in it is a control character).
constexpr char kEvents[] =
    "\xEF\xBB\xBF"
    "event_id,Timestamp,user_id,campaign_id,event_type,conversion_type,conversion_value,currency,creative_"
    "id\r\n"
    "e1,2026-11-01T10:05:00Z,u1,c1,click,,,,cr1\r\n"
    "e2,2026-11-01T18:00:00Z,u1,c1,conversion,purchase,19.99,usd,\r\n"
    ",2026-11-02 09:00:00,u2,c2,,signup,,,\r\n"
    ",2026-11-01T10:06:00Z,\"u3, with comma\",c1,,,,,\r\n"
    "e1,2026-11-01T10:05:00Z,u1,c1,click,,,,cr1\r\n"
    "e3,2026-11-01T10:07:00Z,,c1,click,,,,\r\n"
    "e4,2026-11-01T10:08:00Z,u4,c1,conversion,,,,\r\n"
    "e5,2026-11-01T10:09:00Z,u4,c1,conversion,lead,-5,,\r\n"
    "e6,yesterday,u4,c1,click,,,,\r\n"
    "e7,2026-11-01T10:10:00Z,u5,c9,click,,,,\r\n"
    "e8,2026-11-01T10:11:00Z,\"multi\nline user\",c1,click,,,,\r\n"
    "e9,2026-11-01T10:12:00Z,u6,c1,click,,,,\"unterminated\r\n";

std::string read_schema() { return slurp(std::string(ADVX_SOURCE_DIR) + "/schemas/bid_request.avsc"); }

// 5 records: 2 stored, 1 duplicate, 1 filtered (bot), 1 rejected (future).
void write_bid_requests(const fs::path& path) {
  const std::string schema = read_schema();
  gen::BidRequestEncoder enc(schema);
  fs::create_directories(path.parent_path());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  {
    avro::OcfWriter w(f, schema, avro::Codec::deflate, 7);
    auto put = [&](std::string_view id, int64_t ts_ms, std::string_view ua) {
      gen::BidRequestValues v;
      v.id = id;
      v.timestamp_ms = ts_ms;
      v.imp_count = 2;
      v.imps[0].id = "1";
      v.imps[0].bidfloor = 0.5;
      v.imps[1].id = "2";
      v.imps[1].bidfloor = 0.25;
      v.has_site = true;
      v.site_domain = "www.News.Example.com";
      v.has_device = true;
      v.ua = ua;
      v.ip = "192.0.2.1";
      v.country = "us";
      v.devicetype = 2;
      v.has_user = true;
      v.user_id = "u1";
      v.exchange = "adx";
      std::string datum;
      enc.encode(v, datum);
      w.append(datum);
    };
    const char* chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36";
    put("a1", 1793527199000, chrome);
    put("a2", 1793527200000, chrome);
    put("a1", 1793527199000, chrome);
    put("a3", 1793527201000, "Mozilla/5.0 (compatible; bingbot/2.0)");
    put("a4", 4070908800000, chrome);  // 2099
  }
  std::fclose(f);
}

class IngestE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir.path() / "data/dims/campaigns.csv", kCampaigns);
    write_file(dir.path() / "data/dims/creatives.csv", kCreatives);
    write_file(dir.path() / "data/impressions/part-1.jsonl", kImpressions);
    write_file(dir.path() / "data/clicks_conversions/part-1.csv", kEvents);
    write_file(dir.path() / "data/_manifest.json", "{\"not\": \"ingested\"}");
    write_bid_requests(dir.path() / "data/bid_requests/part-1.avro");
    db = dir.str("test.duckdb");
  }

  CommandResult ingest(std::initializer_list<std::string> extra = {}) {
    std::vector<std::string> args = {"ingest", "--db", db, "--json", "--block-site", "blocked.example"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(dir.str("data"));
    return run_advx(args, dir.str());
  }

  std::string sql(const std::string& q) {
    CommandResult r = run_advx({"sql", "--db", db, "--format", "csv", q}, dir.str());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  TempDir dir;
  std::string db;
  simdjson::dom::parser parser;
};

TEST_F(IngestE2E, ExactCountsPerStreamAndReason) {
  CommandResult r = ingest();
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  simdjson::dom::element s;
  ASSERT_FALSE(parser.parse(r.out).get(s)) << r.out;

  EXPECT_EQ(at(s, "/streams/impressions/files"), 1u);
  EXPECT_EQ(at(s, "/streams/impressions/read"), 15u);
  EXPECT_EQ(at(s, "/streams/impressions/stored"), 4u);
  EXPECT_EQ(at(s, "/streams/impressions/duplicates"), 3u);
  EXPECT_EQ(at(s, "/streams/impressions/duplicate_conflicts"), 1u);
  EXPECT_EQ(at(s, "/streams/impressions/rejected"), 6u);
  for (auto reason : {"malformed_json", "missing_field", "bad_timestamp", "future_timestamp",
                      "campaign_mismatch", "bad_value"})
    EXPECT_EQ(at(s, std::string("/streams/impressions/rejected_by_reason/") + reason), 1u) << reason;
  EXPECT_EQ(at(s, "/streams/impressions/filtered"), 2u);
  EXPECT_EQ(at(s, "/streams/impressions/filtered_by_reason/bot_user_agent"), 1u);
  EXPECT_EQ(at(s, "/streams/impressions/filtered_by_reason/blocked_site"), 1u);
  EXPECT_EQ(at(s, "/streams/impressions/unknown_creative"), 1u);
  EXPECT_EQ(at(s, "/streams/impressions/unknown_fields/extra"), 1u);

  EXPECT_EQ(at(s, "/streams/clicks_conversions/read"), 12u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/stored"), 5u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/stored_clicks"), 3u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/stored_conversions"), 2u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/duplicates"), 1u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/rejected"), 6u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/rejected_by_reason/missing_field"), 2u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/rejected_by_reason/bad_value"), 2u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/rejected_by_reason/bad_timestamp"), 1u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/rejected_by_reason/malformed_csv"), 1u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/unknown_campaign"), 1u);

  EXPECT_EQ(at(s, "/streams/bid_requests/read"), 5u);
  EXPECT_EQ(at(s, "/streams/bid_requests/stored"), 2u);
  EXPECT_EQ(at(s, "/streams/bid_requests/duplicates"), 1u);
  EXPECT_EQ(at(s, "/streams/bid_requests/filtered_by_reason/bot_user_agent"), 1u);
  EXPECT_EQ(at(s, "/streams/bid_requests/rejected_by_reason/future_timestamp"), 1u);
  EXPECT_EQ(at(s, "/files_ok"), 3u);

  // The stored rows, standardized and enriched.
  EXPECT_EQ(
      sql("SELECT event_key, site, campaign_id, advertiser_id, country, device_type, os, win_price_cpm, "
          "strftime(event_time, '%Y-%m-%dT%H:%M:%S.%f') FROM impressions ORDER BY user_id"),
      "event_key,site,campaign_id,advertiser_id,country,device_type,os,win_price_cpm,"
      "\"strftime(event_time, '%Y-%m-%dT%H:%M:%S.%f')\"\n"
      "i1,news.example.com,c1,adv1,US,desktop,Windows,2.0,2026-11-01T10:00:00.000000\n"
      "i2,shop.example.org,c2,adv2,,,,1.5,2026-11-01T10:30:00.000000\n" +
          sql("SELECT event_key FROM impressions WHERE user_id = 'u3'").substr(10, 35) +
          ",example.com,,,,,,,2026-11-01T11:00:00.250000\n" +
          sql("SELECT event_key FROM impressions WHERE user_id = 'u4'").substr(10, 35) +
          ",a.example,c1,adv1,,,,,2026-11-01T10:00:00.000000\n");
  EXPECT_EQ(sql("SELECT user_id, campaign_id, creative_id FROM clicks ORDER BY event_time"),
            "user_id,campaign_id,creative_id\nu1,c1,cr1\n\"u3, with comma\",c1,\nu5,c9,\n");
  EXPECT_EQ(
      sql("SELECT conversion_type, conversion_value, currency, advertiser_id FROM conversions ORDER BY "
          "event_time"),
      "conversion_type,conversion_value,currency,advertiser_id\npurchase,19.99,USD,adv1\nsignup,0.0,,adv2\n");
  EXPECT_EQ(sql("SELECT auction_id, site_domain, country, device_type, imp_count, bid_floor FROM "
                "bid_requests ORDER BY 1"),
            "auction_id,site_domain,country,device_type,imp_count,bid_floor\n"
            "a1,news.example.com,US,desktop,2,0.25\na2,news.example.com,US,desktop,2,0.25\n");
  EXPECT_EQ(sql("SELECT stream, category, reason, source_record FROM rejects ORDER BY stream, source_record"),
            "stream,category,reason,source_record\n"
            "bid_requests,filtered,bot_user_agent,4\nbid_requests,rejected,future_timestamp,5\n"
            "clicks_conversions,rejected,missing_field,7\nclicks_conversions,rejected,missing_field,8\n"
            "clicks_conversions,rejected,bad_value,9\nclicks_conversions,rejected,bad_timestamp,10\n"
            "clicks_conversions,rejected,bad_value,12\nclicks_conversions,rejected,malformed_csv,14\n"
            "impressions,rejected,malformed_json,8\nimpressions,rejected,missing_field,9\n"
            "impressions,rejected,bad_timestamp,10\nimpressions,rejected,future_timestamp,11\n"
            "impressions,filtered,bot_user_agent,12\nimpressions,rejected,campaign_mismatch,13\n"
            "impressions,rejected,bad_value,15\nimpressions,filtered,blocked_site,16\n");
  EXPECT_EQ(sql("SELECT decode(raw) AS raw FROM rejects WHERE reason = 'malformed_json'"),
            "raw\n\"{\"\"ad_creative_id\"\":\"\"cr1\"\",\"\"user_id\"\":\"\"u5\"\",\"\n");
  EXPECT_EQ(sql("SELECT count(*) FROM campaigns"), "count_star()\n2\n");
}

TEST_F(IngestE2E, IngestingAgainStoresNothingNew) {
  ASSERT_EQ(ingest().exit_code, 0);
  const std::string before =
      sql("SELECT (SELECT count(*) FROM impressions), (SELECT count(*) FROM clicks), (SELECT count(*) FROM "
          "conversions), "
          "(SELECT count(*) FROM bid_requests), (SELECT count(*) FROM rejects)");
  CommandResult r = ingest();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::element s;
  ASSERT_FALSE(parser.parse(r.out).get(s));
  for (auto [stream, read] :
       {std::pair{"impressions", 15u}, {"clicks_conversions", 12u}, {"bid_requests", 5u}}) {
    const std::string p = std::string("/streams/") + stream;
    EXPECT_EQ(at(s, p + "/read"), read) << stream;
    EXPECT_EQ(at(s, p + "/stored"), 0u) << stream;
    EXPECT_EQ(at(s, p + "/rejected"), 0u) << stream;
    EXPECT_EQ(at(s, p + "/filtered"), 0u) << stream;
    EXPECT_EQ(at(s, p + "/duplicates"), read) << stream;
  }
  EXPECT_EQ(
      sql("SELECT (SELECT count(*) FROM impressions), (SELECT count(*) FROM clicks), (SELECT count(*) FROM "
          "conversions), (SELECT count(*) FROM bid_requests), (SELECT count(*) FROM rejects)"),
      before);
}

// --metrics-file: the run's counters for node exporter's textfile collector, the same numbers as the summary.
TEST_F(IngestE2E, MetricsFileHasTheRunsCounters) {
  CommandResult r = ingest({"--metrics-file", dir.str("advx.prom")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string prom = slurp(dir.str("advx.prom"));
  for (const char* line :
       {"advx_events_read_total{stream=\"impressions\"} 15\n",
        "advx_events_stored_total{stream=\"impressions\"} 4\n",
        "advx_events_duplicates_total{stream=\"impressions\"} 3\n",
        "advx_events_rejected_total{stream=\"impressions\",reason=\"malformed_json\"} 1\n",
        "advx_events_filtered_total{stream=\"impressions\",reason=\"blocked_site\"} 1\n",
        "advx_events_read_total{stream=\"bid_requests\"} 5\n", "advx_ingest_failed_files 0\n"})
    EXPECT_NE(prom.find(line), std::string::npos) << line << prom;
  EXPECT_EQ(prom.find("advx_up"), std::string::npos);  // a finished batch run is not a running server
  EXPECT_FALSE(std::filesystem::exists(dir.str("advx.prom.tmp")));
  r = run_advx({"ingest", "--db", db, "--metrics-file", dir.str("nowhere/advx.prom"), dir.str("data")},
               dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "advx ingest: --metrics-file " + dir.str("nowhere/advx.prom") + ": no folder " +
                       dir.str("nowhere") + "\n");
}

TEST_F(IngestE2E, CompressedFilesReadTheSame) {
  // gzip and zstd copies of the impressions, each in a store of its own: the same counts.
  fs::create_directories(dir.path() / "z");
  const std::string src = dir.str("data/impressions/part-1.jsonl");
  ASSERT_EQ(std::system(("gzip -c " + src + " > " + dir.str("z/a.jsonl.gz")).c_str()), 0);
  ASSERT_EQ(std::system(("zstd -q -c " + src + " > " + dir.str("z/b.jsonl.zst")).c_str()), 0);
  CommandResult r = run_advx({"ingest", "--db", dir.str("z.duckdb"), "--json", "--dims", dir.str("data/dims"),
                              dir.str("z/a.jsonl.gz")},
                             dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::element s;
  ASSERT_FALSE(parser.parse(r.out).get(s));
  EXPECT_EQ(at(s, "/streams/impressions/read"), 15u);
  EXPECT_EQ(at(s, "/streams/impressions/stored"), 5u);  // blocked.example is not blocked in this run
  r = run_advx({"ingest", "--db", dir.str("z2.duckdb"), "--json", "--dims", dir.str("data/dims"),
                dir.str("z/b.jsonl.zst")},
               dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(parser.parse(r.out).get(s));
  EXPECT_EQ(at(s, "/streams/impressions/read"), 15u);
  EXPECT_EQ(at(s, "/streams/impressions/stored"), 5u);
}

TEST_F(IngestE2E, AnUnreadableFileFailsAlone) {
  write_file(dir.path() / "data/impressions/part-0.jsonl.gz", "\x1f\x8b\x08\x00garbage that is not deflate");
  CommandResult r = ingest();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("part-0.jsonl.gz"), std::string::npos) << r.err;
  simdjson::dom::element s;
  ASSERT_FALSE(parser.parse(r.out).get(s)) << r.out;
  EXPECT_EQ(at(s, "/files_ok"), 3u);
  EXPECT_EQ(at(s, "/streams/impressions/stored"), 4u);
  EXPECT_EQ(at(s, "/streams/clicks_conversions/stored"), 5u);

  r = run_advx({"ingest", "--db", dir.str("new.duckdb"), dir.str("does-not-exist.jsonl")}, dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does-not-exist.jsonl"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "new.duckdb"));  // a mistyped path leaves no empty database behind
}

TEST(IngestLimits, AnEndlessRecordFailsItsFileWithBoundedMemory) {
  // A stray opening quote early in a CSV file makes the rest of the file one pending record: the file
  // fails with a clear message once that record passes --max-record-mb, and the rows before it are kept.
  TempDir dir;
  std::string csv = "event_id,event_timestamp,user_id,ad_campaign_id\ne1,2026-11-01T10:00:00Z,u1,c1\n";
  csv += "e2,2026-11-01T10:00:00Z,\"u2,c1\n";
  // Larger than a read block (4 MB), so the pending record cannot be completed within one.
  for (int i = 0; csv.size() < (9u << 20); i++)
    csv += "e" + std::to_string(i) + ",2026-11-01T10:00:00Z,u,c1\n";
  write_file(dir.path() / "events.csv", csv);
  CommandResult r = run_advx(
      {"ingest", "--db", dir.str("l.duckdb"), "--max-record-mb", "1", "--json", dir.str("events.csv")},
      dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("longer than 1 MB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("events.csv"), std::string::npos) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element s;
  ASSERT_FALSE(parser.parse(r.out).get(s)) << r.out;
  EXPECT_EQ(at(s, "/streams/clicks_conversions/stored"), 1u);
  EXPECT_EQ(at(s, "/files_ok"), 0u);
}

TEST(IngestJson, SummaryIsValidJsonWhateverTheHeaderBytes) {
  // A CSV header naming an unknown column (a quoted field) with bytes that are not UTF-8 (0xFF, 0xFE), a
  // quote, a backslash and a control character: --json still prints valid JSON (it once copied the bytes).
  TempDir dir;
  write_file(dir.path() / "events.csv",
             "event_id,event_timestamp,user_id,ad_campaign_id,\"col\xff\"\"x\\y\x01\xfe\"\n"
             "e1,2026-11-01T10:00:00Z,u1,c1,a\ne2,2026-11-01T10:00:01Z,u2,c1,b\n");
  CommandResult r =
      run_advx({"ingest", "--db", dir.str("j.duckdb"), "--json", dir.str("events.csv")}, dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element s;
  ASSERT_FALSE(parser.parse(r.out).get(s)) << r.out;  // simdjson validates UTF-8 as well as the syntax
  EXPECT_EQ(at(s, "/streams/clicks_conversions/stored"), 2u);
  simdjson::dom::object unknown;
  ASSERT_FALSE(s.at_pointer("/streams/clicks_conversions/unknown_fields").get(unknown)) << r.out;
  ASSERT_EQ(unknown.size(), 1u) << r.out;
  const auto field = *unknown.begin();
  EXPECT_EQ(field.key, "col\xEF\xBF\xBD\"x\\y\x01\xEF\xBF\xBD");  // each stray byte is U+FFFD
  EXPECT_EQ(uint64_t(field.value.get_uint64().value_unsafe()), 2u);
}

TEST(Cli, HelpAndUsageErrors) {
  TempDir dir;
  for (const char* cmd : {"gen", "ingest", "sql"}) {
    CommandResult r = run_advx({cmd, "--help"}, dir.str());
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
  CommandResult r = run_advx({"ingest"}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("paths"), std::string::npos) << r.err;
  r = run_advx({"frobnicate"}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  r = run_advx({"ingest", "--future-skew", "-5", "x"}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  r = run_advx({"sql", "--db", dir.str("none.duckdb"), "SELECT 1"}, dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("none.duckdb"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
}

// --geoip: the country of impressions that name an IP but no country (SPEC 2.5); a file that is not a
// MaxMind database is a usage error of one line, before any database is created.
TEST(IngestGeoIp, CountryFromIpAndAClearErrorForABadFile) {
  TempDir dir;
  ASSERT_EQ(std::system(("perl '" + std::string(ADVX_SOURCE_DIR) + "/tests/data/write_test_mmdb.pl' '" +
                         dir.str("geo.mmdb") + "'")
                            .c_str()),
            0);
  std::string lines;
  for (const char* ip : {"203.0.113.7", "2001:db8::1", "192.0.2.1"})
    lines += std::string(R"({"impression_id":")") + ip + R"(","ad_creative_id":"cr1","user_id":"u1",)" +
             R"("timestamp":"2026-11-01T10:00:00Z","website":"a.com","ip":")" + ip + "\"}\n";
  lines +=
      R"({"impression_id":"own","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z",)"
      R"("website":"a.com","ip":"203.0.113.7","country":"FR"})"
      "\n";
  write_file(dir.str("imps.jsonl"), lines);
  CommandResult r = run_advx(
      {"ingest", "--db", dir.str("g.duckdb"), "--geoip", dir.str("geo.mmdb"), "-q", dir.str("imps.jsonl")},
      dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      sql_rows(dir.str("g.duckdb"),
               "SELECT impression_id, coalesce(country, 'NULL') FROM impressions ORDER BY impression_id",
               dir.str()),
      "192.0.2.1,NULL\n2001:db8::1,DE\n203.0.113.7,US\nown,FR\n");
  r = run_advx(
      {"ingest", "--db", dir.str("bad.duckdb"), "--geoip", dir.str("imps.jsonl"), dir.str("imps.jsonl")},
      dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("imps.jsonl: not a MaxMind database"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.str("bad.duckdb")));
}

TEST_F(IngestE2E, SqlIsReadOnly) {
  ASSERT_EQ(ingest().exit_code, 0);
  for (const char* q : {"DELETE FROM impressions", "DROP TABLE rejects", "CREATE TABLE t (a INT)",
                        "COPY impressions TO '/tmp/advx-x.csv'", "ATTACH '/tmp/advx-other.duckdb' AS o",
                        "SELECT * FROM read_csv('/etc/passwd')", "INSTALL httpfs"}) {
    CommandResult r = run_advx({"sql", "--db", db, q}, dir.str());
    EXPECT_EQ(r.exit_code, 1) << q;
    EXPECT_FALSE(r.err.empty()) << q;
  }
  EXPECT_EQ(sql("SELECT count(*) FROM impressions"), "count_star()\n4\n");
}

}  // namespace
}  // namespace advx::test
