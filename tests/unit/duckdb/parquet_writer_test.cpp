// ParquetWriter (store/duckdb/duckdb_export.hpp), the Parquet export of rows another engine read: the rows
// come back from the files as appended, partitioned as the DuckDB store's export is; a table larger than
// the writer's memory limit spills to its temp folder, which goes with the writer.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "../../support/store_test_util.hpp"
#include "core/table_buffer.hpp"
#include "core/time_util.hpp"
#include "store/duckdb/duckdb_export.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDec3 = 20425 * kMicrosPerDay;  // 2025-12-03 00:00:00 UTC

class ParquetWriterTest : public ::testing::Test {
 protected:
  test::TempFolder folder_;
  const fs::path& out_ = folder_.path();
  static int64_t count(DuckDbStore& duck, const std::string& sql) {
    return duck.query(sql).columns.at(0).int_at(0);
  }
};

// `n` rejects over `days` ingest days, each with `raw_bytes` random bytes (invalid UTF-8).
TableBuffer rejects(size_t n, int days, size_t raw_bytes, uint64_t first_record) {
  using namespace col;
  TableBuffer b(tables::kRejects);
  std::mt19937_64 rng(first_record);
  std::string raw(raw_bytes, '\0');
  for (size_t i = 0; i < n; i++) {
    for (char& c : raw) c = char(rng());
    const size_t r = b.add_row();
    b.set_owned_str(rej_stream, r, "impressions");
    b.set_owned_str(rej_category, r, "rejected");
    b.set_owned_str(rej_reason, r, "malformed");
    b.set_owned_str(rej_source, r, "/in/x.jsonl");
    b.set_u64(rej_source_record, r, first_record + i);
    b.set_owned_str(rej_raw, r, raw);
    b.set_i64(rej_ingested_at, r, kDec3 + int64_t(i % size_t(days)) * kMicrosPerDay + int64_t(i));
  }
  return b;
}

TEST_F(ParquetWriterTest, SpillsPastItsMemoryLimitAndRemovesItsTempFolder) {
  std::string temp;
  TableExportStats stats;
  {
    ParquetWriter writer("128MB");
    temp = writer.temp_folder();
    ASSERT_TRUE(fs::is_directory(temp));
    // 2,000,000 rows of some 150 bytes as DuckDB holds them in memory: more than twice the limit. (The
    // COPY itself needs a row group, 122,880 rows, per partition and thread: small rows, one partition.)
    for (uint64_t part = 0; part < 10; part++)
      writer.append(rejects(200'000, 1, 32, part * 200'000 + 1).slice());
    stats = writer.write(*find_export_table("rejects"), (out_ / "rejects").string(), {});
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(stats.rows, 2'000'000u);
  DuckDbStore duck(":memory:");
  const std::string files =
      "read_parquet('" + (out_ / "rejects").string() + "/**/*.parquet', hive_partitioning = true)";
  EXPECT_EQ(
      count(duck, "SELECT count(DISTINCT source_record) FROM " + files + " WHERE octet_length(raw) = 32"),
      2'000'000);
  EXPECT_TRUE(fs::is_directory(out_ / "rejects" / "ingest_date=2025-12-03"));
}

TEST_F(ParquetWriterTest, WritesOnlyTheRangeAndThenHoldsNothing) {
  ParquetWriter writer;
  writer.append(rejects(30, 3, 8, 1).slice());
  const ExportTableSpec& spec = *find_export_table("rejects");
  const TableExportStats first =
      writer.write(spec, (out_ / "a").string(), {kDec3 + kMicrosPerDay, kDec3 + 2 * kMicrosPerDay});
  EXPECT_EQ(first.rows, 10u);
  EXPECT_EQ(first.files, 1u);
  const TableExportStats second = writer.write(spec, (out_ / "b").string(), {});
  EXPECT_EQ(second.rows, 0u);
  EXPECT_EQ(second.files, 0u);
}

}  // namespace
}  // namespace advx
