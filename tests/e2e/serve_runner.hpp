// `advx serve` as a child process for end-to-end tests, and a small libcurl client.
#pragma once
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.hpp"

namespace advx::test {

class ServeProcess {
 public:
  // Starts `advx serve ARGS` (stderr to `log_path`) and waits for its first line on stdout; the port comes
  // from it ("listening on http://HOST:PORT"). started() is false when it exited or said nothing in 30 s.
  ServeProcess(const std::vector<std::string>& args, const std::string& log_path) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      const int err = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) dup2(err, 2);
      close(out[0]);
      std::vector<std::string> all = {ADVX_BINARY, "serve"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(ADVX_BINARY, argv.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (first_line_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = read(out_fd_, buf, sizeof buf);
      if (n <= 0) break;
      first_line_.append(buf, size_t(n));
    }
    const size_t at = first_line_.find("http://");
    if (at != std::string::npos) {
      const size_t colon = first_line_.find(':', at + 7);
      if (colon != std::string::npos) port_ = std::atoi(first_line_.c_str() + colon + 1);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && exit_code_ == kRunning) kill(SIGKILL);
    if (out_fd_ >= 0) close(out_fd_);
  }
  bool started() const { return first_line_.find('\n') != std::string::npos; }
  const std::string& first_line() const { return first_line_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Sends `sig`; for SIGTERM/SIGKILL waits for the exit (up to 60 s) and returns the exit code
  // (128 + signal when killed by one).
  int kill(int sig) {
    ::kill(pid_, sig);
    if (sig != SIGTERM && sig != SIGKILL && sig != SIGINT) return kRunning;
    int status = 0;
    for (int i = 0; i < 600; i++) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    exit_code_ = -2;
    return exit_code_;
  }

 private:
  static constexpr int kRunning = -1;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = -1;
  int exit_code_ = kRunning;
  std::string first_line_;
};

struct HttpAnswer {
  long status = 0;
  std::string body;
  std::string headers;  // the answer's header lines, as received

  // The value of header `name` (any case), or "".
  std::string header(std::string name) const {
    std::string lower = headers;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    const size_t at = lower.find("\n" + name + ":");
    if (at == std::string::npos) return "";
    size_t from = at + name.size() + 2;
    while (from < headers.size() && headers[from] == ' ') ++from;
    return headers.substr(from, headers.find_first_of("\r\n", from) - from);
  }
};

// One request; `headers` like "Content-Encoding: gzip".
inline HttpAnswer http_request(const std::string& method, const std::string& url,
                               const std::string& body = "", const std::vector<std::string>& headers = {}) {
  HttpAnswer a;
  CURL* curl = curl_easy_init();
  if (!curl) return a;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
  curl_easy_setopt(
      curl, CURLOPT_HEADERFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(p, s * n);
        return s * n;
      });
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.headers);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return a;
}

// The integer value of "key": in a flat JSON object (the collector's answers), or -1.
inline long long json_number(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::atoll(json.c_str() + at + key.size() + 3);
}

}  // namespace advx::test
