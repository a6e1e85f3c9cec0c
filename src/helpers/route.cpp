// Routing helpers: bpf_fib_lookup, bpf_redirect_neigh, bpf_redirect_peer.
//
// xbpf has no routing table and no network devices of its own. A test run's
// packet arrives on loopback (ifindex 1), as in the kernel's BPF_PROG_TEST_RUN,
// in what behaves as a fresh network namespace: loopback is the only device
// and does not forward. So bpf_fib_lookup checks its arguments as the kernel
// does and then answers as the kernel does there: BPF_FIB_LKUP_RET_FWD_DISABLED
// for loopback, -ENODEV for any other ifindex, BPF_FIB_LKUP_RET_NOT_FWDED for
// IPv6 link-local, loopback and multicast addresses (checked first).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "helpers/impl.hpp"
#include "helpers/run_state.hpp"

namespace xbpf::helpers::impl {

namespace {
// BPF_FIB_LOOKUP_DIRECT | OUTPUT | SKIP_NEIGH | TBID | SRC | MARK (Linux
// 6.10+; the build's uapi header may predate the last ones).
constexpr uint32_t kFibLookupMask = 0x3f;

// rt6_need_strict: multicast (ff00::/8), link-local unicast (fe80::/10) or
// the loopback address (::1), which the kernel never forwards.
bool ipv6_strict(const uint8_t* a) {
  if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)) return true;
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a, kLoopback, 16) == 0;
}

// What bpf_redirect_neigh and bpf_redirect_peer return: TC_ACT_REDIRECT,
// recording the target as bpf_redirect does (the kind of redirect is not
// kept: nothing acts on it).
uint64_t redirect_to(vm::ExecContext* c, uint64_t ifindex) {
  if (RunState* s = state(c)) s->set_redirect(uint32_t(ifindex), 0);
  return TC_ACT_REDIRECT;
}
}  // namespace

// bpf_fib_lookup(ctx, params, plen, flags), tc and XDP: see above. The
// params are read, never written (the kernel writes them only on a route).
XBPF_HELPER(fib_lookup) {
  (void)r1, (void)r5;
  if (!vm::helper_access_ok(*c, r2, r3, false)) return uint64_t(-EFAULT);
  // (plen is an int the kernel compares with a size_t: a negative one passes)
  if (uint64_t(int64_t(int32_t(r3))) < sizeof(bpf_fib_lookup) || (uint32_t(r4) & ~kFibLookupMask))
    return uint64_t(-EINVAL);
  bpf_fib_lookup params;
  std::memcpy(&params, reinterpret_cast<const void*>(r2), sizeof params);
  switch (params.family) {
    case AF_INET:
      break;
    case AF_INET6:
      if (ipv6_strict(reinterpret_cast<const uint8_t*>(params.ipv6_dst)) ||
          ipv6_strict(reinterpret_cast<const uint8_t*>(params.ipv6_src)))
        return BPF_FIB_LKUP_RET_NOT_FWDED;
      break;
    default:
      return uint64_t(-EAFNOSUPPORT);
  }
  if (params.ifindex != kLoopbackIfindex) return uint64_t(-ENODEV);
  return BPF_FIB_LKUP_RET_FWD_DISABLED;
}

// bpf_redirect_neigh(ifindex, params, plen, flags): TC_ACT_REDIRECT to
// `ifindex` through the neighbour subsystem (params: the next hop); no flags,
// and params, when given, whole. Recorded as bpf_redirect's target.
XBPF_HELPER(redirect_neigh) {
  (void)r5;
  const uint64_t plen = uint64_t(int64_t(int32_t(r3)));  // an int compared with a size_t, as in the kernel
  if ((plen && plen < sizeof(bpf_redir_neigh)) || r4) return TC_ACT_SHOT;
  if (r3 && !vm::helper_access_ok(*c, r2, r3, false)) return TC_ACT_SHOT;
  return redirect_to(c, r1);
}

// bpf_redirect_peer(ifindex, flags): TC_ACT_REDIRECT to the peer of
// `ifindex` (a veth or netkit pair); no flags.
XBPF_HELPER(redirect_peer) {
  (void)r3, (void)r4, (void)r5;
  return r2 ? TC_ACT_SHOT : redirect_to(c, r1);
}

}  // namespace xbpf::helpers::impl
