// Validator: decoded rows -> standardized, enriched table rows, or rejects (SPEC 2.1 validate,
// 2.2 standardize, 2.3 filter, 2.5 enrich). Works a whole RawBatch at a time; each row yields exactly one
// staged row (a table row or a reject row) with the dedup key that the Deduplicator checks next.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/hash.hpp"
#include "core/raw_batch.hpp"
#include "core/table_buffer.hpp"
#include "transforms/dimensions.hpp"
#include "transforms/geoip.hpp"
#include "transforms/user_agent.hpp"

namespace advx {

// Dedup key spaces (the `stream` column of advx_dedup_state). Filtered records dedup among themselves and
// rejects by their position, so that ingesting a file again stores nothing new anywhere.
enum class KeySpace : uint8_t {
  impressions = 0,
  events = 1,
  bid_requests = 2,
  filtered_impressions = 3,
  filtered_events = 4,
  filtered_bid_requests = 5,
  rejects = 6,
};
inline constexpr int kKeySpaceCount = 7;

struct DedupKey {
  Hash128 key;
  int64_t event_time = 0;  // epoch microseconds; 0 for rejects (their key includes their position)
  uint32_t payload = 0;    // hash of the standardized fields, to tell duplicate_conflicts
  KeySpace space = KeySpace::impressions;
};

// Rows for one table plus, per row, its dedup key (and for rejects, its reason).
struct StagedTable {
  explicit StagedTable(const TableDef& def) : rows(def) {}
  TableBuffer rows;
  std::vector<DedupKey> keys;
  std::vector<Reason> reasons;  // rejects table only
  void clear() {
    rows.clear();
    keys.clear();
    reasons.clear();
  }
};

struct ValidatedBatch {
  StagedTable impressions{tables::kImpressions};
  StagedTable clicks{tables::kClicks};
  StagedTable conversions{tables::kConversions};
  StagedTable bid_requests{tables::kBidRequests};
  StagedTable rejects{tables::kRejects};
  // Every staged table, in the order their rows are stored (rejects first: a batch's rejects never wait
  // on its rows).
  static constexpr size_t kTables = 5;
  std::array<StagedTable*, kTables> all() {
    return {&rejects, &impressions, &clicks, &conversions, &bid_requests};
  }
  void clear() {
    for (StagedTable* t : all()) t->clear();
  }
};

struct ValidationOptions {
  int64_t now_us = 0;                                  // processing time, for future_timestamp
  int64_t max_future_skew_us = 10 * 60 * 1'000'000LL;  // SPEC 2.1 default: 10 minutes
  int64_t ingested_at_us = 0;
  std::unordered_set<std::string> blocked_ips;    // exact match on the trimmed ip
  std::unordered_set<std::string> blocked_sites;  // normalized hosts; a parent domain blocks its subdomains
  const GeoIp* geoip = nullptr;                   // country from IP when the record has none (SPEC 2.5)
};

class Validator {
 public:
  Validator(const Dimensions& dims, const ValidationOptions& options) : dims_(dims), options_(options) {}

  // Appends one staged row per record of `in` (rows and decoder rejects) to `out`. `source` names the input
  // and must outlive `out`'s use.
  void process(const RawBatch& in, std::string_view source, ValidatedBatch& out);

 private:
  struct Ctx;
  void impression(Ctx& ctx, size_t row);
  void event(Ctx& ctx, size_t row);
  void bid_request(Ctx& ctx, size_t row);
  void country_from_ip(std::string_view ip, std::string_view* country) const;
  bool filtered(Ctx& ctx, size_t row, std::string_view ua, std::string_view ip, std::string_view site,
                int64_t event_time, const DedupKey& key, const UserAgentInfo* ua_info);
  void reject(Ctx& ctx, uint64_t record_no, std::string_view raw, Reason reason, std::string detail,
              bool raw_owned);

  const Dimensions& dims_;
  const ValidationOptions& options_;
  UserAgentCache ua_cache_;
};

// "fp:" and the 32 hex digits of a fingerprint: the event_key of records without an id.
std::string fingerprint_key(const Hash128& h);

}  // namespace advx
