// Parquet export on DuckDB (SPEC 3): the stored tables as Hive-partitioned Parquet for Spark, Hive, Athena,
// Trino or BigQuery, written by DuckDB's partitioned COPY. The database file is attached READ_ONLY to an
// in-memory DuckDB, so an export never modifies it (and the read_only mode, which forbids all file access,
// stays as strict as `advx sql` needs). Layout and reading it back: docs/EXPORT.md.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace advx {

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
