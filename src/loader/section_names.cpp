#include "loader/section_names.hpp"

#include <charconv>

namespace xbpf::loader {
namespace {

enum Flags : uint8_t {
  kNone = 0,
  kSleepable = 1,
  kFrags = 2,
  kBtf = 4,         // attach target named by BTF id
  kReturn = 8,      // return probe
  kLegacyOnly = 16, // libbpf 0.x name, matched only by the prefix fallback
};

// One libbpf section definition. `pattern` ends in '+' when the name may be
// exactly the type ("kprobe") or the type, '/' and a target ("kprobe/foo").
struct SecDef {
  std::string_view pattern;
  ProgType type;
  int64_t attach;  // AttachType value, or -1 for none
  uint8_t flags;
};

constexpr int64_t kNoAttach = -1;
constexpr int64_t at(AttachType a) { return static_cast<int64_t>(a); }
using P = ProgType;
using A = AttachType;

// libbpf 1.x section_defs, in its order (first match wins), plus the few
// names libbpf 0.x accepted that 1.x dropped.
constexpr SecDef kSecDefs[] = {
    {"socket", P::SocketFilter, kNoAttach, kNone},
    {"sk_reuseport/migrate", P::SkReuseport, at(A::SkReuseportSelectOrMigrate), kNone},
    {"sk_reuseport", P::SkReuseport, at(A::SkReuseportSelect), kNone},
    {"kprobe+", P::Kprobe, kNoAttach, kNone},
    {"uprobe+", P::Kprobe, kNoAttach, kNone},
    {"uprobe.s+", P::Kprobe, kNoAttach, kSleepable},
    {"kretprobe+", P::Kprobe, kNoAttach, kReturn},
    {"uretprobe+", P::Kprobe, kNoAttach, kReturn},
    {"uretprobe.s+", P::Kprobe, kNoAttach, kSleepable | kReturn},
    {"kprobe.multi+", P::Kprobe, at(A::TraceKprobeMulti), kNone},
    {"kretprobe.multi+", P::Kprobe, at(A::TraceKprobeMulti), kReturn},
    {"kprobe.session+", P::Kprobe, at(A::TraceKprobeSession), kNone},
    {"uprobe.multi+", P::Kprobe, at(A::TraceUprobeMulti), kNone},
    {"uretprobe.multi+", P::Kprobe, at(A::TraceUprobeMulti), kReturn},
    {"uprobe.session+", P::Kprobe, at(A::TraceUprobeSession), kNone},
    {"uprobe.multi.s+", P::Kprobe, at(A::TraceUprobeMulti), kSleepable},
    {"uretprobe.multi.s+", P::Kprobe, at(A::TraceUprobeMulti), kSleepable | kReturn},
    {"uprobe.session.s+", P::Kprobe, at(A::TraceUprobeSession), kSleepable},
    {"ksyscall+", P::Kprobe, kNoAttach, kNone},
    {"kretsyscall+", P::Kprobe, kNoAttach, kReturn},
    {"usdt+", P::Kprobe, kNoAttach, kNone},
    {"usdt.s+", P::Kprobe, kNoAttach, kSleepable},
    {"tc/ingress", P::SchedCls, at(A::TcxIngress), kNone},
    {"tc/egress", P::SchedCls, at(A::TcxEgress), kNone},
    {"tcx/ingress", P::SchedCls, at(A::TcxIngress), kNone},
    {"tcx/egress", P::SchedCls, at(A::TcxEgress), kNone},
    {"tc", P::SchedCls, kNoAttach, kNone},
    {"classifier", P::SchedCls, kNoAttach, kNone},
    {"action", P::SchedAct, kNoAttach, kNone},
    {"netkit/primary", P::SchedCls, at(A::NetkitPrimary), kNone},
    {"netkit/peer", P::SchedCls, at(A::NetkitPeer), kNone},
    {"tracepoint+", P::Tracepoint, kNoAttach, kNone},
    {"tp+", P::Tracepoint, kNoAttach, kNone},
    {"raw_tracepoint+", P::RawTracepoint, kNoAttach, kNone},
    {"raw_tp+", P::RawTracepoint, kNoAttach, kNone},
    {"raw_tracepoint.w+", P::RawTracepointWritable, kNoAttach, kNone},
    {"raw_tp.w+", P::RawTracepointWritable, kNoAttach, kNone},
    {"tp_btf+", P::Tracing, at(A::TraceRawTp), kBtf},
    {"fentry+", P::Tracing, at(A::TraceFentry), kBtf},
    {"fmod_ret+", P::Tracing, at(A::ModifyReturn), kBtf},
    {"fexit+", P::Tracing, at(A::TraceFexit), kBtf},
    {"fentry.s+", P::Tracing, at(A::TraceFentry), kBtf | kSleepable},
    {"fmod_ret.s+", P::Tracing, at(A::ModifyReturn), kBtf | kSleepable},
    {"fexit.s+", P::Tracing, at(A::TraceFexit), kBtf | kSleepable},
    {"freplace+", P::Ext, kNoAttach, kBtf},
    {"lsm+", P::Lsm, at(A::LsmMac), kBtf},
    {"lsm.s+", P::Lsm, at(A::LsmMac), kBtf | kSleepable},
    {"lsm_cgroup+", P::Lsm, at(A::LsmCgroup), kBtf},
    {"iter+", P::Tracing, at(A::TraceIter), kBtf},
    {"iter.s+", P::Tracing, at(A::TraceIter), kBtf | kSleepable},
    {"syscall", P::Syscall, kNoAttach, kSleepable},
    {"xdp.frags/devmap", P::Xdp, at(A::XdpDevmap), kFrags},
    {"xdp/devmap", P::Xdp, at(A::XdpDevmap), kNone},
    {"xdp.frags/cpumap", P::Xdp, at(A::XdpCpumap), kFrags},
    {"xdp/cpumap", P::Xdp, at(A::XdpCpumap), kNone},
    {"xdp.frags", P::Xdp, at(A::Xdp), kFrags},
    {"xdp", P::Xdp, at(A::Xdp), kNone},
    {"perf_event", P::PerfEvent, kNoAttach, kNone},
    {"lwt_in", P::LwtIn, kNoAttach, kNone},
    {"lwt_out", P::LwtOut, kNoAttach, kNone},
    {"lwt_xmit", P::LwtXmit, kNoAttach, kNone},
    {"lwt_seg6local", P::LwtSeg6local, kNoAttach, kNone},
    {"sockops", P::SockOps, at(A::CgroupSockOps), kNone},
    {"sk_skb/stream_parser", P::SkSkb, at(A::SkSkbStreamParser), kNone},
    {"sk_skb/stream_verdict", P::SkSkb, at(A::SkSkbStreamVerdict), kNone},
    {"sk_skb/verdict", P::SkSkb, at(A::SkSkbVerdict), kNone},
    {"sk_skb", P::SkSkb, kNoAttach, kNone},
    {"sk_msg", P::SkMsg, at(A::SkMsgVerdict), kNone},
    {"lirc_mode2", P::LircMode2, at(A::LircMode2), kNone},
    {"flow_dissector", P::FlowDissector, at(A::FlowDissector), kNone},
    {"cgroup_skb/ingress", P::CgroupSkb, at(A::CgroupInetIngress), kNone},
    {"cgroup_skb/egress", P::CgroupSkb, at(A::CgroupInetEgress), kNone},
    {"cgroup/skb", P::CgroupSkb, kNoAttach, kNone},
    {"cgroup/sock_create", P::CgroupSock, at(A::CgroupInetSockCreate), kNone},
    {"cgroup/sock_release", P::CgroupSock, at(A::CgroupInetSockRelease), kNone},
    {"cgroup/sock", P::CgroupSock, at(A::CgroupInetSockCreate), kNone},
    {"cgroup/post_bind4", P::CgroupSock, at(A::CgroupInet4PostBind), kNone},
    {"cgroup/post_bind6", P::CgroupSock, at(A::CgroupInet6PostBind), kNone},
    {"cgroup/bind4", P::CgroupSockAddr, at(A::CgroupInet4Bind), kNone},
    {"cgroup/bind6", P::CgroupSockAddr, at(A::CgroupInet6Bind), kNone},
    {"cgroup/connect4", P::CgroupSockAddr, at(A::CgroupInet4Connect), kNone},
    {"cgroup/connect6", P::CgroupSockAddr, at(A::CgroupInet6Connect), kNone},
    {"cgroup/connect_unix", P::CgroupSockAddr, at(A::CgroupUnixConnect), kNone},
    {"cgroup/sendmsg4", P::CgroupSockAddr, at(A::CgroupUdp4Sendmsg), kNone},
    {"cgroup/sendmsg6", P::CgroupSockAddr, at(A::CgroupUdp6Sendmsg), kNone},
    {"cgroup/sendmsg_unix", P::CgroupSockAddr, at(A::CgroupUnixSendmsg), kNone},
    {"cgroup/recvmsg4", P::CgroupSockAddr, at(A::CgroupUdp4Recvmsg), kNone},
    {"cgroup/recvmsg6", P::CgroupSockAddr, at(A::CgroupUdp6Recvmsg), kNone},
    {"cgroup/recvmsg_unix", P::CgroupSockAddr, at(A::CgroupUnixRecvmsg), kNone},
    {"cgroup/getpeername4", P::CgroupSockAddr, at(A::CgroupInet4Getpeername), kNone},
    {"cgroup/getpeername6", P::CgroupSockAddr, at(A::CgroupInet6Getpeername), kNone},
    {"cgroup/getpeername_unix", P::CgroupSockAddr, at(A::CgroupUnixGetpeername), kNone},
    {"cgroup/getsockname4", P::CgroupSockAddr, at(A::CgroupInet4Getsockname), kNone},
    {"cgroup/getsockname6", P::CgroupSockAddr, at(A::CgroupInet6Getsockname), kNone},
    {"cgroup/getsockname_unix", P::CgroupSockAddr, at(A::CgroupUnixGetsockname), kNone},
    {"cgroup/sysctl", P::CgroupSysctl, at(A::CgroupSysctl), kNone},
    {"cgroup/getsockopt", P::CgroupSockopt, at(A::CgroupGetsockopt), kNone},
    {"cgroup/setsockopt", P::CgroupSockopt, at(A::CgroupSetsockopt), kNone},
    {"cgroup/dev", P::CgroupDevice, at(A::CgroupDevice), kNone},
    {"struct_ops+", P::StructOps, kNoAttach, kNone},
    {"struct_ops.s+", P::StructOps, kNoAttach, kSleepable},
    {"sk_lookup", P::SkLookup, at(A::SkLookup), kNone},
    {"netfilter", P::Netfilter, at(A::Netfilter), kNone},
    // Dropped in libbpf 1.0 (renamed to xdp/devmap and xdp/cpumap).
    {"xdp_devmap/", P::Xdp, at(A::XdpDevmap), kLegacyOnly},
    {"xdp_cpumap/", P::Xdp, at(A::XdpCpumap), kLegacyOnly},
};

std::string_view base_of(const SecDef& d) {
  std::string_view p = d.pattern;
  return p.ends_with('+') ? p.substr(0, p.size() - 1) : p;
}

// libbpf 1.x matching: "x+" is "x" or "x/..."; anything else is exact.
bool strict_match(const SecDef& d, std::string_view sec) {
  if (d.flags & kLegacyOnly) return false;
  if (!d.pattern.ends_with('+')) return sec == d.pattern;
  std::string_view base = base_of(d);
  return sec.starts_with(base) && (sec.size() == base.size() || sec[base.size()] == '/');
}

SectionInfo from_def(const SecDef& d, std::string_view sec, TypeSource source) {
  SectionInfo info;
  info.type = d.type;
  if (d.attach != kNoAttach) info.attach_type = static_cast<AttachType>(d.attach);
  info.source = source;
  info.sleepable = d.flags & kSleepable;
  info.xdp_frags = d.flags & kFrags;
  info.attach_btf = d.flags & kBtf;
  info.is_return = d.flags & kReturn;
  std::string_view base = base_of(d);
  if (d.pattern.ends_with('+') && sec.size() > base.size() && sec[base.size()] == '/')
    info.attach_target = std::string(sec.substr(base.size() + 1));
  else if (base.ends_with('/'))
    info.attach_target = std::string(sec.substr(base.size()));
  return info;
}

// libbpf 0.x and samples/bpf matched every definition as a plain prefix
// ("socket1", "xdp_redirect", "cgroup/sock1"); the longest prefix wins so that
// "cgroup/sock_release..." is not taken for "cgroup/sock".
const SecDef* legacy_match(std::string_view sec) {
  const SecDef* best = nullptr;
  for (const SecDef& d : kSecDefs) {
    std::string_view base = base_of(d);
    if (sec.starts_with(base) && (!best || base.size() > base_of(*best).size())) best = &d;
  }
  return best;
}

std::optional<uint32_t> parse_number(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2), base = 16;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// iproute2 "ID/KEY" tail-call sections ("2/7", "1/0x1010"): tc loads them as
// classifiers into slot KEY of the prog array with id ID.
std::optional<TailCallSlot> tail_call_slot(std::string_view sec) {
  auto slash = sec.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto id = parse_number(sec.substr(0, slash));
  auto key = parse_number(sec.substr(slash + 1));
  if (!id || !key) return std::nullopt;
  return TailCallSlot{*id, *key};
}

}  // namespace

std::string_view name(TypeSource s) {
  switch (s) {
    case TypeSource::Libbpf: return "libbpf";
    case TypeSource::LegacyPrefix: return "legacy-prefix";
    case TypeSource::Convention: return "convention";
    case TypeSource::Option: return "option";
    case TypeSource::Unknown: return "unknown";
  }
  return "unknown";
}

SectionInfo classify_section(std::string_view section) {
  bool autoload = true;
  if (section.starts_with('?')) section.remove_prefix(1), autoload = false;
  SectionInfo info;
  for (const SecDef& d : kSecDefs) {
    if (strict_match(d, section)) {
      info = from_def(d, section, TypeSource::Libbpf);
      break;
    }
  }
  if (info.source == TypeSource::Unknown) {
    if (auto slot = tail_call_slot(section)) {
      info.type = ProgType::SchedCls;
      info.source = TypeSource::Convention;
      info.tail_call = slot;
    } else if (section.starts_with("from-") || section.starts_with("to-")) {
      // Cilium's tc hook programs (from-netdev, to-container, ...).
      info.type = ProgType::SchedCls;
      info.source = TypeSource::Convention;
    } else if (const SecDef* d = legacy_match(section)) {
      info = from_def(*d, section, TypeSource::LegacyPrefix);
    }
  }
  info.autoload = autoload;
  return info;
}

}  // namespace xbpf::loader
