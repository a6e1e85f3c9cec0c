// THE helper table. One row per kernel helper (enum bpf_func_id): its
// prototype as the kernel's bpf_func_proto declares it, the program types
// whose get_func_proto offers it (Linux 6.18, privileged) and xbpf's
// implementation, if any. Implementing a helper touches its row only.
#include <algorithm>
#include <cerrno>

#include "helpers/helpers.hpp"
#include "helpers/impl.hpp"

namespace xbpf::helpers {

namespace {
using A = Arg;
using R = Ret;
using P = ProgType;
namespace i = impl;
namespace pa = pending;  // kinds the verifier does not check yet (rows using them are refused)

// ---- Program-type sets, named after the kernel function that decides them
// (Linux 6.18, privileged loader: CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN). ----

// bpf_base_func_proto(): every program type falls back to it. Privileged,
// all three tiers (unprivileged, CAP_BPF, CAP_PERFMON) apply, so base
// helpers are allowed everywhere.
constexpr ProgTypeSet kAll = kAllProgTypes;
constexpr ProgTypeSet kTc = bit(P::SchedCls) | bit(P::SchedAct);
constexpr ProgTypeSet kXdp = bit(P::Xdp);
// lwt_out_func_proto(), which lwt_in, lwt_xmit and lwt_seg6local extend.
constexpr ProgTypeSet kLwt = bit(P::LwtIn) | bit(P::LwtOut) | bit(P::LwtXmit) | bit(P::LwtSeg6local);
// bpf_tracing_func_proto(): kprobe, tracepoint, perf_event and raw_tp use it
// (through their own *_prog_func_proto); tracing (fentry/fexit/iter), lsm and
// syscall reach it through tracing_prog_func_proto -> raw_tp_prog_func_proto.
constexpr ProgTypeSet kTrace = bit(P::Kprobe) | bit(P::Tracepoint) | bit(P::PerfEvent) | bit(P::RawTracepoint) |
                               bit(P::RawTracepointWritable) | bit(P::Tracing) | bit(P::Lsm) | bit(P::Syscall);
// tracing_prog_func_proto() proper (BTF-typed program types).
constexpr ProgTypeSet kBtfTrace = bit(P::Tracing) | bit(P::Lsm) | bit(P::Syscall);
// bpf_sk_base_func_proto(): the networking types' fallback (skc_to_*,
// ktime_get_coarse_ns). cgroup_sock falls back to bpf_base_func_proto directly.
constexpr ProgTypeSet kSkBase = bit(P::SocketFilter) | kTc | kXdp | bit(P::CgroupSkb) | kLwt | bit(P::SockOps) |
                                bit(P::SkSkb) | bit(P::SkMsg) | bit(P::CgroupSockAddr) | bit(P::FlowDissector) |
                                bit(P::SkReuseport) | bit(P::SkLookup);
// cgroup_current_func_proto(): cgroup hooks that run in process context.
constexpr ProgTypeSet kCgCurrent = bit(P::CgroupSock) | bit(P::CgroupSockAddr) | bit(P::CgroupDevice) |
                                   bit(P::CgroupSysctl) | bit(P::CgroupSockopt);
// Helpers that act on an skb through its ctx.
constexpr ProgTypeSet kTcXmit = kTc | bit(P::LwtXmit);
// The socket lookups (sk_lookup_tcp/udp, skc_lookup_tcp).
constexpr ProgTypeSet kSkLookup = kTc | kXdp | bit(P::CgroupSkb) | bit(P::SkSkb) | bit(P::CgroupSockAddr);
// perf_event_output: every type with an output proto (skb, xdp, data, tp, raw_tp).
constexpr ProgTypeSet kPerfOut = kTrace | bit(P::SocketFilter) | kTc | kXdp | bit(P::CgroupSkb) | kLwt |
                                 bit(P::SkSkb) | bit(P::SockOps) | bit(P::SkMsg) | bit(P::CgroupSock) |
                                 bit(P::CgroupSockAddr) | bit(P::SkLookup) | bit(P::CgroupSysctl);
// sk_storage_get/delete (the cgroup_sock get variant included).
constexpr ProgTypeSet kSkStorage = kTc | bit(P::CgroupSkb) | bit(P::SockOps) | bit(P::SkMsg) |
                                   bit(P::CgroupSockAddr) | bit(P::CgroupSockopt) | bit(P::Tracing) | bit(P::Lsm);
// skc_to_* casts.
constexpr ProgTypeSet kSkcTo = kSkBase | kBtfTrace;
// get_retval/set_retval: cgroup hooks with a return value (cgroup_common_func_proto), cgroup lsm.
constexpr ProgTypeSet kRetval = kCgCurrent | bit(P::Lsm);
constexpr ProgTypeSet kNone = 0;

// Shorthands for the common argument lists.
constexpr A C = A::PtrToCtx;
constexpr A N = A::Anything;
constexpr A M = A::ConstMapPtr;

// One row per kernel helper (enum bpf_func_id), sorted by id. Arguments past
// the last one the kernel declares are DontCare: the verifier does not read
// those registers. fn == nullptr: xbpf does not implement the helper (a
// program calling it verifies but fails to load), except tail_call.
constexpr HelperSpec kRows[] = {
    {1, "map_lookup_elem", R::PtrToMapValueOrNull, {M, A::PtrToMapKey}, kAll, i::map_lookup_elem},
    {2, "map_update_elem", R::Integer, {M, A::PtrToMapKey, A::PtrToMapValue, N}, kAll, i::map_update_elem},
    {3, "map_delete_elem", R::Integer, {M, A::PtrToMapKey}, kAll, i::map_delete_elem},
    {4, "probe_read", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kTrace, i::probe_read_user},
    {5, "ktime_get_ns", R::Integer, {}, kAll, i::ktime_get_ns},
    // Two arguments only: the format's own arguments (r3-r5) are not checked.
    {6, "trace_printk", R::Integer, {A::PtrToMem, A::ConstSize}, kAll, i::trace_printk},
    {7, "get_prandom_u32", R::Integer, {}, kAll, i::get_prandom_u32},
    {8, "get_smp_processor_id", R::Integer, {}, kAll, i::get_smp_processor_id},
    {9, "skb_store_bytes", R::Integer, {C, N, A::PtrToMem, A::ConstSize, N}, kTcXmit | bit(P::SkSkb),
     i::skb_store_bytes},
    {10, "l3_csum_replace", R::Integer, {C, N, N, N, N}, kTcXmit, i::l3_csum_replace},
    {11, "l4_csum_replace", R::Integer, {C, N, N, N, N}, kTcXmit, i::l4_csum_replace},
    // tail_call: the interpreter performs it (a true tail call needs its frame).
    {12, "tail_call", R::Void, {C, M, N}, kAll, nullptr},
    {13, "clone_redirect", R::Integer, {C, N, N}, kTcXmit, nullptr},
    // In bpf_base_func_proto since 6.10: every program type.
    {14, "get_current_pid_tgid", R::Integer, {}, kAll, i::get_current_pid_tgid},
    // 15, 16: in 6.18's bpf_base_func_proto (every type; 16 needs CAP_PERFMON, see the verifier).
    {15, "get_current_uid_gid", R::Integer, {}, kAll, i::get_current_uid_gid},
    {16, "get_current_comm", R::Integer, {A::PtrToUninitMem, A::ConstSize}, kAll,
     i::get_current_comm},
    // tc/lwt take the skb (ctx); the cgroup/sk_msg variant (..._curr_proto)
    // takes no argument, where checking r1 as ctx is stricter than the kernel.
    {17, "get_cgroup_classid", R::Integer, {C}, kTc | kLwt | kCgCurrent | bit(P::SkMsg), nullptr},
    {18, "skb_vlan_push", R::Integer, {C, N, N}, kTc, i::skb_vlan_push},
    {19, "skb_vlan_pop", R::Integer, {C}, kTc, i::skb_vlan_pop},
    {20, "skb_get_tunnel_key", R::Integer, {C, A::PtrToUninitMem, A::ConstSize, N}, kTcXmit, i::skb_get_tunnel_key},
    {21, "skb_set_tunnel_key", R::Integer, {C, A::PtrToMem, A::ConstSize, N}, kTcXmit, i::skb_set_tunnel_key},
    {22, "perf_event_read", R::Integer, {M, N}, kTrace, nullptr},
    {23, "redirect", R::Integer, {N, N}, kTcXmit | kXdp, i::redirect},
    {24, "get_route_realm", R::Integer, {C}, kTc | kLwt, nullptr},
    {25, "perf_event_output", R::Integer, {C, M, N, A::PtrToMem, A::ConstSizeOrZero}, kPerfOut,
     i::perf_event_output},
    {26, "skb_load_bytes", R::Integer, {C, N, A::PtrToUninitMem, A::ConstSize},
     bit(P::SocketFilter) | kTc | bit(P::CgroupSkb) | kLwt | bit(P::SkSkb) | bit(P::FlowDissector) |
         bit(P::SkReuseport),
     i::skb_load_bytes},
    {27, "get_stackid", R::Integer, {C, M, N}, kTrace, i::get_stackid},
    {28, "csum_diff", R::Integer,
     {A::PtrToMemOrNull, A::ConstSizeOrZero, A::PtrToMemOrNull, A::ConstSizeOrZero, N}, kTc | kXdp | kLwt,
     i::csum_diff},
    {29, "skb_get_tunnel_opt", R::Integer, {C, A::PtrToUninitMem, A::ConstSize}, kTcXmit, i::skb_get_tunnel_opt},
    {30, "skb_set_tunnel_opt", R::Integer, {C, A::PtrToMem, A::ConstSize}, kTcXmit, i::skb_set_tunnel_opt},
    {31, "skb_change_proto", R::Integer, {C, N, N}, kTc, i::skb_change_proto},
    {32, "skb_change_type", R::Integer, {C, N}, kTc, i::skb_change_type},
    {33, "skb_under_cgroup", R::Integer, {C, M, N}, kTc | kLwt, nullptr},
    {34, "get_hash_recalc", R::Integer, {C}, kTc | kLwt, i::get_hash_recalc},
    {35, "get_current_task", R::Integer, {}, kAll, nullptr},
    // bpf_tracing_func_proto offers it unless the kernel is locked down
    // (LOCKDOWN_BPF_WRITE_USER, integrity level). The reference kernel that
    // produced the corpus verdicts refuses it in kprobe programs ("program of
    // this type cannot use helper"), so it runs locked down: no program type.
    {36, "probe_write_user", R::Integer, {N, A::PtrToMem, A::ConstSize}, kNone, i::probe_write_user},
    {37, "current_task_under_cgroup", R::Integer, {M, N}, kTrace, nullptr},
    {38, "skb_change_tail", R::Integer, {C, N, N}, kTcXmit | bit(P::SkSkb), i::skb_change_tail},
    {39, "skb_pull_data", R::Integer, {C, N}, kTc | kLwt | bit(P::SkSkb), i::skb_pull_data},
    {40, "csum_update", R::Integer, {C, N}, kTcXmit, nullptr},
    {41, "set_hash_invalid", R::Integer, {C}, kTcXmit, i::set_hash_invalid},
    {42, "get_numa_node_id", R::Integer, {}, kAll, nullptr},
    {43, "skb_change_head", R::Integer, {C, N, N}, kTcXmit | bit(P::SkSkb), i::skb_change_head},
    {44, "xdp_adjust_head", R::Integer, {C, N}, kXdp, i::xdp_adjust_head},
    {45, "probe_read_str", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kTrace, i::probe_read_user_str},
    // ctx variants (skb, sock, sock_addr, sock_ops). tracing/lsm have a
    // variant taking a BTF socket pointer, not listed here (refused).
    {46, "get_socket_cookie", R::Integer, {C},
     bit(P::SocketFilter) | kTc | bit(P::CgroupSkb) | bit(P::SkSkb) | bit(P::CgroupSock) | bit(P::CgroupSockAddr) |
         bit(P::SockOps) | bit(P::SkReuseport),
     nullptr},
    {47, "get_socket_uid", R::Integer, {C}, bit(P::SocketFilter) | kTc | bit(P::CgroupSkb) | bit(P::SkSkb), nullptr},
    {48, "set_hash", R::Integer, {C, N}, kTc, i::set_hash},
    // sock_ops, cgroup_sock_addr for some attach types (bind/connect/
    // sendmsg/recvmsg/getpeername/getsockname) and (6.18, doubtful)
    // cgroup_sock for sock_create. cgroup_sockopt, lsm and struct_ops use
    // bpf_sk_setsockopt (BTF socket), not listed here.
    {49, "setsockopt", R::Integer, {C, N, N, A::PtrToMem, A::ConstSize},
     bit(P::SockOps) | bit(P::CgroupSockAddr) | bit(P::CgroupSock), nullptr},
    {50, "skb_adjust_room", R::Integer, {C, N, N, N}, kTc | bit(P::SkSkb), i::skb_adjust_room},
    {51, "redirect_map", R::Integer, {M, N, N}, kXdp, i::redirect_map},
    {52, "sk_redirect_map", R::Integer, {C, M, N, N}, bit(P::SkSkb), nullptr},
    {53, "sock_map_update", R::Integer, {C, M, A::PtrToMapKey, N}, bit(P::SockOps), nullptr},
    {54, "xdp_adjust_meta", R::Integer, {C, N}, kXdp, i::xdp_adjust_meta},
    {55, "perf_event_read_value", R::Integer, {M, N, A::PtrToUninitMem, A::ConstSize}, kTrace, nullptr},
    {56, "perf_prog_read_value", R::Integer, {C, A::PtrToUninitMem, A::ConstSize}, bit(P::PerfEvent), nullptr},
    {57, "getsockopt", R::Integer, {C, N, N, A::PtrToUninitMem, A::ConstSize},
     bit(P::SockOps) | bit(P::CgroupSockAddr) | bit(P::CgroupSock), nullptr},
    // kprobe_prog_func_proto offers it only with CONFIG_BPF_KPROBE_OVERRIDE,
    // which the reference kernel lacks ("program of this type cannot use
    // helper bpf_override_return#58" for kprobe): no program type.
    {58, "override_return", R::Integer, {C, N}, kNone, nullptr},
    {59, "sock_ops_cb_flags_set", R::Integer, {C, N}, bit(P::SockOps), nullptr},
    {60, "msg_redirect_map", R::Integer, {C, M, N, N}, bit(P::SkMsg), nullptr},
    {61, "msg_apply_bytes", R::Integer, {C, N}, bit(P::SkMsg), nullptr},
    {62, "msg_cork_bytes", R::Integer, {C, N}, bit(P::SkMsg), nullptr},
    {63, "msg_pull_data", R::Integer, {C, N, N, N}, bit(P::SkMsg), nullptr},
    // Only for the connect4/connect6 attach types.
    {64, "bind", R::Integer, {C, A::PtrToMem, A::ConstSize}, bit(P::CgroupSockAddr), nullptr},
    {65, "xdp_adjust_tail", R::Integer, {C, N}, kXdp, i::xdp_adjust_tail},
    {66, "skb_get_xfrm_state", R::Integer, {C, N, A::PtrToUninitMem, A::ConstSize, N}, kTc, nullptr},
    {67, "get_stack", R::Integer, {C, A::PtrToUninitMem, A::ConstSizeOrZero, N}, kTrace, i::get_stack},
    {68, "skb_load_bytes_relative", R::Integer, {C, N, A::PtrToUninitMem, A::ConstSize, N},
     bit(P::SocketFilter) | kTc | bit(P::CgroupSkb) | bit(P::SkReuseport), nullptr},
    {69, "fib_lookup", R::Integer, {C, A::PtrToMem, A::ConstSize, N}, kTc | kXdp, i::fib_lookup},
    {70, "sock_hash_update", R::Integer, {C, M, A::PtrToMapKey, N}, bit(P::SockOps), nullptr},
    {71, "msg_redirect_hash", R::Integer, {C, M, A::PtrToMapKey, N}, bit(P::SkMsg), nullptr},
    {72, "sk_redirect_hash", R::Integer, {C, M, A::PtrToMapKey, N}, bit(P::SkSkb), nullptr},
    {73, "lwt_push_encap", R::Integer, {C, N, A::PtrToMem, A::ConstSize}, bit(P::LwtIn) | bit(P::LwtXmit), nullptr},
    {74, "lwt_seg6_store_bytes", R::Integer, {C, N, A::PtrToMem, A::ConstSize}, bit(P::LwtSeg6local), nullptr},
    {75, "lwt_seg6_adjust_srh", R::Integer, {C, N, N}, bit(P::LwtSeg6local), nullptr},
    {76, "lwt_seg6_action", R::Integer, {C, N, A::PtrToMem, A::ConstSize}, bit(P::LwtSeg6local), nullptr},
    {77, "rc_repeat", R::Integer, {C}, bit(P::LircMode2), nullptr},
    {78, "rc_keydown", R::Integer, {C, N, N, N}, bit(P::LircMode2), nullptr},
    {79, "skb_cgroup_id", R::Integer, {C}, kTc | bit(P::CgroupSkb), nullptr},
    {80, "get_current_cgroup_id", R::Integer, {}, kAll, nullptr},
    {81, "get_local_storage", pa::RetPtrToMapValue, {M, N},
     bit(P::CgroupSkb) | kCgCurrent | bit(P::SockOps) | bit(P::Lsm), nullptr},
    {82, "sk_select_reuseport", R::Integer, {C, M, A::PtrToMapKey, N}, bit(P::SkReuseport), nullptr},
    {83, "skb_ancestor_cgroup_id", R::Integer, {C, N}, kTc | bit(P::CgroupSkb), nullptr},
    // The lookups acquire a reference that sk_release must drop. In user
    // space there are no sockets: they find none and return NULL, a result
    // the kernel's lookups give too (socket.cpp).
    {84, "sk_lookup_tcp", R::AcquiredSocketOrNull, {C, A::PtrToMem, A::ConstSize, N, N}, kSkLookup, i::sk_lookup},
    {85, "sk_lookup_udp", R::AcquiredSocketOrNull, {C, A::PtrToMem, A::ConstSize, N, N}, kSkLookup, i::sk_lookup},
    {86, "sk_release", R::Integer, {A::PtrToSockRelease}, kSkLookup | bit(P::SkLookup), i::sk_release},
    {87, "map_push_elem", R::Integer, {M, A::PtrToMapValue, N}, kAll, i::map_push_elem},
    {88, "map_pop_elem", R::Integer, {M, A::PtrToUninitMapValue}, kAll, i::map_pop_elem},
    {89, "map_peek_elem", R::Integer, {M, A::PtrToUninitMapValue}, kAll, i::map_peek_elem},
    {90, "msg_push_data", R::Integer, {C, N, N, N}, bit(P::SkMsg), nullptr},
    {91, "msg_pop_data", R::Integer, {C, N, N, N}, bit(P::SkMsg), nullptr},
    {92, "rc_pointer_rel", R::Integer, {C, N, N}, bit(P::LircMode2), nullptr},
    {93, "spin_lock", R::Void, {A::PtrToSpinLock}, kAll, i::spin_lock},
    {94, "spin_unlock", R::Void, {A::PtrToSpinLock}, kAll, i::spin_unlock},
    {95, "sk_fullsock", pa::RetPtrToSocketOrNull, {pa::PtrToSockCommon}, kTc | bit(P::CgroupSkb), nullptr},
    {96, "tcp_sock", pa::RetPtrToTcpSockOrNull, {pa::PtrToSockCommon},
     kTc | bit(P::CgroupSkb) | bit(P::SockOps) | bit(P::CgroupSockopt), nullptr},
    {97, "skb_ecn_set_ce", R::Integer, {C}, kTc | bit(P::CgroupSkb), nullptr},
    {98, "get_listener_sock", pa::RetPtrToSocketOrNull, {pa::PtrToSockCommon}, kTc | bit(P::CgroupSkb), nullptr},
    {99, "skc_lookup_tcp", R::AcquiredSockCommonOrNull, {C, A::PtrToMem, A::ConstSize, N, N}, kSkLookup, i::sk_lookup},
    {100, "tcp_check_syncookie", R::Integer,
     {pa::PtrToBtfIdSockCommon, A::PtrToMem, A::ConstSize, A::PtrToMem, A::ConstSize}, kTc | kXdp, nullptr},
    {101, "sysctl_get_name", R::Integer, {C, A::PtrToUninitMem, A::ConstSize, N}, bit(P::CgroupSysctl), nullptr},
    {102, "sysctl_get_current_value", R::Integer, {C, A::PtrToUninitMem, A::ConstSize}, bit(P::CgroupSysctl),
     nullptr},
    {103, "sysctl_get_new_value", R::Integer, {C, A::PtrToUninitMem, A::ConstSize}, bit(P::CgroupSysctl), nullptr},
    {104, "sysctl_set_new_value", R::Integer, {C, A::PtrToMem, A::ConstSize}, bit(P::CgroupSysctl), nullptr},
    // In bpf_base_func_proto since 6.x (were cgroup_sysctl only).
    {105, "strtol", R::Integer, {A::PtrToMem, A::ConstSize, N, A::PtrToLong}, kAll, i::strtol},
    {106, "strtoul", R::Integer, {A::PtrToMem, A::ConstSize, N, A::PtrToLong}, kAll, i::strtoul},
    {107, "sk_storage_get", R::PtrToMapValueOrNull, {M, pa::PtrToBtfIdSockCommon, pa::PtrToMapValueOrNull, N},
     kSkStorage | bit(P::CgroupSock), nullptr},
    {108, "sk_storage_delete", R::Integer, {M, pa::PtrToBtfIdSockCommon}, kSkStorage, nullptr},
    {109, "send_signal", R::Integer, {N}, kTrace, nullptr},
    {110, "tcp_gen_syncookie", R::Integer,
     {pa::PtrToBtfIdSockCommon, A::PtrToMem, A::ConstSize, A::PtrToMem, A::ConstSize}, kTc | kXdp, nullptr},
    // arg 1: struct sk_buff (BTF).
    {111, "skb_output", R::Integer, {pa::PtrToBtfId, M, N, A::PtrToMem, A::ConstSizeOrZero}, kBtfTrace, nullptr},
    {112, "probe_read_user", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kAll, i::probe_read_user},
    {113, "probe_read_kernel", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kAll, i::probe_read_kernel},
    {114, "probe_read_user_str", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kAll,
     i::probe_read_user_str},
    {115, "probe_read_kernel_str", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kAll,
     i::probe_read_kernel_str},
    // arg 1: struct tcp_sock (BTF); tcp_congestion_ops struct_ops only.
    {116, "tcp_send_ack", R::Integer, {pa::PtrToBtfId, N}, bit(P::StructOps), nullptr},
    {117, "send_signal_thread", R::Integer, {N}, kTrace, nullptr},
    {118, "jiffies64", R::Integer, {}, kAll, nullptr},
    // arg 2 is ARG_PTR_TO_MEM_OR_NULL written by the helper; checked as readable (stricter).
    {119, "read_branch_records", R::Integer, {C, A::PtrToMemOrNull, A::ConstSizeOrZero, N}, bit(P::PerfEvent),
     nullptr},
    {120, "get_ns_current_pid_tgid", R::Integer, {N, N, A::PtrToUninitMem, A::ConstSize}, kAll, nullptr},
    // arg 1: struct xdp_buff (BTF).
    {121, "xdp_output", R::Integer, {pa::PtrToBtfId, M, N, A::PtrToMem, A::ConstSizeOrZero}, kBtfTrace, nullptr},
    // NULL asks for the initial netns' cookie. The skb variant (socket_filter,
    // tc, cgroup_skb) since 6.15; program types checked on a 6.18 kernel.
    {122, "get_netns_cookie", R::Integer, {A::PtrToCtxOrNull},
     bit(P::CgroupSock) | bit(P::CgroupSockAddr) | bit(P::SockOps) | bit(P::SkMsg) | bit(P::CgroupSockopt) | kTc |
         bit(P::CgroupSkb) | bit(P::SocketFilter),
     i::get_netns_cookie},
    {123, "get_current_ancestor_cgroup_id", R::Integer, {N}, kAll, nullptr},
    // tc: arg 2 ARG_PTR_TO_BTF_ID_SOCK_COMMON; sk_lookup: ARG_PTR_TO_SOCKET_OR_NULL
    // (the verifier refuses the sk_lookup form until it tracks ctx->sk).
    {124, "sk_assign", R::Integer, {C, A::PtrToSockArg, N}, kTc | bit(P::SkLookup), i::sk_assign},
    {125, "ktime_get_boot_ns", R::Integer, {}, kAll, i::ktime_get_boot_ns},
    // seq_* : arg 1 struct seq_file (BTF); bpf_iter programs (tracing) only.
    {126, "seq_printf", R::Integer, {pa::PtrToBtfId, A::PtrToMem, A::ConstSize, A::PtrToMemOrNull,
                                    A::ConstSizeOrZero}, bit(P::Tracing), nullptr},
    {127, "seq_write", R::Integer, {pa::PtrToBtfId, A::PtrToMem, A::ConstSizeOrZero}, bit(P::Tracing), nullptr},
    {128, "sk_cgroup_id", R::Integer, {pa::PtrToBtfIdSockCommon}, bit(P::CgroupSkb), nullptr},
    {129, "sk_ancestor_cgroup_id", R::Integer, {pa::PtrToBtfIdSockCommon, N}, bit(P::CgroupSkb), nullptr},
    {130, "ringbuf_output", R::Integer, {M, A::PtrToMem, A::ConstSizeOrZero, N}, kAll, i::ringbuf_output},
    {131, "ringbuf_reserve", R::PtrToAllocMemOrNull, {M, A::ConstAllocSizeOrZero, N}, kAll, i::ringbuf_reserve},
    {132, "ringbuf_submit", R::Void, {A::PtrToAllocMem, N}, kAll, i::ringbuf_submit},
    {133, "ringbuf_discard", R::Void, {A::PtrToAllocMem, N}, kAll, i::ringbuf_discard},
    {134, "ringbuf_query", R::Integer, {M, N}, kAll, i::ringbuf_query},
    {135, "csum_level", R::Integer, {C, N}, kTcXmit, nullptr},
    {136, "skc_to_tcp6_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    {137, "skc_to_tcp_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    {138, "skc_to_tcp_timewait_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    {139, "skc_to_tcp_request_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    {140, "skc_to_udp6_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    // arg 1: struct task_struct (BTF).
    {141, "get_task_stack", R::Integer, {pa::PtrToBtfId, A::PtrToUninitMem, A::ConstSizeOrZero, N}, kTrace,
     nullptr},
    {142, "load_hdr_opt", R::Integer, {C, A::PtrToUninitMem, A::ConstSize, N}, bit(P::SockOps), nullptr},
    {143, "store_hdr_opt", R::Integer, {C, A::PtrToMem, A::ConstSize, N}, bit(P::SockOps), nullptr},
    {144, "reserve_hdr_opt", R::Integer, {C, N, N}, bit(P::SockOps), nullptr},
    // arg 2: struct inode (BTF).
    {145, "inode_storage_get", R::PtrToMapValueOrNull, {M, pa::PtrToBtfId, pa::PtrToMapValueOrNull, N},
     bit(P::Lsm), nullptr},
    {146, "inode_storage_delete", R::Integer, {M, pa::PtrToBtfId}, bit(P::Lsm), nullptr},
    // arg 1: struct path (BTF); only for an allow-list of attach points.
    {147, "d_path", R::Integer, {pa::PtrToBtfId, A::PtrToUninitMem, A::ConstSize}, bit(P::Tracing) | bit(P::Lsm),
     nullptr},
    // Sleepable programs only (the verifier refuses it elsewhere).
    {148, "copy_from_user", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kTrace, nullptr},
    {149, "snprintf_btf", R::Integer, {A::PtrToUninitMem, A::ConstSize, A::PtrToMem, A::ConstSize, N}, kAll,
     nullptr},
    {150, "seq_printf_btf", R::Integer, {pa::PtrToBtfId, A::PtrToMem, A::ConstSizeOrZero, N}, bit(P::Tracing),
     nullptr},
    {151, "skb_cgroup_classid", R::Integer, {C}, kTc, nullptr},
    {152, "redirect_neigh", R::Integer, {N, A::PtrToMemOrNull, A::ConstSizeOrZero, N}, kTc, i::redirect_neigh},
    {153, "per_cpu_ptr", pa::RetPtrToMemOrBtfId, {pa::PtrToPercpuBtfId, N}, kAll, nullptr},
    {154, "this_cpu_ptr", pa::RetPtrToMemOrBtfId, {pa::PtrToPercpuBtfId}, kAll, nullptr},
    {155, "redirect_peer", R::Integer, {N, N}, kTc, i::redirect_peer},
    // arg 2: struct task_struct (BTF, may be NULL).
    {156, "task_storage_get", R::PtrToMapValueOrNull, {M, pa::PtrToBtfId, pa::PtrToMapValueOrNull, N}, kTrace,
     nullptr},
    {157, "task_storage_delete", R::Integer, {M, pa::PtrToBtfId}, kTrace, nullptr},
    {158, "get_current_task_btf", pa::RetPtrToBtfId, {}, kAll, nullptr},
    // arg 1: struct linux_binprm (BTF).
    {159, "bprm_opts_set", R::Integer, {pa::PtrToBtfId, N}, bit(P::Lsm), nullptr},
    // bpf_sk_base_func_proto and cgroup_sock; not offered to tracing programs
    // (doubtful: the kernel's reason was its seqlock in NMI context).
    {160, "ktime_get_coarse_ns", R::Integer, {}, kSkBase | bit(P::CgroupSock) | bit(P::CgroupSysctl),
     i::ktime_get_coarse_ns},
    {161, "ima_inode_hash", R::Integer, {pa::PtrToBtfId, A::PtrToUninitMem, A::ConstSize}, bit(P::Lsm), nullptr},
    {162, "sock_from_file", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfId}, kBtfTrace, nullptr},
    // arg 3: ARG_PTR_TO_FIXED_SIZE_MEM, 4 bytes (u32 *mtu_len), read and written.
    {163, "check_mtu", R::Integer, {C, N, pa::PtrToInt, N, N}, kTc | kXdp, nullptr},
    {164, "for_each_map_elem", R::Integer, {M, A::PtrToFunc, A::PtrToStackOrNull, N}, kAll, i::for_each_map_elem},
    {165, "snprintf", R::Integer,
     {A::PtrToMemOrNull, A::ConstSizeOrZero, A::PtrToConstStr, A::PtrToMemOrNull, A::ConstSizeOrZero}, kAll,
     i::snprintf},
    {166, "sys_bpf", R::Integer, {N, A::PtrToMem, A::ConstSize}, bit(P::Syscall), nullptr},
    {167, "btf_find_by_name_kind", R::Integer, {A::PtrToMem, A::ConstSize, N, N}, bit(P::Syscall), nullptr},
    {168, "sys_close", R::Integer, {N}, bit(P::Syscall), nullptr},
    {169, "timer_init", R::Integer, {pa::PtrToTimer, M, N}, kAll, nullptr},
    {170, "timer_set_callback", R::Integer, {pa::PtrToTimer, A::PtrToFunc}, kAll, nullptr},
    {171, "timer_start", R::Integer, {pa::PtrToTimer, N, N}, kAll, nullptr},
    {172, "timer_cancel", R::Integer, {pa::PtrToTimer}, kAll, nullptr},
    // kprobe, and fentry/fexit/fmod_ret (check_get_func_ip refuses the rest).
    {173, "get_func_ip", R::Integer, {C}, bit(P::Kprobe) | bit(P::Tracing), i::get_func_ip},
    // raw_tp gained it in 6.10.
    {174, "get_attach_cookie", R::Integer, {C},
     bit(P::Kprobe) | bit(P::Tracepoint) | bit(P::PerfEvent) | bit(P::RawTracepoint) | bit(P::Tracing) |
         bit(P::Lsm),
     i::get_attach_cookie},
    // arg 1: struct task_struct (BTF); returns struct pt_regs (BTF).
    {175, "task_pt_regs", pa::RetPtrToBtfId, {pa::PtrToBtfId}, kAll, nullptr},
    {176, "get_branch_snapshot", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N}, kTrace, nullptr},
    {177, "trace_vprintk", R::Integer, {A::PtrToMem, A::ConstSize, A::PtrToMemOrNull, A::ConstSizeOrZero}, kAll,
     nullptr},
    {178, "skc_to_unix_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    // arg 4: ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT, 8 bytes (u64 *res), like strtol's.
    {179, "kallsyms_lookup_name", R::Integer, {A::PtrToMem, A::ConstSizeOrZero, N, A::PtrToLong},
     bit(P::Syscall), nullptr},
    // arg 1: struct task_struct (BTF).
    {180, "find_vma", R::Integer, {pa::PtrToBtfId, N, A::PtrToFunc, A::PtrToStackOrNull, N}, kTrace, nullptr},
    {181, "loop", R::Integer, {N, A::PtrToFunc, A::PtrToStackOrNull, N}, kAll, i::loop},
    {182, "strncmp", R::Integer, {A::PtrToMem, A::ConstSize, A::PtrToConstStr}, kAll, i::strncmp},
    // Programs with a trampoline (fentry/fexit/fmod_ret, lsm).
    {183, "get_func_arg", R::Integer, {C, N, A::PtrToLong}, bit(P::Tracing) | bit(P::Lsm), nullptr},
    {184, "get_func_ret", R::Integer, {C, A::PtrToLong}, bit(P::Tracing) | bit(P::Lsm), nullptr},
    {185, "get_func_arg_cnt", R::Integer, {C}, bit(P::Tracing) | bit(P::Lsm), nullptr},
    // Doubtful: cgroup hooks and cgroup lsm; some attach types are refused.
    {186, "get_retval", R::Integer, {}, kRetval, nullptr},
    {187, "set_retval", R::Integer, {N}, kRetval, nullptr},
    // tracing has a variant taking struct xdp_buff (BTF), not listed here.
    {188, "xdp_get_buff_len", R::Integer, {C}, kXdp, nullptr},
    {189, "xdp_load_bytes", R::Integer, {C, N, A::PtrToUninitMem, A::ConstSize}, kXdp, nullptr},
    {190, "xdp_store_bytes", R::Integer, {C, N, A::PtrToMem, A::ConstSize}, kXdp, nullptr},
    // arg 4: struct task_struct (BTF); sleepable programs only.
    {191, "copy_from_user_task", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N, pa::PtrToBtfId, N},
     kTrace, nullptr},
    {192, "skb_set_tstamp", R::Integer, {C, N, N}, kTc, nullptr},
    {193, "ima_file_hash", R::Integer, {pa::PtrToBtfId, A::PtrToUninitMem, A::ConstSize}, bit(P::Lsm), nullptr},
    {194, "kptr_xchg", pa::RetPtrToBtfIdOrNull, {pa::PtrToKptr, pa::PtrToBtfIdOrNullRelease}, kAll, nullptr},
    {195, "map_lookup_percpu_elem", R::PtrToMapValueOrNull, {M, A::PtrToMapKey, N}, kAll,
     i::map_lookup_percpu_elem},
    {196, "skc_to_mptcp_sock", pa::RetPtrToBtfIdOrNull, {pa::PtrToBtfIdSockCommon}, kSkcTo, nullptr},
    // Dynptrs: arg kinds carry DYNPTR_TYPE_LOCAL/RINGBUF, MEM_UNINIT, OBJ_RELEASE, MEM_RDONLY.
    {197, "dynptr_from_mem", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, N, pa::PtrToDynptr}, kAll,
     nullptr},
    {198, "ringbuf_reserve_dynptr", R::Integer, {M, N, N, pa::PtrToDynptr}, kAll, nullptr},
    {199, "ringbuf_submit_dynptr", R::Void, {pa::PtrToDynptr, N}, kAll, nullptr},
    {200, "ringbuf_discard_dynptr", R::Void, {pa::PtrToDynptr, N}, kAll, nullptr},
    {201, "dynptr_read", R::Integer, {A::PtrToUninitMem, A::ConstSizeOrZero, pa::PtrToDynptr, N, N}, kAll, nullptr},
    {202, "dynptr_write", R::Integer, {pa::PtrToDynptr, N, A::PtrToMem, A::ConstSizeOrZero, N}, kAll, nullptr},
    {203, "dynptr_data", pa::RetPtrToDynptrMemOrNull, {pa::PtrToDynptr, N, A::ConstAllocSizeOrZero}, kAll, nullptr},
    // Fixed-size arguments: struct iphdr (20 bytes), struct ipv6hdr (40), struct tcphdr (20).
    {204, "tcp_raw_gen_syncookie_ipv4", R::Integer, {pa::PtrToFixedSizeMem, A::PtrToMem, A::ConstSize},
     kTc | kXdp, nullptr},
    {205, "tcp_raw_gen_syncookie_ipv6", R::Integer, {pa::PtrToFixedSizeMem, A::PtrToMem, A::ConstSize},
     kTc | kXdp, nullptr},
    {206, "tcp_raw_check_syncookie_ipv4", R::Integer, {pa::PtrToFixedSizeMem, pa::PtrToFixedSizeMem}, kTc | kXdp,
     nullptr},
    {207, "tcp_raw_check_syncookie_ipv6", R::Integer, {pa::PtrToFixedSizeMem, pa::PtrToFixedSizeMem}, kTc | kXdp,
     nullptr},
    {208, "ktime_get_tai_ns", R::Integer, {}, kAll, nullptr},
    {209, "user_ringbuf_drain", R::Integer, {M, A::PtrToFunc, A::PtrToStackOrNull, N}, kAll, nullptr},
    // Newer than some uapi headers (Linux 6.2). arg 2: struct cgroup (BTF, may be NULL).
    {210, "cgrp_storage_get", R::PtrToMapValueOrNull, {M, pa::PtrToBtfId, pa::PtrToMapValueOrNull, N}, kAll,
     nullptr},
    {211, "cgrp_storage_delete", R::Integer, {M, pa::PtrToBtfId}, kAll, nullptr},
};

constexpr bool sorted_unique() {
  for (size_t k = 1; k < std::size(kRows); ++k)
    if (kRows[k - 1].id >= kRows[k].id) return false;
  return true;
}
static_assert(sorted_unique(), "helper rows must be sorted by id, each id once");

}  // namespace

std::span<const HelperSpec> builtin_helpers() { return kRows; }

bool changes_packet_data(uint32_t id) {
  // bpf_helper_changes_pkt_data (net/core/filter.c), by helper id.
  static constexpr uint32_t kIds[] = {
      9,   // skb_store_bytes
      10,  // l3_csum_replace
      11,  // l4_csum_replace
      13,  // clone_redirect
      18,  // skb_vlan_push
      19,  // skb_vlan_pop
      31,  // skb_change_proto
      38,  // skb_change_tail
      39,  // skb_pull_data
      43,  // skb_change_head
      44,  // xdp_adjust_head
      50,  // skb_adjust_room
      54,  // xdp_adjust_meta
      63,  // msg_pull_data
      65,  // xdp_adjust_tail
      73,  // lwt_push_encap
      74,  // lwt_seg6_store_bytes
      75,  // lwt_seg6_adjust_srh
      76,  // lwt_seg6_action
      90,  // msg_push_data
      91,  // msg_pop_data
      143, // store_hdr_opt
  };
  return std::find(std::begin(kIds), std::end(kIds), id) != std::end(kIds);
}

std::string_view name(Arg a) {
  static constexpr std::string_view kNames[] = {
      "ARG_DONTCARE", "ARG_CONST_MAP_PTR", "ARG_PTR_TO_MAP_KEY", "ARG_PTR_TO_MAP_VALUE",
      "ARG_PTR_TO_MAP_VALUE|MEM_UNINIT", "ARG_PTR_TO_MEM", "ARG_PTR_TO_MEM|PTR_MAYBE_NULL",
      "ARG_PTR_TO_MEM|MEM_UNINIT", "ARG_CONST_SIZE", "ARG_CONST_SIZE_OR_ZERO", "ARG_CONST_ALLOC_SIZE_OR_ZERO",
      "ARG_PTR_TO_CTX", "ARG_ANYTHING", "ARG_PTR_TO_SPIN_LOCK", "ARG_PTR_TO_FUNC", "ARG_PTR_TO_STACK_OR_NULL",
      "ARG_PTR_TO_CONST_STR", "ARG_PTR_TO_LONG", "ARG_PTR_TO_ALLOC_MEM|OBJ_RELEASE",
      "ARG_PTR_TO_CTX_OR_NULL", "ARG_PTR_TO_BTF_ID_SOCK_COMMON", "ARG_PTR_TO_BTF_ID_SOCK_COMMON|OBJ_RELEASE"};
  static constexpr std::string_view kPending[] = {
      "ARG_PTR_TO_SOCK_COMMON", "ARG_PTR_TO_SOCKET|PTR_MAYBE_NULL", "ARG_PTR_TO_BTF_ID_SOCK_COMMON",
      "ARG_PTR_TO_BTF_ID_SOCK_COMMON|OBJ_RELEASE", "ARG_PTR_TO_BTF_ID", "ARG_PTR_TO_BTF_ID_OR_NULL|OBJ_RELEASE",
      "ARG_PTR_TO_PERCPU_BTF_ID", "ARG_PTR_TO_TIMER", "ARG_PTR_TO_KPTR", "ARG_PTR_TO_DYNPTR",
      "ARG_PTR_TO_MAP_VALUE|PTR_MAYBE_NULL", "ARG_PTR_TO_FIXED_SIZE_MEM(4)", "ARG_PTR_TO_FIXED_SIZE_MEM"};
  const auto v = size_t(a);
  if (v < std::size(kNames)) return kNames[v];
  if (v >= kPendingBase && v - kPendingBase < std::size(kPending)) return kPending[v - kPendingBase];
  return "ARG_?";
}

std::string_view name(Ret r) {
  static constexpr std::string_view kNames[] = {"RET_INTEGER", "RET_VOID", "RET_PTR_TO_MAP_VALUE_OR_NULL",
                                                "RET_PTR_TO_MEM|PTR_MAYBE_NULL|MEM_ALLOC",
                                                "RET_PTR_TO_SOCKET_OR_NULL", "RET_PTR_TO_SOCK_COMMON_OR_NULL"};
  static constexpr std::string_view kPending[] = {
      "RET_PTR_TO_MAP_VALUE", "RET_PTR_TO_SOCKET_OR_NULL", "RET_PTR_TO_TCP_SOCK_OR_NULL",
      "RET_PTR_TO_SOCK_COMMON_OR_NULL", "RET_PTR_TO_BTF_ID_OR_NULL", "RET_PTR_TO_BTF_ID",
      "RET_PTR_TO_MEM_OR_BTF_ID", "RET_PTR_TO_DYNPTR_MEM_OR_NULL"};
  const auto v = size_t(r);
  if (v < std::size(kNames)) return kNames[v];
  if (v >= kPendingBase && v - kPendingBase < std::size(kPending)) return kPending[v - kPendingBase];
  return "RET_?";
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

bool Registry::kernel_allowed(uint32_t id, ProgType t) const {
  const HelperSpec* h = find(id);
  return h && uint32_t(t) < 64 && (h->prog_types & bit(t)) != 0;
}

bool Registry::allowed(uint32_t id, ProgType t) const {
  return kernel_allowed(id, t) && find(id)->verifiable();
}

vm::HelperTable Registry::table_for(ProgType t) const {
  vm::HelperTable table;
  for (const HelperSpec& h : rows_)
    if (h.fn && uint32_t(t) < 64 && (h.prog_types & bit(t))) table.set(h.id, h.fn, std::string("bpf_") + std::string(h.name));
  return table;
}

}  // namespace xbpf::helpers
