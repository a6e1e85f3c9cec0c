#include "runtime/context.hpp"

#include <cerrno>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <sys/mman.h>

namespace xbpf::runtime {

size_t context_size(ProgType t) {
  switch (t) {
    case ProgType::Xdp: return sizeof(xdp_md);
    case ProgType::SocketFilter:
    case ProgType::SchedCls:
    case ProgType::SchedAct:
    case ProgType::CgroupSkb:
    case ProgType::LwtIn:
    case ProgType::LwtOut:
    case ProgType::LwtXmit:
    case ProgType::SkSkb: return sizeof(__sk_buff);
    case ProgType::SockOps: return sizeof(bpf_sock_ops);
    case ProgType::PerfEvent: return sizeof(bpf_perf_event_data);
    case ProgType::Kprobe: return sizeof(bpf_user_pt_regs_t);  // x86-64 struct pt_regs, 168 bytes
    case ProgType::RawTracepoint:
    case ProgType::RawTracepointWritable: return sizeof(bpf_raw_tracepoint_args) + 12 * sizeof(uint64_t);
    default: return 0;  // tracepoint: the event's own record; others: not modelled
  }
}

Expected<LowBuffer> LowBuffer::allocate(size_t size) {
  size = (size + 4095) & ~size_t{4095};
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (p == MAP_FAILED) return fail_errno(ENOMEM, "cannot allocate a {}-byte packet buffer below 4 GiB", size);
  LowBuffer b;
  b.p_ = static_cast<uint8_t*>(p);
  b.size_ = size;
  return b;
}

LowBuffer& LowBuffer::operator=(LowBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) munmap(p_, size_);
    p_ = o.p_;
    size_ = o.size_;
    o.p_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

LowBuffer::~LowBuffer() {
  if (p_) munmap(p_, size_);
}

}  // namespace xbpf::runtime
