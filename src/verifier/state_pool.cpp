// Per-thread free lists for the verifier state's vectors (state.hpp).
#include <array>
#include <cstddef>
#include <new>
#include <vector>

#include "verifier/state.hpp"

namespace xbpf::verifier {
namespace {

constexpr size_t kStep = 16;  // malloc's own granularity: no block grows by the pool
constexpr size_t kClasses = kPoolMaxBytes / kStep;
// What one thread keeps at most: enough for the copies a fork makes and a
// finished path frees; blocks kept beyond that only fragment the heap.
constexpr size_t kMaxCachedBytes = 256 << 10;

struct Pool {
  std::array<std::vector<void*>, kClasses + 1> free;  // [c]: blocks of c * kStep bytes
  size_t cached = 0;
  ~Pool() {
    for (auto& list : free)
      for (void* p : list) ::operator delete(p);
    gone = true;
  }
  static thread_local bool gone;  // blocks freed during thread exit go to operator delete
};
thread_local bool Pool::gone = false;
thread_local Pool t_pool;

// Blocks of a class always have the class's full size, whichever thread
// frees them into which list.
size_t size_class(size_t bytes) { return bytes <= kStep ? 1 : (bytes + kStep - 1) / kStep; }

}  // namespace

void* pool_allocate(size_t bytes) {
  const size_t c = size_class(bytes);
  if (c > kClasses) return ::operator new(bytes);
  if (Pool::gone) return ::operator new(c * kStep);
  auto& list = t_pool.free[c];
  if (list.empty()) return ::operator new(c * kStep);
  void* p = list.back();
  list.pop_back();
  t_pool.cached -= c * kStep;
  return p;
}

void pool_free(void* p, size_t bytes) noexcept {
  if (!p) return;
  const size_t c = size_class(bytes);
  if (c > kClasses || Pool::gone || t_pool.cached + c * kStep > kMaxCachedBytes) {
    ::operator delete(p);
    return;
  }
  try {
    t_pool.free[c].push_back(p);
  } catch (...) {  // the list could not grow: give the block back instead
    ::operator delete(p);
    return;
  }
  t_pool.cached += c * kStep;
}

void pool_trim() noexcept {
  if (Pool::gone) return;
  for (auto& list : t_pool.free) {
    for (void* p : list) ::operator delete(p);
    list.clear();
  }
  t_pool.cached = 0;
}

}  // namespace xbpf::verifier
