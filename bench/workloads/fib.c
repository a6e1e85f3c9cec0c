/* Fibonacci recurrence modulo 2^64 from seeds read from the buffer: a long
 * loop of dependent additions. */
#include "workload.h"

XBPF_WORKLOAD(fib) {
  u64 a = LOAD64(mem, 0) | 1, b = LOAD64(mem, 8) ^ len;
  for (u32 i = 0; i < 8192; i++) {
    u64 c = a + b;
    a = b;
    b = c;
  }
  return a ^ (b << 1);
}
