// advx check [--db FILE] [--from T] [--to T] [--config FILE] [--format table|csv|json]: the data-quality
// rules of SPEC 5 over stored data. It replays the range minute by minute through the same rules and
// lifecycle as advx serve and lists every alert that fired, with when it fired and resolved. Exit 0 when
// none fired, 1 when one did (or the store failed), 2 on wrong usage. docs/ALERTS.md.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/app.hpp"
#include "cli/serve_config.hpp"
#include "cli/store_setup.hpp"
#include "core/time_util.hpp"
#include "monitor/alert_tracker.hpp"
#include "monitor/quality_frame.hpp"
#include "monitor/rules.hpp"
#include "store/report_request.hpp"
#include "store/result_format.hpp"

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

// Values as people read them: 6 significant digits.
double rounded(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

ResultColumn& add_column(ResultTable& r, const char* name, ValueType type) {
  ResultColumn& c = r.columns.emplace_back();
  c.name = name;
  c.type = type;
  return c;
}

void push_text_or_null(ResultColumn& c, const std::string& v) {
  if (v.empty())
    c.push_null();
  else
    c.push_text(v);
}

ResultTable alerts_result(const std::vector<monitor::Alert>& alerts) {
  ResultTable r;
  for (const char* name : {"rule", "source", "campaign", "severity", "state"})
    add_column(r, name, ValueType::text);
  // Times as ISO-8601 text, as the rest of advx's messages write them.
  add_column(r, "fired_at", ValueType::text);
  add_column(r, "resolved_at", ValueType::text);
  add_column(r, "value", ValueType::real);
  add_column(r, "threshold", ValueType::real);
  add_column(r, "summary", ValueType::text);
  auto& c = r.columns;
  for (const monitor::Alert& a : alerts) {
    c[0].push_text(a.rule);
    push_text_or_null(c[1], a.source);
    push_text_or_null(c[2], a.campaign);
    c[3].push_text(a.severity);
    c[4].push_text(std::string(monitor::alert_state_name(a.state)));
    c[5].push_text(format_timestamp(a.fired_at_us));
    if (a.resolved_at_us)
      c[6].push_text(format_timestamp(a.resolved_at_us));
    else
      c[6].push_null();
    c[7].push_real(rounded(a.value));
    c[8].push_real(rounded(a.threshold));
    c[9].push_text(a.summary);
  }
  return r;
}

// --signals: the per-minute signals the rules read, one row per stream and minute of the range.
ResultTable signals_result(const monitor::QualityFrame& frame, int64_t from, int64_t to) {
  ResultTable r;
  add_column(r, "minute", ValueType::text);
  add_column(r, "stream", ValueType::text);
  for (const char* name : {"stored", "rejected", "filtered"}) add_column(r, name, ValueType::integer);
  add_column(r, "lag_p95_s", ValueType::real);
  for (const char* name : {"unknown", "auction_named", "auction_unknown", "auction_won", "clicks",
                           "orphan_clicks", "conversions"})
    add_column(r, name, ValueType::integer);
  auto& c = r.columns;
  for (auto it = frame.streams.lower_bound(from); it != frame.streams.end() && it->first < to; ++it) {
    for (int s = 0; s < kStreamCount; s++) {
      const monitor::StreamMinute& m = it->second[size_t(s)];
      if (m.records() == 0) continue;
      c[0].push_text(format_timestamp(it->first));
      c[1].push_text(std::string(stream_name(Stream(s))));
      const uint64_t counts[] = {m.stored,        m.rejected,        m.filtered,    m.unknown,
                                 m.auction_named, m.auction_unknown, m.auction_won, m.clicks,
                                 m.orphan_clicks, m.conversions};
      for (size_t i = 0; i < 3; i++) c[2 + i].push_int(int64_t(counts[i]));
      c[5].push_real(rounded(monitor::lag_quantile(m.lag, 0.95)));
      for (size_t i = 3; i < 10; i++) c[3 + i].push_int(int64_t(counts[i]));
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
  std::unique_ptr<Store> store;
  try {
    store = open_store(o.db, StoreMode::read_only);
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
      const ResultTable result = signals_result(frame, from, to);
      if (!write_stdout(format_result(result, o.format))) return cannot_write();
      return kExitOk;
    }
    monitor::AlertTracker tracker(config.repeat_interval_us);
    uint64_t evaluations = 0;
    const monitor::CampaignIndex campaigns(frame);
    for (int64_t now = from + monitor::kMinuteUs; now <= to; now += monitor::kMinuteUs, evaluations++)
      tracker.update(monitor::evaluate(config.rules, frame, now, &campaigns), now);
    const std::vector<monitor::Alert>& fired = tracker.fired();
    const ResultTable result = alerts_result(fired);
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
  add_store_options(*sub, opts->db);
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
