// Sends one event per packet through a ring buffer and logs with bpf_trace_printk.
#include "example_bpf.h"

struct event {
  __u32 len;
  __u32 ifindex;
};

struct {
  __uint(type, 27);  // BPF_MAP_TYPE_RINGBUF
  __uint(max_entries, 4096);
} events SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int report(struct xdp_md *ctx) {
  __u32 len = ctx->data_end - ctx->data;
  struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (e) {
    e->len = len;
    e->ifindex = ctx->ingress_ifindex;
    bpf_ringbuf_submit(e, 0);
  }
  static const char fmt[] = "packet of %u bytes\n";
  bpf_trace_printk(fmt, sizeof(fmt), len);
  return 2;  // XDP_PASS
}
