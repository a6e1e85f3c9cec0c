// Verifier differential fuzzer against the Linux verifier. Input as
// fuzz_jit's: byte 0 picks the program type (bits 0-1) and the mode (bit 2:
// privileged), byte 1 is ignored, the rest is bytecode. Every program goes
// through xbpf's verifier and through this machine's kernel: privileged ones
// by BPF_PROG_LOAD as root, unprivileged ones (always socket filters, the
// type an unprivileged user may load) in a child process that has dropped
// every capability (setuid to nobody) and loads what it is sent through a
// pipe. The kernel refuses unprivileged loads while
// kernel.unprivileged_bpf_disabled is non-zero: the fuzzer sets a 2 to 0
// for its run and restores it at exit (a 1 is locked until reboot: then
// unprivileged inputs are counted as skipped; tests/unprivileged_bpf.hpp,
// shared with verifier_kernel_test). xbpf stops at 100k processed instructions (under ASan a
// million take minutes); a program it gives up on is counted, not compared.
//
//  - xbpf accepts what the kernel rejects: xbpf is less strict than the
//    kernel. The fuzzer aborts, printing both verdicts and the kernel's log,
//    unless the kernel gave up on complexity ("too large", "too complex":
//    xbpf proved the program safe, the kernel only explored more paths);
//    those are counted.
//  - xbpf rejects what the kernel accepts: stricter than the kernel, safe but
//    a program that works on Linux fails here. Counted, and with
//    XBPF_FUZZ_DIFF_DIR=DIR each such input is written there for study
//    (with xbpf's reason in a .txt beside it),
//    except those xbpf's decoder refused (Verdict::malformed: unknown
//    opcodes, reserved fields, invalid registers, writes to r10, bad
//    immediates; counted apart, as xbpf checks every instruction and the
//    kernel only those its verifier visits).
//
// Maps: lddw src 5/6 (a map, a map value, by index) name one of six maps
// (kMaps: hash, array, ring buffer, one-entry array, per-CPU array, a frozen
// read-only array) that both verifiers know, the kernel through fd_array.
// Programs with other
// references (map fds, BTF variables, `lddw func`, kfunc calls) are skipped:
// no BTF for the kernel here. Needs bpf(2) as root: without it the
// fuzzer says so and exits with status 1 (a CTest smoke run then fails; a
// machine without the kernel oracle should not build this target).
#include <grp.h>
#include <linux/bpf.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/unprivileged_bpf.hpp"
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
  size_t compared_unpriv = 0;
  size_t compared_maps = 0;  // compared programs that reference a map
  size_t kernel_transient = 0;  // the kernel kept answering EAGAIN / ENOMEM (not compared)
  size_t skipped_unpriv = 0;  // unprivileged loads unavailable (the sysctl locked at 1, or set meanwhile)
  size_t kernel_gave_up = 0;  // xbpf accepts, the kernel rejects on complexity
  size_t xbpf_stricter = 0;   // xbpf rejects, the kernel accepts
  size_t decoder_refusals = 0;  // ... of which by xbpf's decoder (known: kKnownDisagreements in
                               // tests/verifier_cases.hpp, dead code the kernel never checks)
  ~Counts() {
    std::fprintf(stderr,
                 "fuzz_verifier_kernel: %zu compared: %zu accepted by both, %zu rejected by both; %zu accepted "
                 "by xbpf where the kernel gave up on complexity; %zu rejected by xbpf and accepted by the kernel "
                 "(%zu of them by xbpf's decoder: the known dead-code difference); %zu not compared (xbpf reached 100k instructions); %zu of the compared unprivileged, %zu with map references; %zu "
                 "unprivileged skipped (kernel.unprivileged_bpf_disabled set); %zu not compared (the kernel kept "
                 "answering EAGAIN or ENOMEM)\n",
                 compared, both_accept, both_reject, kernel_gave_up, xbpf_stricter, decoder_refusals, xbpf_gave_up, compared_unpriv, compared_maps,
                 skipped_unpriv, kernel_transient);
  }
} g_counts;

// The maps a program may name (lddw src 5, BPF_PSEUDO_MAP_IDX, and src 6,
// BPF_PSEUDO_MAP_IDX_VALUE: imm is an index): fuzz_verifier_maps' set, in
// its order, so that fuzzer's inputs mean the same here for indexes 0-4, and
// a sixth: "rodata", a frozen BPF_F_RDONLY_PROG array of one entry, as a
// .rodata section becomes. Both verifiers read constants from its value
// (loads at a constant offset) and refuse writes to it, by store and by helper:
// where a verdict rests on a configuration constant, the kernel checks xbpf's
// folding. xbpf's verifier gets their descriptions (Env::maps); the kernel gets
// twins created at start-up, by index through bpf_attr.fd_array (the
// unprivileged child inherits them).
struct FuzzMap {
  const char* name;
  xbpf::kabi::MapType type;
  uint32_t kernel_type;  // enum bpf_map_type
  uint32_t key_size, value_size, max_entries;
  uint32_t flags = 0;    // map_flags; BPF_F_RDONLY_PROG: filled with kRodata and frozen
};
constexpr FuzzMap kMaps[] = {
    {"hash", xbpf::kabi::MapType::Hash, BPF_MAP_TYPE_HASH, 4, 8, 16},
    {"array", xbpf::kabi::MapType::Array, BPF_MAP_TYPE_ARRAY, 4, 16, 4},
    {"events", xbpf::kabi::MapType::Ringbuf, BPF_MAP_TYPE_RINGBUF, 0, 0, 4096},
    {"global", xbpf::kabi::MapType::Array, BPF_MAP_TYPE_ARRAY, 4, 32, 1},
    {"percpu", xbpf::kabi::MapType::PercpuArray, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 2},
    {"rodata", xbpf::kabi::MapType::Array, BPF_MAP_TYPE_ARRAY, 4, 16, 1, BPF_F_RDONLY_PROG},
};
// The frozen map's value: small offsets and sizes, a byte count past a
// 16-byte value, zero, all ones, a sign bit: the kinds of constant a bound
// or an offset comes from.
constexpr uint8_t kRodata[16] = {0, 14, 4, 8, 16, 17, 0xff, 0x80, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
std::vector<int> g_map_fds;  // the kernel twins of kMaps

// Points every map reference at one of kMaps (imm modulo their number, a
// value offset modulo the value size), as a loader's relocations would.
// False for references this fuzzer has nothing for: map fds (they would be
// this process's fds), BTF variables, functions (callbacks need BTF), kfuncs.
bool normalize_refs(std::vector<xbpf::isa::RawInsn>& code) {
  for (size_t k = 0; k < code.size(); ++k) {
    xbpf::isa::RawInsn& i = code[k];
    if (i.code == 0x85 && i.src == 2) return false;  // kfunc
    if (i.code != 0x18 || i.src == 0) continue;
    if ((i.src != 5 && i.src != 6) || k + 1 >= code.size()) return false;
    const uint32_t m = static_cast<uint32_t>(i.imm) % std::size(kMaps);
    i.imm = static_cast<int32_t>(m);
    if (i.src == 6) {
      const uint32_t vs = kMaps[m].value_size ? kMaps[m].value_size : 1;
      code[k + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(code[k + 1].imm) % vs);
    }
    ++k;
  }
  return true;
}

// `r0 = 0; exit`: what any kernel with bpf(2) loads (the oracle's probe).
const std::vector<xbpf::isa::RawInsn> kReturnZero = {{0xb7, 0, 0, 0, 0}, {0x95, 0, 0, 0, 0}};

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
  attr.fd_array = reinterpret_cast<uint64_t>(g_map_fds.data());
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

// The capability-less child: reads {type, count, log flag, insns}, answers
// {ok, errno, log length, log}.
struct Unprivileged {
  int to = -1, from = -1;
  bool available = false;
};

bool read_all(int fd, void* p, size_t n) {
  auto* b = static_cast<uint8_t*>(p);
  while (n) {
    const ssize_t r = read(fd, b, n);
    if (r <= 0) return false;
    b += r, n -= size_t(r);
  }
  return true;
}
bool write_all(int fd, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n) {
    const ssize_t r = write(fd, b, n);
    if (r <= 0) return false;
    b += r, n -= size_t(r);
  }
  return true;
}

[[noreturn]] void serve_unprivileged(int in, int out) {
  for (;;) {
    uint32_t hdr[3];
    if (!read_all(in, hdr, sizeof hdr)) _exit(0);
    std::vector<xbpf::isa::RawInsn> code(hdr[1]);
    if (!read_all(in, code.data(), code.size() * sizeof(xbpf::isa::RawInsn))) _exit(0);
    const KernelVerdict v = kernel_verify(hdr[0], code, hdr[2] != 0);
    const int32_t reply[3] = {v.ok, v.err, static_cast<int32_t>(v.log.size())};
    if (!write_all(out, reply, sizeof reply) || !write_all(out, v.log.data(), v.log.size())) _exit(0);
  }
}

xbpf::test::UnprivilegedBpf* g_sysctl = nullptr;  // set while the sysctl is changed
void restore_sysctl() {
  if (g_sysctl) g_sysctl->restore();
}

// libFuzzer's SIGINT/SIGTERM handlers (Ctrl-C, `timeout`) exit with neither
// destructors nor the sanitizer's death callback: the sysctl would stay 0,
// unprivileged BPF enabled on the machine. These handlers write the original
// value back first (UnprivilegedBpf::restore is async-signal-safe), then pass
// the signal on to libFuzzer's.
struct sigaction g_old_int, g_old_term;
void restore_on_signal(int sig, siginfo_t* info, void* uctx) {
  restore_sysctl();
  const struct sigaction& old = sig == SIGINT ? g_old_int : g_old_term;
  if (old.sa_flags & SA_SIGINFO) {
    old.sa_sigaction(sig, info, uctx);
  } else if (old.sa_handler != SIG_IGN && old.sa_handler != SIG_DFL) {
    old.sa_handler(sig);
  } else if (old.sa_handler == SIG_DFL) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}
void restore_on_stop_signals() {
  struct sigaction sa {};
  sa.sa_sigaction = restore_on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

Unprivileged& unprivileged() {
  static Unprivileged u = [] {
    Unprivileged r;
    static xbpf::test::UnprivilegedBpf sysctl;  // restored at exit
    if (!sysctl.why_not().empty()) {
      std::fprintf(stderr, "fuzz_verifier_kernel: %s: unprivileged inputs are skipped\n", sysctl.why_not().c_str());
      return r;
    }
    g_sysctl = &sysctl;
    __sanitizer_set_death_callback(restore_sysctl);  // also when the fuzzer aborts
    if (sysctl.original().value_or(0) != 0) restore_on_stop_signals();
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) return r;
    const pid_t pid = fork();
    if (pid < 0) return r;
    if (pid == 0) {
      close(down[1]), close(up[0]);
      // nobody: no capability left (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN gone).
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(1);
      serve_unprivileged(down[0], up[1]);
    }
    close(down[0]), close(up[1]);
    r.to = down[1], r.from = up[0], r.available = true;
    return r;
  }();
  return u;
}

KernelVerdict kernel_verify_unprivileged(const std::vector<xbpf::isa::RawInsn>& code, bool with_log) {
  Unprivileged& u = unprivileged();
  const uint32_t hdr[3] = {BPF_PROG_TYPE_SOCKET_FILTER, static_cast<uint32_t>(code.size()), with_log};
  int32_t reply[3];
  if (!write_all(u.to, hdr, sizeof hdr) || !write_all(u.to, code.data(), code.size() * sizeof(code[0])) ||
      !read_all(u.from, reply, sizeof reply)) {
    std::fprintf(stderr, "fuzz_verifier_kernel: the unprivileged loader process is gone\n");
    restore_sysctl();
    std::abort();
  }
  KernelVerdict v;
  v.ok = reply[0] != 0;
  v.err = reply[1];
  v.log.resize(size_t(reply[2]));
  if (!read_all(u.from, v.log.data(), v.log.size())) {
    restore_sysctl();
    std::abort();
  }
  return v;
}

void check_kernel() {
  static const bool ok = [] {
    for (const FuzzMap& m : kMaps) {  // before the unprivileged child is forked: it inherits them
      union bpf_attr attr;
      std::memset(&attr, 0, sizeof attr);
      attr.map_type = m.kernel_type;
      attr.key_size = m.key_size;
      attr.value_size = m.value_size;
      attr.max_entries = m.max_entries;
      std::strncpy(attr.map_name, m.name, sizeof attr.map_name - 1);
      attr.map_flags = m.flags;
      const long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
      if (fd < 0) {
        std::fprintf(stderr, "fuzz_verifier_kernel: kernel oracle unavailable: BPF_MAP_CREATE of map '%s' failed: %s\n",
                     m.name, std::strerror(errno));
        return false;
      }
      if (m.flags & BPF_F_RDONLY_PROG) {  // fill, then freeze: the kernel then reads constants from it
        static_assert(sizeof kRodata == 16);
        uint32_t key = 0;
        std::memset(&attr, 0, sizeof attr);
        attr.map_fd = static_cast<uint32_t>(fd);
        attr.key = reinterpret_cast<uint64_t>(&key);
        attr.value = reinterpret_cast<uint64_t>(kRodata);
        const bool filled = syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &attr, sizeof attr) == 0;
        std::memset(&attr, 0, sizeof attr);
        attr.map_fd = static_cast<uint32_t>(fd);
        if (!filled || syscall(SYS_bpf, BPF_MAP_FREEZE, &attr, sizeof attr) != 0) {
          std::fprintf(stderr, "fuzz_verifier_kernel: kernel oracle unavailable: filling and freezing map '%s' failed: %s\n",
                       m.name, std::strerror(errno));
          return false;
        }
      }
      g_map_fds.push_back(static_cast<int>(fd));
    }
    const KernelVerdict k = kernel_verify(BPF_PROG_TYPE_SOCKET_FILTER, kReturnZero, false);
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

// The input, and beside it (.txt) xbpf's reason for refusing it.
void save(const uint8_t* data, size_t size, const std::string& why) {
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
  std::strncat(path, ".txt", sizeof path - std::strlen(path) - 1);
  if (FILE* f = std::fopen(path, "w")) {
    std::fprintf(f, "xbpf: %s\n", why.c_str());
    std::fclose(f);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check_kernel();
  if (size < 2 + 8) return 0;
  const bool privileged = (data[0] & 4) != 0;
  const size_t t = privileged ? data[0] % std::size(kTypes) : 0;
  std::vector<xbpf::isa::RawInsn> code((size - 2) / 8);
  std::memcpy(code.data(), data + 2, code.size() * 8);
  if (code.size() > 4096 || !normalize_refs(code)) return 0;
  if (!privileged && !unprivileged().available) {
    ++g_counts.skipped_unpriv;
    return 0;
  }
  auto kernel = [&](bool with_log) {
    return privileged ? kernel_verify(kKernelTypes[t], code, with_log) : kernel_verify_unprivileged(code, with_log);
  };

  xbpf::verifier::Env env;
  env.prog_type = kTypes[t];
  env.privileged = privileged;
  env.insn_limit = 100'000;
  for (const FuzzMap& m : kMaps) {
    xbpf::verifier::MapDesc d{m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags};
    if (m.flags & BPF_F_RDONLY_PROG) {
      d.rdonly_prog = true;
      d.frozen_value.assign(std::begin(kRodata), std::end(kRodata));
    }
    env.maps.push_back(std::move(d));
  }
  const xbpf::verifier::Verdict mine = xbpf::verifier::verify(code, env);
  if (!mine.ok && mine.stats.insns_processed > env.insn_limit) {
    ++g_counts.xbpf_gave_up;
    return 0;
  }
  KernelVerdict theirs = kernel(false);
  // EAGAIN / ENOMEM after verification are the kernel's resources (JIT
  // memory freed asynchronously by earlier loads), not verdicts: retry.
  for (int tries = 0; !theirs.ok && (theirs.err == EAGAIN || theirs.err == ENOMEM) && tries < 20; ++tries) {
    usleep(20000);
    theirs = kernel(false);
  }
  if (!theirs.ok && (theirs.err == EAGAIN || theirs.err == ENOMEM)) {
    ++g_counts.kernel_transient;
    return 0;
  }
  // EPERM is a verdict (bpf-to-bpf calls need CAP_BPF) unless the kernel
  // refuses every unprivileged load: someone set the sysctl meanwhile.
  if (!privileged && !theirs.ok && theirs.err == EPERM) {
    if (!kernel_verify_unprivileged(kReturnZero, false).ok) {
      ++g_counts.skipped_unpriv;
      return 0;
    }
  }
  if (std::getenv("XBPF_FUZZ_VERBOSE"))  // to check what the seeds do
    std::fprintf(stderr, "%s: xbpf %s; kernel %s\n", privileged ? "privileged" : "unprivileged",
                 mine.ok ? "accepts" : mine.message.c_str(), theirs.ok ? "accepts" : std::strerror(theirs.err));
  ++g_counts.compared;
  g_counts.compared_unpriv += !privileged;
  g_counts.compared_maps += std::any_of(code.begin(), code.end(), [](const xbpf::isa::RawInsn& i) {
    return i.code == 0x18 && (i.src == 5 || i.src == 6);
  });
  if (mine.ok == theirs.ok) {
    ++(mine.ok ? g_counts.both_accept : g_counts.both_reject);
    return 0;
  }
  if (!mine.ok) {
    ++g_counts.xbpf_stricter;
    if (mine.malformed) ++g_counts.decoder_refusals;  // the decoder checks dead code too
    else save(data, size, mine.message);
    return 0;
  }
  const KernelVerdict logged = kernel(true);
  if (logged.ok) {  // accepted this time: the first refusal was not the verifier's
    ++g_counts.kernel_transient;
    return 0;
  }
  if (complexity(logged.log)) {
    ++g_counts.kernel_gave_up;
    return 0;
  }
  std::fprintf(stderr, "XBPF ACCEPTS WHAT THE KERNEL REJECTS (%s %s program, %zu insns; kernel errno %d %s)\n",
               privileged ? "privileged" : "unprivileged", std::string(xbpf::kabi::name(kTypes[t])).c_str(), code.size(), theirs.err, std::strerror(theirs.err));
  for (const auto& i : code) std::fprintf(stderr, "  %02x %x %x %6d %11d\n", i.code, i.dst, i.src, i.off, i.imm);
  std::fprintf(stderr, "xbpf: accepted after %llu insns\n", static_cast<unsigned long long>(mine.stats.insns_processed));
  const size_t from = logged.log.size() > 4000 ? logged.log.size() - 4000 : 0;
  std::fprintf(stderr, "kernel log (tail):\n%s\n", logged.log.c_str() + from);
  restore_sysctl();  // libFuzzer's crash path runs no atexit handler
  std::abort();
}
