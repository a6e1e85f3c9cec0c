// A seeded 64-bit hash of a byte string, shared by maps and helpers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xbpf {

// A 64-bit hash of a byte string, seeded: map keys, stacks, bloom filter
// values, the flow hash of bpf_get_hash_recalc.
[[nodiscard]] inline uint64_t hash_bytes(const void* p, size_t n, uint64_t seed) noexcept {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    __builtin_memcpy(&v, b + i, 8);
    h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
  }
  if (i < n) {
    uint64_t v = 0;
    __builtin_memcpy(&v, b + i, n - i);
    h = (h ^ v) * 0x94d049bb133111ebULL;
  }
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return h;
}

}  // namespace xbpf
