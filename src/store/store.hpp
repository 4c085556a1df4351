// Store: where advx keeps its tables (SPEC 3), as one interface over every engine. The pipeline, the
// stream engine, attribution, reports, the monitor, export, the server and the CLI see only this; an
// engine (store/duckdb/, store/clickhouse/) holds all of its own SQL.
//
// A store states what it guarantees (StoreGuarantees), and the callers choose their mechanics from that,
// never from the engine's name: with atomic multi-table commits, the rows of a batch, its dedup keys and
// its Kafka offsets commit in one transaction; without them, every row carries the position it came from
// and each table skips, on replay, the positions it already holds (docs/STORES.md).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/stream.hpp"
#include "core/table_schema.hpp"
#include "store/report_request.hpp"
#include "store/result.hpp"

namespace advx {

struct TableSlice;

// What went wrong, for callers that act on it (retry, answer 503, refuse) and for tests, which check codes.
enum class StoreErrorCode : uint8_t {
  unavailable,  // cannot reach the store, or it is shutting down: try again later
  interrupted,  // interrupt() or a time limit ended the statement
  refused,      // not allowed here: a write through a read-only query, a table function, a setting
  not_found,    // no such database file, table or column
  invalid,      // the statement or the request is wrong (syntax, types, a bad URL)
  internal,     // anything else the engine reports (disk full, constraint, out of memory)
};

std::string_view store_error_code_name(StoreErrorCode code);

// Store failures end the operation: they are exceptions (a bad record is data, never a StoreError).
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& what, StoreErrorCode code = StoreErrorCode::internal)
      : std::runtime_error(what), code_(code) {}
  StoreErrorCode code() const { return code_; }

 private:
  StoreErrorCode code_;
};

enum class StoreMode : uint8_t { read_write, read_only };

struct StoreGuarantees {
  // Rows appended to several tables between begin() and commit() become visible together or not at all,
  // across a crash too. Without it, each append is atomic on its own (per table and per partition).
  bool atomic_multi_table_commit = false;
  // Rows can be changed in place cheaply (UPDATE/DELETE): attribution rewrites clicks and conversions.
  // Without it, a change is a new version of the row that replaces the old one when read.
  bool updates = false;
  // interrupt() ends a running statement from another thread.
  bool interruptible = false;
  // The store lives in a local folder (spill files of the dedup index may go beside it).
  bool local = false;
};

// Attribution (SPEC 2.6) windows, and what one pass recomputed.
struct AttributionWindows {
  int64_t click_us = 3600LL * 1'000'000;                   // click -> impression, default 1 h
  int64_t click_through_us = 7 * 24 * 3600LL * 1'000'000;  // conversion -> click, default 7 days
  int64_t view_through_us = 24 * 3600LL * 1'000'000;       // conversion -> impression, default 1 day
};

struct AttributionResult {
  uint64_t pairs = 0;        // (user, campaign) pairs with clicks or conversions recomputed
  uint64_t clicks = 0;       // clicks whose attribution was recomputed
  uint64_t conversions = 0;  // conversions whose attribution was recomputed
};

// The arrival clock of the data-quality signals (monitor/quality_frame.hpp explains both).
enum class ArrivalClock : uint8_t {
  ingested_at,  // the rows' ingested_at (advx serve)
  file_order,   // rebuilt from the order rows were read (advx check over batch-ingested files)
};

// How one table is exported to Parquet (docs/EXPORT.md).
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

// The next Kafka offset to read of one partition, as the store holds it.
struct StoredKafkaOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
};

// Which keys scan_dedup_state() reads. Everything, by default. A fleet worker (docs/FLEET.md) holds the
// keys of the Kafka partitions it is assigned and of every source that is not Kafka: `kafka_sources` then
// lists the kafka:TOPIC/PARTITION sources to read, and keys of the other kafka: sources are left out.
struct DedupScope {
  bool all = true;
  std::vector<std::string> kafka_sources;
  static DedupScope of_kafka_sources(std::vector<std::string> sources) { return {false, std::move(sources)}; }
};

// A fleet worker's claim of a Kafka partition (docs/FLEET.md, "Fencing"): the member that claimed it last,
// with the highest epoch, owns it; any other member's batch of that partition is refused.
struct KafkaClaim {
  std::string topic;
  int32_t partition = 0;
  int64_t epoch = 0;
  std::string member;
};

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  virtual const StoreGuarantees& guarantees() const = 0;
  // The store's URL, for messages and summaries: duckdb:advx.duckdb, clickhouse://host:port/db.
  virtual std::string url() const = 0;
  // A local folder for files that go beside the store (the dedup index's spill), or "" for none.
  virtual std::string local_folder() const = 0;

  // Creates every table of tables::kAll that is missing (with column comments).
  virtual void ensure_schema() = 0;

  // Another connection to the same store, with transactions of its own: for another thread. This store
  // must outlive it.
  virtual std::unique_ptr<Store> another_connection() = 0;

  // Resource limits: the memory a connection may use (e.g. "2GB"); how much write-ahead log a store with
  // one may gather before it folds it in (MB); whether queries may reach files or the network. An engine
  // without such a knob ignores it.
  virtual void set_memory_limit(const std::string& limit) = 0;
  virtual void set_checkpoint_threshold_mb(int64_t mb) = 0;
  virtual void forbid_external_access() = 0;

  // Transactions. On a store without atomic_multi_table_commit, begin() opens a micro-batch whose appends
  // are written at commit(), one insert per table and partition; a failure in commit() may leave some of
  // them stored, which the rows' positions make safe to repeat.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;

  // Appends the selected rows of `slice` to its table (inside begin()/commit(), or committed on its own).
  virtual void append(const TableSlice& slice) = 0;
  // Replaces a dimension table's content.
  virtual void replace_table(const TableSlice& slice) = 0;

  // The dedup state: fn(stream, key_hi, key_lo, event_time_us, payload_hash) per stored key of `scope`. fn
  // must not use the store while the scan runs.
  using DedupKeyFn = std::function<void(uint8_t, uint64_t, uint64_t, int64_t, uint64_t)>;
  virtual void scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) = 0;
  void scan_dedup_state(const DedupKeyFn& fn) { scan_dedup_state(DedupScope{}, fn); }

  // Every row of a table, all columns in schema order (the dimension tables).
  virtual ResultTable read_table(const TableDef& table) = 0;

  // The latest ingested_at of any event row, or nullopt when there is none.
  virtual std::optional<int64_t> max_ingested_at() = 0;

  // Kafka offsets. On a store with atomic_multi_table_commit they are kept in advx_kafka_offsets, written
  // by save_kafka_positions() in the transaction of the rows they follow. `topic` empty = all topics.
  virtual std::vector<StoredKafkaOffset> kafka_positions(std::string_view topic = {}) = 0;
  virtual void save_kafka_positions(std::span<const StoredKafkaOffset> positions, int64_t ingested_at_us) = 0;

  // Fleet (docs/FLEET.md). A store that caches what its tables hold (the ClickHouse store's replay
  // positions) reads it again from the tables before its next append: another worker may have written
  // to a partition this one was just assigned.
  virtual void reload_positions() {}
  // Records that `member` owns `partitions` from now on: each gets an epoch above every one claimed for
  // it before (outside any micro-batch; committed on its own). Returns the claims written.
  virtual std::vector<KafkaClaim> claim_kafka_partitions(
      std::span<const std::pair<std::string, int32_t>> partitions, std::string_view member,
      int64_t claimed_at_us) = 0;
  // The latest claim (highest epoch) of every partition ever claimed.
  virtual std::vector<KafkaClaim> kafka_claims() = 0;

  // Attribution (SPEC 2.6, correlate/attribution.hpp). owe_attribution() records, in the current
  // transaction, that the rows stored with `ingested_at_us` still need attribution. attribute_pending()
  // attributes the (user, campaign) pairs touched by every row owed attribution, marks the bid requests
  // named by impressions as won, rebuilds the touched hours of the rollup and clears those debts; it does
  // nothing when nothing is owed.
  virtual void owe_attribution(int64_t ingested_at_us) = 0;
  virtual AttributionResult attribute_pending(const AttributionWindows& windows) = 0;

  // The reports of `advx report` (SPEC 2.7, docs/REPORTS.md); the columns are described there.
  virtual ResultTable report(const ReportRequest& request) = 0;

  // The data-quality counts of one stream (monitor/quality_frame.hpp) over the arrival-clock buckets
  // [from_us, to_us): one row per (minute, lag bucket) with the stream's counts and one per (minute,
  // campaign). Columns: minute (µs), bucket (-1 for rejects), campaign_id, by_bucket (1/0), stored,
  // rejected, filtered, unknown, auction_named, auction_unknown, auction_won, clicks, orphan_clicks,
  // conversions, max_lag_s.
  virtual ResultTable quality_counts(Stream stream, int64_t from_us, int64_t to_us, ArrivalClock clock,
                                     int64_t bucket_us) = 0;
  // The 0.1th and 99.9th percentile of the stored event times, each floored to the minute; nullopt when no
  // events are stored.
  virtual std::optional<std::pair<int64_t, int64_t>> event_time_extent() = 0;

  // Writes a table's rows in `range` as Hive-partitioned Parquet under `dir` (docs/EXPORT.md).
  virtual TableExportStats export_table(const ExportTableSpec& spec, const std::string& dir,
                                        const ExportRange& range) = 0;

  // advx sql: runs read-only statements only (the engine refuses writes, settings, file and network
  // access with StoreErrorCode::refused); with several statements, the last one's result.
  virtual ResultTable query_read_only(std::string_view sql) = 0;

  // Ends the statement this connection is running, from any thread (StoreErrorCode::interrupted). An
  // interrupt that arrives before a statement starts may be lost: a caller bounding a query repeats it
  // until the query has returned (server/query_pool.hpp does).
  virtual void interrupt() = 0;
};

}  // namespace advx
