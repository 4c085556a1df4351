// CSV decode throughput: N generated click/conversion rows (argv[1], default 1,000,000), decoded in 1 MiB
// chunks the way a file reader feeds them (unconsumed tail carried over), one warm-up and five timed runs.
// Peer, in the same process on the same bytes written to a temp file: DuckDB's read_csv (all_varchar) into
// an in-memory table with 1 and 2 threads, against our decoder reading that file; best of 3 after a
// warm-up, the three runs interleaved so they share the machine's noise.
#include <duckdb.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "formats/decoder.hpp"

namespace {

std::string generate(size_t rows) {
  std::mt19937_64 rng(20240524);
  std::string out =
      "event_timestamp,user_id,ad_campaign_id,event_type,conversion_type,event_id,ad_creative_id,"
      "conversion_value,currency\n";
  out.reserve(rows * 125 + 128);
  const char* conversions[] = {"signup", "purchase", "lead", "install"};
  char line[512];
  for (size_t i = 0; i < rows; ++i) {
    uint64_t r = rng();
    unsigned ms = unsigned(r % 1000), sec = unsigned((r >> 10) % 60), min = unsigned((r >> 16) % 60);
    unsigned hour = unsigned((r >> 22) % 24), day = 1 + unsigned((r >> 27) % 28);
    unsigned user = unsigned((r >> 32) % 10000000), campaign = unsigned((r >> 20) % 500);
    unsigned creative = campaign * 10 + unsigned(r % 10);
    bool conversion = (r >> 60) == 0;  // ~6%
    int n;
    if (conversion) {
      const char* kind = conversions[(r >> 40) % 4];
      n = std::snprintf(line, sizeof line,
                        "2026-11-%02uT%02u:%02u:%02u.%03uZ,user-%08u,campaign-%05u,conversion,%s,"
                        "evt-%016llx-%04u,creative-%06u,%u.%02u,USD\n",
                        day, hour, min, sec, ms, user, campaign, kind, (unsigned long long)r,
                        unsigned(i % 9973), creative, unsigned(r % 500), unsigned(r % 100));
    } else if (i % 10 == 3) {  // some writers quote every text field, a few with escaped quotes
      n = std::snprintf(line, sizeof line,
                        "\"2026-11-%02u %02u:%02u:%02u.%03u\",\"user-%08u\",\"campaign-%05u\",\"click\",\"\","
                        "\"evt-%016llx-%04u\",\"creative \"\"%06u\"\"\",,\n",
                        day, hour, min, sec, ms, user, campaign, (unsigned long long)r, unsigned(i % 9973),
                        creative);
    } else {
      n = std::snprintf(line, sizeof line,
                        "2026-11-%02uT%02u:%02u:%02u.%03uZ,user-%08u,campaign-%05u,click,,"
                        "evt-%016llx-%04u,creative-%06u,,\n",
                        day, hour, min, sec, ms, user, campaign, (unsigned long long)r, unsigned(i % 9973),
                        creative);
    }
    out.append(line, size_t(n));
  }
  return out;
}

constexpr size_t kChunk = 1 << 20;

// Feeds the decoder chunk by chunk: next(buffer) appends the next chunk and returns true at end of input.
// Returns rows decoded; aborts if the decoder lost or rejected any.
template <typename Next>
size_t decode_chunks(Next next, size_t expected_rows) {
  auto decoder = advx::make_csv_decoder();
  advx::RawBatch batch(advx::Stream::events);
  std::string buffer;  // the carried tail plus the next chunk, followed by the promised padding
  size_t rows = 0, rejects = 0;
  while (true) {
    bool at_end = next(buffer);
    buffer.reserve(buffer.size() + advx::kInputPadding);
    size_t consumed = decoder->decode(buffer, at_end, batch);
    rows += batch.rows();
    rejects += batch.rejects.size();
    batch.clear();
    buffer.erase(0, consumed);
    if (at_end) break;
  }
  if (rows != expected_rows || rejects != 0) {
    std::fprintf(stderr, "csv_decode: decoded %zu rows, %zu rejects, expected %zu rows\n", rows, rejects,
                 expected_rows);
    std::exit(1);
  }
  return rows;
}

size_t decode_once(const std::string& input, size_t expected_rows) {
  size_t offset = 0;
  return decode_chunks(
      [&](std::string& buffer) {
        size_t take = std::min(kChunk, input.size() - offset);
        buffer.append(input, offset, take);
        offset += take;
        return offset == input.size();
      },
      expected_rows);
}

// The same decode, reading the file in 1 MiB chunks with read(2), as a file source would.
size_t decode_file(const char* path, size_t expected_rows) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    std::perror(path);
    std::exit(1);
  }
  size_t size = size_t(st.st_size), offset = 0;
  std::vector<char> chunk(kChunk);
  size_t rows = decode_chunks(
      [&](std::string& buffer) {
        size_t want = std::min(kChunk, size - offset), got = 0;
        while (got < want) {
          ssize_t r = ::read(fd, chunk.data() + got, want - got);
          if (r <= 0) {
            std::fprintf(stderr, "csv_decode: short read of %s\n", path);
            std::exit(1);
          }
          got += size_t(r);
        }
        buffer.append(chunk.data(), got);
        offset += got;
        return offset == size;
      },
      expected_rows);
  ::close(fd);
  return rows;
}

// The generated CSV on disk, removed at exit (including the std::exit error paths).
char g_csv_path[] = "/tmp/advx_csv_bench_XXXXXX.csv";
bool g_csv_written = false;
void remove_csv() {
  if (g_csv_written) ::unlink(g_csv_path);
}

void write_csv(const std::string& input) {
  int fd = ::mkstemps(g_csv_path, 4);
  if (fd < 0) {
    std::perror("mkstemps");
    std::exit(1);
  }
  g_csv_written = true;
  std::atexit(remove_csv);
  size_t done = 0;
  while (done < input.size()) {
    ssize_t w = ::write(fd, input.data() + done, input.size() - done);
    if (w <= 0) {
      std::perror(g_csv_path);
      std::exit(1);
    }
    done += size_t(w);
  }
  if (::close(fd) != 0) {
    std::perror(g_csv_path);
    std::exit(1);
  }
}

void query(duckdb_connection con, const std::string& sql, duckdb_result* res) {
  if (duckdb_query(con, sql.c_str(), res) != DuckDBSuccess) {
    std::fprintf(stderr, "duckdb: %s: %s\n", sql.c_str(), duckdb_result_error(res));
    duckdb_destroy_result(res);
    std::exit(1);
  }
}

void exec(duckdb_connection con, const std::string& sql) {
  duckdb_result res;
  query(con, sql, &res);
  duckdb_destroy_result(&res);
}

// One timed read_csv into a fresh table; the previous table is dropped before the clock starts.
double duckdb_read_csv(duckdb_connection con, int threads) {
  exec(con, "DROP TABLE IF EXISTS t");
  exec(con, "SET threads=" + std::to_string(threads));
  std::string sql = std::string("CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('") + g_csv_path +
                    "', header=true, all_varchar=true)";
  auto t0 = std::chrono::steady_clock::now();
  exec(con, sql);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Aborts unless table t holds exactly `rows` rows of 9 columns.
void check_table(duckdb_connection con, size_t rows) {
  duckdb_result res;
  query(con,
        "SELECT (SELECT count(*) FROM t), "
        "(SELECT count(*) FROM duckdb_columns() WHERE table_name = 't')",
        &res);
  int64_t got_rows = duckdb_value_int64(&res, 0, 0), got_cols = duckdb_value_int64(&res, 1, 0);
  duckdb_destroy_result(&res);
  if (got_rows != int64_t(rows) || got_cols != 9) {
    std::fprintf(stderr, "duckdb: table t has %lld rows, %lld columns; expected %zu rows, 9 columns\n",
                 (long long)got_rows, (long long)got_cols, rows);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::string input = generate(n);
  decode_once(input, n);  // warm-up
  std::vector<double> seconds;
  for (int run = 0; run < 5; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    decode_once(input, n);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  double median = seconds[2];
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("csv_decode: %zu rows in %.3f s = %.0f rows/s (median of 5; %.1f MB input, %.0f MB/s)\n", n,
              median, double(n) / median, double(input.size()) / 1e6, double(input.size()) / 1e6 / median);
  std::printf("csv_decode: peak RSS %.1f MB\n", double(usage.ru_maxrss) / 1024.0);

  // The peer: same bytes from a temp file. Warm-up each, then three interleaved rounds; best of 3 each.
  write_csv(input);
  duckdb_database db = nullptr;
  duckdb_connection con = nullptr;
  if (duckdb_open(nullptr, &db) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess) {
    std::fprintf(stderr, "duckdb: cannot open an in-memory database\n");
    return 1;
  }
  const int kThreads[] = {1, 2};
  decode_file(g_csv_path, n);
  for (int threads : kThreads) {
    duckdb_read_csv(con, threads);
    check_table(con, n);
  }
  double best_file = 1e300, best_peer[2] = {1e300, 1e300};
  for (int round = 0; round < 3; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    decode_file(g_csv_path, n);
    best_file =
        std::min(best_file, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (int i = 0; i < 2; ++i) best_peer[i] = std::min(best_peer[i], duckdb_read_csv(con, kThreads[i]));
  }
  check_table(con, n);
  exec(con, "DROP TABLE IF EXISTS t");
  duckdb_disconnect(&con);
  duckdb_close(&db);

  std::printf("csv_decode (from file): %zu rows in %.3f s = %.0f rows/s (best of 3, as the peer)\n", n,
              best_file, double(n) / best_file);
  for (int i = 0; i < 2; ++i) {
    std::printf("csv peer DuckDB read_csv (%d thread%s): %zu rows in %.3f s = %.0f rows/s; advx/peer %.2fx\n",
                kThreads[i], kThreads[i] == 1 ? "" : "s", n, best_peer[i], double(n) / best_peer[i],
                best_peer[i] / best_file);
  }
  getrusage(RUSAGE_SELF, &usage);
  std::printf("csv peer: peak RSS with DuckDB %.1f MB\n", double(usage.ru_maxrss) / 1024.0);
  return 0;
}
