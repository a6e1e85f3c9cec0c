// For the `xbpf verify` CLI test: one program the verifier accepts and one it
// must reject (a map value used without a NULL check).
#include "rt_defs.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int checked_lookup(struct xdp_md *ctx) {
  __u32 key = 0;
  __u64 *v = bpf_map_lookup_elem(&counts, &key);
  if (v) *v += 1;
  return XDP_PASS;
}

SEC("xdp") int unchecked_lookup(struct xdp_md *ctx) {
  __u32 key = 0;
  __u64 *v = bpf_map_lookup_elem(&counts, &key);
  *v += 1; /* no NULL check */
  return XDP_PASS;
}
