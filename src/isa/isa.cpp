#include "isa/isa.hpp"

#include <cstring>

namespace xbpf::isa {
namespace {

enum Field : uint8_t { kDst = 1, kSrc = 2, kOff = 4, kImm = 8 };

// Fields each form gives meaning to; every other field must be zero.
constexpr uint8_t used_fields(Form f) {
  switch (f) {
    case Form::AluImm: return kDst | kImm;
    case Form::AluReg: return kDst | kSrc;
    case Form::AluUnary: return kDst;
    case Form::Endian: return kDst;
    case Form::LoadImm64: return kDst | kImm;
    case Form::LoadAbs: return kImm;
    case Form::LoadInd: return kSrc | kImm;
    case Form::Load: return kDst | kSrc | kOff;
    case Form::StoreImm: return kDst | kOff | kImm;
    case Form::StoreReg: return kDst | kSrc | kOff;
    case Form::Atomic: return kDst | kSrc | kOff;
    case Form::Jump: return kOff;
    case Form::JumpLong: return kImm;
    case Form::JumpImm: return kDst | kOff | kImm;
    case Form::JumpReg: return kDst | kSrc | kOff;
    case Form::Call: return kImm;
    case Form::CallLocal: return kImm;
    case Form::CallKfunc: return kImm | kOff;
    case Form::CallReg: return kDst;
    case Form::Exit: return 0;
  }
  return 0;
}

constexpr uint8_t match_field(Match m) {
  switch (m) {
    case Match::None: return 0;
    case Match::Off: return kOff;
    case Match::Imm: return kImm;
    case Match::Src: return kSrc;
  }
  return 0;
}

// Registers written by an instruction (for the "frame pointer is read only" check).
bool writes_dst(const OpInfo& i) {
  switch (i.form) {
    case Form::AluImm: case Form::AluReg: case Form::AluUnary: case Form::Endian:
    case Form::LoadImm64: case Form::Load:
      return true;
    default:
      return false;
  }
}

constexpr size_t max_rows_per_code() {
  size_t best = 0;
  for (const OpInfo& a : kOpTable) {
    size_t n = 0;
    for (const OpInfo& b : kOpTable) n += a.code == b.code;
    best = n > best ? n : best;
  }
  return best;
}

// Rows of kOpTable grouped by opcode byte, built once.
struct CodeIndex {
  std::array<std::array<Op, max_rows_per_code()>, 256> ops{};
  std::array<uint8_t, 256> count{};
  CodeIndex() {
    for (const OpInfo& i : kOpTable) ops[i.code][count[i.code]++] = i.op;
  }
};
const CodeIndex& code_index() {
  static const CodeIndex idx;
  return idx;
}

int32_t field_value(const RawInsn& r, Match m) {
  switch (m) {
    case Match::Off: return r.off;
    case Match::Imm: return r.imm;
    case Match::Src: return r.src;
    case Match::None: return 0;
  }
  return 0;
}

}  // namespace

std::optional<Op> lookup(const RawInsn& raw) {
  const CodeIndex& idx = code_index();
  for (uint8_t k = 0; k < idx.count[raw.code]; ++k) {
    Op op = idx.ops[raw.code][k];
    const OpInfo& i = info(op);
    if (i.match == Match::None || field_value(raw, i.match) == i.match_value) return op;
  }
  return std::nullopt;
}

Expected<Insn> decode_one(std::span<const RawInsn> prog, size_t pc) {
  const RawInsn& r = prog[pc];
  auto op = lookup(r);
  if (!op) {
    if (code_index().count[r.code] == 0)
      return fail(Errc::invalid_program, "insn {}: unknown opcode {:#04x}", pc, r.code);
    const OpInfo& first = info(code_index().ops[r.code][0]);
    switch (first.match) {
      case Match::Off:
        return fail(Errc::invalid_program, "insn {}: opcode {:#04x} ({}) with invalid off {}", pc, r.code,
                    first.mnemonic, r.off);
      case Match::Imm:
        return fail(Errc::invalid_program, "insn {}: opcode {:#04x} ({}) with invalid imm {}{}", pc, r.code,
                    first.mnemonic, r.imm, first.form == Form::Endian ? " (byte swap width must be 16, 32 or 64)" : "");
      default:
        return fail(Errc::invalid_program, "insn {}: opcode {:#04x} ({}) with invalid src {}", pc, r.code,
                    first.mnemonic, unsigned(r.src));
    }
  }
  const OpInfo& i = info(*op);
  uint8_t used = used_fields(i.form) | match_field(i.match);
  if (!(used & kDst) && r.dst != 0)
    return fail(Errc::invalid_program, "insn {}: {} uses reserved dst field (r{})", pc, i.mnemonic, unsigned(r.dst));
  if (!(used & kSrc) && r.src != 0)
    return fail(Errc::invalid_program, "insn {}: {} uses reserved src field (r{})", pc, i.mnemonic, unsigned(r.src));
  // exit's off is not checked: the kernel's BPF_EXIT test reads its src,
  // dst, imm and class only, so programs with garbage there load on Linux.
  if (!(used & kOff) && r.off != 0 && i.form != Form::Exit)
    return fail(Errc::invalid_program, "insn {}: {} uses reserved off field ({})", pc, i.mnemonic, r.off);
  if (!(used & kImm) && r.imm != 0)
    return fail(Errc::invalid_program, "insn {}: {} uses reserved imm field ({})", pc, i.mnemonic, r.imm);
  if (r.dst > kMaxReg)
    return fail(Errc::invalid_program, "insn {}: invalid register r{}", pc, unsigned(r.dst));
  if ((used & kSrc) && i.match != Match::Src && r.src > kMaxReg)
    return fail(Errc::invalid_program, "insn {}: invalid register r{}", pc, unsigned(r.src));
  if (writes_dst(i) && r.dst == kFramePointer)
    return fail(Errc::invalid_program, "insn {}: frame pointer is read only", pc);
  if (i.form == Form::Atomic && r.src == kFramePointer &&
      (i.match_value & kAtomicFetch))  // fetch, xchg and cmpxchg write src (cmpxchg writes r0)
    if (!is_cmpxchg(*op))
      return fail(Errc::invalid_program, "insn {}: frame pointer is read only", pc);

  Insn insn{*op, r.dst, r.src, r.off, r.imm, 0, uint32_t(pc)};
  if (i.form == Form::LoadImm64) {
    if (pc + 1 >= prog.size())
      return fail(Errc::invalid_program, "insn {}: lddw is missing its second slot (program ends)", pc);
    const RawInsn& hi = prog[pc + 1];
    if (hi.code != 0 || hi.dst != 0 || hi.src != 0 || hi.off != 0)
      return fail(Errc::invalid_program, "insn {}: invalid second slot of lddw (code {:#04x})", pc + 1, hi.code);
    insn.imm64 = int64_t(uint64_t(uint32_t(r.imm)) | (uint64_t(uint32_t(hi.imm)) << 32));
  }
  return insn;
}

Expected<std::vector<Insn>> decode_program(std::span<const RawInsn> prog) {
  if (prog.empty()) return fail(Errc::invalid_program, "program is empty");
  std::vector<Insn> out;
  out.reserve(prog.size());
  std::vector<bool> is_tail(prog.size(), false);  // second slot of an lddw
  for (size_t pc = 0; pc < prog.size();) {
    auto insn = decode_one(prog, pc);
    if (!insn) return xbpf::unexpected(insn.error());
    int n = slot_count(insn->op);
    if (n == 2) is_tail[pc + 1] = true;
    out.push_back(*insn);
    pc += size_t(n);
  }
  for (const Insn& insn : out) {
    if (!has_target(insn.op)) continue;
    int64_t t = insn.target();
    Form f = info(insn.op).form;
    const char* what = f == Form::CallLocal ? "call" : insn.op == Op::LDDW_FUNC ? "function reference" : "jump";
    if (t < 0 || t >= int64_t(prog.size()))
      return fail(Errc::invalid_program, "insn {}: {} out of range to {} (program has {} insns)", insn.pc,
                  what, t, prog.size());
    if (is_tail[size_t(t)])
      return fail(Errc::invalid_program, "insn {}: {} into the middle of lddw at {}", insn.pc, what, t);
  }
  return out;
}

void encode(const Insn& insn, std::vector<RawInsn>& out) {
  const OpInfo& i = info(insn.op);
  RawInsn r{i.code, uint8_t(insn.dst & 0xf), uint8_t(insn.src & 0xf), insn.off, insn.imm};
  switch (i.match) {
    case Match::Off: r.off = int16_t(i.match_value); break;
    case Match::Imm: r.imm = i.match_value; break;
    case Match::Src: r.src = uint8_t(i.match_value); break;
    case Match::None: break;
  }
  if (i.form == Form::LoadImm64) {
    r.imm = int32_t(uint32_t(uint64_t(insn.imm64)));
    out.push_back(r);
    out.push_back(RawInsn{0, 0, 0, 0, int32_t(uint32_t(uint64_t(insn.imm64) >> 32))});
    return;
  }
  out.push_back(r);
}

std::vector<RawInsn> encode_program(std::span<const Insn> insns) {
  std::vector<RawInsn> out;
  out.reserve(insns.size() + 4);
  for (const Insn& i : insns) encode(i, out);
  return out;
}

Expected<std::vector<RawInsn>> from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() % sizeof(RawInsn) != 0)
    return fail(Errc::invalid_program, "bytecode size {} is not a multiple of 8 (truncated instruction)",
                bytes.size());
  std::vector<RawInsn> out(bytes.size() / sizeof(RawInsn));
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

std::vector<uint8_t> to_bytes(std::span<const RawInsn> prog) {
  std::vector<uint8_t> out(prog.size() * sizeof(RawInsn));
  if (!prog.empty()) std::memcpy(out.data(), prog.data(), out.size());
  return out;
}

RegUse reg_use(const Insn& i) {
  RegUse ru;
  auto u = [&](int r) { ru.reads |= uint16_t(1u << r); };
  auto d = [&](int r) { ru.writes |= uint16_t(1u << r); };
  const Form f = info(i.op).form;
  const bool mov = (info(i.op).code & 0xf0) == 0xb0;
  switch (f) {
    case Form::AluImm: if (!mov) u(i.dst); d(i.dst); break;
    case Form::AluReg: u(i.src); if (!mov) u(i.dst); d(i.dst); break;
    case Form::AluUnary: case Form::Endian: u(i.dst); d(i.dst); break;
    case Form::LoadImm64: d(i.dst); break;
    case Form::Load: u(i.src); d(i.dst); break;
    case Form::StoreImm: u(i.dst); break;
    case Form::StoreReg: u(i.dst); u(i.src); break;
    case Form::Atomic: u(i.dst); u(i.src); if (is_cmpxchg(i.op)) { u(0); d(0); } else if (i.imm & kAtomicFetch) d(i.src); break;
    case Form::LoadAbs: u(6); for (int r = 0; r <= 5; ++r) d(r); break;
    case Form::LoadInd: u(6); u(i.src); for (int r = 0; r <= 5; ++r) d(r); break;
    case Form::JumpImm: u(i.dst); break;
    case Form::JumpReg: u(i.dst); u(i.src); break;
    case Form::Call: case Form::CallLocal: case Form::CallKfunc: case Form::CallReg:
      for (int r = 1; r <= 5; ++r) u(r);
      for (int r = 0; r <= 5; ++r) d(r);
      if (f == Form::CallReg) u(i.dst);
      break;
    case Form::Exit: u(0); break;
    case Form::Jump: case Form::JumpLong: break;
  }
  return ru;
}

}  // namespace xbpf::isa
