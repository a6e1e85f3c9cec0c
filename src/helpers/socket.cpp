// Socket helpers. A user-space program has no kernel sockets to look up and
// lives in one network namespace: the lookups find nothing, and every netns
// cookie is that namespace's.
#include <sys/stat.h>

#include "helpers/impl.hpp"

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
