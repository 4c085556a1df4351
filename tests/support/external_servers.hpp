// External servers for tests: a free port, a child process guard, and a real Prometheus Alertmanager
// (the Debian packages scripts/setup installs) with a reader of its GET /api/v2/alerts.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace advx::test {

inline constexpr const char* kAlertmanagerBinary = "/usr/bin/prometheus-alertmanager";
inline constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";

// Success when `binary` is executable; otherwise a failure saying scripts/setup installs it (from the
// Debian package `package`). Use as ASSERT_TRUE(installed(...)): a missing server fails the test.
inline ::testing::AssertionResult installed(const std::string& binary, const std::string& package) {
  if (access(binary.c_str(), X_OK) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << binary << " is missing: scripts/setup installs it (Debian package " << package << ")";
}

// A port free right now on 127.0.0.1 (bind to port 0, read it, close); 0 when none could be had.
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// `binary ARGS` as a child process, its stdout and stderr appended to `log_path`. When the guard goes,
// whatever failed before: SIGTERM, up to 20 s to exit, then SIGKILL.
class ChildProcess {
 public:
  ChildProcess(const std::string& binary, const std::vector<std::string>& args, const std::string& log_path) {
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<std::string> all = {binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }
  ~ChildProcess() {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; i++) {  // 20 s to shut down cleanly
      if (reap()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // True while the child has not exited (an exited child is reaped, and stays not running).
  bool running() { return pid_ > 0 && !reap(); }
  pid_t pid() const { return pid_; }
  // The status waitpid gave once the child exited (see running()).
  int exit_status() const { return status_; }

 private:
  bool reap() {
    if (exited_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exited_ = true;
    status_ = status;
    return true;
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// A temp dir, removed (with all in it) when the guard goes.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data())) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Alertmanager on 127.0.0.1:<free port>, routing everything to a receiver that does nothing, clustering off,
// its config, storage and log in a temp dir removed at the end.
class AlertmanagerProcess {
 public:
  AlertmanagerProcess() : dir_("advx-alertmanager") {
    port_ = free_port();
    if (dir_.path().empty() || port_ == 0) return;
    std::ofstream(dir_.path() / "alertmanager.yml")
        << "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n";
    process_ = std::make_unique<ChildProcess>(
        kAlertmanagerBinary,
        std::vector<std::string>{
            "--config.file=" + (dir_.path() / "alertmanager.yml").string(),
            "--storage.path=" + (dir_.path() / "data").string(),
            "--cluster.listen-address=", "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        log_path());
  }
  ~AlertmanagerProcess() { process_.reset(); }  // stopped before its dir goes
  AlertmanagerProcess(const AlertmanagerProcess&) = delete;
  AlertmanagerProcess& operator=(const AlertmanagerProcess&) = delete;

  // Polls GET /-/ready for up to 20 s; false (and why, with the log) when it does not come up.
  bool wait_ready(std::string* why) {
    if (!process_) {
      *why = dir_.path().empty() ? "no temp dir for alertmanager" : "no free port for alertmanager";
      return false;
    }
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::milliseconds(200));
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
      if (!process_->running()) {
        *why = "alertmanager exited: " + log();
        return false;
      }
      if (auto res = client.Get("/-/ready"); res && res->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *why = "alertmanager not ready after 20 s: " + log();
    return false;
  }
  std::string log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  std::string log_path() const { return (dir_.path() / "alertmanager.log").string(); }

  ScratchDir dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// One alert of Alertmanager's GET /api/v2/alerts.
struct ListedAlert {
  std::string state, starts_at, generator_url;
  std::string source, severity;           // labels
  std::string value, threshold, summary;  // annotations
};

// GET /api/v2/alerts: the alerts with label alertname=`rule`, by their label campaign ("" for none). On
// failure, an empty map and the reason in `error`.
inline std::map<std::string, ListedAlert> listed_alerts(int port, const std::string& rule,
                                                        std::string* error) {
  std::map<std::string, ListedAlert> out;
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/api/v2/alerts");
  if (!res || res->status != 200) {
    *error = res ? "HTTP " + std::to_string(res->status) : "no answer";
    return out;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(res->body).get(doc) != simdjson::SUCCESS || !doc.is_array()) {
    *error = "not a JSON array: " + res->body;
    return out;
  }
  const auto text = [](simdjson::simdjson_result<simdjson::dom::element> e, std::string* to) {
    std::string_view s;
    if (e.get(s) == simdjson::SUCCESS) *to = s;
  };
  for (simdjson::dom::element a : doc.get_array()) {
    std::string_view name, campaign;
    if (a["labels"]["alertname"].get(name) != simdjson::SUCCESS || name != rule) continue;
    if (a["labels"]["campaign"].get(campaign) != simdjson::SUCCESS) campaign = "";
    ListedAlert& l = out[std::string(campaign)];
    text(a["status"]["state"], &l.state);
    text(a["startsAt"], &l.starts_at);
    text(a["generatorURL"], &l.generator_url);
    text(a["labels"]["source"], &l.source);
    text(a["labels"]["severity"], &l.severity);
    text(a["annotations"]["value"], &l.value);
    text(a["annotations"]["threshold"], &l.threshold);
    text(a["annotations"]["summary"], &l.summary);
  }
  return out;
}

}  // namespace advx::test
