// BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY: max_entries values of
// round_up(value_size, 8) bytes (per CPU: ncpus of them per index), all
// existing from creation, never deleted. Updates are plain copies, as in the
// kernel (BPF_F_LOCK copies under the value's spin lock).
#include <cstring>

#include "maps/array.hpp"
#include "maps/lock.hpp"

namespace xbpf::maps::detail {

namespace {

constexpr uint32_t kArrayCreateFlags =
    kFNumaNode | kFMmapable | kAccessMask | kFPreserveElems | kFInnerMap;

Expected<void> validate_array(const MapAttr& a) {
  const bool percpu = a.type == MapType::PercpuArray;
  if (a.max_entries == 0 || a.key_size != 4 || a.value_size == 0) {
    return bad_attr(a, EINVAL, "array maps need key_size 4, value_size > 0 and max_entries > 0");
  }
  if (a.map_flags & ~kArrayCreateFlags) return bad_attr(a, EINVAL, "unsupported map_flags for an array");
  if (percpu && (a.map_flags & kFMmapable)) return bad_attr(a, EINVAL, "per-CPU arrays cannot be mmapable");
  if (a.map_flags & kFPreserveElems) return bad_attr(a, EINVAL, "BPF_F_PRESERVE_ELEMS is for perf event arrays");
  if (a.value_size > kKmallocMax) return bad_attr(a, E2BIG, "value_size is too large");
  if (percpu && a.value_size > 32768) return bad_attr(a, E2BIG, "per-CPU value_size is above 32 KiB");
  return {};
}

uint64_t array_size(const MapAttr& a) {
  const uint64_t per = a.type == MapType::PercpuArray ? possible_cpus() : 1;
  return round_page(uint64_t{a.max_entries} * per * round8(a.value_size));
}

std::unique_ptr<Map> make_array(MapContext&& c) { return std::unique_ptr<Map>(new ArrayMap(std::move(c))); }

}  // namespace

ArrayMap::ArrayMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
  stride_ = static_cast<uint32_t>(round8(attr_.value_size));
  ncpus_ = is_percpu(attr_.type) ? possible_cpus() : 1;
}

void* ArrayMap::lookup_elem(const void* key) noexcept {
  uint32_t i;
  std::memcpy(&i, key, 4);
  if (i >= attr_.max_entries) return nullptr;
  if (ncpus_ == 1) return storage_ + uint64_t{i} * stride_;
  return slot(i, current_cpu());
}

void* ArrayMap::lookup_percpu_elem(const void* key, uint32_t cpu) noexcept {
  uint32_t i;
  std::memcpy(&i, key, 4);
  if (ncpus_ == 1 || i >= attr_.max_entries || cpu >= ncpus_) return nullptr;
  return slot(i, cpu);
}

long ArrayMap::update_elem(const void* key, const void* value, uint64_t flags) noexcept {
  if ((flags & ~kFLock) > kExist || (flags & ~(kFLock | 3)) != 0) return -EINVAL;
  uint32_t i;
  std::memcpy(&i, key, 4);
  if (i >= attr_.max_entries) return -E2BIG;
  if (flags & kNoExist) return -EEXIST;  // every element of an array exists
  if ((flags & kFLock) && attr_.spin_lock_off < 0) return -EINVAL;
  uint8_t* dst = ncpus_ == 1 ? storage_ + uint64_t{i} * stride_ : slot(i, current_cpu());
  if (flags & kFLock) {
    copy_value_locked(dst, value, dst);
  } else {
    copy_value(dst, value);
  }
  return 0;
}

long ArrayMap::delete_elem(const void*) noexcept { return -EINVAL; }

Expected<void> ArrayMap::lookup(const void* key, void* value, uint64_t flags) {
  if (auto r = check_user_read(); !r) return r;
  if (auto r = check_elem_flags(flags, kFLock); !r) return r;
  uint32_t i;
  std::memcpy(&i, key, 4);
  if (i >= attr_.max_entries) return fail_errno(ENOENT, "map '{}': index {} is out of range", name(), i);
  auto* out = static_cast<uint8_t*>(value);
  for (uint32_t c = 0; c < ncpus_; ++c) {
    uint8_t* src = slot(i, c);
    uint8_t* dst = out + uint64_t{c} * stride_;
    if (flags & kFLock) {
      copy_value_locked(dst, src, src);
    } else {
      std::memcpy(dst, src, attr_.value_size);
    }
    if (attr_.spin_lock_off >= 0) std::memset(dst + attr_.spin_lock_off, 0, 4);
    if (ncpus_ > 1) std::memset(dst + attr_.value_size, 0, stride_ - attr_.value_size);
  }
  return {};
}

Expected<void> ArrayMap::update(const void* key, const void* value, uint64_t flags) {
  if (auto r = check_user_write(); !r) return r;
  if (auto r = check_elem_flags(flags, kFLock | 3); !r) return r;
  uint32_t i;
  std::memcpy(&i, key, 4);
  if (i >= attr_.max_entries) {
    return fail_errno(E2BIG, "map '{}': index {} >= max_entries {}", name(), i, attr_.max_entries);
  }
  if (flags & kNoExist) return fail_errno(EEXIST, "map '{}': array elements always exist", name());
  const auto* in = static_cast<const uint8_t*>(value);
  for (uint32_t c = 0; c < ncpus_; ++c) {
    uint8_t* dst = slot(i, c);
    if (flags & kFLock) {
      copy_value_locked(dst, in + uint64_t{c} * stride_, dst);
    } else {
      copy_value(dst, in + uint64_t{c} * stride_);
    }
  }
  return {};
}

Expected<void> ArrayMap::remove(const void*) {
  return fail_errno(EINVAL, "map '{}': array elements cannot be deleted", name());
}

Expected<void> ArrayMap::get_next_key(const void* key, void* next_key) {
  uint32_t i = 0;
  if (key) std::memcpy(&i, key, 4);
  // A missing (out of range) key restarts at 0, as the kernel does.
  uint32_t next = (!key || i >= attr_.max_entries) ? 0 : i + 1;
  if (next >= attr_.max_entries) return fail_errno(ENOENT, "map '{}': no more keys", name());
  std::memcpy(next_key, &next, 4);
  return {};
}

ArrayLayout ArrayMap::array_layout() noexcept {
  if (attr_.type != MapType::Array) return {};
  return ArrayLayout{storage_, stride_, attr_.max_entries, 1};
}

ArrayLayout ArrayMap::percpu_layout() noexcept {
  if (attr_.type != MapType::PercpuArray) return {};
  return ArrayLayout{storage_, stride_, attr_.max_entries, ncpus_};
}

const MapOps kArrayOps = {MapType::Array, validate_array, array_size, nullptr, nullptr, make_array};
const MapOps kPercpuArrayOps = {MapType::PercpuArray, validate_array, array_size, nullptr, nullptr, make_array};

}  // namespace xbpf::maps::detail
