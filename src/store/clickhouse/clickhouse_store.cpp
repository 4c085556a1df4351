// ClickHouseStore: the connection, the schema, the micro-batch writes with their replay skip, and the
// reads (dedup state, dimension tables, ingest and Kafka positions, advx sql). clickhouse_store.hpp says
// why the mechanics are what they are; what 18.16 accepts is noted where it decided something.
#include "store/clickhouse/clickhouse_store.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

#include "core/crash_point.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"
#include "store/clickhouse/row_binary.hpp"

namespace advx {
namespace {

namespace ch = clickhouse;
using Code = StoreErrorCode;

// replace_table() fills a table of this name beside the real one, then swaps the two by RENAME.
constexpr std::string_view kFreshSuffix = "__advx_new";
constexpr std::string_view kStaleSuffix = "__advx_old";
// ClickHouse's default max_insert_block_size: an insert of more rows is cut into several blocks, each
// atomic on its own, unless the insert raises the setting (it does: one insert, one block, one part).
constexpr size_t kInsertBlockRows = 1'048'576;
// scan_dedup_state() reads at most about this many keys a statement: the server holds a whole result
// (wait_end_of_query=1) and so does the client, 33 bytes a key in RowBinary.
constexpr uint64_t kScanChunkRows = 1'000'000;
// One dedup key as scan_dedup_state() selects it in RowBinary: UInt8, UInt64, UInt64, Int64, UInt64.
constexpr size_t kScanRowBytes = 1 + 8 + 8 + 8 + 8;

std::string qualified(std::string_view db, std::string_view table) {
  return ch::quote_ident(db) + "." + ch::quote_ident(table);
}

std::string host_port(const ch::Endpoint& ep) {
  const std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
  return host + ":" + std::to_string(ep.port);
}

// The key (split_by_partition()'s) of the partition the server names `id`: a Date partition is named
// YYYYMMDD, an integer one by its value, the single partition `all`. False for a name the rule cannot give
// (a table laid out otherwise than clickhouse_schema.cpp says).
bool partition_key(ch::PartitionRule rule, std::string_view id, int64_t* key) {
  if (rule == ch::PartitionRule::single) {
    *key = 0;
    return id == "all";
  }
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  if (ec != std::errc() || p != id.data() + id.size()) return false;
  if (rule == ch::PartitionRule::micros_day) {
    *key = v;
    return true;
  }
  if (id.size() != 8 || v < 0) return false;
  *key = days_from_civil(v / 10000, unsigned(v / 100 % 100), unsigned(v % 100));
  return true;
}

// DuckDB's memory_limit forms ("256MB", "1GB", "2GiB", "512 KiB", "1.5GB", "none"), as bytes for
// ClickHouse's max_memory_usage; 0 is ClickHouse's "no limit". KB, MB, ... are powers of 1000 and KiB, MiB,
// ... of 1024, as DuckDB reads them.
uint64_t memory_limit_bytes(const std::string& limit) {
  std::string t;
  for (char c : limit)
    if (!std::isspace(static_cast<unsigned char>(c))) t += char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "none" || t == "-1") return 0;
  double number = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), number);
  const std::string_view unit(p, size_t(t.data() + t.size() - p));
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},         {"b", 1},           {"byte", 1},           {"bytes", 1},
      {"k", 1e3},      {"kb", 1e3},        {"kilobyte", 1e3},     {"kilobytes", 1e3},
      {"m", 1e6},      {"mb", 1e6},        {"megabyte", 1e6},     {"megabytes", 1e6},
      {"g", 1e9},      {"gb", 1e9},        {"gigabyte", 1e9},     {"gigabytes", 1e9},
      {"t", 1e12},     {"tb", 1e12},       {"terabyte", 1e12},    {"terabytes", 1e12},
      {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  if (ec == std::errc() && number >= 0 && !t.empty() && t[0] != '-')
    for (const auto& [name, factor] : kUnits)
      if (unit == name) {
        const double bytes = std::floor(number * factor);
        if (bytes < 18e18) return uint64_t(bytes);
      }
  throw StoreError("bad memory limit \"" + limit + "\" (expected e.g. 256MB, 1GB or 2GiB)", Code::invalid);
}

// The columns where a table's rows keep their position, or -1 when it has none (dimension tables, the
// rollup, the bookkeeping tables): those are never filtered on replay.
struct PositionColumns {
  int source = -1;
  int record = -1;
  bool present() const { return source >= 0 && record >= 0; }
};

PositionColumns position_columns(const TableDef& def) {
  PositionColumns p{tables::column_index(def, "source"), tables::column_index(def, "source_record")};
  if (!p.present() || def.columns[size_t(p.source)].type != ColumnType::varchar ||
      def.columns[size_t(p.record)].type != ColumnType::ubigint)
    return {};
  return p;
}

// The largest source_record per source. Lookups keep the last source at hand: a slice's rows nearly
// always share their source, so most rows cost one string compare, not a map lookup.
using RecordBySource = std::map<std::string, uint64_t, std::less<>>;

void raise_record(RecordBySource& m, std::string_view source, uint64_t record) {
  auto it = m.find(source);
  if (it == m.end())
    m.emplace(std::string(source), record);
  else if (it->second < record)
    it->second = record;
}

// Positions every connection of one store shares: per table, partition and source, the largest
// source_record the table holds there. Read once per table from the server; raised by each insert that
// succeeded; read again after an insert failed (it may have been stored all the same), merged by max, so
// a reload that raced with another connection's insert can never lower a position.
// Sources of HTTP request bodies (server/http_server.cpp names them http:PATH#body:HASH), and how far back
// a restart looks for their positions.
constexpr std::string_view kHttpSourcePrefix = "http:";
constexpr int64_t kHttpReplayWindowUs = 3600LL * 1'000'000;

struct Watermarks {
  struct Table {
    bool loaded = false;
    std::map<int64_t, RecordBySource> by_partition;
  };
  std::mutex mutex;
  std::map<std::string, Table, std::less<>> tables;
};

// One INSERT of a micro-batch: a table's rows of one partition, as RowBinary.
struct PendingInsert {
  const TableDef* def = nullptr;
  int64_t partition = 0;
  std::string rows;
  size_t count = 0;
  RecordBySource max_record;  // what the table holds once the insert succeeded
};

// DuckDB's BLOB text (duckdb_text.cpp): printable ASCII as is, anything else, quotes and backslash as
// \xHH, so a blob reads the same from either store.
std::string duckdb_blob_text(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (const unsigned char c : bytes) {
    const bool plain = c >= 32 && c <= 126 && c != '\\' && c != '\'' && c != '"';
    if (plain) {
      out += char(c);
      continue;
    }
    out.append("\\x").append(1, kHex[c >> 4]).append(1, kHex[c & 0xF]);
  }
  return out;
}

// The ValueType ClickHouse's TabSeparated result gives a stored column of this schema type (and the
// scale of a decimal), before retyping.
std::pair<ValueType, uint8_t> clickhouse_read_type(ColumnType t) {
  switch (t) {
    case ColumnType::varchar:
    case ColumnType::blob:
      return {ValueType::text, 0};
    case ColumnType::boolean:
    case ColumnType::utinyint:
    case ColumnType::integer:
    case ColumnType::bigint:
    case ColumnType::timestamp:  // NAME_us, Int64
      return {ValueType::integer, 0};
    case ColumnType::ubigint:
      return {ValueType::decimal, 0};
    case ColumnType::double_:
      return {ValueType::real, 0};
    case ColumnType::date:
      return {ValueType::date, 0};
    case ColumnType::money:
      return {ValueType::decimal, 12};
  }
  return {ValueType::other, 0};
}

// A stored column as read from ClickHouse, retyped to what DuckDB's store gives for the schema type:
// the schema's name (a timestamp's NAME_us becomes NAME), DuckDB's type name, booleans as booleans,
// blobs in DuckDB's text, so both stores format the same rows to the same bytes.
void retype_column(ResultColumn& col, std::string_view table, const ColumnDef& def) {
  const auto [want, scale] = clickhouse_read_type(def.type);
  if (col.type != want || col.scale != scale)
    throw StoreError("clickhouse: " + std::string(table) + "." + col.name + " is " + col.engine_type +
                         ", not what advx stores a " + std::string(sql_type_name(def.type)) +
                         " as (a table from another advx version?)",
                     Code::internal);
  col.name = std::string(def.name);
  col.engine_type = std::string(sql_type_name(def.type));
  switch (def.type) {
    case ColumnType::boolean:
      col.type = ValueType::boolean;
      break;
    case ColumnType::timestamp:
      col.type = ValueType::timestamp;
      break;
    case ColumnType::blob:
      col.type = ValueType::other;
      for (size_t r = 0; r < col.size(); r++)
        if (!col.is_null(r)) col.texts[r] = duckdb_blob_text(col.texts[r]);
      break;
    default:
      break;  // the value type already is DuckDB's: integer, decimal, real, date, text
  }
}

// The statements of an advx sql text, split at top-level semicolons: ClickHouse's HTTP interface runs one
// statement a request. Quotes ('…', "…", `…`, with backslash escapes and doubled quotes) and comments
// (--, /* */) are skipped; statements holding nothing but blanks and comments are dropped.
std::vector<std::string_view> split_statements(std::string_view sql) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool content = false;
  const auto flush = [&](size_t end) {
    if (content) out.push_back(sql.substr(start, end - start));
    start = end + 1;
    content = false;
  };
  for (size_t i = 0; i < sql.size(); i++) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      content = true;
      for (i++; i < sql.size(); i++) {
        if (sql[i] == '\\') {
          i++;
        } else if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c) {
            i++;
            continue;
          }
          break;
        }
      }
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const size_t nl = sql.find('\n', i);
      i = nl == std::string_view::npos ? sql.size() : nl;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const size_t e = sql.find("*/", i + 2);
      i = e == std::string_view::npos ? sql.size() : e + 1;
    } else if (c == ';') {
      flush(i);
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      content = true;
    }
  }
  flush(sql.size());
  return out;
}

// The first keyword of a statement, upper case, past blanks and comments ("" when it has none).
std::string first_word(std::string_view statement) {
  size_t i = 0;
  while (i < statement.size()) {
    if (std::isspace(static_cast<unsigned char>(statement[i]))) {
      i++;
    } else if (statement.substr(i, 2) == "--") {
      const size_t nl = statement.find('\n', i);
      i = nl == std::string_view::npos ? statement.size() : nl;
    } else if (statement.substr(i, 2) == "/*") {
      const size_t e = statement.find("*/", i + 2);
      i = e == std::string_view::npos ? statement.size() : e + 2;
    } else {
      break;
    }
  }
  std::string word;
  for (; i < statement.size() && std::isalpha(static_cast<unsigned char>(statement[i])); i++)
    word += char(std::toupper(static_cast<unsigned char>(statement[i])));
  return word;
}

// The inclusive event_time range of dedup partition `key`: intDiv(event_time, 86400000000) rounds toward
// zero, so day 0 spans both sides of the epoch. A range on event_time itself lets 18.16 skip the other
// partitions' parts by their min/max index (a condition on _partition_id would read every part).
std::pair<int64_t, int64_t> micros_day_range(int64_t key) {
  constexpr int64_t d = kMicrosPerDay;
  if (key > 0) return {key * d, (key + 1) * d - 1};
  if (key < 0) return {(key - 1) * d + 1, key * d};
  return {-(d - 1), d - 1};
}

template <class T>
T read_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

struct ClickHouseStore::Impl {
  ch::Endpoint endpoint;
  StoreMode mode = StoreMode::read_write;
  std::unique_ptr<ch::HttpClient> client;
  ch::Settings settings;
  std::shared_ptr<Watermarks> marks;

  // The open micro-batch: inserts by (table, partition), the tables in the order first appended, and the
  // dimension tables replaced in it.
  bool in_batch = false;
  std::vector<const TableDef*> table_order;
  std::map<std::pair<std::string, int64_t>, PendingInsert> inserts;
  std::map<std::string, std::pair<const TableDef*, std::string>> replacements;
  // Event rows an append dropped because their table held them already (a replay after a crash), by table
  // and source: the smallest and largest source_record dropped.
  std::map<std::pair<const TableDef*, std::string>, std::pair<uint64_t, uint64_t>> replayed;

  void clear_batch() {
    in_batch = false;
    table_order.clear();
    inserts.clear();
    replacements.clear();
    replayed.clear();
  }

  void set(const std::string& name, const std::string& value) {
    for (auto& [n, v] : settings)
      if (n == name) {
        v = value;
        return;
      }
    settings.emplace_back(name, value);
  }

  const std::string& db() const { return endpoint.database; }

  // Reads a table's positions from the server into the shared state, once, or again after a failed
  // insert. Called with marks->mutex held: the other connections need the same answer and wait for it.
  void load_marks(const TableDef& def, Watermarks::Table& t) {
    const ch::PartitionRule rule = ch::table_layout(def).rule;
    // Request bodies (http: sources, one per body) only from the last hour, the retries a restart can
    // meet (commit() drops them once a batch is in); the dedup state never needs them (its keys are
    // written last: a key held is a record stored).
    const bool has_arrival = tables::column_index(def, "ingested_at") >= 0;
    const std::string recent =
        has_arrival ? " OR ingested_at_us >= " + std::to_string(wall_clock_us() - kHttpReplayWindowUs) : "";
    const ResultTable r = client->query(
        "SELECT _partition_id AS p, source AS s, max(source_record) AS m FROM " + qualified(db(), def.name) +
            " WHERE source IS NOT NULL AND source_record IS NOT NULL AND (NOT startsWith(source, '" +
            std::string(kHttpSourcePrefix) + "')" + recent + ") GROUP BY p, s",
        settings);
    const ResultColumn& p = r.column("p");
    const ResultColumn& s = r.column("s");
    const ResultColumn& m = r.column("m");
    for (size_t i = 0; i < r.rows(); i++) {
      int64_t key = 0;
      if (!partition_key(rule, p.texts[i], &key))
        throw StoreError("clickhouse: " + std::string(def.name) + " has a partition named " + p.texts[i] +
                             ", which its PARTITION BY cannot give (a table from another advx version?)",
                         Code::internal);
      raise_record(t.by_partition[key], s.texts[i], uint64_t(m.decimals[i]));
    }
    t.loaded = true;
  }

  // The slice's rows by partition, as RowBinary, without the rows whose position the table already holds
  // there. Partitions left with no rows are left out.
  std::vector<PendingInsert> encode(const TableSlice& slice) {
    const TableDef& def = *slice.def;
    const bool event_table = &def == &tables::kImpressions || &def == &tables::kClicks ||
                             &def == &tables::kConversions || &def == &tables::kBidRequests;
    std::vector<ch::PartitionRows> parts = ch::split_by_partition(slice);
    const PositionColumns pos = position_columns(def);
    const auto* source = pos.present()
                             ? static_cast<const std::string_view*>(slice.columns[size_t(pos.source)].data)
                             : nullptr;
    const uint8_t* source_valid = pos.present() ? slice.columns[size_t(pos.source)].valid : nullptr;
    const auto* record =
        pos.present() ? static_cast<const uint64_t*>(slice.columns[size_t(pos.record)].data) : nullptr;
    const uint8_t* record_valid = pos.present() ? slice.columns[size_t(pos.record)].valid : nullptr;
    const auto has_position = [&](size_t r) {
      return source && record && (!source_valid || source_valid[r]) && (!record_valid || record_valid[r]);
    };

    std::vector<PendingInsert> out;
    out.reserve(parts.size());
    if (source && record) {
      std::lock_guard<std::mutex> lock(marks->mutex);
      Watermarks::Table& t = marks->tables[std::string(def.name)];
      if (!t.loaded) load_marks(def, t);
      for (ch::PartitionRows& part : parts) {
        const auto held = t.by_partition.find(part.partition);
        if (held == t.by_partition.end()) continue;
        // Rows kept in place; the last source looked up and its position kept at hand.
        std::string_view last_source;
        uint64_t last_mark = 0;
        bool last_known = false, have_last = false;
        size_t kept = 0;
        for (const uint32_t r : part.rows) {
          if (has_position(r)) {
            if (!have_last || source[r] != last_source) {
              last_source = source[r];
              have_last = true;
              const auto it = held->second.find(last_source);
              last_known = it != held->second.end();
              last_mark = last_known ? it->second : 0;
            }
            if (last_known && record[r] <= last_mark) {  // stored before: a replay
              if (event_table && in_batch) {
                auto [it, fresh] =
                    replayed.try_emplace({&def, std::string(last_source)}, record[r], record[r]);
                if (!fresh) {
                  it->second.first = std::min(it->second.first, record[r]);
                  it->second.second = std::max(it->second.second, record[r]);
                }
              }
              continue;
            }
          }
          part.rows[kept++] = r;
        }
        part.rows.resize(kept);
      }
    }
    for (const ch::PartitionRows& part : parts) {
      if (part.rows.empty()) continue;
      PendingInsert& p = out.emplace_back();
      p.def = &def;
      p.partition = part.partition;
      p.count = part.rows.size();
      TableSlice one = slice;
      one.sel = part.rows.data();
      one.sel_count = part.rows.size();
      ch::append_row_binary(one, p.rows);
      if (!source || !record) continue;
      std::string_view last_source;
      RecordBySource::iterator last = p.max_record.end();
      for (const uint32_t r : part.rows) {
        if (!has_position(r)) continue;
        if (last == p.max_record.end() || source[r] != last_source) {
          last_source = source[r];
          last = p.max_record.try_emplace(std::string(last_source), record[r]).first;
        }
        last->second = std::max(last->second, record[r]);
      }
    }
    return out;
  }

  // The settings of a RowBinary insert: this connection's, but for max_memory_usage. The memory limit is
  // DuckDB's knob for the process that holds the data; here it bounds the server's work for statements
  // that compute. An insert's memory on the server follows its block, which the caller already bounds by
  // its batch size (ingest's 256MB stopped a single-day insert of 1M impressions of ~550 bytes on 18.16:
  // "Memory limit (for query) exceeded: would use 247.50 MiB").
  ch::Settings insert_settings() const {
    ch::Settings s;
    for (const auto& setting : settings)
      if (setting.first != "max_memory_usage") s.push_back(setting);
    return s;
  }

  // Inserts are gzipped on their way to a server elsewhere; to one on this machine they go as they are
  // (gzip at its fastest level costs advx about 8 s of CPU per GB of RowBinary, and the server its gunzip).
  bool gzip_inserts() const { return !ch::is_loopback(endpoint); }

  // Sends one insert: gzipped unless local, one block (so one part, atomic), then raises the table's
  // positions. A failure may still have stored the rows (an answer lost on the way back): the table's
  // positions are read again from the server before its next append.
  void send(const PendingInsert& p) {
    ch::Settings s = insert_settings();
    if (p.count > kInsertBlockRows) s.emplace_back("max_insert_block_size", std::to_string(p.count));
    try {
      client->insert(ch::insert_prefix(*p.def, db()), p.rows, gzip_inserts(), s);
    } catch (const StoreError&) {
      if (!p.max_record.empty()) {
        std::lock_guard<std::mutex> lock(marks->mutex);
        marks->tables[std::string(p.def->name)].loaded = false;
      }
      throw;
    }
    if (p.max_record.empty()) return;
    std::lock_guard<std::mutex> lock(marks->mutex);
    RecordBySource& held = marks->tables[std::string(p.def->name)].by_partition[p.partition];
    for (const auto& [source, record] : p.max_record) raise_record(held, source, record);
  }

  // A dimension table's new content: filled into a fresh table made like it, which then takes its place
  // in one RENAME (atomic in ClickHouse: several tables renamed under one lock), so readers see the old
  // rows or the new ones, never an empty table. 18.16 has no EXCHANGE TABLES. Leftovers of a replace that
  // was interrupted are dropped first.
  void replace(const TableDef& def, const std::string& rows) {
    const std::string table = qualified(db(), def.name);
    const std::string fresh = qualified(db(), std::string(def.name) + std::string(kFreshSuffix));
    const std::string stale = qualified(db(), std::string(def.name) + std::string(kStaleSuffix));
    client->execute("DROP TABLE IF EXISTS " + fresh, settings);
    client->execute("DROP TABLE IF EXISTS " + stale, settings);
    // AS: the same columns (any the schema added), engine and keys as the table it replaces.
    client->execute("CREATE TABLE " + fresh + " AS " + table, settings);
    if (!rows.empty()) {
      const std::string prefix = ch::insert_prefix(def, db());
      const std::string head = "INSERT INTO " + table;
      if (!prefix.starts_with(head))
        throw StoreError("clickhouse: unexpected insert statement " + prefix, Code::internal);
      client->insert("INSERT INTO " + fresh + prefix.substr(head.size()), rows, gzip_inserts(),
                     insert_settings());
    }
    client->execute("RENAME TABLE " + table + " TO " + stale + ", " + fresh + " TO " + table, settings);
    client->execute("DROP TABLE " + stale, settings);
  }
};

ClickHouseStore::ClickHouseStore(const std::string& url, StoreMode mode)
    : ClickHouseStore(ch::parse_url(url), mode) {}

ClickHouseStore::ClickHouseStore(const ch::Endpoint& endpoint, StoreMode mode)
    : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = endpoint;
  impl_->mode = mode;
  impl_->client = std::make_unique<ch::HttpClient>(impl_->endpoint);
  impl_->marks = std::make_shared<Watermarks>();
  if (mode == StoreMode::read_only) impl_->set("readonly", "1");
  const std::string where = host_port(impl_->endpoint);
  try {
    // Every request names its database, and a missing one fails it: the database is made (or looked for)
    // from `system`, which every server has.
    ch::Endpoint system = impl_->endpoint;
    system.database = "system";
    ch::HttpClient setup(system);
    if (mode == StoreMode::read_write) {
      setup.execute(ch::create_database_sql(impl_->db()), impl_->settings);
    } else {
      const ResultTable r = setup.query(
          "SELECT count() AS n FROM system.databases WHERE name = " + ch::quote_string(impl_->db()),
          impl_->settings);
      if (r.column("n").int_at(0) == 0)
        throw StoreError(
            "no database " + impl_->db() + " in ClickHouse at " + where + " (run advx ingest first)",
            Code::not_found);
    }
  } catch (const StoreError& e) {
    if (e.code() != Code::unavailable) throw;
    // The low layer says `clickhouse: HOST:PORT: why`; one line that names the server once.
    std::string why = e.what();
    const std::string prefix =
        "clickhouse: " + impl_->endpoint.host + ":" + std::to_string(impl_->endpoint.port) + ": ";
    if (why.starts_with(prefix)) why.erase(0, prefix.size());
    throw StoreError("cannot reach ClickHouse at " + where + ": " + why, Code::unavailable);
  }
}

ClickHouseStore::ClickHouseStore(const ClickHouseStore& parent, int) : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = parent.impl_->endpoint;
  impl_->mode = parent.impl_->mode;
  impl_->client = std::make_unique<ch::HttpClient>(impl_->endpoint);
  impl_->settings = parent.impl_->settings;  // readonly and the memory limit, as the parent's
  impl_->marks = parent.impl_->marks;
}

ClickHouseStore::~ClickHouseStore() = default;

const StoreGuarantees& ClickHouseStore::guarantees() const {
  static const StoreGuarantees kClickHouse{
      .atomic_multi_table_commit = false, .updates = false, .interruptible = true, .local = false};
  return kClickHouse;
}

std::string ClickHouseStore::url() const { return ch::endpoint_url(impl_->endpoint); }

void ClickHouseStore::ensure_schema() {
  for (const TableDef* def : tables::kAll) execute(ch::create_table_sql(*def, impl_->db()));
}

std::unique_ptr<Store> ClickHouseStore::another_connection() {
  return std::unique_ptr<Store>(new ClickHouseStore(*this, 0));
}

// Every later statement but the data inserts (Impl::insert_settings() says why).
void ClickHouseStore::set_memory_limit(const std::string& limit) {
  impl_->set("max_memory_usage", std::to_string(memory_limit_bytes(limit)));
}

// Nothing to do: query_read_only() runs with readonly=1, under which ClickHouse refuses the table
// functions that reach files and the network (file, url, remote, ...), and the other statements have no
// user text in them.
void ClickHouseStore::forbid_external_access() {}

void ClickHouseStore::begin() {
  if (impl_->in_batch) throw StoreError("clickhouse: begin() inside an open micro-batch", Code::invalid);
  impl_->clear_batch();
  impl_->in_batch = true;
}

void ClickHouseStore::commit() {
  if (!impl_->in_batch) throw StoreError("clickhouse: commit() without begin()", Code::invalid);
  // Rows of this batch that a crashed writer had stored already, without the rest of its micro-batch: its
  // attribution debt may be missing (it is written after the event rows). They are owed attribution at
  // the time they were stored, which a pass may have gone past since (another worker's debts move the
  // mark): one debt at their earliest ingested_at covers them (clickhouse_attribution.cpp).
  if (!impl_->replayed.empty()) {
    const auto replayed = std::move(impl_->replayed);
    impl_->replayed.clear();
    std::optional<int64_t> earliest;
    for (const auto& [key, range] : replayed) {
      const ResultTable r = query(
          "SELECT count() AS n, min(ingested_at_us) AS m FROM " + qualified(impl_->db(), key.first->name) +
          " WHERE source = " + ch::quote_string(key.second) + " AND source_record BETWEEN " +
          std::to_string(range.first) + " AND " + std::to_string(range.second));
      if (r.rows() == 0 || r.column("n").int_at(0) == 0 || r.column("m").is_null(0)) continue;
      const int64_t m = r.column("m").int_at(0);
      earliest = std::min(earliest.value_or(m), m);
    }
    // The crashed writer's own debt, if it got written, covers them already (all rows of a micro-batch
    // share its ingested_at): owed, it will be paid; paid, the pass saw the rows (written before it).
    if (earliest) {
      const ResultTable d =
          query("SELECT count() AS n FROM " + qualified(impl_->db(), tables::kAttributionPending.name) +
                " WHERE ingested_at_us = " + std::to_string(*earliest));
      if (d.rows() == 0 || d.column("n").int_at(0) == 0) owe_attribution(*earliest);
    }
  }
  // The batch ends here whatever happens: after a failure the caller replays it, and the positions skip
  // what was stored.
  const std::vector<const TableDef*> table_order = std::move(impl_->table_order);
  const auto inserts = std::move(impl_->inserts);
  const auto replacements = std::move(impl_->replacements);
  impl_->clear_batch();

  // The batch's dimensions first: its rows were validated against them.
  for (const auto& [name, replacement] : replacements) impl_->replace(*replacement.first, replacement.second);
  // The dedup keys last: a key stored says its row is, so a crash before them makes the replay store
  // the rows it lacks instead of dropping them as duplicates.
  std::vector<const TableDef*> order;
  const TableDef* dedup = nullptr;
  for (const TableDef* def : table_order) {
    if (def->name == tables::kDedupState.name)
      dedup = def;
    else
      order.push_back(def);
  }
  if (dedup) order.push_back(dedup);
  for (const TableDef* def : order) {
    const std::string name(def->name);
    for (auto it = inserts.lower_bound({name, std::numeric_limits<int64_t>::min()});
         it != inserts.end() && it->first.first == name; ++it) {
      impl_->send(it->second);
      crash_point("clickhouse.insert");  // the kill matrix: between two inserts of a micro-batch
    }
  }
  // Every insert went in, dedup keys last: a request body sent again is now a duplicate in the dedup
  // index, so its positions are not needed any more. An HTTP source names one request body, so keeping
  // them would grow the map with every request; file and Kafka sources stay (a handful, growing).
  std::lock_guard<std::mutex> lock(impl_->marks->mutex);
  for (const auto& [key, p] : inserts) {
    auto t = impl_->marks->tables.find(key.first);
    if (t == impl_->marks->tables.end()) continue;
    auto part = t->second.by_partition.find(key.second);
    if (part == t->second.by_partition.end()) continue;
    for (const auto& [source, record] : p.max_record)
      if (source.starts_with(kHttpSourcePrefix)) part->second.erase(source);
  }
}

void ClickHouseStore::rollback() { impl_->clear_batch(); }

void ClickHouseStore::append(const TableSlice& slice) {
  if (!slice.def) throw StoreError("clickhouse: append: slice has no table", Code::invalid);
  const TableDef& def = *slice.def;
  if (slice.columns.size() != def.columns.size())
    throw StoreError("clickhouse: append to " + std::string(def.name) + ": " +
                         std::to_string(slice.columns.size()) + " columns given, table has " +
                         std::to_string(def.columns.size()),
                     Code::invalid);
  for (size_t i = 0; slice.sel && i < slice.sel_count; i++)
    if (slice.sel[i] >= slice.rows)
      throw StoreError("clickhouse: append to " + std::string(def.name) + ": selection row " +
                           std::to_string(slice.sel[i]) + " out of " + std::to_string(slice.rows),
                       Code::invalid);
  if (slice.count() == 0) return;
  std::vector<PendingInsert> parts = impl_->encode(slice);
  if (!impl_->in_batch) {
    for (const PendingInsert& p : parts) impl_->send(p);
    return;
  }
  if (std::find(impl_->table_order.begin(), impl_->table_order.end(), &def) == impl_->table_order.end())
    impl_->table_order.push_back(&def);
  for (PendingInsert& p : parts) {
    PendingInsert& into = impl_->inserts[{std::string(def.name), p.partition}];
    if (into.count == 0) {
      into = std::move(p);
      continue;
    }
    into.rows += p.rows;
    into.count += p.count;
    for (const auto& [source, record] : p.max_record) raise_record(into.max_record, source, record);
  }
}

void ClickHouseStore::replace_table(const TableSlice& slice) {
  if (!slice.def) throw StoreError("clickhouse: replace_table: slice has no table", Code::invalid);
  std::string rows = ch::row_binary(slice);
  if (impl_->in_batch) {
    impl_->replacements[std::string(slice.def->name)] = {slice.def, std::move(rows)};
    return;
  }
  impl_->replace(*slice.def, rows);
}

void ClickHouseStore::scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) {
  // Page by partition, and within a large one by ranges of key_hi (a hash: even ranges hold about as
  // many keys each), so no result is larger than about kScanChunkRows keys. Each page is one statement
  // with wait_end_of_query=1, as every statement of the low layer: streaming without it would keep memory
  // lower still, but an error after the first bytes would then arrive as the tail of a 200 answer, and a
  // scan that lost keys without a word would admit duplicates. The table has one partition (see
  // clickhouse_schema.cpp); a table made by an earlier advx, one a day, is read a day at a time.
  const std::string table = qualified(impl_->db(), tables::kDedupState.name);
  std::string where_scope;
  if (!scope.all) {
    where_scope = " AND (NOT startsWith(ifNull(source, ''), 'kafka:')";
    if (!scope.kafka_sources.empty()) {
      where_scope += " OR source IN (";
      for (size_t i = 0; i < scope.kafka_sources.size(); i++)
        where_scope += (i ? ", " : "") + ch::quote_string(scope.kafka_sources[i]);
      where_scope += ")";
    }
    where_scope += ")";
  }
  const ResultTable parts =
      query("SELECT partition_id AS p, sum(rows) AS n FROM system.parts WHERE database = " +
            ch::quote_string(impl_->db()) + " AND table = " + ch::quote_string(tables::kDedupState.name) +
            " AND active GROUP BY p ORDER BY p");
  for (size_t i = 0; i < parts.rows(); i++) {
    const std::string& id = parts.column("p").texts[i];
    std::string where = " WHERE 1";
    int64_t key = 0;
    if (id != "all") {
      if (!partition_key(ch::PartitionRule::micros_day, id, &key))
        throw StoreError("clickhouse: advx_dedup_state has a partition named " + id +
                             " (a table from another advx version?)",
                         Code::internal);
      const auto [lo, hi] = micros_day_range(key);
      where = " WHERE event_time BETWEEN " + std::to_string(lo) + " AND " + std::to_string(hi);
    }
    const uint64_t rows = uint64_t(parts.column("n").int_at(i));
    const uint64_t chunks = std::max<uint64_t>(1, (rows + kScanChunkRows - 1) / kScanChunkRows);
    // The first key_hi of chunk c (c < chunks): 2^64 * c / chunks.
    const auto bound = [&](uint64_t c) {
      return uint64_t((static_cast<unsigned __int128>(c) << 64) / chunks);
    };
    for (uint64_t c = 0; c < chunks; c++) {
      std::string sql =
          "SELECT toUInt8(ifNull(stream, 0)), toUInt64(ifNull(key_hi, 0)), toUInt64(ifNull(key_lo, 0)), "
          "toInt64(ifNull(event_time, 0)), toUInt64(ifNull(payload_hash, 0)) FROM " +
          table + where + where_scope;
      if (c > 0) sql += " AND key_hi >= " + std::to_string(bound(c));
      if (c + 1 < chunks) sql += " AND key_hi < " + std::to_string(bound(c + 1));
      const std::string body = impl_->client->execute(sql + " FORMAT RowBinary", impl_->settings);
      if (body.size() % kScanRowBytes != 0)
        throw StoreError("clickhouse: cannot read advx_dedup_state: a RowBinary answer of " +
                             std::to_string(body.size()) + " bytes",
                         Code::internal);
      for (const char* p = body.data(); p < body.data() + body.size(); p += kScanRowBytes)
        fn(uint8_t(p[0]), read_le<uint64_t>(p + 1), read_le<uint64_t>(p + 9), read_le<int64_t>(p + 17),
           read_le<uint64_t>(p + 25));
    }
  }
}

ResultTable ClickHouseStore::read_table(const TableDef& def) {
  // A table whose rows have versions (ReplacingMergeTree, attribution's tables) is read with FINAL:
  // one row per key, as the DuckDB store holds it.
  const ResultTable engine =
      query("SELECT engine FROM system.tables WHERE database = " + ch::quote_string(impl_->db()) +
            " AND name = " + ch::quote_string(def.name));
  if (engine.rows() == 0)
    throw StoreError("clickhouse: no table " + impl_->db() + "." + std::string(def.name), Code::not_found);
  const std::string& kind = engine.column("engine").texts[0];
  const bool versions =
      kind.find("Replacing") != std::string::npos || kind.find("Collapsing") != std::string::npos;
  std::string columns;
  for (size_t c = 0; c < def.columns.size(); c++) {
    if (c) columns += ", ";
    columns += ch::quote_ident(ch::stored_name(def.columns[c]));
  }
  std::string sql = "SELECT " + columns + " FROM " + qualified(impl_->db(), def.name);
  // The sorting key: the rows in one order whatever parts the table is in. Around FINAL: 18.16 computes
  // the sorting key's expressions for FINAL itself and refuses an ORDER BY of the same ones ("Column
  // 'ifNull(campaign_id, '')' already exists", code 15).
  const std::string_view order = ch::table_layout(def).order_by;
  if (versions) sql = "SELECT " + columns + " FROM (" + sql + " FINAL)";
  if (order != "tuple()") sql += " ORDER BY " + std::string(order);
  ResultTable r = query(sql);
  for (size_t c = 0; c < def.columns.size(); c++) retype_column(r.columns.at(c), def.name, def.columns[c]);
  return r;
}

std::optional<int64_t> ClickHouseStore::max_ingested_at() {
  // count() beside max(): a max over no rows is NULL for a Nullable column but 0 for another, and
  // ingested_at is a key of no event table, so either may be the case.
  std::string sql;
  for (const TableDef* def :
       {&tables::kImpressions, &tables::kClicks, &tables::kConversions, &tables::kBidRequests}) {
    if (!sql.empty()) sql += " UNION ALL ";
    sql += "SELECT count(ingested_at_us) AS n, max(ingested_at_us) AS m FROM " +
           qualified(impl_->db(), def->name);
  }
  const ResultTable r = query(sql);
  std::optional<int64_t> out;
  for (size_t i = 0; i < r.rows(); i++)
    if (r.column("n").int_at(i) > 0 && !r.column("m").is_null(i))
      out = std::max(out.value_or(std::numeric_limits<int64_t>::min()), r.column("m").int_at(i));
  return out;
}

std::vector<StoredKafkaOffset> ClickHouseStore::kafka_positions(std::string_view topic) {
  // The Kafka batcher names its rows' source kafka:TOPIC/PARTITION and their source_record is the
  // message's offset (sources/kafka/kafka_batcher.cpp).
  const std::string prefix = topic.empty() ? "kafka:" : "kafka:" + std::string(topic) + "/";
  const ResultTable r = query("SELECT source AS s, max(source_record) AS m FROM " +
                              qualified(impl_->db(), tables::kDedupState.name) +
                              " WHERE startsWith(source, " + ch::quote_string(prefix) + ") GROUP BY s");
  std::vector<StoredKafkaOffset> out;
  for (size_t i = 0; i < r.rows(); i++) {
    const std::string& source = r.column("s").texts[i];
    const size_t slash = source.rfind('/');
    if (slash == std::string::npos || slash < 6) continue;
    int32_t partition = 0;
    const char* end = source.data() + source.size();
    const auto [p, ec] = std::from_chars(source.data() + slash + 1, end, partition);
    if (ec != std::errc() || p != end) continue;  // not a source the batcher wrote
    StoredKafkaOffset k;
    k.topic = source.substr(6, slash - 6);
    if (!topic.empty() && k.topic != topic) continue;
    k.partition = partition;
    k.next_offset = int64_t(r.column("m").decimals[i]) + 1;
    out.push_back(std::move(k));
  }
  std::sort(out.begin(), out.end(), [](const StoredKafkaOffset& a, const StoredKafkaOffset& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  return out;
}

void ClickHouseStore::reload_positions() {
  std::lock_guard<std::mutex> lock(impl_->marks->mutex);
  for (auto& [name, t] : impl_->marks->tables) t.loaded = false;
}

std::vector<KafkaClaim> ClickHouseStore::claim_kafka_partitions(
    std::span<const std::pair<std::string, int32_t>> partitions, std::string_view member,
    int64_t claimed_at_us) {
  if (partitions.empty()) return {};
  // The epochs so far, then one INSERT of every new claim. Two members cannot claim one partition at the
  // same moment: Kafka assigns it to one of them (a member that lost it without knowing only checks).
  std::map<std::pair<std::string, int32_t>, int64_t> epoch;
  for (const KafkaClaim& c : kafka_claims()) epoch[{c.topic, c.partition}] = c.epoch;
  std::vector<KafkaClaim> out;
  std::string values;
  for (const auto& [topic, partition] : partitions) {
    KafkaClaim c{topic, partition, 1, std::string(member)};
    if (auto it = epoch.find({topic, partition}); it != epoch.end()) c.epoch = it->second + 1;
    if (!values.empty()) values += ", ";
    values += "(" + ch::quote_string(c.topic) + ", " + std::to_string(c.partition) + ", " +
              std::to_string(c.epoch) + ", " + ch::quote_string(c.member) + ", " +
              std::to_string(claimed_at_us) + ")";
    out.push_back(std::move(c));
  }
  execute("INSERT INTO " + qualified(impl_->db(), tables::kKafkaClaims.name) +
          " (topic, `partition`, epoch, member, claimed_at_us) VALUES " + values);
  return out;
}

std::vector<KafkaClaim> ClickHouseStore::kafka_claims() {
  const ResultTable r =
      query("SELECT topic AS t, `partition` AS p, max(epoch) AS e, argMax(member, epoch) AS m FROM " +
            qualified(impl_->db(), tables::kKafkaClaims.name) + " GROUP BY t, p ORDER BY t, p");
  std::vector<KafkaClaim> out;
  for (size_t i = 0; i < r.rows(); i++)
    out.push_back({r.column("t").texts[i], int32_t(r.column("p").int_at(i)), r.column("e").int_at(i),
                   r.column("m").is_null(i) ? std::string() : r.column("m").texts[i]});
  return out;
}

ResultTable ClickHouseStore::query_read_only(std::string_view sql) {
  // readonly=1 whatever the mode: ClickHouse itself refuses writes, settings and table functions.
  ch::Settings s = impl_->settings;
  bool readonly = false;
  for (auto& [name, value] : s)
    if (name == "readonly") {
      value = "1";
      readonly = true;
    }
  if (!readonly) s.emplace_back("readonly", "1");
  const std::vector<std::string_view> statements = split_statements(sql);
  if (statements.empty()) throw StoreError("clickhouse: no SQL statement given", Code::invalid);
  // What readonly=1 lets through in 18.16 but advx sql must not run: KILL QUERY (it would end other
  // users' statements, ingest's inserts too), and SET and USE, which fail there only for want of a session.
  for (const std::string_view statement : statements) {
    const std::string word = first_word(statement);
    if (word == "KILL" || word == "SET" || word == "USE")
      throw StoreError("advx sql is read-only: " + word + " statements are not allowed", Code::refused);
  }
  // Several statements run one by one (all read-only), and the last one's result is the answer, as on
  // DuckDB.
  ResultTable last;
  for (const std::string_view statement : statements) last = impl_->client->query(statement, s);
  return last;
}

void ClickHouseStore::interrupt() { impl_->client->cancel(); }

void ClickHouseStore::execute(std::string_view sql) { impl_->client->execute(sql, impl_->settings); }

ResultTable ClickHouseStore::query(std::string_view sql) {
  return impl_->client->query(sql, impl_->settings);
}

const std::string& ClickHouseStore::database() const { return impl_->db(); }

clickhouse::HttpClient& ClickHouseStore::client() { return *impl_->client; }

const clickhouse::Settings& ClickHouseStore::settings() const { return impl_->settings; }

void ClickHouseStore::set_setting(const std::string& name, const std::string& value) {
  impl_->set(name, value);
}

}  // namespace advx
