// The one staged-table loop of batch and stream ingestion: a validated batch, deduplicated table by table
// in arrival order, then appended to the store with the dedup keys its new rows add. `advx ingest`
// (pipeline/ingest_pipeline.cpp) and `advx serve` (pipeline/stream_engine.cpp) both move rows through it.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/table_buffer.hpp"
#include "store/store.hpp"
#include "transforms/dedup.hpp"
#include "transforms/validate.hpp"

namespace advx {

struct DedupedBatch {
  ValidatedBatch staged;
  std::array<std::vector<uint32_t>, ValidatedBatch::kTables> keep;  // per staged table: its new rows
  TableBuffer dedup_state{tables::kDedupState};                     // the keys those rows add

  void clear() {
    staged.clear();
    for (auto& k : keep) k.clear();
    dedup_state.clear();
  }

  // Deduplicates every staged table in arrival order; per table, fn(table, its kept rows, counts).
  template <class Fn>
  void dedup(Deduplicator& dedup, Fn&& fn) {
    const auto tables = staged.all();
    for (size_t i = 0; i < tables.size(); i++) {
      StagedTable& t = *tables[i];
      keep[i].clear();
      if (t.keys.empty()) continue;
      DedupCounts counts;
      dedup.apply(t, keep[i], counts, dedup_state);
      fn(t, keep[i], counts);
    }
  }

  // Appends the kept rows of every table, then their dedup keys: one append per table.
  void append_to(Store& store) {
    const auto tables = staged.all();
    for (size_t i = 0; i < tables.size(); i++)
      if (!keep[i].empty()) store.append(tables[i]->rows.slice(keep[i].data(), keep[i].size()));
    if (dedup_state.rows() > 0) store.append(dedup_state.slice());
  }
};

}  // namespace advx
