// advx's tables in a real clickhouse-server (18.16 here): the DDL of every table, TableBuffer rows through
// RowBinary (plain and gzipped) read back exactly, one insert per partition, a million rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "clickhouse_fixture.hpp"
#include "core/table_buffer.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/row_binary.hpp"

namespace advx::test {
namespace {

namespace ch = clickhouse;
using Code = StoreErrorCode;

constexpr int64_t kDay = kMicrosPerDay;
constexpr int64_t kDec3 = 20425 * kDay;  // 2025-12-03 00:00:00 UTC

void create_schema(ch::HttpClient& c, const std::string& db) {
  c.execute(ch::create_database_sql(db));
  for (const TableDef* t : tables::kAll) c.execute(ch::create_table_sql(*t, db));
}

// The stored columns of a table in insert order, as a SELECT list.
std::string stored_columns(const TableDef& t) {
  std::string out;
  for (const ColumnDef& c : t.columns) {
    if (c.type == ColumnType::money) continue;
    if (!out.empty()) out += ", ";
    out += ch::quote_ident(ch::stored_name(c));
  }
  return out;
}

// Impressions that exercise the encoding: NULLs, bytes that need escaping in text formats, unicode, the
// extremes of each type, times before 1970 (ingested_at: event times are never before 1970).
void fill_impressions(TableBuffer& b) {
  using namespace col;
  const auto row = [&](int64_t event_time) {
    const size_t r = b.add_row();
    b.set_i64(imp_event_time, r, event_time);
    b.set_i32(imp_event_date, r, date_of(event_time));
    b.set_u8(imp_event_hour, r, hour_of(event_time));
    return r;
  };
  size_t r = row(0);  // the epoch itself, and doubles at their edges
  b.set_str(imp_event_key, r, "edges");
  b.set_f64(imp_win_price_cpm, r, -0.0);
  b.set_u64(imp_source_record, r, 0);
  b.set_i64(imp_ingested_at, r, -(365 * 20 + 5) * kDay - 123456);  // 1950

  r = row(kDec3 + 1);  // every column set
  b.set_str(imp_event_key, r, "imp-1");
  b.set_str(imp_impression_id, r, "imp-1");
  b.set_str(imp_creative_id, r, "cr-1");
  b.set_str(imp_campaign_id, r, "camp-1");
  b.set_str(imp_advertiser_id, r, "adv-1");
  b.set_str(imp_user_id, r, "user-1");
  b.set_str(imp_site, r, "example.com");
  b.set_str(imp_auction_id, r, "auc-1");
  b.set_f64(imp_win_price_cpm, r, 1.25);
  b.set_str(imp_country, r, "DE");
  b.set_str(imp_device_type, r, "mobile");
  b.set_str(imp_os, r, "Android");
  b.set_str(imp_browser, r, "Chrome");
  b.set_str(imp_user_agent, r, "Mozilla/5.0 (Linux; Android 14)");
  b.set_str(imp_ip, r, "203.0.113.7");
  b.set_bool(imp_unknown_creative, r, false);
  b.set_str(imp_source, r, "impressions.jsonl");
  b.set_u64(imp_source_record, r, 1);
  b.set_i64(imp_ingested_at, r, kDec3 + 5 * kDay);

  row(kDec3 + 2);  // every nullable column NULL

  r = row(kDec3 + 3);  // text that TSV must escape, unicode, bytes, empty, a literal \N
  b.set_str(imp_event_key, r, "tab\there\nnew line\\back\\slash 'quote' \"dq\"");
  static constexpr char kBytes[] = "nul\0byte\x01\x1b\x7f end";
  b.set_str(imp_impression_id, r, std::string_view(kBytes, sizeof kBytes - 1));
  b.set_str(imp_creative_id, r, "é€😀 ünï");
  b.set_str(imp_campaign_id, r, "");
  b.set_str(imp_advertiser_id, r, "\\N");
  b.set_str(imp_user_id, r, "\r\n\b\f\v\a");
  b.set_owned_str(imp_site, r, std::string(300, 'x'));  // a length varint of two bytes
  b.set_bool(imp_unknown_creative, r, true);
  b.set_u64(imp_source_record, r, std::numeric_limits<uint64_t>::max());
  b.set_i64(imp_ingested_at, r, -1);

  r = row(kDec3 + 4);
  b.set_str(imp_event_key, r, "max");
  b.set_f64(imp_win_price_cpm, r, std::numeric_limits<double>::max());
  b.set_i64(imp_ingested_at, r, std::numeric_limits<int64_t>::min());

  r = row(kDec3 + 5);
  b.set_str(imp_event_key, r, "tiny");
  b.set_f64(imp_win_price_cpm, r, 4.9e-324);  // the least subnormal
  b.set_i64(imp_ingested_at, r, std::numeric_limits<int64_t>::max());

  r = row(kDec3 + 6);
  b.set_str(imp_event_key, r, "inf");
  b.set_f64(imp_win_price_cpm, r, -std::numeric_limits<double>::infinity());

  r = row(kDec3 + 7);
  b.set_str(imp_event_key, r, "nan");
  b.set_f64(imp_win_price_cpm, r, std::numeric_limits<double>::quiet_NaN());
}

// Every stored column of `t` in `got` equals the buffer's rows (in event_time order).
void expect_rows_equal(const TableBuffer& b, const ResultTable& got) {
  const TableDef& t = b.def();
  ASSERT_EQ(got.rows(), b.rows());
  size_t gc = 0;
  for (size_t c = 0; c < t.columns.size(); c++) {
    const ColumnDef& def = t.columns[c];
    if (def.type == ColumnType::money) continue;
    const ResultColumn& col = got.columns.at(gc++);
    ASSERT_EQ(col.name, ch::stored_name(def));
    for (size_t r = 0; r < b.rows(); r++) {
      SCOPED_TRACE(col.name + " row " + std::to_string(r));
      const bool valid = b.is_valid(int(c), r);
      ASSERT_EQ(col.is_null(r), !valid);
      if (!valid) continue;
      switch (def.type) {
        case ColumnType::varchar:
        case ColumnType::blob:
          ASSERT_EQ(col.type, ValueType::text);
          EXPECT_EQ(col.texts[r], b.data<std::string_view>(int(c))[r]);
          break;
        case ColumnType::boolean:
        case ColumnType::utinyint:
          ASSERT_EQ(col.type, ValueType::integer);
          EXPECT_EQ(col.ints[r], b.data<uint8_t>(int(c))[r]);
          break;
        case ColumnType::integer:
          ASSERT_EQ(col.type, ValueType::integer);
          EXPECT_EQ(col.ints[r], b.data<int32_t>(int(c))[r]);
          break;
        case ColumnType::date:
          ASSERT_EQ(col.type, ValueType::date);
          EXPECT_EQ(col.ints[r], b.data<int32_t>(int(c))[r]);
          break;
        case ColumnType::bigint:
        case ColumnType::timestamp:
          ASSERT_EQ(col.type, ValueType::integer);
          EXPECT_EQ(col.ints[r], b.data<int64_t>(int(c))[r]);
          break;
        case ColumnType::ubigint:
          ASSERT_EQ(col.type, ValueType::decimal);
          EXPECT_TRUE(col.decimals[r] == (__int128)b.data<uint64_t>(int(c))[r]);
          break;
        case ColumnType::double_: {
          ASSERT_EQ(col.type, ValueType::real);
          const double want = b.data<double>(int(c))[r];
          if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(col.reals[r]));
          } else {
            EXPECT_EQ(std::memcmp(&col.reals[r], &want, sizeof want), 0) << col.reals[r] << " != " << want;
          }
          break;
        }
        case ColumnType::money:
          break;
      }
    }
  }
}

class ClickHouseRows : public ClickHouseTest {};

TEST_F(ClickHouseRows, EveryTableIsCreatedAsTheConventionSays) {
  auto c = client();
  create_schema(*c, "schema_db");
  create_schema(*c, "schema_db");  // IF NOT EXISTS: again is fine
  const ResultTable tables =
      c->query("SELECT name, engine FROM system.tables WHERE database = 'schema_db' ORDER BY name");
  ASSERT_EQ(tables.rows(), std::size(tables::kAll));
  // Plain MergeTree, but ReplacingMergeTree(advx_version) where attribution writes row versions.
  for (size_t r = 0; r < tables.rows(); r++)
    for (const TableDef* t : tables::kAll)
      if (t->name == tables.column("name").texts[r]) {
        EXPECT_EQ(tables.column("engine").texts[r], ch::engine_name(*t)) << t->name;
      }

  for (const TableDef* t : tables::kAll) {
    SCOPED_TRACE(std::string(t->name));
    const ResultTable cols = c->query(
        "SELECT name, type, default_kind, comment FROM system.columns WHERE database = 'schema_db' AND table "
        "= " +
        ch::quote_string(t->name));
    std::map<std::string, std::string> type_of, default_of;
    for (size_t r = 0; r < cols.rows(); r++) {
      type_of[cols.column("name").texts[r]] = cols.column("type").texts[r];
      default_of[cols.column("name").texts[r]] = cols.column("default_kind").texts[r];
    }
    size_t expected = 0;
    for (size_t i = 0; i < t->columns.size(); i++) {
      const ColumnDef& def = t->columns[i];
      const std::string base = ch::clickhouse_type(def.type);
      const std::string type = ch::is_required(*t, i) ? base : "Nullable(" + base + ")";
      EXPECT_EQ(type_of[ch::stored_name(def)], type) << def.name;
      expected++;
      if (def.type == ColumnType::timestamp) {
        const std::string dt = ch::is_required(*t, i) ? "DateTime('UTC')" : "Nullable(DateTime('UTC'))";
        EXPECT_EQ(type_of[std::string(def.name)], dt) << def.name;
        EXPECT_EQ(default_of[std::string(def.name)], "DEFAULT") << def.name;
        expected++;
      }
    }
    for (const ch::ExtraColumn& x : ch::table_layout(*t).extra) {  // ClickHouse's own, e.g. advx_version
      EXPECT_EQ(type_of[std::string(x.name)], x.type) << x.name;
      EXPECT_EQ(default_of[std::string(x.name)], "DEFAULT") << x.name;
      expected++;
    }
    EXPECT_EQ(cols.rows(), expected);
  }
  // Money: Decimal(38, 12) sums stay exact in 18.16.
  c->execute(
      "INSERT INTO schema_db.campaign_hourly (hour_us, campaign_id, spend) SELECT 0, 'a', "
      "toDecimal128('0.000000000001', 12) UNION ALL SELECT 0, 'a', "
      "toDecimal128('12345678901234.123456789012', 12)");
  const ResultTable sum = c->query(
      "SELECT sum(spend) AS s, toTypeName(sum(spend)) AS t, any(hour) AS h FROM schema_db.campaign_hourly");
  EXPECT_EQ(sum.column("s").scale, 12);
  EXPECT_EQ(sum.column("t").texts[0], "Nullable(Decimal(38, 12))");
  EXPECT_TRUE(sum.column("s").decimals[0] == (__int128)12345678901234LL * 1000000000000LL + 123456789013LL)
      << sum.column("s").text_at(0);
  EXPECT_EQ(sum.column("h").type, ValueType::timestamp);
  EXPECT_EQ(sum.column("h").ints[0], 0);
}

TEST_F(ClickHouseRows, ImpressionsRoundTripExactlyPlainAndGzipped) {
  auto c = client();
  TableBuffer b(tables::kImpressions);
  fill_impressions(b);
  const TableSlice slice = b.slice();
  for (const bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    const std::string db = gzip ? "rt_gzip" : "rt_plain";
    create_schema(*c, db);
    c->insert(ch::insert_prefix(tables::kImpressions, db), ch::row_binary(slice), gzip);
    const ResultTable got = c->query("SELECT " + stored_columns(tables::kImpressions) + " FROM " + db +
                                     ".impressions ORDER BY event_time_us");
    expect_rows_equal(b, got);
    // The DateTime beside each _us column, for people, is the server's DEFAULT (the epoch: 18.16 writes
    // 0000-00-00 00:00:00).
    const ResultTable people =
        c->query("SELECT event_time, ingested_at FROM " + db + ".impressions ORDER BY event_time_us LIMIT 1");
    EXPECT_EQ(people.column("event_time").type, ValueType::timestamp);
    EXPECT_EQ(people.column("event_time").ints.at(0), 0);
    EXPECT_EQ(people.column("ingested_at").engine_type, "Nullable(DateTime('UTC'))");
    const ResultTable first =
        c->query("SELECT event_time, ingested_at FROM " + db + ".impressions WHERE event_key = 'imp-1'");
    EXPECT_EQ(first.column("event_time").ints.at(0), kDec3);  // whole seconds
    EXPECT_EQ(first.column("ingested_at").ints.at(0), kDec3 + 5 * kDay);
  }
}

TEST_F(ClickHouseRows, SelectedRowsOnlyAndOneInsertPerDay) {
  auto c = client();
  create_schema(*c, "split_db");
  TableBuffer b(tables::kImpressions);
  // Five days, the rows interleaved; the selection leaves out rows 1 and 6 and reorders the rest.
  const int64_t times[] = {
      kDec3 - 1,        kDec3,    kDec3 + kDay / 2, kDec3 + kDay, kDec3 + 2 * kDay - 1, kDec3 + 2 * kDay,
      kDec3 + 3 * kDay, kDec3 + 2};
  for (size_t i = 0; i < std::size(times); i++) {
    const size_t r = b.add_row();
    b.set_i64(col::imp_event_time, r, times[i]);
    b.set_i32(col::imp_event_date, r, date_of(times[i]));
    b.set_str(col::imp_event_key, r, b.arena().copy("k" + std::to_string(i)));
  }
  const uint32_t sel[] = {7, 0, 5, 2, 4, 3};
  const TableSlice slice = b.slice(sel, std::size(sel));
  const auto parts = ch::split_by_partition(slice);
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].partition, 20424);
  EXPECT_EQ(parts[0].rows, (std::vector<uint32_t>{0}));
  EXPECT_EQ(parts[1].partition, 20425);
  EXPECT_EQ(parts[1].rows, (std::vector<uint32_t>{7, 2}));
  EXPECT_EQ(parts[2].partition, 20426);
  EXPECT_EQ(parts[2].rows, (std::vector<uint32_t>{4, 3}));
  EXPECT_EQ(parts[3].partition, 20427);
  EXPECT_EQ(parts[3].rows, (std::vector<uint32_t>{5}));
  for (const auto& p : parts) {
    TableSlice one = slice;
    one.sel = p.rows.data();
    one.sel_count = p.rows.size();
    c->insert(ch::insert_prefix(tables::kImpressions, "split_db"), ch::row_binary(one), true);
  }
  // One part a partition: each insert touched one day.
  const ResultTable got = c->query(
      "SELECT partition_id, sum(rows) AS n, count() AS parts FROM system.parts WHERE database = 'split_db' "
      "AND "
      "table = 'impressions' AND active GROUP BY partition_id ORDER BY partition_id");
  ASSERT_EQ(got.rows(), 4u);
  const char* ids[] = {"20251202", "20251203", "20251204", "20251205"};
  const int64_t rows[] = {1, 2, 2, 1};
  for (size_t r = 0; r < 4; r++) {
    EXPECT_EQ(got.column("partition_id").texts[r], ids[r]);
    EXPECT_EQ(got.column("n").int_at(r), rows[r]);
    EXPECT_EQ(got.column("parts").int_at(r), 1);
  }
  EXPECT_EQ(c->query("SELECT count() AS n FROM split_db.impressions WHERE event_key IN ('k1', 'k6')")
                .column("n")
                .int_at(0),
            0);
}

TEST_F(ClickHouseRows, MicrosecondDaysSplitAsTheServerDoes) {
  auto c = client();
  create_schema(*c, "days_db");
  TableBuffer b(tables::kRejects);
  const int64_t at[] = {-kDay - 1, -kDay, -1, 0, kDay - 1, kDay, kDec3 + 17};
  for (size_t i = 0; i < std::size(at); i++) {
    const size_t r = b.add_row();
    b.set_i64(col::rej_ingested_at, r, at[i]);
    b.set_str(col::rej_reason, r, "bad_json");
  }
  const TableSlice slice = b.slice();
  std::map<std::string, int64_t> mine;
  for (const auto& p : ch::split_by_partition(slice))
    mine[std::to_string(p.partition)] = int64_t(p.rows.size());
  // One insert of everything: the server splits it by its own PARTITION BY expression.
  c->insert(ch::insert_prefix(tables::kRejects, "days_db"), ch::row_binary(slice), false);
  const ResultTable got =
      c->query("SELECT _partition_id AS p, count() AS n FROM days_db.rejects GROUP BY p ORDER BY p");
  std::map<std::string, int64_t> server;
  for (size_t r = 0; r < got.rows(); r++) server[got.column("p").texts[r]] = got.column("n").int_at(r);
  EXPECT_EQ(mine, server);
  EXPECT_EQ(mine.size(), 4u);  // -1, 0, 1 and the day of kDec3
}

TEST(ClickHouseEncoding, ValuesTheSchemaCannotHoldAreInvalid) {
  TableBuffer imp(tables::kImpressions);
  const size_t r = imp.add_row();  // event_time and event_date NULL: key columns
  imp.set_str(col::imp_event_key, r, "k");
  auto e = store_error([&] { ch::row_binary(imp.slice()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::invalid);
  EXPECT_NE(std::string(e->what()).find("impressions.event_time"), std::string::npos) << e->what();
  EXPECT_EQ(code_of([&] { ch::split_by_partition(imp.slice()); }), Code::invalid);

  TableBuffer cmp(tables::kCampaigns);
  const size_t c1 = cmp.add_row();
  cmp.set_str(col::cmp_campaign_id, c1, "c");
  cmp.set_i32(col::cmp_end_date, c1, int32_t(days_from_civil(9999, 12, 31)));
  e = store_error([&] { ch::row_binary(cmp.slice()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::invalid);
  EXPECT_NE(std::string(e->what()).find("9999-12-31"), std::string::npos) << e->what();
  cmp.set_i32(col::cmp_end_date, c1, -1);
  EXPECT_EQ(code_of([&] { ch::row_binary(cmp.slice()); }), Code::invalid);
  cmp.set_i32(col::cmp_end_date, c1, int32_t(days_from_civil(2106, 2, 7)));
  EXPECT_FALSE(ch::row_binary(cmp.slice()).empty());
}

// A million dedup keys over four days, built as a TableSlice by hand (the layout TableBuffer hands out):
// the dedup state has one partition, so one gzipped insert and one part, every row stored.
TEST_F(ClickHouseRows, MillionRowsOneGzippedInsert) {
  auto c = client();
  create_schema(*c, "big_db");
  constexpr size_t kRows = 1'000'000;
  std::vector<uint8_t> stream(kRows);
  std::vector<uint64_t> hi(kRows), lo(kRows), payload(kRows);
  std::vector<int64_t> time(kRows);
  std::vector<std::string_view> source(kRows, "kafka:ad-impressions/3");
  std::vector<uint64_t> record(kRows);
  for (size_t i = 0; i < kRows; i++) {
    record[i] = i + 1;
    stream[i] = uint8_t(i % 3);
    hi[i] = 0x9e3779b97f4a7c15ULL * (i + 1);  // the full 64-bit range
    lo[i] = i;
    time[i] = kDec3 + int64_t(i % 4) * kDay + int64_t(i);
    payload[i] = i * 7;
  }
  const ColumnData cols[] = {{stream.data(), nullptr}, {hi.data(), nullptr},      {lo.data(), nullptr},
                             {time.data(), nullptr},   {payload.data(), nullptr}, {source.data(), nullptr},
                             {record.data(), nullptr}};
  TableSlice slice;
  slice.def = &tables::kDedupState;
  slice.rows = kRows;
  slice.columns = cols;
  const auto parts = ch::split_by_partition(slice);
  ASSERT_EQ(parts.size(), 1u);
  for (const auto& p : parts) {
    TableSlice one = slice;
    one.sel = p.rows.data();
    one.sel_count = p.rows.size();
    c->insert(ch::insert_prefix(tables::kDedupState, "big_db"), ch::row_binary(one), true,
              {{"max_insert_block_size", std::to_string(kRows)}});
  }
  const ResultTable got = c->query(
      "SELECT count() AS n, sum(key_lo) AS s, uniqExact(key_hi) AS u, max(key_hi) AS m FROM "
      "big_db.advx_dedup_state");
  EXPECT_EQ(got.column("n").int_at(0), int64_t(kRows));
  EXPECT_TRUE(got.column("s").decimals[0] == (__int128)(kRows * (kRows - 1) / 2));
  EXPECT_EQ(got.column("u").int_at(0), int64_t(kRows));
  EXPECT_TRUE(got.column("m").decimals[0] == (__int128)*std::max_element(hi.begin(), hi.end()));
  const ResultTable per_day = c->query(
      "SELECT count() AS parts FROM system.parts WHERE database = 'big_db' AND table = 'advx_dedup_state' "
      "AND active");
  EXPECT_EQ(per_day.column("parts").int_at(0), 1);
}

}  // namespace
}  // namespace advx::test
