// The data-quality counts and Parquet export on ClickHouse: to be written (issue 12).
#include "store/clickhouse/clickhouse_store.hpp"

namespace advx {

ResultTable ClickHouseStore::quality_counts(Stream, int64_t, int64_t, ArrivalClock, int64_t) {
  throw StoreError("clickhouse: the data-quality counts are not written yet", StoreErrorCode::internal);
}

std::optional<std::pair<int64_t, int64_t>> ClickHouseStore::event_time_extent() {
  throw StoreError("clickhouse: the data-quality counts are not written yet", StoreErrorCode::internal);
}

TableExportStats ClickHouseStore::export_table(const ExportTableSpec&, const std::string&,
                                               const ExportRange&) {
  throw StoreError("clickhouse: export is not written yet", StoreErrorCode::internal);
}

}  // namespace advx
