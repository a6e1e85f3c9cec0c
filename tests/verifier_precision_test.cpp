// Precision tracking: programs where pruning on an imprecise scalar would be
// UNSOUND unless the precision a later check needs reaches the stored state
// at the join point (each must still be rejected), and programs where
// precision lets pruning happen (fewer instructions processed).
//
// The shape of the soundness cases: a helper's unknown result forks two
// paths that give a register different values; the path explored first is
// safe and leaves a stored state at the join; the second is unsafe and may
// only be pruned against that state if the register stayed imprecise there.
//
// With libbpf and root, every privileged program here is also loaded into the
// running kernel (with BPF_F_TEST_STATE_FREQ, as xbpf stores a state at every
// prune point here) and must get the same verdict.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "verifier/verifier.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>
#endif

namespace {

using namespace xbpf::verifier;
using xbpf::kabi::ProgType;

// The running kernel's verdict (BPF_F_TEST_STATE_FREQ), or nullopt when
// there is no kernel oracle (no libbpf, no privilege); `log` gets its log.
std::optional<bool> kernel_accepts(ProgType type, const std::vector<xbpf::isa::RawInsn>& raw, std::string* log) {
#ifdef XBPF_HAVE_LIBBPF
  std::vector<char> buf(1 << 20);
  LIBBPF_OPTS(bpf_prog_load_opts, o, .prog_flags = BPF_F_TEST_STATE_FREQ, .log_level = 1,
              .log_size = static_cast<__u32>(buf.size()), .log_buf = buf.data());
  const int fd = bpf_prog_load(static_cast<bpf_prog_type>(type), nullptr, "GPL",
                               reinterpret_cast<const bpf_insn*>(raw.data()), raw.size(), &o);
  const int err = errno;
  if (fd >= 0) close(fd);
  if (log) *log = std::string(buf.data()).substr(0, 4000);
  if (fd >= 0) return true;
  if (err == EACCES || err == EINVAL || err == E2BIG) return false;
#else
  (void)type, (void)raw, (void)log;
#endif
  return std::nullopt;
}

Verdict run(const std::string& text, ProgType type = ProgType::SocketFilter, bool privileged = true,
            uint64_t limit = 1'000'000) {
  auto insns = xbpf::isa::assemble(text, "precision");
  EXPECT_TRUE(insns) << insns.error().message;
  if (!insns) return {};
  Env env;
  env.prog_type = type;
  env.privileged = privileged;
  env.log_level = 1;
  env.insn_limit = limit;
  env.test_state_freq = true;  // a stored state at every join: the cases are about pruning there
  const auto raw = xbpf::isa::encode_program(*insns);
  Verdict v = verify(raw, env);
  std::string log;
  if (privileged && limit == 1'000'000) {
    if (auto k = kernel_accepts(type, raw, &log)) {
      EXPECT_EQ(*k, v.ok) << "the kernel " << (*k ? "accepts" : "rejects") << ":\n" << text << "\n" << log;
    }
  }
  return v;
}

// r6 = 8 on the path explored first, `unsafe` on the second; then `tail`.
std::string fork_r6(int unsafe, const std::string& tail) {
  return "call 7\nmov %r6, " + std::to_string(unsafe) + "\njne %r0, 0, join\nmov %r6, 8\njoin:\n" + tail;
}

struct Unsound {
  const char* name;
  std::string text;
  const char* message;  // substring of the rejection
  ProgType type = ProgType::SocketFilter;
};

TEST(VerifierPrecision, UnsafePathIsNotPrunedAtTheJoin) {
  const Unsound cases[] = {
      {"stack offset (pointer arithmetic)",
       fork_r6(600, "mov %r8, 0\nsub %r8, %r6\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\nmov %r0, 0\nexit\n"), "stack R2 off=-600"},
      {"through a spill and a fill behind another join",
       fork_r6(600, "stxdw [%r10-16], %r6\nmov %r6, 0\nja next\nnext:\nldxdw %r7, [%r10-16]\n"
                    "mov %r8, 0\nsub %r8, %r7\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\nmov %r0, 0\nexit\n"),
       "stack R2 off=-600"},
      {"through ALU with constants and a copy",
       fork_r6(600, "mov %r7, %r6\nadd %r7, 4\nlsh %r7, 1\nmov %r8, 0\nsub %r8, %r7\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\n"
                    "mov %r0, 0\nexit\n"),
       "stack R2 off=-1208"},
      {"branch decided by the value",
       fork_r6(0, "jeq %r6, 8, good\nldxb %r0, [%r10-600]\nexit\ngood:\nmov %r0, 0\nexit\n"), "stack"},
      {"helper size argument",
       "mov %r9, %r1\n" + fork_r6(600, "mov %r1, %r9\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, %r6\n"
                                      "call 26\nmov %r0, 0\nexit\n"),
       "R3"},
      {"return value range at exit", fork_r6(16, "mov %r0, %r6\nrsh %r0, 3\nexit\n"),
       "should have been in [0, 1]", ProgType::CgroupSkb},
      {"zero stored to the stack reads back as 0",
       fork_r6(5, "mov %r8, %r6\nsub %r8, 8\nstxw [%r10-8], %r8\nldxw %r7, [%r10-8]\nmov %r2, %r10\nadd %r2, -8\n"
                  "add %r2, %r7\nstb [%r2+0], 0\nmov %r0, 0\nexit\n"),
       "stack R2"},
      {"argument of a subprogram used as an offset",
       fork_r6(600, "mov %r1, %r6\ncall local f\nmov %r0, 0\nexit\nf:\nmov %r8, 0\nsub %r8, %r1\nmov %r2, %r10\nadd %r2, %r8\n"
                    "stb [%r2+0], 0\nmov %r0, 0\nexit\n"),
       "stack R2 off=-600"},
      {"value returned by a subprogram used as an offset",
       fork_r6(600, "mov %r1, %r6\ncall local f\nmov %r8, 0\nsub %r8, %r0\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\nmov %r0, 0\nexit\n"
                    "f:\nmov %r0, %r1\nexit\n"),
       "stack R2 off=-600"},
      // The second path is pruned at p against the first, which needed r6:
      // that need must reach the state stored at a on the second path
      // (propagate_precision), or the third path (r6 = 600) is pruned at a.
      {"precision needed beyond a pruned path",
       "call 7\nmov %r6, 8\njne %r0, 0, b\ncall 7\njne %r0, 0, a\nmov %r7, 1\nja p\na:\nmov %r7, 2\np:\n"
       "mov %r8, 0\nsub %r8, %r6\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\nmov %r0, 0\nexit\n"
       "b:\nmov %r6, 600\nja a\n",
       "stack R2 off=-600"},
      // r7 is bounded through its copy r6 on the first path only: the
      // comparison refines both there, so both must be precise at the join.
      {"bounded through a linked copy",
       "call 7\nmov %r6, %r0\ncall 7\nmov %r7, %r0\ncall 7\njeq %r0, 0, join\nmov %r7, %r6\njoin:\n"
       "jgt %r6, 7, out\nmov %r2, %r10\nadd %r2, -16\nadd %r2, %r7\nstb [%r2+0], 0\nout:\nmov %r0, 0\nexit\n",
       "unbounded min value"},
  };
  for (const Unsound& c : cases) {
    Verdict v = run(c.text, c.type);
    EXPECT_FALSE(v.ok) << c.name << ": accepted (an unsafe path was pruned)\n" << v.log;
    EXPECT_NE(v.message.find(c.message), std::string::npos)
        << c.name << ": message '" << v.message << "', expected '" << c.message << "'";
  }
}

// The safe variants of the same programs are accepted, and the second path
// is pruned where the value does not matter.
TEST(VerifierPrecision, SafeVariantsAreAccepted) {
  for (const std::string& text : {
           fork_r6(16, "mov %r8, 0\nsub %r8, %r6\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\nmov %r0, 0\nexit\n"),
           fork_r6(0, "mov %r1, %r6\ncall local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r1\nexit\n"),
       }) {
    Verdict v = run(text);
    EXPECT_TRUE(v.ok) << v.message << "\n" << v.log;
  }
}

TEST(VerifierPrecision, ImpreciseScalarsArePruned) {
  // r6 differs at the join but is only returned (a socket filter's return
  // value is not range checked): the second path is pruned at once.
  Verdict v = run(fork_r6(600, "mov %r0, %r6\nexit\n"));
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_GE(v.stats.states_pruned, 1u);

  // 24 diamonds, each adding 2^k to r6 or not: 2^24 values at the end
  // when every scalar is compared, a few hundred instructions with precision.
  std::string text = "mov %r6, 0\n";
  for (int k = 0; k < 24; ++k) {
    const std::string l = "d" + std::to_string(k);
    text += "call 7\njeq %r0, 0, " + l + "\nadd %r6, " + std::to_string(1 << k) + "\n" + l + ":\n";
  }
  text += "mov %r0, %r6\nexit\n";
  v = run(text);
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_LT(v.stats.insns_processed, 500u);
  EXPECT_GE(v.stats.states_pruned, 24u);

  // Unprivileged programs keep every scalar precise (as the kernel does):
  // the same diamonds are explored path by path and hit the limit.
  v = run(text, ProgType::SocketFilter, false, 100'000);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.message.find("BPF program is too large"), std::string::npos) << v.message;
}

// Stack liveness: a stored state compares only the stack slots its subtree
// read. Zero bytes read back as the constant 0, other data as unknown.
TEST(VerifierPrecision, StackSlotsReadAfterTheJoinAreCompared) {
  Verdict v = run("call 7\nmov %r6, %r0\ncall 7\nstxw [%r10-8], %r6\njne %r0, 0, join\nstw [%r10-8], 0\njoin:\n"
                  "ldxw %r7, [%r10-8]\n"
                  "mov %r2, %r10\nadd %r2, -8\nadd %r2, %r7\nstb [%r2+0], 0\nmov %r0, 0\nexit\n");
  EXPECT_FALSE(v.ok) << "the unknown path was pruned against the zero one\n" << v.log;
}

TEST(VerifierPrecision, StackSlotsOverwrittenAfterTheJoinAreNotCompared) {
  Verdict v = run("call 7\nstw [%r10-8], 5\njne %r0, 0, join\nstw [%r10-8], 0\njoin:\nstdw [%r10-8], 1\n"
                  "ldxw %r0, [%r10-8]\nexit\n");
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_GE(v.stats.states_pruned, 1u);
}

// A value made precise on the second path is still checked: two diamonds,
// the offset is the sum of both choices; only one combination is unsafe.
TEST(VerifierPrecision, EveryCombinationOfPreciseValuesIsExplored) {
  const std::string text =
      "call 7\nmov %r6, 8\njeq %r0, 0, a\nmov %r6, 16\na:\n"
      "call 7\nmov %r7, 0\njeq %r0, 0, b\nmov %r7, 500\nb:\n"
      "mov %r8, 0\nsub %r8, %r6\nsub %r8, %r7\nmov %r2, %r10\nadd %r2, %r8\nstb [%r2+0], 0\nmov %r0, 0\nexit\n";
  Verdict v = run(text);
  EXPECT_FALSE(v.ok) << v.log;
  EXPECT_NE(v.message.find("off=-516"), std::string::npos) << v.message;
}

// bpf_loop: the callback reads its return value from the caller's stack
// through its context pointer. The value stored there differs at the join
// before the call; the callback's return range (and the fixpoint at the call
// site, which marks every scalar) must make it precise in the caller's stored
// state across frames, and the slot must count as read there.
TEST(VerifierPrecision, CallbackReturnValueFromTheCallersStack) {
  auto text = [](int unsafe) {
    return "call 7\nstdw [%r10-8], " + std::to_string(unsafe) + "\njne %r0, 0, join\nstdw [%r10-8], 1\njoin:\n"
           "mov %r1, 4\nlddw %r2, func cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\n"
           "cb:\nldxdw %r0, [%r2+0]\nexit\n";
  };
  for (int unsafe : {0, 2}) {
    auto insns = xbpf::isa::assemble(text(unsafe), "loop");
    ASSERT_TRUE(insns) << insns.error().message;
    Env env;
    env.func_info = true;
    env.test_state_freq = true;
    const Verdict v = verify(xbpf::isa::encode_program(*insns), env);
    if (unsafe == 0) {
      EXPECT_TRUE(v.ok) << v.message;
    } else {
      EXPECT_FALSE(v.ok) << "the path storing 2 was pruned";
      EXPECT_NE(v.message.find("should have been in [0, 1]"), std::string::npos) << v.message;
    }
  }
}

// A block of random instructions on r6..r8 with forward jumps to labels
// named `prefix`N. In a subprogram (`sub`), r9 points into the caller's stack.
std::string random_block(std::mt19937& rng, const std::string& prefix, bool sub) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto reg = [&] { return "%r" + std::to_string(6 + pick(3)); };
  const int n = 6 + pick(14);
  std::string text;
  int labels = 0;
  std::vector<int> open;  // labels jumped to, still to be placed
  auto label = [&](int l) { return prefix + std::to_string(l); };
  for (int k = 0; k < n; ++k) {
    if (!open.empty() && pick(3) == 0) {
      text += label(open.back()) + ":\n";
      open.pop_back();
    }
    const std::string a = reg(), b = reg();
    const int imm = pick(4) == 0 ? 500 + pick(100) : pick(20);
    const int slot = 8 * (1 + pick(4));
    switch (pick(13)) {
      case 0: text += "call 7\nmov " + a + ", %r0\n"; break;
      case 1: text += "mov " + a + ", " + std::to_string(imm) + "\n"; break;
      case 2: text += (pick(2) ? "add " : "and ") + a + ", " + std::to_string(imm) + "\n"; break;
      case 3: text += (pick(2) ? "mov " : "add ") + a + ", " + b + "\n"; break;
      case 4: case 5: {
        static const char* ops[] = {"jgt", "jlt", "jeq", "jne", "jsgt", "jge"};
        const std::string rhs = pick(3) == 0 ? b : std::to_string(imm);
        text += std::string(ops[pick(6)]) + " " + a + ", " + rhs + ", " + label(labels) + "\n";
        open.insert(open.begin() + pick(static_cast<int>(open.size()) + 1), labels++);
        break;
      }
      case 6: text += "stxdw [%r10-" + std::to_string(slot) + "], " + a + "\n"; break;
      case 7: text += "ldxdw " + a + ", [%r10-" + std::to_string(slot) + "]\n"; break;
      case 8: text += "stdw [%r10-" + std::to_string(slot) + "], " + std::to_string(imm) + "\n"; break;
      case 9:  // the caller's stack through a pointer, or a call of the subprogram
        if (sub) text += pick(2) ? "stxdw [%r9+0], " + a + "\n" : "ldxdw " + a + ", [%r9+0]\n";
        else text += "mov %r1, " + a + "\nmov %r2, %r10\nadd %r2, -" + std::to_string(slot) +
                     "\ncall local f\nmov " + a + ", %r0\n";
        break;
      default:  // the value as a (negative) stack offset
        text += "mov %r3, -" + std::to_string(slot + 8) + "\nsub %r3, " + a +
                "\nmov %r2, %r10\nadd %r2, %r3\nstb [%r2+0], 0\n";
    }
  }
  for (int l : open) text += label(l) + ":\n";
  return text;
}

// Random loop-free programs built to fork often and move values through
// registers, ALU, spills and fills, a subprogram's arguments, return value
// and pointer into its caller's stack, into stack offsets.
std::string random_program(std::mt19937& rng) {
  return "mov %r6, 0\nmov %r7, 0\nmov %r8, 0\n" + random_block(rng, "m", false) +
         "mov %r1, %r7\nmov %r2, %r10\nadd %r2, -8\ncall local f\nmov %r0, 0\nexit\n" +
         "f:\nmov %r9, %r2\nmov %r6, %r1\nmov %r7, 0\nmov %r8, 0\n" + random_block(rng, "s", true) +
         "mov %r0, %r6\nexit\n";
}

// Pruning with precision and liveness may only cut paths whose checks would
// pass: a program accepted with them must be accepted when every scalar and
// slot is compared too (and by the kernel).
TEST(VerifierPrecision, RandomProgramsPruneSoundly) {
  std::mt19937 rng(20261130);
  int accepted = 0, pruned_more = 0, kernel_checked = 0;
  constexpr int kPrograms = 10000;
  for (int k = 0; k < kPrograms; ++k) {
    const std::string text = random_program(rng);
    auto insns = xbpf::isa::assemble(text, "random");
    ASSERT_TRUE(insns) << insns.error().message << "\n" << text;
    Env env;
    env.prog_type = ProgType::SocketFilter;
    env.test_state_freq = true;
    env.insn_limit = 200'000;
    const auto raw = xbpf::isa::encode_program(*insns);
    const Verdict precise = verify(raw, env);
    env.track_precision = false;
    const Verdict exact = verify(raw, env);
    if (exact.message.find("too large") != std::string::npos) continue;
    EXPECT_FALSE(precise.ok && !exact.ok) << "accepted only thanks to pruning: " << exact.message << "\n" << text;
    EXPECT_EQ(precise.ok, exact.ok) << precise.message << " / " << exact.message << "\n" << text;
    accepted += precise.ok;
    std::string log;
    if (precise.ok)
      if (auto k = kernel_accepts(ProgType::SocketFilter, raw, &log)) {
        ++kernel_checked;
        if (!*k) ADD_FAILURE() << "accepted, the kernel rejects:\n" << text << "\n" << log;
      }
    pruned_more += precise.stats.insns_processed < exact.stats.insns_processed;
  }
  std::printf("random programs: %d accepted of %d, %d with fewer instructions processed, %d accepts checked against "
              "the kernel\n", accepted, kPrograms, pruned_more, kernel_checked);
  EXPECT_GT(accepted, kPrograms / 10);
  EXPECT_GT(pruned_more, kPrograms / 30);
}

}  // namespace
