// Ring buffer output of packet summaries (reserve/submit and output), plus
// bpf_loop, bpf_strtol, bpf_strncmp and bpf_snprintf results in a map.
#include "rt_defs.h"

struct summary {
  __u32 len;
  __u16 proto;
  __u8 first[6];
  __u64 loop_sum;
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __s64);
} results SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

struct loop_ctx {
  __u64 sum;
  __u32 limit;
};

static long add_index(__u32 i, struct loop_ctx *c) {
  c->sum += i;
  return i + 1 >= c->limit ? 1 : 0;
}

static __always_inline void put(__u32 k, __s64 v) { bpf_map_update_elem(&results, &k, &v, BPF_ANY); }

SEC("xdp") int rb_summary(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_ABORTED;
  struct loop_ctx lc = {0, (__u32)(end - data) % 13 + 3};
  long iters = bpf_loop(100, add_index, &lc, 0);
  put(0, iters);
  put(1, lc.sum);
  char num[8] = " -42x";
  long v = 0;
  put(2, bpf_strtol(num, sizeof(num), 0, &v));
  put(3, v);
  put(4, bpf_strncmp(num, 4, " -41"));
  char out[32];
  __u64 args[2] = {lc.sum, 0xbeef};
  static const char fmt[] = "sum=%llu %x";
  put(5, bpf_snprintf(out, sizeof(out), fmt, args, sizeof(args)));
  struct summary *s = bpf_ringbuf_reserve(&events, sizeof(*s), 0);
  if (!s) return XDP_DROP;
  s->len = end - data;
  s->proto = eth->h_proto;
  __builtin_memcpy(s->first, eth->h_dest, 6);
  s->loop_sum = lc.sum;
  bpf_ringbuf_submit(s, 0);
  __u64 tail = 0xfeedface00000000ULL | (end - data);
  put(6, bpf_ringbuf_output(&events, &tail, sizeof(tail), 0));
  return XDP_PASS;
}
