// DuckDbStore: the embedded store (SPEC 3), one DuckDB database file. Appends columnar batches with
// DuckDB's data-chunk appender (never row-by-row INSERTs) and creates the tables of core/table_schema.hpp.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/table_schema.hpp"

namespace advx {

// Store failures (cannot open, disk full, constraint) end the operation: they are exceptions.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class StoreMode : uint8_t { read_write, read_only };

// One cell of a query result, as text (for `advx sql` and reports).
struct QueryResult {
  std::vector<std::string> column_names;
  std::vector<std::string> column_types;       // DuckDB type names, e.g. "BIGINT", "VARCHAR"
  std::vector<std::vector<std::string>> rows;  // [row][col] rendered as text
  std::vector<std::vector<uint8_t>> is_null;   // [row][col]
};

class DuckDbStore {
 public:
  // Opens (creating if needed, in read_write mode) the database file; ":memory:" for an in-memory store.
  // read_only additionally forbids external access (files, ATTACH, extensions). Throws StoreError.
  DuckDbStore(const std::string& path, StoreMode mode = StoreMode::read_write);
  ~DuckDbStore();
  DuckDbStore(const DuckDbStore&) = delete;
  DuckDbStore& operator=(const DuckDbStore&) = delete;

  // CREATE TABLE IF NOT EXISTS for every table of tables::kAll (with column comments).
  void ensure_schema();

  // Use these, not execute("BEGIN"), so the store knows when appended rows may stay buffered.
  void begin();
  void commit();
  void rollback();

  // Appends the selected rows of `slice` to its table. Throws StoreError. Inside begin()/commit() rows are
  // buffered per table and reach the transaction at commit() or before the next other statement; a failure
  // leaves the transaction for the caller to roll back. Outside a transaction a slice commits whole or not
  // at all.
  void append(const TableSlice& slice);

  // Runs SQL that returns no rows we need. Throws StoreError with DuckDB's message.
  void execute(std::string_view sql);

  // Runs a query and renders every value as text, as DuckDB's VARCHAR cast would (TIMESTAMPTZ in UTC).
  // Nested types (LIST, STRUCT, MAP, ...) are refused with a hint to cast them to VARCHAR.
  QueryResult query(std::string_view sql);

  // advx sql: refuses anything but read-only statements (SELECT, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE,
  // read-only PRAGMAs) with a StoreError saying which statement type was refused. Several statements may be
  // given; all are checked before any runs, and the last one's result is returned.
  QueryResult query_read_only(std::string_view sql);

  // Streams the dedup state table: fn(stream, key_hi, key_lo, event_time_us, payload_hash) per row.
  // fn must not use the store while the scan runs.
  void scan_dedup_state(const std::function<void(uint8_t, uint64_t, uint64_t, int64_t, uint64_t)>& fn);

  // Replaces a dimension table's content (inside the current transaction if one is open).
  void replace_table(const TableSlice& slice);

  // Interrupts the statement this connection is running (DuckDB's duckdb_interrupt): it fails with an
  // "Interrupted" StoreError. Callable from any thread while another uses the store; an interrupt that
  // arrives before a statement starts is lost (DuckDB clears it as each statement begins), so a caller
  // bounding a query repeats it until the query has returned (server/query_pool.hpp does).
  void interrupt();

  const std::string& path() const { return path_; }

  // Another connection to the same database, with transactions of its own: for a second writer thread.
  // This store must outlive it.
  std::unique_ptr<DuckDbStore> another_connection();

 private:
  explicit DuckDbStore(DuckDbStore& parent);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

}  // namespace advx
