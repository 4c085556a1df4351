// advx ingest [--db FILE] [--dims DIR] PATH… : the batch path (SPEC 4).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "cli/app.hpp"
#include "cli/progress_bar.hpp"
#include "cli/store_setup.hpp"
#include "core/time_util.hpp"
#include "pipeline/batch_run.hpp"
#include "server/metrics.hpp"

namespace advx::cli {
namespace {

namespace fs = std::filesystem;

struct IngestArgs {
  std::string db = "advx.duckdb";
  std::string dims;
  std::vector<std::string> paths;
  std::vector<std::string> blocked_ips;
  std::string geoip;
  std::vector<std::string> blocked_sites;
  double future_skew_s = 600;
  double dedup_window_s = 86400;
  size_t dedup_memory_mb = 512;
  double click_window_s = 3600;
  double click_through_window_s = 7 * 86400;
  double view_through_window_s = 86400;
  std::string now;
  std::string memory_limit = "256MB";
  std::string correlate_memory_limit = "1GB";
  size_t max_record_mb = 64;
  bool json = false;
  std::string metrics_file;
  bool quiet = false;
};

// Dimension data: --dims DIR, else a `dims` folder inside an input folder, else what the store holds.
std::string find_dims_dir(const IngestArgs& a) {
  if (!a.dims.empty()) return a.dims;
  for (const auto& p : a.paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec) && fs::exists(fs::path(p) / "dims" / "campaigns.csv", ec))
      return (fs::path(p) / "dims").string();
  }
  return {};
}

int run_ingest(const IngestArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!a.metrics_file.empty()) {
    std::error_code ec;
    const fs::path dir = fs::path(a.metrics_file).parent_path();
    if (!dir.empty() && !fs::is_directory(dir, ec)) {
      std::fprintf(stderr, "advx ingest: --metrics-file %s: no folder %s\n", a.metrics_file.c_str(),
                   dir.c_str());
      return kExitUsage;
    }
  }
  IngestOptions options;
  options.validation.now_us = wall_clock_us();
  if (!a.now.empty() && !parse_timestamp_text(a.now, &options.validation.now_us)) {
    std::fprintf(stderr, "advx ingest: --now %s is not a timestamp\n", a.now.c_str());
    return kExitUsage;
  }
  options.validation.ingested_at_us = wall_clock_us();
  options.validation.max_future_skew_us = int64_t(a.future_skew_s * 1e6);
  options.dedup_window_us = int64_t(a.dedup_window_s * 1e6);
  options.dedup_spill.memory_budget_bytes = a.dedup_memory_mb << 20;
  options.max_record_bytes = a.max_record_mb << 20;
  std::unique_ptr<GeoIp> geoip;
  std::string error;
  if (!set_traffic_rules(a.blocked_ips, a.blocked_sites, a.geoip, {"--block-site", "--geoip"},
                         options.validation, geoip, &error)) {
    std::fprintf(stderr, "advx ingest: %s\n", error.c_str());
    return kExitUsage;
  }

  // Inputs first: a mistyped path must not leave a new, empty database behind.
  const std::string dims_dir = find_dims_dir(a);
  const std::vector<std::string> files = expand_inputs(a.paths, dims_dir, &error);
  if (!error.empty()) {
    std::fprintf(stderr, "advx ingest: %s\n", error.c_str());
    return kExitFailure;
  }
  for (const std::string* limit : {&a.memory_limit, &a.correlate_memory_limit}) {
    if (limit->find('\'') != std::string::npos) {
      std::fprintf(stderr, "advx ingest: memory limit %s is not a size\n", limit->c_str());
      return kExitUsage;
    }
  }

  const std::unique_ptr<Store> opened = open_store(a.db, StoreMode::read_write);
  Store& store = *opened;
  // DuckDB caches up to 80 % of RAM by default; an ingest needs little once rows are committed, and the
  // budget of SPEC-scale runs (10M impressions under 1.5 GB) is spent better on the dedup index.
  store.set_memory_limit(a.memory_limit);
  store.ensure_schema();
  Dimensions dims;
  if (!load_dimensions(dims_dir, store, dims, &error)) {
    std::fprintf(stderr, "advx ingest: %s\n", error.c_str());
    return kExitFailure;
  }

  BatchRunOptions run;
  run.ingest = options;
  run.memory_limit = a.memory_limit;
  run.correlate_memory_limit = a.correlate_memory_limit;
  run.windows.click_us = int64_t(a.click_window_s * 1e6);
  run.windows.click_through_us = int64_t(a.click_through_window_s * 1e6);
  run.windows.view_through_us = int64_t(a.view_through_window_s * 1e6);
  ProgressBar bar(!a.quiet && !a.json && isatty(STDERR_FILENO), total_bytes(files));
  run.progress = [&bar](uint64_t done, size_t file, size_t count) { bar.update(done, file, count); };
  IngestSummary s = run_batch(store, dims, files, run);
  bar.finish();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.json) {
    std::printf("%s\n", format_summary_json(s).c_str());
  } else {
    if (!dims_dir.empty() && !a.quiet)
      std::printf("dimensions: %zu campaigns, %zu creatives from %s\n", dims.campaign_count(),
                  dims.creative_count(), dims_dir.c_str());
    std::fputs(format_summary_text(s).c_str(), stdout);
  }
  for (const auto& f : s.failures) std::fprintf(stderr, "advx ingest: %s\n", f.message.c_str());
  if (!a.metrics_file.empty()) {
    BatchRunMetrics run;
    run.streams = s.streams;
    run.seconds = s.seconds;
    run.failed_files = s.failures.size();
    run.finished_at_us = wall_clock_us();
    // Written aside and renamed: the textfile collector must never read half a file.
    const std::string text = prometheus_text(run);
    const std::string tmp = a.metrics_file + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    const bool written = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (f) std::fclose(f);
    std::error_code ec;
    if (!written || (fs::rename(tmp, a.metrics_file, ec), ec)) {
      std::fprintf(stderr, "advx ingest: cannot write the metrics file %s\n", a.metrics_file.c_str());
      fs::remove(tmp, ec);
      return kExitFailure;
    }
  }
  return s.failures.empty() ? kExitOk : kExitFailure;
}

}  // namespace

void add_ingest_command(CLI::App& app, int& result) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* sub = app.add_subcommand("ingest",
                                     "Ingest files or folders of impressions (JSON), clicks/conversions "
                                     "(CSV) and bid requests (Avro) into the store");
  add_store_options(*sub, args->db);
  sub->add_option("--dims", args->dims,
                  "Folder with campaigns.csv and creatives.csv (default: PATH/dims, "
                  "else the dimensions already in the store)");
  sub->add_option("paths", args->paths,
                  "Files or folders (.jsonl .ndjson .json .csv .avro, optionally .gz/.zst)")
      ->required();
  sub->add_option("--block-ip", args->blocked_ips, "Filter events from this IP (repeatable)");
  sub->add_option("--geoip", args->geoip,
                  "MaxMind database (.mmdb) giving the country of events that name an IP but no country");
  sub->add_option("--block-site", args->blocked_sites,
                  "Filter events on this site and its subdomains (repeatable)");
  sub->add_option("--future-skew", args->future_skew_s, "Seconds an event may lie in the future")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--dedup-window", args->dedup_window_s, "Seconds within which equal keys are duplicates")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--dedup-memory-mb", args->dedup_memory_mb,
                  "Memory for dedup keys; beyond it the older half spills to disk next to --db (0: no limit)")
      ->capture_default_str();
  sub->add_option("--click-window", args->click_window_s, "Seconds a click may follow its impression")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--click-through-window", args->click_through_window_s,
                  "Seconds a conversion may follow its click")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--view-through-window", args->view_through_window_s,
                  "Seconds a conversion may follow an impression")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--now", args->now, "Processing time for the future_timestamp rule (default: the clock)");
  sub->add_option("--memory-limit", args->memory_limit, "Memory DuckDB may use (DuckDB syntax, e.g. 1GB)")
      ->capture_default_str();
  sub->add_option("--attribution-memory-limit", args->correlate_memory_limit,
                  "Memory DuckDB may use for attribution after the files are stored")
      ->capture_default_str();
  sub->add_option("--max-record-mb", args->max_record_mb,
                  "A longer record (e.g. an unterminated CSV quote) fails "
                  "its file instead of filling memory")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sub->add_flag("--json", args->json, "Print the summary as JSON");
  sub->add_option("--metrics-file", args->metrics_file,
                  "Also write the run's counters in the Prometheus text format (node exporter's textfile "
                  "collector; docs/METRICS.md)");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar");
  sub->callback([args, &result] { result = run_ingest(*args); });
}

}  // namespace advx::cli
