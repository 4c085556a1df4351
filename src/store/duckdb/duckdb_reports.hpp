// The SQL of `advx report` on DuckDB (SPEC 2.7, docs/REPORTS.md): campaign performance, the funnel,
// attribution latency and impression frequency, as SELECTs over the stored tables. Internal to the DuckDB
// store; exposed for its tests.
#pragma once
#include <string>
#include <vector>

#include "store/report_request.hpp"

namespace advx::report {

std::string campaigns_sql(const std::vector<Dimension>& by, const TimeRange& range, Scan scan = Scan::rollup);
std::string funnel_sql(bool by_campaign, const TimeRange& range, Scan scan = Scan::rollup);
std::string latency_sql(bool by_campaign, const TimeRange& range);
std::string frequency_sql(bool by_campaign, const TimeRange& range);

// The SQL of one request.
std::string report_sql(const ReportRequest& request);

}  // namespace advx::report
