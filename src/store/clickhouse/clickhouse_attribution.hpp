// Attribution on ClickHouse (correlate/attribution.hpp, docs/ATTRIBUTION.md) as functions of a client and
// a database, so they run and are tested without a ClickHouseStore; the store's owe_attribution() and
// attribute_pending() are thin wrappers. clickhouse_attribution.cpp explains the mechanics.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "store/clickhouse/clickhouse_http.hpp"
#include "store/store.hpp"

namespace advx::clickhouse {

// Where a pass stops, for tests of a pass killed midway: `after_clicks` returns once the clicks' new
// versions are stored, before conversions, bid requests, the rollup, the debts and the progress mark.
enum class AttributionStop : uint8_t { never, after_clicks };

// One attribution pass over database `db` (every debt owed when it starts, and rows stored above the
// progress mark without a debt of their own). `settings` go with every statement (max_memory_usage).
// `version_us`: the pass's row version, 0 = the wall clock (it is raised above every version in use).
// `global_db`: on a shard of a cluster (clickhouse_cluster.hpp), the database of the Distributed tables
// over every shard; empty on a single server. The pass then attributes the shard's own rows (`db`, a
// user's events are all on one shard), but finds the impressions naming its bid requests on every shard
// (a bid request without a user_id is on the shard of its source, not of its impression's user), and
// covers the rows every shard stored above its mark. Throws StoreError.
AttributionResult attribute_pending(HttpClient& client, std::string_view db,
                                    const AttributionWindows& windows, const Settings& settings = {},
                                    AttributionStop stop = AttributionStop::never, int64_t version_us = 0,
                                    std::string_view global_db = {});

// The debt row of rows stored with `ingested_at_us`, as one INSERT (what ClickHouseStore::owe_attribution
// appends to its micro-batch instead): for tests.
void insert_debt(HttpClient& client, std::string_view db, int64_t ingested_at_us);

}  // namespace advx::clickhouse
