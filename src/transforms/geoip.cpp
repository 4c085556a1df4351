#include "transforms/geoip.hpp"

#include <maxminddb.h>

#include <cstring>

#include "transforms/standardize.hpp"

namespace advx {

std::unique_ptr<GeoIp> GeoIp::open(const std::string& path, std::string* error) {
  std::unique_ptr<GeoIp> g(new GeoIp());
  g->db_ = std::make_unique<MMDB_s>();
  const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, g->db_.get());
  if (status != MMDB_SUCCESS) {
    *error = path + ": not a MaxMind database (" + MMDB_strerror(status) +
             (status == MMDB_IO_ERROR ? std::string(": ") + std::strerror(errno) : std::string()) + ")";
    g->db_.reset();
    return nullptr;
  }
  return g;
}

GeoIp::~GeoIp() {
  if (db_) MMDB_close(db_.get());
}

std::string_view GeoIp::country(std::string_view ip) const {
  char text[64];  // the longest IPv6 text is 45 characters
  if (ip.empty() || ip.size() >= sizeof text) return {};
  std::memcpy(text, ip.data(), ip.size());
  text[ip.size()] = 0;
  int gai_error = 0, mmdb_error = 0;
  MMDB_lookup_result_s r = MMDB_lookup_string(db_.get(), text, &gai_error, &mmdb_error);
  if (gai_error != 0 || mmdb_error != MMDB_SUCCESS || !r.found_entry) return {};
  MMDB_entry_data_s data;
  if (MMDB_get_value(&r.entry, &data, "country", "iso_code", nullptr) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING)
    return {};
  return normalize_country(std::string_view(data.utf8_string, data.data_size));
}

}  // namespace advx
