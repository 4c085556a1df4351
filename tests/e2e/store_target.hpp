// The store an end-to-end test runs against (issue 12: the contract tests run on both): DuckDB, a file in
// the test's folder, or ClickHouse, a database of the test's own on one clickhouse-server 18.16 per test
// process (tests/support/clickhouse_server.hpp). A value-parameterized test takes a StoreKind
// (INSTANTIATE_TEST_SUITE_P(, Suite, kBothStores): ctest names Suite.Test/DuckDb and Suite.Test/ClickHouse,
// gtest filters Suite.Test/0 and Suite.Test/1), and a StoreTarget gives it the store's command-line
// arguments, its [store] url for a serve config, and the engine's SQL where the test reads tables with
// `advx sql`. `advx report` output is byte-identical on both stores: the neutral comparison.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "../support/clickhouse_server.hpp"
#include "cli_runner.hpp"

namespace advx::test {

// clickhouse_cluster: two servers as the two shards of one cluster (docs/STORES.md, "Sharded ClickHouse"),
// a database of the test's own on them; its SQL for advx sql is ClickHouse's (clickhouse() is true).
enum class StoreKind { duckdb, clickhouse, clickhouse_cluster };

inline const auto kBothStores = ::testing::Values(StoreKind::duckdb, StoreKind::clickhouse);
// The contract tests that also run on the sharded ClickHouse (gtest index /2).
inline const auto kEveryStore =
    ::testing::Values(StoreKind::duckdb, StoreKind::clickhouse, StoreKind::clickhouse_cluster);

// "DuckDb", "ClickHouse" or "ClickHouseCluster": the test names' suffix (ctest shows the value, gtest
// the index: /0, /1, /2).
inline const char* store_kind_name(StoreKind kind) {
  switch (kind) {
    case StoreKind::duckdb:
      return "DuckDb";
    case StoreKind::clickhouse:
      return "ClickHouse";
    case StoreKind::clickhouse_cluster:
      return "ClickHouseCluster";
  }
  return "?";
}
inline void PrintTo(StoreKind kind, std::ostream* os) { *os << store_kind_name(kind); }

// The process's ClickHouse server, started on first use (call it from the test's main thread: the
// server goes with the thread that started it, see ClickHouseServer::spawn) and killed at exit (its data
// is scratch). nullptr, and `error` says why, when it cannot start.
inline ClickHouseServer* shared_clickhouse(std::string* error) {
  struct Stop {
    void operator()(ClickHouseServer* s) const {
      s->stop(std::chrono::seconds(0));  // SIGKILL: nothing in it is kept
      delete s;
    }
  };
  static std::unique_ptr<ClickHouseServer, Stop> server;
  static std::string start_error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      server.reset(new ClickHouseServer());
      server->start();
    } catch (const std::exception& e) {
      start_error = e.what();
      server.reset();
    }
  }
  if (error) *error = start_error;
  return server.get();
}

// The process's two-shard cluster, as shared_clickhouse() (both servers killed at exit).
inline ClickHouseCluster* shared_clickhouse_cluster(std::string* error) {
  static std::unique_ptr<ClickHouseCluster> cluster;
  static std::string start_error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      cluster = std::make_unique<ClickHouseCluster>();
      cluster->start();
    } catch (const std::exception& e) {
      start_error = e.what();
      cluster.reset();
    }
  }
  if (error) *error = start_error;
  return cluster.get();
}

// Runs one statement on the server at `http_port` (DROP DATABASE: advx sql is read-only).
inline void clickhouse_execute(int http_port, const std::string& sql) {
  CURL* c = curl_easy_init();
  if (!c) return;
  const std::string u = "http://127.0.0.1:" + std::to_string(http_port) + "/";
  curl_easy_setopt(c, CURLOPT_URL, u.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, sql.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
  long status = 0;
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  EXPECT_TRUE(rc == CURLE_OK && status == 200)
      << sql << ": " << curl_easy_strerror(rc) << ", HTTP " << status;
}

class StoreTarget {
 public:
  // Stores named by a test live in `dir` (DuckDB) or in databases named after the test (ClickHouse).
  StoreTarget(StoreKind kind, const TempDir& dir) : kind_(kind), dir_(dir) {
    if (kind_ == StoreKind::duckdb) return;
    if (kind_ == StoreKind::clickhouse_cluster) {
      cluster_ = shared_clickhouse_cluster(&error_);
      server_ = cluster_ ? &cluster_->server(0) : nullptr;  // the entry point
    } else {
      server_ = shared_clickhouse(&error_);
    }
    static std::atomic<int> instances{0};
    prefix_ = "advx_";
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    for (char c : t ? std::string(t->name()) : std::string("test"))
      prefix_ += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
    prefix_ += "_" + std::to_string(instances++) + "_";
  }

  StoreKind kind() const { return kind_; }
  // ClickHouse's SQL: a single server or a cluster.
  bool clickhouse() const { return kind_ != StoreKind::duckdb; }
  bool cluster() const { return kind_ == StoreKind::clickhouse_cluster; }
  // Empty when the store can be used, else why not: ASSERT_EQ(store.error(), "").
  const std::string& error() const { return error_; }
  // The server (a cluster's first shard, its entry point).
  ClickHouseServer* server() const { return server_; }

  // The store named `name` ("batch", "serve", ...): duckdb:DIR/NAME.duckdb or clickhouse://…/PREFIX_NAME.
  std::string url(const std::string& name) const {
    if (cluster()) return cluster_->url(database(name));
    return clickhouse() ? server_->url(database(name)) : "duckdb:" + path(name);
  }
  // The DuckDB file of `name`.
  std::string path(const std::string& name) const { return dir_.str(name + ".duckdb"); }
  std::string database(const std::string& name) const { return prefix_ + name; }
  // The arguments that name it on a command line: --db PATH (as users write it) or --store URL.
  std::vector<std::string> args(const std::string& name) const {
    if (clickhouse()) return {"--store", url(name)};
    return {"--db", path(name)};
  }
  // The [store] section of an advx serve config naming it.
  std::string config(const std::string& name) const { return "[store]\nurl = \"" + url(name) + "\"\n"; }
  // Whether it exists yet: the DuckDB file, or the ClickHouse database.
  bool exists(const std::string& name) const {
    if (!clickhouse()) return std::filesystem::exists(path(name));
    const CommandResult r =
        run_advx({"sql", "--store", server_->url("default"), "--format", "csv",
                  "SELECT count() FROM system.databases WHERE name = '" + database(name) + "'"},
                 dir_.str());
    return r.exit_code == 0 && r.out.ends_with("\n1\n");
  }

  // Removes it: the DuckDB file and its WAL, or the ClickHouse database (DROP DATABASE over HTTP: advx
  // sql is read-only).
  void drop(const std::string& name) const {
    if (!clickhouse()) {
      std::error_code ec;
      std::filesystem::remove(path(name), ec);
      std::filesystem::remove(path(name) + ".wal", ec);
      return;
    }
    if (!cluster()) {
      clickhouse_execute(server_->http_port(), "DROP DATABASE IF EXISTS `" + database(name) + "`");
      return;
    }
    // The Distributed tables first, on every server, then the shards' own.
    for (const char* suffix : {"", "_shard"})
      for (size_t i = 0; i < 2; i++)
        clickhouse_execute(cluster_->server(i).http_port(),
                           "DROP DATABASE IF EXISTS `" + database(name) + suffix + "`");
  }

  // --- the engine's SQL, for `advx sql` ---
  // A hash of the columns of a row: DuckDB's hash(a, b), ClickHouse's cityHash64 of each as text, a NULL
  // as \N (ClickHouse's cityHash64 is NULL when any argument is).
  std::string hash(const std::vector<std::string>& columns) const {
    std::string out = clickhouse() ? "cityHash64(" : "hash(";
    for (size_t i = 0; i < columns.size(); i++) {
      if (i) out += ", ";
      out += clickhouse() ? "ifNull(toString(" + columns[i] + "), '\\\\N')" : columns[i];
    }
    return out + ")";
  }
  // A table as a FROM item: on ClickHouse the versioned tables (ReplacingMergeTree(advx_version):
  // attribution writes new row versions) are read with FINAL, in a subquery (18.16 refuses FINAL with an
  // ORDER BY on a sorting-key expression).
  std::string table(const std::string& name) const {
    if (clickhouse() && is_versioned(name)) return "(SELECT * FROM " + name + " FINAL)";
    return name;
  }
  static bool is_versioned(const std::string& name) {
    return name == "clicks" || name == "conversions" || name == "bid_requests" || name == "campaign_hourly" ||
           name == "advx_attribution_pending";
  }
  // campaign_hourly as a FROM item of its rows as readers see them: on ClickHouse one version each, without
  // the row version and without the all-zero rows attribution leaves where an hour lost its last event
  // (the reports skip them), the hour as its microseconds.
  std::string hourly() const {
    if (!clickhouse()) return "campaign_hourly";
    std::string nonzero;
    for (const char* c :
         {"bid_requests_won", "impressions", "clicks", "attributed_clicks", "orphan_clicks", "conversions",
          "click_through_conversions", "view_through_conversions", "unattributed_conversions"})
      nonzero += std::string(nonzero.empty() ? "" : " OR ") + "ifNull(" + c + ", 0) != 0";
    return "(SELECT hour_us AS hour, campaign_id, bid_requests_won, impressions, spend, clicks, "
           "attributed_clicks, orphan_clicks, conversions, click_through_conversions, "
           "view_through_conversions, unattributed_conversions, conversion_value FROM campaign_hourly FINAL "
           "WHERE " +
           nonzero + ")";
  }
  // The attribution of clicks and of conversions, two queries: per outcome, how many and a hash of the
  // events with the keys they were attributed to.
  std::vector<std::string> attribution_digests() const {
    if (!clickhouse())
      return {
          "SELECT attribution, count(*), sum(hash(event_key, attributed_impression_key)) FROM clicks "
          "GROUP BY ALL ORDER BY ALL",
          "SELECT attribution, count(*), sum(hash(event_key, attributed_click_key, "
          "attributed_impression_key)) FROM conversions GROUP BY ALL ORDER BY ALL"};
    return {"SELECT attribution, count(*), sum(" + hash({"event_key", "attributed_impression_key"}) +
                ") FROM " + table("clicks") + " GROUP BY attribution ORDER BY attribution",
            "SELECT attribution, count(*), sum(" +
                hash({"event_key", "attributed_click_key", "attributed_impression_key"}) + ") FROM " +
                table("conversions") + " GROUP BY attribution ORDER BY attribution"};
  }
  // An event time column as the microseconds advx writes: DuckDB's TIMESTAMP, ClickHouse's NAME_us.
  std::string micros(const std::string& column) const { return clickhouse() ? column + "_us" : column; }

  // --- advx commands on a named store ---
  // The rows `advx sql --format csv` gives for `query`, without the header line.
  std::string sql(const std::string& name, const std::string& query) const {
    std::vector<std::string> a = {"sql"};
    for (const std::string& s : args(name)) a.push_back(s);
    a.insert(a.end(), {"--format", "csv", query});
    const CommandResult r = run_advx(a, dir_.str());
    EXPECT_EQ(r.exit_code, 0) << query << "\n" << r.err;
    return r.out.substr(r.out.find('\n') + 1);
  }
  // What `advx report ARGS --format csv` prints.
  std::string report(const std::string& name, std::vector<std::string> report_args) const {
    report_args.insert(report_args.begin(), "report");
    for (const std::string& s : args(name)) report_args.push_back(s);
    report_args.insert(report_args.end(), {"--format", "csv"});
    const CommandResult r = run_advx(report_args, dir_.str());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  // `advx ARGS[0] <store> ARGS[1..]`.
  CommandResult run(const std::string& name, std::vector<std::string> command) const {
    const std::vector<std::string> a = args(name);
    command.insert(command.begin() + 1, a.begin(), a.end());
    return run_advx(command, dir_.str());
  }

 private:
  StoreKind kind_;
  const TempDir& dir_;
  ClickHouseServer* server_ = nullptr;
  ClickHouseCluster* cluster_ = nullptr;
  std::string error_;
  std::string prefix_;
};

}  // namespace advx::test
