// BPF_MAP_TYPE_PERF_EVENT_ARRAY (see perf_buffer.hpp). Storage: a control
// block (futex word for waking consumers), then per index a slot header and
// kPerfBufferBytes of ring. User-side update with any value enables an index
// (the kernel stores a perf event fd there), delete disables it.
#include <chrono>
#include <climits>
#include <cstring>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"
#include "maps/perf_buffer.hpp"

namespace xbpf::maps {

namespace detail {

namespace {

struct PerfCtl {
  std::atomic<uint32_t> waiters;
  std::atomic<uint32_t> seq;
  uint32_t reserved[14];
};

struct PerfSlot {
  std::atomic<uint32_t> lock;
  std::atomic<uint32_t> enabled;
  std::atomic<uint64_t> head;  // bytes produced (perf's data_head)
  std::atomic<uint64_t> tail;  // bytes consumed (perf's data_tail)
  std::atomic<uint64_t> lost;  // records dropped since the consumer last reported
  uint64_t reserved[4];
};
static_assert(sizeof(PerfSlot) == 64);

constexpr uint64_t kSlotBytes = sizeof(PerfSlot) + kPerfBufferBytes;

Expected<void> validate_perf(const MapAttr& a) {
  if (a.key_size != 4 || a.value_size != 4 || a.max_entries == 0) {
    return bad_attr(a, EINVAL, "perf event arrays need key_size 4, value_size 4 and max_entries > 0");
  }
  if (a.map_flags & ~(kFNumaNode | kAccessMask | kFPreserveElems)) {
    return bad_attr(a, EINVAL, "unsupported map_flags for a perf event array");
  }
  if (a.max_entries > 4096) return bad_attr(a, E2BIG, "xbpf supports up to 4096 perf event array entries");
  return {};
}

uint64_t perf_size(const MapAttr& a) { return sizeof(PerfCtl) + uint64_t{a.max_entries} * kSlotBytes; }

long futex(std::atomic<uint32_t>* w, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, val, ts, nullptr, 0);
}

}  // namespace

class PerfEventArrayMap : public ShmMap {
 public:
  explicit PerfEventArrayMap(MapContext&& ctx) : ShmMap(std::move(ctx)) {
    ctl_ = reinterpret_cast<PerfCtl*>(storage_);
  }
  PerfSlot* slot(uint32_t i) const { return reinterpret_cast<PerfSlot*>(storage_ + sizeof(PerfCtl) + i * kSlotBytes); }
  uint8_t* ring(uint32_t i) const { return reinterpret_cast<uint8_t*>(slot(i)) + sizeof(PerfSlot); }
  PerfCtl* ctl() const { return ctl_; }

  void* lookup_elem(const void*) noexcept override { return nullptr; }
  long update_elem(const void*, const void*, uint64_t) noexcept override { return -EOPNOTSUPP; }
  long delete_elem(const void*) noexcept override { return -EOPNOTSUPP; }
  Expected<void> lookup(const void*, void*, uint64_t) override {
    return fail_errno(kENOTSUPP, "map '{}': perf event array entries cannot be read back", name());
  }
  Expected<void> update(const void* key, const void*, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    if (flags != kAny) return fail_errno(EINVAL, "map '{}': flags must be BPF_ANY", name());
    uint32_t i;
    std::memcpy(&i, key, 4);
    if (i >= attr_.max_entries) return fail_errno(E2BIG, "map '{}': index {} >= max_entries", name(), i);
    slot(i)->enabled.store(1, std::memory_order_release);
    return {};
  }
  Expected<void> remove(const void* key) override {
    if (auto r = check_user_write(); !r) return r;
    uint32_t i;
    std::memcpy(&i, key, 4);
    if (i >= attr_.max_entries) return fail_errno(EINVAL, "map '{}': index {} out of range", name(), i);
    if (!slot(i)->enabled.exchange(0)) return fail_errno(ENOENT, "map '{}': index {} is not set", name(), i);
    return {};
  }
  Expected<void> get_next_key(const void* key, void* next_key) override {
    uint32_t i = 0;
    if (key) std::memcpy(&i, key, 4);
    const uint32_t next = (!key || i >= attr_.max_entries) ? 0 : i + 1;
    if (next >= attr_.max_entries) return fail_errno(ENOENT, "map '{}': no more keys", name());
    std::memcpy(next_key, &next, 4);
    return {};
  }

  long output(uint64_t flags, const void* data, uint64_t size) noexcept {
    if (flags & ~(kFIndexMask | kFCtxLenMask)) return -EINVAL;
    uint64_t index = flags & kFIndexMask;
    if (index == kFCurrentCpu) index = current_cpu();
    if (index >= attr_.max_entries) return -E2BIG;
    PerfSlot* s = slot(static_cast<uint32_t>(index));
    if (!s->enabled.load(std::memory_order_acquire)) return -ENOENT;
    const uint64_t raw = round8(size + 4) - 4;
    const uint64_t total = 8 + 4 + raw;
    if (total > 0xffff) return -E2BIG;  // perf_event_header.size is 16 bits
    uint8_t rec[16] = {};
    const uint32_t type = kPerfRecordSample, raw32 = static_cast<uint32_t>(raw);
    const auto size16 = static_cast<uint16_t>(total);
    std::memcpy(rec, &type, 4);
    std::memcpy(rec + 6, &size16, 2);
    std::memcpy(rec + 8, &raw32, 4);
    ShmGuard g(s->lock);
    const uint64_t head = s->head.load(std::memory_order_relaxed);
    if (head + total - s->tail.load(std::memory_order_acquire) > kPerfBufferBytes) {
      s->lost.fetch_add(1, std::memory_order_relaxed);
      return -ENOSPC;
    }
    put(ring(static_cast<uint32_t>(index)), head, rec, 12);
    put(ring(static_cast<uint32_t>(index)), head + 12, data, size);
    s->head.store(head + total, std::memory_order_seq_cst);
    if (ctl_->waiters.load(std::memory_order_seq_cst)) {
      ctl_->seq.fetch_add(1, std::memory_order_release);
      futex(&ctl_->seq, FUTEX_WAKE, INT_MAX, nullptr);
    }
    return 0;
  }

 private:
  // Copies into the ring at byte position `pos`, wrapping at its end.
  static void put(uint8_t* ring, uint64_t pos, const void* src, uint64_t n) {
    if (n == 0) return;
    const uint64_t off = pos % kPerfBufferBytes;
    const uint64_t first = std::min<uint64_t>(n, kPerfBufferBytes - off);
    std::memcpy(ring + off, src, first);
    std::memcpy(ring, static_cast<const uint8_t*>(src) + first, n - first);
  }
  PerfCtl* ctl_;
};

namespace {
std::unique_ptr<Map> make_perf(MapContext&& c) { return std::unique_ptr<Map>(new PerfEventArrayMap(std::move(c))); }
}  // namespace

const MapOps kPerfEventArrayOps = {MapType::PerfEventArray, validate_perf, perf_size, nullptr, nullptr, make_perf};

}  // namespace detail

long perf_event_output(Map& m, uint64_t flags, const void* data, uint64_t size) noexcept {
  if (m.type() != MapType::PerfEventArray) return -EINVAL;
  return static_cast<detail::PerfEventArrayMap&>(m).output(flags, data, size);
}

Expected<void> PerfBufferConsumer::add(std::shared_ptr<Map> m, SampleFn sample, LostFn lost) {
  if (!m || m->type() != MapType::PerfEventArray) {
    return fail_errno(EINVAL, "map '{}': not a perf event array", m ? m->name() : std::string("?"));
  }
  const int one = 1;
  for (uint32_t i = 0; i < m->max_entries(); ++i) {
    if (auto r = m->update(&i, &one, kAny); !r) return r;
  }
  maps_.push_back(Entry{std::move(m), std::move(sample), std::move(lost), {}});
  return {};
}

int PerfBufferConsumer::consume() {
  int n = 0;
  for (Entry& e : maps_) {
    auto& pm = static_cast<detail::PerfEventArrayMap&>(*e.map);
    for (uint32_t cpu = 0; cpu < pm.max_entries(); ++cpu) {
      detail::PerfSlot* s = pm.slot(cpu);
      const uint8_t* ring = pm.ring(cpu);
      if (const uint64_t lost = s->lost.exchange(0); lost && e.lost) {
        e.lost(cpu, lost);
        ++n;
      }
      uint64_t tail = s->tail.load(std::memory_order_relaxed);
      const uint64_t head = s->head.load(std::memory_order_acquire);
      if (head - tail > kPerfBufferBytes) continue;  // corrupt positions: skip this buffer
      while (tail + 12 <= head) {
        e.scratch.resize(12);
        auto get = [&](uint64_t pos, uint8_t* dst, uint64_t len) {
          for (uint64_t i = 0; i < len; ++i) dst[i] = ring[(pos + i) % kPerfBufferBytes];
        };
        get(tail, e.scratch.data(), 12);
        uint16_t size;
        uint32_t raw;
        std::memcpy(&size, e.scratch.data() + 6, 2);
        std::memcpy(&raw, e.scratch.data() + 8, 4);
        if (size < 12 || tail + size > head || raw + 12u != size) break;  // corrupt: stop at it
        e.scratch.resize(raw);
        get(tail + 12, e.scratch.data(), raw);
        tail += size;
        s->tail.store(tail, std::memory_order_release);
        e.sample(cpu, e.scratch.data(), raw);
        ++n;
      }
    }
  }
  return n;
}

int PerfBufferConsumer::poll(int timeout_ms) {
  if (const int n = consume(); n != 0 || maps_.empty()) return n;
  auto& pm = static_cast<detail::PerfEventArrayMap&>(*maps_[0].map);
  detail::PerfCtl* ctl = pm.ctl();
  ctl->waiters.fetch_add(1, std::memory_order_seq_cst);
  const uint32_t seen = ctl->seq.load(std::memory_order_acquire);
  int n = consume();
  if (n == 0) {
    // With several maps only the first one's futex wakes us; cap the sleep.
    const int ms = maps_.size() > 1 && (timeout_ms < 0 || timeout_ms > 10) ? 10 : timeout_ms;
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    detail::futex(&ctl->seq, FUTEX_WAIT, seen, ms < 0 ? nullptr : &ts);
    n = consume();
  }
  ctl->waiters.fetch_sub(1, std::memory_order_relaxed);
  return n;
}

}  // namespace xbpf::maps
