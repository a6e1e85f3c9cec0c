#include "maps/hash.hpp"

#include <cstring>
#include <random>

#include "maps/lock.hpp"

namespace xbpf::maps::detail {

namespace {

constexpr uint32_t kHashCreateFlags = kFNoPrealloc | kFNoCommonLru | kFNumaNode | kAccessMask | kFZeroSeed;

bool is_lru(MapType t) { return t == MapType::LruHash || t == MapType::LruPercpuHash; }

// The kernel's htab_map_alloc_check.
Expected<void> validate_hash(const MapAttr& a) {
  const bool lru = is_lru(a.type);
  if (a.map_flags & ~kHashCreateFlags) return bad_attr(a, EINVAL, "unsupported map_flags for a hash map");
  if (lru && (a.map_flags & kFNoPrealloc)) return bad_attr(a, kENOTSUPP, "LRU maps are always preallocated");
  if (!lru && (a.map_flags & kFNoCommonLru)) return bad_attr(a, EINVAL, "BPF_F_NO_COMMON_LRU is for LRU maps");
  if (a.max_entries == 0 || a.key_size == 0 || a.value_size == 0) {
    return bad_attr(a, EINVAL, "hash maps need key_size, value_size and max_entries > 0");
  }
  if (a.key_size > 512) return bad_attr(a, E2BIG, "key_size is above 512 (MAX_BPF_STACK)");
  if (a.value_size >= kKmallocMax) return bad_attr(a, E2BIG, "value_size is too large");
  if (is_percpu(a.type) && a.value_size > 32768) return bad_attr(a, E2BIG, "per-CPU value_size is above 32 KiB");
  if (a.max_entries > (1U << 30)) return bad_attr(a, E2BIG, "max_entries is too large");
  return {};
}

uint64_t hash_size(const MapAttr& a) { return HashMap::geometry(a).total; }

Expected<void> prepare_hash(Store&, uint8_t* storage, const MapAttr& a) {
  HashMap::init_storage(storage, a);
  return {};
}

std::unique_ptr<Map> make_hash(MapContext&& c) { return std::unique_ptr<Map>(new HashMap(std::move(c))); }

}  // namespace

HashMap::Geometry HashMap::geometry(const MapAttr& a) {
  Geometry g{};
  const uint64_t ncpus = is_percpu(a.type) ? possible_cpus() : 1;
  g.nbuckets = roundup_pow2(a.max_entries);
  // Spare elements let a replacing update publish a whole new element
  // (readers never see a half-copied value) even when the map is full.
  g.nelems = a.max_entries + 2 * possible_cpus() + 8;
  g.value_bytes = ncpus * round8(a.value_size);
  g.elem_size = sizeof(ElemHdr) + round8(a.key_size) + g.value_bytes;
  g.buckets_off = sizeof(HashCtl);
  g.elems_off = round8(g.buckets_off + uint64_t{g.nbuckets} * sizeof(Bucket));
  g.total = round_page(g.elems_off + uint64_t{g.nelems} * g.elem_size);
  return g;
}

void HashMap::init_storage(uint8_t* storage, const MapAttr& a) {
  const Geometry g = geometry(a);
  auto* ctl = reinterpret_cast<HashCtl*>(storage);
  ctl->seed = 0;
  if (!(a.map_flags & kFZeroSeed)) ctl->seed = std::random_device{}();
  auto* buckets = reinterpret_cast<Bucket*>(storage + g.buckets_off);
  for (uint32_t i = 0; i < g.nbuckets; ++i) buckets[i].head.store(kNulls | i, std::memory_order_relaxed);
  uint8_t* elems = storage + g.elems_off;
  for (uint32_t i = 0; i < g.nelems; ++i) {
    auto* h = reinterpret_cast<ElemHdr*>(elems + uint64_t{i} * g.elem_size);
    h->next.store(i + 1 < g.nelems ? i + 2 : kFreeEnd, std::memory_order_relaxed);
  }
  ctl->free_head.store(1, std::memory_order_release);
}

HashMap::HashMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
  g_ = geometry(attr_);
  ctl_ = reinterpret_cast<HashCtl*>(storage_);
  buckets_ = reinterpret_cast<Bucket*>(storage_ + g_.buckets_off);
  elems_ = storage_ + g_.elems_off;
  key_bytes_ = static_cast<uint32_t>(round8(attr_.key_size));
  percpu_ = is_percpu(attr_.type);
  lru_ = is_lru(attr_.type);
  ncpus_ = percpu_ ? possible_cpus() : 1;
  stride_ = static_cast<uint32_t>(round8(attr_.value_size));
  seed_ = ctl_->seed;
  seed_mix_ = (uint64_t{seed_} << 32 | seed_) * 0xbf58476d1ce4e5b9ULL;
}

uint32_t HashMap::hash_of(const void* key) const noexcept {
  // Keys of up to 8 bytes (the common u32/u64 ids): one multiply-xorshift.
  if (attr_.key_size <= 8) {
    uint64_t v = 0;
    if (attr_.key_size == 4) {
      uint32_t w;
      std::memcpy(&w, key, 4);
      v = w;
    } else if (attr_.key_size == 8) {
      std::memcpy(&v, key, 8);
    } else {
      std::memcpy(&v, key, attr_.key_size);
    }
    const uint64_t h = (v ^ seed_mix_) * 0x9E3779B97F4A7C15ULL;
    return static_cast<uint32_t>(h >> 32) ^ static_cast<uint32_t>(h >> 7);
  }
  return static_cast<uint32_t>(hash_bytes(key, attr_.key_size, seed_));
}

bool HashMap::key_eq(const uint8_t* a, const void* b) const noexcept {
  switch (attr_.key_size) {
    case 4: {
      uint32_t x, y;
      std::memcpy(&x, a, 4);
      std::memcpy(&y, b, 4);
      return x == y;
    }
    case 8: {
      uint64_t x, y;
      std::memcpy(&x, a, 8);
      std::memcpy(&y, b, 8);
      return x == y;
    }
    default:
      return std::memcmp(a, b, attr_.key_size) == 0;
  }
}

uint8_t* HashMap::find(const void* key, uint32_t h) const noexcept {
  const uint32_t bi = h & (g_.nbuckets - 1);
  for (int attempt = 0; attempt < 8; ++attempt) {
    uint32_t link = buckets_[bi].head.load(std::memory_order_acquire);
    for (uint32_t steps = 0; !(link & kNulls); ++steps) {
      const uint32_t idx = link - 1;
      if (idx >= g_.nelems || steps > g_.nelems) return nullptr;  // corrupt storage
      uint8_t* e = elem(idx);
      if (hdr(e)->hash == h && key_eq(key_of(e), key) && hdr(e)->used.load(std::memory_order_relaxed)) return e;
      link = hdr(e)->next.load(std::memory_order_acquire);
    }
    // Ending in another bucket's marker: an element we walked was moved. Restart.
    if ((link & ~kNulls) == bi) return nullptr;
  }
  return nullptr;
}

uint8_t* HashMap::find_locked(Bucket& b, const void* key, uint32_t h, std::atomic<uint32_t>** prev) const noexcept {
  std::atomic<uint32_t>* p = &b.head;
  uint32_t link = p->load(std::memory_order_relaxed);
  for (uint32_t steps = 0; !(link & kNulls) && steps <= g_.nelems; ++steps) {
    const uint32_t idx = link - 1;
    if (idx >= g_.nelems) break;
    uint8_t* e = elem(idx);
    if (hdr(e)->hash == h && key_eq(key_of(e), key)) {
      if (prev) *prev = p;
      return e;
    }
    p = &hdr(e)->next;
    link = p->load(std::memory_order_relaxed);
  }
  return nullptr;
}

uint8_t* HashMap::pop_free() noexcept {
  uint64_t head = ctl_->free_head.load(std::memory_order_acquire);
  for (;;) {
    const auto link = static_cast<uint32_t>(head);
    if (link == 0 || (link & kNulls) || link - 1 >= g_.nelems) return nullptr;
    uint8_t* e = elem(link - 1);
    uint32_t next = hdr(e)->next.load(std::memory_order_relaxed);
    if (next & kNulls) next = 0;
    // The tag in the high half defeats ABA when an element is popped and pushed back meanwhile.
    const uint64_t want = ((head >> 32) + 1) << 32 | next;
    if (ctl_->free_head.compare_exchange_weak(head, want, std::memory_order_acq_rel)) return e;
  }
}

void HashMap::push_free(uint8_t* e) noexcept {
  const auto link = static_cast<uint32_t>((e - elems_) / g_.elem_size) + 1;
  hdr(e)->used.store(0, std::memory_order_relaxed);
  uint64_t head = ctl_->free_head.load(std::memory_order_relaxed);
  for (;;) {
    const auto cur = static_cast<uint32_t>(head);
    hdr(e)->next.store(cur == 0 ? kFreeEnd : cur, std::memory_order_relaxed);
    const uint64_t want = ((head >> 32) + 1) << 32 | link;
    if (ctl_->free_head.compare_exchange_weak(head, want, std::memory_order_acq_rel)) return;
  }
}

bool HashMap::evict_one() noexcept {
  // Second-chance clock over the pool: an approximation of the kernel's LRU lists.
  for (uint64_t steps = 0; steps < 3ULL * g_.nelems; ++steps) {
    const uint32_t idx = ctl_->lru_hand.fetch_add(1, std::memory_order_relaxed) % g_.nelems;
    uint8_t* e = elem(idx);
    if (!hdr(e)->used.load(std::memory_order_relaxed)) continue;
    if (hdr(e)->ref.load(std::memory_order_relaxed)) {
      hdr(e)->ref.store(0, std::memory_order_relaxed);
      continue;
    }
    Bucket& b = bucket(hdr(e)->hash);
    shm_lock(b.lock);
    std::atomic<uint32_t>* prev = nullptr;
    uint8_t* victim = hdr(e)->used.load(std::memory_order_relaxed)
                          ? find_locked(b, key_of(e), hdr(e)->hash, &prev) : nullptr;
    if (victim == e) {
      prev->store(hdr(e)->next.load(std::memory_order_relaxed), std::memory_order_release);
      ctl_->count.fetch_sub(1, std::memory_order_relaxed);
    }
    shm_unlock(b.lock);
    if (victim == e) {
      push_free(e);
      return true;
    }
  }
  return false;
}

void HashMap::write_value(uint8_t* e, const void* value, Fill fill, bool fresh) noexcept {
  uint8_t* v = value_of(e);
  if (!percpu_) {
    copy_value(v, value);
    return;
  }
  if (fill == Fill::AllCpus) {
    for (uint32_t c = 0; c < ncpus_; ++c) {
      std::memcpy(v + uint64_t{c} * stride_, static_cast<const uint8_t*>(value) + uint64_t{c} * stride_,
                  attr_.value_size);
    }
    return;
  }
  // A program writes its own CPU's copy; a new element starts at zero elsewhere.
  const uint32_t me = current_cpu();
  if (fresh) std::memset(v, 0, g_.value_bytes);
  std::memcpy(v + uint64_t{me} * stride_, value, attr_.value_size);
}

long HashMap::upsert(const void* key, const void* value, uint64_t flags, Fill fill) noexcept {
  for (int attempt = 0;; ++attempt) {
    const long r = upsert_once(key, value, flags, fill);
    if (r != -E2BIG || !lru_ || attempt >= 4) return r;
    if (!evict_one()) return r;
  }
}

long HashMap::upsert_once(const void* key, const void* value, uint64_t flags, Fill fill) noexcept {
  const uint32_t h = hash_of(key);
  Bucket& b = bucket(h);
  const uint64_t op = flags & ~kFLock;
  // Taken before the lock so the critical section stays short (as the kernel's prealloc path).
  uint8_t* fresh = percpu_ || (flags & kFLock) ? nullptr : pop_free();
  shm_lock(b.lock);
  std::atomic<uint32_t>* prev = nullptr;
  uint8_t* old = find_locked(b, key, h, &prev);
  long rc = 0;
  if (op == kNoExist && old) {
    rc = -EEXIST;
  } else if (op == kExist && !old) {
    rc = -ENOENT;
  } else if (old && (percpu_ || (flags & kFLock) || !fresh)) {
    // In place: per-CPU values, BPF_F_LOCK, or no spare element left.
    if (flags & kFLock) {
      copy_value_locked(value_of(old), value, value_of(old));
    } else {
      write_value(old, value, fill, false);
    }
    if (lru_) hdr(old)->ref.store(1, std::memory_order_relaxed);
  } else if (!old && ctl_->count.fetch_add(1, std::memory_order_relaxed) >= attr_.max_entries) {
    ctl_->count.fetch_sub(1, std::memory_order_relaxed);
    rc = -E2BIG;
  } else {
    if (!fresh) fresh = pop_free();
    if (!fresh) {
      ctl_->count.fetch_sub(1, std::memory_order_relaxed);
      rc = -E2BIG;
    } else {
      ElemHdr* nh = hdr(fresh);
      std::memcpy(key_of(fresh), key, attr_.key_size);
      nh->hash = h;
      nh->ref.store(1, std::memory_order_relaxed);  // a new element gets its second chance
      write_value(fresh, value, fill, true);
      nh->used.store(1, std::memory_order_relaxed);
      // Publish the new element first, then unlink the old one: readers see one or the other.
      nh->next.store(b.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
      b.head.store(static_cast<uint32_t>((fresh - elems_) / g_.elem_size) + 1, std::memory_order_release);
      if (old) {
        if (prev == &b.head) prev = &nh->next;
        prev->store(hdr(old)->next.load(std::memory_order_relaxed), std::memory_order_release);
      }
      fresh = old;  // returned to the free list below
    }
  }
  shm_unlock(b.lock);
  if (fresh) push_free(fresh);
  return rc;
}

long HashMap::erase(const void* key, void* out) noexcept {
  const uint32_t h = hash_of(key);
  Bucket& b = bucket(h);
  shm_lock(b.lock);
  std::atomic<uint32_t>* prev = nullptr;
  uint8_t* e = find_locked(b, key, h, &prev);
  if (e) {
    if (out) read_value(e, out, 0);
    prev->store(hdr(e)->next.load(std::memory_order_relaxed), std::memory_order_release);
    ctl_->count.fetch_sub(1, std::memory_order_relaxed);
  }
  shm_unlock(b.lock);
  if (!e) return -ENOENT;
  push_free(e);
  return 0;
}

void HashMap::read_value(uint8_t* e, void* out, uint64_t flags) const noexcept {
  uint8_t* v = value_of(e);
  if (!percpu_) {
    if (flags & kFLock) {
      copy_value_locked(out, v, v);
    } else {
      std::memcpy(out, v, attr_.value_size);
    }
    if (attr_.spin_lock_off >= 0) std::memset(static_cast<uint8_t*>(out) + attr_.spin_lock_off, 0, 4);
    return;
  }
  for (uint32_t c = 0; c < ncpus_; ++c) {
    auto* dst = static_cast<uint8_t*>(out) + uint64_t{c} * stride_;
    std::memcpy(dst, v + uint64_t{c} * stride_, attr_.value_size);
    std::memset(dst + attr_.value_size, 0, stride_ - attr_.value_size);
  }
}

// ---- program side

void* HashMap::lookup_elem(const void* key) noexcept {
  uint8_t* e = find(key, hash_of(key));
  if (!e) return nullptr;
  if (lru_ && !hdr(e)->ref.load(std::memory_order_relaxed)) hdr(e)->ref.store(1, std::memory_order_relaxed);
  uint8_t* v = value_of(e);
  return percpu_ ? v + uint64_t{current_cpu()} * stride_ : v;
}

void* HashMap::lookup_percpu_elem(const void* key, uint32_t cpu) noexcept {
  if (!percpu_ || cpu >= ncpus_) return nullptr;
  uint8_t* e = find(key, hash_of(key));
  return e ? value_of(e) + uint64_t{cpu} * stride_ : nullptr;
}

long HashMap::update_elem(const void* key, const void* value, uint64_t flags) noexcept {
  if ((flags & ~kFLock) > kExist || (flags & ~(kFLock | 3))) return -EINVAL;
  if ((flags & kFLock) && attr_.spin_lock_off < 0) return -EINVAL;
  return upsert(key, value, flags, Fill::OneCpu);
}

long HashMap::delete_elem(const void* key) noexcept { return erase(key, nullptr); }

// ---- user side

Expected<void> HashMap::lookup(const void* key, void* value, uint64_t flags) {
  if (auto r = check_user_read(); !r) return r;
  if (auto r = check_elem_flags(flags, kFLock); !r) return r;
  uint8_t* e = find(key, hash_of(key));
  if (!e) return fail_errno(ENOENT, "map '{}': no such key", name());
  read_value(e, value, flags);
  return {};
}

Expected<void> HashMap::update(const void* key, const void* value, uint64_t flags) {
  if (auto r = check_user_write(); !r) return r;
  if (auto r = check_elem_flags(flags, kFLock | 3); !r) return r;
  const long rc = upsert(key, value, flags, Fill::AllCpus);
  switch (rc) {
    case 0: return {};
    case -EEXIST: return fail_errno(EEXIST, "map '{}': key already exists (BPF_NOEXIST)", name());
    case -ENOENT: return fail_errno(ENOENT, "map '{}': no such key (BPF_EXIST)", name());
    case -E2BIG: return fail_errno(E2BIG, "map '{}': map is full ({} entries)", name(), attr_.max_entries);
    default: return fail_errno(static_cast<int>(-rc), "map '{}': update failed", name());
  }
}

Expected<void> HashMap::remove(const void* key) {
  if (auto r = check_user_write(); !r) return r;
  if (erase(key, nullptr) != 0) return fail_errno(ENOENT, "map '{}': no such key", name());
  return {};
}

Expected<void> HashMap::lookup_and_delete(const void* key, void* value, uint64_t flags) {
  if (auto r = check_user_write(); !r) return r;
  if (auto r = check_elem_flags(flags, kFLock); !r) return r;
  if (erase(key, value) != 0) return fail_errno(ENOENT, "map '{}': no such key", name());
  return {};
}

Expected<void> HashMap::get_next_key(const void* key, void* next_key) {
  if (auto r = check_user_read(); !r) return r;
  uint32_t bi = 0;
  if (key) {
    const uint32_t h = hash_of(key);
    Bucket& b = bucket(h);
    ShmGuard g(b.lock);
    if (uint8_t* e = find_locked(b, key, h, nullptr)) {
      const uint32_t link = hdr(e)->next.load(std::memory_order_relaxed);
      if (!(link & kNulls) && link - 1 < g_.nelems) {
        std::memcpy(next_key, key_of(elem(link - 1)), attr_.key_size);
        return {};
      }
      bi = (h & (g_.nbuckets - 1)) + 1;  // rest of the walk starts at the next bucket
    }
    // A key that is not there restarts the walk at the first key, as the kernel.
  }
  for (; bi < g_.nbuckets; ++bi) {
    ShmGuard g(buckets_[bi].lock);
    const uint32_t link = buckets_[bi].head.load(std::memory_order_relaxed);
    if (!(link & kNulls) && link - 1 < g_.nelems) {
      std::memcpy(next_key, key_of(elem(link - 1)), attr_.key_size);
      return {};
    }
  }
  return fail_errno(ENOENT, "map '{}': no more keys", name());
}

const MapOps kHashOps = {MapType::Hash, validate_hash, hash_size, prepare_hash, nullptr, make_hash};
const MapOps kPercpuHashOps = {MapType::PercpuHash, validate_hash, hash_size, prepare_hash, nullptr, make_hash};
const MapOps kLruHashOps = {MapType::LruHash, validate_hash, hash_size, prepare_hash, nullptr, make_hash};
const MapOps kLruPercpuHashOps = {MapType::LruPercpuHash, validate_hash, hash_size, prepare_hash, nullptr,
                                  make_hash};

}  // namespace xbpf::maps::detail
