// Tracing program types on their uapi contexts: a kprobe/uprobe on x86-64
// struct pt_regs, a raw tracepoint (u64 args[]), a perf_event program, and
// helpers that read user memory and the current task.
#include "rt_defs.h"

struct pt_regs {
  unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
struct bpf_perf_event_data {
  struct pt_regs regs;
  __u64 sample_period;
  __u64 addr;
};
struct bpf_raw_tracepoint_args {
  __u64 args[0];
};

static long (*bpf_probe_read_user)(void *dst, __u32 size, const void *src) = (void *)112;
static long (*bpf_probe_read_user_str)(void *dst, __u32 size, const void *src) = (void *)114;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u64 (*bpf_get_attach_cookie)(void *ctx) = (void *)174;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __s64);
} out SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline void put(__u32 k, __s64 v) { bpf_map_update_elem(&out, &k, &v, BPF_ANY); }

// uprobe on `int f(const char *s, long n)`: copies the string, reads n.
SEC("uprobe") int on_call(struct pt_regs *regs) {
  char buf[16];
  put(0, bpf_probe_read_user_str(buf, sizeof(buf), (void *)regs->di));
  put(1, regs->si);
  put(2, buf[0]);
  long word = 0;
  put(3, bpf_probe_read_user(&word, sizeof(word), (void *)0x10));  // unmapped: -EFAULT
  put(4, bpf_get_current_pid_tgid() >> 32);
  char comm[16];
  put(5, bpf_get_current_comm(comm, sizeof(comm)));
  static const char fmt[] = "on_call %s %ld";
  bpf_trace_printk(fmt, sizeof(fmt), buf, regs->si);
  put(6, bpf_get_attach_cookie(regs));
  return 0;
}

SEC("raw_tracepoint/sys_enter") int on_raw(struct bpf_raw_tracepoint_args *ctx) {
  put(7, ctx->args[0] + ctx->args[1]);
  return 1;
}

SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) {
  return ctx->sample_period + ctx->regs.ip;
}

// Reads far past its context: the checked interpreter must stop it.
SEC("raw_tracepoint/sys_exit") int raw_oob(struct bpf_raw_tracepoint_args *ctx) {
  volatile __u32 i = 100;
  return ctx->args[i];
}

// Calls an embedder helper (id 1000, registered by the test).
static long (*embedder_add)(long a, long b) = (void *)1000;
SEC("raw_tracepoint/sys_enter") int uses_embedder(struct bpf_raw_tracepoint_args *ctx) {
  return embedder_add(ctx->args[0], 5);
}
