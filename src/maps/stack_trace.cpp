// BPF_MAP_TYPE_STACK_TRACE (stack_trace.hpp): roundup_pow2(max_entries)
// buckets, each holding one stack; a stack's id is its hash masked to a
// bucket, as the kernel's stackmap.c.
#include "maps/stack_trace.hpp"

#include <cstring>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"

namespace xbpf::maps {

namespace detail {

namespace {

struct StackBucket {
  std::atomic<uint32_t> lock;
  uint32_t nr;  // frames; 0 = empty bucket
  uint32_t hash;
  uint32_t reserved;
};

constexpr uint32_t kMaxStackDepth = 127;  // sysctl kernel.perf_event_max_stack default

Expected<void> validate_stack(const MapAttr& a) {
  if (a.map_flags & ~(kFNumaNode | kAccessMask)) {
    return bad_attr(a, EINVAL, "unsupported map_flags for a stack trace map (BPF_F_STACK_BUILD_ID is not supported)");
  }
  if (a.key_size != 4 || a.value_size < 8 || a.value_size % 8 || a.max_entries == 0) {
    return bad_attr(a, EINVAL, "stack trace maps need key_size 4, value_size a multiple of 8, max_entries > 0");
  }
  if (a.value_size / 8 > kMaxStackDepth) return bad_attr(a, EINVAL, "value_size is above 127 frames");
  if (a.max_entries > (1U << 31)) return bad_attr(a, E2BIG, "max_entries is too large");
  return {};
}

uint64_t bucket_bytes(const MapAttr& a) { return sizeof(StackBucket) + a.value_size; }
uint64_t stack_size(const MapAttr& a) { return round_page(uint64_t{roundup_pow2(a.max_entries)} * bucket_bytes(a)); }

}  // namespace

class StackTraceMap : public ShmMap {
 public:
  explicit StackTraceMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
    nbuckets_ = roundup_pow2(attr_.max_entries);
    stride_ = bucket_bytes(attr_);
  }
  void* lookup_elem(const void* key) noexcept override {
    uint32_t id;
    std::memcpy(&id, key, 4);
    if (id >= nbuckets_ || bucket(id)->nr == 0) return nullptr;
    return ips(id);
  }
  long update_elem(const void*, const void*, uint64_t) noexcept override { return -EINVAL; }
  long delete_elem(const void* key) noexcept override {
    uint32_t id;
    std::memcpy(&id, key, 4);
    if (id >= nbuckets_) return -EINVAL;
    ShmGuard g(bucket(id)->lock);
    if (bucket(id)->nr == 0) return -ENOENT;
    bucket(id)->nr = 0;
    return 0;
  }

  Expected<void> lookup(const void* key, void* value, uint64_t flags) override {
    if (auto r = check_user_read(); !r) return r;
    if (flags) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    uint32_t id;
    std::memcpy(&id, key, 4);
    if (id >= nbuckets_) return fail_errno(ENOENT, "map '{}': no stack {}", name(), id);
    ShmGuard g(bucket(id)->lock);
    const uint32_t nr = std::min<uint32_t>(bucket(id)->nr, attr_.value_size / 8);
    if (nr == 0) return fail_errno(ENOENT, "map '{}': no stack {}", name(), id);
    std::memset(value, 0, attr_.value_size);
    std::memcpy(value, ips(id), nr * 8);
    return {};
  }
  Expected<void> update(const void*, const void*, uint64_t) override {
    return fail_errno(EINVAL, "map '{}': stack traces are only written by bpf_get_stackid", name());
  }
  Expected<void> remove(const void* key) override {
    if (auto r = check_user_write(); !r) return r;
    const long rc = delete_elem(key);
    if (rc) return fail_errno(static_cast<int>(-rc), "map '{}': no such stack", name());
    return {};
  }
  Expected<void> get_next_key(const void* key, void* next_key) override {
    uint32_t id = 0;
    if (key) std::memcpy(&id, key, 4);
    // As the kernel: a missing key restarts the walk at the first stack.
    id = (!key || id >= nbuckets_ || bucket(id)->nr == 0) ? 0 : id + 1;
    while (id < nbuckets_ && bucket(id)->nr == 0) ++id;
    if (id >= nbuckets_) return fail_errno(ENOENT, "map '{}': no more stacks", name());
    std::memcpy(next_key, &id, 4);
    return {};
  }

  long get_id(const uint64_t* in, uint32_t nr, uint64_t flags) noexcept {
    if (flags & ~(kFSkipFieldMask | kFUserStack | kFFastStackCmp | kFReuseStackId)) return -EINVAL;
    const uint32_t skip = flags & kFSkipFieldMask;
    if (nr <= skip) return -EFAULT;
    const uint32_t n = std::min(nr - skip, attr_.value_size / 8);
    const uint64_t* frames = in + skip;
    const auto h = static_cast<uint32_t>(hash_bytes(frames, n * 8ULL, 0));
    const uint32_t id = h & (nbuckets_ - 1);
    StackBucket* b = bucket(id);
    ShmGuard g(b->lock);
    if (b->nr != 0) {
      const bool same = b->hash == h && b->nr == n &&
                        ((flags & kFFastStackCmp) || std::memcmp(ips(id), frames, n * 8ULL) == 0);
      if (same) return id;
      if (!(flags & kFReuseStackId)) return -EEXIST;
    }
    std::memcpy(ips(id), frames, n * 8ULL);
    b->hash = h;
    b->nr = n;
    return id;
  }

 private:
  StackBucket* bucket(uint32_t id) const { return reinterpret_cast<StackBucket*>(storage_ + id * stride_); }
  uint64_t* ips(uint32_t id) const { return reinterpret_cast<uint64_t*>(storage_ + id * stride_ + sizeof(StackBucket)); }
  uint32_t nbuckets_;
  uint64_t stride_;
};

namespace {
std::unique_ptr<Map> make_stack(MapContext&& c) { return std::unique_ptr<Map>(new StackTraceMap(std::move(c))); }
}  // namespace

const MapOps kStackTraceOps = {MapType::StackTrace, validate_stack, stack_size, nullptr, nullptr, make_stack};

}  // namespace detail

long stack_get_id(Map& m, const uint64_t* ips, uint32_t nr, uint64_t flags) noexcept {
  if (m.type() != MapType::StackTrace) return -EINVAL;
  return static_cast<detail::StackTraceMap&>(m).get_id(ips, nr, flags);
}

}  // namespace xbpf::maps
