// find_idioms (idioms.hpp): candidate ends, windows evaluated symbolically,
// the exact expressions of population count, rotate and division with
// remainder, register liveness and registers set once to a constant.
#include "jit/idioms.hpp"

#include <algorithm>
#include <optional>

namespace xbpf::jit {
namespace {

using isa::Form;
using isa::Insn;
using isa::Op;

constexpr uint16_t bit(unsigned r) { return uint16_t(1u << r); }
constexpr uint16_t kCallerSaved = 0x3f;  // r0-r5
constexpr uint16_t kAllRegs = 0x7ff;     // r0-r10
constexpr uint32_t kTailCall = 12;       // BPF_FUNC_tail_call

// ALU operations (the opcode's high nibble) a window may contain.
enum : uint8_t { kAdd = 0x00, kSub = 0x10, kMul = 0x20, kDiv = 0x30, kOr = 0x40, kAnd = 0x50, kLsh = 0x60,
                 kRsh = 0x70, kXor = 0xa0, kMov = 0xb0 };

constexpr uint8_t kind_of(Op op) { return isa::brief(op).code & 0xf0; }

// Per opcode, what the screening below asks about it: looked up once
// instead of its form and kind tested one by one (find_idioms visits every
// instruction, and most are no candidate).
enum : uint8_t {
  kPure = 1,     // a window may hold it (pure(), `off` aside)
  kOffIsSign = 2,  // a division: pure if off is 0 or 1 (its signedness)
  kOffZero = 4,  // a register operation: pure only with off 0 (else movsx)
  kRotl = 8,     // may end a rotate (| ^ + of registers)
  kDivmod = 16,  // may end a remainder (- of registers)
  kPopcnt = 32,  // may end a population count (>> 56, >> 24 by a constant)
};
struct OpTraits {
  uint8_t t[isa::kNumOps] = {};
  constexpr OpTraits() {
    for (size_t o = 0; o < isa::kNumOps; ++o) {
      const Op op = Op(o);
      const Form f = isa::form(op);
      const uint8_t k = kind_of(op);
      uint8_t& x = t[o];
      if (f == Form::LoadImm64) {
        if (op == Op::LDDW) x = kPure;
        continue;
      }
      if (f != Form::AluImm && f != Form::AluReg) continue;
      switch (k) {
        case kDiv: x = kPure | kOffIsSign; break;
        case kAdd: case kSub: case kMul: case kOr: case kAnd: case kLsh: case kRsh: case kXor: case kMov:
          x = uint8_t(kPure | (f == Form::AluReg ? kOffZero : 0));
          break;
        default: break;
      }
      if (f == Form::AluReg && k == kSub) x |= kDivmod;
      if (f == Form::AluReg && (k == kOr || k == kXor || k == kAdd)) x |= kRotl;
      if (op == Op::RSH64_IMM || op == Op::RSH32_IMM) x |= kPopcnt;
    }
  }
};
constexpr OpTraits kTraits;

// Instructions a window may contain: plain lddw and these ALU operations
// (no modulo, no sign-extending move: nothing the expressions need). A
// division's `off` is its signedness (0 or 1 once decoded).
bool pure(const Insn& i) {
  const uint8_t t = kTraits.t[size_t(i.op)];
  if (!(t & kPure)) return false;
  if (t & kOffIsSign) return i.off == 0 || i.off == 1;
  return !(t & kOffZero) || i.off == 0;
}

// Registers `i` may read: its isa::reg_use `use`, but the JIT also compiles
// unverified code. A callee (a tail-called program too) receives r1-r5; the
// verifier lets it read nothing else the caller set, but unverified code may
// read any register and then sees the caller's value on both engines.
uint16_t reads(const Insn& i, const isa::RegUse& use) {
  const Form f = isa::form(i.op);
  if (f == Form::CallLocal || (f == Form::Call && uint32_t(i.imm) == kTailCall)) return kAllRegs;
  return use.reads;
}

// Registers `i` writes on every execution that goes on to the next
// instruction (liveness may only forget a value something surely replaced):
// its isa::reg_use `use`, but a legacy packet load leaves r1-r5 as they were on both
// engines (only the verifier calls them undefined).
uint16_t must_writes(const Insn& i, const isa::RegUse& use) {
  const Form f = isa::form(i.op);
  if (f == Form::LoadAbs || f == Form::LoadInd) return bit(0);
  return use.writes;
}

// Registers `i` may write (for "set once": every possible writer counts).
uint16_t may_writes(const Insn& i) { return isa::reg_use(i).writes; }

bool falls_through(const Insn& i) { return i.op != Op::EXIT && i.op != Op::JA && i.op != Op::JA32; }

using Kind = Idiom::Kind;

// What idiom an instruction may end (its window's last instruction).
std::optional<Kind> candidate(const Insn& i, bool popcnt) {
  const uint8_t t = kTraits.t[size_t(i.op)];
  if (!(t & (kPopcnt | kDivmod | kRotl))) [[likely]]
    return std::nullopt;
  if (t & kPopcnt) {
    if (popcnt && i.op == Op::RSH64_IMM && i.imm == 56) return Kind::popcnt64;
    if (popcnt && i.op == Op::RSH32_IMM && i.imm == 24) return Kind::popcnt32;
    return std::nullopt;
  }
  const bool w32 = isa::is_32bit(i.op);
  if (t & kDivmod) return w32 ? Kind::divmod32 : Kind::divmod64;  // x - (x / d) * d
  return w32 ? Kind::rotl32 : Kind::rotl64;  // | ^ +: the two halves share no bit
}

// The instruction index that last wrote register r before index e,
// following register moves back to their source (a move's value is its
// source's in the window's expressions), within [lo, e) and e's function:
// UINT32_MAX if there is none or an instruction no window may hold is in
// between.
uint32_t last_writer(std::span<const Insn> insns, const std::vector<uint32_t>& function_of, uint32_t e,
                     uint32_t lo, uint8_t r) {
  const uint32_t f = function_of[insns[e].pc];
  for (uint32_t k = e; k-- > lo;) {
    const Insn& i = insns[k];
    if (!pure(i) || function_of[i.pc] != f) return UINT32_MAX;
    if (i.dst != r) continue;
    if (kind_of(i.op) != kMov || isa::form(i.op) != Form::AluReg) return k;
    r = i.src;
  }
  return UINT32_MAX;
}

// The lowest index a window ending at e may start at.
uint32_t reach(uint32_t e, uint32_t floor, uint32_t max_len) {
  return std::max(floor, e + 1 >= max_len ? e + 1 - max_len : 0);
}

// A cheap necessary condition for a remainder ending at index e (most `-`
// of registers are none): the subtrahend was last written by a
// multiplication of two registers of the same width, and a division of that
// width comes before it, both inside the window's reach.
bool may_divmod(std::span<const Insn> insns, const std::vector<uint32_t>& function_of, uint32_t e, uint32_t floor,
                uint32_t max_len) {
  const uint32_t lo = reach(e, floor, max_len);
  const bool w32 = isa::is_32bit(insns[e].op);
  const uint32_t m = last_writer(insns, function_of, e, lo, insns[e].src);
  if (m == UINT32_MAX || kind_of(insns[m].op) != kMul || isa::form(insns[m].op) != Form::AluReg ||
      isa::is_32bit(insns[m].op) != w32)
    return false;
  const uint32_t f = function_of[insns[e].pc];
  for (uint32_t k = m; k-- > lo;) {
    const Insn& i = insns[k];
    if (!pure(i) || function_of[i.pc] != f) return false;
    if (kind_of(i.op) == kDiv && isa::is_32bit(i.op) == w32) return true;
  }
  return false;
}

// A cheap necessary condition for a rotate ending at index e (most `|`,
// `^` and `+` of registers are none): one operand was last written by a left
// shift and the other by a right shift, both inside the window's reach.
bool may_rotate(std::span<const Insn> insns, const std::vector<uint32_t>& function_of, uint32_t e, uint32_t floor,
                uint32_t max_len) {
  const uint32_t lo = reach(e, floor, max_len);
  auto shift_kind = [&](uint8_t r) -> uint8_t {
    const uint32_t w = last_writer(insns, function_of, e, lo, r);
    if (w == UINT32_MAX) return 0;
    const uint8_t kind = kind_of(insns[w].op);
    return kind == kLsh || kind == kRsh ? kind : 0;
  };
  const uint8_t a = shift_kind(insns[e].dst), b = shift_kind(insns[e].src);
  return a && b && a != b;
}

class Finder {
 public:
  Finder(std::span<const Insn> insns, const std::vector<uint32_t>& function_of)
      : insns_(insns), function_of_(function_of) {
    const uint32_t slots = insns.empty() ? 0 : insns.back().pc + uint32_t(isa::slot_count(insns.back().op));
    index_of_.assign(slots, UINT32_MAX);
    begin_of_.assign(insns.size(), 0);
    for (uint32_t k = 0; k < insns.size(); ++k) {
      index_of_[insns[k].pc] = k;
      const bool same = k > 0 && function_of_[insns[k - 1].pc] == function_of_[insns[k].pc];
      begin_of_[k] = same ? begin_of_[k - 1] : k;
    }
  }

  // The first instruction index of instruction index k's function.
  uint32_t function_begin(uint32_t k) const { return begin_of_[k]; }

  // [s, e] computes the wanted idiom: fills `out`.
  bool try_window(uint32_t s, uint32_t e, Kind want, Idiom& out) {
    if (!eval(s, e)) return false;
    s_ = s;
    out = Idiom{};
    out.kind = want;
    is64_ = out.is64();
    const uint8_t dst = insns_[e].dst;
    const uint16_t result = reg_[dst];
    uint16_t quotient = UINT16_MAX;  // divmod: the quotient's node
    switch (want) {
      case Kind::popcnt64: case Kind::popcnt32:
        if (!match_popcnt(result, out.src)) return false;
        break;
      case Kind::rotl64: case Kind::rotl32:
        if (!match_rotl(result, out.src, out.count)) return false;
        break;
      case Kind::divmod64: case Kind::divmod32:
        if (!match_remainder(result, quotient)) return false;
        out.src = nodes_[strip(nodes_[quotient].a)].reg;
        out.divisor = nodes_[strip(nodes_[quotient].b)].reg;
        out.sign = nodes_[quotient].sign;
        out.div_at = nodes_[quotient].at;
        break;
    }
    // Liveness only of what the emitter asks about: the window's other
    // registers, and r0 and r3 for a division (which of them to keep).
    const bool div = want == Kind::divmod64 || want == Kind::divmod32;
    const uint16_t live = live_after(e, uint16_t((written_ & ~bit(dst)) | (div ? bit(0) | bit(3) : 0)));
    out.live_after = live;
    out.first = s;
    out.end = e + 1;
    out.dst = dst;
    // What else the window wrote: dead after it, the quotient (once), or a
    // constant to set.
    for (uint8_t r = 0; r < 10; ++r) {
      if (r == dst || !(written_ & bit(r)) || !(live & bit(r))) continue;
      if (quotient != UINT16_MAX && out.quot == Idiom::kNoReg && same_division(strip(reg_[r]), quotient)) {
        out.quot = r;
        continue;
      }
      const Node& n = nodes_[reg_[r]];
      if (n.kind != Node::kConst) return false;
      out.const_reg[out.nconsts] = r;
      out.const_value[out.nconsts++] = n.v;
    }
    return true;
  }

 private:
  struct Node {
    enum Kind : uint8_t { kLeaf, kConst, kOp };
    Kind kind = kLeaf;
    uint8_t op = 0;     // kOp: an ALU kind; kMov is a 32-bit move (zero-extends)
    bool is64 = true;   // kOp: 64-bit; else the low 32 bits of both, zero-extended
    uint8_t reg = 0;    // kLeaf: the register's value where the window starts
    uint16_t a = 0, b = 0;
    uint64_t v = 0;     // kConst
    bool sign = false;  // kDiv: signed
    uint32_t at = 0;    // kDiv: its instruction index
  };

  uint16_t add(const Node& n) {
    nodes_.push_back(n);
    return uint16_t(nodes_.size() - 1);
  }
  uint16_t konst(uint64_t v) { return add(Node{Node::kConst, 0, true, 0, 0, 0, v}); }

  // Symbolic values of the registers after [s, e]; false if an instruction
  // there is not pure().
  bool eval(uint32_t s, uint32_t e) {
    nodes_.clear();
    written_ = 0;
    for (uint8_t r = 0; r <= 10; ++r) reg_[r] = add(Node{Node::kLeaf, 0, true, r, 0, 0, 0});
    for (uint32_t k = s; k <= e; ++k) {
      const Insn& i = insns_[k];
      if (!pure(i)) return false;
      written_ |= bit(i.dst);
      if (i.op == Op::LDDW) {
        reg_[i.dst] = konst(uint64_t(i.imm64));
        continue;
      }
      const bool is64 = !isa::is_32bit(i.op);
      const uint8_t kind = kind_of(i.op);
      const uint16_t b = isa::form(i.op) == Form::AluImm
                             ? konst(is64 ? uint64_t(int64_t(i.imm)) : uint64_t(uint32_t(i.imm)))
                             : reg_[i.src];
      if (kind == kMov) {
        if (is64) reg_[i.dst] = b;
        else if (nodes_[b].kind == Node::kConst) reg_[i.dst] = konst(uint32_t(nodes_[b].v));
        else reg_[i.dst] = add(Node{Node::kOp, kMov, false, 0, b, 0, 0});
        continue;
      }
      reg_[i.dst] = add(Node{Node::kOp, kind, is64, 0, reg_[i.dst], b, 0, kind == kDiv && i.off == 1, k});
    }
    return true;
  }

  // In a 32-bit expression only low halves count: a 32-bit move is no step.
  uint16_t strip(uint16_t n) const {
    while (!is64_ && nodes_[n].kind == Node::kOp && nodes_[n].op == kMov) n = nodes_[n].a;
    return n;
  }
  bool is_op(uint16_t n, uint8_t op, uint16_t& a, uint16_t& b) const {
    const Node& x = nodes_[strip(n)];
    if (x.kind != Node::kOp || x.op != op || x.is64 != is64_) return false;
    a = strip(x.a);
    b = strip(x.b);
    return true;
  }
  std::optional<uint64_t> value(uint16_t n) {
    const Node& x = nodes_[strip(n)];
    std::optional<uint64_t> v;
    if (x.kind == Node::kConst) v = x.v;
    else if (x.kind == Node::kLeaf) v = constant_at(x.reg, s_);
    if (v && !is64_) v = uint32_t(*v);
    return v;
  }
  bool is_const(uint16_t n, uint64_t want) {
    const auto v = value(n);
    return v && *v == (is64_ ? want : uint32_t(want));
  }
  // n = op & mask (either order): `other` gets op.
  bool and_const(uint16_t n, uint64_t mask, uint16_t& other) {
    uint16_t a, b;
    if (!is_op(n, kAnd, a, b)) return false;
    if (is_const(b, mask)) other = a;
    else if (is_const(a, mask)) other = b;
    else return false;
    return true;
  }
  bool shr_of(uint16_t n, uint16_t of, uint64_t amount) {
    uint16_t a, b;
    return is_op(n, kRsh, a, b) && a == of && is_const(b, amount);
  }

  // LLVM's expansion of ctpop (Hacker's Delight 5-2), exactly:
  //   t = x - ((x >> 1) & 0x55..);  b = (t & 0x33..) + ((t >> 2) & 0x33..);
  //   result = (((b + (b >> 4)) & 0x0f..) * 0x01..) >> (width - 8)
  // which is the population count of x for every x (each step sums
  // neighbouring fields that cannot carry into each other). + and & in
  // either operand order.
  bool match_popcnt(uint16_t result, uint8_t& src) {
    const uint64_t k55 = 0x5555555555555555ull, k33 = 0x3333333333333333ull, k0f = 0x0f0f0f0f0f0f0f0full,
                   k01 = 0x0101010101010101ull;
    uint16_t m, c, x, y, p, q;
    if (!is_op(result, kRsh, m, c) || !is_const(c, is64_ ? 56 : 24)) return false;
    if (!is_op(m, kMul, x, y)) return false;
    const uint16_t sum = is_const(y, k01) ? x : is_const(x, k01) ? y : UINT16_MAX;
    uint16_t s;
    if (sum == UINT16_MAX || !and_const(sum, k0f, s) || !is_op(s, kAdd, p, q)) return false;
    const uint16_t b = shr_of(q, p, 4) ? p : shr_of(p, q, 4) ? q : UINT16_MAX;
    if (b == UINT16_MAX || !is_op(b, kAdd, p, q)) return false;
    uint16_t lo, hi;
    if (!and_const(p, k33, lo) || !and_const(q, k33, hi)) return false;
    const uint16_t t = shr_of(hi, lo, 2) ? lo : shr_of(lo, hi, 2) ? hi : UINT16_MAX;
    if (t == UINT16_MAX || !is_op(t, kSub, p, q)) return false;
    uint16_t half;
    if (!and_const(q, k55, half) || !shr_of(half, p, 1)) return false;
    if (nodes_[p].kind != Node::kLeaf) return false;
    src = nodes_[p].reg;
    return true;
  }

  // (x << k) | (x >> (width - k)), 0 < k < width, | also ^ or +.
  bool match_rotl(uint16_t result, uint8_t& src, uint8_t& count) {
    uint16_t p, q;
    if (!is_op(result, kOr, p, q) && !is_op(result, kXor, p, q) && !is_op(result, kAdd, p, q)) return false;
    const uint64_t width = is64_ ? 64 : 32;
    for (int swap = 0; swap < 2; ++swap) {
      uint16_t lx, lk, rx, rk;
      if (!is_op(swap ? q : p, kLsh, lx, lk) || !is_op(swap ? p : q, kRsh, rx, rk) || lx != rx) continue;
      const auto kl = value(lk), kr = value(rk);
      if (!kl || !kr || *kl == 0 || *kl >= width || *kl + *kr != width) continue;
      if (nodes_[lx].kind != Node::kLeaf) continue;
      src = nodes_[lx].reg;
      count = uint8_t(*kl);
      return true;
    }
    return false;
  }

  // x - (x / d) * d (* in either order) with x and d registers' values where
  // the window starts; `quotient` gets the division's node. For every x and
  // d this is BPF's x % d: x / 0 = 0 leaves x, and a signed x / -1 = -x
  // (wrapping) leaves 0, as BPF's smod by 0 and -1 define.
  bool match_remainder(uint16_t result, uint16_t& quotient) {
    uint16_t x, m, p, q;
    if (!is_op(result, kSub, x, m) || nodes_[x].kind != Node::kLeaf || !is_op(m, kMul, p, q)) return false;
    for (int swap = 0; swap < 2; ++swap) {
      const uint16_t div = swap ? q : p, d = swap ? p : q;
      uint16_t dx, dd;
      if (nodes_[d].kind == Node::kLeaf && is_op(div, kDiv, dx, dd) && dx == x && dd == d) {
        quotient = strip(div);
        return true;
      }
    }
    return false;
  }
  // n (stripped) is the same division of the same leaves as `quotient`.
  bool same_division(uint16_t n, uint16_t quotient) const {
    const Node &a = nodes_[n], &b = nodes_[quotient];
    if (n == quotient) return true;
    return a.kind == Node::kOp && a.op == kDiv && a.is64 == b.is64 && a.sign == b.sign && strip(a.a) == strip(b.a) &&
           strip(a.b) == strip(b.b);
  }

  // The constant register r holds where instruction index s starts on every
  // path, if any: walking back from s along every path, each one meets a
  // constant move (or lddw) of r before anything else that may write r and
  // before the function's entry, and all of them move the same constant.
  std::optional<uint64_t> constant_at(uint8_t r, uint32_t s) {
    for (const auto& c : const_cache_)
      if (c.r == r && c.s == s) return c.v;
    const auto v = find_constant(r, s);
    const_cache_.push_back({r, s, v});
    return v;
  }
  std::optional<uint64_t> find_constant(uint8_t r, uint32_t s) {
    const auto& preds = predecessors();
    std::optional<uint64_t> v;
    std::vector<uint32_t> todo{s};
    // (only the marks of the last search are cleared: a search visits few
    // instructions, and a program may have many candidate windows)
    if (seen_.size() != insns_.size()) seen_.assign(insns_.size(), false);
    for (const uint32_t q : seen_list_) seen_[q] = false;
    seen_list_.clear();
    while (!todo.empty()) {
      const uint32_t k = todo.back();
      todo.pop_back();
      if (k == begin_of_[k]) return std::nullopt;  // the entry: r's value comes from the caller
      for (uint32_t p = pred_begin_[k]; p < pred_begin_[k + 1]; ++p) {
        const uint32_t q = preds[p];
        if (seen_[q]) continue;
        seen_[q] = true;
        seen_list_.push_back(q);
        const Insn& w = insns_[q];
        if (!(may_writes(w) & bit(r))) {
          todo.push_back(q);
          continue;
        }
        uint64_t c;
        if (w.op == Op::LDDW) c = uint64_t(w.imm64);
        else if (w.op == Op::MOV64_IMM) c = uint64_t(int64_t(w.imm));
        else if (w.op == Op::MOV32_IMM) c = uint32_t(w.imm);
        else return std::nullopt;
        if (v && *v != c) return std::nullopt;
        v = c;
      }
    }
    return v;
  }

  // Predecessors of each instruction index inside its function (CSR:
  // preds_[pred_begin_[k] .. pred_begin_[k + 1])); computed on first use.
  // (A jump to no instruction adds no edge: the lowering refuses such
  // programs before this runs, and liveness counts it as reading everything.)
  const std::vector<uint32_t>& predecessors() {
    if (!pred_begin_.empty()) return preds_;
    const size_t n = insns_.size();
    std::vector<std::pair<uint32_t, uint32_t>> edges;  // (to, from)
    for (uint32_t k = 0; k < n; ++k) {
      const Successors to = successors(k);
      if (to.next != kNone) edges.emplace_back(to.next, k);
      if (to.jump != kNone && to.jump != kAnywhere) edges.emplace_back(to.jump, k);
    }
    std::sort(edges.begin(), edges.end());
    pred_begin_.assign(n + 1, 0);
    for (const auto& e : edges) ++pred_begin_[e.first + 1];
    for (size_t k = 0; k < n; ++k) pred_begin_[k + 1] += pred_begin_[k];
    preds_.reserve(edges.size());
    for (const auto& e : edges) preds_.push_back(e.second);
    return preds_;
  }

  // Which of the registers in `want` are live after instruction index e: a
  // search forward from e's successors, each path carrying the registers
  // not yet read or written on it. A window's registers are mostly written
  // again a few instructions on, so the search stays short; past
  // kSearchVisits it gives up and the whole program's liveness answers.
  uint16_t live_after(uint32_t e, uint16_t want) {
    if (!want) return 0;
    if (!live_.empty()) return uint16_t(live_[e] & want);
    constexpr size_t kSearchVisits = 256;
    // Per index, the registers already searched from it; cleared where the
    // last search (at most kSearchVisits) marked it.
    if (searched_.size() != insns_.size()) searched_.assign(insns_.size(), 0);
    for (const uint32_t k : searched_list_) searched_[k] = 0;
    searched_list_.clear();
    std::vector<std::pair<uint32_t, uint16_t>> todo;
    uint16_t live = 0;
    // The successors of k get `open` (false: a jump to no instruction, which reads everything).
    auto follow = [&](uint32_t k, uint16_t open) {
      const Successors to = successors(k);
      if (to.next != kNone) todo.emplace_back(to.next, open);
      if (to.jump == kAnywhere) return false;
      if (to.jump != kNone) todo.emplace_back(to.jump, open);
      return true;
    };
    if (!follow(e, want)) return want;
    for (size_t visits = 0; !todo.empty();) {
      auto [k, open] = todo.back();
      todo.pop_back();
      open = uint16_t(open & ~live & ~searched_[k]);
      if (!open) continue;
      if (++visits > kSearchVisits) return uint16_t(live_out()[e] & want);
      if (!searched_[k]) searched_list_.push_back(k);
      searched_[k] |= open;
      const Insn& i = insns_[k];
      const isa::RegUse use = isa::reg_use(i);
      const uint16_t reads_here = reads_at(k, use);
      live |= reads_here & open;
      open = uint16_t(open & ~reads_here & ~must_writes(i, use));
      if (open && !follow(k, open)) live |= open;
      if (live == want) break;
    }
    return live;
  }

  // Where instruction index k goes on: the next index (when it falls
  // through inside its function) and a jump's target index (kAnywhere: a
  // jump to no instruction, which liveness takes as reading everything).
  static constexpr uint32_t kNone = UINT32_MAX, kAnywhere = UINT32_MAX - 1;
  struct Successors {
    uint32_t next = kNone, jump = kNone;
  };
  Successors successors(uint32_t k) const {
    const Insn& i = insns_[k];
    Successors to;
    if (falls_through(i) && k + 1 < insns_.size() && function_of_[insns_[k + 1].pc] == function_of_[i.pc])
      to.next = k + 1;
    if (isa::is_jump(i.op)) {
      const int64_t t = i.target();
      const uint32_t idx = t >= 0 && size_t(t) < index_of_.size() ? index_of_[size_t(t)] : UINT32_MAX;
      to.jump = idx == UINT32_MAX ? kAnywhere : idx;
    }
    return to;
  }

  // What instruction index k reads (`use`: its isa::reg_use). A
  // subprogram's exit also hands r1-r5 back: the verifier lets no caller
  // read them, but unverified code may, and on both engines it then sees
  // what the callee left there.
  uint16_t reads_at(uint32_t k, const isa::RegUse& use) const {
    const Insn& i = insns_[k];
    return i.op == Op::EXIT && begin_of_[k] != 0 ? kCallerSaved : reads(i, use);
  }

  // Per instruction index: registers live after it (computed on first use).
  // Each instruction's reads, kills and successors are found once; the
  // passes to the fixpoint then only combine bits.
  const std::vector<uint16_t>& live_out() {
    if (!live_.empty() || insns_.empty()) return live_;
    const size_t n = insns_.size();
    std::vector<uint16_t> uses(n), kills(n);
    std::vector<Successors> to(n);
    for (uint32_t k = 0; k < n; ++k) {
      const isa::RegUse use = isa::reg_use(insns_[k]);
      uses[k] = reads_at(k, use);
      kills[k] = must_writes(insns_[k], use);
      to[k] = successors(k);
    }
    std::vector<uint16_t> in(n, 0);
    live_.assign(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t k = n; k-- > 0;) {
        uint16_t out = to[k].next != kNone ? in[to[k].next] : 0;
        if (to[k].jump != kNone) out |= to[k].jump == kAnywhere ? kAllRegs : in[to[k].jump];
        const auto now = uint16_t(uses[k] | (out & ~kills[k]));
        if (out != live_[k] || now != in[k]) {
          live_[k] = out;
          in[k] = now;
          changed = true;
        }
      }
    }
    return live_;
  }

  std::span<const Insn> insns_;
  const std::vector<uint32_t>& function_of_;
  std::vector<uint32_t> index_of_;  // slot -> instruction index
  std::vector<uint32_t> begin_of_;  // instruction index -> its function's first
  std::vector<uint16_t> live_;
  std::vector<uint16_t> searched_;      // live_after's
  std::vector<uint32_t> searched_list_;  // the indices searched_ has nonzero
  std::vector<uint32_t> pred_begin_, preds_;
  std::vector<bool> seen_;             // find_constant's
  std::vector<uint32_t> seen_list_;    // the indices seen_ has set
  struct Cached {
    uint8_t r;
    uint32_t s;
    std::optional<uint64_t> v;
  };
  std::vector<Cached> const_cache_;
  // The window being matched.
  std::vector<Node> nodes_;
  uint16_t reg_[11] = {};
  uint16_t written_ = 0;
  uint32_t s_ = 0;
  bool is64_ = true;
};

}  // namespace

std::vector<Idiom> find_idioms(std::span<const Insn> insns, const std::vector<uint32_t>& function_of,
                               const std::function<bool(uint32_t pc)>& join, bool popcnt) {
  std::vector<Idiom> found;
  std::optional<Finder> finder;  // built for the first candidate that passes the cheap tests
  uint32_t floor = 0;            // windows do not overlap
  for (uint32_t e = 0; e < insns.size(); ++e) {
    const std::optional<Kind> want = candidate(insns[e], popcnt);
    if (!want) continue;
    const bool pop = *want == Kind::popcnt64 || *want == Kind::popcnt32;
    const bool div = *want == Kind::divmod64 || *want == Kind::divmod32;
    const uint32_t min_len = pop ? 12 : div ? 4 : 3, max_len = pop ? 40 : div ? 8 : 6;
    if (div ? !may_divmod(insns, function_of, e, floor, max_len)
            : !pop && !may_rotate(insns, function_of, e, floor, max_len))
      continue;
    if (!finder) finder.emplace(insns, function_of);
    const uint32_t begin = std::max(floor, finder->function_begin(e));
    for (uint32_t s = e;; --s) {
      if (!pure(insns[s]) || (s < e && join(insns[s + 1].pc))) break;
      Idiom m;
      if (e - s + 1 >= min_len && finder->try_window(s, e, *want, m)) {
        found.push_back(m);
        floor = e + 1;
        break;
      }
      if (s == begin || e - s + 1 >= max_len) break;
    }
  }
  return found;
}

}  // namespace xbpf::jit
