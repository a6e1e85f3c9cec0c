// Jumps on x86-64 (class Lowering: x86_lowering.hpp): whether a forward
// jump's rel8 reaches (its size bounds, or the first pass's offsets), the
// jump itself, and the compare or test that sets its flags.
#include <algorithm>

#include "jit/x86_lowering.hpp"

namespace xbpf::jit::x86low {

// True when a forward jump from slot `next` to slot `to` certainly fits a
// rel8 displacement (`slack`: bytes emitted after the jump that the slots'
// bounds do not place there, the rest of a tail copy): the code in between is at most the sum of its
// instructions' size bounds plus a loop head's alignment. (A bound that is
// wrong makes the encoder fail the jump; compile() then retries with rel32 only.)
// Backward jumps need no help: the encoder knows a bound label's distance.
//
// Second pass (fit_loops): inside one of the first pass's regions (a short
// loop, lower()), its actual offsets bound the distance too. Between the two passes only two things change: jumps the
// first pass made rel32 may become rel8 here (shorter), and a loop head's
// padding grows from at most 15 to at most 15 + kMaxFitPad bytes. So the
// distance here is at most the first pass's plus that growth for every
// loop head from `next` to `to` (the kernel's JIT gets rel8 wherever it
// fits by iterating its passes until the size converges).
bool Lowering::near(uint32_t next, int64_t to, uint32_t slack) const {
  if (!short_jumps_ || to <= int64_t(next) - 1) return false;
  const uint32_t bytes = an_.bound_prefix[size_t(to)] - an_.bound_prefix[next] + slack;
  if (bytes <= 100) return true;
  if (!first_offsets_ || size_t(to) >= first_offsets_->size()) return false;
  // Both ends inside one region of the first pass (or `to` right after it).
  const auto r = std::upper_bound(first_regions_->begin(), first_regions_->end(), next,
                                  [](uint32_t pc, const Region& g) { return pc < g.begin; });
  if (r == first_regions_->begin() || to > int64_t(std::prev(r)->end)) return false;
  const int64_t first = int64_t((*first_offsets_)[size_t(to)]) - int64_t((*first_offsets_)[next]);
  const int64_t heads = int64_t(an_.head_prefix[size_t(to) + 1] - an_.head_prefix[next]);
  return first >= 0 && first + heads * (kMaxFitPad + 15) + slack <= 120;
}

// Jumps to `to` (an instruction slot) when the condition holds, or when it
// does not if `inverted`; `next` is the slot after the jump's code.
Expected<void> Lowering::jump(const Insn& i, int64_t to, uint32_t next, bool inverted, uint32_t slack) {
  const Label& target = label(size_t(to));
  const isa::OpBrief info = isa::brief(i.op);
  const bool rel8 = near(next, to, slack);
  if (info.form == Form::Jump || info.form == Form::JumpLong) {
    if (to == int64_t(next)) return {};  // `goto +0`: the next instruction's code follows
    if (rel8) a_.short_();
    a_.jmp(target);
    return {};
  }
  // The verifier explored only one outcome on every path (JitFacts): no
  // compare, and a plain jump or nothing (the kernel hard-wires such
  // branches the same way).
  const bool never = fact(i, verifier::JitFacts::kNeverTaken), always = fact(i, verifier::JitFacts::kAlwaysTaken);
  if (never || always) {
    if (always != inverted) {  // the condition's jump happens (inverted: the fall-through)
      if (rel8) a_.short_();
      a_.jmp(target);
    }
    return {};
  }
  const std::optional<x86::CondCode> c = compare(i);
  if (!c) return unsupported(i);
  x86::CondCode cc = *c;
  if (inverted) cc = x86::negateCond(cc);
  if (rel8) a_.short_();
  a_.j(cc, target);
  return {};
}

// The condition under which a conditional jump of `kind` (its opcode's
// operation bits) jumps, after `cmp dst, src` (`test` for JSET).
std::optional<x86::CondCode> Lowering::jump_cond(uint8_t kind) {
  // By kind >> 4 (a table: every conditional jump asks, twice): 0xff none.
  static constexpr uint8_t kCond[16] = {
      0xff,                          // 0x00 ja (unconditional)
      uint8_t(x86::CondCode::kE),    // 0x10 jeq
      uint8_t(x86::CondCode::kA),    // 0x20 jgt
      uint8_t(x86::CondCode::kAE),   // 0x30 jge
      uint8_t(x86::CondCode::kNE),   // 0x40 jset (after test)
      uint8_t(x86::CondCode::kNE),   // 0x50 jne
      uint8_t(x86::CondCode::kG),    // 0x60 jsgt
      uint8_t(x86::CondCode::kGE),   // 0x70 jsge
      0xff, 0xff,                    // 0x80 call, 0x90 exit
      uint8_t(x86::CondCode::kB),    // 0xa0 jlt
      uint8_t(x86::CondCode::kBE),   // 0xb0 jle
      uint8_t(x86::CondCode::kL),    // 0xc0 jslt
      uint8_t(x86::CondCode::kLE),   // 0xd0 jsle
      0xff, 0xff,
  };
  const uint8_t c = kCond[kind >> 4];
  if (c == 0xff) return std::nullopt;
  return x86::CondCode(c);
}

// The flags for conditional jump `i` (cmp, test, or none when ZF is already
// the test's); the condition under which `i` jumps.
std::optional<x86::CondCode> Lowering::compare(const Insn& i) {
  const isa::OpBrief info = isa::brief(i.op);
  const bool is64 = isa::op_class(info.code) == isa::kClassJmp;
  const Gp d = width(kReg[i.dst], is64);
  const uint8_t kind = info.code & 0xf0;
  if (!jump_cond(kind)) return std::nullopt;  // (nothing emitted)
  if (info.form == Form::JumpImm) {
    if ((kind == 0x10 || kind == 0x50) && i.imm == 0 && short_arith_ && zf_end_ == a_.offset() &&
        zf_reg_ == i.dst && zf64_ == is64) {
      // == 0 / != 0 right after an add, sub, and, or, xor or neg of d at
      // this width: its ZF is the test's.
    } else if (kind != 0x40 && i.imm == 0) {
      a_.test(d, d);  // same flags as cmp d, 0
    } else if (blind_) {
      const Gp k = width(kBlind, is64);
      blinded_imm(k, i.imm);
      if (kind == 0x40) a_.test(d, k);
      else a_.cmp(d, k);
    } else if (kind == 0x40) {
      a_.test(d, Imm(i.imm));
    } else {
      a_.cmp(d, Imm(i.imm));
    }
  } else {
    const Gp s = width(source(i.src), is64);
    if (kind == 0x40)
      a_.test(d, s);
    else
      a_.cmp(d, s);
  }
  return jump_cond(kind);
}

}  // namespace xbpf::jit::x86low
