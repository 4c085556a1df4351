#include "core/time_util.hpp"

#include <gtest/gtest.h>

namespace advx {
namespace {

int64_t ts(std::string_view s) {
  int64_t us = -1;
  EXPECT_TRUE(parse_timestamp_text(s, &us)) << s;
  return us;
}
bool bad(std::string_view s) {
  int64_t us;
  return !parse_timestamp_text(s, &us);
}

TEST(TimeUtil, IsoForms) {
  const int64_t base = 1716554096LL * kMicrosPerSecond;  // 2024-05-24T12:34:56Z
  EXPECT_EQ(ts("2024-05-24T12:34:56Z"), base);
  EXPECT_EQ(ts("2024-05-24t12:34:56z"), base);
  EXPECT_EQ(ts("2024-05-24 12:34:56"), base);
  EXPECT_EQ(ts("2024-05-24T12:34:56"), base);
  EXPECT_EQ(ts("  2024-05-24T12:34:56Z "), base);
  EXPECT_EQ(ts("2024-05-24T14:34:56+02:00"), base);
  EXPECT_EQ(ts("2024-05-24T14:34:56+0200"), base);
  EXPECT_EQ(ts("2024-05-24T14:34:56+02"), base);
  EXPECT_EQ(ts("2024-05-24T10:04:56-02:30"), base);
  EXPECT_EQ(ts("2024-05-24 12:34:56.123"), base + 123000);
  EXPECT_EQ(ts("2024-05-24T12:34:56.123456789Z"), base + 123456);
  EXPECT_EQ(ts("2024-05-24T12:34:56.1+00:00"), base + 100000);
  EXPECT_EQ(ts("2024-02-29T00:00:00Z"), days_from_civil(2024, 2, 29) * kMicrosPerDay);
}

TEST(TimeUtil, EpochNumbersByMagnitude) {
  const int64_t base = 1716554096LL * kMicrosPerSecond;
  EXPECT_EQ(ts("1716554096"), base);
  EXPECT_EQ(ts("1716554096123"), base + 123000);
  EXPECT_EQ(ts("1716554096123456"), base + 123456);
  EXPECT_EQ(ts("1716554096.5"), base + 500000);
  int64_t us;
  ASSERT_TRUE(epoch_number_to_micros(1716554096.123, &us));
  EXPECT_EQ(us, base + 123000);
  ASSERT_TRUE(epoch_integer_to_micros(0, &us));
  EXPECT_EQ(us, 0);
  EXPECT_FALSE(epoch_integer_to_micros(-1, &us));
  EXPECT_FALSE(epoch_integer_to_micros(100'000'000'000'000'000LL, &us));
}

TEST(TimeUtil, Rejects) {
  for (auto s :
       {"", "abc", "2024-05-24", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-05-24T24:00:00Z", "2024-05-24T12:60:00Z", "2024-05-24T12:00:61Z", "2024-05-24T12:00Z",
        "2024-05-24T12:00:00+25:00", "2024-05-24T12:00:00 UTC", "2024-05-24T12:00:00.Z",
        "1969-12-31T23:59:59Z", "-5", "1.2.3", "12a", "2024/05/24 12:00:00"}) {
    EXPECT_TRUE(bad(s)) << s;
  }
}

TEST(TimeUtil, CalendarRoundTrip) {
  for (int64_t d = -800000; d < 800000; d += 97) {
    CivilDate c = civil_from_days(d);
    EXPECT_EQ(days_from_civil(c.year, c.month, c.day), d);
  }
  const int64_t t = ts("2026-11-01T23:59:59.999999Z");
  EXPECT_EQ(date_of(t), days_from_civil(2026, 11, 1));
  EXPECT_EQ(hour_of(t), 23);
  EXPECT_EQ(format_timestamp(t), "2026-11-01T23:59:59.999999Z");
  int32_t days;
  ASSERT_TRUE(parse_date("2026-11-01", &days));
  EXPECT_EQ(days, days_from_civil(2026, 11, 1));
  EXPECT_FALSE(parse_date("2026-11-31", &days));
}

}  // namespace
}  // namespace advx
