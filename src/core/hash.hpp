// Hashing for dedup keys and payload fingerprints: XXH3 (64 and 128 bit), fed field by field with a
// separator that cannot occur in the data so that ("ab","c") and ("a","bc") differ.
#pragma once
#include <cstdint>
#include <cstring>
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

// Hashing a sequence of fields, each length-prefixed so that concatenations cannot collide. Fields go
// into a small buffer hashed in one shot (XXH3's one-shot path is several times faster than its streaming
// state for the short keys of events); a buffer that fills up is folded into the seed of the next piece.
class FieldHasher {
 public:
  FieldHasher& add(std::string_view s) {
    const uint32_t n = uint32_t(s.size());
    put(&n, sizeof n);
    put(s.data(), s.size());
    return *this;
  }
  FieldHasher& add_i64(int64_t v) {
    put(&v, sizeof v);
    return *this;
  }
  FieldHasher& add_f64(double v) {
    if (v == 0) v = 0;  // -0.0 and 0.0 are the same value
    put(&v, sizeof v);
    return *this;
  }
  Hash128 digest() const {
    const XXH128_hash_t h = XXH3_128bits_withSeed(buf_, len_, seed_);
    return {h.high64, h.low64};
  }

 private:
  void put(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      if (len_ == sizeof buf_) fold();
      const size_t take = n < sizeof buf_ - len_ ? n : sizeof buf_ - len_;
      std::memcpy(buf_ + len_, c, take);
      len_ += take;
      c += take;
      n -= take;
    }
  }
  void fold() {
    const XXH128_hash_t h = XXH3_128bits_withSeed(buf_, len_, seed_);
    seed_ = h.low64 ^ h.high64;
    len_ = 0;
  }

  char buf_[256];
  size_t len_ = 0;
  uint64_t seed_ = 0;
};

// For hash maps keyed by strings, with lookups by string_view (no std::string built per lookup).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return size_t(XXH3_64bits(s.data(), s.size())); }
};

}  // namespace advx
