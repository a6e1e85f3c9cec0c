#include "maps/map.hpp"

#include <cerrno>
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
