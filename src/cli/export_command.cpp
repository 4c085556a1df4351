// advx export (--db FILE | --store URL) --out DIR [--from T] [--to T] [--tables LIST] [--overwrite]: the
// stored tables as Hive-partitioned Parquet (SPEC 3), from either store. The store is only read (a DuckDB
// file is attached read-only, ClickHouse read with readonly=1). docs/EXPORT.md.
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "cli/app.hpp"
#include "cli/store_setup.hpp"
#include "core/time_util.hpp"
#include "store/store.hpp"

namespace advx::cli {

namespace {

namespace fs = std::filesystem;

struct ExportOptions {
  std::string db = "advx.duckdb";
  std::string out;
  std::string from;
  std::string to;
  std::vector<std::string> tables;
  bool overwrite = false;
};

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "advx export: %s\n", msg.c_str());
  return kExitUsage;
}

int run_export(const ExportOptions& opts) {
  ExportRange range;
  for (auto [text, bound, name] :
       {std::tuple{&opts.from, &range.from_us, "--from"}, std::tuple{&opts.to, &range.to_us, "--to"}}) {
    if (text->empty()) continue;
    int64_t micros = 0;
    int32_t days = 0;
    if (parse_timestamp_text(*text, &micros)) {
      *bound = micros;
    } else if (parse_date(*text, &days)) {  // a bare date is its midnight, UTC
      *bound = int64_t(days) * kMicrosPerDay;
    } else {
      return usage_error(std::string(name) + ": not a timestamp: " + *text);
    }
  }
  if (range.from_us && range.to_us && *range.from_us >= *range.to_us)
    return usage_error("--from must be before --to");

  std::vector<const ExportTableSpec*> specs;
  if (opts.tables.empty()) {
    for (const ExportTableSpec& s : export_table_specs()) specs.push_back(&s);
  } else {
    for (const std::string& name : opts.tables) {
      const ExportTableSpec* spec = find_export_table(name);
      if (!spec)
        return usage_error("--tables: unknown table " + name +
                           " (impressions, clicks, conversions, bid_requests, rejects)");
      bool seen = false;
      for (const ExportTableSpec* s : specs) seen = seen || s == spec;
      if (!seen) specs.push_back(spec);
    }
  }

  const fs::path out(opts.out);
  std::error_code ec;
  const fs::file_status st = fs::status(out, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) return usage_error(opts.out + " exists and is not a directory");
    const bool empty = fs::is_empty(out, ec);
    if (ec) return usage_error("cannot read " + opts.out + ": " + ec.message());
    if (!empty && !opts.overwrite)
      return usage_error(opts.out +
                         " exists and is not empty (give --overwrite to replace the exported tables)");
  }

  try {
    // Opened before creating --out: a missing database leaves nothing behind.
    const std::unique_ptr<Store> store = open_store(opts.db, StoreMode::read_only);
    fs::create_directories(out, ec);
    if (ec) {
      std::fprintf(stderr, "advx export: cannot create %s: %s\n", opts.out.c_str(), ec.message().c_str());
      return kExitFailure;
    }
    for (const ExportTableSpec* spec : specs) {
      const fs::path dir = out / std::string(spec->table);
      if (opts.overwrite) {
        fs::remove_all(dir, ec);  // only this table's folder: stale partitions must not survive
        if (ec) {
          std::fprintf(stderr, "advx export: cannot remove %s: %s\n", dir.c_str(), ec.message().c_str());
          return kExitFailure;
        }
      }
      const TableExportStats s = store->export_table(*spec, dir.string(), range);
      std::printf("%-12.*s %12" PRIu64 " rows %6" PRIu64 " files %14" PRIu64 " bytes  %s\n",
                  static_cast<int>(spec->table.size()), spec->table.data(), s.rows, s.files, s.bytes,
                  dir.c_str());
      std::fflush(stdout);
      if (s.null_text_campaign_ids > 0)
        std::fprintf(stderr,
                     "advx export: warning: %" PRIu64
                     " %.*s rows have the campaign_id text 'NULL'; they share the campaign_id=NULL "
                     "partition and read back as NULL\n",
                     s.null_text_campaign_ids, static_cast<int>(spec->table.size()), spec->table.data());
    }
    if (std::ferror(stdout)) {
      std::fprintf(stderr, "advx export: cannot write to standard output\n");
      return kExitFailure;
    }
    return kExitOk;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "advx export: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace

void add_export_command(CLI::App& app, int& result) {
  auto opts = std::make_shared<ExportOptions>();
  auto* sub = app.add_subcommand("export", "Export the stored tables as Hive-partitioned Parquet (zstd)");
  sub->footer(
      "Layout: DIR/<table>/event_date=YYYY-MM-DD/[campaign_id=ID/]data_<uuid>.parquet\n"
      "  impressions, clicks, conversions: by event_date and campaign_id (NULL ids: campaign_id=NULL)\n"
      "  bid_requests: by event_date; rejects: by ingest_date (the UTC date of ingested_at)\n"
      "Partition columns are in the folder names only: read with Hive partitioning, e.g. in DuckDB\n"
      "  SELECT * FROM read_parquet('DIR/impressions/**/*.parquet', hive_partitioning = true)\n"
      "--from/--to select event_time >= FROM and < TO (rejects: ingested_at): ISO-8601, a date or epoch; "
      "UTC.\n"
      "The store is only read, never modified; --store clickhouse://HOST:PORT/DB works too. See "
      "docs/EXPORT.md.\n"
      "Example: advx export --db advx.duckdb --out lake --from 2026-11-01 --to 2026-11-02");
  add_store_options(*sub, opts->db);
  sub->add_option("--out", opts->out, "Output folder: must be missing or empty unless --overwrite")
      ->required();
  sub->add_option("--from", opts->from, "First event time to export (inclusive)");
  sub->add_option("--to", opts->to, "Event time to stop before (exclusive)");
  sub->add_option("--tables", opts->tables,
                  "Comma-separated tables (default all): impressions,clicks,conversions,bid_requests,rejects")
      ->delimiter(',');
  sub->add_flag("--overwrite", opts->overwrite,
                "Write into a non-empty --out, replacing DIR/<table> of each exported table");
  sub->callback([opts, &result] { result = run_export(*opts); });
}

}  // namespace advx::cli
