// Attribution (SPEC 2.6): clicks to impressions, conversions to clicks or impressions, bid requests won.
//
// The result must depend only on the set of stored events, never on arrival order or on how inputs were
// split across runs. So attribution is not decided once when an event arrives: after each ingest, every
// (user, campaign) pair that the run's new rows touch is attributed again from scratch, as a set-based
// query over all stored events of those pairs. Attribution of a click or conversion depends only on events
// of its own pair, so recomputing the touched pairs gives the same tables as recomputing everything.
#pragma once
#include <cstdint>

#include "sinks/duckdb_store.hpp"

namespace advx {

struct AttributionWindows {
  int64_t click_us = 3600LL * 1'000'000;                   // click -> impression, default 1 h
  int64_t click_through_us = 7 * 24 * 3600LL * 1'000'000;  // conversion -> click, default 7 days
  int64_t view_through_us = 24 * 3600LL * 1'000'000;       // conversion -> impression, default 1 day
};

struct AttributionResult {
  uint64_t pairs = 0;        // (user, campaign) pairs with clicks or conversions recomputed
  uint64_t clicks = 0;       // clicks whose attribution was recomputed
  uint64_t conversions = 0;  // conversions whose attribution was recomputed
};

// Crash consistency (SPEC 6): what attribution and the rollup still owe is recorded in the same transaction
// as the rows that cause it, and cleared only in the transaction that does the work. So a kill at any
// moment leaves either the rows and their debt, or neither, and the next pass pays every debt left.

// Records that the rows stored with `ingested_at_us` still need attribution (table
// advx_attribution_pending). Call it inside the transaction that stores them. Throws StoreError.
void owe_attribution(DuckDbStore& store, int64_t ingested_at_us);

// Attributes the pairs touched by every row owed attribution (committed before the call, from this run or
// from any earlier one that was killed), marks the bid requests named by impressions as won, rebuilds the
// touched hours of the rollup, and clears those debts, in one transaction. Bounds are inclusive; ties on
// time go to the smallest key. Does nothing when nothing is owed. Throws StoreError.
AttributionResult attribute_pending(DuckDbStore& store, const AttributionWindows& windows);

}  // namespace advx
