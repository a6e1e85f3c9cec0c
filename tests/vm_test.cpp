// Interpreter semantics that the conformance suite does not pin down:
// checked-mode violations, budgets, call depth, tail calls, helpers, packet
// loads, and the agreement of checked and verified modes (and of the JIT,
// which runs the BothModes cases too).
#include <gtest/gtest.h>

#include <cstring>

#include "isa/asm.hpp"
#include "jit/jit.hpp"
#include "vm/vm.hpp"

using namespace xbpf;

namespace xbpf::vm {
// Readable parameter names in test output.
void PrintTo(Mode m, std::ostream* os) { *os << (m == Mode::Checked ? "checked" : "verified"); }
}  // namespace xbpf::vm

namespace {

std::vector<isa::RawInsn> assemble(const char* text) {
  auto insns = isa::assemble(text, "test");
  EXPECT_TRUE(insns.has_value()) << (insns ? "" : insns.error().message);
  return insns ? isa::encode_program(*insns) : std::vector<isa::RawInsn>{};
}

vm::Program load(const char* text, vm::Mode mode, const vm::HelperTable* helpers = nullptr) {
  auto p = vm::Program::load(assemble(text), {mode, helpers});
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
  return std::move(*p);
}

Expected<uint64_t> run(const vm::Program& p, uint64_t r1 = 0, uint64_t r2 = 0) {
  vm::ExecContext ctx;
  return p.run(r1, r2, ctx);
}

// The checked and verified interpreter, and the JIT.
enum class Exec { Checked, Verified, Jit };

vm::Program load(const char* text, Exec e, const vm::HelperTable* helpers = nullptr) {
  vm::Program p = load(text, e == Exec::Checked ? vm::Mode::Checked : vm::Mode::Verified, helpers);
  if (e == Exec::Jit) {
    auto r = jit::compile(p);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  }
  return p;
}

void PrintTo(Exec e, std::ostream* os) { *os << (e == Exec::Checked ? "checked" : e == Exec::Verified ? "verified" : "jit"); }

class BothModes : public ::testing::TestWithParam<Exec> {};

TEST_P(BothModes, DivisionAndModuloCorners) {
  // Division by zero yields 0; modulo by zero leaves dst (64-bit) / zero-extends (32-bit).
  EXPECT_EQ(*run(load("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit\n", GetParam())), 0u);
  EXPECT_EQ(*run(load("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit\n", GetParam())), 7u);
  EXPECT_EQ(*run(load("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit\n", GetParam())), 7u);
  EXPECT_EQ(*run(load("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit\n", GetParam())),
            0x8000000000000000u);
  EXPECT_EQ(*run(load("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit\n", GetParam())), 0u);
  EXPECT_EQ(*run(load("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit\n", GetParam())), 0x80000000u);
  EXPECT_EQ(*run(load("mov %r0, -7\nsmod %r0, 2\nexit\n", GetParam())), uint64_t(-1));
}

TEST_P(BothModes, ShiftsAreMasked) {
  EXPECT_EQ(*run(load("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit\n", GetParam())), 2u);
  EXPECT_EQ(*run(load("mov32 %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit\n", GetParam())), 2u);
  EXPECT_EQ(*run(load("mov %r0, -1\nmov %r1, 32\narsh32 %r0, %r1\nexit\n", GetParam())), 0xffffffffu);
}

TEST_P(BothModes, Alu32ZeroExtends) {
  EXPECT_EQ(*run(load("mov %r0, -1\nadd32 %r0, 1\nexit\n", GetParam())), 0u);
  EXPECT_EQ(*run(load("mov %r0, -1\nmov32 %r0, %r0\nexit\n", GetParam())), 0xffffffffu);
}

TEST_P(BothModes, BpfToBpfCallsPreserveCalleeSaved) {
  const char* prog =
      "mov %r6, 6\nmov %r1, 1\ncall local f\nadd %r0, %r6\nexit\n"
      "f:\nmov %r6, 100\nstxdw [%r10-8], %r6\nldxdw %r0, [%r10-8]\nexit\n";
  EXPECT_EQ(*run(load(prog, GetParam())), 106u);
}

TEST_P(BothModes, NestedCallsUseSeparateStackFrames) {
  // The interpreter puts each frame's r10 512 bytes below its caller's; the
  // JIT's frames live on the native stack (return address, saved rbp, and a
  // stack sized for the function), so there the callee's r10 is only below.
  const char* prog =
      "mov %r1, %r10\ncall local f\nexit\n"
      "f:\nmov %r0, %r1\nsub %r0, %r10\nexit\n";
  const uint64_t distance = *run(load(prog, GetParam()));
  if (GetParam() == Exec::Jit) {
    EXPECT_GT(distance, 0u);
    EXPECT_LT(distance, 4096u);
  } else {
    EXPECT_EQ(distance, vm::kStackSize);
  }
}

TEST_P(BothModes, HelperCall) {
  vm::HelperTable helpers;
  helpers.set(1, [](uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t, vm::ExecContext*) { return a * b; },
              "mul");
  EXPECT_EQ(*run(load("mov %r1, 6\nmov %r2, 7\ncall 1\nexit\n", GetParam(), &helpers)), 42u);
}

TEST_P(BothModes, LegacyPacketLoads) {
  uint8_t pkt[] = {0x12, 0x34, 0x56, 0x78, 0x9a};
  auto p = load("ldabsw 1\nexit\n", GetParam());
  vm::ExecContext ctx;
  ctx.packet = pkt;
  ctx.packet_len = sizeof(pkt);
  EXPECT_EQ(*p.run(0, 0, ctx), 0x3456789au);
  auto ind = load("mov %r1, 3\nldindh %r1, 1\nexit\n", GetParam());
  EXPECT_EQ(*ind.run(0, 0, ctx), 0u);  // offset 4 + 2 bytes is out of bounds: program returns 0
  auto ok = load("mov %r1, 2\nldindh %r1, 1\nexit\n", GetParam());
  EXPECT_EQ(*ok.run(0, 0, ctx), 0x789au);
}

INSTANTIATE_TEST_SUITE_P(Engines, BothModes, ::testing::Values(Exec::Checked, Exec::Verified, Exec::Jit),
                         [](const auto& info) {
                           return info.param == Exec::Checked ? "Checked" : info.param == Exec::Verified ? "Verified" : "Jit";
                         });

TEST(Checked, OutOfBoundsReadStops) {
  auto p = load("ldxdw %r0, [%r1+0]\nexit\n", vm::Mode::Checked);
  uint64_t value = 5;
  vm::Region r{reinterpret_cast<uint64_t>(&value), sizeof(value), false};
  vm::ExecContext ctx;
  ctx.regions = {&r, 1};
  EXPECT_EQ(*p.run(reinterpret_cast<uint64_t>(&value), 0, ctx), 5u);
  auto bad = p.run(reinterpret_cast<uint64_t>(&value) + 1, 0, ctx);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("insn 0: invalid memory access: read of 8 bytes"), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(p.run(0, 0, ctx).has_value());  // null pointer
}

TEST(Checked, ReadOnlyRegionRefusesWrites) {
  auto p = load("stw [%r1+0], 1\nmov %r0, 0\nexit\n", vm::Mode::Checked);
  uint32_t value = 0;
  vm::Region r{reinterpret_cast<uint64_t>(&value), sizeof(value), false};
  vm::ExecContext ctx;
  ctx.regions = {&r, 1};
  auto res = p.run(reinterpret_cast<uint64_t>(&value), 0, ctx);
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().message.find("write of 4 bytes"), std::string::npos);
  EXPECT_EQ(value, 0u);
}

TEST(Checked, StackBoundsAreEnforced) {
  EXPECT_TRUE(run(load("stdw [%r10-512], 1\nmov %r0, 0\nexit\n", vm::Mode::Checked)).has_value());
  EXPECT_FALSE(run(load("stdw [%r10+0], 1\nmov %r0, 0\nexit\n", vm::Mode::Checked)).has_value());
  EXPECT_FALSE(run(load("stdw [%r10-4100], 1\nmov %r0, 0\nexit\n", vm::Mode::Checked)).has_value());
}

TEST(Checked, MisalignedAtomicStops) {
  auto res = run(load("mov %r1, 1\nlock add [%r10-4], %r1\nmov %r0, 0\nexit\n", vm::Mode::Checked));
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().message.find("misaligned atomic"), std::string::npos);
}

TEST(Checked, InfiniteLoopExhaustsBudget) {
  auto p = load("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\n", vm::Mode::Checked);
  vm::ExecContext ctx;
  ctx.insn_budget = 1000;
  auto res = p.run(0, 0, ctx);
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().message.find("budget of 1000 exhausted"), std::string::npos);
  EXPECT_EQ(ctx.insns_executed, 1000u);
}

TEST(Checked, CountsExecutedInstructions) {
  auto p = load("mov %r0, 0\nmov %r1, 10\nloop:\nadd %r0, 1\njne %r0, %r1, loop\nexit\n", vm::Mode::Checked);
  vm::ExecContext ctx;
  EXPECT_EQ(*p.run(0, 0, ctx), 10u);
  EXPECT_EQ(ctx.insns_executed, 2u + 10 * 2 + 1);
}

TEST(Checked, RecursionDepthIsBounded) {
  auto res = run(load("call local f\nexit\nf:\ncall local f\nexit\n", vm::Mode::Checked));
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().message.find("call depth exceeds 8"), std::string::npos);
}

TEST(Checked, FallingOffTheEndStops) {
  auto res = run(load("mov %r0, 1\n", vm::Mode::Checked));
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().message.find("fell off the end"), std::string::npos);
}

TEST(Load, RejectsUnknownHelperAndPseudoLoads) {
  auto p = vm::Program::load(assemble("call 99\nexit\n"), {vm::Mode::Checked, nullptr});
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().message, "insn 0: call to unknown helper 99");
  auto q = vm::Program::load(assemble("lddw %r1, map_fd 3\nmov %r0, 0\nexit\n"), {vm::Mode::Checked, nullptr});
  ASSERT_FALSE(q.has_value());
  EXPECT_NE(q.error().message.find("unresolved pseudo lddw"), std::string::npos);
}

// Tail calls: program A tail-calls index r3 of a fake program array; the
// resolver hands back program B, which returns 7 * 100 + the count of hops.
struct TailState {
  const vm::Program* target = nullptr;
  int hops = 0;
};

TEST(TailCall, JumpsAndIsLimitedTo33) {
  for (vm::Mode mode : {vm::Mode::Checked, vm::Mode::Verified}) {
    auto self = load("mov %r0, 1\ncall 12\nmov %r0, 99\nexit\n", mode);
    TailState st{&self, 0};
    vm::ExecContext ctx;
    ctx.user = &st;
    ctx.tail_call = [](vm::ExecContext* c, uint64_t, uint32_t) -> const vm::Program* {
      auto* s = static_cast<TailState*>(c->user);
      ++s->hops;
      return s->target;
    };
    // The program tail-calls itself; after 33 successful tail calls the 34th falls through.
    EXPECT_EQ(*self.run(0, 0, ctx), 99u);
    EXPECT_EQ(st.hops, 33);
  }
}

TEST(TailCall, MissingTargetFallsThrough) {
  auto p = load("mov %r0, 1\ncall 12\nmov %r0, 2\nexit\n", vm::Mode::Verified);
  vm::ExecContext ctx;
  ctx.tail_call = [](vm::ExecContext*, uint64_t, uint32_t) -> const vm::Program* { return nullptr; };
  EXPECT_EQ(*p.run(0, 0, ctx), 2u);
}

}  // namespace
