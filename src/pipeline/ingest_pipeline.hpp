// IngestPipeline: the batch path of SPEC 2 for files, in two stages joined by a bounded queue of work
// units: (1) one thread reads, decodes, validates/standardizes/filters/enriches and deduplicates (dedup is
// order-sensitive: the first to arrive is kept); (2) store workers, each on its own DuckDB connection and
// transaction, append units in parallel — DuckDB's compression is the most expensive step of all. A unit
// carries its input block, decoded RawBatch, staged rows and the dedup keys it adds, so views into the
// input stay valid until the rows are stored, and a key is committed in the same transaction as its row.
// Units are recycled, so memory stays flat whatever the input size.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "formats/format_detect.hpp"
#include "pipeline/summary.hpp"
#include "store/store.hpp"
#include "transforms/dedup.hpp"
#include "transforms/dimensions.hpp"
#include "transforms/validate.hpp"

namespace advx {

struct IngestOptions {
  ValidationOptions validation;
  int64_t dedup_window_us = 24 * 3600 * 1'000'000LL;  // SPEC 2.4 default
  DedupSpill dedup_spill;              // no budget unless given (the CLI gives 512 MB); files next to the db
  size_t block_bytes = 4 << 20;        // input read per work unit
  int store_workers = 2;               // parallel appenders (connections)
  size_t max_record_bytes = 64 << 20;  // a longer record fails its file instead of filling memory
  // A worker commits after this many rows: DuckDB holds a transaction's rows in memory until it commits,
  // so one transaction per large file would grow without bound. Every commit carries the dedup keys of its
  // rows, so a crash between commits loses nothing and stores nothing twice (the rest is read again).
  size_t commit_rows = 1'000'000;  // each DuckDB commit costs: 262,144 made ingest 40 % slower
};

class IngestPipeline {
 public:
  IngestPipeline(Store& store, const Dimensions& dims, IngestOptions options);
  ~IngestPipeline();

  // Rebuilds the dedup index from the store (dedup holds across runs).
  void load_state();
  // Sizes the dedup index for the files about to be read, estimating their records from their sizes, so
  // that it is not rehashed midway (a rehash briefly holds the old and the new index).
  void reserve_for(const std::vector<std::string>& files);

  // Ingests one file (in transactions of at most commit_rows rows per worker). A file that cannot be read is
  // recorded in the summary's failures and returns false; records decoded before a mid-file error are kept
  // (see docs/INGEST.md). `progress` is called from the reading thread with the file position in bytes.
  bool ingest_file(const std::string& path, const std::function<void(uint64_t)>& progress = {});

  IngestSummary& summary() { return summary_; }
  const Deduplicator& deduplicator() const { return dedup_; }

 private:
  struct Unit;
  void dedup_unit(Unit& u, StreamSummary& st);
  static void store_unit(Store& store, Unit& u);

  Store& store_;
  std::vector<std::unique_ptr<Store>> extra_connections_;
  const Dimensions& dims_;
  IngestOptions options_;
  Validator validator_;
  Deduplicator dedup_;
  IngestSummary summary_;
};

// Expands files and folders into the input files, in a stable order: folders recursively, sorted,
// taking files with a known extension and skipping names starting with `_` or `.` and the folder
// `skip_dir` (the dimension folder). Sets `error` for a path that does not exist.
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths, const std::string& skip_dir,
                                       std::string* error);

}  // namespace advx
