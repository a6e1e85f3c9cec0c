// samples/bpf's legacy map-in-map: value_size left 0 (its loader creates the
// map with the 4-byte id value), the inner map named by index.
#include "bpf_defs.h"

struct bpf_map_def {
  unsigned int type, key_size, value_size, max_entries, map_flags, inner_map_idx, numa_node;
};

struct bpf_map_def SEC("maps") inner = {BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0, 0};
struct bpf_map_def SEC("maps") outer = {BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 0, 8, 0, 0, 0};

char LICENSE[] SEC("license") = "GPL";

SEC("socket") int conv(void *ctx) {
  __u32 key = 0;
  return bpf_map_lookup_elem(&outer, &key) != 0;
}
