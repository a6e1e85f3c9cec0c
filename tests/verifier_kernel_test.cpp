// The verifier's small programs through the Linux verifier (BPF_PROG_LOAD on
// this machine's kernel, through libbpf's low-level API): for every case,
// the kernel's verdict must equal the one the case states, and the kernel's
// log must contain the message xbpf is expected to give, so the
// expectations in verifier_cases.hpp are the kernel's, not ours.
//
// Privileged cases load as this process (root). Unprivileged cases load in a
// forked child that drops every capability (setuid to nobody) and sends the
// verdict and log back through a pipe; the maps are created beforehand by
// the parent and inherited as fds. The kernel refuses all unprivileged loads
// while kernel.unprivileged_bpf_disabled is non-zero: the test sets it to 0
// for its duration when it may (value 2, as root) and restores it; value 1 is
// locked until reboot, and then the unprivileged part is skipped loudly.
//
// Cases that assume BTF func info (callbacks, tail calls in subprograms) are
// loaded with a minimal BTF object naming each function (the kernel needs
// one). Without bpf(2) the test skips naming what is missing; under CI=true
// it fails instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "unprivileged_bpf.hpp"
#include "verifier_cases.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <grp.h>
#include <linux/bpf.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

using namespace xbpf::test;

bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

#define REQUIRE_KERNEL(missing)                                                         \
  do {                                                                                  \
    if (under_ci()) FAIL() << "kernel oracle unavailable: " << missing;                 \
    GTEST_SKIP() << "kernel oracle unavailable: " << missing;                           \
  } while (0)

#ifdef XBPF_HAVE_LIBBPF

// A BTF blob from its type section and strings (header added).
std::vector<uint8_t> btf_blob(const std::vector<uint8_t>& types, const std::vector<uint8_t>& strs) {
  std::vector<uint8_t> blob;
  auto put = [&](uint32_t v, size_t bytes) {
    for (size_t b = 0; b < bytes; ++b) blob.push_back(static_cast<uint8_t>(v >> (8 * b)));
  };
  put(0xeB9F, 2), put(1, 1), put(0, 1), put(24, 4);  // magic, version, flags, hdr_len
  put(0, 4), put(uint32_t(types.size()), 4), put(uint32_t(types.size()), 4), put(uint32_t(strs.size()), 4);
  blob.insert(blob.end(), types.begin(), types.end());
  blob.insert(blob.end(), strs.begin(), strs.end());
  return blob;
}

// Appends BTF records: 32-bit words and NUL-terminated names.
struct BtfWriter {
  std::vector<uint8_t> types, strs{0};
  void u32(uint32_t v) {
    for (int b = 0; b < 4; ++b) types.push_back(static_cast<uint8_t>(v >> (8 * b)));
  }
  uint32_t str(const std::string& t) {
    const auto off = static_cast<uint32_t>(strs.size());
    strs.insert(strs.end(), t.begin(), t.end());
    strs.push_back(0);
    return off;
  }
};

// The value type of kLocks: [1] int, [2] struct bpf_spin_lock { int val; },
// [3] long long, [4] struct val { struct bpf_spin_lock lock; int pad; long long cnt; }.
int load_lock_value_btf() {
  BtfWriter w;
  w.u32(w.str("int")), w.u32(1u << 24), w.u32(4), w.u32((1u << 24) | 32);
  w.u32(w.str("bpf_spin_lock")), w.u32((4u << 24) | 1), w.u32(4);
  w.u32(w.str("val")), w.u32(1), w.u32(0);
  w.u32(w.str("long long")), w.u32(1u << 24), w.u32(8), w.u32((1u << 24) | 64);
  w.u32(w.str("val")), w.u32((4u << 24) | 3), w.u32(16);
  w.u32(w.str("lock")), w.u32(2), w.u32(0);
  w.u32(w.str("pad")), w.u32(1), w.u32(32);
  w.u32(w.str("cnt")), w.u32(3), w.u32(64);
  const auto blob = btf_blob(w.types, w.strs);
  return bpf_btf_load(blob.data(), blob.size(), nullptr);
}

// The kernel twins of kMaps; returns their fds (or an empty vector).
std::vector<int> create_kernel_maps() {
  std::vector<int> fds;
  for (const MapDesc& m : kMaps) {
    LIBBPF_OPTS(bpf_map_create_opts, o);
    if (m.rdonly_prog) o.map_flags = BPF_F_RDONLY_PROG;
    int btf_fd = -1;
    if (m.has_btf) {  // only kLocks' layout is described
      btf_fd = load_lock_value_btf();
      if (btf_fd < 0) {
        for (int f : fds) close(f);
        return {};
      }
      o.btf_fd = static_cast<__u32>(btf_fd);
      o.btf_key_type_id = 1;
      o.btf_value_type_id = 4;
    }
    int fd = bpf_map_create(static_cast<bpf_map_type>(m.type), m.name.c_str(), m.key_size, m.value_size,
                            m.max_entries, &o);
    if (btf_fd >= 0) close(btf_fd);
    if (fd < 0) {
      for (int f : fds) close(f);
      return {};
    }
    fds.push_back(fd);
  }
  return fds;
}

struct KernelVerdict {
  bool ok = false;
  std::string log;
};

// The first instruction of every function of `raw`: 0 and each target of a
// local call or of a function address (lddw src 4).
std::vector<uint32_t> function_starts(const std::vector<xbpf::isa::RawInsn>& raw) {
  std::vector<uint32_t> starts{0};
  for (size_t k = 0; k < raw.size(); ++k) {
    const bool local_call = raw[k].code == 0x85 && raw[k].src == 1;
    const bool func_addr = raw[k].code == 0x18 && raw[k].src == 4;
    const int64_t t = static_cast<int64_t>(k) + raw[k].imm + 1;
    if ((local_call || func_addr) && t >= 0 && t < static_cast<int64_t>(raw.size())) starts.push_back(uint32_t(t));
    if (raw[k].code == 0x18) ++k;
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  return starts;
}

// Minimal BTF for `n` functions: [1] int, [2] int (void) (no arguments), and
// [3..] FUNC "f0".."fN" of that prototype, static. The kernel wants func info
// (from BTF) for programs with callbacks and for tail calls in subprograms.
std::vector<uint8_t> function_btf(size_t n) {
  BtfWriter w;
  w.u32(w.str("int")), w.u32(1u << 24), w.u32(4), w.u32((1u << 24) | 32);  // INT, signed, 32 bits
  w.u32(0), w.u32(13u << 24), w.u32(1);                                      // FUNC_PROTO returning int
  for (size_t k = 0; k < n; ++k) w.u32(w.str("f" + std::to_string(k))), w.u32(12u << 24), w.u32(2);  // FUNC, static
  return btf_blob(w.types, w.strs);
}

// Loads `raw` (map references already resolved) as this process; cases that
// assume func info get a BTF object describing each function.
KernelVerdict load(const Case& c, const std::vector<xbpf::isa::RawInsn>& raw) {
  std::vector<char> log(1 << 20);
  LIBBPF_OPTS(bpf_prog_load_opts, o, .log_level = 1, .log_size = static_cast<__u32>(log.size()),
              .log_buf = log.data());
  int btf_fd = -1;
  std::vector<bpf_func_info> funcs;
  if (c.func_info) {
    const auto starts = function_starts(raw);
    const auto blob = function_btf(starts.size());
    btf_fd = bpf_btf_load(blob.data(), blob.size(), nullptr);
    if (btf_fd < 0) return {false, "BPF_BTF_LOAD of the function BTF failed: " + std::to_string(errno)};
    for (size_t k = 0; k < starts.size(); ++k) funcs.push_back(bpf_func_info{starts[k], uint32_t(3 + k)});
    o.prog_btf_fd = static_cast<__u32>(btf_fd);
    o.func_info = funcs.data();
    o.func_info_cnt = static_cast<__u32>(funcs.size());
    o.func_info_rec_size = sizeof(bpf_func_info);
  }
  int fd = bpf_prog_load(static_cast<bpf_prog_type>(c.type), nullptr, "GPL",
                         reinterpret_cast<const bpf_insn*>(raw.data()), raw.size(), &o);
  KernelVerdict v{fd >= 0, log.data()};
  if (fd >= 0) close(fd);
  if (btf_fd >= 0) close(btf_fd);
  return v;
}

// Loads `raw` in a child without any capability: setuid from root to nobody
// clears the permitted, effective and ambient sets. The child writes one
// verdict byte ('1' accepted, '0' rejected) and then the log.
KernelVerdict load_unprivileged(const Case& c, const std::vector<xbpf::isa::RawInsn>& raw) {
  int p[2];
  if (pipe(p) != 0) return {false, "pipe failed"};
  const pid_t pid = fork();
  if (pid < 0) return {false, "fork failed"};
  if (pid == 0) {
    close(p[0]);
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    KernelVerdict v = load(c, raw);
    const char verdict = v.ok ? '1' : '0';
    bool sent = write(p[1], &verdict, 1) == 1;
    for (size_t at = 0; sent && at < v.log.size();) {
      ssize_t n = write(p[1], v.log.data() + at, v.log.size() - at);
      sent = n > 0;
      at += sent ? static_cast<size_t>(n) : 0;
    }
    _exit(sent ? 0 : 3);
  }
  close(p[1]);
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (out.empty()) return {false, "unprivileged child failed (status " + std::to_string(status) + ")"};
  return {out[0] == '1', out.substr(1)};
}

KernelVerdict kernel_verify(const Case& c, const std::vector<int>& fds) {
  auto insns = xbpf::isa::assemble(c.text, c.name);
  if (!insns) return {false, "assemble: " + insns.error().message};
  auto raw = xbpf::isa::encode_program(*insns);
  apply_patch(c, raw);
  for (size_t k = 0; k + 1 < raw.size(); ++k) {
    if (raw[k].code != 0x18) continue;
    if (raw[k].src == 5 || raw[k].src == 6) {  // map_idx -> map fd, map_idx_value -> map value
      raw[k].imm = fds.at(static_cast<size_t>(raw[k].imm));
      raw[k].src = raw[k].src == 5 ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
    }
    ++k;  // second slot
  }
  return c.privileged ? load(c, raw) : load_unprivileged(c, raw);
}

struct Counts {
  size_t accepts = 0, rejects = 0, privileged = 0, unprivileged = 0;
};

// Compares one case with the kernel; counts it.
void compare(const Case& c, const std::vector<int>& fds, Counts& n) {
  auto k = kernel_verify(c, fds);
  const bool expect_ok = std::string(c.verdict).empty();
  (expect_ok ? n.accepts : n.rejects)++;
  (c.privileged ? n.privileged : n.unprivileged)++;
  EXPECT_EQ(k.ok, expect_ok) << c.name << (c.privileged ? "" : " (unprivileged)") << ": the kernel "
                             << (k.ok ? "accepts" : "rejects") << "\n" << k.log;
  if (!expect_ok && !k.ok) {
    EXPECT_NE(k.log.find(c.verdict), std::string::npos)
        << c.name << ": the kernel's log lacks '" << c.verdict << "':\n" << k.log;
  }
}
#endif

}  // namespace

TEST(VerifierKernel, CasesAgreeWithTheLinuxVerifier) {
#ifndef XBPF_HAVE_LIBBPF
  REQUIRE_KERNEL("built without libbpf (libbpf-dev)");
#else
  auto fds = create_kernel_maps();
  if (fds.empty()) REQUIRE_KERNEL("bpf(BPF_MAP_CREATE) failed: no bpf(2) or not privileged");
  Counts n;
  for (const Case& c : kCases) {
    if (!c.privileged) continue;
    compare(c, fds, n);
  }
  for (int f : fds) close(f);
  std::printf("compared %zu privileged programs with the Linux verifier: %zu rejects, %zu accepts\n",
              n.privileged, n.rejects, n.accepts);
  EXPECT_GT(n.privileged, 40u);
#endif
}

TEST(VerifierKernel, UnprivilegedCasesAgreeWithTheLinuxVerifier) {
#ifndef XBPF_HAVE_LIBBPF
  REQUIRE_KERNEL("built without libbpf (libbpf-dev)");
#else
  auto fds = create_kernel_maps();
  if (fds.empty()) REQUIRE_KERNEL("bpf(BPF_MAP_CREATE) failed: no bpf(2) or not privileged");
  Counts n;
  {
    UnprivilegedBpf unpriv;
    if (!unpriv.why_not().empty()) {
      for (int f : fds) close(f);
      std::printf("SKIPPING the unprivileged cases: %s\n", unpriv.why_not().c_str());
      REQUIRE_KERNEL(unpriv.why_not());
    }
    for (const Case& c : kCases) {
      if (c.privileged) continue;
      compare(c, fds, n);
    }
  }
  for (int f : fds) close(f);
  std::printf("compared %zu unprivileged programs with the Linux verifier: %zu rejects, %zu accepts\n",
              n.unprivileged, n.rejects, n.accepts);
  EXPECT_GE(n.unprivileged, 40u);
  EXPECT_GE(n.rejects, 20u);
#endif
}

// The floor of the negative suite, counted over every case the kernel judges.
TEST(VerifierKernel, NegativeSuiteFloor) {
  size_t rejects = 0, accepts = 0, privileged = 0, unprivileged = 0, with_btf = 0;
  for (const Case& c : kCases) {
    (std::string(c.verdict).empty() ? accepts : rejects)++;
    (c.privileged ? privileged : unprivileged)++;
    with_btf += c.func_info;
  }
  std::printf("kernel-checked cases: %zu rejects, %zu accepts; %zu privileged, %zu unprivileged; "
              "%zu loaded with function BTF\n",
              rejects, accepts, privileged, unprivileged, with_btf);
  EXPECT_GE(rejects, 150u);
  EXPECT_GE(accepts, 100u);
}

// The known disagreements' verdicts are the kernel's too.
TEST(VerifierKernel, KnownDisagreementsStateTheKernelsVerdict) {
#ifndef XBPF_HAVE_LIBBPF
  REQUIRE_KERNEL("built without libbpf (libbpf-dev)");
#else
  auto fds = create_kernel_maps();
  if (fds.empty()) REQUIRE_KERNEL("bpf(BPF_MAP_CREATE) failed: no bpf(2) or not privileged");
  Counts n;
  {
    UnprivilegedBpf unpriv;
    for (const KnownDisagreement& d : kKnownDisagreements) {
      if (!d.c.privileged && !unpriv.why_not().empty()) continue;
      compare(d.c, fds, n);
    }
  }
  for (int f : fds) close(f);
  std::printf("checked %zu known disagreements against the Linux verifier\n", n.privileged + n.unprivileged);
#endif
}
