// `advx gen`: deterministic synthetic traffic in the three input formats plus dimension files, with defects
// injected at chosen rates and counted exactly in DIR/_manifest.json (what an ingest of DIR must report).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/reason.hpp"
#include "formats/avro/ocf_writer.hpp"

namespace advx::gen {

struct GenOptions {
  std::string out_dir;
  uint64_t impressions = 100000;
  uint64_t seed = 42;
  int64_t start_ms = 1793491200000;  // 2026-11-01T00:00:00Z
  std::string start_text = "2026-11-01T00:00:00Z";
  int days = 1;
  int campaigns = 40;
  double duplicate_rate = 0.02;
  double malformed_rate = 0.005;
  double bot_rate = 0.02;
  double late_rate = 0.01;
  double out_of_order_rate = 0.05;
  double unknown_creative_rate = 0.002;
  int files = 0;  // 0: one per ~1M impressions
  avro::Codec codec = avro::Codec::snappy;
  std::string schema_path;  // empty: the embedded copy of schemas/bid_request.avsc
};

// What an ingest of one stream must report (SPEC 2: read = stored + rejected + filtered + duplicates).
struct StreamCounts {
  uint64_t read = 0;
  uint64_t stored = 0;
  std::array<uint64_t, kReasonCount> by_reason{};  // rejected and filtered, by reason
  uint64_t duplicates = 0;                         // includes the conflicts
  uint64_t duplicate_conflicts = 0;
  uint64_t late = 0;          // injected, informational: stored events that arrive hours late
  uint64_t out_of_order = 0;  // injected, informational
  uint64_t files = 0;
  uint64_t rejected() const;
  uint64_t filtered() const;
};

struct GenResult {
  StreamCounts impressions, clicks_conversions, bid_requests;
  uint64_t unknown_creative = 0;  // stored impressions whose creative is not in creatives.csv
  uint64_t stored_clicks = 0, stored_conversions = 0;
  // The funnel as generated (genuine events, before defects and copies).
  uint64_t funnel_bid_requests = 0, funnel_bids_won = 0, funnel_impressions = 0, funnel_clicks = 0,
           funnel_conversions_click_through = 0, funnel_conversions_view_through = 0, distinct_users = 0;
  int64_t max_event_ms = 0;
  double seconds = 0;
};

// Parses "YYYY-MM-DD[THH:MM:SS[.fff]][Z|±HH:MM]" into epoch milliseconds; false when malformed.
bool parse_start_time(std::string_view text, int64_t& ms);

// Writes everything under options.out_dir. Throws std::runtime_error on I/O or schema errors.
GenResult generate(const GenOptions& options);

std::string manifest_json(const GenOptions& options, const GenResult& result);

}  // namespace advx::gen
