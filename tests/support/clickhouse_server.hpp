// A real ClickHouse server for tests (Debian's clickhouse-server 18.16, which scripts/setup installs), run
// as a child process with a config, users, data and logs of its own in a temp folder, on free loopback
// ports: never the system service the package may have started. Header-only. It does not include
// external_servers.hpp (whose free_port/ChildProcess/ScratchDir are of the same kind): that header pulls
// in simdjson and httplib, which test_clickhouse does not link.
#pragma once
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace advx::test {

// The server binary: $ADVX_CLICKHOUSE, else Debian's /usr/sbin/clickhouse-server, else upstream's single
// binary /usr/bin/clickhouse (run as `clickhouse server`).
inline std::string clickhouse_binary() {
  if (const char* env = std::getenv("ADVX_CLICKHOUSE"); env && *env) return env;
  for (const char* b : {"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/bin/clickhouse"})
    if (access(b, X_OK) == 0) return b;
  return "/usr/sbin/clickhouse-server";
}

// Two distinct ports free right now on 127.0.0.1: both sockets are bound (to port 0) before either is
// closed, so the kernel cannot hand out the same one twice.
inline std::pair<int, int> two_free_ports() {
  int fds[2] = {-1, -1};
  int ports[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fds[i] >= 0 && bind(fds[i], reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fds[i], reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      ports[i] = ntohs(addr.sin_port);
  }
  for (int fd : fds)
    if (fd >= 0) close(fd);
  return {ports[0], ports[1]};
}

class ClickHouseServer {
 public:
  // Makes the folder, picks the ports and writes the config; start() runs the server.
  ClickHouseServer() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "advx-clickhouse-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("clickhouse: cannot make a temp folder");
    dir_ = tmpl;
    std::tie(http_port_, tcp_port_) = two_free_ports();
    if (http_port_ == 0 || tcp_port_ == 0) throw std::runtime_error("clickhouse: no free port");
    write_config();
  }
  // The folder goes with the server, so there is nothing to shut down cleanly: SIGKILL, not stop()'s
  // SIGTERM, which 18.16 takes ~2.5 s to act on (once per test process that starts a server).
  ~ClickHouseServer() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ClickHouseServer(const ClickHouseServer&) = delete;
  ClickHouseServer& operator=(const ClickHouseServer&) = delete;

  // Starts the server and waits for GET /ping to answer "Ok.\n", for up to `deadline`. Throws
  // std::runtime_error with the end of the server's logs when it exits or the deadline passes.
  void start(std::chrono::seconds deadline = std::chrono::seconds(30)) {
    if (running()) return;
    const std::string binary = clickhouse_binary();
    if (access(binary.c_str(), X_OK) != 0)
      throw std::runtime_error(binary +
                               " is missing: scripts/setup installs it (Debian package clickhouse-server)");
    std::vector<std::string> args = {binary};
    if (std::filesystem::path(binary).filename() == "clickhouse") args.push_back("server");
    args.push_back("--config-file=" + (dir_ / "config.xml").string());
    spawn(args);
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      if (!running()) {
        throw std::runtime_error("clickhouse-server exited (wait status " + std::to_string(status_) +
                                 "): " + log_tail());
      }
      if (ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("clickhouse-server not answering /ping after " +
                             std::to_string(deadline.count()) + " s: " + log_tail());
  }

  // SIGTERM, up to `deadline` to exit (18.16 takes about 2 s), then SIGKILL. The data folder stays.
  void stop(std::chrono::seconds deadline = std::chrono::seconds(20)) {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      if (!running()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
  }
  // Down and up again with the same data folder and ports: a store that goes away and comes back.
  void restart() {
    stop();
    start();
  }
  // True while the server process has not exited (an exited one is reaped).
  bool running() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, &status_, WNOHANG) != pid_) return true;
    pid_ = -1;
    return false;
  }

  int http_port() const { return http_port_; }
  int tcp_port() const { return tcp_port_; }
  std::string url(std::string_view db = "default") const {
    return "clickhouse://127.0.0.1:" + std::to_string(http_port_) + "/" + std::string(db);
  }
  const std::filesystem::path& folder() const { return dir_; }

  // The <remote_servers> section of the config (a cluster's shards), written before start().
  void set_remote_servers(std::string xml) {
    remote_servers_ = std::move(xml);
    write_config();
  }

  // GET /ping answered "Ok.\n" within a short timeout.
  bool ping() const {
    static std::once_flag init;
    std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    CURL* c = curl_easy_init();
    if (!c) return false;
    std::string body;
    const std::string u = "http://127.0.0.1:" + std::to_string(http_port_) + "/ping";
    curl_easy_setopt(c, CURLOPT_URL, u.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 500L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* out) {
          static_cast<std::string*>(out)->append(d, s * n);
          return s * n;
        });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    const bool ok = curl_easy_perform(c) == CURLE_OK && body == "Ok.\n";
    curl_easy_cleanup(c);
    return ok;
  }

  // The last `bytes` of the server's error log and of its stdout/stderr, for failure messages.
  std::string log_tail(size_t bytes = 3000) const {
    std::string out;
    for (const char* name : {"server.err.log", "stdout.log"}) {
      std::ifstream in(dir_ / name, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      if (text.size() > bytes) text = "…" + text.substr(text.size() - bytes);
      out += std::string("\n--- ") + name + ":\n" + text;
    }
    return out;
  }

 private:
  // The server as a child, its stdout and stderr appended to stdout.log. PR_SET_PDEATHSIG: a test killed
  // by its timeout takes its server with it instead of leaving it running (the signal comes when the
  // thread that started the server ends: start servers from the test's main thread). Everything is built
  // before fork; the child makes only async-signal-safe calls.
  void spawn(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const std::string log = (dir_ / "stdout.log").string();
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("clickhouse: cannot fork: " + std::string(std::strerror(errno)));
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the parent went before the signal was armed
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
  }

  void write_config() const {
    const std::string d = dir_.string();
    // 18.16's keys only (an unknown key such as max_server_memory_usage stops it). No
    // interserver_http_port: without one the server opens no replication port. Caches small: tests hold
    // little data, and two servers may run at once on a 2-core machine. Idle kept-alive connections close
    // after 2 s: a SIGTERM'd server waits for them (10 s by default), and tests stop servers often.
    std::ofstream(dir_ / "config.xml") << R"(<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>)" << d << R"(/server.log</log>
    <errorlog>)" << d << R"(/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <http_port>)" << http_port_ << R"(</http_port>
  <tcp_port>)" << tcp_port_ << R"(</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>)" << d << R"(/data/</path>
  <tmp_path>)" << d << R"(/data/tmp/</tmp_path>
  <user_files_path>)" << d << R"(/data/user_files/</user_files_path>
  <format_schema_path>)" << d << R"(/data/format_schemas/</format_schema_path>
  <users_config>)" << d << R"(/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>2</keep_alive_timeout>
)" << remote_servers_ << R"(
</yandex>
)";
    std::ofstream(dir_ / "users.xml") << R"(<?xml version="1.0"?>
<yandex>
  <profiles>
    <default></default>
    <readonly><readonly>1</readonly></readonly>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
)";
  }

  std::filesystem::path dir_;
  std::string remote_servers_;
  int http_port_ = 0;
  int tcp_port_ = 0;
  pid_t pid_ = -1;
  int status_ = 0;  // the wait status of the last exit
};

// Two servers on loopback as the two shards of cluster `advx` (docs/STORES.md, "Sharded ClickHouse"): each
// config's <remote_servers> names both by TCP port, shard 1 first, as the URL lists them. No ZooKeeper,
// no replicas. Both are SIGKILLed with the object.
class ClickHouseCluster {
 public:
  static constexpr const char* kName = "advx";

  ClickHouseCluster() {
    std::string xml = "  <remote_servers>\n    <" + std::string(kName) + ">\n";
    for (auto& s : servers_)
      xml += "      <shard><replica><host>127.0.0.1</host><port>" + std::to_string(s.tcp_port()) +
             "</port></replica></shard>\n";
    xml += "    </" + std::string(kName) + ">\n  </remote_servers>";
    for (auto& s : servers_) s.set_remote_servers(xml);
  }
  // Starts both (throws std::runtime_error as ClickHouseServer::start()).
  void start() {
    for (auto& s : servers_) s.start();
  }
  ClickHouseServer& server(size_t i) { return servers_[i]; }
  // clickhouse://127.0.0.1:HTTP1,127.0.0.1:HTTP2/DB?cluster=advx
  std::string url(std::string_view db) const {
    return "clickhouse://127.0.0.1:" + std::to_string(servers_[0].http_port()) +
           ",127.0.0.1:" + std::to_string(servers_[1].http_port()) + "/" + std::string(db) +
           "?cluster=" + kName;
  }

 private:
  ClickHouseServer servers_[2];
};

}  // namespace advx::test
