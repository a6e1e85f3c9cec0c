// BPF_MAP_TYPE_PERF_EVENT_ARRAY: one buffer per index (per CPU, as libbpf's
// perf_buffer opens one event per CPU), filled by bpf_perf_event_output with
// PERF_RECORD_SAMPLE records carrying PERF_SAMPLE_RAW data, and a consumer
// like libbpf's perf_buffer__poll.
//
// Record layout (as the kernel writes into a perf mmap ring):
//   struct perf_event_header { u32 type = 9; u16 misc = 0; u16 size; }
//   u32 raw_size;  u8 raw[raw_size]   (raw_size = round_up(size + 4, 8) - 4)
// Records lost to a full buffer are reported as PERF_RECORD_LOST counts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "maps/map.hpp"

namespace xbpf::maps {

inline constexpr uint64_t kFIndexMask = 0xffffffffULL;  // BPF_F_INDEX_MASK
inline constexpr uint64_t kFCurrentCpu = kFIndexMask;   // BPF_F_CURRENT_CPU
inline constexpr uint64_t kFCtxLenMask = 0xfffffULL << 32;  // BPF_F_CTXLEN_MASK
inline constexpr uint32_t kPerfRecordSample = 9;
inline constexpr uint32_t kPerfRecordLost = 2;
// Bytes of record data each index can buffer.
inline constexpr uint32_t kPerfBufferBytes = 64 * 1024;

// bpf_perf_event_output: 0, -EINVAL (flags), -E2BIG (index), -ENOENT (no
// consumer on that index), -ENOSPC (buffer full: counted as lost).
[[nodiscard]] long perf_event_output(Map& m, uint64_t flags, const void* data, uint64_t size) noexcept;

// libbpf's perf_buffer. add() enables every index of the map (what opening
// one perf event per CPU does). Not thread-safe; one consumer per map.
class PerfBufferConsumer {
 public:
  using SampleFn = std::function<void(uint32_t cpu, const void* data, uint32_t size)>;
  using LostFn = std::function<void(uint32_t cpu, uint64_t lost)>;
  [[nodiscard]] Expected<void> add(std::shared_ptr<Map> m, SampleFn sample, LostFn lost = nullptr);
  // Records handled (samples + lost notices).
  int consume();
  // Waits up to timeout_ms (-1 = forever) for data, then consumes.
  int poll(int timeout_ms);

 private:
  struct Entry {
    std::shared_ptr<Map> map;
    SampleFn sample;
    LostFn lost;
    std::vector<uint8_t> scratch;  // a record that wraps is reassembled here
  };
  std::vector<Entry> maps_;
};

}  // namespace xbpf::maps
