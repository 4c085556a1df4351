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

// Spilling the older half re-places the rest in the same table: every kept key is still found, every
// spilled one is gone from the index and handed out, and the capacity is unchanged.
TEST(DedupIndex, ExtractOlderHalfKeepsTheRestFindable) {
  DedupIndex ix;
  std::mt19937_64 rng(3);
  std::vector<std::pair<uint64_t, int64_t>> keys;
  for (int i = 0; i < 30'000; i++) {
    keys.push_back({rng(), int64_t(rng() % 1000) * kHour});
    ix.insert(keys.back().first, 1, keys.back().second, 0);
  }
  const size_t bytes = ix.memory_bytes();
  std::vector<DedupEntry> out;
  ix.extract_older_half(out);
  EXPECT_EQ(ix.memory_bytes(), bytes);
  EXPECT_EQ(ix.size() + out.size(), keys.size());
  EXPECT_NEAR(double(out.size()), 15'000.0, 1'500.0);
  int64_t newest_spilled = INT64_MIN;
  for (const DedupEntry& e : out) newest_spilled = std::max(newest_spilled, e.event_time);
  size_t kept = 0;
  for (const auto& [a, t] : keys) {
    const bool in_index = ix.find(a, 1, t, 0) != nullptr;
    kept += in_index;
    EXPECT_EQ(in_index, t > newest_spilled) << a;
  }
  EXPECT_EQ(kept, ix.size());
}

// A run answers like the index it came from: window edges, several entries of one key, keys that share
// `a` across block boundaries, and keys it never held (the filter and the blocks).
TEST(DedupRuns, FindsWhatWasSpilledAndNothingElse) {
  DedupRuns runs("");
  std::vector<DedupEntry> entries;
  for (uint64_t a = 0; a < 1000; a++)
    entries.push_back({a * 7919, uint32_t(a), uint32_t(a + 1), int64_t(a) * kHour});
  // 100 entries of one `a` (b differs), spanning several 32-entry blocks, and one key held twice 50 h apart.
  for (uint32_t b = 0; b < 100; b++) entries.push_back({5 * 7919, 10'000 + b, 7, 0});
  entries.push_back({3 * 7919, 3, 99, 3 * kHour + 50 * kHour});
  runs.add(entries);
  EXPECT_EQ(runs.size(), 1101u);
  DedupEntry e{};
  const int64_t w = 24 * kHour;
  EXPECT_TRUE(runs.find(10 * 7919, 10, 10 * kHour + w, w, e));  // exactly at the window
  EXPECT_EQ(e.payload, 11u);
  EXPECT_FALSE(runs.find(10 * 7919, 10, 10 * kHour + w + 1, w, e));  // one µs past it
  EXPECT_FALSE(runs.find(10 * 7919, 11, 10 * kHour, w, e));          // same a, other b
  EXPECT_TRUE(runs.find(5 * 7919, 10'099, 0, w, e));                 // the last of the shared a
  EXPECT_EQ(e.payload, 7u);
  EXPECT_TRUE(runs.find(5 * 7919, 10'000, 0, w, e));                  // the first
  EXPECT_TRUE(runs.find(3 * 7919, 3, 3 * kHour + 47 * kHour, w, e));  // the later entry of the key
  EXPECT_EQ(e.payload, 99u);
  EXPECT_FALSE(runs.find(3 * 7919, 3, 3 * kHour + 25 * kHour, w, e));  // between the two, in neither window
  size_t found = 0;
  for (uint64_t a = 1000; a < 100'000; a++) found += runs.find(a * 7919 + 1, uint32_t(a), 0, 1000 * kHour, e);
  EXPECT_EQ(found, 0u);
  EXPECT_LT(runs.block_reads(), 99'000u / 20);  // the filter answered almost all of them
  // Runs of similar size merge: 8 more adds leave a handful of runs, all still found.
  for (int r = 1; r <= 8; r++) {
    std::vector<DedupEntry> more;
    for (uint64_t a = 0; a < 500; a++) more.push_back({(uint64_t(r) << 40) + a, 1, 1, 0});
    runs.add(more);
  }
  EXPECT_EQ(runs.size(), 1101u + 8 * 500);
  EXPECT_LE(runs.runs(), 4u);
  for (int r = 1; r <= 8; r++)
    for (uint64_t a = 0; a < 500; a += 37) EXPECT_TRUE(runs.find((uint64_t(r) << 40) + a, 1, 0, w, e));
  EXPECT_TRUE(runs.find(999 * 7919, 999, 999 * kHour, w, e));
}

TEST(DedupRuns, AFolderItCannotWriteIsAClearError) {
  DedupRuns runs("/no/such/folder");
  try {
    runs.add({{1, 1, 1, 0}});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("dedup spill: cannot create a file in /no/such/folder"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(runs.size(), 0u);
}

// Property: with a memory budget small enough to spill many times, a stream of keys with duplicates,
// conflicts, re-used keys beyond the window and out-of-order times gets exactly the answers it gets with
// no budget — and the same after loading the state into a budgeted deduplicator.
TEST(Deduplicator, SpillingGivesTheSameAnswersAsMemory) {
  std::mt19937_64 rng(7);
  StagedTable t(tables::kImpressions);
  for (int i = 0; i < 200'000; i++) {
    const uint64_t id = rng() % 120'000;  // about 40 % repeats
    const int64_t ts = int64_t(rng() % 72) * kHour + int64_t(rng() % 1000);
    t.rows.add_row();
    const KeySpace space = id % 3 == 0 ? KeySpace::events : KeySpace::impressions;
    t.keys.push_back({{id * 0x9E3779B97F4A7C15ULL, uint64_t(id % 5)}, ts, uint32_t(rng() % 50 == 0), space});
  }
  auto run = [&](Deduplicator& d, std::vector<uint32_t>& keep, DedupCounts& counts, TableBuffer& state) {
    for (size_t from = 0; from < t.keys.size(); from += 10'000) {  // in batches, like the engine
      StagedTable part(tables::kImpressions);
      for (size_t i = from; i < from + 10'000; i++) {
        part.rows.add_row();
        part.keys.push_back(t.keys[i]);
      }
      std::vector<uint32_t> k;
      d.apply(part, k, counts, state);
      for (uint32_t i : k) keep.push_back(uint32_t(from) + i);
    }
  };
  Deduplicator plain(24 * kHour);
  std::vector<uint32_t> keep_plain;
  DedupCounts counts_plain;
  TableBuffer state(tables::kDedupState);
  run(plain, keep_plain, counts_plain, state);
  EXPECT_EQ(plain.spilled_entries(), 0u);

  Deduplicator budgeted(24 * kHour, DedupSpill{256 << 10, ""});
  std::vector<uint32_t> keep_budgeted;
  DedupCounts counts_budgeted;
  TableBuffer state_budgeted(tables::kDedupState);
  run(budgeted, keep_budgeted, counts_budgeted, state_budgeted);
  EXPECT_GT(budgeted.spilled_entries(), 100'000u);
  EXPECT_EQ(budgeted.entries(), plain.entries());
  EXPECT_LE(budgeted.memory_bytes(), size_t(256 << 10) + budgeted.spilled_entries() * 2);
  EXPECT_EQ(keep_budgeted, keep_plain);
  EXPECT_EQ(counts_budgeted.duplicates, counts_plain.duplicates);
  EXPECT_EQ(counts_budgeted.conflicts, counts_plain.conflicts);
  EXPECT_GT(counts_plain.conflicts, 0u);

  // Loaded from the state (as at a restart) under the budget: every record is now known.
  Deduplicator reloaded(24 * kHour, DedupSpill{256 << 10, ""});
  for (size_t r = 0; r < state.rows(); r++)
    reloaded.load(state.data<uint8_t>(col::dd_stream)[r], state.data<uint64_t>(col::dd_key_hi)[r],
                  state.data<uint64_t>(col::dd_key_lo)[r], state.data<int64_t>(col::dd_event_time)[r],
                  state.data<uint64_t>(col::dd_payload_hash)[r]);
  EXPECT_GT(reloaded.spilled_entries(), 100'000u);
  std::vector<uint32_t> keep_again;
  DedupCounts counts_again;
  TableBuffer state_again(tables::kDedupState);
  run(reloaded, keep_again, counts_again, state_again);
  EXPECT_TRUE(keep_again.empty());
  EXPECT_EQ(counts_again.duplicates, t.keys.size());
}

}  // namespace
}  // namespace advx
