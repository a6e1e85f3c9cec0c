// The verifier's small programs through the Linux verifier (BPF_PROG_LOAD on
// this machine's kernel, through libbpf's low-level API): for every
// privileged case, the kernel's verdict must equal the one the case states,
// and the kernel's log must contain the message xbpf is expected to give, so
// the expectations in verifier_cases.hpp are the kernel's, not ours.
//
// Left out: unprivileged cases (this test runs as root, and the kernel's
// unprivileged mode cannot be entered from here) and cases that assume BTF
// func info (the kernel needs real BTF for them). Without bpf(2) the test
// skips naming what is missing; under CI=true it fails instead.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "verifier_cases.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>
#endif

namespace {

using namespace xbpf::test;

#define REQUIRE_KERNEL(missing)                                                              \
  do {                                                                                       \
    const char* ci = std::getenv("CI");                                                      \
    if (ci && std::string(ci) == "true") FAIL() << "kernel oracle unavailable: " << missing; \
    GTEST_SKIP() << "kernel oracle unavailable: " << missing;                                \
  } while (0)

#ifdef XBPF_HAVE_LIBBPF
// The kernel twins of kMaps; returns their fds (or an empty vector).
std::vector<int> create_kernel_maps() {
  std::vector<int> fds;
  for (const MapDesc& m : kMaps) {
    LIBBPF_OPTS(bpf_map_create_opts, o);
    if (m.rdonly_prog) o.map_flags = BPF_F_RDONLY_PROG;
    int fd = bpf_map_create(static_cast<bpf_map_type>(m.type), m.name.c_str(), m.key_size, m.value_size,
                            m.max_entries, &o);
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

KernelVerdict kernel_verify(const Case& c, const std::vector<int>& fds) {
  auto insns = xbpf::isa::assemble(c.text, c.name);
  if (!insns) return {false, "assemble: " + insns.error().message};
  auto raw = xbpf::isa::encode_program(*insns);
  for (size_t k = 0; k + 1 < raw.size(); ++k) {
    if (raw[k].code != 0x18) continue;
    if (raw[k].src == 5 || raw[k].src == 6) {  // map_idx -> map fd, map_idx_value -> map value
      raw[k].imm = fds.at(static_cast<size_t>(raw[k].imm));
      raw[k].src = raw[k].src == 5 ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
    }
    ++k;  // second slot
  }
  std::vector<char> log(1 << 20);
  LIBBPF_OPTS(bpf_prog_load_opts, o, .log_level = 1, .log_size = static_cast<__u32>(log.size()),
              .log_buf = log.data());
  int fd = bpf_prog_load(static_cast<bpf_prog_type>(c.type), nullptr, "GPL",
                         reinterpret_cast<const bpf_insn*>(raw.data()), raw.size(), &o);
  KernelVerdict v{fd >= 0, log.data()};
  if (fd >= 0) close(fd);
  return v;
}
#endif

}  // namespace

TEST(VerifierKernel, CasesAgreeWithTheLinuxVerifier) {
#ifndef XBPF_HAVE_LIBBPF
  REQUIRE_KERNEL("built without libbpf (libbpf-dev)");
#else
  auto fds = create_kernel_maps();
  if (fds.empty()) REQUIRE_KERNEL("bpf(BPF_MAP_CREATE) failed: no bpf(2) or not privileged");
  size_t compared = 0;
  for (const Case& c : kCases) {
    if (!c.privileged || c.func_info) continue;  // see the header comment
    auto k = kernel_verify(c, fds);
    ++compared;
    const bool expect_ok = std::string(c.verdict).empty();
    EXPECT_EQ(k.ok, expect_ok) << c.name << ": the kernel " << (k.ok ? "accepts" : "rejects") << "\n" << k.log;
    if (!expect_ok && !k.ok) {
      EXPECT_NE(k.log.find(c.verdict), std::string::npos)
          << c.name << ": the kernel's log lacks '" << c.verdict << "':\n" << k.log;
    }
  }
  for (int f : fds) close(f);
  std::printf("compared %zu programs with the Linux verifier\n", compared);
  EXPECT_GT(compared, 40u);
#endif
}
