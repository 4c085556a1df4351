// ClickHouseStore against a real clickhouse-server (18.16 here): the schema, micro-batches (one INSERT per
// table and partition, the dedup state last, rollback), the replay skip across connections, stores and a
// crash between two tables' inserts, the reads (dedup scan, dimension tables typed as DuckDB's, Kafka and
// ingest positions), advx sql's refusals, interrupt, a server that is down, and a million rows.
#include "store/clickhouse/clickhouse_store.hpp"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <tuple>

#include "../../support/store_test_util.hpp"
#include "clickhouse_fixture.hpp"
#include "core/table_buffer.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/duckdb/duckdb_store.hpp"
#include "store/result_format.hpp"

namespace advx::test {
namespace {

using Code = StoreErrorCode;

constexpr int64_t kDay = kMicrosPerDay;
constexpr int64_t kDec3 = 20425 * kDay;  // 2025-12-03 00:00:00 UTC

// Event rows of one source, records first..first+n-1, on two days (odd records the second): one row a
// record in each of impressions, clicks and the dedup state, as an ingest of that source writes them.
struct Rows {
  TableBuffer impressions{tables::kImpressions};
  TableBuffer clicks{tables::kClicks};
  TableBuffer dedup{tables::kDedupState};

  static int64_t time_of(uint64_t record) { return kDec3 + int64_t(record % 2) * kDay + int64_t(record); }

  void add(const std::string& source, uint64_t first, size_t n, int64_t ingested_at = kDec3 + 3 * kDay) {
    using namespace col;
    for (uint64_t rec = first; rec < first + n; rec++) {
      const int64_t t = time_of(rec);
      const std::string key = "k" + std::to_string(rec);
      size_t r = impressions.add_row();
      impressions.set_owned_str(imp_event_key, r, key);
      impressions.set_i64(imp_event_time, r, t);
      impressions.set_i32(imp_event_date, r, date_of(t));
      impressions.set_u8(imp_event_hour, r, hour_of(t));
      impressions.set_owned_str(imp_campaign_id, r, "camp-" + std::to_string(rec % 3));
      impressions.set_owned_str(imp_source, r, source);
      impressions.set_u64(imp_source_record, r, rec);
      impressions.set_i64(imp_ingested_at, r, ingested_at);

      r = clicks.add_row();
      clicks.set_owned_str(ev_event_key, r, key);
      clicks.set_i64(ev_event_time, r, t);
      clicks.set_i32(ev_event_date, r, date_of(t));
      clicks.set_u8(ev_event_hour, r, hour_of(t));
      clicks.set_owned_str(clk_source, r, source);
      clicks.set_u64(clk_source_record, r, rec);
      clicks.set_i64(clk_ingested_at, r, ingested_at + 1);

      r = dedup.add_row();
      dedup.set_u8(dd_stream, r, 0);
      dedup.set_u64(dd_key_hi, r, 0x9e3779b97f4a7c15ULL * (rec + 1));
      dedup.set_u64(dd_key_lo, r, rec);
      dedup.set_i64(dd_event_time, r, t);
      dedup.set_u64(dd_payload_hash, r, rec * 7);
      dedup.set_owned_str(dd_source, r, source);
      dedup.set_u64(dd_source_record, r, rec);
    }
  }

  // The micro-batch of an ingest: events, then the dedup keys.
  void append_all(Store& s) {
    s.append(impressions.slice());
    s.append(clicks.slice());
    s.append(dedup.slice());
  }
  void commit_all(Store& s) {
    s.begin();
    append_all(s);
    s.commit();
  }
};

class ClickHouseStoreTest : public ClickHouseTest {
 protected:
  static std::unique_ptr<ClickHouseStore> open(const std::string& db,
                                               StoreMode mode = StoreMode::read_write) {
    auto s = std::make_unique<ClickHouseStore>(server_->url(db), mode);
    if (mode == StoreMode::read_write) s->ensure_schema();
    return s;
  }

  static int64_t scalar(ClickHouseStore& s, const std::string& sql) {
    return s.query(sql).columns.at(0).int_at(0);
  }
  static int64_t rows(ClickHouseStore& s, std::string_view table) {
    return scalar(s, "SELECT count() FROM " + s.database() + "." + std::string(table));
  }
  // Distinct rows by position: each stored row once means rows() == positions().
  static int64_t positions(ClickHouseStore& s, std::string_view table) {
    return scalar(s,
                  "SELECT uniqExact(source, source_record) FROM " + s.database() + "." + std::string(table));
  }
  // Every table of the batch holds `n` rows, each once.
  static void expect_each_row_once(ClickHouseStore& s, int64_t n) {
    for (const char* t : {"impressions", "clicks", "advx_dedup_state"}) {
      SCOPED_TRACE(t);
      EXPECT_EQ(rows(s, t), n);
      EXPECT_EQ(positions(s, t), n);
    }
  }
  // INSERT statements the server has run (this test process has the server to itself).
  static int64_t inserts(ClickHouseStore& s) {
    return scalar(s, "SELECT toInt64(sum(value)) FROM system.events WHERE event = 'InsertQuery'");
  }
};

TEST_F(ClickHouseStoreTest, SchemaTwiceGuaranteesAndUrl) {
  auto s = open("schema_store");
  s->ensure_schema();  // again: IF NOT EXISTS
  EXPECT_EQ(scalar(*s, "SELECT count() FROM system.tables WHERE database = 'schema_store'"),
            int64_t(std::size(tables::kAll)));
  const StoreGuarantees& g = s->guarantees();
  EXPECT_FALSE(g.atomic_multi_table_commit);
  EXPECT_FALSE(g.updates);
  EXPECT_TRUE(g.interruptible);
  EXPECT_FALSE(g.local);
  EXPECT_EQ(s->url(), "clickhouse://127.0.0.1:" + std::to_string(server_->http_port()) + "/schema_store");
  EXPECT_EQ(s->local_folder(), "");
  EXPECT_EQ(s->database(), "schema_store");

  // Read-only: a missing database is not found, and every statement carries readonly=1.
  EXPECT_EQ(code_of([&] { ClickHouseStore(server_->url("no_such_db"), StoreMode::read_only); }),
            Code::not_found);
  auto ro = open("schema_store", StoreMode::read_only);
  EXPECT_EQ(code_of([&] { ro->execute("CREATE TABLE schema_store.x (a Int8) ENGINE = Memory"); }),
            Code::refused);
  EXPECT_EQ(code_of([&] { ro->ensure_schema(); }), Code::refused);
  EXPECT_EQ(ro->read_table(tables::kCampaigns).rows(), 0u);
}

TEST_F(ClickHouseStoreTest, MicroBatchIsOneInsertPerTableAndPartition) {
  auto s = open("batch_store");
  Rows batch;
  batch.add("a.jsonl", 1, 40);
  const int64_t before = inserts(*s);
  s->begin();
  // Two slices of the same table and day go out as one insert.
  const std::vector<uint32_t> first_half = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<uint32_t> second_half;
  for (uint32_t r = 10; r < 40; r++) second_half.push_back(r);
  s->append(batch.impressions.slice(first_half.data(), first_half.size()));
  s->append(batch.impressions.slice(second_half.data(), second_half.size()));
  s->append(batch.clicks.slice());
  s->append(batch.dedup.slice());
  EXPECT_EQ(inserts(*s), before);  // nothing sent before commit
  EXPECT_EQ(rows(*s, "impressions"), 0);
  s->commit();
  // 2 event tables x 2 days, and the dedup state in one insert: it has one partition, so that a
  // micro-batch's keys (and with them its Kafka positions) are stored all at once or not at all.
  EXPECT_EQ(inserts(*s) - before, 5);
  for (const char* t : {"impressions", "clicks", "advx_dedup_state"}) {
    SCOPED_TRACE(t);
    EXPECT_EQ(rows(*s, t), 40);
    EXPECT_EQ(scalar(*s, "SELECT uniqExact(_partition_id) FROM batch_store." + std::string(t)),
              std::string_view(t) == "advx_dedup_state" ? 1 : 2);
  }
  // The rows read back as written.
  const ResultTable got = s->query(
      "SELECT event_key, event_time_us, event_date, campaign_id, source, source_record, ingested_at_us FROM "
      "batch_store.impressions ORDER BY source_record");
  ASSERT_EQ(got.rows(), 40u);
  for (size_t r = 0; r < 40; r++) {
    SCOPED_TRACE(r);
    EXPECT_EQ(got.column("event_key").texts[r], "k" + std::to_string(r + 1));
    EXPECT_EQ(got.column("event_time_us").ints[r], Rows::time_of(r + 1));
    EXPECT_EQ(got.column("event_date").ints[r], date_of(Rows::time_of(r + 1)));
    EXPECT_EQ(got.column("campaign_id").texts[r], "camp-" + std::to_string((r + 1) % 3));
    EXPECT_EQ(got.column("source").texts[r], "a.jsonl");
    EXPECT_EQ(got.column("source_record").int_at(r), int64_t(r + 1));
    EXPECT_EQ(got.column("ingested_at_us").ints[r], kDec3 + 3 * kDay);
  }
  // Outside a batch an append goes at once, one insert a partition.
  Rows more;
  more.add("b.jsonl", 1, 4);
  const int64_t at = inserts(*s);
  s->append(more.impressions.slice());
  EXPECT_EQ(inserts(*s) - at, 2);
  EXPECT_EQ(rows(*s, "impressions"), 44);
}

TEST_F(ClickHouseStoreTest, RollbackStoresNothing) {
  auto s = open("rollback_store");
  const int64_t before = inserts(*s);
  Rows batch;
  batch.add("a.jsonl", 1, 10);
  s->begin();
  batch.append_all(*s);
  s->rollback();
  s->rollback();  // nothing open: nothing to do
  s->begin();
  s->commit();  // an empty batch sends nothing
  EXPECT_EQ(inserts(*s), before);
  for (const char* t : {"impressions", "clicks", "advx_dedup_state"}) EXPECT_EQ(rows(*s, t), 0) << t;
  EXPECT_EQ(code_of([&] { s->commit(); }), Code::invalid);
  s->begin();
  EXPECT_EQ(code_of([&] { s->begin(); }), Code::invalid);
  s->rollback();
}

TEST_F(ClickHouseStoreTest, ReplayedRowsAreStoredOnce) {
  auto s = open("replay_store");
  Rows batch;
  batch.add("a.jsonl", 1, 100);
  batch.commit_all(*s);

  // The same rows again: on this store, on another connection of it, on a new store of the same
  // database (which reads the positions from the tables). Nothing is even sent.
  auto other = s->another_connection();
  auto fresh = open("replay_store");
  const int64_t before = inserts(*s);
  for (Store* st : {static_cast<Store*>(s.get()), other.get(), static_cast<Store*>(fresh.get())}) {
    batch.commit_all(*st);
    batch.append_all(*st);  // and outside a batch
  }
  // No row is sent again; the first replayed micro-batch owes attribution for the rows it found stored,
  // which came without a debt (these batches write none): one insert of advx_attribution_pending, at their
  // ingested_at. The later replays find that debt and owe nothing more.
  EXPECT_EQ(inserts(*s), before + 1);
  EXPECT_EQ(scalar(*s, "SELECT count() FROM replay_store.advx_attribution_pending WHERE ingested_at_us = " +
                           std::to_string(kDec3 + 3 * kDay)),
            1);
  for (const char* t : {"impressions", "clicks", "advx_dedup_state"}) EXPECT_EQ(rows(*s, t), 100) << t;

  // A replay that goes further than what was stored stores the rest; positions are per source.
  Rows longer;
  longer.add("a.jsonl", 51, 100);  // 51..150: 101..150 are new
  longer.add("b.jsonl", 1, 10);    // another source with the same record numbers
  longer.commit_all(*fresh);
  expect_each_row_once(*s, 160);
  // What one connection committed, the others of the same store skip without asking the server.
  Rows next;
  next.add("a.jsonl", 151, 10);
  next.commit_all(*other);
  next.commit_all(*s);
  EXPECT_EQ(rows(*s, "impressions"), 170);

  // A table without positions is never filtered: its rows are not events.
  TableBuffer cmp(tables::kCampaigns);
  cmp.set_str(col::cmp_campaign_id, cmp.add_row(), "c1");
  s->append(cmp.slice());
  s->append(cmp.slice());
  EXPECT_EQ(rows(*s, "campaigns"), 2);
}

TEST_F(ClickHouseStoreTest, CrashBetweenTablesThenReplayStoresEachRowOnce) {
  Rows batch;
  batch.add("kafka:imps/0", 1, 60);
  {
    // The crash: the batch's first table is stored, the others never were.
    auto s = open("crash_store");
    s->begin();
    s->append(batch.impressions.slice());
    s->commit();
  }
  auto s = open("crash_store");  // the restart
  batch.commit_all(*s);
  expect_each_row_once(*s, 60);
}

TEST_F(ClickHouseStoreTest, FailedCommitLeavesTheDedupStateForLastAndReplays) {
  auto s = open("fail_store");
  Rows batch;
  batch.add("a.jsonl", 1, 30);
  s->begin();
  s->append(batch.dedup.slice());  // appended first, sent last
  s->append(batch.impressions.slice());
  s->append(batch.clicks.slice());
  s->execute("DROP TABLE fail_store.clicks");  // the clicks insert fails
  EXPECT_EQ(code_of([&] { s->commit(); }), Code::not_found);
  EXPECT_EQ(rows(*s, "impressions"), 30);
  EXPECT_EQ(rows(*s, "advx_dedup_state"), 0);
  // The batch ended with the failure; the caller replays it whole.
  s->ensure_schema();
  batch.commit_all(*s);
  expect_each_row_once(*s, 30);
}

TEST_F(ClickHouseStoreTest, ScanDedupStatePagesThroughEveryKey) {
  auto s = open("scan_store");
  // 1.1M keys in one day and a few on days around the epoch, all in the table's one partition: two pages
  // of key_hi ranges.
  constexpr size_t kBig = 1'100'000;
  std::vector<uint8_t> stream(kBig + 4);
  std::vector<uint64_t> hi(kBig + 4), lo(kBig + 4), payload(kBig + 4), record(kBig + 4);
  std::vector<int64_t> time(kBig + 4);
  std::vector<std::string_view> source(kBig + 4, "big.jsonl");
  const int64_t around_epoch[] = {-kDay - 1, -1, 1, kDec3 + kDay};
  for (size_t i = 0; i < kBig + 4; i++) {
    stream[i] = uint8_t(i % 3);
    hi[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
    lo[i] = i;
    payload[i] = i * 7;
    record[i] = i + 1;
    time[i] = i < kBig ? kDec3 + int64_t(i) : around_epoch[i - kBig];
  }
  const ColumnData cols[] = {{stream.data(), nullptr}, {hi.data(), nullptr},      {lo.data(), nullptr},
                             {time.data(), nullptr},   {payload.data(), nullptr}, {source.data(), nullptr},
                             {record.data(), nullptr}};
  TableSlice slice;
  slice.def = &tables::kDedupState;
  slice.rows = kBig + 4;
  slice.columns = cols;
  s->begin();
  s->append(slice);
  s->commit();
  // More rows than max_insert_block_size (1,048,576) in one partition, and still one block: one part
  // straight from an insert (level 0, one block number).
  const ResultTable part = s->query(
      "SELECT count() AS n, sum(min_block_number = max_block_number AND level = 0) AS whole FROM "
      "system.parts "
      "WHERE database = 'scan_store' AND table = 'advx_dedup_state' AND partition_id = 'all' AND active");
  EXPECT_EQ(part.column("n").int_at(0), 1);
  EXPECT_EQ(part.column("whole").int_at(0), 1);
  std::vector<uint8_t> seen(kBig + 4);
  size_t calls = 0;
  bool equal = true;
  s->scan_dedup_state([&](uint8_t st, uint64_t h, uint64_t l, int64_t t, uint64_t p) {
    calls++;
    if (l >= seen.size() || seen[l]) {
      equal = false;
      return;
    }
    seen[l] = 1;
    equal = equal && st == stream[l] && h == hi[l] && t == time[l] && p == payload[l];
  });
  EXPECT_EQ(calls, kBig + 4);
  EXPECT_TRUE(equal);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), int64_t(kBig + 4));
}

TEST_F(ClickHouseStoreTest, KafkaPositionsComeFromTheDedupRows) {
  auto s = open("kafka_store");
  EXPECT_TRUE(s->kafka_positions().empty());
  Rows batch;
  batch.add("kafka:ad-impressions/0", 5, 5);  // offsets 5..9
  batch.add("kafka:ad-impressions/1", 3, 1);
  batch.add("kafka:clicks/0", 41, 1);
  batch.add("kafka:ad-impressions-eu/2", 7, 1);  // a topic the first is a prefix of
  batch.add("a.jsonl", 100, 2);                  // not Kafka
  batch.commit_all(*s);
  const auto all = s->kafka_positions();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(std::tie(all[0].topic, all[0].partition, all[0].next_offset),
            std::make_tuple(std::string("ad-impressions"), 0, int64_t(10)));
  EXPECT_EQ(std::tie(all[1].topic, all[1].partition, all[1].next_offset),
            std::make_tuple(std::string("ad-impressions"), 1, int64_t(4)));
  EXPECT_EQ(std::tie(all[2].topic, all[2].partition, all[2].next_offset),
            std::make_tuple(std::string("ad-impressions-eu"), 2, int64_t(8)));
  EXPECT_EQ(std::tie(all[3].topic, all[3].partition, all[3].next_offset),
            std::make_tuple(std::string("clicks"), 0, int64_t(42)));
  const auto imps = s->kafka_positions("ad-impressions");
  ASSERT_EQ(imps.size(), 2u);
  EXPECT_EQ(imps[1].next_offset, 4);
  EXPECT_TRUE(s->kafka_positions("nope").empty());
}

TEST_F(ClickHouseStoreTest, MaxIngestedAtOverTheEventTables) {
  auto s = open("ingested_store");
  EXPECT_EQ(s->max_ingested_at(), std::nullopt);
  Rows batch;
  batch.add("a.jsonl", 1, 3, kDec3 + 123);
  s->append(batch.impressions.slice());
  EXPECT_EQ(s->max_ingested_at(), kDec3 + 123);
  s->append(batch.clicks.slice());  // ingested_at + 1
  EXPECT_EQ(s->max_ingested_at(), kDec3 + 124);
}

// Dimension rows with what formatting could get wrong: NULLs, quotes, commas, unicode, dates at the
// edges of ClickHouse's Date. In the order of the tables' sorting keys, which is how ClickHouse reads
// them back and how DuckDB keeps rows appended in that order.
void fill_dimensions(TableBuffer& cmp, TableBuffer& cre) {
  using namespace col;
  size_t r = cmp.add_row();
  cmp.set_str(cmp_campaign_id, r, "c1");
  cmp.set_str(cmp_advertiser_id, r, "adv, \"quoted\"");
  cmp.set_str(cmp_campaign_name, r, "Winter ☃ sale\nline two");
  cmp.set_i32(cmp_start_date, r, 0);
  cmp.set_i32(cmp_end_date, r, int32_t(days_from_civil(2106, 2, 7)));
  cmp.set_str(cmp_currency, r, "EUR");
  r = cmp.add_row();
  cmp.set_str(cmp_campaign_id, r, "c2");  // everything else NULL
  r = cmp.add_row();
  cmp.set_str(cmp_campaign_id, r, "c3");
  cmp.set_str(cmp_advertiser_id, r, "");
  cmp.set_i32(cmp_start_date, r, 20425);

  r = cre.add_row();
  cre.set_str(cre_creative_id, r, "cr1");
  cre.set_str(cre_campaign_id, r, "c1");
  cre.set_str(cre_format, r, "banner");
  cre.set_i32(cre_width, r, 300);
  cre.set_i32(cre_height, r, -250);
  r = cre.add_row();
  cre.set_str(cre_creative_id, r, "cr2");
  cre.set_str(cre_campaign_id, r, "c2");
  cre.set_i32(cre_width, r, 2147483647);
}

TEST_F(ClickHouseStoreTest, ReadTableReadsAsDuckDbDoes) {
  auto s = open("dims_store");
  DuckDbStore duck(":memory:");
  duck.ensure_schema();
  TableBuffer cmp(tables::kCampaigns), cre(tables::kCreatives);
  fill_dimensions(cmp, cre);

  // Inside a batch the replacement waits for commit(); a rollback drops it.
  s->begin();
  s->replace_table(cmp.slice());
  EXPECT_EQ(rows(*s, "campaigns"), 0);
  s->rollback();
  EXPECT_EQ(rows(*s, "campaigns"), 0);

  for (Store* st : {static_cast<Store*>(s.get()), static_cast<Store*>(&duck)}) {
    st->begin();
    st->replace_table(cmp.slice());
    st->replace_table(cre.slice());
    st->commit();
  }
  for (const TableDef* t : {&tables::kCampaigns, &tables::kCreatives}) {
    SCOPED_TRACE(std::string(t->name));
    const ResultTable mine = s->read_table(*t);
    const ResultTable theirs = duck.read_table(*t);
    EXPECT_EQ(format_csv(mine), format_csv(theirs));
    EXPECT_EQ(format_table(mine), format_table(theirs));
    const TextResult a = text_result(mine), b = text_result(theirs);
    EXPECT_EQ(a.column_names, b.column_names);
    EXPECT_EQ(a.column_types, b.column_types);
    EXPECT_EQ(a.is_null, b.is_null);
    for (size_t c = 0; c < mine.columns.size(); c++) EXPECT_EQ(mine.columns[c].type, theirs.columns[c].type);
  }

  // Replaced again, by less: only the new rows, and no table left over from the swap.
  TableBuffer one(tables::kCampaigns);
  one.set_str(col::cmp_campaign_id, one.add_row(), "only");
  s->replace_table(one.slice());
  const ResultTable now = s->read_table(tables::kCampaigns);
  ASSERT_EQ(now.rows(), 1u);
  EXPECT_EQ(now.column("campaign_id").texts[0], "only");
  EXPECT_EQ(scalar(*s,
                   "SELECT count() FROM system.tables WHERE database = 'dims_store' AND (endsWith(name, "
                   "'__advx_new') OR endsWith(name, '__advx_old'))"),
            0);
  s->replace_table(TableBuffer(tables::kCampaigns).slice());
  EXPECT_EQ(s->read_table(tables::kCampaigns).rows(), 0u);
}

TEST_F(ClickHouseStoreTest, ReadTableTypesEveryColumnKindAsDuckDb) {
  // The dedup state (utinyint, ubigint, bigint) and rejects (blob, timestamp): read_table works on any
  // table of the schema, typed as DuckDB types it.
  auto s = open("types_store");
  DuckDbStore duck(":memory:");
  duck.ensure_schema();
  TableBuffer rej(tables::kRejects), dd(tables::kDedupState);
  using namespace col;
  for (int i = 0; i < 3; i++) {
    const size_t r = rej.add_row();
    rej.set_str(rej_stream, r, "impressions");
    rej.set_str(rej_reason, r, "bad_json");
    rej.set_owned_str(rej_source, r, "r.jsonl");
    rej.set_u64(rej_source_record, r, uint64_t(i) + 1);
    static constexpr char kRaw[] = "{\"a\":\x01\xff'\\}";
    if (i != 1) rej.set_str(rej_raw, r, std::string_view(kRaw, sizeof kRaw - 1));
    if (i == 2) rej.set_i64(rej_event_time, r, kDec3 + 1'234'567);
    rej.set_i64(rej_ingested_at, r, kDec3 + i);
  }
  for (int i = 0; i < 3; i++) {
    const size_t r = dd.add_row();
    dd.set_u8(dd_stream, r, uint8_t(i));
    dd.set_u64(dd_key_hi, r, i == 2 ? UINT64_MAX : uint64_t(i));
    dd.set_u64(dd_key_lo, r, 5);
    dd.set_i64(dd_event_time, r, kDec3 - i);
    dd.set_u64(dd_payload_hash, r, UINT64_MAX - uint64_t(i));
    dd.set_owned_str(dd_source, r, "s");
    dd.set_u64(dd_source_record, r, uint64_t(i) + 1);
  }
  for (Store* st : {static_cast<Store*>(s.get()), static_cast<Store*>(&duck)}) {
    st->append(rej.slice());
    st->append(dd.slice());
  }
  for (const TableDef* t : {&tables::kRejects, &tables::kDedupState}) {
    SCOPED_TRACE(std::string(t->name));
    const ResultTable mine = s->read_table(*t), theirs = duck.read_table(*t);
    EXPECT_EQ(format_csv(mine), format_csv(theirs));
    EXPECT_EQ(text_result(mine).column_types, text_result(theirs).column_types);
  }
}

TEST_F(ClickHouseStoreTest, VersionedTablesReadOneRowEachAndExtraColumnsStayOut) {
  // campaigns made as attribution's tables are: a ClickHouse-only version column, ReplacingMergeTree.
  auto s = std::make_unique<ClickHouseStore>(server_->url("versions_store"));
  std::string ddl = clickhouse::create_table_sql(tables::kCampaigns, "versions_store");
  const size_t engine = ddl.find("\n) ENGINE = MergeTree");
  ASSERT_NE(engine, std::string::npos) << ddl;
  ddl.replace(engine, std::string::npos,
              ",\n  advx_version UInt64 DEFAULT 0\n) ENGINE = ReplacingMergeTree(advx_version) ORDER BY "
              "ifNull(campaign_id, '')");
  s->execute(ddl);
  s->ensure_schema();
  TableBuffer cmp(tables::kCampaigns);
  for (const char* id : {"c1", "c2"}) {
    const size_t r = cmp.add_row();
    cmp.set_str(col::cmp_campaign_id, r, id);
    cmp.set_str(col::cmp_campaign_name, r, "old");
  }
  s->append(cmp.slice());
  s->execute(
      "INSERT INTO versions_store.campaigns (campaign_id, campaign_name, advx_version) VALUES ('c1', 'new', "
      "1)");
  ResultTable r = s->read_table(tables::kCampaigns);
  ASSERT_EQ(r.rows(), 2u);
  EXPECT_EQ(r.columns.size(), tables::kCampaigns.columns.size());
  EXPECT_EQ(r.column("campaign_name").texts[0], "new");
  EXPECT_EQ(r.column("campaign_name").texts[1], "old");
  // A replacement keeps the engine and the extra column (CREATE TABLE ... AS).
  s->replace_table(cmp.slice());
  EXPECT_EQ(s->read_table(tables::kCampaigns).column("campaign_name").texts.at(0), "old");
  EXPECT_EQ(scalar(*s,
                   "SELECT count() FROM system.columns WHERE database = 'versions_store' AND table = "
                   "'campaigns' AND name = 'advx_version'"),
            1);
}

TEST_F(ClickHouseStoreTest, QueryReadOnlyRefusesWritesAndTableFunctions) {
  auto s = open("ro_store");
  Rows batch;
  batch.add("a.jsonl", 1, 2);
  s->append(batch.impressions.slice());
  EXPECT_EQ(code_of([&] { s->query_read_only("INSERT INTO ro_store.campaigns (campaign_id) VALUES ('x')"); }),
            Code::refused);
  EXPECT_EQ(code_of([&] { s->query_read_only("SELECT * FROM numbers(3)"); }), Code::refused);
  EXPECT_EQ(code_of([&] { s->query_read_only("DROP TABLE ro_store.campaigns"); }), Code::refused);
  EXPECT_EQ(code_of([&] { s->query_read_only("SELECT 1 SETTINGS readonly = 0"); }), Code::refused);
  EXPECT_EQ(code_of([&] { s->query_read_only("KILL QUERY WHERE 1"); }), Code::refused);
  EXPECT_EQ(code_of([&] { s->query_read_only(" /* c */ set max_threads = 1"); }), Code::refused);
  EXPECT_EQ(code_of([&] { s->query_read_only("SELEC 1"); }), Code::invalid);
  EXPECT_EQ(code_of([&] { s->query_read_only(" ; -- nothing"); }), Code::invalid);
  EXPECT_EQ(code_of([&] { s->query_read_only("SELECT * FROM ro_store.nope"); }), Code::not_found);
  EXPECT_EQ(rows(*s, "campaigns"), 0);

  // Several statements: the last one's result; semicolons in quotes and comments do not split.
  const ResultTable r = s->query_read_only("SELECT 1 AS a; SELECT 'x;y' AS `b;`, 2 AS c -- ;\n;");
  ASSERT_EQ(r.columns.size(), 2u);
  EXPECT_EQ(r.columns[0].name, "b;");
  EXPECT_EQ(r.columns[0].texts.at(0), "x;y");
  // ClickHouse's own types, not retyped.
  const ResultTable t = s->query_read_only(
      "SELECT event_time_us, unknown_creative, event_time FROM ro_store.impressions ORDER BY event_time_us");
  EXPECT_EQ(t.column("event_time_us").engine_type, "Int64");
  EXPECT_EQ(t.column("event_time_us").type, ValueType::integer);
  EXPECT_EQ(t.column("unknown_creative").engine_type, "Nullable(UInt8)");
  EXPECT_EQ(t.column("event_time").engine_type, "DateTime('UTC')");
  EXPECT_EQ(t.rows(), 2u);
}

TEST_F(ClickHouseStoreTest, MemoryLimitGoesWithEveryStatement) {
  auto s = open("memory_store");
  const auto setting = [](const ClickHouseStore& st) {
    for (const auto& [name, value] : st.settings())
      if (name == "max_memory_usage") return value;
    return std::string();
  };
  s->set_memory_limit("256MB");
  EXPECT_EQ(setting(*s), "256000000");
  s->set_memory_limit("2GiB");
  EXPECT_EQ(setting(*s), "2147483648");
  s->set_memory_limit(" 1.5 gb ");
  EXPECT_EQ(setting(*s), "1500000000");
  EXPECT_EQ(code_of([&] { s->set_memory_limit("lots"); }), Code::invalid);
  EXPECT_EQ(code_of([&] { s->set_memory_limit("80%"); }), Code::invalid);
  s->set_memory_limit("1GB");
  EXPECT_EQ(scalar(*s, "SELECT toInt64(value) FROM system.settings WHERE name = 'max_memory_usage'"),
            1'000'000'000);
  auto other = s->another_connection();
  auto& ch_other = dynamic_cast<ClickHouseStore&>(*other);
  EXPECT_EQ(setting(ch_other), "1000000000");
  Rows keys;
  keys.add("a.jsonl", 1, 100'000);
  const uint32_t first = 0;
  s->append(keys.dedup.slice(&first, 1));  // reads the table's positions: a query, under the limit
  s->set_memory_limit("1MiB");
  const auto e = store_error([&] { s->query("SELECT groupArray(number) FROM numbers(10000000)"); });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("Memory limit"), std::string::npos) << e->what();
  // Data inserts go without it: their memory follows the caller's batch (4 MB of keys here).
  s->append(keys.dedup.slice());
  EXPECT_EQ(rows(ch_other, "advx_dedup_state"), 100'000);
  EXPECT_EQ(
      ch_other.query("SELECT length(groupArray(number)) AS n FROM numbers(1000000)").column("n").int_at(0),
      1'000'000);
}

TEST_F(ClickHouseStoreTest, InterruptEndsARunningStatement) {
  auto s = open("interrupt_store");
  auto watcher = open("interrupt_store");
  s->interrupt();  // nothing running: nothing happens
  auto running = std::async(std::launch::async, [&] {
    return store_error([&] { s->query("SELECT count() FROM system.numbers WHERE number != 4242427"); });
  });
  // An interrupt that comes before the statement starts is lost: repeat until it has ended.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (running.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready &&
         std::chrono::steady_clock::now() < until)
    s->interrupt();
  if (running.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    watcher->execute("KILL QUERY WHERE query LIKE '%!= 4242427%' SYNC");
    FAIL() << "interrupt() did not end the statement";
  }
  const auto e = running.get();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::interrupted) << e->what();
  EXPECT_EQ(scalar(*s, "SELECT 7"), 7);  // the connection goes on
}

// A million impressions over two days in one micro-batch: two inserts, every row back; the replay of
// all of them sends nothing.
TEST_F(ClickHouseStoreTest, MillionImpressionsRoundTrip) {
  auto s = open("million_store");
  s->set_memory_limit("256MB");  // ingest's (pipeline/batch_run.hpp)
  constexpr size_t kRows = 1'000'000;
  TableBuffer b(tables::kImpressions);
  using namespace col;
  for (size_t i = 0; i < kRows; i++) {
    const size_t r = b.add_row();
    const int64_t t = kDec3 + int64_t(i % 2) * kDay + int64_t(i);
    b.set_str(imp_event_key, r, "key");
    b.set_i64(imp_event_time, r, t);
    b.set_i32(imp_event_date, r, date_of(t));
    b.set_u8(imp_event_hour, r, hour_of(t));
    b.set_str(imp_campaign_id, r, i % 2 ? "camp-a" : "camp-b");
    b.set_f64(imp_win_price_cpm, r, double(i % 1000) / 100);
    b.set_str(imp_source, r, "million.jsonl");
    b.set_u64(imp_source_record, r, i + 1);
    b.set_i64(imp_ingested_at, r, kDec3);
  }
  const int64_t before = inserts(*s);
  s->begin();
  s->append(b.slice());
  s->commit();
  EXPECT_EQ(inserts(*s) - before, 2);
  const ResultTable got = s->query(
      "SELECT count() AS n, toInt64(sum(source_record)) AS s, uniqExact(event_time_us) AS u FROM "
      "million_store.impressions");
  EXPECT_EQ(got.column("n").int_at(0), int64_t(kRows));
  EXPECT_EQ(got.column("s").int_at(0), int64_t(kRows * (kRows + 1) / 2));
  EXPECT_EQ(got.column("u").int_at(0), int64_t(kRows));
  s->begin();
  s->append(b.slice());
  s->commit();
  // Replayed: no row again, but the rows' attribution debt (they were stored without one).
  EXPECT_EQ(inserts(*s) - before, 3);
  EXPECT_EQ(rows(*s, "impressions"), int64_t(kRows));
}

TEST(ClickHouseStoreUnreachable, NoServerIsUnavailableInOneLine) {
  const int port = two_free_ports().first;  // nothing listens there
  ASSERT_NE(port, 0);
  const auto e =
      store_error([&] { ClickHouseStore("clickhouse://127.0.0.1:" + std::to_string(port) + "/db"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::unavailable);
  const std::string what = e->what();
  EXPECT_EQ(what.rfind("cannot reach ClickHouse at 127.0.0.1:" + std::to_string(port) + ": ", 0), 0u) << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_EQ(code_of([] { ClickHouseStore("clickhouse://h/bad-name"); }), Code::invalid);
}

class ClickHouseStoreDown : public ClickHouseTest {};

TEST_F(ClickHouseStoreDown, StoppedServerIsUnavailableAndTheReplayResumes) {
  auto s = std::make_unique<ClickHouseStore>(server_->url("down_store"));
  s->ensure_schema();
  Rows batch;
  batch.add("a.jsonl", 1, 20);
  s->begin();
  s->append(batch.impressions.slice());  // reads the positions while the server is up
  server_->stop();
  EXPECT_EQ(code_of([&] { s->commit(); }), Code::unavailable);
  const auto e = store_error([&] { ClickHouseStore(server_->url("down_store")); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::unavailable);
  EXPECT_EQ(std::string(e->what()).rfind("cannot reach ClickHouse at 127.0.0.1:", 0), 0u) << e->what();
  server_->restart();
  batch.commit_all(*s);
  EXPECT_EQ(s->query("SELECT count() AS n FROM down_store.impressions").column("n").int_at(0), 20);
  EXPECT_EQ(s->query("SELECT count() AS n FROM down_store.advx_dedup_state").column("n").int_at(0), 20);
}

}  // namespace
}  // namespace advx::test
