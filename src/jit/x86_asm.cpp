// xbpf's x86-64 encoder (x86_asm.hpp). Encodings from the Intel SDM, volume
// 2: chapter 2 (instruction format: legacy prefixes, REX, VEX, ModRM, SIB)
// and each instruction's opcode table.
#include "jit/x86_asm.hpp"

#include <algorithm>

#include <cpuid.h>

namespace xbpf::jit::x86 {

namespace {

constexpr bool is_int8(int64_t v) { return v >= INT8_MIN && v <= INT8_MAX; }
constexpr bool is_int32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }
// An 8-bit register that needs a REX prefix to be named (spl, bpl, sil, dil).
constexpr bool rex_byte(const Gp& r) { return r.size() == 1 && r.id() >= 4 && r.id() < 8; }

}  // namespace

const HostFeatures& host_features() {
  static const HostFeatures f = [] {
    HostFeatures h;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) h.popcnt = (c >> 23) & 1;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) h.bmi2 = (b >> 8) & 1;
    return h;
  }();
  return f;
}

void Assembler::grow(size_t bytes) {
  if (bytes <= cap_) return;
  auto b = std::make_unique_for_overwrite<uint8_t[]>(bytes);
  if (n_) std::memcpy(b.get(), buf_.get(), n_);
  buf_ = std::move(b);
  cap_ = bytes;
}

void Assembler::reset() {
  n_ = 0;
  labels_.clear();
  fixups_.clear();
  calls_.clear();
  error_.clear();
  short_next_ = lock_next_ = far_calls_ = false;
}

void Assembler::fail(const char* what) {
  if (error_.empty()) error_ = what;
}

void Assembler::bind(const Label& l) {
  if (l.id >= labels_.size()) return fail("bind of an unknown label");
  if (labels_[l.id] >= 0) return fail("label bound twice");
  labels_[l.id] = int64_t(n_);
}

bool Assembler::finish() {
  for (const Fixup& f : fixups_) {
    if (labels_[f.label] < 0) {
      fail("jump to a label never bound");
      break;
    }
    const int64_t d = labels_[f.label] - int64_t(f.end);
    if (f.width == 1) {
      if (!is_int8(d)) {
        fail("short jump out of rel8 reach");
        break;
      }
      buf_[f.at] = uint8_t(int8_t(d));
    } else {
      const int32_t d32 = int32_t(d);
      std::memcpy(buf_.get() + f.at, &d32, 4);
    }
  }
  return error_.empty();
}

bool Assembler::relocate(uint64_t base, uint8_t* out) {
  std::memcpy(out, buf_.get(), n_);
  for (const Call& c : calls_) {
    const int64_t d = int64_t(c.target - (base + c.at + 4));
    if (!is_int32(d)) {
      fail("call target out of rel32 reach");
      return false;
    }
    const int32_t d32 = int32_t(d);
    std::memcpy(out + c.at, &d32, 4);
  }
  return error_.empty();
}

// ---- data, padding -------------------------------------------------------------

void Assembler::embed(const void* data, size_t n) {
  reserve(n_ + n + 32);
  std::memcpy(buf_.get() + n_, data, n);
  n_ += n;
}

// The recommended multi-byte nops (SDM vol. 2B, NOP), up to 9 bytes each.
void Assembler::nop(uint32_t n) {
  reserve(n_ + n + 32);
  uint8_t* p = buf_.get() + n_;
  n_ += n;
  static constexpr uint8_t kNops[9][9] = {
      {0x90},
      {0x66, 0x90},
      {0x0f, 0x1f, 0x00},
      {0x0f, 0x1f, 0x40, 0x00},
      {0x0f, 0x1f, 0x44, 0x00, 0x00},
      {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
      {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
      {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
      {0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
  };
  while (n) {
    const uint32_t m = std::min<uint32_t>(n, 9);
    std::memcpy(p, kNops[m - 1], m);
    p += m;
    n -= m;
  }
}

void Assembler::align(AlignMode, uint32_t alignment) { nop(uint32_t(-n_) & (alignment - 1)); }

// ---- operand encoding ----------------------------------------------------------

bool Assembler::fit(uint8_t size, int64_t& v) {
  switch (size) {
    case 8:
      if (is_int32(v)) return true;
      break;
    case 4:
      if (v >= INT32_MIN && v <= int64_t(UINT32_MAX)) {
        v = int32_t(uint32_t(v));
        return true;
      }
      break;
    case 2:
      if (v >= INT16_MIN && v <= int64_t(UINT16_MAX)) {
        v = int16_t(uint16_t(v));
        return true;
      }
      break;
    default:
      if (v >= INT8_MIN && v <= int64_t(UINT8_MAX)) {
        v = int8_t(uint8_t(v));
        return true;
      }
  }
  fail("immediate does not fit the operand");
  return false;
}

static uint8_t* opcode_bytes(uint8_t* p, uint32_t opcode, unsigned len) {
  for (unsigned k = 0; k < len; ++k) *p++ = uint8_t(opcode >> (8 * k));
  return p;
}

uint8_t* Assembler::rr(uint8_t* p, uint32_t opcode, unsigned opcode_len, uint8_t size, unsigned reg, unsigned rm,
                       bool byte_regs) {
  if (size == 2) *p++ = 0x66;
  const uint8_t rex = uint8_t((size == 8 ? 8 : 0) | (reg & 8 ? 4 : 0) | (rm & 8 ? 1 : 0));
  if (rex || byte_regs) *p++ = uint8_t(0x40 | rex);
  p = opcode_bytes(p, opcode, opcode_len);
  *p++ = uint8_t(0xc0 | (reg & 7) << 3 | (rm & 7));
  return p;
}

uint8_t* Assembler::rm(uint8_t* p, uint32_t opcode, unsigned opcode_len, uint8_t size, unsigned reg, const Mem& m,
                       unsigned imm_len, bool byte_reg) {
  if (lock_next_) {
    *p++ = 0xf0;
    lock_next_ = false;
  }
  if (m.segment == Segment::fs) *p++ = 0x64;
  if (size == 2) *p++ = 0x66;
  const bool has_base = m.base != Mem::kNone, has_index = m.index != Mem::kNone;
  const uint8_t rex = uint8_t((size == 8 ? 8 : 0) | (reg & 8 ? 4 : 0) | (has_index && (m.index & 8) ? 2 : 0) |
                              (has_base && (m.base & 8) ? 1 : 0));
  if (rex || byte_reg) *p++ = uint8_t(0x40 | rex);
  p = opcode_bytes(p, opcode, opcode_len);
  const unsigned r = (reg & 7) << 3;
  if (m.label != UINT32_MAX) {  // [rip + disp32]
    *p++ = uint8_t(r | 5);
    const uint32_t at = uint32_t(p - buf_.get());
    fixups_.push_back({at, m.label, at + 4 + imm_len, 4});
    return imm32(p, 0);
  }
  if (!has_base) {
    if (has_index) fail("memory operand with an index and no base");
    *p++ = uint8_t(r | 4);  // SIB: no index, no base: [disp32]
    *p++ = 0x25;
    return imm32(p, m.disp);
  }
  const unsigned b = m.base & 7;
  const unsigned mod = m.disp == 0 && b != 5 ? 0 : is_int8(m.disp) ? 1 : 2;
  if (!has_index && b != 4) {
    *p++ = uint8_t(mod << 6 | r | b);
  } else {
    if (has_index && m.index == 4) fail("rsp as an index");
    *p++ = uint8_t(mod << 6 | r | 4);
    *p++ = uint8_t((m.shift & 3) << 6 | (has_index ? (m.index & 7) : 4) << 3 | b);
  }
  if (mod == 1) *p++ = uint8_t(int8_t(m.disp));
  else if (mod == 2) p = imm32(p, m.disp);
  return p;
}

uint8_t* Assembler::vex(uint8_t* p, unsigned map, unsigned pp, bool w, unsigned reg, unsigned vvvv, unsigned rmr) {
  *p++ = 0xc4;
  *p++ = uint8_t((reg & 8 ? 0 : 0x80) | 0x40 | (rmr & 8 ? 0 : 0x20) | map);
  *p++ = uint8_t((w ? 0x80 : 0) | (~vvvv & 15) << 3 | pp);
  return p;
}

static uint8_t* put_imm(uint8_t* p, int64_t v, unsigned len) {
  switch (len) {
    case 1: *p++ = uint8_t(v); break;
    case 2: {
      const int16_t x = int16_t(v);
      std::memcpy(p, &x, 2);
      p += 2;
      break;
    }
    default: {
      const int32_t x = int32_t(v);
      std::memcpy(p, &x, 4);
      p += 4;
    }
  }
  return p;
}

// ---- instructions -------------------------------------------------------------

template <class Src>
void Assembler::dispatch(InstId id, const Gp& d, const Src& s) {
  switch (id) {
    case Inst::kIdAdd: return add(d, s);
    case Inst::kIdOr: return or_(d, s);
    case Inst::kIdAnd: return and_(d, s);
    case Inst::kIdSub: return sub(d, s);
    case Inst::kIdXor: return xor_(d, s);
    case Inst::kIdCmp: return cmp(d, s);
    case Inst::kIdMov: return mov(d, s);
    case Inst::kIdShl: return shl(d, s);
    case Inst::kIdShr: return shr(d, s);
    case Inst::kIdSar: return sar(d, s);
    case Inst::kIdRol: return rol(d, s);
    case Inst::kIdRor: return ror(d, s);
    default: return fail("emit of an unknown instruction");
  }
}

void Assembler::emit(InstId id, const Gp& d, const Gp& s) { dispatch(id, d, s); }
void Assembler::emit(InstId id, const Gp& d, Imm s) { dispatch(id, d, s); }

// add, or, and, sub, xor, cmp (/n): 00+8n r/m8,r8; 01+8n r/m,r; 02+8n r8,r/m8;
// 03+8n r,r/m; 04+8n al,imm8; 05+8n eax,imm32; 80 /n ib; 81 /n id; 83 /n ib.
void Assembler::alu_rr(unsigned n, const Gp& d, const Gp& s) {
  if (d.size() != s.size()) return fail("operands of different widths");
  uint8_t* p = room();
  done(rr(p, (n << 3) | (d.size() == 1 ? 0 : 1), 1, d.size(), s.id(), d.id(), rex_byte(d) || rex_byte(s)));
}

void Assembler::alu_ri(unsigned n, const Gp& d, int64_t v) {
  const int64_t given = v;
  if (!fit(d.size(), v)) return;
  // and r64 with a positive imm32 is and r32: the same bits, no REX.W.
  if (n == 4 && d.size() == 8 && given >= 0) return alu_ri(n, d.r32(), given);
  uint8_t* p = room();
  if (d.size() == 2) v = given;  // (a 16-bit imm8 is chosen by the value given, as asmjit does)
  if (d.size() == 1) {
    if (d.id() == 0) {
      *p++ = uint8_t((n << 3) | 4);
    } else {
      p = rr(p, 0x80, 1, 1, n, d.id(), rex_byte(d));
    }
    *p++ = uint8_t(v);
  } else if (is_int8(v)) {
    p = rr(p, 0x83, 1, d.size(), n, d.id(), false);
    *p++ = uint8_t(v);
  } else if (d.id() == 0) {
    if (d.size() == 2) *p++ = 0x66;
    if (d.size() == 8) *p++ = 0x48;
    *p++ = uint8_t((n << 3) | 5);
    p = put_imm(p, v, d.size() == 2 ? 2 : 4);
  } else {
    p = rr(p, 0x81, 1, d.size(), n, d.id(), false);
    p = put_imm(p, v, d.size() == 2 ? 2 : 4);
  }
  done(p);
}

void Assembler::alu_rm(unsigned n, const Gp& d, const Mem& s) {
  uint8_t* p = room();
  done(rm(p, (n << 3) | (d.size() == 1 ? 2 : 3), 1, d.size(), d.id(), s, 0, rex_byte(d)));
}

void Assembler::alu_mr(unsigned n, const Mem& d, const Gp& s) {
  if (lock_next_ && n == 7) {
    lock_next_ = false;
    return fail("lock prefix on cmp");
  }
  uint8_t* p = room();
  done(rm(p, (n << 3) | (s.size() == 1 ? 0 : 1), 1, s.size(), s.id(), d, 0, rex_byte(s)));
}

void Assembler::alu_mi(unsigned n, const Mem& d, int64_t v) {
  if (d.size == 0) return fail("memory operand without a width");
  if (!fit(d.size, v)) return;
  uint8_t* p = room();
  if (d.size == 1) {
    p = rm(p, 0x80, 1, 1, n, d, 1, false);
    *p++ = uint8_t(v);
  } else if (is_int8(v)) {
    p = rm(p, 0x83, 1, d.size, n, d, 1, false);
    *p++ = uint8_t(v);
  } else {
    const unsigned len = d.size == 2 ? 2 : 4;
    p = rm(p, 0x81, 1, d.size, n, d, len, false);
    p = put_imm(p, v, len);
  }
  done(p);
}

// rol, ror, shl, shr, sar (/n): D0/D1 /n by 1, C0/C1 /n ib, D2/D3 /n by cl.
void Assembler::shift_ri(unsigned n, const Gp& d, int64_t c) {
  uint8_t* p = room();
  const bool b = d.size() == 1;
  if (c == 1) {
    p = rr(p, b ? 0xd0 : 0xd1, 1, d.size(), n, d.id(), rex_byte(d));
  } else {
    p = rr(p, b ? 0xc0 : 0xc1, 1, d.size(), n, d.id(), rex_byte(d));
    *p++ = uint8_t(c);
  }
  done(p);
}

void Assembler::shift_rc(unsigned n, const Gp& d, const Gp& c) {
  if (c.id() != 1 || c.size() != 1) return fail("shift count register other than cl");
  uint8_t* p = room();
  done(rr(p, d.size() == 1 ? 0xd2 : 0xd3, 1, d.size(), n, d.id(), rex_byte(d)));
}

// mov: 88/89 r/m,r; 8A/8B r,r/m; B0+r ib; B8+r id/io; C6/C7 /0 r/m,imm.
void Assembler::mov(const Gp& d, const Gp& s) {
  if (d.size() != s.size()) return fail("operands of different widths");
  uint8_t* p = room();
  done(rr(p, d.size() == 1 ? 0x88 : 0x89, 1, d.size(), s.id(), d.id(), rex_byte(d) || rex_byte(s)));
}

void Assembler::mov(const Gp& d, Imm s) {
  int64_t v = s.v;
  uint8_t* p = room();
  const uint8_t b = d.id() & 7, rexb = d.id() & 8 ? 1 : 0;
  if (d.size() == 8) {
    if (uint64_t(v) <= UINT32_MAX) {  // mov r32, imm32 zero-extends
      if (rexb) *p++ = 0x41;
      *p++ = uint8_t(0xb8 | b);
      p = imm32(p, int32_t(uint32_t(v)));
    } else if (is_int32(v)) {
      p = rr(p, 0xc7, 1, 8, 0, d.id(), false);
      p = imm32(p, int32_t(v));
    } else {
      *p++ = uint8_t(0x48 | rexb);
      *p++ = uint8_t(0xb8 | b);
      std::memcpy(p, &v, 8);
      p += 8;
    }
    return done(p);
  }
  if (!fit(d.size(), v)) return;
  if (d.size() == 2) *p++ = 0x66;
  if (rexb || rex_byte(d)) *p++ = uint8_t(0x40 | rexb);
  *p++ = uint8_t((d.size() == 1 ? 0xb0 : 0xb8) | b);
  done(put_imm(p, v, d.size() == 4 ? 4 : d.size()));
}

void Assembler::movabs(const Gp& d, Imm s) {
  if (d.size() != 8) return fail("movabs of a register narrower than 64 bits");
  uint8_t* p = room();
  *p++ = uint8_t(0x48 | (d.id() & 8 ? 1 : 0));
  *p++ = uint8_t(0xb8 | (d.id() & 7));
  std::memcpy(p, &s.v, 8);
  done(p + 8);
}

void Assembler::mov(const Gp& d, const Mem& s) {
  uint8_t* p = room();
  done(rm(p, d.size() == 1 ? 0x8a : 0x8b, 1, d.size(), d.id(), s, 0, rex_byte(d)));
}

void Assembler::mov(const Mem& d, const Gp& s) {
  uint8_t* p = room();
  done(rm(p, s.size() == 1 ? 0x88 : 0x89, 1, s.size(), s.id(), d, 0, rex_byte(s)));
}

void Assembler::mov(const Mem& d, Imm s) {
  if (d.size == 0) return fail("memory operand without a width");
  int64_t v = s.v;
  if (!fit(d.size, v)) return;
  const unsigned len = d.size == 8 ? 4 : d.size;
  uint8_t* p = room();
  p = rm(p, d.size == 1 ? 0xc6 : 0xc7, 1, d.size, 0, d, len, false);
  done(put_imm(p, v, len));
}

// movzx 0F B6/B7, movsx 0F BE/BF, movsxd 63.
void Assembler::movzx(const Gp& d, const Gp& s) {
  uint8_t* p = room();
  done(rr(p, s.size() == 1 ? 0xb60f : 0xb70f, 2, d.size(), d.id(), s.id(), rex_byte(s)));
}
void Assembler::movzx(const Gp& d, const Mem& s) {
  uint8_t* p = room();
  done(rm(p, s.size == 1 ? 0xb60f : 0xb70f, 2, d.size(), d.id(), s, 0, false));
}
void Assembler::movsx(const Gp& d, const Gp& s) {
  uint8_t* p = room();
  done(rr(p, s.size() == 1 ? 0xbe0f : 0xbf0f, 2, d.size(), d.id(), s.id(), rex_byte(s)));
}
void Assembler::movsx(const Gp& d, const Mem& s) {
  uint8_t* p = room();
  done(rm(p, s.size == 1 ? 0xbe0f : 0xbf0f, 2, d.size(), d.id(), s, 0, false));
}
void Assembler::movsxd(const Gp& d, const Gp& s) {
  uint8_t* p = room();
  done(rr(p, 0x63, 1, 8, d.id(), s.id(), false));
}
void Assembler::movsxd(const Gp& d, const Mem& s) {
  uint8_t* p = room();
  done(rm(p, 0x63, 1, 8, d.id(), s, 0, false));
}

void Assembler::lea(const Gp& d, const Mem& s) {
  uint8_t* p = room();
  done(rm(p, 0x8d, 1, d.size(), d.id(), s, 0, false));
}

// test: 84/85 r/m,r; A8/A9 al/eax,imm; F6/F7 /0 r/m,imm.
void Assembler::test(const Gp& d, const Gp& s) {
  if (d.size() != s.size()) return fail("operands of different widths");
  uint8_t* p = room();
  done(rr(p, d.size() == 1 ? 0x84 : 0x85, 1, d.size(), s.id(), d.id(), rex_byte(d) || rex_byte(s)));
}

void Assembler::test(const Gp& d, Imm s) {
  int64_t v = s.v;
  if (!fit(d.size(), v)) return;
  uint8_t* p = room();
  const unsigned len = d.size() == 8 ? 4 : d.size();
  if (d.id() == 0) {
    if (d.size() == 2) *p++ = 0x66;
    if (d.size() == 8) *p++ = 0x48;
    *p++ = d.size() == 1 ? 0xa8 : 0xa9;
  } else {
    p = rr(p, d.size() == 1 ? 0xf6 : 0xf7, 1, d.size(), 0, d.id(), rex_byte(d));
  }
  done(put_imm(p, v, len));
}

// imul: 0F AF r,r/m; 6B r,r/m,ib; 69 r,r/m,id; F7 /5 (rdx:rax = rax * r/m).
void Assembler::imul(const Gp& d, const Gp& s) {
  uint8_t* p = room();
  done(rr(p, 0xaf0f, 2, d.size(), d.id(), s.id(), false));
}

void Assembler::imul(const Gp& d, const Gp& s, Imm c) {
  int64_t v = c.v;
  if (!fit(d.size(), v)) return;
  uint8_t* p = room();
  if (is_int8(c.v)) {
    p = rr(p, 0x6b, 1, d.size(), d.id(), s.id(), false);
    *p++ = uint8_t(v);
  } else {
    p = rr(p, 0x69, 1, d.size(), d.id(), s.id(), false);
    p = put_imm(p, v, d.size() == 2 ? 2 : 4);
  }
  done(p);
}

void Assembler::unary(unsigned n, const Gp& d) {
  uint8_t* p = room();
  done(rr(p, d.size() == 1 ? 0xf6 : 0xf7, 1, d.size(), n, d.id(), rex_byte(d)));
}

void Assembler::imul(const Gp& hi, const Gp& lo, const Gp& s) {
  if (hi.id() != 2 || lo.id() != 0) return fail("one-operand imul other than rdx:rax");
  unary(5, s);
}
void Assembler::div(const Gp& hi, const Gp& lo, const Gp& s) {
  if (hi.id() != 2 || lo.id() != 0) return fail("div other than rdx:rax");
  unary(6, s);
}
void Assembler::idiv(const Gp& hi, const Gp& lo, const Gp& s) {
  if (hi.id() != 2 || lo.id() != 0) return fail("idiv other than rdx:rax");
  unary(7, s);
}
void Assembler::neg(const Gp& d) { unary(3, d); }

void Assembler::bswap(const Gp& d) {
  uint8_t* p = room();
  const uint8_t rex = uint8_t((d.size() == 8 ? 8 : 0) | (d.id() & 8 ? 1 : 0));
  if (rex) *p++ = uint8_t(0x40 | rex);
  *p++ = 0x0f;
  *p++ = uint8_t(0xc8 | (d.id() & 7));
  done(p);
}

void Assembler::popcnt(const Gp& d, const Gp& s) {
  uint8_t* p = room();
  *p++ = 0xf3;  // mandatory prefix, before REX
  done(rr(p, 0xb80f, 2, d.size(), d.id(), s.id(), false));
}

void Assembler::cmov(CondCode cc, const Gp& d, const Gp& s) {
  uint8_t* p = room();
  done(rr(p, uint32_t(0x400f | uint32_t(cc) << 8), 2, d.size(), d.id(), s.id(), false));
}

// xchg: 90+r with the accumulator, 86/87 r/m,r (with memory: locked).
void Assembler::xchg(const Gp& a, const Gp& b) {
  if (a.size() != b.size()) return fail("operands of different widths");
  uint8_t* p = room();
  if (a.size() == 8 && a.id() == 0 && b.id() == 0) return byte1(0x90);  // xchg rax, rax: nop
  if (a.size() != 1 && (a.id() == 0 || b.id() == 0) && !(a.size() == 4 && a.id() == 0 && b.id() == 0)) {
    const Gp& r = a.id() == 0 ? b : a;
    if (a.size() == 2) *p++ = 0x66;
    const uint8_t rex = uint8_t((a.size() == 8 ? 8 : 0) | (r.id() & 8 ? 1 : 0));
    if (rex) *p++ = uint8_t(0x40 | rex);
    *p++ = uint8_t(0x90 | (r.id() & 7));
    return done(p);
  }
  done(rr(p, a.size() == 1 ? 0x86 : 0x87, 1, a.size(), b.id(), a.id(), rex_byte(a) || rex_byte(b)));
}

void Assembler::xchg(const Mem& m, const Gp& r) {
  uint8_t* p = room();
  done(this->rm(p, r.size() == 1 ? 0x86 : 0x87, 1, r.size(), r.id(), m, 0, rex_byte(r)));
}

void Assembler::xadd(const Mem& m, const Gp& r) {
  uint8_t* p = room();
  done(this->rm(p, r.size() == 1 ? 0xc00f : 0xc10f, 2, r.size(), r.id(), m, 0, rex_byte(r)));
}

void Assembler::cmpxchg(const Mem& m, const Gp& r, const Gp& acc) {
  if (acc.id() != 0) return fail("cmpxchg's accumulator other than rax");
  uint8_t* p = room();
  done(this->rm(p, r.size() == 1 ? 0xb00f : 0xb10f, 2, r.size(), r.id(), m, 0, rex_byte(r)));
}

// BMI2: VEX.LZ.F2.0F38.W F6 mulx; VEX.LZ.{66,F2,F3}.0F38.W F7 shlx/shrx/sarx;
// VEX.LZ.F2.0F3A.W F0 rorx.
void Assembler::mulx(const Gp& hi, const Gp& lo, const Gp& s) {
  uint8_t* p = vex(room(), 2, 3, hi.size() == 8, hi.id(), lo.id(), s.id());
  *p++ = 0xf6;
  *p++ = uint8_t(0xc0 | (hi.id() & 7) << 3 | (s.id() & 7));
  done(p);
}

void Assembler::vex_shift(uint8_t pp, const Gp& d, const Gp& s, const Gp& c) {
  const unsigned code = pp == 0x66 ? 1 : pp == 0xf3 ? 2 : 3;
  uint8_t* p = vex(room(), 2, code, d.size() == 8, d.id(), c.id(), s.id());
  *p++ = 0xf7;
  *p++ = uint8_t(0xc0 | (d.id() & 7) << 3 | (s.id() & 7));
  done(p);
}

void Assembler::rorx(const Gp& d, const Gp& s, Imm c) {
  uint8_t* p = vex(room(), 3, 3, d.size() == 8, d.id(), 0, s.id());
  *p++ = 0xf0;
  *p++ = uint8_t(0xc0 | (d.id() & 7) << 3 | (s.id() & 7));
  *p++ = uint8_t(c.v);
  done(p);
}

void Assembler::push(const Gp& r) {
  uint8_t* p = room();
  if (r.id() & 8) *p++ = 0x41;
  *p++ = uint8_t(0x50 | (r.id() & 7));
  done(p);
}

void Assembler::pop(const Gp& r) {
  uint8_t* p = room();
  if (r.id() & 8) *p++ = 0x41;
  *p++ = uint8_t(0x58 | (r.id() & 7));
  done(p);
}

// ---- control flow ------------------------------------------------------------

// call: FF /2 r/m; E8 rel32. jmp: FF /4 r/m; EB rel8; E9 rel32. jcc: 70+cc
// rel8; 0F 80+cc rel32.
void Assembler::call(const Gp& r) {
  uint8_t* p = room();
  done(rr(p, 0xff, 1, 4, 2, r.id(), false));
}

void Assembler::jmp(const Gp& r) {
  uint8_t* p = room();
  done(rr(p, 0xff, 1, 4, 4, r.id(), false));
}

void Assembler::call(Imm target) {
  uint8_t* p = room();
  if (far_calls_) {  // mov r11, imm64; call r11
    *p++ = 0x49;
    *p++ = 0xbb;
    std::memcpy(p, &target.v, 8);
    p += 8;
    *p++ = 0x41;
    *p++ = 0xff;
    *p++ = 0xd3;
    return done(p);
  }
  *p++ = 0xe8;
  calls_.push_back({uint32_t(p - buf_.get()), uint64_t(target.v)});
  done(imm32(p, 0));
}

void Assembler::call(const Label& l) {
  uint8_t* p = room();
  *p++ = 0xe8;
  const uint32_t at = uint32_t(p - buf_.get());
  fixups_.push_back({at, l.id, at + 4, 4});
  done(imm32(p, 0));
}

void Assembler::jmp(const Label& l) { jump(-1, l); }
void Assembler::j(CondCode cc, const Label& l) { jump(int(cc), l); }

void Assembler::jump(int cc, const Label& l) {
  const bool short_only = short_next_;
  short_next_ = false;
  if (l.id >= labels_.size()) return fail("jump to an unknown label");
  uint8_t* p = room();
  const int64_t here = int64_t(n_);
  if (labels_[l.id] >= 0) {  // backward: the shortest that reaches
    const int64_t d8 = labels_[l.id] - (here + 2);
    if (is_int8(d8)) {
      *p++ = cc < 0 ? 0xeb : uint8_t(0x70 | cc);
      *p++ = uint8_t(int8_t(d8));
      return done(p);
    }
    if (short_only) return fail("short jump out of rel8 reach");
    const int64_t d32 = labels_[l.id] - (here + (cc < 0 ? 5 : 6));
    if (cc < 0) *p++ = 0xe9;
    else {
      *p++ = 0x0f;
      *p++ = uint8_t(0x80 | cc);
    }
    return done(imm32(p, int32_t(d32)));
  }
  if (short_only) {
    *p++ = cc < 0 ? 0xeb : uint8_t(0x70 | cc);
    const uint32_t at = uint32_t(p - buf_.get());
    fixups_.push_back({at, l.id, at + 1, 1});
    *p++ = 0;
    return done(p);
  }
  if (cc < 0) *p++ = 0xe9;
  else {
    *p++ = 0x0f;
    *p++ = uint8_t(0x80 | cc);
  }
  const uint32_t at = uint32_t(p - buf_.get());
  fixups_.push_back({at, l.id, at + 4, 4});
  done(imm32(p, 0));
}

}  // namespace xbpf::jit::x86
