// The data-quality rules of SPEC 5 (docs/ALERTS.md): each reads the QualityFrame at an evaluation time
// and says which (source, campaign) it finds breached, with the observed value and the threshold. Rules
// are pure functions of the frame, so `advx check` can replay a stored day minute by minute and get what
// `advx serve` would have raised live.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/quality_frame.hpp"

namespace advx::monitor {

enum class RuleKind : uint8_t {
  freshness,         // no data from a source for `threshold` minutes
  delay,             // p95 event-time lag of arriving data above `threshold` minutes
  volume,            // records per minute against the baseline: |robust z| >= threshold (drop or spike)
  ctr,               // a campaign's clicks against its baseline CTR: ratio >= threshold or <= 1/threshold
  conversion_rate,   // a campaign's conversions per click, likewise
  orphan_clicks,     // share of clicks with no impression to attribute them to
  unknown_creative,  // share of impressions whose creative is not in the dimensions
  unknown_campaign,  // share of clicks and conversions whose campaign is not in the dimensions
  unknown_auction,   // share of impressions naming an auction whose bid request is not stored
  won_gap,           // share of impressions with a stored bid request not marked won
  reject_rate,       // share of a source's records rejected
  duplicate_rate,    // share of a source's records that were duplicates (advx serve only)
};
inline constexpr int kRuleKindCount = 12;

std::string_view rule_kind_name(RuleKind k);
bool parse_rule_kind(std::string_view name, RuleKind* kind);

struct Rule {
  RuleKind kind = RuleKind::freshness;
  std::string name;  // the alert's name; the kind's name unless configured
  bool enabled = true;
  double threshold = 0;
  int64_t window_us = 0;    // the data judged: [now - window, now)
  int64_t for_us = 0;       // breached this long (pending) before firing
  int64_t baseline_us = 0;  // volume, ctr, conversion_rate: the history before the window it is compared
                            // with; freshness: a source counts only if it had data this far back
  double min_count = 0;     // fewer observations than this: not judged (too little data to tell)
  double min_change = 0;    // volume: the relative change required besides the z-score
  std::string severity = "warning";
};

// The defaults (docs/ALERTS.md gives them with the reasons): quiet on a normal day of `advx gen` traffic.
std::vector<Rule> default_rules();

// One breached (rule, source, campaign) at one evaluation.
struct Breach {
  const Rule* rule = nullptr;
  std::string source;
  std::string campaign;
  double value = 0;
  std::string summary;
};

// Per-campaign running sums of a frame, so that a window's sum is two binary searches instead of a walk
// over its minutes (1,000 campaigns x a day of minutes would otherwise be read at every evaluation).
class CampaignIndex {
 public:
  explicit CampaignIndex(const QualityFrame& frame);
  size_t size() const { return series_.size(); }
  const std::string& id(size_t i) const { return series_[i].id; }
  CampaignMinute sum(size_t i, int64_t from_us, int64_t to_us) const;  // campaign i over [from, to)

 private:
  struct Series {
    std::string id;
    std::vector<int64_t> minutes;     // the minutes with counts, ascending
    std::vector<CampaignMinute> cum;  // cum[k]: the sum of the first k of them
  };
  std::vector<Series> series_;
};

// Evaluates every enabled rule at `now_us` over `frame`. `campaigns` indexes `frame` (built when null: pass
// one when evaluating the same frame many times).
std::vector<Breach> evaluate(const std::vector<Rule>& rules, const QualityFrame& frame, int64_t now_us,
                             const CampaignIndex* campaigns = nullptr);

// How far back before an evaluation the enabled rules read: the stream minutes (windows, baselines, a
// week for seasonal volume, an hour of buckets for freshness's liveness) and the campaign minutes.
struct Lookback {
  int64_t streams_us = 0;
  int64_t campaigns_us = 0;
};
Lookback lookback(const std::vector<Rule>& rules, int64_t bucket_us);

// "90s", "10m", "2h", "1d", "500ms", or a plain number of seconds -> µs. False when not one.
bool parse_duration(std::string_view text, int64_t* us);
std::string format_duration(int64_t us);

// p-quantile of a lag histogram (seconds), interpolated within the bucket as Prometheus'
// histogram_quantile does; the last bucket has no upper bound and yields its lower one.
double lag_quantile(const std::array<uint64_t, kLagBucketCount>& lag, double p);

}  // namespace advx::monitor
