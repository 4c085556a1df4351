// ClickHouseStore: advx's tables in ClickHouse (SPEC 3), over its HTTP interface, for 18.16 (Debian 12's
// package) and current releases alike. No multi-table transactions and no cheap UPDATE, so:
// - begin()/commit() is a micro-batch: appends are buffered per table and ClickHouse partition (the day)
//   and sent at commit() as one INSERT each (a block is atomic), tables in the order first appended, the
//   dedup state last. Every row carries its position (source, source_record); an append drops the rows
//   whose position its table already holds in that partition (the largest source_record per table,
//   partition and source, read once from the tables and kept up to date by the commits of every
//   connection), so a replay after a crash between two inserts stores each row once (docs/STORES.md).
//   This needs each source's rows appended in record order: callers with several writers keep one.
// - attribution writes new versions of the rows it changes (clicks, conversions, bid_requests,
//   campaign_hourly are ReplacingMergeTree tables read with FINAL), never UPDATEs.
// The SQL of each concern lives in its own file of this folder: clickhouse_store.cpp (connection, schema,
// writes, reads), clickhouse_attribution.cpp, clickhouse_reports.cpp, clickhouse_quality.cpp.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/clickhouse/clickhouse_http.hpp"
#include "store/store.hpp"

namespace advx {

class ClickHouseStore final : public Store {
 public:
  // Connects to clickhouse://[USER[:PASS]@]HOST:PORT/DB and, in read_write mode, creates DB when it is
  // missing. Throws StoreError (unavailable when the server cannot be reached: one line, for exit 1).
  explicit ClickHouseStore(const std::string& url, StoreMode mode = StoreMode::read_write);
  // The same, from a parsed URL (a shard of a cluster store, clickhouse_cluster.hpp).
  explicit ClickHouseStore(const clickhouse::Endpoint& endpoint, StoreMode mode = StoreMode::read_write);
  ~ClickHouseStore() override;

  const StoreGuarantees& guarantees() const override;
  std::string url() const override;
  std::string local_folder() const override { return ""; }

  void ensure_schema() override;
  std::unique_ptr<Store> another_connection() override;

  void set_memory_limit(const std::string& limit) override;  // max_memory_usage of every statement
  void set_checkpoint_threshold_mb(int64_t) override {}      // ClickHouse has no WAL to fold in
  void forbid_external_access() override;                    // read-only queries refuse table functions

  void begin() override;
  void commit() override;
  void rollback() override;
  void append(const TableSlice& slice) override;
  void replace_table(const TableSlice& slice) override;

  using Store::scan_dedup_state;
  void scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) override;
  ResultTable read_table(const TableDef& table) override;
  std::optional<int64_t> max_ingested_at() override;
  // From the rows' own positions: per `kafka:TOPIC/PARTITION` source, the offset after the largest
  // source_record in advx_dedup_state (written last in every micro-batch). save_kafka_positions() does
  // nothing: the positions are in the rows.
  std::vector<StoredKafkaOffset> kafka_positions(std::string_view topic = {}) override;
  void save_kafka_positions(std::span<const StoredKafkaOffset>, int64_t) override {}
  // Drops the cached replay positions of every table: the next append reads them from the server.
  void reload_positions() override;
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

  // readonly=1: ClickHouse refuses writes, settings and table functions (StoreErrorCode::refused).
  ResultTable query_read_only(std::string_view sql) override;
  void interrupt() override;

  // ClickHouse's own SQL, for this engine's files, tests and benchmarks. Table names are qualified with
  // the database by the caller (database()).
  void execute(std::string_view sql);
  ResultTable query(std::string_view sql);
  const std::string& database() const;
  clickhouse::HttpClient& client();
  // Settings every statement of this connection carries (max_memory_usage, ...), and one more of them
  // (the cluster store's distributed_product_mode).
  const clickhouse::Settings& settings() const;
  void set_setting(const std::string& name, const std::string& value);

 private:
  ClickHouseStore(const ClickHouseStore& parent, int);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx
