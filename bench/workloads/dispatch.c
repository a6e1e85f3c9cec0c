/* Switch dispatch: a tiny bytecode machine whose opcodes are the random
 * bytes of the buffer (low 3 bits select the operation, the rest is an
 * argument), so the dispatch branch is unpredictable. */
#include "workload.h"

XBPF_WORKLOAD(dispatch) {
  u64 acc = len, x = 0x9e3779b97f4a7c15ULL;
  for (u32 i = 0; i < XBPF_RANDOM_BYTES; i++) {
    u8 op = LOAD8(mem, i);
    u64 arg = op >> 3;
    switch (op & 7) {
      case 0: acc += arg; break;
      case 1: acc ^= x; break;
      case 2: acc = acc * 31 + arg; break;
      case 3: x = (x << 1) | (x >> 63); break;
      case 4: acc -= x; break;
      case 5: x ^= acc >> 7; break;
      case 6: acc = (acc >> 3) | (acc << 61); break;
      default: x += arg * 3; break;
    }
  }
  return acc ^ x;
}
