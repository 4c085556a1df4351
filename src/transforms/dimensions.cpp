#include "transforms/dimensions.hpp"

#include <fstream>
#include <sstream>

#include "core/time_util.hpp"
#include "formats/csv/csv_parser.hpp"
#include "transforms/standardize.hpp"

namespace advx {
namespace {

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string lower_trimmed(std::string_view s) {
  std::string out(trim_blanks(s));
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
  return out;
}

// Rows of a small CSV file as maps from lower-case header name to value.
bool read_table(const std::string& path, std::string_view id_column,
                std::vector<std::vector<std::string>>* rows, std::vector<std::string>* header,
                std::string* error) {
  std::string text;
  if (!read_file(path, &text)) {
    *error = "cannot read " + path;
    return false;
  }
  std::string csv_error;
  *rows = parse_csv_document(text, &csv_error);
  if (!csv_error.empty()) {
    *error = path + ": " + csv_error;
    return false;
  }
  if (rows->empty()) {
    *error = path + ": empty file, expected a header";
    return false;
  }
  header->clear();
  for (auto& h : rows->front()) header->push_back(lower_trimmed(h));
  rows->erase(rows->begin());
  for (auto& h : *header)
    if (h == id_column) return true;
  *error = path + ": no " + std::string(id_column) + " column";
  return false;
}

std::string field(const std::vector<std::string>& row, const std::vector<std::string>& header,
                  std::string_view name) {
  for (size_t i = 0; i < header.size() && i < row.size(); i++)
    if (header[i] == name) return std::string(trim_blanks(row[i]));
  return {};
}

}  // namespace

bool Dimensions::load_directory(const std::string& dir, std::string* error) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  if (!read_table(dir + "/campaigns.csv", "campaign_id", &rows, &header, error)) return false;
  for (const auto& r : rows) {
    CampaignInfo c{field(r, header, "campaign_id"),   field(r, header, "advertiser_id"),
                   field(r, header, "campaign_name"), field(r, header, "start_date"),
                   field(r, header, "end_date"),      field(r, header, "currency")};
    if (!c.campaign_id.empty()) add_campaign(std::move(c));
  }
  if (!read_table(dir + "/creatives.csv", "creative_id", &rows, &header, error)) return false;
  for (const auto& r : rows) {
    CreativeInfo c{field(r, header, "creative_id"), field(r, header, "campaign_id"),
                   field(r, header, "format"), field(r, header, "width"), field(r, header, "height")};
    if (!c.creative_id.empty()) add_creative(std::move(c));
  }
  return true;
}

void Dimensions::add_campaign(CampaignInfo c) {
  std::string id = c.campaign_id;
  campaigns_.insert_or_assign(std::move(id), std::move(c));
}

void Dimensions::add_creative(CreativeInfo c) {
  std::string id = c.creative_id;
  creatives_.insert_or_assign(std::move(id), std::move(c));
}

const CampaignInfo* Dimensions::campaign(std::string_view id) const {
  auto it = campaigns_.find(id);
  return it == campaigns_.end() ? nullptr : &it->second;
}

const CreativeInfo* Dimensions::creative(std::string_view id) const {
  auto it = creatives_.find(id);
  return it == creatives_.end() ? nullptr : &it->second;
}

void Dimensions::fill_campaign_table(TableBuffer& out) const {
  for (const auto& [id, c] : campaigns_) {
    const size_t r = out.add_row();
    out.set_str(col::cmp_campaign_id, r, c.campaign_id);
    if (!c.advertiser_id.empty()) out.set_str(col::cmp_advertiser_id, r, c.advertiser_id);
    if (!c.campaign_name.empty()) out.set_str(col::cmp_campaign_name, r, c.campaign_name);
    int32_t days;
    if (parse_date(c.start_date, &days)) out.set_i32(col::cmp_start_date, r, days);
    if (parse_date(c.end_date, &days)) out.set_i32(col::cmp_end_date, r, days);
    if (!c.currency.empty()) out.set_str(col::cmp_currency, r, c.currency);
  }
}

void Dimensions::fill_creative_table(TableBuffer& out) const {
  for (const auto& [id, c] : creatives_) {
    const size_t r = out.add_row();
    out.set_str(col::cre_creative_id, r, c.creative_id);
    if (!c.campaign_id.empty()) out.set_str(col::cre_campaign_id, r, c.campaign_id);
    if (!c.format.empty()) out.set_str(col::cre_format, r, c.format);
    auto to_int = [](const std::string& s, int32_t* v) {
      if (s.empty() || s.size() > 9) return false;
      int32_t x = 0;
      for (char ch : s) {
        if (ch < '0' || ch > '9') return false;
        x = x * 10 + (ch - '0');
      }
      *v = x;
      return true;
    };
    int32_t v;
    if (to_int(c.width, &v)) out.set_i32(col::cre_width, r, v);
    if (to_int(c.height, &v)) out.set_i32(col::cre_height, r, v);
  }
}

}  // namespace advx
