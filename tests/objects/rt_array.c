// Array map lookups the runtime inlines in verified mode (vm::InlineArrayLookup),
// next to ones it must not inline: the key comes from the packet, so tests
// reach every index, in range and out of it.
#include "rt_defs.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 5);  // not a power of two: the bounds check, not the mask, decides
  __type(key, __u32);
  __type(value, __u64);
} five SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __u64);
} eight SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __u64);
} small_hash SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline int first_byte(struct xdp_md *ctx, __u32 *out) {
  const __u8 *p = (const __u8 *)(long)ctx->data;
  if (p + 1 > (const __u8 *)(long)ctx->data_end) return -1;
  *out = p[0];
  return 0;
}

// Returns 100 + value of five[key] after incrementing it, or 1 when the key is out of range.
SEC("xdp") int array_get(struct xdp_md *ctx) {
  __u32 key;
  if (first_byte(ctx, &key)) return 0;
  __u64 *v = bpf_map_lookup_elem(&five, &key);
  if (!v) return 1;
  *v += 1;
  return 100 + (int)*v;
}

// One call site, two maps depending on the path: not inlined (the kernel's
// poisoned map_ptr_state), still correct.
SEC("xdp") int array_either(struct xdp_md *ctx) {
  __u32 key;
  if (first_byte(ctx, &key)) return 0;
  void *m = (key & 0x80) ? (void *)&eight : (void *)&five;
  key &= 0x7f;
  __u64 *v = bpf_map_lookup_elem(m, &key);
  return v ? 2 : 1;
}

// A hash lookup is never inlined.
SEC("xdp") int hash_get(struct xdp_md *ctx) {
  __u32 key;
  if (first_byte(ctx, &key)) return 0;
  __u64 *v = bpf_map_lookup_elem(&small_hash, &key);
  return v ? 2 : 1;
}

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 6);
  __type(key, __u32);
  __type(value, __u64);
} per_cpu SEC(".maps");

// A per-CPU array lookup is inlined too (this CPU's copy): 1 when out of
// range, else 200 + key * 3 written through the value pointer and read back
// (the same on every CPU).
SEC("xdp") int percpu_get(struct xdp_md *ctx) {
  __u32 key;
  if (first_byte(ctx, &key)) return 0;
  __u64 *v = bpf_map_lookup_elem(&per_cpu, &key);
  if (!v) return 1;
  *v = key * 3;
  return 200 + (int)*v;
}
