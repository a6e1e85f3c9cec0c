// Fault-safe memory access (probe_read*/probe_write_user) and the string
// helpers. Arbitrary addresses are copied with process_vm_readv/writev on
// our own pid: an unmapped byte makes the system call fail with EFAULT
// instead of raising SIGSEGV, the user-space equivalent of the kernel's
// copy_from_user_nofault.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sys/uio.h>
#include <unistd.h>

#include "helpers/impl.hpp"

namespace xbpf::helpers::impl {

namespace {
constexpr uint64_t kPage = 4096;

bool vm_copy(void* local, uint64_t remote, size_t n, bool write) {
  if (n == 0) return true;
  if (remote + n < remote) return false;
  iovec l{local, n};
  iovec r{reinterpret_cast<void*>(remote), n};
  const ssize_t got = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
                            : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
  return got == ssize_t(n);
}
}  // namespace

bool safe_read(void* dst, uint64_t src, size_t n) { return vm_copy(dst, src, n, false); }
bool safe_write(uint64_t dst, const void* src, size_t n) { return vm_copy(const_cast<void*>(src), dst, n, true); }

long safe_read_str(char* dst, uint64_t src, size_t n) {
  if (n == 0) return 0;
  size_t done = 0;
  // Page by page: a string may end right before an unmapped page.
  while (done < n - 1) {
    const uint64_t at = src + done;
    const size_t chunk = std::min<uint64_t>(n - 1 - done, kPage - at % kPage);
    if (!safe_read(dst + done, at, chunk)) return -EFAULT;
    if (const void* nul = std::memchr(dst + done, 0, chunk)) {
      return long(static_cast<const char*>(nul) - dst) + 1;
    }
    done += chunk;
  }
  dst[n - 1] = 0;
  return long(n);
}

namespace {
uint64_t read_user(vm::ExecContext* c, uint64_t dst, uint64_t size, uint64_t src) {
  if (!vm::helper_access_ok(*c, dst, size, true)) return uint64_t(-EFAULT);
  if (safe_read(reinterpret_cast<void*>(dst), src, size)) return 0;
  std::memset(reinterpret_cast<void*>(dst), 0, size);  // the kernel zeroes on failure
  return uint64_t(-EFAULT);
}
uint64_t read_user_str(vm::ExecContext* c, uint64_t dst, uint64_t size, uint64_t src) {
  if (size == 0) return 0;
  if (!vm::helper_access_ok(*c, dst, size, true)) return uint64_t(-EFAULT);
  const long n = safe_read_str(reinterpret_cast<char*>(dst), src, size);
  if (n < 0) std::memset(reinterpret_cast<void*>(dst), 0, size);
  return uint64_t(n);
}
// There is no kernel memory to read in user space: every address faults.
uint64_t read_kernel(vm::ExecContext* c, uint64_t dst, uint64_t size) {
  if (size == 0) return 0;
  if (!vm::helper_access_ok(*c, dst, size, true)) return uint64_t(-EFAULT);
  std::memset(reinterpret_cast<void*>(dst), 0, size);
  return uint64_t(-EFAULT);
}
}  // namespace

XBPF_HELPER(probe_read_user) { (void)r4, (void)r5; return read_user(c, r1, r2, r3); }
XBPF_HELPER(probe_read_user_str) { (void)r4, (void)r5; return read_user_str(c, r1, r2, r3); }
XBPF_HELPER(probe_read_kernel) { (void)r3, (void)r4, (void)r5; return read_kernel(c, r1, r2); }
XBPF_HELPER(probe_read_kernel_str) { (void)r3, (void)r4, (void)r5; return read_kernel(c, r1, r2); }

XBPF_HELPER(probe_write_user) {
  (void)r4, (void)r5;
  if (!vm::helper_access_ok(*c, r2, r3, false)) return uint64_t(-EFAULT);
  return safe_write(r1, reinterpret_cast<const void*>(r2), r3) ? 0 : uint64_t(-EFAULT);
}

// bpf_strncmp(s1, s1_sz, s2): strncmp(s1, s2, s1_sz) with the kernel's -1/0/1.
XBPF_HELPER(strncmp) {
  (void)r4, (void)r5;
  if (!vm::helper_access_ok(*c, r1, r2, false)) return uint64_t(-EFAULT);
  const auto* a = reinterpret_cast<const unsigned char*>(r1);
  for (uint64_t i = 0; i < r2; ++i) {
    if (!vm::helper_access_ok(*c, r3 + i, 1, false)) return uint64_t(-EFAULT);
    const unsigned char b = reinterpret_cast<const unsigned char*>(r3)[i];
    if (a[i] != b) return a[i] < b ? uint64_t(-1) : 1;
    if (a[i] == 0) break;
  }
  return 0;
}

namespace {
// The kernel's __bpf_strtoull: optional spaces and '-', then an integer in
// base 0 (auto), 8, 10 or 16 read from at most 63 bytes. Returns the number
// of bytes consumed, -EINVAL (no digits, bad flags) or -ERANGE.
long parse_ull(const char* buf, size_t len, uint64_t flags, uint64_t* res, bool* negative) {
  unsigned base = unsigned(flags & 0x1f);
  if (!len || (base != 0 && base != 8 && base != 10 && base != 16) || (flags & ~uint64_t{0x1f})) return -EINVAL;
  size_t at = 0;
  while (at < len && std::isspace(static_cast<unsigned char>(buf[at]))) ++at;
  *negative = at < len && buf[at] == '-';
  if (*negative) ++at;
  if (at == len) return -EINVAL;
  char str[64] = {};
  const size_t n = std::min(len - at, sizeof(str) - 1);
  std::memcpy(str, buf + at, n);
  const char* s = str;
  auto lower = [](char ch) { return char(std::tolower(static_cast<unsigned char>(ch))); };
  if (base == 0) base = s[0] == '0' ? (lower(s[1]) == 'x' && std::isxdigit(static_cast<unsigned char>(s[2])) ? 16 : 8) : 10;
  if (base == 16 && s[0] == '0' && lower(s[1]) == 'x') s += 2;
  uint64_t v = 0;
  size_t digits = 0;
  bool overflow = false;
  for (;; ++s, ++digits) {
    const char ch = lower(*s);
    unsigned d = ch >= '0' && ch <= '9' ? unsigned(ch - '0') : ch >= 'a' && ch <= 'f' ? unsigned(ch - 'a' + 10) : 99;
    if (d >= base) break;
    if (v > (UINT64_MAX - d) / base) overflow = true;
    v = v * base + d;
  }
  if (overflow) return -ERANGE;
  if (digits == 0) return -EINVAL;
  *res = v;
  return long(at + size_t(s - str));
}
}  // namespace

XBPF_HELPER(strtol) {
  (void)r5;
  if (!vm::helper_access_ok(*c, r1, r2, false) || !vm::helper_access_ok(*c, r4, 8, true)) return uint64_t(-EFAULT);
  uint64_t v = 0;
  bool neg = false;
  const long n = parse_ull(reinterpret_cast<const char*>(r1), r2, r3, &v, &neg);
  if (n < 0) return uint64_t(n);
  if (neg ? int64_t(0 - v) > 0 : int64_t(v) < 0) return uint64_t(-ERANGE);
  const int64_t out = neg ? int64_t(0 - v) : int64_t(v);
  std::memcpy(reinterpret_cast<void*>(r4), &out, 8);
  return uint64_t(n);
}

XBPF_HELPER(strtoul) {
  (void)r5;
  if (!vm::helper_access_ok(*c, r1, r2, false) || !vm::helper_access_ok(*c, r4, 8, true)) return uint64_t(-EFAULT);
  uint64_t v = 0;
  bool neg = false;
  const long n = parse_ull(reinterpret_cast<const char*>(r1), r2, r3, &v, &neg);
  if (n < 0) return uint64_t(n);
  if (neg) return uint64_t(-EINVAL);
  std::memcpy(reinterpret_cast<void*>(r4), &v, 8);
  return uint64_t(n);
}

}  // namespace xbpf::helpers::impl
