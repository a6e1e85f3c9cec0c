// For the `xbpf prog tracelog` CLI test: one raw tracepoint program that
// prints its first argument with bpf_trace_printk.
#include "rt_defs.h"

static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tracepoint/sys_enter") int say(unsigned long long *args) {
  static const char fmt[] = "say %lld";
  bpf_trace_printk(fmt, sizeof(fmt), args[0]);
  return 0;
}
