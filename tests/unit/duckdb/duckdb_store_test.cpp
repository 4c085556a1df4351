#include "store/duckdb/duckdb_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "../../support/store_test_util.hpp"

namespace advx {
namespace {

using test::SliceBuilder;
using test::TempDb;

// A table with one column of every ColumnType; not part of the product schema, created by the test.
constexpr ColumnDef kAllTypeColumns[] = {
    {"s", ColumnType::varchar, ""},   {"b", ColumnType::blob, ""},      {"flag", ColumnType::boolean, ""},
    {"u8", ColumnType::utinyint, ""}, {"i32", ColumnType::integer, ""}, {"i64", ColumnType::bigint, ""},
    {"u64", ColumnType::ubigint, ""}, {"d", ColumnType::double_, ""},   {"ts", ColumnType::timestamp, ""},
    {"day", ColumnType::date, ""},
};
constexpr TableDef kAllTypes{"all_types", kAllTypeColumns};
constexpr const char* kAllTypesDdl =
    "CREATE TABLE all_types (s VARCHAR, b BLOB, flag BOOLEAN, u8 UTINYINT, i32 INTEGER, i64 BIGINT, "
    "u64 UBIGINT, d DOUBLE, ts TIMESTAMP, day DATE)";

std::string scalar(DuckDbStore& store, const std::string& sql) {
  test::TextResult r = test::text_result(store.query(sql));
  EXPECT_EQ(r.rows.size(), 1u) << sql;
  EXPECT_FALSE(r.rows.empty() || r.rows[0].empty()) << sql;
  return r.rows.empty() || r.rows[0].empty() ? std::string() : r.rows[0][0];
}

// Dedup-state rows i = 0..n-1, with values that exercise the full ranges.
SliceBuilder dedup_rows(size_t n, size_t offset = 0) {
  std::vector<uint8_t> stream;
  std::vector<uint64_t> hi, lo, payload;
  std::vector<int64_t> time;
  for (size_t k = 0; k < n; ++k) {
    size_t i = k + offset;
    stream.push_back(static_cast<uint8_t>(i % 3));
    hi.push_back(std::numeric_limits<uint64_t>::max() - i);
    lo.push_back(i * 0x9E3779B97F4A7C15ULL);
    time.push_back(static_cast<int64_t>(i) * 1'000'003 - 5'000'000'000LL);
    payload.push_back(i ^ 0xABCDEF);
  }
  std::vector<std::string> sources(n, "/data/a.jsonl");
  std::vector<uint64_t> records;
  for (size_t k = 0; k < n; ++k) records.push_back(k + offset + 1);
  SliceBuilder b(tables::kDedupState);
  b.add(stream).add(hi).add(lo).add(time).add(payload).add_strings(sources).add(std::move(records));
  return b;
}

TEST(DuckDbStore, SchemaHasEveryTableWithColumnsInOrder) {
  TempDb tmp;
  DuckDbStore store(tmp.path());
  store.ensure_schema();
  store.ensure_schema();  // idempotent
  const char* type_names[] = {"VARCHAR", "BLOB",   "BOOLEAN",   "UTINYINT", "INTEGER",       "BIGINT",
                              "UBIGINT", "DOUBLE", "TIMESTAMP", "DATE",     "DECIMAL(38,12)"};
  static_assert(std::size(type_names) == size_t(ColumnType::money) + 1, "a name for every column type");
  for (const TableDef* def : tables::kAll) {
    test::TextResult r = test::text_result(
        store.query("SELECT column_name, data_type, coalesce(comment, '') FROM duckdb_columns() "
                    "WHERE table_name = '" +
                    std::string(def->name) + "' ORDER BY column_index"));
    ASSERT_EQ(r.rows.size(), def->columns.size()) << def->name;
    for (size_t c = 0; c < def->columns.size(); ++c) {
      EXPECT_EQ(r.rows[c][0], def->columns[c].name) << def->name;
      EXPECT_EQ(r.rows[c][1], type_names[static_cast<int>(def->columns[c].type)]) << def->name;
      EXPECT_EQ(r.rows[c][2], def->columns[c].comment) << def->name << "." << def->columns[c].name;
    }
  }
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'"),
            std::to_string(std::size(tables::kAll)));
}

TEST(DuckDbStore, AppendsEveryTypeWithNullsAndSelection) {
  DuckDbStore store(":memory:");
  store.execute(kAllTypesDdl);
  SliceBuilder b(kAllTypes);
  const std::vector<uint8_t> valid = {1, 1, 0, 1, 1};
  b.add_strings({"a,b", "skip", "", "skip", "h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC"}, valid)
      .add_strings({std::string("\x00\x01z", 3), "skip", "", "skip", ""}, valid)
      .add(std::vector<uint8_t>{1, 1, 0, 0, 0}, valid)
      .add(std::vector<uint8_t>{255, 7, 0, 7, 0}, valid)
      .add(std::vector<int32_t>{-2147483647, 7, 0, 7, 42}, valid)
      .add(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 7, 0, 7, 1}, valid)
      .add(std::vector<uint64_t>{std::numeric_limits<uint64_t>::max(), 7, 0, 7, 0}, valid)
      .add(std::vector<double>{0.1, 7, 0, 7, -1.5e300}, valid)
      .add(std::vector<int64_t>{1'700'000'000'123'456LL, 7, 0, 7, -1}, valid)
      .add(std::vector<int32_t>{19675, 7, 0, 7, -1}, valid);
  const std::vector<uint32_t> sel = {4, 0, 2};
  store.append(b.slice(&sel));

  test::TextResult r = test::text_result(store.query("SELECT * FROM all_types"));
  ASSERT_EQ(r.rows.size(), 3u);
  const std::vector<std::string> want0 = {"h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC",
                                          "",
                                          "false",
                                          "0",
                                          "42",
                                          "1",
                                          "0",
                                          "-1.5e+300",
                                          "1969-12-31 23:59:59.999999",
                                          "1969-12-31"};
  const std::vector<std::string> want1 = {"a,b",
                                          "\\x00\\x01z",
                                          "true",
                                          "255",
                                          "-2147483647",
                                          "-9223372036854775808",
                                          "18446744073709551615",
                                          "0.1",
                                          "2023-11-14 22:13:20.123456",
                                          "2023-11-14"};
  EXPECT_EQ(r.rows[0], want0);
  EXPECT_EQ(r.rows[1], want1);
  EXPECT_EQ(r.is_null[0], std::vector<uint8_t>(10, 0));
  EXPECT_EQ(r.is_null[1], std::vector<uint8_t>(10, 0));
  EXPECT_EQ(r.is_null[2], std::vector<uint8_t>(10, 1));
  // The values themselves, not only their text.
  EXPECT_EQ(scalar(store,
                   "SELECT count(*) FROM all_types WHERE ts = TIMESTAMP '2023-11-14 22:13:20.123456' "
                   "AND day = DATE '2023-11-14' AND b = '\\x00\\x01z'::BLOB AND d = 0.1 AND flag"),
            "1");
  EXPECT_EQ(r.column_types, (std::vector<std::string>{"VARCHAR", "BLOB", "BOOLEAN", "UTINYINT", "INTEGER",
                                                      "BIGINT", "UBIGINT", "DOUBLE", "TIMESTAMP", "DATE"}));
}

TEST(DuckDbStore, AppendsManyChunksAndReusesTheChunkWithoutStaleNulls) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  const size_t n = 5000;  // > 2 vectors of 2048
  std::vector<std::string> keys;
  std::vector<int64_t> times;
  std::vector<uint8_t> valid(n, 1);
  for (size_t i = 0; i < n; ++i) {
    keys.push_back("key-" + std::to_string(i));
    times.push_back(static_cast<int64_t>(i) * 1'000'000);
    if (i % 7 == 0) valid[i] = 0;
  }
  auto build = [&](const std::vector<uint8_t>& v) {
    SliceBuilder b(tables::kRejects);
    b.add_strings(std::vector<std::string>(n, "impressions"))
        .add_strings(std::vector<std::string>(n, "rejected"))
        .add_strings(std::vector<std::string>(n, "bad_json"))
        .add_strings(keys, v)
        .add_strings(std::vector<std::string>(n, "f.json"))
        .add(std::vector<uint64_t>(n, 1))
        .add_strings(keys)
        .add(times, v)
        .add(times);
    return b;
  };
  store.begin();
  SliceBuilder with_nulls = build(valid);
  store.append(with_nulls.slice());
  // Same table again, no NULLs, through a selection of every other row: the cached chunk must not keep
  // the NULL bits of the previous slice.
  SliceBuilder no_nulls = build({});
  std::vector<uint32_t> sel;
  for (uint32_t i = 1; i < n; i += 2) sel.push_back(i);
  store.append(no_nulls.slice(&sel));
  store.commit();

  EXPECT_EQ(scalar(store, "SELECT count(*) FROM rejects"), std::to_string(n + n / 2));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM rejects WHERE detail IS NULL"), std::to_string((n + 6) / 7));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM rejects WHERE event_time IS NULL"),
            std::to_string((n + 6) / 7));
  EXPECT_EQ(scalar(store, "SELECT sum(epoch_us(ingested_at)) FROM rejects"),
            std::to_string(int64_t{1'000'000} * (int64_t(n) * (n - 1) / 2 + int64_t(n / 2) * (n / 2))));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM rejects WHERE detail <> raw::VARCHAR"), "0");
  EXPECT_EQ(scalar(store, "SELECT raw::VARCHAR FROM rejects LIMIT 1 OFFSET 4999"), "key-4999");
  EXPECT_EQ(scalar(store, "SELECT raw::VARCHAR FROM rejects LIMIT 1 OFFSET 5000"), "key-1");
}

TEST(DuckDbStore, RollbackDiscardsAppendedRowsCommitKeepsThem) {
  TempDb tmp;
  {
    DuckDbStore store(tmp.path());
    store.ensure_schema();
    SliceBuilder rows = dedup_rows(3000);

    store.begin();
    store.append(rows.slice());
    store.append(rows.slice());
    // Inside the transaction a query sees the buffered rows.
    EXPECT_EQ(scalar(store, "SELECT count(*) FROM advx_dedup_state"), "6000");
    store.append(rows.slice());  // buffered again, only reaches the transaction on rollback's flush
    store.rollback();
    EXPECT_EQ(scalar(store, "SELECT count(*) FROM advx_dedup_state"), "0");

    store.begin();
    store.append(rows.slice());
    store.commit();
    EXPECT_EQ(scalar(store, "SELECT count(*) FROM advx_dedup_state"), "3000");

    // Outside a transaction, append commits by itself.
    store.append(rows.slice());
    EXPECT_EQ(scalar(store, "SELECT count(*) FROM advx_dedup_state"), "6000");

    // A transaction left open when the store closes is rolled back.
    store.begin();
    store.append(rows.slice());
  }
  DuckDbStore reopened(tmp.path(), StoreMode::read_only);
  EXPECT_EQ(scalar(reopened, "SELECT count(*) FROM advx_dedup_state"), "6000");
}

TEST(DuckDbStore, FailedAppendOutsideTransactionStoresNothing) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  const size_t n = 5000;
  std::vector<std::string> detail(n, "ok");
  detail[4500] = "bad \xFF byte";  // in the third chunk, after two were appended
  SliceBuilder b(tables::kRejects);
  b.add_strings(std::vector<std::string>(n, "impressions"))
      .add_strings(std::vector<std::string>(n, "rejected"))
      .add_strings(std::vector<std::string>(n, "r"))
      .add_strings(detail)
      .add_strings(std::vector<std::string>(n, "f"))
      .add(std::vector<uint64_t>(n, 1))
      .add_strings(std::vector<std::string>(n, "\xFF raw bytes are fine in a BLOB"))
      .add(std::vector<int64_t>(n, 0))
      .add(std::vector<int64_t>(n, 0));
  try {
    store.append(b.slice());
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_STREQ(e.what(), "invalid UTF-8 in rejects.detail (row 4500)");
  }
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM rejects"), "0");
  // The store is still usable.
  detail[4500] = "fixed";
  SliceBuilder ok(tables::kRejects);
  ok.add_strings(std::vector<std::string>(n, "impressions"))
      .add_strings(std::vector<std::string>(n, "rejected"))
      .add_strings(std::vector<std::string>(n, "r"))
      .add_strings(detail)
      .add_strings(std::vector<std::string>(n, "f"))
      .add(std::vector<uint64_t>(n, 1))
      .add_strings(std::vector<std::string>(n, "\xFF"))
      .add(std::vector<int64_t>(n, 0))
      .add(std::vector<int64_t>(n, 0));
  store.append(ok.slice());
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM rejects"), "5000");
}

TEST(DuckDbStore, AppendRejectsMalformedSlices) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  SliceBuilder b = dedup_rows(4);
  TableSlice s = b.slice();
  s.columns = s.columns.subspan(0, 3);
  EXPECT_THROW(store.append(s), StoreError);
  std::vector<uint32_t> sel = {0, 9};
  EXPECT_THROW(store.append(b.slice(&sel)), StoreError);
  // A table whose stored shape differs from the schema is named in the error.
  store.execute("DROP TABLE advx_dedup_state; CREATE TABLE advx_dedup_state (stream VARCHAR)");
  try {
    store.append(b.slice());
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("advx_dedup_state"), std::string::npos) << e.what();
  }
}

TEST(DuckDbStore, ScanDedupStateReturnsExactlyWhatWasAppended) {
  TempDb tmp;
  DuckDbStore store(tmp.path());
  store.ensure_schema();
  const size_t n = 10'000;
  SliceBuilder first = dedup_rows(n / 2);
  SliceBuilder second = dedup_rows(n / 2, n / 2);
  store.begin();
  store.append(first.slice());
  store.append(second.slice());
  store.commit();

  using Row = std::tuple<uint8_t, uint64_t, uint64_t, int64_t, uint64_t>;
  std::vector<Row> got;
  store.scan_dedup_state(
      [&](uint8_t s, uint64_t hi, uint64_t lo, int64_t t, uint64_t p) { got.emplace_back(s, hi, lo, t, p); });
  ASSERT_EQ(got.size(), n);
  std::sort(got.begin(), got.end(),
            [](const Row& a, const Row& b) { return std::get<2>(a) < std::get<2>(b); });
  std::vector<Row> want;
  for (size_t i = 0; i < n; ++i) {
    want.emplace_back(static_cast<uint8_t>(i % 3), std::numeric_limits<uint64_t>::max() - i,
                      i * 0x9E3779B97F4A7C15ULL, static_cast<int64_t>(i) * 1'000'003 - 5'000'000'000LL,
                      i ^ 0xABCDEF);
  }
  std::sort(want.begin(), want.end(),
            [](const Row& a, const Row& b) { return std::get<2>(a) < std::get<2>(b); });
  EXPECT_EQ(got, want);
}

TEST(DuckDbStore, ReplaceTableSwapsContent) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  auto campaigns = [](std::vector<std::string> ids) {
    SliceBuilder b(tables::kCampaigns);
    size_t n = ids.size();
    b.add_strings(ids)
        .add_strings(std::vector<std::string>(n, "adv"))
        .add_strings(std::vector<std::string>(n, "name"))
        .add(std::vector<int32_t>(n, 19000))
        .add(std::vector<int32_t>(n, 19100))
        .add_strings(std::vector<std::string>(n, "EUR"));
    return b;
  };
  SliceBuilder a = campaigns({"c1", "c2", "c3"});
  store.replace_table(a.slice());
  SliceBuilder b = campaigns({"c9"});
  store.replace_table(b.slice());
  EXPECT_EQ(scalar(store, "SELECT string_agg(campaign_id, ',') FROM campaigns"), "c9");
  EXPECT_EQ(scalar(store, "SELECT start_date::VARCHAR FROM campaigns"), "2022-01-08");
}

TEST(DuckDbStore, ExecuteAndQueryErrorsAreOneLine) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  try {
    store.query("SELECT * FROM no_such_table");
    FAIL();
  } catch (const StoreError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find("no_such_table"), std::string::npos) << msg;
  }
  EXPECT_THROW(store.execute("SELEC 1"), StoreError);
  EXPECT_THROW(store.commit(), StoreError);  // no transaction
}

TEST(DuckDbStore, ReadOnlyOnMissingFileSaysRunIngest) {
  const std::string path = "/tmp/advx_store_test_missing_" + std::to_string(::getpid()) + ".duckdb";
  try {
    DuckDbStore store(path, StoreMode::read_only);
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_EQ(std::string(e.what()), "no database at " + path + " (run advx ingest first)");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

class ReadOnlyStore : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      DuckDbStore rw(tmp_.path());
      rw.ensure_schema();
      rw.execute("INSERT INTO clicks (event_key, event_id) VALUES ('k1', 'e1'), ('k2', 'e2')");
    }
    store_ = std::make_unique<DuckDbStore>(tmp_.path(), StoreMode::read_only);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    for (const char* p : {"/tmp/advx_ro_test.csv", "/tmp/advx_ro_test.db", "/tmp/advx_ro_test_export"}) {
      std::filesystem::remove_all(p, ec);
    }
  }
  TempDb tmp_;
  std::unique_ptr<DuckDbStore> store_;
};

TEST_F(ReadOnlyStore, RefusesEveryWritingStatementAndNamesIt) {
  const std::pair<const char*, const char*> cases[] = {
      {"INSERT INTO clicks (event_key) VALUES ('x')", "INSERT"},
      {"insert into no_such_table values (1)", "INSERT"},
      {"  -- a comment\n /* another */ Insert into clicks (event_key) values ('x')", "INSERT"},
      {"WITH v AS (SELECT 'x' AS k) INSERT INTO clicks (event_key) SELECT k FROM v", "INSERT"},
      {"UPDATE clicks SET event_key = 'y'", "UPDATE"},
      {"DELETE FROM clicks", "DELETE"},
      {"TRUNCATE clicks", "TRUNCATE"},
      {"CREATE TABLE x (a INT)", "CREATE"},
      {"CREATE TEMP TABLE x (a INT)", "CREATE"},
      {"CREATE MACRO m(x) AS x + 1", "CREATE"},
      {"DROP TABLE clicks", "DROP"},
      {"ALTER TABLE clicks ADD COLUMN z INT", "ALTER"},
      {"COMMENT ON TABLE clicks IS 'x'", "COMMENT"},
      {"COPY clicks TO '/tmp/advx_ro_test.csv'", "COPY"},
      {"COPY clicks FROM '/etc/passwd'", "COPY"},
      {"ATTACH '/tmp/advx_ro_test.db' AS x", "ATTACH"},
      {"DETACH x", "DETACH"},
      {"LOAD httpfs", "LOAD"},
      {"INSTALL httpfs", "INSTALL"},
      {"SET threads = 1", "SET"},
      {"SET enable_external_access = true", "SET"},
      {"RESET threads", "RESET"},
      {"PRAGMA threads = 1", "PRAGMA"},
      {"PRAGMA enable_profiling", "PRAGMA"},
      {"EXPORT DATABASE '/tmp/advx_ro_test_export'", "EXPORT"},
      {"IMPORT DATABASE '/tmp/advx_ro_test_export'", "IMPORT"},
      {"CALL pragma_version()", "CALL"},
      {"CHECKPOINT", "CHECKPOINT"},
      {"VACUUM", "VACUUM"},
      {"BEGIN TRANSACTION", "BEGIN"},
      {"USE memory", "USE"},
      {"MERGE INTO clicks USING (SELECT 'k1' AS k) s ON clicks.event_key = s.k WHEN MATCHED THEN DELETE",
       "MERGE"},
      {"EXPLAIN ANALYZE INSERT INTO clicks (event_key) VALUES ('x')", "EXPLAIN ANALYZE INSERT"},
      {"EXPLAIN (ANALYZE) DELETE FROM clicks", "EXPLAIN ANALYZE DELETE"},
      {"SELECT 42; DROP TABLE clicks", "DROP"},
  };
  for (const auto& [sql, kind] : cases) {
    try {
      store_->query_read_only(sql);
      ADD_FAILURE() << "not refused: " << sql;
    } catch (const StoreError& e) {
      EXPECT_EQ(std::string(e.what()),
                "advx sql is read-only: " + std::string(kind) + " statements are not allowed")
          << sql;
    }
  }
  EXPECT_FALSE(std::filesystem::exists("/tmp/advx_ro_test.csv"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/advx_ro_test.db"));
  EXPECT_EQ(test::text_result(store_->query_read_only("SELECT count(*) FROM clicks")).rows[0][0], "2");
}

TEST_F(ReadOnlyStore, FileAndExtensionAccessIsRefusedByTheDatabaseToo) {
  // SELECTs pass the statement check; the read-only, no-external-access open must stop them.
  for (const char* sql :
       {"SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')", "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_parquet('/tmp/advx_ro_test.parquet')", "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM read_csv('https://example.com/x')"}) {
    try {
      store_->query_read_only(sql);
      ADD_FAILURE() << "not refused: " << sql;
    } catch (const StoreError& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
  // Second line of defence on its own, bypassing the statement check.
  const std::pair<const char*, const char*> bypass[] = {
      {"SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"},
      {"COPY clicks TO '/tmp/advx_ro_test.csv'", "file system operations are disabled"},
      {"ATTACH '/tmp/advx_ro_test.db' AS x", "file system operations are disabled"},
      {"INSTALL httpfs", "disabled"},
      {"LOAD httpfs", "disabled"},
      {"SET enable_external_access = true", "configuration has been locked"},
      {"INSERT INTO clicks (event_key) VALUES ('x')", "read-only"},
  };
  for (const auto& [sql, why] : bypass) {
    try {
      store_->execute(sql);
      ADD_FAILURE() << "not refused: " << sql;
    } catch (const StoreError& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << sql << ": " << e.what();
    }
  }
  EXPECT_FALSE(std::filesystem::exists("/tmp/advx_ro_test.csv"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/advx_ro_test.db"));
}

TEST_F(ReadOnlyStore, ReadStatementsWork) {
  EXPECT_EQ(test::text_result(store_->query_read_only("SELECT event_id FROM clicks ORDER BY 1")).rows,
            (std::vector<std::vector<std::string>>{{"e1"}, {"e2"}}));
  EXPECT_EQ(test::text_result(store_->query_read_only("FROM clicks")).rows.size(), 2u);
  EXPECT_EQ(test::text_result(store_->query_read_only("DESCRIBE clicks")).rows.size(),
            tables::kClicks.columns.size());
  EXPECT_EQ(test::text_result(store_->query_read_only("SHOW TABLES")).rows.size(), std::size(tables::kAll));
  EXPECT_EQ(test::text_result(store_->query_read_only("SUMMARIZE clicks")).rows.size(),
            tables::kClicks.columns.size());
  EXPECT_EQ(test::text_result(store_->query_read_only("PRAGMA table_info('clicks')")).rows.size(),
            tables::kClicks.columns.size());
  EXPECT_EQ(test::text_result(store_->query_read_only("PRAGMA version")).rows.size(), 1u);
  EXPECT_FALSE(test::text_result(store_->query_read_only("EXPLAIN SELECT * FROM clicks")).rows.empty());
  EXPECT_FALSE(
      test::text_result(store_->query_read_only("EXPLAIN ANALYZE SELECT * FROM clicks")).rows.empty());
  // Plain EXPLAIN passes the check (it only plans), but DuckDB will not plan a write on a read-only file.
  EXPECT_THROW(store_->query_read_only("EXPLAIN INSERT INTO clicks (event_key) VALUES ('x')"), StoreError);
  test::TextResult last = test::text_result(
      store_->query_read_only("SELECT 1; SELECT ';' AS semi, 'a;b' AS \"x;y\"; -- done;\n"));
  EXPECT_EQ(last.column_names, (std::vector<std::string>{"semi", "x;y"}));
  EXPECT_EQ(last.rows, (std::vector<std::vector<std::string>>{{";", "a;b"}}));
  EXPECT_THROW(store_->query_read_only(""), StoreError);
  EXPECT_THROW(store_->query_read_only("SELEC 1"), StoreError);
}

TEST(DuckDbStore, QueryReadOnlyRefusesOnAReadWriteStoreToo) {
  DuckDbStore store(":memory:");
  store.ensure_schema();
  EXPECT_THROW(store.query_read_only("EXPLAIN ANALYZE INSERT INTO clicks (event_key) VALUES ('x')"),
               StoreError);
  EXPECT_THROW(store.query_read_only("SELECT 1; INSERT INTO clicks (event_key) VALUES ('x')"), StoreError);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM clicks"), "0");
}

TEST(DuckDbStore, RendersValuesAsDuckDbDoes) {
  DuckDbStore store(":memory:");
  store.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')");
  const char* exprs[] = {"42::TINYINT",
                         "(-3)::SMALLINT",
                         "2147483647",
                         "(-9223372036854775808)::BIGINT",
                         "255::UTINYINT",
                         "65535::USMALLINT",
                         "4294967295::UINTEGER",
                         "18446744073709551615::UBIGINT",
                         "170141183460469231731687303715884105727::HUGEINT",
                         "(-170141183460469231731687303715884105727)::HUGEINT",
                         "340282366920938463463374607431768211455::UHUGEINT",
                         "0.1::DOUBLE",
                         "1.0::DOUBLE",
                         "'-0.0'::DOUBLE",
                         "1e15::DOUBLE",
                         "1e16::DOUBLE",
                         "1e-5::DOUBLE",
                         "0.000123::DOUBLE",
                         "123456789.125::DOUBLE",
                         "1.7976931348623157e308::DOUBLE",
                         "5e-324::DOUBLE",
                         "'nan'::DOUBLE",
                         "'-inf'::DOUBLE",
                         "3.14::FLOAT",
                         "1e-7::FLOAT",
                         "100::FLOAT",
                         "16777216::FLOAT",
                         "12.345::DECIMAL(38,3)",
                         "(-5)::DECIMAL(4,2)",
                         "0.05::DECIMAL(4,2)",
                         "1.5::DECIMAL(18,1)",
                         "(-0.001)::DECIMAL(9,3)",
                         "7::DECIMAL(5,0)",
                         "'hi'::VARCHAR",
                         "'\\x00a\"''\\x5Cz\\xFF'::BLOB",
                         "DATE '2024-02-29'",
                         "DATE '0044-03-15 (BC)'",
                         "DATE '0001-01-01'",
                         "DATE '9999-12-31'",
                         "'infinity'::DATE",
                         "'-infinity'::DATE",
                         "TIMESTAMP '2024-01-01 10:00:00.5'",
                         "TIMESTAMP '1969-12-31 23:59:59.999999'",
                         "TIMESTAMP '0044-03-15 (BC) 10:00:00'",
                         "'infinity'::TIMESTAMP",
                         "'-infinity'::TIMESTAMP",
                         "TIMESTAMP_NS '2024-01-01 00:00:00.123456789'",
                         "TIMESTAMP_MS '2024-01-01 00:00:00.12'",
                         "TIMESTAMP_S '2024-01-01 01:02:03'",
                         "TIMESTAMPTZ '2024-01-01 10:00:00+00'",
                         "TIME '23:59:59.999999'",
                         "TIME '00:00:00'",
                         "INTERVAL 14 MONTH + INTERVAL 3 DAY + INTERVAL 4 HOUR + INTERVAL 6 MICROSECOND",
                         "-INTERVAL 1 MONTH - INTERVAL 90 MINUTE",
                         "INTERVAL 0 DAY",
                         "INTERVAL 30 HOUR",
                         "INTERVAL 1 YEAR",
                         "INTERVAL (-2) DAY",
                         "'550e8400-e29b-41d4-a716-446655440000'::UUID",
                         "'00000000-0000-0000-0000-000000000000'::UUID",
                         "'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID",
                         "true",
                         "false",
                         "'happy'::mood"};
  for (const char* e : exprs) {
    test::TextResult r =
        test::text_result(store.query(std::string("SELECT ") + e + ", (" + e + ")::VARCHAR"));
    ASSERT_EQ(r.rows.size(), 1u) << e;
    EXPECT_EQ(r.rows[0][0], r.rows[0][1]) << e;
  }
  test::TextResult t = test::text_result(
      store.query("SELECT 1::BIGINT AS a, 'x' AS b, 1.5::DECIMAL(10,2) AS c, NULL AS n, 'sad'::mood AS m"));
  EXPECT_EQ(t.column_names, (std::vector<std::string>{"a", "b", "c", "n", "m"}));
  EXPECT_EQ(t.column_types,
            (std::vector<std::string>{"BIGINT", "VARCHAR", "DECIMAL(10,2)", "INTEGER", "ENUM"}));
  EXPECT_EQ(t.is_null[0], (std::vector<uint8_t>{0, 0, 0, 1, 0}));
  try {
    store.query("SELECT [1, 2] AS l");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_EQ(std::string(e.what()),
              "column \"l\" has type LIST, which advx cannot show yet: cast it, e.g. \"l\"::VARCHAR");
  }
}

}  // namespace
}  // namespace advx
