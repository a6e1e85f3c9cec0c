// Disassembler: instructions as text, in two syntaxes, derived from the opcode
// table (each row's form, mnemonic and symbol).
#pragma once

#include <span>
#include <string>

#include "isa/isa.hpp"

namespace xbpf::isa {

enum class Syntax {
  // The language of isa::assemble (bpf_conformance `.data` files):
  // `add32 %r0, 1`, `ldxw %r0, [%r1+4]`, `jeq %r1, 0xb, +3`. Jumps are printed as
  // relative offsets (+N / -N), so the text re-assembles to the identical encoding.
  Conformance,
  // What llvm-objdump / bpftool print: `w0 += 1`, `r0 = *(u32 *)(r1 + 4)`,
  // `if r1 == 0xb goto +3`, `r0 = 0x1 ll`. For reading only. Pseudo lddw kinds use
  // bpftool's spellings (fd where bpftool, reading loaded programs, says id):
  // `r1 = map[fd:3]`, `r1 = map[fd:3][0]+16`, `r1 = map[idx:2]`, `r1 = map[idx:2]+8`,
  // `r1 = btf_id 7`, `r1 = subprog[+3]`. Calls: `call 5`, `call pc+3` (local),
  // `call kfunc 1234`, `callx r2`; atomics as LLVM prints them
  // (`lock *(u64 *)(r1 + 0) += r2`, `r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)`,
  // `r2 = xchg_64(r1 + 0, r2)`, `w0 = cmpxchg32_32(r1 + 0, w0, w2)`).
  Kernel,
};

// One instruction, without a trailing newline. Never fails: any Insn whose op
// is a table row prints (fields the form does not use are ignored).
[[nodiscard]] std::string format_insn(const Insn& insn, Syntax syntax);

// One instruction per line, each ending in '\n'. With `with_pc`, each line starts
// with its slot index right-aligned as in llvm-objdump ("   3:\t"); an lddw
// takes two slots, so the index after it skips one.
[[nodiscard]] std::string format_program(std::span<const Insn> insns, Syntax syntax, bool with_pc);

}  // namespace xbpf::isa
