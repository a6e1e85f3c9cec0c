// JIT code generation with the verifier's facts (jit::Options::facts),
// constant blinding (Options::blind_constants) and inlined helpers
// (Options::inline_helpers: bpf_get_smp_processor_id; per-CPU array lookups): results must equal the
// interpreter's, and the code must show the effect (no zero test, smaller
// frames, no program constant in executable memory, no helper call).
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <algorithm>
#include <bit>
#include <array>
#include <random>
#include <thread>
#include <tuple>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "isa/asm.hpp"
#include "isa/disasm.hpp"
#include "jit/jit.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

using namespace xbpf;
using isa::Insn;
using isa::Op;

// xbpf_test_callee_saved(fn, r1, &r0): calls fn(r1) (a JIT function taking
// the C calling convention) with rbx, rbp and r12-r15 holding sentinels,
// stores its rax in r0 and returns a mask of those registers that came back
// changed (bit 0 rbx, 1 rbp, 2 r12 ... 5 r15). In assembly and calling the
// code directly: a C++ frame in between that saves a register would hide a
// clobber of it.
extern "C" uint64_t xbpf_test_callee_saved(vm::NativeCode::DirectFn fn, uint64_t r1, uint64_t* r0);
asm(R"(
  .text
  .p2align 4
  .type xbpf_test_callee_saved, @function
xbpf_test_callee_saved:
  push %rbx
  push %rbp
  push %r12
  push %r13
  push %r14
  push %r15
  sub $8, %rsp               # 16-byte aligned at the call; holds &r0
  mov %rdx, (%rsp)
  mov %rdi, %rax
  mov %rsi, %rdi
  movabs $0x5a5a0000000000b1, %rbx
  movabs $0x5a5a0000000000b2, %rbp
  movabs $0x5a5a0000000000b3, %r12
  movabs $0x5a5a0000000000b4, %r13
  movabs $0x5a5a0000000000b5, %r14
  movabs $0x5a5a0000000000b6, %r15
  call *%rax
  mov (%rsp), %rdx
  mov %rax, (%rdx)
  xor %eax, %eax
  movabs $0x5a5a0000000000b1, %rcx
  cmp %rcx, %rbx
  setne %dl
  or %dl, %al
  movabs $0x5a5a0000000000b2, %rcx
  cmp %rcx, %rbp
  setne %dl
  shl $1, %dl
  or %dl, %al
  movabs $0x5a5a0000000000b3, %rcx
  cmp %rcx, %r12
  setne %dl
  shl $2, %dl
  or %dl, %al
  movabs $0x5a5a0000000000b4, %rcx
  cmp %rcx, %r13
  setne %dl
  shl $3, %dl
  or %dl, %al
  movabs $0x5a5a0000000000b5, %rcx
  cmp %rcx, %r14
  setne %dl
  shl $4, %dl
  or %dl, %al
  movabs $0x5a5a0000000000b6, %rcx
  cmp %rcx, %r15
  setne %dl
  shl $5, %dl
  or %dl, %al
  add $8, %rsp
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbp
  pop %rbx
  ret
  .size xbpf_test_callee_saved, .-xbpf_test_callee_saved
)");

namespace {

std::vector<isa::RawInsn> assemble(const std::string& text) {
  auto insns = isa::assemble(text, "test");
  EXPECT_TRUE(insns.has_value()) << (insns ? "" : insns.error().message);
  return insns ? isa::encode_program(*insns) : std::vector<isa::RawInsn>{};
}

verifier::Verdict verify(std::span<const isa::RawInsn> code) {
  verifier::Env env;
  env.prog_type = kabi::ProgType::SocketFilter;
  verifier::Verdict v = verifier::verify(code, env);
  EXPECT_TRUE(v.ok) << v.message;
  return v;
}

uint64_t run(const vm::Program& p, uint64_t r1 = 0) {
  vm::ExecContext ctx;
  auto r = p.run(r1, 0, ctx);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : ~uint64_t(0);
}

vm::Program load(std::span<const isa::RawInsn> code, const vm::HelperTable* helpers = nullptr,
                 std::span<const vm::InlineArrayLookup> lookups = {}) {
  auto p = vm::Program::load(code, {vm::Mode::Verified, helpers, lookups});
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
  return std::move(*p);
}

vm::Program compiled(std::span<const isa::RawInsn> code, const jit::Options& opts,
                     const vm::HelperTable* helpers = nullptr, std::span<const vm::InlineArrayLookup> lookups = {}) {
  vm::Program p = load(code, helpers, lookups);
  auto r = jit::compile(p, opts);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return p;
}

std::string disasm(const vm::Program& p) {
  auto d = jit::disassemble(p);
  return d ? *d : d.error().message;
}

// The JIT's code for `r0 = r1; <body>; exit`.
std::string code_for(const std::string& body, const jit::Options& opts = {}) {
  return disasm(compiled(assemble("mov %r0, %r1\n" + body + "\nexit\n"), opts));
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// ---- verifier facts ----------------------------------------------------------

// Every division and modulo (32/64-bit, signed/unsigned) by a register
// holding a verified constant, with dst and src in the registers the
// lowering borrows (rax = r0, rdx = r3, rcx = r4) and elsewhere; r0 and r3
// are live after the division in one variant and dead in the other. With
// facts the tests and saves vanish; the results must not change.
TEST(JitFacts, DivisionsAgreeWithTheInterpreter) {
  static const Op ops[] = {Op::DIV64_REG, Op::MOD64_REG, Op::SDIV64_REG, Op::SMOD64_REG,
                           Op::DIV32_REG, Op::MOD32_REG, Op::SDIV32_REG, Op::SMOD32_REG};
  static const int64_t dividends[] = {0, 1, -1, 100, -100, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX,
                                      0x123456789abcdefLL};
  static const int64_t divisors[] = {1, 3, -3, 7, INT32_MIN, INT64_MIN, 0x100000003LL, -7};
  size_t with_facts = 0, checked = 0;
  for (Op op : ops) {
    const isa::OpInfo& info = isa::info(op);
    for (uint8_t dst : {0, 3, 4, 6}) {
      for (uint8_t src : {0, 3, 4, 7}) {
        if (src == dst) continue;
        for (bool live : {false, true}) {
          for (int64_t a : dividends) {
            for (int64_t b : divisors) {
              std::vector<Insn> prog;
              auto add = [&](Insn i) { prog.push_back(i); };
              add({.op = Op::MOV64_IMM, .dst = 8, .imm = 0x11});
              add({.op = Op::MOV64_IMM, .dst = 0, .imm = 0x22});
              add({.op = Op::MOV64_IMM, .dst = 3, .imm = 0x33});
              add({.op = Op::LDDW, .dst = src, .imm = int32_t(b), .imm64 = b});
              add({.op = Op::LDDW, .dst = dst, .imm = int32_t(a), .imm64 = a});
              Insn d{.op = op, .dst = dst, .src = src};
              if (info.match == isa::Match::Off) d.off = int16_t(info.match_value);
              add(d);
              add({.op = Op::MUL64_IMM, .dst = dst, .imm = 3});
              add({.op = Op::ADD64_REG, .dst = 8, .src = dst});
              add({.op = Op::MUL64_IMM, .dst = src, .imm = 5});
              add({.op = Op::ADD64_REG, .dst = 8, .src = src});
              if (live) {
                if (dst != 0 && src != 0) add({.op = Op::ADD64_REG, .dst = 8, .src = 0});
                if (dst != 3 && src != 3) {
                  add({.op = Op::MUL64_IMM, .dst = 3, .imm = 7});
                  add({.op = Op::ADD64_REG, .dst = 8, .src = 3});
                }
              }
              add({.op = Op::MOV64_REG, .dst = 0, .src = 8});
              add({.op = Op::EXIT});
              uint32_t pc = 0;
              for (Insn& x : prog) x.pc = pc, pc += uint32_t(isa::slot_count(x.op));
              const auto code = isa::encode_program(prog);
              const verifier::Verdict v = verify(code);
              ASSERT_TRUE(v.ok);
              const uint32_t at = prog[5].pc;
              // A 32-bit division sees the low half (INT64_MIN's is 0).
              const bool zero = isa::is_32bit(op) ? uint32_t(b) == 0 : b == 0;
              EXPECT_EQ(v.jit_facts.has(at, verifier::JitFacts::kDivisorNonzero), !zero) << info.name << " " << b;
              with_facts += !zero;
              const uint64_t want = run(load(code));
              jit::Options o;
              o.facts = &v.jit_facts;
              const vm::Program native = compiled(code, o);
              ASSERT_EQ(run(native), want) << info.name << " a=" << a << " b=" << b << " dst=r" << int(dst)
                                           << " src=r" << int(src) << " live=" << live << "\n"
                                           << disasm(native);
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(with_facts, checked / 2);
}

TEST(JitFacts, ProvenDivisorNeedsNoTests) {
  // r2 = (unknown 64-bit value | 1): nonzero, but `| 1` does not exclude -1,
  // so the signed division keeps its -1 test.
  const auto code = assemble(
      "call 7\nmov %r6, %r0\nlsh %r6, 32\ncall 7\nor %r6, %r0\nor %r6, 1\nja l\nl:\nmov %r0, 1000\ndiv %r0, %r6\n"
      "sdiv %r0, %r6\nexit\n");
  const verifier::Verdict v = verify(code);
  vm::HelperTable helpers;
  helpers.set(7, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 6; },
              "get_prandom_u32");
  const vm::Program plain = compiled(code, {}, &helpers);
  jit::Options o;
  o.facts = &v.jit_facts;
  const vm::Program fast = compiled(code, o, &helpers);
  EXPECT_EQ(run(fast), run(plain));
  const std::string d_plain = disasm(plain), d_fast = disasm(fast);
  // The jump target starts a new block: without facts both divisions test for 0.
  EXPECT_EQ(count(d_plain, "test r11"), 2u) << d_plain;
  EXPECT_EQ(count(d_fast, "test r11"), 0u) << d_fast;
  EXPECT_EQ(count(d_fast, "cmp r11, -1"), 1u) << d_fast;
  EXPECT_LT(jit::code_of(fast)->code.size(), jit::code_of(plain)->code.size());
}

TEST(JitFacts, FramesAreSizedByTheVerifiedStackDepth) {
  // main uses 24 bytes, f 200 (reads too count), g none.
  const std::string text =
      "stdw [%r10-24], 5\nmov %r1, 7\ncall local f\nldxdw %r1, [%r10-24]\nadd %r0, %r1\nexit\n"
      "f:\nstxdw [%r10-200], %r1\ncall local g\nldxdw %r1, [%r10-200]\nadd %r0, %r1\nldxb %r2, [%r10-150]\nexit\n"
      "g:\nmov %r0, 30\nexit\n";
  const auto code = assemble(text);
  const verifier::Verdict v = verify(code);
  EXPECT_EQ(v.jit_facts.stack_depth, (std::vector<uint32_t>{24, 200, 0}));
  jit::Options o;
  o.facts = &v.jit_facts;
  const vm::Program native = compiled(code, o);
  EXPECT_EQ(run(native), 42u);
  const std::string d = disasm(native);
  EXPECT_EQ(count(d, "sub rsp, 0x200"), 0u) << d;
  EXPECT_EQ(count(d, "sub rsp, 0x20"), 1u) << d;  // 24 -> 32
  EXPECT_EQ(count(d, "sub rsp, 0xd0"), 1u) << d;  // 200 -> 208
  // Without facts every frame is 512 bytes.
  EXPECT_EQ(count(disasm(compiled(code, {})), "sub rsp, 0x200"), 3u);
}

TEST(JitFacts, ZeroExtensionOfZeroExtendedValueVanishes) {
  const auto code = assemble("ldxw %r0, [%r1+0]\nmov32 %r0, %r0\nle32 %r0\nexit\n");
  const verifier::Verdict v = verify(code);
  jit::Options o;
  o.facts = &v.jit_facts;
  const vm::Program fast = compiled(code, o);
  EXPECT_EQ(count(disasm(fast), "mov eax, eax"), 0u) << disasm(fast);
  EXPECT_EQ(count(disasm(compiled(code, {})), "mov eax, eax"), 2u);
  uint32_t word = 0xdeadbeef;
  EXPECT_EQ(run(fast, reinterpret_cast<uint64_t>(&word)), 0xdeadbeefu);
}

// With facts the entry stub saves only what the program needs: nothing for
// a program without helpers (it jumps to the function, which returns to the
// caller), r12 for helper calls (their ExecContext), everything for tail
// calls and legacy packet loads (early exits unwind to it). A function
// without stack and without r10 sets up no frame.
TEST(JitFacts, EntryAndFramesAreTrimmed) {
  const auto plain_code = assemble("mov %r0, 1\nadd %r0, 41\nexit\n");
  const verifier::Verdict v = verify(plain_code);
  jit::Options o;
  o.facts = &v.jit_facts;
  const vm::Program lean = compiled(plain_code, o);
  EXPECT_EQ(run(lean), 42u);
  const std::string d = disasm(lean);
  EXPECT_EQ(count(d, "push"), 0u) << d;
  EXPECT_EQ(count(d, "rbp"), 0u) << d;
  EXPECT_EQ(count(d, "jmp r11"), 1u) << d;
  // Program::run calls such a program's function directly (the stub is for
  // callers of NativeCode::run), as a C function of r1..r5.
  ASSERT_NE(lean.native(), nullptr);
  const auto direct = lean.native()->direct();
  ASSERT_NE(direct, nullptr);
  EXPECT_EQ(direct(0, 0, 0, 0, 0), 42u);
  vm::ExecContext ctx;
  EXPECT_EQ(lean.native()->run(lean, std::array<uint64_t, 5>{}, ctx).value_or(0), 42u);
  // Without facts: six saves, five zeroings, a 512-byte frame.
  const std::string dp = disasm(compiled(plain_code, {}));
  EXPECT_EQ(count(dp, "push"), 7u) << dp;
  EXPECT_EQ(count(dp, "sub rsp, 0x200"), 1u) << dp;

  // A helper call: r12 only; the callee-saved r6 the program uses is saved
  // by its function, with rsp aligned for the call.
  const auto helper_code = assemble("mov %r6, 5\ncall 7\nadd %r0, %r6\nexit\n");
  const verifier::Verdict hv = verify(helper_code);
  vm::HelperTable helpers;
  helpers.set(7, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext* c) -> uint64_t {
    alignas(16) char probe[16];
    // The SysV ABI: rsp is 16-byte aligned at the call (so the callee's locals are).
    return c && (reinterpret_cast<uintptr_t>(probe) & 15) == 0 ? 37 : 1000;
  }, "get_prandom_u32");
  jit::Options ho;
  ho.facts = &hv.jit_facts;
  const vm::Program with_helper = compiled(helper_code, ho, &helpers);
  EXPECT_EQ(run(with_helper), 42u);
  const std::string dh = disasm(with_helper);
  EXPECT_EQ(count(dh, "push r12"), 1u) << dh;
  EXPECT_EQ(count(dh, "push rbx"), 1u) << dh;  // r6, by the function
  EXPECT_EQ(count(dh, "push r13"), 0u) << dh;
  EXPECT_EQ(count(dh, "rbp"), 0u) << dh;
  EXPECT_EQ(with_helper.native()->direct(), nullptr);  // helpers need the RunArea: through the stub
  // Callee-saved registers survive a run of a lean function, called as a C
  // function: the one that uses none (saves nothing) and one using r6-r9
  // (rbx, r13-r15: saves exactly those). (The entry stub saves all six.)
  const auto busy_code = assemble(
      "mov %r6, %r1\nmov %r7, 2\nmov %r8, 3\nmov %r9, 4\nadd %r6, %r7\nadd %r8, %r9\nmov %r0, %r6\n"
      "add %r0, %r8\nexit\n");
  const verifier::Verdict bv = verify(busy_code);
  jit::Options bo;
  bo.facts = &bv.jit_facts;
  const vm::Program busy = compiled(busy_code, bo);
  const std::string db = disasm(busy);
  EXPECT_EQ(count(db, "push"), 4u) << db;
  for (const auto& [p, r1, want] : {std::tuple{&lean, 0, 42}, std::tuple{&busy, 35, 44}}) {
    ASSERT_NE(p->native()->direct(), nullptr);
    uint64_t r0 = 0;
    EXPECT_EQ(xbpf_test_callee_saved(p->native()->direct(), uint64_t(r1), &r0), 0u) << disasm(*p);
    EXPECT_EQ(r0, uint64_t(want));
  }
}

// JitFacts::kNeverTaken / kAlwaysTaken: a branch the verifier decided on
// every path is no compare: a plain jump, or nothing.
TEST(JitFacts, DecidedBranchesAreHardWired) {
  const auto code = assemble(
      "call 7\nmov %r2, 5\nmov %r3, %r0\njeq %r2, 5, taken\nmov %r0, 1\nexit\n"
      "taken:\njeq %r2, 6, never\njgt %r3, 100, big\nmov %r0, 2\nexit\nbig:\nmov %r0, 3\nexit\nnever:\nmov %r0, 4\nexit\n");
  const verifier::Verdict v = verify(code);
  auto pc_of = [&](size_t k) {  // the k-th conditional jump
    auto insns = isa::decode_program(code);
    size_t seen = 0;
    for (const Insn& i : *insns)
      if (isa::info(i.op).form == isa::Form::JumpImm && seen++ == k) return i.pc;
    return uint32_t(0);
  };
  EXPECT_TRUE(v.jit_facts.has(pc_of(0), verifier::JitFacts::kAlwaysTaken));
  EXPECT_TRUE(v.jit_facts.has(pc_of(1), verifier::JitFacts::kNeverTaken));
  EXPECT_FALSE(v.jit_facts.has(pc_of(2), verifier::JitFacts::kNeverTaken));
  EXPECT_FALSE(v.jit_facts.has(pc_of(2), verifier::JitFacts::kAlwaysTaken));
  vm::HelperTable helpers;
  helpers.set(7, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 500; },
              "get_prandom_u32");
  jit::Options o;
  o.facts = &v.jit_facts;
  const vm::Program fast = compiled(code, o, &helpers);
  const vm::Program plain = compiled(code, {}, &helpers);
  EXPECT_EQ(run(fast), 3u);
  EXPECT_EQ(run(plain), 3u);
  const std::string d = disasm(fast), dp = disasm(plain);
  EXPECT_EQ(count(d, "cmp"), 1u) << d;  // only the undecided jgt
  EXPECT_EQ(count(dp, "cmp"), 3u) << dp;

  // A loop's exit test is decided on each visit, but not the same way on
  // all of them: no fact (the facts are the AND over every visit).
  const auto loop = assemble("mov %r0, 0\nmov %r2, 0\nl:\nadd %r0, 3\nadd %r2, 1\njge %r2, 10, out\nja l\nout:\nexit\n");
  const verifier::Verdict lv = verify(loop);
  jit::Options lo;
  lo.facts = &lv.jit_facts;
  const vm::Program lf = compiled(loop, lo);
  EXPECT_EQ(run(lf), 30u);
  EXPECT_EQ(count(disasm(lf), "cmp"), 2u) << disasm(lf);  // unrolled (Options::unroll): the test in both copies
  lo.unroll = false;
  const vm::Program once = compiled(loop, lo);
  EXPECT_EQ(run(once), 30u);
  EXPECT_EQ(count(disasm(once), "cmp"), 1u) << disasm(once);
}

TEST(JitFacts, FactsOfAnotherProgramAreRefused) {
  const auto code = assemble("mov %r0, 1\nexit\n");
  const verifier::Verdict v = verify(assemble("mov %r0, 1\nmov %r0, 2\nexit\n"));
  vm::Program p = load(code);
  jit::Options o;
  o.facts = &v.jit_facts;
  auto r = jit::compile(p, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

// ---- constant blinding -------------------------------------------------------

bool contains(std::span<const uint8_t> code, uint64_t v, size_t bytes) {
  uint8_t pat[8];
  std::memcpy(pat, &v, 8);
  return std::search(code.begin(), code.end(), pat, pat + bytes) != code.end();
}

// ---- arithmetic the kernel's JIT leaves as it is ---------------------------

// Programs built from instructions (pcs assigned, encoded).
std::vector<isa::RawInsn> encoded(std::vector<Insn> prog) {
  uint32_t pc = 0;
  for (Insn& x : prog) x.pc = pc, pc += uint32_t(isa::slot_count(x.op));
  return isa::encode_program(prog);
}

// Multiplications by an immediate become shifts, lea and shift-and-add where
// that is shorter than imul: every multiplier of those shapes (and some that
// keep imul), both widths, several destinations, values with the high bits
// set, with registers around the multiply checked untouched.
TEST(JitArithmetic, MultiplyByConstantsAgreesWithTheInterpreter) {
  std::vector<int32_t> multipliers;
  for (int32_t c = -20; c <= 160; ++c) multipliers.push_back(c);
  for (int k = 8; k <= 30; ++k)
    for (int32_t m : {1, 3, 5, 9})
      for (int32_t d : {-1, 0, 1})
        if (int64_t v = (int64_t(m) << k) + d; v <= INT32_MAX) multipliers.push_back(int32_t(v));
  multipliers.push_back(INT32_MAX);
  multipliers.push_back(INT32_MIN);
  multipliers.push_back(1000003);
  static const int64_t values[] = {0x123456789abcdef1LL, -1, 0x80000001LL};
  size_t checked = 0, without_imul = 0;
  for (int32_t c : multipliers) {
    for (bool is64 : {true, false}) {
      for (uint8_t dst : {0, 3, 7}) {
        for (int64_t a : values) {
          std::vector<Insn> prog = {
              {.op = Op::LDDW, .dst = 6, .imm = 0x66, .imm64 = 0x6666666666666666LL},
              {.op = Op::LDDW, .dst = 3, .imm = 0x33, .imm64 = 0x3333333333333333LL},
              {.op = Op::LDDW, .dst = dst, .imm = int32_t(a), .imm64 = a},
              {.op = is64 ? Op::MUL64_IMM : Op::MUL32_IMM, .dst = dst, .imm = c},
              {.op = Op::MOV64_REG, .dst = 0, .src = dst},
              {.op = Op::XOR64_REG, .dst = 0, .src = 6},
          };
          if (dst != 3) prog.push_back({.op = Op::ADD64_REG, .dst = 0, .src = 3});
          prog.push_back({.op = Op::EXIT});
          const auto code = encoded(prog);
          const uint64_t want = run(load(code));
          const uint64_t product =
              is64 ? uint64_t(a) * uint64_t(int64_t(c)) : uint64_t(uint32_t(uint64_t(a)) * uint32_t(c));
          ASSERT_EQ(want, (product ^ 0x6666666666666666ULL) + (dst != 3 ? 0x3333333333333333ULL : 0))
              << "the interpreter, c=" << c;
          const vm::Program native = compiled(code, {});
          const std::string d = disasm(native);
          ASSERT_EQ(run(native), want) << "c=" << c << " is64=" << is64 << " dst=r" << int(dst) << " a=" << a
                                       << "\n" << d;
          without_imul += count(d, "imul") == 0;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(without_imul, checked / 4);  // the premise: many take the other forms
}

TEST(JitArithmetic, MultipliesBecomeShiftsAndLea) {
  std::string d = code_for("mul %r0, 129");  // depchain's `x += x << 7`
  EXPECT_EQ(count(d, "imul"), 0u) << d;
  EXPECT_EQ(count(d, "shl rax, 7"), 1u) << d;
  EXPECT_EQ(count(d, "add rax, r11"), 1u) << d;
  d = code_for("mul %r0, 31");
  EXPECT_EQ(count(d, "shl rax, 5"), 1u) << d;
  EXPECT_EQ(count(d, "sub rax, r11"), 1u) << d;
  d = code_for("mul %r0, 9");
  EXPECT_EQ(count(d, "lea rax, [rax + rax*8]"), 1u) << d;
  d = code_for("mul32 %r0, 24");
  EXPECT_EQ(count(d, "lea eax, [rax + rax*2]"), 1u) << d;
  EXPECT_EQ(count(d, "shl eax, 3"), 1u) << d;
  d = code_for("mul %r0, 4096");
  EXPECT_EQ(count(d, "shl rax, 0xc"), 1u) << d;
  for (const char* kept : {"mul %r0, 1000003", "mul %r0, -3", "mul %r0, 11"}) {
    d = code_for(kept);
    EXPECT_EQ(count(d, "imul"), 1u) << kept << "\n" << d;
  }
  // Blinded: the immediate arrives in a register, imul by it. Without
  // Options::short_arith: imul, as the kernel's JIT.
  d = disasm(compiled(assemble("mov %r0, %r1\nmul %r0, 129\nexit\n"), {.blind_constants = true}));
  EXPECT_EQ(count(d, "imul"), 1u) << d;
  jit::Options plain;
  plain.short_arith = false;
  d = disasm(compiled(assemble("mov %r0, %r1\nmul %r0, 129\nadd %r0, 4\nexit\n"), plain));
  EXPECT_EQ(count(d, "imul rax, rax, 0x81"), 1u) << d;
  EXPECT_EQ(count(d, "lea r"), 0u) << d;
}

// `rD = r1; <insn on rD>; r0 = rD ^ r6 (+ r3)` with sentinels in r6 and r3
// that must survive `insn` (the division sequences borrow rax and rdx): the
// result, for r1 = x, is sentinels_result(insn's value of x, rD).
std::vector<isa::RawInsn> with_sentinels(Insn insn) {
  const uint8_t dst = insn.dst;
  std::vector<Insn> prog = {
      {.op = Op::LDDW, .dst = 6, .imm = 0x66, .imm64 = 0x6666666666666666LL},
      {.op = Op::LDDW, .dst = 3, .imm = 0x33, .imm64 = 0x3333333333333333LL},
      {.op = Op::MOV64_REG, .dst = dst, .src = 1},
      insn,
      {.op = Op::MOV64_REG, .dst = 0, .src = dst},
      {.op = Op::XOR64_REG, .dst = 0, .src = 6},
  };
  if (dst != 3) prog.push_back({.op = Op::ADD64_REG, .dst = 0, .src = 3});
  prog.push_back({.op = Op::EXIT});
  return encoded(prog);
}
uint64_t sentinels_result(uint64_t value, uint8_t dst) {
  return (value ^ 0x6666666666666666ULL) + (dst != 3 ? 0x3333333333333333ULL : 0);
}

// Unsigned division and modulo by a constant become a multiplication and
// shifts (a shift or a mask for powers of two), both widths, with and
// without BMI2 (64-bit dividends keep `div` without it), against C++'s own
// division: every divisor up to 1,100, powers of two and their neighbours,
// the corpus's (32767, 2039, 10^9), random ones of every bit length, over
// dividends that sit on and beside multiples of the divisor and at the ends
// of the range. r3 and r6 hold sentinels that must survive (the 64-bit form
// borrows rdx).
TEST(JitArithmetic, DivideByConstantsAgreesWithCxx) {
  std::mt19937_64 rng(1994);
  std::vector<int32_t> divisors;
  for (int32_t c = 1; c <= 1100; ++c) divisors.push_back(c);
  for (int k = 11; k <= 30; ++k)
    for (int32_t e : {-1, 0, 1}) divisors.push_back(int32_t((int64_t(1) << k) + e));
  for (int32_t c : {32767, 2039, 1000000000, 1000003, 641, 6700417, INT32_MAX, 1162261467, 0x55555555, 715827883})
    divisors.push_back(c);
  for (int bits = 11; bits <= 31; ++bits)
    for (int n = 0; n < 12; ++n) divisors.push_back(int32_t((rng() >> (64 - bits)) | (uint64_t(1) << (bits - 1))));
  size_t checked = 0, without_div = 0;
  const bool has_bmi2 = __builtin_cpu_supports("bmi2");
  for (int32_t c : divisors) {
    const auto d = uint64_t(c);
    std::vector<uint64_t> xs = {0, 1, d - 1, d, d + 1, ~uint64_t(0), ~uint64_t(0) - 1, uint64_t(1) << 63,
                                (uint64_t(1) << 63) - 1, 0xffffffff, 0xfffffffe, 0x100000000};
    for (uint64_t m : {~uint64_t(0) / d, uint64_t(0xffffffff) / d, rng() % (~uint64_t(0) / d)})
      for (uint64_t e : {-1, 0, 1}) xs.push_back(m * d + e), xs.push_back(m * d + d - 1 + e);
    for (int k = 0; k < 8; ++k) xs.push_back(rng() >> (rng() % 64));
    for (bool is64 : {true, false}) {
      for (bool mod : {false, true}) {
        for (uint8_t dst : {0, 3, 7}) {
          for (bool bmi2 : {true, false}) {
            const Op op = is64 ? (mod ? Op::MOD64_IMM : Op::DIV64_IMM) : (mod ? Op::MOD32_IMM : Op::DIV32_IMM);
            const auto code = with_sentinels({.op = op, .dst = dst, .imm = c});
            const vm::Program interp = load(code);
            const vm::Program native = compiled(code, {.bmi2 = bmi2});
            const std::string text = disasm(native);
            // 64-bit dividends keep `div` without BMI2 (but for powers of two).
            const bool keeps_div = is64 && !(bmi2 && has_bmi2) && !std::has_single_bit(d);
            EXPECT_EQ(count(text, "div "), keeps_div ? 1u : 0u) << "d=" << d << " is64=" << is64 << "\n" << text;
            without_div += !keeps_div;
            ++checked;
            for (uint64_t x : xs) {
              const uint64_t v = is64 ? x : uint32_t(x);
              const uint64_t r = mod ? v % d : v / d;
              const uint64_t want = sentinels_result(r, dst);
              ASSERT_EQ(run(interp, x), want) << "the interpreter, d=" << d << " x=" << x;
              ASSERT_EQ(run(native, x), want) << "d=" << d << " x=" << x << " is64=" << is64 << " mod=" << mod
                                              << " dst=r" << int(dst) << " bmi2=" << bmi2 << "\n" << text;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(without_div, checked / 2) << without_div << " of " << checked;
}

TEST(JitArithmetic, DivideByConstantsCodeShapes) {
  struct Shape {
    const char* body;
    const char* insn;  // appears exactly once
    bool bmi2;         // needs BMI2
  };
  static const Shape shapes[] = {
      {"div32 %r0, 32767", "imul", false},           {"mod %r0, 4096", "and eax, 0xfff", false},
      {"div32 %r0, 64", "shr eax, 6", false},         {"div %r0, 1000000000", "mulx", true},
      {"div %r0, 7", "sub r9, r11", true},  // odd: the 65-bit multiplier's fix-up
  };
  for (const Shape& s : shapes) {
    if (s.bmi2 && !__builtin_cpu_supports("bmi2")) {
      std::printf("SKIPPED %s: this CPU has no BMI2 (64-bit dividends keep div)\n", s.body);
      continue;
    }
    const std::string d = code_for(s.body);
    EXPECT_EQ(count(d, s.insn), 1u) << s.body << "\n" << d;
    EXPECT_EQ(count(d, "div "), 0u) << s.body << "\n" << d;
  }
  std::string d;
  // Kept as `div`: unsigned divisors of 2^31 and more, blinding,
  // Options::short_arith off, 64-bit without BMI2 (signed: blinding and
  // short_arith off only).
  jit::Options plain;
  plain.short_arith = false;
  for (const auto& [div, opts] : std::vector<std::pair<const char*, jit::Options>>{
           {"div32 %r0, -7", {}}, {"div %r0, -7", {}}, {"div %r0, 7", {.blind_constants = true}},
           {"div %r0, 7", plain}, {"div %r0, 7", {.bmi2 = false}}, {"sdiv %r0, 7", {.blind_constants = true}},
           {"smod32 %r0, 7", plain}}) {
    d = code_for(div, opts);
    EXPECT_EQ(count(d, "div "), 1u) << div << "\n" << d;
  }
}

// Signed division and modulo by a constant (ISA v4 sdiv, smod) become a
// multiplication and shifts, or shifts and a mask for powers of two, both
// widths, whatever BMI2, against C++'s truncating division: divisors of
// either sign up to 1,100, powers of two and their neighbours (2^31 and
// -2^31 too), random ones of every bit length; dividends on and beside the
// multiples of the divisor, both signs, and the ends of the range. r3 and r6
// hold sentinels that must survive (the 64-bit form borrows rax and rdx).
TEST(JitArithmetic, SignedDivideByConstantsAgreesWithCxx) {
  std::mt19937_64 rng(1994);
  std::vector<int32_t> divisors;
  for (int32_t c = 1; c <= 1100; ++c) divisors.push_back(c), divisors.push_back(c == 1 ? 1 : -c);
  for (int k = 11; k <= 31; ++k)
    for (int64_t e : {-1, 0, 1})
      for (int64_t s : {1, -1})
        if (const int64_t v = s * ((int64_t(1) << k) + e); v >= INT32_MIN && v <= INT32_MAX) divisors.push_back(int32_t(v));
  for (int32_t c : {32767, 2039, 1000000000, 1000003, 641, 6700417, 1162261467, 0x55555555, 715827883, -715827883})
    divisors.push_back(c);
  for (int bits = 11; bits <= 31; ++bits)
    for (int n = 0; n < 12; ++n) {
      const auto v = int32_t((rng() >> (64 - bits)) | (uint64_t(1) << (bits - 1)));
      divisors.push_back(n % 2 ? v : -v);
    }
  std::sort(divisors.begin(), divisors.end());
  divisors.erase(std::unique(divisors.begin(), divisors.end()), divisors.end());
  size_t checked = 0;
  for (int32_t c : divisors) {
    ASSERT_NE(c, 0);
    ASSERT_NE(c, -1);  // (div_mod's own cases: a negation and a zero)
    const auto a = uint64_t(c < 0 ? -int64_t(c) : int64_t(c));
    std::vector<int64_t> xs = {0, 1, -1, INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX, int64_t(a), -int64_t(a),
                               int64_t(UINT32_MAX), int64_t(1) << 32};
    // (Dividends are made in unsigned arithmetic, which wraps: the ends of
    // the range are wanted, and signed overflow would be undefined.)
    for (uint64_t m : {uint64_t(INT64_MAX) / a, uint64_t(INT32_MAX) / a, rng() % (uint64_t(INT64_MAX) / a), uint64_t(7)})
      for (uint64_t e : {~uint64_t(0), uint64_t(0), uint64_t(1)})
        for (uint64_t s : {uint64_t(1), ~uint64_t(0)})
          xs.push_back(int64_t(s * (m * a + e))), xs.push_back(int64_t(s * (m * a + a - 1 + e)));
    for (int k = 0; k < 8; ++k) xs.push_back(int64_t((rng() >> (rng() % 64)) * (k % 2 ? ~uint64_t(0) : 1)));
    for (bool is64 : {true, false}) {
      for (bool mod : {false, true}) {
        for (uint8_t dst : {0, 3, 7}) {
          const Op op = is64 ? (mod ? Op::SMOD64_IMM : Op::SDIV64_IMM) : (mod ? Op::SMOD32_IMM : Op::SDIV32_IMM);
          const auto code = with_sentinels({.op = op, .dst = dst, .off = 1, .imm = c});
          const vm::Program interp = load(code);
          const vm::Program native = compiled(code, {});
          const std::string text = disasm(native);
          EXPECT_EQ(count(text, "div "), 0u) << "c=" << c << " is64=" << is64 << "\n" << text;
          ++checked;
          for (int64_t x : xs) {
            uint64_t r;
            if (is64) {
              r = uint64_t(mod ? x % int64_t(c) : x / int64_t(c));
            } else {
              const auto v = int32_t(x);
              r = v == INT32_MIN && c == -1 ? uint32_t(v) : uint32_t(mod ? v % c : v / c);
            }
            const uint64_t want = sentinels_result(r, dst);
            ASSERT_EQ(run(interp, uint64_t(x)), want) << "the interpreter, c=" << c << " x=" << x;
            ASSERT_EQ(run(native, uint64_t(x)), want) << "c=" << c << " x=" << x << " is64=" << is64 << " mod=" << mod
                                                      << " dst=r" << int(dst) << "\n" << text;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 2000u * 12);
}

TEST(JitArithmetic, SignedDivideByConstantsCodeShapes) {
  struct Shape {
    const char* body;
    const char* insn;  // appears exactly once
  };
  static const Shape shapes[] = {
      {"sdiv32 %r0, 7", "imul r11, r10"},  // m = 0x92492493: no imm32
      {"smod32 %r0, -10", "imul r11, r11, 0x66666667"},
      {"sdiv %r0, 1000", "imul r10"},     // rdx:rax = rax * x (x in r10: dst is rax)
      {"sdiv %r0, 15", "add rdx, r10"},   // m >= 2^63: x added to the high half
      {"sdiv32 %r0, 8", "sar r11d, 3"},
      {"smod %r0, -4096", "and r11, 0xfffffffffffff000"},
      {"sdiv %r0, -2", "neg r11"},
  };
  for (const Shape& s : shapes) {
    const std::string d = code_for(s.body);
    EXPECT_EQ(count(d, s.insn), 1u) << s.body << "\n" << d;
    EXPECT_EQ(count(d, "div "), 0u) << s.body << "\n" << d;
  }
}

// `if r == 0` / `if r != 0` right after an add, sub, and, or, xor or neg of
// r at the same width branches on that instruction's ZF: no `test`. Moves
// of other registers in between keep the flags (fib's latch); a write of r,
// another width, or a join in between bring the test back. (`ja +0` before
// the operation keeps `mov r3, r1` from fusing with it into a flagless lea.) Every variant
// runs against the interpreter over operands that make the result zero,
// zero in its low half only, and nonzero.
TEST(JitArithmetic, BranchesOnZeroReuseTheFlags) {
  static const char* ops[] = {"add %r3, 1", "add %r3, %r4", "sub %r3, -1", "sub %r3, %r4", "and %r3, %r4",
                              "and %r3, 0x7fffffff", "or %r3, %r4", "xor %r3, %r4", "xor %r3, -1", "neg %r3"};
  static const char* between[] = {"", "mov %r5, %r1\n", "mov32 %r5, 7\n", "mov %r3, %r1\n", "mov32 %r3, %r3\n",
                                  "add %r5, 1\n", "ja +0\n"};
  static const uint64_t xs[] = {0, 1, ~uint64_t(0), 0x100000000ull, 0xffffffffull, 0xffffffff00000000ull,
                                0x80000000ull, 0x1ffffffffull};
  static const uint64_t r4s[] = {~uint64_t(0), 0xffffffff00000000ull, 0xffffffffull, 1};
  size_t without_test = 0, checked = 0;
  for (const char* op : ops) {
    for (const char* w : {"", "32"}) {
      for (const char* jw : {"", "32"}) {
        for (const char* j : {"jeq", "jne"}) {
          for (size_t b = 0; b < std::size(between); ++b) {
            for (uint64_t r4 : r4s) {
              std::string o = op;
              o.insert(o.find(' '), w);
              const std::string text =
                  fmt::format("lddw %r4, {:#x}\nmov %r3, %r1\nja +0\n{}\n{}{}{} %r3, 0, L\nmov %r0, 1\nexit\n"
                              "L: mov %r0, 2\nexit\n",
                              r4, o, between[b], j, jw);
              const auto code = assemble(text);
              const vm::Program interp = load(code);
              const vm::Program native = compiled(code, {});
              const std::string d = disasm(native);
              const bool reuse = std::string(w) == jw && b <= 2;  // nothing written to r3, nothing flag-setting
              EXPECT_EQ(count(d, "test "), reuse ? 0u : 1u) << text << d;
              without_test += count(d, "test ") == 0;
              ++checked;
              for (uint64_t x : xs) ASSERT_EQ(run(native, x), run(interp, x)) << text << "x=" << x << "\n" << d;
              if (r4 != r4s[0] && std::string(op).find("%r4") == std::string::npos) break;  // r4 unread
            }
          }
        }
      }
    }
  }
  EXPECT_GT(without_test, checked / 8);
  // Off with Options::short_arith: the kernel's one-for-one code.
  jit::Options plain;
  plain.short_arith = false;
  const std::string d =
      disasm(compiled(assemble("mov %r3, %r1\nja +0\nadd %r3, -1\njne %r3, 0, L\nL: exit\n"), plain));
  EXPECT_EQ(count(d, "test "), 1u) << d;
}

// The mnemonic of the x86 instruction right before the last conditional
// jump (not jmp) in disassembly `d`; empty when there is none.
std::string before_jcc(const std::string& d) {
  std::string prev, found;
  size_t at = 0;
  while (at < d.size()) {
    size_t eol = d.find('\n', at);
    if (eol == std::string::npos) eol = d.size();
    const std::string line = d.substr(at, eol - at);
    at = eol + 1;
    if (line.empty() || line[0] == ';') continue;
    char addr[32], bytes[64], mnem[32];
    if (std::sscanf(line.c_str(), "%31s %63s %31s", addr, bytes, mnem) != 3) continue;
    if (mnem[0] == 'j' && std::string(mnem) != "jmp") found = prev;
    prev = mnem;
  }
  return found;
}

// `op; mov; if r ==/!= 0` with a move independent of op: the move is emitted
// first, so op's flags meet their branch (op and jcc fuse into one µop;
// fib's latch). Program order stays when the move reads or writes op's
// registers, when a jump enters at the move or at the branch, when the
// widths differ, and with Options::zero_branch_order off. Every variant runs
// against the interpreter, on both paths of each jump.
TEST(JitArithmetic, IndependentMoveGoesBeforeTheFlagSetter) {
  static const char* ops[] = {"add %r3, %r4", "add %r3, -1", "sub %r3, %r4", "and %r3, %r4", "or %r3, %r4",
                              "xor %r3, -1", "neg %r3"};
  struct Between {
    const char* mov;
    bool independent;  // of every op above (r4: of those reading it)
  };
  static const Between movs[] = {
      {"mov %r5, %r1", true},  {"mov %r5, 0", true},    {"mov %r5, -3", true}, {"mov %r4, %r5", true},
      {"mov %r5, %r3", false},  // reads op's result
      {"mov %r3, %r5", false},  // writes it
  };
  static const uint64_t xs[] = {0, 1, 77, ~uint64_t(0), 0x100000000ull, 0xffffffffull, 0x80000000ull};
  size_t moved = 0, checked = 0;
  for (const char* op : ops) {
    const bool reads_r4 = std::string(op).find("%r4") != std::string::npos;
    for (const char* w : {"", "32"}) {
      for (const char* jw : {"", "32"}) {
        for (const char* j : {"jeq", "jne"}) {
          for (const Between& b : movs) {
            for (int enter = 0; enter < 3; ++enter) {  // 1: a jump enters at the move; 2: at the branch
              std::string o = op, m = b.mov;
              o.insert(o.find(' '), w);
              m.insert(m.find(' '), w);
              const std::string text = fmt::format(
                  "lddw %r4, 0xffffffff00000001\nmov %r3, %r1\nmov %r5, 9\njeq %r1, 77, {}\nja +0\n{}\n{}{}\n{}{}{} "
                  "%r3, 0, L\nmov %r0, %r3\nxor %r0, %r4\nadd %r0, %r5\nexit\nL: mov %r0, %r5\nadd %r0, 1000\nexit\n",
                  enter == 1 ? "M" : enter == 2 ? "B" : "+0", o, enter == 1 ? "M: " : "", m, enter == 2 ? "B: " : "", j, jw);
              const auto code = assemble(text);
              const vm::Program interp = load(code);
              for (bool on : {true, false}) {
                const vm::Program native = compiled(code, {.zero_branch_order = on});
                const std::string d = disasm(native);
                const bool independent = b.independent && !(reads_r4 && std::string(b.mov).find("%r4,") != std::string::npos);
                const bool expect = on && independent && enter == 0 && std::string(w) == jw;
                const std::string last = before_jcc(d);
                EXPECT_EQ(last != "mov" && last != "test" && last != "cmp", expect) << "before the jcc: " << last << "\n"
                                                                                   << text << d;
                moved += expect;
                ++checked;
                for (uint64_t x : xs) ASSERT_EQ(run(native, x), run(interp, x)) << text << "x=" << x << "\n" << d;
              }
            }
          }
        }
      }
    }
  }
  // 7 ops x 2 widths x 2 branches x 4 independent moves, less `mov r4, r5`
  // after the four ops that read r4.
  EXPECT_EQ(moved, 96u) << "of " << checked;
}

// `rA = rB; rA += X` is one lea, for each width combination the ISA allows,
// unless the add is a jump target (the path jumping there has no move).
TEST(JitArithmetic, MoveThenAddIsOneLea) {
  static const int64_t kB = 0x7ffffffffffffff0LL, kC = 0x00000001fffffff5LL, kA = 0x5555555555555555LL;
  size_t fused = 0, checked = 0;
  for (Op mov : {Op::MOV64_REG, Op::MOV32_REG}) {
    for (Op add : {Op::ADD64_REG, Op::ADD64_IMM, Op::ADD32_REG, Op::ADD32_IMM}) {
      for (int self = 0; self < 2; ++self) {  // rA += rA after the move
        if (self && (add == Op::ADD64_IMM || add == Op::ADD32_IMM)) continue;
        for (int64_t skip : {-1, 0, 1}) {  // -1: no jump; 0/1: r4, jumping over the move when 0
          std::vector<Insn> prog = {
              {.op = Op::LDDW, .dst = 0, .imm = int32_t(kA), .imm64 = kA},
              {.op = Op::LDDW, .dst = 2, .imm = int32_t(kB), .imm64 = kB},
              {.op = Op::LDDW, .dst = 3, .imm = int32_t(kC), .imm64 = kC},
              {.op = Op::MOV64_IMM, .dst = 4, .imm = int32_t(skip)},
          };
          if (skip >= 0) prog.push_back({.op = Op::JEQ_IMM, .dst = 4, .off = 1, .imm = 0});
          prog.push_back({.op = mov, .dst = 0, .src = 2});
          const bool add_imm = add == Op::ADD64_IMM || add == Op::ADD32_IMM;
          prog.push_back({.op = add, .dst = 0, .src = uint8_t(self || add_imm ? 0 : 3), .imm = add_imm ? -11 : 0});
          prog.push_back({.op = Op::EXIT});
          const auto code = encoded(prog);
          const uint64_t want = run(load(code));
          const vm::Program native = compiled(code, {});
          const std::string d = disasm(native);
          ASSERT_EQ(run(native), want) << isa::info(mov).name << " " << isa::info(add).name << " self=" << self
                                       << " skip=" << skip << "\n" << d;
          const bool lea = count(d, "lea r") + count(d, "lea e") > 0;  // not `leave`
          const bool may_fuse = skip < 0 && !(mov == Op::MOV32_REG && (add == Op::ADD64_REG || add == Op::ADD64_IMM));
          EXPECT_EQ(lea, may_fuse) << isa::info(mov).name << " " << isa::info(add).name << " skip=" << skip << "\n" << d;
          fused += lea;
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(fused, 9u);  // after mov64: 4 adds + 2 self; after mov32: the 32-bit adds (reg, imm, self)
  // The stack pointer idiom, with its offset in the lea.
  const std::string d = disasm(compiled(assemble("mov %r1, %r10\nadd %r1, -8\nstdw [%r1+0], 7\nldxdw %r0, [%r10-8]\nexit\n"), {}));
  EXPECT_EQ(count(d, "lea rdi, [rbp - 8]"), 1u) << d;
  // Blinded: an immediate must not appear, so mov and add stay apart.
  const std::string b = disasm(compiled(assemble("mov %r0, %r1\nadd %r0, 0x41424344\nexit\n"), {.blind_constants = true}));
  EXPECT_EQ(count(b, "lea r"), 0u) << b;
}

// After `rA = rB`, reads of rA as a source operand read rB while both are
// unchanged in the block (Options::copy_sources): the reader does not wait
// for the move on cores that do not eliminate it. Each case: its code (r1 is
// the input; r2, r3 are set first), the x86 instruction reading the copy
// with copy_sources on, and with it off.
TEST(JitCopySources, ReadsOfACopyReadItsSource) {
  struct Case {
    const char* body;
    const char* on;
    const char* off;
  };
  const Case cases[] = {
      // fib's loop body: the fused lea reads r3 as it was before the move.
      {"mov %r0, %r3\nmov %r3, %r1\nadd %r3, %r0\nmov %r0, %r3\n", "lea rdx, [rdi + rdx]", "lea rdx, [rdi + rax]"},
      {"mov %r0, %r3\nadd %r2, %r0\nmov %r0, %r2\n", "add rsi, rdx", "add rsi, rax"},
      // A copy of a copy reads the first source.
      {"mov %r4, %r3\nmov %r5, %r4\nxor %r2, %r5\nmov %r0, %r2\n", "xor rsi, rdx", "xor rsi, r8"},
      // 32-bit reads of a 64-bit copy.
      {"mov %r0, %r3\nsub32 %r2, %r0\nmov %r0, %r2\n", "sub esi, edx", "sub esi, eax"},
      // The copy's source written: the copy is read.
      {"mov %r0, %r3\nadd %r3, 1\nsub %r2, %r0\nadd %r0, %r2\nadd %r0, %r3\n", "sub rsi, rax", "sub rsi, rax"},
      // The copy written.
      {"mov %r0, %r3\nmov %r0, 9\nor %r2, %r0\nmov %r0, %r2\n", "or rsi, rax", "or rsi, rax"},
      // The source read for dst itself: rA - rA.
      {"mov %r0, %r3\nsub %r3, %r0\nmul %r3, %r0\nmov %r0, %r3\nadd %r0, %r1\n", "sub rdx, rdx", "sub rdx, rax"},
      // A 32-bit move is no copy (it zero-extends).
      {"mov32 %r0, %r3\nand %r2, %r0\nmov %r0, %r2\n", "and rsi, rax", "and rsi, rax"},
      // A register compare.
      {"mov %r0, %r3\njgt %r2, %r0, +1\nmov %r0, %r1\n", "cmp rsi, rdx", "cmp rsi, rax"},
      // A join: other paths did not make the copy.
      {"mov %r0, %r3\njeq %r1, 0, +1\nmov %r0, %r2\nadd %r2, %r0\nmov %r0, %r2\n", "add rsi, rax", "add rsi, rax"},
      // A helper call clobbers r1-r5 (and forgets every copy).
      {"mov %r6, %r3\nmov %r7, %r6\ncall 7\nadd %r7, %r6\nmov %r0, %r7\n", "add r13, rbx", "add r13, rbx"},
  };
  vm::HelperTable helpers;
  helpers.set(7, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 7; }, "seven");
  for (const Case& c : cases) {
    const std::string text = std::string("mov %r2, 0x1234\nlddw %r3, 0x0fedcba987654321\n") + c.body + "exit\n";
    const auto code = assemble(text);
    const vm::Program interp = load(code, &helpers);
    const vm::Program on = compiled(code, {}, &helpers);
    const vm::Program off = compiled(code, {.copy_sources = false}, &helpers);
    const std::string d_on = disasm(on), d_off = disasm(off);
    for (uint64_t r1 : {0ULL, 1ULL, 0x8000000000000000ULL, 0xfedcba9876543210ULL}) {
      const uint64_t want = run(interp, r1);
      EXPECT_EQ(run(on, r1), want) << c.body << d_on;
      EXPECT_EQ(run(off, r1), want) << c.body << d_off;
    }
    EXPECT_EQ(count(d_on, c.on), 1u) << c.body << d_on;
    EXPECT_EQ(count(d_off, c.off), 1u) << c.body << d_off;
  }
}

// A division clobbers rax and rdx when the verifier proved r0 / r3 dead
// after it (JitFacts::kR0DeadAfter / kR3DeadAfter): a copy of r3 must then
// be read from its own register, though r3 itself was never written.
TEST(JitCopySources, DivisionForgetsTheRegistersItClobbers) {
  // r1: a context whose first word is the dividend.
  for (const char* body : {"mov %r5, %r3\nldxw %r0, [%r1+0]\ndiv %r0, %r2\nadd %r0, %r5\n",
                           "mov %r5, %r3\nldxw %r0, [%r1+0]\nmod %r0, %r2\nadd %r0, %r5\n",
                           "mov %r5, %r0\nldxw %r3, [%r1+0]\ndiv %r3, %r2\nmov %r0, %r3\nadd %r0, %r5\n",
                           "mov %r5, %r3\nldxw %r0, [%r1+0]\ndiv32 %r0, 7\nxor %r0, %r5\n"}) {
    const std::string text = std::string("mov %r0, 5\nmov %r2, 0x1234\nlddw %r3, 0x0fedcba987654321\n") + body + "exit\n";
    const auto code = assemble(text);
    const verifier::Verdict v = verify(code);
    const vm::Program interp = load(code);
    const vm::Program native = compiled(code, {.facts = &v.jit_facts});
    for (uint32_t word : {0u, 1u, 0x9876543u, 0xffffffffu}) {
      alignas(8) uint8_t ctx[192] = {};
      std::memcpy(ctx, &word, 4);
      const auto r1 = reinterpret_cast<uint64_t>(ctx);
      EXPECT_EQ(run(native, r1), run(interp, r1)) << body << disasm(native);
    }
  }
}

// Random straight-line scalar programs, verified, compiled with the
// verifier's facts (as the runtime compiles) and with copy sources: moves,
// arithmetic, divisions and shifts over r0-r9, ending in r0 = a mix of r0
// and r6-r9. What the facts let the JIT clobber (a division's rax/rdx when
// r0/r3 are dead) meets reads the copies redirect; results must agree with
// the interpreter's. (jit_diff's programs are not verified, so they compile
// without facts.)
TEST(JitCopySources, RandomBlocksWithFactsAgree) {
  std::mt19937_64 rng(20261130);
  const Op ops[] = {Op::MOV64_REG, Op::MOV64_REG, Op::MOV64_REG, Op::MOV64_IMM, Op::ADD64_REG, Op::ADD32_REG,
                    Op::SUB64_REG, Op::MUL64_REG, Op::XOR64_REG, Op::OR64_REG,  Op::AND64_REG, Op::ADD64_IMM,
                    Op::DIV64_REG, Op::DIV32_REG, Op::MOD64_REG, Op::MOD32_REG, Op::DIV64_IMM, Op::MOD32_IMM,
                    Op::LSH64_IMM, Op::RSH64_IMM, Op::MOV32_REG, Op::SUB32_REG};
  size_t compared = 0, with_dead_division = 0;
  for (int n = 0; n < 3000; ++n) {
    std::vector<Insn> prog;
    // r1 is the context; every other register a value from it or a constant.
    prog.push_back({.op = Op::LDXW, .dst = 2, .src = 1, .off = 0});
    for (uint8_t r : {0, 3, 4, 5, 6, 7, 8, 9}) {
      const auto v = int64_t(rng());
      prog.push_back({.op = Op::LDDW, .dst = r, .imm = int32_t(v), .imm64 = v});
    }
    prog.push_back({.op = Op::MOV64_IMM, .dst = 1, .imm = int32_t(rng())});
    const int len = 4 + int(rng() % 24);
    for (int k = 0; k < len; ++k) {
      const Op op = ops[rng() % std::size(ops)];
      // Registers r0-r5 mostly, and r0 / r3 (what a division borrows) most.
      const auto reg = [&] { return uint8_t(rng() % 3 == 0 ? (rng() % 2) * 3 : rng() % 10); };
      const uint8_t dst = reg(), src = reg();
      const isa::Form f = isa::info(op).form;
      Insn i{.op = op, .dst = dst, .src = f == isa::Form::AluReg ? src : uint8_t(0)};
      if (f == isa::Form::AluImm) i.imm = op == Op::LSH64_IMM || op == Op::RSH64_IMM ? int32_t(rng() % 64) : int32_t(rng() % 1000 + 1);
      prog.push_back(i);
    }
    // r0 mixes r6-r9 (r1-r5 are left dead at the end, so divisions may
    // clobber r3 before it).
    for (uint8_t r = 6; r <= 9; ++r) {
      prog.push_back({.op = Op::MUL64_IMM, .dst = 0, .imm = 31});
      prog.push_back({.op = Op::XOR64_REG, .dst = 0, .src = r});
    }
    prog.push_back({.op = Op::EXIT});
    const auto code = encoded(prog);
    verifier::Env env;
    env.prog_type = kabi::ProgType::SocketFilter;
    const verifier::Verdict v = verifier::verify(code, env);
    ASSERT_TRUE(v.ok) << v.message << "\n" << isa::format_program(prog, isa::Syntax::Kernel, true);
    for (uint8_t f : v.jit_facts.insn)
      if (f & (verifier::JitFacts::kR0DeadAfter | verifier::JitFacts::kR3DeadAfter)) {
        ++with_dead_division;
        break;
      }
    const vm::Program interp = load(code);
    const vm::Program native = compiled(code, {.facts = &v.jit_facts});
    for (uint32_t word : {0u, 7u, 0xfffffff0u}) {
      alignas(8) uint8_t ctx[192] = {};
      std::memcpy(ctx, &word, 4);
      const auto r1 = reinterpret_cast<uint64_t>(ctx);
      ASSERT_EQ(run(native, r1), run(interp, r1)) << isa::format_program(prog, isa::Syntax::Kernel, true) << disasm(native);
    }
    ++compared;
  }
  EXPECT_EQ(compared, 3000u);
  EXPECT_GT(with_dead_division, 300u);  // the case the copies must respect
}

// ---- tail copies --------------------------------------------------------------

// A switch-like loop: each arm jumps back to the latch at the loop's top
// (`i += 1; if i == 16 goto out`), which falls into the next iteration's
// test. With tail copies each of the 4 arms gets its own copy of the latch and
// the test up to the switch's first compare; the forward `ja test` (outside
// any loop's copyable run) stays a jump.
const char* kSwitchLoop =
    "mov %r0, 7\nmov %r2, 0\nmov %r3, 0\nja test\n"
    "latch:\nadd %r3, 1\njeq %r3, 16, out\n"
    "test:\nmov %r5, %r3\nlsh %r5, 2\nmov %r4, %r1\nrsh %r4, %r5\nand %r4, 3\njsgt %r4, 1, hi\n"
    "jeq %r4, 0, c0\nadd %r0, 5\nja latch\n"
    "c0:\nxor %r0, %r1\nja latch\n"
    "hi:\njeq %r4, 2, c2\nmul %r0, 31\nja latch\n"
    "c2:\nadd %r2, %r0\nja latch\n"
    "out:\nadd %r0, %r2\nexit\n";

TEST(JitTailCopies, SwitchArmsGetTheirOwnLatchAndDispatch) {
  const auto code = assemble(kSwitchLoop);
  const vm::Program interp = load(code);
  jit::CompileStats on_stats, off_stats;
  const vm::Program on = compiled(code, {.stats = &on_stats});
  const vm::Program off = compiled(code, {.tail_copies = false, .stats = &off_stats});
  for (uint64_t r1 : {0ULL, ~0ULL, 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 0x5555aaaa3333ccccULL, 0x1b2d3f41ULL}) {
    const uint64_t want = run(interp, r1);
    EXPECT_EQ(run(on, r1), want) << std::hex << r1 << "\n" << disasm(on);
    EXPECT_EQ(run(off, r1), want) << std::hex << r1;
  }
  EXPECT_EQ(on_stats.tail_copies, 4u);
  EXPECT_EQ(off_stats.tail_copies, 0u);
  EXPECT_FALSE(on_stats.rel32_retry);
  const std::string d = disasm(on), o = disasm(off);
  EXPECT_EQ(count(d, "cmp rdx, 0x10"), 5u) << d;  // the latch's compare: once, then in every arm
  EXPECT_EQ(count(o, "cmp rdx, 0x10"), 1u) << o;
  EXPECT_EQ(count(d, "cmp rcx, 1"), 5u) << d;  // the switch's first compare likewise
  // Blinded, the copies carry the blinded immediates too.
  const vm::Program blinded = compiled(code, {.blind_constants = true});
  EXPECT_EQ(run(blinded, 0x0123456789abcdefULL), run(interp, 0x0123456789abcdefULL));
}

TEST(JitTailCopies, OnlyShortRunsInLoopsAreCopied) {
  jit::CompileStats stats;
  // A store in the latch: not copied (only ALU and loads are).
  compiled(assemble("mov %r0, 0\nmov %r3, 0\nja test\nlatch:\nstxdw [%r10-8], %r0\nadd %r3, 1\njeq %r3, 4, out\n"
                    "test:\nadd %r0, %r3\nja latch\nout:\nexit\n"),
           {.stats = &stats});
  EXPECT_EQ(stats.tail_copies, 0u);
  // A forward jump to a run whose branch goes forward: not in a loop.
  compiled(assemble("mov %r0, 0\njeq %r1, 0, b\nadd %r0, 1\nja j\nb:\nadd %r0, 2\nj:\nadd %r0, 3\njeq %r0, 4, out\n"
                    "mov %r0, 9\nout:\nexit\n"),
           {.stats = &stats});
  EXPECT_EQ(stats.tail_copies, 0u);
  // The same join inside a loop (its branch is the latch): copied.
  const auto loop = assemble("mov %r0, 0\nmov %r3, 0\nhead:\njset %r3, 1, b\nadd %r0, 1\nja j\nb:\nadd %r0, 2\n"
                             "j:\nadd %r3, 1\njlt %r3, 9, head\nexit\n");
  const vm::Program p = compiled(loop, {.stats = &stats});
  EXPECT_EQ(stats.tail_copies, 1u);
  EXPECT_EQ(run(p), run(load(loop)));
  // A run longer than 12 instructions: not copied.
  std::string longrun = "mov %r0, 0\nmov %r3, 0\nja test\nlatch:\n";
  for (int k = 0; k < 12; ++k) longrun += "add %r0, 1\n";
  longrun += "add %r3, 1\njeq %r3, 4, out\ntest:\nadd %r0, %r3\nja latch\nout:\nexit\n";
  compiled(assemble(longrun), {.stats = &stats});
  EXPECT_EQ(stats.tail_copies, 0u);
}

// Options::unroll: a loop whose body is one straight run closed by clang's
// latch `if c goto +1; goto head` runs its body twice per trip, both exit
// tests kept (so any trip count works: 1-16 here, odd and even, from r1).
// fib.c's loop: a counter, a move, the latch; the copy also emits the move
// before the counter's add, so its branch needs no `test` either.
const char* kFibLoop =
    "mov %r0, 0\nmov %r1, 1\nmov %r3, 1\nmov %r2, %r6\nand %r2, 15\nadd %r2, 1\n"
    "head:\nmov %r0, %r3\nmov %r3, %r1\nadd %r3, %r0\nadd32 %r2, -1\nmov %r1, %r0\njeq32 %r2, 0, out\nja head\n"
    "out:\nlsh %r3, 1\nxor %r0, %r3\nexit\n";

TEST(JitUnroll, SingleRunLoopsRunTheirBodyTwicePerTrip) {
  const auto code = assemble(std::string("mov %r6, %r1\n") + kFibLoop);
  const vm::Program interp = load(code);
  jit::CompileStats on_stats, off_stats;
  const vm::Program on = compiled(code, {.stats = &on_stats});
  const vm::Program off = compiled(code, {.unroll = false, .stats = &off_stats});
  const vm::Program blinded = compiled(code, {.blind_constants = true});
  for (uint64_t r1 = 0; r1 < 40; ++r1) {
    const uint64_t want = run(interp, r1);
    EXPECT_EQ(run(on, r1), want) << r1 << "\n" << disasm(on);
    EXPECT_EQ(run(off, r1), want) << r1;
    EXPECT_EQ(run(blinded, r1), want) << r1;
  }
  EXPECT_EQ(on_stats.unrolled, 1u);
  EXPECT_EQ(on_stats.tail_copies, 1u);
  EXPECT_EQ(off_stats.unrolled, 0u);
  const std::string d = disasm(on), o = disasm(off);
  EXPECT_EQ(count(d, "lea"), count(o, "lea") + 1) << d;  // `r3 = r1; r3 += r0` in each copy
  EXPECT_EQ(count(d, "test"), 0u) << d;  // both branches read the add's flags,
  // right after it (the move goes first, so the two fuse)
  std::istringstream lines(d);
  std::string line, prev;
  size_t fused = 0;
  while (std::getline(lines, line)) {
    if (line.find(" je ") != std::string::npos || line.find(" jne ") != std::string::npos)
      fused += prev.find("add esi, -1") != std::string::npos;
    if (!line.starts_with(";")) prev = line;  // (the BPF instructions' lines)
  }
  EXPECT_EQ(fused, 2u) << d;
  EXPECT_EQ(count(d, "je "), 1u) << d;   // the first copy's exit
  EXPECT_EQ(count(d, "jne "), 1u) << d;  // the second's way back
}

TEST(JitUnroll, OnlyStraightRunsWithClangsLatch) {
  auto unrolled = [](const std::string& text) {
    jit::CompileStats stats;
    const auto code = assemble(text);
    const vm::Program p = compiled(code, {.stats = &stats});
    const vm::Program interp = load(code);
    for (uint64_t r1 : {0ULL, 1ULL, 6ULL, 0xffffULL}) EXPECT_EQ(run(p, r1), run(interp, r1)) << text;
    return stats.unrolled;
  };
  const std::string pre = "mov %r0, 0\nmov %r2, %r1\nand %r2, 7\nadd %r2, 1\n";
  EXPECT_EQ(unrolled(pre + "head:\nadd %r0, %r2\nadd %r2, -1\njeq %r2, 0, out\nja head\nout:\nexit\n"), 1u);
  // a store in the body
  EXPECT_EQ(unrolled(pre + "head:\nstxdw [%r10-8], %r0\nadd %r0, %r2\nadd %r2, -1\njeq %r2, 0, out\nja head\nout:\nexit\n"),
            0u);
  // a branch inside the body
  EXPECT_EQ(unrolled(pre + "head:\njgt %r0, 9, s\nadd %r0, %r2\ns:\nadd %r2, -1\njeq %r2, 0, out\nja head\nout:\nexit\n"),
            0u);
  // a jump into the body from before the loop
  EXPECT_EQ(unrolled(pre + "jeq %r1, 3, mid\nhead:\nadd %r0, 7\nmid:\nadd %r0, %r2\nadd %r2, -1\njeq %r2, 0, out\n"
                           "ja head\nout:\nexit\n"),
            0u);
  // the one-branch latch (`if c goto head`): already one taken branch per trip
  EXPECT_EQ(unrolled(pre + "head:\nadd %r0, %r2\nadd %r2, -1\njne %r2, 0, head\nexit\n"), 0u);
  // 16 instructions with the latch: unrolled; 17: not
  std::string body15 = pre + "head:\n", body16 = pre + "head:\n";
  for (int k = 0; k < 14; ++k) body15 += "add %r0, %r2\n";
  for (int k = 0; k < 15; ++k) body16 += "add %r0, %r2\n";
  EXPECT_EQ(unrolled(body15 + "add %r2, -1\njeq %r2, 0, out\nja head\nout:\nexit\n"), 1u);
  EXPECT_EQ(unrolled(body16 + "add %r2, -1\njeq %r2, 0, out\nja head\nout:\nexit\n"), 0u);
}

TEST(JitBlinding, ProgramConstantsNeverReachExecutableMemory) {
  // Every kind of immediate, all 0x41424344 (and 0x4142434445464748 for lddw).
  const std::string text =
      "mov %r6, %r1\n"
      "lddw %r1, 0x4142434445464748\n"
      "mov %r2, 0x41424344\nmov32 %r3, 0x41424344\n"
      "add %r1, 0x41424344\nsub %r2, 0x41424344\nmul %r3, 0x41424344\nor %r1, 0x41424344\n"
      "and %r2, 0x41424344\nxor %r3, 0x41424344\nadd32 %r1, 0x41424344\nxor32 %r2, 0x41424344\n"
      "div %r1, 0x41424344\nmod %r2, 0x41424344\nsdiv32 %r3, 0x41424344\nsmod %r1, 0x41424344\n"
      "lsh %r2, 0x21\nrsh32 %r3, 0x11\narsh %r1, 0x7\n"
      "stw [%r6+0], 0x41424344\nstdw [%r6+8], 0x41424344\nsth [%r6+16], 0x4344\nstb [%r6+18], 0x44\n"
      "jeq %r1, 0x41424344, out\njgt %r2, 0x41424344, out\njset32 %r3, 0x41424344, next\nnext:\n"
      "jslt %r1, 0x41424344, out\n"
      "mov %r0, %r1\nadd %r0, %r2\nadd %r0, %r3\nexit\n"
      "out:\nmov %r0, 0x41424344\nexit\n";
  const auto code = assemble(text);
  const vm::Program interp = load(code);
  const vm::Program plain = compiled(code, {});
  ASSERT_TRUE(contains(jit::code_of(plain)->code, 0x41424344, 4));  // the test's premise
  ASSERT_TRUE(contains(jit::code_of(plain)->code, 0x4142434445464748ull, 8));
  {  // slot 22 is `sth [%r6+16], 0x4344`; unblinded, its code holds the constant
    const auto v = jit::code_of(plain);
    ASSERT_TRUE(contains(v->code.subspan(v->insn_offsets[22], v->insn_offsets[23] - v->insn_offsets[22]), 0x4344, 2));
  }
  for (int round = 0; round < 20; ++round) {
    const vm::Program blinded = compiled(code, {.blind_constants = true});
    const auto bytes = jit::code_of(blinded)->code;
    EXPECT_FALSE(contains(bytes, 0x41424344, 4)) << disasm(blinded);
    // Nor the 16-bit store's (slot 22), looked for in that store's own code: two
    // bytes anywhere in the program also occur by chance (random keys, addresses).
    const auto view = jit::code_of(blinded);
    const auto sth = bytes.subspan(view->insn_offsets[22], view->insn_offsets[23] - view->insn_offsets[22]);
    EXPECT_FALSE(contains(sth, 0x4344, 2)) << disasm(blinded);
    EXPECT_FALSE(contains(bytes, 0x45464748, 4)) << disasm(blinded);  // nor the lddw's halves
    uint8_t mem_a[32] = {}, mem_b[32] = {};
    EXPECT_EQ(run(blinded, reinterpret_cast<uint64_t>(mem_a)), run(interp, reinterpret_cast<uint64_t>(mem_b)));
    EXPECT_EQ(std::memcmp(mem_a, mem_b, sizeof(mem_a)), 0);
  }
}

TEST(JitBlinding, KeysDifferBetweenCompiles) {
  const auto code = assemble("mov %r0, 0x41424344\nexit\n");
  const vm::Program a = compiled(code, {.blind_constants = true});
  const vm::Program b = compiled(code, {.blind_constants = true});
  const auto ca = jit::code_of(a)->code, cb = jit::code_of(b)->code;
  EXPECT_FALSE(std::equal(ca.begin(), ca.end(), cb.begin(), cb.end()));
  EXPECT_EQ(run(a), 0x41424344u);
  EXPECT_EQ(run(b), 0x41424344u);
}

// ---- inlined helpers ---------------------------------------------------------

uint64_t fake_clock(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) { return 7; }
uint64_t fake_cpu(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) { return 12345; }

TEST(JitInlineHelpers, KtimeGetNsStaysAHelperCall) {
  // A direct clock_gettime call measured no faster than the helper.
  vm::HelperTable helpers;
  helpers.set(5, fake_clock, "bpf_ktime_get_ns");
  EXPECT_EQ(run(compiled(assemble("mov %r6, 1\ncall 5\nadd %r0, %r6\nexit\n"), {}, &helpers)), 8u);
}

// Pins the calling thread to the CPU it runs on (restored on destruction),
// so the CPU number cannot change between the program and the check.
class Pinned {
 public:
  Pinned() {
    sched_getaffinity(0, sizeof(saved_), &saved_);
    cpu_ = sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu_, &one);
    sched_setaffinity(0, sizeof(one), &one);
  }
  ~Pinned() { sched_setaffinity(0, sizeof(saved_), &saved_); }
  [[nodiscard]] int cpu() const { return cpu_; }

 private:
  cpu_set_t saved_;
  int cpu_ = 0;
};

TEST(JitInlineHelpers, SmpProcessorIdIsTheCurrentCpu) {
  vm::HelperTable helpers;
  helpers.set(8, fake_cpu, "bpf_get_smp_processor_id");
  const auto code = assemble("call 8\nexit\n");
  const vm::Program direct = compiled(code, {}, &helpers);
  Pinned pin;
  const uint64_t cpu = run(direct);
  EXPECT_TRUE(cpu == uint64_t(pin.cpu()) || cpu == 12345u);  // 12345: no rseq area, the helper ran
  EXPECT_EQ(run(compiled(code, {.inline_helpers = false}, &helpers)), 12345u);
}

TEST(JitInlineHelpers, PerCpuArrayLookupsReachTheCurrentCpusCopy) {
  vm::HelperTable helpers;  // the load needs the helper; inlined calls never reach it
  helpers.set(1, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 0; },
              "map_lookup_elem");
  constexpr uint32_t kEntries = 5, kStride = 16;
  const std::string text =
      "stw [%r10-4], KEY\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, null\nldxdw %r0, [%r0+8]\nexit\n"
      "null:\nmov %r0, 99\nexit\n";
  Pinned pin;
  for (uint32_t ncpus : {2u, 3u, 64u, 1024u}) {
    std::vector<uint64_t> values(kEntries * ncpus * kStride / 8);
    for (size_t k = 0; k < values.size(); ++k) values[k] = k;
    const vm::InlineArrayLookup lookup{3, reinterpret_cast<uint8_t*>(values.data()), kStride, kEntries, ncpus};
    for (int64_t key : {0, 3, 4, 5, -1}) {
      std::string t = text;
      t.replace(t.find("KEY"), 3, std::to_string(key));
      const auto code = assemble(t);
      const uint32_t cpu = uint32_t(pin.cpu()) % ncpus;
      const uint64_t want =
          uint64_t(key) < kEntries ? values[((uint64_t(key) * ncpus + cpu) * kStride + 8) / 8] : 99u;
      EXPECT_EQ(run(load(code, &helpers, {&lookup, 1})), want) << "interpreter, ncpus " << ncpus << " key " << key;
      const vm::Program native = compiled(code, {}, &helpers, {&lookup, 1});
      EXPECT_EQ(run(native), want) << "jit, ncpus " << ncpus << " key " << key << "\n" << disasm(native);
      EXPECT_EQ(count(disasm(native), "fs:[0]"), 1u) << disasm(native);  // inlined, reading the rseq area
    }
  }
}

// The slow paths: a thread without an rseq area (unregistered: its cpu_id
// reads -1, as on a system where glibc registers none) gets the CPU from
// vm::current_cpu / the helper.
TEST(JitInlineHelpers, ThreadWithoutRseqAreaTakesTheSlowPaths) {
  if (__rseq_size == 0) GTEST_SKIP() << "glibc registered no rseq area";
  vm::HelperTable helpers;
  helpers.set(1, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 0; },
              "map_lookup_elem");
  helpers.set(8, fake_cpu, "bpf_get_smp_processor_id");
  constexpr uint32_t kEntries = 4, kStride = 8, kCpus = 3;
  std::vector<uint64_t> values(kEntries * kCpus);
  for (size_t k = 0; k < values.size(); ++k) values[k] = 1000 + k;
  const vm::InlineArrayLookup lookup{3, reinterpret_cast<uint8_t*>(values.data()), kStride, kEntries, kCpus};
  const auto lookup_code = assemble(
      "stw [%r10-4], 2\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, null\nldxdw %r0, [%r0]\nexit\n"
      "null:\nmov %r0, 99\nexit\n");
  const vm::Program native = compiled(lookup_code, {}, &helpers, {&lookup, 1});
  const vm::Program cpu_id = compiled(assemble("call 8\nexit\n"), {}, &helpers);
  std::thread t([&] {
    auto* area = reinterpret_cast<struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) + __rseq_offset);
    constexpr uint32_t kRseqSig = 0x53053053;  // glibc's RSEQ_SIG on x86
    // glibc registers its area with the original 32-byte length (__rseq_size
    // is the part it uses).
    const uint32_t len = std::max<uint32_t>(__rseq_size, 32);
    ASSERT_EQ(syscall(SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, kRseqSig), 0) << errno;
    ASSERT_EQ(int32_t(area->cpu_id), -1);
    Pinned pin;
    EXPECT_EQ(run(cpu_id), 12345u);  // the helper ran
    EXPECT_EQ(run(native), values[2 * kCpus + uint32_t(pin.cpu()) % kCpus]);
  });
  t.join();
}

}  // namespace
