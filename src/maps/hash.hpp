// Internal: hash, per-CPU hash, LRU hash and LRU per-CPU hash (hash.cpp).
//
// Shared layout: HashCtl, then nbuckets Buckets, then a preallocated pool of
// elements. Links are element index + 1; a chain ends in a "nulls" marker
// (bit 31 | bucket index) so a lock-free reader that followed an element
// being reused into another chain notices and restarts (the kernel's
// hlist_nulls trick). Writers take the bucket's robust lock; the free list is
// a lock-free tagged stack, so a writer killed anywhere leaks at most one element.
#pragma once

#include <atomic>

#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

struct HashCtl {
  std::atomic<uint64_t> free_head;  // (aba tag << 32) | link; link 0 = empty
  std::atomic<uint32_t> count;      // linked elements
  std::atomic<uint32_t> lru_hand;   // clock hand for LRU eviction
  uint32_t seed;
  uint32_t reserved[11];
};
static_assert(sizeof(HashCtl) == 64);

struct Bucket {
  std::atomic<uint32_t> lock;
  std::atomic<uint32_t> head;
};

struct ElemHdr {
  std::atomic<uint32_t> next;
  uint32_t hash;
  std::atomic<uint32_t> used;  // 1 while linked in a bucket
  std::atomic<uint32_t> ref;   // LRU: referenced since the clock hand last passed
};

inline constexpr uint32_t kNulls = 1U << 31;
inline constexpr uint32_t kFreeEnd = kNulls | 0x7fffffffU;  // never a real bucket index

class HashMap : public ShmMap {
 public:
  explicit HashMap(MapContext&& ctx);
  void* lookup_elem(const void* key) noexcept override;
  void* lookup_percpu_elem(const void* key, uint32_t cpu) noexcept override;
  long update_elem(const void* key, const void* value, uint64_t flags) noexcept override;
  long delete_elem(const void* key) noexcept override;
  [[nodiscard]] Expected<void> lookup(const void* key, void* value, uint64_t flags) override;
  [[nodiscard]] Expected<void> update(const void* key, const void* value, uint64_t flags) override;
  [[nodiscard]] Expected<void> remove(const void* key) override;
  [[nodiscard]] Expected<void> get_next_key(const void* key, void* next_key) override;
  [[nodiscard]] Expected<void> lookup_and_delete(const void* key, void* value, uint64_t flags) override;

  // Layout shared with the storage-size computation.
  struct Geometry {
    uint32_t nbuckets, nelems;
    uint64_t elem_size, value_bytes, buckets_off, elems_off, total;
  };
  [[nodiscard]] static Geometry geometry(const MapAttr& a);
  static void init_storage(uint8_t* storage, const MapAttr& a);

 private:
  // Where the caller's value goes: all CPUs (user layout), one CPU, or
  // one CPU with the others zeroed (a new element from a program).
  enum class Fill { AllCpus, OneCpu };

  [[nodiscard]] uint32_t hash_of(const void* key) const noexcept;
  [[nodiscard]] uint8_t* elem(uint32_t idx) const noexcept { return elems_ + uint64_t{idx} * g_.elem_size; }
  [[nodiscard]] static ElemHdr* hdr(uint8_t* e) noexcept { return reinterpret_cast<ElemHdr*>(e); }
  [[nodiscard]] uint8_t* key_of(uint8_t* e) const noexcept { return e + sizeof(ElemHdr); }
  [[nodiscard]] uint8_t* value_of(uint8_t* e) const noexcept { return e + sizeof(ElemHdr) + key_bytes_; }
  [[nodiscard]] bool key_eq(const uint8_t* a, const void* b) const noexcept;
  [[nodiscard]] Bucket& bucket(uint32_t h) const noexcept { return buckets_[h & (g_.nbuckets - 1)]; }

  [[nodiscard]] uint8_t* find(const void* key, uint32_t h) const noexcept;
  // Under the bucket lock: the element and the link that points at it.
  [[nodiscard]] uint8_t* find_locked(Bucket& b, const void* key, uint32_t h,
                                     std::atomic<uint32_t>** prev) const noexcept;
  [[nodiscard]] uint8_t* pop_free() noexcept;
  void push_free(uint8_t* e) noexcept;
  [[nodiscard]] bool evict_one() noexcept;
  void write_value(uint8_t* e, const void* value, Fill fill, bool fresh) noexcept;
  [[nodiscard]] long upsert(const void* key, const void* value, uint64_t flags, Fill fill) noexcept;
  [[nodiscard]] long upsert_once(const void* key, const void* value, uint64_t flags, Fill fill) noexcept;
  [[nodiscard]] long erase(const void* key, void* out) noexcept;
  void read_value(uint8_t* e, void* out, uint64_t flags) const noexcept;

  Geometry g_{};
  HashCtl* ctl_ = nullptr;
  Bucket* buckets_ = nullptr;
  uint8_t* elems_ = nullptr;
  uint32_t key_bytes_ = 0;
  uint32_t ncpus_ = 1;
  uint32_t stride_ = 0;  // per-CPU value stride
  uint32_t seed_ = 0;
  uint64_t seed_mix_ = 0;
  bool percpu_ = false;
  bool lru_ = false;
};

}  // namespace xbpf::maps::detail
