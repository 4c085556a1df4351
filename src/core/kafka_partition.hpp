// The partition a Kafka key belongs to, as Java's default partitioner and librdkafka's murmur2_random
// compute it: murmur2 (Kafka's variant: seed 0x9747b28c) of the key's bytes, its sign bit cleared, modulo
// the partition count. advx publish keys every record by its user_id this way, and a fleet worker checks
// the records it reads against it (docs/FLEET.md, "The producer contract").
#pragma once
#include <cstdint>
#include <string_view>

namespace advx {

inline uint32_t kafka_murmur2(std::string_view key) {
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const uint32_t length = uint32_t(key.size());
  uint32_t h = 0x9747b28cu ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; i++) {
    const uint32_t i4 = i * 4;
    uint32_t k = uint32_t(data[i4]) | uint32_t(data[i4 + 1]) << 8 | uint32_t(data[i4 + 2]) << 16 |
                 uint32_t(data[i4 + 3]) << 24;
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= uint32_t(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t(data[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

// The partition of `key` among `partitions` (> 0).
inline int32_t kafka_partition_of(std::string_view key, int32_t partitions) {
  return int32_t((kafka_murmur2(key) & 0x7fffffffu) % uint32_t(partitions));
}

}  // namespace advx
