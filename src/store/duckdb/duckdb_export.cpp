#include "store/duckdb/duckdb_export.hpp"

#include <duckdb.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "store/duckdb/duckdb_store.hpp"
#include "store/duckdb/duckdb_util.hpp"

namespace advx {

namespace {

using duckdb_util::one_line;
using duckdb_util::Result;

// Runs `sql` into `res`; throws StoreError with DuckDB's message.
void query(duckdb_connection con, const std::string& sql, Result& res) {
  res.live = true;
  if (duckdb_query(con, sql.c_str(), &res.r) != DuckDBSuccess) {
    const char* err = duckdb_result_error(&res.r);
    throw duckdb_util::duckdb_error(one_line(err ? err : "query failed"));
  }
}

}  // namespace

std::string sql_string_literal(std::string_view text) { return duckdb_util::quote_literal(text); }

std::string export_where_clause(std::string_view time_column, const ExportRange& range) {
  std::string where;
  auto add = [&](const char* op, int64_t micros) {
    where += where.empty() ? " WHERE " : " AND ";
    where += std::string(time_column) + " " + op + " make_timestamp(" + std::to_string(micros) + "::BIGINT)";
  };
  if (range.from_us) add(">=", *range.from_us);
  if (range.to_us) add("<", *range.to_us);
  return where;
}

namespace {

// The export of one table, the same for a database file and for the rows a ParquetWriter holds: the rows
// of `source` (a table name as SQL) in `range`, by one partitioned COPY.
TableExportStats copy_to_parquet(duckdb_connection con, const std::string& source,
                                 const ExportTableSpec& spec, const std::string& dir,
                                 const ExportRange& range) {
  const std::string where = export_where_clause(spec.time_column, range);
  TableExportStats stats;
  if (std::string_view(spec.partition_by).find("campaign_id") != std::string_view::npos) {
    Result res;
    query(con,
          "SELECT count(*) FROM " + source + (where.empty() ? " WHERE " : where + " AND ") +
              "campaign_id = 'NULL'",
          res);
    stats.null_text_campaign_ids = uint64_t(duckdb_value_int64(&res.r, 0, 0));
  }
  // FILENAME_PATTERN with {uuid}: two partition values that map to one directory (NULL and the text 'NULL')
  // must never write the same file name. RETURN_STATS: one row per file written.
  const std::string sql = "COPY (SELECT *" + std::string(spec.extra_columns) + " FROM " + source + where +
                          ") TO " + sql_string_literal(dir) +
                          " (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (" +
                          std::string(spec.partition_by) + "), FILENAME_PATTERN 'data_{uuid}', RETURN_STATS)";
  Result res;
  query(con, sql, res);
  idx_t count_col = ~idx_t(0), size_col = ~idx_t(0);
  for (idx_t c = 0; c < duckdb_column_count(&res.r); ++c) {
    const std::string_view name = duckdb_column_name(&res.r, c);
    if (name == "count") count_col = c;
    if (name == "file_size_bytes") size_col = c;
  }
  if (count_col == ~idx_t(0) || size_col == ~idx_t(0))
    throw duckdb_util::duckdb_error("DuckDB's COPY ... RETURN_STATS has no count or file_size_bytes column");
  const idx_t n = duckdb_row_count(&res.r);
  for (idx_t i = 0; i < n; ++i) {
    stats.files += 1;
    stats.rows += uint64_t(duckdb_value_int64(&res.r, count_col, i));
    stats.bytes += uint64_t(duckdb_value_int64(&res.r, size_col, i));
  }
  return stats;
}

}  // namespace

struct ParquetExporter::Impl {
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  ~Impl() {
    if (con) duckdb_disconnect(&con);
    if (db) duckdb_close(&db);
  }
};

ParquetExporter::ParquetExporter(const std::string& db_path) : impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db_path, ec))
    throw duckdb_util::duckdb_error("no database at " + db_path);
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) != DuckDBSuccess)
    throw duckdb_util::duckdb_error("cannot create DuckDB configuration");
  // Parquet is built into libduckdb: nothing is ever downloaded.
  const bool configured = duckdb_set_config(config, "autoinstall_known_extensions", "false") == DuckDBSuccess;
  char* error = nullptr;
  const duckdb_state state =
      configured ? duckdb_open_ext(nullptr, &impl_->db, config, &error) : DuckDBError;  // in memory
  duckdb_destroy_config(&config);
  if (state != DuckDBSuccess) {
    std::string msg = "cannot start DuckDB: " + one_line(error ? error : "unknown error");
    duckdb_free(error);
    impl_->db = nullptr;
    throw duckdb_util::duckdb_error(msg);
  }
  if (duckdb_connect(impl_->db, &impl_->con) != DuckDBSuccess) {
    impl_->con = nullptr;
    throw duckdb_util::duckdb_error("cannot connect to DuckDB");
  }
  Result res;
  try {
    query(impl_->con, "ATTACH " + sql_string_literal(db_path) + " AS src (READ_ONLY)", res);
  } catch (const StoreError& e) {
    throw duckdb_util::duckdb_error("cannot open database " + db_path + ": " + e.what());
  }
}

ParquetExporter::~ParquetExporter() = default;

TableExportStats ParquetExporter::export_table(const ExportTableSpec& spec, const std::string& dir,
                                               const ExportRange& range) {
  return copy_to_parquet(impl_->con, "src.main." + std::string(spec.table), spec, dir, range);
}

ParquetWriter::ParquetWriter(const std::string& memory_limit) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "advx-export-XXXXXX").string();
  if (!mkdtemp(tmpl.data()))
    throw duckdb_util::duckdb_error("cannot make a temp folder for the export: " +
                                    std::string(std::strerror(errno)));
  temp_dir_ = tmpl;
  try {
    rows_ = std::make_unique<DuckDbStore>(":memory:");
    rows_->ensure_schema();
    // The rows are written once, in any order: DuckDB need not keep their order, which lets the COPY run
    // on every thread and spill less. Parquet is built into libduckdb, as for ParquetExporter: nothing is
    // ever downloaded.
    rows_->execute("SET temp_directory = " + sql_string_literal(temp_dir_) +
                   "; SET memory_limit = " + sql_string_literal(memory_limit) +
                   "; SET preserve_insertion_order = false; SET autoinstall_known_extensions = false");
  } catch (...) {
    rows_.reset();
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
    throw;
  }
}

ParquetWriter::~ParquetWriter() {
  rows_.reset();  // DuckDB first: it removes its own spill files
  std::error_code ec;
  std::filesystem::remove_all(temp_dir_, ec);
}

void ParquetWriter::append(const TableSlice& rows) { rows_->append(rows); }

TableExportStats ParquetWriter::write(const ExportTableSpec& spec, const std::string& dir,
                                      const ExportRange& range) {
  const std::string table = duckdb_util::quote_ident(spec.table);
  const TableExportStats stats = copy_to_parquet(rows_->connection(), table, spec, dir, range);
  rows_->execute("DELETE FROM " + table);
  return stats;
}

TableExportStats DuckDbStore::export_table(const ExportTableSpec& spec, const std::string& dir,
                                           const ExportRange& range) {
  if (path_.empty() || path_ == ":memory:")
    throw StoreError("export needs a database file, not an in-memory store", StoreErrorCode::invalid);
  // Its own in-memory DuckDB with the file attached READ_ONLY: this connection may be read-only (no file
  // access at all), and an export must never modify the store.
  if (!exporter_) exporter_ = std::make_unique<ParquetExporter>(path_);
  return exporter_->export_table(spec, dir, range);
}

}  // namespace advx
