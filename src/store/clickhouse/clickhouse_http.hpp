// The ClickHouse HTTP interface, the low layer of the ClickHouse store: a URL, a client that sends
// statements and RowBinary inserts, typed results, and the server's errors as StoreError codes.
//
// HTTP rather than the native protocol: libcurl is already a dependency, and the HTTP interface is the
// same from 18.16 (Debian 12's package, what the tests run) to current releases. What 18.16 accepts was
// probed against a real server and is written where it matters (docs/STORES.md sums it up):
// - settings go as URL parameters (`SET` needs a session over HTTP);
// - request bodies may be gzip-compressed (`Content-Encoding: gzip`, no setting needed), which current
//   releases accept too: compressed inserts use it, with zlib, instead of ClickHouse's own framing;
// - RowBinaryWithNamesAndTypes is unknown to 18.16, so results come as TabSeparatedWithNamesAndTypes;
// - errors are `Code: N, e.displayText() = DB::Exception: …` (current: `Code: N. DB::Exception: …`), with
//   HTTP 500/400/404; `wait_end_of_query=1` keeps an error from arriving after a 200 and part of a result.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/result.hpp"
#include "store/store.hpp"

namespace advx::clickhouse {

struct Endpoint {
  std::string host;  // without brackets for IPv6 (::1)
  int port = 8123;
  std::string user, password;  // empty user: ClickHouse's `default`, no credentials sent
  std::string database = "default";
};

// clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE], user and password percent-decoded, HOST may be
// [IPv6]. Port 8123 and database `default` when absent. A bad URL throws StoreError (invalid) with a
// one-line message that never repeats the password.
Endpoint parse_url(std::string_view url);
// The URL of an endpoint without its password: clickhouse://user@host:port/db.
std::string endpoint_url(const Endpoint& ep);

// A sharded store's URL (docs/STORES.md, "Sharded ClickHouse"):
// clickhouse://[USER[:PASSWORD]@]HOST1:PORT1,HOST2:PORT2,.../DATABASE?cluster=NAME. The hosts are the
// shards in order (the first is the entry point of reads); user, password and database are every shard's.
struct ClusterEndpoints {
  std::vector<Endpoint> shards;
  std::string cluster;
};
// Whether `url` names a cluster (it has a `?cluster=` query).
bool is_cluster_url(std::string_view url);
// Throws StoreError (invalid) with a one-line message, as parse_url().
ClusterEndpoints parse_cluster_url(std::string_view url);
// True for a server on this machine (localhost, 127.0.0.0/8, ::1): its request bodies are sent as they
// are, since gzip would only spend both sides' CPU where the network costs nothing.
bool is_loopback(const Endpoint& ep);

// ClickHouse settings for one request, sent as URL parameters (readonly, max_execution_time,
// max_memory_usage, insert_distributed_sync, ...).
using Settings = std::vector<std::pair<std::string, std::string>>;

// The StoreError of a ClickHouse exception text (`Code: N, …`) or an HTTP status without one. The message
// is `clickhouse: ` and the first line of the server's message without its boilerplate.
StoreError server_error(std::string_view body, long http_status);

// How a ClickHouse type reads into a ResultColumn (Nullable and LowCardinality unwrapped).
struct ColumnKind {
  ValueType type = ValueType::other;
  uint8_t scale = 0;  // decimal
  bool nullable = false;
  bool is_float32 = false;
};
// `server_utc`: whether a DateTime without a zone is shown in UTC (the server's time zone is UTC).
ColumnKind column_kind(std::string_view clickhouse_type, bool server_utc);

// TabSeparatedWithNamesAndTypes into a ResultTable: names, types, then the rows, with ClickHouse's
// escaping undone. Throws StoreError (internal) on a body that is not that format.
ResultTable parse_tsv_with_names_and_types(std::string_view body, bool server_utc);
// One TabSeparated field unescaped (\t \n \\ \' \0 \b \f \r \a \v \xHH; any other `\c` is `c`).
std::string tsv_unescape(std::string_view field);

// One connection to a ClickHouse server over HTTP. One easy handle, reused, so the connection is kept alive
// between statements. Thread-compatible: one client per thread, except cancel(), which any thread may call.
class HttpClient {
 public:
  explicit HttpClient(Endpoint endpoint);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }

  // The most a request may take, connection included; zero = no limit (the default). A request that
  // runs past it ends with StoreError (interrupted) and leaves the statement running on the server:
  // bound statements on the server with the max_execution_time setting.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Runs one statement (the POST body) and returns the response body.
  std::string execute(std::string_view sql, const Settings& settings = {});
  // Runs a query and reads its result, typed. `sql` must not name a FORMAT of its own.
  ResultTable query(std::string_view sql, const Settings& settings = {});
  // Sends `body` (the data of `insert_prefix`, e.g. "INSERT INTO db.t (a,b) FORMAT RowBinary"), gzipped
  // when `compress`.
  void insert(std::string_view insert_prefix, std::string_view body, bool compress,
              const Settings& settings = {});

  // Ends the statement this client is running, from any thread: `KILL QUERY` by the statement's query_id
  // through a connection of its own, and the transfer aborted, so the statement ends with StoreError
  // (interrupted) at once. Does nothing when no statement runs (an interrupt before the statement starts
  // is lost). A KILL that reaches the server before the statement registers there misses it: the
  // statement then runs on, on the server, until it ends or its max_execution_time.
  void cancel();

  // Whether the server shows a DateTime without a zone in UTC; asked once (SELECT timezone()).
  bool server_utc();

 private:
  struct Response {
    long status = 0;
    std::string body;
    std::string exception_code;  // X-ClickHouse-Exception-Code (current releases)
  };
  Response request(std::string_view query_param, std::string_view body, const Settings& settings,
                   bool gzip_body);
  std::string base_url() const;

  Endpoint endpoint_;
  void* curl_ = nullptr;  // CURL*, kept out of this header
  std::chrono::milliseconds timeout_{0};
  int server_utc_ = -1;  // -1 unknown, else 0/1
  std::string id_prefix_;
  uint64_t next_id_ = 0;

  // The statement running now, for cancel() from another thread.
  std::mutex running_mutex_;
  std::string running_query_id_;  // empty: none
  std::atomic<bool> abort_{false};
};

}  // namespace advx::clickhouse
