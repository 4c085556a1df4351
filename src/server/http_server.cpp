// The HTTP server of `advx serve` on cpp-httplib 0.11.4 (Debian's compiled library).
//
// What cpp-httplib does not do for us, and how it is done here:
// - Request bodies: cpp-httplib decompresses gzip/deflate/br bodies itself, but its payload limit applies to
//   the Content-Length only (the compressed size; a chunked body has no limit at all). Every POST handler
//   therefore reads through a ContentReader, which hands over the decompressed bytes in pieces of at most
//   16 KB, and stops at max_body_bytes: a gzip bomb gets 413 after max_body_bytes of output, never more.
// - Abandoned bodies: when a request is answered without its body having been read to the end (413, 401,
//   404, 405, a bad gzip stream), the rest of the body is still on the connection, and cpp-httplib would
//   read it as the next request (request smuggling, or a garbage 400 sent to a client that asked nothing).
//   Its keep-alive loop cannot be told to close, so Listener replaces that loop (process_and_close_socket,
//   a virtual of httplib::Server): a handler marks the connection, and the loop closes it after the answer,
//   first draining what the client still sends for a moment (a lingering close, so the client reads the
//   answer instead of a connection reset).
// - Stopping: cpp-httplib's loop notices a stop only when an idle keep-alive connection times out; ours
//   checks every 100 ms, so stop() returns once the in-flight requests are answered.
// - Threads: cpp-httplib keeps a connection on one thread of the pool until it closes, so `threads` idle
//   keep-alive clients would leave new connections queued until a keep-alive timeout. Here an idle
//   keep-alive connection closes as soon as another connection waits for a thread.
// - SO_REUSEPORT: cpp-httplib sets it by default, which would let a second `advx serve` bind the same port
//   and silently share the traffic; only SO_REUSEADDR is set here. The listen backlog (5 in cpp-httplib) is
//   raised to SOMAXCONN.
#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/hash.hpp"
#include "core/time_util.hpp"
#include "server/http_json.hpp"
#include "server/query_pool.hpp"
#include "store/report_request.hpp"
#include "store/result_format.hpp"

namespace advx {

namespace {

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

constexpr const char* kJson = "application/json";
constexpr const char* kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

// A 1x1 transparent GIF (GIF89a, two-colour palette, colour 0 transparent).
constexpr unsigned char kPixelGif[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                       0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04,
                                       0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01,
                                       0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B};
static_assert(sizeof(kPixelGif) == 43);

// ---------------------------------------------------------------------------------------------------------
// Connections

// Set by a handler that answers without having read the whole request body: the connection must close
// after the answer (see the top of the file). Handlers run on the thread of their connection's loop.
thread_local bool t_close_connection = false;

void close_after_answer(Response& res) {
  t_close_connection = true;
  if (res.get_header_value("Connection") != "close") res.set_header("Connection", "close");
}

int poll_one(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r >= 0 || errno != EINTR) return r;
  }
}

void address_text(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// httplib::Stream over one accepted socket, reading through a small buffer (cpp-httplib reads request
// lines a byte at a time).
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, int read_timeout_ms, int write_timeout_ms)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override { return buffered() || poll_one(sock_, POLLIN, read_timeout_ms_) > 0; }
  bool is_writable() const override { return poll_one(sock_, POLLOUT, write_timeout_ms_) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      if (poll_one(sock_, POLLIN, read_timeout_ms_) <= 0) return -1;
      if (size >= buffer_.size()) return receive(ptr, size);
      const ssize_t n = receive(buffer_.data(), buffer_.size());
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    for (;;) {
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      address_text(addr, len, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      address_text(addr, len, ip, port);
  }

  socket_t socket() const override { return sock_; }

  bool buffered() const { return begin_ < end_; }

 private:
  ssize_t receive(char* ptr, size_t size) {
    for (;;) {
      const ssize_t n = ::recv(sock_, ptr, size, 0);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  int sock_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  std::array<char, 4096> buffer_{};
  size_t begin_ = 0;
  size_t end_ = 0;
};

int to_ms(time_t sec, time_t usec) {
  const int64_t ms = static_cast<int64_t>(sec) * 1000 + static_cast<int64_t>(usec) / 1000;
  return static_cast<int>(std::clamp<int64_t>(ms, 1, std::numeric_limits<int>::max()));
}

// cpp-httplib's thread pool, counting the connections accepted but not yet given a thread.
class ConnectionPool final : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(size_t threads) : pool_(threads) {}

  void enqueue(std::function<void()> fn) override {
    waiting_.fetch_add(1);
    pool_.enqueue([this, fn = std::move(fn)] {
      waiting_.fetch_sub(1);
      fn();
    });
  }
  void shutdown() override { pool_.shutdown(); }

  bool connections_waiting() const { return waiting_.load() > 0; }

 private:
  std::atomic<int> waiting_{0};
  httplib::ThreadPool pool_;  // last: its threads stop (shutdown) before waiting_ goes
};

// httplib::Server with its connection loop replaced (see the top of the file).
class Listener final : public httplib::Server {
 public:
  explicit Listener(int threads) {
    new_task_queue = [this, n = static_cast<size_t>(std::max(threads, 1))] {
      auto* pool = new ConnectionPool(n);
      pool_ = pool;
      return pool;
    };
  }

  bool stopping() const { return svr_sock_ == INVALID_SOCKET; }

  // cpp-httplib listens with a backlog of 5; a collector takes bursts of connections.
  void raise_backlog() {
    const socket_t sock = svr_sock_;
    if (sock != INVALID_SOCKET) ::listen(sock, SOMAXCONN);
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    const int yes = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));  // headers and body are two writes
    ConnectionStream strm(sock, to_ms(read_timeout_sec_, read_timeout_usec_),
                          to_ms(write_timeout_sec_, write_timeout_usec_));
    t_close_connection = false;
    bool ok = true;
    bool first = true;
    for (size_t left = keep_alive_max_count_; left > 0 && wait_for_request(sock, strm, first); --left) {
      first = false;
      bool connection_closed = false;
      // "Connection: close" when this is the connection's last request
      const bool last = left == 1 || stopping() || pool_.load()->connections_waiting();
      ok = process_request(strm, last, connection_closed, nullptr);
      if (!ok || connection_closed || t_close_connection) break;
    }
    if (t_close_connection) discard_until_eof(sock);
    t_close_connection = false;
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  // Waits for the next request of a keep-alive connection: until keep_alive_timeout; for any but the first
  // request (a connection accepted before stop() still gets its answer) also until stop(), or until
  // another connection waits for a thread. A connection holds its thread while it is open, so an idle
  // keep-alive connection gives way: keep-alive is a courtesy, not a reservation of one of `threads`.
  bool wait_for_request(int sock, const ConnectionStream& strm, bool first) const {
    if (strm.buffered()) return true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    for (;;) {
      if (!first && (stopping() || pool_.load()->connections_waiting())) return false;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
              .count();
      if (left <= 0) return false;
      const int r = poll_one(sock, POLLIN, static_cast<int>(std::min<int64_t>(left, 100)));
      if (r != 0) return r > 0;
    }
  }

  // A lingering close: the answer is sent; tell the client we are done, and drop what it still sends for
  // up to 2 s (or 64 MB), so that closing with unread bytes does not reset the connection before the
  // client has read the answer.
  static void discard_until_eof(int sock) {
    ::shutdown(sock, SHUT_WR);
    std::array<char, 16384> sink;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (size_t total = 0; total < (size_t{64} << 20);) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
              .count();
      if (left <= 0 || poll_one(sock, POLLIN, static_cast<int>(left)) <= 0) return;
      const ssize_t n = ::recv(sock, sink.data(), sink.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      total += static_cast<size_t>(n);
    }
  }

  std::atomic<ConnectionPool*> pool_{nullptr};  // set when listening starts, before any connection
};

// ---------------------------------------------------------------------------------------------------------
// Small helpers

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Compares a secret without an early exit, so the time taken does not tell how much of it matched.
bool same_secret(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ secret[i % secret.size()]);
  return diff == 0 && !secret.empty();
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The Content-Encodings cpp-httplib decodes. Anything else would reach us still encoded.
bool decodable_encoding(std::string_view e) {
  return e.empty() || e == "identity" || e == "gzip" || e == "deflate" || e == "br";
}

// The source of a request's rows and rejects: its path and its identity, so that a client retrying the same
// request (its answer lost) finds the rejects again as duplicates, as a replay of a file or a Kafka offset
// does (docs/SERVE.md, "the same request"). The identity is the Idempotency-Key header when the client sends
// one (1-200 printable ASCII bytes: `key` is empty otherwise), else a 128-bit hash of the body.
std::string request_source(std::string_view path, std::string_view body, std::string_view key) {
  std::string s = "http:";
  s += path;
  if (!key.empty()) {
    s += "#key:";
    s += key;
    return s;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  const Hash128 h = hash128(body);
  s += "#body:";
  for (const uint64_t half : {h.hi, h.lo})
    for (int shift = 60; shift >= 0; shift -= 4) s += kHex[(half >> shift) & 0xF];
  return s;
}

// The Idempotency-Key header of a request: "" when absent; false when present but not 1-200 printable ASCII.
bool idempotency_key(const Request& req, std::string* key) {
  if (!req.has_header("Idempotency-Key")) return true;
  *key = req.get_header_value("Idempotency-Key");
  return !key->empty() && key->size() <= 200 &&
         std::all_of(key->begin(), key->end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

void answer(Response& res, int status, std::string body, const char* content_type = kJson) {
  res.status = status;
  res.set_content(body, content_type);
}

void answer_error(Response& res, int status, std::string_view message, std::string_view code = {}) {
  answer(res, status, http::error_json(message, code));
}

std::string_view status_text(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "unauthorized";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 408:
      return "request timeout";
    case 413:
      return "payload too large";
    case 414:
      return "URI too long";
    case 415:
      return "unsupported media type";
    case 416:
      return "range not satisfiable";
    case 503:
      return "service unavailable";
    default:
      return status >= 500 ? "internal server error" : "error";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Routes

enum class Endpoint : uint8_t {
  impressions,
  events,
  bid_requests,
  pixel,
  healthz,
  readyz,
  metrics,
  alerts,
  report_campaigns,
  report_funnel,
  report_latency,
  report_frequency,
  sql,
};

// Who may call a route when a bearer token is configured.
enum class Access : uint8_t {
  token,    // the token: the default, for every route that reads or writes data (and any route added later)
  open,     // anyone: health and readiness, probed by load balancers and orchestrators without credentials
  metrics,  // the token, unless metrics_public (a Prometheus scraping without credentials)
};

struct Route {
  std::string_view path;
  Endpoint endpoint;
  std::string_view allow;         // the methods served, as the Allow header of a 405 says them
  Access access = Access::token;  // an exception to the token must be written out
  bool token_parameter = false;   // also ?token=<token>: the pixel, since an <img> cannot send headers
};

constexpr Route kRoutes[] = {
    {.path = "/v1/impressions", .endpoint = Endpoint::impressions, .allow = "POST"},
    {.path = "/v1/events", .endpoint = Endpoint::events, .allow = "POST"},
    {.path = "/v1/bid-requests", .endpoint = Endpoint::bid_requests, .allow = "POST"},
    {.path = "/v1/pixel", .endpoint = Endpoint::pixel, .allow = "GET", .token_parameter = true},
    {.path = "/healthz", .endpoint = Endpoint::healthz, .allow = "GET, HEAD", .access = Access::open},
    {.path = "/readyz", .endpoint = Endpoint::readyz, .allow = "GET, HEAD", .access = Access::open},
    {.path = "/metrics", .endpoint = Endpoint::metrics, .allow = "GET, HEAD", .access = Access::metrics},
    {.path = "/v1/alerts", .endpoint = Endpoint::alerts, .allow = "GET"},
    {.path = "/v1/report/campaigns", .endpoint = Endpoint::report_campaigns, .allow = "GET"},
    {.path = "/v1/report/funnel", .endpoint = Endpoint::report_funnel, .allow = "GET"},
    {.path = "/v1/report/latency", .endpoint = Endpoint::report_latency, .allow = "GET"},
    {.path = "/v1/report/frequency", .endpoint = Endpoint::report_frequency, .allow = "GET"},
    {.path = "/v1/sql", .endpoint = Endpoint::sql, .allow = "GET, POST"},
};

const Route* find_route(std::string_view path) {
  for (const Route& r : kRoutes)
    if (r.path == path) return &r;
  return nullptr;
}

bool allows(const Route& route, std::string_view method) {
  std::string_view rest = route.allow;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (trim(rest.substr(0, comma)) == method) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

// Whether the request carries a body (which cpp-httplib reads only for POST, PUT, PATCH and DELETE).
bool has_body(const Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  const std::string length = req.get_header_value("Content-Length");
  return !length.empty() && length.find_first_not_of('0') != std::string::npos;
}

// The query parameters, each name once with its first value, in cpp-httplib's order (sorted by name).
std::vector<std::pair<std::string, std::string>> first_values(const httplib::Params& params) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : params)
    if (out.empty() || out.back().first != name) out.emplace_back(name, value);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------

struct HttpServer::Impl {
  Impl(HttpServerOptions o, ServerHooks h)
      : options(std::move(o)), hooks(std::move(h)), server(options.threads) {
    install();
  }

  HttpServerOptions options;
  ServerHooks hooks;
  Listener server;
  std::mutex mutex;  // start() and stop()
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  std::atomic<int> port{0};
  bool started = false;
  bool stopped = false;
  mutable std::mutex counts_mutex;
  std::map<std::pair<std::string, int>, uint64_t> counts;  // (endpoint, status) -> requests

  void install();
  bool enabled(Endpoint e) const;
  bool authorized(const Request& req, const Route& route) const;
  HandlerResponse pre_route(const Request& req, Response& res);
  bool read_body(const Request& req, Response& res, const httplib::ContentReader& reader, std::string& body);
  std::optional<SubmitResult> submit_and_wait(Submission s, Response& res);
  void retry_later(Response& res, std::string_view message) const;
  void answer_result(const SubmitResult& result, Response& res) const;
  void ingest(const Request& req, Response& res, const httplib::ContentReader& reader, Stream stream);
  bool frame_bid_requests(std::string& body, Submission& s, Response& res);
  void pixel(const Request& req, Response& res);
  void report(const Request& req, Response& res, Endpoint which);
  void sql(const std::string& text, Response& res);
  void run_query(const std::function<ResultTable()>& run, Response& res, int store_error_status);
};

void HttpServer::Impl::install() {
  // cpp-httplib calls its logger once per answered request: that is where requests are counted.
  server.set_logger([this](const Request& req, const Response& res) {
    const Route* route = find_route(req.path);
    std::lock_guard lock(counts_mutex);
    counts[{route ? std::string(route->path) : "other", res.status}]++;
  });
  server.set_read_timeout(std::max(options.read_timeout_seconds, 1));
  server.set_write_timeout(std::max(options.write_timeout_seconds, 1));
  server.set_keep_alive_timeout(std::max(options.keep_alive_timeout_seconds, 1));
  server.set_keep_alive_max_count(static_cast<size_t>(std::max(options.keep_alive_max_requests, 1)));
  server.set_payload_max_length(options.max_body_bytes);  // the Content-Length; read_body() does the rest
  server.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  server.set_pre_routing_handler([this](const Request& req, Response& res) { return pre_route(req, res); });
  // A client sending "Expect: 100-continue" (curl does for bodies over 1 MB) gets a refusal before it
  // sends the body, rather than after.
  server.set_expect_100_continue_handler([this](const Request& req, Response& res) {
    if (pre_route(req, res) == HandlerResponse::Unhandled) return 100;
    close_after_answer(res);
    res.set_header("Content-Length", std::to_string(res.body.size()));
    return res.status;
  });
  // cpp-httplib's own refusals (a bad request line, an over-long URI, ...) come without a body; after them
  // the connection is in an unknown state, so it closes.
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const Request&, Response& res) {
    if (!res.body.empty()) return HandlerResponse::Unhandled;
    answer_error(res, res.status, status_text(res.status));
    close_after_answer(res);
    return HandlerResponse::Handled;
  }));
  server.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what += ": ";
      what += e.what();
    } catch (...) {
    }
    answer_error(res, 500, what);
    close_after_answer(res);  // the body may be half read
  });

  using Reader = httplib::Server::HandlerWithContentReader;
  server.Post("/v1/impressions", Reader([this](const Request& req, Response& res, const auto& reader) {
                ingest(req, res, reader, Stream::impressions);
              }));
  server.Post("/v1/events", Reader([this](const Request& req, Response& res, const auto& reader) {
                ingest(req, res, reader, Stream::events);
              }));
  server.Post("/v1/bid-requests", Reader([this](const Request& req, Response& res, const auto& reader) {
                ingest(req, res, reader, Stream::bid_requests);
              }));
  server.Get("/v1/pixel", [this](const Request& req, Response& res) { pixel(req, res); });
  server.Get("/healthz", [](const Request&, Response& res) { answer(res, 200, R"({"status":"ok"})"); });
  server.Get("/readyz", [this](const Request&, Response& res) {
    const bool ready = !hooks.ready || hooks.ready();
    answer(res, ready ? 200 : 503, ready ? R"({"status":"ready"})" : R"({"status":"not ready"})");
  });
  server.Get("/metrics",
             [this](const Request&, Response& res) { answer(res, 200, hooks.metrics(), kPrometheus); });
  server.Get("/v1/alerts", [this](const Request&, Response& res) { answer(res, 200, hooks.alerts()); });
  server.Get("/v1/report/campaigns",
             [this](const Request& req, Response& res) { report(req, res, Endpoint::report_campaigns); });
  server.Get("/v1/report/funnel",
             [this](const Request& req, Response& res) { report(req, res, Endpoint::report_funnel); });
  server.Get("/v1/report/latency",
             [this](const Request& req, Response& res) { report(req, res, Endpoint::report_latency); });
  server.Get("/v1/report/frequency",
             [this](const Request& req, Response& res) { report(req, res, Endpoint::report_frequency); });
  server.Get("/v1/sql", [this](const Request& req, Response& res) {
    for (const auto& [name, value] : req.params) {
      if (name != "q") {
        answer_error(res, 400, "unknown parameter '" + name + "' (use q)");
        return;
      }
    }
    sql(req.get_param_value("q"), res);
  });
  server.Post("/v1/sql", Reader([this](const Request& req, Response& res, const auto& reader) {
                std::string text;
                if (read_body(req, res, reader, text)) sql(text, res);
              }));
}

bool HttpServer::Impl::enabled(Endpoint e) const {
  switch (e) {
    case Endpoint::impressions:
    case Endpoint::events:
    case Endpoint::bid_requests:
    case Endpoint::pixel:
      return static_cast<bool>(hooks.submit);
    case Endpoint::metrics:
      return static_cast<bool>(hooks.metrics);
    case Endpoint::alerts:
      return static_cast<bool>(hooks.alerts);
    case Endpoint::report_campaigns:
    case Endpoint::report_funnel:
    case Endpoint::report_latency:
    case Endpoint::report_frequency:
      return static_cast<bool>(hooks.report);
    case Endpoint::sql:
      return static_cast<bool>(hooks.query);
    case Endpoint::healthz:
    case Endpoint::readyz:
      return true;
  }
  return false;
}

// "Authorization: Bearer <token>" (the scheme in any case); for the pixel also "?token=<token>", since an
// <img> cannot send headers.
bool HttpServer::Impl::authorized(const Request& req, const Route& route) const {
  const std::string& token = options.bearer_token;
  if (token.empty() || route.access == Access::open) return true;
  if (route.access == Access::metrics && options.metrics_public) return true;
  constexpr std::string_view kScheme = "bearer ";
  const std::string header = req.get_header_value("Authorization");
  if (header.size() > kScheme.size() &&
      iequals(std::string_view(header).substr(0, kScheme.size()), kScheme) &&
      same_secret(trim(std::string_view(header).substr(kScheme.size())), token))
    return true;
  return route.token_parameter && req.has_param("token") && same_secret(req.get_param_value("token"), token);
}

// Runs before a request's body is read: answers what can be answered from the request line and headers
// alone (404, 401, 405, 413 by Content-Length, 415), so that a refused body is never read. The token is
// checked before anything else about a known path, so a client without it learns nothing of the
// configuration (which endpoints are enabled, which methods they take).
HandlerResponse HttpServer::Impl::pre_route(const Request& req, Response& res) {
  const bool body = has_body(req);
  const auto refuse = [&](int status, std::string_view message, std::string_view code = {}) {
    answer_error(res, status, message, code);
    if (body) close_after_answer(res);
    return HandlerResponse::Handled;
  };
  const Route* route = find_route(req.path);
  if (route == nullptr) return refuse(404, "not found: " + req.path);
  if (!authorized(req, *route)) {
    res.set_header("WWW-Authenticate", "Bearer");
    return refuse(401, "missing or wrong bearer token (send \"Authorization: Bearer <token>\")",
                  "unauthorized");
  }
  if (!enabled(route->endpoint)) return refuse(404, "not found: " + req.path);
  if (!allows(*route, req.method)) {
    res.set_header("Allow", std::string(route->allow));
    return refuse(405, "method " + req.method + " not allowed on " + req.path + " (use " +
                           std::string(route->allow) + ")");
  }
  if (req.method == "POST") {
    const std::string transfer = req.get_header_value("Transfer-Encoding");
    if (!transfer.empty() && !iequals(transfer, "chunked"))
      return refuse(400, "unsupported Transfer-Encoding '" + transfer + "' (use chunked)");
    if (req.get_header_value_count("Content-Length") > 1) return refuse(400, "more than one Content-Length");
    if (req.has_header("Content-Length") && transfer.empty()) {
      const std::string length = req.get_header_value("Content-Length");
      if (!all_digits(length)) return refuse(400, "bad Content-Length '" + length + "'");
      if (length.size() > 19 || std::stoull(length) > options.max_body_bytes)
        return refuse(413, "body larger than " + std::to_string(options.max_body_bytes) + " bytes");
    }
    if (req.is_multipart_form_data())  // cpp-httplib would parse it as form fields, not hand it over
      return refuse(415, "multipart/form-data bodies are not accepted: send the data as the body itself");
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!decodable_encoding(encoding))
      return refuse(415,
                    "unsupported Content-Encoding '" + encoding + "' (use gzip, deflate, br or identity)");
  } else if (body) {
    close_after_answer(res);  // cpp-httplib does not read the body of a GET: do not take it for a request
  }
  return HandlerResponse::Unhandled;
}

// The whole body, decompressed, at most max_body_bytes. False when it was answered already: 413 over the
// limit, 400 when it cannot be read (bad gzip, a connection cut short).
bool HttpServer::Impl::read_body(const Request& req, Response& res, const httplib::ContentReader& reader,
                                 std::string& body) {
  body.clear();
  bool too_large = false;
  const bool ok = reader([&](const char* data, size_t n) {
    if (n > options.max_body_bytes - body.size()) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (ok) return true;
  body.clear();
  close_after_answer(res);
  const bool encoded = !req.get_header_value("Content-Encoding").empty() &&
                       req.get_header_value("Content-Encoding") != "identity";
  if (too_large) {
    answer_error(res, 413,
                 "body larger than " + std::to_string(options.max_body_bytes) + " bytes" +
                     (encoded ? " once decompressed" : ""));
  } else {
    answer_error(res, 400,
                 encoded ? "cannot read the request body: not valid " +
                               req.get_header_value("Content-Encoding") + " data, or cut short"
                         : "cannot read the request body: cut short or badly chunked");
  }
  return false;
}

// Queues the submission and waits for its commit. nullopt when the engine refused it (503 answered).
std::optional<SubmitResult> HttpServer::Impl::submit_and_wait(Submission s, Response& res) {
  struct Pending {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    SubmitResult result;
  };
  // Shared with `done`, which the engine may call (once) from its own thread, even inside submit().
  auto pending = std::make_shared<Pending>();
  s.done = [pending](const SubmitResult& result) {
    std::lock_guard lock(pending->mutex);
    if (pending->done) return;
    pending->result = result;
    pending->done = true;
    pending->cv.notify_all();
  };
  bool queued = false;
  try {
    queued = hooks.submit(std::move(s));
  } catch (const std::exception& e) {
    answer_error(res, 500, std::string("cannot queue the body: ") + e.what());
    return std::nullopt;
  }
  if (!queued) {
    retry_later(res, "overloaded, retry later");
    return std::nullopt;
  }
  std::unique_lock lock(pending->mutex);
  pending->cv.wait(lock, [&] { return pending->done; });
  return pending->result;
}

void HttpServer::Impl::retry_later(Response& res, std::string_view message) const {
  res.set_header("Retry-After", std::to_string(std::max(options.retry_after_seconds, 0)));
  answer_error(res, 503, message);
}

void HttpServer::Impl::answer_result(const SubmitResult& result, Response& res) const {
  switch (result.status) {
    case SubmitResult::Status::ok:
      answer(res, 200, http::submit_result_json(result));
      return;
    case SubmitResult::Status::bad_input:
      answer_error(res, 400, result.error.empty() ? "the body cannot be decoded" : result.error);
      return;
    case SubmitResult::Status::store_error:
      retry_later(res, result.error.empty() ? "the store failed, retry later"
                                            : "the store failed, retry later: " + result.error);
      return;
    case SubmitResult::Status::shutting_down:
      retry_later(res, "shutting down, retry later");
      return;
    case SubmitResult::Status::fenced:  // Kafka submissions only; an HTTP body is never fenced
      retry_later(res, "retry later");
      return;
  }
  answer_error(res, 500, "unknown submission status");
}

void HttpServer::Impl::ingest(const Request& req, Response& res, const httplib::ContentReader& reader,
                              Stream stream) {
  std::string body;
  if (!read_body(req, res, reader, body)) return;
  if (body.empty()) {
    answer_error(res, 400, "empty body");
    return;
  }
  std::string key;
  if (!idempotency_key(req, &key)) {
    answer_error(res, 400, "Idempotency-Key must be 1 to 200 printable ASCII characters");
    return;
  }
  Submission s;
  s.stream = stream;
  s.source = request_source(req.path, body, key);
  switch (stream) {
    case Stream::impressions:
      s.format = BodyFormat::json;
      s.body = std::move(body);
      break;
    case Stream::events:
      s.format = BodyFormat::csv;
      s.body = std::move(body);
      break;
    case Stream::bid_requests:
      if (!frame_bid_requests(body, s, res)) return;
      break;
  }
  if (const auto result = submit_and_wait(std::move(s), res)) answer_result(*result, res);
}

// An Object Container File goes as it is; one Confluent-framed datum (magic byte 0, schema id as 4 bytes
// big-endian, the datum) becomes an avro_datums body: the datum preceded by its length, 4 bytes
// little-endian, with the writer schema looked up by id.
bool HttpServer::Impl::frame_bid_requests(std::string& body, Submission& s, Response& res) {
  if (body.starts_with(std::string_view("Obj\x01", 4))) {
    s.format = BodyFormat::avro_ocf;
    s.body = std::move(body);
    return true;
  }
  if (body[0] != '\0') {
    answer_error(res, 400,
                 "not Avro: expected an Object Container File (starting with \"Obj\\x01\") or one "
                 "Confluent-framed datum (magic byte 0, 4-byte schema id, datum)");
    return false;
  }
  constexpr size_t kHeader = 5;
  if (body.size() <= kHeader) {
    answer_error(res, 400,
                 "a Confluent-framed datum needs a 5-byte header and a datum; got " +
                     std::to_string(body.size()) + " bytes");
    return false;
  }
  const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(body[i])); };
  const auto id = static_cast<int32_t>(byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4));
  if (!hooks.schema_for_id) {
    answer_error(res, 400, "Confluent-framed datums need a schema registry, and none is configured");
    return false;
  }
  std::string error;
  std::shared_ptr<const std::string> schema;
  try {
    schema = hooks.schema_for_id(id, &error);
  } catch (const std::exception& e) {  // the registry cannot be reached: not the client's fault
    retry_later(res, std::string("schema registry: ") + e.what());
    return false;
  }
  if (!schema) {
    answer_error(res, 400, error.empty() ? "unknown schema id " + std::to_string(id) : error);
    return false;
  }
  const size_t n = body.size() - kHeader;
  if (n > std::numeric_limits<uint32_t>::max()) {
    answer_error(res, 413, "datum too large");
    return false;
  }
  s.body.reserve(4 + n);
  for (int shift = 0; shift < 32; shift += 8) s.body += static_cast<char>((n >> shift) & 0xFF);
  s.body.append(body, kHeader, n);
  s.format = BodyFormat::avro_datums;
  s.schema_json = std::move(schema);
  s.schema_id = id;
  return true;
}

// The query parameters become one impression (`token` excluded); the answer is the GIF once the record is
// committed — also when it was rejected: a browser can do nothing about it. 503 when the engine refused
// the hit or could not store it.
void HttpServer::Impl::pixel(const Request& req, Response& res) {
  auto params = first_values(req.params);
  std::erase_if(params, [](const auto& p) { return p.first == "token"; });
  // A browser's hit carries its user agent and address in the request, not in the URL: they feed the bot
  // and IP filters (SPEC 2.3) unless the URL names them. Behind a proxy, pass ip= explicitly.
  auto has = [&](std::string_view name) {
    return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
  };
  if (!has("user_agent") && req.has_header("User-Agent"))
    params.emplace_back("user_agent", req.get_header_value("User-Agent"));
  if (!has("ip") && !req.remote_addr.empty()) params.emplace_back("ip", req.remote_addr);
  Submission s;
  s.stream = Stream::impressions;
  s.format = BodyFormat::json;
  s.body = http::pixel_json(params);
  s.source = request_source(req.path, s.body, {});
  const auto result = submit_and_wait(std::move(s), res);
  if (!result) return;
  if (result->status == SubmitResult::Status::store_error ||
      result->status == SubmitResult::Status::shutting_down) {
    answer_result(*result, res);
    return;
  }
  res.status = 200;
  res.set_content(reinterpret_cast<const char*>(kPixelGif), sizeof(kPixelGif), "image/gif");
  res.set_header("Cache-Control", "no-store");
}

// GET /v1/report/<name>: the reports of `advx report` (docs/REPORTS.md), with the CLI's options as query
// parameters: from, to (ISO-8601 or YYYY-MM-DD, UTC; from inclusive, to exclusive), by (comma-separated
// keys; campaigns: campaign, creative, site, country, device, day, hour; the others: campaign) and, for
// campaigns and funnel, rollup=false (advx report --no-rollup).
void HttpServer::Impl::report(const Request& req, Response& res, Endpoint which) {
  const bool campaigns = which == Endpoint::report_campaigns;
  const bool has_rollup = campaigns || which == Endpoint::report_funnel;
  std::vector<report::Dimension> by;
  bool by_campaign = false;
  report::TimeRange range;
  report::Scan scan = report::Scan::rollup;
  for (const auto& [name, value] : req.params) {
    if (name == "by") {
      for (std::string_view rest = value;;) {
        const size_t comma = rest.find(',');
        const std::string_view key = trim(rest.substr(0, comma));
        if (!key.empty()) {
          report::Dimension d{};
          if (campaigns ? !report::parse_dimension(key, &d) : key != "campaign") {
            std::string names;
            for (const std::string& n :
                 campaigns ? report::dimension_names() : std::vector<std::string>{"campaign"})
              names += (names.empty() ? "" : ", ") + n;
            answer_error(res, 400, "by: unknown key '" + std::string(key) + "' (use " + names + ")");
            return;
          }
          if (campaigns) by.push_back(d);
          by_campaign = true;
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if ((name == "from" || name == "to" || (name == "rollup" && has_rollup)) && value.empty()) {
      continue;  // as if not given (a form's empty field)
    } else if (name == "from" || name == "to") {
      int64_t micros = 0;
      if (!report::parse_time_bound(value, &micros)) {
        answer_error(res, 400,
                     name + ": not a timestamp: " + value +
                         " (use ISO-8601, e.g. 2026-11-01T00:00:00Z, or YYYY-MM-DD)");
        return;
      }
      (name == "from" ? range.from_us : range.to_us) = micros;
    } else if (name == "rollup" && has_rollup) {
      if (value == "true" || value == "1") {
        scan = report::Scan::rollup;
      } else if (value == "false" || value == "0") {
        scan = report::Scan::raw;
      } else {
        answer_error(res, 400, "rollup: use true or false, not '" + value + "'");
        return;
      }
    } else {
      answer_error(res, 400,
                   "unknown parameter '" + name + "' (use from, to, by" + (has_rollup ? ", rollup)" : ")"));
      return;
    }
  }
  if (range.from_us && range.to_us && *range.from_us >= *range.to_us) {
    answer_error(res, 400, "from must be before to");
    return;
  }
  ReportRequest q;
  q.kind = which == Endpoint::report_campaigns ? report::Kind::campaigns
           : which == Endpoint::report_funnel  ? report::Kind::funnel
           : which == Endpoint::report_latency ? report::Kind::latency
                                               : report::Kind::frequency;
  q.by = std::move(by);
  q.by_campaign = by_campaign;
  q.range = range;
  q.scan = scan;
  // The parameters were fine: a StoreError is the store failing.
  run_query([&] { return hooks.report(q); }, res, 500);
}

// Read-only SQL: hooks.query refuses anything else with a StoreError, as it does a failing statement.
void HttpServer::Impl::sql(const std::string& text, Response& res) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    answer_error(res, 400, "no SQL given (POST it as the body, or GET /v1/sql?q=...)");
    return;
  }
  run_query([&] { return hooks.query(text); }, res, 400);
}

// Runs a query through the hook: 200 with its rows; 504 past the query timeout; 503 with Retry-After when
// the queries are stopping; `store_error_status` for a StoreError (400 for the client's SQL, 500 for a
// report's); 500 for anything else.
void HttpServer::Impl::run_query(const std::function<ResultTable()>& run, Response& res,
                                 int store_error_status) {
  try {
    answer(res, 200, format_json(run()));
  } catch (const QueryTimeout& e) {
    answer_error(res, 504, e.what(), "query_timeout");
  } catch (const QueryUnavailable& e) {
    res.set_header("Retry-After", std::to_string(std::max(options.retry_after_seconds, 0)));
    answer_error(res, 503, e.what(), "shutting_down");
  } catch (const StoreError& e) {
    answer_error(res, store_error_status, e.what());
  } catch (const std::exception& e) {
    answer_error(res, 500, e.what());
  }
}

// ---------------------------------------------------------------------------------------------------------

HttpServer::HttpServer(HttpServerOptions options, ServerHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(hooks))) {}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::start(std::string* error) {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  const auto fail = [&](std::string message) {
    if (error != nullptr) *error = std::move(message);
    return false;
  };
  const HttpServerOptions& o = d.options;
  if (d.started || d.stopped) return fail("the HTTP server was started already");
  if (o.port < 0 || o.port > 65535)
    return fail("port must be between 0 and 65535, not " + std::to_string(o.port));
  if (o.threads < 1) return fail("threads must be at least 1, not " + std::to_string(o.threads));
  if (o.max_body_bytes == 0) return fail("max_body_bytes must be at least 1");
  const std::string where =
      (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  errno = 0;
  int port = -1;
  if (o.port == 0) {
    port = d.server.bind_to_any_port(o.host);
  } else if (d.server.bind_to_port(o.host, o.port)) {
    port = o.port;
  }
  if (port <= 0) {
    const int e = errno;
    const std::string why = e == EADDRINUSE      ? "address in use"
                            : e == EADDRNOTAVAIL ? "not an address of this machine"
                            : e == EACCES        ? "permission denied"
                            : e != 0             ? std::strerror(e)
                                                 : "unknown host, or address in use?";
    return fail("cannot listen on " + where + " (" + why + ")");
  }
  d.server.raise_backlog();
  d.port = port;
  d.thread = std::thread([&d] {
    d.server.listen_after_bind();
    d.listen_returned = true;
  });
  // stop() is a no-op for cpp-httplib until its accept loop runs: wait for it.
  while (!d.server.is_running() && !d.listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.started = true;
  return true;
}

int HttpServer::port() const { return impl_->port; }

std::vector<HttpServer::RouteInfo> HttpServer::routes() {
  std::vector<RouteInfo> out;
  for (const Route& r : kRoutes) out.push_back({std::string(r.path), std::string(r.allow)});
  return out;
}

std::vector<HttpServer::RequestCount> HttpServer::request_counts() const {
  std::lock_guard lock(impl_->counts_mutex);
  std::vector<RequestCount> out;
  for (const auto& [key, n] : impl_->counts) out.push_back({key.first, key.second, n});
  return out;
}

void HttpServer::stop() {
  Impl& d = *impl_;
  std::lock_guard lock(d.mutex);
  if (d.stopped) return;
  d.stopped = true;
  if (!d.started) return;
  d.server.stop();  // closes the listening socket; the loop then waits for every connection thread
  if (d.thread.joinable()) d.thread.join();
}

}  // namespace advx
