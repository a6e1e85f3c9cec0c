// BTF-defined maps: key/value by type and by size, flags, pinning, NUMA node,
// ring buffer size rounding, map-in-map and prog-array initialisers.
#include "bpf_defs.h"

struct value { __u64 packets; __u64 bytes; };

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, struct value);
  __uint(max_entries, 1024);
  __uint(map_flags, 1);
  __uint(pinning, 1);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(key_size, 4);
  __uint(value_size, 16);
  __uint(max_entries, 4);
  __uint(numa_node, 1);
} sized SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 5000);
} events SEC(".maps");

struct inner_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 4);
  __type(key, __u32);
  __array(values, struct inner_map);
} outer SEC(".maps") = {.values = {[0] = &inner_a, [2] = &inner_b}};

int tail_a(void *ctx);
int tail_b(void *ctx);
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __array(values, int(void *));
} jumps SEC(".maps") = {.values = {[1] = (void *)&tail_a, [2] = (void *)&tail_b}};

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp") int tail_a(void *ctx) { return 1; }
SEC("xdp") int tail_b(void *ctx) { return 2; }
SEC("xdp") int entry(void *ctx) {
  __u32 key = 0;
  struct value *v = bpf_map_lookup_elem(&stats, &key);
  void *inner = bpf_map_lookup_elem(&outer, &key);
  if (v && inner && bpf_map_lookup_elem(&sized, &key)) v->packets++;
  bpf_tail_call(ctx, &jumps, 1);
  return (long)&events != 0;
}
