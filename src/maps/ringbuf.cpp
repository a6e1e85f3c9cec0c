// BPF_MAP_TYPE_RINGBUF. Storage (after the object header page):
//   page 0  RingCtl: producer lock, waiter count, futex word
//   page 1  consumer_pos      (kernel layout from here on)
//   page 2  producer_pos
//   page 3+ data, max_entries bytes, mapped a second time right after itself
#include "maps/ringbuf.hpp"

#include <chrono>
#include <climits>
#include <cstring>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"

namespace xbpf::maps {

namespace detail {

namespace {

struct RingCtl {
  std::atomic<uint32_t> lock;
  std::atomic<uint32_t> waiters;
  std::atomic<uint32_t> seq;  // futex word: bumped on every wake-up
};

constexpr uint64_t kCtlOff = 0, kConsOff = kPage, kProdOff = 2 * kPage, kDataOff = 3 * kPage;

Expected<void> validate_ringbuf(const MapAttr& a) {
  if (a.map_flags & ~kFNumaNode) return bad_attr(a, EINVAL, "unsupported map_flags for a ring buffer");
  if (a.key_size || a.value_size) return bad_attr(a, EINVAL, "ring buffers need key_size 0 and value_size 0");
  if (a.max_entries == 0 || (a.max_entries & (a.max_entries - 1)) || a.max_entries % kPage) {
    return bad_attr(a, EINVAL, "ring buffer size must be a power of 2 and a multiple of the page size");
  }
  return {};
}

uint64_t ringbuf_size(const MapAttr& a) { return kDataOff + a.max_entries; }

void ringbuf_dup(const MapAttr& a, uint64_t* off, uint64_t* len) {
  *off = kHeaderSize + kDataOff;
  *len = a.max_entries;
}

long futex(std::atomic<uint32_t>* w, int op, uint32_t val, const timespec* ts) {
  // Shared (not FUTEX_PRIVATE): waiter and waker may be different processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, val, ts, nullptr, 0);
}

}  // namespace

class RingbufMap : public ShmMap {
 public:
  explicit RingbufMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
    ctl_ = reinterpret_cast<RingCtl*>(storage_ + kCtlOff);
    cons_ = reinterpret_cast<uint64_t*>(storage_ + kConsOff);
    prod_ = reinterpret_cast<uint64_t*>(storage_ + kProdOff);
    data_ = storage_ + kDataOff;
    mask_ = attr_.max_entries - 1;
  }

  void* lookup_elem(const void*) noexcept override { return nullptr; }
  long update_elem(const void*, const void*, uint64_t) noexcept override { return -kENOTSUPP; }
  long delete_elem(const void*) noexcept override { return -kENOTSUPP; }
  Expected<void> lookup(const void*, void*, uint64_t) override { return unsupported(); }
  Expected<void> update(const void*, const void*, uint64_t) override { return unsupported(); }
  Expected<void> remove(const void*) override { return unsupported(); }
  Expected<void> get_next_key(const void*, void*) override { return unsupported(); }

  void* reserve(uint64_t size, uint64_t flags) noexcept {
    if (flags != 0 || size > (UINT32_MAX >> 2)) return nullptr;
    const uint64_t len = round8(size + kRingbufHdrSize);
    if (len > mask_ + 1) return nullptr;
    const uint64_t cons = std::atomic_ref(*cons_).load(std::memory_order_acquire);
    shm_lock(ctl_->lock);
    const uint64_t prod = std::atomic_ref(*prod_).load(std::memory_order_relaxed);
    // The producer never gets a whole ring ahead of the consumer. Positions
    // are always 8-aligned; anything else is scribbled shared memory.
    if (prod + len - cons > mask_ || (prod & 7)) {
      shm_unlock(ctl_->lock);
      return nullptr;
    }
    uint8_t* hdr = data_ + (prod & mask_);
    const auto pg_off = static_cast<uint32_t>(((reinterpret_cast<uintptr_t>(hdr) & ~(kPage - 1)) -
                                               reinterpret_cast<uintptr_t>(file_.base())) / kPage);
    std::atomic_ref(*reinterpret_cast<uint32_t*>(hdr)).store(static_cast<uint32_t>(size) | kRingbufBusyBit,
                                                              std::memory_order_relaxed);
    std::memcpy(hdr + 4, &pg_off, 4);
    std::atomic_ref(*prod_).store(prod + len, std::memory_order_release);
    shm_unlock(ctl_->lock);
    return hdr + kRingbufHdrSize;
  }

  // bpf_ringbuf_submit/discard get only the sample: everything is found from
  // the record header's pg_off, which leads back to the start of the mapping.
  static void commit_sample(uint8_t* hdr, uint64_t flags, bool discard) noexcept {
    uint32_t pg_off;
    std::memcpy(&pg_off, hdr + 4, 4);
    auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(hdr) & ~(kPage - 1)) -
                                            uint64_t{pg_off} * kPage);
    uint8_t* storage = base + kHeaderSize;
    const uint64_t mask = reinterpret_cast<ObjHeader*>(base)->max_entries - 1;
    auto len = std::atomic_ref(*reinterpret_cast<uint32_t*>(hdr));
    uint32_t v = len.load(std::memory_order_relaxed) & ~kRingbufBusyBit;
    if (discard) v |= kRingbufDiscardBit;
    len.exchange(v, std::memory_order_seq_cst);
    const uint64_t rec_pos = static_cast<uint64_t>(hdr - (storage + kDataOff));
    const uint64_t cons =
        std::atomic_ref(*reinterpret_cast<uint64_t*>(storage + kConsOff)).load(std::memory_order_acquire) & mask;
    // As the kernel: wake only when the consumer has caught up to this record.
    const bool want = (flags & kRbForceWakeup) || (!(flags & kRbNoWakeup) && cons == rec_pos);
    auto* ctl = reinterpret_cast<RingCtl*>(storage + kCtlOff);
    if (want && ctl->waiters.load(std::memory_order_seq_cst) != 0) {
      ctl->seq.fetch_add(1, std::memory_order_release);
      futex(&ctl->seq, FUTEX_WAKE, INT_MAX, nullptr);
    }
  }

  uint64_t query(uint64_t flags) noexcept {
    const uint64_t cons = std::atomic_ref(*cons_).load(std::memory_order_acquire);
    const uint64_t prod = std::atomic_ref(*prod_).load(std::memory_order_acquire);
    switch (flags) {
      case kRbAvailData: return prod - cons;
      case kRbRingSize: return mask_ + 1;
      case kRbConsPos: return cons;
      case kRbProdPos: return prod;
      default: return 0;
    }
  }

  RingbufLayout layout() noexcept { return RingbufLayout{cons_, prod_, data_, mask_ + 1}; }

  // Blocks until the producer position moves past `cons` or the timeout ends.
  void wait(uint64_t cons, int timeout_ms) noexcept {
    ctl_->waiters.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seen = ctl_->seq.load(std::memory_order_acquire);
    const uint64_t prod = std::atomic_ref(*prod_).load(std::memory_order_seq_cst);
    bool ready = prod != cons;
    if (ready) {
      const uint32_t len = std::atomic_ref(*reinterpret_cast<uint32_t*>(data_ + (cons & mask_))).load(
          std::memory_order_seq_cst);
      ready = !(len & kRingbufBusyBit);
    }
    if (!ready) {
      timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
      futex(&ctl_->seq, FUTEX_WAIT, seen, timeout_ms < 0 ? nullptr : &ts);
    }
    ctl_->waiters.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  Expected<void> unsupported() {
    return fail_errno(kENOTSUPP, "map '{}': ring buffers have no elements to look up or update", name());
  }
  RingCtl* ctl_;
  uint64_t* cons_;
  uint64_t* prod_;
  uint8_t* data_;
  uint64_t mask_;
};

namespace {
std::unique_ptr<Map> make_ringbuf(MapContext&& c) { return std::unique_ptr<Map>(new RingbufMap(std::move(c))); }

RingbufMap* as_ring(Map& m) {
  return m.type() == MapType::Ringbuf ? static_cast<RingbufMap*>(&m) : nullptr;
}
}  // namespace

const MapOps kRingbufOps = {MapType::Ringbuf, validate_ringbuf, ringbuf_size, nullptr, ringbuf_dup, make_ringbuf};

}  // namespace detail

using detail::as_ring;
using detail::kPage;

void* ringbuf_reserve(Map& m, uint64_t size, uint64_t flags) noexcept {
  auto* r = as_ring(m);
  return r ? r->reserve(size, flags) : nullptr;
}

void ringbuf_submit(void* sample, uint64_t flags) noexcept {
  detail::RingbufMap::commit_sample(static_cast<uint8_t*>(sample) - kRingbufHdrSize, flags, false);
}

void ringbuf_discard(void* sample, uint64_t flags) noexcept {
  detail::RingbufMap::commit_sample(static_cast<uint8_t*>(sample) - kRingbufHdrSize, flags, true);
}

long ringbuf_output(Map& m, const void* data, uint64_t size, uint64_t flags) noexcept {
  auto* r = as_ring(m);
  if (!r || (flags & ~(kRbNoWakeup | kRbForceWakeup))) return -EINVAL;
  void* p = r->reserve(size, 0);
  if (!p) return -EAGAIN;
  if (size) std::memcpy(p, data, size);
  detail::RingbufMap::commit_sample(static_cast<uint8_t*>(p) - kRingbufHdrSize, flags, false);
  return 0;
}

uint64_t ringbuf_query(Map& m, uint64_t flags) noexcept {
  auto* r = as_ring(m);
  return r ? r->query(flags) : 0;
}

RingbufLayout ringbuf_layout(Map& m) noexcept {
  auto* r = as_ring(m);
  return r ? r->layout() : RingbufLayout{};
}

// ---- consumer

Expected<void> RingBufferConsumer::add(std::shared_ptr<Map> m, Callback cb) {
  if (!m || m->type() != MapType::Ringbuf) {
    return fail_errno(EINVAL, "map '{}': not a ring buffer", m ? m->name() : std::string("?"));
  }
  rings_.push_back(Ring{std::move(m), std::move(cb)});
  return {};
}

int RingBufferConsumer::consume_ring(Ring& r) {
  const RingbufLayout l = ringbuf_layout(*r.map);
  auto cons_ref = std::atomic_ref(*l.consumer_pos);
  uint64_t cons = cons_ref.load(std::memory_order_acquire);
  int n = 0;
  for (;;) {
    const uint64_t prod = std::atomic_ref(*l.producer_pos).load(std::memory_order_acquire);
    if (cons >= prod) return n;
    if (prod - cons > l.size || (cons & 7)) return -EINVAL;  // corrupt positions; never walk garbage
    while (cons < prod) {
      uint8_t* hdr = l.data + (cons & (l.size - 1));
      const uint32_t len = std::atomic_ref(*reinterpret_cast<uint32_t*>(hdr)).load(std::memory_order_acquire);
      if (len & kRingbufBusyBit) return n;  // not committed yet: records are consumed in order
      const uint32_t sz = len & ~(kRingbufBusyBit | kRingbufDiscardBit);
      const uint64_t adv = detail::round8(uint64_t{sz} + kRingbufHdrSize);
      if (adv > l.size) return -EINVAL;  // corrupt shared memory; never read past the ring
      cons += adv;
      if (!(len & kRingbufDiscardBit)) {
        const int rc = r.cb(hdr + kRingbufHdrSize, sz);
        if (rc < 0) {
          cons_ref.store(cons, std::memory_order_release);
          return rc;
        }
        ++n;
      }
      cons_ref.store(cons, std::memory_order_release);
    }
  }
}

int RingBufferConsumer::consume() {
  int total = 0;
  for (Ring& r : rings_) {
    const int n = consume_ring(r);
    if (n < 0) return n;
    total += n;
  }
  return total;
}

int RingBufferConsumer::poll(int timeout_ms) {
  if (const int n = consume(); n != 0 || rings_.empty()) return n;
  if (rings_.size() == 1) {
    auto* r = static_cast<detail::RingbufMap*>(rings_[0].map.get());
    r->wait(*ringbuf_layout(*r).consumer_pos, timeout_ms);
    return consume();
  }
  // Several rings: no single futex to wait on; check every millisecond.
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (const int n = consume(); n != 0) return n;
    if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= end) return 0;
  }
}

}  // namespace xbpf::maps
