// Counts packets by EtherType class and passes IPv4, drops everything else.
#include "example_bpf.h"

struct {
  __uint(type, 2);  // BPF_MAP_TYPE_ARRAY
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int count_ipv4(struct xdp_md *ctx) {
  __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 14 > end) return 0;  // XDP_ABORTED
  __u32 key = data[12] == 0x08 && data[13] == 0x00 ? 0 : 1;
  __u64 *c = bpf_map_lookup_elem(&counts, &key);
  if (c) __sync_fetch_and_add(c, 1);
  return key == 0 ? 2 /* XDP_PASS */ : 1 /* XDP_DROP */;
}
