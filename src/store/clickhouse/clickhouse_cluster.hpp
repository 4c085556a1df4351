// ClickHouseClusterStore: advx's tables on a sharded ClickHouse (issue 13; docs/STORES.md, "Sharded
// ClickHouse"), for 18.16 and current releases alike, without ZooKeeper (no replicated tables, no ON
// CLUSTER):
// - every shard is a complete single-server store for its users: database DB_shard on shard i holds the
//   tables exactly as ClickHouseStore makes them, and a ClickHouseStore on clickhouse://HOSTi/DB_shard
//   writes them (micro-batches, replay positions, attribution) unchanged;
// - database DB on every server holds, under the same names, Distributed tables over the shards' tables
//   (reads: reports, quality, export, advx sql; users' own inserts), and Views of the local copy of the
//   dimension tables, which every shard holds whole;
// - advx routes its rows itself, synchronously into the shard's own table: events by user_id (so a
//   user's impressions, clicks and conversions are on one shard and attribution stays local), rows
//   without one, rejects and the dedup state by source (so one Kafka partition's keys, hence its
//   position, are one insert on one shard), with shard_of() = the Distributed tables' sharding key;
// - commit() writes every shard's event rows, rejects and debts first, then every shard's dedup keys:
//   a key stored still says its record's rows are stored, on whichever shards they went to.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/clickhouse/clickhouse_http.hpp"
#include "store/clickhouse/clickhouse_store.hpp"
#include "store/store.hpp"

namespace advx {

namespace clickhouse {

// ClickHouse's sipHash64 of a String: SipHash-2-4 with a zero key, the 64-bit result.
uint64_t sip_hash64(std::string_view bytes);

// How a table's rows are spread over the shards.
enum class ShardRoute : uint8_t {
  by_user,      // sipHash64(ifNull(user_id, ifNull(source, ''))): the event tables
  by_source,    // sipHash64(ifNull(source, '')): rejects, the dedup state
  every_shard,  // a full copy on each: campaigns, creatives; the attribution debts (each shard's pass)
  first_shard,  // global bookkeeping on the first shard: Kafka claims (and offsets, unused here)
  per_shard,    // written by each shard's own attribution pass: the rollup, the attribution progress
};
ShardRoute shard_route(const TableDef& table);
// The sharding key of the table's Distributed table (the SQL expression), or "" for the dimension tables
// (Views of the local copy). A key of 0 sends a user's insert to the first shard.
std::string sharding_key_sql(const TableDef& table);
// The database of the shards' own tables: DB_shard.
std::string shard_database(std::string_view db);

}  // namespace clickhouse

class ClickHouseClusterStore final : public Store {
 public:
  // Connects to clickhouse://[USER[:PASS]@]HOST1:PORT1,HOST2:PORT2/DB?cluster=NAME, makes DB and DB_shard
  // on every server (read_write), and checks that every server's <remote_servers> has cluster NAME with
  // these shards in this order (system.clusters). Throws StoreError with one line.
  explicit ClickHouseClusterStore(const std::string& url, StoreMode mode = StoreMode::read_write);
  ~ClickHouseClusterStore() override;

  const StoreGuarantees& guarantees() const override;
  std::string url() const override;
  std::string local_folder() const override { return ""; }

  void ensure_schema() override;
  std::unique_ptr<Store> another_connection() override;

  void set_memory_limit(const std::string& limit) override;
  void set_checkpoint_threshold_mb(int64_t) override {}
  void forbid_external_access() override {}

  void begin() override;
  void commit() override;
  void rollback() override;
  void append(const TableSlice& slice) override;
  void replace_table(const TableSlice& slice) override;

  using Store::scan_dedup_state;
  void scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) override;
  // The dimension tables (the first shard's copy). Any other table: StoreError (invalid).
  ResultTable read_table(const TableDef& table) override;
  std::optional<int64_t> max_ingested_at() override;
  std::vector<StoredKafkaOffset> kafka_positions(std::string_view topic = {}) override;
  void save_kafka_positions(std::span<const StoredKafkaOffset>, int64_t) override {}
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
  ResultTable query_read_only(std::string_view sql) override;
  void interrupt() override;

  // For tests and tools: the number of shards, shard i's store (its DB_shard), the entry point's store
  // (DB, the Distributed tables), and which shard a row of `table` goes to.
  size_t shards() const;
  ClickHouseStore& shard(size_t i);
  ClickHouseStore& entry();
  const std::string& cluster() const;
  size_t shard_of(const TableSlice& slice, uint32_t row) const;

 private:
  ClickHouseClusterStore(const ClickHouseClusterStore& parent, int);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx
