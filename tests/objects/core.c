// CO-RE relocations of every kind against a local view of a "kernel" type;
// core_target.c provides the target layout.
#include "bpf_defs.h"

struct task {
  int pid;
  int tgid;
  char comm[16];
  unsigned long long flags;
  int prio : 3;
  unsigned int gone;
} __attribute__((preserve_access_index));

struct missing_type { int x; } __attribute__((preserve_access_index));

enum state { RUNNING = 0, SLEEPING = 1, ZOMBIE = 2 };

char LICENSE[] SEC("license") = "GPL";

SEC("kprobe/wake_up") int core_relos(struct task *t) {
  long r = 0;
  r += t->tgid;                                              // field byte offset
  r += __builtin_preserve_field_info(t->comm, 1);            // byte size
  r += __builtin_preserve_field_info(t->flags, 2);           // exists
  r += __builtin_preserve_field_info(t->pid, 3);             // signed
  r += __builtin_preserve_field_info(t->prio, 4);            // lshift
  r += __builtin_preserve_field_info(t->prio, 5);            // rshift
  r += __builtin_preserve_field_info(t->gone, 2);            // exists (not in target)
  r += __builtin_btf_type_id(*t, 0);                         // local type id
  r += __builtin_btf_type_id(*t, 1);                         // target type id
  r += __builtin_preserve_type_info(*t, 0);                  // type exists
  r += __builtin_preserve_type_info(*t, 1);                  // type size
  r += __builtin_preserve_type_info(*(struct missing_type *)0, 0);  // type exists (missing)
  r += __builtin_preserve_enum_value(*(enum state *)SLEEPING, 0);   // enumerator exists
  r += __builtin_preserve_enum_value(*(enum state *)ZOMBIE, 1);     // enumerator value
  if (r == 12345) r += t->gone;                              // byte offset of a missing field
  return r;
}
