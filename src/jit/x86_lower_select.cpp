// Selects (Options::selects, class Lowering: x86_lowering.hpp): a branch
// over a short run of ALU instructions writing one register, as the run in a
// scratch register, the branch's compare and a cmov.
#include "jit/x86_lowering.hpp"

#include <algorithm>

namespace xbpf::jit::x86low {

namespace {
// The operations a select computes unconditionally: register moves and
// constants, add, sub, and, or, xor, shifts by a constant (no fault, no
// flags anyone reads, one x86 instruction each: plain_inst()'s). Its x86
// instruction, or 0.
InstId select_inst(Op op) {
  const isa::OpBrief b = isa::brief(op);
  const uint8_t kind = b.code & 0xf0;
  const bool shift = kind == 0x60 || kind == 0x70 || kind == 0xc0;
  if (b.form != Form::AluImm && (b.form != Form::AluReg || shift)) return 0;
  if (kind == 0xb0 && b.form == Form::AluReg && op != Op::MOV64_REG && op != Op::MOV32_REG) return 0;  // movsx
  return plain_inst(kind);
}
}  // namespace

// Whether rD, as a select would leave it at instruction index k (the join),
// reaches the address of a load or store in the straight-line code from
// there (at most kAddressScan instructions, up to the first jump or call).
// A branch lets the core predict and start that memory access early; a
// cmov makes it wait for the compare's inputs, often a load themselves: a
// binary search's lower bound (bench/workloads/binsearch.c: 17 % slower as
// selects), the reason native compilers keep such branches too.
bool Lowering::feeds_address(size_t k, uint8_t d) const {
  const auto insns = prog_.insns();
  uint16_t taint = uint16_t(1u << d);  // registers whose value derives from rD's
  auto has = [&](uint8_t r) { return (taint >> r) & 1; };
  for (size_t end = std::min(insns.size(), k + kAddressScan); k < end && taint; ++k) {
    const Insn& i = insns[k];
    switch (isa::form(i.op)) {
      case Form::Load:
      case Form::LoadInd:
        if (has(i.src)) return true;  // the address
        break;
      case Form::StoreImm:
      case Form::StoreReg:
      case Form::Atomic:
        if (has(i.dst)) return true;
        break;
      case Form::AluImm:
      case Form::AluReg:
      case Form::AluUnary:
      case Form::Endian:
      case Form::LoadImm64: break;
      default: return false;  // jumps, calls, exit: the straight line ends
    }
    // What it writes derives from rD's value when anything it reads does.
    const isa::RegUse u = isa::reg_use(i);
    taint = u.reads & taint ? uint16_t(taint | u.writes) : uint16_t(taint & ~u.writes);
  }
  return false;
}

// Options::selects. `if c goto L; run; L:` where the run is 1..kMaxSelectRun
// instructions of select_inst() that all write one register rD (rD != r10)
// and no jump enters, and rD does not reach an address right after the join
// (feeds_address()): rD's new value is computed into r11 (rD read as r11),
// then c's compare, then `cmovnc rD, r11`. The 64-bit cmov leaves rD whole
// when c holds (a 32-bit one would clear its upper half either way); r11's
// value of a 32-bit operation is zero-extended, as BPF's. L is a join
// (forget() there), so nothing learnt in the run is carried past it. Code
// size: r11's mov, the run's operations, the compare and the cmov stay within
// the size bounds of the branch and the run, which rel8 decisions use.
size_t Lowering::select(size_t k) {
  const auto insns = prog_.insns();
  const Insn& br = insns[k];
  const int64_t to = br.target();
  const int64_t n = to - int64_t(br.pc) - 1;  // the run's slots
  if (n < 1 || n > int64_t(kMaxSelectRun) || k + size_t(n) >= insns.size() || blind_ ||
      !jump_cond(isa::brief(br.op).code & 0xf0))
    return 0;
  if (fact(br, verifier::JitFacts::kNeverTaken) || fact(br, verifier::JitFacts::kAlwaysTaken)) return 0;
  const uint8_t d = insns[k + 1].dst;
  if (d >= 10) return 0;
  for (size_t m = k + 1; m <= k + size_t(n); ++m) {
    const Insn& r = insns[m];
    if (r.pc != br.pc + (m - k) || r.dst != d || r.off != 0 || !select_inst(r.op) || an_.target[r.pc] ||
        idiom_at(m))
      return 0;
  }
  if (feeds_address(k + size_t(n) + 1, d)) return 0;
  const Insn& first = insns[k + 1];  // a move that does not read rD: r11 needs no copy of it
  const bool overwrites = first.op == Op::MOV64_IMM || first.op == Op::MOV32_IMM ||
                          ((first.op == Op::MOV64_REG || first.op == Op::MOV32_REG) && first.src != d);
  if (!overwrites) a_.mov(kT11, kReg[d]);
  for (size_t m = k + 1; m <= k + size_t(n); ++m) {
    const Insn& r = insns[m];
    out_.insn_offsets[r.pc] = out_.insn_offsets[br.pc];
    const bool is64 = !isa::is_32bit(r.op);
    const Gp t = width(kT11, is64);
    const InstId id = select_inst(r.op);
    if (isa::form(r.op) == Form::AluReg) {
      a_.emit(id, t, r.src == d ? t : width(kReg[r.src], is64));
    } else if (id == x86::Inst::kIdMov) {
      if (is64)
        a_.mov(t, Imm(int64_t(r.imm)));
      else
        a_.mov(t, Imm(uint32_t(r.imm)));
    } else if (id == x86::Inst::kIdShl || id == x86::Inst::kIdShr || id == x86::Inst::kIdSar) {
      if (const uint32_t c = uint32_t(r.imm) & (is64 ? 63 : 31))  // (as shift())
        a_.emit(id, t, Imm(c));
      else if (!is64)
        a_.mov(t, t);  // a 32-bit shift by 0 only zero-extends
    } else {
      a_.emit(id, t, is64 ? Imm(int64_t(r.imm)) : Imm(uint32_t(r.imm)));
    }
  }
  const std::optional<x86::CondCode> cc = compare(br);  // (a kind jump_cond() knows: checked above)
  a_.cmov(x86::negateCond(*cc), kReg[d], kT11);
  ++out_.selects;
  return size_t(n) + 1;
}

}  // namespace xbpf::jit::x86low
