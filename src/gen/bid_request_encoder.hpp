// Encodes generated bid requests with whatever writer schema the user gives, as long as it places the OpenRTB
// fields advx knows (SPEC 1.3) at their usual paths: the schema is compiled once into a small tree of steps.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace advx::gen {

// One bid request's values. An empty string or a zero for an optional field means "absent" (null).
struct BidRequestValues {
  struct Imp {
    std::string_view id;
    double bidfloor = 0;
    std::string_view bidfloorcur;
    int32_t w = 0, h = 0;  // w == 0: no banner
  };
  std::string_view id;
  int64_t timestamp_ms = 0;
  int imp_count = 0;
  Imp imps[3];
  bool has_site = false;
  std::string_view site_domain, site_page;
  std::span<const std::string_view> site_cat;
  bool has_app = false;
  std::string_view app_bundle;
  bool has_device = false;
  std::string_view ua, ip, country;
  int32_t devicetype = 0;
  bool has_user = false;
  std::string_view user_id;
  std::string_view exchange;
  int32_t at = 1;
  int32_t tmax = 0;
};

class BidRequestEncoder {
 public:
  // Throws std::runtime_error with a one-line message when the schema is not valid JSON or has a required
  // field the generator cannot fill.
  explicit BidRequestEncoder(std::string_view schema_json);
  ~BidRequestEncoder();
  BidRequestEncoder(BidRequestEncoder&&) noexcept;
  void encode(const BidRequestValues& v, std::string& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace advx::gen
