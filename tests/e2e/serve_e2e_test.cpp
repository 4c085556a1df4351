// advx serve through the binary: the same generated data through the HTTP collector and through advx ingest
// gives the same counts and identical reports (on DuckDB and on ClickHouse); SIGTERM commits and exits 0;
// usage errors are one line.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "serve_runner.hpp"
#include "store_target.hpp"

namespace advx::test {
namespace {

namespace fs = std::filesystem;

std::string gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, uLong(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

class ServeE2EStores : public ::testing::TestWithParam<StoreKind> {};

TEST_P(ServeE2EStores, HttpCollectorEqualsIngest) {
  TempDir dir;
  const StoreTarget store(GetParam(), dir);
  ASSERT_EQ(store.error(), "");
  ASSERT_EQ(run_advx({"gen", "--out", dir.str("data"), "--impressions", "20000", "--seed", "5", "--files",
                      "2", "--quiet"},
                     dir.str())
                .exit_code,
            0);
  CommandResult batch =
      store.run("batch", {"ingest", "--dims", dir.str("data/dims"), "--json", "-q", dir.str("data")});
  ASSERT_EQ(batch.exit_code, 0) << batch.err;

  // With a dedup budget of 1 MB, below the ~70k keys: most spill to disk, and nothing may change. The
  // store comes from the config's [store] url.
  write_file(dir.str("serve.toml"), "[pipeline]\ndedup_memory_mb = 1\n" + store.config("serve"));
  ServeProcess serve(
      {"--config", dir.str("serve.toml"), "--dims", dir.str("data/dims"), "--http", "127.0.0.1:0"},
      dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  ASSERT_GT(serve.port(), 0) << serve.first_line();
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
  EXPECT_EQ(http_request("GET", base + "/healthz").status, 200);
  EXPECT_EQ(http_request("GET", base + "/readyz").status, 200);

  // The files in the order advx ingest reads them (sorted paths), so that "the first copy is kept" picks
  // the same copies.
  const std::vector<std::string> files = generated_files(dir.path() / "data");
  std::map<std::string, std::map<std::string, long long>> got;  // endpoint -> counter -> sum
  int requests = 0;
  for (const auto& f : files) {
    const std::string ext = fs::path(f).extension().string();
    const std::string endpoint = ext == ".jsonl" ? "/v1/impressions"
                                 : ext == ".csv" ? "/v1/events"
                                                 : "/v1/bid-requests";
    const std::string content = slurp(f);
    std::vector<std::string> bodies =
        ext == ".avro" ? std::vector<std::string>{content} : pieces(content, ext == ".csv", 1000);
    for (const std::string& body : bodies) {
      const bool zip = requests++ % 5 == 0;  // some bodies gzip-compressed
      HttpAnswer a =
          http_request("POST", base + endpoint, zip ? gzip(body) : body,
                       zip ? std::vector<std::string>{"Content-Encoding: gzip"} : std::vector<std::string>{});
      ASSERT_EQ(a.status, 200) << endpoint << " " << a.body;
      for (const char* k : {"read", "stored", "rejected", "filtered", "duplicates"})
        got[endpoint][k] += json_number(a.body, k);
    }
  }
  EXPECT_GT(requests, 20);
  // Answers add up, and equal the batch summary per stream.
  const std::map<std::string, std::string> stream_of = {{"/v1/impressions", "impressions"},
                                                        {"/v1/events", "clicks_conversions"},
                                                        {"/v1/bid-requests", "bid_requests"}};
  for (const auto& [endpoint, counts] : got) {
    SCOPED_TRACE(endpoint);
    EXPECT_EQ(counts.at("read"),
              counts.at("stored") + counts.at("rejected") + counts.at("filtered") + counts.at("duplicates"));
    const std::string& s = batch.out;
    const size_t at = s.find("\"" + stream_of.at(endpoint) + "\":{");
    ASSERT_NE(at, std::string::npos) << s;
    const std::string section = s.substr(at, s.find('}', at) - at);
    for (const char* k : {"read", "stored", "duplicates"})
      EXPECT_EQ(counts.at(k), json_number(section, k)) << k;
  }
  // The counters of /metrics say the same.
  HttpAnswer metrics = http_request("GET", base + "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("advx_events_stored_total{stream=\"impressions\"} " +
                              std::to_string(got["/v1/impressions"]["stored"]) + "\n"),
            std::string::npos)
      << metrics.body.substr(0, 2000);
  EXPECT_NE(metrics.body.find("advx_events_duplicates_total{stream=\"bid_requests\"} " +
                              std::to_string(got["/v1/bid-requests"]["duplicates"]) + "\n"),
            std::string::npos);
  const size_t disk = metrics.body.find("advx_dedup_keys{tier=\"disk\"} ");
  ASSERT_NE(disk, std::string::npos);
  EXPECT_GT(std::stoll(metrics.body.substr(disk + 29)), 20'000) << metrics.body.substr(disk, 60);
  // A query while it runs, then SIGTERM: everything committed, exit 0.
  HttpAnswer q = http_request("POST", base + "/v1/sql", "SELECT count(*) AS n FROM impressions");
  EXPECT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));

  // The same rows: DuckDB's SQL, or ClickHouse's over one version of each row.
  std::vector<std::string> queries =
      store.clickhouse()
          ? std::vector<std::string>{"SELECT count(*), count(DISTINCT event_key) FROM impressions",
                                     "SELECT (SELECT count(*) FROM " + store.table("clicks") +
                                         "), (SELECT count(*) FROM " + store.table("conversions") +
                                         "), (SELECT countIf(won = 1) FROM " + store.table("bid_requests") +
                                         ")",
                                     "SELECT reason, count(*) FROM rejects GROUP BY reason ORDER BY reason",
                                     "SELECT * FROM " + store.hourly() + " ORDER BY hour, campaign_id"}
          : std::vector<std::string>{
                "SELECT count(*), count(DISTINCT event_key) FROM impressions",
                "SELECT (SELECT count(*) FROM clicks), (SELECT count(*) FROM conversions), "
                "(SELECT count(*) FILTER (won) FROM bid_requests)",
                "SELECT reason, count(*) FROM rejects GROUP BY ALL ORDER BY ALL",
                "SELECT * FROM campaign_hourly ORDER BY hour, campaign_id"};
  for (const std::string& q : store.attribution_digests()) queries.push_back(q);
  for (const std::string& query : queries) {
    const std::string batch_rows = store.sql("batch", query);
    EXPECT_GE(std::count(batch_rows.begin(), batch_rows.end(), '\n'), 1) << query;
    EXPECT_EQ(store.sql("serve", query), batch_rows) << query;
  }
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"campaigns", "--by", "day"}, {"campaigns", "--by", "site"}, {"funnel"}, {"latency"}}) {
    EXPECT_EQ(store.report("serve", args), store.report("batch", args)) << args[0];
  }
}

INSTANTIATE_TEST_SUITE_P(, ServeE2EStores, kBothStores);

TEST(ServeE2E, UsageAndConfigErrors) {
  TempDir dir;
  write_file(dir.path() / "bad.toml", "[http]\nlistn = \"127.0.0.1:1\"\n");
  CommandResult r = run_advx({"serve", "--config", dir.str("bad.toml")}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "advx serve: " + dir.str("bad.toml") + ": unknown key listn in [http]\n");
  r = run_advx({"serve", "--http", "nonsense"}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "advx serve: --http must be host:port, e.g. 127.0.0.1:8080 (got \"nonsense\")\n");
  write_file(dir.path() / "timeout.toml", "[http]\nquery_timeout_s = 0\n");
  r = run_advx({"serve", "--config", dir.str("timeout.toml")}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "advx serve: " + dir.str("timeout.toml") +
                       ": [http] query_timeout_s must be at least 0.001 (seconds)\n");
  r = run_advx({"serve", "--query-timeout", "-1"}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "advx serve: --query-timeout must be a number of seconds of at least 0.001\n");
  r = run_advx({"serve", "--no-http"}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nothing to serve"), std::string::npos) << r.err;
  write_file(dir.path() / "geo.toml", "[pipeline]\ngeoip = \"" + dir.str("bad.toml") + "\"\n");
  r = run_advx({"serve", "--config", dir.str("geo.toml"), "--db", dir.str("s.duckdb")}, dir.str());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("advx serve: geoip " + dir.str("bad.toml") + ": not a MaxMind database"),
            std::string::npos)
      << r.err;
  r = run_advx({"serve", "--help"}, dir.str());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--kafka-brokers"), std::string::npos);
}

// Two servers cannot share a port: the second says so in one line and exits 1.
TEST(ServeE2E, PortInUseIsAClearError) {
  TempDir dir;
  ServeProcess first({"--db", dir.str("a.duckdb"), "--http", "127.0.0.1:0"}, dir.str("a.log"));
  ASSERT_TRUE(first.started());
  CommandResult r =
      run_advx({"serve", "--db", dir.str("b.duckdb"), "--http", "127.0.0.1:" + std::to_string(first.port())},
               dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(first.kill(SIGTERM), 0);
}

// Issue 11: with --token, /v1/sql returned user ids and IPs to anyone. Now every endpoint but /healthz and
// /readyz needs the token (the route table is walked route by route in tests/unit/server); metrics_public
// (config or flag) opens /metrics alone.
TEST(ServeE2E, TheTokenProtectsEverythingButHealth) {
  TempDir dir;
  {
    ServeProcess serve({"--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0", "--token", "s3cret"},
                       dir.str("serve.log"));
    ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
    const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
    const std::string auth = "Authorization: Bearer s3cret";
    HttpAnswer a = http_request("GET", base + "/v1/sql?q=SELECT%20user_id,%20ip%20FROM%20impressions");
    EXPECT_EQ(a.status, 401) << a.body;
    EXPECT_EQ(a.header("WWW-Authenticate"), "Bearer") << a.headers;
    EXPECT_NE(a.body.find(R"("code":"unauthorized")"), std::string::npos) << a.body;
    for (const char* path :
         {"/v1/report/campaigns", "/v1/report/funnel", "/metrics", "/v1/alerts", "/v1/pixel?user_id=u1"})
      EXPECT_EQ(http_request("GET", base + path).status, 401) << path;
    EXPECT_EQ(http_request("POST", base + "/v1/sql", "SELECT 1").status, 401);
    EXPECT_EQ(http_request("POST", base + "/v1/impressions", "{}").status, 401);
    EXPECT_EQ(http_request("GET", base + "/healthz").status, 200);
    EXPECT_EQ(http_request("GET", base + "/readyz").status, 200);
    EXPECT_EQ(http_request("GET", base + "/v1/sql?q=SELECT%201", "", {auth}).status, 200);
    EXPECT_EQ(http_request("GET", base + "/metrics", "", {auth}).status, 200);
    EXPECT_EQ(http_request("GET", base + "/v1/alerts", "", {auth}).status, 200);
    EXPECT_EQ(http_request("GET", base + "/v1/pixel?user_id=u1&token=s3cret").status, 200);
    EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
  }
  write_file(dir.path() / "public.toml", "[http]\ntoken = \"s3cret\"\nmetrics_public = true\n");
  const std::vector<std::vector<std::string>> ways = {{"--config", dir.str("public.toml")},
                                                      {"--token", "s3cret", "--metrics-public"}};
  for (const std::vector<std::string>& way : ways) {
    std::vector<std::string> args = {"--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"};
    args.insert(args.end(), way.begin(), way.end());
    ServeProcess serve(args, dir.str("serve.log"));
    ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
    const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
    const HttpAnswer m = http_request("GET", base + "/metrics");
    EXPECT_EQ(m.status, 200) << way[0];
    EXPECT_NE(m.body.find("advx_up 1\n"), std::string::npos);
    EXPECT_EQ(http_request("GET", base + "/v1/sql?q=SELECT%201").status, 401) << way[0];
    EXPECT_EQ(http_request("GET", base + "/v1/report/campaigns").status, 401) << way[0];
    EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
  }
}

// 5e11 pairs: hours of work, like SELECT count(*) FROM bid_requests a, bid_requests b WHERE a.user_id <
// b.user_id over 700k bid requests (issue 11), without having to store them first.
const std::string kRunawaySql =
    "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range < b.range";

// Joins a client thread when the scope ends, also when an assertion returned early (a thread left joinable
// would end the test program): the server is killed first, so that its request ends.
struct JoinAtExit {
  std::thread& thread;
  ServeProcess& serve;
  ~JoinAtExit() {
    if (!thread.joinable()) return;
    serve.kill(SIGKILL);
    thread.join();
  }
};

// Polls /metrics until `line` is in it, for up to 60 s.
bool wait_for_metric(const std::string& base, const std::string& line) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_request("GET", base + "/metrics").body.find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Issue 11: a runaway query ran on after its client gave up and held every other query for over 55 s. Now
// it is interrupted at query_timeout_s and answered 504; while it runs, health, a cheap query, a report and
// an ingest request are each answered before it is.
TEST(ServeE2E, ARunawayQueryIs504AndDelaysNeitherHealthNorQueriesNorIngest) {
  TempDir dir;
  write_file(dir.path() / "serve.toml", "[http]\nquery_timeout_s = 2\n");
  ServeProcess serve(
      {"--config", dir.str("serve.toml"), "--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"},
      dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
  std::atomic<bool> runaway_answered{false};
  HttpAnswer runaway;
  std::thread t([&] {
    runaway = http_request("POST", base + "/v1/sql", kRunawaySql);
    runaway_answered = true;
  });
  JoinAtExit cleanup{t, serve};
  ASSERT_TRUE(wait_for_metric(base, "advx_queries_running 1\n"));
  EXPECT_FALSE(runaway_answered);
  EXPECT_EQ(http_request("GET", base + "/healthz").status, 200);
  EXPECT_FALSE(runaway_answered);
  const HttpAnswer cheap = http_request("GET", base + "/v1/sql?q=SELECT%2042%20AS%20n");
  EXPECT_EQ(cheap.status, 200);
  EXPECT_EQ(cheap.body, "[\n  {\"n\": 42}\n]\n");
  EXPECT_FALSE(runaway_answered);
  EXPECT_EQ(http_request("GET", base + "/v1/report/campaigns").status, 200);
  EXPECT_FALSE(runaway_answered);
  const HttpAnswer ingest = http_request(
      "POST", base + "/v1/impressions",
      R"({"impression_id":"i1","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z",)"
      R"("website":"a.com"})");
  EXPECT_EQ(ingest.status, 200) << ingest.body;
  EXPECT_EQ(json_number(ingest.body, "read"), 1) << ingest.body;
  EXPECT_FALSE(runaway_answered);
  t.join();
  EXPECT_EQ(runaway.status, 504) << runaway.body;
  EXPECT_EQ(runaway.body,
            R"({"error":"the query ran past the 2 s timeout ([http] query_timeout_s) and was interrupted",)"
            R"("code":"query_timeout"})");
  EXPECT_TRUE(wait_for_metric(base, "advx_queries_total{outcome=\"timeout\"} 1\n"));
  EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
}

// Issue 11: SIGTERM did not stop serve within 30 s while a query ran. Now the running query is interrupted
// and answered 503 (code shutting_down), and serve commits and exits 0.
TEST(ServeE2E, SigtermDuringARunawayQueryEndsServe) {
  TempDir dir;
  ServeProcess serve({"--db", dir.str("s.duckdb"), "--http", "127.0.0.1:0"}, dir.str("serve.log"));
  ASSERT_TRUE(serve.started()) << slurp(dir.str("serve.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(serve.port());
  HttpAnswer runaway;
  std::thread t([&] { runaway = http_request("POST", base + "/v1/sql", kRunawaySql); });
  JoinAtExit cleanup{t, serve};
  ASSERT_TRUE(wait_for_metric(base, "advx_queries_running 1\n"));
  // kill() waits for the exit for up to 60 s (then SIGKILL and -2): the default query timeout is 30 s, so
  // an exit that waited for the query to end by itself could not pass either.
  EXPECT_EQ(serve.kill(SIGTERM), 0) << slurp(dir.str("serve.log"));
  t.join();
  EXPECT_EQ(runaway.status, 503) << runaway.body;
  EXPECT_EQ(runaway.body, R"({"error":"shutting down: the query was interrupted","code":"shutting_down"})");
}

// advx sql --timeout: a query past it is interrupted; exit 1 and one line on stderr.
TEST(SqlE2E, ARunawayQueryPastItsTimeoutExitsOneWithOneLine) {
  TempDir dir;
  write_file(
      dir.path() / "in" / "i.jsonl",
      R"({"impression_id":"i1","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z",)"
      R"("website":"a.com"})"
      "\n");
  ASSERT_EQ(run_advx({"ingest", "--db", dir.str("x.duckdb"), "-q", dir.str("in")}, dir.str()).exit_code, 0);
  CommandResult r = run_advx({"sql", "--db", dir.str("x.duckdb"), "--timeout", "1", kRunawaySql}, dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "advx sql: the query ran past the 1 s timeout (--timeout) and was interrupted\n");
  EXPECT_EQ(r.out, "");
  // a query within its timeout is unchanged
  r = run_advx({"sql", "--db", dir.str("x.duckdb"), "--timeout", "60", "--format", "csv",
                "SELECT count(*) AS n FROM impressions"},
               dir.str());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "n\n1\n");
  r = run_advx({"sql", "--db", dir.str("x.duckdb"), "--timeout", "0", "SELECT 1"}, dir.str());
  EXPECT_NE(r.exit_code, 0);  // a timeout must be positive
}

}  // namespace
}  // namespace advx::test
