// BPF_MAP_TYPE_BLOOM_FILTER: a bit array and map_extra (low 4 bits, default
// 5) hash functions, as the kernel's bloom_filter.c. push adds a value,
// peek tests membership (0 = maybe present, -ENOENT = surely absent).
#include <cstring>

#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

namespace {

struct BloomCtl {
  uint32_t seed;
  uint32_t reserved[15];
};

uint32_t nr_hashes(const MapAttr& a) { return (a.map_extra & 0xF) ? static_cast<uint32_t>(a.map_extra & 0xF) : 5; }

// Bits for a ~1% false-positive rate at max_entries, a power of two (as the kernel sizes it).
uint64_t nr_bits(const MapAttr& a) {
  uint64_t bits = (uint64_t{a.max_entries} * nr_hashes(a) * 7 + 4) / 5;
  uint64_t p = 64;
  while (p < bits && p < (uint64_t{1} << 35)) p <<= 1;
  return p;
}

Expected<void> validate_bloom(const MapAttr& a) {
  if (a.key_size != 0 || a.value_size == 0 || a.max_entries == 0) {
    return bad_attr(a, EINVAL, "bloom filters need key_size 0, value_size > 0 and max_entries > 0");
  }
  if (a.map_flags & ~(kFNumaNode | kFZeroSeed | kAccessMask)) {
    return bad_attr(a, EINVAL, "unsupported map_flags for a bloom filter");
  }
  if (a.map_extra & ~uint64_t{0xF}) return bad_attr(a, EINVAL, "map_extra holds only the number of hashes (0-15)");
  if (a.value_size > kKmallocMax) return bad_attr(a, E2BIG, "value_size is too large");
  return {};
}

uint64_t bloom_size(const MapAttr& a) { return round_page(sizeof(BloomCtl) + nr_bits(a) / 8); }

Expected<void> prepare_bloom(Store&, uint8_t* storage, const MapAttr& a) {
  auto* ctl = reinterpret_cast<BloomCtl*>(storage);
  ctl->seed = (a.map_flags & kFZeroSeed) ? 0 : static_cast<uint32_t>(hash_bytes(&storage, sizeof storage, 0x5eed));
  return {};
}

class BloomMap : public ShmMap {
 public:
  explicit BloomMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
    bits_ = reinterpret_cast<uint64_t*>(storage_ + sizeof(BloomCtl));
    mask_ = nr_bits(attr_) - 1;
    k_ = nr_hashes(attr_);
    // Independent seeds per hash function: hash_bytes(v, s) depends on v ^ s
    // in its first round, so seed + i alone would make the functions collide.
    const uint32_t seed = reinterpret_cast<BloomCtl*>(storage_)->seed;
    for (uint32_t i = 0; i < k_; ++i) {
      uint64_t z = (uint64_t{seed} << 8 | i) + 0x9E3779B97F4A7C15ULL;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      seeds_[i] = z ^ (z >> 31);
    }
  }
  void* lookup_elem(const void*) noexcept override { return nullptr; }
  long update_elem(const void*, const void* value, uint64_t flags) noexcept override { return push_elem(value, flags); }
  long delete_elem(const void*) noexcept override { return -EOPNOTSUPP; }
  long push_elem(const void* value, uint64_t flags) noexcept override {
    if (flags != kAny) return -EINVAL;
    for (uint32_t i = 0; i < k_; ++i) {
      const uint64_t bit = hash_bytes(value, attr_.value_size, seeds_[i]) & mask_;
      std::atomic_ref(bits_[bit / 64]).fetch_or(uint64_t{1} << (bit % 64), std::memory_order_relaxed);
    }
    return 0;
  }
  long peek_elem(void* value) noexcept override {
    for (uint32_t i = 0; i < k_; ++i) {
      const uint64_t bit = hash_bytes(value, attr_.value_size, seeds_[i]) & mask_;
      if (!(std::atomic_ref(bits_[bit / 64]).load(std::memory_order_relaxed) & (uint64_t{1} << (bit % 64)))) {
        return -ENOENT;
      }
    }
    return 0;
  }
  Expected<void> lookup(const void*, void* value, uint64_t flags) override {
    if (auto r = check_user_read(); !r) return r;
    if (flags) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    if (peek_elem(value) != 0) return fail_errno(ENOENT, "map '{}': value is not in the filter", name());
    return {};
  }
  Expected<void> update(const void*, const void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    if (push_elem(value, flags) != 0) return fail_errno(EINVAL, "map '{}': flags must be BPF_ANY", name());
    return {};
  }
  Expected<void> remove(const void*) override {
    return fail_errno(EOPNOTSUPP, "map '{}': bloom filters cannot delete", name());
  }
  Expected<void> get_next_key(const void*, void*) override {
    return fail_errno(EOPNOTSUPP, "map '{}': bloom filters have no keys", name());
  }

 private:
  uint64_t* bits_;
  uint64_t mask_;
  uint32_t k_;
  uint64_t seeds_[16] = {};
};

std::unique_ptr<Map> make_bloom(MapContext&& c) { return std::unique_ptr<Map>(new BloomMap(std::move(c))); }

}  // namespace

const MapOps kBloomOps = {MapType::BloomFilter, validate_bloom, bloom_size, prepare_bloom, nullptr, make_bloom};

}  // namespace xbpf::maps::detail
