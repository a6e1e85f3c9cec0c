// Time, randomness, current task, stacks, attach information and
// perf_event_output. "Current task" is the calling thread of this process,
// which is what a user-space hook runs in.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <link.h>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <random>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

#include "helpers/impl.hpp"
#include "maps/perf_buffer.hpp"
#include "maps/stack_trace.hpp"

namespace xbpf::helpers::impl {

namespace {
// helpers::seed_clock's counter, per thread; step 0: the real clocks.
struct FixedClock {
  uint64_t next = 0, step = 0;
};
FixedClock& fixed_clock() {
  thread_local FixedClock c;
  return c;
}

uint64_t clock_ns(clockid_t id) {
  if (FixedClock& f = fixed_clock(); f.step) [[unlikely]] {
    const uint64_t t = f.next;
    f.next += f.step;
    return t;
  }
  timespec ts{};
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ULL + uint64_t(ts.tv_nsec);
}
#define UNUSED5 (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)c
}  // namespace

XBPF_HELPER(ktime_get_ns) { UNUSED5; return clock_ns(CLOCK_MONOTONIC); }
XBPF_HELPER(ktime_get_boot_ns) { UNUSED5; return clock_ns(CLOCK_BOOTTIME); }
XBPF_HELPER(ktime_get_coarse_ns) { UNUSED5; return clock_ns(CLOCK_MONOTONIC_COARSE); }

namespace {
// Per-thread generator: no locking, not cryptographic (neither is the kernel's).
std::mt19937& prandom() {
  thread_local std::mt19937 gen{std::random_device{}()};
  return gen;
}
}  // namespace

XBPF_HELPER(get_prandom_u32) {
  UNUSED5;
  return uint32_t(prandom()());
}

XBPF_HELPER(get_smp_processor_id) {
  UNUSED5;
  const int cpu = sched_getcpu();
  return cpu < 0 ? 0 : uint64_t(cpu);
}

XBPF_HELPER(get_current_pid_tgid) {
  UNUSED5;
  return uint64_t(uint32_t(getpid())) << 32 | uint32_t(gettid());
}

XBPF_HELPER(get_current_uid_gid) {
  UNUSED5;
  return uint64_t(getgid()) << 32 | getuid();
}

// strscpy_pad of the thread's comm (16 bytes with the NUL) into buf.
XBPF_HELPER(get_current_comm) {
  (void)r3, (void)r4, (void)r5;
  if (r2 == 0 || !vm::helper_access_ok(*c, r1, r2, true)) return uint64_t(-EFAULT);
  char comm[17] = {};
  prctl(PR_GET_NAME, comm);
  auto* dst = reinterpret_cast<char*>(r1);
  std::memset(dst, 0, r2);
  std::memcpy(dst, comm, std::min<size_t>(std::strlen(comm), r2 - 1));
  return 0;
}

// ---- Stacks: bpf_get_stack, bpf_get_stackid ----
//
// As stackmap.c, over a user-space hook:
//  * A user stack (BPF_F_USER_STACK) starts at the struct pt_regs that
//    kprobe/uprobe contexts are and perf_event contexts begin with: regs->ip,
//    then one return address per frame-pointer frame ([bp] = caller's bp,
//    [bp+8] = return address), as x86's perf_callchain_user walks it. Frames
//    are read with process_vm_readv, so a bad bp ends the walk instead of
//    faulting; so do a zero or non-increasing bp (the kernel relies on the
//    depth limit alone there) and the depth limit, perf_event_max_stack's
//    default of 127 frames.
//  * A kernel stack: a user-space hook interrupted no kernel code, so the
//    trace is empty, which is what the kernel records for a uprobe (its regs
//    are user-mode and get_perf_callchain collects no kernel frames):
//    bpf_get_stack returns 0 with the buffer zeroed, bpf_get_stackid -EFAULT.
//  * No regs (other program types: tracepoint and raw_tracepoint contexts
//    carry none here; no run state): an empty trace too, the kernel's result
//    for a task without user memory.
namespace {

constexpr uint32_t kMaxStackDepth = 127;          // sysctl kernel.perf_event_max_stack default
constexpr uint64_t kFUserBuildId = 1ULL << 11;    // BPF_F_USER_BUILD_ID
constexpr uint64_t kGetStackFlags = maps::kFSkipFieldMask | maps::kFUserStack | kFUserBuildId;
constexpr uint64_t kGetStackIdFlags =
    maps::kFSkipFieldMask | maps::kFUserStack | maps::kFFastStackCmp | maps::kFReuseStackId;

struct UserRegs {
  uint64_t ip = 0;
  uint64_t bp = 0;
};

// The regs at the start of the context, if the program type has them.
// -EFAULT: a checked program passed a context it may not read.
long context_regs(vm::ExecContext* c, uint64_t ctx, UserRegs* out) {
#if defined(__x86_64__)
  const RunState* s = state(c);
  if (!s || ctx == 0) return 0;
  if (s->prog_type != kabi::ProgType::Kprobe && s->prog_type != kabi::ProgType::PerfEvent) return 0;
  if (!vm::helper_access_ok(*c, ctx, sizeof(bpf_user_pt_regs_t), false)) return -EFAULT;
  const auto* regs = reinterpret_cast<const bpf_user_pt_regs_t*>(ctx);
  *out = {regs->rip, regs->rbp};
  return 1;
#else
  (void)c, (void)ctx, (void)out;
  return 0;  // only x86-64's pt_regs layout is modelled
#endif
}

// Fills ips[0..max) innermost first; returns the frame count or -EFAULT.
long collect_stack(vm::ExecContext* c, uint64_t ctx, bool user, uint64_t* ips, uint32_t max) {
  if (!user || max == 0) return 0;
  UserRegs r;
  if (const long rc = context_regs(c, ctx, &r); rc <= 0) return rc;
  uint32_t nr = 0;
  ips[nr++] = r.ip;
  uint64_t fp = r.bp;
  while (nr < max && fp != 0) {
    uint64_t frame[2];  // saved bp, return address
    if (!safe_read(frame, fp, sizeof frame)) break;
    ips[nr++] = frame[1];
    if (frame[0] <= fp) break;  // callers' frames lie above: a loop or a switched stack
    fp = frame[0];
  }
  return long(nr);
}

// The loaded object containing `ip` (dl_iterate_phdr), as the kernel finds
// the file-backed vma: its build id and the file offset of ip.
struct BuildIdQuery {
  uint64_t ip = 0;
  bool valid = false;
  uint64_t offset = 0;
  unsigned char id[BPF_BUILD_ID_SIZE] = {};
};

// The NT_GNU_BUILD_ID note in [p, p+size), read fault-safely.
bool find_build_id(uint64_t p, uint64_t size, unsigned char* id) {
  const uint64_t end = p + size;
  while (p + sizeof(ElfW(Nhdr)) <= end) {
    ElfW(Nhdr) n;
    if (!safe_read(&n, p, sizeof n)) return false;
    const uint64_t name = p + sizeof n;
    const uint64_t desc = name + ((uint64_t{n.n_namesz} + 3) & ~uint64_t{3});
    const uint64_t next = desc + ((uint64_t{n.n_descsz} + 3) & ~uint64_t{3});
    if (next > end || next <= p) return false;
    char gnu[4];
    if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && safe_read(gnu, name, 4) && std::memcmp(gnu, "GNU", 4) == 0 &&
        n.n_descsz > 0 && n.n_descsz <= BPF_BUILD_ID_SIZE) {
      std::memset(id, 0, BPF_BUILD_ID_SIZE);
      return safe_read(id, desc, n.n_descsz);
    }
    p = next;
  }
  return false;
}

int build_id_of_object(dl_phdr_info* info, size_t, void* arg) {
  auto* q = static_cast<BuildIdQuery*>(arg);
  const ElfW(Phdr)* seg = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uint64_t lo = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && q->ip >= lo && q->ip - lo < ph.p_memsz) seg = &ph;
  }
  if (!seg) return 0;
  // The vDSO is not file-backed: the kernel reports its ips as plain ips.
  const uint64_t vdso = getauxval(AT_SYSINFO_EHDR);
  if (vdso && reinterpret_cast<uint64_t>(info->dlpi_phdr) >= vdso && reinterpret_cast<uint64_t>(info->dlpi_phdr) < vdso + 4096)
    return 1;
  for (int i = 0; i < info->dlpi_phnum && !q->valid; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_NOTE) q->valid = find_build_id(info->dlpi_addr + ph.p_vaddr, ph.p_filesz, q->id);
  }
  q->offset = q->ip - (info->dlpi_addr + seg->p_vaddr) + seg->p_offset;
  return 1;
}

// stack_map_get_build_id_offset: per ip, VALID (build id, file offset) or
// IP (the ip itself) when no loaded ELF object with a build id holds it.
void fill_build_ids(bpf_stack_build_id* out, const uint64_t* ips, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    BuildIdQuery q;
    q.ip = ips[i];
    dl_iterate_phdr(build_id_of_object, &q);
    std::memset(&out[i], 0, sizeof out[i]);
    if (q.valid) {
      out[i].status = BPF_STACK_BUILD_ID_VALID;
      std::memcpy(out[i].build_id, q.id, sizeof q.id);
      out[i].offset = q.offset;
    } else {
      out[i].status = BPF_STACK_BUILD_ID_IP;
      out[i].ip = ips[i];
    }
  }
}

}  // namespace

// bpf_get_stack(ctx, buf, size, flags): bytes written (a multiple of the
// element size: 8, or 32 with BPF_F_USER_BUILD_ID), the rest of buf zeroed;
// on error the whole buffer is zeroed: -EINVAL (flags, build ids without
// BPF_F_USER_STACK, size not a multiple of the element), -EFAULT (fewer
// frames than the skip count).
XBPF_HELPER(get_stack) {
  (void)r5;
  const auto size = uint32_t(r3);  // the kernel's argument is u32
  if (!vm::helper_access_ok(*c, r2, size, true)) return uint64_t(-EFAULT);
  auto* buf = reinterpret_cast<uint8_t*>(r2);
  const uint64_t flags = r4;
  const bool user = flags & maps::kFUserStack, build_id = flags & kFUserBuildId;
  const uint32_t skip = uint32_t(flags & maps::kFSkipFieldMask);
  const uint32_t elem = build_id ? uint32_t(sizeof(bpf_stack_build_id)) : 8;
  long err = -EINVAL;
  if ((flags & ~kGetStackFlags) == 0 && (user || !build_id) && size % elem == 0) {
    const uint32_t num = size / elem;
    const auto max_depth = uint32_t(std::min<uint64_t>(uint64_t{num} + skip, kMaxStackDepth));
    uint64_t ips[kMaxStackDepth];
    const long nr = collect_stack(c, r1, user, ips, max_depth);
    err = nr < 0 ? nr : -EFAULT;
    if (nr >= long(skip)) {
      const uint32_t n = std::min<uint32_t>(uint32_t(nr) - skip, num);
      if (build_id) {
        fill_build_ids(reinterpret_cast<bpf_stack_build_id*>(buf), ips + skip, n);
      } else {
        if (n) std::memcpy(buf, ips + skip, n * 8ULL);
      }
      const uint32_t len = n * elem;
      if (size > len) std::memset(buf + len, 0, size - len);
      return len;
    }
  }
  if (size) std::memset(buf, 0, size);
  return uint64_t(err);
}

// bpf_get_stackid(ctx, map, flags): the id of the stack in a
// BPF_MAP_TYPE_STACK_TRACE map (maps::stack_get_id), -EINVAL (flags, map),
// -EFAULT (no frames left after the skip count), -EEXIST (bucket taken).
XBPF_HELPER(get_stackid) {
  (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r2);
  const uint64_t flags = r3;
  if (flags & ~kGetStackIdFlags) return uint64_t(-EINVAL);
  if (!m || m->type() != kabi::MapType::StackTrace) return uint64_t(-EINVAL);
  const auto max_depth = uint32_t(std::min<uint64_t>(m->value_size() / 8 + (flags & maps::kFSkipFieldMask),
                                                     kMaxStackDepth));
  uint64_t ips[kMaxStackDepth];
  const long nr = collect_stack(c, r1, flags & maps::kFUserStack, ips, max_depth);
  if (nr < 0) return uint64_t(nr);
  return uint64_t(maps::stack_get_id(*m, ips, uint32_t(nr), flags));
}

XBPF_HELPER(get_func_ip) {
  (void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
  RunState* s = state(c);
  return s ? s->func_ip : 0;
}

XBPF_HELPER(get_attach_cookie) {
  (void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
  RunState* s = state(c);
  return s ? s->attach_cookie : 0;
}

// ---- bpf_perf_event_output(ctx, map, flags, data, size) ----
namespace {

// Program types whose helper is bpf_skb_event_output / bpf_xdp_event_output:
// BPF_F_CTXLEN_MASK appends that many bytes of the packet to the record.
bool packet_output(kabi::ProgType t) {
  using P = kabi::ProgType;
  switch (t) {
    case P::SocketFilter: case P::SchedCls: case P::SchedAct: case P::CgroupSkb:
    case P::LwtIn: case P::LwtOut: case P::LwtXmit: case P::LwtSeg6local: case P::SkSkb:
    case P::Xdp: return true;
    default: return false;
  }
}

}  // namespace

// The record goes to the map's shared per-index buffer, read by a
// maps::PerfBufferConsumer in any process. Returns 0, -EINVAL (flags, not a
// perf event array), -E2BIG (index >= max_entries, or a record too large for
// the 16-bit perf header), -ENOENT (no consumer on that index), -ENOSPC
// (buffer full; counted as lost), -EFAULT (ctx bytes past the packet).
// The kernel's -EOPNOTSUPP for an index that is not the current CPU has no
// counterpart: an index is a buffer here, not a per-CPU event.
XBPF_HELPER(perf_event_output) {
  (void)r1;
  const RunState* s = state(c);
  const bool with_packet = s && packet_output(s->prog_type);
  const uint64_t allowed = maps::kFIndexMask | (with_packet ? maps::kFCtxLenMask : 0);
  if (r3 & ~allowed) return uint64_t(-EINVAL);
  maps::Map* m = map_arg(c, r2);
  if (!m || m->type() != kabi::MapType::PerfEventArray) return uint64_t(-EINVAL);
  if (!vm::helper_access_ok(*c, r4, r5, false)) return uint64_t(-EFAULT);
  const uint64_t ctx_len = (r3 & maps::kFCtxLenMask) >> 32;
  if (ctx_len == 0) return uint64_t(maps::perf_event_output(*m, r3 & maps::kFIndexMask, reinterpret_cast<const void*>(r4), r5));
  const uint8_t* pkt = s->packet.data;
  if (!pkt || ctx_len > uint64_t(s->packet.data_end - pkt)) return uint64_t(-EFAULT);
  if (r5 + ctx_len > 0xffff) return uint64_t(-E2BIG);  // cannot fit a perf record, whatever the index
  thread_local std::vector<uint8_t> record;
  record.resize(r5 + ctx_len);
  if (r5) std::memcpy(record.data(), reinterpret_cast<const void*>(r4), r5);
  std::memcpy(record.data() + r5, pkt, ctx_len);
  return uint64_t(maps::perf_event_output(*m, r3 & maps::kFIndexMask, record.data(), record.size()));
}

}  // namespace xbpf::helpers::impl

namespace xbpf::helpers {
void seed_prandom(uint32_t seed) { impl::prandom().seed(seed); }
void seed_clock(uint64_t start, uint64_t step) { impl::fixed_clock() = {start, step}; }
void clear_clock() { impl::fixed_clock() = {}; }
}  // namespace xbpf::helpers
