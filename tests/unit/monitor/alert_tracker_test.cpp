// The alert lifecycle: pending for `for:`, firing, repeat interval, resolved; a pending alert that clears
// is never notified.
#include "monitor/alert_tracker.hpp"

#include <gtest/gtest.h>

namespace advx::monitor {
namespace {

constexpr int64_t M = kMinuteUs;

Breach breach(const Rule& r, const std::string& campaign, double value) {
  return Breach{&r, "clicks_conversions", campaign, value, "CTR of " + campaign};
}

TEST(AlertTracker, PendingThenFiringThenResolved) {
  Rule r;
  r.name = "ctr";
  r.threshold = 3;
  r.for_us = 2 * M;
  r.severity = "warning";
  AlertTracker t(60 * M);
  auto n = t.update({breach(r, "c1", 5)}, 10 * M);
  EXPECT_TRUE(n.empty());
  ASSERT_EQ(t.active().size(), 1u);
  EXPECT_EQ(t.active()[0].state, AlertState::pending);
  EXPECT_EQ(t.active()[0].active_since_us, 10 * M);
  EXPECT_TRUE(t.update({breach(r, "c1", 6)}, 11 * M).empty());
  n = t.update({breach(r, "c1", 7)}, 12 * M);  // breached for 2 minutes: fires
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].notice, Notice::firing);
  EXPECT_EQ(n[0].alert.state, AlertState::firing);
  EXPECT_EQ(n[0].alert.fired_at_us, 12 * M);
  EXPECT_EQ(n[0].alert.value, 7);
  EXPECT_EQ(n[0].alert.threshold, 3);
  EXPECT_EQ(n[0].alert.rule, "ctr");
  EXPECT_EQ(n[0].alert.campaign, "c1");
  EXPECT_EQ(n[0].alert.severity, "warning");
  EXPECT_TRUE(t.update({breach(r, "c1", 8)}, 13 * M).empty());  // still firing: not repeated
  n = t.update({}, 14 * M);
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].notice, Notice::resolved);
  EXPECT_EQ(n[0].alert.resolved_at_us, 14 * M);
  EXPECT_TRUE(t.active().empty());
  ASSERT_EQ(t.fired().size(), 1u);
  EXPECT_EQ(t.fired()[0].state, AlertState::resolved);
  EXPECT_EQ(t.fired()[0].fired_at_us, 12 * M);
  EXPECT_EQ(t.fired()[0].resolved_at_us, 14 * M);
  EXPECT_EQ(t.fired()[0].value, 8);
}

TEST(AlertTracker, APendingAlertThatClearsIsNeverNotified) {
  Rule r;
  r.name = "volume";
  r.for_us = 5 * M;
  AlertTracker t(60 * M);
  for (int i = 0; i < 5; i++) EXPECT_TRUE(t.update({breach(r, "", 1)}, i * M).empty());
  EXPECT_TRUE(t.update({}, 5 * M).empty());
  EXPECT_TRUE(t.active().empty());
  EXPECT_TRUE(t.fired().empty());
  // Breached again: pending starts over.
  EXPECT_TRUE(t.update({breach(r, "", 1)}, 6 * M).empty());
  EXPECT_EQ(t.active()[0].active_since_us, 6 * M);
}

TEST(AlertTracker, RepeatsWhileFiringOnlyAfterTheRepeatInterval) {
  Rule r;
  r.name = "freshness";
  AlertTracker t(30 * M);
  ASSERT_EQ(t.update({breach(r, "", 1)}, 0).size(), 1u);  // for: 0 fires at once
  for (int i = 1; i < 30; i++) EXPECT_TRUE(t.update({breach(r, "", 1)}, i * M).empty()) << i;
  auto n = t.update({breach(r, "", 1)}, 30 * M);
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].notice, Notice::repeat);
  EXPECT_TRUE(t.update({breach(r, "", 1)}, 31 * M).empty());
  EXPECT_EQ(t.update({breach(r, "", 1)}, 60 * M).size(), 1u);
}

TEST(AlertTracker, AlertsAreKeptApartByRuleSourceAndCampaign) {
  Rule ctr, cvr;
  ctr.name = "ctr";
  cvr.name = "conversion_rate";
  AlertTracker t(60 * M);
  const auto n = t.update({breach(ctr, "c1", 1), breach(ctr, "c2", 1), breach(cvr, "c1", 1)}, 0);
  EXPECT_EQ(n.size(), 3u);
  EXPECT_EQ(t.active().size(), 3u);
  const auto r = t.update({breach(ctr, "c2", 1)}, M);
  ASSERT_EQ(r.size(), 2u);
  for (const Transition& x : r) EXPECT_EQ(x.notice, Notice::resolved);
  ASSERT_EQ(t.active().size(), 1u);
  EXPECT_EQ(t.active()[0].campaign, "c2");
}

}  // namespace
}  // namespace advx::monitor
