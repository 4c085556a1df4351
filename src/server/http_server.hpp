// HttpServer: the HTTP side of `advx serve` (SPEC 4, 6) — the collector (POST bodies and a tracking
// pixel), the query API (reports and read-only SQL), health, readiness and /metrics. It knows nothing of the
// engine or the store: it turns requests into Submissions and queries, and hands them to hooks.
//
// Endpoints (answers are JSON unless said otherwise):
//   POST /v1/impressions   NDJSON or a JSON array                -> Submission{impressions, json}
//   POST /v1/events        CSV with a header                     -> Submission{events, csv}
//   POST /v1/bid-requests  an Avro Object Container File         -> Submission{bid_requests, avro_ocf}
//                          or one Confluent-framed datum         -> Submission{bid_requests, avro_datums}
//   GET  /v1/pixel?...     the query parameters as one JSON impression; answers a 1x1 transparent GIF
//   GET  /healthz, /readyz, /metrics (Prometheus text), /v1/alerts (pending and firing alerts)
//   GET  /v1/report/campaigns?from=&to=&by=&rollup=   (also funnel, latency, frequency: see http_server.cpp)
//   POST /v1/sql (the body is the SQL) or GET /v1/sql?q=
// An ingest request is answered after its rows are committed (the engine calls Submission::done), so a 200
// means durable. Status codes: 200 done (bad records are counted, not errors); 400 a body that cannot be
// decoded, a bad parameter or SQL; 401 a missing or wrong bearer token; 404, 405; 413 a body over
// max_body_bytes (also once decompressed); 415 a Content-Encoding other than gzip, deflate, br or identity,
// or a multipart/form-data body; 503 with Retry-After when the engine is full, stopping or its store failed
// (SPEC 6: push back instead of growing without limit), or when the query hook is stopping
// (QueryUnavailable); 504 a query past its timeout (QueryTimeout). Errors are {"error":"<message>"}, with a
// "code" member where a client can act on it: "unauthorized", "query_timeout", "shutting_down".
//
// With a bearer token set, every route needs it but /healthz and /readyz (and /metrics with
// metrics_public): authentication is the default of the route table, and those exceptions are explicit.
//
// Every hook may be called from several connection threads at once: they must be thread-safe. An unset
// hook disables its endpoints (404): submit the ingest ones, query the reports and SQL, metrics /metrics;
// without `ready` the server is always ready.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/stream_engine.hpp"
#include "store/store.hpp"

namespace advx {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (tests)
  size_t max_body_bytes = 16 << 20;  // larger bodies (also once gunzipped): 413
  // Non-empty: required as "Authorization: Bearer <token>" on every route but /healthz and /readyz (the
  // pixel also takes ?token=, since an <img> cannot send headers).
  std::string bearer_token;
  bool metrics_public = false;  // true: /metrics needs no token either (a Prometheus without credentials)
  int threads = 64;  // connection threads (cpp-httplib serves a keep-alive connection on one thread)
  int retry_after_seconds = 1;
  int read_timeout_seconds = 10;       // a request whose next bytes take longer: the connection closes
  int write_timeout_seconds = 10;      // an answer the client does not take in time: the connection closes
  int keep_alive_timeout_seconds = 5;  // an idle keep-alive connection closes after this
  int keep_alive_max_requests = 1000;  // requests served on one connection before it closes
};

struct ServerHooks {
  // The engine; false = queue full or stopping -> 503 with Retry-After. When it returns true it must call
  // Submission::done exactly once (from any thread, even inside submit): the request's thread waits for it.
  std::function<bool(Submission)> submit;
  // Writer schema of a Confluent schema id, or null with *error set (unknown id: 400 "unknown schema id N").
  // May throw when the registry cannot be reached: 503 with Retry-After (the client is not at fault).
  std::function<std::shared_ptr<const std::string>(int32_t id, std::string* error)> schema_for_id;
  // Read-only SQL, for /v1/sql, and the reports of /v1/report/*; both throw StoreError for a refused or
  // failing statement, QueryTimeout past its timeout (504), QueryUnavailable when stopping (503)
  // (server/query_pool.hpp). Called on the connection's thread: a slow query holds that thread only.
  std::function<ResultTable(const std::string& sql)> query;
  std::function<ResultTable(const ReportRequest& request)> report;
  std::function<bool()> ready;           // GET /readyz
  std::function<std::string()> metrics;  // GET /metrics text (Prometheus exposition); unset -> 404
  std::function<std::string()> alerts;   // GET /v1/alerts JSON (the monitor's current alerts); unset -> 404
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, ServerHooks hooks);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The route table: every path served and its methods ("GET, HEAD"). A path not in it is 404.
  struct RouteInfo {
    std::string path;
    std::string methods;
  };
  static std::vector<RouteInfo> routes();

  // Binds and serves on a background thread; false + one-line error, e.g. "cannot listen on
  // 127.0.0.1:8080 (address in use)". A server starts once.
  bool start(std::string* error);
  int port() const;  // the bound port (0 before start)
  // Requests answered so far, by endpoint (the route's path; "other" for unknown paths and unreadable
  // requests) and status code: advx_http_requests_total of /metrics.
  struct RequestCount {
    std::string endpoint;
    int status = 0;
    uint64_t count = 0;
  };
  std::vector<RequestCount> request_counts() const;
  // Stops accepting, lets in-flight requests finish (an ingest request waits for its commit) and closes
  // idle keep-alive connections; returns when every connection thread has ended. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx
