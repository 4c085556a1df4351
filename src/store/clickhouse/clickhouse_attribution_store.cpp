// ClickHouseStore's attribution: thin wrappers of clickhouse_attribution.cpp. A file of their own, so that
// the functions there link (and are tested) without the rest of the store: an object that names the
// store's members needs clickhouse_store.cpp.
#include "core/table_schema.hpp"
#include "store/clickhouse/clickhouse_attribution.hpp"
#include "store/clickhouse/clickhouse_store.hpp"

namespace advx {

// A debt is a row of the micro-batch like any other: it goes out at commit(), after the event rows
// appended before it (tables in the order first appended).
void ClickHouseStore::owe_attribution(int64_t ingested_at_us) {
  const ColumnData col{&ingested_at_us, nullptr};
  TableSlice slice;
  slice.def = &tables::kAttributionPending;
  slice.rows = 1;
  slice.columns = std::span<const ColumnData>(&col, 1);
  append(slice);
}

AttributionResult ClickHouseStore::attribute_pending(const AttributionWindows& windows) {
  return clickhouse::attribute_pending(client(), database(), windows, settings());
}

}  // namespace advx
