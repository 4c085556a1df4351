// Parquet export (SPEC 3): the stored tables as Hive-partitioned Parquet for Spark, Hive, Athena, Trino or
// BigQuery, written by DuckDB's partitioned COPY. The database file is attached READ_ONLY to an in-memory
// DuckDB, so an export never modifies it (and DuckDbStore's read_only mode, which forbids all file access,
// stays as strict as `advx sql` needs). Layout and reading it back: docs/EXPORT.md.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sinks/duckdb_store.hpp"

namespace advx {

// How one table is exported.
struct ExportTableSpec {
  std::string_view table;
  std::string_view time_column;    // --from/--to bound this column (event_time; rejects: ingested_at)
  std::string_view extra_columns;  // appended to `SELECT *` (rejects: the derived ingest_date)
  std::string_view partition_by;   // the PARTITION_BY column list
};

// impressions, clicks, conversions, bid_requests, rejects: the tables `advx export` writes, in this order.
std::span<const ExportTableSpec> export_table_specs();
const ExportTableSpec* find_export_table(std::string_view table);

// Half-open [from_us, to_us) in UTC epoch microseconds; an unset bound is open.
struct ExportRange {
  std::optional<int64_t> from_us;
  std::optional<int64_t> to_us;
};

struct TableExportStats {
  uint64_t rows = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  // Rows whose campaign_id is the text 'NULL': they land in the same campaign_id=NULL directory as the
  // NULL campaign ids and read back as NULL (docs/EXPORT.md).
  uint64_t null_text_campaign_ids = 0;
};

class ParquetExporter {
 public:
  // Throws StoreError ("no database at PATH" when the file does not exist).
  explicit ParquetExporter(const std::string& db_path);
  ~ParquetExporter();
  ParquetExporter(const ParquetExporter&) = delete;
  ParquetExporter& operator=(const ParquetExporter&) = delete;

  // Writes the table's rows in `range` under `dir` (which must not exist yet, or be empty; its parent must
  // exist): dir/event_date=YYYY-MM-DD[/campaign_id=…]/data_<uuid>.parquet, zstd. Throws StoreError.
  TableExportStats export_table(const ExportTableSpec& spec, const std::string& dir,
                                const ExportRange& range);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SQL text helpers, exposed for tests: a single-quoted literal, and the WHERE clause of a range.
std::string sql_string_literal(std::string_view text);
std::string export_where_clause(std::string_view time_column, const ExportRange& range);

}  // namespace advx
