// Socket helpers. A user-space program has no kernel sockets to look up and
// lives in one network namespace: the lookups find nothing, and every netns
// cookie is that namespace's.
#include <sys/stat.h>

#include <cerrno>

#include "helpers/impl.hpp"
#include "helpers/run_state.hpp"

namespace xbpf::helpers::impl {

namespace {
#define UNUSED5 (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)c
}  // namespace

// sk_lookup_tcp/udp, skc_lookup_tcp: NULL, "no socket matches the tuple", a
// result the kernel's lookups give too (the verifier makes programs handle
// it). No reference is taken, so sk_release is never reached with a socket.
XBPF_HELPER(sk_lookup) { UNUSED5; return 0; }

// Only ever called on a socket from a lookup, of which there are none.
XBPF_HELPER(sk_release) { UNUSED5; return 0; }

// bpf_sk_assign(skb, sk, flags), tc: -EINVAL for flags, else -EOPNOTSUPP,
// as the kernel answers off tc ingress: xbpf runs tc programs in test runs,
// which the kernel does not run at ingress. (No xbpf program holds a socket
// to pass: the lookups find none, and the verifier refuses skb->sk.) The
// sk_lookup program type's bpf_sk_assign, which selects the socket a lookup
// returns, is not modelled: -EOPNOTSUPP there too.
XBPF_HELPER(sk_assign) {
  (void)r1, (void)r4, (void)r5;
  const RunState* s = state(c);
  if (s && s->prog_type == kabi::ProgType::SkLookup) return uint64_t(-EOPNOTSUPP);
  return !r2 || r3 ? uint64_t(-EINVAL) : uint64_t(-EOPNOTSUPP);
}

// The kernel's cookie is a per-namespace counter value (net->net_cookie),
// stable for the namespace's life. Here every context (and NULL, which asks
// for the initial namespace) belongs to the process's own namespace, whose
// stable identity is the inode number of /proc/self/ns/net (nsfs); 0 only if
// it cannot be read, never a valid cookie in the kernel either.
XBPF_HELPER(get_netns_cookie) {
  UNUSED5;
  static const uint64_t cookie = [] {
    struct stat st{};
    return stat("/proc/self/ns/net", &st) == 0 ? static_cast<uint64_t>(st.st_ino) : uint64_t{0};
  }();
  return cookie;
}

}  // namespace xbpf::helpers::impl
