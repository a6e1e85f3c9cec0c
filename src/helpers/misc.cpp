// Time, randomness, current task, stacks, attach information and
// perf_event_output. "Current task" is the calling thread of this process,
// which is what a user-space hook runs in.
#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "helpers/impl.hpp"

namespace xbpf::helpers::impl {

namespace {
uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ULL + uint64_t(ts.tv_nsec);
}
#define UNUSED5 (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)c
}  // namespace

XBPF_HELPER(ktime_get_ns) { UNUSED5; return clock_ns(CLOCK_MONOTONIC); }
XBPF_HELPER(ktime_get_boot_ns) { UNUSED5; return clock_ns(CLOCK_BOOTTIME); }
XBPF_HELPER(ktime_get_coarse_ns) { UNUSED5; return clock_ns(CLOCK_MONOTONIC_COARSE); }

XBPF_HELPER(get_prandom_u32) {
  UNUSED5;
  // Per-thread generator: no locking, not cryptographic (neither is the kernel's).
  thread_local std::minstd_rand rng{std::random_device{}()};
  thread_local std::mt19937 gen{uint32_t(rng())};
  return uint32_t(gen());
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

// User-space hooks have no kernel stack, and user stacks are not unwound
// yet: both report "no stack" the way the kernel does when unwinding fails.
XBPF_HELPER(get_stack) {
  (void)r1, (void)r4, (void)r5;
  if (r3 && vm::helper_access_ok(*c, r2, r3, true)) std::memset(reinterpret_cast<void*>(r2), 0, r3);
  return uint64_t(-EFAULT);
}
XBPF_HELPER(get_stackid) { UNUSED5; return uint64_t(-EFAULT); }

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

// bpf_perf_event_output(ctx, map, flags, data, size): the record goes to the
// run's perf sink (the runtime routes it to the perf-event-array consumer).
XBPF_HELPER(perf_event_output) {
  (void)r1;
  constexpr uint64_t kIndexMask = 0xffffffffULL;  // BPF_F_INDEX_MASK
  constexpr uint64_t kCurrentCpu = kIndexMask;    // BPF_F_CURRENT_CPU
  maps::Map* m = map_arg(c, r2);
  if (!m || m->type() != kabi::MapType::PerfEventArray) return uint64_t(-EINVAL);
  if ((r3 & ~kIndexMask) != 0) return uint64_t(-EINVAL);
  if (!vm::helper_access_ok(*c, r4, r5, false)) return uint64_t(-EFAULT);
  RunState* s = state(c);
  if (!s || !s->perf_output) return uint64_t(-ENOENT);
  uint32_t cpu = uint32_t(r3 & kIndexMask);
  if (cpu == kCurrentCpu) {
    const int cur = sched_getcpu();
    cpu = cur < 0 ? 0 : uint32_t(cur);
  }
  if (cpu >= m->max_entries()) return uint64_t(-E2BIG);
  s->perf_output(cpu, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(r4), r5));
  return 0;
}

}  // namespace xbpf::helpers::impl
