// Tail calls through a prog array initialised in the object, with global
// data: .data (initialised), .bss (zero), .rodata (constant configuration).
#include "rt_defs.h"

int tail_tcp(struct xdp_md *ctx);
int tail_udp(struct xdp_md *ctx);
int tail_deep(struct xdp_md *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __array(values, int(void *));
} jumps SEC(".maps") = {.values = {[0] = (void *)&tail_tcp, [1] = (void *)&tail_udp, [2] = (void *)&tail_deep}};

const volatile __u32 drop_port = 23;   // .rodata
__u64 seen_tcp = 0;                    // .bss
__u64 seen_udp = 0;
__u64 depth = 0;
__u64 tag = 0x1122334455667788ULL;     // .data
char name_buf[16] = "xbpf";            // .data

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int tail_tcp(struct xdp_md *ctx) {
  seen_tcp++;
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct tcphdr *tcp = data + 14 + 20;
  if ((void *)(tcp + 1) > end) return XDP_ABORTED;
  return tcp->dest == bpf_htons(drop_port) ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int tail_udp(struct xdp_md *ctx) {
  seen_udp++;
  tag ^= 0xff;
  name_buf[0] = 'X';
  return XDP_TX;
}

// Tail-calls itself until the kernel's limit stops it.
SEC("xdp") int tail_deep(struct xdp_md *ctx) {
  depth++;
  bpf_tail_call(ctx, &jumps, 2);
  return XDP_PASS;
}

SEC("xdp") int tail_entry(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_ABORTED;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) {
    bpf_tail_call(ctx, &jumps, 2);
    return XDP_ABORTED;
  }
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end) return XDP_ABORTED;
  if (ip->protocol == IPPROTO_TCP) bpf_tail_call(ctx, &jumps, 0);
  if (ip->protocol == IPPROTO_UDP) bpf_tail_call(ctx, &jumps, 1);
  bpf_tail_call(ctx, &jumps, 3);  // empty slot: falls through
  return XDP_DROP;
}

// r3 with bits above the low 32: the kernel tail-calls slot (u32)r3, here 1.
static long (*bpf_tail_call_u64)(void *ctx, void *prog_array_map, __u64 index) = (void *)12;

SEC("xdp") int tail_wide(struct xdp_md *ctx) {
  bpf_tail_call_u64(ctx, &jumps, (1ULL << 32) | 1);
  return XDP_ABORTED;
}
