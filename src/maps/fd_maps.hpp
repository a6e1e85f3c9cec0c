// Maps whose values name other objects: prog_array (program ids, for tail
// calls), array_of_maps and hash_of_maps (map ids). User space writes ids
// (where the kernel takes fds) and reads ids back, as the kernel does.
// Program-side lookup in a map-in-map returns the inner Map* (opened once per
// process through the Store's cache); in a prog_array it returns nullptr
// (programs tail-call instead; see prog_array_get).
#pragma once

#include <cstdint>

#include "maps/map.hpp"

namespace xbpf::maps {

// The program id at `index` of a prog_array, 0 when empty, out of range or
// `m` is not a prog_array. No locks, no syscalls (the tail-call fast path).
[[nodiscard]] uint32_t prog_array_get(Map& m, uint32_t index) noexcept;

}  // namespace xbpf::maps
