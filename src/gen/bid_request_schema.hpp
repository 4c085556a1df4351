// A copy of schemas/bid_request.avsc, so the binary needs no data files; a unit test keeps the two identical.
#pragma once
#include <string_view>

namespace advx::gen {

inline constexpr std::string_view kBidRequestSchema = R"avsc({
  "type": "record",
  "name": "BidRequest",
  "namespace": "com.advertisex.rtb",
  "doc": "An OpenRTB 2.6-shaped bid request, compact: the fields advx reads plus a few realistic others.",
  "fields": [
    {"name": "id", "type": "string", "doc": "Auction id"},
    {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "imp", "type": {"type": "array", "items": {
      "type": "record", "name": "Imp",
      "fields": [
        {"name": "id", "type": "string"},
        {"name": "bidfloor", "type": "double", "default": 0.0},
        {"name": "bidfloorcur", "type": ["null", "string"], "default": null},
        {"name": "banner", "type": ["null", {
          "type": "record", "name": "Banner",
          "fields": [
            {"name": "w", "type": "int"},
            {"name": "h", "type": "int"}
          ]}], "default": null}
      ]}}},
    {"name": "site", "type": ["null", {
      "type": "record", "name": "Site",
      "fields": [
        {"name": "domain", "type": "string"},
        {"name": "page", "type": ["null", "string"], "default": null},
        {"name": "cat", "type": {"type": "array", "items": "string"}, "default": []}
      ]}], "default": null},
    {"name": "app", "type": ["null", {
      "type": "record", "name": "App",
      "fields": [
        {"name": "bundle", "type": "string"}
      ]}], "default": null},
    {"name": "device", "type": ["null", {
      "type": "record", "name": "Device",
      "fields": [
        {"name": "ua", "type": ["null", "string"], "default": null},
        {"name": "ip", "type": ["null", "string"], "default": null},
        {"name": "devicetype", "type": ["null", "int"], "default": null},
        {"name": "geo", "type": ["null", {
          "type": "record", "name": "Geo",
          "fields": [
            {"name": "country", "type": ["null", "string"], "default": null}
          ]}], "default": null}
      ]}], "default": null},
    {"name": "user", "type": ["null", {
      "type": "record", "name": "User",
      "fields": [
        {"name": "id", "type": ["null", "string"], "default": null}
      ]}], "default": null},
    {"name": "exchange", "type": ["null", "string"], "default": null},
    {"name": "at", "type": "int", "default": 1, "doc": "Auction type: 1 first price, 2 second price"},
    {"name": "tmax", "type": ["null", "int"], "default": null}
  ]
}
)avsc";

}  // namespace advx::gen
