// BPF_MAP_TYPE_LPM_TRIE with the kernel's key layout (u32 prefixlen, then
// data bytes, most significant bit first) and its semantics: longest-prefix
// lookup, ENOSPC when full, iteration in the kernel trie's post-order
// (a longer prefix before the shorter one containing it, 0 bits before 1).
//
// Storage is a flat array of slots searched linearly under one robust lock:
// correct and shared-memory friendly, O(max_entries) per operation. A real
// trie in shared memory is future work.
#include <cstring>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

namespace {

struct LpmCtl {
  std::atomic<uint32_t> lock;
  uint32_t count;
  uint32_t reserved[14];
};

struct SlotHdr {
  uint32_t used;
  uint32_t prefixlen;
};

constexpr uint32_t kLpmCreateFlags = kFNoPrealloc | kFNumaNode | kAccessMask;

Expected<void> validate_lpm(const MapAttr& a) {
  if (a.max_entries == 0 || !(a.map_flags & kFNoPrealloc) || (a.map_flags & ~kLpmCreateFlags)) {
    return bad_attr(a, EINVAL, "LPM tries need max_entries > 0 and exactly BPF_F_NO_PREALLOC among the flags");
  }
  if (a.key_size < 5 || a.key_size > 4 + 256) return bad_attr(a, EINVAL, "LPM key_size must be 5..260");
  if (a.value_size < 1 || a.value_size > kKmallocMax - 256 - 64) return bad_attr(a, EINVAL, "bad LPM value_size");
  return {};
}

uint64_t slot_size(const MapAttr& a) { return sizeof(SlotHdr) + round8(a.key_size - 4) + round8(a.value_size); }
uint64_t lpm_size(const MapAttr& a) { return round_page(sizeof(LpmCtl) + uint64_t{a.max_entries} * slot_size(a)); }

bool bit(const uint8_t* d, uint32_t i) { return (d[i / 8] >> (7 - i % 8)) & 1; }

// Whether the first n bits of a and b agree.
bool prefix_eq(const uint8_t* a, const uint8_t* b, uint32_t n) {
  const uint32_t bytes = n / 8;
  if (std::memcmp(a, b, bytes) != 0) return false;
  if (n % 8 == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - n % 8));
  return ((a[bytes] ^ b[bytes]) & mask) == 0;
}

class LpmTrieMap : public ShmMap {
 public:
  explicit LpmTrieMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
    ctl_ = reinterpret_cast<LpmCtl*>(storage_);
    slots_ = storage_ + sizeof(LpmCtl);
    slot_ = slot_size(attr_);
    data_size_ = attr_.key_size - 4;
    max_prefix_ = data_size_ * 8;
  }

  void* lookup_elem(const void* key) noexcept override {
    ShmGuard g(ctl_->lock);
    uint8_t* s = longest_match(static_cast<const uint8_t*>(key));
    return s ? value_of(s) : nullptr;
  }
  long update_elem(const void* key, const void* value, uint64_t flags) noexcept override {
    if (flags > kExist) return -EINVAL;
    const uint32_t plen = prefixlen(key);
    if (plen > max_prefix_) return -EINVAL;
    ShmGuard g(ctl_->lock);
    uint8_t* s = exact(plen, data(key));
    if (s && flags == kNoExist) return -EEXIST;
    if (!s && flags == kExist) return -ENOENT;
    if (!s) {
      if (ctl_->count >= attr_.max_entries) return -ENOSPC;
      s = free_slot();
      if (!s) return -ENOSPC;
      std::memcpy(s + sizeof(SlotHdr), data(key), data_size_);
      hdr(s)->prefixlen = plen;
      hdr(s)->used = 1;
      ++ctl_->count;
    }
    std::memcpy(value_of(s), value, attr_.value_size);
    return 0;
  }
  long delete_elem(const void* key) noexcept override {
    const uint32_t plen = prefixlen(key);
    if (plen > max_prefix_) return -EINVAL;
    ShmGuard g(ctl_->lock);
    uint8_t* s = exact(plen, data(key));
    if (!s) return -ENOENT;
    hdr(s)->used = 0;
    --ctl_->count;
    return 0;
  }

  Expected<void> lookup(const void* key, void* value, uint64_t flags) override {
    if (auto r = check_user_read(); !r) return r;
    if (flags) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    ShmGuard g(ctl_->lock);
    uint8_t* s = longest_match(static_cast<const uint8_t*>(key));
    if (!s) return fail_errno(ENOENT, "map '{}': no matching prefix", name());
    std::memcpy(value, value_of(s), attr_.value_size);
    return {};
  }
  Expected<void> update(const void* key, const void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    switch (const long rc = update_elem(key, value, flags)) {
      case 0: return {};
      case -ENOSPC: return fail_errno(ENOSPC, "map '{}': trie is full ({} entries)", name(), attr_.max_entries);
      case -EEXIST: return fail_errno(EEXIST, "map '{}': prefix already exists (BPF_NOEXIST)", name());
      case -ENOENT: return fail_errno(ENOENT, "map '{}': no such prefix (BPF_EXIST)", name());
      default: return fail_errno(static_cast<int>(-rc), "map '{}': bad flags or prefix length", name());
    }
  }
  Expected<void> remove(const void* key) override {
    if (auto r = check_user_write(); !r) return r;
    const long rc = delete_elem(key);
    if (rc == -ENOENT) return fail_errno(ENOENT, "map '{}': no such prefix", name());
    if (rc) return fail_errno(EINVAL, "map '{}': prefix length above {}", name(), max_prefix_);
    return {};
  }
  Expected<void> get_next_key(const void* key, void* next_key) override;

 private:
  static SlotHdr* hdr(uint8_t* s) { return reinterpret_cast<SlotHdr*>(s); }
  static uint32_t prefixlen(const void* key) {
    uint32_t p;
    std::memcpy(&p, key, 4);
    return p;
  }
  static const uint8_t* data(const void* key) { return static_cast<const uint8_t*>(key) + 4; }
  uint8_t* slot(uint32_t i) const { return slots_ + uint64_t{i} * slot_; }
  uint8_t* value_of(uint8_t* s) const { return s + sizeof(SlotHdr) + round8(data_size_); }
  bool live(uint8_t* s) const { return hdr(s)->used == 1 && hdr(s)->prefixlen <= max_prefix_; }

  uint8_t* exact(uint32_t plen, const uint8_t* d) const {
    for (uint32_t i = 0; i < attr_.max_entries; ++i) {
      uint8_t* s = slot(i);
      if (live(s) && hdr(s)->prefixlen == plen && prefix_eq(s + sizeof(SlotHdr), d, plen)) return s;
    }
    return nullptr;
  }
  uint8_t* longest_match(const uint8_t* key) const {
    const uint32_t limit = std::min(prefixlen(key), max_prefix_);
    uint8_t* best = nullptr;
    for (uint32_t i = 0; i < attr_.max_entries; ++i) {
      uint8_t* s = slot(i);
      const uint32_t p = hdr(s)->prefixlen;
      if (!live(s) || p > limit || (best && p <= hdr(best)->prefixlen)) continue;
      if (prefix_eq(s + sizeof(SlotHdr), data(key), p)) best = s;
    }
    return best;
  }
  uint8_t* free_slot() const {
    for (uint32_t i = 0; i < attr_.max_entries; ++i) {
      if (!live(slot(i))) return slot(i);
    }
    return nullptr;
  }
  // The kernel's post-order: true when a comes before b.
  bool before(uint8_t* a, uint8_t* b) const {
    const uint32_t pa = hdr(a)->prefixlen, pb = hdr(b)->prefixlen;
    const uint8_t* da = a + sizeof(SlotHdr);
    const uint8_t* db = b + sizeof(SlotHdr);
    for (uint32_t i = 0; i < std::min(pa, pb); ++i) {
      if (bit(da, i) != bit(db, i)) return !bit(da, i);
    }
    return pa > pb;  // a child (longer prefix) before its parent
  }

  LpmCtl* ctl_;
  uint8_t* slots_;
  uint64_t slot_;
  uint32_t data_size_;
  uint32_t max_prefix_;
};

Expected<void> LpmTrieMap::get_next_key(const void* key, void* next_key) {
  if (auto r = check_user_read(); !r) return r;
  ShmGuard g(ctl_->lock);
  uint8_t* cur = nullptr;
  if (key && prefixlen(key) <= max_prefix_) cur = exact(prefixlen(key), data(key));
  // The smallest element after `cur` (or overall, for a missing key).
  uint8_t* best = nullptr;
  for (uint32_t i = 0; i < attr_.max_entries; ++i) {
    uint8_t* s = slot(i);
    if (!live(s) || s == cur || (cur && !before(cur, s))) continue;
    if (!best || before(s, best)) best = s;
  }
  if (!best) return fail_errno(ENOENT, "map '{}': no more keys", name());
  const uint32_t p = hdr(best)->prefixlen;
  std::memcpy(next_key, &p, 4);
  std::memcpy(static_cast<uint8_t*>(next_key) + 4, best + sizeof(SlotHdr), data_size_);
  return {};
}

std::unique_ptr<Map> make_lpm(MapContext&& c) { return std::unique_ptr<Map>(new LpmTrieMap(std::move(c))); }

}  // namespace

const MapOps kLpmTrieOps = {MapType::LpmTrie, validate_lpm, lpm_size, nullptr, nullptr, make_lpm};

}  // namespace xbpf::maps::detail
