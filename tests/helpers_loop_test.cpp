// bpf_loop through the interpreter: `lddw func` yields a callable slot
// address, the helper calls back into the program (vm::Program::call_function),
// and a faulting callback in checked mode is reported, not ignored.
#include <gtest/gtest.h>

#include <cerrno>

#include "jit/jit.hpp"
#include "helpers/helpers.hpp"
#include "helpers/run_state.hpp"

using namespace xbpf;

namespace {
isa::RawInsn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  isa::RawInsn r{};
  r.code = code;
  r.dst = dst;
  r.src = src;
  r.off = off;
  r.imm = imm;
  return r;
}

// r0 = bpf_loop(r6 = n, callback, ctx = r10 - 8, 0); callback: r0 = body
std::vector<isa::RawInsn> loop_program(int32_t n, std::vector<isa::RawInsn> body) {
  std::vector<isa::RawInsn> p = {
      insn(0x7a, 10, 0, -8, 0),    // *(u64 *)(r10 - 8) = 0 (the loop's counter)
      insn(0xb7, 1, 0, 0, n),      // r1 = n
      insn(0x18, 2, 4, 0, 7),      // r2 = callback (pc 2 + 7 + 1 = 10)
      insn(0, 0, 0, 0, 0),
      insn(0xbf, 3, 10, 0, 0),     // r3 = r10
      insn(0x07, 3, 0, 0, -8),     // r3 += -8
      insn(0xb7, 4, 0, 0, 0),      // r4 = 0
      insn(0x85, 0, 0, 0, 181),    // call bpf_loop
      insn(0x79, 1, 10, -8, 0),    // r1 = counter (unused; keeps the stack live)
      insn(0x95, 0, 0, 0, 0),      // exit
  };
  p.insert(p.end(), body.begin(), body.end());
  return p;
}
}  // namespace

TEST(HelperLoop, CallsBackIntoTheProgram) {
  const vm::HelperTable t = helpers::Registry::standard().table_for(kabi::ProgType::Xdp);
  // callback(i, ctx): *(u64 *)ctx += 1; return i == 6 ? 1 : 0
  auto code = loop_program(100, {
                                    insn(0x79, 3, 2, 0, 0),   // r3 = *(u64 *)(r2 + 0)
                                    insn(0x07, 3, 0, 0, 1),   // r3 += 1
                                    insn(0x7b, 2, 3, 0, 0),   // *(u64 *)(r2 + 0) = r3
                                    insn(0xb7, 0, 0, 0, 0),   // r0 = 0
                                    insn(0x55, 1, 0, 1, 6),   // if r1 != 6 goto +1
                                    insn(0xb7, 0, 0, 0, 1),   // r0 = 1
                                    insn(0x95, 0, 0, 0, 0),
                                });
  // Checked interpreter, verified interpreter, JIT.
  for (int engine = 0; engine < 3; ++engine) {
    SCOPED_TRACE(engine);
    auto p = vm::Program::load(code, {engine == 0 ? vm::Mode::Checked : vm::Mode::Verified, &t});
    ASSERT_TRUE(p) << p.error().message;
    if (engine == 2) {
      ASSERT_TRUE(jit::compile(*p));
    }
    helpers::RunState st;
    vm::ExecContext c;
    c.runtime = &st;
    auto r = p->run(0, 0, c);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, 7U);  // iterations 0..6, stopped by the 7th
    EXPECT_FALSE(st.error);
  }
}

TEST(HelperLoop, FaultingCallbackIsReported) {
  const vm::HelperTable t = helpers::Registry::standard().table_for(kabi::ProgType::Xdp);
  auto code = loop_program(3, {
                                  insn(0x79, 0, 1, 0, 0),  // r0 = *(u64 *)(r1 + 0): r1 is the index
                                  insn(0x95, 0, 0, 0, 0),
                              });
  auto p = vm::Program::load(code, {vm::Mode::Checked, &t});
  ASSERT_TRUE(p) << p.error().message;
  helpers::RunState st;
  vm::ExecContext c;
  c.runtime = &st;
  auto r = p->run(0, 0, c);
  ASSERT_TRUE(r);
  EXPECT_EQ(int64_t(*r), -EFAULT);
  ASSERT_TRUE(st.error);
  EXPECT_NE(st.error->message.find("bpf_loop callback"), std::string::npos) << st.error->message;
  // A forged callback address is refused.
  auto bad = p->call_function(0x1234, std::array<uint64_t, 5>{}, c);
  EXPECT_FALSE(bad);
}
