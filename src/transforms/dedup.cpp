#include "transforms/dedup.hpp"

namespace advx {
namespace {
// Slot a == 0 && b == 0 marks an empty slot; the one key hashing there is moved aside.
inline void avoid_empty_marker(uint64_t& a, uint32_t b) {
  if (a == 0 && b == 0) a = 1;
}
inline uint64_t abs_diff(int64_t x, int64_t y) { return x > y ? uint64_t(x) - uint64_t(y) : uint64_t(y) - uint64_t(x); }
}  // namespace

void DedupIndex::reserve(size_t entries) {
  while (double(entries) > double(slots_.size()) * kMaxLoad) grow();
}

void DedupIndex::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t cap = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(cap, Slot{0, 0, 0, 0});
  mask_ = cap - 1;
  for (const Slot& s : old)
    if (s.a != 0 || s.b != 0) place(s);
}

void DedupIndex::place(const Slot& s) {
  size_t i = size_t(s.a) & mask_;  // the hash is uniform: its low bits are a fine bucket index
  while (slots_[i].a != 0 || slots_[i].b != 0) i = (i + 1) & mask_;
  slots_[i] = s;
}

void DedupIndex::insert(uint64_t a, uint32_t b, int64_t event_time, uint32_t payload) {
  avoid_empty_marker(a, b);
  if (double(size_ + 1) > double(slots_.size()) * kMaxLoad) grow();
  place({a, b, payload, event_time});
  size_++;
}

DedupIndex::Outcome DedupIndex::check_and_insert(uint64_t a, uint32_t b, int64_t event_time, uint32_t payload,
                                                 int64_t window_us) {
  avoid_empty_marker(a, b);
  if (!slots_.empty()) {
    size_t i = size_t(a) & mask_;
    while (slots_[i].a != 0 || slots_[i].b != 0) {
      const Slot& s = slots_[i];
      if (s.a == a && s.b == b && abs_diff(s.event_time, event_time) <= uint64_t(window_us))
        return s.payload == payload ? Outcome::duplicate : Outcome::conflict;
      i = (i + 1) & mask_;
    }
  }
  insert(a, b, event_time, payload);
  return Outcome::inserted;
}

void Deduplicator::load(uint8_t space, uint64_t key_hi, uint64_t key_lo, int64_t event_time, uint64_t payload) {
  if (space >= kKeySpaceCount) return;
  index_[space].insert(key_hi, uint32_t(key_lo), event_time, uint32_t(payload));
}

void Deduplicator::apply(const StagedTable& t, std::vector<uint32_t>& keep, DedupCounts& counts,
                         TableBuffer& new_state) {
  const size_t n = t.keys.size();
  // The index is far larger than the caches: fetch the slots a few keys ahead of their lookup.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < n && i < kAhead; i++) index_[size_t(t.keys[i].space)].prefetch(t.keys[i].key.hi);
  for (size_t i = 0; i < n; i++) {
    if (i + kAhead < n) index_[size_t(t.keys[i + kAhead].space)].prefetch(t.keys[i + kAhead].key.hi);
    const DedupKey& k = t.keys[i];
    const uint32_t b = uint32_t(k.key.lo);
    switch (index_[size_t(k.space)].check_and_insert(k.key.hi, b, k.event_time, k.payload, window_us_)) {
      case DedupIndex::Outcome::inserted: {
        keep.push_back(uint32_t(i));
        const size_t r = new_state.add_row();
        new_state.set_u8(col::dd_stream, r, uint8_t(k.space));
        new_state.set_u64(col::dd_key_hi, r, k.key.hi);
        new_state.set_u64(col::dd_key_lo, r, b);
        new_state.set_i64(col::dd_event_time, r, k.event_time);
        new_state.set_u64(col::dd_payload_hash, r, k.payload);
        break;
      }
      case DedupIndex::Outcome::conflict: counts.conflicts++; [[fallthrough]];
      case DedupIndex::Outcome::duplicate: counts.duplicates++; break;
    }
  }
}

size_t Deduplicator::entries() const {
  size_t n = 0;
  for (const auto& ix : index_) n += ix.size();
  return n;
}

size_t Deduplicator::memory_bytes() const {
  size_t n = 0;
  for (const auto& ix : index_) n += ix.memory_bytes();
  return n;
}

}  // namespace advx
