// Map operations from a running program, for bench/prog_map_bench.cpp: each
// program performs kOps map helper calls in a loop and returns a checksum.
typedef unsigned int __u32;
typedef unsigned long long __u64;
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

#define kOps 256

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
#define BPF_RB_NO_WAKEUP 1

struct {
  __uint(type, 2);  // BPF_MAP_TYPE_ARRAY
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u64);
} arr SEC(".maps");

struct {
  __uint(type, 1);  // BPF_MAP_TYPE_HASH
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64);
} hash SEC(".maps");

// Large enough for one test-run call (kRepeat runs of kOps 16-byte records);
// the benchmark drains it between calls, outside the timed region.
struct {
  __uint(type, 27);  // BPF_MAP_TYPE_RINGBUF
  __uint(max_entries, 1 << 21);
} rb SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int array_lookup(void *ctx) {
  __u64 sum = 0;
  for (__u32 i = 0; i < kOps; i++) {
    __u32 key = i & 63;
    __u64 *v = bpf_map_lookup_elem(&arr, &key);
    if (v) sum += ++*v;
  }
  return sum & 1 ? 2 : 2;  // XDP_PASS either way; the work is the point
}

// The same loop without the helper call: its cost is the loop overhead that
// every ns_per_op above includes (docs/benchmarks.md subtracts it).
SEC("xdp") int loop_only(void *ctx) {
  __u64 sum = 0;
  for (__u32 i = 0; i < kOps; i++) {
    volatile __u32 key = i & 63;
    sum += key;
  }
  return sum & 1 ? 2 : 2;
}

SEC("xdp") int hash_lookup(void *ctx) {
  __u64 sum = 0;
  for (__u32 i = 0; i < kOps; i++) {
    __u32 key = i & 63;  // user space fills keys 0..63
    __u64 *v = bpf_map_lookup_elem(&hash, &key);
    if (v) sum += *v;
  }
  return sum == 0 ? 1 : 2;
}

SEC("xdp") int hash_update(void *ctx) {
  for (__u32 i = 0; i < kOps; i++) {
    __u32 key = i & 511;
    __u64 val = i;
    bpf_map_update_elem(&hash, &key, &val, 0);
  }
  return 2;
}

// Reserve + submit of an 8-byte record (16 bytes with the header). No wakeup:
// nothing sleeps on the ring here, and the kernel's wakeup is an irq_work.
// Returns the number of failed reservations (0 when the ring never filled).
SEC("xdp") int ringbuf_reserve_submit(void *ctx) {
  __u32 failed = 0;
  for (__u32 i = 0; i < kOps; i++) {
    __u64 *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
    if (!e) {
      failed++;
      continue;
    }
    *e = i;
    bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
  }
  return failed;
}
