// The loader speaks in the kernel's type numbers, which live in src/kabi
// (shared with maps and the runtime); this header keeps their loader names.
#pragma once

#include "kabi/kernel_types.hpp"

namespace xbpf::loader {
using kabi::AttachType;
using kabi::MapType;
using kabi::ProgType;
using kabi::attach_type_from_name;
using kabi::is_map_in_map;
using kabi::map_type_from_name;
using kabi::name;
using kabi::prog_type_from_name;
}  // namespace xbpf::loader
