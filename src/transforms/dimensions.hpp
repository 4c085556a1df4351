// Dimension data (SPEC 1.5): campaigns and creatives, looked up by id during enrichment.
#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/hash.hpp"
#include "core/table_buffer.hpp"

namespace advx {

struct CampaignInfo {
  std::string campaign_id;
  std::string advertiser_id;
  std::string campaign_name;
  std::string start_date;  // YYYY-MM-DD as given
  std::string end_date;
  std::string currency;
};

struct CreativeInfo {
  std::string creative_id;
  std::string campaign_id;
  std::string format;
  std::string width;
  std::string height;
};

class Dimensions {
 public:
  // Reads DIR/campaigns.csv and DIR/creatives.csv (header names case-insensitive, any column order).
  // Returns false with a one-line message naming the file on any error (missing file, bad CSV, no id column).
  bool load_directory(const std::string& dir, std::string* error);

  void add_campaign(CampaignInfo c);
  void add_creative(CreativeInfo c);

  const CampaignInfo* campaign(std::string_view id) const;
  const CreativeInfo* creative(std::string_view id) const;
  bool empty() const { return campaigns_.empty() && creatives_.empty(); }
  size_t campaign_count() const { return campaigns_.size(); }
  size_t creative_count() const { return creatives_.size(); }

  // Rows for the `campaigns` and `creatives` tables.
  void fill_campaign_table(TableBuffer& out) const;
  void fill_creative_table(TableBuffer& out) const;

 private:
  template <class T>
  using Map = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;
  Map<CampaignInfo> campaigns_;
  Map<CreativeInfo> creatives_;
};

}  // namespace advx
