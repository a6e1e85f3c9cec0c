// skb programs for the kernel differential test: a tc classifier that
// counts, marks and rewrites (store_bytes + l3/l4 checksum updates), and a
// socket filter using skb_load_bytes and legacy LD_ABS.
#include "rt_defs.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32);
  __type(key, __u32);
  __type(value, __u64);
} by_proto SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline void bump(__u32 key) {
  __u64 one = 1, *v = bpf_map_lookup_elem(&by_proto, &key);
  if (v) __sync_fetch_and_add(v, 1);
  else bpf_map_update_elem(&by_proto, &key, &one, BPF_NOEXIST);
}

SEC("tc") int tc_rewrite(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return TC_ACT_SHOT;
  skb->cb[0] = skb->len;
  skb->cb[1] = skb->protocol;
  skb->cb[2] = skb->pkt_type;
  skb->cb[3] = skb->ifindex;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return TC_ACT_SHOT;
  __u8 proto = ip->protocol;
  bump(proto);
  skb->mark = 0x1000 + proto;
  skb->priority = 7;
  if (proto == IPPROTO_TCP && ip->ihl == 5) {
    struct tcphdr *tcp = (void *)(ip + 1);
    if ((void *)(tcp + 1) > end) return TC_ACT_SHOT;
    if (tcp->dest == bpf_htons(23)) return TC_ACT_SHOT;
  }
  if (proto == IPPROTO_UDP && ip->ihl == 5) {
    __u32 old = ip->daddr, new_addr = bpf_htonl(0x0a090909);
    const __u32 ip_off = sizeof(struct ethhdr);
    bpf_l4_csum_replace(skb, ip_off + 20 + offsetof(struct udphdr, check), old, new_addr,
                        BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
    bpf_l3_csum_replace(skb, ip_off + offsetof(struct iphdr, check), old, new_addr, 4);
    __u32 from[2] = {old, 0x01020304}, to[1] = {new_addr};
    skb->cb[4] = bpf_csum_diff(from, sizeof(from), to, sizeof(to), 0x1234);
    bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, daddr), &new_addr, 4, 0);
  }
  return TC_ACT_OK;
}

// The flow hash: returns skb->hash as bpf_get_hash_recalc computes it, or
// 1-5 for the first property that fails (nonzero, stable, visible in
// skb->hash, bpf_set_hash kept even as 0, bpf_set_hash_invalid recomputes;
// 6: tc_hash_tagged's push failed).
// The values differ between kernel and xbpf (each keys its hash randomly);
// which packets hash alike must not.
static __always_inline int check_hash(struct __sk_buff *skb) {
  __u32 h = bpf_get_hash_recalc(skb);
  if (h == 0) return 1;
  if (bpf_get_hash_recalc(skb) != h) return 2;
  if (skb->hash != h) return 3;
  bpf_set_hash(skb, 0);
  if (bpf_get_hash_recalc(skb) != 0 || skb->hash != 0) return 4;
  bpf_set_hash_invalid(skb);
  if (bpf_get_hash_recalc(skb) != h) return 5;
  return h;
}

SEC("tc") int tc_hash(struct __sk_buff *skb) { return check_hash(skb); }

// The same with a tag in the skb's metadata (802.1Q, VLAN 5), as a device
// that strips tags leaves it.
SEC("tc") int tc_hash_tagged(struct __sk_buff *skb) {
  if (bpf_skb_vlan_push(skb, bpf_htons(0x8100), 5)) return 6;
  return check_hash(skb);
}

// Socket filter: data starts at the network header. Returns the bytes to
// keep: whole packet for UDP, 0 (drop) otherwise.
SEC("socket") int sock_udp(struct __sk_buff *skb) {
  __u8 proto = 0;
  if (bpf_skb_load_bytes(skb, 9, &proto, 1)) return 0;
  __u32 ver = load_byte(skb, 0) >> 4;
  bump(100 + ver);
  bump(200 + (__u32)load_half(skb, 2));  // IPv4 total length, network order
  __u8 big[64];
  bump(300 + (bpf_skb_load_bytes(skb, 0, big, 64) == 0));
  return proto == IPPROTO_UDP ? skb->len : 0;
}

// cgroup_skb: the same L3 view as a socket filter; 1 = allow, 0 = deny.
SEC("cgroup_skb/ingress") int cg_ingress(struct __sk_buff *skb) {
  __u8 proto = 0;
  bpf_skb_load_bytes(skb, 9, &proto, 1);
  bump(400 + proto);
  return proto != IPPROTO_TCP;
}

// bpf_skb_change_tail: the new length is mark, or (mark 0) 7 bytes more than
// now, so repeated runs grow a packet they share; the flags are priority.
// The last byte is then written, so the zeroed tail and the length show in
// data_out; a first call to length cb[4], when set, shrinks the packet
// before it grows back (the bytes cut must come back as zeroes).
// bpf_skb_pull_data(cb[2]) and bpf_skb_change_type(cb[0]) as well; cb[1..3]
// report their results and the type seen.
SEC("tc") int tc_change_tail(struct __sk_buff *skb) {
  if (skb->cb[4] && bpf_skb_change_tail(skb, skb->cb[4], 0)) return 0xbad1;
  __u32 want = skb->mark ? skb->mark : skb->len + 7;
  long r = bpf_skb_change_tail(skb, want, skb->priority);
  skb->cb[1] = (__u32)bpf_skb_pull_data(skb, skb->cb[2]);
  skb->cb[2] = (__u32)bpf_skb_change_type(skb, skb->cb[0]);
  skb->cb[3] = skb->pkt_type;
  if (r) return (__u32)r;
  __u8 mark = 0xee;
  if (bpf_skb_store_bytes(skb, skb->len - 1, &mark, 1, 0)) return 0xbad;
  return skb->len;
}

// Tunnel metadata. cb[0] = set_tunnel_key flags, cb[1] = its size (0: no
// set), cb[2] = get_tunnel_key flags, cb[3] = its size, cb[4] = options
// size (0: none set); mark = the key's flow label. The key read back and the
// first 64 bytes of the options read back go into the packet at 14 and 78;
// cb[0..3] return the four helpers' results.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u8[260]);
} tun_opts SEC(".maps");

SEC("tc") int tc_tunnel(struct __sk_buff *skb) {
  // Sizes as 1 + (n - 1) % 64 (256 for options): bounds the verifiers can see.
  __u32 zero = 0, set_size = ((skb->cb[1] - 1) & 63) + 1, get_size = ((skb->cb[3] - 1) & 63) + 1;
  __u32 opt_size = ((skb->cb[4] - 1) & 255) + 1;
  __u8 *opts = bpf_map_lookup_elem(&tun_opts, &zero);
  if (!opts) return 0xbad;
  __u32 key[16];
  for (int i = 0; i < 16; i++) key[i] = 0xa0a0a0a0 + i;
  key[0] = 0x11223344;        // tunnel_id
  key[1] = 0x0a000001;        // remote_ipv4 / remote_ipv6[0]
  key[5] = 0x00004010;        // tos 0x10, ttl 0x40, ext 0
  key[6] = skb->mark;         // tunnel_label
  long set = -1000, get, set_opt = -1000, get_opt;
  if (skb->cb[1]) set = bpf_skb_set_tunnel_key(skb, key, set_size, skb->cb[0]);
  for (int i = 0; i < 64; i++) opts[i] = (__u8)(i * 3 + 1);
  if (skb->cb[4]) set_opt = bpf_skb_set_tunnel_opt(skb, opts, opt_size);
  __builtin_memset(key, 0x55, sizeof(key));
  get = bpf_skb_get_tunnel_key(skb, key, get_size, skb->cb[2]);
  __builtin_memset(opts, 0x77, 64);
  get_opt = bpf_skb_get_tunnel_opt(skb, opts, 256);
  if (bpf_skb_store_bytes(skb, 14, key, sizeof(key), 0)) return 0xbad3;
  if (bpf_skb_store_bytes(skb, 78, opts, 64, 0)) return 0xbad4;
  skb->cb[0] = (__u32)set;
  skb->cb[1] = (__u32)get;
  skb->cb[2] = (__u32)set_opt;
  skb->cb[3] = (__u32)get_opt;
  return 0;
}

// bpf_skb_adjust_room twice: len_diff cb[0] then cb[4], mode cb[1], flags
// cb[2] | (u64)cb[3] << 32 (the second call with the same flags). cb[0..2]
// return both results and skb->protocol after them.
SEC("tc") int tc_adjust(struct __sk_buff *skb) {
  __u64 flags = skb->cb[2] | (__u64)skb->cb[3] << 32;
  long a = bpf_skb_adjust_room(skb, (__s32)skb->cb[0], skb->cb[1], flags);
  long b = skb->cb[4] ? bpf_skb_adjust_room(skb, (__s32)skb->cb[4], skb->cb[1], flags) : -1000;
  skb->cb[0] = (__u32)a;
  skb->cb[1] = (__u32)b;
  skb->cb[2] = skb->protocol;
  return skb->len;
}

// bpf_skb_vlan_push/pop: up to four operations, two bits each from cb[0]
// (1: push cb[1], 2: push cb[2], as protocol | TCI << 16; 3: pop). Out: each
// return value's low byte in cb[0], then the tag in the skb's metadata and
// skb->protocol.
SEC("tc") int tc_vlan(struct __sk_buff *skb) {
  __u32 ops = skb->cb[0], a = skb->cb[1], b = skb->cb[2], rets = 0;
#pragma unroll
  for (int k = 0; k < 4; k++) {
    __u32 op = (ops >> (2 * k)) & 3, arg = op == 1 ? a : b;
    long r = 0;
    if (op == 1 || op == 2) r = bpf_skb_vlan_push(skb, (__u16)arg, (__u16)(arg >> 16));
    else if (op == 3) r = bpf_skb_vlan_pop(skb);
    rets |= (__u32)(__u8)r << (8 * k);
  }
  skb->cb[0] = rets;
  skb->cb[1] = skb->vlan_present << 16 | skb->vlan_tci;
  skb->cb[2] = skb->vlan_proto;
  skb->cb[3] = skb->protocol;
  return skb->len;
}

// bpf_skb_change_proto(cb[0], flags cb[1]) after reading the hash; cb[0..2]
// return the result, skb->protocol and skb->hash after it.
SEC("tc") int tc_change_proto(struct __sk_buff *skb) {
  bpf_get_hash_recalc(skb);
  long r = bpf_skb_change_proto(skb, (__u16)skb->cb[0], skb->cb[1]);
  skb->cb[0] = (__u32)r;
  skb->cb[1] = skb->protocol;
  skb->cb[2] = skb->hash != 0;
  return skb->len;
}
