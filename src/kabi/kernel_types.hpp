// The kernel's numeric program, attach and map types (generated from
// kernel_types.def) and their libbpf names.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kabi/kernel_types.def"

namespace xbpf::kabi {

// enum bpf_prog_type: the value passed as prog_type to BPF_PROG_LOAD.
enum class ProgType : uint32_t {
#define XBPF_X(name, value, str) name = value,
  XBPF_PROG_TYPES(XBPF_X)
#undef XBPF_X
};

// enum bpf_attach_type: expected_attach_type / attach_type. Note that 0 is a
// real value (cgroup_inet_ingress); "none" is modelled with std::optional.
enum class AttachType : uint32_t {
#define XBPF_X(name, value, str) name = value,
  XBPF_ATTACH_TYPES(XBPF_X)
#undef XBPF_X
};

// enum bpf_map_type: map_type of BPF_MAP_CREATE.
enum class MapType : uint32_t {
#define XBPF_X(name, value, str) name = value,
  XBPF_MAP_TYPES(XBPF_X)
#undef XBPF_X
};

// libbpf's name ("socket_filter", "trace_fentry", "hash"), or "" for a value
// outside the table (objects may carry numbers newer than this build).
[[nodiscard]] std::string_view name(ProgType t);
[[nodiscard]] std::string_view name(AttachType t);
[[nodiscard]] std::string_view name(MapType t);

// Reverse lookups by libbpf name; nullopt when unknown.
[[nodiscard]] std::optional<ProgType> prog_type_from_name(std::string_view s);
[[nodiscard]] std::optional<AttachType> attach_type_from_name(std::string_view s);
[[nodiscard]] std::optional<MapType> map_type_from_name(std::string_view s);

// Map types whose values are other maps (their inner map is a template).
[[nodiscard]] constexpr bool is_map_in_map(MapType t) {
  return t == MapType::ArrayOfMaps || t == MapType::HashOfMaps;
}

}  // namespace xbpf::kabi
