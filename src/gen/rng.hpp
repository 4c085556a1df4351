// Fast deterministic randomness for the generator: xoshiro256** seeded by splitmix64, plus bijective id
// mixers (a bijection guarantees unique ids without remembering the ones already issued).
#pragma once
#include <cmath>
#include <cstdint>

namespace advx::gen {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Bijective on 64 bits: every step (xor-shift, multiply by an odd constant) is invertible.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Bijective on 48 bits, for shorter ids.
inline uint64_t mix48(uint64_t z) {
  constexpr uint64_t kMask = (1ULL << 48) - 1;
  z &= kMask;
  z = (z * 0x9e3779b97f4bULL) & kMask;
  z ^= z >> 23;
  z = (z * 0xc2b2ae3d27d5ULL) & kMask;
  z ^= z >> 19;
  return z;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& v : s_) v = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return uniform() < p; }
  // [0, n) without modulo bias worth caring about at these sizes (Lemire's multiply-shift).
  uint64_t below(uint64_t n) { return uint64_t((__uint128_t(next()) * n) >> 64); }
  int64_t range(int64_t lo, int64_t hi) { return lo + int64_t(below(uint64_t(hi - lo + 1))); }  // [lo, hi]
  double range_d(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace advx::gen
