// THE table of map types xbpf implements, and the checks BPF_MAP_CREATE makes
// for every type before the type's own (kernel map_create()).
#include <array>
#include <cctype>

#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

namespace {

const std::array kTable = {
    &kArrayOps, &kPercpuArrayOps, &kHashOps, &kPercpuHashOps, &kLruHashOps, &kLruPercpuHashOps,
    &kRingbufOps, &kQueueOps, &kStackOps, &kBloomOps,
    &kProgArrayOps, &kArrayOfMapsOps, &kHashOfMapsOps, &kLpmTrieOps, &kPerfEventArrayOps,
    &kStackTraceOps, &kDevmapOps, &kDevmapHashOps, &kCpumapOps, &kXskmapOps,
};

Expected<void> check_name(const MapAttr& a) {
  if (a.name.size() > 15) return bad_attr(a, EINVAL, "name is longer than 15 characters");
  for (char c : a.name) {
    // bpf_obj_name_cpy: alphanumerics, '_' and '.'.
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') {
      return bad_attr(a, EINVAL, "name may only hold letters, digits, '_' and '.'");
    }
  }
  return {};
}

}  // namespace

const MapOps* find_ops(MapType t) {
  for (const MapOps* ops : kTable) {
    if (ops->type == t) return ops;
  }
  return nullptr;
}

}  // namespace xbpf::maps::detail

namespace xbpf::maps {

uint32_t implied_map_flags(MapType t) {
  const detail::MapOps* ops = detail::find_ops(t);
  return ops ? ops->implied_flags : 0;
}

}  // namespace xbpf::maps

namespace xbpf::maps::detail {

Expected<void> validate_attr(const MapAttr& a) {
  if (auto r = check_name(a); !r) return r;
  const MapOps* ops = find_ops(a.type);
  if (!ops) {
    return fail_errno(EINVAL, "map '{}': map type {} ({}) is not supported", a.name,
                      static_cast<uint32_t>(a.type), kabi::name(a.type));
  }
  if (a.map_extra != 0 && a.type != MapType::BloomFilter) return bad_attr(a, EINVAL, "map_extra must be 0");
  if (a.inner_map_id != 0 && !kabi::is_map_in_map(a.type)) {
    return bad_attr(a, EINVAL, "inner_map_id is only for map-in-map types");
  }
  if ((a.map_flags & kFRdonly) && (a.map_flags & kFWronly)) {
    return bad_attr(a, EINVAL, "BPF_F_RDONLY and BPF_F_WRONLY exclude each other");
  }
  if ((a.map_flags & kFRdonlyProg) && (a.map_flags & kFWronlyProg)) {
    return bad_attr(a, EINVAL, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG exclude each other");
  }
  if (a.spin_lock_off >= 0 &&
      (a.spin_lock_off % 4 != 0 || static_cast<uint64_t>(a.spin_lock_off) + 4 > a.value_size)) {
    return bad_attr(a, EINVAL, "bpf_spin_lock offset is outside the value or misaligned");
  }
  if (a.spin_lock_off < -1) return bad_attr(a, EINVAL, "bad bpf_spin_lock offset");
  if (a.spin_lock_off >= 0 && a.type != MapType::Hash && a.type != MapType::Array) {
    return bad_attr(a, EOPNOTSUPP, "bpf_spin_lock is only allowed in hash and array values");
  }
  if (auto r = ops->validate(a); !r) return r;
  // Sparse files make big maps cheap, but not unbounded.
  if (ops->storage_size(a) > (uint64_t{1} << 36)) return bad_attr(a, E2BIG, "map needs more than 64 GiB");
  return {};
}

}  // namespace xbpf::maps::detail
