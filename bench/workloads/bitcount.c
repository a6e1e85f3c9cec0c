/* Bit counting: SWAR population count of every 64-bit word of the buffer,
 * with a position-weighted sum so word order matters. */
#include "workload.h"

XBPF_INLINE u64 popcount64(u64 x) {
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return (x * 0x0101010101010101ULL) >> 56;
}

XBPF_WORKLOAD(bitcount) {
  u64 total = 0, weighted = 0;
  for (u32 i = 0; i < XBPF_MEM_SIZE / 8; i++) {
    u64 c = popcount64(LOAD64(mem, i * 8));
    total += c;
    weighted += c * (i + 1);
  }
  return (total << 32) ^ weighted ^ len;
}
