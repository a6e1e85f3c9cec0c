// The verifier on small programs, in the domain's notation: each case is the
// program (conformance assembly), its program type and maps, and the verdict:
// "" for accept, else the kernel-style message the rejection must carry.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "verifier/state.hpp"
#include "verifier/verifier.hpp"
#include "verifier_cases.hpp"

namespace {

using namespace xbpf::verifier;
using namespace xbpf::test;

Verdict run(const Case& c) {
  auto insns = xbpf::isa::assemble(c.text, c.name);
  EXPECT_TRUE(insns) << c.name << ": " << insns.error().message;
  if (!insns) return {};
  Env env;
  env.prog_type = c.type;
  env.privileged = c.privileged;
  env.maps = kMaps;
  env.func_info = c.func_info;
  env.log_level = 1;
  auto raw = xbpf::isa::encode_program(*insns);
  apply_patch(c, raw);
  return verify(raw, env);
}

bool agrees(const Case& c, const Verdict& v) {
  if (std::string(c.verdict).empty()) return v.ok;
  return !v.ok && v.message.find(c.verdict) != std::string::npos;
}

TEST(Verifier, Cases) {
  size_t rejects = 0;
  for (const Case& c : kCases) {
    rejects += std::string(c.verdict).empty() ? 0 : 1;
    Verdict v = run(c);
    if (std::string(c.verdict).empty()) {
      EXPECT_TRUE(v.ok) << c.name << ": rejected: " << v.message << "\n" << v.log;
    } else {
      EXPECT_FALSE(v.ok) << c.name << ": accepted, expected '" << c.verdict << "'";
      EXPECT_NE(v.message.find(c.verdict), std::string::npos)
          << c.name << ": message '" << v.message << "', expected '" << c.verdict << "'";
    }
  }
  const size_t total = std::size(kCases);
  std::printf("%zu cases: %zu rejects, %zu accepts\n", total, rejects, total - rejects);
  EXPECT_GE(rejects, 150u);  // the negative suite's floor
}

// Not counted as agreement: reported so that a fix shows up (and the case
// can move to kCases).
TEST(Verifier, KnownDisagreementsAreReported) {
  for (const KnownDisagreement& d : kKnownDisagreements) {
    if (!d.run_xbpf) {
      std::printf("known disagreement (not run): %s: %s\n", d.c.name, d.why);
      continue;
    }
    Verdict v = run(d.c);
    std::printf("known disagreement%s: %s: xbpf %s '%s', kernel '%s': %s\n",
                agrees(d.c, v) ? " (NOW AGREES: move it to kCases)" : "", d.c.name, v.ok ? "accepts" : "rejects",
                v.message.c_str(), d.c.verdict, d.why);
  }
}

// Not verified yet, so refused by name (the kernel would check lock pairing).
TEST(Verifier, FrozenRodataReadsAreConstants) {
  const char* text =
      "lddw %r4, map_idx_value 0\nldxb %r5, [%r4+1]\nmov %r0, 0\njeq %r5, 14, out\nldxdw %r0, [%r5+0]\n"
      "out:\nexit\n";
  auto insns = xbpf::isa::assemble(text, "rodata constant");
  ASSERT_TRUE(insns) << insns.error().message;
  const auto code = xbpf::isa::encode_program(*insns);
  Env env;
  env.maps = {MapDesc{"rodata", MapType::Array, 4, 8, 1, 0, true, -1, {}}};
  Verdict unfrozen = verify(code, env);
  EXPECT_FALSE(unfrozen.ok);
  EXPECT_NE(unfrozen.message.find("R5 invalid mem access 'scalar'"), std::string::npos) << unfrozen.message;
  env.maps[0].frozen_value = {0, 14, 0, 0, 0, 0, 0, 0};
  Verdict frozen = verify(code, env);
  EXPECT_TRUE(frozen.ok) << frozen.message;
  env.maps[0].frozen_value[1] = 15;  // the other branch is the one taken
  EXPECT_FALSE(verify(code, env).ok);
}

// The values of a frozen read-only map are constants to the verifier (the
// test above), so programs must not change them: the helpers that write a
// map are refused on a BPF_F_RDONLY_PROG one (record_func_map's "write into
// map forbidden", the kernel's rule). Before the rule, map_update_elem on
// .rodata verified, and the program could then read the new value where the
// verifier had assumed the frozen one.
TEST(Verifier, FrozenRodataCannotBeChangedByHelpers) {
  const char* update =
      "mov %r1, 0\nstxw [%r10-4], %r1\nstxdw [%r10-16], %r1\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -4\n"
      "mov %r3, %r10\nadd %r3, -16\nmov %r4, 0\ncall 2\nmov %r0, 0\nexit\n";
  const char* remove =
      "mov %r1, 0\nstxw [%r10-4], %r1\nlddw %r1, map_idx 0\nmov %r2, %r10\nadd %r2, -4\ncall 3\nmov %r0, 0\nexit\n";
  for (const char* text : {update, remove}) {
    auto insns = xbpf::isa::assemble(text, "rodata write");
    ASSERT_TRUE(insns) << insns.error().message;
    const auto code = xbpf::isa::encode_program(*insns);
    Env env;
    env.maps = {MapDesc{"rodata", MapType::Array, 4, 8, 1, 0, true, -1, {0, 14, 0, 0, 0, 0, 0, 0}}};
    Verdict v = verify(code, env);
    EXPECT_FALSE(v.ok) << text;
    EXPECT_NE(v.message.find("write into map forbidden"), std::string::npos) << v.message;
    env.maps[0].rdonly_prog = false;  // the same call on a writable array: its own verdict
    v = verify(code, env);
    EXPECT_EQ(v.message.find("write into map forbidden"), std::string::npos) << v.message;
  }
}

TEST(Verifier, StatisticsAreReported) {
  Verdict v = run({"loop", ProgType::SocketFilter, "mov %r0, 0\nadd %r0, 1\njlt %r0, 100, -2\nexit\n", ""});
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_GE(v.stats.insns_processed, 200u);  // the loop is unrolled, as the kernel does
  EXPECT_GT(v.stats.states_total, 0u);
  EXPECT_NE(v.log.find("processed"), std::string::npos);
}

// A program the decoder refuses is marked malformed (the fuzzer against the
// kernel counts those apart: the kernel checks only instructions it visits);
// a program refused by verification is not.
TEST(Verifier, MalformedProgramsAreMarked) {
  const std::vector<xbpf::isa::RawInsn> reserved = {{0xb7, 0, 0, 1, 0}, {0x95, 0, 0, 0, 0}};  // mov with off 1
  const std::vector<xbpf::isa::RawInsn> unknown = {{0xb7, 0, 0, 0, 0}, {0xff, 0, 0, 0, 0}, {0x95, 0, 0, 0, 0}};
  const std::vector<xbpf::isa::RawInsn> uninit = {{0xbf, 0, 2, 0, 0}, {0x95, 0, 0, 0, 0}};  // r0 = r2 (unread)
  Env env;
  env.privileged = true;
  for (const auto* code : {&reserved, &unknown}) {
    const Verdict v = verify(*code, env);
    EXPECT_FALSE(v.ok);
    EXPECT_TRUE(v.malformed) << v.message;
  }
  const Verdict v = verify(uninit, env);
  EXPECT_FALSE(v.ok);
  EXPECT_FALSE(v.malformed) << v.message;
  EXPECT_NE(v.message.find("R2 !read_ok"), std::string::npos) << v.message;
}

}  // namespace

// Callback iterations converge: two bpf_for_each_map_elem walks in a row
// cost tens of instructions, not one walk per state the first one left; a
// callback whose counter stays precise never converges and ends at the
// instruction limit with the kernel's message (bounded work, no hang).
TEST(Verifier, CallbackIterationsConverge) {
  const Case* twice = nullptr;
  for (const Case& c : kCases)
    if (std::string(c.name) == "for_each twice with counters in the caller's stack") twice = &c;
  ASSERT_NE(twice, nullptr);
  Verdict v = run(*twice);
  EXPECT_TRUE(v.ok) << v.message;
  EXPECT_LT(v.stats.insns_processed, 200u);

  auto insns = xbpf::isa::assemble(
      "stdw [%r10-8], 0\nlddw %r1, map_idx 0\nlddw %r2, func cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\n"
      "call 164\nmov %r0, 0\nexit\ncb:\nldxdw %r1, [%r4+0]\nadd %r1, 1\nstxdw [%r4+0], %r1\nmov %r0, 0\n"
      "jlt %r1, 100000000, +1\nmov %r0, 1\nexit\n",
      "precise counter");
  ASSERT_TRUE(insns);
  Env env;
  env.prog_type = ProgType::SocketFilter;
  env.maps = kMaps;
  env.func_info = true;
  env.insn_limit = 100000;
  Verdict p = verify(xbpf::isa::encode_program(*insns), env);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.message.find("BPF program is too large"), std::string::npos) << p.message;
}

// The state pool (state_pool.cpp): a block comes back for a request of its
// size class with the class's full size (ASan checks the writes), whichever
// size within the class freed it; trimming gives every block back.
TEST(VerifierStatePool, BlocksAreReusedAtTheirClassSize) {
  using namespace xbpf::verifier;
  pool_trim();
  void* a = pool_allocate(1184);  // one Frame
  std::memset(a, 1, 1184);
  pool_free(a, 1184);
  void* b = pool_allocate(1180);  // same 16-byte class
  EXPECT_EQ(a, b);
  std::memset(b, 2, 1184);
  pool_free(b, 1180);
  void* big = pool_allocate(kPoolMaxBytes + 1);  // beyond the classes: plain operator new
  std::memset(big, 3, kPoolMaxBytes + 1);
  pool_free(big, kPoolMaxBytes + 1);
  pool_trim();
  // A Frame vector round trip through the allocator keeps its contents.
  State s;
  s.frames.resize(3);
  s.frames[2].slot(kStackSlots - 1).bytes[0] = SlotType::Misc;
  const State copy = s;
  EXPECT_EQ(copy, s);
  EXPECT_EQ(copy.frames[2].slot(kStackSlots - 1).bytes[0], SlotType::Misc);
}
