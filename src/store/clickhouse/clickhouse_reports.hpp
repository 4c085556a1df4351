// The SQL of `advx report` on ClickHouse (docs/REPORTS.md), for 18.16 and current releases alike: the
// DuckDB store's reports (store/duckdb/duckdb_reports.cpp) translated so that the same rows give the same
// typed results, hence the same report bytes. Internal to the ClickHouse store; exposed for its tests.
//
// What the translation keeps exact, and how:
// - Money: each amount becomes DuckDB's DECIMAL(38,9) (the double times 10^9, rounded half away from zero,
//   written out with trunc() because round() of a Float64 rounds half to even in current releases), sums
//   stay Decimal(38, 12), and the sums become doubles the way DuckDB casts a DECIMAL to DOUBLE: unscaled /
//   10^12 while the unscaled value is at most 2^53, else integer part + fraction / 10^12.
// - Percentiles: DuckDB's quantile_cont, lo * (1 - d) + hi * d, d = RN - FRN, RN = (n - 1) * q, over the
//   sorted values (arraySort(groupArray)), since 18.16 has no interpolating exact quantile.
// - Ratios: Float64 divisions of the same operands, NULL on a zero denominator.
// - Rows changed by attribution: clicks, conversions, bid_requests and campaign_hourly are read with FINAL
//   (ReplacingMergeTree by advx_version), and rollup rows whose counts are all zero (the tombstones of
//   hours that lost their last event) are left out.
// - 18.16 has no WITH subqueries, no window functions and one JOIN per SELECT: subqueries are nested, the
//   first row of a key is argMin over a tuple (NULLS LAST as DuckDB orders), and a JOIN's unmatched side
//   reads NULL because every column it brings is Nullable.
#pragma once
#include <string>
#include <string_view>

#include "store/report_request.hpp"
#include "store/result.hpp"

namespace advx::clickhouse {

// The SELECT of one report over the tables of database `db`.
std::string clickhouse_report_sql(const ReportRequest& request, std::string_view db);

// Gives a report's result the value types of the DuckDB store's (what the text of a report is rendered
// from): a count that came back as UInt64 (a decimal of scale 0) becomes an integer, a Float32 a double.
// Throws StoreError (internal) for a count beyond int64.
void retype_report_result(ResultTable& result);

}  // namespace advx::clickhouse
