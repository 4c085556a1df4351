// ClickHouseClusterStore: the shards' stores, the routing of rows, the two-phase commit and the
// Distributed schema. clickhouse_cluster.hpp says what lives where; docs/STORES.md why.
#include "store/clickhouse/clickhouse_cluster.hpp"

#include <cstring>
#include <utility>

#include "store/clickhouse/clickhouse_attribution.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"

namespace advx {
namespace clickhouse {

uint64_t sip_hash64(std::string_view bytes) {
  // SipHash-2-4 (Aumasson and Bernstein) with k0 = k1 = 0, as ClickHouse's SipHash.h computes it.
  uint64_t v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL, v2 = 0x6c7967656e657261ULL,
           v3 = 0x7465646279746573ULL;
  const auto rotl = [](uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  const auto round = [&] {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  const size_t whole = n & ~size_t(7);
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t m = 0;
    for (int b = 0; b < 8; b++) m |= uint64_t(p[i + size_t(b)]) << (8 * b);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  uint64_t last = uint64_t(n) << 56;
  for (size_t j = 0; j < n - whole; j++) last |= uint64_t(p[whole + j]) << (8 * j);
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

ShardRoute shard_route(const TableDef& table) {
  const std::string_view n = table.name;
  if (n == tables::kImpressions.name || n == tables::kClicks.name || n == tables::kConversions.name ||
      n == tables::kBidRequests.name)
    return ShardRoute::by_user;
  if (n == tables::kRejects.name || n == tables::kDedupState.name) return ShardRoute::by_source;
  if (n == tables::kCampaigns.name || n == tables::kCreatives.name || n == tables::kAttributionPending.name)
    return ShardRoute::every_shard;
  if (n == tables::kHourlyCampaign.name || n == tables::kAttributionProgress.name)
    return ShardRoute::per_shard;
  return ShardRoute::first_shard;
}

std::string sharding_key_sql(const TableDef& table) {
  if (table.name == tables::kCampaigns.name || table.name == tables::kCreatives.name) return "";
  switch (shard_route(table)) {
    case ShardRoute::by_user:
      return "sipHash64(ifNull(user_id, ifNull(source, '')))";
    case ShardRoute::by_source:
      return "sipHash64(ifNull(source, ''))";
    default:
      return "0";
  }
}

std::string shard_database(std::string_view db) { return std::string(db) + "_shard"; }

}  // namespace clickhouse

namespace {

namespace ch = clickhouse;
using Code = StoreErrorCode;

std::string host_port(const ch::Endpoint& ep) {
  const std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  return host + ":" + std::to_string(ep.port);
}

std::unique_ptr<ClickHouseStore> as_clickhouse(std::unique_ptr<Store> s) {
  return std::unique_ptr<ClickHouseStore>(static_cast<ClickHouseStore*>(s.release()));
}

bool is_dimension(const TableDef& def) {
  return def.name == tables::kCampaigns.name || def.name == tables::kCreatives.name;
}

// The text of varchar column `c` at `row`, false when NULL (or no such column).
bool text_at(const TableSlice& slice, int c, uint32_t row, std::string_view* out) {
  if (c < 0) return false;
  const ColumnData& col = slice.columns[size_t(c)];
  if (!col.data || (col.valid && !col.valid[row])) return false;
  *out = static_cast<const std::string_view*>(col.data)[row];
  return true;
}

}  // namespace

struct ClickHouseClusterStore::Impl {
  ch::ClusterEndpoints eps;
  std::string db;        // the Distributed tables (and Views), on every server
  std::string shard_db;  // each shard's own tables
  StoreMode mode = StoreMode::read_write;
  std::vector<std::unique_ptr<ClickHouseStore>> data;   // per shard: events, rejects, debts, dimensions
  std::vector<std::unique_ptr<ClickHouseStore>> dedup;  // per shard: the dedup keys (the second phase)
  std::unique_ptr<ClickHouseStore> entry;               // the first server's DB: every read
  bool in_batch = false;

  size_t n() const { return data.size(); }
  ClickHouseStore& target(size_t i, const TableDef& def) {
    return def.name == tables::kDedupState.name ? *dedup[i] : *data[i];
  }

  // Every server's <remote_servers> has cluster `eps.cluster` with the URL's shards in the URL's order:
  // the same list on each (shard, address, port), and server i is shard i + 1 of it (the row with
  // is_local = 1 is the one with its own tcp_port). One line for the first disagreement.
  void check_cluster() {
    const std::string name = eps.cluster;
    std::string first_list;
    for (size_t i = 0; i < n(); i++) {
      const std::string where = host_port(eps.shards[i]);
      const ResultTable r = data[i]->query(
          "SELECT toInt64(shard_num) AS s, host_address AS h, toInt64(port) AS p, "
          "toInt64(is_local) AS l, toInt64(shard_weight) AS w FROM system.clusters WHERE cluster = " +
          ch::quote_string(name) + " ORDER BY shard_num, replica_num");
      if (r.rows() == 0)
        throw StoreError("ClickHouse at " + where + " has no cluster " + name + " in its <remote_servers>",
                         Code::invalid);
      std::string list;
      int64_t shards = 0, local = 0;
      for (size_t k = 0; k < r.rows(); k++) {
        const int64_t s = r.column("s").int_at(k);
        shards = std::max(shards, s);
        list += std::to_string(s) + "=" + r.column("h").texts[k] + ":" +
                std::to_string(r.column("p").int_at(k)) + " ";
        if (r.column("l").int_at(k) != 0) local = s;
        // Distributed sends a row to the shard of key % (sum of weights): advx routes by key % shards.
        if (r.column("w").int_at(k) != 1)
          throw StoreError("cluster " + name + " gives shard " + std::to_string(s) + " the weight " +
                               std::to_string(r.column("w").int_at(k)) + " in the <remote_servers> of " +
                               where + ": advx needs every shard's weight 1",
                           Code::invalid);
      }
      if (size_t(shards) != n())
        throw StoreError("cluster " + name + " has " + std::to_string(shards) +
                             " shards in the <remote_servers> of " + where + ", the URL lists " +
                             std::to_string(n()),
                         Code::invalid);
      if (i == 0) first_list = list;
      if (list != first_list)
        throw StoreError("cluster " + name + " differs between the <remote_servers> of " +
                             host_port(eps.shards[0]) + " and " + where,
                         Code::invalid);
      if (local == 0)
        throw StoreError("ClickHouse at " + where + " is no shard of cluster " + name +
                             " in its own <remote_servers> (none has its tcp_port)",
                         Code::invalid);
      if (size_t(local) != i + 1)
        throw StoreError("ClickHouse at " + where + " is shard " + std::to_string(local) + " of cluster " +
                             name + ", the URL lists it as shard " + std::to_string(i + 1) +
                             ": list the hosts in <remote_servers> order",
                         Code::invalid);
    }
  }

  // DB's tables are Distributed (or Views), not a single-server store's: one line if not.
  void check_layout(size_t i) {
    const ResultTable r =
        data[i]->query("SELECT name, engine FROM system.tables WHERE database = " + ch::quote_string(db));
    for (size_t k = 0; k < r.rows(); k++) {
      const std::string& table = r.column("name").texts[k];
      const std::string& engine = r.column("engine").texts[k];
      for (const TableDef* def : tables::kAll) {
        if (def->name != table) continue;
        const std::string want = ch::sharding_key_sql(*def).empty() ? "View" : "Distributed";
        if (engine != want)
          throw StoreError("ClickHouse at " + host_port(eps.shards[i]) + ": " + db + "." + table + " is a " +
                               engine + " table, not " + want + " (" + db +
                               " holds a single-server store: name another database)",
                           Code::invalid);
      }
    }
  }
};

ClickHouseClusterStore::ClickHouseClusterStore(const std::string& url, StoreMode mode)
    : impl_(std::make_unique<Impl>()) {
  impl_->eps = ch::parse_cluster_url(url);
  impl_->mode = mode;
  impl_->db = impl_->eps.shards[0].database;
  impl_->shard_db = ch::shard_database(impl_->db);
  for (const ch::Endpoint& ep : impl_->eps.shards) {
    ch::Endpoint local = ep;
    local.database = impl_->shard_db;
    impl_->data.push_back(std::make_unique<ClickHouseStore>(local, mode));
  }
  impl_->check_cluster();
  impl_->entry = std::make_unique<ClickHouseStore>(impl_->eps.shards[0], mode);
  // IN and JOIN subqueries of a query over Distributed tables that read Distributed tables themselves
  // (the reports' winning impressions, attributed impressions, converting users): built once on the
  // entry server and sent to every shard, so a set never misses rows another shard holds.
  impl_->entry->set_setting("distributed_product_mode", "global");
  for (auto& d : impl_->data) impl_->dedup.push_back(as_clickhouse(d->another_connection()));
}

ClickHouseClusterStore::ClickHouseClusterStore(const ClickHouseClusterStore& parent, int)
    : impl_(std::make_unique<Impl>()) {
  const Impl& p = *parent.impl_;
  impl_->eps = p.eps;
  impl_->mode = p.mode;
  impl_->db = p.db;
  impl_->shard_db = p.shard_db;
  for (const auto& d : p.data) {
    impl_->data.push_back(as_clickhouse(d->another_connection()));
    impl_->dedup.push_back(as_clickhouse(d->another_connection()));
  }
  impl_->entry = as_clickhouse(p.entry->another_connection());
}

ClickHouseClusterStore::~ClickHouseClusterStore() = default;

const StoreGuarantees& ClickHouseClusterStore::guarantees() const { return impl_->data[0]->guarantees(); }

std::string ClickHouseClusterStore::url() const {
  std::string out = "clickhouse://";
  if (!impl_->eps.shards[0].user.empty()) out += impl_->eps.shards[0].user + "@";
  for (size_t i = 0; i < impl_->n(); i++) out += (i ? "," : "") + host_port(impl_->eps.shards[i]);
  return out + "/" + impl_->db + "?cluster=" + impl_->eps.cluster;
}

void ClickHouseClusterStore::ensure_schema() {
  for (auto& d : impl_->data) d->ensure_schema();
  const std::string& db = impl_->db;
  for (size_t i = 0; i < impl_->n(); i++) {
    ClickHouseStore& s = *impl_->data[i];
    s.execute(ch::create_database_sql(db));
    impl_->check_layout(i);
    for (const TableDef* def : tables::kAll) {
      const std::string local = ch::quote_ident(impl_->shard_db) + "." + ch::quote_ident(def->name);
      const std::string mine = ch::quote_ident(db) + "." + ch::quote_ident(def->name);
      const std::string key = ch::sharding_key_sql(*def);
      if (key.empty()) {
        // A full copy on every shard: each server reads its own, also inside a query sent to it.
        s.execute("CREATE VIEW IF NOT EXISTS " + mine + " AS SELECT * FROM " + local);
      } else {
        s.execute("CREATE TABLE IF NOT EXISTS " + mine + " AS " + local + " ENGINE = Distributed(" +
                  ch::quote_string(impl_->eps.cluster) + ", " + ch::quote_string(impl_->shard_db) + ", " +
                  ch::quote_string(def->name) + ", " + key + ")");
      }
    }
  }
}

std::unique_ptr<Store> ClickHouseClusterStore::another_connection() {
  return std::unique_ptr<Store>(new ClickHouseClusterStore(*this, 0));
}

void ClickHouseClusterStore::set_memory_limit(const std::string& limit) {
  for (auto& d : impl_->data) d->set_memory_limit(limit);
  for (auto& d : impl_->dedup) d->set_memory_limit(limit);
  impl_->entry->set_memory_limit(limit);
}

void ClickHouseClusterStore::begin() {
  if (impl_->in_batch) throw StoreError("clickhouse: begin() inside an open micro-batch", Code::invalid);
  for (auto& d : impl_->data) d->begin();
  for (auto& d : impl_->dedup) d->begin();
  impl_->in_batch = true;
}

void ClickHouseClusterStore::commit() {
  if (!impl_->in_batch) throw StoreError("clickhouse: commit() without begin()", Code::invalid);
  impl_->in_batch = false;
  // Every shard's rows, rejects and debts, then every shard's dedup keys: a key stored (on the shard of
  // its source) says its record's rows are stored on the shards of their users. A crash between any two
  // inserts leaves, on each shard and table, a prefix of each source's rows (the replay skips it) and no
  // key of a record whose rows are missing.
  try {
    for (auto& d : impl_->data) d->commit();
    for (auto& d : impl_->dedup) d->commit();
  } catch (...) {
    rollback();  // the shards not reached yet drop their part of the batch: the caller replays it
    throw;
  }
}

void ClickHouseClusterStore::rollback() {
  impl_->in_batch = false;
  for (auto& d : impl_->data) d->rollback();
  for (auto& d : impl_->dedup) d->rollback();
}

size_t ClickHouseClusterStore::shard_of(const TableSlice& slice, uint32_t row) const {
  const ch::ShardRoute route = ch::shard_route(*slice.def);
  if (route != ch::ShardRoute::by_user && route != ch::ShardRoute::by_source) return 0;
  const int user = route == ch::ShardRoute::by_user ? tables::column_index(*slice.def, "user_id") : -1;
  const int source = tables::column_index(*slice.def, "source");
  std::string_view key;
  if (!text_at(slice, user, row, &key) && !text_at(slice, source, row, &key)) key = {};
  return size_t(ch::sip_hash64(key) % impl_->n());
}

void ClickHouseClusterStore::append(const TableSlice& slice) {
  if (!slice.def) throw StoreError("clickhouse: append: slice has no table", Code::invalid);
  const TableDef& def = *slice.def;
  const ch::ShardRoute route = ch::shard_route(def);
  if (route == ch::ShardRoute::every_shard) {
    for (size_t i = 0; i < impl_->n(); i++) impl_->target(i, def).append(slice);
    return;
  }
  if ((route != ch::ShardRoute::by_user && route != ch::ShardRoute::by_source) || impl_->n() == 1) {
    impl_->target(0, def).append(slice);
    return;
  }
  if (slice.columns.size() != def.columns.size()) {
    impl_->target(0, def).append(slice);  // ClickHouseStore says what is wrong
    return;
  }
  for (size_t i = 0; slice.sel && i < slice.sel_count; i++)
    if (slice.sel[i] >= slice.rows) {
      impl_->target(0, def).append(slice);
      return;
    }
  // The rows by shard, in their order. The key is hashed as sipHash64 of the Distributed tables' key;
  // a source repeats from row to row, so its hash is kept at hand.
  const int user = route == ch::ShardRoute::by_user ? tables::column_index(def, "user_id") : -1;
  const int source = tables::column_index(def, "source");
  if (user >= 0 && def.columns[size_t(user)].type != ColumnType::varchar)
    throw StoreError("clickhouse: " + std::string(def.name) + ".user_id is not text", Code::internal);
  if (source >= 0 && def.columns[size_t(source)].type != ColumnType::varchar)
    throw StoreError("clickhouse: " + std::string(def.name) + ".source is not text", Code::internal);
  std::vector<std::vector<uint32_t>> rows(impl_->n());
  std::string_view last_source;
  size_t last_shard = 0;
  bool have_last = false;
  const size_t count = slice.count();
  for (size_t k = 0; k < count; k++) {
    const uint32_t r = uint32_t(slice.row(k));
    std::string_view key;
    size_t shard = 0;
    if (text_at(slice, user, r, &key)) {
      shard = size_t(ch::sip_hash64(key) % impl_->n());
    } else {
      if (!text_at(slice, source, r, &key)) key = {};
      if (!have_last || key != last_source) {
        last_source = key;
        last_shard = size_t(ch::sip_hash64(key) % impl_->n());
        have_last = true;
      }
      shard = last_shard;
    }
    rows[shard].push_back(r);
  }
  for (size_t i = 0; i < impl_->n(); i++) {
    if (rows[i].empty()) continue;
    TableSlice part = slice;
    part.sel = rows[i].data();
    part.sel_count = rows[i].size();
    impl_->target(i, def).append(part);
  }
}

void ClickHouseClusterStore::replace_table(const TableSlice& slice) {
  for (auto& d : impl_->data) d->replace_table(slice);
}

void ClickHouseClusterStore::scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) {
  // system.parts is per server: each shard pages through its own keys.
  for (auto& d : impl_->data) d->scan_dedup_state(scope, fn);
}

ResultTable ClickHouseClusterStore::read_table(const TableDef& table) {
  if (!is_dimension(table))
    throw StoreError(
        "clickhouse: a cluster reads whole tables only for the dimensions, not " + std::string(table.name),
        Code::invalid);
  return impl_->data[0]->read_table(table);
}

std::optional<int64_t> ClickHouseClusterStore::max_ingested_at() { return impl_->entry->max_ingested_at(); }

std::vector<StoredKafkaOffset> ClickHouseClusterStore::kafka_positions(std::string_view topic) {
  // Over the Distributed dedup state: a partition's keys are all on the shard of its source.
  return impl_->entry->kafka_positions(topic);
}

void ClickHouseClusterStore::reload_positions() {
  for (auto& d : impl_->data) d->reload_positions();
  for (auto& d : impl_->dedup) d->reload_positions();
}

std::vector<KafkaClaim> ClickHouseClusterStore::claim_kafka_partitions(
    std::span<const std::pair<std::string, int32_t>> partitions, std::string_view member,
    int64_t claimed_at_us) {
  return impl_->data[0]->claim_kafka_partitions(partitions, member, claimed_at_us);
}

std::vector<KafkaClaim> ClickHouseClusterStore::kafka_claims() { return impl_->data[0]->kafka_claims(); }

void ClickHouseClusterStore::owe_attribution(int64_t ingested_at_us) {
  // Every shard owes a pass: its own rows, and its bid requests that impressions on other shards name.
  for (auto& d : impl_->data) d->owe_attribution(ingested_at_us);
}

AttributionResult ClickHouseClusterStore::attribute_pending(const AttributionWindows& windows) {
  AttributionResult sum;
  for (auto& d : impl_->data) {
    const AttributionResult r = ch::attribute_pending(d->client(), impl_->shard_db, windows, d->settings(),
                                                      ch::AttributionStop::never, 0, impl_->db);
    sum.pairs += r.pairs;
    sum.clicks += r.clicks;
    sum.conversions += r.conversions;
  }
  return sum;
}

ResultTable ClickHouseClusterStore::report(const ReportRequest& request) {
  return impl_->entry->report(request);
}

ResultTable ClickHouseClusterStore::quality_counts(Stream stream, int64_t from_us, int64_t to_us,
                                                   ArrivalClock clock, int64_t bucket_us) {
  return impl_->entry->quality_counts(stream, from_us, to_us, clock, bucket_us);
}

std::optional<std::pair<int64_t, int64_t>> ClickHouseClusterStore::event_time_extent() {
  return impl_->entry->event_time_extent();
}

TableExportStats ClickHouseClusterStore::export_table(const ExportTableSpec& spec, const std::string& dir,
                                                      const ExportRange& range) {
  return impl_->entry->export_table(spec, dir, range);
}

ResultTable ClickHouseClusterStore::query_read_only(std::string_view sql) {
  return impl_->entry->query_read_only(sql);
}

void ClickHouseClusterStore::interrupt() {
  impl_->entry->interrupt();
  for (auto& d : impl_->data) d->interrupt();
  for (auto& d : impl_->dedup) d->interrupt();
}

size_t ClickHouseClusterStore::shards() const { return impl_->n(); }
ClickHouseStore& ClickHouseClusterStore::shard(size_t i) { return *impl_->data.at(i); }
ClickHouseStore& ClickHouseClusterStore::entry() { return *impl_->entry; }
const std::string& ClickHouseClusterStore::cluster() const { return impl_->eps.cluster; }

}  // namespace advx
