/* Timestamp arithmetic as tracing programs do it: a nanosecond clock split
 * into seconds and nanoseconds, microseconds of the remainder, and a slot in
 * a prime-sized table, for 512 events. Unsigned division and remainder by
 * constants: the corpus's most common division (10^9 in 493 places,
 * 32767 in 2,580, 2039 in 30; a variable divisor in 32). */
#include "workload.h"

XBPF_WORKLOAD(timeconv) {
  u64 acc = len;
  for (u32 i = 0; i < XBPF_MEM_SIZE / 8; i++) {
    u64 ts = LOAD64(mem, i * 8);
    u64 sec = ts / 1000000000, ns = ts % 1000000000;
    u32 us = (u32)ns / 1000;
    u32 slot = ((u32)ts ^ (u32)sec) % 2039;
    acc += sec ^ ((u64)us << 20) ^ ((u64)slot << 40);
  }
  return acc;
}
