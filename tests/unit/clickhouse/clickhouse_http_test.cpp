// The ClickHouse HTTP client against a real clickhouse-server (18.16 here): URLs, typed results, error
// codes, cancel(), a server going down and coming back.
#include "store/clickhouse/clickhouse_http.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <future>
#include <limits>

#include "clickhouse_fixture.hpp"

namespace advx::test {
namespace {

using clickhouse::Endpoint;
using clickhouse::HttpClient;
using clickhouse::parse_url;
using Code = StoreErrorCode;

// ---- URLs (no server) ----------------------------------------------------------------------------------

TEST(ClickHouseUrl, GoodUrls) {
  Endpoint e = parse_url("clickhouse://127.0.0.1:8124/advx");
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 8124);
  EXPECT_EQ(e.database, "advx");
  EXPECT_EQ(e.user, "");
  EXPECT_EQ(e.password, "");

  e = parse_url("clickhouse://ch.example");
  EXPECT_EQ(e.host, "ch.example");
  EXPECT_EQ(e.port, 8123);
  EXPECT_EQ(e.database, "default");

  e = parse_url("clickhouse://ch:9/");
  EXPECT_EQ(e.port, 9);
  EXPECT_EQ(e.database, "default");

  e = parse_url("clickhouse://us%40er:p%3Aa%2Fss%25@[::1]:8123/db_2");
  EXPECT_EQ(e.user, "us@er");
  EXPECT_EQ(e.password, "p:a/ss%");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.database, "db_2");
  EXPECT_EQ(clickhouse::endpoint_url(e), "clickhouse://us@er@[::1]:8123/db_2");

  e = parse_url("clickhouse://reader@h/x");  // a user without a password
  EXPECT_EQ(e.user, "reader");
  EXPECT_EQ(e.password, "");
}

TEST(ClickHouseUrl, BadUrlsAreInvalidInOneLineWithoutThePassword) {
  for (const char* url : {"",
                          "http://h:8123/db",
                          "clickhouse:/h/db",
                          "clickhouse://",
                          "clickhouse://:8123/db",
                          "clickhouse://h:/db",
                          "clickhouse://h:0/db",
                          "clickhouse://h:65536/db",
                          "clickhouse://h:80a/db",
                          "clickhouse://h:-1/db",
                          "clickhouse://h:8123/a/b",
                          "clickhouse://h/db?x=1",
                          "clickhouse://h/db#f",
                          "clickhouse://h/my-db",
                          "clickhouse://h/1db",
                          "clickhouse://::1:8123/db",
                          "clickhouse://[::1/db",
                          "clickhouse://[::1]x/db",
                          "clickhouse://h db/x",
                          "clickhouse://:secret@h/db",
                          "clickhouse://u:sec%zzret@h/db",
                          "clickhouse://u:secret%4@h/db",
                          "clickhouse://u:se/cret@h/db"}) {
    SCOPED_TRACE(url);
    const auto e = store_error([&] { parse_url(url); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), Code::invalid);
    const std::string what = e->what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.find("secret"), std::string::npos) << what;
    EXPECT_EQ(what.rfind("bad ClickHouse URL: ", 0), 0u) << what;
  }
}

// ---- error texts and results (no server) ---------------------------------------------------------------

TEST(ClickHouseErrors, ServerTextsOfBothGenerations) {
  StoreError e = clickhouse::server_error(
      "Code: 60, e.displayText() = DB::Exception: Table t1.nope doesn't exist., e.what() = DB::Exception\n",
      404);
  EXPECT_EQ(e.code(), Code::not_found);
  EXPECT_STREQ(e.what(), "clickhouse: Table t1.nope doesn't exist. (code 60)");
  e = clickhouse::server_error(
      "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 24.3.1.1)\n",
      404);
  EXPECT_EQ(e.code(), Code::not_found);
  EXPECT_STREQ(e.what(), "clickhouse: Table default.nope does not exist. (UNKNOWN_TABLE) (code 60)");
  EXPECT_EQ(clickhouse::server_error("Code: 394. DB::Exception: Query was cancelled", 500).code(),
            Code::interrupted);
  EXPECT_EQ(clickhouse::server_error("Code: 497. DB::Exception: not enough privileges", 500).code(),
            Code::refused);
  EXPECT_EQ(clickhouse::server_error("Code: 241. DB::Exception: Memory limit exceeded", 500).code(),
            Code::internal);
  EXPECT_EQ(clickhouse::server_error("Service Unavailable", 503).code(), Code::unavailable);
  EXPECT_EQ(clickhouse::server_error("", 401).code(), Code::refused);
  EXPECT_EQ(clickhouse::server_error("", 500).code(), Code::internal);
}

TEST(ClickHouseResults, TsvEscapesAreUndone) {
  EXPECT_EQ(clickhouse::tsv_unescape("a\\tb\\nc\\\\d\\'e\\0\\b\\f\\r\\x41\\N"),
            std::string("a\tb\nc\\d'e\0\b\f\rAN", 15));
  const ResultTable t = clickhouse::parse_tsv_with_names_and_types(
      "a\\tb\tc\nNullable(String)\tDateTime(\\'UTC\\')\n\\N\t0000-00-00 00:00:00\nx\\ty\t2025-12-03 "
      "01:02:03\n",
      true);
  ASSERT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.columns[0].name, "a\tb");
  EXPECT_EQ(t.columns[1].engine_type, "DateTime('UTC')");
  EXPECT_TRUE(t.columns[0].is_null(0));
  EXPECT_EQ(t.columns[0].texts[1], "x\ty");
  EXPECT_EQ(t.columns[1].type, ValueType::timestamp);
  EXPECT_EQ(t.columns[1].ints[0], 0);
  EXPECT_EQ(t.columns[1].ints[1], 1764723723LL * 1000000);
}

TEST(ClickHouseResults, TypesMapToValueTypes) {
  using clickhouse::column_kind;
  EXPECT_EQ(column_kind("Int8", true).type, ValueType::integer);
  EXPECT_EQ(column_kind("UInt32", true).type, ValueType::integer);
  EXPECT_EQ(column_kind("UInt64", true).type, ValueType::decimal);
  EXPECT_EQ(column_kind("Float32", true).type, ValueType::real);
  EXPECT_EQ(column_kind("Decimal(38, 12)", true).scale, 12);
  EXPECT_EQ(column_kind("Decimal64(4)", true).scale, 4);
  EXPECT_EQ(column_kind("Decimal256(4)", true).type, ValueType::other);
  EXPECT_TRUE(column_kind("LowCardinality(Nullable(String))", true).nullable);
  EXPECT_EQ(column_kind("LowCardinality(Nullable(String))", true).type, ValueType::text);
  EXPECT_EQ(column_kind("Enum8('a' = 1)", true).type, ValueType::text);
  EXPECT_EQ(column_kind("UUID", true).type, ValueType::other);
  EXPECT_EQ(column_kind("Array(UInt8)", true).type, ValueType::other);
  EXPECT_EQ(column_kind("Date", true).type, ValueType::date);
  EXPECT_EQ(column_kind("DateTime", true).type, ValueType::timestamp);
  EXPECT_EQ(column_kind("DateTime", false).type, ValueType::other);  // shown in the server's zone
  EXPECT_EQ(column_kind("DateTime('UTC')", false).type, ValueType::timestamp);
  EXPECT_EQ(column_kind("DateTime('Europe/Moscow')", true).type, ValueType::other);
}

// ---- against the server --------------------------------------------------------------------------------

class ClickHouseHttp : public ClickHouseTest {};

TEST_F(ClickHouseHttp, QueryReadsTypedValues) {
  auto c = client();
  const ResultTable t = c->query(
      "SELECT toInt8(-128) AS i8, toInt64(-9223372036854775808) AS i64, toUInt32(4294967295) AS u32, "
      "toUInt64(18446744073709551615) AS u64, toFloat32(0.1) AS f32, toFloat64(0.1) AS f64, nan AS n, "
      "inf AS pinf, -inf AS ninf, toDecimal128('-12345678901234567890.123456789012', 12) AS d, "
      "'tab\\there' AS s, CAST(NULL AS Nullable(Int32)) AS nul, toDate('2025-12-03') AS dt, "
      "toDateTime('2025-12-03 01:02:03', 'UTC') AS ts, toLowCardinality('lc') AS lc, [1, 2] AS arr, "
      "CAST('b' AS Enum8('a' = 1, 'b' = 2)) AS en, toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0') AS uu;");
  ASSERT_EQ(t.rows(), 1u);
  EXPECT_EQ(t.column("i8").ints[0], -128);
  EXPECT_EQ(t.column("i64").ints[0], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(t.column("u32").ints[0], 4294967295LL);
  EXPECT_EQ(t.column("u64").type, ValueType::decimal);
  EXPECT_TRUE(t.column("u64").decimals[0] == (__int128)std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(t.column("f32").reals[0], double(0.1f));
  EXPECT_EQ(t.column("f64").reals[0], 0.1);
  EXPECT_TRUE(std::isnan(t.column("n").reals[0]));
  EXPECT_EQ(t.column("pinf").reals[0], std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.column("ninf").reals[0], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.column("d").engine_type, "Decimal(38, 12)");
  EXPECT_EQ(t.column("d").scale, 12);
  const __int128 big = (__int128)12345678901234567890ULL * 1000000000000LL + 123456789012LL;
  EXPECT_TRUE(t.column("d").decimals[0] == -big);
  EXPECT_EQ(t.column("s").texts[0], "tab\there");
  EXPECT_EQ(t.column("nul").type, ValueType::integer);
  EXPECT_TRUE(t.column("nul").is_null(0));
  EXPECT_EQ(t.column("dt").type, ValueType::date);
  EXPECT_EQ(t.column("dt").ints[0], 20425);
  EXPECT_EQ(t.column("ts").type, ValueType::timestamp);
  EXPECT_EQ(t.column("ts").ints[0], 1764723723LL * 1000000);
  EXPECT_EQ(t.column("lc").texts[0], "lc");
  EXPECT_EQ(t.column("arr").type, ValueType::other);
  EXPECT_EQ(t.column("arr").texts[0], "[1,2]");
  EXPECT_EQ(t.column("en").texts[0], "b");
  EXPECT_EQ(t.column("uu").type, ValueType::other);
  EXPECT_EQ(t.column("uu").texts[0], "61f0c404-5cb3-11e7-907b-a6006ad3dba0");
}

TEST_F(ClickHouseHttp, EveryStatementRunsInTheEndpointsDatabase) {
  auto c = client();
  c->execute("CREATE DATABASE IF NOT EXISTS other_db");
  c->execute("CREATE TABLE other_db.t (a Int32) ENGINE = MergeTree ORDER BY a");
  c->execute("INSERT INTO other_db.t VALUES (7)");
  auto o = client("other_db");
  EXPECT_EQ(o->query("SELECT sum(a) AS s FROM t").column("s").ints[0], 7);
  EXPECT_EQ(o->query("SELECT currentDatabase() AS d").column("d").texts[0], "other_db");
  EXPECT_EQ(code_of([&] { c->query("SELECT a FROM t"); }), Code::not_found);  // not in `default`
}

TEST_F(ClickHouseHttp, ErrorsCarryTheirCodes) {
  auto c = client();
  c->execute("CREATE TABLE IF NOT EXISTS default.ro (a Int32) ENGINE = MergeTree ORDER BY a");
  const clickhouse::Settings ro = {{"readonly", "1"}};

  auto e = store_error([&] { c->query("SELECT * FROM default.nope"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::not_found);
  EXPECT_EQ(std::string(e->what()).rfind("clickhouse: ", 0), 0u) << e->what();
  EXPECT_NE(std::string(e->what()).find("nope"), std::string::npos) << e->what();
  EXPECT_EQ(code_of([&] { c->query("SELECT 1 FROM no_such_db.t"); }), Code::not_found);
  EXPECT_EQ(code_of([&] { c->query("SELECT no_such_column FROM system.one"); }), Code::not_found);

  e = store_error([&] { c->query("SELEC 1"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::invalid);
  EXPECT_EQ(std::string(e->what()).find('\n'), std::string::npos);
  EXPECT_EQ(code_of([&] { c->query("SELECT 1", {{"no_such_setting", "1"}}); }), Code::invalid);
  EXPECT_EQ(code_of([&] { c->execute("SET max_threads = 1"); }), Code::invalid);  // no session over HTTP

  EXPECT_EQ(code_of([&] { c->execute("INSERT INTO default.ro VALUES (1)", ro); }), Code::refused);
  EXPECT_EQ(code_of([&] {
              c->insert("INSERT INTO default.ro (a) FORMAT RowBinary", std::string(4, '\0'), false, ro);
            }),
            Code::refused);
  EXPECT_EQ(code_of([&] { c->query("SELECT * FROM numbers(3)", ro); }), Code::refused);
  EXPECT_EQ(code_of([&] { c->execute("CREATE TABLE default.ro2 (a Int32) ENGINE = Memory", ro); }),
            Code::refused);
  // readonly last, whatever the order: the settings before it still apply.
  EXPECT_EQ(c->query("SELECT value FROM system.settings WHERE name = 'max_threads'",
                     {{"readonly", "1"}, {"max_threads", "3"}})
                .column("value")
                .texts.at(0),
            "3");
  EXPECT_EQ(c->query("SELECT count() AS n FROM default.ro").column("n").int_at(0), 0);

  // max_execution_time ends a query that would run for ever.
  e = store_error([&] { c->query("SELECT count() FROM system.numbers", {{"max_execution_time", "1"}}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::interrupted) << e->what();
  // The client goes on after every error, on the same connection.
  EXPECT_EQ(c->query("SELECT 1 AS one").column("one").ints[0], 1);
}

TEST_F(ClickHouseHttp, CredentialsGoAsBasicAuth) {
  auto ok =
      HttpClient(parse_url("clickhouse://default:@127.0.0.1:" + std::to_string(server_->http_port()) + "/"));
  EXPECT_EQ(ok.query("SELECT 1 AS one").column("one").ints.at(0), 1);
  auto wrong = HttpClient(
      parse_url("clickhouse://default:wrong@127.0.0.1:" + std::to_string(server_->http_port()) + "/"));
  EXPECT_EQ(code_of([&] { wrong.query("SELECT 1"); }), Code::refused);
  auto nobody =
      HttpClient(parse_url("clickhouse://nobody@127.0.0.1:" + std::to_string(server_->http_port()) + "/"));
  EXPECT_EQ(code_of([&] { nobody.query("SELECT 1"); }), Code::refused);
}

TEST_F(ClickHouseHttp, ClientTimeoutInterruptsAndTheClientGoesOn) {
  auto c = client();
  c->set_timeout(std::chrono::milliseconds(300));
  const auto e = store_error([&] {
    c->query("SELECT count() FROM system.numbers", {{"max_execution_time", "3"}});
  });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::interrupted) << e->what();
  c->set_timeout(std::chrono::milliseconds(0));
  EXPECT_EQ(c->query("SELECT 2 AS two").column("two").ints[0], 2);
}

// A query that runs until it is stopped, told apart from other tests' by its marker.
constexpr const char* kEndless = "SELECT count() FROM system.numbers WHERE number != 4242421";

// The number of running kEndless queries.
int64_t running_endless_queries(HttpClient& watcher) {
  return watcher
      .query(
          "SELECT count() AS n FROM system.processes WHERE query LIKE '%!= 4242421%' AND "
          "query NOT LIKE '%system.processes%'")
      .column("n")
      .int_at(0);
}

TEST_F(ClickHouseHttp, CancelEndsARunningQueryOnTheServerToo) {
  auto c = client();
  auto watcher = client();
  c->cancel();  // nothing running: nothing happens
  EXPECT_EQ(c->query("SELECT 1 AS one").column("one").ints[0], 1);

  // 60 s on the server: only cancel() can end it within the deadline below.
  auto running = std::async(std::launch::async, [&] {
    return store_error([&] { c->query(kEndless, {{"max_execution_time", "60"}}); });
  });
  ASSERT_TRUE(eventually([&] { return running_endless_queries(*watcher) == 1; }, std::chrono::seconds(10)));
  const auto cancelled_at = std::chrono::steady_clock::now();
  c->cancel();
  ASSERT_EQ(running.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const auto e = running.get();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::interrupted) << e->what();
  // KILL QUERY ended it on the server, not only the transfer.
  EXPECT_TRUE(eventually([&] { return running_endless_queries(*watcher) == 0; }, std::chrono::seconds(10)));
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, std::chrono::seconds(20));
  EXPECT_EQ(c->query("SELECT 3 AS three").column("three").ints[0], 3);
}

class ClickHouseDown : public ClickHouseTest {};

TEST_F(ClickHouseDown, StoppedIsUnavailableAndRestartedWorksAgain) {
  auto c = client();
  c->execute("CREATE TABLE default.kept (a Int32) ENGINE = MergeTree ORDER BY a");
  c->execute("INSERT INTO default.kept VALUES (1), (2)");
  server_->stop();
  const auto e = store_error([&] { c->query("SELECT count() FROM default.kept"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::unavailable) << e->what();
  EXPECT_EQ(std::string(e->what()).find('\n'), std::string::npos);
  EXPECT_EQ(code_of([&] { c->insert("INSERT INTO default.kept (a) FORMAT RowBinary", "abcd", true); }),
            Code::unavailable);

  server_->restart();
  // The same client (its kept-alive connection died with the server) and the same data.
  EXPECT_EQ(c->query("SELECT sum(a) AS s FROM default.kept").column("s").int_at(0), 3);
}

TEST(ClickHouseUnreachable, RefusedConnectionIsUnavailable) {
  const int port = two_free_ports().first;  // nothing listens there
  ASSERT_NE(port, 0);
  HttpClient c(parse_url("clickhouse://127.0.0.1:" + std::to_string(port) + "/default"));
  EXPECT_EQ(code_of([&] { c.execute("SELECT 1"); }), Code::unavailable);
}

}  // namespace
}  // namespace advx::test
