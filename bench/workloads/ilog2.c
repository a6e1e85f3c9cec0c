/* Integer log2 by branchy binary search on the bit position, over values of
 * widely varying magnitude (each word shifted right by its own low bits). */
#include "workload.h"

XBPF_INLINE u32 ilog2_u64(u64 x) {
  u32 r = 0;
  if (x >> 32) { x >>= 32; r += 32; }
  if (x >> 16) { x >>= 16; r += 16; }
  if (x >> 8) { x >>= 8; r += 8; }
  if (x >> 4) { x >>= 4; r += 4; }
  if (x >> 2) { x >>= 2; r += 2; }
  if (x >> 1) r += 1;
  return r;
}

XBPF_WORKLOAD(ilog2) {
  u64 sum = 0, mix = len;
  for (u32 i = 0; i < XBPF_MEM_SIZE / 8; i++) {
    u64 w = LOAD64(mem, i * 8);
    u32 l = ilog2_u64((w >> (w & 63)) | 1);
    sum += l;
    mix = (mix << 5 | mix >> 59) ^ l;
  }
  return (sum << 40) ^ mix;
}
