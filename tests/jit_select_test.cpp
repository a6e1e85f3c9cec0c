// JIT selects (jit::Options::selects): `if c goto L; <1-3 ALU instructions
// writing one register>; L:` becomes the run computed into a scratch
// register, the compare, and a cmov. Every case runs on the interpreter and
// on the JIT with and without selects; near misses (a jump into the run, a
// run of four, a load, a division, two registers written, constant blinding)
// must keep their branch. A generator then builds thousands of branches over
// random runs (every condition, both widths, registers the compare reads,
// upper halves that a 32-bit cmov would clear) and compares the three.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "jit_option_engines.hpp"

using namespace xbpf;

namespace {

using test::Compiled;
using test::count;
using test::run;

Compiled build(const std::string& text, jit::Options opts = {}) {
  return test::build_engines(text, opts, &jit::Options::selects);
}

std::vector<uint64_t> inputs() {
  std::vector<uint64_t> v{0, 1, 2, 3, 15, 16, 17, 255, 256, 65535, 65536, ~uint64_t(0), 0x8000000000000000ull,
                          0x00000000ffffffffull, 0xffffffff00000000ull, 0x0000000080000000ull, 0x7fffffffull};
  std::mt19937_64 rng(7);
  for (int k = 0; k < 48; ++k) v.push_back(rng() >> (rng() % 64));
  return v;
}

void agree(const Compiled& c, const std::string& what) { test::agree(c, what, inputs()); }

// bench/workloads/ilog2.c as clang -O2 -target bpf -mcpu=v3 emits it: each
// `if (x >> k) { x >>= k; r += k; }` a branch over one or two instructions.
const char* kIlog2 =
    "mov %r9, %r1\nor %r9, 1\nmov %r8, %r9\nlddw %r4, 0x100000000\nlddw %r5, 0xffffffff\n"
    "jlt %r9, %r4, A\nmov %r6, %r1\nrsh %r6, 32\nmov %r8, %r6\n"
    "A: mov32 %r7, 1\nmov32 %r6, 1\njgt %r9, %r5, B\nmov32 %r6, 0\n"
    "B: lsh32 %r6, 5\njlt %r8, 65536, C\nor32 %r6, 16\n"
    "C: jlt %r8, 65536, D\nrsh %r8, 16\n"
    "D: jlt %r8, 256, E\nor32 %r6, 8\n"
    "E: jlt %r8, 256, F\nrsh %r8, 8\n"
    "F: mov %r9, %r8\njlt %r8, 16, G\nmov %r9, %r8\nrsh %r9, 4\n"
    "G: mov %r4, %r9\njlt %r9, 4, H\nmov %r4, %r9\nrsh %r4, 2\n"
    "H: jgt %r4, 1, I\nmov32 %r7, 0\n"
    "I: jlt %r8, 16, J\nor32 %r6, 4\n"
    "J: jlt %r9, 4, K\nor32 %r6, 2\n"
    "K: add32 %r6, %r7\nmov %r0, %r6\nexit\n";

TEST(JitSelects, Ilog2BranchesBecomeConditionalMoves) {
  const Compiled c = build(kIlog2);
  EXPECT_EQ(c.stats.selects, 10u) << c.code;  // all but the first, whose run is 3 instructions with 2 written
  EXPECT_EQ(count(c.code, "cmov"), 10u) << c.code;
  agree(c, "ilog2");
  for (uint64_t x : {1ull, 2ull, 3ull, 0x10000ull, 0xffffffffull, 0x100000000ull, ~0ull})
    EXPECT_EQ(run(c.on, x), uint64_t(63 - __builtin_clzll(x | 1))) << x;
}

// The branch is taken: rD keeps all 64 bits, though the run is 32-bit (a
// 32-bit cmov would clear the upper half whatever the condition).
TEST(JitSelects, SkippedThirtyTwoBitRunKeepsTheUpperHalf) {
  const Compiled c = build("lddw %r0, 0x123456789abcdef0\njne %r1, 0, L\nadd32 %r0, 1\nL: exit\n");
  EXPECT_EQ(c.stats.selects, 1u) << c.code;
  EXPECT_EQ(run(c.on, 1), 0x123456789abcdef0ull);
  EXPECT_EQ(run(c.on, 0), 0x9abcdef1ull);
  agree(c, "add32");
}

// Runs reading their own register, every condition at both widths, JSET.
TEST(JitSelects, RunsReadingTheirRegisterAndEveryCondition) {
  const char* conds[] = {"jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "jlt", "jle", "jslt", "jsle"};
  for (const char* cond : conds)
    for (const char* w : {"", "32"})
      for (const char* rhs : {"%r2", "0x7fff0000", "0", "-1"}) {
        const std::string text = fmt::format(
            "mov %r2, %r1\nrsh %r2, 17\nlddw %r0, 0xfedcba9876543210\nxor %r0, %r1\n"
            "{}{} %r1, {}, L\nmov %r0, %r0\nxor32 %r0, %r2\nlsh %r0, 3\nL: exit\n",
            cond, w, rhs);
        const Compiled c = build(text);
        EXPECT_EQ(c.stats.selects, 1u) << text << c.code;
        agree(c, text);
      }
}

// What must stay a branch.
TEST(JitSelects, NearMissesKeepTheirBranch) {
  const std::vector<std::string> misses = {
      // a jump into the run
      "mov %r0, %r1\njeq %r1, 7, M\njgt %r1, 3, L\nM: add %r0, 1\nL: exit\n",
      // four instructions
      "mov %r0, %r1\njgt %r1, 3, L\nadd %r0, 1\nadd %r0, 2\nadd %r0, 3\nadd %r0, 4\nL: exit\n",
      // two registers written
      "mov %r0, %r1\nmov %r2, 5\njgt %r1, 3, L\nadd %r0, 1\nadd %r2, 1\nL: add %r0, %r2\nexit\n",
      // a multiplication, a division, a shift by a register, a load, lddw
      "mov %r0, %r1\njgt %r1, 3, L\nmul %r0, 3\nL: exit\n",
      "mov %r0, %r1\njgt %r1, 3, L\ndiv %r0, %r1\nL: exit\n",
      "mov %r0, %r1\njgt %r1, 3, L\nlsh %r0, %r1\nL: exit\n",
      "mov %r0, %r1\nstxdw [%r10-8], %r1\njgt %r1, 3, L\nldxdw %r0, [%r10-8]\nL: exit\n",
      "mov %r0, %r1\njgt %r1, 3, L\nlddw %r0, 0x1234567890\nL: exit\n",
      // a sign-extending move (ISA v4)
      "mov %r0, %r1\njgt %r1, 3, L\nmovsx864 %r0, %r1\nL: exit\n",
      // a branch to the next instruction
      "mov %r0, %r1\njgt %r1, 3, L\nL: exit\n",
      // the selected register reaches an address after the join (feeds_address: a binary search's bound)
      "stdw [%r10-16], 5\nstdw [%r10-8], 9\nmov %r2, -16\njgt %r1, 3, L\nmov %r2, -8\n"
      "L: mov %r3, %r10\nadd %r3, %r2\nldxdw %r0, [%r3]\nexit\n",
      "stdw [%r10-16], 5\nstdw [%r10-8], 7\nmov %r2, -16\njgt %r1, 3, L\nadd %r2, 8\nL: mov %r4, %r2\nadd %r4, %r10\n"
      "stxdw [%r4], %r1\nldxdw %r0, [%r10-8]\nexit\n",
      // ... an atomic operation's address
      "stdw [%r10-16], 5\nstdw [%r10-8], 9\nmov %r2, -16\njgt %r1, 3, L\nmov %r2, -8\n"
      "L: mov %r3, %r10\nadd %r3, %r2\nlock add [%r3+0], %r1\nldxdw %r0, [%r10-8]\nexit\n",
  };
  for (const std::string& text : misses) {
    const Compiled c = build(text);
    EXPECT_EQ(c.stats.selects, 0u) << text << c.code;
    agree(c, text);
  }
  // ... a legacy packet load's offset register (compiled only: it needs a packet to run).
  const Compiled ind = build("mov %r6, %r1\nmov %r2, 0\njgt %r1, 3, L\nmov %r2, 4\nL: ldindw %r2, 0\nexit\n");
  EXPECT_EQ(ind.stats.selects, 0u) << ind.code;
  // An address from a register the join overwrote first: a select.
  const Compiled o = build(
      "stdw [%r10-8], 9\nmov %r0, 1\njgt %r1, 3, L\nmov %r0, 2\nL: mov %r3, %r10\nadd %r3, -8\n"
      "ldxdw %r2, [%r3]\nadd %r0, %r2\nexit\n");
  EXPECT_EQ(o.stats.selects, 1u) << o.code;
  agree(o, "address from elsewhere");
  // Constant blinding: no select (the run's constants would be plain).
  jit::Options blind;
  blind.blind_constants = true;
  const Compiled b = build("mov %r0, %r1\njgt %r1, 3, L\nadd %r0, 1\nL: exit\n", blind);
  EXPECT_EQ(b.stats.selects, 0u) << b.code;
  agree(b, "blinded");
}

TEST(JitSelects, GeneratedBranchesAgree) {
  std::mt19937_64 rng(20261202);
  const char* conds[] = {"jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "jlt", "jle", "jslt", "jsle"};
  const char* ops[] = {"mov", "add", "sub", "and", "or", "xor", "lsh", "rsh", "arsh", "mul", "neg"};
  const std::vector<uint64_t> xs = {0, 1, 5, 0xff, 0x8000, 0xffffffffull, 0x100000000ull, 0x8000000000000000ull,
                                    ~uint64_t(0), 0x0123456789abcdefull, 0xfffffffff0000000ull};
  size_t programs = 0, selects = 0;
  for (int n = 0; n < 3000; ++n) {
    auto reg = [&] { return int(rng() % 10); };
    auto imm = [&]() -> long long {
      switch (rng() % 4) {
        case 0: return 0;
        case 1: return -1;
        case 2: return (long long)(int32_t(uint32_t(rng())));
        default: return (long long)(rng() % 64);
      }
    };
    std::string text;
    for (int k = 0; k <= 9; ++k)
      text += k == 1 ? "" : fmt::format("lddw %r{}, {:#x}\n", k, 0x9e3779b97f4a7c15ull * uint64_t(k + n) >> (rng() % 40));
    text += "mov %r2, %r1\n";  // inputs reach the compare and the run
    const int d = reg();
    const std::string w = rng() % 2 ? "" : "32";
    const std::string cond = conds[rng() % 11];
    if (rng() % 2)
      text += fmt::format("{}{} %r{}, %r{}, L\n", cond, rng() % 2 ? "" : "32", reg(), reg());
    else
      text += fmt::format("{}{} %r{}, {}, L\n", cond, rng() % 2 ? "" : "32", reg(), imm());
    const int len = 1 + int(rng() % 4);
    for (int k = 0; k < len; ++k) {
      const std::string ow = rng() % 3 ? w : (w.empty() ? "32" : "");
      const char* op = ops[rng() % (rng() % 8 ? 9 : 11)];  // mostly operations a select takes
      const int dst = rng() % 8 ? d : reg();
      const std::string o(op);
      if (o == "neg") text += fmt::format("neg{} %r{}\n", ow, dst);
      else if (o == "lsh" || o == "rsh" || o == "arsh")
        text += fmt::format("{}{} %r{}, {}\n", o, ow, dst, rng() % (ow.empty() ? 64 : 32));
      else if (rng() % 2) text += fmt::format("{}{} %r{}, %r{}\n", o, ow, dst, reg());
      else text += fmt::format("{}{} %r{}, {}\n", o, ow, dst, imm());
    }
    // The epilogue mixes every register into r0.
    text += "L: mov %r0, %r0\n";
    for (int k = 1; k <= 9; ++k) text += fmt::format("lsh %r0, 5\nxor %r0, %r{}\n", k);
    text += "exit\n";
    const Compiled p = build(text);
    for (uint64_t v : xs) {
      const uint64_t want = run(p.interp, v);
      ASSERT_EQ(run(p.on, v), want) << text << p.code;
      ASSERT_EQ(run(p.off, v), want) << text;
    }
    ++programs;
    selects += p.stats.selects;
  }
  // About half the runs are eligible (one register written, a select's
  // operations, at most three); the test must have exercised them.
  EXPECT_GT(selects * 4, programs) << selects << " of " << programs;
  RecordProperty("programs", int(programs));
  RecordProperty("selects", int(selects));
  std::printf("generated branches %zu, selects %zu\n", programs, selects);
}

}  // namespace
