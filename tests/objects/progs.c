// Programs: several per section, static programs, .text subprograms (global
// and static) shared by several programs, a callback passed by address, and
// section names that carry an attach type and target.
#include "bpf_defs.h"

char LICENSE[] SEC("license") = "GPL";
__u32 VERSION SEC("version") = 0x060c00;

static __noinline int add(int a, int b) { return a + b; }
__noinline int twice(int x) { return add(x, x); }
static int count_cb(__u32 i, void *ctx) {
  *(long *)ctx += i;
  return 0;
}

SEC("xdp") int xdp_one(void *ctx) { return twice(1); }
SEC("xdp") int xdp_two(void *ctx) { return add(2, 3) + 1; }
SEC("tc") int tc_loop(void *ctx) {
  long sum = 0;
  bpf_loop(4, count_cb, &sum, 0);
  return sum;
}
SEC("kprobe/do_sys_open") static int kprobe_static(void *ctx) { return twice(7); }
SEC("?socket") int not_autoloaded(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_enter_open") int tp(void *ctx) { return 0; }
SEC("uretprobe//bin/bash:readline") int bash_readline(void *ctx) { return 0; }
SEC("fentry/tcp_connect") int fentry_connect(void *ctx) { return 0; }
SEC("cgroup/connect4") int connect4(void *ctx) { return 1; }
