// Deduplication (SPEC 2.4): one hash index per key space. The index is SwissTable-shaped: slots in groups
// of 16 with a byte of control per slot (empty, or 7 bits of the key), so one SSE2 compare answers "is the
// key in this group" and lookups of new keys (the common case) stay short at a load of 15/16. A slot is
// 24 bytes: 96 bits of the key's 128-bit hash, the event time (µs) and 32 bits of payload hash; with its
// control byte and the load, about 27-40 bytes a key. The group count is not a power of two (the key is
// mapped by multiply-shift), so the index grows by 1.5x, and it is sized up front from the input's size
// where known. A key may hold several entries when its records lie more than the dedup window apart.
// The index is rebuilt from `advx_dedup_state` at start, and the keys a run adds are appended to that
// table in the same transaction as the rows they admitted.
//
// With a memory budget (advx serve: a long-running process sees keys without end), an index that would
// grow past it spills its older half to sorted runs on disk (DedupRuns, ~1.5 bytes a key in memory), and
// a key not found in memory is looked up there: the same answers, with memory growing ~20x slower.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/table_buffer.hpp"
#include "transforms/dedup_runs.hpp"
#include "transforms/validate.hpp"

namespace advx {

class DedupIndex {
 public:
  enum class Outcome : uint8_t { inserted, duplicate, conflict };

  // Inserts unless an entry with the same key lies within `window_us` of `event_time`.
  Outcome check_and_insert(uint64_t key_a, uint32_t key_b, int64_t event_time, uint32_t payload,
                           int64_t window_us);
  // An entry of the key within `window_us` of `event_time` (with that payload, when one is given), or null.
  const DedupEntry* find(uint64_t key_a, uint32_t key_b, int64_t event_time, int64_t window_us,
                         const uint32_t* payload = nullptr) const;
  // Inserts without checking (loading saved state).
  void insert(uint64_t key_a, uint32_t key_b, int64_t event_time, uint32_t payload);
  // Room for `entries` in all, so that reaching them needs no rehash.
  void reserve(size_t entries);
  // A hint: the group where `key_a` would be looked up is about to be needed.
  void prefetch(uint64_t key_a) const {
    if (groups_ == 0) return;
    const size_t g = group_of(key_a);
    __builtin_prefetch(&ctrl_[g * kGroup]);
    __builtin_prefetch(&slots_[g * kGroup]);
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.size() * sizeof(Slot) + ctrl_.size(); }
  // The next insert grows the index, to this many bytes.
  bool full() const { return double(size_ + 1) > double(groups_ * kGroup) * kMaxLoad; }
  size_t grown_bytes() const { return next_groups() * kGroup * (sizeof(Slot) + 1); }
  // Moves the older half of the entries (by event time) to `out`; the rest are re-placed in place, so the
  // capacity stays and nothing else is allocated.
  void extract_older_half(std::vector<DedupEntry>& out);
  // Entries that `bytes` of index hold at full load.
  static size_t entries_for_bytes(size_t bytes) {
    return size_t(double(bytes) / (sizeof(Slot) + 1) * kMaxLoad);
  }

 private:
  using Slot = DedupEntry;
  static constexpr size_t kGroup = 16;
  static constexpr uint8_t kEmpty = 0x80;
  static constexpr uint8_t kMoved = 0xFE;     // while spilling: an entry still to be re-placed
  static constexpr double kMaxLoad = 0.9375;  // 15 of 16 slots: groups of 16 keep probes short

  // Fibonacci hashing, then the top bits. Keys are hashes already, but they may arrive sorted (ClickHouse
  // returns the dedup state in its key order, a page of key_hi at a time): placed by their own top bits,
  // sorted keys fill one stretch of groups at a time and the probes grow without end (advx serve over a
  // 10M-key ClickHouse store was not ready after 167 s, all of it in resize() and insert()).
  size_t group_of(uint64_t a) const {
    return size_t((static_cast<unsigned __int128>(a * 0x9E3779B97F4A7C15ull) * groups_) >> 64);
  }
  static uint8_t tag_of(uint32_t b) { return uint8_t(b & 0x7f); }
  size_t next_groups() const { return groups_ < 64 ? 64 : groups_ + groups_ / 2; }
  void resize(size_t groups);
  void rehash_in_place();
  void place(const Slot& s);

  std::vector<Slot> slots_;
  std::vector<uint8_t> ctrl_;
  size_t groups_ = 0;
  size_t size_ = 0;
};

struct DedupCounts {
  uint64_t duplicates = 0;
  uint64_t conflicts = 0;
};

// Where the index may spill, and how much memory it may take first (0: no limit, nothing spills).
struct DedupSpill {
  size_t memory_budget_bytes = 0;
  std::string dir;  // for the run files; ingest and serve resolve an empty one with in_folder
  // This spill with an empty `dir` set to `folder`, the store's local folder (Store::local_folder(): /tmp
  // may be a RAM disk), or to TMPDIR when the store has none (in memory, or a server).
  DedupSpill in_folder(const std::string& folder) const;
};

class Deduplicator {
 public:
  explicit Deduplicator(int64_t window_us, DedupSpill spill = {});
  ~Deduplicator();

  // Loads one saved entry (see advx_dedup_state).
  void load(uint8_t space, uint64_t key_hi, uint64_t key_lo, int64_t event_time, uint64_t payload);
  // Room for `more` new keys in a key space (an estimate from the input's size), so a large input is not
  // rehashed on the way, which briefly needs the old and the new index at once.
  void reserve_more(KeySpace space, size_t more);

  // Decides for every row of `t` whether it is new; appends the kept row numbers to `keep`, counts the
  // rest into `counts`, and appends the new keys to `new_state` (rows of advx_dedup_state), which must be
  // stored in the same transaction as the kept rows.
  void apply(const StagedTable& t, std::vector<uint32_t>& keep, DedupCounts& counts, TableBuffer& new_state);

  size_t entries() const;          // in memory and spilled
  size_t spilled_entries() const;  // on disk
  size_t memory_bytes() const;

 private:
  DedupIndex::Outcome check_and_insert(size_t space, uint64_t a, uint32_t b, int64_t event_time,
                                       uint32_t payload);
  // Before an insert into `space`: spills its older half when growing it would pass the budget.
  void make_room(size_t space);

  int64_t window_us_;
  DedupSpill spill_;
  DedupIndex index_[kKeySpaceCount];
  std::unique_ptr<DedupRuns> runs_[kKeySpaceCount];  // made at the first spill
};

}  // namespace advx
