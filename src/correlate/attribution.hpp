// Attribution (SPEC 2.6): clicks to impressions, conversions to clicks or impressions, bid requests won.
//
// The result must depend only on the set of stored events, never on arrival order or on how inputs were
// split across runs. So attribution is not decided once when an event arrives: after each ingest, every
// (user, campaign) pair that the run's new rows touch is attributed again from scratch, as a set-based
// query over all stored events of those pairs. Attribution of a click or conversion depends only on events
// of its own pair, so recomputing the touched pairs gives the same tables as recomputing everything.
//
// Crash consistency (SPEC 6): what attribution and the rollup still owe is recorded with the rows that
// cause it, and cleared only by the pass that does the work. So a kill at any moment leaves either the
// rows and their debt, or neither, and the next pass pays every debt left. Each store engine writes the
// set-based queries in its own dialect (Store::attribute_pending); this is the contract they keep.
#pragma once
#include <cstdint>

#include "store/store.hpp"

namespace advx {

// Records that the rows stored with `ingested_at_us` still need attribution. Call it inside the
// transaction (micro-batch) that stores them. Throws StoreError.
inline void owe_attribution(Store& store, int64_t ingested_at_us) { store.owe_attribution(ingested_at_us); }

// Attributes the pairs touched by every row owed attribution (committed before the call, from this run or
// from any earlier one that was killed), marks the bid requests named by impressions as won, rebuilds the
// touched hours of the rollup, and clears those debts. Bounds are inclusive; ties on time go to the
// smallest key. Does nothing when nothing is owed. Throws StoreError.
inline AttributionResult attribute_pending(Store& store, const AttributionWindows& windows) {
  return store.attribute_pending(windows);
}

}  // namespace advx
