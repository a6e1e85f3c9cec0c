// xbpf's x86-64 encoder: the instructions the JIT emits, encoded from their
// operands (prefixes, REX, VEX, ModRM, SIB, displacement, immediate) rather
// than written as bytes by the lowering. Internal to src/jit.
//
// Its interface names instructions and operands as Intel's manual (and the
// assemblers that follow it) do, so the lowering reads as assembly: `mov(d,
// qword_ptr(s, off))`, `j(CondCode::kNE, label)`. Every form it encodes is
// checked byte for byte against asmjit's in tests/x86_asm_test.cpp; it
// replaced asmjit in the compile path because asmjit's generic `_emit` took
// 40-55 ns per instruction on the benchmark machine, over half of the
// 100 us per 1,000 BPF instructions issue 6 allows a whole compile
// (docs/benchmarks.md). The choices of encoding are the shortest ones, as
// asmjit's kOptimizeForSize makes them:
//   mov r64, imm   -> mov r32, imm32 when imm < 2^32, else the sign-extended
//                     imm32 form, else movabs
//   ALU r, imm     -> imm8 when it fits, else the accumulator's short form
//                     (rax/eax) or imm32
//   jmp/jcc label  -> rel8 when the label is bound and in reach, or when
//                     short_() says so (an error at finish() if it was not
//                     in reach), else rel32
//   call imm       -> call rel32 (asmjit's is 6 bytes: a REX that does
//                     nothing, room for its address-table fallback),
//                     resolved by relocate(); a target out of
//                     reach is an error there unless far_calls() was set
//                     (then `mov r11, imm64; call r11`: r11 is caller-saved
//                     and never an argument)
// Errors (an operand the form does not take, an immediate that does not fit,
// a rel8 out of reach) are recorded, not thrown: the first is kept and every
// later instruction still emits, so offsets stay meaningful.
#pragma once

#include <concepts>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace xbpf::jit {

// A code position to jump to, made by Assembler::newLabel() and bound once.
struct Label {
  uint32_t id = UINT32_MAX;
  bool isValid() const { return id != UINT32_MAX; }
};

// An immediate operand: any integer, kept as its 64-bit value (an unsigned
// 32-bit value stays positive).
struct Imm {
  int64_t v = 0;
  template <std::integral T>
  constexpr Imm(T x) : v(int64_t(x)) {}
  constexpr int64_t value() const { return v; }
};

enum class AlignMode : uint8_t { kCode };
using InstId = uint8_t;

namespace x86 {

// A general-purpose register: its number (0-15, Intel's order) and width in
// bytes (1, 2, 4, 8). 8-bit registers 4-7 are spl, bpl, sil, dil (a REX).
class Gp {
 public:
  constexpr Gp() = default;
  constexpr Gp(uint8_t id, uint8_t size) : id_(id), size_(size) {}
  constexpr uint8_t id() const { return id_; }
  constexpr uint8_t size() const { return size_; }
  constexpr Gp r64() const { return {id_, 8}; }
  constexpr Gp r32() const { return {id_, 4}; }
  constexpr Gp r16() const { return {id_, 2}; }
  constexpr Gp r8() const { return {id_, 1}; }
  constexpr bool operator==(const Gp&) const = default;

 private:
  uint8_t id_ = 0;
  uint8_t size_ = 8;
};

inline constexpr Gp rax{0, 8}, rcx{1, 8}, rdx{2, 8}, rbx{3, 8}, rsp{4, 8}, rbp{5, 8}, rsi{6, 8}, rdi{7, 8};
inline constexpr Gp r8{8, 8}, r9{9, 8}, r10{10, 8}, r11{11, 8}, r12{12, 8}, r13{13, 8}, r14{14, 8}, r15{15, 8};
inline constexpr Gp eax{0, 4}, ecx{1, 4}, edx{2, 4}, ebx{3, 4}, edi{7, 4};
inline constexpr Gp ax{0, 2};
inline constexpr Gp cl{1, 1};

enum class Segment : uint8_t { none, fs };
inline constexpr Segment fs = Segment::fs;

// A memory operand: [base + index << shift + disp] of `size` bytes (0: the
// register operand's), or [rip + label] (a label's address), or [disp]
// (no base, no index: absolute, with a segment to be useful).
class Mem {
 public:
  static constexpr uint8_t kNone = 0xff;
  uint8_t base = kNone, index = kNone, shift = 0, size = 0;
  Segment segment = Segment::none;
  int32_t disp = 0;
  uint32_t label = UINT32_MAX;  // rip-relative to this label
  void setSegment(Segment s) { segment = s; }
};

inline Mem ptr(const Gp& b, int32_t disp = 0, uint8_t size = 0) {
  Mem m;
  m.base = b.id();
  m.disp = disp;
  m.size = size;
  return m;
}
inline Mem ptr(const Gp& b, const Gp& index, uint32_t shift = 0, int32_t disp = 0, uint8_t size = 0) {
  Mem m = ptr(b, disp, size);
  m.index = index.id();
  m.shift = uint8_t(shift);
  return m;
}
inline Mem ptr(const Label& l) {
  Mem m;
  m.label = l.id;
  return m;
}
inline Mem qword_ptr(const Gp& b, int32_t disp = 0) { return ptr(b, disp, 8); }
inline Mem dword_ptr(const Gp& b, int32_t disp = 0) { return ptr(b, disp, 4); }
inline Mem word_ptr(const Gp& b, int32_t disp = 0) { return ptr(b, disp, 2); }
inline Mem byte_ptr(const Gp& b, int32_t disp = 0) { return ptr(b, disp, 1); }
inline Mem dword_ptr(const Gp& b, const Gp& index) { return ptr(b, index, 0, 0, 4); }
inline Mem word_ptr(const Gp& b, const Gp& index) { return ptr(b, index, 0, 0, 2); }
inline Mem byte_ptr(const Gp& b, const Gp& index) { return ptr(b, index, 0, 0, 1); }
inline Mem qword_ptr_abs(int32_t addr) {
  Mem m;
  m.disp = addr;
  m.size = 8;
  return m;
}

// Condition codes by their encoding (the low nibble of jcc, cmovcc).
enum class CondCode : uint8_t {
  kO = 0, kNO, kB, kAE, kE, kNE, kBE, kA, kS, kNS, kP, kNP, kL, kGE, kLE, kG,
  kZ = kE, kNZ = kNE,
};
constexpr CondCode negateCond(CondCode c) { return CondCode(uint8_t(c) ^ 1); }

// Two-operand instructions emit(id, dst, src) takes (the lowering picks
// them from BPF opcodes).
namespace Inst {
enum : InstId { kIdNone = 0, kIdAdd, kIdOr, kIdAnd, kIdSub, kIdXor, kIdCmp, kIdMov, kIdShl, kIdShr, kIdSar, kIdRol, kIdRor };
}

// What the host CPU offers beyond x86-64's baseline (CPUID).
struct HostFeatures {
  bool bmi2 = false;    // leaf 7 EBX bit 8: mulx, shlx, shrx, sarx, rorx
  bool popcnt = false;  // leaf 1 ECX bit 23
};
const HostFeatures& host_features();

class Assembler {
 public:
  Assembler() { grow(4096); }

  // ---- buffer, labels, result ------------------------------------------------
  // Empties the assembler (its buffers keep their capacity): labels, code,
  // fixups, relocations, the error.
  void reset();
  void reserve(size_t bytes) {
    if (cap_ < bytes) grow(bytes);
  }
  size_t offset() const { return n_; }
  Label newLabel() {
    labels_.push_back(-1);
    return Label{uint32_t(labels_.size() - 1)};
  }
  void bind(const Label& l);
  int64_t labelOffset(const Label& l) const { return labels_[l.id]; }
  // Resolves the jumps to labels bound after them; false (see error()) if
  // one is unbound or a rel8 one out of reach.
  bool finish();
  // The code for address `base`, call targets resolved into `out`
  // (size() bytes); false (see error()) if a target is out of rel32 reach.
  bool relocate(uint64_t base, uint8_t* out);
  std::span<const uint8_t> code() const { return {buf_.get(), n_}; }
  size_t size() const { return n_; }
  bool has_calls() const { return !calls_.empty(); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  void far_calls(bool on) { far_calls_ = on; }

  // ---- prefixes of the next instruction ------------------------------------
  Assembler& short_() {
    short_next_ = true;
    return *this;
  }
  Assembler& lock() {
    lock_next_ = true;
    return *this;
  }

  // ---- data, padding ----------------------------------------------------------
  void embed(const void* data, size_t n);
  void align(AlignMode, uint32_t alignment);
  void nop(uint32_t n);  // exactly n bytes of multi-byte nops

  // ---- instructions -------------------------------------------------------
  void emit(InstId id, const Gp& d, const Gp& s);
  void emit(InstId id, const Gp& d, Imm s);
  // add, or, and, sub, xor, cmp by their ModRM digit (/0 /1 /4 /5 /6 /7): no
  // dispatch on an InstId.
  void arith(unsigned digit, const Gp& d, const Gp& s) { alu_rr(digit, d, s); }
  void arith(unsigned digit, const Gp& d, Imm s) { alu_ri(digit, d, s.v); }

#define XBPF_X86_ALU(name, n)                                   \
  void name(const Gp& d, const Gp& s) { alu_rr(n, d, s); }      \
  void name(const Gp& d, Imm s) { alu_ri(n, d, s.v); }          \
  void name(const Gp& d, const Mem& s) { alu_rm(n, d, s); }     \
  void name(const Mem& d, const Gp& s) { alu_mr(n, d, s); }     \
  void name(const Mem& d, Imm s) { alu_mi(n, d, s.v); }
  XBPF_X86_ALU(add, 0)
  XBPF_X86_ALU(or_, 1)
  XBPF_X86_ALU(and_, 4)
  XBPF_X86_ALU(sub, 5)
  XBPF_X86_ALU(xor_, 6)
  XBPF_X86_ALU(cmp, 7)
#undef XBPF_X86_ALU

#define XBPF_X86_SHIFT(name, n)                             \
  void name(const Gp& d, Imm c) { shift_ri(n, d, c.v); }    \
  void name(const Gp& d, const Gp& c) { shift_rc(n, d, c); }
  XBPF_X86_SHIFT(rol, 0)
  XBPF_X86_SHIFT(ror, 1)
  XBPF_X86_SHIFT(shl, 4)
  XBPF_X86_SHIFT(shr, 5)
  XBPF_X86_SHIFT(sar, 7)
#undef XBPF_X86_SHIFT

  void mov(const Gp& d, const Gp& s);
  void mov(const Gp& d, Imm s);
  void mov(const Gp& d, const Mem& s);
  void mov(const Mem& d, const Gp& s);
  void mov(const Mem& d, Imm s);
  void movabs(const Gp& d, Imm s);
  void movzx(const Gp& d, const Gp& s);
  void movzx(const Gp& d, const Mem& s);
  void movsx(const Gp& d, const Gp& s);
  void movsx(const Gp& d, const Mem& s);
  void movsxd(const Gp& d, const Gp& s);
  void movsxd(const Gp& d, const Mem& s);
  void lea(const Gp& d, const Mem& s);
  void test(const Gp& d, const Gp& s);
  void test(const Gp& d, Imm s);
  void imul(const Gp& d, const Gp& s);                 // d *= s
  void imul(const Gp& d, const Gp& s, Imm c);          // d = s * c
  void imul(const Gp& hi, const Gp& lo, const Gp& s);  // rdx:rax = rax * s (one operand)
  void div(const Gp& hi, const Gp& lo, const Gp& s);   // rdx:rax / s, unsigned
  void idiv(const Gp& hi, const Gp& lo, const Gp& s);  // signed
  void neg(const Gp& d);
  void bswap(const Gp& d);
  void popcnt(const Gp& d, const Gp& s);
  void cmov(CondCode cc, const Gp& d, const Gp& s);
  void xchg(const Gp& a, const Gp& b);
  void xchg(const Mem& m, const Gp& r);
  void xadd(const Mem& m, const Gp& r);
  void cmpxchg(const Mem& m, const Gp& r, const Gp& acc);  // acc: rax/eax (implicit)
  // BMI2 (VEX): hi:lo = rdx * s; d = s shifted/rotated.
  void mulx(const Gp& hi, const Gp& lo, const Gp& s);
  void shlx(const Gp& d, const Gp& s, const Gp& c) { vex_shift(0x66, d, s, c); }
  void shrx(const Gp& d, const Gp& s, const Gp& c) { vex_shift(0xf2, d, s, c); }
  void sarx(const Gp& d, const Gp& s, const Gp& c) { vex_shift(0xf3, d, s, c); }
  void rorx(const Gp& d, const Gp& s, Imm c);
  void push(const Gp& r);
  void pop(const Gp& r);
  void ret() { byte1(0xc3); }
  void leave() { byte1(0xc9); }
  void int3() { byte1(0xcc); }
  void cqo() { byte2(0x48, 0x99); }
  void cdq() { byte1(0x99); }
  void cqo(const Gp&, const Gp&) { cqo(); }  // rdx:rax = sign-extended rax
  void cdq(const Gp&, const Gp&) { cdq(); }

  void call(const Gp& r);
  void call(Imm target);  // an absolute address (relocate())
  void call(const Label& l);
  void jmp(const Gp& r);
  void jmp(const Label& l);
  void j(CondCode cc, const Label& l);
  void ja(const Label& l) { j(CondCode::kA, l); }
  void jae(const Label& l) { j(CondCode::kAE, l); }
  void jb(const Label& l) { j(CondCode::kB, l); }
  void je(const Label& l) { j(CondCode::kE, l); }
  void jz(const Label& l) { j(CondCode::kE, l); }
  void jne(const Label& l) { j(CondCode::kNE, l); }
  void js(const Label& l) { j(CondCode::kS, l); }

 private:
  struct Fixup {
    uint32_t at;     // the displacement's offset
    uint32_t label;
    uint32_t end;    // offset the displacement counts from (the instruction's end)
    uint8_t width;   // 1 or 4
  };
  struct Call {
    uint32_t at;  // the rel32's offset
    uint64_t target;
  };

  // Room for one more instruction (the longest is 15 bytes).
  uint8_t* room() {
    if (cap_ - n_ < 32) [[unlikely]]
      grow(cap_ * 2 + 64);
    return buf_.get() + n_;
  }
  void done(uint8_t* p) { n_ = size_t(p - buf_.get()); }
  // At least `bytes` of capacity, the code kept; the rest is not
  // initialised (every byte up to n_ is written before it is read).
  [[gnu::noinline]] void grow(size_t bytes);
  void byte1(uint8_t b) {
    uint8_t* p = room();
    *p++ = b;
    done(p);
  }
  void byte2(uint8_t a, uint8_t b) {
    uint8_t* p = room();
    *p++ = a;
    *p++ = b;
    done(p);
  }
  [[gnu::cold, gnu::noinline]] void fail(const char* what);

  // [66] [REX] opcode (1-3 bytes, first in the low byte) ModRM for a
  // register operand (`reg` the ModRM.reg field's register or /digit, `rm`
  // the r/m register) of `size` bytes; returns where the immediate goes.
  uint8_t* rr(uint8_t* p, uint32_t opcode, unsigned opcode_len, uint8_t size, unsigned reg, unsigned rm, bool byte_regs);
  // The same with a memory r/m operand; `imm_len` bytes follow (for the
  // rip-relative displacement's end).
  uint8_t* rm(uint8_t* p, uint32_t opcode, unsigned opcode_len, uint8_t size, unsigned reg, const Mem& m, unsigned imm_len,
              bool byte_reg);
  uint8_t* prefixes(uint8_t* p, uint8_t size, const Mem* m);
  static uint8_t* imm32(uint8_t* p, int32_t v) {
    std::memcpy(p, &v, 4);
    return p + 4;
  }

  void alu_rr(unsigned n, const Gp& d, const Gp& s);
  void alu_ri(unsigned n, const Gp& d, int64_t v);
  void alu_rm(unsigned n, const Gp& d, const Mem& s);
  void alu_mr(unsigned n, const Mem& d, const Gp& s);
  void alu_mi(unsigned n, const Mem& d, int64_t v);
  void shift_ri(unsigned n, const Gp& d, int64_t c);
  void shift_rc(unsigned n, const Gp& d, const Gp& c);
  void unary(unsigned n, const Gp& d);  // F7 /n
  void vex_shift(uint8_t pp, const Gp& d, const Gp& s, const Gp& c);
  uint8_t* vex(uint8_t* p, unsigned map, unsigned pp, bool w, unsigned reg, unsigned vvvv, unsigned rm);
  // An immediate of `size` bytes' operand as the instruction takes it
  // (truncated to 32 bits for 32-bit operands); false (recorded) if it does
  // not fit the sign-extended imm32 of a 64-bit one.
  bool fit(uint8_t size, int64_t& v);
  void jump(int cc, const Label& l);  // cc < 0: jmp
  template <class Src>
  void dispatch(InstId id, const Gp& d, const Src& s);  // emit()'s (x86_asm.cpp)

  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
  size_t n_ = 0;
  std::vector<int64_t> labels_;  // offset, -1: unbound
  std::vector<Fixup> fixups_;
  std::vector<Call> calls_;
  std::string error_;
  bool short_next_ = false;
  bool lock_next_ = false;
  bool far_calls_ = false;
};

}  // namespace x86
}  // namespace xbpf::jit
