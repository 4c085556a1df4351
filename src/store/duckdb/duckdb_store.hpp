// DuckDbStore: the embedded store (SPEC 3), one DuckDB database file. Appends columnar batches with
// DuckDB's data-chunk appender (never row-by-row INSERTs) and creates the tables of core/table_schema.hpp.
// One transaction holds a batch's rows in every table: atomic multi-table commits, and updates in place.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.hpp"

struct _duckdb_connection;  // duckdb.h's duckdb_connection, kept out of this header

namespace advx {

class ParquetExporter;  // store/duckdb/duckdb_export.hpp

class DuckDbStore final : public Store {
 public:
  // Opens (creating if needed, in read_write mode) the database file; ":memory:" for an in-memory store.
  // read_only additionally forbids external access (files, ATTACH, extensions). Throws StoreError.
  explicit DuckDbStore(const std::string& path, StoreMode mode = StoreMode::read_write);
  ~DuckDbStore() override;

  const StoreGuarantees& guarantees() const override;
  std::string url() const override { return "duckdb:" + path_; }
  std::string local_folder() const override;

  // CREATE TABLE IF NOT EXISTS for every table of tables::kAll (with column comments).
  void ensure_schema() override;

  std::unique_ptr<Store> another_connection() override;

  void set_memory_limit(const std::string& limit) override;
  void set_checkpoint_threshold_mb(int64_t mb) override;
  void forbid_external_access() override;

  // Use these, not execute("BEGIN"), so the store knows when appended rows may stay buffered.
  void begin() override;
  void commit() override;
  void rollback() override;

  // Appends the selected rows of `slice` to its table. Throws StoreError. Inside begin()/commit() rows are
  // buffered per table and reach the transaction at commit() or before the next other statement; a failure
  // leaves the transaction for the caller to roll back. Outside a transaction a slice commits whole or not
  // at all.
  void append(const TableSlice& slice) override;

  // Replaces a dimension table's content (inside the current transaction if one is open).
  void replace_table(const TableSlice& slice) override;

  using Store::scan_dedup_state;
  void scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) override;
  ResultTable read_table(const TableDef& table) override;
  std::optional<int64_t> max_ingested_at() override;
  std::vector<StoredKafkaOffset> kafka_positions(std::string_view topic = {}) override;
  void save_kafka_positions(std::span<const StoredKafkaOffset> positions, int64_t ingested_at_us) override;
  std::vector<KafkaClaim> claim_kafka_partitions(std::span<const std::pair<std::string, int32_t>> partitions,
                                                 std::string_view member, int64_t claimed_at_us) override;
  std::vector<KafkaClaim> kafka_claims() override;

  void owe_attribution(int64_t ingested_at_us) override;
  AttributionResult attribute_pending(const AttributionWindows& windows) override;

  ResultTable report(const ReportRequest& request) override;
  ResultTable quality_counts(Stream stream, int64_t from_us, int64_t to_us, ArrivalClock clock,
                             int64_t bucket_us) override;
  std::optional<std::pair<int64_t, int64_t>> event_time_extent() override;

  TableExportStats export_table(const ExportTableSpec& spec, const std::string& dir,
                                const ExportRange& range) override;

  // Refuses anything but read-only statements (SELECT, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE, read-only
  // PRAGMAs) with a StoreError saying which statement type was refused. Several statements may be given;
  // all are checked before any runs, and the last one's result is returned. Nested types (LIST, STRUCT,
  // MAP, ...) are refused with a hint to cast them to VARCHAR.
  ResultTable query_read_only(std::string_view sql) override;

  // Interrupts the statement this connection is running (DuckDB's duckdb_interrupt): it fails with an
  // "Interrupted" StoreError. DuckDB clears an interrupt as each statement begins.
  void interrupt() override;

  // DuckDB's own SQL, for this engine's folder, its tests and benchmarks: runs SQL that returns no rows we
  // need, and runs a query. Throws StoreError with DuckDB's message.
  void execute(std::string_view sql);
  ResultTable query(std::string_view sql);

  const std::string& path() const { return path_; }

  // This connection, for this engine's folder only (the Parquet writer runs its COPY on it, to read the
  // per-file statistics that query() cannot type). Buffered appends are flushed first.
  _duckdb_connection* connection();

  // Another connection to the same database, as this engine (another_connection() as the interface).
  std::unique_ptr<DuckDbStore> another_duckdb_connection();

 private:
  explicit DuckDbStore(DuckDbStore& parent);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  // export_table()'s own DuckDB with this file attached read-only, opened at the first export and kept
  // for the tables after it.
  std::unique_ptr<ParquetExporter> exporter_;
};

}  // namespace advx
