// A batch run as a library call: files in, summary out. `advx ingest` is this plus flags and printing;
// tests run it in-process over an in-memory or temporary store.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/ingest_pipeline.hpp"
#include "pipeline/summary.hpp"
#include "store/store.hpp"
#include "transforms/dimensions.hpp"

namespace advx {

struct BatchRunOptions {
  IngestOptions ingest;
  // The store's memory while rows go in, and while attribution joins them (it needs more; the dedup index
  // is freed by then).
  std::string memory_limit = "256MB";
  std::string correlate_memory_limit = "1GB";
  AttributionWindows windows;
  // Called as bytes are read: (bytes done over all files, 1-based file number, files).
  std::function<void(uint64_t done_bytes, size_t file, size_t files)> progress;
};

// The total size of `files` (for a progress bar); files that cannot be read count 0.
uint64_t total_bytes(const std::vector<std::string>& files);

// Ingests `files` in order into `store` (whose schema exists), then attributes again every (user,
// campaign) pair the run touched and any debt an earlier killed run left (SPEC 2.6). A file that fails is
// in the summary's failures; the others are stored. Throws StoreError when the store fails.
IngestSummary run_batch(Store& store, const Dimensions& dims, const std::vector<std::string>& files,
                        const BatchRunOptions& options);

}  // namespace advx
