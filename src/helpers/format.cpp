// bpf_trace_printk and bpf_snprintf: the kernel's format subset
// (bpf_bprintf_prepare): %d %i %u %x %X with l/ll, %p %px %pK, %s, %c, %%,
// flags "-+ 0" and a width. Anything else is -EINVAL, as in the kernel.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "helpers/impl.hpp"
#include "helpers/trace_log.hpp"

namespace xbpf::helpers::impl {

namespace {
constexpr size_t kMaxArgs = 12;      // MAX_BPRINTF_VARARGS
constexpr size_t kStrArgMax = 512;   // MAX_BPRINTF_BUF / per-%s bound

// Formats one integer conversion `spec` ("%-08llx") with the argument.
void put_int(std::string& out, const std::string& spec, char conv, int lmod, uint64_t v) {
  char buf[96];
  std::string f = spec + "ll" + conv;
  const bool is_signed = conv == 'd' || conv == 'i';
  if (is_signed) {
    const long long s = lmod == 0 ? (long long)int32_t(v) : (long long)int64_t(v);
    std::snprintf(buf, sizeof buf, f.c_str(), s);
  } else {
    const unsigned long long u = lmod == 0 ? (unsigned long long)uint32_t(v) : (unsigned long long)v;
    std::snprintf(buf, sizeof buf, f.c_str(), u);
  }
  out += buf;
}

void put_str(std::string& out, const std::string& spec, uint64_t p) {
  char s[kStrArgMax];
  if (safe_read_str(s, p, sizeof s) < 0) s[0] = 0;  // the kernel prints "" on a fault
  const std::string f = spec + "s";
  const int need = std::snprintf(nullptr, 0, f.c_str(), s);
  std::string tmp(size_t(need) + 1, '\0');
  std::snprintf(tmp.data(), tmp.size(), f.c_str(), s);
  tmp.resize(size_t(need));
  out += tmp;
}
}  // namespace

Formatted format(std::string_view fmt, const uint64_t* args, size_t nargs) {
  Formatted r;
  size_t used = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char ch = fmt[i];
    if (!std::isprint(static_cast<unsigned char>(ch)) && !std::isspace(static_cast<unsigned char>(ch)))
      return {-EINVAL, {}};
    if (ch != '%') {
      r.text += ch;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '%') {
      r.text += '%';
      ++i;
      continue;
    }
    std::string spec = "%";
    ++i;
    while (i < fmt.size() && std::strchr("-+ 0", fmt[i])) spec += fmt[i++];
    while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) spec += fmt[i++];
    if (i >= fmt.size()) return {-EINVAL, {}};
    if (used >= nargs) return {-EINVAL, {}};
    const uint64_t arg = args[used++];
    char conv = fmt[i];
    if (conv == 'p') {
      // %p, %px, %pK: the address in hex (no pointer hashing in user space).
      if (i + 1 < fmt.size() && (fmt[i + 1] == 'x' || fmt[i + 1] == 'K')) ++i;
      else if (i + 1 < fmt.size() && std::isalnum(static_cast<unsigned char>(fmt[i + 1]))) return {-EINVAL, {}};
      put_int(r.text, spec == "%" ? "%016" : spec, 'x', 2, arg);
      continue;
    }
    if (conv == 's') { put_str(r.text, spec, arg); continue; }
    if (conv == 'c') { r.text += char(arg); continue; }
    int lmod = 0;
    if (conv == 'l') {
      lmod = 1;
      if (++i < fmt.size() && fmt[i] == 'l') { lmod = 2; ++i; }
      if (i >= fmt.size()) return {-EINVAL, {}};
      conv = fmt[i];
    }
    if (!std::strchr("diuxX", conv)) return {-EINVAL, {}};
    put_int(r.text, spec, conv, lmod, arg);
  }
  return r;
}

// bpf_trace_printk(fmt, fmt_size, a1, a2, a3): fmt must be NUL-terminated
// inside fmt_size; returns the length written to the trace log.
XBPF_HELPER(trace_printk) {
  if (r2 == 0 || !vm::helper_access_ok(*c, r1, r2, false)) return uint64_t(-EINVAL);
  const char* f = reinterpret_cast<const char*>(r1);
  if (f[r2 - 1] != 0) return uint64_t(-EINVAL);
  const uint64_t args[3] = {r3, r4, r5};
  // Count conversions so that a format with more than three is refused.
  Formatted out = format(std::string_view(f, std::strlen(f)), args, 3);
  if (out.err) return uint64_t(out.err);
  if (RunState* s = state(c); s && s->trace) s->trace->write(out.text);
  return out.text.size();
}

// bpf_snprintf(str, str_size, fmt, data, data_len): data is an array of u64
// arguments; returns the would-be length including the NUL.
XBPF_HELPER(snprintf) {
  if (r5 % 8 != 0 || r5 / 8 > kMaxArgs) return uint64_t(-EINVAL);
  if ((r2 && !vm::helper_access_ok(*c, r1, r2, true)) || (r5 && !vm::helper_access_ok(*c, r4, r5, false)))
    return uint64_t(-EFAULT);
  char fmt[1024];
  if (safe_read_str(fmt, r3, sizeof fmt) < 0 || !vm::helper_access_ok(*c, r3, std::strlen(fmt) + 1, false))
    return uint64_t(-EINVAL);
  uint64_t args[kMaxArgs] = {};
  if (r5) std::memcpy(args, reinterpret_cast<const void*>(r4), r5);
  Formatted out = format(fmt, args, r5 / 8);
  if (out.err) return uint64_t(out.err);
  if (r2) {
    const size_t n = std::min<size_t>(out.text.size(), r2 - 1);
    std::memcpy(reinterpret_cast<char*>(r1), out.text.data(), n);
    reinterpret_cast<char*>(r1)[n] = 0;
  }
  return out.text.size() + 1;
}

}  // namespace xbpf::helpers::impl
