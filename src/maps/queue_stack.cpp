// BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK: a ring of max_entries + 1 slots
// under one robust lock, as the kernel's queue_stack_maps.c. No keys;
// user-side update = push, lookup = peek, lookup_and_delete = pop.
#include <cstring>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"

namespace xbpf::maps::detail {

namespace {

struct QsCtl {
  std::atomic<uint32_t> lock;
  uint32_t head;  // next slot to write
  uint32_t tail;  // oldest element
  uint32_t reserved[13];
};
static_assert(sizeof(QsCtl) == 64);

Expected<void> validate_qs(const MapAttr& a) {
  if (a.key_size != 0 || a.value_size == 0 || a.max_entries == 0) {
    return bad_attr(a, EINVAL, "queue/stack maps need key_size 0, value_size > 0 and max_entries > 0");
  }
  if (a.map_flags & ~(kFNumaNode | kAccessMask)) return bad_attr(a, EINVAL, "unsupported map_flags for a queue/stack");
  if (a.value_size > kKmallocMax) return bad_attr(a, E2BIG, "value_size is too large");
  return {};
}

uint64_t qs_size(const MapAttr& a) { return round_page(sizeof(QsCtl) + (uint64_t{a.max_entries} + 1) * a.value_size); }

class QueueStackMap : public ShmMap {
 public:
  explicit QueueStackMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
    ctl_ = reinterpret_cast<QsCtl*>(storage_);
    slots_ = storage_ + sizeof(QsCtl);
    size_ = attr_.max_entries + 1;
    stack_ = attr_.type == MapType::Stack;
  }

  void* lookup_elem(const void*) noexcept override { return nullptr; }
  long update_elem(const void*, const void* value, uint64_t flags) noexcept override { return push_elem(value, flags); }
  long delete_elem(const void*) noexcept override { return -EINVAL; }

  long push_elem(const void* value, uint64_t flags) noexcept override {
    if ((flags & kNoExist) || flags > kExist) return -EINVAL;
    ShmGuard g(ctl_->lock);
    uint32_t head = ctl_->head % size_, tail = ctl_->tail % size_;  // bounded even if storage is garbage
    if ((head + 1) % size_ == tail) {
      if (!(flags & kExist)) return -E2BIG;
      tail = (tail + 1) % size_;  // BPF_EXIST: drop the oldest element
    }
    std::memcpy(slots_ + uint64_t{head} * attr_.value_size, value, attr_.value_size);
    ctl_->head = (head + 1) % size_;
    ctl_->tail = tail;
    return 0;
  }
  long pop_elem(void* value) noexcept override { return take(value, true); }
  long peek_elem(void* value) noexcept override { return take(value, false); }

  Expected<void> lookup(const void*, void* value, uint64_t flags) override {
    if (auto r = check_user_read(); !r) return r;
    if (flags) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    if (peek_elem(value) != 0) return fail_errno(ENOENT, "map '{}': empty", name());
    return {};
  }
  Expected<void> update(const void*, const void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    const long rc = push_elem(value, flags);
    if (rc == -E2BIG) return fail_errno(E2BIG, "map '{}': full ({} entries)", name(), attr_.max_entries);
    if (rc) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    return {};
  }
  Expected<void> lookup_and_delete(const void*, void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    if (flags) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    if (pop_elem(value) != 0) return fail_errno(ENOENT, "map '{}': empty", name());
    return {};
  }
  Expected<void> remove(const void*) override {
    return fail_errno(EINVAL, "map '{}': queue/stack elements cannot be deleted by key", name());
  }
  Expected<void> get_next_key(const void*, void*) override {
    return fail_errno(EINVAL, "map '{}': queue/stack maps have no keys", name());
  }

 private:
  long take(void* value, bool remove) noexcept {
    ShmGuard g(ctl_->lock);
    const uint32_t head = ctl_->head % size_, tail = ctl_->tail % size_;
    if (head == tail) return -ENOENT;
    // Queue: the oldest (tail); stack: the newest (head - 1).
    const uint32_t at = stack_ ? (head + size_ - 1) % size_ : tail;
    std::memcpy(value, slots_ + uint64_t{at} * attr_.value_size, attr_.value_size);
    if (remove) {
      if (stack_) {
        ctl_->head = at;
      } else {
        ctl_->tail = (tail + 1) % size_;
      }
    }
    return 0;
  }

  QsCtl* ctl_;
  uint8_t* slots_;
  uint32_t size_;
  bool stack_;
};

std::unique_ptr<Map> make_qs(MapContext&& c) { return std::unique_ptr<Map>(new QueueStackMap(std::move(c))); }

}  // namespace

const MapOps kQueueOps = {MapType::Queue, validate_qs, qs_size, nullptr, nullptr, make_qs};
const MapOps kStackOps = {MapType::Stack, validate_qs, qs_size, nullptr, nullptr, make_qs};

}  // namespace xbpf::maps::detail
