#include "isa/disasm.hpp"

#include <cstdint>

#include <fmt/format.h>

namespace xbpf::isa {
namespace {

// ---------------------------------------------------------------------------
// Conformance syntax (re-assemblable by isa::assemble)

// [%r1], [%r1+4], [%r10-8]
std::string conf_mem(unsigned reg, int off) {
  return off == 0 ? fmt::format("[%r{}]", reg) : fmt::format("[%r{}{:+}]", reg, off);
}

// Small immediates in decimal, large ones as the 32-bit pattern in hex, the way
// the .data files write them (`mov32 %r1, 0x87654321`, `jne %r0, 0xffffffff, +1`).
std::string conf_imm(int32_t imm) {
  return imm >= -0x10000 && imm <= 0x10000 ? fmt::format("{}", imm) : fmt::format("{:#x}", uint32_t(imm));
}

uint32_t hi_word(const Insn& x) { return uint32_t(uint64_t(x.imm64) >> 32); }
uint32_t lo_word(const Insn& x) { return uint32_t(uint64_t(x.imm64)); }

// `lddw %r0, 0x1122334455667788`; pseudo kinds as `lddw %r1, map_value 3, 16`
// (kind = second word of the row's mnemonic; the high word is printed when set
// or when it is meaningful, i.e. for the *_value kinds).
std::string conf_lddw(const Insn& x) {
  const OpInfo& i = info(x.op);
  size_t sp = i.mnemonic.find(' ');
  if (sp == std::string_view::npos) return fmt::format("{} %r{}, {:#x}", i.mnemonic, x.dst, uint64_t(x.imm64));
  std::string_view head = i.mnemonic.substr(0, sp), kind = i.mnemonic.substr(sp + 1);
  int32_t lo = int32_t(lo_word(x)), hi = int32_t(hi_word(x));
  std::string text = x.op == Op::LDDW_FUNC ? fmt::format("{} %r{}, {} {:+}", head, x.dst, kind, lo)
                                           : fmt::format("{} %r{}, {} {}", head, x.dst, kind, lo);
  if (hi != 0 || kind.ends_with("_value")) text += fmt::format(", {}", hi);
  return text;
}

std::string conformance(const Insn& x) {
  const OpInfo& i = info(x.op);
  std::string_view mn = i.mnemonic;
  unsigned d = x.dst, s = x.src;
  switch (i.form) {
    case Form::AluImm: return fmt::format("{} %r{}, {}", mn, d, conf_imm(x.imm));
    case Form::AluReg: return fmt::format("{} %r{}, %r{}", mn, d, s);
    case Form::AluUnary: case Form::Endian: case Form::CallReg: return fmt::format("{} %r{}", mn, d);
    case Form::LoadImm64: return conf_lddw(x);
    case Form::LoadAbs: return fmt::format("{} {}", mn, conf_imm(x.imm));
    case Form::Call: return fmt::format("{} {}", mn, x.imm);
    case Form::LoadInd: return fmt::format("{} %r{}, {}", mn, s, conf_imm(x.imm));
    case Form::Load: return fmt::format("{} %r{}, {}", mn, d, conf_mem(s, x.off));
    case Form::StoreImm: return fmt::format("{} {}, {}", mn, conf_mem(d, x.off), conf_imm(x.imm));
    case Form::StoreReg: case Form::Atomic: return fmt::format("{} {}, %r{}", mn, conf_mem(d, x.off), s);
    case Form::Jump: return fmt::format("{} {:+}", mn, x.off);
    case Form::JumpLong: case Form::CallLocal: return fmt::format("{} {:+}", mn, x.imm);
    case Form::JumpImm: return fmt::format("{} %r{}, {}, {:+}", mn, d, conf_imm(x.imm), x.off);
    case Form::JumpReg: return fmt::format("{} %r{}, %r{}, {:+}", mn, d, s, x.off);
    case Form::CallKfunc:
      return x.off == 0 ? fmt::format("{} {}", mn, x.imm) : fmt::format("{} {}, {}", mn, x.imm, x.off);
    case Form::Exit: return std::string(mn);
  }
  return "<unknown>";
}

// ---------------------------------------------------------------------------
// Kernel syntax (llvm-objdump / bpftool)

// "r1 + 4", "r10 - 8"
std::string k_addr(unsigned reg, int64_t off) {
  return off < 0 ? fmt::format("r{} - {}", reg, -off) : fmt::format("r{} + {}", reg, off);
}

// Pseudo lddw: bpftool's spellings, with "fd" where bpftool (reading loaded
// programs back) says "id".
std::string k_lddw(const Insn& x) {
  uint32_t lo = lo_word(x), hi = hi_word(x);
  std::string v;
  switch (x.op) {
    case Op::LDDW_MAP_FD: v = fmt::format("map[fd:{}]", lo); break;
    case Op::LDDW_MAP_VALUE: return fmt::format("r{} = map[fd:{}][0]+{}", x.dst, lo, hi);
    case Op::LDDW_MAP_IDX: v = fmt::format("map[idx:{}]", lo); break;
    case Op::LDDW_MAP_IDX_VALUE: return fmt::format("r{} = map[idx:{}]+{}", x.dst, lo, hi);
    case Op::LDDW_BTF_ID: v = fmt::format("btf_id {}", lo); break;
    case Op::LDDW_FUNC: v = fmt::format("subprog[{:+}]", int32_t(lo)); break;
    default: return fmt::format("r{} = {:#x} ll", x.dst, uint64_t(x.imm64));
  }
  if (hi != 0) v += fmt::format(" (hi {:#x})", hi);  // reserved for these kinds
  return fmt::format("r{} = {}", x.dst, v);
}

// Atomic read-modify-write, LLVM spelling:
//   lock *(u64 *)(r1 + 0) += r2          (no fetch; symbol is the operator)
//   r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)
//   r2 = xchg_64(r1 + 0, r2)             w2 = xchg32_32(r1 + 0, w2)
//   r0 = cmpxchg_64(r1 + 0, r0, r2)      w0 = cmpxchg32_32(r1 + 0, w0, w2)
std::string k_atomic(const Insn& x) {
  const OpInfo& i = info(x.op);
  bool w = is_32bit(x.op);
  char rc = w ? 'w' : 'r';
  std::string_view size = w ? "u32" : "u64", suffix = w ? "32_32" : "_64";
  std::string addr = k_addr(x.dst, x.off);
  if (i.symbol.ends_with('='))
    return fmt::format("lock *({} *)({}) {} {}{}", size, addr, i.symbol, rc, x.src);
  if (i.symbol == "xchg") return fmt::format("{}{} = xchg{}({}, {}{})", rc, x.src, suffix, addr, rc, x.src);
  if (i.symbol == "cmpxchg")
    return fmt::format("{}0 = cmpxchg{}({}, {}0, {}{})", rc, suffix, addr, rc, rc, x.src);
  return fmt::format("{}{} = atomic_fetch_{}(({} *)({}), {}{})", rc, x.src, i.symbol, size, addr, rc, x.src);
}

// ALU: `r0 += 5`, `w0 = w1`, `r1 = (s8)r2`, `r0 = -r0`, `r0 = be16 r0`. A symbol
// ending in '=' is a compound assignment; any other symbol prefixes the source.
std::string k_alu(const Insn& x) {
  const OpInfo& i = info(x.op);
  char rc = is_32bit(x.op) ? 'w' : 'r';
  switch (i.form) {
    case Form::AluImm: return fmt::format("{}{} {} {}", rc, x.dst, i.symbol, x.imm);
    case Form::AluReg:
      if (i.symbol.ends_with('=')) return fmt::format("{}{} {} {}{}", rc, x.dst, i.symbol, rc, x.src);
      return fmt::format("{}{} = {}{}{}", rc, x.dst, i.symbol, rc, x.src);
    case Form::AluUnary: return fmt::format("{}{} = {}{}{}", rc, x.dst, i.symbol, rc, x.dst);
    default: return fmt::format("r{} = {} r{}", x.dst, i.symbol, x.dst);  // Endian: whole register
  }
}

std::string kernel(const Insn& x) {
  const OpInfo& i = info(x.op);
  std::string_view sym = i.symbol;
  char rc = is_32bit(x.op) ? 'w' : 'r';
  switch (i.form) {
    case Form::AluImm: case Form::AluReg: case Form::AluUnary: case Form::Endian: return k_alu(x);
    case Form::LoadImm64: return k_lddw(x);
    case Form::LoadAbs: return fmt::format("r0 = *({} *)skb[{}]", sym, x.imm);
    case Form::LoadInd: return fmt::format("r0 = *({} *)skb[{}]", sym, k_addr(x.src, x.imm));
    case Form::Load: return fmt::format("r{} = *({} *)({})", x.dst, sym, k_addr(x.src, x.off));
    case Form::StoreImm: return fmt::format("*({} *)({}) = {}", sym, k_addr(x.dst, x.off), x.imm);
    case Form::StoreReg: return fmt::format("*({} *)({}) = r{}", sym, k_addr(x.dst, x.off), x.src);
    case Form::Atomic: return k_atomic(x);
    case Form::Jump: return fmt::format("{} {:+}", sym, x.off);
    case Form::JumpLong: return fmt::format("{} {:+}", sym, x.imm);
    case Form::JumpImm:
      return fmt::format("if {}{} {} {:#x} goto {:+}", rc, x.dst, sym, uint32_t(x.imm), x.off);
    case Form::JumpReg: return fmt::format("if {}{} {} {}{} goto {:+}", rc, x.dst, sym, rc, x.src, x.off);
    case Form::Call: return fmt::format("{} {}", sym, x.imm);
    case Form::CallLocal: return fmt::format("{} pc{:+}", sym, x.imm);
    case Form::CallKfunc:
      return x.off == 0 ? fmt::format("{} kfunc {}", sym, x.imm)
                        : fmt::format("{} kfunc {} (module {})", sym, x.imm, x.off);
    case Form::CallReg: return fmt::format("{} r{}", sym, x.dst);
    case Form::Exit: return std::string(sym);
  }
  return "<unknown>";
}

}  // namespace

std::string format_insn(const Insn& insn, Syntax syntax) {
  if (static_cast<size_t>(insn.op) >= kNumOps) return fmt::format("<bad op {}>", unsigned(insn.op));
  return syntax == Syntax::Conformance ? conformance(insn) : kernel(insn);
}

std::string format_program(std::span<const Insn> insns, Syntax syntax, bool with_pc) {
  std::string out;
  size_t slot = 0;
  for (const Insn& insn : insns) {
    if (with_pc) out += fmt::format("{:>4}:\t", slot);
    out += format_insn(insn, syntax);
    out += '\n';
    slot += static_cast<size_t>(insn.op) < kNumOps ? size_t(slot_count(insn.op)) : 1;
  }
  return out;
}

}  // namespace xbpf::isa
