#include "maps/map.hpp"

#include <cerrno>
#include <cstring>
#include <vector>
#include <unistd.h>

namespace xbpf::maps {

long Map::push_elem(const void*, uint64_t) noexcept { return -EOPNOTSUPP; }
long Map::pop_elem(void*) noexcept { return -EOPNOTSUPP; }
long Map::peek_elem(void*) noexcept { return -EOPNOTSUPP; }
void* Map::lookup_percpu_elem(const void*, uint32_t) noexcept { return nullptr; }

Expected<void> Map::lookup_and_delete(const void*, void*, uint64_t) {
  return fail_errno(EOPNOTSUPP, "map '{}': lookup_and_delete is not supported for {} maps", name(),
                    kabi::name(type()));
}

Expected<void> Map::freeze() {
  return fail_errno(EOPNOTSUPP, "map '{}': freeze is not supported for {} maps", name(), kabi::name(type()));
}

bool is_percpu(MapType t) {
  return t == MapType::PercpuArray || t == MapType::PercpuHash || t == MapType::LruPercpuHash ||
         t == MapType::PercpuCgroupStorage;
}

size_t Map::user_value_size() const {
  if (!is_percpu(type())) return value_size();
  return static_cast<size_t>(possible_cpus()) * ((value_size() + 7) & ~size_t{7});
}

uint32_t possible_cpus() {
  static const uint32_t n = [] {
    long c = sysconf(_SC_NPROCESSORS_CONF);
    return c > 0 ? static_cast<uint32_t>(c) : 1U;
  }();
  return n;
}

}  // namespace xbpf::maps

// ---- batch commands, generic over get_next_key (the kernel's generic_map_*_batch).
// The token is the last key handed out; the next call continues after it.
namespace xbpf::maps {

namespace {

Expected<void> check_batch(const Map& m, const BatchArgs& a) {
  if (a.flags != 0) return fail_errno(EINVAL, "map '{}': batch flags must be 0", m.name());
  if (a.elem_flags & ~kFLock) return fail_errno(EINVAL, "map '{}': invalid elem_flags {:#x}", m.name(), a.elem_flags);
  return {};
}

}  // namespace

Expected<void> Map::lookup_batch(BatchArgs& a) {
  if (auto r = check_batch(*this, a); !r) return r;
  const uint32_t max = a.count;
  a.count = 0;
  if (max == 0) return {};
  std::vector<uint8_t> prev(key_size()), cur(key_size());
  bool have_prev = a.in_batch != nullptr;
  if (have_prev) std::memcpy(prev.data(), a.in_batch, key_size());
  auto* keys = static_cast<uint8_t*>(a.keys);
  auto* values = static_cast<uint8_t*>(a.values);
  while (a.count < max) {
    auto next = get_next_key(have_prev ? prev.data() : nullptr, cur.data());
    if (!next) {
      if (next.error().errnum != ENOENT) return next;
      if (a.count && a.out_batch) std::memcpy(a.out_batch, prev.data(), key_size());
      return fail_errno(ENOENT, "map '{}': batch reached the end", name());
    }
    prev = cur;
    have_prev = true;
    // An element deleted since get_next_key is skipped, as the kernel does.
    if (!lookup(cur.data(), values + size_t{a.count} * user_value_size(), a.elem_flags)) continue;
    std::memcpy(keys + size_t{a.count} * key_size(), cur.data(), key_size());
    ++a.count;
  }
  if (a.out_batch) std::memcpy(a.out_batch, prev.data(), key_size());
  return {};
}

Expected<void> Map::lookup_and_delete_batch(BatchArgs& a) {
  if (auto r = check_batch(*this, a); !r) return r;
  const uint32_t max = a.count;
  a.count = 0;
  if (max == 0) return {};
  std::vector<uint8_t> cur(key_size());
  auto* keys = static_cast<uint8_t*>(a.keys);
  auto* values = static_cast<uint8_t*>(a.values);
  // Deleting as we go: every round restarts from the first remaining key.
  while (a.count < max) {
    auto next = get_next_key(nullptr, cur.data());
    if (!next) {
      if (next.error().errnum != ENOENT) return next;
      return fail_errno(ENOENT, "map '{}': batch reached the end", name());
    }
    auto r = lookup_and_delete(cur.data(), values + size_t{a.count} * user_value_size(), a.elem_flags);
    if (!r) {
      if (r.error().errnum == ENOENT) continue;
      return r;
    }
    std::memcpy(keys + size_t{a.count} * key_size(), cur.data(), key_size());
    ++a.count;
  }
  if (a.out_batch) std::memcpy(a.out_batch, cur.data(), key_size());
  return {};
}

Expected<void> Map::update_batch(BatchArgs& a) {
  if (auto r = check_batch(*this, a); !r) return r;
  const uint32_t max = a.count;
  a.count = 0;
  const auto* keys = static_cast<const uint8_t*>(a.keys);
  const auto* values = static_cast<const uint8_t*>(a.values);
  for (; a.count < max; ++a.count) {
    auto r = update(keys + size_t{a.count} * key_size(), values + size_t{a.count} * user_value_size(), a.elem_flags);
    if (!r) return r;
  }
  return {};
}

Expected<void> Map::delete_batch(BatchArgs& a) {
  if (auto r = check_batch(*this, a); !r) return r;
  const uint32_t max = a.count;
  a.count = 0;
  const auto* keys = static_cast<const uint8_t*>(a.keys);
  for (; a.count < max; ++a.count) {
    if (auto r = remove(keys + size_t{a.count} * key_size()); !r) return r;
  }
  return {};
}

}  // namespace xbpf::maps
