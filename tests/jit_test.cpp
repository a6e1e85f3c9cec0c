// The JIT beyond the conformance suite: helper calls (the ExecContext as 6th
// argument), bpf-to-bpf calls, tail calls, callbacks, inlined array lookups,
// callx errors, every opcode of the table, W^X code memory, and the
// disassembly.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <fstream>
#include <sstream>

#include "isa/asm.hpp"
#include "jit/jit.hpp"
#include "vm/vm.hpp"

using namespace xbpf;

namespace {

std::vector<isa::RawInsn> assemble(const char* text) {
  auto insns = isa::assemble(text, "test");
  EXPECT_TRUE(insns.has_value()) << (insns ? "" : insns.error().message);
  return insns ? isa::encode_program(*insns) : std::vector<isa::RawInsn>{};
}

// Loads in verified mode and compiles; the program runs natively from then on.
vm::Program jit(const char* text, const vm::HelperTable* helpers = nullptr, jit::Options opts = {}) {
  auto p = vm::Program::load(assemble(text), {vm::Mode::Verified, helpers});
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
  auto r = jit::compile(*p, opts);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  EXPECT_TRUE(jit::code_of(*p).has_value());
  return std::move(*p);
}

uint64_t run(const vm::Program& p, uint64_t r1 = 0, uint64_t r2 = 0) {
  vm::ExecContext ctx;
  auto r = p.run(r1, r2, ctx);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : ~uint64_t(0);
}

TEST(Jit, RefusesCheckedPrograms) {
  auto p = vm::Program::load(assemble("mov %r0, 1\nexit\n"), {vm::Mode::Checked, nullptr});
  ASSERT_TRUE(p.has_value());
  auto r = jit::compile(*p);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::unsupported);
  EXPECT_FALSE(jit::code_of(*p).has_value());
}

TEST(Jit, ArgumentsAndResult) {
  EXPECT_EQ(run(jit("mov %r0, %r1\nadd %r0, %r2\nexit\n"), 40, 2), 42u);
}

// Compiled without the verifier's facts, a program may read r0 and r6-r9
// before writing them; they start at 0, as on the interpreter (the entry stub
// zeroes them: rbx and r13-r15 hold the C++ caller's values). Run from a
// loop whose callee-saved registers hold live values.
TEST(Jit, WithoutFactsRegistersStartZeroAsOnTheInterpreter) {
  const auto p = jit("mov %r0, %r6\nor %r0, %r7\nor %r0, %r8\nor %r0, %r9\nexit\n");
  const auto q = jit("or %r6, 1\nmov %r0, %r0\nexit\n");  // reads r0 unwritten: 0 on both engines
  volatile uint64_t sink = 0;
  for (uint64_t k = 1; k <= 64; ++k) {
    const uint64_t a = k * 0x9e3779b97f4a7c15ULL, b = a ^ (a >> 7), c = b * 3, d = c + a;
    EXPECT_EQ(run(p, a, b), 0u) << "run " << k;
    EXPECT_EQ(run(q, c, d), 0u) << "run " << k;
    sink = sink + a + b + c + d;  // keeps a-d live across the runs
  }
}

// Helpers get r1..r5 in the SysV argument registers and the ExecContext as 6th.
TEST(Jit, HelperCallsGetArgumentsAndContext) {
  vm::HelperTable helpers;
  helpers.set(1, [](uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, vm::ExecContext* ctx) {
    return (a + 2 * b + 3 * c + 4 * d + 5 * e) * *static_cast<uint64_t*>(ctx->user);
  }, "weights");
  const auto p = jit(
      "mov %r6, 100\nmov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\n"
      "call 1\nadd %r0, %r6\nexit\n", &helpers);
  uint64_t factor = 10;
  vm::ExecContext ctx;
  ctx.user = &factor;
  auto r = p.run(0, 0, ctx);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (1 + 4 + 9 + 16 + 25) * 10 + 100u);
  EXPECT_EQ(ctx.program, &p);
}

// A helper more than 2 GiB away from the code memory (an embedder's, in a
// library mapped far from the binary) cannot be reached by `call rel32`:
// the compile retries with far calls (`mov r11, imm64; call r11`).
TEST(Jit, HelperOutOfRel32ReachIsCalledFar) {
  // r0 = r1 + 2 * r2 + 7: lea rax, [rdi + rsi*2 + 7]; ret
  static const uint8_t kCode[] = {0x48, 0x8d, 0x44, 0x77, 0x07, 0xc3};
  void* far = MAP_FAILED;
  for (uint64_t hint : {0x600000000000ULL, 0x610000000000ULL, 0x3f0000000000ULL}) {
    far = mmap(reinterpret_cast<void*>(hint), 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
               -1, 0);
    if (far != MAP_FAILED) break;
  }
  ASSERT_NE(far, MAP_FAILED) << "no page could be mapped far from the binary";
  std::memcpy(far, kCode, sizeof kCode);
  ASSERT_EQ(mprotect(far, 4096, PROT_READ | PROT_EXEC), 0);
  vm::HelperTable helpers;
  helpers.set(1, reinterpret_cast<vm::HelperFn>(far), "far");
  jit::CompileStats stats;
  const auto p = jit("mov %r1, 30\nmov %r2, 1\ncall 1\nadd %r0, 3\nexit\n", &helpers, {.stats = &stats});
  const auto code = jit::code_of(p);
  ASSERT_TRUE(code.has_value());
  const int64_t distance = int64_t(reinterpret_cast<uint64_t>(far) - reinterpret_cast<uint64_t>(code->code.data()));
  ASSERT_TRUE(distance > INT32_MAX || distance < INT32_MIN) << "the code memory landed within reach of the helper";
  EXPECT_TRUE(stats.far_calls);
  EXPECT_EQ(run(p), 30 + 2 + 7 + 3u);
  munmap(far, 4096);
}

TEST(Jit, BpfToBpfCallsPreserveCalleeSavedAndHaveOwnFrames) {
  // r6-r9 survive the callee; each frame's stack is its own; recursion works.
  EXPECT_EQ(run(jit("mov %r6, 6\nmov %r7, 7\nmov %r8, 8\nmov %r9, 9\nstdw [%r10-8], 1\ncall local f\n"
                    "add %r0, %r6\nadd %r0, %r7\nadd %r0, %r8\nadd %r0, %r9\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\n"
                    "f:\nmov %r6, 0\nmov %r7, 0\nmov %r8, 0\nmov %r9, 0\nstdw [%r10-8], 1000\nmov %r0, 0\nexit\n")),
            6 + 7 + 8 + 9 + 1u);
  EXPECT_EQ(run(jit("mov %r1, 10\ncall local fact\nexit\n"
                    "fact:\nmov %r0, 1\njle %r1, 1, done\nmov %r6, %r1\nsub %r1, 1\ncall local fact\nmul %r0, %r6\n"
                    "done:\nexit\n")),
            3628800u);
  // A pointer into the caller's frame is usable in the callee.
  EXPECT_EQ(run(jit("stdw [%r10-16], 41\nmov %r1, %r10\nadd %r1, -16\ncall local f\nexit\n"
                    "f:\nldxdw %r0, [%r1]\nadd %r0, 1\nexit\n")),
            42u);
}

TEST(Jit, EightFramesDeep) {
  std::string text = "mov %r0, 0\ncall local f1\nexit\n";
  for (int k = 1; k < 8; ++k)
    text += fmt::format("f{}:\nstdw [%r10-512], {}\ncall local f{}\nldxdw %r1, [%r10-512]\nadd %r0, %r1\nexit\n", k, k,
                        k + 1);
  text += "f8:\nmov %r0, 0\nexit\n";
  EXPECT_EQ(run(jit(text.c_str())), 28u);
}

// Tail calls: a resolver over a vector of programs, indexed by r3.
struct TailTable {
  std::vector<const vm::Program*> progs;
};
const vm::Program* resolve(vm::ExecContext* ctx, uint64_t map, uint32_t index) {
  auto* t = static_cast<TailTable*>(ctx->user);
  if (map != 0x1234 || index >= t->progs.size()) return nullptr;
  return t->progs[index];
}

uint64_t run_with_tail_calls(const vm::Program& p, TailTable& t, uint64_t r1 = 0) {
  vm::ExecContext ctx;
  ctx.user = &t;
  ctx.tail_call = resolve;
  auto r = p.run(r1, 0, ctx);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : ~uint64_t(0);
}

TEST(Jit, TailCallsReplaceTheProgramAndStopAt33) {
  vm::HelperTable none;
  // Each hop increments the counter at [r1] and tail-calls itself.
  const auto self = jit(
      "ldxdw %r6, [%r1]\nadd %r6, 1\nstxdw [%r1], %r6\n"
      "mov %r2, 0x1234\nmov %r3, 0\ncall 12\n"
      "ldxdw %r0, [%r1]\nexit\n", &none);
  TailTable t{{&self}};
  uint64_t counter = 0;
  // 1 original run + 33 tail calls; the 34th falls through with r1 intact.
  EXPECT_EQ(run_with_tail_calls(self, t, reinterpret_cast<uint64_t>(&counter)), 34u);
  EXPECT_EQ(counter, 34u);
}

TEST(Jit, TailCallFallsThroughWhenMissing) {
  vm::HelperTable none;
  const auto p = jit("mov %r6, 7\nmov %r0, 5\nmov %r2, 0x1234\nmov %r3, 9\ncall 12\nadd %r0, %r6\nexit\n", &none);
  TailTable t;
  EXPECT_EQ(run_with_tail_calls(p, t), 12u);
  // No resolver at all.
  EXPECT_EQ(run(p), 12u);
}

TEST(Jit, TailCallFromSubprogramReturnsToItsCaller) {
  vm::HelperTable none;
  const auto target = jit("mov %r6, 1000\nmov %r0, 50\nexit\n", &none);
  // main -> f; f tail-calls target; target's exit returns into main after the call.
  const auto p = jit(
      "mov %r6, 3\ncall local f\nadd %r0, %r6\nexit\n"
      "f:\nmov %r6, 77\nmov %r2, 0x1234\nmov %r3, 0\ncall 12\nmov %r0, 1\nexit\n", &none);
  TailTable t{{&target}};
  EXPECT_EQ(run_with_tail_calls(p, t), 53u);
}

TEST(Jit, TailCallToInterpretedProgramFallsThrough) {
  vm::HelperTable none;
  auto interpreted = vm::Program::load(assemble("mov %r0, 99\nexit\n"), {vm::Mode::Verified, &none});
  ASSERT_TRUE(interpreted.has_value());
  const auto p = jit("mov %r2, 0x1234\nmov %r3, 0\ncall 12\nmov %r0, 1\nexit\n", &none);
  TailTable t{{&*interpreted}};
  EXPECT_EQ(run_with_tail_calls(p, t), 1u);
}

// A bpf_loop-like helper: calls back into the running program.
uint64_t loop_helper(uint64_t n, uint64_t fn, uint64_t arg, uint64_t, uint64_t, vm::ExecContext* ctx) {
  uint64_t i = 0;
  for (; i < n; ++i) {
    const uint64_t args[5] = {i, arg, 0, 0, 0};
    auto r = ctx->program->call_function(fn, args, *ctx);
    if (!r) return uint64_t(-14);
    if (*r == 1) return i + 1;
  }
  return i;
}

TEST(Jit, CallbacksRunOnTheirOwnFrames) {
  vm::HelperTable helpers;
  helpers.set(181, loop_helper, "loop");
  // Sum 0..9 into the caller's stack through the callback context pointer.
  const auto p = jit(
      "stdw [%r10-8], 0\nmov %r6, 5\nmov %r1, 10\nlddw %r2, func cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\n"
      "call 181\nldxdw %r0, [%r10-8]\nmul %r0, %r6\nexit\n"
      "cb:\nldxdw %r0, [%r2]\nadd %r0, %r1\nstxdw [%r2], %r0\nmov %r6, 0\nmov %r0, 0\nexit\n",
      &helpers);
  EXPECT_EQ(run(p), 45u * 5);
  // The callback value is a function of this program; anything else is refused.
  vm::ExecContext ctx;
  const uint64_t args[5] = {};
  EXPECT_FALSE(p.call_function(12345, args, ctx).has_value());
}

// With a stack poison, every frame starts filled with it on both engines: the
// first, a callee's (even where an earlier callee wrote), a callback's and a
// tail-called program's, so reads of never-written stack agree.
TEST(Jit, StackPoisonFillsEveryFrameOnBothEngines) {
  vm::HelperTable helpers;
  helpers.set(181, loop_helper, "loop");
  const char* cases[] = {
      "ldxdw %r0, [%r10-8]\nexit\n",
      "call local a\ncall local b\nexit\n"
      "a:\nstdw [%r10-8], 7\nmov %r0, 0\nexit\n"
      "b:\nldxdw %r0, [%r10-8]\nexit\n",
      "mov %r1, 1\nlddw %r2, func cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\nldxdw %r0, [%r10-8]\nexit\n"
      "cb:\nldxdw %r0, [%r10-512]\nstxdw [%r2], %r0\nmov %r0, 0\nexit\n",
      "stdw [%r10-8], 7\nmov %r2, 0x1234\nmov %r3, 0\ncall 12\nmov %r0, 1\nexit\n",
  };
  const char* target = "ldxdw %r0, [%r10-8]\nexit\n";
  for (const uint8_t poison : {0xa5, 0x00, 0x3c}) {
    const uint64_t want = poison * 0x0101010101010101ULL;
    jit::Options o;
    o.stack_poison = poison;
    const auto jit_target = jit(target, &helpers, o);
    auto interp_target = vm::Program::load(assemble(target), {vm::Mode::Verified, &helpers});
    ASSERT_TRUE(interp_target.has_value());
    for (const char* text : cases) {
      SCOPED_TRACE(text);
      auto interp = vm::Program::load(assemble(text), {vm::Mode::Verified, &helpers});
      ASSERT_TRUE(interp.has_value());
      const auto native = jit(text, &helpers, o);
      TailTable ti{{&*interp_target}}, tj{{&jit_target}};
      vm::ExecContext ci, cj;  // the interpreter poisons by the context, the JIT by its options
      ci.stack_poison = poison;
      ci.tail_call = cj.tail_call = resolve;
      ci.user = &ti, cj.user = &tj;
      auto ri = interp->run(0, 0, ci);
      auto rj = native.run(0, 0, cj);
      ASSERT_TRUE(ri.has_value() && rj.has_value());
      EXPECT_EQ(*ri, want);
      EXPECT_EQ(*rj, want);
    }
  }
}

TEST(Jit, InlinedArrayLookups) {
  vm::HelperTable helpers;  // the load needs the helper; the inlined call never reaches it
  helpers.set(1, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 0; },
              "map_lookup_elem");
  uint64_t values[5] = {10, 11, 12, 13, 14};
  const vm::InlineArrayLookup lookup{3, reinterpret_cast<uint8_t*>(values), 8, 5};
  const char* text =
      "stw [%r10-4], 3\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, null\nldxdw %r0, [%r0]\nexit\n"
      "null:\nmov %r0, 99\nexit\n";
  for (uint32_t key : {3u, 5u, 0xffffffffu}) {
    std::string t = text;
    t.replace(t.find("3\n"), 1, std::to_string(int32_t(key)));
    auto p = vm::Program::load(assemble(t.c_str()), {vm::Mode::Verified, &helpers, {&lookup, 1}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_TRUE(jit::compile(*p).has_value());
    EXPECT_EQ(run(*p), key < 5 ? values[key] : 99u) << key;
  }
}

TEST(Jit, CallxToUnknownHelperStopsTheRun) {
  const auto p = jit("mov %r2, 77\ncall %r2\nmov %r0, 1\nexit\n", &vm::conformance_helpers());
  vm::ExecContext ctx;
  auto r = p.run(0, 0, ctx);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::runtime);
  EXPECT_NE(r.error().message.find("callx to unknown helper 77"), std::string::npos) << r.error().message;
}

TEST(Jit, LegacyPacketLoads) {
  const auto p = jit("ldabsh 1\nmov %r6, %r0\nmov %r7, 1\nldindw %r7, 2\nadd %r0, %r6\nexit\n");
  uint8_t pkt[8] = {0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde};
  vm::ExecContext ctx;
  ctx.packet = pkt;
  ctx.packet_len = sizeof(pkt);
  auto r = p.run(0, 0, ctx);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 0x1234u + 0x56789abcu);
  ctx.packet_len = 6;  // ldindw at 3..6 is out of bounds: the run ends with r0 = 0
  EXPECT_EQ(*p.run(0, 0, ctx), 0u);
  ctx.packet = nullptr;
  EXPECT_EQ(*p.run(0, 0, ctx), 0u);
}

TEST(Jit, FallingOffAFunctionIsAnError) {
  // Only unverified code can do this; the JIT stops the run rather than
  // running into the next function's prologue.
  const auto p = jit("call local f\nexit\nf:\nmov %r0, 1\n");
  vm::ExecContext ctx;
  auto r = p.run(0, 0, ctx);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("fell off"), std::string::npos);
}

TEST(Jit, RefusesJumpsBetweenFunctions) {
  auto p = vm::Program::load(assemble("call local f\nja f\nf:\nmov %r0, 1\nexit\n"), {vm::Mode::Verified, nullptr});
  ASSERT_TRUE(p.has_value());
  auto r = jit::compile(*p);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::unsupported);
}

// One instance of every operation in the opcode table compiles (the ones a
// loaded program can hold: unresolved pseudo lddw and kfuncs are refused).
TEST(Jit, EveryOpcodeOfTheTableCompiles) {
  vm::HelperTable helpers;
  helpers.set(1, [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return 0; },
              "h");
  size_t compiled = 0;
  for (const isa::OpInfo& info : isa::kOpTable) {
    isa::Insn i{.op = info.op, .dst = 1, .src = 2};
    switch (info.match) {
      case isa::Match::Off: i.off = int16_t(info.match_value); break;
      case isa::Match::Imm: i.imm = info.match_value; break;
      case isa::Match::Src: i.src = uint8_t(info.match_value); break;
      case isa::Match::None: break;
    }
    switch (info.form) {
      case isa::Form::AluImm: i.imm = 3; i.src = 0; break;
      case isa::Form::AluUnary:
      case isa::Form::Endian: i.src = 0; break;
      case isa::Form::LoadImm64: i.imm64 = 1; i.imm = 1; i.dst = 1; if (info.op == isa::Op::LDDW_FUNC) i.imm = 1; break;
      case isa::Form::LoadAbs: i.dst = 0; i.src = 0; break;
      case isa::Form::LoadInd: i.dst = 0; break;
      case isa::Form::StoreImm: i.src = 0; i.imm = 1; break;
      case isa::Form::Jump: i.dst = i.src = 0; break;
      case isa::Form::JumpLong: i.dst = i.src = 0; break;
      case isa::Form::JumpImm: i.src = 0; break;
      case isa::Form::Call: i.dst = 0; i.imm = 1; break;
      case isa::Form::CallLocal: i.dst = 0; i.imm = 1; break;
      case isa::Form::CallKfunc: i.dst = 0; i.imm = 1; break;
      case isa::Form::CallReg: i.src = 0; break;
      case isa::Form::Exit: i.dst = i.src = 0; break;
      default: break;
    }
    std::vector<isa::Insn> prog{i};
    if (info.op == isa::Op::LDDW_FUNC) prog[0].imm = 1;  // the function after the first exit
    prog.push_back({.op = isa::Op::EXIT});
    prog.push_back({.op = isa::Op::EXIT});
    uint32_t pc = 0;
    for (auto& x : prog) {
      x.pc = pc;
      pc += uint32_t(isa::slot_count(x.op));
    }
    auto p = vm::Program::load(isa::encode_program(prog), {vm::Mode::Verified, &helpers});
    if (!p) continue;  // refused by the loader (unresolved pseudo forms, kfuncs)
    auto r = jit::compile(*p);
    EXPECT_TRUE(r.has_value()) << info.name << ": " << (r ? "" : r.error().message);
    compiled += r.has_value();
  }
  EXPECT_GE(compiled, isa::kNumOps - 6);  // 5 pseudo lddw forms + kfunc calls are refused at load
}

// Every mapping of the process: none is writable and executable at once, and
// the program's code is read+execute; it is unmapped with the program.
struct Mapping {
  uint64_t lo, hi;
  std::string perms;
};
std::vector<Mapping> mappings() {
  std::vector<Mapping> out;
  std::ifstream f("/proc/self/maps");
  std::string line;
  while (std::getline(f, line)) {
    Mapping m;
    char dash;
    std::istringstream s(line);
    s >> std::hex >> m.lo >> dash >> m.hi >> m.perms;
    out.push_back(m);
  }
  return out;
}

TEST(Jit, CodeMemoryIsNeverWritableAndExecutable) {
  uint64_t code_addr = 0;
  {
    const auto p = jit("mov %r0, 1\nexit\n");
    auto view = jit::code_of(p);
    ASSERT_TRUE(view.has_value());
    code_addr = reinterpret_cast<uint64_t>(view->code.data());
    bool found = false;
    for (const Mapping& m : mappings()) {
      EXPECT_FALSE(m.perms[1] == 'w' && m.perms[2] == 'x') << std::hex << m.lo << "-" << m.hi << " " << m.perms;
      if (code_addr >= m.lo && code_addr < m.hi) {
        found = true;
        EXPECT_EQ(m.perms.substr(0, 3), "r-x");
      }
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(run(p), 1u);
  }
  // Released with the program: unmapped or no longer executable (a mapping
  // of its own), or overwritten with int3 (a range of a shared pack, as the
  // kernel's bpf_prog_pack frees).
  for (const Mapping& m : mappings()) {
    if (!(code_addr >= m.lo && code_addr < m.hi && m.perms[2] == 'x')) continue;
    const auto* bytes = reinterpret_cast<const uint8_t*>(code_addr);
    for (size_t k = 0; k < 16; ++k) EXPECT_EQ(bytes[k], 0xcc) << "released code still executable at +" << k;
  }
}

// Code in a pack is written without ever being writable through its
// executable mapping, and a released range is reused only after int3 fill:
// many programs compiled and released leave the pack trapping everywhere
// they were.
TEST(Jit, PackedCodeIsTrapFilledOnRelease) {
  std::vector<uint64_t> addrs;
  for (int k = 0; k < 40; ++k) {
    const auto p = jit(fmt::format("mov %r0, {}\nexit\n", k).c_str());
    EXPECT_EQ(run(p), uint64_t(k));
    addrs.push_back(reinterpret_cast<uint64_t>(jit::code_of(p)->code.data()));
  }
  for (uint64_t a : addrs)
    for (const Mapping& m : mappings())
      if (a >= m.lo && a < m.hi && m.perms[2] == 'x') {
        EXPECT_EQ(m.perms[1], '-');
        EXPECT_EQ(*reinterpret_cast<const uint8_t*>(a), 0xcc);
      }
}

// A forked child keeps running the programs it inherited, on a private copy
// of their code, while the parent reuses that code's pages.
TEST(Jit, ForkedChildKeepsItsCode) {
  auto p = std::make_unique<vm::Program>(jit("mov %r0, 7\nexit\n"));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    usleep(200'000);  // the parent releases and reuses meanwhile
    const auto q = jit("mov %r0, 9\nexit\n");
    const uint64_t a = run(*p), b = run(q);
    _exit(a == 7 && b == 9 ? 0 : int(10 + a * 16 + b) & 0xff);
  }
  p.reset();
  std::vector<vm::Program> others;
  for (int k = 0; k < 8; ++k) others.push_back(jit("mov %r0, 5\nexit\n"));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  for (const auto& o : others) EXPECT_EQ(run(o), 5u);
}

TEST(Jit, Disassembles) {
  const auto p = jit("mov %r0, 1\nadd %r0, %r1\nexit\n");
  auto text = jit::disassemble(p);
  ASSERT_TRUE(text.has_value()) << text.error().message;
  EXPECT_NE(text->find("; entry stub"), std::string::npos) << *text;
  EXPECT_NE(text->find("r0 += r1"), std::string::npos) << *text;
  EXPECT_NE(text->find("add rax, rdi"), std::string::npos) << *text;
  EXPECT_NE(text->find("ret"), std::string::npos) << *text;
}

// Runs share nothing but the code: many threads may run one program at once.
TEST(Jit, ConcurrentRuns) {
  vm::HelperTable helpers;
  helpers.set(1, [](uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t, vm::ExecContext*) { return a * 3 + b; },
              "h");
  const auto p = jit(
      "mov %r6, %r1\nstxdw [%r10-8], %r1\nmov %r2, 1\ncall 1\nldxdw %r1, [%r10-8]\nadd %r0, %r1\n"
      "call local f\nadd %r0, %r6\nexit\n"
      "f:\nstxdw [%r10-8], %r0\nldxdw %r0, [%r10-8]\nmul %r0, 2\nexit\n",
      &helpers);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t k = 0; k < 2000; ++k) {
        const uint64_t x = k * 4 + uint64_t(t);
        vm::ExecContext ctx;
        auto r = p.run(x, 0, ctx);
        if (!r || *r != (x * 3 + 1 + x) * 2 + x) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Jit, ProgramsMoveWithTheirCode) {
  auto p = jit("mov %r0, 3\nexit\n");
  vm::Program moved = std::move(p);
  EXPECT_EQ(run(moved), 3u);
}

// Options::code_offset moves the code within its mapping (benchmarks measure
// placement with it); the program runs the same and its view starts at the code.
TEST(Jit, CodeOffsetMovesTheCode) {
  const char* text =
      "mov %r0, 0\n"
      "mov %r2, 10\n"
      "loop:\n"
      "add %r0, %r1\n"
      "sub %r2, 1\n"
      "jne %r2, 0, loop\n"
      "exit\n";
  // Without fit_loops the code is the same wherever it lands (with it, loop
  // padding depends on the position: FitLoopsKeepsAShortLoopInOneLine).
  auto base = jit(text, nullptr, xbpf::jit::Options{.fit_loops = false});
  for (uint32_t off : {1u, 37u, 4095u, 5000u}) {
    auto p = jit(text, nullptr, xbpf::jit::Options{.fit_loops = false, .code_offset = off});
    EXPECT_EQ(run(p, 3), 30u) << off;
    auto v = xbpf::jit::code_of(p);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v->code.data()) % 4096, off % 4096) << off;
    EXPECT_EQ(v->code.size(), xbpf::jit::code_of(base)->code.size()) << off;
  }
}

// A loop shorter than 64 bytes lies inside one 64-byte line at every code
// placement: head (insn 2) .. the end of its back edge (insn 4's code ends
// where insn 5's begins).
TEST(Jit, FitLoopsKeepsAShortLoopInOneLine) {
  const char* text =
      "mov %r0, 0\n"
      "mov %r2, 10\n"
      "loop:\n"
      "add %r0, %r1\n"
      "sub %r2, 1\n"
      "jne %r2, 0, loop\n"
      "exit\n";
  for (uint32_t off = 0; off < 64; ++off) {
    auto p = jit(text, nullptr, xbpf::jit::Options{.code_offset = off});
    EXPECT_EQ(run(p, 3), 30u) << off;
    auto v = xbpf::jit::code_of(p);
    ASSERT_TRUE(v.has_value());
    const uintptr_t head = reinterpret_cast<uintptr_t>(v->code.data()) + v->insn_offsets[2];
    const uintptr_t end = reinterpret_cast<uintptr_t>(v->code.data()) + v->insn_offsets[5];
    EXPECT_EQ(head % 16, 0u) << off;
    EXPECT_EQ(head / 64, (end - 1) / 64) << off;
  }
}

// The first pass measures only the short loops, each from its head to its
// back edge: loops after long straight code, after a call, and inside a
// subprogram still lie in one 64-byte line at every placement, and the
// long code around them (jumped over or not) runs the same.
TEST(Jit, FitLoopsMeasuresLoopsAmidLongCode) {
  std::string text;
  uint32_t pc = 0;
  const auto insn = [&](const std::string& s) {
    text += s + "\n";
    return pc++;
  };
  struct Loop {
    uint32_t head, end;  // end: the slot after the back edge
  };
  std::vector<Loop> loops;
  // Four xors that cancel out make each loop 30-50 bytes: only a measured
  // loop is placed to fit (a 16-byte one fits at any 16-byte boundary).
  const auto loop = [&](const char* name, const char* acc, const char* counter, const char* body) {
    text += std::string(name) + ":\n";
    const uint32_t head = insn(body);
    for (int k = 0; k < 4; ++k) insn(std::string("xor ") + acc + ", 0x12345");
    insn(std::string("sub ") + counter + ", 1");
    insn(std::string("jne ") + counter + ", 0, " + name);
    loops.push_back({head, pc});
  };
  insn("mov %r6, 0");
  insn("jeq %r1, 7, skip");
  for (int k = 0; k < 200; ++k) insn("add %r6, 3");
  text += "skip:\n";
  insn("mov %r2, 10");
  loop("loop1", "%r6", "%r2", "add %r6, %r1");
  insn("call local f");
  insn("add %r6, %r0");
  for (int k = 0; k < 100; ++k) insn("add %r6, 1");
  insn("mov %r2, 5");
  loop("loop2", "%r6", "%r2", "add %r6, 2");
  insn("mov %r0, %r6");
  insn("exit");
  text += "f:\n";
  insn("mov %r0, 0");
  insn("mov %r3, 4");
  loop("floop", "%r0", "%r3", "add %r0, %r3");  // 4 + 3 + 2 + 1
  insn("exit");
  for (uint32_t off = 0; off < 64; ++off) {
    auto p = jit(text.c_str(), nullptr, xbpf::jit::Options{.code_offset = off});
    EXPECT_EQ(run(p, 3), 200u * 3 + 10 * 3 + 10 + 100 + 5 * 2) << off;
    EXPECT_EQ(run(p, 7), 10u * 7 + 10 + 100 + 5 * 2) << off;
    auto v = xbpf::jit::code_of(p);
    ASSERT_TRUE(v.has_value());
    const auto at = reinterpret_cast<uintptr_t>(v->code.data());
    for (const Loop& l : loops) {
      const uintptr_t head = at + v->insn_offsets[l.head], end = at + v->insn_offsets[l.end];
      EXPECT_EQ(head % 16, 0u) << off << " loop at " << l.head;
      EXPECT_EQ(head / 64, (end - 1) / 64) << off << " loop at " << l.head;
    }
  }
}

// clang's latch `if c goto +1; goto head` in all three forms (and a nested
// loop, which by_loop keeps fused): same results.
TEST(Jit, LatchFormsAgree) {
  const char* text =
      "mov %r0, 0\n"
      "mov %r2, 0\n"
      "loop:\n"
      "add %r0, %r1\n"
      "add %r2, 1\n"
      "jeq %r2, 10, out\n"
      "ja loop\n"
      "out:\n"
      "mov %r3, 0\n"
      "outer:\n"
      "mov %r4, 0\n"
      "inner:\n"
      "add %r0, %r4\n"
      "add %r4, 1\n"
      "jeq %r4, 4, inner_done\n"
      "ja inner\n"
      "inner_done:\n"
      "add %r3, 1\n"
      "jeq %r3, 3, done\n"
      "ja outer\n"
      "done:\n"
      "exit\n";
  using L = xbpf::jit::Options::Latch;
  for (L l : {L::fused, L::split, L::by_loop})
    for (bool fit : {false, true}) {
      auto p = jit(text, nullptr, xbpf::jit::Options{.fit_loops = fit, .latch = l});
      EXPECT_EQ(run(p, 3), 30u + 3 * 6) << int(l) << fit;
    }
}

}  // namespace
