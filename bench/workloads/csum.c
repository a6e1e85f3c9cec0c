/* Checksums: the Internet checksum (RFC 1071, 16-bit ones' complement) and a
 * Fletcher-style running sum over the whole buffer. */
#include "workload.h"

XBPF_WORKLOAD(csum) {
  u64 sum = 0, running = 0;
  for (u32 i = 0; i < XBPF_MEM_SIZE / 2; i++) {
    u16 w = LOAD16(mem, i * 2);
    sum += w;
    running += sum;
  }
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return ((~sum & 0xffff) << 48) ^ running ^ len;
}
