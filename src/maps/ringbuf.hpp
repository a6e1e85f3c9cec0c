// BPF_MAP_TYPE_RINGBUF: the program-side helpers and a consumer like
// libbpf's ring_buffer__poll / __consume.
//
// Memory layout is the kernel's: a consumer page (consumer_pos), a producer
// page (producer_pos), then the data area mapped twice back-to-back so a
// record that wraps is contiguous. Each record starts with an 8-byte header
// {u32 len | BUSY (1<<31) | DISCARD (1<<30), u32 pg_off}; records are 8-byte
// aligned. A consumer in another process blocks on a futex in shared memory;
// producers only make the wake-up syscall when someone is actually waiting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "maps/map.hpp"

namespace xbpf::maps {

inline constexpr uint64_t kRbNoWakeup = 1;     // BPF_RB_NO_WAKEUP
inline constexpr uint64_t kRbForceWakeup = 2;  // BPF_RB_FORCE_WAKEUP
inline constexpr uint64_t kRbAvailData = 0;    // BPF_RB_AVAIL_DATA
inline constexpr uint64_t kRbRingSize = 1;     // BPF_RB_RING_SIZE
inline constexpr uint64_t kRbConsPos = 2;      // BPF_RB_CONS_POS
inline constexpr uint64_t kRbProdPos = 3;      // BPF_RB_PROD_POS
inline constexpr uint32_t kRingbufBusyBit = 1U << 31;
inline constexpr uint32_t kRingbufDiscardBit = 1U << 30;
inline constexpr uint32_t kRingbufHdrSize = 8;

// ---- program side. `m` must be a ringbuf map (the verifier guarantees it;
// other maps give nullptr / -EINVAL / 0).

// bpf_ringbuf_reserve: nullptr when flags != 0, too big, or no room.
[[nodiscard]] void* ringbuf_reserve(Map& m, uint64_t size, uint64_t flags) noexcept;
// bpf_ringbuf_submit / bpf_ringbuf_discard: `sample` from ringbuf_reserve.
void ringbuf_submit(void* sample, uint64_t flags) noexcept;
void ringbuf_discard(void* sample, uint64_t flags) noexcept;
// bpf_ringbuf_output: 0, -EINVAL (flags), -EAGAIN (no room).
[[nodiscard]] long ringbuf_output(Map& m, const void* data, uint64_t size, uint64_t flags) noexcept;
// bpf_ringbuf_query.
[[nodiscard]] uint64_t ringbuf_query(Map& m, uint64_t flags) noexcept;

// The raw layout (for a JIT or an mmap-style consumer).
struct RingbufLayout {
  uint64_t* consumer_pos = nullptr;
  uint64_t* producer_pos = nullptr;
  uint8_t* data = nullptr;  // 2 * size bytes readable (wrap-around view)
  uint64_t size = 0;        // max_entries, a power of two
};
[[nodiscard]] RingbufLayout ringbuf_layout(Map& m) noexcept;

// A consumer of one or more ring buffers (libbpf's struct ring_buffer).
// Not thread-safe: one consumer thread per RingBufferConsumer, and one
// consumer per ring buffer, as with libbpf.
class RingBufferConsumer {
 public:
  // Return < 0 to stop consuming; that value is returned by poll/consume.
  using Callback = std::function<int(const void* data, size_t size)>;

  // EINVAL when `m` is not a ringbuf map.
  [[nodiscard]] Expected<void> add(std::shared_ptr<Map> m, Callback cb);
  // Consumes what is available: records handled, or the callback's negative value.
  int consume();
  // Waits up to timeout_ms (-1 = forever) for data, then consumes; 0 on timeout.
  int poll(int timeout_ms);

 private:
  struct Ring {
    std::shared_ptr<Map> map;
    Callback cb;
  };
  int consume_ring(Ring& r);
  std::vector<Ring> rings_;
};

}  // namespace xbpf::maps
