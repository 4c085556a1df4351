// The kill matrix (SPEC 6, issue 11): `advx ingest` and `advx serve` killed with SIGKILL at many moments,
// then run again on the same database, must end with exactly the tables of an uninterrupted run: no row
// lost, none doubled, every attribution column, the hourly rollup and the campaign reports equal. Each
// test runs on DuckDB (/DuckDb) and on ClickHouse (/ClickHouse, issue 12: one clickhouse-server for the
// test process, a database per point).
//
// Ingest: killed at every pass through the crash point `ingest.commit` (after each store-worker commit), at
// `attribution.before_commit` (rows committed, attribution done but not committed), and by a SIGKILL sent
// at times spread over the reference run (5 % .. 95 % of it, and inside its attribution phase, found by
// bisection), so that kills also land inside files and in phases no crash point names. Then `advx ingest`
// of the same inputs, uninterrupted; for some points a third run, which must change nothing. On
// ClickHouse, which has no multi-table commit, also between two INSERTs of a micro-batch
// (`clickhouse.insert:N`: two tables, or two days of one table) and between two writes of an attribution
// pass (`attribution.write:N`); its `attribution.before_commit` comes when the new row versions are
// written and the debts not yet paid.
// Serve: a client posts the generated data in bodies and sends every body again until it gets a 2xx; serve
// is killed 9 times mid-stream (SIGKILL at a point of the stream, `serve.commit:N`: after a commit, before
// its clients are answered; `attribution.before_commit:N`; on ClickHouse 12 times, with
// `clickhouse.insert:N` and `attribution.write:N`) and restarted on the same database each time.
//
// Rows are compared canonically: ingested_at differs between runs, so it is left out; every other column
// goes into a hash per row (DuckDB's hash; on ClickHouse cityHash64 over one version of each row, FINAL).
// A count and a sum of hashes per table decide equality; when they differ the rows' hashes are read to
// count lost rows, doubled (extra) rows and mismatched keys.
// Labelled slow (the suite name, see CMakeLists.txt): the Release run keeps it, sanitizer runs skip it.
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli_runner.hpp"
#include "store_target.hpp"

extern char** environ;

namespace advx::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---------------------------------------------------------------------------------------------------------
// The advx binary as a child process whose environment we choose and which we can kill at any moment.

class Child {
 public:
  // Starts ADVX_BINARY ARGS with this process's environment, less any ADVX_CRASH_AT, plus `env`
  // (NAME=value); stdout to `out_path`, stderr appended to `err_path`.
  Child(const std::vector<std::string>& env, const std::vector<std::string>& args,
        const std::string& out_path, const std::string& err_path) {
    // Everything the child needs is built before fork: the test process has threads (the HTTP client).
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; e++)
      if (std::strncmp(*e, "ADVX_CRASH_AT=", 14) != 0) envs.emplace_back(*e);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<std::string> argv_s = {ADVX_BINARY};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> envp, argv;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    started_ = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int in = open("/dev/null", O_RDONLY);
      if (out < 0 || err < 0 || in < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      execve(ADVX_BINARY, argv.data(), envp.data());
      _exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && running()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }

  bool spawned() const { return pid_ > 0; }
  Clock::time_point started() const { return started_; }
  double seconds() const { return std::chrono::duration<double>(ended_ - started_).count(); }
  bool running() {
    if (done_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    done_ = true;
    ended_ = Clock::now();
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return false;
  }
  // Waits for the process to end, at most until `deadline`; true when it has ended.
  bool wait_until(Clock::time_point deadline) {
    while (running()) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return true;
  }
  void kill(int sig) {
    if (running()) ::kill(pid_, sig);
  }
  int exit_code() const { return exit_code_; }
  int signal() const { return signal_; }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  int exit_code_ = -1;
  int signal_ = 0;
  Clock::time_point started_, ended_;
};

// ---------------------------------------------------------------------------------------------------------
// Canonical contents of a database.

// One part of the comparison: rows of `from` identified by `hash_sql` (every column that does not depend on
// the run) and, for keyed parts, grouped by `key_sql` (attribution per event, the rollup per hour and
// campaign). DuckDB's SQL; ClickHouse's (`ch_*`) reads one version of each row of the versioned tables
// (FINAL: attribution writes new versions) and hashes the columns named in `ch_columns`, or with "*" every
// column the table has but `ch_skip` (the run's own: ingested_at and its _us, the row version).
struct Part {
  const char* name;
  const char* kind;  // "rows", "attribution" or "rollup"
  const char* from;
  const char* hash_sql;
  const char* key_sql;  // "''" for unkeyed parts
  const char* ch_columns;
  const char* ch_skip;
};

constexpr const char* kChRunColumns = "ingested_at, ingested_at_us, advx_version";
constexpr const char* kChHourlyColumns =
    "hour, campaign_id, bid_requests_won, impressions, spend, clicks, attributed_clicks, orphan_clicks, "
    "conversions, click_through_conversions, view_through_conversions, unattributed_conversions, "
    "conversion_value";

constexpr Part kParts[] = {
    {"impressions", "rows", "impressions", "hash(*COLUMNS(* EXCLUDE (ingested_at)))", "''", "*",
     kChRunColumns},
    {"clicks", "rows", "clicks",
     "hash(*COLUMNS(* EXCLUDE (ingested_at, attribution, attributed_impression_key, "
     "seconds_from_impression)))",
     "''", "*",
     "ingested_at, ingested_at_us, advx_version, attribution, attributed_impression_key, "
     "seconds_from_impression"},
    {"conversions", "rows", "conversions",
     "hash(*COLUMNS(* EXCLUDE (ingested_at, attribution, attributed_click_key, attributed_impression_key, "
     "seconds_from_touch)))",
     "''", "*",
     "ingested_at, ingested_at_us, advx_version, attribution, attributed_click_key, "
     "attributed_impression_key, seconds_from_touch"},
    {"bid_requests", "rows", "bid_requests", "hash(*COLUMNS(* EXCLUDE (ingested_at, won)))", "''", "*",
     "ingested_at, ingested_at_us, advx_version, won"},
    {"rejects", "rows", "rejects", "hash(*COLUMNS(* EXCLUDE (ingested_at)))", "''", "*", kChRunColumns},
    {"advx_dedup_state", "rows", "advx_dedup_state", "hash(*COLUMNS(*))", "''", "*", ""},
    {"campaigns", "rows", "campaigns", "hash(*COLUMNS(*))", "''", "*", ""},
    {"creatives", "rows", "creatives", "hash(*COLUMNS(*))", "''", "*", ""},
    // Debts left unpaid: none in the reference, so any row here is an extra one. (ClickHouse keeps paid
    // debts as versions: the owed ones are those of version 0.)
    {"advx_attribution_pending", "rows", "advx_attribution_pending", "hash(0)", "''", "0", ""},
    {"clicks.attribution", "attribution", "clicks",
     "hash(attribution, attributed_impression_key, seconds_from_impression)", "event_key",
     "attribution, attributed_impression_key, seconds_from_impression", ""},
    {"conversions.attribution", "attribution", "conversions",
     "hash(attribution, attributed_click_key, attributed_impression_key, seconds_from_touch)", "event_key",
     "attribution, attributed_click_key, attributed_impression_key, seconds_from_touch", ""},
    {"bid_requests.won", "attribution", "bid_requests", "hash(won)", "auction_id", "won", ""},
    {"campaign_hourly", "rollup", "campaign_hourly", "hash(*COLUMNS(*))",
     "CAST(hour AS VARCHAR) || '/' || coalesce(campaign_id, '-')", kChHourlyColumns, ""},
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// A database to compare: its name in the store (store_target.hpp) and, on ClickHouse, the columns of
// each table (read from the reference once: every database has the same schema).
struct Db {
  const StoreTarget& store;
  std::string name;
  std::map<std::string, std::vector<std::string>>* columns = nullptr;
};

std::string from_of(const Db& db, const Part& p) {
  if (!db.store.clickhouse()) return p.from;
  const std::string table = p.from;
  if (table == "advx_attribution_pending")
    return "(SELECT * FROM advx_attribution_pending FINAL WHERE advx_version = 0)";
  if (table == "campaign_hourly") return db.store.hourly();
  return db.store.table(table);
}

std::string hash_of(const Db& db, const Part& p) {
  if (!db.store.clickhouse()) return p.hash_sql;
  std::vector<std::string> cols;
  if (std::string(p.ch_columns) == "*") {
    if (db.columns->empty()) {
      std::istringstream rows(
          db.store.sql(db.name, "SELECT table, name FROM system.columns WHERE database = currentDatabase()"));
      for (std::string line; std::getline(rows, line);) {
        const size_t comma = line.find(',');
        if (comma != std::string::npos)
          (*db.columns)[line.substr(0, comma)].push_back(line.substr(comma + 1));
      }
    }
    const std::vector<std::string> skip = split_list(p.ch_skip);
    for (const std::string& c : (*db.columns)[p.from])
      if (std::find(skip.begin(), skip.end(), c) == skip.end()) cols.push_back(c);
    EXPECT_FALSE(cols.empty()) << p.from;
  } else {
    cols = split_list(p.ch_columns);
  }
  return db.store.hash(cols);
}

std::string key_of(const Db& db, const Part& p) {
  if (!db.store.clickhouse()) return p.key_sql;
  const std::string name = p.name;
  if (name == "campaign_hourly") return "concat(toString(hour), '/', ifNull(campaign_id, '-'))";
  return p.key_sql;
}

struct Snapshot {
  std::map<std::string, std::string> sums;  // part -> "count,sum of hashes"
  std::string campaigns, campaigns_by_day;  // advx report campaigns --format csv [--by day]
};

std::string sums_query(const Db& db) {
  std::string q;
  for (const Part& p : kParts) {
    if (!q.empty()) q += " UNION ALL ";
    if (db.store.clickhouse()) {
      q += std::string("SELECT '") + p.name + "' AS part, concat(toString(count()), ':', toString(sum(" +
           db.store.hash({key_of(db, p), hash_of(db, p)}) + "))) AS digest FROM " + from_of(db, p);
      continue;
    }
    q += std::string("SELECT '") + p.name + "' AS part, count(*) || ':' || coalesce(sum(hash(" + p.key_sql +
         ", " + p.hash_sql + ")::HUGEINT), 0) AS digest FROM " + p.from;
  }
  return q;
}

Snapshot snapshot(const Db& db) {
  Snapshot s;
  std::istringstream rows(db.store.sql(db.name, sums_query(db)));
  for (std::string line; std::getline(rows, line);) {
    const size_t comma = line.find(',');
    if (comma != std::string::npos) s.sums[line.substr(0, comma)] = line.substr(comma + 1);
  }
  EXPECT_EQ(s.sums.size(), std::size(kParts)) << db.name;
  s.campaigns = db.store.report(db.name, {"campaigns"});
  s.campaigns_by_day = db.store.report(db.name, {"campaigns", "--by", "day"});
  return s;
}

// key -> the sorted hashes of its rows
using KeyedRows = std::map<std::string, std::vector<std::string>>;

KeyedRows part_rows(const Db& db, const Part& p) {
  KeyedRows out;
  std::istringstream rows(db.store.sql(
      db.name, "SELECT " + hash_of(db, p) + " AS h, " + key_of(db, p) + " AS k FROM " + from_of(db, p)));
  for (std::string line; std::getline(rows, line);) {
    const size_t comma = line.find(',');
    if (comma == std::string::npos) continue;
    out[line.substr(comma + 1)].push_back(line.substr(0, comma));
  }
  for (auto& [k, v] : out) std::sort(v.begin(), v.end());
  return out;
}

// What differs between a database and the reference.
struct Diff {
  long lost = 0;         // rows of the reference missing (multiset difference)
  long doubled = 0;      // rows beyond the reference: a second copy, or a row it does not have
  long attribution = 0;  // events in both whose attribution columns differ
  long rollup = 0;       // (hour, campaign) rows of campaign_hourly that differ or exist on one side only
  bool reports = true;   // advx report campaigns, and --by day, equal
  std::string detail;    // per part, for a failure message
  bool clean() const { return lost == 0 && doubled == 0 && attribution == 0 && rollup == 0 && reports; }
};

Diff compare(const Db& ref_db, const Snapshot& ref, const Db& db, const Snapshot& got) {
  Diff d;
  d.reports = ref.campaigns == got.campaigns && ref.campaigns_by_day == got.campaigns_by_day;
  if (!d.reports) d.detail += " [report campaigns differs]";
  for (const Part& p : kParts) {
    const auto r = ref.sums.find(p.name), g = got.sums.find(p.name);
    if (r != ref.sums.end() && g != got.sums.end() && r->second == g->second) continue;
    // The sums differ: read both sides' rows to say how.
    const KeyedRows a = part_rows(ref_db, p), b = part_rows(db, p);
    long lost = 0, extra = 0, keys = 0;
    auto count_multiset = [&](const std::vector<std::string>& x, const std::vector<std::string>& y) {
      // |x - y| with x and y sorted
      long n = 0;
      size_t i = 0, j = 0;
      while (i < x.size()) {
        if (j == y.size() || x[i] < y[j]) {
          n++;
          i++;
        } else if (y[j] < x[i]) {
          j++;
        } else {
          i++;
          j++;
        }
      }
      return n;
    };
    const std::string kind = p.kind;
    if (kind == "rows") {
      // Unkeyed: the rows of every key (the one key '' is printed as "").
      std::vector<std::string> x, y;
      for (const auto& [k, v] : a) x.insert(x.end(), v.begin(), v.end());
      for (const auto& [k, v] : b) y.insert(y.end(), v.begin(), v.end());
      std::sort(x.begin(), x.end());
      std::sort(y.begin(), y.end());
      lost = count_multiset(x, y);
      extra = count_multiset(y, x);
      if (lost == 0 && extra == 0) extra = 1;  // the sums differ but the rows do not: count it, never hide it
      d.lost += lost;
      d.doubled += extra;
      d.detail += " [" + std::string(p.name) + ": " + std::to_string(x.size()) + " rows in the reference, " +
                  std::to_string(y.size()) + " here, " + std::to_string(lost) + " lost, " +
                  std::to_string(extra) + " extra]";
      continue;
    }
    for (const auto& [k, v] : a) {
      const auto it = b.find(k);
      if (it == b.end() ? kind == "rollup" : it->second != v) keys++;
    }
    if (kind == "rollup")
      for (const auto& [k, v] : b)
        if (!a.count(k)) keys++;
    if (keys == 0) keys = 1;  // the sums differ: count it, never hide it
    (kind == "rollup" ? d.rollup : d.attribution) += keys;
    d.detail += " [" + std::string(p.name) + ": " + std::to_string(keys) + " keys differ]";
  }
  return d;
}

long long number(const Db& db, const std::string& query) {
  return std::atoll(db.store.sql(db.name, query).c_str());
}

// ---------------------------------------------------------------------------------------------------------
// The data, generated once for the suite.

// Each test runs on DuckDB and on ClickHouse (one server for the test process, a database per point).
class KillMatrix : public ::testing::TestWithParam<StoreKind> {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dir_ = new TempDir;
    // 20k impressions, 3 files per stream: 9 files, 18 store-worker commits, 71k rows with dedup keys
    // (1.7k of them rejects), 359 clicks and 43 conversions to attribute, 17k bid requests won; an
    // uninterrupted ingest takes ~1.5 s.
    const CommandResult g = run_advx({"gen", "--out", dir_->str("data"), "--impressions", "20000", "--seed",
                                      "11", "--files", "3", "--quiet"},
                                     dir_->str());
    ASSERT_EQ(g.exit_code, 0) << g.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    curl_global_cleanup();
  }
  void SetUp() override { ASSERT_EQ(store_.error(), ""); }
  static std::string data() { return dir_->str("data"); }
  TempDir scratch_;
  const StoreTarget store_{GetParam(), scratch_};
  std::map<std::string, std::vector<std::string>> columns_;  // ClickHouse: each table's, for Db
  Db db(const std::string& name) { return Db{store_, name, &columns_}; }
  static TempDir* dir_;
};
TempDir* KillMatrix::dir_ = nullptr;

// ---------------------------------------------------------------------------------------------------------
// advx ingest

struct IngestRun {
  int exit_code = -1;
  int signal = 0;
  double seconds = 0;
  std::string out, err;
};

// `advx ingest -q --json DATA` into `db`; with `kill_after` > 0, SIGKILL that many seconds after the start
// (unless it ended before).
IngestRun ingest(const Db& db, const std::vector<std::string>& env, double kill_after,
                 const std::string& data, const std::string& scratch) {
  const std::string out = scratch + "/ingest.out", err = scratch + "/ingest.err";
  fs::remove(err);
  IngestRun r;
  {
    std::vector<std::string> args = {"ingest"};
    for (const std::string& a : db.store.args(db.name)) args.push_back(a);
    args.insert(args.end(), {"-q", "--json", data});
    Child c(env, args, out, err);
    EXPECT_TRUE(c.spawned());
    if (kill_after > 0 && !c.wait_until(c.started() + std::chrono::duration_cast<Clock::duration>(
                                                          std::chrono::duration<double>(kill_after))))
      c.kill(SIGKILL);
    if (!c.wait_until(Clock::now() + seconds(120))) {
      ADD_FAILURE() << "advx ingest did not end within 120 s";
      c.kill(SIGKILL);
      c.wait_until(Clock::now() + seconds(10));
    }
    r.exit_code = c.exit_code();
    r.signal = c.signal();
    r.seconds = c.seconds();
  }
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

double json_seconds(const std::string& json, const std::string& after) {
  // the first "seconds": after `after` (the summary's own, or attribution's)
  const size_t at = json.find(after);
  if (at == std::string::npos) return 0;
  const size_t s = json.find("\"seconds\":", at);
  return s == std::string::npos ? 0 : std::atof(json.c_str() + s + 10);
}

struct KillPoint {
  std::string name;
  std::vector<std::string> env;  // a crash point, or empty
  double kill_after = 0;         // a timed SIGKILL, or 0
  bool third_run = false;        // run a third time: it must change nothing
};

TEST_P(KillMatrix, IngestKilledAnywhereThenRunAgainEqualsAnUninterruptedRun) {
  const auto suite_start = Clock::now();
  const StoreTarget& store = store_;
  const bool ch = store.clickhouse();
  const std::string scratch = scratch_.str();
  const Db ref_db = db("ref");
  const IngestRun ref_run = ingest(ref_db, {}, 0, data(), scratch);
  ASSERT_EQ(ref_run.exit_code, 0) << ref_run.err;
  const Snapshot ref = snapshot(ref_db);
  // The reference is worth comparing with: attributed clicks, won bid requests, a rollup.
  ASSERT_GT(
      number(ref_db, "SELECT count(*) FROM " + store.table("clicks") + " WHERE attribution = 'attributed'"),
      100);
  ASSERT_GT(number(ref_db, "SELECT count(*) FROM " + store.table("conversions") +
                               " WHERE attribution <> 'unattributed'"),
            10);
  ASSERT_GT(number(ref_db, "SELECT count(*) FROM " + store.table("bid_requests") +
                               (ch ? " WHERE won = 1" : " WHERE won")),
            1000);
  ASSERT_GT(number(ref_db, "SELECT count(*) FROM " + store.hourly()), 100);
  ASSERT_GT(number(ref_db, "SELECT count(*) FROM rejects"), 100);
  const std::string rows_query = "SELECT (SELECT count(*) FROM impressions) + (SELECT count(*) FROM " +
                                 store.table("clicks") + ") + (SELECT count(*) FROM " +
                                 store.table("conversions") + ") + (SELECT count(*) FROM " +
                                 store.table("bid_requests") + ") + (SELECT count(*) FROM rejects)";
  const long long ref_rows = number(ref_db, rows_query);

  // The reference run's timeline: its wall time, and its attribution phase, which ends when the summary's
  // clock stops (`seconds`, from the start of the command) and lasted `attribution.seconds`.
  const double total = ref_run.seconds;
  const double run_seconds = json_seconds(ref_run.out, "\"files_ok\"");
  const double attribution_seconds = json_seconds(ref_run.out, "\"attribution\"");
  std::printf(
      "[ KillMatrix ] %s reference ingest: %.2f s wall, %.2f s to the end of attribution (%.2f s), "
      "%lld rows\n",
      store_kind_name(GetParam()), total, run_seconds, attribution_seconds, ref_rows);

  int commits = 0;

  struct Figures {
    std::string name, how, phase;
    double at = 0;
    double stored_share = 0;
    long long unattributed = 0;  // clicks without attribution after the kill
    long long owed = 0;          // ClickHouse: debts owed after the kill (its results may be written)
    Diff diff, third;
    bool third_run = false;
  };
  std::vector<Figures> figures;

  auto state_after_kill = [&](const Db& db, Figures& f) {
    if (!store.exists(db.name)) {
      f.phase = "before the store existed";
      return;
    }
    std::vector<std::string> args = {"sql"};
    for (const std::string& a : store.args(db.name)) args.push_back(a);
    args.insert(args.end(),
                {"--format", "csv",
                 ch ? rows_query + ", (SELECT countIf(attribution IS NULL) FROM " + store.table("clicks") +
                          "), (SELECT count() FROM advx_attribution_pending FINAL WHERE advx_version = 0)"
                    : "SELECT (SELECT count(*) FROM impressions) + (SELECT count(*) FROM clicks) + (SELECT "
                      "count(*) FROM conversions) + (SELECT count(*) FROM bid_requests) + (SELECT count(*) "
                      "FROM rejects), (SELECT count(*) FROM clicks WHERE attribution IS NULL)"});
    const CommandResult r = run_advx(args, scratch);
    if (r.exit_code != 0) {
      f.phase = "before the tables existed";
      return;
    }
    const std::string s = r.out.substr(r.out.find('\n') + 1);
    const long long rows = std::atoll(s.c_str());
    f.unattributed = std::atoll(s.c_str() + s.find(',') + 1);
    if (ch) f.owed = std::atoll(s.c_str() + s.rfind(',') + 1);
    f.stored_share = ref_rows > 0 ? double(rows) / double(ref_rows) : 0;
    f.phase = rows == 0                          ? "before the first commit"
              : rows < ref_rows                  ? "between or inside files"
              : f.unattributed > 0 || f.owed > 0 ? "attribution not committed"
                                                 : "after attribution";
  };

  // One kill point: a fresh database, the killed run, then runs until the tables are complete.
  auto run_point = [&](const KillPoint& p, bool* ran_to_the_end = nullptr) {
    SCOPED_TRACE(p.name);
    Figures f;
    f.name = p.name;
    f.third_run = p.third_run;
    f.at = p.kill_after;
    const Db db = this->db("k" + std::to_string(figures.size()));
    const IngestRun killed = ingest(db, p.env, p.kill_after, data(), scratch);
    if (ran_to_the_end) *ran_to_the_end = killed.exit_code == 0;
    if (killed.exit_code == 0) {
      f.how = "ran to the end";
    } else {
      EXPECT_EQ(killed.signal, SIGKILL) << killed.err;
      f.how = "SIGKILL";
      if (!p.env.empty()) {
        const std::string point = p.env[0].substr(p.env[0].find('=') + 1);
        EXPECT_NE(killed.err.find("crash point " + point.substr(0, point.find(':')) + " reached"),
                  std::string::npos)
            << killed.err;
      }
    }
    state_after_kill(db, f);
    if (ran_to_the_end && *ran_to_the_end) {
      store.drop(db.name);
      return f;  // the crash point was never reached: no kill to survive
    }
    if (killed.exit_code == 0) f.phase = "ran to the end";
    const IngestRun again = ingest(db, {}, 0, data(), scratch);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    f.diff = compare(ref_db, ref, db, snapshot(db));
    EXPECT_TRUE(f.diff.clean()) << "after the run that followed the kill:" << f.diff.detail;
    if (p.third_run) {
      const IngestRun third = ingest(db, {}, 0, data(), scratch);
      EXPECT_EQ(third.exit_code, 0) << third.err;
      f.third = compare(ref_db, ref, db, snapshot(db));
      EXPECT_TRUE(f.third.clean()) << "after a third run:" << f.third.detail;
    }
    store.drop(db.name);
    figures.push_back(f);
    return f;
  };
  // Passes N = 1, 2, ... `dense`, then every `step`-th, through crash point `name`, until a run ends
  // without reaching the N-th; the number of the last pass reached.
  auto every_pass = [&](const std::string& name, int dense, int step) {
    int last = 0;
    for (int n = 1; n <= 256; n += n < dense ? 1 : step) {
      bool ended = false;
      const std::string at = name + ":" + std::to_string(n);
      run_point({at, {"ADVX_CRASH_AT=" + at}, 0, false}, &ended);
      if (ended) return last;
      last = n;
    }
    ADD_FAILURE() << name << " still reached at pass 256";
    return last;
  };

  // 1. Every ingest.commit:N until a run ends without reaching the N-th pass.
  commits = every_pass("ingest.commit", 256, 1);
  // At least one commit per file per run.
  EXPECT_GE(commits, int(generated_files(data()).size()));
  if (ch) {
    // ClickHouse has no multi-table commit: a micro-batch is one INSERT per table and day, the dedup
    // keys last (docs/STORES.md). Killed between two of them: every insert of the first micro-batch
    // (between tables, between the days of one table: 7 inserts), then every ninth to the end of the run.
    EXPECT_GE(every_pass("clickhouse.insert", 8, 9), 3 * commits - 8);
  }
  // 2. Attribution done, not committed: every row stored, no click attributed yet (ClickHouse: the new
  // row versions written, the debts not paid).
  run_point({"attribution.before_commit", {"ADVX_CRASH_AT=attribution.before_commit"}, 0, true});
  ASSERT_FALSE(figures.empty());
  EXPECT_EQ(figures.back().phase, "attribution not committed");
  if (ch) {
    // Between any two writes of the attribution pass (its version, the scratch tables, the row versions
    // of clicks, conversions and bid requests, the rollup, the debts paid, the mark): every third one.
    EXPECT_GE(every_pass("attribution.write", 0, 3), 7);
  }
  // 3. SIGKILL at times spread over the reference run (those at 55 % and in the attribution phase, below,
  // also get a third run). ClickHouse: 15, 35 and 55 % (its crash points above are many; later times
  // land after the killed run's end, which is faster than the reference's).
  for (int pct = ch ? 15 : 5; pct <= (ch ? 55 : 95); pct += ch ? 20 : 10) {
    run_point({"timed " + std::to_string(pct) + "%", {}, total * pct / 100.0, pct == 55});
  }
  // A SIGKILL inside the attribution phase without a crash point (a binary without them fails here when
  // attribution is not crash-consistent): aimed at the middle of the reference run's phase, and moved by
  // bisection after a kill that landed before it (rows still missing) or after it (clicks attributed).
  double early = std::max(0.0, run_seconds - 2 * attribution_seconds), late = run_seconds + 0.3;
  double at = run_seconds - attribution_seconds / 2;
  for (int attempt = 1; attempt <= 5; attempt++) {
    const Figures f = run_point({"timed attribution #" + std::to_string(attempt), {}, at, attempt == 1});
    if (f.phase == "attribution not committed") break;
    (f.how == "ran to the end" || f.phase == "after attribution" ? late : early) = at;
    at = (early + late) / 2;
  }
  // The figures, one line per point.
  int kills = 0, in_attribution = 0;
  long lost = 0, doubled = 0, attribution = 0, rollup = 0, reports = 0;
  std::printf("[ KillMatrix ] %-28s %-15s %7s %-26s %8s %6s %5s %7s %5s %6s %7s\n", "ingest kill point",
              "outcome", "at s", "state after the kill", "stored", "unattr", "lost", "doubled", "attr",
              "rollup", "reports");
  for (const Figures& f : figures) {
    if (f.how == "SIGKILL") kills++;
    if (f.phase == "attribution not committed") in_attribution++;
    for (const Diff* d : {&f.diff, &f.third}) {
      lost += d->lost;
      doubled += d->doubled;
      attribution += d->attribution;
      rollup += d->rollup;
      reports += d->reports ? 0 : 1;
    }
    std::printf("[ KillMatrix ] %-28s %-15s %7.2f %-26s %7.1f%% %6lld %5ld %7ld %5ld %6ld %7s%s\n",
                f.name.c_str(), f.how.c_str(), f.at, f.phase.c_str(), 100 * f.stored_share, f.unattributed,
                f.diff.lost, f.diff.doubled, f.diff.attribution, f.diff.rollup,
                f.diff.reports ? "equal" : "DIFFER",
                f.third_run ? (f.third.clean() ? "  (third run: equal)" : "  (third run: DIFFERS)") : "");
  }
  std::printf(
      "[ KillMatrix ] %s ingest: %zu points, %d killed, %d in the attribution phase; lost %ld, doubled %ld, "
      "attribution mismatches %ld, rollup mismatches %ld, reports differing %ld; %.1f s\n",
      store_kind_name(GetParam()), figures.size(), kills, in_attribution, lost, doubled, attribution, rollup,
      reports, seconds_since(suite_start));
  EXPECT_GE(kills, 10);
  EXPECT_GE(in_attribution, 1);
}

// ---------------------------------------------------------------------------------------------------------
// advx serve

// An Avro object container file cut into one file per data block, each with the original header (magic,
// metadata, sync marker). Empty when `ocf` is not one.
std::vector<std::string> avro_pieces(const std::string& ocf) {
  size_t pos = 4;
  bool bad = ocf.compare(0, 4, "Obj\x01") != 0;
  auto read_long = [&]() -> int64_t {
    uint64_t v = 0;
    for (int shift = 0; !bad; shift += 7) {
      if (pos >= ocf.size() || shift > 63) {
        bad = true;
        break;
      }
      const uint8_t b = uint8_t(ocf[pos++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return int64_t(v >> 1) ^ -int64_t(v & 1);
  };
  auto skip = [&](int64_t n) {
    if (n < 0 || pos + size_t(n) > ocf.size())
      bad = true;
    else
      pos += size_t(n);
  };
  for (int64_t n = read_long(); !bad && n != 0; n = read_long()) {
    if (n < 0) {
      n = -n;
      read_long();  // the block's size in bytes
    }
    for (int64_t i = 0; i < n && !bad; i++) {
      skip(read_long());  // key
      skip(read_long());  // value
    }
  }
  skip(16);  // sync marker
  if (bad) return {};
  const std::string header = ocf.substr(0, pos);
  std::vector<std::string> out;
  while (pos < ocf.size() && !bad) {
    const size_t start = pos;
    read_long();        // objects
    skip(read_long());  // bytes
    skip(16);           // sync marker
    if (!bad) out.push_back(header + ocf.substr(start, pos - start));
  }
  if (bad) return {};
  return out;
}

struct Body {
  std::string endpoint;
  std::string data;
};

// The generated files as HTTP bodies, the three streams interleaved, each stream in the order advx ingest
// reads its files.
std::vector<Body> bodies_of(const std::string& data) {
  std::vector<std::vector<Body>> streams(3);
  for (const std::string& f : generated_files(data)) {
    const std::string ext = fs::path(f).extension().string();
    const std::string content = slurp(f);
    if (ext == ".jsonl") {
      for (auto& b : pieces(content, false, 250)) streams[0].push_back({"/v1/impressions", std::move(b)});
    } else if (ext == ".csv") {
      for (auto& b : pieces(content, true, 40)) streams[1].push_back({"/v1/events", std::move(b)});
    } else {
      std::vector<std::string> pieces = avro_pieces(content);
      EXPECT_FALSE(pieces.empty()) << f << " is not an Avro object container file";
      for (auto& b : pieces) streams[2].push_back({"/v1/bid-requests", std::move(b)});
    }
  }
  std::vector<Body> out;
  for (size_t i = 0; out.size() < streams[0].size() + streams[1].size() + streams[2].size(); i++)
    for (auto& s : streams)
      if (i < s.size()) out.push_back(std::move(s[i]));
  return out;
}

// POST with libcurl: the status, 0 when there was no answer (refused, reset, cut short).
long post(int port, const Body& b) {
  CURL* curl = curl_easy_init();
  if (!curl) return 0;
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + b.endpoint;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b.data.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(b.data.size()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return status;
}

// Posts the bodies in order on its own thread, each until it gets a 2xx answer: a refused connection, a
// reset, a 503 or no answer at all sends it again, to whichever port serve listens on at that moment.
class RetryingClient {
 public:
  explicit RetryingClient(const std::vector<Body>& bodies) : bodies_(bodies) {
    thread_ = std::thread([this] { run(); });
  }
  ~RetryingClient() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The port of the running serve, 0 while none runs.
  void set_port(int port) {
    {
      std::lock_guard lock(m_);
      port_ = port;
    }
    cv_.notify_all();
  }
  // Bodies past the first `n` wait until the limit is raised (so that a crash point is reached mid-stream
  // whatever the timing of the passes that reach it).
  void set_limit(size_t n) {
    {
      std::lock_guard lock(m_);
      limit_ = n;
    }
    cv_.notify_all();
  }
  // Waits until `n` bodies have had a 2xx answer (or the client gave up), at most until `deadline`.
  bool wait_answered(size_t n, Clock::time_point deadline) {
    std::unique_lock lock(m_);
    return cv_.wait_until(lock, deadline, [&] { return answered_ >= n || finished_; }) && answered_ >= n;
  }
  size_t answered() {
    std::lock_guard lock(m_);
    return answered_;
  }
  struct Counts {
    size_t attempts = 0, no_answer = 0, unavailable = 0, refused = 0;  // refused: a 4xx, never resent
  };
  Counts counts() {
    std::lock_guard lock(m_);
    return counts_;
  }
  std::string error() {
    std::lock_guard lock(m_);
    return error_;
  }

 private:
  void run() {
    const auto deadline = Clock::now() + seconds(150);
    for (const Body& b : bodies_) {
      for (;;) {
        int port = 0;
        {
          std::unique_lock lock(m_);
          // No serve running, or the test holds the stream back: wait.
          cv_.wait_until(lock, deadline, [&] { return (port_ != 0 && answered_ < limit_) || stop_; });
          if (stop_ || Clock::now() >= deadline) {
            if (!stop_) error_ = "deadline: body " + std::to_string(answered_) + " never had a 2xx answer";
            finished_ = true;
            cv_.notify_all();
            return;
          }
          port = port_;
          counts_.attempts++;
        }
        const long status = post(port, b);
        std::unique_lock lock(m_);
        if (status >= 200 && status < 300) {
          answered_++;
          cv_.notify_all();
          break;
        }
        if (status == 0 || status >= 500) {
          (status == 0 ? counts_.no_answer : counts_.unavailable)++;
          // Again soon, or at once when serve restarts on another port.
          cv_.wait_for(lock, milliseconds(20), [&] { return port_ != port || stop_; });
          continue;
        }
        counts_.refused++;
        error_ += b.endpoint + " answered " + std::to_string(status) + "; ";
        answered_++;  // a 4xx will not change by sending it again
        cv_.notify_all();
        break;
      }
    }
    std::lock_guard lock(m_);
    finished_ = true;
    cv_.notify_all();
  }

  const std::vector<Body>& bodies_;
  std::mutex m_;
  std::condition_variable cv_;
  int port_ = 0;
  size_t answered_ = 0, limit_ = SIZE_MAX;
  bool finished_ = false, stop_ = false;
  Counts counts_;
  std::string error_;
  std::thread thread_;
};

// One `advx serve` on `db`, HTTP on a free port; started() once it said where it listens.
class Serve {
 public:
  Serve(const std::vector<std::string>& env, const std::string& config, const Db& db, const std::string& dims,
        const std::string& out_path, const std::string& log_path)
      : out_path_(out_path), child_(env, args(config, db, dims), out_path, log_path) {
    // The first line on stdout says where it listens; wait for it, for the exit, or 60 s.
    const auto deadline = Clock::now() + seconds(60);
    while (Clock::now() < deadline && child_.running()) {
      const std::string out = slurp(out_path_);
      const size_t at = out.find("http://127.0.0.1:");
      if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
        port_ = std::atoi(out.c_str() + at + 17);
        break;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  int port() const { return port_; }
  Child& child() { return child_; }

 private:
  static std::vector<std::string> args(const std::string& config, const Db& db, const std::string& dims) {
    std::vector<std::string> a = {"serve", "--config", config};
    for (const std::string& s : db.store.args(db.name)) a.push_back(s);
    a.insert(a.end(), {"--dims", dims, "--http", "127.0.0.1:0"});
    return a;
  }
  std::string out_path_;
  Child child_;
  int port_ = 0;
};

struct ServeOutcome {
  std::vector<std::string> kills;  // how each instance but the last ended
  RetryingClient::Counts counts;
  size_t bodies = 0;
  double seconds = 0;
};

// A kill of one serve instance: SIGKILL once `at_share` of the bodies had a 2xx answer, or a crash point
// armed in its environment (it ends by itself).
struct ServeKill {
  double at_share = 0;
  std::string crash_at;  // NAME:N, or empty
};

// Streams every body to serve on `db`, killing it as `kills` say and restarting it on the same database
// after each kill; at the end SIGTERM (a clean stop: commit, last attribution pass, exit 0).
ServeOutcome stream_through_serve(const Db& db, const std::vector<Body>& bodies,
                                  const std::vector<ServeKill>& kills, const std::string& data,
                                  const TempDir& scratch) {
  const auto start = Clock::now();
  write_file(scratch.path() / "serve.toml",
             "[pipeline]\nattribution_interval_ms = 200\n[monitor]\nenabled = false\n");
  ServeOutcome o;
  o.bodies = bodies.size();
  RetryingClient client(bodies);
  const auto deadline = Clock::now() + seconds(150);
  for (size_t i = 0; i <= kills.size(); i++) {
    const std::string log = scratch.str("serve-" + std::to_string(i) + ".log");
    const bool last = i == kills.size();
    const ServeKill k = last ? ServeKill{} : kills[i];
    std::vector<std::string> env;
    if (!k.crash_at.empty()) env.push_back("ADVX_CRASH_AT=" + k.crash_at);
    Serve serve(env, scratch.str("serve.toml"), db, data + "/dims",
                scratch.str("serve-" + std::to_string(i) + ".out"), log);
    if (serve.port() <= 0) {
      ADD_FAILURE() << "serve did not start: " << slurp(log);
      break;
    }
    client.set_port(serve.port());
    if (last) {
      EXPECT_TRUE(client.wait_answered(bodies.size(), deadline)) << client.error();
      client.set_port(0);
      serve.child().kill(SIGTERM);
      EXPECT_TRUE(serve.child().wait_until(Clock::now() + seconds(60))) << "serve did not stop on SIGTERM";
      EXPECT_EQ(serve.child().exit_code(), 0) << slurp(log);
      break;
    }
    if (k.crash_at.empty()) {
      const size_t n = size_t(double(bodies.size()) * k.at_share);
      if (!client.wait_answered(n, deadline)) {
        ADD_FAILURE() << "fewer than " << n << " bodies answered: " << client.error() << slurp(log);
        break;
      }
      const size_t answered = client.answered();
      serve.child().kill(SIGKILL);
      o.kills.push_back("SIGKILL after " + std::to_string(answered) + " bodies");
    } else {
      // It dies by itself at the armed point while the client sends on, a few bodies at a time: held back
      // before the stream can end, the limit raised whenever the client has waited at it for a while.
      const auto crash_deadline = std::min(deadline, Clock::now() + seconds(60));
      size_t limit = client.answered() + 8;
      client.set_limit(limit);
      auto held_since = Clock::now();
      while (!serve.child().wait_until(std::min(crash_deadline, Clock::now() + milliseconds(50)))) {
        if (Clock::now() >= crash_deadline) break;
        if (client.answered() < limit) {
          held_since = Clock::now();
        } else if (Clock::now() - held_since > milliseconds(500) && limit + 8 < bodies.size()) {
          limit += 8;
          client.set_limit(limit);
        }
      }
      client.set_limit(SIZE_MAX);
      if (serve.child().running()) {
        ADD_FAILURE() << k.crash_at << " was not reached: " << slurp(log);
        break;
      }
      EXPECT_NE(slurp(log).find("crash point " + k.crash_at.substr(0, k.crash_at.find(':')) + " reached"),
                std::string::npos)
          << slurp(log);
      o.kills.push_back(k.crash_at + " after " + std::to_string(client.answered()) + " bodies");
    }
    client.set_port(0);
    EXPECT_TRUE(serve.child().wait_until(Clock::now() + seconds(30)));
    EXPECT_EQ(serve.child().signal(), SIGKILL) << slurp(log);
    EXPECT_LT(client.answered(), bodies.size())
        << "the stream ended before kill " << i + 1 << ": " << slurp(log);
  }
  EXPECT_EQ(client.error(), "");
  o.counts = client.counts();
  o.seconds = seconds_since(start);
  return o;
}

TEST_P(KillMatrix, ServeKilledMidStreamWithARetryingClientEqualsAnUninterruptedServe) {
  const auto suite_start = Clock::now();
  const StoreTarget& store = store_;
  const bool ch = store.clickhouse();
  const std::vector<Body> bodies = bodies_of(data());
  ASSERT_GT(bodies.size(), 60u);

  // The reference: the same client and bodies, serve never killed.
  const Db ref_db = db("ref");
  TempDir ref_scratch;
  const ServeOutcome ref_run = stream_through_serve(ref_db, bodies, {}, data(), ref_scratch);
  const Snapshot ref = snapshot(ref_db);
  ASSERT_GT(
      number(ref_db, "SELECT count(*) FROM " + store.table("clicks") + " WHERE attribution = 'attributed'"),
      100);
  ASSERT_GT(number(ref_db, "SELECT count(*) FROM " + store.table("bid_requests") +
                               (ch ? " WHERE won = 1" : " WHERE won")),
            1000);
  ASSERT_GT(number(ref_db, "SELECT count(*) FROM rejects"), 100);

  // Nine kills mid-stream: SIGKILL at five points of the stream, and four crash points in the instances
  // between (right after a commit, before its clients are answered; in an attribution pass, before it
  // commits: the first pass of an instance pays what the killed one owed).
  // ClickHouse, where a micro-batch is one INSERT per table and day: also killed between two inserts of
  // a micro-batch (its keys are sent last, so the client's resend must store exactly what is missing) and
  // between two writes of an attribution pass.
  const std::vector<ServeKill> kills = ch ? std::vector<ServeKill>{{0.08, ""},
                                                                   {0, "serve.commit:3"},
                                                                   {0, "clickhouse.insert:5"},
                                                                   {0.22, ""},
                                                                   {0, "attribution.before_commit:1"},
                                                                   {0, "attribution.write:3"},
                                                                   {0.40, ""},
                                                                   {0, "attribution.before_commit:2"},
                                                                   {0.60, ""},
                                                                   {0, "clickhouse.insert:8"},
                                                                   {0, "serve.commit:6"},
                                                                   {0.80, ""}}
                                          : std::vector<ServeKill>{
                                                {0.08, ""}, {0, "serve.commit:3"},
                                                {0.22, ""}, {0, "attribution.before_commit:1"},
                                                {0.40, ""}, {0, "attribution.before_commit:2"},
                                                {0.60, ""}, {0, "serve.commit:6"},
                                                {0.80, ""},
                                            };
  const Db killed = db("killed");
  const ServeOutcome run = stream_through_serve(killed, bodies, kills, data(), scratch_);
  const Diff d = compare(ref_db, ref, killed, snapshot(killed));
  EXPECT_TRUE(d.clean()) << d.detail;

  for (size_t i = 0; i < run.kills.size(); i++)
    std::printf("[ KillMatrix ] serve kill %zu: %s\n", i + 1, run.kills[i].c_str());
  std::printf(
      "[ KillMatrix ] %s serve: %zu bodies, %zu kills, %zu posts (%zu without an answer, %zu 5xx, %zu 4xx), "
      "reference %.1f s, killed run %.1f s; lost %ld, doubled %ld, attribution mismatches %ld, rollup "
      "mismatches %ld, reports %s; %.1f s\n",
      store_kind_name(GetParam()), run.bodies, run.kills.size(), run.counts.attempts, run.counts.no_answer,
      run.counts.unavailable, run.counts.refused, ref_run.seconds, run.seconds, d.lost, d.doubled,
      d.attribution, d.rollup, d.reports ? "equal" : "DIFFER", seconds_since(suite_start));
  EXPECT_EQ(run.kills.size(), kills.size());
  EXPECT_GT(run.counts.attempts, bodies.size()) << "no body was sent twice: the kills hit nothing";
}

INSTANTIATE_TEST_SUITE_P(, KillMatrix, kBothStores);

}  // namespace
}  // namespace advx::test
