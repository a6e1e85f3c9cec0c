/* Division chain: 64- and 32-bit unsigned division and remainder, each
 * dividend depending on the previous quotient, divisors from the buffer. */
#include "workload.h"

XBPF_WORKLOAD(divchain) {
  u64 x = LOAD64(mem, 0) | 1, acc = len;
  for (u32 i = 0; i < 1024; i++) {
    u64 d = LOAD32(mem, (i & 511) * 4) | 1;
    u64 q = x / d, r = x % d;
    u32 y = (u32)(x >> 7) / ((u32)(d >> 3) | 1);
    acc += q ^ r ^ y;
    x = ((x ^ (acc << 17)) + r * 0x9e3779b97f4a7c15ULL) | 1;
  }
  return acc ^ x;
}
