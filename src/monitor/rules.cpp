#include "monitor/rules.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

namespace advx::monitor {

namespace {

constexpr int64_t kSecondUs = 1'000'000;
constexpr int64_t kDayUs = 24 * 3600 * kSecondUs;

constexpr std::string_view kNames[kRuleKindCount] = {
    "freshness",       "delay",         "volume",           "ctr",
    "conversion_rate", "orphan_clicks", "unknown_creative", "unknown_campaign",
    "unknown_auction", "won_gap",       "reject_rate",      "duplicate_rate"};

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

// The sum of one stream's minutes in [from, to).
StreamMinute sum_stream(const QualityFrame& f, int s, int64_t from, int64_t to) {
  StreamMinute sum;
  for (auto it = f.streams.lower_bound(from); it != f.streams.end() && it->first < to; ++it)
    sum.add(it->second[size_t(s)]);
  return sum;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t n = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + long(n), v.end());
  double m = v[n];
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), v.begin() + long(n))) / 2;
  return m;
}

struct Ctx {
  const QualityFrame& frame;
  const CampaignIndex& campaigns;
  int64_t now;
  std::vector<Breach>& out;
  void breach(const Rule& r, int s, std::string campaign, double value, std::string summary) {
    out.push_back({&r, std::string(stream_name(Stream(s))), std::move(campaign), value, std::move(summary)});
  }
};

void freshness(const Rule& r, Ctx& c) {
  for (int s = 0; s < kStreamCount; s++) {
    int64_t last = -1;  // the latest minute with records, within the baseline
    const auto begin = c.frame.streams.lower_bound(c.now - r.baseline_us);
    for (auto it = c.frame.streams.lower_bound(c.now); it != begin;) {
      --it;
      if (it->second[size_t(s)].records() > 0) {
        last = it->first;
        break;
      }
    }
    if (last < 0) continue;  // no data in the baseline: a source not in use, not a silent one
    // Only a source that was live before it went quiet: data in at least half of the 60 minutes (buckets)
    // up to its last one (a trickle of late records is not a feed that stopped).
    int live = 0;
    for (auto it = c.frame.streams.lower_bound(last - 59 * c.frame.bucket_us);
         it != c.frame.streams.end() && it->first <= last; ++it)
      live += it->second[size_t(s)].records() > 0;
    if (live < 30) continue;
    const double silent_min = double(c.now - (last + c.frame.bucket_us)) / double(kMinuteUs);
    if (silent_min >= r.threshold)
      c.breach(r, s, {}, silent_min,
               std::string(stream_name(Stream(s))) + fmt(": no data for %.0f minutes", silent_min));
  }
}

void delay(const Rule& r, Ctx& c) {
  for (int s = 0; s < kStreamCount; s++) {
    const StreamMinute w = sum_stream(c.frame, s, c.now - r.window_us, c.now);
    if (double(w.stored) < r.min_count || w.stored == 0) continue;
    // The buckets are coarse (20 to 30 minutes is one): no quantile is above the largest lag seen.
    double p95 = lag_quantile(w.lag, 0.95);
    if (w.max_lag_s > 0) p95 = std::min(p95, w.max_lag_s);
    const double p95_min = p95 / 60;
    if (p95_min > r.threshold)
      c.breach(r, s, {}, p95_min,
               std::string(stream_name(Stream(s))) + fmt(": p95 event-time lag %.1f minutes", p95_min));
  }
}

void volume(const Rule& r, Ctx& c) {
  const int64_t bucket = c.frame.bucket_us;
  const double w_min = double(r.window_us / bucket);  // the window in buckets (minutes)
  if (w_min < 1) return;
  for (int s = 0; s < kStreamCount; s++) {
    const double x = double(sum_stream(c.frame, s, c.now - r.window_us, c.now).records()) / w_min;
    std::vector<double> base;
    bool seasonal = false;
    // A week of history: the same time of day on each of the 7 days before (window means).
    if (!c.frame.streams.empty() && c.frame.streams.begin()->first <= c.now - 7 * kDayUs - r.window_us) {
      seasonal = true;
      for (int d = 1; d <= 7; d++) {
        const int64_t end = c.now - d * kDayUs;
        base.push_back(double(sum_stream(c.frame, s, end - r.window_us, end).records()) / w_min);
      }
    } else {
      // The minutes of the baseline, from the stream's first minute on (not zeros before it began).
      const int64_t end = c.now - r.window_us;
      bool started = false;
      for (int64_t m = floor_to(end - r.baseline_us, bucket); m < end; m += bucket) {
        const auto it = c.frame.streams.find(m);
        const double n = it == c.frame.streams.end() ? 0 : double(it->second[size_t(s)].records());
        started = started || n > 0;
        if (started) base.push_back(n);
      }
      if (double(base.size()) * double(bucket) < double(r.baseline_us) / 2) continue;  // too little history
    }
    const double med = median(base);
    if (med < r.min_count) continue;
    std::vector<double> dev;
    for (double v : base) dev.push_back(std::fabs(v - med));
    const double mad = 1.4826 * median(dev);
    // The noise of a window's mean: the baseline's spread (of minutes, or of window means when seasonal),
    // at least what Poisson counting alone gives.
    const double scale = std::max(seasonal ? mad : mad / std::sqrt(w_min), std::sqrt(med / w_min));
    const double z = (x - med) / scale;
    if (std::fabs(z) >= r.threshold && std::fabs(x / med - 1) >= r.min_change)
      c.breach(r, s, {}, z,
               std::string(stream_name(Stream(s))) +
                   fmt(": %.0f records/minute against a baseline of %.0f (robust z %.1f)", x, med, z) +
                   (seasonal ? " (seasonal baseline)" : ""));
  }
}

// ctr (clicks per impression) and conversion_rate (conversions per click) per campaign.
void rate_anomaly(const Rule& r, Ctx& c, bool ctr) {
  const double scale = double(r.window_us) / double(r.baseline_us);
  for (size_t i = 0; i < c.campaigns.size(); i++) {
    const CampaignMinute w = c.campaigns.sum(i, c.now - r.window_us, c.now);
    const CampaignMinute b = c.campaigns.sum(i, c.now - r.window_us - r.baseline_us, c.now - r.window_us);
    const double den_b = double(ctr ? b.impressions : b.clicks);
    const double num_b = double(ctr ? b.clicks : b.conversions);
    const double den_w = double(ctr ? w.impressions : w.clicks);
    const double num_w = double(ctr ? w.clicks : w.conversions);
    // A baseline to trust; and less traffic than half the usual is a volume problem, not a rate one.
    if (num_b < r.min_count || den_b <= 0 || den_w <= 0 || den_w < 0.5 * den_b * scale) continue;
    const double expected =
        den_w * (num_b + 1) / den_b;  // +1: a campaign without history is not infinitely off
    const double ratio = num_w / expected;
    const std::string& id = c.campaigns.id(i);
    const char* what = ctr ? "CTR" : "conversion rate";
    if (num_w >= r.min_count && ratio >= r.threshold)
      c.breach(
          r, int(Stream::events), id, ratio,
          "campaign " + id + ": " + what +
              fmt(" %.2f%% is %.1fx its baseline %.2f%%", 100 * num_w / den_w, ratio, 100 * num_b / den_b));
    else if (expected >= r.min_count && ratio <= 1 / r.threshold)
      c.breach(r, int(Stream::events), id, ratio,
               "campaign " + id + ": " + what +
                   fmt(" %.2f%% fell to %.2fx its baseline %.2f%%", 100 * num_w / den_w, ratio,
                       100 * num_b / den_b));
  }
}

// A share of one stream's window above the threshold.
void share(const Rule& r, Ctx& c, int s, uint64_t StreamMinute::*num, uint64_t (*den)(const StreamMinute&),
           const char* what) {
  const StreamMinute w = sum_stream(c.frame, s, c.now - r.window_us, c.now);
  const double d = double(den(w));
  if (d < r.min_count || d <= 0) return;
  const double v = double(w.*num) / d;
  if (v >= r.threshold)
    c.breach(r, s, {}, v,
             std::string(stream_name(Stream(s))) + ": " + fmt("%.1f%% ", 100 * v) + what +
                 fmt(" (%.0f of %.0f)", double(w.*num), d));
}

}  // namespace

std::string_view rule_kind_name(RuleKind k) { return kNames[size_t(k)]; }

bool parse_rule_kind(std::string_view name, RuleKind* kind) {
  for (int i = 0; i < kRuleKindCount; i++) {
    if (kNames[i] == name) {
      *kind = RuleKind(i);
      return true;
    }
  }
  return false;
}

std::vector<Rule> default_rules() {
  const int64_t m = kMinuteUs;
  auto rule = [](RuleKind k, double threshold, int64_t window, int64_t for_us, int64_t baseline,
                 double min_count, const char* severity) {
    Rule r;
    r.kind = k;
    r.name = std::string(rule_kind_name(k));
    r.threshold = threshold;
    r.window_us = window;
    r.for_us = for_us;
    r.baseline_us = baseline;
    r.min_count = min_count;
    r.severity = severity;
    return r;
  };
  std::vector<Rule> rules = {
      rule(RuleKind::freshness, 10, 0, 0, 24 * 60 * m, 0, "critical"),
      rule(RuleKind::delay, 10, 10 * m, 2 * m, 0, 200, "warning"),
      rule(RuleKind::volume, 6, 5 * m, 2 * m, 60 * m, 10, "warning"),
      rule(RuleKind::ctr, 3, 15 * m, 2 * m, 3 * 60 * m, 20, "warning"),
      rule(RuleKind::conversion_rate, 5, 120 * m, 5 * m, 24 * 60 * m, 20, "warning"),
      rule(RuleKind::orphan_clicks, 0.1, 15 * m, 2 * m, 0, 20, "warning"),
      rule(RuleKind::unknown_creative, 0.05, 15 * m, 2 * m, 0, 100, "warning"),
      rule(RuleKind::unknown_campaign, 0.05, 15 * m, 2 * m, 0, 20, "warning"),
      rule(RuleKind::unknown_auction, 0.05, 15 * m, 2 * m, 0, 100, "warning"),
      rule(RuleKind::won_gap, 0.2, 15 * m, 5 * m, 0, 100, "info"),
      rule(RuleKind::reject_rate, 0.1, 10 * m, 2 * m, 0, 100, "warning"),
      rule(RuleKind::duplicate_rate, 0.2, 10 * m, 2 * m, 0, 100, "warning"),
  };
  rules[2].min_change = 0.5;
  return rules;
}

CampaignIndex::CampaignIndex(const QualityFrame& frame) {
  std::map<std::string, size_t> index;
  for (const auto& [minute, campaigns] : frame.campaigns) {
    for (const auto& [id, counts] : campaigns) {
      auto [it, added] = index.try_emplace(id, series_.size());
      if (added) series_.push_back({id, {}, {CampaignMinute{}}});
      Series& s = series_[it->second];
      CampaignMinute next = s.cum.back();
      next.impressions += counts.impressions;
      next.clicks += counts.clicks;
      next.conversions += counts.conversions;
      s.minutes.push_back(minute);
      s.cum.push_back(next);
    }
  }
}

CampaignMinute CampaignIndex::sum(size_t i, int64_t from_us, int64_t to_us) const {
  const Series& s = series_[i];
  const size_t a = size_t(std::lower_bound(s.minutes.begin(), s.minutes.end(), from_us) - s.minutes.begin());
  const size_t b = size_t(std::lower_bound(s.minutes.begin(), s.minutes.end(), to_us) - s.minutes.begin());
  if (b <= a) return {};
  return {s.cum[b].impressions - s.cum[a].impressions, s.cum[b].clicks - s.cum[a].clicks,
          s.cum[b].conversions - s.cum[a].conversions};
}

std::vector<Breach> evaluate(const std::vector<Rule>& rules, const QualityFrame& frame, int64_t now_us,
                             const CampaignIndex* campaigns) {
  std::vector<Breach> out;
  std::optional<CampaignIndex> own;
  if (!campaigns) {
    bool needed = false;
    for (const Rule& r : rules)
      needed |= r.enabled && (r.kind == RuleKind::ctr || r.kind == RuleKind::conversion_rate);
    campaigns = &own.emplace(needed ? frame : QualityFrame{});
  }
  Ctx c{frame, *campaigns, now_us, out};
  constexpr int imp = int(Stream::impressions), ev = int(Stream::events);
  for (const Rule& r : rules) {
    if (!r.enabled) continue;
    switch (r.kind) {
      case RuleKind::freshness:
        freshness(r, c);
        break;
      case RuleKind::delay:
        delay(r, c);
        break;
      case RuleKind::volume:
        volume(r, c);
        break;
      case RuleKind::ctr:
        rate_anomaly(r, c, true);
        break;
      case RuleKind::conversion_rate:
        rate_anomaly(r, c, false);
        break;
      case RuleKind::orphan_clicks:
        share(
            r, c, ev, &StreamMinute::orphan_clicks, [](const StreamMinute& w) { return w.clicks; },
            "of clicks are orphans");
        break;
      case RuleKind::unknown_creative:
        share(
            r, c, imp, &StreamMinute::unknown, [](const StreamMinute& w) { return w.stored; },
            "of impressions have an unknown creative");
        break;
      case RuleKind::unknown_campaign:
        share(
            r, c, ev, &StreamMinute::unknown, [](const StreamMinute& w) { return w.stored; },
            "of clicks and conversions have an unknown campaign");
        break;
      case RuleKind::unknown_auction:
        share(
            r, c, imp, &StreamMinute::auction_unknown, [](const StreamMinute& w) { return w.auction_named; },
            "of impressions name an auction with no stored bid request");
        break;
      case RuleKind::won_gap: {
        // Impressions whose bid request is stored but not marked won: auctions the store does not count.
        const StreamMinute w = sum_stream(frame, imp, now_us - r.window_us, now_us);
        const double known = double(w.auction_named - w.auction_unknown);
        if (known < r.min_count || known <= 0) break;
        const double gap = 1 - double(w.auction_won) / known;
        if (gap >= r.threshold)
          c.breach(
              r, imp, {}, gap,
              fmt("impressions: %.1f%% of auctions with a stored bid request are not marked won (%.0f of ",
                  100 * gap, known - double(w.auction_won)) +
                  fmt("%.0f)", known));
        break;
      }
      case RuleKind::reject_rate:
        for (int s = 0; s < kStreamCount; s++)
          share(
              r, c, s, &StreamMinute::rejected, [](const StreamMinute& w) { return w.records(); },
              "of records rejected");
        break;
      case RuleKind::duplicate_rate:
        for (int s = 0; s < kStreamCount; s++)
          share(
              r, c, s, &StreamMinute::duplicates,
              [](const StreamMinute& w) { return w.records() + w.duplicates; }, "of records are duplicates");
        break;
    }
  }
  return out;
}

Lookback lookback(const std::vector<Rule>& rules, int64_t bucket_us) {
  Lookback l;
  for (const Rule& r : rules) {
    if (!r.enabled) continue;
    int64_t back = r.window_us + r.baseline_us + bucket_us;
    if (r.kind == RuleKind::volume) back = std::max<int64_t>(back, 7 * kDayUs + r.window_us);
    if (r.kind == RuleKind::freshness) back += 60 * bucket_us;
    l.streams_us = std::max(l.streams_us, back);
    if (r.kind == RuleKind::ctr || r.kind == RuleKind::conversion_rate)
      l.campaigns_us = std::max(l.campaigns_us, r.window_us + r.baseline_us + bucket_us);
  }
  return l;
}

bool parse_duration(std::string_view text, int64_t* us) {
  if (text.empty()) return false;
  double v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || v < 0) return false;
  const std::string_view unit(r.ptr, size_t(text.data() + text.size() - r.ptr));
  double mult = 0;
  if (unit.empty() || unit == "s")
    mult = 1e6;
  else if (unit == "ms")
    mult = 1e3;
  else if (unit == "m")
    mult = 60e6;
  else if (unit == "h")
    mult = 3600e6;
  else if (unit == "d")
    mult = 86400e6;
  else
    return false;
  *us = int64_t(std::llround(v * mult));
  return true;
}

std::string format_duration(int64_t us) {
  if (us % (3600 * kSecondUs) == 0 && us != 0) return std::to_string(us / (3600 * kSecondUs)) + "h";
  if (us % kMinuteUs == 0 && us != 0) return std::to_string(us / kMinuteUs) + "m";
  if (us % kSecondUs == 0) return std::to_string(us / kSecondUs) + "s";
  return std::to_string(us / 1000) + "ms";
}

double lag_quantile(const std::array<uint64_t, kLagBucketCount>& lag, double p) {
  uint64_t total = 0;
  for (uint64_t n : lag) total += n;
  if (total == 0) return 0;
  const double rank = p * double(total);
  double below = 0;
  for (size_t i = 0; i < kLagBucketCount; i++) {
    const double n = double(lag[i]);
    if (below + n >= rank && n > 0) {
      const double lo = i == 0 ? 0 : kLagBucketsSeconds[i - 1];
      if (i == kLagBucketsSeconds.size()) return lo;
      return lo + (kLagBucketsSeconds[i] - lo) * (rank - below) / n;
    }
    below += n;
  }
  return kLagBucketsSeconds.back();
}

}  // namespace advx::monitor
