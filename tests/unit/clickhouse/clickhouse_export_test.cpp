// Parquet export on ClickHouse (ClickHouseStore::export_table through DuckDB's ParquetWriter), against a
// real clickhouse-server: the same rows stored in a DuckDB file and in ClickHouse export to the same rows,
// partitions and statistics; the range is exact to the microsecond; the versioned tables give their newest
// row versions; rejects' raw bytes (every byte value, invalid UTF-8) come back byte for byte; the chunks a
// table is read in cover the range exactly; a server that goes down is `unavailable`.
#include "store/clickhouse/clickhouse_export.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../../support/store_test_util.hpp"
#include "clickhouse_fixture.hpp"
#include "core/table_buffer.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/clickhouse_store.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx::test {
namespace {

namespace fs = std::filesystem;
using Code = StoreErrorCode;

constexpr int64_t kDec3 = 20425 * kMicrosPerDay;  // 2025-12-03 00:00:00 UTC
constexpr int64_t kHour = kMicrosPerHour;

// Rows of every exported table over six days, with what the export must keep apart: NULL campaign ids,
// the text 'NULL', an empty id and one with a '/', NULL values, a source_record past INT64_MAX, and
// rejects whose raw bytes are every byte value and invalid UTF-8.
struct ExportRows {
  TableBuffer impressions{tables::kImpressions};
  TableBuffer clicks{tables::kClicks};
  TableBuffer conversions{tables::kConversions};
  TableBuffer bids{tables::kBidRequests};
  TableBuffer rejects{tables::kRejects};
  std::vector<std::string> raws;

  static int64_t time_of(size_t i) { return kDec3 + int64_t(i) * 7 * kHour / 3 + int64_t(i); }

  explicit ExportRows(size_t n) {
    using namespace col;
    const char* campaigns[] = {"c1", "c2", "NULL", "", "a/b"};
    for (size_t i = 0; i < n; i++) {
      const int64_t t = time_of(i);
      const std::string key = "k" + std::to_string(i);
      const uint64_t rec = i + 1;
      size_t r = impressions.add_row();
      impressions.set_owned_str(imp_event_key, r, key);
      impressions.set_i64(imp_event_time, r, t);
      impressions.set_i32(imp_event_date, r, date_of(t));
      impressions.set_u8(imp_event_hour, r, hour_of(t));
      if (i % 6 != 5) impressions.set_owned_str(imp_campaign_id, r, campaigns[i % 6]);
      if (i % 2) impressions.set_f64(imp_win_price_cpm, r, 0.1 * double(i) + 1.0 / 3);
      impressions.set_owned_str(imp_user_agent, r, "Mozilla/5.0 \t\"ü\"\\ " + key);
      impressions.set_bool(imp_unknown_creative, r, i % 3 == 0);
      impressions.set_owned_str(imp_source, r, "/data/imp.jsonl");
      impressions.set_u64(imp_source_record, r, i + 1 == n ? UINT64_MAX : rec);
      impressions.set_i64(imp_ingested_at, r, kDec3 + 9 * kMicrosPerDay + int64_t(i));

      r = clicks.add_row();
      clicks.set_owned_str(ev_event_key, r, key);
      clicks.set_i64(ev_event_time, r, t);
      clicks.set_i32(ev_event_date, r, date_of(t));
      clicks.set_u8(ev_event_hour, r, hour_of(t));
      if (i % 4) clicks.set_owned_str(ev_campaign_id, r, campaigns[i % 4]);
      clicks.set_bool(clk_unknown_campaign, r, i % 4 == 0);
      clicks.set_owned_str(clk_source, r, "/data/clicks.csv");
      clicks.set_u64(clk_source_record, r, rec);
      clicks.set_i64(clk_ingested_at, r, kDec3 + 9 * kMicrosPerDay);
      clicks.set_owned_str(clk_attribution, r, "orphan");

      r = conversions.add_row();
      conversions.set_owned_str(ev_event_key, r, key);
      conversions.set_i64(ev_event_time, r, t);
      conversions.set_i32(ev_event_date, r, date_of(t));
      conversions.set_u8(ev_event_hour, r, hour_of(t));
      conversions.set_owned_str(ev_campaign_id, r, campaigns[i % 2]);
      conversions.set_f64(conv_conversion_value, r, 12.5 + double(i));
      conversions.set_owned_str(conv_source, r, "/data/conv.csv");
      conversions.set_u64(conv_source_record, r, rec);
      conversions.set_i64(conv_ingested_at, r, kDec3 + 9 * kMicrosPerDay);

      r = bids.add_row();
      bids.set_owned_str(bid_auction_id, r, "a" + std::to_string(i));
      bids.set_i64(bid_event_time, r, t);
      bids.set_i32(bid_event_date, r, date_of(t));
      bids.set_u8(bid_event_hour, r, hour_of(t));
      bids.set_i32(bid_imp_count, r, int32_t(i % 3) - 1);
      bids.set_owned_str(bid_targeting, r, "{\"k\":[1,2]}");
      bids.set_owned_str(bid_source, r, "/data/bids.avro");
      bids.set_u64(bid_source_record, r, rec);
      bids.set_i64(bid_ingested_at, r, kDec3 + 9 * kMicrosPerDay);
      bids.set_bool(bid_won, r, i % 2 == 0);

      std::string raw;
      for (int b = 0; b < 256; b++) raw += char((b + int(i)) % 256);
      raw += "\xff\xfe\xc3(";
      raws.push_back(raw);
      r = rejects.add_row();
      rejects.set_owned_str(rej_stream, r, "impressions");
      rejects.set_owned_str(rej_category, r, "rejected");
      rejects.set_owned_str(rej_reason, r, "malformed");
      rejects.set_owned_str(rej_source, r, "/data/imp.jsonl");
      rejects.set_u64(rej_source_record, r, rec);
      rejects.set_owned_str(rej_raw, r, raws.back());
      if (i % 5 == 0) rejects.set_i64(rej_event_time, r, t);
      rejects.set_i64(rej_ingested_at, r, time_of(i) + kMicrosPerDay);
    }
  }

  void store_in(Store& s) {
    s.begin();
    for (TableBuffer* b : {&impressions, &clicks, &conversions, &bids, &rejects}) s.append(b->slice());
    s.commit();
  }
};

// Reads the exports back with DuckDB, as docs/EXPORT.md does.
class Lake {
 public:
  std::string parquet(const fs::path& dir) {
    return "read_parquet('" + dir.string() + "/**/*.parquet', hive_partitioning = true)";
  }
  ResultTable query(const std::string& sql) { return duck_.query(sql); }
  int64_t count(const std::string& sql) { return duck_.query(sql).columns.at(0).int_at(0); }
  // Rows of one export not in the other, both ways, counted with their multiplicity.
  int64_t differences(const fs::path& a, const fs::path& b) {
    return count("SELECT count(*) FROM (SELECT * FROM " + parquet(a) + " EXCEPT ALL SELECT * FROM " +
                 parquet(b) + ")") +
           count("SELECT count(*) FROM (SELECT * FROM " + parquet(b) + " EXCEPT ALL SELECT * FROM " +
                 parquet(a) + ")");
  }

 private:
  DuckDbStore duck_{":memory:"};
};

// The folders and the count of files under `dir`, relative to it.
std::set<std::string> folders(const fs::path& dir, size_t* files) {
  std::set<std::string> out;
  *files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_directory()) out.insert(fs::relative(e.path(), dir).string());
    if (e.is_regular_file()) {
      ++*files;
      EXPECT_TRUE(e.path().filename().string().starts_with("data_")) << e.path();
      EXPECT_EQ(e.path().extension(), ".parquet") << e.path();
    }
  }
  return out;
}

class ClickHouseExport : public ClickHouseTest {
 protected:
  TempFolder folder_;
  const fs::path& out_ = folder_.path();
  // A store on database `db` holding `rows`.
  static std::unique_ptr<ClickHouseStore> store_with(const std::string& db, ExportRows& rows) {
    auto ch = std::make_unique<ClickHouseStore>(server_->url(db));
    ch->ensure_schema();
    rows.store_in(*ch);
    return ch;
  }
  // Exports `table` of `ch` to out_/table.
  TableExportStats export_to_out(ClickHouseStore& ch, std::string_view table, const ExportRange& range = {}) {
    return ch.export_table(*find_export_table(table), (out_ / table).string(), range);
  }
};

TEST(ClickHouseExportChunks, CoverTheRangeExactlyCutAtHourStarts) {
  using clickhouse::export_chunks;
  const std::vector<std::pair<int64_t, uint64_t>> hours = {{10, 3}, {11, 4}, {12, 9}, {14, 1}, {15, 2}};
  const ExportRange open;
  const auto chunks = export_chunks(hours, open, 8);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].from_us, std::nullopt);
  EXPECT_EQ(chunks[0].to_us, 12 * kHour);  // 3 + 4; the 9 of hour 12 would pass 8
  EXPECT_EQ(chunks[1].from_us, 12 * kHour);
  EXPECT_EQ(chunks[1].to_us, 14 * kHour);  // an hour of more than 8 rows is a chunk of its own
  EXPECT_EQ(chunks[2].from_us, 14 * kHour);
  EXPECT_EQ(chunks[2].to_us, std::nullopt);
  const ExportRange bounded{10 * kHour + 17, 15 * kHour + 5};
  const auto within = export_chunks(hours, bounded, 100);
  ASSERT_EQ(within.size(), 1u);
  EXPECT_EQ(within[0].from_us, bounded.from_us);
  EXPECT_EQ(within[0].to_us, bounded.to_us);
  const auto each = export_chunks(hours, bounded, 1);
  ASSERT_EQ(each.size(), 5u);
  EXPECT_EQ(each.front().from_us, bounded.from_us);
  EXPECT_EQ(each[3].from_us, 14 * kHour);
  EXPECT_EQ(each[3].to_us, 15 * kHour);
  EXPECT_EQ(each.back().to_us, bounded.to_us);
  for (size_t i = 1; i < each.size(); i++) EXPECT_EQ(each[i].from_us, each[i - 1].to_us);
  EXPECT_TRUE(export_chunks({}, bounded, 8).empty());
}

TEST_F(ClickHouseExport, WritesWhatTheDuckDbStoreWritesForTheSameRows) {
  ExportRows rows(60);
  TempDb file;
  {
    DuckDbStore duck(file.path());
    duck.ensure_schema();
    rows.store_in(duck);
  }
  store_with("export_same", rows);
  DuckDbStore duck(file.path(), StoreMode::read_only);
  ClickHouseStore ch_read(server_->url("export_same"), StoreMode::read_only);

  Lake lake;
  // Whole tables, then a window whose bounds are the times of rows 7 (in) and 40 (out), to the microsecond.
  const ExportRange windows[] = {{}, {ExportRows::time_of(7), ExportRows::time_of(40)}};
  for (size_t w = 0; w < std::size(windows); w++) {
    for (const ExportTableSpec& spec : export_table_specs()) {
      SCOPED_TRACE(std::string(spec.table) + " window " + std::to_string(w));
      const fs::path d = out_ / ("duckdb" + std::to_string(w)) / spec.table;
      const fs::path c = out_ / ("clickhouse" + std::to_string(w)) / spec.table;
      fs::create_directories(d.parent_path());
      fs::create_directories(c.parent_path());
      const TableExportStats ds = duck.export_table(spec, d.string(), windows[w]);
      const TableExportStats cs = ch_read.export_table(spec, c.string(), windows[w]);
      // Rejects are bounded by their ingested_at (a day after their time_of()): compared with DuckDB's only.
      if (spec.table != "rejects" || w == 0) {
        EXPECT_EQ(ds.rows, w == 0 ? 60u : 40u - 7u);
      }
      EXPECT_EQ(cs.rows, ds.rows);
      EXPECT_EQ(cs.null_text_campaign_ids, ds.null_text_campaign_ids);
      EXPECT_EQ(lake.count("SELECT count(*) FROM " + lake.parquet(c)), int64_t(ds.rows));
      EXPECT_EQ(lake.differences(d, c), 0);
      size_t dfiles = 0, cfiles = 0;
      EXPECT_EQ(folders(c, &cfiles), folders(d, &dfiles));
      EXPECT_EQ(cs.files, cfiles);
      EXPECT_EQ(ds.files, dfiles);
      EXPECT_GT(cs.bytes, 0u);
    }
  }
  // What the rows hold came back as stored, not only alike on both stores.
  const fs::path imps = out_ / "clickhouse0" / "impressions";
  EXPECT_EQ(lake.count("SELECT count(*) FROM " + lake.parquet(imps) + " WHERE campaign_id IS NULL"), 20);
  EXPECT_EQ(lake.count("SELECT count(*) FROM " + lake.parquet(imps) +
                       " WHERE source_record = 18446744073709551615::UBIGINT"),
            1);
  EXPECT_EQ(text_rows(lake.query("SELECT typeof(event_time), typeof(event_hour), typeof(source_record), "
                                 "typeof(win_price_cpm), typeof(unknown_creative), typeof(event_date) FROM " +
                                 lake.parquet(imps) + " LIMIT 1")),
            (std::vector<std::vector<std::string>>{
                {"TIMESTAMP", "UTINYINT", "UBIGINT", "DOUBLE", "BOOLEAN", "DATE"}}));
  EXPECT_TRUE(fs::is_directory(imps / "event_date=2025-12-03" / "campaign_id=NULL"));
  EXPECT_TRUE(fs::is_directory(imps / "event_date=2025-12-03" / "campaign_id=a%2Fb"));
  EXPECT_TRUE(fs::is_directory(imps / "event_date=2025-12-03" / "campaign_id="));
  EXPECT_TRUE(fs::is_directory(out_ / "clickhouse0" / "rejects" / "ingest_date=2025-12-04"));
}

TEST_F(ClickHouseExport, ReadsInChunksAndMissesNoRowAtTheirBounds) {
  // Ten hours of 12,000 impressions each, one every 300 ms, so that rows fall on every hour start: more
  // than one chunk of kExportChunkRows, each cut at an hour start.
  constexpr size_t kRows = 120'000;
  static_assert(kRows > 2 * clickhouse::kExportChunkRows);
  TableBuffer imps(tables::kImpressions);
  for (size_t i = 0; i < kRows; i++) {
    using namespace col;
    const int64_t t = kDec3 + int64_t(i) * 300'000;
    const size_t r = imps.add_row();
    imps.set_owned_str(imp_event_key, r, "k" + std::to_string(i));
    imps.set_i64(imp_event_time, r, t);
    imps.set_i32(imp_event_date, r, date_of(t));
    imps.set_u8(imp_event_hour, r, hour_of(t));
    imps.set_owned_str(imp_campaign_id, r, i % 2 ? "c1" : "c2");
    imps.set_owned_str(imp_source, r, "/data/imp.jsonl");
    imps.set_u64(imp_source_record, r, i + 1);
    imps.set_i64(imp_ingested_at, r, kDec3 + kMicrosPerDay);
  }
  ClickHouseStore ch(server_->url("export_chunks"));
  ch.ensure_schema();
  ch.begin();
  ch.append(imps.slice());
  ch.commit();
  Lake lake;
  // Whole, then from a row's time in the first hour to the start of the last (both exact).
  const ExportRange windows[] = {{}, {kDec3 + 1'200 * 300'000, kDec3 + 9 * kHour}};
  const int64_t expected[] = {int64_t(kRows), 108'000 - 1'200};
  for (size_t w = 0; w < std::size(windows); w++) {
    const fs::path dir = out_ / ("w" + std::to_string(w));
    const TableExportStats s = ch.export_table(*find_export_table("impressions"), dir.string(), windows[w]);
    EXPECT_EQ(s.rows, uint64_t(expected[w])) << w;
    const ResultTable r = lake.query(
        "SELECT count(*), count(DISTINCT event_key), min(source_record), max(source_record), "
        "count(*) FILTER (WHERE epoch_us(event_time) % 3600000000 = 0) FROM " +
        lake.parquet(dir));
    EXPECT_EQ(r.columns[0].int_at(0), expected[w]) << w;
    EXPECT_EQ(r.columns[1].int_at(0), expected[w]) << w;
    EXPECT_EQ(r.columns[2].int_at(0), w == 0 ? 1 : 1'201) << w;
    EXPECT_EQ(r.columns[3].int_at(0), w == 0 ? int64_t(kRows) : 108'000) << w;
    EXPECT_EQ(r.columns[4].int_at(0), w == 0 ? 10 : 8) << w;  // the rows on hour starts, each once
  }
}

TEST_F(ClickHouseExport, RejectBytesRoundTripExactly) {
  ExportRows rows(12);
  const auto ch = store_with("export_raw", rows);
  const TableExportStats s = export_to_out(*ch, "rejects");
  EXPECT_EQ(s.rows, 12u);
  Lake lake;
  const ResultTable r = lake.query("SELECT source_record, hex(raw) AS h FROM " +
                                   lake.parquet(out_ / "rejects") + " ORDER BY source_record");
  ASSERT_EQ(r.rows(), 12u);
  for (size_t i = 0; i < 12; i++) {
    std::string hex;
    for (unsigned char b : rows.raws[i]) {
      static const char* kDigits = "0123456789ABCDEF";
      hex += kDigits[b >> 4];
      hex += kDigits[b & 15];
    }
    EXPECT_EQ(r.column("h").text_at(i), hex) << i;
  }
}

TEST_F(ClickHouseExport, ReadsTheNewestRowVersionsOnce) {
  ExportRows rows(10);
  const auto ch = store_with("export_versions", rows);
  // What an attribution pass writes: whole rows again, with a larger version (clickhouse_attribution.cpp).
  std::string names, values;
  for (const ColumnDef& c : tables::kClicks.columns) {
    const std::string name = clickhouse::stored_name(c);
    names += name + ", ";
    values += c.name == "attribution"                 ? "'attributed', "
              : c.name == "attributed_impression_key" ? "'k0', "
                                                      : name + ", ";
  }
  ch->execute("INSERT INTO export_versions.clicks (" + names + "advx_version) SELECT " + values +
              "7 FROM export_versions.clicks WHERE event_key IN ('k3', 'k4')");
  const TableExportStats s = export_to_out(*ch, "clicks");
  EXPECT_EQ(s.rows, 10u);
  Lake lake;
  EXPECT_EQ(
      text_rows(lake.query("SELECT event_key, attribution, attributed_impression_key FROM " +
                           lake.parquet(out_ / "clicks") + " WHERE attribution = 'attributed' ORDER BY 1")),
      (std::vector<std::vector<std::string>>{{"k3", "attributed", "k0"}, {"k4", "attributed", "k0"}}));
}

TEST_F(ClickHouseExport, AnEmptyRangeIsAnEmptyFolder) {
  ExportRows rows(5);
  const auto ch = store_with("export_empty", rows);
  const fs::path dir = out_ / "impressions";
  const TableExportStats s = export_to_out(*ch, "impressions", {kDec3 - kHour, kDec3});
  EXPECT_EQ(s.rows, 0u);
  EXPECT_EQ(s.files, 0u);
  size_t files = 0;
  if (fs::exists(dir)) {
    EXPECT_TRUE(folders(dir, &files).empty());
  }
  EXPECT_EQ(files, 0u);
}

class ClickHouseExportDown : public ClickHouseExport {};

TEST_F(ClickHouseExportDown, AServerThatGoesDownIsUnavailable) {
  ExportRows rows(5);
  const auto ch = store_with("export_down", rows);
  server_->stop();
  const auto e = store_error([&] { export_to_out(*ch, "impressions"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::unavailable);
  EXPECT_EQ(std::string(e->what()).find('\n'), std::string::npos) << e->what();
}

}  // namespace
}  // namespace advx::test
