// advx export through the binary: generated data is ingested, exported as Hive-partitioned Parquet and read
// back with DuckDB's read_parquet(hive_partitioning = true): the same rows per table and per partition,
// exact --from/--to bounds, the layout, the refusals, and a database left untouched. And the same data
// ingested into DuckDB and into a real ClickHouse 18.16 exports to the same rows, partitions and folders.
#include <duckdb.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../support/clickhouse_server.hpp"
#include "cli_runner.hpp"
#include "core/table_schema.hpp"

namespace advx::test {
namespace {

namespace fs = std::filesystem;

// An in-memory DuckDB with the store attached read-only as `s`; query() renders a result as text lines.
class Duck {
 public:
  explicit Duck(const std::string& db_path) {
    EXPECT_EQ(duckdb_open(nullptr, &db_), DuckDBSuccess);
    EXPECT_EQ(duckdb_connect(db_, &con_), DuckDBSuccess);
    query("ATTACH '" + db_path + "' AS s (READ_ONLY)");
  }
  ~Duck() {
    duckdb_disconnect(&con_);
    duckdb_close(&db_);
  }
  Duck(const Duck&) = delete;
  Duck& operator=(const Duck&) = delete;

  std::string query(const std::string& sql) {
    duckdb_result r;
    std::string text;
    if (duckdb_query(con_, sql.c_str(), &r) != DuckDBSuccess) {
      ADD_FAILURE() << sql << ": " << duckdb_result_error(&r);
    } else {
      for (idx_t row = 0; row < duckdb_row_count(&r); ++row) {
        for (idx_t col = 0; col < duckdb_column_count(&r); ++col) {
          char* v = duckdb_value_varchar(&r, col, row);
          text += (col ? "|" : "") + std::string(v ? v : "NULL");
          duckdb_free(v);
        }
        text += "\n";
      }
    }
    duckdb_destroy_result(&r);
    return text;
  }
  uint64_t count(const std::string& sql) { return std::stoull(query(sql)); }

 private:
  duckdb_database db_ = nullptr;
  duckdb_connection con_ = nullptr;
};

std::string parquet(const std::string& out, std::string_view table) {
  return "read_parquet('" + out + "/" + std::string(table) + "/**/*.parquet', hive_partitioning = true)";
}

std::string column_list(const TableDef& def) {
  std::string cols;
  for (const ColumnDef& c : def.columns) cols += (cols.empty() ? "" : ", ") + std::string(c.name);
  return cols;
}

struct Partitioning {
  const TableDef* def;
  std::string store_keys;    // the partition values, computed in the store
  std::string parquet_keys;  // the same, read back from the folder names
  std::string time_column;
};

const Partitioning kPartitioning[] = {
    {&tables::kImpressions, "event_date, campaign_id", "event_date, campaign_id", "event_time"},
    {&tables::kClicks, "event_date, campaign_id", "event_date, campaign_id", "event_time"},
    {&tables::kConversions, "event_date, campaign_id", "event_date, campaign_id", "event_time"},
    {&tables::kBidRequests, "event_date", "event_date", "event_time"},
    {&tables::kRejects, "CAST(ingested_at AS DATE)", "ingest_date", "ingested_at"},
};

class Export : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    CommandResult g = run_advx(
        {"gen", "--out", dir_->str("data"), "--impressions", "10000", "--seed", "4", "--quiet"}, dir_->str());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    CommandResult i = run_advx({"ingest", "--db", db(), "-q", dir_->str("data")}, dir_->str());
    ASSERT_EQ(i.exit_code, 0) << i.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string db() { return dir_->str("g.duckdb"); }

  CommandResult run(std::vector<std::string> args) {
    args.insert(args.begin(), {"export", "--db", db()});
    return run_advx(args, out_dir.str());
  }

  // Every row and column of the store's table within `where` is in the export, and nothing else.
  void expect_same_rows(Duck& duck, const std::string& out, const Partitioning& p, const std::string& where) {
    SCOPED_TRACE(std::string(p.def->name));
    const std::string cols = column_list(*p.def);
    const std::string store = "(SELECT " + cols + " FROM s." + std::string(p.def->name) + where + ")";
    const std::string exported = "(SELECT " + cols + " FROM " + parquet(out, p.def->name) + ")";
    const uint64_t n = duck.count("SELECT count(*) FROM " + store);
    EXPECT_EQ(duck.count("SELECT count(*) FROM " + exported), n);
    EXPECT_EQ(duck.count("SELECT count(*) FROM (" + store + " EXCEPT ALL " + exported + ")"), 0u);
    EXPECT_EQ(duck.count("SELECT count(*) FROM (" + exported + " EXCEPT ALL " + store + ")"), 0u);
    // Per partition, with the partition values read back from the folder names.
    EXPECT_EQ(duck.query("SELECT " + p.store_keys + ", count(*) FROM s." + std::string(p.def->name) + where +
                         " GROUP BY ALL ORDER BY ALL"),
              duck.query("SELECT " + p.parquet_keys + ", count(*) FROM " + parquet(out, p.def->name) +
                         " GROUP BY ALL ORDER BY ALL"));
  }

  static TempDir* dir_;
  TempDir out_dir;  // per test
};

TempDir* Export::dir_ = nullptr;

TEST_F(Export, RoundTripsEveryTableAndPartition) {
  const std::string out = out_dir.str("lake");
  CommandResult r = run({"--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Duck duck(db());
  for (const Partitioning& p : kPartitioning) {
    const std::string name(p.def->name);
    const uint64_t n = duck.count("SELECT count(*) FROM s." + name);
    if (name != "rejects") {
      EXPECT_GT(n, 0u) << name;
    }
    expect_same_rows(duck, out, p, "");
    // The summary line: the table, its rows, then files and bytes.
    const std::regex line("(^|\\n)" + name + " +" + std::to_string(n) + " rows +[0-9]+ files +[0-9]+ bytes ");
    EXPECT_TRUE(std::regex_search(r.out, line)) << r.out;
  }
  // Partition columns live in the folder names only (DuckDB's default): the files do not repeat them.
  EXPECT_EQ(duck.query("SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet('" + out +
                       "/impressions/**/*.parquet', hive_partitioning = false)) WHERE column_name IN "
                       "('event_date', 'campaign_id')"),
            "0\n");
}

TEST_F(Export, WritesHiveFolders) {
  const std::string out = out_dir.str("lake");
  ASSERT_EQ(run({"--out", out}).exit_code, 0);
  const std::regex by_campaign(R"(event_date=\d{4}-\d{2}-\d{2}/campaign_id=[^/]+/data_[0-9a-f-]+\.parquet)");
  const std::regex by_date(R"(event_date=\d{4}-\d{2}-\d{2}/data_[0-9a-f-]+\.parquet)");
  const std::regex by_ingest(R"(ingest_date=\d{4}-\d{2}-\d{2}/data_[0-9a-f-]+\.parquet)");
  const std::map<std::string, const std::regex*> layout = {{"impressions", &by_campaign},
                                                           {"clicks", &by_campaign},
                                                           {"conversions", &by_campaign},
                                                           {"bid_requests", &by_date},
                                                           {"rejects", &by_ingest}};
  for (const auto& [table, pattern] : layout) {
    size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(out) / table)) {
      if (!e.is_regular_file()) continue;
      const std::string rel = fs::relative(e.path(), fs::path(out) / table).string();
      EXPECT_TRUE(std::regex_match(rel, *pattern)) << table << ": " << rel;
      ++files;
    }
    if (table != "rejects") {
      EXPECT_GT(files, 0u) << table;
    }
  }
  // Impressions without a campaign (unknown creatives) go to DuckDB's NULL partition, and read back as NULL.
  Duck duck(db());
  const uint64_t no_campaign = duck.count("SELECT count(*) FROM s.impressions WHERE campaign_id IS NULL");
  ASSERT_GT(no_campaign, 0u);
  const std::string date = duck.query("SELECT min(event_date) FROM s.impressions WHERE campaign_id IS NULL");
  EXPECT_TRUE(fs::is_directory(fs::path(out) / "impressions" / ("event_date=" + date.substr(0, 10)) /
                               "campaign_id=NULL"));
  EXPECT_EQ(duck.count("SELECT count(*) FROM " + parquet(out, "impressions") + " WHERE campaign_id IS NULL"),
            no_campaign);
}

TEST_F(Export, FromToSelectsExactly) {
  const std::string out = out_dir.str("lake");
  const std::string from = "2026-11-01T06:30:00.250Z", to = "2026-11-01T17:00:00Z";
  CommandResult r = run({"--out", out, "--from", from, "--to", to, "--tables", "impressions,clicks,rejects"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(out) / "bid_requests"));
  EXPECT_FALSE(fs::exists(fs::path(out) / "conversions"));
  Duck duck(db());
  const std::string where =
      " WHERE {} >= TIMESTAMP '2026-11-01 06:30:00.25' AND {} < TIMESTAMP '2026-11-01 17:00:00'";
  for (const Partitioning& p : kPartitioning) {
    const std::string name(p.def->name);
    if (name != "impressions" && name != "clicks" && name != "rejects") continue;
    std::string w = where;
    for (size_t at; (at = w.find("{}")) != std::string::npos;) w.replace(at, 2, p.time_column);
    const uint64_t inside = duck.count("SELECT count(*) FROM s." + name + w);
    if (name != "rejects") {
      EXPECT_GT(inside, 0u) << name;
      EXPECT_LT(inside, duck.count("SELECT count(*) FROM s." + name)) << name;
    }
    if (inside == 0) {  // nothing to write: no files, and reading the folder finds none
      EXPECT_TRUE(std::regex_search(r.out, std::regex("(^|\\n)" + name + " +0 rows +0 files +0 bytes")))
          << r.out;
      continue;
    }
    expect_same_rows(duck, out, p, w);
  }
  // Epoch microseconds and bare dates are accepted too; an empty or reversed range is wrong usage.
  EXPECT_EQ(run({"--out", out_dir.str("epoch"), "--from", "1793520000000000", "--to", "2026-11-02",
                 "--tables", "bid_requests"})
                .exit_code,
            0);
  EXPECT_EQ(
      duck.count("SELECT count(*) FROM " + parquet(out_dir.str("epoch"), "bid_requests")),
      duck.count("SELECT count(*) FROM s.bid_requests WHERE event_time >= TIMESTAMP '2026-11-01 08:00:00' "
                 "AND event_time < TIMESTAMP '2026-11-02'"));
  EXPECT_EQ(run({"--out", out_dir.str("x"), "--from", "2026-11-02", "--to", "2026-11-01"}).exit_code, 2);
  EXPECT_EQ(run({"--out", out_dir.str("x"), "--from", "yesterday"}).exit_code, 2);
  EXPECT_EQ(run({"--out", out_dir.str("x"), "--tables", "impressions,campaigns"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(out_dir.path() / "x"));
}

TEST_F(Export, RefusesANonEmptyOutUnlessOverwrite) {
  const std::string out = out_dir.str("lake");
  ASSERT_EQ(run({"--out", out, "--tables", "impressions"}).exit_code, 0);
  CommandResult again = run({"--out", out, "--tables", "impressions"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;
  EXPECT_EQ(std::count(again.err.begin(), again.err.end(), '\n'), 1) << again.err;
  // --overwrite replaces the table's folder: a narrower export leaves no stale partition behind.
  write_file(fs::path(out) / "impressions" / "event_date=2020-01-01" / "stale.parquet", "stale");
  write_file(fs::path(out) / "README", "kept");
  CommandResult over =
      run({"--out", out, "--tables", "impressions", "--overwrite", "--from", "2026-11-01T12:00:00Z"});
  ASSERT_EQ(over.exit_code, 0) << over.err;
  EXPECT_FALSE(fs::exists(fs::path(out) / "impressions" / "event_date=2020-01-01"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "README"));
  Duck duck(db());
  EXPECT_EQ(
      duck.count("SELECT count(*) FROM " + parquet(out, "impressions")),
      duck.count("SELECT count(*) FROM s.impressions WHERE event_time >= TIMESTAMP '2026-11-01 12:00:00'"));
  // An empty existing folder is fine; a file is not a folder.
  fs::create_directories(out_dir.path() / "empty");
  EXPECT_EQ(run({"--out", out_dir.str("empty"), "--tables", "conversions"}).exit_code, 0);
  EXPECT_EQ(run({"--out", out_dir.str("lake/README"), "--overwrite"}).exit_code, 2);
}

TEST_F(Export, LeavesTheDatabaseUntouched) {
  const std::string before = slurp(db());
  ASSERT_EQ(run({"--out", out_dir.str("lake")}).exit_code, 0);
  EXPECT_TRUE(slurp(db()) == before);
  EXPECT_FALSE(fs::exists(db() + ".wal"));
}

TEST_F(Export, MissingDatabase) {
  CommandResult r =
      run_advx({"export", "--db", out_dir.str("nope.duckdb"), "--out", out_dir.str("lake")}, out_dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "advx export: no database at " + out_dir.str("nope.duckdb") + " (run advx ingest first)\n");
  EXPECT_FALSE(fs::exists(out_dir.path() / "lake"));
  EXPECT_FALSE(fs::exists(out_dir.path() / "nope.duckdb"));
}

TEST_F(Export, Help) {
  CommandResult r = run_advx({"export", "--help"}, out_dir.str());
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"--out", "--from", "--to", "--tables", "--overwrite", "campaign_id=NULL"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

// The same generated data ingested into a DuckDB file and into ClickHouse (docs/STORES.md), then exported
// from each: the files read back the same.
class ExportParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    try {
      server_ = new ClickHouseServer();
      server_->start();
    } catch (const std::exception& e) {
      start_error_ = e.what();
      return;
    }
    CommandResult g = run_advx(
        {"gen", "--out", dir_->str("data"), "--impressions", "10000", "--seed", "4", "--quiet"}, dir_->str());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    for (const std::vector<std::string>& store :
         {std::vector<std::string>{"--db", db()}, std::vector<std::string>{"--store", ch()}}) {
      std::vector<std::string> args = {"ingest", "-q", "--dims", dir_->str("data/dims")};
      args.insert(args.end(), store.begin(), store.end());
      args.push_back(dir_->str("data"));
      CommandResult i = run_advx(args, dir_->str());
      ASSERT_EQ(i.exit_code, 0) << i.err;
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }
  static std::string db() { return dir_->str("p.duckdb"); }
  static std::string ch() { return server_->url("advx_export"); }

  // advx export on one store (--db FILE or --store URL) into `out`, timed.
  CommandResult run(const std::vector<std::string>& store, const std::string& out,
                    std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"export", "--out", out};
    args.insert(args.end(), store.begin(), store.end());
    args.insert(args.end(), more.begin(), more.end());
    const auto start = std::chrono::steady_clock::now();
    CommandResult r = run_advx(args, out_dir.str());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("advx export %s%s: %.2f s\n", store[0].c_str(), more.empty() ? "" : " (a window)", s);
    return r;
  }

  // The summary's row counts, one line a table: "impressions 9744".
  static std::string row_counts(const std::string& out) {
    std::string counts;
    const std::regex line(R"((^|\n)(\w+) +(\d+) rows )");
    for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it)
      counts += (*it)[2].str() + " " + (*it)[3].str() + "\n";
    return counts;
  }

  // Every column but ingested_at (each store stamps its own), with the partition values from the folders.
  static std::string compared_columns(const Partitioning& p) {
    std::string cols;
    for (const ColumnDef& c : p.def->columns)
      if (c.name != "ingested_at") cols += (cols.empty() ? "" : ", ") + std::string(c.name);
    return cols + ", " + p.parquet_keys;
  }

  // The partition folders under a table's folder, relative to it, and that every file is data_<uuid>.
  static std::set<std::string> folders(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_directory()) out.insert(fs::relative(e.path(), dir).string());
      if (e.is_regular_file()) {
        EXPECT_TRUE(std::regex_match(e.path().filename().string(), std::regex(R"(data_[0-9a-f-]+\.parquet)")))
            << e.path();
      }
    }
    return out;
  }

  inline static TempDir* dir_ = nullptr;
  inline static ClickHouseServer* server_ = nullptr;
  inline static std::string start_error_;
  TempDir out_dir;  // per test
};

TEST_F(ExportParity, SameRowsPartitionsAndFoldersOnBothStores) {
  const std::string d = out_dir.str("duck"), c = out_dir.str("ch");
  const CommandResult rd = run({"--db", db()}, d);
  const CommandResult rc = run({"--store", ch()}, c);
  ASSERT_EQ(rd.exit_code, 0) << rd.err;
  ASSERT_EQ(rc.exit_code, 0) << rc.err;
  EXPECT_EQ(rc.err, rd.err);  // the same warnings (none here)
  EXPECT_EQ(row_counts(rc.out), row_counts(rd.out));
  EXPECT_EQ(std::count(rc.out.begin(), rc.out.end(), '\n'), 5) << rc.out;
  Duck duck(db());
  for (const Partitioning& p : kPartitioning) {
    const std::string name(p.def->name);
    SCOPED_TRACE(name);
    const uint64_t n = duck.count("SELECT count(*) FROM s." + name);
    if (name != "rejects") {
      EXPECT_GT(n, 0u);
    }
    const std::string cols = compared_columns(p);
    const std::string from_duck = "SELECT " + cols + " FROM " + parquet(d, name);
    const std::string from_ch = "SELECT " + cols + " FROM " + parquet(c, name);
    EXPECT_EQ(duck.count("SELECT count(*) FROM (" + from_ch + ")"), n);
    EXPECT_EQ(duck.count("SELECT count(*) FROM (" + from_duck + ")"), n);
    EXPECT_EQ(duck.count("SELECT count(*) FROM (" + from_duck + " EXCEPT ALL " + from_ch + ")"), 0u);
    EXPECT_EQ(duck.count("SELECT count(*) FROM (" + from_ch + " EXCEPT ALL " + from_duck + ")"), 0u);
    // Per partition, from the folder names.
    const std::string per_partition =
        "SELECT " + p.parquet_keys + ", count(*) FROM {} GROUP BY ALL ORDER BY ALL";
    std::string on_duck = per_partition, on_ch = per_partition;
    on_duck.replace(on_duck.find("{}"), 2, parquet(d, name));
    on_ch.replace(on_ch.find("{}"), 2, parquet(c, name));
    EXPECT_EQ(duck.query(on_ch), duck.query(on_duck));
    if (name == "rejects") {
      // Partitioned by the day each store ingested them: each export's folders are its own rows' days.
      for (const std::string& out : {d, c}) {
        std::set<std::string> days;
        std::istringstream lines(duck.query(
            "SELECT DISTINCT 'ingest_date=' || CAST(ingested_at AS DATE) FROM " + parquet(out, name)));
        for (std::string line; std::getline(lines, line);) days.insert(line);
        EXPECT_EQ(folders(fs::path(out) / name), days) << out;
      }
    } else {
      EXPECT_EQ(folders(fs::path(c) / name), folders(fs::path(d) / name));
    }
  }
  // Column types are the same in the files of both (docs/TABLES.md), partition columns in the folders only.
  for (const Partitioning& p : kPartitioning) {
    const std::string describe =
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{}/" +
        std::string(p.def->name) + "/**/*.parquet', hive_partitioning = false))";
    std::string on_duck = describe, on_ch = describe;
    on_duck.replace(on_duck.find("{}"), 2, d);
    on_ch.replace(on_ch.find("{}"), 2, c);
    EXPECT_EQ(duck.query(on_ch), duck.query(on_duck)) << p.def->name;
  }
  // Unknown creatives: the NULL campaign partition, read back as NULL, on ClickHouse too.
  EXPECT_GT(duck.count("SELECT count(*) FROM " + parquet(c, "impressions") + " WHERE campaign_id IS NULL"),
            0u);
}

TEST_F(ExportParity, FromToSelectsExactlyOnBothStores) {
  const std::string from = "2026-11-01T06:30:00.250Z", to = "2026-11-01T17:00:00Z";
  const std::vector<std::string> window = {
      "--from", from, "--to", to, "--tables", "impressions,clicks,conversions,bid_requests"};
  const std::string d = out_dir.str("duck"), c = out_dir.str("ch");
  const CommandResult rd = run({"--db", db()}, d, window);
  const CommandResult rc = run({"--store", ch()}, c, window);
  ASSERT_EQ(rd.exit_code, 0) << rd.err;
  ASSERT_EQ(rc.exit_code, 0) << rc.err;
  EXPECT_EQ(row_counts(rc.out), row_counts(rd.out));
  EXPECT_FALSE(fs::exists(fs::path(c) / "rejects"));
  Duck duck(db());
  for (const Partitioning& p : kPartitioning) {
    const std::string name(p.def->name);
    if (name == "rejects") continue;
    SCOPED_TRACE(name);
    std::string cols;
    for (const ColumnDef& col : p.def->columns)
      if (col.name != "ingested_at") cols += (cols.empty() ? "" : ", ") + std::string(col.name);
    const std::string stored = "SELECT " + cols + " FROM s." + name + " WHERE event_time >= TIMESTAMP '" +
                               "2026-11-01 06:30:00.25' AND event_time < TIMESTAMP '2026-11-01 17:00:00'";
    const uint64_t inside = duck.count("SELECT count(*) FROM (" + stored + ")");
    EXPECT_GT(inside, 0u);
    EXPECT_LT(inside, duck.count("SELECT count(*) FROM s." + name));
    for (const std::string& out : {d, c}) {
      const std::string exported = "SELECT " + cols + " FROM " + parquet(out, name);
      EXPECT_EQ(duck.count("SELECT count(*) FROM (" + exported + ")"), inside) << out;
      EXPECT_EQ(duck.count("SELECT count(*) FROM (" + stored + " EXCEPT ALL " + exported + ")"), 0u) << out;
    }
    EXPECT_EQ(folders(fs::path(c) / name), folders(fs::path(d) / name));
  }
}

TEST(ExportClickHouse, AServerThatCannotBeReachedIsOneLineAndExit1) {
  TempDir dir;
  const CommandResult r =
      run_advx({"export", "--store", "clickhouse://127.0.0.1:1/advx", "--out", dir.str("lake")}, dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("advx export: cannot reach ClickHouse at 127.0.0.1:1", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "lake"));
}

}  // namespace
}  // namespace advx::test
