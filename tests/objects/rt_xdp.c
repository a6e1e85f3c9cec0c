// XDP packet parsing for the kernel differential test: Ethernet/IPv4/TCP/UDP
// to a verdict, per-verdict counters (array) and per-source stats (hash),
// an echo responder that rewrites the packet, and head/tail adjustments.
#include "rt_defs.h"

struct flow_stats {
  __u64 packets, bytes;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __u64);
} verdicts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, struct flow_stats);
} by_src SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __s64);
} adjust_results SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline int count(__u32 verdict) {
  __u64 *c = bpf_map_lookup_elem(&verdicts, &verdict);
  if (c) __sync_fetch_and_add(c, 1);
  return verdict;
}

static __always_inline void swap_mac(struct ethhdr *eth) {
  __u8 tmp[6];
  __builtin_memcpy(tmp, eth->h_dest, 6);
  __builtin_memcpy(eth->h_dest, eth->h_source, 6);
  __builtin_memcpy(eth->h_source, tmp, 6);
}

SEC("xdp") int xdp_parse(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return count(XDP_ABORTED);
  if (eth->h_proto != bpf_htons(ETH_P_IP)) return count(XDP_PASS);
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return count(XDP_DROP);
  __u32 src = ip->saddr;
  struct flow_stats *st = bpf_map_lookup_elem(&by_src, &src);
  if (st) {
    st->packets++;
    st->bytes += end - data;
  } else {
    struct flow_stats fresh = {1, end - data};
    bpf_map_update_elem(&by_src, &src, &fresh, BPF_NOEXIST);
  }
  __u32 ihl = ip->ihl * 4;
  if (ihl < 20) return count(XDP_DROP);
  if (ip->protocol == IPPROTO_TCP) {
    struct tcphdr *tcp = (void *)ip + ihl;
    if ((void *)(tcp + 1) > end) return count(XDP_DROP);
    if (tcp->dest == bpf_htons(23)) return count(XDP_DROP);
  } else if (ip->protocol == IPPROTO_UDP) {
    struct udphdr *udp = (void *)ip + ihl;
    if ((void *)(udp + 1) > end) return count(XDP_DROP);
    if (udp->dest == bpf_htons(7)) {  // echo: answer to the sender
      swap_mac(eth);
      __u32 a = ip->saddr;
      ip->saddr = ip->daddr;
      ip->daddr = a;
      __u16 p = udp->source;
      udp->source = udp->dest;
      udp->dest = p;
      return count(XDP_TX);
    }
  }
  return count(XDP_PASS);
}

static __always_inline void record(__u32 slot, __s64 v) {
  bpf_map_update_elem(&adjust_results, &slot, &v, BPF_ANY);
}

// Head/tail/meta adjustments, including ones the kernel refuses; the results
// are recorded so the test compares error codes too.
SEC("xdp") int xdp_adjust(struct xdp_md *ctx) {
  record(0, bpf_xdp_adjust_head(ctx, -1000));
  long r = bpf_xdp_adjust_head(ctx, -216);
  record(1, r);
  if (r == 0) record(2, bpf_xdp_adjust_head(ctx, 216));
  r = bpf_xdp_adjust_head(ctx, -217);
  record(3, r);
  if (r == 0) bpf_xdp_adjust_head(ctx, 217);
  record(4, bpf_xdp_adjust_meta(ctx, -8));
  record(5, bpf_xdp_adjust_meta(ctx, -6));
  if (bpf_xdp_adjust_head(ctx, -8)) return XDP_ABORTED;
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 8 + 14 > end) return XDP_ABORTED;
  __builtin_memcpy(data, "XBPFENC!", 8);
  __u32 *meta = (void *)(long)ctx->data_meta;
  if ((void *)(meta + 2) <= data) meta[0] = 0xabcd1234;
  record(6, bpf_xdp_adjust_tail(ctx, -4));
  record(7, bpf_xdp_adjust_tail(ctx, 100000));
  return XDP_TX;
}
