#include "transforms/dedup.hpp"

#include <gtest/gtest.h>

#include <random>

namespace advx {
namespace {

constexpr int64_t kHour = 3600LL * 1'000'000;

TEST(DedupIndex, WindowAndConflicts) {
  DedupIndex ix;
  using O = DedupIndex::Outcome;
  EXPECT_EQ(ix.check_and_insert(7, 1, 0, 100, 24 * kHour), O::inserted);
  EXPECT_EQ(ix.check_and_insert(7, 1, 24 * kHour, 100, 24 * kHour),
            O::duplicate);                                                        // exactly the window apart
  EXPECT_EQ(ix.check_and_insert(7, 1, 5 * kHour, 101, 24 * kHour), O::conflict);  // payload differs
  EXPECT_EQ(ix.check_and_insert(7, 1, 24 * kHour + 1, 100, 24 * kHour), O::inserted);  // one µs past it
  EXPECT_EQ(ix.size(), 2u);
  // both entries of the key are found
  EXPECT_EQ(ix.check_and_insert(7, 1, 47 * kHour, 100, 24 * kHour), O::duplicate);
  EXPECT_EQ(ix.check_and_insert(7, 2, 0, 100, 24 * kHour), O::inserted);  // other key
  EXPECT_EQ(ix.check_and_insert(0, 0, 0, 1, 24 * kHour),
            O::inserted);  // an all-zero key is a key like any other
  EXPECT_EQ(ix.check_and_insert(0, 0, 0, 1, 24 * kHour), O::duplicate);
}

TEST(DedupIndex, ManyKeysSurviveGrowth) {
  DedupIndex ix;
  std::mt19937_64 rng(1);
  std::vector<std::pair<uint64_t, uint32_t>> keys;
  for (int i = 0; i < 200000; i++) keys.emplace_back(rng(), uint32_t(rng()));
  for (auto [a, b] : keys) ASSERT_EQ(ix.check_and_insert(a, b, 5, 9, 1), DedupIndex::Outcome::inserted);
  for (auto [a, b] : keys) ASSERT_EQ(ix.check_and_insert(a, b, 5, 9, 1), DedupIndex::Outcome::duplicate);
  EXPECT_EQ(ix.size(), keys.size());
  // 25 bytes a slot (with its control byte) at a load between 0.62 and 0.94
  EXPECT_LE(ix.memory_bytes(), keys.size() * 44);
}

TEST(DedupIndex, ReservedIndexHoldsItsKeysCompactly) {
  DedupIndex ix;
  ix.reserve(100000);
  const size_t reserved = ix.memory_bytes();
  std::mt19937_64 rng(2);
  for (int i = 0; i < 100000; i++)
    ASSERT_EQ(ix.check_and_insert(rng(), 7, 0, 0, 0), DedupIndex::Outcome::inserted);
  EXPECT_EQ(ix.memory_bytes(), reserved);      // no rehash on the way
  EXPECT_LE(ix.memory_bytes(), 100000u * 27);  // 24 + 1 bytes a slot at a load of 15/16
  // Keys that collide on the group and the tag are still told apart by the full 96 bits.
  DedupIndex same;
  for (uint32_t b = 0; b < 1000; b++)
    ASSERT_EQ(same.check_and_insert(42, b << 7, 0, 0, 0), DedupIndex::Outcome::inserted);
  for (uint32_t b = 0; b < 1000; b++)
    ASSERT_EQ(same.check_and_insert(42, b << 7, 0, 0, 0), DedupIndex::Outcome::duplicate);
}

TEST(Deduplicator, KeepsFirstAndRecordsNewState) {
  Deduplicator d(24 * kHour);
  StagedTable t(tables::kImpressions);
  auto add = [&](uint64_t hi, int64_t ts, uint32_t payload) {
    t.rows.add_row();
    t.keys.push_back({{hi, 42}, ts, payload, KeySpace::impressions});
  };
  add(1, 0, 1);
  add(2, 0, 1);
  add(1, kHour, 1);  // duplicate
  add(1, kHour, 2);  // conflict
  add(3, 0, 1);
  std::vector<uint32_t> keep;
  DedupCounts counts;
  TableBuffer state(tables::kDedupState);
  d.apply(t, keep, counts, state);
  EXPECT_EQ(keep, (std::vector<uint32_t>{0, 1, 4}));
  EXPECT_EQ(counts.duplicates, 2u);
  EXPECT_EQ(counts.conflicts, 1u);
  EXPECT_EQ(state.rows(), 3u);
  // A second deduplicator loaded from that state sees them all as known.
  Deduplicator d2(24 * kHour);
  const TableBuffer& s = state;
  for (size_t r = 0; r < s.rows(); r++)
    d2.load(s.data<uint8_t>(col::dd_stream)[r], s.data<uint64_t>(col::dd_key_hi)[r],
            s.data<uint64_t>(col::dd_key_lo)[r], s.data<int64_t>(col::dd_event_time)[r],
            s.data<uint64_t>(col::dd_payload_hash)[r]);
  keep.clear();
  DedupCounts c2;
  TableBuffer state2(tables::kDedupState);
  d2.apply(t, keep, c2, state2);
  EXPECT_EQ(state2.rows(), 0u);
  EXPECT_TRUE(keep.empty());
  EXPECT_EQ(c2.duplicates, 5u);
  // Key spaces are separate: the same hash as a filtered record is new.
  StagedTable f(tables::kRejects);
  f.rows.add_row();
  f.keys.push_back({{1, 42}, 0, 1, KeySpace::filtered_impressions});
  keep.clear();
  d2.apply(f, keep, c2, state2);
  EXPECT_EQ(keep.size(), 1u);
}

}  // namespace
}  // namespace advx
