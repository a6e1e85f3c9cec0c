// Live BPF maps with the kernel's semantics, stored in shared memory so every
// process that opens the same map sees the same data.
//
// Two faces, as in the kernel:
//  * the program side (what helpers call): raw pointers, 0 / -errno results,
//    no allocation, no exceptions, safe from many threads and processes at once;
//  * the user side (what bpf(2) map commands do): copies in and out, per-CPU
//    values in the syscall layout (ncpus x round_up(value_size, 8)), Expected
//    errors whose `errnum` is the kernel's errno and whose message names the map.
//
// A Map object is process-local (it owns the mapping); the storage it maps is
// shared. Maps are created and opened through a Store (store.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kabi/kernel_types.hpp"
#include "support/error.hpp"

namespace xbpf::maps {

using kabi::MapType;

// BPF_MAP_UPDATE_ELEM / lookup flags (uapi values).
inline constexpr uint64_t kAny = 0;      // BPF_ANY
inline constexpr uint64_t kNoExist = 1;  // BPF_NOEXIST
inline constexpr uint64_t kExist = 2;    // BPF_EXIST
inline constexpr uint64_t kFLock = 4;    // BPF_F_LOCK

// map_flags of BPF_MAP_CREATE (uapi values) that xbpf interprets.
inline constexpr uint32_t kFNoPrealloc = 1U << 0;
inline constexpr uint32_t kFNoCommonLru = 1U << 1;
inline constexpr uint32_t kFNumaNode = 1U << 2;
inline constexpr uint32_t kFRdonly = 1U << 3;       // read-only for user space
inline constexpr uint32_t kFWronly = 1U << 4;
inline constexpr uint32_t kFZeroSeed = 1U << 6;
inline constexpr uint32_t kFRdonlyProg = 1U << 7;   // read-only for programs
inline constexpr uint32_t kFWronlyProg = 1U << 8;
inline constexpr uint32_t kFMmapable = 1U << 10;

// What BPF_MAP_CREATE receives.
struct MapAttr {
  MapType type = MapType::Unspec;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;
  uint64_t map_extra = 0;      // bloom filter: number of hash functions (low 4 bits)
  uint32_t inner_map_id = 0;   // map-in-map: store id of the template map
  uint32_t btf_key_type_id = 0;    // informational (pretty printing); 0 = none
  uint32_t btf_value_type_id = 0;
  std::string name;            // up to 15 characters, as BPF_OBJ_NAME_LEN - 1
};

// A snapshot of a map's identity (BPF_OBJ_GET_INFO_BY_FD).
struct MapInfo {
  uint32_t id = 0;  // store-wide id, never reused while the store lives
  MapAttr attr;
  bool frozen = false;
};

class Map {
 public:
  virtual ~Map() = default;
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;

  [[nodiscard]] virtual MapInfo info() const = 0;
  [[nodiscard]] uint32_t id() const { return id_; }
  [[nodiscard]] MapType type() const { return attr_.type; }
  [[nodiscard]] uint32_t key_size() const { return attr_.key_size; }
  [[nodiscard]] uint32_t value_size() const { return attr_.value_size; }
  [[nodiscard]] uint32_t max_entries() const { return attr_.max_entries; }
  [[nodiscard]] const std::string& name() const { return attr_.name; }

  // ---- program side (helpers). `key`/`value` point to key_size/value_size
  // bytes. Results follow the helpers' contracts: pointer or nullptr, 0 or
  // -errno. Unsupported operations return -EOPNOTSUPP / -EINVAL as the kernel.

  // bpf_map_lookup_elem: pointer to the value in shared storage (for per-CPU
  // maps: this CPU's copy), nullptr when absent. Map-in-map: the inner Map*.
  virtual void* lookup_elem(const void* key) noexcept = 0;
  virtual long update_elem(const void* key, const void* value, uint64_t flags) noexcept = 0;
  virtual long delete_elem(const void* key) noexcept = 0;
  // Queue / stack / bloom filter (push = bpf_map_push_elem, peek on a bloom
  // filter = membership test).
  virtual long push_elem(const void* value, uint64_t flags) noexcept;
  virtual long pop_elem(void* value) noexcept;
  virtual long peek_elem(void* value) noexcept;
  // bpf_map_lookup_percpu_elem.
  virtual void* lookup_percpu_elem(const void* key, uint32_t cpu) noexcept;

  // ---- user side (bpf(2) map commands).
  // Value buffers hold value_size bytes, or for per-CPU maps
  // possible_cpus() * round_up(value_size, 8) bytes.
  [[nodiscard]] virtual Expected<void> lookup(const void* key, void* value, uint64_t flags) = 0;
  [[nodiscard]] virtual Expected<void> update(const void* key, const void* value, uint64_t flags) = 0;
  [[nodiscard]] virtual Expected<void> remove(const void* key) = 0;
  // key == nullptr or a missing key: the first key (as the kernel). ENOENT at the end.
  [[nodiscard]] virtual Expected<void> get_next_key(const void* key, void* next_key) = 0;
  [[nodiscard]] virtual Expected<void> lookup_and_delete(const void* key, void* value, uint64_t flags);
  // BPF_MAP_FREEZE: user space can no longer write (programs still can).
  [[nodiscard]] virtual Expected<void> freeze();

  // Size in bytes of one user-side value buffer.
  [[nodiscard]] size_t user_value_size() const;

 protected:
  Map(uint32_t id, MapAttr attr) : id_(id), attr_(std::move(attr)) {}
  uint32_t id_;
  MapAttr attr_;
};

// True for map types that keep one value per CPU.
[[nodiscard]] bool is_percpu(MapType t);

// Number of CPUs per-CPU maps hold values for (the kernel's possible CPUs).
[[nodiscard]] uint32_t possible_cpus();

}  // namespace xbpf::maps
