// Which context fields a program type may read and write, and what a read
// yields: the kernel's *_is_valid_access rules, on the uapi layouts of
// <linux/bpf.h> (x86-64 pt_regs for kprobe/perf_event).
#include <linux/bpf.h>

#include <cstddef>

#include "verifier/checker.hpp"

namespace xbpf::verifier::detail {
namespace {

using kabi::ProgType;

constexpr int kPtRegsSize = 21 * 8;  // struct pt_regs on x86-64
constexpr int kPerfMaxTraceSize = 8192;
constexpr int kMaxFuncArgs = 12;

#define XBPF_FIELD(type, f) offsetof(type, f), offsetof(type, f) + sizeof(((type*)nullptr)->f)

struct Range {
  int begin, end;
};
constexpr bool in(int off, Range r) { return off >= r.begin && off < r.end; }
constexpr Range field(size_t b, size_t e) { return {static_cast<int>(b), static_cast<int>(e)}; }

// Narrow reads of a u32 field: 1, 2 or 4 bytes (alignment is checked first).
constexpr bool narrow_ok(int size, int size_default) { return size <= size_default && (size & (size - 1)) == 0; }

// bpf_skb_is_valid_access: the rules every __sk_buff program type shares.
std::optional<RegType> skb_common(int off, int size, bool write) {
  using S = __sk_buff;
  if (off < 0 || off >= static_cast<int>(sizeof(S)) || off % size != 0) return std::nullopt;
  const Range cb = field(offsetof(S, cb[0]), offsetof(S, cb[4]) + 4);
  if (in(off, cb)) return off + size <= cb.end ? std::optional(RegType::Scalar) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, remote_ip6))) || in(off, field(XBPF_FIELD(S, local_ip6))) ||
      in(off, field(XBPF_FIELD(S, remote_ip4))) || in(off, field(XBPF_FIELD(S, local_ip4))))
    return size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, data))) || in(off, field(XBPF_FIELD(S, data_meta))) ||
      in(off, field(XBPF_FIELD(S, data_end))))
    return size == 4 ? std::optional(RegType::Scalar) : std::nullopt;  // the caller decides the pointer type
  if (in(off, field(XBPF_FIELD(S, flow_keys)))) return std::nullopt;
  if (in(off, field(XBPF_FIELD(S, hwtstamp))))
    return !write && size == 8 ? std::optional(RegType::Scalar) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, tstamp)))) return size == 8 ? std::optional(RegType::Scalar) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, sk)))) return std::nullopt;  // PTR_TO_SOCK_COMMON_OR_NULL: not tracked yet
  if (off >= static_cast<int>(offsetof(S, tstamp_type)) && off < static_cast<int>(offsetof(S, hwtstamp)))
    return std::nullopt;  // tstamp_type and padding
  if (write) return size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
  return narrow_ok(size, 4) ? std::optional(RegType::Scalar) : std::nullopt;
}

bool skb_packet_field(int off, RegType& t) {
  using S = __sk_buff;
  if (in(off, field(XBPF_FIELD(S, data)))) return t = RegType::PtrToPacket, true;
  if (in(off, field(XBPF_FIELD(S, data_end)))) return t = RegType::PtrToPacketEnd, true;
  if (in(off, field(XBPF_FIELD(S, data_meta)))) return t = RegType::PtrToPacketMeta, true;
  return false;
}

std::optional<RegType> socket_filter(int off, int size, bool write) {
  using S = __sk_buff;
  if (in(off, field(XBPF_FIELD(S, tc_classid))) || in(off, field(XBPF_FIELD(S, data))) ||
      in(off, field(XBPF_FIELD(S, data_meta))) || in(off, field(XBPF_FIELD(S, data_end))) ||
      in(off, field(offsetof(S, family), offsetof(S, local_port) + 4)) || in(off, field(XBPF_FIELD(S, tstamp))) ||
      in(off, field(XBPF_FIELD(S, wire_len))) || in(off, field(XBPF_FIELD(S, hwtstamp))))
    return std::nullopt;
  if (write && !in(off, field(offsetof(S, cb[0]), offsetof(S, cb[4]) + 4))) return std::nullopt;
  return skb_common(off, size, write);
}

std::optional<RegType> tc(int off, int size, bool write) {
  using S = __sk_buff;
  if (write && !(in(off, field(XBPF_FIELD(S, mark))) || in(off, field(XBPF_FIELD(S, tc_index))) ||
                 in(off, field(XBPF_FIELD(S, priority))) || in(off, field(XBPF_FIELD(S, tc_classid))) ||
                 in(off, field(offsetof(S, cb[0]), offsetof(S, cb[4]) + 4)) || in(off, field(XBPF_FIELD(S, tstamp))) ||
                 in(off, field(XBPF_FIELD(S, queue_mapping)))))
    return std::nullopt;
  if (in(off, field(offsetof(S, family), offsetof(S, local_port) + 4))) return std::nullopt;
  auto r = skb_common(off, size, write);
  RegType t;
  if (r && !write && skb_packet_field(off, t)) return t;
  return r;
}

std::optional<RegType> cgroup_skb(int off, int size, bool write, bool capable) {
  using S = __sk_buff;
  if (in(off, field(XBPF_FIELD(S, tc_classid))) || in(off, field(XBPF_FIELD(S, data_meta))) ||
      in(off, field(XBPF_FIELD(S, wire_len))))
    return std::nullopt;
  if ((in(off, field(XBPF_FIELD(S, data))) || in(off, field(XBPF_FIELD(S, data_end)))) && !capable)
    return std::nullopt;
  if (write && !(in(off, field(XBPF_FIELD(S, mark))) || in(off, field(XBPF_FIELD(S, priority))) ||
                 in(off, field(offsetof(S, cb[0]), offsetof(S, cb[4]) + 4)) ||
                 (capable && in(off, field(XBPF_FIELD(S, tstamp))))))
    return std::nullopt;
  auto r = skb_common(off, size, write);
  RegType t;
  if (r && !write && skb_packet_field(off, t)) return t;
  return r;
}

// egress_ifindex exists only for programs run from a devmap (expected_attach_type).
std::optional<RegType> xdp(int off, int size, bool write, std::optional<kabi::AttachType> attach) {
  if (write || off < 0 || off >= static_cast<int>(sizeof(xdp_md)) || off % size != 0 || size != 4) return std::nullopt;
  if (off == offsetof(xdp_md, egress_ifindex) && attach != kabi::AttachType::XdpDevmap) return std::nullopt;
  if (off == offsetof(xdp_md, data)) return RegType::PtrToPacket;
  if (off == offsetof(xdp_md, data_end)) return RegType::PtrToPacketEnd;
  if (off == offsetof(xdp_md, data_meta)) return RegType::PtrToPacketMeta;
  return RegType::Scalar;
}

// struct bpf_perf_event_data on x86-64: pt_regs, then u64 sample_period, u64 addr.
constexpr int kPerfEventDataSize = kPtRegsSize + 16;

std::optional<RegType> perf_event(int off, int size, bool write) {
  if (write || off < 0 || off >= kPerfEventDataSize || off % size != 0) return std::nullopt;
  if (off >= kPtRegsSize)
    return narrow_ok(size, 8) ? std::optional(RegType::Scalar) : std::nullopt;
  return size == 8 ? std::optional(RegType::Scalar) : std::nullopt;
}

std::optional<RegType> sock_ops(int off, int size, bool write) {
  using S = bpf_sock_ops;
  if (off < 0 || off >= static_cast<int>(sizeof(S)) || off % size != 0) return std::nullopt;
  if (write) {
    // replylong[0] shares reply's offset; replylong[1..3] are read-only.
    const bool ok = in(off, field(XBPF_FIELD(S, reply))) || in(off, field(XBPF_FIELD(S, sk_txhash)));
    return ok && size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
  }
  if (in(off, field(XBPF_FIELD(S, bytes_received))) || in(off, field(XBPF_FIELD(S, bytes_acked))))
    return size == 8 ? std::optional(RegType::Scalar) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, sk)))) return std::nullopt;  // PTR_TO_SOCKET_OR_NULL: not tracked yet
  if (in(off, field(XBPF_FIELD(S, skb_data))))
    return size == 8 ? std::optional(RegType::PtrToPacket) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, skb_data_end))))
    return size == 8 ? std::optional(RegType::PtrToPacketEnd) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, skb_tcp_flags)))) return narrow_ok(size, 4) ? std::optional(RegType::Scalar) : std::nullopt;
  return size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
}

// struct bpf_sock (cgroup_sock programs): bpf_sock_is_valid_access plus the
// three writable fields.
std::optional<RegType> cgroup_sock(int off, int size, bool write) {
  using S = bpf_sock;
  if (off < 0 || off >= static_cast<int>(sizeof(S)) || off % size != 0) return std::nullopt;
  const bool settable = in(off, field(XBPF_FIELD(S, bound_dev_if))) || in(off, field(XBPF_FIELD(S, mark))) ||
                        in(off, field(XBPF_FIELD(S, priority)));
  if (write) return settable && size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
  if (in(off, field(XBPF_FIELD(S, dst_port))))
    return size == 4 || narrow_ok(size, 2) ? std::optional(RegType::Scalar) : std::nullopt;
  if (off >= static_cast<int>(offsetof(S, dst_port) + 2) && off < static_cast<int>(offsetof(S, dst_ip4)))
    return std::nullopt;  // padding
  if (settable) return size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
  return narrow_ok(size, 4) ? std::optional(RegType::Scalar) : std::nullopt;
}

// Which address fields a cgroup_sock_addr program may touch depends on its
// attach type: IPv4 fields for the *4 hooks, IPv6 for *6, msg_src_* only
// for sendmsg.
bool sock_addr_field_allowed(int off, std::optional<kabi::AttachType> at) {
  using S = bpf_sock_addr;
  using A = kabi::AttachType;
  auto is = [&](std::initializer_list<A> set) {
    if (!at) return false;
    for (A a : set)
      if (*at == a) return true;
    return false;
  };
  if (in(off, field(XBPF_FIELD(S, user_ip4))))
    return is({A::CgroupInet4Bind, A::CgroupInet4Connect, A::CgroupInet4Getpeername, A::CgroupInet4Getsockname,
               A::CgroupUdp4Sendmsg, A::CgroupUdp4Recvmsg});
  if (in(off, field(XBPF_FIELD(S, user_ip6))))
    return is({A::CgroupInet6Bind, A::CgroupInet6Connect, A::CgroupInet6Getpeername, A::CgroupInet6Getsockname,
               A::CgroupUdp6Sendmsg, A::CgroupUdp6Recvmsg});
  if (in(off, field(XBPF_FIELD(S, msg_src_ip4)))) return is({A::CgroupUdp4Sendmsg});
  if (in(off, field(XBPF_FIELD(S, msg_src_ip6)))) return is({A::CgroupUdp6Sendmsg});
  return true;
}

// struct bpf_sock_addr (cgroup_sock_addr programs), as its uapi comments say.
std::optional<RegType> sock_addr(int off, int size, bool write, std::optional<kabi::AttachType> at) {
  using S = bpf_sock_addr;
  if (off < 0 || off >= static_cast<int>(sizeof(S)) || off % size != 0) return std::nullopt;
  if (!sock_addr_field_allowed(off, at)) return std::nullopt;
  const bool ip6 = in(off, field(XBPF_FIELD(S, user_ip6))) || in(off, field(XBPF_FIELD(S, msg_src_ip6)));
  const bool ip4ish = in(off, field(XBPF_FIELD(S, user_ip4))) || in(off, field(XBPF_FIELD(S, user_port))) ||
                      in(off, field(XBPF_FIELD(S, msg_src_ip4)));
  if (in(off, field(XBPF_FIELD(S, sk)))) return std::nullopt;  // PTR_TO_SOCKET: not tracked yet
  if (write) {
    if (ip6) return size == 4 || size == 8 ? std::optional(RegType::Scalar) : std::nullopt;
    return ip4ish && size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
  }
  if (ip6) return narrow_ok(size, 4) || size == 8 ? std::optional(RegType::Scalar) : std::nullopt;
  if (ip4ish) return narrow_ok(size, 4) ? std::optional(RegType::Scalar) : std::nullopt;
  return size == 4 ? std::optional(RegType::Scalar) : std::nullopt;
}

}  // namespace

int context_size(ProgType t) {
  switch (t) {
    case ProgType::SocketFilter: case ProgType::SchedCls: case ProgType::SchedAct: case ProgType::CgroupSkb:
    case ProgType::LwtIn: case ProgType::LwtOut: case ProgType::LwtXmit: case ProgType::SkSkb:
      return sizeof(__sk_buff);
    case ProgType::Xdp: return sizeof(xdp_md);
    case ProgType::Kprobe: return kPtRegsSize;
    case ProgType::PerfEvent: return kPerfEventDataSize;
    case ProgType::Tracepoint: return kPerfMaxTraceSize;
    case ProgType::RawTracepoint: return kMaxFuncArgs * 8;
    case ProgType::SockOps: return sizeof(bpf_sock_ops);
    case ProgType::CgroupSock: return sizeof(bpf_sock);
    case ProgType::CgroupSockAddr: return sizeof(bpf_sock_addr);
    default: return 0;
  }
}

std::optional<RegType> context_access(const Env& env, int off, int size, bool write) {
  const bool privileged = env.privileged;
  switch (env.prog_type) {
    case ProgType::SocketFilter: return socket_filter(off, size, write);
    case ProgType::SchedCls:
    case ProgType::SchedAct: return tc(off, size, write);
    case ProgType::CgroupSkb: return cgroup_skb(off, size, write, privileged);
    case ProgType::Xdp: return xdp(off, size, write, env.attach_type);
    case ProgType::Kprobe:
      if (write || off < 0 || off >= kPtRegsSize || off % size != 0) return std::nullopt;
      return RegType::Scalar;
    case ProgType::Tracepoint:
      if (write || off < 8 || off >= kPerfMaxTraceSize || off % size != 0) return std::nullopt;
      return RegType::Scalar;
    case ProgType::RawTracepoint:
      if (write || off < 0 || off >= kMaxFuncArgs * 8 || off % size != 0) return std::nullopt;
      return RegType::Scalar;
    case ProgType::PerfEvent: return perf_event(off, size, write);
    case ProgType::SockOps: return sock_ops(off, size, write);
    case ProgType::CgroupSock: return cgroup_sock(off, size, write);
    case ProgType::CgroupSockAddr: return sock_addr(off, size, write, env.attach_type);
    default: return std::nullopt;
  }
}

}  // namespace xbpf::verifier::detail
