// advx report campaigns|funnel|latency|frequency: insights over the store (SPEC 2.7), as a table, CSV or
// JSON. Each store engine holds the SQL (e.g. store/duckdb/duckdb_reports.cpp); docs/REPORTS.md describes
// every column.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "cli/store_setup.hpp"
#include "store/report_request.hpp"
#include "store/result_format.hpp"

namespace advx::cli {

namespace {

struct ReportOptions {
  std::string db = "advx.duckdb";
  std::string format = "table";
  std::string from;
  std::string to;
  std::vector<std::string> by;
  bool no_rollup = false;  // campaigns and funnel: scan the raw tables for whole hours too
};

// campaigns and funnel read whole hours from campaign_hourly unless told not to.
void add_no_rollup_flag(CLI::App* sub, const std::shared_ptr<ReportOptions>& opts) {
  sub->add_flag("--no-rollup", opts->no_rollup,
                "Count every hour from the raw event tables instead of the hourly rollup (slower; to "
                "check the rollup)");
}

report::Scan scan_of(const ReportOptions& opts) {
  return opts.no_rollup ? report::Scan::raw : report::Scan::rollup;
}

// --from/--to: a timestamp as parse_timestamp_text() reads it, or a date.
const CLI::Validator& time_bound_validator() {
  static const CLI::Validator v(
      [](std::string& text) -> std::string {
        int64_t micros = 0;
        if (report::parse_time_bound(text, &micros)) return {};
        return "not a timestamp: " + text + " (use ISO-8601, e.g. 2026-11-01T00:00:00Z, or YYYY-MM-DD)";
      },
      "TIME");
  return v;
}

report::TimeRange time_range(const ReportOptions& opts) {
  report::TimeRange range;
  int64_t micros = 0;
  if (!opts.from.empty() && report::parse_time_bound(opts.from, &micros)) range.from_us = micros;
  if (!opts.to.empty() && report::parse_time_bound(opts.to, &micros)) range.to_us = micros;
  if (range.from_us && range.to_us && *range.from_us >= *range.to_us)
    throw CLI::ValidationError("--from", "must be before --to");
  return range;
}

ReportRequest request(report::Kind kind, bool by_campaign, const report::TimeRange& range) {
  ReportRequest q;
  q.kind = kind;
  q.by_campaign = by_campaign;
  q.range = range;
  return q;
}

int print_report(const char* name, const ReportOptions& opts, const ReportRequest& request) {
  std::error_code ec;
  if (const std::string path = duckdb_path_of(opts.db); !path.empty() && !std::filesystem::exists(path, ec)) {
    std::fprintf(stderr, "advx report %s: no database at %s (run advx ingest first)\n", name,
                 opts.db.c_str());
    return kExitFailure;
  }
  try {
    const std::unique_ptr<Store> store = open_store(opts.db, StoreMode::read_only);
    const ResultTable result = store->report(request);
    // People read the table: thousands separators and percentages; tools read CSV and JSON as stored.
    const std::string text =
        opts.format == "table" ? format_table(report::humanize(result)) : format_result(result, opts.format);
    if (!write_stdout(text)) {
      std::fprintf(stderr, "advx report %s: cannot write the result to standard output\n", name);
      return kExitFailure;
    }
    return kExitOk;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "advx report %s: %s\n", name, e.what());
    return kExitFailure;
  }
}

// The options every report has; `by_help` and `by_values` describe its --by.
CLI::App* add_report(CLI::App& parent, const char* name, const char* description,
                     const std::shared_ptr<ReportOptions>& opts, const std::vector<std::string>& by_values,
                     const char* by_help) {
  auto* sub = parent.add_subcommand(name, description);
  add_store_options(*sub, opts->db);
  sub->add_option("--from", opts->from, "Only events at or after this time (ISO-8601 or YYYY-MM-DD, UTC)")
      ->check(time_bound_validator());
  sub->add_option("--to", opts->to, "Only events before this time (exclusive)")
      ->check(time_bound_validator());
  sub->add_option("--by", opts->by, by_help)->delimiter(',')->check(CLI::IsMember(by_values));
  sub->add_option("--format", opts->format, "Output format: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  return sub;
}

}  // namespace

void add_report_command(CLI::App& app, int& result) {
  auto* report = app.add_subcommand("report", "Campaign performance and other insights (docs/REPORTS.md)");
  report->require_subcommand(1);
  report->footer("Run advx report SUBCOMMAND --help for a report's options.");

  auto campaigns = std::make_shared<ReportOptions>();
  auto* sub =
      add_report(*report, "campaigns", "Performance per campaign: volume, attribution, spend, ratios",
                 campaigns, report::dimension_names(),
                 "Break down by keys, comma-separated: campaign, creative, site, country, device, day, "
                 "hour (campaign_id is always a key)");
  sub->footer(
      "Clicks and conversions count toward the campaign they name, impressions and spend toward the "
      "campaign\n"
      "of their creative. ctr = clicks/impressions, conversion_rate = conversions/clicks, spend = sum of\n"
      "win_price_cpm / 1000, cpc = spend/clicks, cpa = spend/conversions, roas = conversion_value/spend\n"
      "(NULL when the denominator is 0). Every campaign of the campaigns table is listed, with zeros when "
      "it\n"
      "has no event in range.\n"
      "Whole hours come from the hourly rollup campaign_hourly when the keys are campaign, day and hour.\n"
      "Example: advx report campaigns --by day --from 2026-11-01 --to 2026-11-08 --format csv");
  add_no_rollup_flag(sub, campaigns);
  sub->callback([campaigns, &result] {
    std::vector<report::Dimension> by;
    for (const auto& name : campaigns->by) {
      report::Dimension d{};
      if (report::parse_dimension(name, &d)) by.push_back(d);
    }
    ReportRequest q = request(report::Kind::campaigns, false, time_range(*campaigns));
    q.by = std::move(by);
    q.scan = scan_of(*campaigns);
    result = print_report("campaigns", *campaigns, q);
  });

  const std::vector<std::string> campaign_only = {"campaign"};
  auto funnel = std::make_shared<ReportOptions>();
  sub = add_report(*report, "funnel", "Bid requests -> won -> impressions -> clicks -> conversions", funnel,
                   campaign_only, "campaign: one row per campaign (bid_requests and win_rate are then NULL)");
  sub->footer(
      "win_rate = bid_requests_won/bid_requests, ctr = clicks/impressions, "
      "conversion_rate = conversions/clicks.");
  add_no_rollup_flag(sub, funnel);
  sub->callback([funnel, &result] {
    ReportRequest q = request(report::Kind::funnel, !funnel->by.empty(), time_range(*funnel));
    q.scan = scan_of(*funnel);
    result = print_report("funnel", *funnel, q);
  });

  auto latency = std::make_shared<ReportOptions>();
  sub = add_report(*report, "latency", "Impression -> click and click -> conversion times, p50/p90/p99",
                   latency, campaign_only, "campaign: per campaign");
  sub->footer(
      "impression_to_click: seconds_from_impression of attributed clicks; click_to_conversion:\n"
      "seconds_from_touch of click_through conversions. Percentiles are DuckDB quantile_cont.");
  sub->callback([latency, &result] {
    result = print_report("latency", *latency,
                          request(report::Kind::latency, !latency->by.empty(), time_range(*latency)));
  });

  auto frequency = std::make_shared<ReportOptions>();
  sub = add_report(*report, "frequency", "Users by impressions per user (1, 2, 3, 4-5, 6-10, 11+)", frequency,
                   campaign_only, "campaign: count impressions per user and campaign");
  sub->footer(
      "converting_users: users of the bucket with a conversion in range (with --by campaign, a conversion\n"
      "of that campaign). conversion_rate = converting_users/users.");
  sub->callback([frequency, &result] {
    result = print_report("frequency", *frequency,
                          request(report::Kind::frequency, !frequency->by.empty(), time_range(*frequency)));
  });
}

}  // namespace advx::cli
