// JIT indexed loads (jit::Options::indexed_loads): `rA = rB; rA += rC` (or
// `+= imm`) then `rD = *(size *)(rA + off)`, or the add and the load alone,
// become one load from [rB + rC + off] when the sum is dead after the load
// (rD is rA, or rA is overwritten before it is read). Every case runs on the interpreter and
// on the JIT with and without the option; near misses (a jump to the load,
// the load through another register or into one while the sum is still read,
// an immediate with constant blinding) must keep the add.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jit_option_engines.hpp"

using namespace xbpf;

namespace {

using test::Compiled;
using test::count;

Compiled build(const std::string& text, jit::Options opts = {}) {
  return test::build_engines(text, opts, &jit::Options::indexed_loads);
}

// 16 known bytes at r10-16 .. r10-1 (stdw stores a sign-extended imm32).
const std::string kStack =
    "stdw [%r10-16], 0x76543210\nstdw [%r10-8], -0x789abcdf\nmov %r2, %r1\nand %r2, 7\n";

// Builds `text`, expects `folds` indexed loads, and runs the three engines
// over indices 0..15 and ~0 (r1; the program masks it to 0..7).
Compiled folds(const std::string& text, size_t folds, jit::Options opts = {}) {
  Compiled c = build(text, opts);
  EXPECT_EQ(c.stats.indexed_loads, folds) << c.code;
  test::agree(c, text, {0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 0xffffffffffffffffull});
  return c;
}

TEST(JitIndexedLoads, MoveAddLoadIsOneLoad) {
  for (const char* ld : {"ldxb", "ldxh", "ldxw", "ldxdw", "ldxsb", "ldxsh", "ldxsw"}) {
    SCOPED_TRACE(ld);
    const std::string text = kStack + "mov %r3, %r10\nadd %r3, %r2\n" + ld + " %r3, [%r3-16]\nmov %r0, %r3\nexit\n";
    const Compiled c = folds(text, 1);
    EXPECT_EQ(count(c.code, "lea "), 0u) << c.code;
    EXPECT_EQ(count(c.code, "[rbp + rsi - 0x10]"), 1u) << c.code;  // r10 = rbp, r2 = rsi
  }
}

TEST(JitIndexedLoads, ImmediateJoinsTheDisplacement) {
  const std::string text = kStack + "mov %r4, %r10\nadd %r4, -12\nldxw %r4, [%r4+2]\nmov %r0, %r4\nexit\n";
  const Compiled c = folds(text, 1);
  EXPECT_EQ(count(c.code, "[rbp - 0xa]"), 1u) << c.code;
  // With constant blinding the immediate must not reach the code: no fold.
  jit::Options blind;
  blind.blind_constants = true;
  folds(text, 0, blind);
}

// The add alone (the move further up), and `rA += rA` after the move.
TEST(JitIndexedLoads, AddAloneAndAddOfItself) {
  const std::string alone = kStack + "mov %r5, %r10\nadd %r5, -16\nmov %r0, 1\nadd %r5, %r2\nldxh %r5, [%r5+0]\n"
                                     "add %r0, %r5\nexit\n";
  folds(alone, 1);
  // r3 = r10 - 16 >> 1 (even), then r4 = r3; r4 += r4 is r10 - 16 again.
  const std::string self = kStack + "mov %r3, %r10\nadd %r3, -16\nrsh %r3, 1\nmov %r4, %r3\nadd %r4, %r4\n"
                                    "ldxb %r4, [%r4+3]\nmov %r0, %r4\nexit\n";
  folds(self, 1);
}

// The load into another register when the sum is overwritten before anything
// reads it: right after the load, or a few instructions on.
TEST(JitIndexedLoads, DeadSumFolds) {
  folds(kStack + "mov %r3, %r10\nadd %r3, %r2\nldxb %r4, [%r3-16]\nmov %r3, 5\nmov %r0, %r4\nadd %r0, %r3\nexit\n", 1);
  folds(kStack + "mov %r5, %r10\nadd %r5, -16\nldxw %r0, [%r5+4]\nmov %r4, %r0\nadd %r4, 1\nlddw %r5, 0x100000000\n"
                 "add %r0, %r5\nexit\n",
        1);
}

// A jump to the add of `mov; add; load`: the move stays, and the add and the
// load (a join's add alone) still fold.
TEST(JitIndexedLoads, JumpToTheAddFoldsTheAddAlone) {
  const std::string text = kStack + "mov %r3, %r10\nadd %r3, -8\njeq %r1, 3, A\nmov %r3, %r10\n"
                                    "A: add %r3, %r2\nldxb %r3, [%r3-8]\nmov %r0, %r3\nexit\n";
  folds(text, 1);
}

TEST(JitIndexedLoads, NearMissesKeepTheAdd) {
  const std::vector<std::string> misses = {
      // a jump to the load: that path's r3 is not the sum's operands
      kStack + "mov %r3, %r10\njeq %r1, 3, A\nmov %r3, %r10\nadd %r3, %r2\n"
               "A: ldxb %r3, [%r3-16]\nmov %r0, %r3\nexit\n",
      // the load into another register: the sum stays live
      kStack + "mov %r3, %r10\nadd %r3, %r2\nldxb %r4, [%r3-16]\nmov %r0, %r3\nsub %r0, %r10\nadd %r0, %r4\nexit\n",
      // the load through another register
      kStack + "mov %r3, %r10\nadd %r3, %r2\nmov %r4, %r10\nldxb %r3, [%r4-16]\nmov %r0, %r3\nexit\n",
      // the sum read (r3 >> 63: 0 for the address, 1 for the -1 before it) before it is overwritten
      kStack + "mov %r3, -1\nmov %r3, %r10\nadd %r3, %r2\nldxb %r4, [%r3-16]\nrsh %r3, 63\nmov %r0, %r4\n"
               "add %r0, %r3\nexit\n",
  };
  for (const std::string& text : misses) {
    SCOPED_TRACE(text);
    folds(text, 0);
  }
}

}  // namespace
