// The "kernel" the CO-RE test relocates against: struct task with another
// layout (fields moved, resized, one missing) and enum state renumbered.
#include "bpf_defs.h"

struct task {
  long long pad;
  unsigned int tgid;
  int pid;
  char comm[32];
  unsigned long long flags;
  long prio : 5;
};

enum state { SLEEPING = 5, RUNNING = 6, ZOMBIE = 9 };

struct task task_instance;
enum state state_instance;
