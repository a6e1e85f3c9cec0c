// Internal: what every shared-memory map type shares (ShmMap), and the one
// table of map types (MapOps rows, defined one per map-type file and listed in
// registry.cpp). Adding a map type = one file + one row.
#pragma once

#include <cerrno>
#include <memory>

#include "maps/map.hpp"
#include "maps/shm.hpp"

namespace xbpf::maps {
class Store;
}

namespace xbpf::maps::detail {

// Everything a map object is built from.
struct MapContext {
  uint32_t id = 0;
  MapAttr attr;
  ObjectFile file;
  std::weak_ptr<Store> store;
};

class ShmMap : public Map {
 public:
  [[nodiscard]] MapInfo info() const override;
  [[nodiscard]] Expected<void> freeze() override;
  [[nodiscard]] bool frozen() const override {
    return std::atomic_ref(file_.header()->frozen).load(std::memory_order_acquire) != 0;
  }

 protected:
  explicit ShmMap(MapContext&& ctx);
  // EPERM for a frozen or BPF_F_RDONLY map (user-side writes), as the kernel.
  [[nodiscard]] Expected<void> check_user_write() const;
  // EPERM for a BPF_F_WRONLY map (user-side reads).
  [[nodiscard]] Expected<void> check_user_read() const;
  // EINVAL when `flags` has bits outside `allowed`, or BPF_F_LOCK without a spin lock.
  [[nodiscard]] Expected<void> check_elem_flags(uint64_t flags, uint64_t allowed) const;
  // Copies value_size bytes, leaving the bpf_spin_lock word (if any) alone.
  void copy_value(void* dst, const void* src) const noexcept;
  // Copy under the value's own spin lock (BPF_F_LOCK).
  void copy_value_locked(void* dst, const void* src, void* lock_owner_value) const noexcept;

  uint8_t* storage_;
  ObjectFile file_;
  std::weak_ptr<Store> store_;
};

// One row of the map-type table.
struct MapOps {
  MapType type;
  // The kernel's map_alloc_check for this type (common checks are done first).
  Expected<void> (*validate)(const MapAttr&);
  // Bytes of storage after the header; deterministic from the attributes.
  uint64_t (*storage_size)(const MapAttr&);
  // Fills fresh (zeroed) storage; nullptr when zeroes are the empty state.
  Expected<void> (*prepare)(Store&, uint8_t* storage, const MapAttr&);
  // A storage region to map twice back-to-back (ring buffers); len 0 = none.
  void (*dup_region)(const MapAttr&, uint64_t* off, uint64_t* len);
  std::unique_ptr<Map> (*make)(MapContext&&);
  // map_flags the kernel's allocation adds (maps::implied_map_flags).
  uint32_t implied_flags = 0;
};

// The rows, one per map-type file (extern: namespace-scope consts are internal otherwise).
extern const MapOps kArrayOps, kPercpuArrayOps, kProgArrayOps;
extern const MapOps kHashOps, kPercpuHashOps, kLruHashOps, kLruPercpuHashOps;
extern const MapOps kRingbufOps, kQueueOps, kStackOps, kBloomOps, kLpmTrieOps;
extern const MapOps kArrayOfMapsOps, kHashOfMapsOps, kPerfEventArrayOps, kStackTraceOps;
extern const MapOps kDevmapOps, kDevmapHashOps, kCpumapOps, kXskmapOps;

// The row for `t`, nullptr when xbpf does not implement the type.
[[nodiscard]] const MapOps* find_ops(MapType t);
// Common BPF_MAP_CREATE checks, then the type's own.
[[nodiscard]] Expected<void> validate_attr(const MapAttr& a);

// Kernel-style checks shared by several types.
inline constexpr uint32_t kAccessMask = kFRdonly | kFWronly | kFRdonlyProg | kFWronlyProg;
inline constexpr uint32_t kFPreserveElems = 1U << 11;
inline constexpr uint32_t kFInnerMap = 1U << 12;
inline constexpr uint32_t kKmallocMax = 1U << 22;  // KMALLOC_MAX_SIZE on x86-64 (4 MiB)
using xbpf::kENOTSUPP;

[[nodiscard]] Expected<void> bad_attr(const MapAttr& a, int err, const char* why);

}  // namespace xbpf::maps::detail
