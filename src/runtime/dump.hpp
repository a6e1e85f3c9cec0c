// bpftool's `prog dump xlated` and `prog dump jited` for a loaded program.
//
// xlated: the instructions as relocated (the kernel's xlated form: maps by
// store id, `r1 = map[id:3]`, helpers by name), one line per instruction as
// bpftool prints them ("   4: (85) call bpf_map_lookup_elem#1"), each
// function headed by its name and, when the object has BTF line info, each
// source line before its first instruction ("; if (ip + 1 > end)").
// jited: the same BPF instructions, each followed by the x86-64 code the JIT
// made of it (capstone, Intel syntax).
#pragma once

#include <string>

#include "runtime/object.hpp"
#include "support/error.hpp"

namespace xbpf::runtime {

struct DumpOptions {
  bool opcodes = false;  // raw instruction bytes (bpftool's `opcodes`)
  bool linum = false;    // source file, line and column after each source line (bpftool's `linum`)
};

[[nodiscard]] Expected<std::string> dump_xlated(const Program& p, const DumpOptions& opts = {});
// Fails when the program runs on the interpreter (no native code).
[[nodiscard]] Expected<std::string> dump_jited(const Program& p, const DumpOptions& opts = {});

}  // namespace xbpf::runtime
