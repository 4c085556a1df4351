#include "cli/store_setup.hpp"

#include <chrono>

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

}  // namespace advx::cli
