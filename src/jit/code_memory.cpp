#include "jit/code_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <utility>

namespace xbpf::jit {

namespace {
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
}  // namespace

Expected<CodeMemory> CodeMemory::allocate(size_t size, const void* near) {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const size_t mapped = (std::max<size_t>(size, 1) + page - 1) / page * page;
  void* p = mmap(hint_near(near, mapped), mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    return fail_errno(e, "jit: mmap of {} bytes of code memory failed: {}", mapped, std::strerror(e));
  }
  CodeMemory m;
  m.data_ = static_cast<uint8_t*>(p);
  m.size_ = size;
  m.mapped_ = mapped;
  return m;
}

Expected<void> CodeMemory::seal() {
  if (sealed_) return {};
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
  if (data_) munmap(data_, mapped_);
}

}  // namespace xbpf::jit
