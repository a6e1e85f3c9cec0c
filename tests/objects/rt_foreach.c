// bpf_for_each_map_elem over a hash and an array: sums, an early stop, a
// callback that deletes the element it is given and one that writes values.
// Only order-independent results are kept for the hash map (the kernel and
// xbpf walk its elements in different orders).
#include "rt_defs.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, __u64);
} flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __u64);
} slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __s64);
} fe_results SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

struct walk {
  __u64 sum;
  __u64 seen;
  __u64 limit;
};

static long sum_all(void *map, __u32 *key, __u64 *value, struct walk *w) {
  w->sum += *value + *key;
  w->seen++;
  return 0;
}

static long stop_after(void *map, __u32 *key, __u64 *value, struct walk *w) {
  w->seen++;
  return w->seen >= w->limit ? 1 : 0;
}

static long drop_big(void *map, __u32 *key, __u64 *value, struct walk *w) {
  if (*value > w->limit) bpf_map_delete_elem(map, key);
  return 0;
}

// Arrays walk in index order: a prefix sum is deterministic, and values may be written.
static long bump_prefix(void *map, __u32 *key, __u64 *value, struct walk *w) {
  w->sum = w->sum * 3 + *value + *key;
  *value += *key + 1;
  return *key + 1 >= w->limit ? 1 : 0;
}

static __always_inline void put(__u32 k, __s64 v) { bpf_map_update_elem(&fe_results, &k, &v, BPF_ANY); }

SEC("xdp") int fe_walk(struct xdp_md *ctx) {
  __u32 len = ctx->data_end - ctx->data;
  __u32 k = len % 7;
  __u64 *v = bpf_map_lookup_elem(&flows, &k);
  if (v) {
    *v += len;
  } else {
    __u64 init = len;
    bpf_map_update_elem(&flows, &k, &init, BPF_NOEXIST);
  }
  struct walk w = {0, 0, 0};
  put(0, bpf_for_each_map_elem(&flows, sum_all, &w, 0));
  put(1, w.sum);
  put(2, w.seen);
  struct walk s = {0, 0, len % 3 + 1};
  put(3, bpf_for_each_map_elem(&flows, stop_after, &s, 0));
  struct walk a = {0, 0, len % 8 + 1};
  put(4, bpf_for_each_map_elem(&slots, bump_prefix, &a, 0));
  put(5, a.sum);
  if (len > 200) {
    struct walk d = {0, 0, 400};
    put(6, bpf_for_each_map_elem(&flows, drop_big, &d, 0));
  }
  put(7, bpf_for_each_map_elem(&flows, sum_all, &w, 1));  // flags must be 0: -EINVAL
  return XDP_PASS;
}

// bpf_spin_lock around a read-modify-write of a map value (BTF describes the lock).
struct bpf_spin_lock {
  __u32 val;
};

struct locked {
  struct bpf_spin_lock lock;
  __u32 packets;
  __u64 bytes;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct locked);
} totals SEC(".maps");

static long (*bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static long (*bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;

SEC("xdp") int fe_lock(struct xdp_md *ctx) {
  __u32 len = ctx->data_end - ctx->data;
  __u32 k = len & 1;
  struct locked *t = bpf_map_lookup_elem(&totals, &k);
  if (!t) return XDP_ABORTED;
  bpf_spin_lock(&t->lock);
  t->packets++;
  t->bytes += len;
  __u64 seen = t->packets;
  bpf_spin_unlock(&t->lock);
  return seen > 3 ? XDP_PASS : XDP_DROP;
}
