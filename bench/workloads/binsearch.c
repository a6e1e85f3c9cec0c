/* Binary search: for each of 512 keys taken from the random half, a
 * fixed-depth (9-step) lower-bound search in the sorted table of 512 u32. */
#include "workload.h"

XBPF_WORKLOAD(binsearch) {
  const u8 *table = mem + XBPF_SORTED_OFFSET;
  u64 found = 0, positions = 0;
  for (u32 i = 0; i < XBPF_RANDOM_BYTES / 4; i++) {
    u32 key = LOAD32(mem, i * 4) & 2047;
    u32 lo = 0;
    for (u32 step = XBPF_SORTED_COUNT / 2; step > 0; step >>= 1) {
      if (LOAD32(table, ((lo + step - 1) & (XBPF_SORTED_COUNT - 1)) * 4) < key) lo += step;
    }
    found += LOAD32(table, (lo & (XBPF_SORTED_COUNT - 1)) * 4) == key;
    positions += lo;
  }
  return (found << 32) ^ positions ^ len;
}
