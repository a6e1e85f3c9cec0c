// JIT idioms (jit::Options::idioms, src/jit/idioms.hpp): LLVM's population
// count expansion becomes `popcnt`, (x << k) | (x >> (w - k)) a rotate,
// x / d with x - (x / d) * d one `div`.
// Every case runs on the interpreter and on the JIT with and without idioms
// over inputs that reach every bit; near misses (a mask off by one bit, a
// temporary read afterwards, a jump into the window, a constant set on one
// path only) must stay instruction for instruction. A generator then builds
// thousands of windows, exact and mutated, with random registers and
// readers after them, and compares all three.
#include <gtest/gtest.h>

#include <bit>
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
  return test::build_engines(text, opts, &jit::Options::idioms);
}

// Inputs: every single bit, all ones, and random words.
std::vector<uint64_t> inputs() {
  std::vector<uint64_t> v{0, ~uint64_t(0), 0x8000000000000000ull, 0x00000000ffffffffull, 0xffffffff00000000ull};
  for (int b = 0; b < 64; ++b) v.push_back(uint64_t(1) << b);
  std::mt19937_64 rng(42);
  for (int k = 0; k < 64; ++k) v.push_back(rng());
  return v;
}

// Runs the three engines over inputs(); the results must agree.
void agree(const Compiled& c, const std::string& what) { test::agree(c, what, inputs()); }

// clang -O2 -target bpf, `return __builtin_popcountll(x);` (x in r1).
const char* kPopcountll =
    "mov %r2, %r1\nrsh %r2, 1\nlddw %r3, 0x5555555555555555\nand %r2, %r3\nsub %r1, %r2\n"
    "lddw %r2, 0x3333333333333333\nmov %r0, %r1\nand %r0, %r2\nrsh %r1, 2\nand %r1, %r2\nadd %r0, %r1\n"
    "mov %r1, %r0\nrsh %r1, 4\nadd %r0, %r1\nlddw %r1, 0x0f0f0f0f0f0f0f0f\nand %r0, %r1\n"
    "lddw %r1, 0x0101010101010101\nmul %r0, %r1\nrsh %r0, 56\n";

// The same with -mcpu=v3, `return __builtin_popcount((unsigned)x);`.
const char* kPopcount32 =
    "mov32 %r2, %r1\nrsh32 %r2, 1\nand32 %r2, 0x55555555\nsub32 %r1, %r2\nmov32 %r0, %r1\n"
    "and32 %r0, 0x33333333\nrsh32 %r1, 2\nand32 %r1, 0x33333333\nadd32 %r0, %r1\nmov32 %r1, %r0\n"
    "rsh32 %r1, 4\nadd32 %r0, %r1\nand32 %r0, 0x0f0f0f0f\nmul32 %r0, 0x01010101\nrsh32 %r0, 24\n";

// bench/workloads/bitcount.c's loop body: masks in registers set before a
// loop (here: before a join), temporaries dead after the window.
const char* kPopcountRegs =
    "lddw %r2, 0x5555555555555555\nlddw %r5, 0x3333333333333333\nlddw %r6, 0x0f0f0f0f0f0f0f0f\n"
    "lddw %r7, 0x0101010101010101\nmov %r8, %r1\njeq %r1, 3, L\nadd %r8, 0\n"
    "L: mov %r0, %r8\nrsh %r0, 1\nand %r0, %r2\nsub %r8, %r0\nmov %r0, %r8\nand %r0, %r5\nrsh %r8, 2\n"
    "and %r8, %r5\nadd %r8, %r0\nmov %r0, %r8\nrsh %r0, 4\nadd %r0, %r8\nand %r0, %r6\nmul %r0, %r7\n"
    "rsh %r0, 56\n";

TEST(JitIdioms, PopulationCountsBecomePopcnt) {
  if (!__builtin_cpu_supports("popcnt")) GTEST_SKIP() << "SKIPPED: this CPU has no popcnt (the JIT keeps the expansion)";
  struct Case {
    std::string text;
    const char* insn;
  };
  const Case cases[] = {
      {std::string(kPopcountll) + "exit\n", "popcnt rax, rdi"},
      {std::string(kPopcount32) + "exit\n", "popcnt eax, edi"},
      {std::string(kPopcountRegs) + "exit\n", "popcnt rax, r14"},
      // The masks' registers read afterwards: the JIT sets their constants.
      {std::string(kPopcountll) + "add %r0, %r3\nadd %r0, %r2\nexit\n", "popcnt rax, rdi"},
      // Other order of + and & operands.
      {"mov32 %r2, %r1\nrsh32 %r2, 1\nand32 %r2, 0x55555555\nsub32 %r1, %r2\nmov32 %r0, 0x33333333\n"
       "and32 %r0, %r1\nrsh32 %r1, 2\nand32 %r1, 0x33333333\nadd32 %r1, %r0\nmov32 %r0, %r1\n"
       "rsh32 %r0, 4\nadd32 %r0, %r1\nand32 %r0, 0x0f0f0f0f\nmul32 %r0, 0x01010101\nrsh32 %r0, 24\nexit\n",
       "popcnt eax, edi"},
  };
  for (const Case& c : cases) {
    const Compiled p = build(c.text);
    EXPECT_EQ(p.stats.idioms, 1u) << c.text << p.code;
    EXPECT_EQ(count(p.code, c.insn), 1u) << c.text << p.code;
    EXPECT_EQ(count(p.code, "imul"), 0u) << c.text << p.code;
    agree(p, c.text);
  }
}

TEST(JitIdioms, RotatesBecomeOneInstruction) {
  struct Case {
    const char* body;
    const char* bmi2;     // with BMI2 (when the CPU has it)
    const char* no_bmi2;  // without
  };
  const Case cases[] = {
      // ilog2's `mix = (mix << 5 | mix >> 59)`: in place.
      {"mov %r2, %r1\nmov %r4, %r2\nrsh %r4, 59\nlsh %r2, 5\nor %r2, %r4\nmov %r0, %r2\n", "rol rsi, 5",
       "rol rsi, 5"},
      // Into another register.
      {"mov %r0, %r1\nlsh %r0, 13\nmov %r2, %r1\nrsh %r2, 51\nor %r0, %r2\nadd %r0, %r1\n", "rorx rax, rdi, 0x33",
       "rol rax, 0xd"},
      // 32-bit (jhash's rol32), xor and + for |.
      {"mov32 %r0, %r1\nlsh32 %r0, 7\nmov32 %r2, %r1\nrsh32 %r2, 25\nxor32 %r0, %r2\n", "rorx eax, edi, 0x19",
       "rol eax, 7"},
      {"mov %r3, %r1\nrsh32 %r3, 31\nlsh32 %r1, 1\nadd32 %r1, %r3\nmov %r0, %r1\n", "rol edi, 1", "rol edi, 1"},
      // The shift count in a register set once before.
      {"mov %r5, 40\nmov %r4, %r1\nrsh %r4, %r5\nlsh %r1, 24\nor %r1, %r4\nmov %r0, %r1\n", "rol rdi, 0x18",
       "rol rdi, 0x18"},
  };
  const bool has_bmi2 = __builtin_cpu_supports("bmi2");
  for (const Case& c : cases) {
    for (bool bmi2 : {true, false}) {
      const std::string text = std::string(c.body) + "exit\n";
      const Compiled p = build(text, {.bmi2 = bmi2});
      EXPECT_EQ(p.stats.idioms, 1u) << text << p.code;
      EXPECT_EQ(count(p.code, bmi2 && has_bmi2 ? c.bmi2 : c.no_bmi2), 1u) << text << p.code;
      EXPECT_EQ(count(p.code, "shl") + count(p.code, "shr"), 0u) << text << p.code;
      agree(p, text);
    }
  }
}

// A window's other registers must be dead after it. The finder searches
// forward for a read; past 256 instructions it takes the whole program's
// liveness. Here r4 (the rotate's right half) is read, or written, only
// after a long run of instructions, so both answers come from the fallback,
// and a short distance from the search.
TEST(JitIdioms, LivenessFarAfterTheWindow) {
  const std::string window = "mov %r2, %r1\nmov %r4, %r2\nrsh %r4, 59\nlsh %r2, 5\nor %r2, %r4\nmov %r0, %r2\n";
  std::string run300;
  for (int k = 0; k < 300; ++k) run300 += k % 2 ? "add %r0, 3\n" : "xor %r0, %r1\n";
  struct Case {
    std::string after;
    unsigned idioms;
  };
  const Case cases[] = {
      {run300 + "add %r0, %r4\n", 0},                   // r4 read far on: live, no idiom
      {run300 + "mov %r4, 7\nadd %r0, %r4\n", 1},      // written far on first: dead
      {"mov %r4, 7\n" + run300 + "add %r0, %r4\n", 1},  // written right away: the search's answer
  };
  for (const Case& c : cases) {
    const std::string text = window + c.after + "exit\n";
    const Compiled p = build(text);
    EXPECT_EQ(p.stats.idioms, c.idioms) << c.after.substr(c.after.size() - 40);
    agree(p, "liveness case " + std::to_string(&c - cases));
  }
}

// A window inside the run a tail copy duplicates (ilog2.c's loop: the goto
// back to the rotate) is the idiom in the copy too; after the copy the
// program goes on as after the original, so the window's liveness holds.
// A second case: the rotate's scratch register is read after the loop, so
// neither place may drop it.
TEST(JitIdioms, WindowsInTailCopies) {
  const std::string loop =
      "mov %r0, %r1\nmov %r2, 0\nmov %r4, 1\nja B\n"
      "A: mov %r4, %r0\nrsh %r4, 59\nlsh %r0, 5\nor %r0, %r4\nadd %r2, 1\njeq %r2, 7, E\n"
      "B: xor %r0, %r2\nja A\nE: ";
  struct Case {
    std::string tail;
    unsigned idioms, rols;
  };
  const Case cases[] = {{"exit\n", 2, 2}, {"add %r0, %r4\nexit\n", 0, 0}};
  for (const Case& c : cases) {
    const Compiled p = build(loop + c.tail);
    EXPECT_EQ(p.stats.tail_copies, 1u) << p.code;
    EXPECT_EQ(p.stats.idioms, c.idioms) << p.code;
    EXPECT_EQ(count(p.code, "rol") + count(p.code, "rorx"), c.rols) << p.code;
    agree(p, "tail copy " + c.tail);
  }
}

// Division with remainder: clang's `q = x / d; r = x - q * d` (LLVM's
// DivRemPairs; divchain.c's loop), both widths, signed and unsigned, with
// divisors that reach BPF's special cases (0, and -1 with INT_MIN), the
// results in every register the x86 division uses.
TEST(JitIdioms, DivisionWithRemainderIsOneDivision) {
  struct Case {
    std::string body;  // x in r1, d in r2 (set by the prologues below)
    unsigned divs;     // x86 divisions expected
  };
  auto shape = [](const char* w, const char* div, int q, int t, int r) {
    return fmt::format("mov{0} %r{2}, %r1\n{1}{0} %r{2}, %r2\nmov{0} %r{3}, %r{2}\nmul{0} %r{3}, %r2\n"
                       "mov{0} %r{4}, %r1\nsub{0} %r{4}, %r{3}\n",
                       w, div, q, t, r);
  };
  std::vector<Case> cases;
  for (const char* w : {"", "32"}) {
    for (const char* div : {"div", "sdiv"}) {
      // divchain's registers: the remainder overwrites the divisor.
      cases.push_back({shape(w, div, 9, 7, 2) + "mov %r0, %r9\nlsh %r0, 32\nxor %r0, %r2\n", 1});
      // Results in rax and rdx, either way round (r0 and r3), and the
      // quotient dead.
      cases.push_back({shape(w, div, 3, 4, 0) + "lsh %r0, 32\nxor %r0, %r3\n", 1});
      cases.push_back({shape(w, div, 0, 4, 3) + "lsh %r0, 32\nxor %r0, %r3\n", 1});
      cases.push_back({shape(w, div, 0, 4, 5) + "lsh %r0, 32\nxor %r0, %r5\n", 1});
      cases.push_back({shape(w, div, 6, 4, 0) + "add %r0, %r3\n", 1});
      // The product in either order; r0 and r3 live across the window.
      cases.push_back({fmt::format("mov %r3, %r1\nmov %r0, 77\nmov{0} %r6, %r1\n{1}{0} %r6, %r2\nmov{0} %r7, %r2\n"
                                   "mul{0} %r7, %r6\nmov{0} %r8, %r1\nsub{0} %r8, %r7\n"
                                   "lsh %r6, 32\nxor %r6, %r8\nadd %r0, %r3\nadd %r0, %r6\n",
                                   w, div),
                       1});
      // The product moved before it is subtracted (the finder's cheap test
      // follows moves back to the multiplication).
      cases.push_back({fmt::format("mov{0} %r6, %r1\n{1}{0} %r6, %r2\nmov{0} %r7, %r2\nmul{0} %r7, %r6\n"
                                   "mov{0} %r5, %r7\nmov{0} %r8, %r1\nsub{0} %r8, %r5\n"
                                   "lsh %r6, 32\nxor %r6, %r8\nmov %r0, %r6\n",
                                   w, div),
                       1});
    }
  }
  // x and d from the input: d = x >> 61 (0..7), x arsh 63 (0 or -1), and
  // x / x. Constant d (the verifier's facts: nonzero).
  const std::string prologues[] = {"mov %r2, %r1\nrsh %r2, 61\n", "mov %r2, %r1\narsh %r2, 63\n",
                                   "mov %r2, %r1\nadd %r2, 0\n", "mov %r2, %r1\nrsh %r2, 40\n",
                                   "mov %r2, 10\n", "mov %r2, -3\n"};
  for (const Case& c : cases) {
    for (const std::string& pro : prologues) {
      const std::string text = pro + c.body + "exit\n";
      const Compiled p = build(text);
      EXPECT_EQ(p.stats.idioms, 1u) << text << p.code;
      EXPECT_EQ(count(p.code, "div "), c.divs) << text << p.code;
      EXPECT_EQ(count(p.code, "imul"), 0u) << text << p.code;
      agree(p, text);
    }
  }
}

// Windows that look like an idiom and are not one (or not safely): the JIT
// must emit them instruction for instruction, with the same results.
TEST(JitIdioms, NearMissesStayAsTheyAre) {
  const std::string pop = kPopcountll;
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  const std::string cases[] = {
      // A mask one bit off.
      replace(pop, "0x5555555555555555", "0x5555555555555554") + "exit\n",
      replace(pop, "0x0101010101010101", "0x0101010101010100") + "exit\n",
      // A shift one off.
      replace(pop, "rsh %r1, 4\n", "rsh %r1, 3\n") + "exit\n",
      replace(pop, "rsh %r0, 56\n", "rsh %r0, 55\n") + "exit\n",
      // A temporary that holds no constant is read after the window (in
      // kPopcountll every temporary ends as a mask: see the case above).
      std::string(kPopcountRegs) + "add %r0, %r8\nexit\n",
      // 32-bit masks on 64-bit operations (not the 64-bit expansion).
      replace(pop, "lddw %r3, 0x5555555555555555\n", "mov32 %r3, 0x55555555\n") + "exit\n",
      // A jump lands inside the window.
      "jeq %r1, 7, L\n" + replace(pop, "mov %r0, %r1\nand %r0, %r2\n", "mov %r0, %r1\nL: and %r0, %r2\n") + "exit\n",
      // The masks' registers hold their constants on one path only.
      std::string("lddw %r2, 0x5555555555555555\nlddw %r5, 0x3333333333333333\nlddw %r6, 0x0f0f0f0f0f0f0f0f\n"
                  "lddw %r7, 0x0101010101010101\nmov %r8, %r1\njeq %r1, 3, L\nmov %r5, %r1\n") +
          (std::string(kPopcountRegs).substr(std::string(kPopcountRegs).find("L: "))) + "exit\n",
      // Two different constants reach the window.
      std::string("lddw %r2, 0x5555555555555555\nlddw %r5, 0x3333333333333333\nlddw %r6, 0x0f0f0f0f0f0f0f0f\n"
                  "lddw %r7, 0x0101010101010101\nmov %r8, %r1\njeq %r1, 3, L\nlddw %r2, 0x5555555555555554\n") +
          (std::string(kPopcountRegs).substr(std::string(kPopcountRegs).find("L: "))) + "exit\n",
      // Rotates: counts that do not add up to the width; a 32-bit half of a
      // 64-bit rotate; the other half read afterwards; an arithmetic shift.
      "mov %r4, %r1\nrsh %r4, 58\nlsh %r1, 5\nor %r1, %r4\nmov %r0, %r1\nexit\n",
      "mov %r4, %r1\nrsh32 %r4, 27\nlsh %r1, 5\nor %r1, %r4\nmov %r0, %r1\nexit\n",
      "mov %r4, %r1\nrsh %r4, 59\nlsh %r1, 5\nor %r1, %r4\nmov %r0, %r1\nadd %r0, %r4\nexit\n",
      "mov %r4, %r1\narsh %r4, 59\nlsh %r1, 5\nor %r1, %r4\nmov %r0, %r1\nexit\n",
      // Two different values shifted.
      "mov %r4, %r1\nadd %r4, 1\nrsh %r4, 59\nlsh %r1, 5\nor %r1, %r4\nmov %r0, %r1\nexit\n",
      // Unverified code: a callee reading a temporary the caller's window
      // left (r4), and a caller reading what a callee's window left in r3
      // after the call. Both engines see those values.
      "mov %r4, %r1\nrsh %r4, 59\nlsh %r1, 5\nor %r1, %r4\ncall local +1\nexit\nmov %r0, %r4\nexit\n",
      "call local +2\nadd %r0, %r3\nexit\nmov %r2, %r1\nmov %r3, %r1\nrsh %r3, 59\nlsh %r2, 5\n"
      "or %r2, %r3\nmov %r0, %r2\nexit\n",
      // Division with remainder: another divisor in the product; another
      // dividend in the subtraction; the product read afterwards; a 32-bit
      // product of a 64-bit quotient; a modulo instead of the product.
      "mov %r2, %r1\nrsh %r2, 60\nmov %r9, %r1\ndiv %r9, %r2\nmov %r7, %r9\nmul %r7, %r3\nmov %r6, %r1\n"
      "sub %r6, %r7\nmov %r0, %r6\nexit\n",
      "mov %r2, %r1\nrsh %r2, 60\nmov %r9, %r1\ndiv %r9, %r2\nmov %r7, %r9\nmul %r7, %r2\nmov %r6, %r4\n"
      "sub %r6, %r7\nmov %r0, %r6\nexit\n",
      "mov %r2, %r1\nrsh %r2, 60\nmov %r9, %r1\ndiv %r9, %r2\nmov %r7, %r9\nmul %r7, %r2\nmov %r6, %r1\n"
      "sub %r6, %r7\nmov %r0, %r6\nadd %r0, %r7\nexit\n",
      "mov %r2, %r1\nrsh %r2, 60\nmov %r9, %r1\ndiv %r9, %r2\nmov %r7, %r9\nmul32 %r7, %r2\nmov %r6, %r1\n"
      "sub %r6, %r7\nmov %r0, %r6\nexit\n",
      "mov %r2, %r1\nrsh %r2, 60\nmov %r9, %r1\ndiv %r9, %r2\nmov %r6, %r1\nmod %r6, %r2\nsub %r6, %r9\n"
      "mov %r0, %r6\nexit\n",
  };
  // Every register defined first: a jump into the window skips definitions.
  const std::string init = "mov %r0, 3\nmov %r2, 5\nmov %r3, 7\nmov %r4, 11\nmov %r5, 13\nmov %r6, 17\n"
                           "mov %r7, 19\nmov %r8, 23\nmov %r9, 29\n";
  for (const std::string& case_text : cases) {
    const std::string text = init + case_text;
    const Compiled p = build(text);
    EXPECT_EQ(p.stats.idioms, 0u) << text << p.code;
    EXPECT_EQ(count(p.code, "popcnt") + count(p.code, "rol") + count(p.code, "rorx"), 0u) << text << p.code;
    if (count(text, "div ")) {
      EXPECT_EQ(count(p.code, "imul"), count(text, "mul")) << text << p.code;
    }
    agree(p, text);
  }
  // Constant blinding leaves every instruction (and blinds its constants).
  const Compiled blinded = build(pop + "exit\n", {.blind_constants = true});
  EXPECT_EQ(blinded.stats.idioms, 0u) << blinded.code;
  agree(blinded, "blinded");
}

// Generated windows: each idiom in the shapes clang emits, with random
// registers, masks in the window or set before a join, divisors that are
// sometimes 0 or -1, sometimes one
// instruction mutated (a constant, a shift, a register, an operation), and
// a random mix of the registers read afterwards (so temporaries are live or
// dead). The three engines must agree; the exact windows must mostly be
// found (not all: a live temporary that is no constant keeps the code).
TEST(JitIdioms, GeneratedWindowsAgree) {
  std::mt19937_64 rng(20261201);
  auto pick = [&](std::vector<int> from) { return from[rng() % from.size()]; };
  size_t exact = 0, found_exact = 0, mutated = 0, found_mutated = 0, exact_div = 0, found_div = 0;
  const std::vector<uint64_t> xs = {0, ~uint64_t(0), 0x8000000000000001ull, 0x0123456789abcdefull,
                                    0xfedcba9876543210ull, 0x00000000f0f0f0f0ull, 0x8000000000000000ull,
                                    0x0000000080000000ull};
  for (int n = 0; n < 1500; ++n) {
    // Registers: x (the operand), t (temporary); r0 and r9 stay out of the
    // window for the epilogue.
    std::vector<int> regs = {1, 2, 3, 4, 5, 6, 7, 8};
    std::shuffle(regs.begin(), regs.end(), rng);
    const int x = regs[0], t = regs[1], m1 = regs[2], m2 = regs[3], m3 = regs[4], m4 = regs[5];
    std::vector<std::string> pre, win;
    auto r = [](int k) { return fmt::format("%r{}", k); };
    const int kind = int(rng() % 5);
    int result = x;
    if (kind == 0 || kind == 1) {  // popcount, 64-bit: masks in registers set before the join, or in the window
      const bool regs_before = kind == 0;
      const uint64_t k[4] = {0x5555555555555555ull, 0x3333333333333333ull, 0x0f0f0f0f0f0f0f0full,
                             0x0101010101010101ull};
      const int mr[4] = {m1, m2, m3, m4};
      auto mask = [&](int j, int into) {
        if (regs_before) return fmt::format("and {}, {}\n", r(into), r(mr[j]));
        win.push_back(fmt::format("lddw {}, {:#x}\n", r(mr[j]), k[j]));
        return fmt::format("and {}, {}\n", r(into), r(mr[j]));
      };
      if (regs_before)
        for (int j = 0; j < 4; ++j) pre.push_back(fmt::format("lddw {}, {:#x}\n", r(mr[j]), k[j]));
      win.push_back(fmt::format("mov {}, {}\n", r(t), r(x)));
      win.push_back(fmt::format("rsh {}, 1\n", r(t)));
      win.push_back(mask(0, t));
      win.push_back(fmt::format("sub {}, {}\n", r(x), r(t)));
      win.push_back(fmt::format("mov {}, {}\n", r(t), r(x)));
      win.push_back(mask(1, t));
      win.push_back(fmt::format("rsh {}, 2\n", r(x)));
      win.push_back(mask(1, x));
      win.push_back(fmt::format("add {}, {}\n", r(x), r(t)));
      win.push_back(fmt::format("mov {}, {}\n", r(t), r(x)));
      win.push_back(fmt::format("rsh {}, 4\n", r(t)));
      win.push_back(fmt::format("add {}, {}\n", r(t), r(x)));
      win.push_back(mask(2, t));
      if (regs_before) win.push_back(fmt::format("mul {}, {}\n", r(t), r(m4)));
      else win.push_back(fmt::format("lddw {}, {:#x}\nmul {}, {}\n", r(m4), k[3], r(t), r(m4)));
      win.push_back(fmt::format("rsh {}, 56\n", r(t)));
      result = t;
    } else if (kind == 2) {  // popcount, 32-bit
      win = {fmt::format("mov32 {}, {}\n", r(t), r(x)),  fmt::format("rsh32 {}, 1\n", r(t)),
             fmt::format("and32 {}, 0x55555555\n", r(t)), fmt::format("sub32 {}, {}\n", r(x), r(t)),
             fmt::format("mov32 {}, {}\n", r(t), r(x)),  fmt::format("and32 {}, 0x33333333\n", r(t)),
             fmt::format("rsh32 {}, 2\n", r(x)),          fmt::format("and32 {}, 0x33333333\n", r(x)),
             fmt::format("add32 {}, {}\n", r(t), r(x)),  fmt::format("mov32 {}, {}\n", r(x), r(t)),
             fmt::format("rsh32 {}, 4\n", r(x)),          fmt::format("add32 {}, {}\n", r(t), r(x)),
             fmt::format("and32 {}, 0x0f0f0f0f\n", r(t)), fmt::format("mul32 {}, 0x01010101\n", r(t)),
             fmt::format("rsh32 {}, 24\n", r(t))};
      result = t;
    } else if (kind == 4) {  // division with remainder: either width and sign, divisors reaching 0 and -1
      const bool w64 = rng() % 2;
      const std::string s = w64 ? "" : "32", div = rng() % 2 ? "div" : "sdiv";
      const int q = m1, d = m2, rem = pick({x, d, m3});
      switch (rng() % 4) {
        case 0: pre.push_back(fmt::format("mov {}, {}\nrsh {}, {}\n", r(d), r(x), r(d), 56 + rng() % 8)); break;
        case 1: pre.push_back(fmt::format("mov {}, {}\narsh {}, 63\n", r(d), r(x), r(d))); break;
        case 2: pre.push_back(fmt::format("mov {}, {}\nxor {}, 5\n", r(d), r(x), r(d))); break;
        default: break;  // d keeps its random constant
      }
      win = {fmt::format("mov{} {}, {}\n", s, r(q), r(x)), fmt::format("{}{} {}, {}\n", div, s, r(q), r(d)),
             fmt::format("mov{} {}, {}\n", s, r(t), r(q)), fmt::format("mul{} {}, {}\n", s, r(t), r(d)),
             fmt::format("mov{} {}, {}\n", s, r(rem), r(x)), fmt::format("sub{} {}, {}\n", s, r(rem), r(t))};
      result = rem;
    } else {  // rotate, either width, either register keeps the result
      const bool w64 = rng() % 2;
      const int width = w64 ? 64 : 32, k = 1 + int(rng() % uint64_t(width - 1));
      const std::string s = w64 ? "" : "32";
      const char* join = pick({0, 1, 2}) == 0 ? "or" : pick({0, 1}) ? "xor" : "add";
      if (rng() % 2) {
        win = {fmt::format("mov{} {}, {}\n", s, r(t), r(x)), fmt::format("rsh{} {}, {}\n", s, r(t), width - k),
               fmt::format("lsh{} {}, {}\n", s, r(x), k), fmt::format("{}{} {}, {}\n", join, s, r(x), r(t))};
        result = x;
      } else {
        win = {fmt::format("mov{} {}, {}\n", s, r(t), r(x)), fmt::format("lsh{} {}, {}\n", s, r(t), k),
               fmt::format("rsh{} {}, {}\n", s, r(x), width - k), fmt::format("{}{} {}, {}\n", join, s, r(t), r(x))};
        result = t;
      }
    }
    const bool mutate = rng() % 3 == 0;
    if (mutate) {  // one instruction changed: a constant, a register, or the operation
      std::string& w = win[rng() % win.size()];
      const size_t digit = w.find_last_of("0123456789");
      switch (rng() % 3) {
        case 0: w[digit] = w[digit] == '9' || w[digit] == 'f' ? '8' : char(w[digit] + 1); break;
        case 1: w = w.substr(0, w.find('%') + 2) + char('1' + rng() % 8) + w.substr(w.find('%') + 3); break;
        default: if (w.rfind("and", 0) == 0) w.replace(0, 3, "xor"); else if (w.rfind("rsh", 0) == 0) w.replace(0, 3, "arsh"); break;
      }
    }
    // Every register starts defined; r1 is the input for x.
    std::string text = fmt::format("mov {}, %r1\n", r(x));
    for (int k = 1; k <= 9; ++k)
      if (k != x) text += fmt::format("lddw %r{}, {:#x}\n", k, 0x9e3779b97f4a7c15ull * uint64_t(k + n));
    for (const auto& p : pre) text += p;
    text += "jeq %r1, 12345, L\nadd %r9, 1\nL: ";
    for (const auto& w : win) text += w;
    // The epilogue reads the result and a random set of other registers.
    text += fmt::format("mov %r0, {}\n", r(result));
    for (int k = 1; k <= 9; ++k)
      if (k != result && rng() % 3 == 0) text += fmt::format("lsh %r0, 7\nxor %r0, %r{}\n", k);
    text += "exit\n";
    const Compiled p = build(text);
    for (uint64_t v : xs) {
      const uint64_t want = run(p.interp, v);
      ASSERT_EQ(run(p.on, v), want) << text << p.code;
      ASSERT_EQ(run(p.off, v), want) << text;
    }
    (mutate ? mutated : exact) += 1;
    (mutate ? found_mutated : found_exact) += p.stats.idioms;
    if (kind == 4 && !mutate) {
      ++exact_div;
      found_div += p.stats.idioms;
    }
  }
  // Most exact windows become idioms; the test must have exercised them.
  // (Without popcnt only the rotates and divisions, two fifths of the kinds, can.)
  if (__builtin_cpu_supports("popcnt")) EXPECT_GT(found_exact * 2, exact) << found_exact << " of " << exact;
  else EXPECT_GT(found_exact * 5, exact) << found_exact << " of " << exact;
  EXPECT_GT(found_div * 2, exact_div) << found_div << " of " << exact_div << " divisions";
  RecordProperty("exact", int(exact));
  RecordProperty("exact_found", int(found_exact));
  RecordProperty("mutated", int(mutated));
  RecordProperty("mutated_found", int(found_mutated));
  std::printf("exact windows %zu (idioms %zu; divisions %zu, idioms %zu), mutated %zu (idioms %zu)\n", exact,
              found_exact, exact_div, found_div, mutated, found_mutated);
}

}  // namespace
