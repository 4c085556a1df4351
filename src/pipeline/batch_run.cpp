#include "pipeline/batch_run.hpp"

#include <chrono>
#include <filesystem>
#include <mutex>

#include "correlate/attribution.hpp"

namespace advx {

uint64_t total_bytes(const std::vector<std::string>& files) {
  uint64_t total = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(f, ec);
    if (!ec) total += size;
  }
  return total;
}

IngestSummary run_batch(Store& store, const Dimensions& dims, const std::vector<std::string>& files,
                        const BatchRunOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  // DuckDB caches up to 80 % of RAM by default; an ingest needs little once rows are committed, and the
  // budget of SPEC-scale runs (10M impressions under 1.5 GB) is spent better on the dedup index.
  store.set_memory_limit(o.memory_limit);
  IngestSummary s;
  {
    IngestPipeline pipeline(store, dims, o.ingest);
    pipeline.load_state();
    pipeline.reserve_for(files);
    uint64_t done_before = 0;
    for (size_t i = 0; i < files.size(); i++) {
      std::mutex m;
      pipeline.ingest_file(files[i], [&](uint64_t pos) {
        if (!o.progress) return;
        std::lock_guard lock(m);
        o.progress(done_before + pos, i + 1, files.size());
      });
      std::error_code ec;
      const auto size = std::filesystem::file_size(files[i], ec);
      if (!ec) done_before += size;
    }
    s = std::move(pipeline.summary());
    s.dedup_keys = pipeline.deduplicator().entries();
    s.dedup_bytes = pipeline.deduplicator().memory_bytes();
    s.dedup_spilled_keys = pipeline.deduplicator().spilled_entries();
  }  // the dedup index is freed here: attribution below needs the memory for the store's joins

  // SPEC 2.6: attribute again every user and campaign that this run's rows touch, and those of any earlier
  // run killed before its attribution committed (the debts it left). Set-based joins over the touched
  // pairs' events, so the store gets the larger budget now that the ingest is done.
  store.set_memory_limit(o.correlate_memory_limit);
  const auto attribution_start = std::chrono::steady_clock::now();
  const AttributionResult attribution = attribute_pending(store, o.windows);
  s.attribution_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - attribution_start).count();
  s.attributed_pairs = attribution.pairs;
  s.attributed_clicks = attribution.clicks;
  s.attributed_conversions = attribution.conversions;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace advx
