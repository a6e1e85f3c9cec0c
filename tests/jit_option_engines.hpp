// What the tests of one JIT code-generation option share (jit_idioms_test,
// jit_select_test): a program assembled from text and loaded three times --
// the interpreter, the JIT with the options, the JIT with the one option under
// test off -- and running it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "jit/jit.hpp"
#include "vm/vm.hpp"

namespace xbpf::test {

struct Compiled {
  vm::Program interp, on, off;
  jit::CompileStats stats;  // of `on`
  std::string code;         // disassembly of `on`
};

// `option`: the jit::Options member `off` is compiled without.
inline Compiled build_engines(const std::string& text, jit::Options opts, bool jit::Options::*option) {
  auto insns = isa::assemble(text, "test");
  EXPECT_TRUE(insns.has_value()) << (insns ? "" : insns.error().message) << "\n" << text;
  const auto code = insns ? isa::encode_program(*insns) : std::vector<isa::RawInsn>{};
  auto load = [&] {
    auto p = vm::Program::load(code, {vm::Mode::Verified});
    EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
    return std::move(*p);
  };
  Compiled c{load(), load(), load(), {}, {}};
  opts.stats = &c.stats;
  auto r = jit::compile(c.on, opts);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message) << "\n" << text;
  jit::Options no = opts;
  no.*option = false;
  no.stats = nullptr;
  r = jit::compile(c.off, no);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  auto d = jit::disassemble(c.on);
  c.code = d ? *d : d.error().message;
  return c;
}

inline uint64_t run(const vm::Program& p, uint64_t r1) {
  vm::ExecContext ctx;
  auto r = p.run(r1, 0, ctx);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : ~uint64_t(0);
}

// Runs the three engines over `xs` as r1; the results must agree.
inline void agree(const Compiled& c, const std::string& what, const std::vector<uint64_t>& xs) {
  for (uint64_t x : xs) {
    const uint64_t want = run(c.interp, x);
    ASSERT_EQ(run(c.on, x), want) << what << " x=" << x << "\n" << c.code;
    ASSERT_EQ(run(c.off, x), want) << what << " x=" << x;
  }
}

// Occurrences of `needle` in `hay` (instructions in a disassembly).
inline size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace xbpf::test
