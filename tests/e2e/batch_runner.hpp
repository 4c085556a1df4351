// `advx ingest` and `advx sql` in the test's own process, through the library calls the commands make
// (pipeline/batch_run.hpp), for the property tests that run many ingests: no process per run.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/store_setup.hpp"
#include "core/time_util.hpp"
#include "pipeline/batch_run.hpp"
#include "store/duckdb/duckdb_store.hpp"
#include "store/result_format.hpp"

namespace advx::test {

// `advx ingest --db DB --dims DIMS PATHS...` with the command's defaults.
inline IngestSummary ingest_in_process(const std::string& db, const std::string& dims_dir,
                                       const std::vector<std::string>& paths) {
  std::string error;
  const std::vector<std::string> files = expand_inputs(paths, dims_dir, &error);
  EXPECT_EQ(error, "");
  DuckDbStore store(db);
  store.ensure_schema();
  Dimensions dims;
  EXPECT_TRUE(cli::load_dimensions(dims_dir, store, dims, &error)) << error;
  BatchRunOptions o;
  o.ingest.validation.now_us = wall_clock_us();
  o.ingest.validation.ingested_at_us = wall_clock_us();
  o.ingest.dedup_spill.memory_budget_bytes = size_t(512) << 20;
  IngestSummary s = run_batch(store, dims, files, o);
  EXPECT_TRUE(s.failures.empty()) << (s.failures.empty() ? "" : s.failures[0].message);
  return s;
}

// What `advx sql --db DB --format csv QUERY` prints, without the header line.
inline std::string sql_rows_in_process(const std::string& db, const std::string& query) {
  DuckDbStore store(db, StoreMode::read_only);
  const std::string csv = format_csv(store.query_read_only(query));
  return csv.substr(csv.find('\n') + 1);
}

}  // namespace advx::test
