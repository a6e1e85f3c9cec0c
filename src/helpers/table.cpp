// THE helper table. One row per helper: adding a helper touches this list
// (and its implementation), nothing else. Program-type sets follow the
// kernel's *_func_proto functions for the types xbpf runs.
#include <algorithm>
#include <cerrno>

#include "helpers/helpers.hpp"
#include "helpers/impl.hpp"

namespace xbpf::helpers {

namespace {
using A = Arg;
using R = Ret;
namespace i = impl;

constexpr ProgTypeSet kAll = kAllProgTypes;
constexpr ProgTypeSet kTrace = kTracingTypes;
constexpr ProgTypeSet kNet = kSkbTypes | kXdpTypes | bit(ProgType::SockOps);
constexpr ProgTypeSet kPerfOut = kTrace | kNet;
constexpr ProgTypeSet kCookie = bit(ProgType::Kprobe) | bit(ProgType::Tracepoint) | bit(ProgType::PerfEvent) |
                                bit(ProgType::RawTracepoint) | bit(ProgType::Tracing);
constexpr ProgTypeSet kFuncIp = bit(ProgType::Kprobe) | bit(ProgType::Tracing);
constexpr ProgTypeSet kRedirect = kTcTypes | kXdpTypes;
constexpr ProgTypeSet kCsumDiff = kTcTypes | kXdpTypes | bit(ProgType::LwtIn) | bit(ProgType::LwtOut) |
                                  bit(ProgType::LwtXmit);

constexpr HelperSpec kRows[] = {
    {1, "map_lookup_elem", R::PtrToMapValueOrNull, {A::ConstMapPtr, A::PtrToMapKey}, kAll, i::map_lookup_elem},
    {2, "map_update_elem", R::Integer, {A::ConstMapPtr, A::PtrToMapKey, A::PtrToMapValue, A::Anything}, kAll,
     i::map_update_elem},
    {3, "map_delete_elem", R::Integer, {A::ConstMapPtr, A::PtrToMapKey}, kAll, i::map_delete_elem},
    {4, "probe_read", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kTrace,
     i::probe_read_user},
    {5, "ktime_get_ns", R::Integer, {}, kAll, i::ktime_get_ns},
    {6, "trace_printk", R::Integer, {A::PtrToMem, A::ConstSize, A::Anything, A::Anything, A::Anything}, kAll,
     i::trace_printk},
    {7, "get_prandom_u32", R::Integer, {}, kAll, i::get_prandom_u32},
    {8, "get_smp_processor_id", R::Integer, {}, kAll, i::get_smp_processor_id},
    {9, "skb_store_bytes", R::Integer, {A::PtrToCtx, A::Anything, A::PtrToMem, A::ConstSize, A::Anything},
     kTcTypes | bit(ProgType::LwtXmit), i::skb_store_bytes},
    {10, "l3_csum_replace", R::Integer, {A::PtrToCtx, A::Anything, A::Anything, A::Anything, A::Anything},
     kTcTypes, i::l3_csum_replace},
    {11, "l4_csum_replace", R::Integer, {A::PtrToCtx, A::Anything, A::Anything, A::Anything, A::Anything},
     kTcTypes, i::l4_csum_replace},
    // tail_call: the interpreter handles it (a true tail call needs its frame).
    {12, "tail_call", R::Void, {A::PtrToCtx, A::ConstMapPtr, A::Anything}, kAll, nullptr},
    {14, "get_current_pid_tgid", R::Integer, {}, kTrace, i::get_current_pid_tgid},
    {15, "get_current_uid_gid", R::Integer, {}, kTrace, i::get_current_uid_gid},
    {16, "get_current_comm", R::Integer, {A::PtrToUninitMem, A::ConstSize}, kTrace, i::get_current_comm},
    {23, "redirect", R::Integer, {A::Anything, A::Anything}, kRedirect, i::redirect},
    {25, "perf_event_output", R::Integer,
     {A::PtrToCtx, A::ConstMapPtr, A::Anything, A::PtrToMem, A::ConstSizeOrZero}, kPerfOut,
     i::perf_event_output},
    {26, "skb_load_bytes", R::Integer, {A::PtrToCtx, A::Anything, A::PtrToUninitMem, A::ConstSize}, kSkbTypes,
     i::skb_load_bytes},
    {27, "get_stackid", R::Integer, {A::PtrToCtx, A::ConstMapPtr, A::Anything}, kTrace, i::get_stackid},
    {28, "csum_diff", R::Integer,
     {A::PtrToMemOrNull, A::ConstSizeOrZero, A::PtrToMemOrNull, A::ConstSizeOrZero, A::Anything}, kCsumDiff,
     i::csum_diff},
    {36, "probe_write_user", R::Integer, {A::Anything, A::PtrToMem, A::ConstSize}, kTrace, i::probe_write_user},
    {44, "xdp_adjust_head", R::Integer, {A::PtrToCtx, A::Anything}, kXdpTypes, i::xdp_adjust_head},
    {45, "probe_read_str", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kTrace,
     i::probe_read_user_str},
    {54, "xdp_adjust_meta", R::Integer, {A::PtrToCtx, A::Anything}, kXdpTypes, i::xdp_adjust_meta},
    {65, "xdp_adjust_tail", R::Integer, {A::PtrToCtx, A::Anything}, kXdpTypes, i::xdp_adjust_tail},
    {67, "get_stack", R::Integer, {A::PtrToCtx, A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kTrace,
     i::get_stack},
    {87, "map_push_elem", R::Integer, {A::ConstMapPtr, A::PtrToMapValue, A::Anything}, kAll, i::map_push_elem},
    {88, "map_pop_elem", R::Integer, {A::ConstMapPtr, A::PtrToUninitMapValue}, kAll, i::map_pop_elem},
    {89, "map_peek_elem", R::Integer, {A::ConstMapPtr, A::PtrToUninitMapValue}, kAll, i::map_peek_elem},
    {93, "spin_lock", R::Void, {A::PtrToSpinLock}, kAll, i::spin_lock},
    {94, "spin_unlock", R::Void, {A::PtrToSpinLock}, kAll, i::spin_unlock},
    {105, "strtol", R::Integer, {A::PtrToMem, A::ConstSize, A::Anything, A::PtrToLong}, kAll, i::strtol},
    {106, "strtoul", R::Integer, {A::PtrToMem, A::ConstSize, A::Anything, A::PtrToLong}, kAll, i::strtoul},
    {112, "probe_read_user", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kAll,
     i::probe_read_user},
    {113, "probe_read_kernel", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kAll,
     i::probe_read_kernel},
    {114, "probe_read_user_str", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kAll,
     i::probe_read_user_str},
    {115, "probe_read_kernel_str", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything}, kAll,
     i::probe_read_kernel_str},
    {125, "ktime_get_boot_ns", R::Integer, {}, kAll, i::ktime_get_boot_ns},
    {130, "ringbuf_output", R::Integer, {A::ConstMapPtr, A::PtrToMem, A::ConstSizeOrZero, A::Anything}, kAll,
     i::ringbuf_output},
    {131, "ringbuf_reserve", R::PtrToAllocMemOrNull, {A::ConstMapPtr, A::ConstAllocSizeOrZero, A::Anything},
     kAll, i::ringbuf_reserve},
    {132, "ringbuf_submit", R::Void, {A::PtrToAllocMem, A::Anything}, kAll, i::ringbuf_submit},
    {133, "ringbuf_discard", R::Void, {A::PtrToAllocMem, A::Anything}, kAll, i::ringbuf_discard},
    {134, "ringbuf_query", R::Integer, {A::ConstMapPtr, A::Anything}, kAll, i::ringbuf_query},
    {160, "ktime_get_coarse_ns", R::Integer, {}, kAll, i::ktime_get_coarse_ns},
    {165, "snprintf", R::Integer,
     {A::PtrToMemOrNull, A::ConstSizeOrZero, A::PtrToConstStr, A::PtrToMemOrNull, A::ConstSizeOrZero}, kAll,
     i::snprintf},
    {173, "get_func_ip", R::Integer, {A::PtrToCtx}, kFuncIp, i::get_func_ip},
    {174, "get_attach_cookie", R::Integer, {A::PtrToCtx}, kCookie, i::get_attach_cookie},
    {181, "loop", R::Integer, {A::Anything, A::PtrToFunc, A::PtrToStackOrNull, A::Anything}, kAll, i::loop},
    {182, "strncmp", R::Integer, {A::PtrToMem, A::ConstSize, A::PtrToConstStr}, kAll, i::strncmp},
    {195, "map_lookup_percpu_elem", R::PtrToMapValueOrNull, {A::ConstMapPtr, A::PtrToMapKey, A::Anything}, kAll,
     i::map_lookup_percpu_elem},
};

constexpr bool sorted_unique() {
  for (size_t k = 1; k < std::size(kRows); ++k)
    if (kRows[k - 1].id >= kRows[k].id) return false;
  return true;
}
static_assert(sorted_unique(), "helper rows must be sorted by id, each id once");

}  // namespace

std::span<const HelperSpec> builtin_helpers() { return kRows; }

std::string_view name(Arg a) {
  static constexpr std::string_view kNames[] = {
      "ARG_DONTCARE", "ARG_CONST_MAP_PTR", "ARG_PTR_TO_MAP_KEY", "ARG_PTR_TO_MAP_VALUE",
      "ARG_PTR_TO_MAP_VALUE|MEM_UNINIT", "ARG_PTR_TO_MEM", "ARG_PTR_TO_MEM|PTR_MAYBE_NULL",
      "ARG_PTR_TO_MEM|MEM_UNINIT", "ARG_CONST_SIZE", "ARG_CONST_SIZE_OR_ZERO", "ARG_CONST_ALLOC_SIZE_OR_ZERO",
      "ARG_PTR_TO_CTX", "ARG_ANYTHING", "ARG_PTR_TO_SPIN_LOCK", "ARG_PTR_TO_FUNC", "ARG_PTR_TO_STACK_OR_NULL",
      "ARG_PTR_TO_CONST_STR", "ARG_PTR_TO_LONG", "ARG_PTR_TO_ALLOC_MEM|OBJ_RELEASE"};
  return kNames[size_t(a)];
}

std::string_view name(Ret r) {
  static constexpr std::string_view kNames[] = {"RET_INTEGER", "RET_VOID", "RET_PTR_TO_MAP_VALUE_OR_NULL",
                                                "RET_PTR_TO_MEM|PTR_MAYBE_NULL|MEM_ALLOC"};
  return kNames[size_t(r)];
}

const Registry& Registry::standard() {
  static const Registry r = [] {
    Registry reg;
    reg.rows_.assign(std::begin(kRows), std::end(kRows));
    return reg;
  }();
  return r;
}

Expected<void> Registry::add(HelperSpec spec, std::string owned_name) {
  if (spec.id < kUserHelperBase || spec.id > kMaxHelperId || spec.fn == nullptr)
    return fail_errno(EINVAL, "helper '{}': id {} outside [{}, {}] or no implementation", owned_name, spec.id,
                      kUserHelperBase, kMaxHelperId);
  if (find(spec.id)) return fail_errno(EEXIST, "helper '{}': id {} is already taken", owned_name, spec.id);
  names_.push_back(std::make_shared<const std::string>(std::move(owned_name)));
  spec.name = *names_.back();
  auto pos = std::lower_bound(rows_.begin(), rows_.end(), spec.id,
                              [](const HelperSpec& h, uint32_t id) { return h.id < id; });
  rows_.insert(pos, spec);
  return {};
}

const HelperSpec* Registry::find(uint32_t id) const {
  auto pos = std::lower_bound(rows_.begin(), rows_.end(), id,
                              [](const HelperSpec& h, uint32_t v) { return h.id < v; });
  return pos != rows_.end() && pos->id == id ? &*pos : nullptr;
}

bool Registry::allowed(uint32_t id, ProgType t) const {
  const HelperSpec* h = find(id);
  return h && uint32_t(t) < 64 && (h->prog_types & bit(t)) != 0;
}

vm::HelperTable Registry::table_for(ProgType t) const {
  vm::HelperTable table;
  for (const HelperSpec& h : rows_)
    if (h.fn && uint32_t(t) < 64 && (h.prog_types & bit(t))) table.set(h.id, h.fn, std::string("bpf_") + std::string(h.name));
  return table;
}

}  // namespace xbpf::helpers
