/* Nested loops: a 16x16 by 16x16 byte matrix product (three nested loops),
 * folding each dot product into a running hash. */
#include "workload.h"

XBPF_WORKLOAD(nested) {
  u64 h = len;
  for (u32 i = 0; i < 16; i++) {
    for (u32 j = 0; j < 16; j++) {
      u32 dot = 0;
      for (u32 k = 0; k < 16; k++)
        dot += (u32)LOAD8(mem, i * 16 + k) * LOAD8(mem, 256 + k * 16 + j);
      h = h * 3 + dot;
    }
  }
  return h;
}
