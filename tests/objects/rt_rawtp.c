// A raw tracepoint program for the kernel differential test (BPF_PROG_TEST_RUN
// of raw_tp takes the u64 args as ctx_in, nothing else).
#include "rt_defs.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} sums SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/sys_enter") int raw_sum(__u64 *args) {
  __u32 k = args[1] & 3;
  __u64 *v = bpf_map_lookup_elem(&sums, &k);
  if (v) *v += args[0] ^ args[2];
  return (int)(args[0] * 2 + args[2]);
}
