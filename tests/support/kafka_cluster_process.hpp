// advx_test_kafka (tests/support/kafka_cluster_main.cpp) as a child process of a test: librdkafka's mock
// cluster that other processes reach over TCP on 127.0.0.1, and optionally a schema registry.
//
//   advx::testing::KafkaClusterOptions o;
//   o.registry = true;
//   advx::testing::KafkaClusterProcess kafka(o);
//   run advx serve / advx publish / kcat with kafka.bootstrap() and kafka.registry_url()
//
// The program's stdin is a pipe only this object holds (close-on-exec, so no other child inherits it): when
// the test process dies, however, the pipe closes and the program exits by itself. Its stderr goes to a
// file in the temp folder, given with the program's output in the exception when it does not start.
#pragma once
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace advx::testing {

struct KafkaClusterOptions {
  int brokers = 3;
  // NAME and partition count; empty: the program's default (ad-impressions, clicks-conversions,
  // bid-requests, 8 partitions each).
  std::vector<std::pair<std::string, int>> topics;
  bool registry = false;                      // also run the schema registry
  std::chrono::milliseconds deadline{10000};  // for `ready`
#ifdef ADVX_TEST_KAFKA
  std::string program = ADVX_TEST_KAFKA;
#else
  std::string program;
#endif
};

class KafkaClusterProcess {
 public:
  // Starts the program and waits for its `ready` line; throws std::runtime_error with what it printed when
  // it exits first or the deadline passes.
  explicit KafkaClusterProcess(KafkaClusterOptions o = {}) {
    if (o.program.empty() || access(o.program.c_str(), X_OK) != 0)
      throw std::runtime_error("KafkaClusterProcess: advx_test_kafka not found at '" + o.program +
                               "' (built with the tests: cmake --build BUILD --target advx_test_kafka)");
    std::vector<std::string> args = {o.program, "--brokers", std::to_string(o.brokers)};
    for (const auto& [name, partitions] : o.topics) {
      args.push_back("--topic");
      args.push_back(name + ":" + std::to_string(partitions));
    }
    if (o.registry) args.push_back("--registry");
    start(args);
    wait_ready(o.deadline);
  }
  ~KafkaClusterProcess() {
    stop();
    std::error_code ec;
    if (!log_path_.empty()) std::filesystem::remove(log_path_, ec);
  }
  KafkaClusterProcess(const KafkaClusterProcess&) = delete;
  KafkaClusterProcess& operator=(const KafkaClusterProcess&) = delete;

  // bootstrap.servers for any client: "127.0.0.1:PORT,..." (one per broker).
  const std::string& bootstrap() const { return bootstrap_; }
  // The schema registry's base URL ("http://127.0.0.1:PORT"); empty when not asked for.
  const std::string& registry_url() const { return registry_url_; }
  pid_t pid() const { return pid_; }
  // What the program wrote on stderr so far (librdkafka's warnings and errors).
  std::string log() const {
    std::ifstream in(log_path_, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Ends the program: EOF on its stdin and SIGTERM, up to 5 s to exit, then SIGKILL. Its exit code (128 +
  // the signal when one ended it); the destructor calls it.
  int stop() {
    if (in_fd_ >= 0) {
      close(in_fd_);
      in_fd_ = -1;
    }
    if (out_fd_ >= 0) {
      close(out_fd_);
      out_fd_ = -1;
    }
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!reaped() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      record(status);
    }
    return exit_code_;
  }

 private:
  void start(const std::vector<std::string>& args) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "advx-test-kafka-XXXXXX").string();
    const int log_fd = mkstemp(tmpl.data());
    if (log_fd < 0) throw std::runtime_error("KafkaClusterProcess: cannot make a log file");
    log_path_ = tmpl;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
      close(log_fd);
      throw std::runtime_error("KafkaClusterProcess: pipe: " + std::string(std::strerror(errno)));
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      close(log_fd);
      throw std::runtime_error("KafkaClusterProcess: pipe: " + std::string(std::strerror(errno)));
    }
    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      // dup2 clears close-on-exec on 0, 1 and 2; the program must see SIGTERM whatever the test set.
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(log_fd, 2);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      signal(SIGPIPE, SIG_DFL);
      execv(argv[0], argv.data());
      _exit(127);
    }
    const int fork_errno = errno;
    close(in[0]);
    close(out[1]);
    close(log_fd);
    if (pid_ < 0) {
      close(in[1]);
      close(out[0]);
      throw std::runtime_error("KafkaClusterProcess: fork: " + std::string(std::strerror(fork_errno)));
    }
    in_fd_ = in[1];
    out_fd_ = out[0];
  }

  void wait_ready(std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    std::string text;
    bool eof = false;
    for (;;) {
      std::istringstream lines(text);
      std::string line;
      bool ready = false;
      while (std::getline(lines, line)) {
        if (lines.eof()) break;  // not a whole line yet
        if (line.starts_with("bootstrap.servers=")) bootstrap_ = line.substr(18);
        if (line.starts_with("schema.registry=")) registry_url_ = line.substr(16);
        if (line == "ready") ready = true;
      }
      if (ready && !bootstrap_.empty()) return;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (eof || left.count() <= 0) break;
      pollfd p{out_fd_, POLLIN, 0};
      const int r = poll(&p, 1, int(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;  // the deadline is checked above
      char buf[1024];
      const ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, size_t(n));
      } else if (n == 0 || errno != EINTR) {
        eof = true;
      }
    }
    const int code = stop();
    throw std::runtime_error("advx_test_kafka did not print `ready` " +
                             std::string(eof ? "(it exited, code " + std::to_string(code) + ")"
                                             : "within " + std::to_string(deadline.count()) + " ms") +
                             "; stdout:\n" + text + "\nstderr:\n" + log());
  }

  // Whether the program has exited (and is reaped).
  bool reaped() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    record(status);
    return true;
  }
  void record(int status) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
  std::string bootstrap_;
  std::string registry_url_;
};

}  // namespace advx::testing
