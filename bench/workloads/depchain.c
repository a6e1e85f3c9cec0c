/* Dependency chain: a serial chain of 64-bit multiply, xor-shift and add
 * (an LCG with output mixing); every operation waits for the previous one. */
#include "workload.h"

XBPF_WORKLOAD(depchain) {
  u64 x = LOAD64(mem, 0) ^ len;
  for (u32 i = 0; i < 4096; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    x ^= x >> 29;
    x += x << 7;
  }
  return x;
}
