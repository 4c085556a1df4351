// Appending impression rows to DuckDB: DuckDbStore::append (data-chunk appender) against the naive peer,
// a prepared multi-row INSERT ... VALUES. Prints rows/s for each and peak RSS.
//   duckdb_append_bench [rows=2000000] [peer_rows=100000]
#include <duckdb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/table_schema.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kSliceRows = 16384;
constexpr size_t kColumns = std::size(advx::tables::kImpressionColumns);

// One slice of impression-shaped rows: strings of 2–45 bytes, doubles, timestamps, a date.
struct ImpressionSlice {
  std::vector<std::string> text[kColumns];  // only VARCHAR columns are filled
  std::vector<std::string_view> views[kColumns];
  std::vector<int64_t> event_time, ingested_at;
  std::vector<int32_t> event_date;
  std::vector<uint8_t> event_hour, unknown_creative;
  std::vector<double> win_price;
  std::vector<uint64_t> source_record;
  std::vector<advx::ColumnData> columns;

  void fill(size_t first_row, size_t n) {
    static const char* kCountries[] = {"US", "GB", "DE", "FR", "IN", "BR", "JP"};
    static const char* kDevices[] = {"desktop", "mobile", "tablet", "ctv"};
    static const char* kOs[] = {"Windows", "Android", "iOS", "Mac OS X", "Linux"};
    static const char* kBrowsers[] = {"Chrome", "Safari", "Firefox", "Edge"};
    for (auto& t : text) t.clear();
    event_time.clear(), ingested_at.clear(), event_date.clear(), event_hour.clear();
    unknown_creative.clear(), win_price.clear(), source_record.clear();
    const auto& cols = advx::tables::kImpressionColumns;
    for (size_t k = 0; k < n; ++k) {
      const uint64_t i = first_row + k;
      const uint64_t h = i * 0x9E3779B97F4A7C15ULL;
      const int64_t t = 1'704'067'200'000'000LL + static_cast<int64_t>(i) * 37'000;
      for (size_t c = 0; c < kColumns; ++c) {
        if (cols[c].type != advx::ColumnType::varchar) continue;
        std::string_view name = cols[c].name;
        std::string v;
        if (name == "event_key" || name == "impression_id") {
          v = "imp-" + std::to_string(i) + "-" + std::to_string(h % 100000);
        } else if (name == "creative_id") {
          v = "cr-" + std::to_string(h % 5000);
        } else if (name == "campaign_id") {
          v = "camp-" + std::to_string(h % 300);
        } else if (name == "advertiser_id") {
          v = "adv-" + std::to_string(h % 40);
        } else if (name == "user_id") {
          v = "user-" + std::to_string(h % 2'000'000) + "-" + std::to_string(h >> 50);
        } else if (name == "site") {
          v = "www.site-" + std::to_string(h % 900) + ".example.com";
        } else if (name == "auction_id") {
          v = "auc-" + std::to_string(h) + "-" + std::to_string(i);
        } else if (name == "country") {
          v = kCountries[h % 7];
        } else if (name == "device_type") {
          v = kDevices[h % 4];
        } else if (name == "os") {
          v = kOs[h % 5];
        } else if (name == "browser") {
          v = kBrowsers[h % 4];
        } else if (name == "user_agent") {
          v = "Mozilla/5.0 (Linux; Android 1" + std::to_string(h % 5) + ") Chrome/12" +
              std::to_string(h % 10);
        } else if (name == "ip") {
          v = "10." + std::to_string(h % 256) + "." + std::to_string((h >> 8) % 256) + "." +
              std::to_string((h >> 16) % 256);
        } else {
          v = "impressions-2024-01-01.jsonl";
        }
        text[c].push_back(std::move(v));
      }
      event_time.push_back(t);
      ingested_at.push_back(t + 60'000'000);
      event_date.push_back(static_cast<int32_t>(t / 86'400'000'000LL));
      event_hour.push_back(static_cast<uint8_t>(t / 3'600'000'000LL % 24));
      unknown_creative.push_back(h % 50 == 0);
      win_price.push_back(static_cast<double>(h % 10000) / 1000.0);
      source_record.push_back(i + 1);
    }
    columns.assign(kColumns, {});
    for (size_t c = 0; c < kColumns; ++c) {
      std::string_view name = cols[c].name;
      const void* data = nullptr;
      if (cols[c].type == advx::ColumnType::varchar) {
        views[c].assign(text[c].begin(), text[c].end());
        data = views[c].data();
      } else if (name == "event_time") {
        data = event_time.data();
      } else if (name == "ingested_at") {
        data = ingested_at.data();
      } else if (name == "event_date") {
        data = event_date.data();
      } else if (name == "event_hour") {
        data = event_hour.data();
      } else if (name == "unknown_creative") {
        data = unknown_creative.data();
      } else if (name == "win_price_cpm") {
        data = win_price.data();
      } else {
        data = source_record.data();
      }
      columns[c].data = data;
    }
  }

  advx::TableSlice slice(size_t n) const {
    advx::TableSlice s;
    s.def = &advx::tables::kImpressions;
    s.rows = n;
    s.columns = columns;
    return s;
  }
};

long peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

void remove_db(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::remove(path + ".wal", ec);
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The appender: slices of 16384 rows inside one transaction. Generating rows is not timed.
double run_appender(size_t rows, const std::string& path) {
  remove_db(path);
  advx::DuckDbStore store(path);
  store.ensure_schema();
  ImpressionSlice slice;
  Clock::duration spent{};
  store.begin();
  for (size_t first = 0; first < rows; first += kSliceRows) {
    size_t n = std::min(kSliceRows, rows - first);
    slice.fill(first, n);
    auto t0 = Clock::now();
    store.append(slice.slice(n));
    spent += Clock::now() - t0;
  }
  auto t0 = Clock::now();
  store.commit();
  auto commit_time = Clock::now() - t0;
  spent += commit_time;
  std::printf("  appender: %.3f s in append(), %.3f s in commit()\n", seconds(spent - commit_time),
              seconds(commit_time));
  std::string stored = store.query("SELECT count(*) FROM impressions").text(0, 0);
  if (stored != std::to_string(rows)) {
    std::fprintf(stderr, "appender stored %s rows, expected %zu\n", stored.c_str(), rows);
    std::exit(1);
  }
  remove_db(path);
  return seconds(spent);
}

// The naive peer: prepared INSERT of 100 rows a statement, every value bound, one transaction.
double run_insert(size_t rows, const std::string& path) {
  constexpr size_t kBatch = 100;
  remove_db(path);
  {
    advx::DuckDbStore store(path);
    store.ensure_schema();
  }
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  if (duckdb_open(path.c_str(), &db) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(1);
  }
  auto prepare = [&](size_t batch) {
    std::string sql = "INSERT INTO impressions VALUES ";
    for (size_t r = 0; r < batch; ++r) {
      sql += r ? ",(" : "(";
      for (size_t c = 0; c < kColumns; ++c) sql += c ? ",?" : "?";
      sql += ")";
    }
    duckdb_prepared_statement stmt = nullptr;
    if (duckdb_prepare(con, sql.c_str(), &stmt) != DuckDBSuccess) {
      std::fprintf(stderr, "prepare failed: %s\n", duckdb_prepare_error(stmt));
      std::exit(1);
    }
    return stmt;
  };
  duckdb_prepared_statement full = prepare(kBatch);
  duckdb_result res;
  duckdb_query(con, "BEGIN TRANSACTION", &res);
  duckdb_destroy_result(&res);
  const auto& cols = advx::tables::kImpressionColumns;
  ImpressionSlice slice;
  Clock::duration spent{};
  for (size_t first = 0; first < rows; first += kSliceRows) {
    size_t n = std::min(kSliceRows, rows - first);
    slice.fill(first, n);
    auto t0 = Clock::now();
    for (size_t start = 0; start < n; start += kBatch) {
      size_t batch = std::min(kBatch, n - start);
      duckdb_prepared_statement stmt = batch == kBatch ? full : prepare(batch);
      idx_t param = 1;
      for (size_t r = start; r < start + batch; ++r) {
        for (size_t c = 0; c < kColumns; ++c, ++param) {
          const void* d = slice.columns[c].data;
          switch (cols[c].type) {
            case advx::ColumnType::varchar: {
              const auto& s = static_cast<const std::string_view*>(d)[r];
              duckdb_bind_varchar_length(stmt, param, s.data(), s.size());
              break;
            }
            case advx::ColumnType::timestamp:
              duckdb_bind_timestamp(stmt, param, duckdb_timestamp{static_cast<const int64_t*>(d)[r]});
              break;
            case advx::ColumnType::date:
              duckdb_bind_date(stmt, param, duckdb_date{static_cast<const int32_t*>(d)[r]});
              break;
            case advx::ColumnType::utinyint:
              duckdb_bind_uint8(stmt, param, static_cast<const uint8_t*>(d)[r]);
              break;
            case advx::ColumnType::boolean:
              duckdb_bind_boolean(stmt, param, static_cast<const uint8_t*>(d)[r]);
              break;
            case advx::ColumnType::double_:
              duckdb_bind_double(stmt, param, static_cast<const double*>(d)[r]);
              break;
            case advx::ColumnType::ubigint:
              duckdb_bind_uint64(stmt, param, static_cast<const uint64_t*>(d)[r]);
              break;
            default:
              break;
          }
        }
      }
      if (duckdb_execute_prepared(stmt, &res) != DuckDBSuccess) {
        std::fprintf(stderr, "insert failed: %s\n", duckdb_result_error(&res));
        std::exit(1);
      }
      duckdb_destroy_result(&res);
      if (stmt != full) duckdb_destroy_prepare(&stmt);
    }
    spent += Clock::now() - t0;
  }
  auto t0 = Clock::now();
  duckdb_query(con, "COMMIT", &res);
  duckdb_destroy_result(&res);
  spent += Clock::now() - t0;
  duckdb_destroy_prepare(&full);
  duckdb_disconnect(&con);
  duckdb_close(&db);
  remove_db(path);
  return seconds(spent);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  const size_t peer_rows = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100'000;
  const std::string path = "/tmp/advx_append_bench_" + std::to_string(::getpid()) + ".duckdb";
  try {
    std::printf("impressions, %zu columns, slices of %zu rows, one transaction, file %s\n", kColumns,
                kSliceRows, path.c_str());
    double appender_s = run_appender(rows, path);
    std::printf("appender  %9zu rows  %7.3f s  %10.0f rows/s  peak RSS %ld MB\n", rows, appender_s,
                static_cast<double>(rows) / appender_s, peak_rss_mb());
    double insert_s = run_insert(peer_rows, path);
    std::printf(
        "INSERT    %9zu rows  %7.3f s  %10.0f rows/s  peak RSS %ld MB (prepared, 100 rows a statement)\n",
        peer_rows, insert_s, static_cast<double>(peer_rows) / insert_s, peak_rss_mb());
    std::printf("appender / INSERT: %.1fx\n",
                (static_cast<double>(rows) / appender_s) / (static_cast<double>(peer_rows) / insert_s));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duckdb_append_bench: %s\n", e.what());
    remove_db(path);
    return 1;
  }
  return 0;
}
