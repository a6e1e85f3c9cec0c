// The synthetic program of the JIT compile-time rows (jit_bench,
// jit_helpers_bench): `n` instruction slots of the mix clang emits for packet
// and tracing code -- ALU (55%, from `alu`), loads from r6 (the context) or
// r10 (from `loads`, 15%), stack stores (12%), forward branches (18%) -- and
// an exit. Deterministic (seed 42). Each caller picks the operations: a
// program meant for the verifier needs ones it accepts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "isa/isa.hpp"

namespace xbpf::bench {

inline std::vector<isa::RawInsn> synthetic_program(size_t n, std::span<const isa::Op> alu,
                                                   std::span<const isa::Op> loads) {
  using isa::Insn;
  using isa::Op;
  std::mt19937_64 rng(42);
  static const Op jumps[] = {Op::JEQ_IMM, Op::JNE_REG, Op::JGT_IMM, Op::JSGT_REG, Op::JEQ32_IMM, Op::JA};
  std::vector<Insn> prog{{.op = Op::MOV64_REG, .dst = 6, .src = 1}};
  auto reg = [&] {
    static const uint8_t pool[] = {0, 2, 3, 4, 5, 7, 8, 9};
    return pool[rng() % std::size(pool)];
  };
  while (prog.size() + 1 < n) {
    const uint64_t k = rng() % 100;
    Insn i;
    if (k < 55) {
      i.op = alu[rng() % alu.size()];
      i.dst = reg();
      if (isa::info(i.op).form == isa::Form::AluImm) i.imm = int32_t(rng() % 64 + 1);
      else i.src = reg();
    } else if (k < 70) {
      i = {.op = loads[rng() % loads.size()], .dst = reg(), .src = uint8_t(rng() % 2 ? 6 : 10),
           .off = int16_t(rng() % 2 ? 8 : -16)};
    } else if (k < 82) {
      i = {.op = Op::STXDW, .dst = 10, .src = reg(), .off = int16_t(-8 * int(1 + rng() % 8))};
    } else {
      i.op = jumps[rng() % std::size(jumps)];
      const isa::Form f = isa::info(i.op).form;
      if (f != isa::Form::Jump) i.dst = reg();
      if (f == isa::Form::JumpImm) i.imm = int32_t(rng() % 100);
      if (f == isa::Form::JumpReg) i.src = reg();
      i.off = int16_t(std::min<size_t>(1 + rng() % 20, n - 2 - prog.size()));
    }
    prog.push_back(i);
  }
  prog.push_back({.op = Op::EXIT});
  uint32_t pc = 0;
  for (Insn& i : prog) {
    i.pc = pc;
    pc += uint32_t(isa::slot_count(i.op));
  }
  return isa::encode_program(prog);
}

}  // namespace xbpf::bench
