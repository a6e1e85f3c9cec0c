// THE helper table: one row per BPF helper with its kernel id (enum
// bpf_func_id), name, prototype in the kernel verifier's vocabulary
// (enum bpf_arg_type / bpf_return_type), the program types that may call it
// and its implementation (vm::HelperFn ABI). vm::HelperTable instances for a
// program type are derived from it; the verifier reads the prototypes.
//
// Embedders add their own helpers to a copy of the standard Registry with ids
// at or above kUserHelperBase (the kernel's ids stay below it).
#pragma once

#include <array>
#include <memory>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kabi/kernel_types.hpp"
#include "support/error.hpp"
#include "vm/vm.hpp"

namespace xbpf::helpers {

using kabi::ProgType;

// enum bpf_arg_type (the subset helpers here use), same meaning as the kernel's.
enum class Arg : uint8_t {
  DontCare,            // unused argument
  ConstMapPtr,         // ARG_CONST_MAP_PTR
  PtrToMapKey,         // ARG_PTR_TO_MAP_KEY: key_size readable bytes
  PtrToMapValue,       // ARG_PTR_TO_MAP_VALUE: value_size readable bytes
  PtrToUninitMapValue, // ARG_PTR_TO_MAP_VALUE | MEM_UNINIT (pop/peek destination)
  PtrToMem,            // ARG_PTR_TO_MEM (readable), size in the next ARG_CONST_SIZE*
  PtrToMemOrNull,      // ARG_PTR_TO_MEM | PTR_MAYBE_NULL
  PtrToUninitMem,      // ARG_PTR_TO_MEM | MEM_UNINIT (written by the helper)
  ConstSize,           // ARG_CONST_SIZE
  ConstSizeOrZero,     // ARG_CONST_SIZE_OR_ZERO
  ConstAllocSizeOrZero,// ARG_CONST_ALLOC_SIZE_OR_ZERO (ringbuf_reserve)
  PtrToCtx,            // ARG_PTR_TO_CTX
  Anything,            // ARG_ANYTHING
  PtrToSpinLock,       // ARG_PTR_TO_SPIN_LOCK
  PtrToFunc,           // ARG_PTR_TO_FUNC (callback)
  PtrToStackOrNull,    // ARG_PTR_TO_STACK_OR_NULL (callback context)
  PtrToConstStr,       // ARG_PTR_TO_CONST_STR
  PtrToLong,           // ARG_PTR_TO_LONG (strtol result)
  PtrToAllocMem,       // ARG_PTR_TO_ALLOC_MEM | OBJ_RELEASE (ringbuf_submit/discard)
};

// enum bpf_return_type (subset).
enum class Ret : uint8_t {
  Integer,               // RET_INTEGER
  Void,                  // RET_VOID
  PtrToMapValueOrNull,   // RET_PTR_TO_MAP_VALUE_OR_NULL
  PtrToAllocMemOrNull,   // RET_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_ALLOC (ringbuf_reserve)
};

[[nodiscard]] std::string_view name(Arg a);
[[nodiscard]] std::string_view name(Ret r);

// Sets of program types, as a bit mask over enum bpf_prog_type values (< 64).
using ProgTypeSet = uint64_t;
[[nodiscard]] constexpr ProgTypeSet bit(ProgType t) { return ProgTypeSet{1} << uint32_t(t); }
inline constexpr ProgTypeSet kAllProgTypes = ~ProgTypeSet{0};
inline constexpr ProgTypeSet kTracingTypes = bit(ProgType::Kprobe) | bit(ProgType::Tracepoint) |
                                             bit(ProgType::PerfEvent) | bit(ProgType::RawTracepoint) |
                                             bit(ProgType::RawTracepointWritable) | bit(ProgType::Tracing);
inline constexpr ProgTypeSet kTcTypes = bit(ProgType::SchedCls) | bit(ProgType::SchedAct);
inline constexpr ProgTypeSet kSkbTypes = kTcTypes | bit(ProgType::SocketFilter) | bit(ProgType::CgroupSkb) |
                                         bit(ProgType::LwtIn) | bit(ProgType::LwtOut) | bit(ProgType::LwtXmit) |
                                         bit(ProgType::SkSkb);
inline constexpr ProgTypeSet kXdpTypes = bit(ProgType::Xdp);

// Helper ids at or above this are the embedder's (never a kernel id).
inline constexpr uint32_t kUserHelperBase = 1000;
inline constexpr uint32_t kMaxHelperId = 4096;

// One row of the table.
struct HelperSpec {
  uint32_t id = 0;
  std::string_view name;  // without the "bpf_" prefix, as in enum bpf_func_id
  Ret ret = Ret::Integer;
  std::array<Arg, 5> args{};
  ProgTypeSet prog_types = kAllProgTypes;
  vm::HelperFn fn = nullptr;  // nullptr: handled by the interpreter itself (tail_call)
};

// The built-in rows (the kernel helpers xbpf implements), sorted by id.
[[nodiscard]] std::span<const HelperSpec> builtin_helpers();

// A helper table plus embedder additions. Copyable value; not thread-safe
// while being modified.
class Registry {
 public:
  // The built-in helpers only.
  [[nodiscard]] static const Registry& standard();

  // Adds an embedder helper. EINVAL (Errc::os) when id < kUserHelperBase or
  // > kMaxHelperId or fn is null; EEXIST when the id is taken.
  [[nodiscard]] Expected<void> add(HelperSpec spec, std::string owned_name);

  // Row for `id`, nullptr when unknown.
  [[nodiscard]] const HelperSpec* find(uint32_t id) const;
  // True when a program of type `t` may call helper `id`.
  [[nodiscard]] bool allowed(uint32_t id, ProgType t) const;
  // The vm::HelperTable for programs of type `t`: every helper allowed for it.
  [[nodiscard]] vm::HelperTable table_for(ProgType t) const;
  [[nodiscard]] std::span<const HelperSpec> all() const { return rows_; }

 private:
  std::vector<HelperSpec> rows_;
  std::vector<std::shared_ptr<const std::string>> names_;  // embedder names (shared by copies)
};

}  // namespace xbpf::helpers
