// Runs the advx binary as a user would and captures what it prints.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace advx::test {

struct CommandResult {
  int exit_code = -1;
  int signal = 0;  // run_advx_env: the signal that ended the process, if one did
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& path, std::string_view content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), std::streamsize(content.size()));
}

// A fresh directory under the system temp dir, removed when the object goes.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ =
        std::filesystem::temp_directory_path() / ("advx-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  // ADVX_KEEP_TEST_DIRS=1 keeps the folder, to look into after a failure.
  ~TempDir() {
    if (const char* keep = std::getenv("ADVX_KEEP_TEST_DIRS"); keep && *keep == '1') return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str(const std::string& sub = "") const {
    return sub.empty() ? path_.string() : (path_ / sub).string();
  }

 private:
  std::filesystem::path path_;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

// `args` are quoted one by one; the binary is the one built with the tests. `env` entries (NAME=value) are
// set for this command only, e.g. ADVX_CRASH_AT (core/crash_point.hpp). A process killed by a signal gives
// exit_code -1 and `signal` its number.
inline CommandResult run_advx_env(const std::vector<std::string>& env, const std::vector<std::string>& args,
                                  const std::string& scratch) {
  std::string cmd = "env";
  for (const auto& e : env) cmd += " " + shell_quote(e);
  cmd += " " + shell_quote(ADVX_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  const std::string err_path = scratch + "/.stderr";
  // exec: the shell becomes advx, so a signal that ends advx is the command's status, not the shell's.
  cmd = "exec " + cmd + " 2>" + shell_quote(err_path) + " </dev/null";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.err = slurp(err_path);
  return r;
}

inline CommandResult run_advx(const std::vector<std::string>& args, const std::string& scratch) {
  return run_advx_env({}, args, scratch);
}

inline CommandResult run_advx(std::initializer_list<std::string> args, const std::string& scratch) {
  return run_advx(std::vector<std::string>(args), scratch);
}

// The rows `advx sql --format csv` gives for `query` on `db`, without the header line.
inline std::string sql_rows(const std::string& db, const std::string& query, const std::string& scratch) {
  CommandResult r = run_advx({"sql", "--db", db, "--format", "csv", query}, scratch);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(r.out.find('\n') + 1);
}

// What `advx report ARGS --db DB --format csv` prints.
inline std::string report_csv(const std::string& db, std::vector<std::string> args,
                              const std::string& scratch) {
  args.insert(args.begin(), "report");
  args.insert(args.end(), {"--db", db, "--format", "csv"});
  CommandResult r = run_advx(args, scratch);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// The data files `advx gen` wrote under `dir` (not dims/, not _manifest.json), sorted: the order advx ingest
// reads them in.
inline std::vector<std::string> generated_files(const std::filesystem::path& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '_' &&
        e.path().parent_path().filename() != "dims")
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// Pieces of at most `lines` records, cut at record ends (CSV: where quotes balance), each CSV piece with
// the header.
inline std::vector<std::string> pieces(const std::string& text, bool csv, size_t lines) {
  std::string header;
  size_t from = 0;
  if (csv) {
    header = text.substr(0, text.find('\n') + 1);
    from = header.size();
  }
  std::vector<std::string> out;
  bool quoted = false;
  size_t n = 0, start = from;
  for (size_t i = from; i < text.size(); i++) {
    if (csv && text[i] == '"') quoted = !quoted;
    if (text[i] == '\n' && !quoted && ++n == lines) {
      out.push_back(header + text.substr(start, i + 1 - start));
      start = i + 1;
      n = 0;
    }
  }
  if (start < text.size()) out.push_back(header + text.substr(start));
  return out;
}

}  // namespace advx::test
