// Legacy maps as samples/bpf declared them: 28-byte struct bpf_map_def in
// SEC("maps"), with a map-in-map naming its inner map by index and a map
// with a NUMA node.
#include "bpf_defs.h"

struct bpf_map_def {
  unsigned int type, key_size, value_size, max_entries, map_flags, inner_map_idx, numa_node;
};

struct bpf_map_def SEC("maps") counts = {BPF_MAP_TYPE_HASH, 4, 8, 128, 0, 0, 0};
struct bpf_map_def SEC("maps") inner = {BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0, 0};
struct bpf_map_def SEC("maps") outer = {BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 8, 0, 1, 0};
struct bpf_map_def SEC("maps") numa = {BPF_MAP_TYPE_HASH, 4, 4, 16, 1u << 2, 0, 3};

char LICENSE[] SEC("license") = "GPL";

SEC("socket1") int lookup(void *ctx) {
  __u32 key = 0;
  long *v = bpf_map_lookup_elem(&counts, &key);
  void *m = bpf_map_lookup_elem(&outer, &key);
  if (!v || !m) return 0;
  return *v + (bpf_map_lookup_elem(&numa, &key) != 0);
}
