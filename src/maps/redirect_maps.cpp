// The XDP redirect targets: devmap, devmap_hash, cpumap and xskmap, the maps
// bpf_redirect_map reads (kernel/bpf/devmap.c, kernel/bpf/cpumap.c,
// net/xdp/xskmap.c).
//
// What xbpf keeps of an entry is its value as the kernel reports it back:
// devmap { u32 ifindex; u32 prog_id }, cpumap { u32 qsize; u32 prog_id },
// one 8-byte slot per entry, written whole so a reader never sees half of
// an update. prog_id stays 0: xbpf runs no devmap/cpumap programs.
//
// Differences from the kernel, all for want of kernel objects:
//  * any nonzero ifindex is accepted (the kernel needs a net device with that
//    index, EINVAL otherwise);
//  * a value carrying a program fd (value_size 8, fd > 0) fails with
//    EOPNOTSUPP (the kernel attaches a BPF_XDP_DEVMAP / BPF_XDP_CPUMAP program);
//  * an xskmap has no AF_XDP sockets to hold: user updates fail with
//    EOPNOTSUPP (the kernel's answer for a socket that is not AF_XDP) and its
//    entries are always empty;
//  * a cpumap entry starts no kthread; its max_entries limit is NR_CPUS as
//    x86-64 distribution kernels build it (kNrCpus).
#include <atomic>
#include <cstring>

#include "maps/hash.hpp"

namespace xbpf::maps {

namespace detail {

namespace {

// DEV_CREATE_FLAG_MASK, and xsk_map_alloc's mask (the same bits).
constexpr uint32_t kDevCreateFlags = kFNumaNode | kFRdonly | kFWronly;
// CONFIG_NR_CPUS of x86-64 distribution kernels (MAXSMP): cpu_map_alloc's
// pre-limit. The kernel's limit is its build's value (often 8192, sometimes less).
constexpr uint32_t kNrCpus = 8192;
// cpu_map_update_elem's sanity limit on a queue size.
constexpr uint32_t kMaxQsize = 16384;

// One entry as stored: the first word is the ifindex (devmap) or qsize
// (cpumap), 0 when the entry is empty; the second the program id (always 0).
using Slot = uint64_t;

// What a user value of value_size 4 or 8 holds: the first word, and the
// program fd (0 when value_size is 4). The fd is a signed int: only fd > 0
// names a program (the kernel ignores negative fds).
struct UserValue {
  uint32_t word = 0;
  int32_t prog_fd = 0;
};

UserValue read_user_value(const void* value, uint32_t value_size) {
  UserValue v;
  std::memcpy(&v.word, value, 4);
  if (value_size == 8) std::memcpy(&v.prog_fd, static_cast<const uint8_t*>(value) + 4, 4);
  return v;
}

Expected<void> validate_dev(const MapAttr& a) {
  // dev_map_alloc_check.
  if (a.max_entries == 0 || a.key_size != 4 || (a.value_size != 4 && a.value_size != 8)) {
    return bad_attr(a, EINVAL, "devmaps need key_size 4, value_size 4 or 8 (struct bpf_devmap_val) and max_entries > 0");
  }
  if (a.map_flags & ~kDevCreateFlags) return bad_attr(a, EINVAL, "unsupported map_flags for a devmap");
  if (a.type == MapType::DevmapHash && a.max_entries > (1U << 31)) {
    return bad_attr(a, EINVAL, "max_entries is above 2^31 (the bucket count is a power of two)");
  }
  return {};
}

Expected<void> validate_cpu(const MapAttr& a) {
  // cpu_map_alloc.
  if (a.max_entries == 0 || a.key_size != 4 || (a.value_size != 4 && a.value_size != 8)) {
    return bad_attr(a, EINVAL, "cpumaps need key_size 4, value_size 4 or 8 (struct bpf_cpumap_val) and max_entries > 0");
  }
  if (a.map_flags & ~kFNumaNode) return bad_attr(a, EINVAL, "unsupported map_flags for a cpumap");
  if (a.max_entries > kNrCpus) return bad_attr(a, E2BIG, "max_entries is above NR_CPUS (8192)");
  return {};
}

Expected<void> validate_xsk(const MapAttr& a) {
  // xsk_map_alloc.
  if (a.max_entries == 0 || a.key_size != 4 || a.value_size != 4) {
    return bad_attr(a, EINVAL, "xskmaps need key_size 4, value_size 4 (a socket fd) and max_entries > 0");
  }
  if (a.map_flags & ~kDevCreateFlags) return bad_attr(a, EINVAL, "unsupported map_flags for an xskmap");
  return {};
}

uint64_t slots_size(const MapAttr& a) { return round_page(uint64_t{a.max_entries} * sizeof(Slot)); }
uint64_t dev_hash_size(const MapAttr& a) { return HashMap::geometry(a).total; }

Expected<void> prepare_dev_hash(Store&, uint8_t* storage, const MapAttr& a) {
  HashMap::init_storage(storage, a);
  return {};
}

// The checks both devmap kinds make of a user value before they store it.
Expected<void> check_dev_value(const Map& m, const UserValue& v) {
  if (v.word == 0 && v.prog_fd > 0) {
    return fail_errno(EINVAL, "map '{}': a program fd needs a nonzero ifindex", m.name());
  }
  if (v.prog_fd > 0) {
    return fail_errno(EOPNOTSUPP, "map '{}': devmap programs (a program fd in struct bpf_devmap_val) are not "
                      "supported by xbpf", m.name());
  }
  return {};
}

Expected<void> no_batch(const Map& m) {
  // Neither devmaps, cpumaps nor xskmaps have batch operations (BPF_DO_BATCH).
  return fail_errno(kENOTSUPP, "map '{}': batch operations are not supported for {} maps", m.name(),
                    kabi::name(m.type()));
}

// devmap, cpumap and xskmap: max_entries slots indexed by the key.
class SlotMap : public ShmMap {
 public:
  explicit SlotMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {}

  // Program side: the entry (what bpf_redirect_map targets), nullptr when
  // empty. An xskmap entry is always empty (no sockets).
  void* lookup_elem(const void* key) noexcept override {
    const uint32_t i = key_of(key);
    if (i >= attr_.max_entries) return nullptr;
    Slot* s = slots() + i;
    return std::atomic_ref(*s).load(std::memory_order_acquire) != 0 ? s : nullptr;
  }
  // The verifier lets no program update or delete these entries.
  long update_elem(const void*, const void*, uint64_t) noexcept override { return -EOPNOTSUPP; }
  long delete_elem(const void*) noexcept override { return -EOPNOTSUPP; }

  Expected<void> lookup(const void* key, void* value, uint64_t flags) override {
    if (auto r = check_user_read(); !r) return r;
    if (auto r = check_elem_flags(flags, kFLock); !r) return r;
    if (attr_.type == MapType::Xskmap) {
      // xsk_map_lookup_elem_sys_only: a socket cannot be returned to user space.
      return fail_errno(EOPNOTSUPP, "map '{}': xskmap entries cannot be looked up from user space", name());
    }
    const uint32_t i = key_of(key);
    const Slot s = i < attr_.max_entries ? std::atomic_ref(slots()[i]).load(std::memory_order_acquire) : 0;
    if (s == 0) return fail_errno(ENOENT, "map '{}': entry {} is empty", name(), i);
    std::memcpy(value, &s, attr_.value_size);
    return {};
  }

  Expected<void> update(const void* key, const void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    // dev_map_update_elem, cpu_map_update_elem and xsk_map_update_elem check
    // the flags, then the index, in this order.
    if (flags > kExist) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    const uint32_t i = key_of(key);
    if (i >= attr_.max_entries) {
      return fail_errno(E2BIG, "map '{}': index {} >= max_entries {}", name(), i, attr_.max_entries);
    }
    const UserValue v = read_user_value(value, attr_.value_size);
    if (attr_.type == MapType::Xskmap) {
      return fail_errno(EOPNOTSUPP, "map '{}': xbpf has no AF_XDP sockets to put in an xskmap", name());
    }
    if (flags == kNoExist) return fail_errno(EEXIST, "map '{}': entries of an array-like map always exist", name());
    if (attr_.type == MapType::Cpumap) {
      if (auto r = check_cpu_value(i, v); !r) return r;
    } else if (auto r = check_dev_value(*this, v); !r) {
      return r;
    }
    // An ifindex or qsize of 0 empties the entry (the kernel stores NULL).
    std::atomic_ref(slots()[i]).store(Slot{v.word}, std::memory_order_release);
    return {};
  }

  Expected<void> remove(const void* key) override {
    if (auto r = check_user_write(); !r) return r;
    const uint32_t i = key_of(key);
    // dev_map_delete_elem and friends: EINVAL out of range, success on an empty entry.
    if (i >= attr_.max_entries) return fail_errno(EINVAL, "map '{}': index {} >= max_entries", name(), i);
    std::atomic_ref(slots()[i]).store(0, std::memory_order_release);
    return {};
  }

  Expected<void> get_next_key(const void* key, void* next_key) override {
    // dev_map_get_next_key (and the cpumap's, the xskmap's): every index,
    // occupied or not; a missing or out-of-range key restarts at 0.
    const uint32_t i = key ? key_of(key) : UINT32_MAX;
    uint32_t next = 0;
    if (i < attr_.max_entries) {
      if (i == attr_.max_entries - 1) return fail_errno(ENOENT, "map '{}': no more keys", name());
      next = i + 1;
    }
    std::memcpy(next_key, &next, 4);
    return {};
  }

  Expected<void> lookup_batch(BatchArgs&) override { return no_batch(*this); }
  Expected<void> lookup_and_delete_batch(BatchArgs&) override { return no_batch(*this); }
  Expected<void> update_batch(BatchArgs&) override { return no_batch(*this); }
  Expected<void> delete_batch(BatchArgs&) override { return no_batch(*this); }

 private:
  static uint32_t key_of(const void* key) noexcept {
    uint32_t i;
    std::memcpy(&i, key, 4);
    return i;
  }
  Slot* slots() const noexcept { return reinterpret_cast<Slot*>(storage_); }

  // cpu_map_update_elem, in its order: the queue size limit, then the CPU.
  Expected<void> check_cpu_value(uint32_t cpu, const UserValue& v) const {
    if (v.word > kMaxQsize) {
      return fail_errno(EOVERFLOW, "map '{}': qsize {} is above {}", name(), v.word, kMaxQsize);
    }
    if (cpu >= possible_cpus()) return fail_errno(ENODEV, "map '{}': CPU {} is not a possible CPU", name(), cpu);
    if (v.word != 0 && v.prog_fd > 0) {
      return fail_errno(EOPNOTSUPP, "map '{}': cpumap programs (a program fd in struct bpf_cpumap_val) are not "
                        "supported by xbpf", name());
    }
    return {};
  }
};

// devmap_hash: a hash map of { ifindex, prog_id } values with the
// dev_map_hash_* rules layered on the generic hash's storage.
class DevHashMap : public HashMap {
 public:
  explicit DevHashMap(MapContext&& ctx) : HashMap(std::move(ctx)) {}

  long update_elem(const void*, const void*, uint64_t) noexcept override { return -EOPNOTSUPP; }
  long delete_elem(const void*) noexcept override { return -EOPNOTSUPP; }

  Expected<void> update(const void* key, const void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    const UserValue v = read_user_value(value, attr_.value_size);
    // __dev_map_hash_update_elem: an entry is a device; there is no empty one.
    if (flags > kExist) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    if (v.word == 0) return fail_errno(EINVAL, "map '{}': ifindex 0 is no device", name());
    if (auto r = check_dev_value(*this, v); !r) return r;
    // The kernel checks BPF_NOEXIST against a present key but never
    // BPF_EXIST against a missing one: that adds the key.
    const uint32_t stored[2] = {v.word, 0};
    return HashMap::update(key, stored, flags == kExist ? kAny : flags);
  }
  Expected<void> lookup_and_delete(const void* key, void* value, uint64_t flags) override {
    return Map::lookup_and_delete(key, value, flags);
  }
  Expected<void> lookup_batch(BatchArgs&) override { return no_batch(*this); }
  Expected<void> lookup_and_delete_batch(BatchArgs&) override { return no_batch(*this); }
  Expected<void> update_batch(BatchArgs&) override { return no_batch(*this); }
  Expected<void> delete_batch(BatchArgs&) override { return no_batch(*this); }
};

std::unique_ptr<Map> make_slots(MapContext&& c) { return std::unique_ptr<Map>(new SlotMap(std::move(c))); }
std::unique_ptr<Map> make_dev_hash(MapContext&& c) { return std::unique_ptr<Map>(new DevHashMap(std::move(c))); }

}  // namespace

// dev_map_init_map adds BPF_F_RDONLY_PROG: a lookup returns a pointer into
// the entry, which programs may only read.
const MapOps kDevmapOps = {MapType::Devmap, validate_dev, slots_size, nullptr, nullptr, make_slots, kFRdonlyProg};
const MapOps kDevmapHashOps = {MapType::DevmapHash, validate_dev, dev_hash_size, prepare_dev_hash, nullptr,
                               make_dev_hash, kFRdonlyProg};
const MapOps kCpumapOps = {MapType::Cpumap, validate_cpu, slots_size, nullptr, nullptr, make_slots};
const MapOps kXskmapOps = {MapType::Xskmap, validate_xsk, slots_size, nullptr, nullptr, make_slots};

}  // namespace detail

}  // namespace xbpf::maps
