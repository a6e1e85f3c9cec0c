// Program contexts: the kernel's uapi structs, literally.
//
// Choice (and why): a packet-program context holds 32-bit packet pointers
// (xdp_md.data, __sk_buff.data, ...). Instead of rewriting context loads at
// load time (what the kernel's verifier does with convert_ctx_access), xbpf
// allocates packet buffers below 4 GiB (mmap MAP_32BIT), so the 32-bit fields
// hold real addresses and the program's own `(void *)(long)ctx->data` works
// unchanged in the interpreter and in a future JIT, with no per-load cost.
// Helpers that need more than the uapi struct (packet bounds) find it in
// helpers::RunState, not after the struct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "kabi/kernel_types.hpp"
#include "support/error.hpp"

struct xdp_md;  // linux/bpf.h (not included here: some users define the uapi types themselves)

namespace xbpf::helpers {
struct PacketState;  // helpers/run_state.hpp
}

namespace xbpf::runtime {

using kabi::ProgType;

// Sizes of the uapi contexts (sizeof in linux/bpf.h; pt_regs for x86-64; a
// tracepoint's record up to PERF_MAX_TRACE_SIZE). Never less than the verifier
// lets a program of the type read (runtime_types_test checks), since a
// verified program's context accesses run unchecked.
[[nodiscard]] size_t context_size(ProgType t);

// A page-aligned buffer below 4 GiB (MAP_32BIT), zero-filled. Movable.
class LowBuffer {
 public:
  // Zeroed, as fresh anonymous memory, up to `zero_bytes`; a reused buffer
  // keeps old contents past that (callers that expose those bytes clear them).
  // Errors: ENOMEM (Errc::os) when no low memory is left.
  [[nodiscard]] static Expected<LowBuffer> allocate(size_t size, size_t zero_bytes = SIZE_MAX);
  LowBuffer() = default;
  LowBuffer(LowBuffer&& o) noexcept : p_(o.p_), size_(o.size_) { o.p_ = nullptr; o.size_ = 0; }
  LowBuffer& operator=(LowBuffer&& o) noexcept;
  ~LowBuffer();
  [[nodiscard]] uint8_t* data() const { return p_; }
  [[nodiscard]] size_t size() const { return size_; }

 private:
  uint8_t* p_ = nullptr;
  size_t size_ = 0;
};

// Low 32 bits of a pointer into a LowBuffer (what the uapi field holds).
[[nodiscard]] inline uint32_t low32(const void* p) { return uint32_t(reinterpret_cast<uintptr_t>(p)); }

// The frame an XDP program runs on, as the kernel's BPF_PROG_TEST_RUN and
// generic XDP lay it out: one page, XDP_PACKET_HEADROOM before the data,
// skb_shared_info's room at the end. Used by the test run and by packet hooks.
struct XdpFrame {
  static constexpr size_t kPage = 4096;
  static constexpr size_t kHeadroom = 256;     // XDP_PACKET_HEADROOM
  static constexpr size_t kShinfo = 320;       // SKB_DATA_ALIGN(sizeof(struct skb_shared_info)), x86-64
  static constexpr uint32_t kFrameSize = 40;   // sizeof(struct xdp_frame): headroom bpf_xdp_adjust_head may not use
  static constexpr size_t kEthHlen = 14;       // the smallest frame: an Ethernet header
  // The most data a frame holds after `headroom` bytes.
  static constexpr size_t max_data(size_t headroom = kHeadroom) { return kPage - headroom - kShinfo; }

  // Copies `bytes` (kEthHlen..max_data(headroom), the caller checks) into
  // `page` (kPage bytes of a LowBuffer) at `headroom`; its first `meta` bytes
  // are metadata. Points `p` and ctx's data, data_end and data_meta at it.
  static void lay_out(uint8_t* page, std::span<const uint8_t> bytes, size_t headroom, uint32_t meta, ::xdp_md& ctx,
                      helpers::PacketState& p);
};

}  // namespace xbpf::runtime
