// Deduplication (SPEC 2.4): one open-addressing hash index per key space, 24 bytes a slot (96 bits of the
// key's 128-bit hash, the event time, 32 bits of payload hash). A key may hold several entries when its
// records lie more than the dedup window apart. The index is rebuilt from `advx_dedup_state` at start,
// and the keys a run adds are appended to that table in the same transaction as the rows they admitted.
#pragma once
#include <cstdint>
#include <vector>

#include "core/table_buffer.hpp"
#include "transforms/validate.hpp"

namespace advx {

class DedupIndex {
 public:
  enum class Outcome : uint8_t { inserted, duplicate, conflict };

  // Inserts unless an entry with the same key lies within `window_us` of `event_time`.
  Outcome check_and_insert(uint64_t key_a, uint32_t key_b, int64_t event_time, uint32_t payload, int64_t window_us);
  // Inserts without checking (loading saved state).
  void insert(uint64_t key_a, uint32_t key_b, int64_t event_time, uint32_t payload);
  void reserve(size_t entries);
  // A hint: the slot where `key_a` would be looked up is about to be needed.
  void prefetch(uint64_t key_a) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[size_t(key_a) & mask_]);
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t a;
    uint32_t b;
    uint32_t payload;
    int64_t event_time;
  };
  static_assert(sizeof(Slot) == 24);
  static constexpr double kMaxLoad = 0.8;
  void grow();
  void place(const Slot& s);

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

struct DedupCounts {
  uint64_t duplicates = 0;
  uint64_t conflicts = 0;
};

class Deduplicator {
 public:
  explicit Deduplicator(int64_t window_us) : window_us_(window_us) {}

  // Loads one saved entry (see advx_dedup_state).
  void load(uint8_t space, uint64_t key_hi, uint64_t key_lo, int64_t event_time, uint64_t payload);

  // Decides for every row of `t` whether it is new; appends the kept row numbers to `keep`, counts the
  // rest into `counts`, and appends the new keys to `new_state` (rows of advx_dedup_state), which must be
  // stored in the same transaction as the kept rows.
  void apply(const StagedTable& t, std::vector<uint32_t>& keep, DedupCounts& counts, TableBuffer& new_state);

  size_t entries() const;
  size_t memory_bytes() const;

 private:
  int64_t window_us_;
  DedupIndex index_[kKeySpaceCount];
};

}  // namespace advx
