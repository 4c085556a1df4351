// The part of a dedup key space that does not fit the memory budget (see Deduplicator): entries spilled
// from the in-memory index, kept as sorted runs in files — an LSM tree's levels, without deletes.
//
// Memory per spilled key is about 1.5 bytes instead of the index's ~30: each run keeps in memory a blocked
// Bloom filter (10 bits a key, one 64-byte line per lookup) and the first key of every 32-entry block.
// A lookup of a new key — the common case — almost always ends at the filter; a possible match reads one
// block (768 bytes) with pread, from the page cache as a rule.
//
// The files are unlinked as soon as they are created: they vanish with the process, crash included.
// advx_dedup_state in the store is the truth; the runs are rebuilt from it at start like the index is.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace advx {

struct DedupEntry {
  uint64_t a;  // 96 bits of the key's hash: a and b
  uint32_t b;
  uint32_t payload;  // 32 bits of the payload's hash (conflicts)
  int64_t event_time;
};
static_assert(sizeof(DedupEntry) == 24);

// Whether two event times lie within `window_us` of each other (SPEC 2.4: exactly at the window is within),
// in unsigned arithmetic so that no pair of times overflows.
inline bool within_window(int64_t x, int64_t y, int64_t window_us) {
  return (x > y ? uint64_t(x) - uint64_t(y) : uint64_t(y) - uint64_t(x)) <= uint64_t(window_us);
}

class DedupRuns {
 public:
  // `dir`: where the run files are made (for a file database, next to it: /tmp may be a RAM disk).
  explicit DedupRuns(std::string dir) : dir_(std::move(dir)) {}
  ~DedupRuns();
  DedupRuns(const DedupRuns&) = delete;
  DedupRuns& operator=(const DedupRuns&) = delete;

  // Adds `entries` (any order; sorted here) as a new run, then merges runs of similar size, so there are
  // O(log n) runs to look in. Throws std::runtime_error when a file cannot be written.
  void add(std::vector<DedupEntry> entries);

  // An entry of key (a, b) whose event time is within `window_us` of `event_time` (and with that payload,
  // when one is given); false when none.
  bool find(uint64_t a, uint32_t b, int64_t event_time, int64_t window_us, DedupEntry& found,
            const uint32_t* payload = nullptr) const;

  size_t size() const { return size_; }
  size_t runs() const { return runs_.size(); }
  size_t memory_bytes() const;
  uint64_t block_reads() const { return block_reads_; }  // lookups that got past a filter

 private:
  static constexpr size_t kBlock = 32;  // entries per block read
  struct Run {
    int fd = -1;
    size_t count = 0;
    int64_t min_time = 0;
    int64_t max_time = 0;
    std::vector<uint64_t> block_first;  // `a` of every block's first entry
    std::vector<uint64_t> bloom;        // 512-bit lines
  };
  class Writer;

  Run open_run() const;
  Run merge(Run& older, Run& newer) const;
  bool find_in(const Run& r, uint64_t a, uint32_t b, int64_t event_time, int64_t window_us,
               const uint32_t* payload, DedupEntry& found) const;
  static void close_run(Run& r);

  std::string dir_;
  std::vector<Run> runs_;  // oldest first
  size_t size_ = 0;
  mutable uint64_t block_reads_ = 0;
};

}  // namespace advx
