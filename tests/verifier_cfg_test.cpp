// The verifier's structural pass: each case is a small program and the
// kernel's message for it (or "" when the structure is fine).
#include <gtest/gtest.h>

#include <string>

#include "isa/asm.hpp"
#include "verifier/cfg.hpp"

namespace {

using xbpf::verifier::Cfg;
using xbpf::verifier::CfgOptions;

struct Case {
  const char* name;
  const char* text;
  const char* error;  // "" = accepted
  bool privileged = true;
};

std::string check(const Case& c, Cfg* out = nullptr) {
  auto insns = xbpf::isa::assemble(c.text, c.name);
  if (!insns) return "assemble: " + insns.error().message;
  CfgOptions o;
  o.allow_loops = c.privileged;
  auto cfg = Cfg::build(*insns, o);
  if (!cfg) return cfg.error().message;
  if (out) *out = std::move(*cfg);
  return "";
}

const Case kCases[] = {
    {"minimal", "mov %r0, 0\nexit\n", ""},
    {"falls off the end", "mov %r0, 0\n", "last insn is not an exit or jmp"},
    {"ends in a conditional jump", "mov %r0, 0\njeq %r0, 0, -2\n", "last insn is not an exit or jmp"},
    {"unreachable after exit", "mov %r0, 0\nexit\nmov %r0, 1\nexit\n", "unreachable insn 2"},
    {"unreachable after goto", "ja +1\nmov %r0, 1\nmov %r0, 0\nexit\n", "unreachable insn 1"},
    {"both branches reachable", "jeq %r1, 0, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit\n", ""},
    {"loop allowed when privileged", "mov %r0, 0\nadd %r0, 1\njlt %r0, 10, -2\nexit\n", ""},
    {"loop refused when unprivileged", "mov %r0, 0\nadd %r0, 1\njlt %r0, 10, -2\nexit\n", "back-edge from insn 2 to 1",
     false},
    {"lddw counts two slots", "lddw %r0, 0x100000000\nja +1\nmov %r0, 1\nexit\n", "unreachable insn 3"},
    {"jump out of a subprogram", "call local f\njeq %r0, 0, f\nexit\nf:\nmov %r0, 0\nexit\n",
     "jump out of range from insn 1 to 3"},
    {"subprogram that falls off", "call local f\nexit\nf:\nmov %r0, 0\n", "last insn is not an exit or jmp"},
    {"call into a subprogram", "call local f\nexit\nf:\nmov %r0, 0\nexit\n", ""},
    {"recursion", "call local f\nexit\nf:\ncall local f\nexit\n", "recursive call from insn 2 to 2"},
    {"mutual recursion", "call local f\nexit\nf:\ncall local g\nexit\ng:\ncall local f\nexit\n",
     "recursive call from insn 4 to 2"},
    {"callx is not Linux", "mov %r1, 5\ncall %r1\nexit\n", "unknown opcode 8d"},
    {"eight frames are fine",
     "call local f1\nexit\nf1:\ncall local f2\nexit\nf2:\ncall local f3\nexit\nf3:\ncall local f4\nexit\n"
     "f4:\ncall local f5\nexit\nf5:\ncall local f6\nexit\nf6:\ncall local f7\nexit\nf7:\nmov %r0, 0\nexit\n",
     ""},
    {"nine frames are not",
     "call local f1\nexit\nf1:\ncall local f2\nexit\nf2:\ncall local f3\nexit\nf3:\ncall local f4\nexit\n"
     "f4:\ncall local f5\nexit\nf5:\ncall local f6\nexit\nf6:\ncall local f7\nexit\nf7:\ncall local f8\nexit\n"
     "f8:\nmov %r0, 0\nexit\n",
     "the call stack of 9 frames is too deep !"},
    {"a subprogram nobody calls", "mov %r0, 0\nexit\nf:\nmov %r0, 1\nexit\n", "unreachable insn 2"},
};

TEST(VerifierCfg, KernelVerdictsOnStructure) {
  for (const Case& c : kCases) EXPECT_EQ(check(c), c.error) << c.name;
}

TEST(VerifierCfg, RecordsSubprogramsPrunePointsAndLoopHeads) {
  Cfg cfg;
  ASSERT_EQ(check({"loop", "mov %r0, 0\ncall local f\nadd %r0, 1\njlt %r0, 10, -3\nexit\nf:\nmov %r0, 0\nexit\n", ""},
                  &cfg),
            "");
  ASSERT_EQ(cfg.subprogs().size(), 2u);
  EXPECT_EQ(cfg.subprogs()[1].start, 5u);
  EXPECT_EQ(cfg.subprogs()[0].callees, std::vector<uint32_t>{1});
  EXPECT_EQ(cfg.max_call_depth(), 2u);
  EXPECT_TRUE(cfg.is_loop_head(1));
  EXPECT_TRUE(cfg.is_prune_point(1));   // back-edge target
  EXPECT_TRUE(cfg.is_prune_point(2));   // after a call
  EXPECT_TRUE(cfg.is_prune_point(3));   // the conditional jump itself
  EXPECT_TRUE(cfg.is_prune_point(4));   // fall-through of the conditional jump
  EXPECT_FALSE(cfg.is_prune_point(0));
  EXPECT_FALSE(cfg.is_prune_point(6));
  EXPECT_EQ(cfg.subprog_of(6), 1u);
  EXPECT_EQ(cfg.subprog_of(4), 0u);
}

TEST(VerifierCfg, SizeLimit) {
  std::string text;
  for (int i = 0; i < 4096; ++i) text += "mov %r0, 0\n";
  text += "exit\n";
  auto insns = xbpf::isa::assemble(text, "big");
  ASSERT_TRUE(insns);
  CfgOptions unpriv;
  unpriv.allow_loops = false;
  unpriv.max_insns = xbpf::verifier::kMaxInsnsUnprivileged;
  auto r = Cfg::build(*insns, unpriv);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "BPF program is too large. Processed 4097 insn (limit 4096)");
  EXPECT_TRUE(Cfg::build(*insns));
}

}  // namespace
