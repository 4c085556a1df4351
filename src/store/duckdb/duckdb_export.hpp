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

class DuckDbStore;

// The Parquet export of rows that come from elsewhere (another engine's store, e.g. ClickHouse, which
// cannot write Parquet): the rows are appended to an in-memory DuckDB table made from the same TableDef as
// DuckDbStore's schema, and written by the same COPY as ParquetExporter's, so the files, folders, columns
// and statistics are those of a DuckDB store holding the same rows. Past its memory limit DuckDB spills
// the table to a temp folder of the writer's own (made under the system's temp folder, removed with it).
class ParquetWriter {
 public:
  // `memory_limit`: DuckDB's memory_limit for the rows held and the COPY (e.g. "1GB"). Throws StoreError.
  explicit ParquetWriter(const std::string& memory_limit = "512MB");
  ~ParquetWriter();
  ParquetWriter(const ParquetWriter&) = delete;
  ParquetWriter& operator=(const ParquetWriter&) = delete;

  // Adds rows to the table `rows.def` (one of tables::kAll). Throws StoreError.
  void append(const TableSlice& rows);
  // Writes the rows of spec.table appended so far that are in `range` under `dir`, as
  // ParquetExporter::export_table does, then drops them. Throws StoreError.
  TableExportStats write(const ExportTableSpec& spec, const std::string& dir, const ExportRange& range);

  // The folder DuckDB spills to (removed by the destructor): for tests.
  const std::string& temp_folder() const { return temp_dir_; }

 private:
  std::unique_ptr<DuckDbStore> rows_;
  std::string temp_dir_;
};

// SQL text helpers, exposed for tests: a single-quoted literal, and the WHERE clause of a range.
std::string sql_string_literal(std::string_view text);
std::string export_where_clause(std::string_view time_column, const ExportRange& range);

}  // namespace advx
