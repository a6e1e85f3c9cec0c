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

// enum bpf_arg_type (the kinds xbpf's verifier checks), same meaning as the
// kernel's. MEM_RDONLY is implied: PtrToMem only needs readable memory.
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
  PtrToCtxOrNull,      // ARG_PTR_TO_CTX_OR_NULL: the ctx (offset 0) or the constant 0 (get_netns_cookie)
  // ARG_PTR_TO_BTF_ID_SOCK_COMMON (sk_assign's socket). xbpf has no BTF
  // pointers, so only a non-NULL sock_common or sock pointer (stricter).
  PtrToSockArg,
  // ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE (sk_release): as PtrToSockArg,
  // and it must carry a reference (from a lookup), which the call drops.
  PtrToSockRelease,
};

// enum bpf_return_type (subset).
enum class Ret : uint8_t {
  Integer,               // RET_INTEGER
  Void,                  // RET_VOID
  PtrToMapValueOrNull,   // RET_PTR_TO_MAP_VALUE_OR_NULL
  PtrToAllocMemOrNull,   // RET_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_ALLOC (ringbuf_reserve)
  // RET_PTR_TO_SOCKET_OR_NULL / RET_PTR_TO_SOCK_COMMON_OR_NULL of the socket
  // lookups (sk_lookup_tcp/udp, skc_lookup_tcp): each acquires a reference
  // that sk_release must drop on every path (the kernel's is_acquire_function).
  AcquiredSocketOrNull,
  AcquiredSockCommonOrNull,
};

// Kernel argument and return kinds xbpf's verifier does not check yet. They
// are deliberately not enumerators of Arg/Ret: the verifier switches over
// every enumerator, and a kind it does not know must never reach it. A row
// that uses one is "pending": Registry::allowed() refuses it (so the verifier
// rejects the call) until the verifier handles the kind; then the kind moves
// into the enum above with its check. Values >= kPendingBase.
inline constexpr uint8_t kPendingBase = 100;
namespace pending {
// ARG_PTR_TO_SOCK_COMMON (sk_fullsock, tcp_sock, get_listener_sock)
inline constexpr Arg PtrToSockCommon{kPendingBase + 0};
// ARG_PTR_TO_SOCKET | PTR_MAYBE_NULL (sk_assign in sk_lookup programs)
inline constexpr Arg PtrToSocketOrNull{kPendingBase + 1};
// ARG_PTR_TO_BTF_ID_SOCK_COMMON: a socket from a lookup, skb->sk or BTF
inline constexpr Arg PtrToBtfIdSockCommon{kPendingBase + 2};
// ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE (unused: sk_release is Arg::PtrToSockRelease)
inline constexpr Arg PtrToBtfIdSockCommonRelease{kPendingBase + 3};
// ARG_PTR_TO_BTF_ID (task_struct, inode, file, path, seq_file, ...; see the row)
inline constexpr Arg PtrToBtfId{kPendingBase + 4};
// ARG_PTR_TO_BTF_ID_OR_NULL | OBJ_RELEASE (kptr_xchg's new value)
inline constexpr Arg PtrToBtfIdOrNullRelease{kPendingBase + 5};
// ARG_PTR_TO_PERCPU_BTF_ID (per_cpu_ptr, this_cpu_ptr)
inline constexpr Arg PtrToPercpuBtfId{kPendingBase + 6};
// ARG_PTR_TO_TIMER: a struct bpf_timer inside a map value
inline constexpr Arg PtrToTimer{kPendingBase + 7};
// ARG_PTR_TO_KPTR: a kptr field inside a map value
inline constexpr Arg PtrToKptr{kPendingBase + 8};
// ARG_PTR_TO_DYNPTR with the row's flags (local/ringbuf, uninit, release, rdonly)
inline constexpr Arg PtrToDynptr{kPendingBase + 9};
// ARG_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL (local storage initial value)
inline constexpr Arg PtrToMapValueOrNull{kPendingBase + 10};
// ARG_PTR_TO_FIXED_SIZE_MEM (| MEM_UNINIT), 4 bytes: check_mtu's mtu_len
inline constexpr Arg PtrToInt{kPendingBase + 11};
// ARG_PTR_TO_FIXED_SIZE_MEM: the row's comment gives the size (IP/TCP headers)
inline constexpr Arg PtrToFixedSizeMem{kPendingBase + 12};

// RET_PTR_TO_MAP_VALUE (never NULL: get_local_storage)
inline constexpr Ret RetPtrToMapValue{kPendingBase + 0};
// RET_PTR_TO_SOCKET_OR_NULL without a reference (sk_fullsock, get_listener_sock)
inline constexpr Ret RetPtrToSocketOrNull{kPendingBase + 1};
// RET_PTR_TO_TCP_SOCK_OR_NULL
inline constexpr Ret RetPtrToTcpSockOrNull{kPendingBase + 2};
// RET_PTR_TO_SOCK_COMMON_OR_NULL (unused: skc_lookup_tcp is Ret::AcquiredSockCommonOrNull)
inline constexpr Ret RetPtrToSockCommonOrNull{kPendingBase + 3};
// RET_PTR_TO_BTF_ID_OR_NULL (skc_to_*, sock_from_file, kptr_xchg)
inline constexpr Ret RetPtrToBtfIdOrNull{kPendingBase + 4};
// RET_PTR_TO_BTF_ID (task_pt_regs) and RET_PTR_TO_BTF_ID_TRUSTED (get_current_task_btf)
inline constexpr Ret RetPtrToBtfId{kPendingBase + 5};
// RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY (| PTR_MAYBE_NULL for per_cpu_ptr)
inline constexpr Ret RetPtrToMemOrBtfId{kPendingBase + 6};
// RET_PTR_TO_DYNPTR_MEM_OR_NULL (dynptr_data)
inline constexpr Ret RetPtrToDynptrMemOrNull{kPendingBase + 7};
}  // namespace pending

[[nodiscard]] constexpr bool is_pending(Arg a) { return uint8_t(a) >= kPendingBase; }
[[nodiscard]] constexpr bool is_pending(Ret r) { return uint8_t(r) >= kPendingBase; }

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
  vm::HelperFn fn = nullptr;  // nullptr: not implemented by xbpf (tail_call: the interpreter's own)

  // True when every argument and the return kind are ones xbpf's verifier checks.
  [[nodiscard]] constexpr bool verifiable() const {
    for (Arg a : args)
      if (is_pending(a)) return false;
    return !is_pending(ret);
  }
};

// bpf_tail_call: fn is nullptr because the interpreter performs it itself.
inline constexpr uint32_t kTailCallId = 12;

// True when xbpf can run the helper (it has an implementation, or it is
// tail_call). Programs calling any other helper fail to load.
[[nodiscard]] constexpr bool implemented(const HelperSpec& h) { return h.fn != nullptr || h.id == kTailCallId; }

// True for the helpers after which the kernel's verifier invalidates every
// packet pointer (bpf_helper_changes_pkt_data: they may move skb/xdp data).
[[nodiscard]] bool changes_packet_data(uint32_t id);

// The built-in rows, sorted by id: one for every kernel helper of enum
// bpf_func_id (fn == nullptr for those xbpf does not implement).
[[nodiscard]] std::span<const HelperSpec> builtin_helpers();

// Seeds the calling thread's bpf_get_prandom_u32 generator (seeded randomly
// otherwise): runs that should be repeatable (tests, differential runs of
// the interpreter and the JIT) seed it the same before each.
void seed_prandom(uint32_t seed);
// Replaces the calling thread's clocks (bpf_ktime_get_ns, _boot_ns and
// _coarse_ns) with a counter: the n-th read after this call returns
// start + n * step (step > 0), whichever clock is read. For repeatable runs,
// as seed_prandom; clear_clock() gives the thread the real clocks back.
void seed_clock(uint64_t start, uint64_t step);
void clear_clock();

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
  // True when the kernel lets a program of type `t` call helper `id`.
  [[nodiscard]] bool kernel_allowed(uint32_t id, ProgType t) const;
  // What the verifier uses: kernel_allowed() and the row is verifiable() (a
  // call to a helper whose prototype uses a pending kind is refused, never
  // checked half-way).
  [[nodiscard]] bool allowed(uint32_t id, ProgType t) const;
  // The vm::HelperTable for programs of type `t`: every implemented helper
  // (fn != nullptr) the kernel allows for it.
  [[nodiscard]] vm::HelperTable table_for(ProgType t) const;
  [[nodiscard]] std::span<const HelperSpec> all() const { return rows_; }

 private:
  std::vector<HelperSpec> rows_;
  std::vector<std::shared_ptr<const std::string>> names_;  // embedder names (shared by copies)
};

}  // namespace xbpf::helpers
