// The reports of `advx report` on ClickHouse (docs/REPORTS.md): to be written (issue 12).
#include "store/clickhouse/clickhouse_store.hpp"

namespace advx {

ResultTable ClickHouseStore::report(const ReportRequest&) {
  throw StoreError("clickhouse: the reports are not written yet", StoreErrorCode::internal);
}

}  // namespace advx
