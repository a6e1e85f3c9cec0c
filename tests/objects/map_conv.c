// Map declarations the kernel would refuse as written, which loaders fix
// before creating the maps (runtime_object_test.LoaderConventions): a ring
// buffer and a perf event array that name value types for code generators,
// as Cilium's examples do.
#include "bpf_defs.h"

struct event {
  __u32 pid;
  __u8 comm[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 12);
  __type(value, struct event);
} ring SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __type(value, struct event);
} perf SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("socket") int conv(void *ctx) { return 0; }
