// Country from IP (SPEC 2.5): a MaxMind-format database (GeoLite2/GeoIP2 Country or City, or any .mmdb
// with a `country.iso_code` field) read with libmaxminddb. The file is memory-mapped once; lookups are
// read-only and safe from several threads.
#pragma once
#include <memory>
#include <string>
#include <string_view>

struct MMDB_s;

namespace advx {

class GeoIp {
 public:
  // Opens `path`; null with `*error` set when it is not a readable MaxMind database.
  static std::unique_ptr<GeoIp> open(const std::string& path, std::string* error);
  ~GeoIp();
  GeoIp(const GeoIp&) = delete;
  GeoIp& operator=(const GeoIp&) = delete;

  // The ISO 3166-1 alpha-2 code of `ip` (IPv4 or IPv6 text), from the standardizer's table (so the view
  // lives forever); empty when the address is not valid, not in the database, or has no country.
  std::string_view country(std::string_view ip) const;

 private:
  GeoIp() = default;
  std::unique_ptr<MMDB_s> db_;
};

}  // namespace advx
