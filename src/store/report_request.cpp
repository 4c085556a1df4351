#include "store/report_request.hpp"

#include "core/time_util.hpp"

namespace advx::report {

const std::vector<std::string>& dimension_names() {
  static const std::vector<std::string> names = {"campaign", "creative", "site", "country",
                                                 "device",   "day",      "hour"};
  return names;
}

bool parse_dimension(std::string_view name, Dimension* out) {
  const auto& names = dimension_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      *out = static_cast<Dimension>(i);
      return true;
    }
  }
  return false;
}

std::string_view dimension_column(Dimension d) {
  switch (d) {
    case Dimension::campaign:
      return "campaign_id";
    case Dimension::creative:
      return "creative_id";
    case Dimension::site:
      return "site";
    case Dimension::country:
      return "country";
    case Dimension::device:
      return "device_type";
    case Dimension::day:
      return "day";
    case Dimension::hour:
      return "hour";
  }
  return "campaign_id";
}

bool parse_time_bound(std::string_view text, int64_t* micros) {
  if (parse_timestamp_text(text, micros)) return true;
  int32_t days = 0;
  if (text.size() == 10 && parse_date(text, &days)) {
    *micros = int64_t(days) * kMicrosPerDay;
    return true;
  }
  return false;
}

// A range cut into the whole UTC hours inside it (read from campaign_hourly) and the partial hours at its
// edges (read from the raw tables). Bounds left open stay open.
HourSplit split_hours(const TimeRange& range) {
  constexpr int64_t kHour = 3'600'000'000;
  auto floor_hour = [](int64_t t) { return t - ((t % kHour) + kHour) % kHour; };
  TimeRange whole;
  if (range.from_us)
    whole.from_us =
        floor_hour(*range.from_us) == *range.from_us ? *range.from_us : floor_hour(*range.from_us) + kHour;
  if (range.to_us) whole.to_us = floor_hour(*range.to_us);
  HourSplit split;
  if (whole.from_us && whole.to_us && *whole.from_us >= *whole.to_us) {
    split.raw.push_back(range);  // no whole hour inside
    return split;
  }
  split.rollup = whole;
  if (range.from_us && *range.from_us < *whole.from_us) split.raw.push_back({range.from_us, whole.from_us});
  if (range.to_us && *whole.to_us < *range.to_us) split.raw.push_back({whole.to_us, range.to_us});
  return split;
}

// The keys other than campaign, in the order given, without duplicates.
std::vector<Dimension> other_keys(const std::vector<Dimension>& by) {
  std::vector<Dimension> keys;
  for (Dimension d : by) {
    if (d == Dimension::campaign) continue;
    bool seen = false;
    for (Dimension k : keys) seen = seen || k == d;
    if (!seen) keys.push_back(d);
  }
  return keys;
}

}  // namespace advx::report
