#include "store/duckdb/duckdb_store.hpp"

#include <duckdb.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>

#include "core/table_buffer.hpp"
#include "core/utf8.hpp"
#include "store/duckdb/duckdb_export.hpp"
#include "store/duckdb/duckdb_text.hpp"
#include "store/duckdb/duckdb_util.hpp"

namespace advx {
namespace {

using duckdb_util::duckdb_error;
using duckdb_util::one_line;
using duckdb_util::quote_ident;
using duckdb_util::quote_literal;
using duckdb_util::Result;

duckdb_type duckdb_type_of(ColumnType t) {
  switch (t) {
    case ColumnType::varchar:
      return DUCKDB_TYPE_VARCHAR;
    case ColumnType::blob:
      return DUCKDB_TYPE_BLOB;
    case ColumnType::boolean:
      return DUCKDB_TYPE_BOOLEAN;
    case ColumnType::utinyint:
      return DUCKDB_TYPE_UTINYINT;
    case ColumnType::integer:
      return DUCKDB_TYPE_INTEGER;
    case ColumnType::bigint:
      return DUCKDB_TYPE_BIGINT;
    case ColumnType::ubigint:
      return DUCKDB_TYPE_UBIGINT;
    case ColumnType::double_:
      return DUCKDB_TYPE_DOUBLE;
    case ColumnType::timestamp:
      return DUCKDB_TYPE_TIMESTAMP;
    case ColumnType::date:
      return DUCKDB_TYPE_DATE;
    case ColumnType::money:
      return DUCKDB_TYPE_DECIMAL;
  }
  return DUCKDB_TYPE_INVALID;
}

// RAII for the C API's handles, so every throw path releases them (Result: store/duckdb/duckdb_util.hpp).
struct Chunk {
  duckdb_data_chunk c = nullptr;
  explicit Chunk(duckdb_data_chunk chunk) : c(chunk) {}
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk() {
    if (c) duckdb_destroy_data_chunk(&c);
  }
};

struct Prepared {
  duckdb_prepared_statement p = nullptr;
  Prepared() = default;
  Prepared(Prepared&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;
  ~Prepared() {
    if (p) duckdb_destroy_prepare(&p);
  }
};

struct Extracted {
  duckdb_extracted_statements e = nullptr;
  Extracted() = default;
  Extracted(const Extracted&) = delete;
  Extracted& operator=(const Extracted&) = delete;
  ~Extracted() {
    if (e) duckdb_destroy_extracted(&e);
  }
};

struct LogicalType {
  duckdb_logical_type t = nullptr;
  explicit LogicalType(duckdb_logical_type type) : t(type) {}
  LogicalType(LogicalType&& o) noexcept : t(std::exchange(o.t, nullptr)) {}
  LogicalType(const LogicalType&) = delete;
  LogicalType& operator=(const LogicalType&) = delete;
  ~LogicalType() {
    if (t) duckdb_destroy_logical_type(&t);
  }
};

// Reads every row of a result into typed columns, chunk by chunk from the vectors.
ResultTable read_result(duckdb_result& res) {
  ResultTable out;
  idx_t ncols = duckdb_column_count(&res);
  std::vector<duckdb_text::ColumnText> cols;
  cols.reserve(ncols);
  for (idx_t c = 0; c < ncols; ++c) {
    ResultColumn& col = out.columns.emplace_back();
    const char* name = duckdb_column_name(&res, c);
    col.name = name ? name : "";
    LogicalType type(duckdb_column_logical_type(&res, c));
    cols.push_back(duckdb_text::describe_column(type.t));
    col.engine_type = cols.back().type_name;
    col.type = duckdb_text::value_type(cols.back());
    col.scale = cols.back().scale;
    col.single = cols.back().id == DUCKDB_TYPE_FLOAT;
    if (!cols.back().supported) {
      throw duckdb_error("column " + quote_ident(col.name) + " has type " + cols.back().type_name +
                         ", which advx cannot show yet: cast it, e.g. " + quote_ident(col.name) +
                         "::VARCHAR");
    }
  }
  std::vector<const void*> data(ncols);
  std::vector<uint64_t*> validity(ncols);
  while (true) {
    Chunk chunk(duckdb_fetch_chunk(res));
    if (!chunk.c) break;
    idx_t n = duckdb_data_chunk_get_size(chunk.c);
    for (idx_t c = 0; c < ncols; ++c) {
      duckdb_vector vec = duckdb_data_chunk_get_vector(chunk.c, c);
      data[c] = duckdb_vector_get_data(vec);
      validity[c] = duckdb_vector_get_validity(vec);
      ResultColumn& col = out.columns[c];
      for (idx_t r = 0; r < n; ++r) {
        if (validity[c] && !duckdb_validity_row_is_valid(validity[c], r))
          col.push_null();
        else
          duckdb_text::push(cols[c], data[c], r, col);
      }
    }
  }
  if (const char* err = duckdb_result_error(&res); err && *err) throw duckdb_error(one_line(err));
  return out;
}

// One statement of a SQL text as our own light scanner sees it: where it is and its first words, used to
// name a refused statement ("INSTALL", not DuckDB's LOAD) and to look inside EXPLAIN ANALYZE.
struct StatementText {
  std::string_view text;
  std::vector<std::string> words;  // leading keywords, upper case; "(" for a parenthesised group
  std::vector<size_t> word_end;    // offset in `text` just past each word
  bool analyze_option = false;     // a parenthesised group right after EXPLAIN names ANALYZE
};

// Splits at top-level semicolons, skipping quotes ('', "", $tag$ $tag$) and comments.
std::vector<StatementText> split_statements(std::string_view sql) {
  std::vector<StatementText> out;
  size_t start = 0;
  size_t i = 0;
  auto flush = [&](size_t end) {
    StatementText st;
    st.text = sql.substr(start, end - start);
    // Scan the first words, skipping whitespace and comments.
    std::string_view t = st.text;
    size_t p = 0;
    int groups = 0;
    while (p < t.size() && st.words.size() < 4) {
      char c = t[p];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++p;
      } else if (t.substr(p, 2) == "--") {
        while (p < t.size() && t[p] != '\n') ++p;
      } else if (t.substr(p, 2) == "/*") {
        size_t e = t.find("*/", p + 2);
        p = e == std::string_view::npos ? t.size() : e + 2;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::string w;
        while (p < t.size() && (std::isalnum(static_cast<unsigned char>(t[p])) || t[p] == '_')) {
          w += static_cast<char>(std::toupper(static_cast<unsigned char>(t[p])));
          ++p;
        }
        st.words.push_back(std::move(w));
        st.word_end.push_back(p);
      } else if (c == '(' && groups == 0 && !st.words.empty()) {
        // EXPLAIN (ANALYZE, FORMAT json) ...: note ANALYZE inside the option group.
        size_t e = t.find(')', p);
        if (e == std::string_view::npos) break;
        std::string group;
        for (size_t k = p; k < e; ++k)
          group += static_cast<char>(std::toupper(static_cast<unsigned char>(t[k])));
        if (group.find("ANALY") != std::string::npos) st.analyze_option = true;
        ++groups;
        p = e + 1;
        st.words.emplace_back("(");
        st.word_end.push_back(p);
      } else {
        if (st.words.empty()) {
          st.words.emplace_back(1, c);
          st.word_end.push_back(p + 1);
        }
        break;
      }
    }
    if (!st.words.empty()) out.push_back(std::move(st));
    start = end + 1;
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      // E'...' strings escape with backslashes.
      bool backslash = c == '\'' && i > 0 && (sql[i - 1] == 'e' || sql[i - 1] == 'E');
      ++i;
      while (i < sql.size()) {
        if (backslash && sql[i] == '\\') {
          i += 2;
          continue;
        }
        if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c) {
            i += 2;
            continue;
          }
          break;
        }
        ++i;
      }
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t e = sql.find("*/", i + 2);
      i = e == std::string_view::npos ? sql.size() : e + 2;
    } else if (c == '$') {
      size_t e = i + 1;
      while (e < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[e])) || sql[e] == '_')) ++e;
      if (e < sql.size() && sql[e] == '$') {
        std::string_view tag = sql.substr(i, e - i + 1);
        size_t close = sql.find(tag, e + 1);
        i = close == std::string_view::npos ? sql.size() : close + tag.size();
      } else {
        i = e;
      }
    } else if (c == ';') {
      flush(i);
      ++i;
    } else {
      ++i;
    }
  }
  if (start < sql.size()) flush(sql.size());
  return out;
}

const char* statement_type_name(duckdb_statement_type t) {
  switch (t) {
    case DUCKDB_STATEMENT_TYPE_SELECT:
      return "SELECT";
    case DUCKDB_STATEMENT_TYPE_INSERT:
      return "INSERT";
    case DUCKDB_STATEMENT_TYPE_UPDATE:
      return "UPDATE";
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:
      return "EXPLAIN";
    case DUCKDB_STATEMENT_TYPE_DELETE:
      return "DELETE";
    case DUCKDB_STATEMENT_TYPE_PREPARE:
      return "PREPARE";
    case DUCKDB_STATEMENT_TYPE_CREATE:
      return "CREATE";
    case DUCKDB_STATEMENT_TYPE_EXECUTE:
      return "EXECUTE";
    case DUCKDB_STATEMENT_TYPE_ALTER:
      return "ALTER";
    case DUCKDB_STATEMENT_TYPE_TRANSACTION:
      return "transaction";
    case DUCKDB_STATEMENT_TYPE_COPY:
      return "COPY";
    case DUCKDB_STATEMENT_TYPE_ANALYZE:
      return "ANALYZE";
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET:
      return "SET";
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC:
      return "CREATE FUNCTION";
    case DUCKDB_STATEMENT_TYPE_DROP:
      return "DROP";
    case DUCKDB_STATEMENT_TYPE_EXPORT:
      return "EXPORT";
    case DUCKDB_STATEMENT_TYPE_PRAGMA:
      return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_VACUUM:
      return "VACUUM";
    case DUCKDB_STATEMENT_TYPE_CALL:
      return "CALL";
    case DUCKDB_STATEMENT_TYPE_SET:
      return "SET";
    case DUCKDB_STATEMENT_TYPE_LOAD:
      return "LOAD";
    case DUCKDB_STATEMENT_TYPE_ATTACH:
      return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_DETACH:
      return "DETACH";
    default:
      return nullptr;
  }
}

// Statements whose first word shows they change something, so we refuse them even when DuckDB cannot
// prepare them (a missing table must not turn "INSERT is refused" into "table not found").
bool is_write_keyword(std::string_view w) {
  static constexpr std::string_view kWrites[] = {
      "INSERT", "UPDATE",   "DELETE",  "CREATE",     "DROP",    "ALTER",      "COPY",     "ATTACH",
      "DETACH", "LOAD",     "INSTALL", "SET",        "RESET",   "EXPORT",     "IMPORT",   "CALL",
      "MERGE",  "TRUNCATE", "VACUUM",  "CHECKPOINT", "BEGIN",   "COMMIT",     "ROLLBACK", "ABORT",
      "START",  "END",      "USE",     "PREPARE",    "EXECUTE", "DEALLOCATE", "COMMENT",  "ANALYZE",
      "UPSERT", "REPLACE",  "FORCE",   "UNINSTALL"};
  for (auto k : kWrites) {
    if (w == k) return true;
  }
  return false;
}

std::string refusal(std::string_view kind) {
  return "advx sql is read-only: " + std::string(kind) + " statements are not allowed";
}

std::string appender_error(duckdb_appender appender) {
  duckdb_error_data err = duckdb_appender_error_data(appender);
  const char* msg = err ? duckdb_error_data_message(err) : nullptr;
  std::string out = one_line(msg ? msg : "unknown error");
  if (err) duckdb_destroy_error_data(&err);
  return out;
}

}  // namespace

struct TableAppender {
  duckdb_appender appender = nullptr;
  duckdb_data_chunk chunk = nullptr;

  TableAppender() = default;
  TableAppender(const TableAppender&) = delete;
  TableAppender& operator=(const TableAppender&) = delete;
  ~TableAppender() {
    if (chunk) duckdb_destroy_data_chunk(&chunk);
    // Destroying flushes what is still buffered; callers that care flush first and check the error.
    if (appender) duckdb_appender_destroy(&appender);
  }
};

struct DuckDbStore::Impl {
  duckdb_database db = nullptr;
  bool owns_db = true;  // false for a second connection (another_connection)
  duckdb_connection con = nullptr;
  StoreMode mode = StoreMode::read_write;
  bool in_transaction = false;
  // Appenders live across append() calls of one transaction (creating one per slice costs a catalog
  // lookup and loses batching); any other statement closes them first so it sees every appended row.
  std::map<std::string, std::unique_ptr<TableAppender>, std::less<>> appenders;

  ~Impl() {
    appenders.clear();
    if (con) duckdb_disconnect(&con);  // an open transaction is rolled back
    if (db && owns_db) duckdb_close(&db);
  }

  void run(std::string_view sql) {
    std::string text(sql);
    Result res;
    res.live = true;
    if (duckdb_query(con, text.c_str(), &res.r) != DuckDBSuccess) {
      throw duckdb_error(
          one_line(duckdb_result_error(&res.r) ? duckdb_result_error(&res.r) : "query failed"));
    }
  }

  // For failure paths: the operation already failed, its own error is the one to report.
  void rollback_quietly() noexcept {
    try {
      close_appenders();
    } catch (const StoreError&) {
    }
    in_transaction = false;
    std::string sql = "ROLLBACK";
    Result res;
    res.live = true;
    duckdb_query(con, sql.c_str(), &res.r);
  }

  // Flushes every buffered row into the current transaction and drops the appenders.
  void close_appenders() {
    std::string error;
    for (auto& [name, app] : appenders) {
      if (duckdb_appender_close(app->appender) != DuckDBSuccess && error.empty()) {
        error = "appending to " + name + " failed: " + appender_error(app->appender);
      }
    }
    appenders.clear();
    if (!error.empty()) throw duckdb_error(error);
  }

  TableAppender& appender_for(const TableDef& def) {
    if (auto it = appenders.find(def.name); it != appenders.end()) return *it->second;
    auto app = std::make_unique<TableAppender>();
    std::string name(def.name);
    if (duckdb_appender_create_ext(con, nullptr, nullptr, name.c_str(), &app->appender) != DuckDBSuccess) {
      std::string msg = "cannot append to table " + name;
      if (app->appender) msg += ": " + appender_error(app->appender);
      throw duckdb_error(msg);
    }
    // A database written by another advx version must fail here, clearly, not deep inside DuckDB.
    idx_t ncols = duckdb_appender_column_count(app->appender);
    if (ncols != def.columns.size()) {
      throw duckdb_error("table " + name + " has " + std::to_string(ncols) + " columns, advx expects " +
                         std::to_string(def.columns.size()) + " (database from another advx version?)");
    }
    std::vector<duckdb_logical_type> types;
    for (idx_t c = 0; c < ncols; ++c) {
      LogicalType have(duckdb_appender_column_type(app->appender, c));
      if (duckdb_get_type_id(have.t) != duckdb_type_of(def.columns[c].type)) {
        throw duckdb_error("table " + name + " column " + std::string(def.columns[c].name) + " is not " +
                           std::string(sql_type_name(def.columns[c].type)) +
                           " (database from another advx version?)");
      }
      types.push_back(duckdb_create_logical_type(duckdb_type_of(def.columns[c].type)));
    }
    app->chunk = duckdb_create_data_chunk(types.data(), ncols);
    for (auto& t : types) duckdb_destroy_logical_type(&t);
    return *appenders.emplace(std::move(name), std::move(app)).first->second;
  }

  void append_rows(const TableSlice& slice) {
    const TableDef& def = *slice.def;
    TableAppender& app = appender_for(def);
    const idx_t vector_size = duckdb_vector_size();
    const size_t total = slice.count();
    const size_t ncols = def.columns.size();
    for (size_t start = 0; start < total; start += vector_size) {
      const idx_t n = static_cast<idx_t>(std::min<size_t>(vector_size, total - start));
      duckdb_data_chunk_reset(app.chunk);
      for (size_t c = 0; c < ncols; ++c) {
        const ColumnData& src = slice.columns[c];
        duckdb_vector vec = duckdb_data_chunk_get_vector(app.chunk, c);
        void* dst = duckdb_vector_get_data(vec);
        const ColumnType type = def.columns[c].type;
        switch (type) {
          case ColumnType::varchar:
          case ColumnType::blob: {
            const auto* s = static_cast<const std::string_view*>(src.data);
            for (idx_t i = 0; i < n; ++i) {
              size_t r = slice.row(start + i);
              if (src.valid && !src.valid[r]) {
                duckdb_vector_assign_string_element_len(vec, i, "", 0);
                continue;
              }
              // Appending invalid UTF-8 to a VARCHAR fails only at flush, losing the whole buffered batch
              // with a vague message; checking first names the table, column and row. The validator never
              // lets invalid UTF-8 reach a VARCHAR, so this guards an invariant, it is not a rule for input.
              if (type == ColumnType::varchar && !valid_utf8(s[r])) {
                throw duckdb_error("invalid UTF-8 in " + std::string(def.name) + "." +
                                   std::string(def.columns[c].name) + " (row " + std::to_string(r) + ")");
              }
              duckdb_vector_assign_string_element_len(vec, i, s[r].data(), s[r].size());
            }
            break;
          }
          case ColumnType::boolean: {
            const auto* s = static_cast<const uint8_t*>(src.data);
            auto* d = static_cast<bool*>(dst);
            for (idx_t i = 0; i < n; ++i) d[i] = s[slice.row(start + i)] != 0;
            break;
          }
          case ColumnType::utinyint:
            copy_fixed<uint8_t>(slice, src, dst, start, n);
            break;
          case ColumnType::integer:
          case ColumnType::date:
            copy_fixed<int32_t>(slice, src, dst, start, n);
            break;
          case ColumnType::bigint:
          case ColumnType::timestamp:
            copy_fixed<int64_t>(slice, src, dst, start, n);
            break;
          case ColumnType::ubigint:
            copy_fixed<uint64_t>(slice, src, dst, start, n);
            break;
          case ColumnType::double_:
            copy_fixed<double>(slice, src, dst, start, n);
            break;
          case ColumnType::money:
            throw duckdb_error(std::string(def.name) + ": money columns are written by SQL only");
        }
        if (src.valid) {
          duckdb_vector_ensure_validity_writable(vec);
          uint64_t* validity = duckdb_vector_get_validity(vec);
          for (idx_t i = 0; i < n; ++i)
            duckdb_validity_set_row_validity(validity, i, src.valid[slice.row(start + i)] != 0);
        } else if (uint64_t* validity = duckdb_vector_get_validity(vec)) {
          // A reused chunk may still carry NULL bits from the previous slice.
          for (idx_t i = 0; i < n; ++i) duckdb_validity_set_row_valid(validity, i);
        }
      }
      duckdb_data_chunk_set_size(app.chunk, n);
      if (duckdb_append_data_chunk(app.appender, app.chunk) != DuckDBSuccess) {
        std::string msg =
            "appending to " + std::string(def.name) + " failed: " + appender_error(app.appender);
        appenders.erase(appenders.find(def.name));
        throw duckdb_error(msg);
      }
    }
  }

  template <class T>
  static void copy_fixed(const TableSlice& slice, const ColumnData& src, void* dst, size_t start, idx_t n) {
    const auto* s = static_cast<const T*>(src.data);
    auto* d = static_cast<T*>(dst);
    if (!slice.sel) {
      std::memcpy(d, s + start, n * sizeof(T));
    } else {
      for (idx_t i = 0; i < n; ++i) d[i] = s[slice.sel[start + i]];
    }
  }
};

DuckDbStore::DuckDbStore(const std::string& path, StoreMode mode)
    : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->mode = mode;
  const bool in_memory = path.empty() || path == ":memory:";
  if (mode == StoreMode::read_only && !in_memory) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw duckdb_error("no database at " + path + " (run advx ingest first)");
  }
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) != DuckDBSuccess)
    throw duckdb_error("cannot create DuckDB configuration");
  auto set = [&](const char* name, const char* value) {
    if (duckdb_set_config(config, name, value) != DuckDBSuccess) {
      duckdb_destroy_config(&config);
      throw duckdb_error(std::string("cannot set DuckDB option ") + name);
    }
  };
  if (mode == StoreMode::read_only) {
    // advx sql runs whatever the user typed: the file is opened read-only and DuckDB may not touch other
    // files, load extensions or have these settings changed back by a statement.
    set("access_mode", "READ_ONLY");
    set("enable_external_access", "false");
    set("autoload_known_extensions", "false");
    set("autoinstall_known_extensions", "false");
    set("lock_configuration", "true");
  }
  char* error = nullptr;
  duckdb_state state = duckdb_open_ext(in_memory ? nullptr : path.c_str(), &impl_->db, config, &error);
  duckdb_destroy_config(&config);
  if (state != DuckDBSuccess) {
    std::string msg = "cannot open database " + path + ": " + one_line(error ? error : "unknown error");
    duckdb_free(error);
    impl_->db = nullptr;
    throw duckdb_error(msg);
  }
  if (duckdb_connect(impl_->db, &impl_->con) != DuckDBSuccess) {
    impl_->con = nullptr;
    throw duckdb_error("cannot connect to database " + path);
  }
}

DuckDbStore::DuckDbStore(DuckDbStore& parent) : impl_(std::make_unique<Impl>()), path_(parent.path_) {
  impl_->mode = parent.impl_->mode;
  impl_->db = parent.impl_->db;
  impl_->owns_db = false;
  if (duckdb_connect(impl_->db, &impl_->con) != DuckDBSuccess) {
    impl_->con = nullptr;
    throw duckdb_error("cannot connect to database " + path_);
  }
}

std::unique_ptr<DuckDbStore> DuckDbStore::another_duckdb_connection() {
  return std::unique_ptr<DuckDbStore>(new DuckDbStore(*this));
}

std::unique_ptr<Store> DuckDbStore::another_connection() { return another_duckdb_connection(); }

const StoreGuarantees& DuckDbStore::guarantees() const {
  static const StoreGuarantees kDuckDb{
      .atomic_multi_table_commit = true, .updates = true, .interruptible = true, .local = true};
  return kDuckDb;
}

std::string DuckDbStore::local_folder() const {
  if (path_.empty() || path_ == ":memory:") return "";
  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  return parent.empty() ? "." : parent.string();
}

void DuckDbStore::set_memory_limit(const std::string& limit) {
  execute("SET memory_limit = " + quote_literal(limit));
}

void DuckDbStore::set_checkpoint_threshold_mb(int64_t mb) {
  execute("SET checkpoint_threshold = '" + std::to_string(mb) + "MB'");
}

void DuckDbStore::forbid_external_access() { execute("SET enable_external_access = false"); }

ResultTable DuckDbStore::read_table(const TableDef& table) {
  std::string sql = "SELECT ";
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (c) sql += ", ";
    sql += quote_ident(table.columns[c].name);
  }
  return query(sql + " FROM " + quote_ident(table.name));
}

std::optional<int64_t> DuckDbStore::max_ingested_at() {
  const ResultTable r = query(
      "SELECT epoch_us(greatest((SELECT max(ingested_at) FROM impressions), (SELECT max(ingested_at) FROM "
      "clicks), (SELECT max(ingested_at) FROM conversions), (SELECT max(ingested_at) FROM bid_requests)))");
  if (r.rows() == 0 || r.columns[0].is_null(0)) return std::nullopt;
  return r.columns[0].int_at(0);
}

std::vector<StoredKafkaOffset> DuckDbStore::kafka_positions(std::string_view topic) {
  std::string sql = "SELECT topic, partition, next_offset FROM advx_kafka_offsets";
  if (!topic.empty()) sql += " WHERE topic = " + quote_literal(topic);
  const ResultTable r = query(sql);
  std::vector<StoredKafkaOffset> out;
  for (size_t i = 0; i < r.rows(); i++)
    out.push_back(
        {r.columns[0].text_at(i), static_cast<int32_t>(r.columns[1].int_at(i)), r.columns[2].int_at(i)});
  return out;
}

void DuckDbStore::save_kafka_positions(std::span<const StoredKafkaOffset> positions, int64_t ingested_at_us) {
  for (const StoredKafkaOffset& p : positions) {
    execute("DELETE FROM advx_kafka_offsets WHERE topic = " + quote_literal(p.topic) +
            " AND partition = " + std::to_string(p.partition) + "; INSERT INTO advx_kafka_offsets VALUES (" +
            quote_literal(p.topic) + ", " + std::to_string(p.partition) + ", " +
            std::to_string(p.next_offset) + ", make_timestamp(" + std::to_string(ingested_at_us) + "))");
  }
}

std::vector<KafkaClaim> DuckDbStore::claim_kafka_partitions(
    std::span<const std::pair<std::string, int32_t>> partitions, std::string_view member,
    int64_t claimed_at_us) {
  std::map<std::pair<std::string, int32_t>, int64_t> epoch;
  for (const KafkaClaim& c : kafka_claims()) epoch[{c.topic, c.partition}] = c.epoch;
  std::vector<KafkaClaim> out;
  std::string sql;
  for (const auto& [topic, partition] : partitions) {
    KafkaClaim c{topic, partition, 1, std::string(member)};
    if (auto it = epoch.find({topic, partition}); it != epoch.end()) c.epoch = it->second + 1;
    sql += "INSERT INTO advx_kafka_claims VALUES (" + quote_literal(c.topic) + ", " +
           std::to_string(c.partition) + ", " + std::to_string(c.epoch) + ", " + quote_literal(c.member) +
           ", make_timestamp(" + std::to_string(claimed_at_us) + "));";
    out.push_back(std::move(c));
  }
  if (!sql.empty()) execute(sql);
  return out;
}

std::vector<KafkaClaim> DuckDbStore::kafka_claims() {
  const ResultTable r = query(
      "SELECT topic, partition, max(epoch), arg_max(member, epoch) FROM advx_kafka_claims GROUP BY ALL "
      "ORDER BY ALL");
  std::vector<KafkaClaim> out;
  for (size_t i = 0; i < r.rows(); i++)
    out.push_back({r.columns[0].text_at(i), static_cast<int32_t>(r.columns[1].int_at(i)),
                   r.columns[2].int_at(i),
                   r.columns[3].is_null(i) ? std::string() : r.columns[3].text_at(i)});
  return out;
}

DuckDbStore::~DuckDbStore() = default;

void DuckDbStore::interrupt() { duckdb_interrupt(impl_->con); }

duckdb_connection DuckDbStore::connection() {
  impl_->close_appenders();
  return impl_->con;
}

void DuckDbStore::ensure_schema() {
  std::string ddl;
  for (const TableDef* def : tables::kAll) {
    ddl += "CREATE TABLE IF NOT EXISTS " + quote_ident(def->name) + " (";
    for (size_t c = 0; c < def->columns.size(); ++c) {
      if (c) ddl += ", ";
      ddl += quote_ident(def->columns[c].name) + " " + std::string(sql_type_name(def->columns[c].type));
    }
    ddl += ");\n";
    // A table made by an earlier advx gains the columns added since, at its end, where the schema has
    // them (only ever appended), so appends keep matching it.
    for (const ColumnDef& col : def->columns) {
      ddl += "ALTER TABLE " + quote_ident(def->name) + " ADD COLUMN IF NOT EXISTS " + quote_ident(col.name) +
             " " + std::string(sql_type_name(col.type)) + ";\n";
    }
    for (const ColumnDef& col : def->columns) {
      if (col.comment.empty()) continue;
      ddl += "COMMENT ON COLUMN " + quote_ident(def->name) + "." + quote_ident(col.name) + " IS " +
             quote_literal(col.comment) + ";\n";
    }
  }
  // One transaction, so a failure leaves no half-made schema behind.
  if (impl_->in_transaction) {
    execute(ddl);
    return;
  }
  begin();
  try {
    execute(ddl);
    commit();
  } catch (...) {
    impl_->rollback_quietly();
    throw;
  }
}

void DuckDbStore::begin() {
  impl_->close_appenders();
  impl_->run("BEGIN TRANSACTION");
  impl_->in_transaction = true;
}

void DuckDbStore::commit() {
  // Buffered rows must reach the transaction before COMMIT, or they would land in a later one.
  impl_->close_appenders();
  impl_->run("COMMIT");
  impl_->in_transaction = false;
}

void DuckDbStore::rollback() {
  // There is no way to discard an appender's buffer: destroying it flushes. Doing that before ROLLBACK
  // sends the rows into the transaction being rolled back; after it they would be committed on their own.
  try {
    impl_->close_appenders();
  } catch (const StoreError&) {
    // The rows are being thrown away anyway.
  }
  impl_->in_transaction = false;
  impl_->run("ROLLBACK");
}

void DuckDbStore::append(const TableSlice& slice) {
  if (!slice.def) throw duckdb_error("append: slice has no table");
  if (slice.columns.size() != slice.def->columns.size()) {
    throw duckdb_error("append to " + std::string(slice.def->name) + ": " +
                       std::to_string(slice.columns.size()) + " columns given, table has " +
                       std::to_string(slice.def->columns.size()));
  }
  const size_t n = slice.count();
  if (n == 0) return;
  for (size_t c = 0; c < slice.columns.size(); ++c) {
    if (!slice.columns[c].data) {
      throw duckdb_error("append to " + std::string(slice.def->name) + ": no data for column " +
                         std::string(slice.def->columns[c].name));
    }
  }
  if (slice.sel) {
    for (size_t i = 0; i < slice.sel_count; ++i) {
      if (slice.sel[i] >= slice.rows) {
        throw duckdb_error("append to " + std::string(slice.def->name) + ": selection row " +
                           std::to_string(slice.sel[i]) + " out of " + std::to_string(slice.rows));
      }
    }
  }
  if (impl_->in_transaction) {
    impl_->append_rows(slice);
    return;
  }
  // Outside a transaction a slice is stored whole or not at all.
  begin();
  try {
    impl_->append_rows(slice);
    commit();
  } catch (...) {
    impl_->rollback_quietly();
    throw;
  }
}

void DuckDbStore::execute(std::string_view sql) {
  impl_->close_appenders();
  impl_->run(sql);
}

ResultTable DuckDbStore::query(std::string_view sql) {
  impl_->close_appenders();
  std::string text(sql);
  Result res;
  res.live = true;
  if (duckdb_query(impl_->con, text.c_str(), &res.r) != DuckDBSuccess) {
    const char* err = duckdb_result_error(&res.r);
    throw duckdb_error(one_line(err ? err : "query failed"));
  }
  return read_result(res.r);
}

ResultTable DuckDbStore::query_read_only(std::string_view sql) {
  impl_->close_appenders();
  std::string text(sql);
  // Statements that plainly write are refused before DuckDB sees them: parsing alone can already act
  // (IMPORT DATABASE reads files while being split into statements).
  std::vector<StatementText> texts = split_statements(text);
  for (const StatementText& st : texts) {
    if (is_write_keyword(st.words.front())) throw duckdb_error(refusal(st.words.front()));
  }
  Extracted ex;
  idx_t n = duckdb_extract_statements(impl_->con, text.c_str(), &ex.e);
  if (n == 0) {
    const char* err = ex.e ? duckdb_extract_statements_error(ex.e) : nullptr;
    throw duckdb_error(err && *err ? one_line(err) : "no SQL statement given");
  }
  // Our scan sees the same statements as DuckDB's parser in all but exotic texts; when it does not, we
  // fall back to DuckDB's type names and refuse EXPLAIN ANALYZE outright.
  const bool texts_match = texts.size() == n;

  auto kind_of = [&](idx_t i, duckdb_statement_type type) -> std::string {
    if (texts_match) {
      const std::string& w = texts[i].words.front();
      if (w != "WITH" && w != "FROM" && w != "(" && std::isalpha(static_cast<unsigned char>(w[0]))) return w;
    }
    const char* name = statement_type_name(type);
    return name ? name : "this kind of";
  };

  std::vector<Prepared> stmts;
  stmts.reserve(n);
  for (idx_t i = 0; i < n; ++i) {
    Prepared& p = stmts.emplace_back();
    if (duckdb_prepare_extracted_statement(impl_->con, ex.e, i, &p.p) != DuckDBSuccess) {
      const char* err = duckdb_prepare_error(p.p);
      throw duckdb_error(one_line(err ? err : "cannot prepare statement"));
    }
    duckdb_statement_type type = duckdb_prepared_statement_type(p.p);
    if (type == DUCKDB_STATEMENT_TYPE_SELECT) continue;  // also DESCRIBE, SHOW, SUMMARIZE, FROM, PRAGMA x
    if (type != DUCKDB_STATEMENT_TYPE_EXPLAIN) throw duckdb_error(refusal(kind_of(i, type)));
    // Plain EXPLAIN only plans; EXPLAIN ANALYZE runs the statement, so that must be a read.
    if (!texts_match) {
      throw duckdb_error(
          "advx sql is read-only: cannot tell what this EXPLAIN runs; EXPLAIN ANALYZE needs a SELECT");
    }
    const StatementText& st = texts[i];
    size_t inner_word = 1;
    if (st.words.size() > 1 && (st.words[1] == "ANALYZE" || st.words[1] == "ANALYSE")) {
      inner_word = 2;
    } else if (st.words.size() > 1 && st.words[1] == "(" && st.analyze_option) {
      inner_word = 2;
    } else {
      continue;
    }
    if (st.words.size() <= inner_word) throw duckdb_error(refusal("EXPLAIN ANALYZE"));
    std::string inner(st.text.substr(st.word_end[inner_word - 1]));
    Extracted inner_ex;
    Prepared inner_p;
    if (duckdb_extract_statements(impl_->con, inner.c_str(), &inner_ex.e) != 1 ||
        duckdb_prepare_extracted_statement(impl_->con, inner_ex.e, 0, &inner_p.p) != DuckDBSuccess ||
        duckdb_prepared_statement_type(inner_p.p) != DUCKDB_STATEMENT_TYPE_SELECT) {
      throw duckdb_error(refusal("EXPLAIN ANALYZE " + st.words[inner_word]));
    }
  }

  ResultTable last;
  for (idx_t i = 0; i < n; ++i) {
    Result res;
    res.live = true;
    if (duckdb_execute_prepared_streaming(stmts[i].p, &res.r) != DuckDBSuccess) {
      const char* err = duckdb_result_error(&res.r);
      throw duckdb_error(one_line(err ? err : "query failed"));
    }
    if (i + 1 == n) last = read_result(res.r);
  }
  return last;
}

void DuckDbStore::scan_dedup_state(const DedupScope& scope, const DedupKeyFn& fn) {
  impl_->close_appenders();
  Prepared p;
  std::string sql = "SELECT stream, key_hi, key_lo, event_time, payload_hash FROM advx_dedup_state";
  if (!scope.all) {
    sql += " WHERE NOT starts_with(coalesce(source, ''), 'kafka:')";
    if (!scope.kafka_sources.empty()) {
      sql += " OR source IN (";
      for (size_t i = 0; i < scope.kafka_sources.size(); i++)
        sql += (i ? ", " : "") + quote_literal(scope.kafka_sources[i]);
      sql += ")";
    }
  }
  if (duckdb_prepare(impl_->con, sql.c_str(), &p.p) != DuckDBSuccess) {
    const char* err = duckdb_prepare_error(p.p);
    throw duckdb_error("cannot read advx_dedup_state: " + one_line(err ? err : "prepare failed"));
  }
  // Streaming, so 10M keys never sit in a materialized result next to the dedup table being built.
  Result res;
  res.live = true;
  if (duckdb_execute_prepared_streaming(p.p, &res.r) != DuckDBSuccess) {
    const char* err = duckdb_result_error(&res.r);
    throw duckdb_error("cannot read advx_dedup_state: " + one_line(err ? err : "query failed"));
  }
  while (true) {
    Chunk chunk(duckdb_fetch_chunk(res.r));
    if (!chunk.c) break;
    idx_t n = duckdb_data_chunk_get_size(chunk.c);
    const void* data[5];
    uint64_t* validity[5];
    for (idx_t c = 0; c < 5; ++c) {
      duckdb_vector vec = duckdb_data_chunk_get_vector(chunk.c, c);
      data[c] = duckdb_vector_get_data(vec);
      validity[c] = duckdb_vector_get_validity(vec);
    }
    const auto* stream = static_cast<const uint8_t*>(data[0]);
    const auto* key_hi = static_cast<const uint64_t*>(data[1]);
    const auto* key_lo = static_cast<const uint64_t*>(data[2]);
    const auto* event_time = static_cast<const int64_t*>(data[3]);
    const auto* payload = static_cast<const uint64_t*>(data[4]);
    auto valid = [&](int c, idx_t r) { return !validity[c] || duckdb_validity_row_is_valid(validity[c], r); };
    for (idx_t r = 0; r < n; ++r) {
      // advx never stores NULLs here; should a user have, they read as 0 rather than garbage.
      fn(valid(0, r) ? stream[r] : 0, valid(1, r) ? key_hi[r] : 0, valid(2, r) ? key_lo[r] : 0,
         valid(3, r) ? event_time[r] : 0, valid(4, r) ? payload[r] : 0);
    }
  }
  if (const char* err = duckdb_result_error(&res.r); err && *err) {
    throw duckdb_error("cannot read advx_dedup_state: " + one_line(err));
  }
}

void DuckDbStore::replace_table(const TableSlice& slice) {
  if (!slice.def) throw duckdb_error("replace_table: slice has no table");
  const std::string del = "DELETE FROM " + quote_ident(slice.def->name);
  if (impl_->in_transaction) {
    execute(del);
    append(slice);
    return;
  }
  // Readers never see the table empty: delete and refill commit together.
  begin();
  try {
    execute(del);
    append(slice);
    commit();
  } catch (...) {
    impl_->rollback_quietly();
    throw;
  }
}

}  // namespace advx
