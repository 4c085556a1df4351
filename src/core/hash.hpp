// Hashing for dedup keys and payload fingerprints: XXH3 (64 and 128 bit), fed field by field with a
// separator that cannot occur in the data so that ("ab","c") and ("a","bc") differ.
#pragma once
#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace advx {

struct Hash128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const Hash128&) const = default;
};

inline Hash128 hash128(std::string_view s) {
  XXH128_hash_t h = XXH3_128bits(s.data(), s.size());
  return {h.high64, h.low64};
}
inline uint64_t hash64(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

// Incremental hashing of a sequence of fields.
class FieldHasher {
 public:
  FieldHasher() { XXH3_128bits_reset(&state_); }
  FieldHasher& add(std::string_view s) {
    const uint32_t n = uint32_t(s.size());
    XXH3_128bits_update(&state_, &n, sizeof n);  // length prefix: unambiguous concatenation
    XXH3_128bits_update(&state_, s.data(), s.size());
    return *this;
  }
  FieldHasher& add_i64(int64_t v) {
    XXH3_128bits_update(&state_, &v, sizeof v);
    return *this;
  }
  FieldHasher& add_f64(double v) {
    if (v == 0) v = 0;  // -0.0 and 0.0 are the same value
    XXH3_128bits_update(&state_, &v, sizeof v);
    return *this;
  }
  Hash128 digest() const {
    XXH128_hash_t h = XXH3_128bits_digest(&state_);
    return {h.high64, h.low64};
  }

 private:
  XXH3_state_t state_;
};

}  // namespace advx
