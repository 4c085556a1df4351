// The HTTP server of advx serve, over real HTTP (libcurl on 127.0.0.1) with fake engine hooks, and a real
// in-memory DuckDB store behind the query API.
#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "server/http_json.hpp"
#include "server/query_pool.hpp"
#include "store/duckdb/duckdb_reports.hpp"
#include "store/duckdb/duckdb_store.hpp"
#include "store/result_format.hpp"

namespace advx {
namespace {

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { curl_global_init(CURL_GLOBAL_DEFAULT); }
  void TearDown() override { curl_global_cleanup(); }
};
[[maybe_unused]] ::testing::Environment* const kCurl =
    ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

// ---------------------------------------------------------------------------------------------------------
// A libcurl client

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // of the final answer; names in lower case
  long connects = 0;                                         // CURLINFO_NUM_CONNECTS: new connections made

  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return "";
  }
};

struct Call {
  std::string method = "GET";
  std::string path;
  std::optional<std::string> body;
  std::vector<std::string> headers;
  bool chunked = false;  // send the body with Transfer-Encoding: chunked, in pieces of 1000 bytes
};

class Client {
 public:
  explicit Client(int port) : port_(port), curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Reply get(const std::string& path, std::vector<std::string> headers = {}) {
    Call c;
    c.path = path;
    c.headers = std::move(headers);
    return send(c);
  }

  Reply post(const std::string& path, std::string body, std::vector<std::string> headers = {}) {
    Call c;
    c.method = "POST";
    c.path = path;
    c.body = std::move(body);
    c.headers = std::move(headers);
    return send(c);
  }

  Reply send(const Call& call) {
    curl_easy_reset(curl_);  // keeps the open connections
    Reply reply;
    Upload upload{call.body ? *call.body : std::string(), 0};
    const std::string url = "http://127.0.0.1:" + std::to_string(port_) + call.path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 60L);  // a hang fails the test instead of blocking it
    curl_slist* headers = nullptr;
    for (const std::string& h : call.headers) headers = curl_slist_append(headers, h.c_str());
    if (call.method == "POST") {
      curl_easy_setopt(curl_, CURLOPT_POST, 1L);
      if (call.chunked) {
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        curl_easy_setopt(curl_, CURLOPT_READFUNCTION, &Client::read_upload);
        curl_easy_setopt(curl_, CURLOPT_READDATA, &upload);
      } else {
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, upload.data.data());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(upload.data.size()));
      }
    } else if (call.method == "HEAD") {
      curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    } else {
      if (call.body) {  // e.g. a GET with a body
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, upload.data.data());
        curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(upload.data.size()));
      }
      if (call.method != "GET" || call.body)
        curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Client::write_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &Client::write_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &reply);
    reply.code = curl_easy_perform(curl_);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &reply.connects);
    curl_slist_free_all(headers);
    return reply;
  }

 private:
  struct Upload {
    std::string data;
    size_t offset;
  };

  static size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
    auto* u = static_cast<Upload*>(user);
    const size_t n = std::min({size * count, u->data.size() - u->offset, size_t{1000}});
    std::copy_n(u->data.data() + u->offset, n, buffer);
    u->offset += n;
    return n;
  }

  static size_t write_body(char* data, size_t size, size_t count, void* user) {
    static_cast<Reply*>(user)->body.append(data, size * count);
    return size * count;
  }

  static size_t write_header(char* data, size_t size, size_t count, void* user) {
    auto* reply = static_cast<Reply*>(user);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) reply->headers.clear();  // a 100 Continue came first
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.remove_suffix(1);
      reply->headers.emplace_back(std::move(name), std::string(value));
    }
    return size * count;
  }

  int port_;
  CURL* curl_;
};

// Sends `bytes` on a fresh connection and returns everything received until the server closes it.
std::string raw_exchange(int port, std::string_view bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval timeout{60, 0};  // a hang fails the test instead of blocking it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;)
      out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

size_t count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// gzip of `n` zero bytes, compressed as a stream (the input is never held whole).
std::string gzip_zeros(size_t n) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string zeros(1 << 16, '\0');
  std::string out;
  char buffer[1 << 16];
  size_t left = n;
  int flush = Z_NO_FLUSH;
  do {
    if (zs.avail_in == 0) {
      const size_t take = std::min(left, zeros.size());
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
      zs.avail_in = static_cast<uInt>(take);
      left -= take;
      flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    }
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    const int rc = deflate(&zs, flush);
    out.append(buffer, sizeof(buffer) - zs.avail_out);
    if (rc == Z_STREAM_END) break;
  } while (true);
  deflateEnd(&zs);
  return out;
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// A fake engine: records every Submission (without its `done`) and calls done with `result` from a thread
// of its own, as the engine thread would; or refuses; or holds the done calls until released.

class FakeEngine {
 public:
  enum class Mode { answer, refuse, hold };

  ~FakeEngine() {
    release();
    for (auto& t : threads_) t.join();
  }

  void set_mode(Mode m) {
    std::lock_guard lock(mutex_);
    mode_ = m;
  }
  void set_result(SubmitResult r) {
    std::lock_guard lock(mutex_);
    result_ = std::move(r);
  }

  bool submit(Submission s) {
    std::lock_guard lock(mutex_);
    if (mode_ == Mode::refuse) return false;
    auto done = std::move(s.done);
    s.done = nullptr;
    seen_.push_back(std::move(s));
    if (mode_ == Mode::hold) {
      held_.push_back(std::move(done));
      changed_.notify_all();
    } else {
      threads_.emplace_back([done = std::move(done), r = result_] { done(r); });
    }
    return true;
  }

  std::vector<Submission> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  void wait_for_held(size_t n) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return held_.size() >= n; });
  }

  void release() {
    std::vector<std::function<void(const SubmitResult&)>> held;
    SubmitResult r;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
      r = result_;
    }
    for (auto& done : held) done(r);
  }

  std::function<bool(Submission)> hook() {
    return [this](Submission s) { return submit(std::move(s)); };
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Mode mode_ = Mode::answer;
  SubmitResult result_;
  std::vector<Submission> seen_;
  std::vector<std::function<void(const SubmitResult&)>> held_;
  std::vector<std::thread> threads_;
};

SubmitResult ok_result() {
  SubmitResult r;
  r.read = 9;
  r.stored = 5;
  r.duplicates = 1;
  r.late = 1;
  r.by_reason[static_cast<size_t>(Reason::malformed_json)] = 1;
  r.by_reason[static_cast<size_t>(Reason::bot_user_agent)] = 2;
  return r;
}
constexpr std::string_view kOkJson =
    R"j({"read":9,"stored":5,"rejected":1,"filtered":2,"duplicates":1,"late":1,)j"
    R"j("reasons":{"malformed_json":1,"bot_user_agent":2}})j";

const std::string kGif = std::string(
    "\x47\x49\x46\x38\x39\x61\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xFF\xFF\xFF\x21\xF9\x04\x01\x00\x00\x00"
    "\x00\x2C\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3B",
    43);

// The in-memory store behind the query API: campaigns c1 and c2, impressions i1 and i2 of c1 on two days
// and i3 of c2, a click of c1.
class MemoryStore {
 public:
  MemoryStore() {
    store_.ensure_schema();
    store_.execute(
        "INSERT INTO campaigns BY NAME SELECT * FROM (VALUES ('c1', 'adv1'), ('c2', 'adv2')) "
        "v(campaign_id, advertiser_id)");
    store_.execute(
        "INSERT INTO impressions BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS "
        "event_hour FROM (VALUES "
        "('i1', TIMESTAMP '2026-11-01 10:00:00', 'cr1', 'c1', 'u1', 'a.com', 2.0), "
        "('i2', TIMESTAMP '2026-11-02 11:00:00', 'cr1', 'c1', 'u2', 'b.com', 1.0), "
        "('i3', TIMESTAMP '2026-11-01 12:00:00', 'cr3', 'c2', 'u3', 'a.com', 4.0)) "
        "v(event_key, event_time, creative_id, campaign_id, user_id, site, win_price_cpm)");
    store_.execute(
        "INSERT INTO clicks BY NAME SELECT *, event_time::DATE AS event_date, hour(event_time) AS event_hour "
        "FROM (VALUES ('k1', TIMESTAMP '2026-11-01 10:00:30', 'u1', 'c1', 'cr1', 'attributed', 'i1', 30.0)) "
        "v(event_key, event_time, user_id, campaign_id, creative_id, attribution, attributed_impression_key, "
        "seconds_from_impression)");
  }

  ResultTable query(const std::string& sql) {
    std::lock_guard lock(mutex_);
    last_sql_ = sql;
    return store_.query_read_only(sql);
  }

  // The report's SQL is recorded as DuckDB runs it.
  ResultTable report(const ReportRequest& q) {
    std::lock_guard lock(mutex_);
    last_sql_ = report::report_sql(q);
    return store_.report(q);
  }

  std::string last_sql() {
    std::lock_guard lock(mutex_);
    return last_sql_;
  }

  std::function<ResultTable(const std::string&)> hook() {
    return [this](const std::string& sql) { return query(sql); };
  }
  std::function<ResultTable(const ReportRequest&)> report_hook() {
    return [this](const ReportRequest& q) { return report(q); };
  }

  // Read connections of their own, for a QueryPool.
  std::vector<std::unique_ptr<Store>> connections(int n) {
    std::vector<std::unique_ptr<Store>> out;
    for (int i = 0; i < n; i++) out.push_back(store_.another_connection());
    return out;
  }

 private:
  std::mutex mutex_;
  DuckDbStore store_{":memory:"};
  std::string last_sql_;
};

// ---------------------------------------------------------------------------------------------------------

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() { engine.set_result(ok_result()); }

  // Starts a server on a free port with the fake engine (unless hooks.submit is set) and the store.
  void start(HttpServerOptions options = {}, ServerHooks hooks = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    if (!hooks.submit) hooks.submit = engine.hook();
    if (!hooks.query && pool)
      hooks.query = [p = pool.get()](const std::string& sql) { return p->query_read_only(sql); };
    if (!hooks.query) hooks.query = store.hook();
    if (!hooks.report && pool)
      hooks.report = [p = pool.get()](const ReportRequest& q) { return p->report(q); };
    if (!hooks.report) hooks.report = store.report_hook();
    server = std::make_unique<HttpServer>(std::move(options), std::move(hooks));
    std::string error;
    ASSERT_TRUE(server->start(&error)) << error;
    ASSERT_GT(server->port(), 0);
    client = std::make_unique<Client>(server->port());
  }

  // Stops the server: every connection thread has ended when it returns.
  void stop() { server->stop(); }

  // A query pool over the store's own connections; hooks.query runs on it from then on.
  void use_query_pool(int workers, std::chrono::milliseconds timeout) {
    QueryPoolOptions o;
    o.timeout = timeout;
    o.timeout_setting = "(test)";
    pool = std::make_unique<QueryPool>(store.connections(workers), o);
  }

  FakeEngine engine;
  MemoryStore store;
  std::unique_ptr<QueryPool> pool;     // set by use_query_pool
  std::unique_ptr<HttpServer> server;  // after engine, store and pool: destroyed (stopped) before them
  std::unique_ptr<Client> client;
};

void expect_json_answer(const Reply& r, long status, std::string_view body) {
  EXPECT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, status);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.header("content-type"), "application/json");
}

// ---------------------------------------------------------------------------------------------------------
// Ingest

TEST_F(HttpServerTest, ImpressionsAreSubmittedAsJsonAndAnsweredAfterTheCommit) {
  start();
  const std::string body = "{\"ad_creative_id\":\"1\"}\n{\"ad_creative_id\":\"2\"}\n";
  expect_json_answer(client->post("/v1/impressions", body), 200, kOkJson);
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].stream, Stream::impressions);
  EXPECT_EQ(seen[0].format, BodyFormat::json);
  EXPECT_EQ(seen[0].body, body);
  EXPECT_TRUE(seen[0].source.starts_with("http:/v1/impressions#")) << seen[0].source;
  EXPECT_EQ(seen[0].record_base, 0);
  EXPECT_EQ(seen[0].schema_json, nullptr);
  EXPECT_EQ(seen[0].schema_id, -1);
  EXPECT_FALSE(seen[0].kafka.has_value());
}

TEST_F(HttpServerTest, AJsonArrayIsPassedAsItIs) {
  start();
  const std::string body = R"j([{"a":1},{"a":2}])j";
  expect_json_answer(client->post("/v1/impressions", body), 200, kOkJson);
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, body);
}

TEST_F(HttpServerTest, AnAnswerWithoutRejectsListsNoReasons) {
  SubmitResult r;
  r.read = 2;
  r.stored = 2;
  engine.set_result(r);
  start();
  expect_json_answer(
      client->post("/v1/impressions", "{}\n{}\n"), 200,
      R"j({"read":2,"stored":2,"rejected":0,"filtered":0,"duplicates":0,"late":0,"reasons":{}})j");
}

TEST_F(HttpServerTest, EventsAreSubmittedAsCsv) {
  start();
  const std::string body = "event_timestamp,user_id,ad_campaign_id\r\n2026-11-01T00:00:00Z,u1,c1\r\n";
  expect_json_answer(client->post("/v1/events", body), 200, kOkJson);
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].stream, Stream::events);
  EXPECT_EQ(seen[0].format, BodyFormat::csv);
  EXPECT_EQ(seen[0].body, body);
  EXPECT_TRUE(seen[0].source.starts_with("http:/v1/events#")) << seen[0].source;
}

TEST_F(HttpServerTest, AnAvroContainerFileIsSubmittedAsItIs) {
  start();
  const std::string body(
      "Obj\x01\x04\x14"
      "avro.codec\x08null\x00"
      "0123456789abcdef",
      37);
  expect_json_answer(client->post("/v1/bid-requests", body), 200, kOkJson);
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].stream, Stream::bid_requests);
  EXPECT_EQ(seen[0].format, BodyFormat::avro_ocf);
  EXPECT_EQ(seen[0].body, body);
  EXPECT_EQ(seen[0].schema_json, nullptr);
  EXPECT_TRUE(seen[0].source.starts_with("http:/v1/bid-requests#")) << seen[0].source;
}

TEST_F(HttpServerTest, AConfluentDatumIsLengthPrefixedWithItsWriterSchema) {
  auto schema = std::make_shared<const std::string>(R"j({"type":"record","name":"r","fields":[]})j");
  std::mutex mutex;
  std::vector<int32_t> asked;
  ServerHooks hooks;
  hooks.schema_for_id = [&](int32_t id, std::string*) {
    std::lock_guard lock(mutex);
    asked.push_back(id);
    return schema;
  };
  start({}, hooks);
  // magic 0, schema id 0x0102A3F4 big-endian, a 300-byte datum (its length needs two bytes)
  std::string datum(300, 'x');
  datum[0] = '\0';
  datum[299] = '\xFF';
  const std::string body = std::string("\x00\x01\x02\xA3\xF4", 5) + datum;
  expect_json_answer(client->post("/v1/bid-requests", body), 200, kOkJson);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(asked, std::vector<int32_t>{0x0102A3F4});
  }
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].stream, Stream::bid_requests);
  EXPECT_EQ(seen[0].format, BodyFormat::avro_datums);
  EXPECT_EQ(seen[0].body, std::string("\x2C\x01\x00\x00", 4) + datum);  // 300 = 0x012C little-endian
  EXPECT_EQ(seen[0].schema_json, schema);
  EXPECT_EQ(seen[0].schema_id, 0x0102A3F4);
}

TEST_F(HttpServerTest, AnUnknownSchemaIdIs400) {
  ServerHooks hooks;
  hooks.schema_for_id = [](int32_t id, std::string* error) {
    *error = "unknown schema id " + std::to_string(id);
    return std::shared_ptr<const std::string>();
  };
  start({}, hooks);
  expect_json_answer(client->post("/v1/bid-requests", std::string("\x00\x00\x00\x00\x2A\x02", 6)), 400,
                     R"j({"error":"unknown schema id 42"})j");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, ASchemaRegistryThatCannotBeReachedIs503) {
  ServerHooks hooks;
  hooks.schema_for_id = [](int32_t, std::string*) -> std::shared_ptr<const std::string> {
    throw std::runtime_error("connection refused");
  };
  HttpServerOptions options;
  options.retry_after_seconds = 3;
  start(options, hooks);
  const Reply r = client->post("/v1/bid-requests", std::string("\x00\x00\x00\x00\x2A\x02", 6));
  expect_json_answer(r, 503, R"j({"error":"schema registry: connection refused"})j");
  EXPECT_EQ(r.header("retry-after"), "3");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, BidRequestsThatAreNotAvroAre400) {
  ServerHooks hooks;
  hooks.schema_for_id = [](int32_t, std::string*) { return std::make_shared<const std::string>("{}"); };
  start({}, hooks);
  expect_json_answer(
      client->post("/v1/bid-requests", "{\"id\":\"a1\"}"), 400,
      R"j({"error":"not Avro: expected an Object Container File (starting with \"Obj\\x01\") )j"
      R"j(or one Confluent-framed datum (magic byte 0, 4-byte schema id, datum)"})j");
  expect_json_answer(
      client->post("/v1/bid-requests", std::string("\x00\x00\x00\x01", 4)), 400,
      R"j({"error":"a Confluent-framed datum needs a 5-byte header and a datum; got 4 bytes"})j");
  expect_json_answer(
      client->post("/v1/bid-requests", std::string("\x00\x00\x00\x00\x01", 5)), 400,
      R"j({"error":"a Confluent-framed datum needs a 5-byte header and a datum; got 5 bytes"})j");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, AConfluentDatumWithoutARegistryIs400) {
  start();
  expect_json_answer(
      client->post("/v1/bid-requests", std::string("\x00\x00\x00\x00\x2A\x02", 6)), 400,
      R"j({"error":"Confluent-framed datums need a schema registry, and none is configured"})j");
}

TEST_F(HttpServerTest, AnEmptyBodyIs400) {
  start();
  for (const char* path : {"/v1/impressions", "/v1/events", "/v1/bid-requests"})
    expect_json_answer(client->post(path, ""), 400, R"j({"error":"empty body"})j");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, ABodyTheEngineCannotDecodeIs400) {
  SubmitResult r;
  r.status = SubmitResult::Status::bad_input;
  r.error = "not an Avro container file: bad \"magic\"";
  engine.set_result(r);
  start();
  expect_json_answer(client->post("/v1/bid-requests", std::string("Obj\x01zz", 6)), 400,
                     R"j({"error":"not an Avro container file: bad \"magic\""})j");
}

TEST_F(HttpServerTest, AFullEngineIs503WithRetryAfter) {
  engine.set_mode(FakeEngine::Mode::refuse);
  HttpServerOptions options;
  options.retry_after_seconds = 7;
  start(options);
  for (const char* path : {"/v1/impressions", "/v1/events"}) {
    const Reply r = client->post(path, "x");
    expect_json_answer(r, 503, R"j({"error":"overloaded, retry later"})j");
    EXPECT_EQ(r.header("retry-after"), "7");
  }
}

TEST_F(HttpServerTest, AStoreErrorOrAStoppingEngineIs503WithRetryAfter) {
  start();
  SubmitResult r;
  r.status = SubmitResult::Status::store_error;
  r.error = "disk full";
  engine.set_result(r);
  Reply reply = client->post("/v1/impressions", "{}");
  expect_json_answer(reply, 503, R"j({"error":"the store failed, retry later: disk full"})j");
  EXPECT_EQ(reply.header("retry-after"), "1");
  r.status = SubmitResult::Status::shutting_down;
  engine.set_result(r);
  reply = client->post("/v1/impressions", "{}");
  expect_json_answer(reply, 503, R"j({"error":"shutting down, retry later"})j");
  EXPECT_EQ(reply.header("retry-after"), "1");
}

// A request's source is derived from its body (issue 11, docs/SERVE.md "the same request"): two different
// bodies never share one, also from several connections at once; the same body sent again has the same.
TEST_F(HttpServerTest, EveryDifferentBodyHasASourceOfItsOwn) {
  start();
  ASSERT_EQ(client->post("/v1/impressions", "{}").status, 200);
  ASSERT_EQ(client->post("/v1/impressions", "{ }").status, 200);
  ASSERT_EQ(client->post("/v1/impressions", "{}").status, 200);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t] {
      Client c(server->port());
      for (int i = 0; i < 5; ++i)
        EXPECT_EQ(c.get("/v1/pixel?user_id=u" + std::to_string(t * 5 + i)).status, 200);
    });
  }
  for (auto& t : threads) t.join();
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 43u);
  std::set<std::string> sources;
  for (const Submission& s : seen) sources.insert(s.source);
  EXPECT_EQ(sources.size(), 42u);
  EXPECT_NE(seen[0].source, seen[1].source);
  EXPECT_EQ(seen[0].source, seen[2].source);
}

// ---------------------------------------------------------------------------------------------------------
// Bodies: compression and size

TEST_F(HttpServerTest, AGzipBodyIsDecompressedBeforeSubmit) {
  start();
  std::string body;
  for (int i = 0; i < 2000; ++i) body += "{\"user_id\":\"u" + std::to_string(i) + "\"}\n";
  expect_json_answer(client->post("/v1/impressions", gzip(body), {"Content-Encoding: gzip"}), 200, kOkJson);
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, body);
}

TEST_F(HttpServerTest, TheBodyLimitIsInclusive) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  start(options);
  expect_json_answer(client->post("/v1/events", std::string(1000, 'a')), 200, kOkJson);
  const Reply r = client->post("/v1/events", std::string(1001, 'a'));
  expect_json_answer(r, 413, R"j({"error":"body larger than 1000 bytes"})j");
  EXPECT_EQ(r.header("connection"), "close");
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, std::string(1000, 'a'));
}

TEST_F(HttpServerTest, AGzipBombIs413) {
  HttpServerOptions options;
  options.max_body_bytes = 1 << 20;
  start(options);
  const std::string bomb = gzip_zeros(size_t{64} << 20);  // 64 MB of zeros in ~64 KB
  ASSERT_LT(bomb.size(), options.max_body_bytes);
  const Reply r = client->post("/v1/impressions", bomb, {"Content-Encoding: gzip"});
  expect_json_answer(r, 413, R"j({"error":"body larger than 1048576 bytes once decompressed"})j");
  EXPECT_EQ(r.header("connection"), "close");
  // exactly the limit once decompressed is accepted
  expect_json_answer(client->post("/v1/impressions", gzip_zeros(1 << 20), {"Content-Encoding: gzip"}), 200,
                     kOkJson);
  stop();
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, std::string(1 << 20, '\0'));
}

TEST_F(HttpServerTest, AChunkedBodyHasTheSameLimit) {
  HttpServerOptions options;
  options.max_body_bytes = 2500;
  start(options);
  Call call;
  call.method = "POST";
  call.path = "/v1/events";
  call.chunked = true;
  call.body = std::string(2500, 'c');
  expect_json_answer(client->send(call), 200, kOkJson);
  call.body = std::string(2501, 'c');
  expect_json_answer(client->send(call), 413, R"j({"error":"body larger than 2500 bytes"})j");
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, std::string(2500, 'c'));
}

TEST_F(HttpServerTest, AMultipartBodyIs415) {
  start();
  curl_mime* mime = nullptr;
  CURL* curl = curl_easy_init();
  mime = curl_mime_init(curl);
  curl_mimepart* part = curl_mime_addpart(mime);
  curl_mime_name(part, "file");
  curl_mime_data(part, "{}", CURL_ZERO_TERMINATED);
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/v1/impressions";
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* user) {
        static_cast<std::string*>(user)->append(data, size * count);
        return size * count;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_mime_free(mime);
  curl_easy_cleanup(curl);
  EXPECT_EQ(status, 415);
  EXPECT_EQ(body,
            R"j({"error":"multipart/form-data bodies are not accepted: send the data as the body itself"})j");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, ABadGzipStreamIs400) {
  start();
  expect_json_answer(client->post("/v1/impressions", "this is not gzip", {"Content-Encoding: gzip"}), 400,
                     R"j({"error":"cannot read the request body: not valid gzip data, or cut short"})j");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, AnUnsupportedContentEncodingIs415) {
  start();
  expect_json_answer(
      client->post("/v1/impressions", "(zstd)", {"Content-Encoding: zstd"}), 415,
      R"j({"error":"unsupported Content-Encoding 'zstd' (use gzip, deflate, br or identity)"})j");
  EXPECT_TRUE(engine.seen().empty());
}

TEST_F(HttpServerTest, ABodyAnnouncedWithExpectContinueIsRefusedBeforeItIsSent) {
  HttpServerOptions options;
  options.max_body_bytes = 1 << 20;
  options.bearer_token = "s3cret";
  start(options);
  const std::string big((1 << 20) + 1, 'x');
  Reply r = client->post("/v1/impressions", big, {"Expect: 100-continue", "Authorization: Bearer s3cret"});
  expect_json_answer(r, 413, R"j({"error":"body larger than 1048576 bytes"})j");
  r = client->post("/v1/impressions", big, {"Expect: 100-continue"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer");
  expect_json_answer(
      client->post("/v1/impressions", "{}", {"Expect: 100-continue", "Authorization: Bearer s3cret"}), 200,
      kOkJson);
  ASSERT_EQ(engine.seen().size(), 1u);
}

// A refused body is never read: what is left of it must not be taken for the next request on the
// connection. The tails below hold a complete pixel request; the connection closes instead.
TEST_F(HttpServerTest, TheRestOfARefusedBodyIsNeverReadAsARequest) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  start(options);
  const std::string tail = "GET /v1/pixel?user_id=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string body = std::string(1500, 'a') + tail;
  Reply r = client->post("/v1/impressions", body);
  expect_json_answer(r, 413, R"j({"error":"body larger than 1000 bytes"})j");
  EXPECT_EQ(r.header("connection"), "close");
  Call chunked;
  chunked.method = "POST";
  chunked.path = "/v1/impressions";
  chunked.chunked = true;
  chunked.body = body;
  r = client->send(chunked);
  expect_json_answer(r, 413, R"j({"error":"body larger than 1000 bytes"})j");
  EXPECT_EQ(r.connects, 1);  // the first connection was closed
  r = client->post("/nowhere", body);
  expect_json_answer(r, 404, R"j({"error":"not found: /nowhere"})j");
  EXPECT_EQ(r.connects, 1);
  // a GET with a body: cpp-httplib never reads it
  Call get;
  get.path = "/healthz";
  get.body = tail;
  r = client->send(get);
  expect_json_answer(r, 200, R"j({"status":"ok"})j");
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(r.connects, 1);
  // the next request on a fresh connection works
  expect_json_answer(client->get("/healthz"), 200, R"j({"status":"ok"})j");
  stop();  // every connection thread has ended: nothing can still be submitted
  EXPECT_TRUE(engine.seen().empty());
}

// ---------------------------------------------------------------------------------------------------------
// Authentication, routing

TEST_F(HttpServerTest, IngestNeedsTheBearerTokenWhenOneIsSet) {
  HttpServerOptions options;
  options.bearer_token = "s3cret";
  start(options);
  const std::string refusal =
      R"j({"error":"missing or wrong bearer token (send \"Authorization: Bearer <token>\")",)j"
      R"j("code":"unauthorized"})j";
  for (const char* path : {"/v1/impressions", "/v1/events", "/v1/bid-requests"}) {
    Reply r = client->post(path, "x");
    expect_json_answer(r, 401, refusal);
    EXPECT_EQ(r.header("www-authenticate"), "Bearer");
    expect_json_answer(client->post(path, "x", {"Authorization: Bearer wrong"}), 401, refusal);
    expect_json_answer(client->post(path, "x", {"Authorization: Bearer s3cre"}), 401, refusal);
    expect_json_answer(client->post(path, "x", {"Authorization: Basic czNjcmV0"}), 401, refusal);
    expect_json_answer(client->post(std::string(path) + "?token=s3cret", "x"), 401, refusal);
  }
  expect_json_answer(client->post("/v1/impressions", "{}", {"Authorization: Bearer s3cret"}), 200, kOkJson);
  expect_json_answer(client->post("/v1/events", "a\n1\n", {"authorization: bearer s3cret"}), 200, kOkJson);
  // the pixel: the header or ?token=
  Reply r = client->get("/v1/pixel?user_id=u1");
  expect_json_answer(r, 401, refusal);
  EXPECT_EQ(r.header("www-authenticate"), "Bearer");
  expect_json_answer(client->get("/v1/pixel?user_id=u1&token=wrong"), 401, refusal);
  r = client->get("/v1/pixel?user_id=u1&token=s3cret");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kGif);
  EXPECT_EQ(client->get("/v1/pixel?user_id=u2", {"Authorization: Bearer s3cret"}).body, kGif);
  // health and readiness are open; the query API is not (issue 11: it returned user ids and IPs to anyone)
  EXPECT_EQ(client->get("/healthz").status, 200);
  EXPECT_EQ(client->get("/readyz").status, 200);
  expect_json_answer(client->get("/v1/sql?q=SELECT%20user_id,%20ip%20FROM%20impressions"), 401, refusal);
  expect_json_answer(client->get("/v1/report/campaigns"), 401, refusal);
  EXPECT_EQ(client->get("/v1/sql?q=SELECT%201%20AS%20one", {"Authorization: Bearer s3cret"}).status, 200);
  // the query API takes the header only: ?token= is for the pixel's <img>
  expect_json_answer(client->get("/v1/report/campaigns?token=s3cret"), 401, refusal);
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 4u);
  // the token is not part of the record; the client's address is (no ip= given)
  EXPECT_EQ(seen[2].body, R"j({"user_id":"u1","ip":"127.0.0.1"})j");
  EXPECT_EQ(seen[3].body, R"j({"user_id":"u2","ip":"127.0.0.1"})j");
}

// Every route of the table, by every method it serves: 401 with WWW-Authenticate: Bearer without the
// token or with a wrong one, and not 401 with it; only the health routes are open. A route added to the
// table later is protected unless it is made an exception there, and then this test names it.
TEST_F(HttpServerTest, EveryRouteButHealthNeedsTheTokenWhenOneIsSet) {
  HttpServerOptions options;
  options.bearer_token = "s3cret";
  ServerHooks hooks;  // every hook set, so that no route is disabled (404)
  hooks.metrics = [] { return std::string("advx_up 1\n"); };
  hooks.alerts = [] { return std::string(R"({"alerts":[]})"); };
  hooks.ready = [] { return true; };
  start(options, hooks);
  const std::set<std::string> open = {"/healthz", "/readyz"};
  std::set<std::string> paths;
  for (const HttpServer::RouteInfo& route : HttpServer::routes()) {
    paths.insert(route.path);
    std::vector<std::string> methods;
    for (std::string_view rest = route.methods; !rest.empty();) {
      const size_t comma = rest.find(',');
      std::string_view m = rest.substr(0, comma);
      while (m.starts_with(' ')) m.remove_prefix(1);
      methods.emplace_back(m);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    ASSERT_FALSE(methods.empty()) << route.path;
    for (const std::string& method : methods) {
      SCOPED_TRACE(method + " " + route.path);
      Call call;
      call.method = method;
      call.path = route.path;
      if (method == "POST") call.body = route.path == "/v1/sql" ? "SELECT 1" : "{}";
      const Reply without = client->send(call);
      call.headers = {"Authorization: Bearer wrong"};
      const Reply wrong = client->send(call);
      call.headers = {"Authorization: Bearer s3cret"};
      const Reply with = client->send(call);
      EXPECT_EQ(with.code, CURLE_OK);
      EXPECT_NE(with.status, 401);
      EXPECT_NE(with.status, 0);
      if (open.contains(route.path)) {
        EXPECT_NE(without.status, 401);
        EXPECT_EQ(without.status, with.status);
        continue;
      }
      EXPECT_EQ(without.status, 401);
      EXPECT_EQ(without.header("www-authenticate"), "Bearer");
      EXPECT_EQ(wrong.status, 401);
      EXPECT_EQ(wrong.header("www-authenticate"), "Bearer");
      if (method != "HEAD") {
        EXPECT_NE(without.body.find(R"("code":"unauthorized")"), std::string::npos);
      }
    }
  }
  // the table is the one served: it holds every endpoint of the API
  for (const char* p : {"/v1/impressions", "/v1/events", "/v1/bid-requests", "/v1/pixel", "/healthz",
                        "/readyz", "/metrics", "/v1/alerts", "/v1/report/campaigns", "/v1/report/funnel",
                        "/v1/report/latency", "/v1/report/frequency", "/v1/sql"})
    EXPECT_TRUE(paths.contains(p)) << p;
  // a path outside the table is 404 with or without the token
  EXPECT_EQ(client->get("/v1/nothing").status, 404);
  EXPECT_EQ(client->get("/v1/nothing", {"Authorization: Bearer s3cret"}).status, 404);
}

// The token is checked before anything else about a route: without it, a disabled endpoint or a wrong
// method says nothing of the configuration.
TEST_F(HttpServerTest, WithoutTheTokenADisabledEndpointOrAWrongMethodIs401) {
  HttpServerOptions options;
  options.bearer_token = "s3cret";
  start(options);  // no metrics or alerts hook
  EXPECT_EQ(client->get("/metrics").status, 401);
  EXPECT_EQ(client->get("/v1/alerts").status, 401);
  EXPECT_EQ(client->get("/v1/impressions").status, 401);
  EXPECT_EQ(client->get("/metrics", {"Authorization: Bearer s3cret"}).status, 404);
  EXPECT_EQ(client->get("/v1/impressions", {"Authorization: Bearer s3cret"}).status, 405);
}

// metrics_public leaves /metrics open for a Prometheus without credentials, and nothing else.
TEST_F(HttpServerTest, MetricsPublicOpensMetricsOnly) {
  HttpServerOptions options;
  options.bearer_token = "s3cret";
  options.metrics_public = true;
  ServerHooks hooks;
  hooks.metrics = [] { return std::string("advx_up 1\n"); };
  hooks.alerts = [] { return std::string(R"({"alerts":[]})"); };
  start(options, hooks);
  const Reply m = client->get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "advx_up 1\n");
  for (const char* path : {"/v1/sql?q=SELECT%201", "/v1/report/campaigns", "/v1/alerts", "/v1/pixel"}) {
    const Reply r = client->get(path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.header("www-authenticate"), "Bearer") << path;
  }
  EXPECT_EQ(client->post("/v1/impressions", "{}").status, 401);
  // without metrics_public, the same server shape keeps /metrics closed
  server.reset();
  options.metrics_public = false;
  start(options, hooks);
  EXPECT_EQ(client->get("/metrics").status, 401);
  EXPECT_EQ(client->get("/metrics", {"Authorization: Bearer s3cret"}).status, 200);
}

TEST_F(HttpServerTest, WithoutATokenIngestIsOpen) {
  start();
  expect_json_answer(client->post("/v1/impressions", "{}"), 200, kOkJson);
  EXPECT_EQ(client->get("/v1/pixel?user_id=u1").status, 200);
  // ?token= is never part of the record
  EXPECT_EQ(client->get("/v1/pixel?user_id=u2&token=abc").status, 200);
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].body, R"j({"user_id":"u2","ip":"127.0.0.1"})j");
}

// advx_http_requests_total: every answered request, by route and status.
TEST_F(HttpServerTest, RequestsAreCountedByEndpointAndStatus) {
  start();
  EXPECT_EQ(client->post("/v1/impressions", "{}").status, 200);
  EXPECT_EQ(client->post("/v1/impressions", "{}").status, 200);
  EXPECT_EQ(client->post("/v1/impressions", "").status, 400);
  EXPECT_EQ(client->get("/nope").status, 404);
  EXPECT_EQ(client->get("/healthz").status, 200);
  // cpp-httplib counts a request (its logger) just after writing the answer: wait for the last one.
  std::map<std::pair<std::string, int>, uint64_t> got;
  for (int i = 0; i < 200; i++) {
    got.clear();
    uint64_t total = 0;
    for (const auto& c : server->request_counts()) total += got[{c.endpoint, c.status}] = c.count;
    if (total == 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(got, (std::map<std::pair<std::string, int>, uint64_t>{{{"/healthz", 200}, 1},
                                                                  {{"/v1/impressions", 200}, 2},
                                                                  {{"/v1/impressions", 400}, 1},
                                                                  {{"other", 404}, 1}}));
}

TEST_F(HttpServerTest, AnUnknownPathIs404) {
  start();
  expect_json_answer(client->get("/nope"), 404, R"j({"error":"not found: /nope"})j");
  expect_json_answer(client->get("/v1/impressions/"), 404, R"j({"error":"not found: /v1/impressions/"})j");
  expect_json_answer(client->post("/v1/clicks", "x"), 404, R"j({"error":"not found: /v1/clicks"})j");
  expect_json_answer(client->get("/metrics"), 404, R"j({"error":"not found: /metrics"})j");  // no hook
}

TEST_F(HttpServerTest, AWrongMethodIs405) {
  start();
  Reply r = client->get("/v1/impressions");
  expect_json_answer(r, 405, R"j({"error":"method GET not allowed on /v1/impressions (use POST)"})j");
  EXPECT_EQ(r.header("allow"), "POST");
  Call c;
  c.method = "PUT";
  c.path = "/v1/events";
  r = client->send(c);
  expect_json_answer(r, 405, R"j({"error":"method PUT not allowed on /v1/events (use POST)"})j");
  r = client->post("/healthz", "x");
  expect_json_answer(r, 405, R"j({"error":"method POST not allowed on /healthz (use GET, HEAD)"})j");
  EXPECT_EQ(r.header("allow"), "GET, HEAD");
  c.method = "DELETE";
  c.path = "/v1/sql";
  r = client->send(c);
  expect_json_answer(r, 405, R"j({"error":"method DELETE not allowed on /v1/sql (use GET, POST)"})j");
  EXPECT_EQ(r.header("allow"), "GET, POST");
  r = client->post("/v1/pixel", "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET");
  EXPECT_TRUE(engine.seen().empty());
}

// ---------------------------------------------------------------------------------------------------------
// The pixel

TEST_F(HttpServerTest, APixelHitIsOneJsonImpressionAnsweredWithATransparentGif) {
  start();
  const Reply r = client->get(
      "/v1/pixel?impression_id=i1&ad_creative_id=cr1&user_id=u1&timestamp=2026-11-01T12:34:56Z"
      "&website=https%3A%2F%2Fexample.com%2Fa%3Fb%3Dc&win_price_cpm=1.25");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kGif);
  EXPECT_EQ(r.header("content-type"), "image/gif");
  EXPECT_EQ(r.header("cache-control"), "no-store");
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].stream, Stream::impressions);
  EXPECT_EQ(seen[0].format, BodyFormat::json);
  EXPECT_TRUE(seen[0].source.starts_with("http:/v1/pixel#")) << seen[0].source;
  EXPECT_EQ(
      seen[0].body,
      R"j({"ad_creative_id":"cr1","impression_id":"i1","timestamp":"2026-11-01T12:34:56Z",)j"
      R"j("user_id":"u1","website":"https://example.com/a?b=c","win_price_cpm":1.25,"ip":"127.0.0.1"})j");
}

// A browser's User-Agent and address feed the filters unless the URL names them.
TEST_F(HttpServerTest, PixelTakesUserAgentAndAddressFromTheRequest) {
  start();
  EXPECT_EQ(client->get("/v1/pixel?user_id=u1", {"User-Agent: Googlebot/2.1"}).status, 200);
  EXPECT_EQ(
      client->get("/v1/pixel?user_id=u2&ip=10.1.2.3&user_agent=ua", {"User-Agent: Googlebot/2.1"}).status,
      200);
  const auto seen = engine.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].body, R"j({"user_id":"u1","user_agent":"Googlebot/2.1","ip":"127.0.0.1"})j");
  EXPECT_EQ(seen[1].body, R"j({"ip":"10.1.2.3","user_agent":"ua","user_id":"u2"})j");
}

TEST_F(HttpServerTest, PixelValuesAreEscapedAndOnlyAValidPriceIsANumber) {
  start();
  // quote, backslash, control characters, a '+' (a space), a byte that is not UTF-8, UTF-8, a name given
  // twice, a price that is not a JSON number
  const Reply r = client->get(
      "/v1/pixel?user_id=a%22b%5Cc%01d%0Ae%09f%7Fg&website=x+y&country=%FF&site=caf%C3%A9"
      "&user_id=second&win_price_cpm=1e3x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kGif);
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(
      engine.seen()[0].body,
      "{\"country\":\"\xEF\xBF\xBD\",\"site\":\"caf\xC3\xA9\","
      R"j("user_id":"a\"b\\c\u0001d\ne\tf\u007fg","website":"x y","win_price_cpm":"1e3x","ip":"127.0.0.1"})j");
}

TEST_F(HttpServerTest, ARejectedPixelHitStillGetsTheGif) {
  SubmitResult rejected;
  rejected.read = 1;
  rejected.by_reason[static_cast<size_t>(Reason::missing_field)] = 1;
  engine.set_result(rejected);
  start();
  const Reply r = client->get("/v1/pixel");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kGif);
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, R"j({"ip":"127.0.0.1"})j");
}

TEST_F(HttpServerTest, APixelTheEngineRefusesIs503) {
  engine.set_mode(FakeEngine::Mode::refuse);
  start();
  const Reply r = client->get("/v1/pixel?user_id=u1");
  expect_json_answer(r, 503, R"j({"error":"overloaded, retry later"})j");
  EXPECT_EQ(r.header("retry-after"), "1");
}

// ---------------------------------------------------------------------------------------------------------
// Health, readiness, metrics

TEST_F(HttpServerTest, HealthReadinessAndMetrics) {
  std::atomic<bool> ready{false};
  ServerHooks hooks;
  hooks.ready = [&] { return ready.load(); };
  hooks.metrics = [] { return std::string("# TYPE advx_up gauge\nadvx_up 1\n"); };
  start({}, hooks);
  expect_json_answer(client->get("/healthz"), 200, R"j({"status":"ok"})j");
  expect_json_answer(client->get("/readyz"), 503, R"j({"status":"not ready"})j");
  ready = true;
  expect_json_answer(client->get("/readyz"), 200, R"j({"status":"ready"})j");
  const Reply m = client->get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "# TYPE advx_up gauge\nadvx_up 1\n");
  EXPECT_EQ(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  Call head;
  head.method = "HEAD";
  head.path = "/healthz";
  EXPECT_EQ(client->send(head).status, 200);
}

TEST_F(HttpServerTest, AHookThatThrowsIs500) {
  ServerHooks hooks;
  hooks.metrics = []() -> std::string { throw std::runtime_error("boom"); };
  hooks.query = [](const std::string&) -> ResultTable { throw std::runtime_error("store gone"); };
  hooks.report = [](const ReportRequest&) -> ResultTable { throw std::runtime_error("store gone"); };
  start({}, hooks);
  expect_json_answer(client->get("/metrics"), 500, R"j({"error":"internal error: boom"})j");
  expect_json_answer(client->get("/v1/report/campaigns"), 500, R"j({"error":"store gone"})j");
  expect_json_answer(client->get("/v1/sql?q=SELECT%201"), 500, R"j({"error":"store gone"})j");
  expect_json_answer(client->get("/healthz"), 200, R"j({"status":"ok"})j");
}

TEST_F(HttpServerTest, WithoutAReadyHookTheServerIsReady) {
  start();
  expect_json_answer(client->get("/readyz"), 200, R"j({"status":"ready"})j");
}

// ---------------------------------------------------------------------------------------------------------
// Connections

TEST_F(HttpServerTest, RequestsOfOneClientShareOneKeepAliveConnection) {
  start();
  EXPECT_EQ(client->get("/healthz").connects, 1);
  EXPECT_EQ(client->post("/v1/impressions", "{}").connects, 0);
  EXPECT_EQ(client->post("/v1/events", "a\n1\n", {"Content-Encoding: gzip"}).connects, 0);  // 400: bad gzip
  EXPECT_EQ(client->get("/v1/pixel?user_id=u").connects, 1);  // ...which closed the connection
  EXPECT_EQ(client->get("/v1/sql?q=SELECT%201").connects, 0);
  EXPECT_EQ(client->get("/v1/report/campaigns?by=day").connects, 0);
  EXPECT_EQ(client->get("/nope").connects, 0);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  const std::string out =
      raw_exchange(server->port(),
                   "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                   "POST /v1/impressions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
                   "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(count(out, "HTTP/1.1 200 OK\r\n"), 3u) << out;
  const size_t ok = out.find(R"j({"status":"ok"})j");
  const size_t counts = out.find(kOkJson);
  const size_t ready = out.find(R"j({"status":"ready"})j");
  EXPECT_TRUE(ok < counts && counts < ready && ready != std::string::npos) << out;
  EXPECT_TRUE(out.ends_with(R"j({"status":"ready"})j")) << out;
  ASSERT_EQ(engine.seen().size(), 1u);
  EXPECT_EQ(engine.seen()[0].body, "{}");
}

// After a request cpp-httplib cannot parse, the connection closes: what follows is not read as a request.
TEST_F(HttpServerTest, ALineThatIsNotHttpIs400AndClosesTheConnection) {
  start();
  const std::string out =
      raw_exchange(server->port(), "HELLO THERE\r\n\r\nGET /v1/pixel?user_id=x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400 Bad Request\r\n")) << out;
  EXPECT_TRUE(out.ends_with(R"j({"error":"bad request"})j")) << out;
  EXPECT_EQ(count(out, "HTTP/1.1 "), 1u) << out;
  const std::string long_uri = raw_exchange(
      server->port(), "GET /healthz?x=" + std::string(10000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(long_uri.starts_with("HTTP/1.1 414 ")) << long_uri;
  EXPECT_TRUE(long_uri.ends_with(R"j({"error":"URI too long"})j")) << long_uri;
  stop();
  EXPECT_TRUE(engine.seen().empty());
}

// One thread, and a keep-alive timeout longer than the client waits: the idle connection of the first
// client gives its thread to the second instead of holding it until the timeout.
TEST_F(HttpServerTest, AnIdleKeepAliveConnectionGivesWayToAWaitingOne) {
  HttpServerOptions options;
  options.threads = 1;
  options.keep_alive_timeout_seconds = 600;
  start(options);
  EXPECT_EQ(client->get("/healthz").connects, 1);
  Client second(server->port());
  const Reply r = second.get("/healthz");
  expect_json_answer(r, 200, R"j({"status":"ok"})j");
  EXPECT_EQ(r.header("connection"), "");
  const Reply again = client->get("/healthz");  // its connection was closed meanwhile
  expect_json_answer(again, 200, R"j({"status":"ok"})j");
  EXPECT_EQ(again.connects, 1);
}

TEST_F(HttpServerTest, StopLetsAnInFlightRequestFinish) {
  engine.set_mode(FakeEngine::Mode::hold);
  start();
  Reply reply;
  std::thread request([&] { reply = client->post("/v1/impressions", "{}"); });
  engine.wait_for_held(1);  // the request waits for its commit
  std::thread stopping([&] { server->stop(); });
  engine.release();  // the commit
  request.join();
  stopping.join();
  expect_json_answer(reply, 200, kOkJson);
  server->stop();  // idempotent
  Client after(server->port());
  EXPECT_EQ(after.get("/healthz").code, CURLE_COULDNT_CONNECT);
}

TEST_F(HttpServerTest, StartFailsOnAPortInUse) {
  start();
  HttpServerOptions options;
  options.port = server->port();
  HttpServer second(options, ServerHooks{});
  std::string error;
  EXPECT_FALSE(second.start(&error));
  EXPECT_EQ(error, "cannot listen on 127.0.0.1:" + std::to_string(server->port()) + " (address in use)");
  // the first one still serves
  EXPECT_EQ(client->get("/healthz").status, 200);
}

TEST_F(HttpServerTest, StartRefusesBadOptions) {
  HttpServerOptions options;
  options.port = 70000;
  std::string error;
  EXPECT_FALSE(HttpServer(options, ServerHooks{}).start(&error));
  EXPECT_EQ(error, "port must be between 0 and 65535, not 70000");
  options.port = 0;
  options.threads = 0;
  EXPECT_FALSE(HttpServer(options, ServerHooks{}).start(&error));
  EXPECT_EQ(error, "threads must be at least 1, not 0");
}

// ---------------------------------------------------------------------------------------------------------
// The query API

TEST_F(HttpServerTest, TheCampaignReportIsTheCliReportAsJson) {
  start();
  const Reply r = client->get("/v1/report/campaigns?by=day&from=2026-11-01&to=2026-11-03&rollup=false");
  // c1 on 11-01: i1 and its click k1; c2 on 11-01: i3; c1 on 11-02: i2 (spend = win_price_cpm / 1000)
  expect_json_answer(
      r, 200,
      "[\n"
      "  {\"day\": \"2026-11-01\", \"campaign_id\": \"c1\", \"advertiser_id\": \"adv1\", "
      "\"bid_requests_won\": 0, "
      "\"impressions\": 1, \"clicks\": 1, \"attributed_clicks\": 1, \"orphan_clicks\": 0, \"ctr\": 1.0, "
      "\"conversions\": 0, \"click_through_conversions\": 0, \"view_through_conversions\": 0, "
      "\"unattributed_conversions\": 0, \"conversion_rate\": 0.0, \"conversion_value\": 0.0, \"spend\": "
      "0.002, "
      "\"cpc\": 0.002, \"cpa\": null, \"roas\": 0.0},\n"
      "  {\"day\": \"2026-11-01\", \"campaign_id\": \"c2\", \"advertiser_id\": \"adv2\", "
      "\"bid_requests_won\": 0, "
      "\"impressions\": 1, \"clicks\": 0, \"attributed_clicks\": 0, \"orphan_clicks\": 0, \"ctr\": 0.0, "
      "\"conversions\": 0, \"click_through_conversions\": 0, \"view_through_conversions\": 0, "
      "\"unattributed_conversions\": 0, \"conversion_rate\": null, \"conversion_value\": 0.0, \"spend\": "
      "0.004, "
      "\"cpc\": null, \"cpa\": null, \"roas\": 0.0},\n"
      "  {\"day\": \"2026-11-02\", \"campaign_id\": \"c1\", \"advertiser_id\": \"adv1\", "
      "\"bid_requests_won\": 0, "
      "\"impressions\": 1, \"clicks\": 0, \"attributed_clicks\": 0, \"orphan_clicks\": 0, \"ctr\": 0.0, "
      "\"conversions\": 0, \"click_through_conversions\": 0, \"view_through_conversions\": 0, "
      "\"unattributed_conversions\": 0, \"conversion_rate\": null, \"conversion_value\": 0.0, \"spend\": "
      "0.001, "
      "\"cpc\": null, \"cpa\": null, \"roas\": 0.0}\n"
      "]\n");
  report::TimeRange range;
  int64_t from = 0, to = 0;
  ASSERT_TRUE(report::parse_time_bound("2026-11-01", &from));
  ASSERT_TRUE(report::parse_time_bound("2026-11-03", &to));
  range.from_us = from;
  range.to_us = to;
  EXPECT_EQ(store.last_sql(), report::campaigns_sql({report::Dimension::day}, range, report::Scan::raw));
}

TEST_F(HttpServerTest, ReportsUseTheRollupUnlessToldNot) {
  start();
  ASSERT_EQ(client->get("/v1/report/campaigns?by=campaign,%20day,hour").status, 200);
  EXPECT_EQ(store.last_sql(), report::campaigns_sql({report::Dimension::campaign, report::Dimension::day,
                                                     report::Dimension::hour},
                                                    {}, report::Scan::rollup));
  ASSERT_EQ(client->get("/v1/report/campaigns?from=&to=&by=&rollup=").status, 200);  // empty: not given
  EXPECT_EQ(store.last_sql(), report::campaigns_sql({}, {}, report::Scan::rollup));
  ASSERT_EQ(client->get("/v1/report/funnel?by=campaign").status, 200);
  EXPECT_EQ(store.last_sql(), report::funnel_sql(true, {}, report::Scan::rollup));
  ASSERT_EQ(client->get("/v1/report/funnel?rollup=false").status, 200);
  EXPECT_EQ(store.last_sql(), report::funnel_sql(false, {}, report::Scan::raw));
  ASSERT_EQ(client->get("/v1/report/latency?by=campaign").status, 200);
  EXPECT_EQ(store.last_sql(), report::latency_sql(true, {}));
  ASSERT_EQ(client->get("/v1/report/frequency").status, 200);
  EXPECT_EQ(store.last_sql(), report::frequency_sql(false, {}));
}

TEST_F(HttpServerTest, BadReportParametersAre400) {
  start();
  expect_json_answer(
      client->get("/v1/report/campaigns?by=day,week"), 400,
      R"j({"error":"by: unknown key 'week' (use campaign, creative, site, country, device, day, hour)"})j");
  expect_json_answer(client->get("/v1/report/latency?by=day"), 400,
                     R"j({"error":"by: unknown key 'day' (use campaign)"})j");
  expect_json_answer(
      client->get("/v1/report/campaigns?from=yesterday"), 400,
      R"j({"error":"from: not a timestamp: yesterday (use ISO-8601, e.g. 2026-11-01T00:00:00Z, )j"
      R"j(or YYYY-MM-DD)"})j");
  expect_json_answer(client->get("/v1/report/campaigns?from=2026-11-02&to=2026-11-01"), 400,
                     R"j({"error":"from must be before to"})j");
  expect_json_answer(client->get("/v1/report/campaigns?form=2026-11-02"), 400,
                     R"j({"error":"unknown parameter 'form' (use from, to, by, rollup)"})j");
  expect_json_answer(client->get("/v1/report/latency?rollup=false"), 400,
                     R"j({"error":"unknown parameter 'rollup' (use from, to, by)"})j");
  expect_json_answer(client->get("/v1/report/campaigns?rollup=maybe"), 400,
                     R"j({"error":"rollup: use true or false, not 'maybe'"})j");
}

TEST_F(HttpServerTest, SqlByPostAndByGet) {
  start();
  const std::string expected =
      "[\n"
      "  {\"campaign_id\": \"c1\", \"n\": 2, \"spend\": 3.0},\n"
      "  {\"campaign_id\": \"c2\", \"n\": 1, \"spend\": 4.0}\n"
      "]\n";
  const std::string sql =
      "SELECT campaign_id, count(*) AS n, sum(win_price_cpm) AS spend FROM impressions GROUP BY 1 ORDER BY "
      "1";
  expect_json_answer(client->post("/v1/sql", sql), 200, expected);
  char* escaped = curl_easy_escape(nullptr, sql.data(), static_cast<int>(sql.size()));
  expect_json_answer(client->get(std::string("/v1/sql?q=") + escaped), 200, expected);
  curl_free(escaped);
  expect_json_answer(client->post("/v1/sql", gzip(sql), {"Content-Encoding: gzip"}), 200, expected);
  expect_json_answer(client->get("/v1/sql?q=SELECT%201%20WHERE%20false"), 200, "[]\n");
}

TEST_F(HttpServerTest, RefusedOrFailingSqlIs400) {
  start();
  Reply r = client->post("/v1/sql", "DROP TABLE impressions");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.body.starts_with(R"j({"error":"advx sql is read-only)j")) << r.body;
  r = client->post("/v1/sql", "SELECT nope FROM impressions");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.body.starts_with(R"j({"error":")j")) << r.body;
  expect_json_answer(client->post("/v1/sql", " \n"), 400,
                     R"j({"error":"no SQL given (POST it as the body, or GET /v1/sql?q=...)"})j");
  expect_json_answer(client->get("/v1/sql"), 400,
                     R"j({"error":"no SQL given (POST it as the body, or GET /v1/sql?q=...)"})j");
  expect_json_answer(client->get("/v1/sql?sql=SELECT%201"), 400,
                     R"j({"error":"unknown parameter 'sql' (use q)"})j");
  // the table is still there
  expect_json_answer(client->get("/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20impressions"), 200,
                     "[\n  {\"n\": 3}\n]\n");
}

// ---------------------------------------------------------------------------------------------------------
// Bounded queries (issue 11: one runaway query held every other query for over 55 s)

// 5e11 pairs: hours of work, whatever the machine.
constexpr std::string_view kRunaway =
    "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range < b.range";

// Runs `f` when the scope ends, also when an assertion returned early (a thread left joinable would end the
// test program).
template <class F>
struct AtExit {
  F f;
  ~AtExit() { f(); }
};

// Polls `done` until it holds or 60 s have passed (a deadline, not a timing assertion).
bool wait_for(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A runaway query is answered 504 with the code query_timeout; while it runs, health, another query, a
// report and an ingest request are all answered, each before the runaway's answer.
TEST_F(HttpServerTest, ARunawayQueryIs504AndDelaysNoOtherRequest) {
  use_query_pool(2, std::chrono::seconds(2));
  start();
  std::atomic<bool> runaway_answered{false};
  Reply runaway;
  std::thread t([&] {
    Client c(server->port());
    runaway = c.post("/v1/sql", std::string(kRunaway));
    runaway_answered = true;
  });
  AtExit cleanup{[&] {
    pool->stop();  // answers the runaway at once if an assertion ended the test early
    if (t.joinable()) t.join();
  }};
  ASSERT_TRUE(wait_for([&] { return pool->stats().running == 1 || runaway_answered; }));
  ASSERT_FALSE(runaway_answered) << runaway.body;
  expect_json_answer(client->get("/healthz"), 200, R"j({"status":"ok"})j");
  EXPECT_FALSE(runaway_answered);
  expect_json_answer(client->get("/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20impressions"), 200,
                     "[\n  {\"n\": 3}\n]\n");
  EXPECT_FALSE(runaway_answered);
  EXPECT_EQ(client->get("/v1/report/campaigns").status, 200);
  EXPECT_FALSE(runaway_answered);
  expect_json_answer(client->post("/v1/impressions", "{}"), 200, kOkJson);
  EXPECT_FALSE(runaway_answered);
  t.join();
  expect_json_answer(
      runaway, 504,
      R"j({"error":"the query ran past the 2 s timeout (test) and was interrupted","code":"query_timeout"})j");
  // the interrupted worker serves again once DuckDB has unwound the query
  EXPECT_TRUE(wait_for([&] { return pool->stats().running == 0; }));
  EXPECT_EQ(client->get("/v1/sql?q=SELECT%2042%20AS%20n").body, "[\n  {\"n\": 42}\n]\n");
  EXPECT_EQ(pool->stats().timed_out, 1u);
}

// Stopping the queries (what SIGTERM does first) answers a running query 503 at once, so the server's own
// stop, which waits for every request in flight, is not held by it.
TEST_F(HttpServerTest, StoppingTheQueriesAnswersARunningOne503AndLetsTheServerStop) {
  use_query_pool(1, std::chrono::minutes(10));
  start();
  Reply runaway;
  std::thread t([&] {
    Client c(server->port());
    runaway = c.get("/v1/report/campaigns?by=campaign");  // a report holds a worker like any query
    runaway = c.post("/v1/sql", std::string(kRunaway));
  });
  AtExit cleanup{[&] {
    pool->stop();
    if (t.joinable()) t.join();
  }};
  ASSERT_TRUE(wait_for([&] { return pool->stats().succeeded == 1 && pool->stats().running == 1; }));
  pool->stop();
  t.join();
  expect_json_answer(runaway, 503,
                     R"j({"error":"shutting down: the query was interrupted","code":"shutting_down"})j");
  EXPECT_EQ(runaway.header("retry-after"), "1");
  const Reply after = client->get("/v1/sql?q=SELECT%201");
  expect_json_answer(after, 503, R"j({"error":"shutting down: no new queries","code":"shutting_down"})j");
  stop();  // returns: nothing is in flight
  EXPECT_EQ(pool->stats().running, 0);
}

// ---------------------------------------------------------------------------------------------------------
// JSON pieces

TEST(HttpJson, Numbers) {
  for (const char* yes : {"0", "-0", "1.25", "10", "-3.5e-7", "1E+3", "0.0"})
    EXPECT_TRUE(http::is_json_number(yes)) << yes;
  for (const char* no : {"", "-", "01", "1.", ".5", "+1", "1e", "NaN", "inf", " 1", "1 ", "0x10", "1,5"})
    EXPECT_FALSE(http::is_json_number(no)) << no;
}

TEST(HttpJson, StringsAreValidJsonWhateverTheBytes) {
  std::string out;
  http::append_json_string(std::string("a\"\\\b\f\n\r\t\x1F\x7F\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 19),
                           out);
  EXPECT_EQ(out, "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u001f\\u007f\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
  out.clear();
  // a lone continuation byte, an overlong '/', a surrogate, a truncated sequence, above U+10FFFF
  http::append_json_string(std::string("\x80|\xC0\xAF|\xED\xA0\x80|\xE2\x82|\xF4\x90\x80\x80", 16), out);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(out, "\"" + r + "|" + r + r + "|" + r + r + r + "|" + r + r + "|" + r + r + r + r + "\"");
  out.clear();
  http::append_json_string(std::string("\0", 1), out);
  EXPECT_EQ(out, "\"\\u0000\"");
}

TEST(HttpJson, SubmitResult) {
  EXPECT_EQ(http::submit_result_json(ok_result()), kOkJson);
  EXPECT_EQ(http::error_json("a \"b\""), R"j({"error":"a \"b\""})j");
}

}  // namespace
}  // namespace advx
