// Instruction set of eBPF (RFC 9669 + Linux): raw encoding, the opcode table
// derived from opcodes.def, decoding, encoding and structural validation.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "isa/opcodes.def"
#include "support/error.hpp"

namespace xbpf::isa {

// One 8-byte instruction slot exactly as stored in ELF sections and passed to bpf(2).
struct RawInsn {
  uint8_t code;
  uint8_t dst : 4;
  uint8_t src : 4;
  int16_t off;
  int32_t imm;
  bool operator==(const RawInsn&) const = default;
};
static_assert(sizeof(RawInsn) == 8);

enum class Op : uint8_t {
#define XBPF_X(name, ...) name,
  XBPF_OPCODES(XBPF_X)
#undef XBPF_X
};

inline constexpr size_t kNumOps = 0
#define XBPF_X(...) +1
    XBPF_OPCODES(XBPF_X)
#undef XBPF_X
    ;

// Which field, besides the opcode byte, identifies an operation.
enum class Match : uint8_t { None, Off, Imm, Src };

// Operand shape. Decides which fields are meaningful (the others must be zero),
// and how the assembler and disassembler spell the instruction.
enum class Form : uint8_t {
  AluImm,     // dst op= imm
  AluReg,     // dst op= src (also movsx: off selects the width)
  AluUnary,   // dst = -dst
  Endian,     // dst = le/be/bswap(dst), width in imm
  LoadImm64,  // dst = imm64 (two slots); src selects the pseudo kind
  LoadAbs,    // r0 = packet[imm] (legacy)
  LoadInd,    // r0 = packet[src + imm] (legacy)
  Load,       // dst = *(size *)(src + off)
  StoreImm,   // *(size *)(dst + off) = imm
  StoreReg,   // *(size *)(dst + off) = src
  Atomic,     // atomic op on *(size *)(dst + off) with src; imm selects the op
  Jump,       // goto pc + 1 + off
  JumpLong,   // goto pc + 1 + imm (gotol)
  JumpImm,    // if dst cmp imm goto pc + 1 + off
  JumpReg,    // if dst cmp src goto pc + 1 + off
  Call,       // helper call, imm = helper id
  CallLocal,  // bpf-to-bpf call, imm = pc-relative target
  CallKfunc,  // kernel function call, imm = BTF id, off = module index
  CallReg,    // callx: target in dst register
  Exit,
};

// BPF_FETCH in an atomic instruction's imm (Form::Atomic; the imm values
// are opcodes.def's): the old memory value goes to src -- xchg included --
// except for cmpxchg (is_cmpxchg), which compares with r0 and leaves it there.
inline constexpr int32_t kAtomicFetch = 0x01;
inline bool is_cmpxchg(Op op) { return op == Op::ATOMIC_CMPXCHG64 || op == Op::ATOMIC_CMPXCHG32; }

struct OpInfo {
  Op op;
  std::string_view name;      // "ADD64_IMM"
  uint8_t code;
  Match match;
  int32_t match_value;
  Form form;
  std::string_view mnemonic;  // conformance-style
  std::string_view symbol;    // kernel-style operator
  uint8_t isa_version;
};

inline constexpr std::array<OpInfo, kNumOps> kOpTable = {{
#define XBPF_X(name, code, match, mv, form, mn, sym, isa) \
  {Op::name, #name, code, Match::match, mv, Form::form, mn, sym, isa},
    XBPF_OPCODES(XBPF_X)
#undef XBPF_X
}};

[[nodiscard]] constexpr const OpInfo& info(Op op) { return kOpTable[static_cast<size_t>(op)]; }

// The two fields of OpInfo that hot loops read (the JIT's analysis and
// lowering, the verifier), packed: 2 bytes an operation instead of 80, so
// the whole table fits a few cache lines.
struct OpBrief {
  uint8_t code;
  Form form;
};
// f(row) for every row of kOpTable, indexed by Op: per-operation tables of
// what hot loops would otherwise compute from the row (at compile time).
template <class F>
consteval auto per_op(F f) {
  std::array<decltype(f(kOpTable[0])), kNumOps> t{};
  for (size_t k = 0; k < kNumOps; ++k) t[k] = f(kOpTable[k]);
  return t;
}
inline constexpr auto kOpBriefs = per_op([](const OpInfo& i) { return OpBrief{i.code, i.form}; });
[[nodiscard]] constexpr OpBrief brief(Op op) { return kOpBriefs[static_cast<size_t>(op)]; }
[[nodiscard]] constexpr Form form(Op op) { return kOpBriefs[static_cast<size_t>(op)].form; }

// Opcode byte helpers (RFC 9669 field layout).
enum : uint8_t {
  kClassLd = 0x00, kClassLdx = 0x01, kClassSt = 0x02, kClassStx = 0x03,
  kClassAlu = 0x04, kClassJmp = 0x05, kClassJmp32 = 0x06, kClassAlu64 = 0x07,
};
[[nodiscard]] constexpr uint8_t op_class(uint8_t code) { return code & 0x07; }
// Size in bytes of a memory access (LD/LDX/ST/STX classes).
[[nodiscard]] constexpr unsigned mem_size(uint8_t code) {
  constexpr unsigned sizes[4] = {4, 2, 1, 8};
  return sizes[(code >> 3) & 3];
}
// True when the operation works on the low 32 bits (ALU class or JMP32 class).
[[nodiscard]] constexpr bool is_32bit(Op op) {
  const OpBrief i = brief(op);
  uint8_t c = op_class(i.code);
  if (i.form == Form::Atomic) return i.code == 0xc3;
  if (i.form == Form::Endian) return false;  // width comes from imm (le64/be64 are 64-bit)
  return c == kClassAlu || (c == kClassJmp32 && i.form != Form::JumpLong);
}
[[nodiscard]] constexpr int slot_count(Op op) { return form(op) == Form::LoadImm64 ? 2 : 1; }
// Instructions that name another instruction: jumps, local calls, `lddw func`.
[[nodiscard]] constexpr bool has_target(Op op) {
  Form f = form(op);
  return f == Form::Jump || f == Form::JumpLong || f == Form::JumpImm || f == Form::JumpReg ||
         f == Form::CallLocal || op == Op::LDDW_FUNC;
}
[[nodiscard]] constexpr bool is_jump(Op op) {
  Form f = form(op);
  return f == Form::Jump || f == Form::JumpLong || f == Form::JumpImm || f == Form::JumpReg;
}

inline constexpr uint8_t kMaxReg = 10;  // r0..r10; r10 is the read-only frame pointer
inline constexpr uint8_t kFramePointer = 10;

// A decoded instruction. `pc` is the index of its first slot in the program.
struct Insn {
  Op op{};
  uint8_t dst = 0;
  uint8_t src = 0;
  int16_t off = 0;
  int32_t imm = 0;      // for LoadImm64: low 32 bits; see imm64
  int64_t imm64 = 0;    // LoadImm64 only: the full 64-bit immediate (high word from slot 2)
  uint32_t pc = 0;
  bool operator==(const Insn&) const = default;

  // Target slot of a jump or local call (pc + 1 + off/imm).
  [[nodiscard]] int64_t target() const {
    Form f = form(op);
    int64_t rel = (f == Form::JumpLong || f == Form::CallLocal || op == Op::LDDW_FUNC) ? imm : off;
    return int64_t(pc) + 1 + rel;
  }
};

// Registers an instruction reads and writes, as bits (r0 = bit 0), by the
// ISA's rules for verified code: calls read r1-r5 (callx its target too)
// and leave r0-r5 written (r1-r5 undefined); legacy packet loads read r6
// (and src) and write r0-r5 the same way; atomics read r0 and write it for
// cmpxchg, write src when they fetch. Liveness (the verifier's pruning, the
// JIT's idioms) is built on it.
struct RegUse {
  uint16_t reads = 0;
  uint16_t writes = 0;
};
[[nodiscard]] RegUse reg_use(const Insn& i);

// Finds the operation a raw slot encodes, or nullopt if no table row matches.
[[nodiscard]] std::optional<Op> lookup(const RawInsn& raw);

// Decodes one instruction at `pc` (two slots for lddw) and checks its
// encoding: known opcode, reserved fields zero, registers in range, r10 not
// written. Does not check jump targets (see decode_program).
[[nodiscard]] Expected<Insn> decode_one(std::span<const RawInsn> prog, size_t pc);

// Decodes and validates a whole program: every instruction as decode_one,
// jump and call targets inside the program and not in the middle of an lddw.
// Errors name the instruction index and the reason.
[[nodiscard]] Expected<std::vector<Insn>> decode_program(std::span<const RawInsn> prog);

// Encodes an instruction (1 or 2 slots) and appends it to `out`.
void encode(const Insn& insn, std::vector<RawInsn>& out);
[[nodiscard]] std::vector<RawInsn> encode_program(std::span<const Insn> insns);

// Reinterprets little-endian bytes as instruction slots; size must be a multiple of 8.
[[nodiscard]] Expected<std::vector<RawInsn>> from_bytes(std::span<const uint8_t> bytes);
[[nodiscard]] std::vector<uint8_t> to_bytes(std::span<const RawInsn> prog);

}  // namespace xbpf::isa
