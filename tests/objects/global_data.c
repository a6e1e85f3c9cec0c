// Global data: .data, .rodata, .bss, custom .data.* / .rodata.* sections and
// .kconfig externs, reached through `lddw map_value` relocations.
#include "bpf_defs.h"

int counter = 5;
static int hidden_a = 1;  // static: relocated against the .data section symbol, offset in imm
static volatile int hidden_b = 2;
const volatile int limit = 42;
long zeros[4];
char tag[8] SEC(".data.tags") = "xbpf";
const int table[3] SEC(".rodata.table") = {7, 9, 11};
extern unsigned int CONFIG_HZ __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig __weak;

char LICENSE[] SEC("license") = "GPL";

SEC("socket") int use_globals(void *ctx) {
  counter++;
  hidden_b += hidden_a;
  zeros[2] = limit + table[2] + tag[1];
  return CONFIG_HZ + CONFIG_BPF_SYSCALL;
}
