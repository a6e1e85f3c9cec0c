// Routing and head-room helpers for the kernel differential test: each
// program takes its arguments from __sk_buff.cb (tc) or from the packet's
// first bytes past the Ethernet header (XDP), so one program covers a table
// of cases.
#include "rt_defs.h"

char LICENSE[] SEC("license") = "GPL";

// struct bpf_fib_lookup (uapi), 64 bytes, with room after it for plen > 64.
struct fib_params {
  __u8 family, l4_protocol;
  __u16 sport, dport, tot_len;
  __u32 ifindex, tos;
  __u32 src[4], dst[4];
  __u32 tbid, smac_mark, dmac;
  __u8 past[64];
};

// The IPv6 addresses a case picks: global, link-local, multicast, loopback, unspecified.
static __always_inline void ipv6_pick(__u32 *a, __u32 which) {
  a[0] = a[1] = a[2] = a[3] = 0;
  if (which == 0) a[0] = bpf_htonl(0x20010db8), a[3] = bpf_htonl(1);
  else if (which == 1) a[0] = bpf_htonl(0xfe800000), a[3] = bpf_htonl(1);
  else if (which == 2) a[0] = bpf_htonl(0xff020000), a[3] = bpf_htonl(1);
  else if (which == 3) a[3] = bpf_htonl(1);
}

// bpf_fib_lookup with family cb[0], ifindex cb[1], flags cb[2], plen 1 + cb[3]
// (at most 128), IPv6 destination / source picks cb[4]'s low / second byte; the result
// in cb[0] and the first params word back in cb[1] (nothing is written on
// these paths).
SEC("tc") int tc_fib(struct __sk_buff *skb) {
  struct fib_params p = {};
  p.family = (__u8)skb->cb[0];
  p.ifindex = skb->cb[1];
  p.dst[0] = bpf_htonl(0x0a000002);  // IPv4 10.0.0.2 (the first word of the union)
  p.src[0] = bpf_htonl(0x0a000001);
  if (p.family == 10) {
    ipv6_pick(p.dst, skb->cb[4] & 0xff);
    ipv6_pick(p.src, (skb->cb[4] >> 8) & 0xff);
  }
  long r = bpf_fib_lookup(skb, &p, 1 + (skb->cb[3] & 127), skb->cb[2]);
  skb->cb[0] = (__u32)r;
  skb->cb[1] = p.ifindex;
  return (int)r;
}

// The same from XDP: the arguments are the six bytes after the Ethernet
// header: family, ifindex, flags, plen - 1, IPv6 destination and source picks.
SEC("xdp") int xdp_fib(struct xdp_md *ctx) {
  __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 20 > end) return -1;
  struct fib_params p = {};
  p.family = data[14];
  p.ifindex = data[15];
  p.dst[0] = bpf_htonl(0x0a000002);
  if (p.family == 10) {
    ipv6_pick(p.dst, data[18]);
    ipv6_pick(p.src, data[19]);
  }
  return (int)bpf_fib_lookup(ctx, &p, 1 + (data[17] & 127), data[16]);
}

// bpf_redirect_peer(cb[1], flags cb[2]) when cb[0] is 0, else
// bpf_redirect_neigh(cb[1], params or NULL, plen cb[3] (at most 31), flags cb[2]):
// cb[0] == 1 passes NULL, 2 an IPv4 next hop, 3 an IPv6 one.
SEC("tc") int tc_redirect(struct __sk_buff *skb) {
  struct {
    __u32 nh_family;
    __u32 addr[4];
    __u32 past[3];
  } nh = {};
  const __u32 kind = skb->cb[0];
  if (kind == 0) return (int)bpf_redirect_peer(skb->cb[1], skb->cb[2]);
  if (kind == 1) return (int)bpf_redirect_neigh(skb->cb[1], 0, 0, skb->cb[2]);
  nh.nh_family = kind == 2 ? 2 : 10;
  nh.addr[0] = bpf_htonl(0x0a000002);
  return (int)bpf_redirect_neigh(skb->cb[1], &nh, skb->cb[3] & 31, skb->cb[2]);
}

// bpf_skb_change_head(cb[0], flags cb[1]), then bpf_skb_change_tail to
// cb[2] when it is nonzero (its minimum follows the network header) and
// bpf_skb_adjust_room (MAC mode, +8) when cb[3] is nonzero (its offset
// follows the MAC header): results in cb[0..2], the length returned.
SEC("tc") int tc_change_head(struct __sk_buff *skb) {
  long a = bpf_skb_change_head(skb, skb->cb[0], skb->cb[1]);
  long b = skb->cb[2] ? bpf_skb_change_tail(skb, skb->cb[2], 0) : -1000;
  long c = skb->cb[3] ? bpf_skb_adjust_room(skb, 8, 1, 0) : -1000;
  skb->cb[0] = (__u32)a;
  skb->cb[1] = (__u32)b;
  skb->cb[2] = (__u32)c;
  return skb->len;
}
