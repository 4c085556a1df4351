#include "transforms/dedup.hpp"

#include <algorithm>
#include <filesystem>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace advx {
namespace {
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
  if (full()) resize(next_groups());
  place({a, b, payload, event_time});
  size_++;
}

const DedupEntry* DedupIndex::find(uint64_t a, uint32_t b, int64_t event_time, int64_t window_us,
                                   const uint32_t* payload) const {
  if (groups_ == 0) return nullptr;
  const uint8_t tag = tag_of(b);
  for (size_t g = group_of(a);; g = g + 1 == groups_ ? 0 : g + 1) {
    const uint8_t* ctrl = &ctrl_[g * kGroup];
    for (uint32_t m = match(ctrl, tag); m; m &= m - 1) {
      const Slot& s = slots_[g * kGroup + size_t(__builtin_ctz(m))];
      if (s.a == a && s.b == b && within_window(s.event_time, event_time, window_us) &&
          (!payload || s.payload == *payload))
        return &s;
    }
    if (match(ctrl, kEmpty)) return nullptr;  // the probe sequence of this key ends here
  }
}

DedupIndex::Outcome DedupIndex::check_and_insert(uint64_t a, uint32_t b, int64_t event_time, uint32_t payload,
                                                 int64_t window_us) {
  // A conflict differs from every entry in the window (a key can hold several: see the top of dedup.hpp).
  if (find(a, b, event_time, window_us))
    return find(a, b, event_time, window_us, &payload) ? Outcome::duplicate : Outcome::conflict;
  insert(a, b, event_time, payload);
  return Outcome::inserted;
}

void DedupIndex::extract_older_half(std::vector<DedupEntry>& out) {
  if (size_ == 0) return;
  // The median event time, from a sample of the slots.
  std::vector<int64_t> sample;
  const size_t stride = std::max<size_t>(1, ctrl_.size() / 4096);
  for (size_t i = 0; i < ctrl_.size(); i += stride)
    if (ctrl_[i] != kEmpty) sample.push_back(slots_[i].event_time);
  for (size_t i = 0; sample.empty(); i++)
    if (ctrl_[i] != kEmpty) sample.push_back(slots_[i].event_time);
  std::nth_element(sample.begin(), sample.begin() + ptrdiff_t(sample.size() / 2), sample.end());
  const int64_t median = sample[sample.size() / 2];
  // Older than the median; with many entries at the median itself (one second of traffic), those too.
  size_t older = 0, at_median = 0;
  for (size_t i = 0; i < ctrl_.size(); i++) {
    if (ctrl_[i] == kEmpty) continue;
    older += slots_[i].event_time < median;
    at_median += slots_[i].event_time == median;
  }
  const bool with_median = older < size_ / 4;
  out.reserve(out.size() + older + (with_median ? at_median : 0));
  for (size_t i = 0; i < ctrl_.size(); i++) {
    if (ctrl_[i] == kEmpty) continue;
    const Slot& s = slots_[i];
    if (s.event_time < median || (with_median && s.event_time == median)) {
      out.push_back(s);
      ctrl_[i] = kEmpty;
      size_--;
    } else {
      ctrl_[i] = kMoved;
    }
  }
  rehash_in_place();
}

// Re-places every kMoved entry without a second table (as Abseil's DropDeletesWithoutResize): an entry
// goes to the first free slot of its probe sequence — stays if that is in its own group, moves if the slot
// is empty, and swaps if the slot holds another entry still to be placed, which is then placed in turn.
void DedupIndex::rehash_in_place() {
  for (size_t i = 0; i < ctrl_.size();) {
    if (ctrl_[i] != kMoved) {
      i++;
      continue;
    }
    const size_t home = group_of(slots_[i].a);
    size_t g = home;
    uint32_t free = 0;
    while (!(free = match(&ctrl_[g * kGroup], kEmpty) | match(&ctrl_[g * kGroup], kMoved)))
      g = g + 1 == groups_ ? 0 : g + 1;
    const size_t target = g * kGroup + size_t(__builtin_ctz(free));
    const auto probe_index = [&](size_t pos) { return (pos / kGroup + groups_ - home) % groups_; };
    const uint8_t tag = tag_of(slots_[i].b);
    if (probe_index(target) == probe_index(i)) {
      ctrl_[i] = tag;
      i++;
    } else if (ctrl_[target] == kEmpty) {
      slots_[target] = slots_[i];
      ctrl_[target] = tag;
      ctrl_[i] = kEmpty;
      i++;
    } else {
      std::swap(slots_[target], slots_[i]);  // i now holds the other entry: placed on the next turn
      ctrl_[target] = tag;
    }
  }
}

DedupSpill DedupSpill::in_folder(const std::string& folder) const {
  DedupSpill s = *this;
  if (!s.dir.empty()) return s;
  s.dir = folder.empty() ? std::filesystem::temp_directory_path().string() : folder;
  return s;
}

Deduplicator::Deduplicator(int64_t window_us, DedupSpill spill)
    : window_us_(window_us), spill_(std::move(spill)) {}
Deduplicator::~Deduplicator() = default;

void Deduplicator::load(uint8_t space, uint64_t key_hi, uint64_t key_lo, int64_t event_time,
                        uint64_t payload) {
  if (space >= kKeySpaceCount) return;
  make_room(space);
  index_[space].insert(key_hi, uint32_t(key_lo), event_time, uint32_t(payload));
}

void Deduplicator::reserve_more(KeySpace space, size_t more) {
  DedupIndex& ix = index_[size_t(space)];
  size_t want = ix.size() + more;
  // Within a budget the index grows only as far as the budget allows anyway (make_room).
  if (spill_.memory_budget_bytes > 0)
    want = std::min(want, DedupIndex::entries_for_bytes(spill_.memory_budget_bytes / kKeySpaceCount));
  ix.reserve(want);
}

void Deduplicator::make_room(size_t space) {
  DedupIndex& ix = index_[space];
  if (spill_.memory_budget_bytes == 0 || !ix.full() || ix.size() < 1024) return;
  size_t others = 0;
  for (size_t s = 0; s < kKeySpaceCount; s++)
    if (s != space) others += index_[s].memory_bytes();
  if (others + ix.grown_bytes() <= spill_.memory_budget_bytes) return;  // growing fits
  std::vector<DedupEntry> older;
  ix.extract_older_half(older);
  if (!runs_[space]) runs_[space] = std::make_unique<DedupRuns>(spill_.dir);
  runs_[space]->add(std::move(older));
}

DedupIndex::Outcome Deduplicator::check_and_insert(size_t space, uint64_t a, uint32_t b, int64_t event_time,
                                                   uint32_t payload) {
  DedupIndex& ix = index_[space];
  const DedupRuns* runs = runs_[space].get();
  DedupEntry spilled;
  auto known = [&](const uint32_t* with_payload) {
    return ix.find(a, b, event_time, window_us_, with_payload) ||
           (runs && runs->find(a, b, event_time, window_us_, spilled, with_payload));
  };
  // A conflict differs from every entry in the window, wherever each is held, so spilling changes nothing.
  if (known(nullptr)) return known(&payload) ? DedupIndex::Outcome::duplicate : DedupIndex::Outcome::conflict;
  make_room(space);
  ix.insert(a, b, event_time, payload);
  return DedupIndex::Outcome::inserted;
}

void Deduplicator::apply(const StagedTable& t, std::vector<uint32_t>& keep, DedupCounts& counts,
                         TableBuffer& new_state) {
  const size_t n = t.keys.size();
  // Each key carries the position of the record it admitted (its row's source and source_record).
  const int source_col = tables::column_index(t.rows.def(), "source");
  const int record_col = tables::column_index(t.rows.def(), "source_record");
  const std::string_view* sources = source_col >= 0 ? t.rows.data<std::string_view>(source_col) : nullptr;
  const uint64_t* records = record_col >= 0 ? t.rows.data<uint64_t>(record_col) : nullptr;
  // The index is far larger than the caches: fetch the slots a few keys ahead of their lookup.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < n && i < kAhead; i++) index_[size_t(t.keys[i].space)].prefetch(t.keys[i].key.hi);
  for (size_t i = 0; i < n; i++) {
    if (i + kAhead < n) index_[size_t(t.keys[i + kAhead].space)].prefetch(t.keys[i + kAhead].key.hi);
    const DedupKey& k = t.keys[i];
    const uint32_t b = uint32_t(k.key.lo);
    switch (check_and_insert(size_t(k.space), k.key.hi, b, k.event_time, k.payload)) {
      case DedupIndex::Outcome::inserted: {
        keep.push_back(uint32_t(i));
        const size_t r = new_state.add_row();
        new_state.set_u8(col::dd_stream, r, uint8_t(k.space));
        new_state.set_u64(col::dd_key_hi, r, k.key.hi);
        new_state.set_u64(col::dd_key_lo, r, b);
        new_state.set_i64(col::dd_event_time, r, k.event_time);
        new_state.set_u64(col::dd_payload_hash, r, k.payload);
        if (sources) new_state.set_str(col::dd_source, r, sources[i]);
        if (records) new_state.set_u64(col::dd_source_record, r, records[i]);
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
  size_t n = spilled_entries();
  for (const auto& ix : index_) n += ix.size();
  return n;
}

size_t Deduplicator::spilled_entries() const {
  size_t n = 0;
  for (const auto& r : runs_) n += r ? r->size() : 0;
  return n;
}

size_t Deduplicator::memory_bytes() const {
  size_t n = 0;
  for (const auto& ix : index_) n += ix.memory_bytes();
  for (const auto& r : runs_) n += r ? r->memory_bytes() : 0;
  return n;
}

}  // namespace advx
