#include "maps/lock.hpp"

#include <cerrno>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "maps/map.hpp"

namespace xbpf::maps {

namespace {

std::atomic<uint32_t> g_pid{0};

void refresh_pid() { g_pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed); }

// Registered once; keeps g_pid right in fork children.
const bool g_atfork = [] {
  refresh_pid();
  pthread_atfork(nullptr, nullptr, refresh_pid);
  return true;
}();

std::atomic<uint32_t> g_grace_ms{500};

// Also true for values no process can have (PID_MAX_LIMIT is 4M): a lock word
// scribbled over by someone else must not send signals to process groups.
bool holder_is_dead(uint32_t pid) {
  if (pid > (1U << 22)) return true;
  return kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH;
}

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

uint32_t self_pid() noexcept {
  uint32_t p = g_pid.load(std::memory_order_relaxed);
  if (p == 0) [[unlikely]] {
    (void)g_atfork;
    refresh_pid();
    p = g_pid.load(std::memory_order_relaxed);
  }
  return p;
}

uint32_t current_cpu() noexcept {
  // glibc 2.35+ answers from the rseq area: no syscall.
  const int c = sched_getcpu();
  const uint32_t n = possible_cpus();
  return c < 0 ? 0 : static_cast<uint32_t>(c) % n;
}

namespace detail {

void lock_slow(std::atomic<uint32_t>& w, uint32_t me) noexcept {
  uint64_t since = 0;
  for (uint32_t spins = 1;; ++spins) {
    uint32_t cur = w.load(std::memory_order_relaxed);
    if (cur == 0) {
      if (w.compare_exchange_weak(cur, me, std::memory_order_acquire, std::memory_order_relaxed)) return;
      continue;
    }
    if ((spins & 1023) == 0) {
      // Long wait: the holder may have been killed inside its critical section.
      // Critical sections are short (a value copy); a holder that keeps the
      // lock past the grace period is stopped, wedged or a scribbled word.
      if (since == 0) since = now_ms();
      // Our own pid counts too once the grace period is over: another thread
      // of ours is never inside a critical section that long, and a word
      // that merely reads as our pid (a corrupt or hostile map file) must
      // not hang us.
      const bool stale = (cur != me && holder_is_dead(cur)) || now_ms() - since > g_grace_ms.load();
      if (stale && w.compare_exchange_strong(cur, me, std::memory_order_acquire, std::memory_order_relaxed)) return;
      sched_yield();
    } else {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
  }
}

}  // namespace detail

void set_lock_grace_ms(uint32_t ms) noexcept { g_grace_ms.store(ms); }

}  // namespace xbpf::maps
