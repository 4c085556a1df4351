#include "transforms/dedup.hpp"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace advx {
namespace {
inline uint64_t abs_diff(int64_t x, int64_t y) {
  return x > y ? uint64_t(x) - uint64_t(y) : uint64_t(y) - uint64_t(x);
}

// Bit i set when control byte i of the group equals `v`.
inline uint32_t match(const uint8_t* group, uint8_t v) {
#ifdef __SSE2__
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group));
  return uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(c, _mm_set1_epi8(char(v)))));
#else
  uint32_t m = 0;
  for (int i = 0; i < 16; i++) m |= uint32_t(group[i] == v) << i;
  return m;
#endif
}
}  // namespace

void DedupIndex::reserve(size_t entries) {
  const size_t groups = size_t(double(entries) / (kMaxLoad * kGroup)) + 1;
  if (groups > groups_) resize(groups);
}

void DedupIndex::resize(size_t groups) {
  std::vector<Slot> old_slots = std::move(slots_);
  std::vector<uint8_t> old_ctrl = std::move(ctrl_);
  groups_ = groups;
  slots_.assign(groups * kGroup, Slot{0, 0, 0, 0});
  ctrl_.assign(groups * kGroup, kEmpty);
  for (size_t i = 0; i < old_ctrl.size(); i++)
    if (old_ctrl[i] != kEmpty) place(old_slots[i]);
}

void DedupIndex::place(const Slot& s) {
  // No entry is ever removed, so the first empty slot along the probe sequence is where a key belongs.
  for (size_t g = group_of(s.a);; g = g + 1 == groups_ ? 0 : g + 1) {
    const uint32_t empty = match(&ctrl_[g * kGroup], kEmpty);
    if (empty) {
      const size_t i = g * kGroup + size_t(__builtin_ctz(empty));
      ctrl_[i] = tag_of(s.b);
      slots_[i] = s;
      return;
    }
  }
}

void DedupIndex::insert(uint64_t a, uint32_t b, int64_t event_time, uint32_t payload) {
  if (double(size_ + 1) > double(groups_ * kGroup) * kMaxLoad)
    resize(groups_ < 64 ? 64 : groups_ + groups_ / 2);
  place({a, b, payload, event_time});
  size_++;
}

DedupIndex::Outcome DedupIndex::check_and_insert(uint64_t a, uint32_t b, int64_t event_time, uint32_t payload,
                                                 int64_t window_us) {
  if (groups_ > 0) {
    const uint8_t tag = tag_of(b);
    for (size_t g = group_of(a);; g = g + 1 == groups_ ? 0 : g + 1) {
      const uint8_t* ctrl = &ctrl_[g * kGroup];
      for (uint32_t m = match(ctrl, tag); m; m &= m - 1) {
        const Slot& s = slots_[g * kGroup + size_t(__builtin_ctz(m))];
        if (s.a == a && s.b == b && abs_diff(s.event_time, event_time) <= uint64_t(window_us))
          return s.payload == payload ? Outcome::duplicate : Outcome::conflict;
      }
      if (match(ctrl, kEmpty)) break;  // the probe sequence of this key ends here
    }
  }
  insert(a, b, event_time, payload);
  return Outcome::inserted;
}

void Deduplicator::load(uint8_t space, uint64_t key_hi, uint64_t key_lo, int64_t event_time,
                        uint64_t payload) {
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
      case DedupIndex::Outcome::conflict:
        counts.conflicts++;
        [[fallthrough]];
      case DedupIndex::Outcome::duplicate:
        counts.duplicates++;
        break;
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
