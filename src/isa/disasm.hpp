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
  // `if r1 == 0xb goto +3`, `r0 = 0x1 ll`, `r1 = map[fd:3]`. For reading only.
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
