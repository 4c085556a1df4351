// Setup shared by the commands that write: dimensions from a folder or from the store, the traffic rules.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "transforms/dimensions.hpp"
#include "transforms/geoip.hpp"
#include "transforms/validate.hpp"

namespace advx::cli {

// Opens the store a URL names: `duckdb:PATH` (":memory:" for an in-memory one), or a bare PATH, a DuckDB
// file as --db gives it. Throws StoreError (code invalid for a URL advx cannot use).
std::unique_ptr<Store> open_store(const std::string& url, StoreMode mode);

// --db PATH (a DuckDB file) and --store URL (any store: duckdb:PATH, clickhouse://HOST:PORT/DB), which
// both set `url`; the default is `url`'s value.
void add_store_options(CLI::App& sub, std::string& url);

// The DuckDB file a URL names, or "" when it names another engine.
std::string duckdb_path_of(const std::string& url);

// With `dims_dir`: reads campaigns.csv and creatives.csv into `dims` and replaces the store's dimension
// tables with them. Without: reads the dimension tables the store already has. False with a one-line
// message on a bad file.
bool load_dimensions(const std::string& dims_dir, Store& store, Dimensions& dims, std::string* error);

// How a command names its traffic options in messages: a flag (ingest) or a config key (serve).
struct TrafficOptionNames {
  const char* block_site;
  const char* geoip;
};

// The traffic rules advx ingest and advx serve both take: blocked IPs and sites (SPEC 2.3) and the MaxMind
// database giving countries (SPEC 2.5), set in `v`; the database is opened into `geoip`, which must outlive
// `v`'s use. False with a one-line message on a site that is not a host name or a file that is not a
// MaxMind database.
bool set_traffic_rules(const std::vector<std::string>& ips, const std::vector<std::string>& sites,
                       const std::string& geoip_path, const TrafficOptionNames& names, ValidationOptions& v,
                       std::unique_ptr<GeoIp>& geoip, std::string* error);

}  // namespace advx::cli
