#include "runtime/context.hpp"

#include <cerrno>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "helpers/run_state.hpp"

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
    case ProgType::CgroupSock: return sizeof(bpf_sock);
    case ProgType::CgroupSockAddr: return sizeof(bpf_sock_addr);
    case ProgType::Tracepoint: return 8192;  // PERF_MAX_TRACE_SIZE: the verifier lets reads reach it
    case ProgType::PerfEvent: return sizeof(bpf_perf_event_data);
    case ProgType::Kprobe: return sizeof(bpf_user_pt_regs_t);  // x86-64 struct pt_regs, 168 bytes
    case ProgType::RawTracepoint:
    case ProgType::RawTracepointWritable: return sizeof(bpf_raw_tracepoint_args) + 12 * sizeof(uint64_t);
    default: return 0;  // no context access the verifier allows
  }
}

namespace {

// Released buffers, kept per thread for the next test run: on this machine
// an munmap (a TLB shootdown) costs ~200 us, a hundred times the run itself,
// so a pcap of a million packets would spend minutes unmapping.
struct FreeBuffers {
  static constexpr size_t kMaxBytes = size_t{1} << 20;
  std::vector<std::pair<uint8_t*, size_t>> list;
  size_t bytes = 0;
  ~FreeBuffers() {
    for (auto [p, n] : list) munmap(p, n);
  }
};
thread_local FreeBuffers t_free;

void release(uint8_t* p, size_t n) {
  if (!p) return;
  if (t_free.bytes + n <= FreeBuffers::kMaxBytes) {
    t_free.list.emplace_back(p, n);
    t_free.bytes += n;
    return;
  }
  munmap(p, n);
}

}  // namespace

Expected<LowBuffer> LowBuffer::allocate(size_t size, size_t zero_bytes) {
  size = (size + 4095) & ~size_t{4095};
  LowBuffer b;
  for (size_t i = t_free.list.size(); i-- > 0;) {
    if (t_free.list[i].second != size) continue;
    b.p_ = t_free.list[i].first;
    b.size_ = size;
    t_free.list.erase(t_free.list.begin() + long(i));
    t_free.bytes -= size;
    std::memset(b.p_, 0, std::min(size, zero_bytes));  // as fresh anonymous memory
    return b;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (p == MAP_FAILED) return fail_errno(ENOMEM, "cannot allocate a {}-byte packet buffer below 4 GiB", size);
  b.p_ = static_cast<uint8_t*>(p);
  b.size_ = size;
  return b;
}

LowBuffer& LowBuffer::operator=(LowBuffer&& o) noexcept {
  if (this != &o) {
    release(p_, size_);
    p_ = o.p_;
    size_ = o.size_;
    o.p_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

LowBuffer::~LowBuffer() { release(p_, size_); }

void XdpFrame::lay_out(uint8_t* page, std::span<const uint8_t> bytes, size_t headroom, uint32_t meta, xdp_md& ctx,
                       helpers::PacketState& p) {
  std::memcpy(page + headroom, bytes.data(), bytes.size());
  p = {page,
       page + kPage - kShinfo,
       page + headroom + meta,
       page + headroom + bytes.size(),
       page + headroom,
       kFrameSize,
       &ctx.data,
       &ctx.data_end,
       &ctx.data_meta,
       nullptr,
       true};
  ctx.data = low32(p.data);
  ctx.data_end = low32(p.data_end);
  ctx.data_meta = low32(p.data_meta);
}

}  // namespace xbpf::runtime
