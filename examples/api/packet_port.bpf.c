// A port filter for packet_port: drops UDP to the discard port (9), passes
// everything else, and counts verdicts.
#include "example_bpf.h"

struct {
  __uint(type, 2);  // BPF_MAP_TYPE_ARRAY
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} verdicts SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int drop_discard(struct xdp_md *ctx) {
  __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  __u32 verdict = 2;  // XDP_PASS
  // IPv4 without options, UDP, destination port 9.
  if (data + 14 + 20 + 8 <= end && data[12] == 0x08 && data[13] == 0 && data[14] == 0x45 && data[23] == 17 &&
      data[36] == 0 && data[37] == 9)
    verdict = 1;  // XDP_DROP
  __u64 *c = bpf_map_lookup_elem(&verdicts, &verdict);
  if (c) __sync_fetch_and_add(c, 1);
  return verdict;
}
