// Locks that live in shared memory and survive their holder being killed.
//
// A lock word holds 0 (free) or the pid of the holder. A waiter that spins
// for long checks whether the holder still exists (kill(pid, 0) == ESRCH) and
// then takes the lock over (also after a grace period, see set_lock_grace_ms), so a process SIGKILLed inside a critical section
// cannot wedge a map for everybody else. The data the dead holder was
// changing may be half-written, as with a kernel oops; it is never unsafe for
// the map's own structure because every index read from shared memory is
// bounds-checked.
//
// The same functions implement the program-side bpf_spin_lock /
// bpf_spin_unlock on the 4-byte `struct bpf_spin_lock` inside a map value.
#pragma once

#include <atomic>
#include <cstdint>

namespace xbpf::maps {

// This process's pid, cached (getpid() is a syscall) and refreshed after fork.
[[nodiscard]] uint32_t self_pid() noexcept;

// The CPU the caller runs on, in [0, possible_cpus()). Per-CPU maps use it;
// unlike the kernel, two threads can share a CPU slot at the same time.
[[nodiscard]] uint32_t current_cpu() noexcept;

// How long a waiter lets a live holder keep a lock before taking it over
// (default 500 ms; critical sections are a few hundred ns). Entry points only.
void set_lock_grace_ms(uint32_t ms) noexcept;

namespace detail {
void lock_slow(std::atomic<uint32_t>& w, uint32_t me) noexcept;
}

inline void shm_lock(std::atomic<uint32_t>& w) noexcept {
  uint32_t expected = 0;
  const uint32_t me = self_pid();
  if (w.compare_exchange_strong(expected, me, std::memory_order_acquire, std::memory_order_relaxed)) return;
  detail::lock_slow(w, me);
}

inline void shm_unlock(std::atomic<uint32_t>& w) noexcept { w.store(0, std::memory_order_release); }

// bpf_spin_lock / bpf_spin_unlock on a value's `struct bpf_spin_lock` (4 bytes, 4-aligned).
inline void spin_lock(void* lock) noexcept { shm_lock(*static_cast<std::atomic<uint32_t>*>(lock)); }
inline void spin_unlock(void* lock) noexcept { shm_unlock(*static_cast<std::atomic<uint32_t>*>(lock)); }

// RAII guard for a shared-memory lock word.
class ShmGuard {
 public:
  explicit ShmGuard(std::atomic<uint32_t>& w) noexcept : w_(w) { shm_lock(w_); }
  ~ShmGuard() { shm_unlock(w_); }
  ShmGuard(const ShmGuard&) = delete;
  ShmGuard& operator=(const ShmGuard&) = delete;

 private:
  std::atomic<uint32_t>& w_;
};

}  // namespace xbpf::maps
