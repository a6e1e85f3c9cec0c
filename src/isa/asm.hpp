// Text assembler for the conformance-style eBPF assembly language (the `-- asm`
// sections of the bpf_conformance `.data` files). Mnemonics and operand shapes
// come from the opcode table (kOpTable): one row's `mnemonic` + `form` decide
// how a line is parsed, so a new table row is assembled without touching this file.
#pragma once

#include <string_view>
#include <vector>

#include "isa/isa.hpp"
#include "support/error.hpp"

namespace xbpf::isa {

// Assembles `text` into decoded instructions (Insn::pc holds each one's slot index;
// the match field of the row, e.g. imm of an atomic op, is filled in, so the result
// equals decode_program(encode_program(result)) for a valid program).
//
// Syntax, one instruction per line:
//   `label:` defines a label (may be followed by an instruction on the same line);
//   `#` starts a comment; blank lines are ignored; labels may be used before definition.
//   Registers: %r0..%r10 (or r0..r10). Memory: [%r1], [%r1+4], [%r10-8].
//   Immediates: decimal or 0x hex, optionally negative; 32-bit ones must fit int32
//   or uint32 (0xffffffff is stored as -1); lddw takes up to 64 bits.
//   Jump / local call targets: a label or a relative slot offset +N / -N. As in
//   bpf_conformance, the target `exit` without an `exit:` label means the first
//   `exit` instruction of the program (the suite relies on it).
//   Pseudo lddw: `lddw %r1, map_fd 3`, `lddw %r1, map_value 3, 16`, `lddw %r1, map_idx 2`,
//   `lddw %r1, map_idx_value 2, 8`, `lddw %r1, btf_id 7`, `lddw %r1, func +3` (or a label);
//   a trailing `, N` on any pseudo kind sets the immediate of the second slot.
//   Calls: `call 5` (helper), `call local f`, `call kfunc 1234[, module]`, `call %r2` (callx).
//   Aliases accepted for compatibility: swap16/32/64 = bswap16/32/64.
//
// Errors (Errc::parse) read "<source>:<line>: <problem>". The assembler checks
// syntax and operand ranges only; use decode_program to validate the program.
[[nodiscard]] Expected<std::vector<Insn>> assemble(std::string_view text,
                                                   std::string_view source = "<input>");

}  // namespace xbpf::isa
