#include "cli/store_setup.hpp"

#include <chrono>

#include "core/arena.hpp"
#include "core/table_buffer.hpp"
#include "store/clickhouse/clickhouse_cluster.hpp"
#include "store/clickhouse/clickhouse_store.hpp"
#include "store/duckdb/duckdb_store.hpp"
#include "transforms/standardize.hpp"

namespace advx::cli {

std::string duckdb_path_of(const std::string& url) {
  if (url.starts_with("duckdb:")) return url.substr(7);
  if (url.find("://") != std::string::npos) return "";
  return url;
}

void add_store_options(CLI::App& sub, std::string& url) {
  auto* db = sub.add_option("--db", url, "DuckDB database file (the embedded store)")->capture_default_str();
  sub.add_option("--store", url,
                 "The store, as a URL: duckdb:PATH, clickhouse://[USER[:PASS]@]HOST:PORT/DB, or a sharded "
                 "ClickHouse: clickhouse://HOST1:PORT1,HOST2:PORT2/DB?cluster=NAME")
      ->excludes(db);
}

std::unique_ptr<Store> open_store(const std::string& url, StoreMode mode) {
  // clickhouse://HOST1:PORT1,HOST2:PORT2/DB?cluster=NAME: a sharded ClickHouse (docs/STORES.md).
  if (clickhouse::is_cluster_url(url)) return std::make_unique<ClickHouseClusterStore>(url, mode);
  if (url.starts_with("clickhouse://")) return std::make_unique<ClickHouseStore>(url, mode);
  if (url.find("://") != std::string::npos && !url.starts_with("duckdb:")) {
    throw StoreError(
        "unknown store URL " + url +
            " (use duckdb:PATH, clickhouse://[USER[:PASS]@]HOST:PORT/DB, or a DuckDB file's path)",
        StoreErrorCode::invalid);
  }
  const std::string path = duckdb_path_of(url);
  if (path.empty()) throw StoreError("store URL " + url + " names no database file", StoreErrorCode::invalid);
  return std::make_unique<DuckDbStore>(path, mode);
}

bool load_dimensions(const std::string& dims_dir, Store& store, Dimensions& dims, std::string* error) {
  if (!dims_dir.empty()) {
    if (!dims.load_directory(dims_dir, error)) return false;
    TableBuffer campaigns(tables::kCampaigns), creatives(tables::kCreatives);
    dims.fill_campaign_table(campaigns);
    dims.fill_creative_table(creatives);
    store.begin();
    store.replace_table(campaigns.slice());
    store.replace_table(creatives.slice());
    store.commit();
    return true;
  }
  const ResultTable c = store.read_table(tables::kCampaigns);
  auto text = [](const ResultTable& t, const char* name, size_t row) { return t.column(name).text_at(row); };
  for (size_t i = 0; i < c.rows(); i++) {
    dims.add_campaign({text(c, "campaign_id", i), text(c, "advertiser_id", i), text(c, "campaign_name", i),
                       text(c, "start_date", i), text(c, "end_date", i), text(c, "currency", i)});
  }
  const ResultTable k = store.read_table(tables::kCreatives);
  for (size_t i = 0; i < k.rows(); i++) {
    dims.add_creative({text(k, "creative_id", i), text(k, "campaign_id", i), text(k, "format", i),
                       text(k, "width", i), text(k, "height", i)});
  }
  return true;
}

bool set_traffic_rules(const std::vector<std::string>& ips, const std::vector<std::string>& sites,
                       const std::string& geoip_path, const TrafficOptionNames& names, ValidationOptions& v,
                       std::unique_ptr<GeoIp>& geoip, std::string* error) {
  v.blocked_ips.insert(ips.begin(), ips.end());
  if (!geoip_path.empty()) {
    std::string why;
    if (!(geoip = GeoIp::open(geoip_path, &why))) {
      *error = std::string(names.geoip) + " " + why;
      return false;
    }
    v.geoip = geoip.get();
  }
  Arena arena;
  for (const auto& s : sites) {
    const std::string_view host = normalize_site(s, arena);
    if (host.empty()) {
      *error = std::string(names.block_site) + " " + s + " is not a host name";
      return false;
    }
    v.blocked_sites.emplace(host);
  }
  return true;
}

}  // namespace advx::cli
