// Setup shared by the commands that write: dimensions from a folder or from the store, the traffic rules.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sinks/duckdb_store.hpp"
#include "transforms/dimensions.hpp"
#include "transforms/geoip.hpp"
#include "transforms/validate.hpp"

namespace advx::cli {

// With `dims_dir`: reads campaigns.csv and creatives.csv into `dims` and replaces the store's dimension
// tables with them. Without: reads the dimension tables the store already has. False with a one-line
// message on a bad file.
bool load_dimensions(const std::string& dims_dir, DuckDbStore& store, Dimensions& dims, std::string* error);

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
