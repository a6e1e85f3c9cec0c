// Unprivileged BPF on this machine, for the tests and fuzzers that use the
// kernel's verifier as an oracle (verifier_kernel_test, fuzz_verifier_kernel):
// the kernel refuses every load without capabilities while
// kernel.unprivileged_bpf_disabled is non-zero. 2 may be set back to 0 by
// root; 1 is locked until reboot.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

namespace xbpf::test {

inline constexpr const char* kUnprivSysctl = "/proc/sys/kernel/unprivileged_bpf_disabled";

inline std::optional<int> read_unpriv_sysctl() {
  std::ifstream in(kUnprivSysctl);
  int v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}

inline bool write_unpriv_sysctl(int v) {
  std::ofstream out(kUnprivSysctl);
  out << v;
  out.flush();
  return static_cast<bool>(out);
}

// Lets unprivileged programs load while alive (unprivileged_bpf_disabled = 0)
// and puts the original value back on destruction or restore() (for exits
// that run no destructor: a fuzzer's crash path, a signal handler; restore()
// is async-signal-safe). `why_not` says why it could not.
class UnprivilegedBpf {
 public:
  UnprivilegedBpf() {
    original_ = read_unpriv_sysctl();
    if (original_) text_len_ = size_t(std::snprintf(text_, sizeof text_, "%d\n", *original_));
    if (!original_) {
      why_not_ = std::string("cannot read ") + kUnprivSysctl;
    } else if (*original_ == 1) {
      why_not_ = "kernel.unprivileged_bpf_disabled is 1 (locked until reboot)";
    } else if (*original_ != 0 && !(geteuid() == 0 && write_unpriv_sysctl(0) && read_unpriv_sysctl() == 0)) {
      why_not_ = "kernel.unprivileged_bpf_disabled is " + std::to_string(*original_) + " and cannot be set to 0";
    }
  }
  ~UnprivilegedBpf() { restore(); }
  UnprivilegedBpf(const UnprivilegedBpf&) = delete;
  UnprivilegedBpf& operator=(const UnprivilegedBpf&) = delete;

  // Writes the original value back (when it was not 0) with open/write/close
  // only, from the text formatted at construction.
  void restore() const {
    if (!original_ || *original_ == 0) return;
    if (const int fd = open(kUnprivSysctl, O_WRONLY | O_CLOEXEC); fd >= 0) {
      (void)!write(fd, text_, text_len_);
      close(fd);
    }
  }
  [[nodiscard]] const std::string& why_not() const { return why_not_; }
  // The value found at construction (nullopt: unreadable).
  [[nodiscard]] std::optional<int> original() const { return original_; }

 private:
  std::optional<int> original_;
  char text_[16] = {};
  size_t text_len_ = 0;
  std::string why_not_;
};

}  // namespace xbpf::test
