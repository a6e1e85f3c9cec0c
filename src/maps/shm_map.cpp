// ShmMap: identity, freeze and the user-side permission checks every type shares.
#include <cstring>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

ShmMap::ShmMap(MapContext&& ctx)
    : Map(ctx.id, std::move(ctx.attr)), file_(std::move(ctx.file)), store_(std::move(ctx.store)) {
  storage_ = file_.storage();
  // The stored attributes are what the user asked for (they are validated
  // again on every open); the flags the kernel adds are added here.
  attr_.map_flags |= implied_map_flags(attr_.type);
}

MapInfo ShmMap::info() const { return MapInfo{id_, attr_, frozen()}; }

Expected<void> ShmMap::freeze() {
  if (attr_.map_flags & kFRdonly) {
    // The kernel needs a writable fd to freeze; a BPF_F_RDONLY map has none.
    return fail_errno(EPERM, "map '{}': cannot freeze a read-only map", name());
  }
  uint32_t expected = 0;
  if (!std::atomic_ref(file_.header()->frozen).compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    return fail_errno(EBUSY, "map '{}': already frozen", name());
  }
  return {};
}

Expected<void> ShmMap::check_user_write() const {
  if (attr_.map_flags & kFRdonly) return fail_errno(EPERM, "map '{}': map is read-only for user space", name());
  if (frozen()) return fail_errno(EPERM, "map '{}': map is frozen", name());
  return {};
}

Expected<void> ShmMap::check_user_read() const {
  if (attr_.map_flags & kFWronly) return fail_errno(EPERM, "map '{}': map is write-only for user space", name());
  return {};
}

Expected<void> ShmMap::check_elem_flags(uint64_t flags, uint64_t allowed) const {
  if (flags & ~allowed) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
  if ((flags & kFLock) && attr_.spin_lock_off < 0) {
    return fail_errno(EINVAL, "map '{}': BPF_F_LOCK needs a bpf_spin_lock in the value", name());
  }
  // BPF_NOEXIST and BPF_EXIST together are not a valid command.
  if ((flags & ~kFLock) > kExist) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
  return {};
}

void ShmMap::copy_value(void* dst, const void* src) const noexcept {
  const uint32_t vs = attr_.value_size;
  const int32_t off = attr_.spin_lock_off;
  if (off < 0) {
    std::memcpy(dst, src, vs);
    return;
  }
  // The lock word belongs to whoever holds it; never copy it (kernel copy_map_value).
  const auto o = static_cast<uint32_t>(off);
  std::memcpy(dst, src, o);
  std::memcpy(static_cast<uint8_t*>(dst) + o + 4, static_cast<const uint8_t*>(src) + o + 4, vs - o - 4);
}

void ShmMap::copy_value_locked(void* dst, const void* src, void* lock_owner_value) const noexcept {
  void* lock = static_cast<uint8_t*>(lock_owner_value) + attr_.spin_lock_off;
  spin_lock(lock);
  copy_value(dst, src);
  spin_unlock(lock);
}

Expected<void> bad_attr(const MapAttr& a, int err, const char* why) {
  return fail_errno(err, "map '{}': {}", a.name, why);
}

}  // namespace xbpf::maps::detail
