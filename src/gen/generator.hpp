// `advx gen`: deterministic synthetic traffic in the three input formats plus dimension files, with defects
// injected at chosen rates and counted exactly in DIR/_manifest.json (what an ingest of DIR must report).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/reason.hpp"
#include "formats/avro/ocf_writer.hpp"

namespace advx::gen {

// An incident injected on purpose (`advx gen --incident`): what the data-quality monitor must catch. Times
// are event times in epoch milliseconds, the window is [start_ms, end_ms).
enum class IncidentKind : uint8_t { silent, delay, ctr_spike, orphan_clicks, malformed };
enum class GenStream : uint8_t { impressions, clicks_conversions, bid_requests };

struct Incident {
  IncidentKind kind = IncidentKind::silent;
  std::string spec;  // as given, for the manifest
  int64_t start_ms = 0, end_ms = 0;
  GenStream stream = GenStream::impressions;  // silent, delay, malformed; clicks_conversions for the others
  int64_t campaign_id = 0;                    // ctr_spike
  double share = 1.0;                         // delay, orphan_clicks, malformed
  double factor = 10.0;                       // ctr_spike
  int64_t lag_ms = 20 * 60000;                // delay
};

// What an incident did to the files (the manifest's "incidents" entries).
struct IncidentCounts {
  uint64_t dropped = 0;        // silent: records not written (originals and re-delivered copies)
  uint64_t delayed = 0;        // delay: records written `lag` after their arrival
  uint64_t extra_clicks = 0;   // ctr_spike: extra attributed clicks stored
  uint64_t orphan_clicks = 0;  // orphan_clicks: clicks stored under a user without impressions
  uint64_t malformed = 0;      // malformed: records written undecodable that would have been readable
};

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
  std::string schema_path;          // empty: the embedded copy of schemas/bid_request.avsc
  std::vector<Incident> incidents;  // empty: the output does not depend on the incident code at all
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
  std::vector<IncidentCounts> incidents;  // one per GenOptions::incidents
};

// Parses "YYYY-MM-DD[THH:MM:SS[.fff]][Z|±HH:MM]" into epoch milliseconds; false when malformed.
bool parse_start_time(std::string_view text, int64_t& ms);

// Parses `--incident KIND@START/DURATION[,key=value...]` for traffic of `days` days from `start_ms` with
// `campaigns` campaigns. START is HH:MM[:SS] on the first day (UTC) or an ISO-8601 time; DURATION is one or
// more of <n>d, <n>h, <n>m, <n>s ("90s", "1h30m"). False with a one-line reason in `error` when invalid.
bool parse_incident(std::string_view text, int64_t start_ms, int days, int campaigns, Incident& out,
                    std::string& error);

// Whether `incident` fits traffic of `days` days from `start_ms` with `campaigns` campaigns: a window inside
// the generated range, a share in (0, 1], a known campaign, ... False with the reason in `error`.
bool validate_incident(const Incident& incident, int64_t start_ms, int days, int campaigns,
                       std::string& error);

std::string_view incident_kind_name(IncidentKind kind);
std::string_view stream_name(GenStream stream);

// Writes everything under options.out_dir. Throws std::runtime_error on I/O or schema errors.
GenResult generate(const GenOptions& options);

std::string manifest_json(const GenOptions& options, const GenResult& result);

}  // namespace advx::gen
