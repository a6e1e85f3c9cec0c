/* Strided loads: eight passes over the 512 words of the buffer with an odd
 * stride (67 words), summing and hashing what is loaded. */
#include "workload.h"

XBPF_WORKLOAD(stride) {
  u64 sum = 0, h = len;
  for (u32 pass = 0; pass < 8; pass++) {
    for (u32 i = 0; i < XBPF_MEM_SIZE / 8; i++) {
      u32 idx = (i * 67 + pass * 13) & (XBPF_MEM_SIZE / 8 - 1);
      u64 v = LOAD64(mem, idx * 8);
      sum += v;
      h = (h ^ v) * 0x100000001b3ULL;
    }
  }
  return sum ^ h;
}
