// Routing helpers: bpf_fib_lookup, bpf_redirect_neigh, bpf_redirect_peer.
//
// xbpf has no routing table and no network devices of its own. A test run's
// packet arrives on loopback (ifindex 1), as in the kernel's BPF_PROG_TEST_RUN,
// in what behaves as a fresh network namespace: loopback is the only device
// and does not forward. So bpf_fib_lookup checks its arguments as the kernel
// does and then answers as the kernel does there: BPF_FIB_LKUP_RET_FWD_DISABLED
// for loopback, -ENODEV for any other ifindex, BPF_FIB_LKUP_RET_NOT_FWDED for
// IPv6 link-local, loopback and multicast addresses (checked first).
#include <cerrno>
#include <cstring>

#include "helpers/impl.hpp"
#include "helpers/run_state.hpp"

namespace xbpf::helpers::impl {

namespace {
// struct bpf_fib_lookup (uapi): 64 bytes; the fields read here.
constexpr uint64_t kFibLookupSize = 64;
constexpr size_t kFibFamily = 0, kFibIfindex = 8, kFibIpv6Src = 16, kFibIpv6Dst = 32;
// BPF_FIB_LOOKUP_DIRECT | OUTPUT | SKIP_NEIGH | TBID | SRC | MARK (Linux 6.10+).
constexpr uint64_t kFibLookupMask = 0x3f;
constexpr long kFibRetNotFwded = 4, kFibRetFwdDisabled = 5;  // BPF_FIB_LKUP_RET_*
constexpr uint8_t kAfInet = 2, kAfInet6 = 10;
constexpr uint32_t kLoopbackIfindex = 1;
// sizeof(struct bpf_redir_neigh): nh_family and a 16-byte address.
constexpr uint64_t kRedirNeighSize = 20;
constexpr uint64_t kTcActShot = 2, kTcActRedirect = 7;

// rt6_need_strict: multicast (ff00::/8), link-local unicast (fe80::/10) or
// the loopback address (::1), which the kernel never forwards.
bool ipv6_strict(const uint8_t* a) {
  if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)) return true;
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a, kLoopback, 16) == 0;
}
}  // namespace

// bpf_fib_lookup(ctx, params, plen, flags), tc and XDP: see above. The
// params are read, never written (the kernel writes them only on a route).
XBPF_HELPER(fib_lookup) {
  (void)r1, (void)r5;
  if (!vm::helper_access_ok(*c, r2, r3, false)) return uint64_t(-EFAULT);
  // (plen is an int the kernel compares with a size_t: a negative one passes)
  if (uint64_t(int64_t(int32_t(r3))) < kFibLookupSize || (uint32_t(r4) & ~kFibLookupMask)) return uint64_t(-EINVAL);
  const auto* params = reinterpret_cast<const uint8_t*>(r2);
  uint32_t ifindex;
  std::memcpy(&ifindex, params + kFibIfindex, 4);
  switch (params[kFibFamily]) {
    case kAfInet:
      break;
    case kAfInet6:
      if (ipv6_strict(params + kFibIpv6Dst) || ipv6_strict(params + kFibIpv6Src)) return uint64_t(kFibRetNotFwded);
      break;
    default:
      return uint64_t(-EAFNOSUPPORT);
  }
  if (ifindex != kLoopbackIfindex) return uint64_t(-ENODEV);
  return uint64_t(kFibRetFwdDisabled);
}

// bpf_redirect_neigh(ifindex, params, plen, flags): TC_ACT_REDIRECT to
// `ifindex` through the neighbour subsystem (params: the next hop); no flags,
// and params, when given, whole. Recorded as bpf_redirect's target.
XBPF_HELPER(redirect_neigh) {
  (void)r5;
  const uint64_t plen = uint64_t(int64_t(int32_t(r3)));  // an int compared with a size_t, as in the kernel
  if ((plen && plen < kRedirNeighSize) || r4) return kTcActShot;
  if (r3 && !vm::helper_access_ok(*c, r2, r3, false)) return kTcActShot;
  if (RunState* s = state(c)) {
    s->redirect_ifindex = uint32_t(r1);
    s->redirect_flags = 0;  // (the kind of redirect is not kept: nothing acts on it)
  }
  return kTcActRedirect;
}

// bpf_redirect_peer(ifindex, flags): TC_ACT_REDIRECT to the peer of
// `ifindex` (a veth or netkit pair); no flags.
XBPF_HELPER(redirect_peer) {
  (void)r3, (void)r4, (void)r5;
  if (r2) return kTcActShot;
  if (RunState* s = state(c)) {
    s->redirect_ifindex = uint32_t(r1);
    s->redirect_flags = 0;
  }
  return kTcActRedirect;
}

}  // namespace xbpf::helpers::impl
