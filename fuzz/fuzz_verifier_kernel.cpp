// Verifier differential fuzzer against the Linux verifier. Input as
// fuzz_verifier's: byte 0 picks the program type, byte 1 is ignored, the rest
// is bytecode. Every program goes through xbpf's verifier and through this
// machine's kernel (BPF_PROG_LOAD as root: privileged, as verifier::Env's
// default). xbpf stops at 100k processed instructions (under ASan a
// million take minutes); a program it gives up on is counted, not compared.
//
//  - xbpf accepts what the kernel rejects: xbpf is less strict than the
//    kernel. The fuzzer aborts, printing both verdicts and the kernel's log,
//    unless the kernel gave up on complexity ("too large", "too complex":
//    xbpf proved the program safe, the kernel only explored more paths);
//    those are counted.
//  - xbpf rejects what the kernel accepts: stricter than the kernel, safe but
//    a program that works on Linux fails here. Counted, and with
//    XBPF_FUZZ_DIFF_DIR=DIR each such input is written there for study.
//
// Programs with map references, kfunc calls or `lddw func` are skipped (no
// maps here, no BTF for the kernel). Needs bpf(2) as root: without it the
// fuzzer says so and exits with status 1 (a CTest smoke run then fails; a
// machine without the kernel oracle should not build this target).
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "isa/isa.hpp"
#include "verifier/verifier.hpp"

namespace {

using xbpf::kabi::ProgType;

constexpr ProgType kTypes[] = {ProgType::SocketFilter, ProgType::Xdp, ProgType::Kprobe, ProgType::SchedCls};
constexpr uint32_t kKernelTypes[] = {BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP, BPF_PROG_TYPE_KPROBE,
                                     BPF_PROG_TYPE_SCHED_CLS};

struct Counts {
  size_t compared = 0, both_accept = 0, both_reject = 0;
  size_t xbpf_gave_up = 0;    // xbpf reached its instruction limit (not compared)
  size_t kernel_gave_up = 0;  // xbpf accepts, the kernel rejects on complexity
  size_t xbpf_stricter = 0;   // xbpf rejects, the kernel accepts
  ~Counts() {
    std::fprintf(stderr,
                 "fuzz_verifier_kernel: %zu compared: %zu accepted by both, %zu rejected by both; %zu accepted "
                 "by xbpf where the kernel gave up on complexity; %zu rejected by xbpf and accepted by the kernel; "
                 "%zu not compared (xbpf reached 100k instructions)\n",
                 compared, both_accept, both_reject, kernel_gave_up, xbpf_stricter, xbpf_gave_up);
  }
} g_counts;

bool has_maps_or_btf(const std::vector<xbpf::isa::RawInsn>& code) {
  for (size_t k = 0; k < code.size(); ++k) {
    const auto& i = code[k];
    if (i.code == 0x18 && i.src != 0) return true;  // map, map value, BTF variable, function reference
    if (i.code == 0x85 && i.src == 2) return true;  // kfunc
  }
  return false;
}

struct KernelVerdict {
  bool ok = false;
  int err = 0;
  std::string log;
};

KernelVerdict kernel_verify(uint32_t type, const std::vector<xbpf::isa::RawInsn>& code, bool with_log) {
  static std::vector<char> log(1 << 20);
  static const char license[] = "GPL";
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = type;
  attr.insn_cnt = static_cast<uint32_t>(code.size());
  attr.insns = reinterpret_cast<uint64_t>(code.data());
  attr.license = reinterpret_cast<uint64_t>(license);
  if (with_log) {
    log[0] = 0;
    attr.log_level = 1;
    attr.log_size = static_cast<uint32_t>(log.size());
    attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  }
  KernelVerdict v;
  const long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    v.ok = true;
  } else {
    v.err = errno;
    // A log too small for a long path: the kernel fails with ENOSPC; keep its tail.
    if (with_log) v.log = std::string(log.data(), strnlen(log.data(), log.size()));
  }
  return v;
}

void check_kernel() {
  static const bool ok = [] {
    const std::vector<xbpf::isa::RawInsn> ret0 = {{0xb7, 0, 0, 0, 0}, {0x95, 0, 0, 0, 0}};
    const KernelVerdict k = kernel_verify(BPF_PROG_TYPE_SOCKET_FILTER, ret0, false);
    if (!k.ok)
      std::fprintf(stderr, "fuzz_verifier_kernel: kernel oracle unavailable: BPF_PROG_LOAD of `r0 = 0; exit` failed: %s\n",
                   std::strerror(k.err));
    return k.ok;
  }();
  if (!ok) std::exit(1);
}

bool complexity(const std::string& log) {
  return log.find("too large") != std::string::npos || log.find("too complex") != std::string::npos;
}

void save(const uint8_t* data, size_t size) {
  const char* dir = std::getenv("XBPF_FUZZ_DIFF_DIR");
  if (!dir) return;
  uint64_t h = 1469598103934665603ull;
  for (size_t k = 0; k < size; ++k) h = (h ^ data[k]) * 1099511628211ull;
  char path[4096];
  std::snprintf(path, sizeof path, "%s/stricter-%016llx", dir, static_cast<unsigned long long>(h));
  if (FILE* f = std::fopen(path, "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_kernel();
  if (size < 2 + 8) return 0;
  const size_t t = data[0] % std::size(kTypes);
  std::vector<xbpf::isa::RawInsn> code((size - 2) / 8);
  std::memcpy(code.data(), data + 2, code.size() * 8);
  if (code.size() > 4096 || has_maps_or_btf(code)) return 0;

  xbpf::verifier::Env env;
  env.prog_type = kTypes[t];
  env.privileged = true;
  env.insn_limit = 100'000;
  const xbpf::verifier::Verdict mine = xbpf::verifier::verify(code, env);
  if (!mine.ok && mine.stats.insns_processed > env.insn_limit) {
    ++g_counts.xbpf_gave_up;
    return 0;
  }
  const KernelVerdict theirs = kernel_verify(kKernelTypes[t], code, false);
  ++g_counts.compared;
  if (mine.ok == theirs.ok) {
    ++(mine.ok ? g_counts.both_accept : g_counts.both_reject);
    return 0;
  }
  if (!mine.ok) {
    ++g_counts.xbpf_stricter;
    save(data, size);
    return 0;
  }
  const KernelVerdict logged = kernel_verify(kKernelTypes[t], code, true);
  if (complexity(logged.log)) {
    ++g_counts.kernel_gave_up;
    return 0;
  }
  std::fprintf(stderr, "XBPF ACCEPTS WHAT THE KERNEL REJECTS (%s program, %zu insns; kernel errno %d %s)\n",
               std::string(xbpf::kabi::name(kTypes[t])).c_str(), code.size(), theirs.err, std::strerror(theirs.err));
  for (const auto& i : code) std::fprintf(stderr, "  %02x %x %x %6d %11d\n", i.code, i.dst, i.src, i.off, i.imm);
  std::fprintf(stderr, "xbpf: accepted after %llu insns\n", static_cast<unsigned long long>(mine.stats.insns_processed));
  const size_t from = logged.log.size() > 4000 ? logged.log.size() - 4000 : 0;
  std::fprintf(stderr, "kernel log (tail):\n%s\n", logged.log.c_str() + from);
  std::abort();
}
