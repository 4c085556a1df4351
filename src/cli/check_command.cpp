// advx check [--db FILE] [--from T] [--to T] [--config FILE] [--format table|csv|json]: the data-quality
// rules of SPEC 5 over stored data. It replays the range minute by minute through the same rules and
// lifecycle as advx serve and lists every alert that fired, with when it fired and resolved. Exit 0 when
// none fired, 1 when one did (or the store failed), 2 on wrong usage. docs/ALERTS.md.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/app.hpp"
#include "cli/serve_config.hpp"
#include "core/time_util.hpp"
#include "monitor/alert_tracker.hpp"
#include "monitor/quality_frame.hpp"
#include "monitor/rules.hpp"
#include "sinks/duckdb_store.hpp"
#include "sinks/report_queries.hpp"
#include "sinks/result_format.hpp"

namespace advx::cli {

namespace {

struct CheckOptions {
  std::string db = "advx.duckdb";
  std::string config;
  std::string from;
  std::string to;
  std::string format = "table";
  std::string clock = "file_order";
  bool signals = false;
};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

QueryResult alerts_result(const std::vector<monitor::Alert>& alerts) {
  QueryResult r;
  r.column_names = {"rule",     "source",      "campaign", "severity",  "state",
                    "fired_at", "resolved_at", "value",    "threshold", "summary"};
  r.column_types = {"VARCHAR",   "VARCHAR",   "VARCHAR", "VARCHAR", "VARCHAR",
                    "TIMESTAMP", "TIMESTAMP", "DOUBLE",  "DOUBLE",  "VARCHAR"};
  for (const monitor::Alert& a : alerts) {
    r.rows.push_back({a.rule, a.source, a.campaign, a.severity,
                      std::string(monitor::alert_state_name(a.state)), format_timestamp(a.fired_at_us),
                      a.resolved_at_us ? format_timestamp(a.resolved_at_us) : "", number(a.value),
                      number(a.threshold), a.summary});
    r.is_null.push_back({0, a.source.empty(), a.campaign.empty(), 0, 0, 0, a.resolved_at_us == 0, 0, 0, 0});
  }
  return r;
}

// --signals: the per-minute signals the rules read, one row per stream and minute of the range.
QueryResult signals_result(const monitor::QualityFrame& frame, int64_t from, int64_t to) {
  QueryResult r;
  r.column_names = {"minute",    "stream",        "stored",        "rejected",        "filtered",
                    "lag_p95_s", "unknown",       "auction_named", "auction_unknown", "auction_won",
                    "clicks",    "orphan_clicks", "conversions"};
  r.column_types.assign(r.column_names.size(), "BIGINT");
  r.column_types[0] = "TIMESTAMP";
  r.column_types[1] = "VARCHAR";
  r.column_types[5] = "DOUBLE";
  for (auto it = frame.streams.lower_bound(from); it != frame.streams.end() && it->first < to; ++it) {
    for (int s = 0; s < kStreamCount; s++) {
      const monitor::StreamMinute& m = it->second[size_t(s)];
      if (m.records() == 0) continue;
      r.rows.push_back({format_timestamp(it->first), std::string(stream_name(Stream(s))),
                        std::to_string(m.stored), std::to_string(m.rejected), std::to_string(m.filtered),
                        number(monitor::lag_quantile(m.lag, 0.95)), std::to_string(m.unknown),
                        std::to_string(m.auction_named), std::to_string(m.auction_unknown),
                        std::to_string(m.auction_won), std::to_string(m.clicks),
                        std::to_string(m.orphan_clicks), std::to_string(m.conversions)});
      r.is_null.emplace_back(r.column_names.size(), 0);
    }
  }
  return r;
}

int cannot_write() {
  std::fprintf(stderr, "advx check: cannot write the result to standard output\n");
  return kExitFailure;
}

int run_check(const CheckOptions& o) {
  ServeConfig config;
  std::string error;
  if (!o.config.empty() && !load_serve_config(o.config, &config, &error)) {
    std::fprintf(stderr, "advx check: %s\n", error.c_str());
    return kExitUsage;
  }
  const monitor::ArrivalClock clock =
      o.clock == "ingested_at" ? monitor::ArrivalClock::ingested_at : monitor::ArrivalClock::file_order;
  std::unique_ptr<DuckDbStore> store;
  try {
    store = std::make_unique<DuckDbStore>(o.db, StoreMode::read_only);
  } catch (const StoreError& e) {
    std::fprintf(stderr, "advx check: %s: %s\n", o.db.c_str(), e.what());
    return kExitFailure;
  }
  try {
    // The range: given, else everything stored. Rules look back before it (windows, baselines, a week
    // for seasonal volume), so the frame starts that much earlier.
    const monitor::StoredExtent extent = monitor::stored_extent(*store);
    int64_t from = extent.first_minute_us, to = extent.end_minute_us;
    int64_t t = 0;
    if (!o.from.empty() && report::parse_time_bound(o.from, &t)) from = monitor::floor_minute(t);
    if (!o.to.empty() && report::parse_time_bound(o.to, &t)) to = monitor::floor_minute(t);
    if (from >= to) {
      std::fprintf(stderr, "advx check: nothing to check: %s\n",
                   extent.end_minute_us == 0 ? "the store holds no events" : "--from is not before --to");
      return extent.end_minute_us == 0 ? kExitOk : kExitUsage;
    }
    const int64_t lookback = monitor::lookback(config.rules, monitor::kMinuteUs).streams_us;
    const monitor::QualityFrame frame = monitor::read_quality_frame(*store, from - lookback, to, clock);
    if (o.signals) {
      const QueryResult result = signals_result(frame, from, to);
      if (!write_stdout(format_result(result, o.format))) return cannot_write();
      return kExitOk;
    }
    monitor::AlertTracker tracker(config.repeat_interval_us);
    uint64_t evaluations = 0;
    const monitor::CampaignIndex campaigns(frame);
    for (int64_t now = from + monitor::kMinuteUs; now <= to; now += monitor::kMinuteUs, evaluations++)
      tracker.update(monitor::evaluate(config.rules, frame, now, &campaigns), now);
    const std::vector<monitor::Alert>& fired = tracker.fired();
    const QueryResult result = alerts_result(fired);
    if (!write_stdout(format_result(result, o.format))) return cannot_write();
    std::fprintf(stderr, "advx check: %zu alert%s fired from %s to %s (%llu evaluations, one per minute)\n",
                 fired.size(), fired.size() == 1 ? "" : "s", format_timestamp(from).c_str(),
                 format_timestamp(to).c_str(), (unsigned long long)evaluations);
    return fired.empty() ? kExitOk : kExitFailure;
  } catch (const StoreError& e) {
    std::fprintf(stderr, "advx check: %s: %s\n", o.db.c_str(), e.what());
    return kExitFailure;
  }
}

}  // namespace

void add_check_command(CLI::App& app, int& result) {
  auto opts = std::make_shared<CheckOptions>();
  auto* sub = app.add_subcommand("check", "Data-quality rules over stored data: exit 1 when an alert fires");
  sub->add_option("--db", opts->db, "DuckDB database file")->capture_default_str();
  sub->add_option("--config", opts->config,
                  "TOML file whose [rules.*] sections set the rules (as advx serve)")
      ->check(CLI::ExistingFile);
  sub->add_option("--from", opts->from,
                  "First minute evaluated (ISO-8601 or YYYY-MM-DD, UTC; default: the first stored)");
  sub->add_option("--to", opts->to, "End of the range, exclusive (default: after the last stored minute)");
  sub->add_option("--format", opts->format, "Output format: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  sub->add_option("--clock", opts->clock,
                  "When rows arrived: file_order (rebuilt from the order they were read, for batch-ingested "
                  "files) or ingested_at (as advx serve stamped them)")
      ->check(CLI::IsMember({"file_order", "ingested_at"}))
      ->capture_default_str();
  sub->add_flag("--signals", opts->signals,
                "Print the per-minute signals the rules read (stream, counts, p95 lag) instead of alerts");
  sub->footer(
      "Lists every alert that fired in the range (rule, source, campaign, severity, state, fired_at,\n"
      "resolved_at, value, threshold, summary). Rules and defaults: docs/ALERTS.md.\n"
      "Example: advx check --db advx.duckdb --from 2026-11-01 --to 2026-11-02 --format json");
  sub->callback([opts, &result] {
    int64_t t = 0;
    for (const std::string* s : {&opts->from, &opts->to})
      if (!s->empty() && !report::parse_time_bound(*s, &t))
        throw CLI::ValidationError("not a timestamp: " + *s + " (use ISO-8601 or YYYY-MM-DD)");
    result = run_check(*opts);
  });
}

}  // namespace advx::cli
