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
  uint32_t btf_id = 0;             // store id of the BTF object the type ids refer to; 0 = none
  uint32_t btf_key_type_id = 0;    // informational (pretty printing); 0 = none
  uint32_t btf_value_type_id = 0;
  std::string name;            // up to 15 characters, as BPF_OBJ_NAME_LEN - 1
  // Offset of the value's `struct bpf_spin_lock` (found in the value's BTF by
  // the runtime), -1 = none. BPF_F_LOCK needs one (EINVAL otherwise, as the kernel).
  int32_t spin_lock_off = -1;
};

// The flat layout of a plain BPF_MAP_TYPE_ARRAY, for a JIT's inlined lookup
// and for BPF_PSEUDO_MAP_VALUE: value i lives at base + i * stride. For a
// BPF_MAP_TYPE_PERCPU_ARRAY (Map::percpu_layout only) CPU c's copy of value i
// lives at base + (i * ncpus + c) * stride.
struct ArrayLayout {
  uint8_t* base = nullptr;  // nullptr: the map is not a flat array
  uint32_t stride = 0;      // round_up(value_size, 8), as the kernel's elem_size
  uint32_t max_entries = 0;
  uint32_t ncpus = 1;       // per-CPU arrays: possible_cpus(); the copy is current_cpu()'s
};

// In/out state of the batch commands (BPF_MAP_*_BATCH). `in_batch`/`out_batch`
// are opaque tokens of batch_token_size() bytes; in_batch == nullptr starts at
// the beginning. `count` is in: buffer capacity (elements), out: elements done.
struct BatchArgs {
  const void* in_batch = nullptr;
  void* out_batch = nullptr;
  void* keys = nullptr;    // count * key_size bytes
  void* values = nullptr;  // count * user_value_size() bytes
  uint32_t count = 0;
  uint64_t elem_flags = 0;
  uint64_t flags = 0;      // must be 0
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

  // Batch commands with the kernel's contract: ENOENT (with `count` set) when
  // the walk reached the end; ENOSPC when one element does not fit (count 0).
  // update/delete_batch read `count` keys (and values) and stop at the first error.
  [[nodiscard]] virtual Expected<void> lookup_batch(BatchArgs& args);
  [[nodiscard]] virtual Expected<void> lookup_and_delete_batch(BatchArgs& args);
  [[nodiscard]] virtual Expected<void> update_batch(BatchArgs& args);
  [[nodiscard]] virtual Expected<void> delete_batch(BatchArgs& args);
  // Bytes of the opaque batch token (in_batch / out_batch).
  [[nodiscard]] virtual size_t batch_token_size() const { return key_size() ? key_size() : 4; }

  // True once BPF_MAP_FREEZE succeeded (seen by every process at once).
  [[nodiscard]] virtual bool frozen() const { return false; }
  // BPF_F_RDONLY_PROG: programs may read but not write (the verifier refuses
  // stores into values and update/delete helpers).
  [[nodiscard]] bool prog_read_only() const { return (attr_.map_flags & kFRdonlyProg) != 0; }
  [[nodiscard]] bool prog_write_only() const { return (attr_.map_flags & kFWronlyProg) != 0; }
  [[nodiscard]] const MapAttr& attr() const { return attr_; }
  // Non-empty only for BPF_MAP_TYPE_ARRAY (see ArrayLayout).
  [[nodiscard]] virtual ArrayLayout array_layout() noexcept { return {}; }
  // Non-empty only for BPF_MAP_TYPE_PERCPU_ARRAY (for inlined lookups; such a
  // map has no direct value access).
  [[nodiscard]] virtual ArrayLayout percpu_layout() noexcept { return {}; }

 protected:
  Map(uint32_t id, MapAttr attr) : id_(id), attr_(std::move(attr)) {}
  uint32_t id_;
  MapAttr attr_;
};

// True for map types that keep one value per CPU.
[[nodiscard]] bool is_percpu(MapType t);

// map_flags the kernel adds to a new map of type `t` (devmap, devmap_hash:
// BPF_F_RDONLY_PROG, programs may not write their entries); what a Map's
// attr() and info() then report, and what the verifier applies.
[[nodiscard]] uint32_t implied_map_flags(MapType t);

// Number of CPUs per-CPU maps hold values for (the kernel's possible CPUs).
[[nodiscard]] uint32_t possible_cpus();

}  // namespace xbpf::maps
