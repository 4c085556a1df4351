// The three input streams and the standard fields each one carries. Decoders map their format's names and
// paths onto these field slots; everything after decoding works on slots, never on format names.
#pragma once
#include <cstdint>
#include <string_view>

namespace advx {

enum class Stream : uint8_t { impressions = 0, events = 1, bid_requests = 2 };
inline constexpr int kStreamCount = 3;

// Names used in summaries, metrics and the rejects table.
constexpr std::string_view stream_name(Stream s) {
  switch (s) {
    case Stream::impressions:
      return "impressions";
    case Stream::events:
      return "clicks_conversions";
    case Stream::bid_requests:
      return "bid_requests";
  }
  return "?";
}

// SPEC 1.1
enum class ImpressionField : uint8_t {
  ad_creative_id,
  user_id,
  timestamp,
  website,
  impression_id,
  auction_id,
  campaign_id,
  win_price_cpm,
  user_agent,
  ip,
  country,
  device_type,
  count_
};

// SPEC 1.2 (header aliases are resolved by the CSV decoder)
enum class EventField : uint8_t {
  event_timestamp,
  user_id,
  campaign_id,
  event_type,
  conversion_type,
  event_id,
  creative_id,
  conversion_value,
  currency,
  count_
};

// SPEC 1.3 (paths are resolved by the Avro decoder)
enum class BidRequestField : uint8_t {
  auction_id,
  timestamp,
  user_id,
  site_domain,
  app_bundle,
  country,
  device_type,
  user_agent,
  ip,
  imp_count,
  bid_floor,
  exchange,
  targeting,
  count_
};

constexpr int field_count(Stream s) {
  switch (s) {
    case Stream::impressions:
      return int(ImpressionField::count_);
    case Stream::events:
      return int(EventField::count_);
    case Stream::bid_requests:
      return int(BidRequestField::count_);
  }
  return 0;
}

}  // namespace advx
