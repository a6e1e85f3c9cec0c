// The driver: depth-first exploration of every path with checkpoints at prune
// points, pruning against completed checkpoints that cover the current state,
// an exact-repeat check that rejects non-terminating loops at once, and the
// work limit.
#include "verifier/verifier.hpp"

#include <array>
#include <bit>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <unordered_map>

#include "isa/disasm.hpp"
#include "verifier/checker.hpp"
#include "verifier/precision.hpp"

namespace xbpf::verifier {

bool is_pointer(RegType t) { return t != RegType::NotInit && t != RegType::Scalar; }
bool is_packet(RegType t) { return t == RegType::PtrToPacket || t == RegType::PtrToPacketMeta; }

std::string RegState::type_name() const {
  std::string n;
  switch (type) {
    case RegType::NotInit: return "?";
    case RegType::Scalar: return "scalar";
    case RegType::PtrToCtx: n = "ctx"; break;
    case RegType::ConstPtrToMap: n = "map_ptr"; break;
    case RegType::PtrToMapValue: n = "map_value"; break;
    case RegType::PtrToMapKey: n = "map_key"; break;
    case RegType::PtrToStack: n = "fp"; break;
    case RegType::PtrToPacketMeta: n = "pkt_meta"; break;
    case RegType::PtrToPacket: n = "pkt"; break;
    case RegType::PtrToPacketEnd: n = "pkt_end"; break;
    case RegType::PtrToMem: n = (flags & kRingbuf) ? "ringbuf_mem" : "mem"; break;
    case RegType::PtrToFunc: n = "func"; break;
    case RegType::PtrToSockCommon: n = "sock_common"; break;
    case RegType::PtrToSocket: n = "sock"; break;
  }
  if (flags & kRdonly) n = "rdonly_" + n;
  if (maybe_null()) n += "_or_null";
  return n;
}

std::string RegState::to_string() const {
  if (type == RegType::Scalar) return var.to_string();
  if (type == RegType::NotInit) return "?";
  if (type == RegType::PtrToStack && var.is_const()) return fmt::format("fp{}", off);
  std::string s = type_name() + "(";
  auto add = [&](std::string part) { s += (s.back() == '(' ? "" : ",") + part; };
  if (id) add(fmt::format("id={}", id));
  if (ref_obj_id) add(fmt::format("ref_obj_id={}", ref_obj_id));
  if (map) add(fmt::format("map={},ks={},vs={}", map->name, map->key_size, map->value_size));
  if (off) add(fmt::format("off={}", off));
  if (is_packet(type)) add(fmt::format("r={}", range));
  if (!var.is_const() || var.const_value() != 0) add(fmt::format("var={}", var.to_string()));
  return s + ")";
}

namespace detail {

Checker::Checker(std::span<const isa::Insn> insns, const Cfg& cfg, const Env& env)
    : insns_(insns), cfg_(cfg), env_(env), helpers_(env.helpers ? *env.helpers : helpers::Registry::standard()) {
  stack_access_.assign(cfg.subprogs().size(), 0);
  if (env.jit_facts && !insns.empty()) facts_.assign(insns.back().pc + 2, 0);
}

uint8_t Checker::record_facts(uint32_t pc, uint8_t holds) {
  if (pc >= facts_.size()) return 0;  // not collecting
  uint8_t& f = facts_[pc];
  f = (f & kFactsSeen) ? uint8_t(f & (holds | kFactsSeen)) : uint8_t(holds | kFactsSeen);
  return uint8_t(f & ~kFactsSeen);
}

void Checker::note_stack_access(const Frame& f, int64_t lo) {
  if (lo >= 0) return;
  uint32_t& d = stack_access_[cfg_.subprog_of(f.subprog)];
  d = std::max(d, static_cast<uint32_t>(std::min<int64_t>(-lo, kStackSize)));
}

State Checker::initial_state() const {
  State s;
  Frame f;
  f.regs[1].type = RegType::PtrToCtx;
  f.regs[1].var = Scalar::constant(0);
  f.regs[10].type = RegType::PtrToStack;
  f.regs[10].var = Scalar::constant(0);
  s.frames.push_back(f);
  return s;
}

StepResult Checker::step(State& s, const isa::Insn& i) {
  using isa::Form;
  switch (isa::info(i.op).form) {
    case Form::AluImm: case Form::AluReg: case Form::AluUnary: case Form::Endian:
      return alu(s, i);
    case Form::Jump: case Form::JumpLong: case Form::JumpImm: case Form::JumpReg:
      return jump(s, i);
    case Form::Load: case Form::StoreImm: case Form::StoreReg: case Form::Atomic:
      return load_store(s, i);
    case Form::LoadImm64:
      return load_imm64(s, i);
    case Form::LoadAbs: case Form::LoadInd:
      return legacy_packet_load(s, i);
    case Form::Call:
      return call_helper(s, i);
    case Form::CallLocal:
      return call_local(s, i);
    case Form::Exit:
      return exit(s, i);
    case Form::CallKfunc:
      return Unexpected<Reject>(reject("calling kernel functions is not supported by xbpf"));
    case Form::CallReg:
      return Unexpected<Reject>(reject("unknown opcode 8d"));
  }
  return Unexpected<Reject>(reject("unknown opcode {:02x}", isa::info(i.op).code));
}

// Per instruction slot: the registers (0..10) of the current frame read before written.
using LiveTable = std::vector<std::vector<bool>>;

// ---- state coverage (pruning) ----

namespace {

// Old and current ids must correspond one to one (the kernel's check_ids).
class IdMap {
 public:
  bool match(uint32_t old_id, uint32_t cur_id) {
    if (old_id == 0 && cur_id == 0) return true;
    if (old_id == 0 || cur_id == 0) return false;
    for (size_t k = 0; k < n_; ++k)
      if (local_[k].first == old_id || local_[k].second == cur_id)
        return local_[k].first == old_id && local_[k].second == cur_id;
    for (auto [o, c] : more_)
      if (o == old_id || c == cur_id) return o == old_id && c == cur_id;
    // Most comparisons link a few ids: no allocation for them (covers() is hot).
    if (n_ < local_.size()) local_[n_++] = {old_id, cur_id};
    else more_.push_back({old_id, cur_id});
    return true;
  }
  // Precise scalars (the kernel's check_scalar_ids): an unlinked current
  // scalar gets a fresh id, so two old scalars sharing an id still need two
  // linked current ones.
  bool match_scalar(uint32_t old_id, uint32_t cur_id) {
    if (old_id == 0) return true;
    return match(old_id, cur_id ? cur_id : ++tmp_);
  }

 private:
  std::array<std::pair<uint32_t, uint32_t>, 16> local_;
  size_t n_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> more_;
  uint32_t tmp_ = 0x80000000u;  // above every id the checker hands out
};

// How scalars of the old state compare: exactly (no precision information:
// unprivileged, or a state still being explored), or by precision marks.
enum class ScalarRule : uint8_t { Exact, Imprecise, Precise };

bool reg_covers(const RegState& o, const RegState& c, IdMap& ids, ScalarRule rule = ScalarRule::Exact) {
  if (o.type == RegType::NotInit) return true;  // never read on the explored path
  if (o.type == RegType::Scalar && rule == ScalarRule::Imprecise) return c.type == RegType::Scalar;
  if (o.type != c.type || o.flags != c.flags) return false;
  if (o.type == RegType::Scalar && rule == ScalarRule::Precise) return o.var.includes(c.var) && ids.match_scalar(o.id, c.id);
  if (o.type == RegType::Scalar) return o.var.includes(c.var) && (o.id == 0 || ids.match(o.id, c.id));
  return o.off == c.off && o.var.includes(c.var) && o.map == c.map && o.range <= c.range &&
         o.mem_size == c.mem_size && o.frameno == c.frameno && o.subprog == c.subprog && ids.match(o.id, c.id) &&
         ids.match(o.ref_obj_id, c.ref_obj_id);
}

bool byte_covers(SlotType o, const StackSlot& cs, SlotType c, bool privileged) {
  const bool c_scalar_spill = c == SlotType::Spill && cs.spilled.type == RegType::Scalar;
  switch (o) {
    case SlotType::Invalid:
      // Never read (unprivileged: it would have failed); privileged reads saw unknown data.
      return !privileged || c != SlotType::Spill || c_scalar_spill;
    case SlotType::Misc:
      return c == SlotType::Misc || c == SlotType::Zero || c_scalar_spill || (privileged && c == SlotType::Invalid);
    case SlotType::Zero:
      return c == SlotType::Zero ||
             (c_scalar_spill && cs.spilled.var.is_const() && cs.spilled.var.const_value() == 0);
    case SlotType::Spill:
      return false;  // handled per slot
  }
  return false;
}

// Bytes a read turns into an unknown scalar or zero, never a pointer.
bool plain_data(const StackSlot& s) {
  for (SlotType b : s.bytes)
    if (b != SlotType::Misc && b != SlotType::Zero) return false;
  return true;
}

// `precise` null: every scalar compared exactly.
// `read_slots` non-null: slots o's exploration never read are not compared.
bool frame_covers(const Frame& o, const Frame& c, IdMap& ids, bool privileged, const std::vector<bool>* live,
                  const uint16_t* read_regs, const uint16_t* precise_regs, const uint64_t* precise_slots,
                  const uint64_t* read_slots) {
  if (o.callsite != c.callsite || o.callback != c.callback) return false;
  auto rule = [&](bool precise) {
    return !precise_regs ? ScalarRule::Exact : precise ? ScalarRule::Precise : ScalarRule::Imprecise;
  };
  for (int r = 0; r < 11; ++r) {
    if (live && !(*live)[r]) continue;
    if (read_regs && !(*read_regs >> r & 1)) continue;
    if (!reg_covers(o.regs[r], c.regs[r], ids, rule(precise_regs && (*precise_regs >> r & 1)))) return false;
  }
  for (uint64_t todo = read_slots ? *read_slots : ~uint64_t{0}; todo; todo &= todo - 1) {
    const int k = std::countr_zero(todo);
    const StackSlot &os = o.slot(k), &cs = c.slot(k);
    if (os.bytes[0] == SlotType::Spill) {
      const ScalarRule sr = rule(precise_slots && (*precise_slots >> k & 1));
      // An imprecise spilled scalar is as good as plain data (the kernel's
      // scalar_reg_for_stack): reading either gives some scalar.
      if (sr == ScalarRule::Imprecise && os.spilled.type == RegType::Scalar && plain_data(cs)) continue;
      if (cs.bytes[0] != SlotType::Spill || !reg_covers(os.spilled, cs.spilled, ids, sr)) return false;
      continue;
    }
    for (int b = 0; b < 8; ++b) {
      // Compared by marks (the kernel's NOT_EXACT): a byte the explored path
      // never initialised matches anything, and so does unknown data when
      // uninitialised reads are allowed (privileged): reading it gave the
      // explored path an unknown scalar, which covers whatever is here.
      if (precise_regs && (os.bytes[b] == SlotType::Invalid || (privileged && os.bytes[b] == SlotType::Misc)))
        continue;
      if (!byte_covers(os.bytes[b], cs, cs.bytes[b], privileged)) return false;
    }
  }
  return true;
}

}  // namespace

// Every concrete state of `c` is a state of `o` (so o's proof covers c), as
// far as o's exploration looked: when `done` (o's subtree is explored) is
// given, only o's precise scalars and the stack slots it read are compared
// (else everything is).
bool covers(const State& o, const State& c, bool privileged, const LiveTable* live, uint32_t pc,
            const Checkpoint* done) {
  const Marks* precise = done ? &done->precise : nullptr;
  if (o.frames.size() != c.frames.size() || o.refs.size() != c.refs.size()) return false;
  IdMap ids;
  // The current frame first: that is where states usually differ (the
  // verdict does not depend on the order, ids form a bijection either way).
  for (size_t n = 0; n < o.frames.size(); ++n) {
    const size_t f = o.frames.size() - 1 - n;
    // Registers live in a frame: at `pc` for the current one; for a caller,
    // where it resumes (after the call; a callback's helper call itself).
    // Frames are compared only when their call sites match (frame_covers).
    const std::vector<bool>* live_f = nullptr;
    if (live) {
      const bool top = f + 1 == o.frames.size();
      const Frame& callee = o.frames[top ? f : f + 1];
      const uint32_t at = top ? pc : callee.callsite + (callee.callback ? 0 : 1);
      if (at < live->size() && (top || c.frames[f + 1].callsite == callee.callsite)) live_f = &(*live)[at];
    }
    // A completed state: only the registers its exploration read (dynamic
    // liveness, the kernel's REG_LIVE_READ) matter.
    if (!frame_covers(o.frames[f], c.frames[f], ids, privileged, done ? nullptr : live_f,
                      done ? &done->read_regs[f] : nullptr, precise ? &precise->regs[f] : nullptr, precise ? &precise->slots[f] : nullptr,
                      done ? &done->read[f] : nullptr))
      return false;
  }
  for (size_t k = 0; k < o.refs.size(); ++k)
    if (!ids.match(o.refs[k].id, c.refs[k].id)) return false;
  if (o.lock_map != c.lock_map || (o.lock_map && !ids.match(o.lock_id, c.lock_id))) return false;
  return true;
}

}  // namespace detail
}  // namespace xbpf::verifier

namespace xbpf::verifier {
namespace {

using detail::Checker;
using detail::Step;
using isa::Form;
using isa::Insn;

constexpr uint32_t kHelperLoop = 181;
constexpr uint32_t kHelperForEachMapElem = 164;

// Helpers that call back into the program (the kernel's calls_callback):
// their call site is where callback iterations meet, so it is a prune point.
bool calls_callback(const Insn& i) {
  return isa::info(i.op).form == Form::Call &&
         (i.imm == static_cast<int32_t>(kHelperLoop) || i.imm == static_cast<int32_t>(kHelperForEachMapElem));
}
constexpr int64_t kMaxHistoryRun = 128;  // history entries before a stored state is forced
constexpr size_t kMaxPendingBranches = 8192;  // BPF_COMPLEXITY_LIMIT_JMP_SEQ

// The kernel's resolve_pseudo_ldimm64, for the map references xbpf's
// relocated code carries (src 5: a map by index; src 6: a map value by index,
// the offset in the second slot): checked in EVERY instruction before
// verification begins, reachable or not, in the kernel's order and with its
// messages. The visit (Checker::load_imm64) then only builds the register.
std::optional<std::string> check_map_reference(const Insn& i, const Env& env) {
  if (i.op != isa::Op::LDDW_MAP_IDX && i.op != isa::Op::LDDW_MAP_IDX_VALUE) return std::nullopt;
  const auto second = static_cast<uint32_t>(static_cast<uint64_t>(i.imm64) >> 32);
  if (i.op == isa::Op::LDDW_MAP_IDX && second != 0) return "unrecognized bpf_ld_imm64 insn";
  const auto idx = static_cast<uint32_t>(i.imm);
  if (idx >= env.maps.size()) return fmt::format("fd {} is not pointing to valid bpf_map", i.imm);
  const MapDesc& m = env.maps[idx];
  if (m.spin_lock_off >= 0) {  // check_map_prog_compatibility
    using kabi::ProgType;
    const ProgType t = env.prog_type;
    if (t == ProgType::SocketFilter) return "socket filter progs cannot use bpf_spin_lock yet";
    if (t == ProgType::Kprobe || t == ProgType::Tracepoint || t == ProgType::PerfEvent ||
        t == ProgType::RawTracepoint || t == ProgType::RawTracepointWritable)
      return "tracing progs cannot use bpf_spin_lock yet";
  }
  if (i.op == isa::Op::LDDW_MAP_IDX) return std::nullopt;
  constexpr uint32_t kMaxVarOff = 1u << 29;  // BPF_MAX_VAR_OFF
  if (second >= kMaxVarOff) return fmt::format("direct value offset of {} is not allowed", second);
  // Only arrays have map_direct_value_addr, and it serves one-entry arrays.
  if (m.type != kabi::MapType::Array) return "no direct value access support for this map type";
  if (m.max_entries != 1 || second >= m.value_size)
    return fmt::format("invalid access to map value pointer, value_size={} off={}", m.value_size, second);
  return std::nullopt;
}

// Registers read before being written, per slot (static liveness of the
// current frame): states differing only in dead registers are equivalent.
std::vector<std::vector<bool>> liveness(std::span<const Insn> insns, const Cfg& cfg, size_t slots) {
  std::vector<std::vector<bool>> live(slots, std::vector<bool>(11, false));
  std::vector<uint16_t> in(slots, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t k = insns.size(); k-- > 0;) {
      const Insn& i = insns[k];
      const Form f = isa::info(i.op).form;
      uint16_t out = 0;
      auto succ = [&](int64_t pc) { if (pc >= 0 && size_t(pc) < slots) out |= in[size_t(pc)]; };
      const uint32_t w = f == Form::LoadImm64 ? 2 : 1;
      if (f == Form::Jump || f == Form::JumpLong) succ(i.target());
      else if (f != Form::Exit) {
        succ(i.pc + w);
        if (f == Form::JumpImm || f == Form::JumpReg) succ(i.target());
      }
      const isa::RegUse u = isa::reg_use(i);
      const uint16_t v = uint16_t(u.reads | (out & ~u.writes) | (1u << 10));
      if (v != in[i.pc]) in[i.pc] = v, changed = true;
    }
  }
  (void)cfg;
  for (size_t pc = 0; pc < slots; ++pc)
    for (int r = 0; r < 11; ++r) live[pc][r] = in[pc] >> r & 1;
  return live;
}

// A cheap necessary condition for two states to cover each other (the
// infinite-loop test): the same callback iteration, and the current frames'
// registers alike. Mutual
// coverage with exact comparison means equal types, offsets and values, so
// most ancestors of a loop that makes progress fail here without a full
// comparison (the kernel's states_maybe_looping).
bool same_registers(const State& a, const State& b) {
  if (a.frames.size() != b.frames.size() || a.callback_entries != b.callback_entries) return false;
  const Frame &fa = a.cur(), &fb = b.cur();
  for (int r = 0; r < 11; ++r) {
    const RegState &x = fa.regs[size_t(r)], &y = fb.regs[size_t(r)];
    if (x.type != y.type) return false;
    if (x.type != RegType::NotInit && (x.off != y.off || !(x.var == y.var))) return false;
  }
  return true;
}

constexpr size_t kMaxLog = 16u << 20;  // the kernel's log buffer is at most 16 MiB too

// " R0=scalar(...) R1=ctx() R10=fp0" for the current frame's live registers.
std::string state_text(const State& s) {
  std::string out;
  const Frame& f = s.cur();
  for (int r = 0; r < 11; ++r)
    if (f.regs[r].type != RegType::NotInit) out += fmt::format(" R{}={}", r, f.regs[r].to_string());
  return out;
}

using detail::Checkpoint;
using detail::Marks;

struct Path {
  State st;
  uint32_t pc;
  int32_t cp;    // latest checkpoint on the path (-1: none yet)
  int32_t hist;  // latest history entry (-1: none yet)
  std::array<uint64_t, kMaxCallFrames> written{};  // stack slots overwritten whole since cp
  std::array<uint16_t, kMaxCallFrames> written_regs{};  // registers written since cp
};

}  // namespace

namespace detail {
bool covers(const State& o, const State& c, bool privileged, const LiveTable* live, uint32_t pc,
            const Checkpoint* done);
}

// bpf_loop: each callback iteration comes back to the call with scalars that
// may grow every time (a sum, a counter in the caller's stack), so exact
// comparison with the iteration before would never converge. As the kernel's
// widen_imprecise_scalars: a scalar that differs from the previous iteration's
// and that nothing needed precise there becomes unknown. Widening only loses
// information, so it is sound; a later check that needs the value rejects.
void widen_loop_state(const detail::Checkpoints& cps, int32_t cp, uint32_t pc, State& st) {
  const detail::Checkpoint* prev = nullptr;
  for (int32_t k = cp; k >= 0 && !prev; k = cps[size_t(k)].parent)
    if (cps[size_t(k)].pc == pc && cps[size_t(k)].st.frames.size() == st.frames.size()) prev = &cps[size_t(k)];
  if (!prev) return;
  auto widen = [](const RegState& old, RegState& cur) {
    if (old.type == RegType::Scalar && cur.type == RegType::Scalar && !(old == cur)) cur = RegState::unknown();
  };
  for (size_t f = 0; f < st.frames.size() && f < kMaxCallFrames; ++f) {
    const Frame& of = prev->st.frames[f];
    Frame& cf = st.frames[f];
    for (int r = 0; r < 11; ++r)
      if (!prev->precise.reg(f, r)) widen(of.regs[size_t(r)], cf.regs[size_t(r)]);
    for (int k = 0; k < kStackSlots; ++k) {
      if (prev->precise.slot(f, k)) continue;
      const StackSlot& os = of.slot(k);
      if (os.bytes[0] != SlotType::Spill || static_cast<const Frame&>(cf).slot(k).bytes[0] != SlotType::Spill) continue;
      widen(os.spilled, cf.slot(k).spilled);
    }
  }
}

Verdict verify(std::span<const isa::RawInsn> code, const Env& env) {
  // Destroyed last, after every state of this verification is freed.
  struct TrimPool {
    ~TrimPool() { pool_trim(); }
  } trim_pool;
  const auto t0 = std::chrono::steady_clock::now();
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  const double cpu0 = cpu_now();
  Verdict v;
  auto finish = [&](Verdict& out) -> Verdict {
    out.stats.cpu_seconds = cpu_now() - cpu0;
    out.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  };
  auto decoded = isa::decode_program(code);
  if (!decoded) {
    v.message = decoded.error().message;
    v.malformed = true;
    return finish(v);
  }
  const std::vector<Insn>& insns = *decoded;
  for (const Insn& i : insns) {
    if (auto bad = check_map_reference(i, env)) {
      v.message = std::move(*bad);
      v.pc = i.pc;
      return finish(v);
    }
  }
  // check_attach_btf_id: these types attach to a kernel function (or BPF
  // program) named by BTF id, whose BTF also types their context. xbpf has
  // no kernel BTF, so it loads none of them.
  if (env.prog_type == kabi::ProgType::Tracing || env.prog_type == kabi::ProgType::Lsm ||
      env.prog_type == kabi::ProgType::Ext) {
    v.message = fmt::format("Tracing programs must provide btf_id (a {} program attaches by the BTF id of a kernel "
                            "function, and xbpf has no kernel BTF)", kabi::name(env.prog_type));
    v.pc = 0;
    return finish(v);
  }
  CfgOptions co;
  co.allow_loops = env.privileged;
  co.allow_calls = env.privileged;
  co.max_insns = env.privileged ? kMaxInsnsPrivileged : kMaxInsnsUnprivileged;
  auto cfg = Cfg::build(insns, co);
  if (!cfg) {
    v.message = cfg.error().message;
    v.pc = cfg.error().pc;
    return finish(v);
  }
  const size_t slots = insns.back().pc + (isa::info(insns.back().op).form == Form::LoadImm64 ? 2 : 1);
  const auto live = liveness(insns, *cfg, slots);
  Checker checker(insns, *cfg, env);
  std::vector<int32_t> stack_depth(cfg->subprogs().size(), 0);  // per subprogram, over all paths

  detail::Checkpoints cps;
  detail::Precision precision(checker, cps);
  std::vector<std::vector<int32_t>> at_pc(slots);
  std::vector<Path> pending;
  pending.push_back(Path{checker.initial_state(), 0, -1, -1, {}});
  std::vector<uint32_t> in_progress(slots, 0);  // per pc: stored states still being explored
  // Paths pruned against a stored state that is their own ancestor (a
  // callback's iterations meeting at its call site). Such a state's precision
  // marks are final only when its subtree is done; then they are carried down
  // each pruned path and back up, until nothing changes (loop-carried values).
  struct BackEdge {
    int32_t hist, cp;
    int frame;
  };
  std::unordered_map<int32_t, std::vector<BackEdge>> back_edges;
  auto settle_back_edges = [&](int32_t k) {
    auto it = back_edges.find(k);
    if (it == back_edges.end()) return;
    for (int round = 0; round < 64; ++round) {  // marks only grow: a handful of rounds
      const Marks before = cps[size_t(k)].precise;
      for (const BackEdge& e : it->second) precision.mark(cps[size_t(k)].precise, e.hist, e.cp, e.frame);
      const Marks& after = cps[size_t(k)].precise;
      if (after.regs == before.regs && after.slots == before.slots) break;
    }
    back_edges.erase(it);
  };
  auto end_path = [&](int32_t k) {
    while (k >= 0) {
      if (--cps[size_t(k)].branches > 0) return;
      if (env.privileged) settle_back_edges(k);
      --in_progress[cps[size_t(k)].pc];
      // Only now may it prune (bpf_loop call sites are listed at once).
      if (!cps[size_t(k)].listed) at_pc[cps[size_t(k)].pc].push_back(k), cps[size_t(k)].listed = true;
      k = cps[size_t(k)].parent;
    }
  };
  std::vector<uint32_t> trail;
  auto reject_at = [&](uint32_t pc, std::string msg) {
    v.ok = false;
    v.pc = pc;
    v.message = std::move(msg);
    if (env.log_level == 1) {
      const size_t from = trail.size() > 200 ? trail.size() - 200 : 0;
      for (size_t k = from; k < trail.size(); ++k) {
        const Insn& i = checker.insn_at(trail[k]);
        v.log += fmt::format("{}: {}\n", i.pc, isa::format_insn(i, isa::Syntax::Kernel));
      }
    }
    if (env.log_level >= 1) v.log += v.message + "\n";
  };
  uint64_t& processed = v.stats.insns_processed;
  uint64_t jmps_since = 0, insns_since = 0;  // since the last stored state
  const helpers::Registry& helper_table = env.helpers ? *env.helpers : helpers::Registry::standard();
  while (!pending.empty()) {
    Path p = std::move(pending.back());
    pending.pop_back();
    trail.clear();
    for (;;) {
      if (++processed > env.insn_limit) {
        reject_at(p.pc, fmt::format("BPF program is too large. Processed {} insn", processed - 1));
        return finish(v);
      }
      const Insn& i = checker.insn_at(p.pc);
      const bool loop_call = calls_callback(i);
      if (cfg->is_prune_point(p.pc) || loop_call) {
        // Only states still being explored can be ancestors of this path.
        int depth = in_progress[p.pc] ? 0 : 64;
        for (int32_t k = p.cp; k >= 0 && depth < 64; k = cps[size_t(k)].parent, ++depth) {
          const Checkpoint& a = cps[size_t(k)];
          if (a.pc == p.pc && !loop_call && same_registers(a.st, p.st) &&
              detail::covers(a.st, p.st, env.privileged, nullptr, 0, nullptr) &&
              detail::covers(p.st, a.st, env.privileged, nullptr, 0, nullptr)) {
            reject_at(p.pc, fmt::format("infinite loop detected at insn {}", p.pc));
            return finish(v);
          }
        }
        bool pruned = false;
        auto& list = at_pc[p.pc];
        const int frame = static_cast<int>(p.st.frames.size()) - 1;
        for (size_t n = 0; n < list.size(); ++n) {
          Checkpoint& a = cps[size_t(list[n])];
          if (a.branches != 0 && !loop_call) continue;
          // Precision marks are final only once a state's subtree is done;
          // unprivileged programs keep every scalar precise, as the kernel does.
          const bool by_marks = a.branches == 0 && env.privileged && env.track_precision;
          if (detail::covers(a.st, p.st, env.privileged, &live, p.pc, by_marks ? &a : nullptr)) {
            ++a.hits;
            pruned = true;
            // What a's proof relied on, the current path must keep precise
            // (the kernel's propagate_precision). A state still being explored
            // (a callback's fixpoint) may yet rely on anything it constrains;
            // where it holds an unbounded scalar, any value is covered.
            Marks want = by_marks ? a.precise : detail::scalar_locations_under(a.st, p.st);
            for (int r = 0; r < 11; ++r)
              if (!live[p.pc][size_t(r)]) want.regs[size_t(frame)] &= static_cast<uint16_t>(~(1u << r));
            // An ancestor in progress gets its own marks when its subtree is
            // done (settle_back_edges); the states in between get `want` now.
            int32_t stop = -1;
            if (!by_marks)
              for (int32_t k = p.cp; k >= 0 && stop < 0; k = cps[size_t(k)].parent)
                if (k == list[n]) stop = k;
            if (env.privileged) precision.mark(want, p.hist, p.cp, frame, stop);
            if (env.privileged && stop >= 0) back_edges[stop].push_back(BackEdge{p.hist, p.cp, frame});
            // Likewise the stack slots a's subtree read (the kernel's propagate_liveness).
            for (size_t f = 0; f < p.st.frames.size(); ++f)
              detail::mark_stack_read(cps, p.cp, p.written, f, by_marks ? a.read[f] : ~uint64_t{0});
            for (size_t f = 0; f < p.st.frames.size(); ++f)
              detail::mark_regs_read(cps, p.cp, p.written_regs, f, by_marks ? a.read_regs[f] : uint16_t{0xffff});
            break;
          }
          // A completed state that keeps missing costs more than it saves
          // (the kernel evicts such states the same way).
          // States of a callback's fixpoint still being explored get a few
          // more chances (the kernel gives its force-checkpoint sites 64; 8
          // converge the same on every test and corpus program, and a callback
          // that never converges then costs 13.7 s instead of 23 s to reach the
          // instruction limit) and keep their memory: precision marking may
          // still walk them.
          const uint32_t chances = a.branches != 0 ? 8 : 3;
          if (++a.misses > a.hits * chances + chances) {
            if (a.branches == 0) a.st = State{};  // free its memory; it is no longer compared
            list[n] = list.back();
            list.pop_back();
            --n;
          }
        }
        if (pruned) {
          ++v.stats.states_pruned;
          end_path(p.cp);
          break;
        }
        // Store a state only every few jumps and instructions (the kernel's
        // heuristic: most prune points then cost a search, not a copy; an
        // infinite loop still meets its own stored state again).
        if (loop_call && env.privileged && env.track_precision) widen_loop_state(cps, p.cp, p.pc, p.st);
        // Also when much history has piled up since the path's last stored
        // state (the kernel forces one past 40 jumps of history): precision
        // backtracking walks that history, so it must stay short.
        const bool long_history =
            static_cast<int64_t>(precision.size()) - (p.cp >= 0 ? cps[size_t(p.cp)].first : 0) > kMaxHistoryRun;
        // Inside a loop (a state at this instruction is still being
        // explored), only every 20 jumps or 100 instructions, as the kernel:
        // a loop that runs long would otherwise store a state per turn.
        const bool forced = env.test_state_freq || loop_call || long_history;
        const bool in_loop = in_progress[p.pc] > 0 && jmps_since < 20 && insns_since < 100;
        if (forced || (!in_loop && jmps_since >= 2 && insns_since >= 8)) {
          jmps_since = insns_since = 0;
          cps.push_back(Checkpoint{p.st, {}, {}, p.written, p.pc, p.cp, precision.size(), 1, 0, 0});
          cps.back().seg_written_regs = p.written_regs;
          p.written = {};
          p.written_regs = {};
          p.cp = static_cast<int32_t>(cps.size() - 1);
          if (loop_call) at_pc[p.pc].push_back(p.cp), cps.back().listed = true;
          ++in_progress[p.pc];
          ++v.stats.states_total;
        }
      }
      ++insns_since;
      const Form form = isa::info(i.op).form;
      if (form == Form::Jump || form == Form::JumpLong || form == Form::JumpImm || form == Form::JumpReg ||
          form == Form::Call || form == Form::CallLocal || form == Form::Exit)
        ++jmps_since;
      trail.push_back(p.pc);
      const auto frame = static_cast<uint8_t>(p.st.frames.size() - 1);
      // Registers this instruction reads count as read in the stored states
      // above (a helper reads only its prototype's arguments).
      {
        const isa::RegUse ru = isa::reg_use(i);
        uint16_t use = ru.reads;
        const uint16_t def = ru.writes;
        if (form == Form::Call) {
          use = 0;
          if (const helpers::HelperSpec* h = helper_table.find(static_cast<uint32_t>(i.imm)))
            for (int k = 0; k < 5 && h->args[k] != helpers::Arg::DontCare; ++k) use |= uint16_t(1u << (k + 1));
          else
            use = 0x3e;
        }
        use &= 0x3ff;  // r10 is never written
        if (use) detail::mark_regs_read(cps, p.cp, p.written_regs, frame, use);
        p.written_regs[frame] |= def;
      }
      checker.trace().clear();
      auto r = checker.step(p.st, i);
      if (env.log_level >= 2 && v.log.size() < kMaxLog) {
        v.log += fmt::format("{}: {}", i.pc, isa::format_insn(i, isa::Syntax::Kernel));
        if (r) v.log += " ;" + state_text(p.st);
        v.log += '\n';
        if (v.log.size() >= kMaxLog) v.log += "... log truncated\n";
      }
      if (!r) {
        reject_at(p.pc, r.error().message);
        return finish(v);
      }
      v.stats.max_stack_depth = std::max<uint32_t>(v.stats.max_stack_depth, static_cast<uint32_t>(p.st.cur().stack_depth));
      int32_t& sub_depth = stack_depth[cfg->subprog_of(p.st.cur().subprog)];  // Frame::subprog: its first pc
      sub_depth = std::max(sub_depth, p.st.cur().stack_depth);
      // Values this instruction's checks read (before it ran) become precise
      // in the states they came from; then the instruction joins the history.
      if (const uint16_t want = checker.trace().precise_regs; want && env.privileged) {
        Marks m;
        m.regs[frame] = want;
        precision.mark(m, p.hist, p.cp, frame);
      }
      p.hist = precision.record(p.hist, i, frame, checker.trace());
      if (const detail::StepTrace& t = checker.trace(); t.stack_touched) {
        for (size_t f = 0; f < kMaxCallFrames; ++f) {
          if (t.stack_read[f]) detail::mark_stack_read(cps, p.cp, p.written, f, t.stack_read[f]);
          p.written[f] |= t.stack_written[f];
        }
      }
      // A frame pushed or popped: its slots and registers start anew (nothing
      // above reads them); a subprogram's return writes the caller's r0.
      if (p.st.frames.size() != size_t(frame) + 1) {
        const size_t gone = std::max<size_t>(frame, p.st.frames.size() - 1);
        p.written[gone] = ~uint64_t{0};
        p.written_regs[gone] = 0xffff;
        if (p.st.frames.size() == size_t(frame)) p.written_regs[frame - 1] |= 1;
      }
      if (r->kind == Step::End) {
        end_path(p.cp);
        break;
      }
      if (r->kind == Step::Fork) {
        if (p.cp >= 0) ++cps[size_t(p.cp)].branches;
        pending.push_back(Path{std::move(*r->branch), r->branch_pc, p.cp, p.hist, p.written, p.written_regs});
        if (pending.back().st.frames.size() > size_t(frame) + 1) {
          pending.back().written[size_t(frame) + 1] = ~uint64_t{0};
          pending.back().written_regs[size_t(frame) + 1] = 0xffff;
        }
        v.stats.peak_states = std::max<uint64_t>(v.stats.peak_states, pending.size());
        // The kernel's BPF_COMPLEXITY_LIMIT_JMP_SEQ: at most 8192 branches
        // waiting to be explored (each holds a whole state).
        if (pending.size() > kMaxPendingBranches) {
          reject_at(p.pc, fmt::format("The sequence of {} jumps is too complex.", pending.size()));
          return finish(v);
        }
      }
      p.pc = r->next;
    }
  }
  if (auto e = cfg->check_stack_depth(insns, stack_depth)) {
    reject_at(e->pc, e->message);
    return finish(v);
  }
  v.ok = true;
  if (env.jit_facts) {
    const std::vector<uint8_t>& facts = checker.facts();
    v.jit_facts.insn.assign(slots, 0);
    for (size_t pc = 0; pc < slots && pc < facts.size(); ++pc)
      if (facts[pc] & Checker::kFactsSeen) v.jit_facts.insn[pc] = uint8_t(facts[pc] & ~Checker::kFactsSeen);
    for (const Insn& i : insns) {
      const uint8_t kind = isa::info(i.op).code & 0xf0;
      if (isa::info(i.op).form != Form::AluReg || (kind != 0x30 && kind != 0x90) || i.pc + 1 >= slots ||
          !(facts[i.pc] & Checker::kFactsSeen))
        continue;
      if (!live[i.pc + 1][0]) v.jit_facts.insn[i.pc] |= JitFacts::kR0DeadAfter;
      if (!live[i.pc + 1][3]) v.jit_facts.insn[i.pc] |= JitFacts::kR3DeadAfter;
    }
    for (size_t k = 0; k < cfg->subprogs().size(); ++k) {
      v.jit_facts.subprog_start.push_back(cfg->subprogs()[k].start);
      v.jit_facts.stack_depth.push_back((checker.stack_access()[k] + 7) / 8 * 8);
    }
  }
  v.call_map = std::move(checker.call_maps());
  v.call_map.resize(slots, Verdict::kNoMap);
  for (int32_t& m : v.call_map) m = std::max(m, Verdict::kNoMap);
  if (env.log_level >= 1)
    v.log += fmt::format("processed {} insns (limit {}) max_states_per_insn ? total_states {} peak_states {}\n",
                         processed, env.insn_limit, v.stats.states_total, v.stats.peak_states);
  return finish(v);
}

}  // namespace xbpf::verifier
