// Precision tracking: the path history and the backward walk that turns "this
// value matters" into precision marks on stored states (see precision.hpp).
#include "verifier/precision.hpp"

namespace xbpf::verifier::detail {
namespace {

using isa::Form;

constexpr uint16_t bit(int r) { return static_cast<uint16_t>(1u << r); }
constexpr uint16_t kArgRegs = 0x3e;  // r1..r5

}  // namespace

Marks scalar_locations(const State& s) {
  Marks m;
  for (size_t f = 0; f < s.frames.size() && f < kMaxCallFrames; ++f) {
    const Frame& fr = s.frames[f];
    for (int r = 0; r < 11; ++r)
      if (fr.regs[r].type == RegType::Scalar) m.regs[f] |= bit(r);
    for (int k = 0; k < kStackSlots; ++k)
      if (fr.slot(k).bytes[0] == SlotType::Spill && fr.slot(k).spilled.type == RegType::Scalar)
        m.slots[f] |= uint64_t{1} << k;
  }
  return m;
}

Marks scalar_locations_under(const State& covering, const State& s) {
  Marks m = scalar_locations(s);
  auto unbounded = [](const RegState& r) {
    return r.type == RegType::Scalar && r.id == 0 && r.var == Scalar::unknown();
  };
  for (size_t f = 0; f < s.frames.size() && f < covering.frames.size() && f < kMaxCallFrames; ++f) {
    const Frame& cf = covering.frames[f];
    for (int r = 0; r < 11; ++r)
      if (unbounded(cf.regs[r])) m.regs[f] &= static_cast<uint16_t>(~bit(r));
    for (int k = 0; k < kStackSlots; ++k) {
      const StackSlot& slot = cf.slot(k);
      bool plain = true;
      for (SlotType b : slot.bytes) plain = plain && b == SlotType::Misc;
      if (plain || (slot.bytes[0] == SlotType::Spill && unbounded(slot.spilled))) m.slots[f] &= ~(uint64_t{1} << k);
    }
  }
  return m;
}

void mark_stack_read(Checkpoints& cps, int32_t cp, const std::array<uint64_t, kMaxCallFrames>& written,
                     size_t frame, uint64_t mask) {
  mask &= ~written[frame];
  while (mask && cp >= 0) {
    Checkpoint& c = cps[static_cast<size_t>(cp)];
    if (c.st.frames.size() <= frame) return;
    mask &= ~c.read[frame];  // already read there: its ancestors are marked
    c.read[frame] |= mask;
    mask &= ~c.seg_written[frame];
    cp = c.parent;
  }
}

void mark_regs_read(Checkpoints& cps, int32_t cp, const std::array<uint16_t, kMaxCallFrames>& written,
                    size_t frame, uint16_t mask) {
  mask = static_cast<uint16_t>(mask & ~written[frame]);
  while (mask && cp >= 0) {
    Checkpoint& c = cps[static_cast<size_t>(cp)];
    if (c.st.frames.size() <= frame) return;
    mask = static_cast<uint16_t>(mask & ~c.read_regs[frame]);  // already read there: its ancestors are marked
    c.read_regs[frame] |= mask;
    mask = static_cast<uint16_t>(mask & ~c.seg_written_regs[frame]);
    cp = c.parent;
  }
}

int32_t Precision::record(int32_t prev, const isa::Insn& i, uint8_t frame, const StepTrace& t) {
  HistEntry h;
  h.pc = i.pc;
  h.prev = prev;
  h.frame = frame;
  h.kind = static_cast<uint8_t>(t.stack | (t.callback_exit ? HistEntry::kCallbackExit : 0));
  h.stack_frame = t.stack_frame;
  h.slot = t.slot;
  if (!t.linked.empty()) {
    h.linked = static_cast<uint32_t>(linked_.size());
    h.nlinked = static_cast<uint16_t>(t.linked.size());
    linked_.insert(linked_.end(), t.linked.begin(), t.linked.end());
  }
  hist_.push_back(h);
  return static_cast<int32_t>(hist_.size() - 1);
}

// A comparison refined every location of a group together: if one of them
// matters after it, all of them matter before it.
void Precision::sync_linked(const HistEntry& h, Marks& bt) const {
  auto has = [&](uint16_t loc) {
    const size_t f = loc >> 7, x = loc & 0x7f;
    return x < 64 ? bt.reg(f, static_cast<int>(x)) : bt.slot(f, static_cast<int>(x - 64));
  };
  auto set = [&](uint16_t loc) {
    const size_t f = loc >> 7, x = loc & 0x7f;
    if (x < 64) bt.regs[f] |= bit(static_cast<int>(x));
    else bt.slots[f] |= uint64_t{1} << (x - 64);
  };
  size_t start = h.linked;
  const size_t end = h.linked + h.nlinked;
  for (size_t k = start; k < end; ++k) {
    if (linked_[k] != StepTrace::kGroupEnd) continue;
    bool any = false;
    for (size_t j = start; j < k; ++j) any = any || has(linked_[j]);
    if (any)
      for (size_t j = start; j < k; ++j) set(linked_[j]);
    start = k + 1;
  }
}

// Rewrites `bt` (locations needed after instruction h, at call depth `after`)
// into the locations needed before it. False when the history does not make
// sense for the set (the caller then falls back to marking everything).
bool Precision::backtrack_insn(const HistEntry& h, Marks& bt, int after) const {
  const isa::Insn& i = checker_.insn_at(h.pc);
  const Form form = isa::info(i.op).form;
  const int fr = h.frame;
  if (fr >= static_cast<int>(kMaxCallFrames)) return false;
  uint16_t& R = bt.regs[static_cast<size_t>(fr)];
  auto has = [&](int r) { return (R >> r & 1) != 0; };
  auto set = [&](int r) { R |= bit(r); };
  auto clr = [&](int r) { R &= static_cast<uint16_t>(~bit(r)); };
  const bool mov = (isa::info(i.op).code & 0xf0) == 0xb0;
  if (h.nlinked) sync_linked(h, bt);
  switch (form) {
    case Form::AluImm:
      if (mov) clr(i.dst);  // a constant
      break;
    case Form::AluReg:
      if (!has(i.dst)) break;
      if (mov) clr(i.dst);
      set(i.src);  // dst = src, or dst = dst OP src: both operands decide the result
      break;
    case Form::AluUnary: case Form::Endian: case Form::JumpImm: case Form::Jump: case Form::JumpLong:
      break;
    case Form::LoadImm64:
      clr(i.dst);
      break;
    case Form::Load:
      if (!has(i.dst)) break;
      clr(i.dst);
      if ((h.kind & 3) == StepTrace::Fill) bt.slots[h.stack_frame] |= uint64_t{1} << h.slot;
      break;
    case Form::StoreImm: case Form::StoreReg:
      if ((h.kind & 3) == StepTrace::Spill && bt.slot(h.stack_frame, h.slot)) {
        bt.slots[h.stack_frame] &= ~(uint64_t{1} << h.slot);
        if (form == Form::StoreReg) set(i.src);
      }
      break;
    case Form::Atomic:
      if (isa::is_cmpxchg(i.op)) clr(0);
      else if (i.imm & isa::kAtomicFetch) clr(i.src);  // fetch: the old memory value, unknown
      break;
    case Form::LoadAbs: case Form::LoadInd:
      R &= static_cast<uint16_t>(~(kArgRegs | 1));
      break;
    case Form::JumpReg:
      if (has(i.dst) || has(i.src)) set(i.dst), set(i.src);
      break;
    case Form::Call:
      if (after == fr + 1) {  // bpf_loop entering its callback: r1 index (unknown), r2 = caller's r3
        uint16_t& callee = bt.regs[static_cast<size_t>(fr + 1)];
        if (callee & bit(2)) set(3);
        if ((callee & ~(bit(1) | bit(2) | bit(10))) != 0 || bt.slots[static_cast<size_t>(fr + 1)]) return false;
        callee = 0;
      } else {
        R &= static_cast<uint16_t>(~(kArgRegs | 1));
      }
      break;
    case Form::CallLocal: {
      if (after != fr + 1) return false;
      uint16_t& callee = bt.regs[static_cast<size_t>(fr + 1)];
      R |= callee & kArgRegs;
      if ((callee & ~(kArgRegs | bit(10))) != 0 || bt.slots[static_cast<size_t>(fr + 1)]) return false;
      callee = 0;
      break;
    }
    case Form::Exit: {
      if (fr == 0 || after != fr - 1) return false;
      uint16_t& caller = bt.regs[static_cast<size_t>(fr - 1)];
      if (!(h.kind & HistEntry::kCallbackExit) && (caller & 1)) set(0);  // caller's r0 is our r0
      if (!(h.kind & HistEntry::kCallbackExit)) caller &= static_cast<uint16_t>(~(kArgRegs | 1));
      break;
    }
    case Form::CallKfunc: case Form::CallReg:
      return false;
  }
  if (h.nlinked) sync_linked(h, bt);
  return true;
}

// Marks the locations of `bt` precise in checkpoint `c`; drops those that are
// not scalars there or were already precise (their sources are marked).
bool Precision::apply(Checkpoint& c, Marks& bt) const {
  for (size_t f = 0; f < kMaxCallFrames; ++f) {
    if (!bt.regs[f] && !bt.slots[f]) continue;
    if (f >= c.st.frames.size()) return false;
    const Frame& fr = c.st.frames[f];
    for (int r = 0; r < 11; ++r) {
      if (!bt.reg(f, r)) continue;
      if (fr.regs[r].type == RegType::Scalar && !c.precise.reg(f, r)) c.precise.regs[f] |= bit(r);
      else bt.regs[f] &= static_cast<uint16_t>(~bit(r));
    }
    bt.regs[f] &= 0x7ff;
    for (int k = 0; k < kStackSlots; ++k) {
      if (!bt.slot(f, k)) continue;
      const StackSlot& s = fr.slot(k);
      const uint64_t b = uint64_t{1} << k;
      if (s.bytes[0] == SlotType::Spill && s.spilled.type == RegType::Scalar && !c.precise.slot(f, k))
        c.precise.slots[f] |= b;
      else bt.slots[f] &= ~b;
    }
  }
  return true;
}

void Precision::mark(Marks bt, int32_t e, int32_t cp, int depth, int32_t stop) {
  for (;;) {
    while (cp >= 0 && e < cps_[static_cast<size_t>(cp)].first) {
      if (cp == stop) return;
      Checkpoint& c = cps_[static_cast<size_t>(cp)];
      if (static_cast<int>(c.st.frames.size()) != depth + 1 || !apply(c, bt)) return mark_all(cp);
      if (bt.empty()) return;
      cp = c.parent;
    }
    if (cp < 0 || cp == stop || e < 0 || bt.empty()) return;
    const HistEntry& h = hist_[static_cast<size_t>(e)];
    if (!backtrack_insn(h, bt, depth)) return mark_all(cp);
    depth = h.frame;
    e = h.prev;
  }
}

void Precision::mark_all(int32_t cp) {
  ++fallbacks_;
  for (; cp >= 0; cp = cps_[static_cast<size_t>(cp)].parent) cps_[static_cast<size_t>(cp)].precise.set_all();
}

}  // namespace xbpf::verifier::detail
