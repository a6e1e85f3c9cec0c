#include "jit/code_memory.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
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


// ---- packs ------------------------------------------------------------------

constexpr size_t kPackBytes = size_t(1) << 20;  // 256 pages; bigger programs get their own mapping
constexpr size_t kMaxPackedBytes = kPackBytes / 4;

bool write_all(int fd, const uint8_t* p, size_t n, size_t off) {
  while (n) {
    const ssize_t w = pwrite(fd, p, n, off_t(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= size_t(w), off += size_t(w);
  }
  return true;
}

bool fill_int3(int fd, size_t off, size_t n) {
  static const std::vector<uint8_t> int3(size_t(64) << 10, 0xcc);
  while (n) {
    const size_t m = std::min(n, int3.size());
    if (!write_all(fd, int3.data(), m, off)) return false;
    off += m, n -= m;
  }
  return true;
}

}  // namespace

struct CodeMemory::Pack {
  int fd = -1;
  uint8_t* base = nullptr;
  std::vector<bool> used;  // per page
  bool frozen = false;     // a fork child's private copy: never written, never reused
  uint8_t* fork_copy = nullptr;  // during fork(): the contents as the child gets them
};

namespace {

class Packs {
 public:
  // A range of `pages` free pages (marked used), or {nullptr, nullptr}.
  std::pair<CodeMemory::Pack*, uint8_t*> take(size_t pages, const void* near) {
    std::lock_guard lk(mu_);
    if (disabled_) return {nullptr, nullptr};
    for (auto& p : packs_)
      if (uint8_t* a = carve(*p, pages)) return {p.get(), a};
    CodeMemory::Pack* p = create(near);
    if (!p) return {nullptr, nullptr};
    return {p, carve(*p, pages)};
  }

  // Overwrites a released range with int3, then frees it.
  void give(CodeMemory::Pack* p, uint8_t* a, size_t bytes) {
    std::lock_guard lk(mu_);
    if (p->frozen) return;  // the parent's pages, copied: leave them
    const size_t first = size_t(a - p->base) / page_size();
    if (!fill_int3(p->fd, size_t(a - p->base), bytes)) return;  // keep it used rather than reuse stale code
    for (size_t k = 0; k < bytes / page_size(); ++k) p->used[first + k] = false;
  }

  bool install(CodeMemory::Pack* p, uint8_t* a, std::span<const uint8_t> image) {
    std::lock_guard lk(mu_);
    return !p->frozen && write_all(p->fd, image.data(), image.size(), size_t(a - p->base));
  }

 private:
  uint8_t* carve(CodeMemory::Pack& p, size_t pages) {
    if (p.frozen) return nullptr;
    size_t run = 0;
    for (size_t k = 0; k < p.used.size(); ++k) {
      run = p.used[k] ? 0 : run + 1;
      if (run == pages) {
        for (size_t j = k + 1 - pages; j <= k; ++j) p.used[j] = true;
        return p.base + (k + 1 - pages) * page_size();
      }
    }
    return nullptr;
  }

  CodeMemory::Pack* create(const void* near) {
    static std::once_flag atfork;
    std::call_once(atfork, [] { pthread_atfork(&Packs::prepare, &Packs::parent, &Packs::child); });
    if (const char* e = std::getenv("XBPF_JIT_NO_PACK"); e && *e && *e != '0') return disable(-1);
    int fd = -1;
#ifdef MFD_EXEC
    fd = memfd_create("xbpf-jit", MFD_CLOEXEC | MFD_EXEC);  // vm.memfd_noexec = 1 wants it said
#endif
    if (fd < 0) fd = memfd_create("xbpf-jit", MFD_CLOEXEC);
    if (fd < 0) return disable(-1);
    if (ftruncate(fd, off_t(kPackBytes)) != 0 || !fill_int3(fd, 0, kPackBytes)) return disable(fd);
    void* m = mmap(hint_near(near, kPackBytes), kPackBytes, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED) return disable(fd);  // noexec memfds, an LSM: the mprotect path
    auto p = std::make_unique<CodeMemory::Pack>();
    p->fd = fd;
    p->base = static_cast<uint8_t*>(m);
    p->used.assign(kPackBytes / page_size(), false);
    packs_.push_back(std::move(p));
    return packs_.back().get();
  }

  CodeMemory::Pack* disable(int fd) {
    if (fd >= 0) close(fd);
    disabled_ = true;
    return nullptr;
  }

  // fork() handlers (below).
  static void prepare();
  static void parent();
  static void child();

  std::mutex mu_;
  std::vector<std::unique_ptr<CodeMemory::Pack>> packs_;  // never freed: code may run until exit
  bool disabled_ = false;
};

Packs& packs() {
  static Packs* p = new Packs();  // never destroyed: code may be released during exit
  return *p;
}

// fork(): the child must not share writable-through-the-fd code with its
// parent, or the parent's next compile could overwrite code the child still
// runs. Before the fork (the lock held: no pack changes) each pack is copied
// to private memory, which the child inherits as it was at the fork; the
// child puts its copy read+execute at the pack's address (the programs it
// inherited keep running) and starts new packs for its own compiles; the
// parent drops the copies.
void Packs::prepare() {
  Packs& ps = packs();
  ps.mu_.lock();
  for (auto& p : ps.packs_) {
    if (p->frozen) continue;
    void* copy = mmap(nullptr, kPackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p->fork_copy = copy == MAP_FAILED ? nullptr : static_cast<uint8_t*>(copy);
    if (p->fork_copy) std::memcpy(p->fork_copy, p->base, kPackBytes);
  }
}

void Packs::parent() {
  Packs& ps = packs();
  for (auto& p : ps.packs_)
    if (p->fork_copy) munmap(std::exchange(p->fork_copy, nullptr), kPackBytes);
  ps.mu_.unlock();
}

void Packs::child() {
  Packs& ps = packs();
  for (auto& p : ps.packs_) {
    if (p->frozen) continue;
    if (uint8_t* copy = std::exchange(p->fork_copy, nullptr)) {
      const bool ok = mprotect(copy, kPackBytes, PROT_READ | PROT_EXEC) == 0 &&
                      mremap(copy, kPackBytes, kPackBytes, MREMAP_MAYMOVE | MREMAP_FIXED, p->base) != MAP_FAILED;
      if (!ok) munmap(copy, kPackBytes);
    }
    // (Should the copy fail, the child keeps the shared pages; it never
    // writes them: frozen.)
    close(p->fd);
    p->fd = -1;
    p->frozen = true;
  }
  ps.mu_.unlock();
}

}  // namespace

Expected<CodeMemory> CodeMemory::allocate(size_t size, const void* near) {
  const size_t page = page_size();
  const size_t want = (std::max<size_t>(size, 1) + page - 1) / page * page;
  CodeMemory m;
  m.size_ = size;
  if (want <= kMaxPackedBytes) {
    if (auto [pack, a] = packs().take(want / page, near); pack) {
      m.pack_ = pack;
      m.data_ = a;
      m.mapped_ = want;
      return m;
    }
  }
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

Expected<void> CodeMemory::install(std::span<const uint8_t> image) {
  if (sealed_) return fail(Errc::invalid_argument, "jit: code memory already installed");
  if (image.size() > size_) return fail(Errc::invalid_argument, "jit: {} bytes of code for {}", image.size(), size_);
  if (pack_) {
    if (!packs().install(pack_, data_, image)) {
      const int e = errno;
      return fail_errno(e, "jit: writing code to its pack failed: {}", std::strerror(e));
    }
    sealed_ = true;
    return {};
  }
  std::memcpy(data_, image.data(), image.size());
  // Whatever a previous user left after our code traps if ever reached.
  std::memset(data_ + image.size(), 0xcc, mapped_ - image.size());
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
      sealed_(std::exchange(o.sealed_, false)),
      pack_(std::exchange(o.pack_, nullptr)) {}

CodeMemory& CodeMemory::operator=(CodeMemory&& o) noexcept {
  if (this != &o) {
    this->~CodeMemory();
    new (this) CodeMemory(std::move(o));
  }
  return *this;
}

CodeMemory::~CodeMemory() {
  if (!data_) return;
  if (pack_) {
    packs().give(pack_, data_, mapped_);
    return;
  }
  // Executable pages stop being executable before anyone may write them.
  const bool writable = !sealed_ || mprotect(data_, mapped_, PROT_READ | PROT_WRITE) == 0;
  if (writable && pool().give(data_, mapped_)) return;
  munmap(data_, mapped_);
}

}  // namespace xbpf::jit
