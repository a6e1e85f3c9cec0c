// BPF_MAP_TYPE_STACK_TRACE: stack id -> array of u64 instruction pointers.
#pragma once

#include <cstdint>

#include "maps/map.hpp"

namespace xbpf::maps {

inline constexpr uint64_t kFSkipFieldMask = 0xff;      // BPF_F_SKIP_FIELD_MASK
inline constexpr uint64_t kFUserStack = 1ULL << 8;     // BPF_F_USER_STACK
inline constexpr uint64_t kFFastStackCmp = 1ULL << 9;  // BPF_F_FAST_STACK_CMP
inline constexpr uint64_t kFReuseStackId = 1ULL << 10; // BPF_F_REUSE_STACKID

// The body of bpf_get_stackid once the caller has collected the stack:
// `ips[0]` is the innermost frame. Applies the skip count in `flags`, keeps
// at most value_size / 8 frames, and returns the stack id, or -EFAULT (nothing
// left after skipping), -EINVAL (flags or map type), -EEXIST (the bucket holds
// another stack and BPF_F_REUSE_STACKID is not set).
[[nodiscard]] long stack_get_id(Map& m, const uint64_t* ips, uint32_t nr, uint64_t flags) noexcept;

}  // namespace xbpf::maps
