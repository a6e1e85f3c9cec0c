// ALU and jump instructions: scalar arithmetic through the scalar domain,
// pointer arithmetic with the kernel's rules, branch pruning and refinement
// (scalar ranges, null checks, packet ranges).
#include "verifier/checker.hpp"

namespace xbpf::verifier::detail {
namespace {

using isa::Form;
using isa::Insn;
using isa::Op;

constexpr int64_t kMaxPtrOff = int64_t{1} << 29;  // BPF_MAX_VAR_OFF

AluOp alu_op(const Insn& i) { return static_cast<AluOp>(isa::info(i.op).code & 0xf0); }
JmpOp jmp_op(const Insn& i) { return static_cast<JmpOp>(isa::info(i.op).code & 0xf0); }
bool is_alu64(const Insn& i) { return (isa::info(i.op).code & 0x07) == 0x07; }
bool is_jmp32(const Insn& i) { return (isa::info(i.op).code & 0x07) == 0x06; }

std::string_view op_text(AluOp op) {
  switch (op) {
    case AluOp::Add: return "+=";
    case AluOp::Sub: return "-=";
    case AluOp::Mul: return "*=";
    case AluOp::Div: return "/=";
    case AluOp::Mod: return "%=";
    case AluOp::Or: return "|=";
    case AluOp::And: return "&=";
    case AluOp::Xor: return "^=";
    case AluOp::Lsh: return "<<=";
    case AluOp::Rsh: return ">>=";
    case AluOp::Arsh: return "s>>=";
    default: return "?";
  }
}

// Copies a refined scalar to every register that shares its id (the
// kernel's find_equal_scalars): `r1 = r2; if r2 < 10` bounds r1 too.
void propagate_scalar(Checker& c, State& s, const RegState& r) {
  if (r.type != RegType::Scalar || r.id == 0) return;
  c.for_each_reg(s, [&](RegState& x) {
    if (x.type == RegType::Scalar && x.id == r.id) x.var = r.var;
  });
}

}  // namespace

void Checker::record_linked(const State& s, const RegState& r) {
  if (r.type != RegType::Scalar || r.id == 0) return;
  std::vector<uint16_t>& out = trace_.linked;
  const size_t start = out.size();
  for (size_t f = 0; f < s.frames.size(); ++f) {
    const Frame& fr = s.frames[f];
    for (int k = 0; k < 11; ++k)
      if (fr.regs[k].type == RegType::Scalar && fr.regs[k].id == r.id) out.push_back(static_cast<uint16_t>(f << 7 | k));
    for (int k = 0; k < kStackSlots; ++k) {
      const StackSlot& sl = fr.slot(k);
      if (sl.bytes[0] == SlotType::Spill && sl.spilled.type == RegType::Scalar && sl.spilled.id == r.id)
        out.push_back(static_cast<uint16_t>(f << 7 | (64 + k)));
    }
  }
  if (out.size() - start < 2) out.resize(start);
  else out.push_back(StepTrace::kGroupEnd);
}

// Unprivileged programs (!bypass_spec_v1): a register offset must not have
// mixed signed bounds and may only move stack and map value pointers
// (sanitize_ptr_alu); `ptr_regno` / `off_regno` name the operands.
static BasicExpected<void, Reject> sanitize_operands(const RegState& ptr, const Scalar& k, int ptr_regno,
                                                     int off_regno) {
  constexpr const char* kWhy = "pointer arithmetic with it prohibited for !root";
  if (!k.is_const() && (k.smin < 0) != (k.smax < 0))
    return Unexpected<Reject>(reject("R{} has unknown scalar with mixed signed bounds, {}", off_regno, kWhy));
  if (ptr.type != RegType::PtrToStack && ptr.type != RegType::PtrToMapValue)
    return Unexpected<Reject>(reject("R{} has pointer with unsupported alu operation, {}", ptr_regno, kWhy));
  return {};
}

// Unprivileged programs: the moved pointer must stay inside its object
// (sanitize_check_bounds), so that later accesses can be masked.
static BasicExpected<void, Reject> sanitize_result(const RegState& r, int regno) {
  if (r.type == RegType::PtrToStack) {
    if (!r.var.is_const())
      return Unexpected<Reject>(reject("R{} variable stack access prohibited for !root, var_off={} off={}", regno,
                                       r.var.var.to_string(), r.off));
    const int64_t off = r.off + static_cast<int64_t>(r.var.const_value());
    if (off >= 0 || off < -kStackSize)
      return Unexpected<Reject>(
          reject("R{} stack pointer arithmetic goes out of range, prohibited for !root; off={}", regno, off));
  } else if (r.type == RegType::PtrToMapValue) {
    const int64_t size = r.map->value_size;
    const bool in = r.var.umax < static_cast<uint64_t>(kMaxPtrOff) && r.var.smin + r.off >= 0 &&
                    r.var.smin + r.off + 1 <= size && static_cast<int64_t>(r.var.umax) + r.off + 1 <= size;
    if (!in)
      return Unexpected<Reject>(
          reject("R{} pointer arithmetic of map value goes out of range, prohibited for !root", regno));
  }
  return {};
}

// ptr OP= scalar (ADD/SUB, 64-bit): adjust_ptr_min_max_vals. off_regno < 0:
// the scalar is an immediate.
static BasicExpected<void, Reject> pointer_arith(Checker& c, RegState& dst, const RegState& ptr, const Scalar& k,
                                                 AluOp op, int regno, int ptr_regno, int off_regno) {
  if (ptr.maybe_null())
    return Unexpected<Reject>(reject("R{} pointer arithmetic on {} prohibited, null-check it first", regno,
                                     ptr.type_name()));
  const bool known = k.is_const();
  switch (ptr.type) {
    case RegType::PtrToCtx: case RegType::PtrToMapValue: case RegType::PtrToMapKey: case RegType::PtrToStack:
    case RegType::PtrToPacketMeta: case RegType::PtrToPacket: case RegType::PtrToMem: case RegType::PtrToFunc:
      break;
    case RegType::ConstPtrToMap:
      if (known && k.const_value() == 0 && op == AluOp::Add) break;
      [[fallthrough]];
    default:
      return Unexpected<Reject>(reject("R{} pointer arithmetic on {} prohibited", regno, ptr.type_name()));
  }
  // check_reg_sane_offset, on the scalar and then on the result.
  auto sane = [&](const Scalar& v, int64_t off) -> BasicExpected<void, Reject> {
    if (v.is_const()) {
      const auto val = static_cast<int64_t>(v.const_value());
      if (val >= kMaxPtrOff || val <= -kMaxPtrOff)
        return Unexpected<Reject>(reject("math between {} pointer and {} is not allowed", ptr.type_name(), val));
    }
    if (off >= kMaxPtrOff || off <= -kMaxPtrOff)
      return Unexpected<Reject>(reject("{} pointer offset {} is not allowed", ptr.type_name(), off));
    if (v.smin == std::numeric_limits<int64_t>::min())
      return Unexpected<Reject>(reject("math between {} pointer and register with unbounded min value is not allowed",
                                       ptr.type_name()));
    if (v.smin >= kMaxPtrOff || v.smin <= -kMaxPtrOff)
      return Unexpected<Reject>(reject("value {} makes {} pointer be out of bounds", v.smin, ptr.type_name()));
    return {};
  };
  if (auto ok = sane(k, ptr.off); !ok) return ok;
  if (!c.env().privileged && off_regno >= 0) {
    if (auto ok = sanitize_operands(ptr, k, ptr_regno, off_regno); !ok) return ok;
  }
  if (op == AluOp::Sub && ptr.type == RegType::PtrToStack)
    return Unexpected<Reject>(reject("R{} subtraction from stack pointer prohibited", regno));
  RegState r = ptr;
  if (known) {
    const auto v = static_cast<int64_t>(k.const_value());
    r.off = static_cast<int32_t>(op == AluOp::Add ? int64_t{ptr.off} + v : int64_t{ptr.off} - v);
  } else {
    r.var = alu(op, ptr.var, k, false);
    if (is_packet(ptr.type)) {
      r.id = c.new_id();  // something was added: the known range no longer applies
      r.range = 0;
    }
  }
  if (auto ok = sane(r.var, r.off); !ok) return ok;
  if (!c.env().privileged) {
    if (auto ok = sanitize_result(r, regno); !ok) return ok;
  }
  dst = r;
  return {};
}

// Whether `v` (its low 32 bits when `w32`) may be `x`: false only when some
// view of the scalar excludes it.
static bool may_be(const Scalar& v, uint64_t x, bool w32) {
  if (!w32) return v.contains(x);
  const auto y = static_cast<uint32_t>(x);
  return y >= v.u32_min && y <= v.u32_max && static_cast<int32_t>(y) >= v.s32_min &&
         static_cast<int32_t>(y) <= v.s32_max && tnum_subreg(v.var).contains(y);
}

// Whether `r` holds a scalar whose upper 32 bits are zero.
static bool upper_zero(const RegState& r) { return r.type == RegType::Scalar && r.var.umax <= UINT32_MAX; }

StepResult Checker::alu(State& s, const Insn& i) {
  Frame& f = s.cur();
  const Form form = isa::info(i.op).form;
  const bool w32 = !is_alu64(i);
  const AluOp op = alu_op(i);
  RegState& dst = f.regs[i.dst];
  RegState src;
  if (form == Form::AluReg) {
    if (f.regs[i.src].type == RegType::NotInit) return Unexpected<Reject>(reject("R{} !read_ok", i.src));
    src = f.regs[i.src];
  } else {
    src = RegState::scalar(Scalar::constant(w32 ? static_cast<uint32_t>(i.imm)
                                                : static_cast<uint64_t>(static_cast<int64_t>(i.imm))));
    if ((op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh) && (i.imm < 0 || i.imm >= (w32 ? 32 : 64)))
      return Unexpected<Reject>(reject("invalid shift {}", i.imm));
    if ((op == AluOp::Div || op == AluOp::Mod) && i.imm == 0 && form == Form::AluImm)
      return Unexpected<Reject>(reject("div by zero"));
  }
  const uint32_t next = i.pc + 1;
  // JIT facts (Verdict::jit_facts), read from the operands before the
  // instruction; the registers they rest on become precise while the fact
  // still holds on every visit (the kernel marks a scalar precise whenever
  // its value decides something). A zero-extension of a register whose upper
  // half is zero needs no code.
  const bool zext_only = (op == AluOp::Mov && form == Form::AluReg && w32 && i.off == 0 && i.src == i.dst) ||
                         (form == Form::Endian && isa::info(i.op).code == 0xd4 && i.imm == 32);
  if (zext_only && record_facts(i.pc, upper_zero(f.regs[i.dst]) ? JitFacts::kUpperZero : 0)) need_precise(i.dst);
  if ((op == AluOp::Div || op == AluOp::Mod) && form == Form::AluReg && src.type == RegType::Scalar) {
    uint8_t holds = 0;
    if (!may_be(src.var, 0, w32)) holds |= JitFacts::kDivisorNonzero;
    if (i.off == 1 && !may_be(src.var, ~uint64_t{0}, w32)) holds |= JitFacts::kDivisorNotMinusOne;
    if (record_facts(i.pc, holds)) need_precise(i.src);
  } else if ((op == AluOp::Div || op == AluOp::Mod) && form == Form::AluReg) {
    record_facts(i.pc, 0);
  }
  if (op == AluOp::Mov && form != Form::AluUnary && form != Form::Endian) {
    if (i.off != 0) {  // movsx
      if (src.type != RegType::Scalar) return Unexpected<Reject>(reject("R{} sign-extension part of pointer", i.src));
      dst = RegState::scalar(sign_extend(src.var, static_cast<unsigned>(i.off), w32));
    } else if (w32) {
      if (src.type != RegType::Scalar) {
        if (!env().privileged) return Unexpected<Reject>(reject("R{} partial copy of pointer", i.src));
        dst = RegState::unknown();
        dst.var.zext32();
      } else {
        dst = RegState::scalar(verifier::alu(AluOp::Mov, Scalar::unknown(), src.var, true));
      }
    } else {
      if (src.type == RegType::Scalar && !src.var.is_const() && src.id == 0 && form == Form::AluReg) {
        f.regs[i.src].id = new_id();
        src.id = f.regs[i.src].id;
      }
      dst = src;
    }
    return Step{Step::Next, next, {}, 0};
  }
  if (dst.type == RegType::NotInit) return Unexpected<Reject>(reject("R{} !read_ok", i.dst));
  if (form == Form::AluUnary || form == Form::Endian) {
    if (dst.type != RegType::Scalar) {
      // allow_ptr_leaks: the pointer becomes an unknown scalar.
      if (!env().privileged) return Unexpected<Reject>(reject("R{} pointer arithmetic prohibited", i.dst));
      dst = RegState::unknown();
      return Step{Step::Next, next, {}, 0};
    }
    if (form == Form::AluUnary) {
      dst = RegState::scalar(verifier::alu(AluOp::Neg, dst.var, dst.var, w32));
    } else {
      const unsigned bytes = static_cast<unsigned>(i.imm) / 8;
      if (isa::info(i.op).code == 0xd4) {  // to little endian: this host's order, only truncates
        dst = RegState::scalar(truncate(dst.var, bytes));
      } else if (dst.var.is_const()) {
        uint64_t v = dst.var.const_value(), out = 0;
        for (unsigned b = 0; b < bytes; ++b) out = (out << 8) | ((v >> (8 * b)) & 0xff);
        dst = RegState::scalar(Scalar::constant(out));
      } else {
        dst = RegState::scalar(truncate(Scalar::unknown(), bytes));
      }
    }
    return Step{Step::Next, next, {}, 0};
  }
  const bool dptr = dst.type != RegType::Scalar, sptr = src.type != RegType::Scalar;
  if (!dptr && !sptr) {
    if ((op == AluOp::Div || op == AluOp::Mod) && i.off == 1) {
      // Signed division and modulo (ISA v4): the scalar domain divides
      // unsigned (-33554425 s/ -536870915 is 0, not the unsigned 1), so the
      // result is unknown, as the kernel leaves every division
      // (adjust_scalar_min_max_vals tracks no BPF_DIV/BPF_MOD).
      dst = RegState::unknown();
      if (w32) dst.var.zext32();
    } else {
      dst = RegState::scalar(verifier::alu(op, dst.var, src.var, w32));
    }
    return Step{Step::Next, next, {}, 0};
  }
  if (w32) {
    if (op == AluOp::Sub && env().privileged) {
      dst = RegState::unknown();
      dst.var.zext32();
      return Step{Step::Next, next, {}, 0};
    }
    return Unexpected<Reject>(reject("R{} 32-bit pointer arithmetic prohibited", i.dst));
  }
  if (dptr && sptr) {
    if (op == AluOp::Sub && env().privileged) {  // allow_ptr_leaks: any difference is a scalar
      dst = RegState::unknown();
      return Step{Step::Next, next, {}, 0};
    }
    return Unexpected<Reject>(reject("R{} pointer {} pointer prohibited", i.dst, op_text(op)));
  }
  if (op == AluOp::And || op == AluOp::Or || op == AluOp::Xor)
    return Unexpected<Reject>(reject("R{} bitwise operator {} on pointer prohibited", i.dst, op_text(op)));
  if (op != AluOp::Add && op != AluOp::Sub)
    return Unexpected<Reject>(reject("R{} pointer arithmetic with {} operator prohibited", i.dst, op_text(op)));
  if (!dptr && op == AluOp::Sub)
    return Unexpected<Reject>(reject("R{} tried to subtract pointer from scalar", i.dst));
  const RegState ptr = dptr ? dst : src;
  const Scalar k = dptr ? src.var : dst.var;
  // The offset's exact value decides the pointer (and the checks below).
  if (!dptr) need_precise(i.dst);
  else if (form == Form::AluReg) need_precise(i.src);
  const int src_regno = form == Form::AluReg ? i.src : -1;
  if (auto r = pointer_arith(*this, dst, ptr, k, op, i.dst, dptr ? i.dst : i.src, dptr ? src_regno : i.dst); !r)
    return Unexpected<Reject>(r.error());
  return Step{Step::Next, next, {}, 0};
}

namespace {

// Marks every pointer with `id` non-null (or, on the null branch, turns it
// into the scalar 0 and drops the reference it would have been).
void mark_null_checked(Checker& c, State& s, uint32_t id, bool is_null) {
  uint32_t ref = 0;
  c.for_each_reg(s, [&](RegState& r) {
    if (r.id != id || !r.maybe_null()) return;
    if (is_null) {
      ref = r.ref_obj_id ? r.ref_obj_id : ref;
      r = RegState::scalar(Scalar::constant(0));
    } else {
      r.flags &= ~kMaybeNull;
      // The id has done its work (as the kernel, which resets it so that
      // pruning matches more states); a value holding a spin lock keeps it:
      // lock and unlock must name the same value.
      if (!(r.type == RegType::PtrToMapValue && r.map && r.map->spin_lock_off >= 0)) r.id = 0;
    }
  });
  if (is_null && ref)
    std::erase_if(s.refs, [&](const Reference& x) { return x.id == ref; });
}

// `a OP b` where a is a packet pointer and b the end (or meta vs packet):
// the branch in which a <= end holds proves a.off bytes from the base.
void mark_packet_range(Checker& c, State& s, const RegState& p, bool p_le_end) {
  // MAX_PACKET_OFF: beyond it the kernel learns nothing either.
  if (!p_le_end || p.off <= 0 || p.var.umax + static_cast<uint64_t>(p.off) > 0xffff) return;
  c.for_each_reg(s, [&](RegState& r) {
    if (r.type == p.type && r.id == p.id) r.range = std::max(r.range, static_cast<uint32_t>(p.off));
  });
}

// For a comparison of a packet pointer with its end: in which outcome
// (taken or not) does "pkt <= end" hold? nullopt: no such relation.
std::optional<bool> packet_le_end_when(JmpOp op, bool pkt_on_left) {
  // pkt > end, pkt >= end: "<=" holds when not taken (for >=: pkt < end).
  // pkt < end, pkt <= end: holds when taken. Mirrored with end on the left.
  switch (op) {
    case JmpOp::Jgt: case JmpOp::Jge: return pkt_on_left ? false : true;
    case JmpOp::Jlt: case JmpOp::Jle: return pkt_on_left ? true : false;
    default: return std::nullopt;
  }
}

}  // namespace

StepResult Checker::jump(State& s, const Insn& i) {
  const Form form = isa::info(i.op).form;
  if (form == Form::Jump || form == Form::JumpLong)
    return Step{Step::Next, static_cast<uint32_t>(i.target()), {}, 0};
  // JIT facts (JitFacts::kNeverTaken / kAlwaysTaken): which outcomes this
  // visit explores, ANDed over every visit. Sound under pruning without any
  // mark of its own: a path cut at a stored state continues, as far as the
  // proof goes, in that state's explored subtree, so an outcome explored on
  // no path at all is one that no execution the verifier accepted can take
  // (else the verifier's own proof would have a hole: the code after that
  // edge would be unverified for it). The outcome decisions below
  // (branch_taken, refinement to bottom, non-null pointers) already mark
  // their operands precise for pruning's sake, as the kernel's; the facts
  // rest on that and on nothing else (the kernel's
  // opt_hard_wire_dead_code_branches rests on the same `seen` marks).
  auto res = jump_outcomes(s, i);
  if (res) {
    const Step& st = *res;
    const uint32_t target = static_cast<uint32_t>(i.target());
    if (st.kind == Step::Fork) record_facts(i.pc, 0);
    else if (st.next == target && target != i.pc + 1) record_facts(i.pc, JitFacts::kAlwaysTaken);
    else if (st.next == i.pc + 1 && target != i.pc + 1) record_facts(i.pc, JitFacts::kNeverTaken);
    else record_facts(i.pc, 0);
  }
  return res;
}

StepResult Checker::jump_outcomes(State& s, const Insn& i) {
  const Form form = isa::info(i.op).form;
  Frame& f = s.cur();
  const bool w32 = is_jmp32(i);
  const JmpOp op = jmp_op(i);
  const uint32_t fall = i.pc + 1, target = static_cast<uint32_t>(i.target());
  if (f.regs[i.dst].type == RegType::NotInit) return Unexpected<Reject>(reject("R{} !read_ok", i.dst));
  RegState a = f.regs[i.dst];
  RegState b;
  if (form == Form::JumpReg) {
    if (f.regs[i.src].type == RegType::NotInit) return Unexpected<Reject>(reject("R{} !read_ok", i.src));
    b = f.regs[i.src];
  } else {
    b = RegState::scalar(Scalar::constant(w32 ? static_cast<uint32_t>(i.imm)
                                              : static_cast<uint64_t>(static_cast<int64_t>(i.imm))));
  }
  auto go = [&](bool taken) { return Step{Step::Next, taken ? target : fall, {}, 0}; };

  // A scalar whose value decides the outcome must be precise (the kernel
  // marks both operands when is_branch_taken decides).
  auto decided = [&] {
    if (a.type == RegType::Scalar) need_precise(i.dst);
    if (form == Form::JumpReg && b.type == RegType::Scalar) need_precise(i.src);
  };
  if (a.type == RegType::Scalar && b.type == RegType::Scalar) {
    if (auto d = branch_taken(op, a.var, b.var, w32)) {
      decided();
      return go(*d);
    }
    // Refinement reaches every copy: backtracking must know the copies.
    record_linked(s, a);
    if (form == Form::JumpReg) record_linked(s, b);
    State t = s;
    RegState &ta = t.cur().regs[i.dst], &fa = f.regs[i.dst];
    Scalar at = a.var, bt = b.var, af = a.var, bf = b.var;
    const bool t_ok = refine(op, true, at, bt, w32);
    const bool f_ok = refine(op, false, af, bf, w32);
    if (t_ok) {
      ta.var = at;
      if (form == Form::JumpReg) t.cur().regs[i.src].var = bt;
      propagate_scalar(*this, t, ta);
      if (form == Form::JumpReg) propagate_scalar(*this, t, t.cur().regs[i.src]);
    }
    if (f_ok) {
      fa.var = af;
      if (form == Form::JumpReg) f.regs[i.src].var = bf;
      propagate_scalar(*this, s, fa);
      if (form == Form::JumpReg) propagate_scalar(*this, s, f.regs[i.src]);
    }
    if (!t_ok || !f_ok) decided();
    if (!t_ok) return go(false);
    if (!f_ok) {
      s = std::move(t);
      return go(true);
    }
    return Step{Step::Fork, fall, std::move(t), target};
  }

  // A pointer compared with zero: null checks.
  const bool a_ptr = a.type != RegType::Scalar, b_ptr = b.type != RegType::Scalar;
  const RegState& ptr = a_ptr ? a : b;
  const RegState& other = a_ptr ? b : a;
  if (a_ptr != b_ptr) decided();  // whether the scalar is 0 makes this a null check
  const bool eq_zero = a_ptr != b_ptr && other.var.is_const() && other.var.const_value() == 0 &&
                       (op == JmpOp::Jeq || op == JmpOp::Jne);
  const bool eq_taken = op == JmpOp::Jeq;
  // A null check: only `if rX ==/!= 0` with an immediate, 64-bit.
  if (eq_zero && a_ptr && ptr.maybe_null() && form == Form::JumpImm && !w32) {
    State t = s;
    mark_null_checked(*this, t, ptr.id, eq_taken);
    mark_null_checked(*this, s, ptr.id, !eq_taken);
    return Step{Step::Fork, fall, std::move(t), target};
  }
  // Pointers the kernel knows are never NULL (reg_not_null); ctx, stack and
  // packet pointers are not among them, so both outcomes are explored.
  const bool not_null = !ptr.maybe_null() && (ptr.type == RegType::PtrToMapValue || ptr.type == RegType::PtrToMapKey ||
                                              ptr.type == RegType::PtrToMem || ptr.type == RegType::ConstPtrToMap);
  if (eq_zero && not_null) return go(!eq_taken);
  if (!env().privileged) return Unexpected<Reject>(reject("R{} pointer comparison prohibited", a_ptr ? i.dst : i.src));
  if (!w32 && a_ptr && b_ptr) {
    const RegState* pkt = nullptr;
    bool pkt_left = true;
    if (is_packet(a.type) && b.type == RegType::PtrToPacketEnd) pkt = &a;
    else if (is_packet(b.type) && a.type == RegType::PtrToPacketEnd) pkt = &b, pkt_left = false;
    else if (a.type == RegType::PtrToPacketMeta && b.type == RegType::PtrToPacket) pkt = &a;
    else if (b.type == RegType::PtrToPacketMeta && a.type == RegType::PtrToPacket) pkt = &b, pkt_left = false;
    if (pkt) {
      if (auto when = packet_le_end_when(op, pkt_left)) {
        const RegState p = *pkt;
        State t = s;
        mark_packet_range(*this, t, p, *when);
        mark_packet_range(*this, s, p, !*when);
        return Step{Step::Fork, fall, std::move(t), target};
      }
    }
  }
  State t = s;
  return Step{Step::Fork, fall, std::move(t), target};
}

}  // namespace xbpf::verifier::detail
