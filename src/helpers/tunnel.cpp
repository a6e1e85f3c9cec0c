// Tunnel metadata helpers for skb programs (net/core/filter.c): the key and
// options bpf_skb_set_tunnel_key/_opt attach to an skb, read back by
// bpf_skb_get_tunnel_key/_opt. xbpf keeps them in the run's TunnelInfo; no
// packet is encapsulated (as in the kernel, a tunnel device would do that).
#include <linux/bpf.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "helpers/helpers.hpp"
#include "helpers/impl.hpp"

namespace xbpf::helpers::impl {

namespace {

// IP_TUNNEL_*_BIT (include/net/ip_tunnels.h).
constexpr uint32_t kCsum = 1u << 0, kKey = 1u << 2, kSeq = 1u << 3, kDontFragment = 1u << 8,
                   kNoCache = 1u << 13;
// ip_tunnel_set_options_present: GENEVE, VXLAN, ERSPAN and GTP options.
constexpr uint32_t kOptionsPresent = 1u << 11 | 1u << 12 | 1u << 14 | 1u << 15;
constexpr uint32_t kFlowLabelMask = 0xfffff;
// bpf_skb_set_tunnel_key's flag without a tunnel key (Linux 6.3; the uapi
// header here predates it).
constexpr uint64_t kNoTunnelKey = 1ULL << 4;

TunnelInfo* tunnel(vm::ExecContext* c) {
  PacketState* p = skb_packet(c);
  return p ? p->tunnel : nullptr;
}

// The older, shorter struct bpf_tunnel_key layouts both helpers accept.
bool compat_size(uint64_t size) {
  return size == offsetof(bpf_tunnel_key, local_ipv6[0]) || size == offsetof(bpf_tunnel_key, tunnel_label) ||
         size == offsetof(bpf_tunnel_key, tunnel_ext) || size == offsetof(bpf_tunnel_key, remote_ipv6[1]);
}

uint16_t be16(uint32_t v) { return uint16_t((v & 0xff) << 8 | (v >> 8 & 0xff)); }

}  // namespace

// bpf_skb_get_tunnel_key(skb, key, size, flags): the skb's tunnel key. As in
// the kernel, a key read back has the addresses swapped: the remote address
// is the key's source, which bpf_skb_set_tunnel_key took from the local one.
XBPF_HELPER(skb_get_tunnel_key) {
  (void)r1, (void)r5;
  if (!vm::helper_access_ok(*c, r2, r3, true)) return uint64_t(-EFAULT);
  auto* out = reinterpret_cast<uint8_t*>(r2);
  const TunnelInfo* t = tunnel(c);
  long err = 0;
  if (!t || !t->present || (r4 & ~(uint64_t{BPF_F_TUNINFO_IPV6} | uint64_t{BPF_F_TUNINFO_FLAGS}))) {
    err = -EINVAL;
  } else if (t->ipv6 != ((r4 & BPF_F_TUNINFO_IPV6) != 0)) {
    err = -EPROTO;
  } else if (r3 != sizeof(bpf_tunnel_key) &&
             !(compat_size(r3) && (r3 != offsetof(bpf_tunnel_key, remote_ipv6[1]) || !t->ipv6))) {
    err = -EINVAL;
  }
  if (err) {
    std::memset(out, 0, r3);
    return uint64_t(err);
  }
  bpf_tunnel_key k{};
  k.tunnel_id = uint32_t(t->id);
  k.tunnel_tos = t->tos;
  k.tunnel_ttl = t->ttl;
  if (r4 & BPF_F_TUNINFO_FLAGS) k.tunnel_flags = be16(t->flags & 0xffff);
  if (t->ipv6) {
    std::memcpy(k.remote_ipv6, t->src, 16);
    std::memcpy(k.local_ipv6, t->dst, 16);
    k.tunnel_label = t->label;
  } else {
    uint32_t src, dst;
    std::memcpy(&src, t->src, 4);
    std::memcpy(&dst, t->dst, 4);
    k.remote_ipv4 = __builtin_bswap32(src);
    k.local_ipv4 = __builtin_bswap32(dst);
  }
  std::memcpy(out, &k, r3);
  return 0;
}

// bpf_skb_set_tunnel_key(skb, key, size, flags): attaches fresh tunnel
// metadata for transmission (IP_TUNNEL_INFO_TX), replacing any before: the
// remote address is its destination, the local one its source.
XBPF_HELPER(skb_set_tunnel_key) {
  (void)r1, (void)r5;
  constexpr uint64_t kFlags =
      uint64_t{BPF_F_TUNINFO_IPV6} | BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT | BPF_F_SEQ_NUMBER | kNoTunnelKey;
  if (!vm::helper_access_ok(*c, r2, r3, false)) return uint64_t(-EFAULT);
  TunnelInfo* t = tunnel(c);
  if (!t) return uint64_t(-EOPNOTSUPP);
  if ((r4 & ~kFlags) || (r3 != sizeof(bpf_tunnel_key) && !compat_size(r3))) return uint64_t(-EINVAL);
  bpf_tunnel_key k{};
  std::memcpy(&k, reinterpret_cast<const void*>(r2), r3);
  const bool v6 = r4 & BPF_F_TUNINFO_IPV6;
  if ((!v6 && k.tunnel_label) || k.tunnel_ext) return uint64_t(-EINVAL);
  *t = TunnelInfo{};
  t->present = true;
  t->ipv6 = v6;
  t->flags = kNoCache | (r4 & BPF_F_DONT_FRAGMENT ? kDontFragment : 0) | (r4 & BPF_F_ZERO_CSUM_TX ? 0 : kCsum) |
             (r4 & BPF_F_SEQ_NUMBER ? kSeq : 0) | (r4 & kNoTunnelKey ? 0 : kKey);
  t->id = k.tunnel_id;
  t->tos = k.tunnel_tos;
  t->ttl = k.tunnel_ttl;
  if (v6) {
    std::memcpy(t->dst, k.remote_ipv6, 16);
    std::memcpy(t->src, k.local_ipv6, 16);
    t->label = k.tunnel_label & kFlowLabelMask;
  } else {
    const uint32_t dst = __builtin_bswap32(k.remote_ipv4), src = __builtin_bswap32(k.local_ipv4);
    std::memcpy(t->dst, &dst, 4);
    std::memcpy(t->src, &src, 4);
  }
  return 0;
}

// bpf_skb_get_tunnel_opt(skb, opt, size): copies the options set by
// bpf_skb_set_tunnel_opt, zero-padded; returns their length.
XBPF_HELPER(skb_get_tunnel_opt) {
  (void)r1, (void)r4, (void)r5;
  if (!vm::helper_access_ok(*c, r2, r3, true)) return uint64_t(-EFAULT);
  auto* out = reinterpret_cast<uint8_t*>(r2);
  const TunnelInfo* t = tunnel(c);
  long err = 0;
  if (!t || !t->present || !(t->flags & kOptionsPresent)) err = -ENOENT;
  else if (r3 < t->opts_len) err = -ENOMEM;
  if (err) {
    std::memset(out, 0, r3);
    return uint64_t(err);
  }
  std::memcpy(out, t->opts, t->opts_len);
  std::memset(out + t->opts_len, 0, r3 - t->opts_len);
  return t->opts_len;
}

// bpf_skb_set_tunnel_opt(skb, opt, size): options for the tunnel key this
// program set (a whole number of 32-bit words, at most 252 bytes).
XBPF_HELPER(skb_set_tunnel_opt) {
  (void)r1, (void)r4, (void)r5;
  if (!vm::helper_access_ok(*c, r2, r3, false)) return uint64_t(-EFAULT);
  TunnelInfo* t = tunnel(c);
  if (!t || !t->present || (r3 & 3)) return uint64_t(-EINVAL);
  if (r3 > TunnelInfo::kOptsMax) return uint64_t(-ENOMEM);
  t->opts_len = uint32_t(r3);
  if (r3) {
    std::memcpy(t->opts, reinterpret_cast<const void*>(r2), r3);
    t->flags |= kOptionsPresent;
  }
  return 0;
}

}  // namespace xbpf::helpers::impl
