// BPF loads, stores, atomics and legacy packet loads on x86-64 (class
// Lowering: x86_lowering.hpp).
#include "jit/x86_lowering.hpp"

namespace xbpf::jit::x86low {

Expected<void> Lowering::load(const Insn& i) { return load_from(i, x86::ptr(kReg[i.src], i.off)); }

// Load `i` from `at` (its width is set here). (Sizes from the opcode's bits
// rather than a switch on the operation: one encoder call for every width.)
Expected<void> Lowering::load_from(const Insn& i, x86::Mem at) {
  const Gp d = kReg[i.dst];
  at.size = uint8_t(isa::mem_size(isa::brief(i.op).code));
  if ((isa::brief(i.op).code & 0xe0) == 0x80) {  // BPF_MEMSX: sign-extending
    if (at.size == 8) return unsupported(i);
    at.size == 4 ? a_.movsxd(d, at) : a_.movsx(d, at);
    return {};
  }
  if (at.size <= 2) a_.movzx(d.r32(), at);
  else a_.mov(x86::Gp(d.id(), at.size), at);  // (a 32-bit load zero-extends)
  return {};
}

namespace {
// Whether `r` is written before it is read in the straight-line code from
// insns[from] (at most 8 instructions, not past `end`): then its value
// before `from` is dead. A jump, call, exit or atomic first counts as a read.
bool overwritten_first(std::span<const isa::Insn> insns, size_t from, size_t end, uint8_t r) {
  for (size_t k = from; k < end && k < from + 8; ++k) {
    const isa::Insn& i = insns[k];
    const bool mov = (isa::brief(i.op).code & 0xf0) == 0xb0;
    switch (isa::form(i.op)) {
      case Form::AluImm:
        if (i.dst == r) return mov;  // (every other operation reads dst)
        break;
      case Form::AluReg:
        if (i.src == r) return false;
        if (i.dst == r) return mov;
        break;
      case Form::AluUnary:
      case Form::Endian:
      case Form::StoreImm:
        if (i.dst == r) return false;
        break;
      case Form::LoadImm64:
        if (i.dst == r) return true;
        break;
      case Form::Load:
        if (i.src == r) return false;
        if (i.dst == r) return true;
        break;
      case Form::StoreReg:
        if (i.dst == r || i.src == r) return false;
        break;
      default: return false;
    }
  }
  return false;
}
}  // namespace

// Options::indexed_loads: `rA = rB; rA += rC` (or `+= imm`) then
// `rD = *(size *)(rA + off)`, or the add and the load alone (rB is then rA),
// as one load from [rB + rC + off], when the sum is dead after the load: rD
// is rA, or the straight-line code after it writes rA before reading it
// (overwritten_first). The sum is then never made. The move and the add read
// their sources before they write rA, so the load's base and index are those
// sources as they were. Neither the add nor the load may be a jump target (a
// path entering there has not run what precedes), nor start an idiom.
// Returns how many instructions from insns[k] it lowered (0: none; `end`
// bounds the run, a tail copy's); the caller places their offsets.
size_t Lowering::indexed_load(std::span<const Insn> insns, size_t k, size_t end) {
  const Insn& first = insns[k];
  const bool mov = first.op == Op::MOV64_REG;
  const size_t add_at = mov ? k + 1 : k;
  if (!indexed_loads_ || add_at + 1 >= end) return 0;
  const Insn &add = insns[add_at], &ld = insns[add_at + 1];
  const bool add_imm = add.op == Op::ADD64_IMM;
  if ((!add_imm && add.op != Op::ADD64_REG) || isa::form(ld.op) != Form::Load) return 0;
  const uint8_t a = add.dst;
  if (ld.src != a || (mov && (first.dst != a || first.src == a || first.off != 0))) return 0;
  if ((mov && an_.target[add.pc]) || an_.target[ld.pc] || (add_imm && blind_)) return 0;
  if ((mov && idiom_at(add_at)) || idiom_at(add_at + 1)) return 0;
  if (ld.dst != a && !overwritten_first(insns, add_at + 2, end, a)) return 0;
  const Gp base = source(mov ? first.src : a);
  x86::Mem at;
  if (add_imm) {
    const int64_t disp = int64_t(add.imm) + ld.off;
    if (disp != int32_t(disp)) return 0;
    at = x86::ptr(base, int32_t(disp));
  } else {  // rA += rA adds rA's value before the add: the base
    at = x86::ptr(base, add.src == a ? base : source(add.src), 0, ld.off);
  }
  if (!load_from(ld, at)) return 0;  // (not reached: every load form has a lowering)
  for (size_t w = k; w <= add_at + 1; ++w) learn(insns[w]);
  ++out_.indexed_loads;
  return add_at + 2 - k;
}

Expected<void> Lowering::store(const Insn& i) {
  const Gp d = kReg[i.dst];
  const auto size = uint8_t(isa::mem_size(isa::brief(i.op).code));
  const x86::Mem m = x86::ptr(d, i.off, size);
  if (isa::form(i.op) == Form::StoreReg) {
    a_.mov(m, x86::Gp(kReg[i.src].id(), size));
    return {};
  }
  if (blind_) {
    blinded_imm(kBlind, i.imm);
    a_.mov(m, x86::Gp(kBlind.id(), size));
    return {};
  }
  // The immediate's low `size` bytes, sign-extended (a 64-bit store's is the
  // sign-extended imm32, as x86's own).
  const unsigned drop = size == 8 ? 32 : 64 - 8 * size;
  a_.mov(m, Imm(int64_t(uint64_t(int64_t(i.imm)) << drop) >> drop));
  return {};
}

// Atomics are sequentially consistent: x86's locked instructions are.
Expected<void> Lowering::atomic(const Insn& i) {
  const bool is64 = !isa::is_32bit(i.op);
  const x86::Mem m = is64 ? x86::qword_ptr(kReg[i.dst], i.off) : x86::dword_ptr(kReg[i.dst], i.off);
  const Gp s = width(kReg[i.src], is64);
  switch (i.imm) {
    case 0x00: a_.lock().add(m, s); return {};
    case 0x40: a_.lock().or_(m, s); return {};
    case 0x50: a_.lock().and_(m, s); return {};
    case 0xa0: a_.lock().xor_(m, s); return {};
    case 0x01: a_.lock().xadd(m, s); return {};  // src = old (32-bit: zero-extended)
    case 0xe1: a_.xchg(m, s); return {};         // implicitly locked
    case 0xf1:                                   // cmpxchg
      a_.lock().cmpxchg(m, s, width(x86::rax, is64));
      if (!is64) a_.mov(x86::eax, x86::eax);  // success leaves eax unwritten
      return {};
    case 0x41:
    case 0x51:
    case 0xa1: fetch_loop(i, is64); return {};
    default: return unsupported(i);
  }
}

// fetch_or/and/xor: a cmpxchg loop. rax (r0) is the comparand, so it is
// saved in r10 (which doubles as the operand when src is r0 itself).
void Lowering::fetch_loop(const Insn& i, bool is64) {
  const Gp ax = width(x86::rax, is64);
  const Gp opnd = width(i.src == 0 ? kT10 : kReg[i.src], is64);
  const Gp t = width(kT11, is64);
  const x86::Mem m = is64 ? x86::qword_ptr(kT9) : x86::dword_ptr(kT9);
  a_.lea(kT9, x86::ptr(kReg[i.dst], i.off));
  a_.mov(kT10, x86::rax);
  a_.mov(ax, m);
  Label retry = a_.newLabel();
  a_.bind(retry);
  a_.mov(t, ax);
  if (i.imm == 0x41) a_.or_(t, opnd);
  else if (i.imm == 0x51) a_.and_(t, opnd);
  else a_.xor_(t, opnd);
  a_.lock().cmpxchg(m, t, ax);
  a_.short_().jne(retry);
  if (i.src != 0) {
    a_.mov(width(kReg[i.src], is64), ax);
    a_.mov(x86::rax, kT10);
  }
}

// Legacy LD_ABS / LD_IND: r0 = big-endian packet[off .. off+size); out of
// bounds (or no packet) ends the whole run with r0 = 0, as the interpreter
// (and the kernel) do. r1-r5 are left intact.
Expected<void> Lowering::load_packet(const Insn& i) {
  const unsigned size = isa::mem_size(isa::brief(i.op).code);
  if (isa::form(i.op) == Form::LoadAbs) {
    if (i.imm < 0) {
      a_.jmp(abort_);
      return {};
    }
    if (blind_) blinded_imm(kT10.r32(), i.imm);
    else a_.mov(kT10.r32(), Imm(uint32_t(i.imm)));
  } else {
    a_.mov(kT10.r32(), kReg[i.src].r32());
    if (blind_) {
      blinded_imm(kT11.r32(), i.imm);
      a_.add(kT10.r32(), kT11.r32());
    } else {
      a_.add(kT10.r32(), Imm(i.imm));
    }
    a_.movsxd(kT10, kT10.r32());
    a_.test(kT10, kT10);
    a_.js(abort_);
  }
  a_.mov(kT11, x86::qword_ptr(kArea, kAreaCtx));
  a_.mov(kT9, x86::qword_ptr(kT11, kCtxPacketLen));
  a_.sub(kT9, size);
  a_.jb(abort_);  // packet_len < size
  a_.cmp(kT10, kT9);
  a_.ja(abort_);  // off > packet_len - size
  a_.mov(kT11, x86::qword_ptr(kT11, kCtxPacket));
  a_.test(kT11, kT11);
  a_.jz(abort_);
  switch (size) {
    case 1: a_.movzx(x86::eax, x86::byte_ptr(kT11, kT10)); break;
    case 2:
      a_.movzx(x86::eax, x86::word_ptr(kT11, kT10));
      a_.ror(x86::ax, 8);
      break;
    default:
      a_.mov(x86::eax, x86::dword_ptr(kT11, kT10));
      a_.bswap(x86::eax);
      break;
  }
  return {};
}

}  // namespace xbpf::jit::x86low
