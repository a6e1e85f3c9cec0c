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

#include "kabi/kernel_types.hpp"
#include "support/error.hpp"

namespace xbpf::runtime {

using kabi::ProgType;

// Sizes of the uapi contexts (sizeof in linux/bpf.h; pt_regs for x86-64).
[[nodiscard]] size_t context_size(ProgType t);

// A page-aligned buffer below 4 GiB (MAP_32BIT), zero-filled. Movable.
class LowBuffer {
 public:
  // Errors: ENOMEM (Errc::os) when no low memory is left.
  [[nodiscard]] static Expected<LowBuffer> allocate(size_t size);
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

}  // namespace xbpf::runtime
