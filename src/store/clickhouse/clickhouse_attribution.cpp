// Attribution on ClickHouse (correlate/attribution.hpp): to be written (issue 12).
#include "store/clickhouse/clickhouse_store.hpp"

namespace advx {

void ClickHouseStore::owe_attribution(int64_t) {
  throw StoreError("clickhouse: attribution is not written yet", StoreErrorCode::internal);
}

AttributionResult ClickHouseStore::attribute_pending(const AttributionWindows&) {
  throw StoreError("clickhouse: attribution is not written yet", StoreErrorCode::internal);
}

}  // namespace advx
