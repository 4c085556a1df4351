#include "cli/store_setup.hpp"

#include <chrono>

#include "core/arena.hpp"
#include "transforms/standardize.hpp"

namespace advx::cli {

bool load_dimensions(const std::string& dims_dir, DuckDbStore& store, Dimensions& dims, std::string* error) {
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
  QueryResult r = store.query(
      "SELECT campaign_id, advertiser_id, campaign_name, CAST(start_date AS VARCHAR), CAST(end_date AS "
      "VARCHAR), "
      "currency FROM campaigns");
  for (const auto& row : r.rows) dims.add_campaign({row[0], row[1], row[2], row[3], row[4], row[5]});
  r = store.query(
      "SELECT creative_id, campaign_id, format, CAST(width AS VARCHAR), CAST(height AS VARCHAR) FROM "
      "creatives");
  for (const auto& row : r.rows) dims.add_creative({row[0], row[1], row[2], row[3], row[4]});
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
