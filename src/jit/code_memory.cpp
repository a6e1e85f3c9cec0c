#include "jit/code_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace xbpf::jit {

namespace {

size_t page_size() {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

// Successive hints walk up from 1 GiB below `near`, so programs compiled one
// after another do not ask for the same (now taken) range.
std::atomic<uintptr_t> g_cursor{0};

void* hint_near(const void* near, size_t mapped) {
  if (!near) return nullptr;
  constexpr uintptr_t kGiB = uintptr_t(1) << 30;
  const uintptr_t n = reinterpret_cast<uintptr_t>(near);
  if (n < 2 * kGiB) return nullptr;
  const uintptr_t lo = (n - kGiB) & ~(kGiB - 1);
  uintptr_t cur = g_cursor.load(std::memory_order_relaxed);
  if (cur < lo || cur + mapped > n) cur = lo;  // first use, or wrapped into the binary
  g_cursor.store(cur + mapped, std::memory_order_relaxed);
  return reinterpret_cast<void*>(cur);
}

// Released code pages, made read+write again (never executable while here)
// and kept for the next compile: a fresh page costs a page fault on first
// write, and faults are what dominates compile time on virtual machines.
// Bounded; beyond the bound pages are unmapped.
class PagePool {
 public:
  static constexpr size_t kMaxBytes = size_t(4) << 20;

  // A free run of at least `bytes` and at most twice that (best fit), or null.
  std::pair<uint8_t*, size_t> take(size_t bytes) {
    std::lock_guard lk(mu_);
    size_t best = free_.size();
    for (size_t k = 0; k < free_.size(); ++k) {
      const size_t n = free_[k].second;
      if (n >= bytes && n <= 2 * bytes && (best == free_.size() || n < free_[best].second)) best = k;
    }
    if (best == free_.size()) return {nullptr, 0};
    const auto run = free_[best];
    free_[best] = free_.back();
    free_.pop_back();
    bytes_ -= run.second;
    return run;
  }

  // Takes pages back (already read+write); false when the pool is full.
  bool give(uint8_t* p, size_t bytes) {
    std::lock_guard lk(mu_);
    if (bytes_ + bytes > kMaxBytes) return false;
    free_.push_back({p, bytes});
    bytes_ += bytes;
    return true;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<uint8_t*, size_t>> free_;
  size_t bytes_ = 0;
};

PagePool& pool() {
  static PagePool* p = new PagePool();  // never destroyed: code may be released during exit
  return *p;
}

}  // namespace

Expected<CodeMemory> CodeMemory::allocate(size_t size, const void* near) {
  const size_t page = page_size();
  const size_t want = (std::max<size_t>(size, 1) + page - 1) / page * page;
  CodeMemory m;
  m.size_ = size;
  if (auto [p, bytes] = pool().take(want); p) {
    m.data_ = p;
    m.mapped_ = bytes;
    return m;
  }
  void* p = mmap(hint_near(near, want), want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    return fail_errno(e, "jit: mmap of {} bytes of code memory failed: {}", want, std::strerror(e));
  }
  m.data_ = static_cast<uint8_t*>(p);
  m.mapped_ = want;
  return m;
}

Expected<void> CodeMemory::seal() {
  if (sealed_) return {};
  // Whatever a previous user left after our code traps if ever reached.
  std::memset(data_ + size_, 0xcc, mapped_ - size_);
  if (mprotect(data_, mapped_, PROT_READ | PROT_EXEC) != 0) {
    const int e = errno;
    return fail_errno(e, "jit: mprotect(PROT_READ|PROT_EXEC) failed: {}", std::strerror(e));
  }
  sealed_ = true;
  return {};
}

CodeMemory::CodeMemory(CodeMemory&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, 0)),
      sealed_(std::exchange(o.sealed_, false)) {}

CodeMemory& CodeMemory::operator=(CodeMemory&& o) noexcept {
  if (this != &o) {
    this->~CodeMemory();
    new (this) CodeMemory(std::move(o));
  }
  return *this;
}

CodeMemory::~CodeMemory() {
  if (!data_) return;
  // Executable pages stop being executable before anyone may write them.
  const bool writable = !sealed_ || mprotect(data_, mapped_, PROT_READ | PROT_WRITE) == 0;
  if (writable && pool().give(data_, mapped_)) return;
  munmap(data_, mapped_);
}

}  // namespace xbpf::jit
