// What the lowering knows about instructions without emitting them: a size
// bound per instruction (for rel8 jumps) and the registers known nonzero in
// a straight-line block (for divisions). Internal to src/jit.
#pragma once

#include <cstdint>

#include "isa/isa.hpp"
#include "vm/vm.hpp"

namespace xbpf::jit {

namespace detail {
// size_bound_plain() of every operation but a helper call, by operation:
// a table lookup instead of a switch on the form (an indirect jump that
// mispredicts on every change of form) in the analysis' per-instruction loops.
constexpr uint8_t plain_bound(const isa::OpInfo& b) {
  using isa::Form;
  switch (b.form) {
    case Form::AluImm:
    case Form::AluReg:
    case Form::AluUnary: {
      const uint8_t kind = b.code & 0xf0;
      return kind == 0x30 || kind == 0x90 ? 72 : 20;  // division; shifts without BMI2 are 4 insns
    }
    case Form::Endian:
    case Form::LoadImm64: return 12;
    case Form::Load:
    case Form::StoreImm:
    case Form::StoreReg: return 14;
    case Form::Atomic: return 48;
    case Form::Jump:
    case Form::JumpLong:
    case Form::CallLocal: return 6;
    case Form::JumpImm:
    case Form::JumpReg:
    case Form::Exit:
    case Form::Call: return 16;  // (a plain call; size_bound_plain() knows the longer ones)
    case Form::CallReg: return 56;
    default: return 96;  // legacy packet loads, anything new
  }
}
inline constexpr auto kPlainBounds = isa::per_op(plain_bound);
}  // namespace detail

[[nodiscard]] inline uint32_t size_bound_plain(const isa::Insn& i, bool inlined_lookups, bool inlined_helpers) {
  if (i.op == isa::Op::CALL) {
    const auto id = uint32_t(i.imm);
    if (id == vm::kHelperTailCall) return 96;
    if (inlined_lookups && id == 1) return 160;  // per-CPU arrays: the longest
    if (inlined_helpers && id == 8) return 48;  // get_smp_processor_id
  }
  return detail::kPlainBounds[size_t(i.op)];
}

// Upper bound of the bytes the lowering emits for `i` before relocation (loop
// head alignment not included). `inlined_lookups`: some helper calls become
// inline array lookups; `inlined_helpers`: Options::inline_helpers. `blinded`: immediates are blinded (at most 23 more
// bytes: movabs, movabs, xor for lddw).
[[nodiscard]] inline uint32_t size_bound(const isa::Insn& i, bool inlined_lookups, bool inlined_helpers = false,
                                        bool blinded = false) {
  return size_bound_plain(i, inlined_lookups, inlined_helpers) + (blinded ? 24 : 0);
}

// What an operation does to the registers NonzeroRegs and CopyRegs track,
// by operation (a table: the lowering asks for every instruction, and a
// switch on the form mispredicts as often as the form changes).
enum class Effect : uint8_t {
  none,       // stores, jumps
  write_dst,  // dst gets a value neither tracker knows anything about
  set_imm,    // `or` / `mov` of an immediate: dst nonzero if imm is
  mov_reg,    // register move (a sign-extending one when off != 0)
  lddw,       // dst = imm64
  atomic,     // may write src and r0; CopyRegs forgets everything
  call,       // calls, legacy packet loads: r0-r5 change, both forget everything
  exit,       // exit, kfunc calls: NonzeroRegs keeps, CopyRegs forgets
};
namespace detail {
constexpr Effect effect_of(const isa::OpInfo& b) {
  using isa::Form;
  const uint8_t kind = b.code & 0xf0;
  switch (b.form) {
    case Form::AluImm: return kind == 0x40 || kind == 0xb0 ? Effect::set_imm : Effect::write_dst;
    case Form::AluReg: return kind == 0xb0 ? Effect::mov_reg : Effect::write_dst;
    case Form::AluUnary:
    case Form::Endian:
    case Form::Load: return Effect::write_dst;
    case Form::LoadImm64: return Effect::lddw;
    case Form::Atomic: return Effect::atomic;
    case Form::Call:
    case Form::CallLocal:
    case Form::CallReg:
    case Form::LoadAbs:
    case Form::LoadInd: return Effect::call;
    case Form::StoreImm:
    case Form::StoreReg:
    case Form::Jump:
    case Form::JumpLong:
    case Form::JumpImm:
    case Form::JumpReg: return Effect::none;
    default: return Effect::exit;
  }
}
inline constexpr auto kEffects = isa::per_op(effect_of);
}  // namespace detail
[[nodiscard]] inline Effect effect(isa::Op op) { return detail::kEffects[size_t(op)]; }

// Registers whose value (low 32 bits / all 64 bits) is known nonzero in the
// current straight-line block: set by `or` or `mov` of a nonzero immediate
// (clang's `x | 1` before a division) and by lddw, copied by mov, forgotten on
// any other write. The owner calls clear() at jump targets and function entries.
class NonzeroRegs {
 public:
  [[nodiscard]] bool known(uint8_t r, bool is64) const { return ((is64 ? all_ : lo_) >> r) & 1; }
  void clear() { lo_ = all_ = 0; }

  // After `i` executed; `e` is effect(i.op).
  void update(const isa::Insn& i, Effect e) {
    if (e == Effect::none) return;
    if (e == Effect::write_dst) {
      set(i.dst, false, false);
      return;
    }
    switch (e) {
      case Effect::set_imm: set(i.dst, i.imm != 0, i.imm != 0); break;
      case Effect::mov_reg:
        if (i.off == 0) {  // the copy is as nonzero as its source
          const bool lo = known(i.src, false);
          set(i.dst, lo, isa::is_32bit(i.op) ? lo : known(i.src, true));
        } else {
          set(i.dst, false, false);
        }
        break;
      case Effect::lddw: set(i.dst, uint32_t(i.imm64) != 0, i.imm64 != 0); break;
      case Effect::atomic:
        set(i.src, false, false);
        set(0, false, false);
        break;
      case Effect::call: clear(); break;
      default: break;  // exit
    }
  }

 private:
  void set(uint8_t r, bool lo, bool all) {
    const uint16_t bit = uint16_t(1u << r);
    lo_ = uint16_t(lo ? lo_ | bit : lo_ & ~bit);
    all_ = uint16_t(all ? all_ | bit : all_ & ~bit);
  }
  uint16_t lo_ = 0, all_ = 0;  // bit r: register r
};

// Registers that hold a 64-bit copy of another in the current straight-line
// block: `rA = rB` (MOV64_REG) makes rA a copy of rB (of rB's own source when
// rB is a copy), until either is written. A read of rA as a source operand
// can then read rB instead, which takes the move off the reader's dependency
// chain when the core does not eliminate it (fib's `r0 = r3; r3 = r1; r3 +=
// r0` is `lea rdx, [rdi + rdx]`, not `[rdi + rax]` after `mov rax, rdx`).
// The owner calls clear() at jump targets and function entries.
class CopyRegs {
 public:
  CopyRegs() { clear(); }
  void clear() {
    for (uint8_t& s : src_) s = kNone;
    sources_ = 0;
  }
  // The register to read for `r`'s value (r itself when it is no copy).
  [[nodiscard]] uint8_t source(uint8_t r) const { return r < 11 && src_[r] != kNone ? src_[r] : r; }

  // The machine registers of the BPF registers in `mask` (bit r) changed
  // though the program did not write them: the lowering used them as
  // scratch where the verifier proved their values dead (a division's rax
  // and rdx). Their copies must not be read through them any more.
  void clobbered(uint16_t mask) {
    if (!mask) return;
    for (uint8_t r = 0; r < 11; ++r)
      if (mask & (1u << r)) written(r);
  }

  // After `i` executed; `e` is effect(i.op).
  void update(const isa::Insn& i, Effect e) {
    switch (e) {
      case Effect::none: break;
      case Effect::write_dst:
      case Effect::set_imm:
      case Effect::lddw: written(i.dst); break;
      case Effect::mov_reg:
        if (i.op == isa::Op::MOV64_REG && i.off == 0 && i.dst != i.src && i.dst < 11 && i.src < 11) {
          const uint8_t s = source(i.src);
          written(i.dst);
          if (s != i.dst) {
            src_[i.dst] = s;
            sources_ |= uint16_t(1u << s);
          }
        } else {
          written(i.dst);
        }
        break;
      default: clear(); break;  // calls, atomics, legacy packet loads, exit: forget everything
    }
  }

 private:
  static constexpr uint8_t kNone = 0xff;
  void written(uint8_t r) {
    if (r >= 11) return;
    src_[r] = kNone;
    if (!(sources_ & (1u << r))) return;
    sources_ &= uint16_t(~(1u << r));
    for (uint8_t& s : src_)
      if (s == r) s = kNone;
  }
  uint8_t src_[11];  // register -> the register it is a copy of (kNone: none)
  uint16_t sources_ = 0;  // registers some src_ may name (bit r)
};

}  // namespace xbpf::jit
