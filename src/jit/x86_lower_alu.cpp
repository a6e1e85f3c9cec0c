// BPF ALU instructions, lddw and constant blinding on x86-64 (class
// Lowering: x86_lowering.hpp).
#include "jit/x86_lowering.hpp"

#include <bit>

namespace xbpf::jit::x86low {

// A fresh blinding key (splitmix64 from blinding_seed()). Its low half is
// never 0, so a masked immediate differs from the immediate.
uint64_t Lowering::key64() {
  for (;;) {
    uint64_t z = (key_state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    if (uint32_t(z) != 0) return z;
  }
}

// r = imm32 sign-extended to 64 bits (its low half for a 32-bit `r`),
// without the immediate in the code: mov r, imm ^ key; xor r, key. Both
// immediates sign-extend, and sign extension commutes with xor.
void Lowering::blinded_imm(const Gp& r, int32_t imm) {
  const auto k = int32_t(uint32_t(key64()));
  const auto masked = int32_t(uint32_t(imm) ^ uint32_t(k));
  if (r.size() == 8) {
    a_.mov(r, Imm(int64_t(masked)));
    a_.xor_(r, Imm(int64_t(k)));
  } else {
    a_.mov(r, Imm(uint32_t(masked)));
    a_.xor_(r, Imm(uint32_t(k)));
  }
}

namespace {
// add, sub, or, and, xor (by the opcode's operation bits >> 4): the x86
// group-1 operation's ModRM digit.
constexpr uint8_t kGroup1Digit[11] = {0, 5, 0, 0, 1, 4, 0, 0, 0, 0, 6};
}  // namespace

Expected<void> Lowering::alu_plain_reg(const Insn& i) {
  const bool is64 = !isa::is_32bit(i.op);
  a_.arith(kGroup1Digit[isa::brief(i.op).code >> 4], width(kReg[i.dst], is64), width(source(i.src), is64));
  note_zf(i.dst, is64);
  return {};
}

Expected<void> Lowering::alu_plain_imm(const Insn& i) {
  if (blind_) return alu(i);
  const bool is64 = !isa::is_32bit(i.op);
  a_.arith(kGroup1Digit[isa::brief(i.op).code >> 4], width(kReg[i.dst], is64), Imm(i.imm));
  note_zf(i.dst, is64);
  return {};
}

Expected<void> Lowering::alu_mov(const Insn& i) {
  mov(i, !isa::is_32bit(i.op), isa::form(i.op) == Form::AluImm);
  return {};
}

Expected<void> Lowering::alu_divmod(const Insn& i) {
  const isa::OpBrief info = isa::brief(i.op);
  div_mod(i, !isa::is_32bit(i.op), info.form == Form::AluImm, i.off == 1, (info.code & 0xf0) == 0x90);
  return {};
}

Expected<void> Lowering::alu_shift(const Insn& i) {
  const isa::OpBrief info = isa::brief(i.op);
  shift(i, !isa::is_32bit(i.op), info.form == Form::AluImm, info.code & 0xf0);
  return {};
}

Expected<void> Lowering::alu(const Insn& i) {
  const isa::OpBrief info = isa::brief(i.op);
  const bool is64 = !isa::is_32bit(i.op);
  bool imm = info.form == Form::AluImm;
  const Gp d = width(kReg[i.dst], is64);
  const uint8_t kind = info.code & 0xf0;
  // The plain two-operand forms below read src through a copy's source;
  // shifts, divisions and moves keep the register itself.
  const bool plain = kind <= 0x20 || kind == 0x40 || kind == 0x50 || kind == 0xa0;
  Gp s = width(plain ? source(i.src) : kReg[i.src], is64);
  // Blinding: the immediate goes through r10 and the register form is
  // used (moves, divisions and shifts blind their own way).
  if (imm && blind_ && kind != 0xb0 && kind != 0x30 && kind != 0x90 && kind != 0x60 && kind != 0x70 &&
      kind != 0xc0) {
    s = width(kBlind, is64);
    blinded_imm(s, i.imm);
    imm = false;
  }
  // A 64-bit operation's immediate is the sign-extended imm32: x86's own rule.
  switch (kind) {
    case 0x00:
    case 0x10:
    case 0x40:
    case 0x50:
    case 0xa0: {
      const unsigned digit = kGroup1Digit[kind >> 4];
      imm ? a_.arith(digit, d, Imm(i.imm)) : a_.arith(digit, d, s);
      note_zf(i.dst, is64);
      return {};
    }
    case 0x20:
      if (imm)
        mul_imm(d, is64, i.imm);
      else
        a_.imul(d, s);
      return {};
    case 0x80: a_.neg(d); note_zf(i.dst, is64); return {};
    case 0x30: div_mod(i, is64, imm, i.off == 1, false); return {};
    case 0x90: div_mod(i, is64, imm, i.off == 1, true); return {};
    case 0x60:
    case 0x70:
    case 0xc0: shift(i, is64, imm, info.code & 0xf0); return {};
    case 0xb0: mov(i, is64, imm); return {};
    default: break;
  }
  return unsupported(i);
}

// `rA = rB; rA += rC` or `rA += imm` (clang's address arithmetic, `r1 =
// r10; r1 += -8` above all) as one `lea rA, [rB + rC/imm]`: one instruction
// instead of two, and no dependence on the move being eliminated. The add
// must not be a jump target (a path entering there has no move). A 32-bit
// add takes the low half of the 64-bit sum and zero-extends, as lea with a
// 32-bit destination does, whatever the move's width; a 64-bit add after a
// 32-bit move (whose result is zero-extended) is left alone. Not with
// blinding for an immediate (it must not appear in the code). Emits and
// returns true when the pair is fused.
bool Lowering::lea_mov_add(const Insn& mov, const Insn& add) {
  if (!short_arith_ || (mov.op != Op::MOV64_REG && mov.op != Op::MOV32_REG) || mov.off != 0 || mov.dst == mov.src)
    return false;
  const bool add_imm = add.op == Op::ADD64_IMM || add.op == Op::ADD32_IMM;
  const bool add32 = add.op == Op::ADD32_IMM || add.op == Op::ADD32_REG;
  if (!add_imm && add.op != Op::ADD64_REG && !add32) return false;
  if (add.dst != mov.dst || an_.target[add.pc] || (add_imm && blind_)) return false;
  if (mov.op == Op::MOV32_REG && !add32) return false;
  // lea reads its sources before it writes rA, so both are read as they
  // were before the move (add.src other than rA is not changed by it).
  const Gp base = source(mov.src);
  const Gp d = add32 ? Gp(kReg[mov.dst].r32()) : kReg[mov.dst];
  if (add_imm)
    a_.lea(d, x86::ptr(base, add.imm));
  else  // rA += rA after the move adds rB
    a_.lea(d, x86::ptr(base, add.src == mov.dst ? base : source(add.src)));
  return true;
}

// `op; mov; if op.dst ==/!= 0` may be emitted `mov; op; jcc` (Options::
// zero_branch_order): op's ZF is then the branch's without a `test`, and an
// add, sub, and, or, xor or neg right before a jcc fuses with it into one
// µop. The order may change when the move neither reads nor writes a
// register op reads or writes (op's facts, the move's facts and the block's
// copies describe the same values in either order) and no jump enters at the
// move (a path jumping there would skip op). A jump entering at the branch
// would not break the swap, but the join then needs its own `test`: nothing
// to gain, so program order stays.
bool Lowering::move_first(const Insn& op, const Insn& mov, const Insn& branch) const {
  if (!zero_branch(branch.op) || branch.imm != 0 || branch.dst != op.dst || !short_arith_ || !zero_branch_order_)
    return false;
  const isa::OpBrief o = isa::brief(op.op);
  if (isa::op_class(o.code) != isa::kClassAlu64 && isa::op_class(o.code) != isa::kClassAlu) return false;
  switch (o.code & 0xf0) {
    case 0x00: case 0x10: case 0x40: case 0x50: case 0x80: case 0xa0: break;  // the ops note_zf follows
    default: return false;
  }
  if (isa::is_32bit(branch.op) != isa::is_32bit(op.op)) return false;
  const bool mov_reg = mov.op == Op::MOV64_REG || mov.op == Op::MOV32_REG;
  if (!mov_reg && mov.op != Op::MOV64_IMM && mov.op != Op::MOV32_IMM) return false;
  if (mov.dst == op.dst || (o.form == Form::AluReg && mov.dst == op.src) || (mov_reg && mov.src == op.dst)) return false;
  return !an_.target[mov.pc] && !an_.target[branch.pc];
}

// dst *= imm. imul takes 3 cycles of latency on current x86-64 cores; a
// multiplier that is a power of two, 3/5/9 times one, or 2^k +- 1 costs 1-2
// cycles as a shift, an lea (base + index * scale) or a shift and an add or
// sub (what C compilers do; the kernel's JIT always emits imul). All of it
// is exact modulo 2^64 (2^32 for a 32-bit `d`, whose operations zero-extend
// as BPF's do). Negative multipliers keep imul. Not reached when blinding
// (the immediate then comes in a register).
void Lowering::mul_imm(const Gp& d, bool is64, int32_t imm) {
  const Gp d64 = d.r64();
  const auto log2 = [](uint32_t v) { return uint32_t(std::countr_zero(v)); };
  const auto pow2 = [](uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (imm < 0 || !short_arith_) {
    a_.imul(d, d, Imm(imm));
    return;
  }
  const auto c = uint32_t(imm);
  if (c == 0) {
    a_.xor_(d64.r32(), d64.r32());
    return;
  }
  if (c == 1) {
    if (!is64) a_.mov(d64.r32(), d64.r32());  // the 32-bit multiply's zero-extension
    return;
  }
  if (pow2(c)) {
    a_.shl(d, log2(c));
    return;
  }
  // m * 2^k with m = 3, 5 or 9: lea d, [d + d*(m-1)], then the shift.
  const uint32_t k = log2(c), m = c >> k;
  if (m == 3 || m == 5 || m == 9) {
    a_.lea(d, x86::ptr(d64, d64, log2(m - 1)));
    if (k) a_.shl(d, k);
    return;
  }
  // 2^k + 1 and 2^k - 1: keep d, shift it, add or subtract the kept copy.
  const Gp t = width(kT11, is64);
  if (pow2(c - 1) || pow2(c + 1)) {
    a_.mov(t, d);
    if (pow2(c - 1)) {
      a_.shl(d, log2(c - 1));
      a_.add(d, t);
    } else {
      a_.shl(d, log2(c + 1));
      a_.sub(d, t);
    }
    return;
  }
  a_.imul(d, d, Imm(imm));
}

void Lowering::mov(const Insn& i, bool is64, bool imm) {
  const Gp d64 = kReg[i.dst];
  // x86 moves leave the flags: a ZF of another register (note_zf) lives on.
  const bool keep_zf = zf_end_ == a_.offset() && i.dst != zf_reg_;
  if (imm) {
    if (i.imm == 0) {
      a_.xor_(d64.r32(), d64.r32());
      return;
    }
    if (blind_) {
      blinded_imm(is64 ? d64 : Gp(d64.r32()), i.imm);
      return;
    }
    if (!is64 || i.imm > 0)
      a_.mov(d64.r32(), Imm(uint32_t(i.imm)));
    else
      a_.mov(d64, Imm(int64_t(i.imm)));
  } else {
    const Gp s64 = kReg[i.src];
    switch (i.off) {
      case 0:
        if (is64) {
          if (i.dst != i.src) a_.mov(d64, s64);
        } else if (i.dst != i.src || !fact(i, verifier::JitFacts::kUpperZero)) {
          a_.mov(d64.r32(), s64.r32());  // else: a zero-extension of what is zero-extended already
        }
        break;
      case 8: is64 ? a_.movsx(d64, s64.r8()) : a_.movsx(d64.r32(), s64.r8()); break;
      case 16: is64 ? a_.movsx(d64, s64.r16()) : a_.movsx(d64.r32(), s64.r16()); break;
      default: a_.movsxd(d64, s64.r32()); break;  // 32: movsx32_64 (decoder checked)
    }
  }
  if (keep_zf) zf_end_ = uint32_t(a_.offset());
}

// rdx:rax (edx:eax) divided by `dv`: the quotient in rax, the remainder in
// rdx (the dividend is in rax; rdx is set from it here).
void Lowering::divide(const Gp& dv, bool is64, bool sign) {
  const Gp ax = width(x86::rax, is64), dx = width(x86::rdx, is64);
  if (sign) {
    is64 ? a_.cqo(x86::rdx, x86::rax) : a_.cdq(x86::edx, x86::eax);
    a_.idiv(dx, ax, dv);
  } else {
    a_.xor_(x86::edx, x86::edx);
    a_.div(dx, ax, dv);
  }
}

Lowering::Borrowed Lowering::borrow(uint16_t scratch, uint16_t live) {
  const Borrowed b{(scratch & live & 1u) != 0, (scratch & live & (1u << 3)) != 0};
  clobbered_ |= uint16_t(scratch & ~live);
  // Saved on the stack, as the kernel's JIT does: on Zen 5 push/pop around
  // the division ran divchain 6 % faster than moves to r9/r10 (in-run A/B,
  // 150 rounds: 7,030 against 7,520 ns; the stack engine renames them).
  if (b.rax) a_.push(x86::rax);
  if (b.rdx) a_.push(x86::rdx);
  return b;
}

void Lowering::give_back(Borrowed b) {
  if (b.rdx) a_.pop(x86::rdx);
  if (b.rax) a_.pop(x86::rax);
}

// The branches to a division's special cases: divisor -1 (signed), 0.
void Lowering::divisor_checks(const Gp& dv, bool minus_one, const Label& to_minus_one, bool zero,
                              const Label& to_zero) {
  if (minus_one) {
    a_.cmp(dv, Imm(-1));
    a_.short_().je(to_minus_one);
  }
  if (zero) {
    a_.test(dv, dv);
    a_.short_().jz(to_zero);
  }
}

// Unsigned and signed division and modulo with the ISA's special cases:
// x / 0 = 0, x % 0 = x, INT_MIN s/ -1 = INT_MIN, x s% -1 = 0 (32-bit results
// zero-extended). rax (r0) and rdx (r3) are pushed around the
// hardware division unless the verifier found them dead after it; the
// result travels in r11. A divisor the verifier proved nonzero (not -1)
// skips that test: its facts hold on every path (a wrong one would be a
// #DE), so nothing but JitFacts is trusted beyond the current block.
void Lowering::div_mod(const Insn& i, bool is64, bool imm, bool sign, bool mod) {
  const Gp d64 = kReg[i.dst];
  const Gp d = width(d64, is64);
  if (imm) {
    if (i.imm == 0) {  // the verifier refuses it; the ISA still defines it
      if (!mod)
        a_.xor_(d64.r32(), d64.r32());
      else if (!is64)
        a_.mov(d64.r32(), d64.r32());
      return;
    }
    if (sign && i.imm == -1) {
      if (mod)
        a_.xor_(d64.r32(), d64.r32());
      else
        a_.neg(d);
      return;
    }
    if (!blind_ && short_arith_) {
      if (sign) return signed_divide_by_constant(i, is64, mod);
      if (divide_by_constant(i, is64, mod)) return;
    }
    if (blind_)
      blinded_imm(width(kT11, is64), i.imm);
    else if (is64)
      a_.mov(kT11, Imm(int64_t(i.imm)));
    else
      a_.mov(kT11.r32(), Imm(uint32_t(i.imm)));
  }
  // A divisor known to be nonzero in this block needs no zero test; unsigned
  // x / 0 needs no code of its own either (t is already the result, 0).
  const bool check_zero =
      !imm && !nonzero_.known(i.src, is64) && !fact(i, verifier::JitFacts::kDivisorNonzero);
  const bool check_minus_one = !imm && sign && !fact(i, verifier::JitFacts::kDivisorNotMinusOne);
  // Nothing to test and a divisor in neither rax nor rdx: divide by the
  // source register itself and put the result straight into dst (as the
  // kernel's JIT; r11 is not needed).
  const bool direct = !check_zero && !check_minus_one && !imm && i.src != 0 && i.src != 3;
  if (!imm && !direct) a_.mov(width(kT11, is64), width(kReg[i.src], is64));
  const Gp t = width(kT11, is64);
  const Gp ax = width(x86::rax, is64);
  const Gp dx = width(x86::rdx, is64);
  const bool dst_is_rax = i.dst == 0, dst_is_rdx = i.dst == 3;
  const Borrowed saved = borrow(uint16_t((dst_is_rax ? 0 : 1u) | (dst_is_rdx ? 0 : 1u << 3)), live_after(i));
  if (!dst_is_rax) a_.mov(ax, d);
  if (direct) {
    divide(width(kReg[i.src], is64), is64, sign);
    const Gp res = mod ? dx : ax;
    if (!(mod ? dst_is_rdx : dst_is_rax)) a_.mov(d, res);  // a 32-bit mov zero-extends
    give_back(saved);
    return;
  }
  Label done, minus_one, zero;  // (made only when a branch goes there)
  if (check_zero || check_minus_one) done = a_.newLabel();
  if (check_minus_one) minus_one = a_.newLabel();
  if (check_zero) zero = sign || mod ? a_.newLabel() : done;
  divisor_checks(t, check_minus_one, minus_one, check_zero, zero);
  divide(t, is64, sign);
  a_.mov(t, mod ? dx : ax);
  const bool zero_block = check_zero && (sign || mod);
  if (zero_block || check_minus_one) a_.short_().jmp(done);
  if (zero_block) {
    a_.bind(zero);
    if (mod) a_.mov(t, ax);  // x % 0 = x; for x / 0, t is already 0
    if (check_minus_one) a_.short_().jmp(done);
  }
  if (check_minus_one) {
    a_.bind(minus_one);
    if (mod) {
      a_.xor_(kT11.r32(), kT11.r32());
    } else {
      a_.mov(t, ax);
      a_.neg(t);
    }
  }
  if (check_zero || check_minus_one) a_.bind(done);
  give_back(saved);
  a_.mov(d64, kT11);
}

namespace {

// floor(2^c / d) and 2^c mod d for c = c0, c0 + 1, ... (c0 = 32 or 64,
// 1 < d < 2^31) by doubling, without a 128-bit division: the multiplier
// search of divide_by_constant tries up to 31 exponents per division.
struct PowerQuotient {
  using u128 = unsigned __int128;
  uint64_t d;
  int c;
  u128 q;
  uint64_t r;
  PowerQuotient(uint64_t divisor, int c0) : d(divisor), c(c0) {
    if (c0 == 64) {  // 2^64 = (2^64 - 1) + 1
      q = UINT64_MAX / d;
      r = UINT64_MAX % d + 1;
      if (r == d) ++q, r = 0;
    } else {
      q = (uint64_t(1) << c0) / d;
      r = (uint64_t(1) << c0) % d;
    }
  }
  u128 m() const { return q + (r != 0); }       // ceil(2^c / d)
  uint64_t e() const { return r ? d - r : 0; }  // m * d - 2^c
  void step() {
    const uint64_t r2 = 2 * r;
    q = 2 * q + (r2 >= d);
    r = r2 >= d ? r2 - d : r2;
    ++c;
  }
};

}  // namespace

// Unsigned division by a constant d (2^31 > d > 0) without `div`, as
// compilers do (Granlund and Montgomery, "Division by invariant integers
// using multiplication", 1994): a power of two is a shift or a mask; any
// other d a multiplication by m = ceil(2^T / d) and a shift by T, where
// e = m * d - 2^T satisfies e * 2^N <= 2^T for N-bit dividends: then
// x * m / 2^T = x / d + x * e / (d * 2^T) with the error term below 1/d,
// too small to carry floor(x / d) past the next integer. The remainder is
// x - q * d. 64-bit dividends need the high half of a 64 x 64 product
// (BMI2 mulx, which reads rdx); without BMI2 they keep `div`. false: not
// handled here (d >= 2^31, or 64-bit without BMI2).
bool Lowering::divide_by_constant(const Insn& i, bool is64, bool mod) {
  if (i.imm <= 0) return false;  // 0 is handled by the caller; "negative" d is >= 2^31 (2^63 for 64-bit)
  const auto d = uint64_t(i.imm);
  const Gp d64 = kReg[i.dst];
  const Gp dst = width(d64, is64);
  if (d == 1) {
    if (mod) a_.xor_(d64.r32(), d64.r32());
    else if (!is64) a_.mov(d64.r32(), d64.r32());
    return true;
  }
  if (std::has_single_bit(d)) {
    if (mod) a_.and_(dst, Imm(int32_t(d - 1)));
    else a_.shr(dst, Imm(std::countr_zero(d)));
    return true;
  }
  using u128 = unsigned __int128;
  const int l = std::bit_width(d - 1);  // 2^(l-1) < d < 2^l
  if (!is64) {
    // x < 2^32 in a 64-bit register. T = 32 + l always works with m < 2^33
    // (d > 2^(l-1)); a smaller T may give m < 2^32 (one imul).
    const Gp t = kT11, x = kT10;
    a_.mov(t.r32(), dst);  // zero-extended x
    PowerQuotient p(d, 32);
    while (p.c < 32 + l && !(p.m() < (u128(1) << 32) && p.e() <= uint64_t(1) << (p.c - 32))) p.step();
    const int T = p.c;
    const u128 m = p.m();
    if (m < (u128(1) << 31)) {
      a_.imul(t, t, Imm(int32_t(m)));
      a_.shr(t, Imm(T));
    } else if (m < (u128(1) << 32)) {
      a_.mov(x.r32(), Imm(uint32_t(m)));
      a_.imul(t, x);
      a_.shr(t, Imm(T));
    } else {  // m = 2^32 + lo: x * m / 2^T = (x * lo / 2^32 + x) / 2^(T - 32), all below 2^64
      a_.mov(x.r32(), Imm(uint32_t(m)));
      a_.imul(x, t);
      a_.shr(x, Imm(32));
      a_.add(t, x);
      a_.shr(t, Imm(T - 32));
    }
  } else {
    if (!bmi2_) return false;
    // Dividend x >> z for even d = d' * 2^z (N = 64 - z bits), with
    // T = 63 + l' always good when z > 0. Odd d may need a 65-bit m: then
    // G&M's q = (t + (x - t) / 2) / 2^(l-1), t = mulhi(x, m'),
    // m' = floor(2^64 * (2^l - d) / d) + 1.
    const int z = std::countr_zero(d);
    const uint64_t dp = d >> z;
    const int lp = std::bit_width(dp - 1), n = 64 - z;
    PowerQuotient p(dp, 64);
    while (p.c < 64 + lp && !(p.m() >> 64 == 0 && p.e() <= uint64_t(1) << (p.c - n))) p.step();
    const int T = p.c < 64 + lp ? p.c : -1;  // else p is at 2^(64 + l) (z = 0: lp = l)
    // rdx takes the dividend: kept unless dead; when x is r3 itself,
    // changed only by the shift to x >> z, and x is needed after it.
    const Borrowed saved = i.dst == 3 ? borrow(z ? 1u << 3 : 0, 1u << 3) : borrow(1u << 3, live_after(i));
    if (i.dst != 3) a_.mov(x86::rdx, d64);
    if (z) a_.shr(x86::rdx, Imm(z));
    if (T >= 0) {
      a_.mov(kT11, Imm(uint64_t(p.m())));
      a_.mulx(kT11, kT9, kT11);  // kT11: the high half
      if (T > 64) a_.shr(kT11, Imm(T - 64));
    } else {
      // floor(2^64 * (2^l - d) / d) = floor(2^(64 + l) / d) - 2^64
      const u128 m = p.q - (u128(1) << 64) + 1;
      a_.mov(kT11, Imm(uint64_t(m)));
      a_.mulx(kT11, kT9, kT11);
      a_.mov(kT9, x86::rdx);
      a_.sub(kT9, kT11);
      a_.shr(kT9, Imm(1));
      a_.add(kT11, kT9);
      if (l > 1) a_.shr(kT11, Imm(l - 1));
    }
    give_back(saved);
  }
  // kT11: the quotient.
  const Gp q = width(kT11, is64);
  if (mod) {
    a_.imul(q, q, Imm(int32_t(d)));
    a_.sub(dst, q);
  } else {
    a_.mov(dst, q);
  }
  return true;
}

// Signed division and modulo by a constant c (c != 0, -1: div_mod's) without
// `idiv`, truncating as the ISA's sdiv and smod: q = trunc(x / c), r = x - q * c.
// With a = |c| (c sign-extended for 64-bit dividends; a <= 2^31) the work is
// q' = trunc(x / a), then q = -q' for negative c; r = x - q' * a either way.
// - a = 2^k: q' = (x + (x < 0 ? a - 1 : 0)) >> k, arithmetic; r from the sum
//   masked to a multiple of a.
// - otherwise m = ceil(2^T / a) with e = m * a - 2^T at most 2^(T - N + 1)
//   for N-bit dividends (|x| <= 2^(N-1)); T = N - 1 + bit_width(a - 1)
//   always qualifies (e < a <= 2^(T - N + 1), m < 2^N as a is no power of
//   two). Then q' = floor(x * m / 2^T) + (x < 0): for x >= 0 the error
//   x * e / (a * 2^T) is below 1/a (as unsigned, divide_by_constant); for
//   x = -y < 0 it is in (0, 1/a] (e > 0), which with y's own fraction of a
//   (at most (a - 1) / a) sums to at most 1: the floor lands one below
//   -trunc(y / a), whether or not a divides y. (Hacker's Delight's
//   multipliers, 10-1 and 10-2, satisfy the same bound.)
//   - 32-bit: x sign-extended, m < 2^32: the product fits in 64 bits signed.
//   - 64-bit: the high half of the 128-bit signed product (one-operand
//     imul: rax and rdx borrowed); m >= 2^63 is multiplied as m - 2^64,
//     and x added back to the high half.
void Lowering::signed_divide_by_constant(const Insn& i, bool is64, bool mod) {
  const int64_t c = is64 ? int64_t(i.imm) : int64_t(int32_t(i.imm));
  const uint64_t a = c < 0 ? uint64_t(0) - uint64_t(c) : uint64_t(c);
  const Gp d64 = kReg[i.dst];
  const Gp dst = width(d64, is64);
  const Gp q = width(kT11, is64);
  const int n = is64 ? 64 : 32;
  if (a == 1) {  // c = 1 (-1 is the caller's)
    if (mod) a_.xor_(d64.r32(), d64.r32());
    else if (!is64) a_.mov(d64.r32(), d64.r32());
    return;
  }
  if (std::has_single_bit(a)) {
    const int k = std::countr_zero(a);
    a_.mov(q, dst);
    if (k > 1) a_.sar(q, Imm(n - 1));
    a_.shr(q, Imm(n - k));  // a - 1 for negative x, else 0
    a_.add(q, dst);
    if (mod) {
      a_.and_(q, Imm(-int64_t(a)));  // q' * a (-a fits: a <= 2^31)
      a_.sub(dst, q);
      return;
    }
    a_.sar(q, Imm(k));
  } else {
    using u128 = unsigned __int128;
    const int l = std::bit_width(a - 1);
    PowerQuotient p(a, n);
    while (p.c < n - 1 + l && !(p.m() >> n == 0 && p.e() <= uint64_t(1) << (p.c - n + 1))) p.step();
    const int T = p.c;
    const auto m = uint64_t(p.m());  // < 2^n
    if (!is64) {
      a_.movsxd(kT11, dst);
      if (m < (u128(1) << 31)) {
        a_.imul(kT11, kT11, Imm(int32_t(m)));
      } else {
        a_.mov(kT10.r32(), Imm(uint32_t(m)));
        a_.imul(kT11, kT10);
      }
      a_.mov(kT10, kT11);  // the product has x's sign
      a_.sar(kT11, Imm(T));
      a_.shr(kT10, Imm(63));
      a_.add(kT11.r32(), kT10.r32());
    } else {
      // x stays where the multiplication cannot change it: dst, or r10 when
      // dst is rax or rdx (then that one needs no saving: dst gets the result).
      const bool dst_is_rax = i.dst == 0, dst_is_rdx = i.dst == 3;
      const Gp x = dst_is_rax || dst_is_rdx ? kT10 : d64;
      if (x != d64) a_.mov(x, d64);
      const Borrowed saved = borrow(uint16_t((dst_is_rax ? 0 : 1u) | (dst_is_rdx ? 0 : 1u << 3)), live_after(i));
      a_.mov(x86::rax, Imm(int64_t(m)));
      a_.imul(x86::rdx, x86::rax, x);
      if (m >> 63) a_.add(x86::rdx, x);
      if (T > 64) a_.sar(x86::rdx, Imm(T - 64));
      a_.mov(kT11, x);
      a_.shr(kT11, Imm(63));
      a_.add(kT11, x86::rdx);
      give_back(saved);
      if (mod) {
        a_.imul(kT11, kT11, Imm(int32_t(a)));
        if (x != d64) a_.mov(d64, x);
        a_.sub(d64, kT11);
        return;
      }
    }
    if (mod) {
      a_.imul(q, q, Imm(int32_t(a)));
      a_.sub(dst, q);
      return;
    }
  }
  if (c < 0) a_.neg(q);
  a_.mov(dst, q);  // (a 32-bit mov zero-extends)
}

// Division with remainder (Idiom::Kind::divmod*): one `div` leaves the
// quotient in rax and the remainder in rdx, as div_mod's, with its special
// cases for both results at once (x / 0: 0 and x; signed x / -1: -x and 0).
// rax and rdx are pushed around it when live after the window and not
// results; the inputs are read before anything is written.
void Lowering::div_rem(const Idiom& m, bool is64) {
  const Insn& div = prog_.insns()[m.div_at];
  const bool check_zero = !nonzero_.known(m.divisor, is64) && !fact(div, verifier::JitFacts::kDivisorNonzero);
  const bool check_minus_one = m.sign && !fact(div, verifier::JitFacts::kDivisorNotMinusOne);
  const bool has_quot = m.quot != Idiom::kNoReg;
  auto is_result = [&](uint8_t r) { return r == m.dst || (has_quot && r == m.quot); };
  const Gp ax = width(x86::rax, is64), dx = width(x86::rdx, is64);
  Gp dv = width(kReg[m.divisor], is64);
  if (m.divisor == 0 || m.divisor == 3) {  // rax and rdx take the dividend
    a_.mov(width(kT11, is64), dv);
    dv = width(kT11, is64);
  }
  const Borrowed saved = borrow(uint16_t((is_result(0) ? 0 : 1u) | (is_result(3) ? 0 : 1u << 3)), m.live_after);
  if (m.src != 0) a_.mov(ax, width(kReg[m.src], is64));
  Label done, zero, minus_one;  // (made only when a branch goes there)
  if (check_zero || check_minus_one) done = a_.newLabel();
  if (check_zero) zero = a_.newLabel();
  if (check_minus_one) minus_one = a_.newLabel();
  divisor_checks(dv, check_minus_one, minus_one, check_zero, zero);
  divide(dv, is64, m.sign);
  if (check_zero || check_minus_one) {
    a_.short_().jmp(done);
    if (check_zero) {
      a_.bind(zero);
      a_.mov(dx, ax);  // (a 32-bit mov zero-extends)
      a_.xor_(x86::eax, x86::eax);
      if (check_minus_one) a_.short_().jmp(done);
    }
    if (check_minus_one) {
      a_.bind(minus_one);
      a_.neg(ax);
      a_.xor_(x86::edx, x86::edx);
    }
    a_.bind(done);
  }
  // The results from rax (quotient) and rdx (remainder) to their registers,
  // neither overwriting the other's source.
  const Gp r = width(kReg[m.dst], is64);
  if (has_quot && m.dst == 0 && m.quot == 3) {
    a_.xchg(x86::rax, x86::rdx);  // (both zero-extended already)
  } else if (m.dst == 0) {
    if (has_quot) a_.mov(width(kReg[m.quot], is64), ax);
    a_.mov(r, dx);
  } else {
    if (m.dst != 3) a_.mov(r, dx);
    if (has_quot && m.quot != 0) a_.mov(width(kReg[m.quot], is64), ax);
  }
  give_back(saved);
}

// Shift counts are masked to 5/6 bits, as x86 does itself.
void Lowering::shift(const Insn& i, bool is64, bool imm, uint8_t kind) {
  const Gp d64 = kReg[i.dst];
  const Gp d = width(d64, is64);
  auto by_cl = [&](const Gp& r) {
    if (kind == 0x60) a_.shl(r, x86::cl);
    else if (kind == 0x70) a_.shr(r, x86::cl);
    else a_.sar(r, x86::cl);
  };
  Gp s64 = kReg[i.src];
  if (imm) {
    const uint32_t n = uint32_t(i.imm) & (is64 ? 63 : 31);
    if (n == 0) {
      if (!is64) a_.mov(d, d);  // zero-extension is the only effect
      return;
    }
    if (!blind_) {
      if (kind == 0x60) a_.shl(d, n);
      else if (kind == 0x70) a_.shr(d, n);
      else a_.sar(d, n);
      return;
    }
    blinded_imm(kBlind.r32(), int32_t(n));  // then shift by the register
    s64 = kBlind;
  }
  const Gp s = width(s64, is64);
  if (bmi2_) {
    if (kind == 0x60) a_.shlx(d, d, s);
    else if (kind == 0x70) a_.shrx(d, d, s);
    else a_.sarx(d, d, s);
    return;
  }
  // A count of 0 leaves a 32-bit destination untouched: zero-extend first.
  if (s64 == x86::rcx) {  // count already in rcx
    if (!is64) a_.mov(d, d);
    by_cl(d);
  } else if (i.dst == 4) {  // shift a copy of rcx, then put it back
    a_.mov(width(kT11, is64), width(x86::rcx, is64));
    a_.mov(x86::rcx, s64);
    by_cl(width(kT11, is64));
    a_.mov(x86::rcx, kT11);
  } else {
    if (!is64) a_.mov(d, d);
    a_.mov(kT11, x86::rcx);
    a_.mov(x86::rcx, s64);
    by_cl(d);
    a_.mov(x86::rcx, kT11);
  }
}

Expected<void> Lowering::endian(const Insn& i) {
  const Gp d = kReg[i.dst];
  switch (i.op) {
    case Op::LE16: a_.movzx(d.r32(), d.r16()); return {};
    case Op::LE32:
      if (!fact(i, verifier::JitFacts::kUpperZero)) a_.mov(d.r32(), d.r32());
      return {};
    case Op::LE64: return {};
    case Op::BE16:
    case Op::BSWAP16:
      a_.ror(d.r16(), 8);
      a_.movzx(d.r32(), d.r16());
      return {};
    case Op::BE32:
    case Op::BSWAP32: a_.bswap(d.r32()); return {};
    case Op::BE64:
    case Op::BSWAP64: a_.bswap(d); return {};
    default: return unsupported(i);
  }
}

Expected<void> Lowering::load_imm64(const Insn& i) {
  const Gp d = kReg[i.dst];
  if (i.op == Op::LDDW_FUNC) {
    a_.lea(d, x86::ptr(an_.functions[function_index(i.target())].prologue));
    return {};
  }
  if (i.op != Op::LDDW)
    return fail(Errc::invalid_program, "insn {}: unresolved pseudo lddw ({}): relocate the program first", i.pc,
                isa::info(i.op).mnemonic);
  const uint64_t v = uint64_t(i.imm64);
  if (v == 0) {
    a_.xor_(d.r32(), d.r32());
  } else if (blind_ && v <= UINT32_MAX) {
    const auto k = uint32_t(key64());
    a_.mov(d.r32(), Imm(uint32_t(v) ^ k));
    a_.xor_(d.r32(), Imm(k));
  } else if (blind_) {  // map addresses too: simpler than telling them apart
    const uint64_t k = key64();
    a_.movabs(d, Imm(v ^ k));
    a_.movabs(kBlind, Imm(k));
    a_.xor_(d, kBlind);
  } else {
    mov_imm64(d, v);
  }
  return {};
}

// d = v in the shortest form (no blinding).
void Lowering::mov_imm64(const Gp& d, uint64_t v) {
  if (v == 0) a_.xor_(d.r32(), d.r32());
  else if (v <= UINT32_MAX) a_.mov(d.r32(), Imm(uint32_t(v)));
  else if (int64_t(v) >= INT32_MIN && int64_t(v) <= INT32_MAX) a_.mov(d, Imm(int64_t(v)));
  else a_.movabs(d, Imm(v));
}

// An idiom's window (idioms.hpp) as the one instruction it computes, then
// the constants it leaves in live registers. Never more bytes than the
// window's size bounds: popcnt and xor 8, a rotate at most 7, a constant at
// most 10 for a window instruction (its last writer) bounded by 12 or more.
void Lowering::emit_idiom(const Idiom& m) {
  using K = Idiom::Kind;
  const bool is64 = m.is64();
  const Gp d = width(kReg[m.dst], is64), s = width(kReg[m.src], is64);
  if (m.kind == K::divmod64 || m.kind == K::divmod32) {
    div_rem(m, is64);
  } else if (m.kind == K::popcnt64 || m.kind == K::popcnt32) {
    // (breaks popcnt's false dependency on its destination on older Intel cores)
    if (m.dst != m.src) a_.xor_(d.r32(), d.r32());
    a_.popcnt(d, s);
  } else if (m.dst == m.src) {
    a_.rol(d, Imm(m.count));
  } else if (bmi2_) {
    a_.rorx(d, s, Imm((is64 ? 64 : 32) - m.count));
  } else {
    a_.mov(d, s);
    a_.rol(d, Imm(m.count));
  }
  for (uint8_t k = 0; k < m.nconsts; ++k) mov_imm64(kReg[m.const_reg[k]], m.const_value[k]);
}

}  // namespace xbpf::jit::x86low
