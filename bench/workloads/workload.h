/* Common definitions for the xbpf benchmark workloads.
 *
 * Each workload is one C function compiled twice from the same source:
 *  - for BPF (clang -target bpf): placed in section "xbpf/NAME" under the
 *    name NAME, self-contained (no calls, maps or global data), so the raw
 *    section bytes are a complete program: r1 = mem, r2 = len, r0 = checksum;
 *  - natively: named xbpf_native_NAME, the reference the interpreter (and
 *    later the JIT and the kernel) is timed and cross-checked against.
 * Only portable C is allowed here: no BPF helpers, no builtins the BPF
 * backend turns into calls, no signed division (BPF v3 has none).
 *
 * Loops have constant trip counts and every memory index is masked into the
 * buffer, so a verifier can bound them without knowing the input.
 */
#ifndef XBPF_BENCH_WORKLOAD_H
#define XBPF_BENCH_WORKLOAD_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

/* Layout of the input buffer the benchmark passes in r1 (len = XBPF_MEM_SIZE):
 *   [0, 2048)     pseudo-random bytes
 *   [2048, 4096)  512 strictly increasing u32 (a sorted table)
 * All of it is read-only for the workloads. */
#define XBPF_MEM_SIZE 4096u
#define XBPF_RANDOM_BYTES 2048u
#define XBPF_SORTED_OFFSET 2048u
#define XBPF_SORTED_COUNT 512u

#if defined(__bpf__)
#define XBPF_WORKLOAD(name)                                        \
  __attribute__((section("xbpf/" #name), used)) u64 name(u8 *mem, u64 len)
#else
#define XBPF_WORKLOAD(name) u64 xbpf_native_##name(u8 *mem, u64 len)
#endif

#define XBPF_INLINE static inline __attribute__((always_inline))

/* Aligned little-endian loads at a byte offset (offsets are kept aligned). */
#define LOAD8(p, off) (*(const u8 *)((p) + (off)))
#define LOAD16(p, off) (*(const u16 *)((p) + (off)))
#define LOAD32(p, off) (*(const u32 *)((p) + (off)))
#define LOAD64(p, off) (*(const u64 *)((p) + (off)))

#endif
