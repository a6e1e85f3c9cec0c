// A ring buffer whose value size is written out: no loader changes that, and
// the kernel refuses it (EINVAL).
#include "bpf_defs.h"

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 12);
  __uint(value_size, 8);
} ring SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("socket") int conv(void *ctx) { return 0; }
