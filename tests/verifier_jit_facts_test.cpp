// Verdict::jit_facts: what the JIT may assume of an accepted program. A fact
// is recorded only when it holds on every path reaching the instruction,
// including paths pruned at a stored state: a wrong "divisor nonzero" is a
// #DE (SIGFPE) in the JIT's host process, a wrong "upper half zero" a wrong
// result. The pruned-path cases follow verifier_precision_test's shape: a
// helper's unknown result forks two paths that give r6 different values,
// with a stored state at the join (test_state_freq); the second path may
// only be cut there if r6 was made precise by the fact that relied on it.
#include <gtest/gtest.h>

#include <string>

#include "isa/asm.hpp"
#include "verifier/verifier.hpp"

namespace {

using namespace xbpf::verifier;
using xbpf::kabi::ProgType;

Verdict run(const std::string& text, bool state_freq = true, bool privileged = true) {
  auto insns = xbpf::isa::assemble(text, "facts");
  EXPECT_TRUE(insns) << insns.error().message;
  if (!insns) return {};
  Env env;
  env.prog_type = ProgType::SocketFilter;
  env.privileged = privileged;
  env.test_state_freq = state_freq;
  Verdict v = verify(xbpf::isa::encode_program(*insns), env);
  EXPECT_TRUE(v.ok) << v.message << "\n" << text;
  return v;
}

// The slot of the first instruction whose text starts with `mnemonic `.
uint32_t slot_of(const std::string& text, const std::string& mnemonic) {
  auto insns = xbpf::isa::assemble(text, "facts");
  if (!insns) return UINT32_MAX;
  for (const auto& i : *insns)
    if (xbpf::isa::info(i.op).mnemonic == mnemonic) return i.pc;
  ADD_FAILURE() << "no " << mnemonic << " in\n" << text;
  return UINT32_MAX;
}

bool has(const std::string& text, const std::string& mnemonic, uint8_t fact, bool state_freq = true,
         bool privileged = true) {
  const Verdict v = run(text, state_freq, privileged);
  return v.jit_facts.has(slot_of(text, mnemonic), fact);
}

// r6 = 8 on the path explored first, `other` on the second; then `tail`.
std::string fork_r6(const std::string& other, const std::string& tail) {
  return "call 7\nmov %r6, " + other + "\njne %r0, 0, join\nmov %r6, 8\njoin:\n" + tail;
}

constexpr uint8_t kNonzero = JitFacts::kDivisorNonzero;
constexpr uint8_t kNotMinusOne = JitFacts::kDivisorNotMinusOne;
constexpr uint8_t kUpperZero = JitFacts::kUpperZero;

TEST(VerifierJitFacts, DivisorNonzeroInTheObviousCases) {
  // clang's `x | 1` before a division.
  EXPECT_TRUE(has("call 7\nmov %r2, %r0\nor %r2, 1\nmov %r0, 100\ndiv %r0, %r2\nexit\n", "div", kNonzero));
  // A zero test jumping around the division.
  EXPECT_TRUE(has("call 7\nmov %r2, %r0\nmov %r0, 0\njeq %r2, 0, out\nmov %r0, 100\nmod %r0, %r2\nout:\nexit\n",
                  "mod", kNonzero));
  // A constant in a register, and a bounded range.
  EXPECT_TRUE(has("mov %r2, 7\nmov %r0, 100\ndiv %r0, %r2\nexit\n", "div", kNonzero));
  EXPECT_TRUE(has("call 7\nmov %r2, %r0\nand %r2, 15\nadd %r2, 1\nmov %r0, 100\ndiv32 %r0, %r2\nexit\n", "div32",
                  kNonzero));
  // Signed: a positive divisor is neither 0 nor -1.
  EXPECT_TRUE(has("call 7\nmov %r2, %r0\nand %r2, 15\nadd %r2, 1\nmov %r0, 100\nsdiv %r0, %r2\nexit\n", "sdiv",
                  kNonzero | kNotMinusOne));
  // Unprivileged programs keep every scalar precise: the facts hold there too.
  EXPECT_TRUE(has("call 7\nmov %r2, %r0\nor %r2, 1\nmov %r0, 100\ndiv %r0, %r2\nexit\n", "div", kNonzero, true,
                  false));
}

TEST(VerifierJitFacts, DivisorThatMayBeZeroHasNoFact) {
  // Unknown divisor.
  EXPECT_FALSE(has("call 7\nmov %r2, %r0\nmov %r0, 100\ndiv %r0, %r2\nexit\n", "div", kNonzero));
  // A 64-bit value that is nonzero, but its low half (a 32-bit divisor) is 0.
  EXPECT_FALSE(has("lddw %r2, 0x100000000\nmov32 %r0, 5\ndiv32 %r0, %r2\nexit\n", "div32", kNonzero));
  EXPECT_TRUE(has("lddw %r2, 0x100000000\nmov %r0, 5\ndiv %r0, %r2\nexit\n", "div", kNonzero));
  // Zero on one branch only, no pruning involved (the join is not a stored state).
  EXPECT_FALSE(has(fork_r6("0", "mov %r0, 100\ndiv %r0, %r6\nexit\n"), "div", kNonzero, false));
  // The zero test guards another register than the divisor (a copy of the
  // same value would do: the comparison refines linked copies together).
  EXPECT_FALSE(has("call 7\nmov %r6, %r0\ncall 7\nmov %r3, %r0\nmov %r0, 0\njeq %r3, 0, out\nmod %r0, %r6\nout:\nexit\n",
                   "mod", kNonzero));
  EXPECT_TRUE(has("call 7\nmov %r6, %r0\nmov %r3, %r0\nmov %r0, 0\njeq %r3, 0, out\nmod %r0, %r6\nout:\nexit\n",
                  "mod", kNonzero));
}

TEST(VerifierJitFacts, PrunedPathWithZeroDivisorClearsTheFact) {
  // The first path (r6 = 8) stores a state at `join` and divides by 8; the
  // second arrives with r6 = 0. Had r6 stayed imprecise there, it would be
  // pruned and the division would wrongly keep "nonzero".
  const std::string zero = fork_r6("0", "mov %r0, 100\ndiv %r0, %r6\nexit\n");
  EXPECT_FALSE(has(zero, "div", kNonzero));
  // The same through a copy, arithmetic and a stack spill/fill behind the join.
  const std::string spilled = fork_r6(
      "-5", "add %r6, 5\nstxdw [%r10-8], %r6\nmov %r6, 0\nja next\nnext:\nldxdw %r7, [%r10-8]\nmov %r8, %r7\n"
            "mov %r0, 100\nmod %r0, %r8\nexit\n");
  EXPECT_FALSE(has(spilled, "mod", kNonzero));
  // A join inside a subprogram, the divisor an argument.
  const std::string callee = fork_r6("0", "mov %r1, %r6\ncall local f\nexit\nf:\nmov %r0, 100\ndiv %r0, %r1\nexit\n");
  EXPECT_FALSE(has(callee, "div", kNonzero));
  // -1 on the second path: nonzero still holds on both, not-minus-one does not.
  const std::string minus_one = fork_r6("-1", "mov %r0, 100\nsdiv %r0, %r6\nexit\n");
  const Verdict v = run(minus_one);
  const uint32_t pc = slot_of(minus_one, "sdiv");
  EXPECT_TRUE(v.jit_facts.has(pc, kNonzero));
  EXPECT_FALSE(v.jit_facts.has(pc, kNotMinusOne));
  // Both paths nonzero: the fact survives the join (and its pruning).
  EXPECT_TRUE(has(fork_r6("3", "mov %r0, 100\ndiv %r0, %r6\nexit\n"), "div", kNonzero));
}

constexpr uint8_t kNever = JitFacts::kNeverTaken;
constexpr uint8_t kAlways = JitFacts::kAlwaysTaken;

TEST(VerifierJitFacts, DecidedBranches) {
  EXPECT_TRUE(has("mov %r2, 5\nmov %r0, 0\njeq %r2, 5, out\nmov %r0, 1\nout:\nexit\n", "jeq", kAlways));
  EXPECT_TRUE(has("mov %r2, 5\nmov %r0, 0\njeq %r2, 6, out\nmov %r0, 1\nout:\nexit\n", "jeq", kNever));
  // Refinement: after `r2 < 10`, `r2 > 20` cannot hold.
  EXPECT_TRUE(has("call 7\nmov %r2, %r0\njlt %r2, 10, in\nexit\nin:\njgt %r2, 20, out\nmov %r0, 1\nout:\nexit\n", "jgt",
                  kNever));
  // Unknown: both outcomes.
  const std::string unknown = "call 7\nmov %r2, %r0\njeq %r2, 5, out\nmov %r0, 1\nout:\nexit\n";
  EXPECT_FALSE(has(unknown, "jeq", kNever));
  EXPECT_FALSE(has(unknown, "jeq", kAlways));
  // A loop's exit test: decided differently on different visits: no fact.
  const std::string loop = "mov %r0, 0\nmov %r2, 0\nl:\nadd %r2, 1\njge %r2, 4, out\nja l\nout:\nexit\n";
  EXPECT_FALSE(has(loop, "jge", kNever));
  EXPECT_FALSE(has(loop, "jge", kAlways));
}

TEST(VerifierJitFacts, PrunedPathTakingTheOtherOutcomeClearsTheFact) {
  // The first path (r6 = 8) stores a state at `join` and finds the jeq
  // always taken; the second arrives with r6 = 0 and would fall through. It
  // may only be pruned at `join` if r6 is precise (the decision marked it):
  // then it is not pruned, and the jeq has no fact.
  const std::string other = fork_r6("0", "mov %r0, 1\njeq %r6, 8, out\nmov %r0, 2\nout:\nexit\n");
  EXPECT_FALSE(has(other, "jeq", kAlways));
  EXPECT_FALSE(has(other, "jeq", kNever));
  // Through a spill and a fill behind the join.
  const std::string spilled = fork_r6(
      "0", "stxdw [%r10-8], %r6\nmov %r6, 0\nja next\nnext:\nldxdw %r7, [%r10-8]\nmov %r0, 1\njeq %r7, 8, out\n"
           "mov %r0, 2\nout:\nexit\n");
  EXPECT_FALSE(has(spilled, "jeq", kAlways));
  // Both paths agree: the fact survives (the second path is pruned at the join).
  const std::string same = fork_r6("8", "mov %r0, 1\njeq %r6, 8, out\nmov %r0, 2\nout:\nexit\n");
  const Verdict v = run(same);
  EXPECT_TRUE(v.jit_facts.has(slot_of(same, "jeq"), kAlways));
  EXPECT_GT(v.stats.states_pruned, 0u);
}

// Found by fuzzing the JIT with facts: the quotient of a signed division was
// folded as unsigned (1 instead of 0), so the next division by it got a
// wrong "nonzero" fact (a #DE in the JIT) and, worse, pointer arithmetic
// with it was checked against the wrong value.
TEST(VerifierJitFacts, SignedDivisionResultIsNotFoldedUnsigned) {
  const std::string chain =
      "mov %r0, -33554425\nmov %r2, -536870915\nsdiv %r0, %r2\nmod %r2, %r0\nmov %r0, %r2\nexit\n";
  EXPECT_FALSE(has(chain, "mod", kNonzero));
  const std::string chain32 =
      "mov32 %r0, -33554425\nmov32 %r2, -536870915\nsmod32 %r0, %r2\nmov32 %r3, 7\ndiv32 %r3, %r0\n"
      "mov %r0, %r3\nexit\n";
  EXPECT_FALSE(has(chain32, "div32", kNonzero));
  // As a stack offset: believed fp-8, really fp-608. Must be rejected.
  auto insns = xbpf::isa::assemble(
      "mov %r0, -33554425\nmov %r2, -536870915\nsdiv %r0, %r2\nmov %r3, 1\nsub %r3, %r0\nmul %r3, -600\n"
      "mov %r1, %r10\nadd %r1, -8\nadd %r1, %r3\nstb [%r1+0], 0\nmov %r0, 0\nexit\n",
      "facts");
  ASSERT_TRUE(insns);
  const Verdict v = verify(xbpf::isa::encode_program(*insns), Env{});
  EXPECT_FALSE(v.ok) << "a stack write at fp-608 was accepted";
}

TEST(VerifierJitFacts, ZeroExtensionOfZeroExtendedValues) {
  EXPECT_TRUE(has("call 7\nand %r0, 255\nmov32 %r0, %r0\nexit\n", "mov32", kUpperZero));
  EXPECT_TRUE(has("ldxw %r0, [%r1+0]\nle32 %r0\nexit\n", "le32", kUpperZero));
  EXPECT_FALSE(has("call 7\nmov32 %r0, %r0\nexit\n", "mov32", kUpperZero));
  // Upper half nonzero on a pruned path only.
  EXPECT_FALSE(has(fork_r6("-1", "mov32 %r6, %r6\nmov %r0, %r6\nexit\n"), "mov32", kUpperZero));
  // A pointer's upper half is not zero.
  EXPECT_FALSE(has("mov %r0, %r10\nmov32 %r0, %r0\nmov %r0, 0\nexit\n", "mov32", kUpperZero));
}

TEST(VerifierJitFacts, LivenessOfR0AndR3AroundDivisions) {
  const std::string dead = "call 7\nmov %r2, %r0\nor %r2, 1\nmov %r1, 100\ndiv %r1, %r2\nmov %r0, %r1\nexit\n";
  EXPECT_TRUE(has(dead, "div", JitFacts::kR0DeadAfter | JitFacts::kR3DeadAfter));
  const std::string live = "call 7\nmov %r3, %r0\nmov %r2, %r0\nor %r2, 1\nmov %r1, 100\ndiv %r1, %r2\nadd %r0, %r1\n"
                           "add %r0, %r3\nexit\n";
  EXPECT_FALSE(has(live, "div", JitFacts::kR0DeadAfter));
  EXPECT_FALSE(has(live, "div", JitFacts::kR3DeadAfter));
}

TEST(VerifierJitFacts, StackDepthPerSubprogram) {
  // Main writes down to fp-40, the callee reads (privileged: never written)
  // down to fp-300 and writes its caller's fp-64 through a pointer.
  const std::string text =
      "stdw [%r10-40], 1\nmov %r1, %r10\nadd %r1, -64\ncall local f\nmov %r0, 0\nexit\n"
      "f:\nldxw %r0, [%r10-300]\nstdw [%r1+0], 2\nmov %r0, 0\nexit\n";
  const Verdict v = run(text);
  ASSERT_EQ(v.jit_facts.subprog_start.size(), 2u);
  EXPECT_EQ(v.jit_facts.depth_of(0), 64u);
  EXPECT_EQ(v.jit_facts.depth_of(6), 304u);  // 300 rounded up to 8
  EXPECT_FALSE(v.jit_facts.depth_of(1).has_value());
  // A helper writing the stack counts.
  const std::string helper = "mov %r1, %r10\nadd %r1, -128\nmov %r2, 16\ncall 16\nmov %r0, 0\nexit\n";
  EXPECT_EQ(run(helper).jit_facts.depth_of(0), 128u);
}

TEST(VerifierJitFacts, NotCollectedWhenDisabled) {
  auto insns = xbpf::isa::assemble("mov %r2, 7\nmov %r0, 100\ndiv %r0, %r2\nexit\n", "facts");
  ASSERT_TRUE(insns);
  Env env;
  env.jit_facts = false;
  const Verdict v = verify(xbpf::isa::encode_program(*insns), env);
  ASSERT_TRUE(v.ok);
  EXPECT_TRUE(v.jit_facts.insn.empty());
}

}  // namespace
