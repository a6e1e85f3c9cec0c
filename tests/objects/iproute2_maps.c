// iproute2's struct bpf_elf_map (36 bytes) with ids, pinning and a map-in-map
// whose inner map is named by id, a classifier and a tail-call section "1/0"
// ("prog array id 1, slot 0"), and a map in its own SEC("maps/NAME").
#include "bpf_defs.h"

struct bpf_elf_map {
  __u32 type, size_key, size_value, max_elem, flags, id, pinning, inner_id, inner_idx;
};
#define PIN_GLOBAL_NS 2

struct bpf_elf_map SEC("maps") jmp = {BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0, 1, PIN_GLOBAL_NS, 0, 0};
struct bpf_elf_map SEC("maps") inner = {BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 7, 0, 0, 2};
struct bpf_elf_map SEC("maps") outer = {BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 4, 0, 0, PIN_GLOBAL_NS, 7, 0};
struct bpf_elf_map SEC("maps/config") config = {BPF_MAP_TYPE_ARRAY, 4, 8, 2, 0, 0, 0, 0, 0};

char LICENSE[] SEC("license") = "GPL";

SEC("classifier") int cls(void *ctx) {
  __u32 key = 0;
  if (bpf_map_lookup_elem(&outer, &key) && bpf_map_lookup_elem(&config, &key)) bpf_tail_call(ctx, &jmp, 0);
  return 0;
}
SEC("1/0") int slot0(void *ctx) { return 2; }
