// Differential test: random programs run on the interpreter (verified mode)
// and on the JIT must return the same r0 and leave the same memory.
//
// The generator only writes programs whose behaviour the ISA defines and that
// a verifier would accept in spirit: memory accesses stay inside the granted
// buffer (r6 = its base, never written) or the zeroed top of the stack; jumps
// go forward except the latches of counted loops (r9 counts, so every program
// ends; nothing jumps into a loop); r1-r5 are redefined after a helper call
// (their values are undefined after a call, and the engines differ there);
// r10 is only a memory base. Every register is stored to the buffer before
// exit, so the memory comparison covers the final registers too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "isa/disasm.hpp"
#include "jit/jit.hpp"
#include "vm/vm.hpp"

using namespace xbpf;
using isa::Insn;
using isa::Op;

namespace {

constexpr int32_t kMemSize = 256;
constexpr int32_t kResults = 176;  // [kResults, kMemSize): final registers
constexpr int32_t kStackUsed = 64;  // [r10-64, r10) zeroed at entry

uint64_t mix_helper(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, vm::ExecContext*) {
  return (a * 31) ^ (b * 17 + c) ^ (d << 7) ^ (e >> 3) ^ 0x5bd1e995;
}

const vm::HelperTable& helpers() {
  static const vm::HelperTable t = [] {
    vm::HelperTable h;
    h.set(1, mix_helper, "mix");
    return h;
  }();
  return t;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  // Items are instructions whose jump/call targets are indexes into `items_`
  // (fixed up to pc offsets at the end).
  std::vector<Insn> generate() {
    items_.clear();
    targets_.clear();
    loops_.clear();
    const bool with_sub = pick(3) == 0;
    emit({.op = Op::MOV64_REG, .dst = 6, .src = 1});
    for (int32_t off = 8; off <= kStackUsed; off += 8) emit({.op = Op::STDW, .dst = 10, .off = int16_t(-off)});
    for (uint8_t r : {0, 1, 2, 3, 4, 5, 7, 8, 9}) emit(random_value(r));
    const size_t body = 10 + pick(70);
    for (size_t k = 0; k < body; ++k) body_insn(with_sub, false);
    const size_t results = items_.size();
    clamp_targets(0, results);
    const uint8_t regs[] = {0, 1, 2, 3, 4, 5, 7, 8, 9};
    for (size_t k = 0; k < std::size(regs); ++k)
      emit({.op = Op::STXDW, .dst = 6, .src = regs[k], .off = int16_t(kResults + 8 * k)});
    emit({.op = Op::EXIT});
    size_t sub_entry = items_.size();
    if (with_sub) {
      for (int32_t off = 8; off <= kStackUsed; off += 8) emit({.op = Op::STDW, .dst = 10, .off = int16_t(-off)});
      const size_t n = 3 + pick(20);
      const size_t first = targets_.size();
      for (size_t k = 0; k < n; ++k) body_insn(false, true);
      clamp_targets(first, items_.size());
      emit({.op = Op::EXIT});
    }
    // Resolve: item index -> pc.
    std::vector<uint32_t> pc(items_.size() + 1);
    uint32_t p = 0;
    for (size_t k = 0; k < items_.size(); ++k) {
      pc[k] = p;
      items_[k].pc = p;
      p += uint32_t(isa::slot_count(items_[k].op));
    }
    pc[items_.size()] = p;
    for (const auto& [at, target] : targets_) {
      Insn& i = items_[at];
      const int64_t rel = int64_t(pc[target == kSub ? sub_entry : target]) - int64_t(i.pc) - 1;
      if (isa::info(i.op).form == isa::Form::JumpLong || i.op == Op::CALL_LOCAL)
        i.imm = int32_t(rel);
      else
        i.off = int16_t(rel);
    }
    return items_;
  }

 private:
  static constexpr size_t kSub = SIZE_MAX;

  uint64_t pick(uint64_t n) { return rng_() % n; }

  // Forward jumps registered from targets_[first] on land at most on `end`.
  // Forward jumps registered from targets_[first] on land at most on `end`,
  // and never inside a loop (its counter would be stale): past it instead.
  void clamp_targets(size_t first, size_t end) {
    for (size_t k = first; k < targets_.size(); ++k) {
      auto& [at, target] = targets_[k];
      if (target == kSub || target <= at) continue;
      for (const auto& [head, past] : loops_)
        if (target >= head && target < past && !(at >= head && at < past)) target = past;
      if (target > end) target = end;
    }
  }
  void emit(Insn i) { items_.push_back(i); }

  // A register the body may write: r6 (buffer base) and r10 never; in the
  // subprogram, not r6 either (it is the caller's, restored on return anyway).
  uint8_t reg() {
    static const uint8_t pool[] = {0, 1, 2, 3, 4, 5, 7, 8};  // r9: loop counter
    return pool[pick(std::size(pool))];
  }

  // A counted loop (r9 = 1..5) around a few jump-free instructions, closed
  // either by `if r9 != 0 goto head` or by clang's latch `if r9 == 0 goto +1;
  // goto head`; or one with an if/else whose then-arm jumps forward to the
  // latch; or a switch-like one entered by a jump to its test, whose arms jump
  // back to a latch at its top (the shapes the JIT's tail copies replace).
  // Forward jumps from elsewhere never land inside it.
  void loop(bool sub) {
    const uint64_t shape = pick(4);
    if (shape == 3) return dispatch_loop(sub);
    emit({.op = Op::MOV64_IMM, .dst = 9, .imm = int32_t(1 + pick(5))});
    const size_t head = items_.size();
    block(sub);
    if (shape == 2) {  // if c goto else; then; goto latch; else: ...; latch:
      const size_t branch = cond_jump();
      block(sub);
      const size_t ja = items_.size();
      emit({.op = pick(2) ? Op::JA : Op::JA32});
      targets_.push_back({branch, items_.size()});
      block(sub);
      targets_.push_back({ja, items_.size()});
    }
    emit({.op = Op::ADD64_IMM, .dst = 9, .imm = -1});
    if (pick(2)) {
      targets_.push_back({items_.size(), head});
      emit({.op = pick(2) ? Op::JNE_IMM : Op::JNE32_IMM, .dst = 9, .imm = 0});
    } else {
      emit({.op = Op::JEQ_IMM, .dst = 9, .off = 1, .imm = 0});
      targets_.push_back({items_.size(), head});
      emit({.op = pick(2) ? Op::JA : Op::JA32});
    }
    loops_.push_back({head, items_.size()});
  }

  //   r9 = 2..6; goto test; latch: r9 -= 1; if r9 == 0 goto past;
  //   test: ...; if c goto arm2; arm1: ...; goto latch; arm2: ...; goto latch; past:
  void dispatch_loop(bool sub) {
    emit({.op = Op::MOV64_IMM, .dst = 9, .imm = int32_t(2 + pick(5))});
    const size_t head = items_.size();
    const size_t enter = items_.size();
    emit({.op = Op::JA});
    const size_t latch = items_.size();
    emit({.op = Op::ADD64_IMM, .dst = 9, .imm = -1});
    const size_t exit = items_.size();
    emit({.op = pick(2) ? Op::JEQ_IMM : Op::JEQ32_IMM, .dst = 9, .imm = 0});
    targets_.push_back({enter, items_.size()});
    block(sub);
    const size_t branch = cond_jump();
    block(sub);
    targets_.push_back({items_.size(), latch});
    emit({.op = pick(2) ? Op::JA : Op::JA32});
    targets_.push_back({branch, items_.size()});
    block(sub);
    targets_.push_back({items_.size(), latch});
    emit({.op = pick(2) ? Op::JA : Op::JA32});
    targets_.push_back({exit, items_.size()});
    loops_.push_back({head, items_.size()});
  }

  // 1-6 jump-free instructions of a loop body.
  void block(bool sub) {
    const size_t n = 1 + pick(6);
    for (size_t k = 0; k < n; ++k) {
      const uint64_t kind = pick(10);
      if (kind < 6) alu();
      else if (kind < 8) body_memory(sub, false);
      else body_memory(sub, true);
    }
  }

  // A conditional jump whose target the caller registers; returns its item.
  size_t cond_jump() {
    static const Op ops[] = {Op::JEQ_IMM,    Op::JNE_REG,    Op::JGT_IMM,    Op::JSGT32_REG,
                             Op::JSET_IMM,   Op::JLT32_IMM,  Op::JSLE_REG,   Op::JGE32_REG};
    const Op op = ops[pick(std::size(ops))];
    Insn i{.op = op, .dst = reg()};
    if (isa::info(op).form == isa::Form::JumpImm) i.imm = pick(2) ? int32_t(pick(4)) : imm32();
    else i.src = reg();
    emit(i);
    return items_.size() - 1;
  }

  void body_memory(bool sub, bool store) {
    if (!store) {
      static const Op loads[] = {Op::LDXB, Op::LDXH, Op::LDXW, Op::LDXDW, Op::LDXSB, Op::LDXSH, Op::LDXSW};
      const Op op = loads[pick(std::size(loads))];
      if (!sub && pick(4) == 0) return indexed_load(op);  // (r6 is the buffer in the main function only)
      auto [base, off] = address(isa::mem_size(isa::info(op).code), false, sub);
      return emit({.op = op, .dst = reg(), .src = base, .off = off});
    }
    static const Op stores[] = {Op::STB, Op::STH, Op::STW, Op::STDW, Op::STXB, Op::STXH, Op::STXW, Op::STXDW};
    const Op op = stores[pick(std::size(stores))];
    auto [base, off] = address(isa::mem_size(isa::info(op).code), false, sub);
    const bool imm = isa::info(op).form == isa::Form::StoreImm;
    emit({.op = op, .dst = base, .src = uint8_t(imm ? 0 : reg()), .off = off, .imm = imm ? imm32() : 0});
  }

  // `a = r6; a += i; d = *(a + off)` with i masked to 0..63 (or `a += imm`),
  // sometimes with the move apart from the add (the JIT's indexed loads).
  // No jump lands inside it (registered as a loop for clamp_targets): entered
  // at the add, `a` would not be an address.
  void indexed_load(Op op) {
    const size_t head = items_.size();
    const uint8_t a = reg();
    uint8_t i = reg();
    while (i == a) i = reg();
    const unsigned size = isa::mem_size(isa::info(op).code);
    const int16_t off = int16_t(pick(kResults - 64 - size + 1));
    switch (pick(3)) {
      case 0:
        emit({.op = Op::AND64_IMM, .dst = i, .imm = 63});
        emit({.op = Op::MOV64_REG, .dst = a, .src = 6});
        emit({.op = Op::ADD64_REG, .dst = a, .src = i});
        break;
      case 1:
        emit({.op = Op::MOV64_REG, .dst = a, .src = 6});
        emit({.op = Op::ADD64_IMM, .dst = a, .imm = int32_t(pick(64))});
        break;
      default:
        emit({.op = Op::MOV64_REG, .dst = a, .src = 6});
        emit({.op = Op::AND64_IMM, .dst = i, .imm = 63});
        emit({.op = Op::ADD64_REG, .dst = a, .src = i});
        break;
    }
    // Into a itself, or into another register with a then overwritten (the
    // sum dead: folded too) or read first (live: not folded; a >> 63 is 0 for
    // an address, a stale value's top bit otherwise). Either way the address
    // does not survive into the results.
    const uint8_t d = pick(2) ? a : reg();
    emit({.op = op, .dst = d, .src = a, .off = off});
    if (d != a) {
      static const Insn after[] = {{.op = Op::MOV64_IMM, .imm = 77}, {.op = Op::XOR64_REG}, {.op = Op::RSH64_IMM, .imm = 63}};
      Insn x = after[pick(std::size(after))];
      x.dst = a;
      if (x.op == Op::XOR64_REG) x.src = a;
      emit(x);
    }
    loops_.push_back({head, items_.size()});
  }

  int64_t interesting() {
    static const int64_t values[] = {0, 1, -1, 2, 7, 31, 32, 33, 63, 64, 65, 255, 0x7fff, -0x8000, INT32_MAX, INT32_MIN,
                                     int64_t(UINT32_MAX), INT64_MIN, INT64_MAX, 0x100000000, 0x123456789abcdef0};
    if (pick(3) == 0) return int64_t(rng_());
    return values[pick(std::size(values))];
  }
  int32_t imm32() {
    const int64_t v = interesting();
    return pick(4) == 0 ? int32_t(pick(16)) - 8 : int32_t(v);
  }

  Insn random_value(uint8_t r) {
    if (pick(2)) return {.op = Op::LDDW, .dst = r, .imm = int32_t(interesting()), .imm64 = interesting()};
    return {.op = Op::MOV64_IMM, .dst = r, .imm = imm32()};
  }

  // Memory operand: buffer via r6 or the zeroed stack via r10, inside bounds,
  // aligned to `size` when `aligned`.
  std::pair<uint8_t, int16_t> address(unsigned size, bool aligned, bool sub) {
    if (sub || pick(2)) {
      int32_t off = -int32_t(size + pick(kStackUsed - size + 1));
      if (aligned) off = -int32_t(size) * int32_t(1 + pick(kStackUsed / size));
      return {10, int16_t(off)};
    }
    int32_t off = int32_t(pick(kResults - size + 1));
    if (aligned) off = int32_t(size) * int32_t(pick(kResults / size));
    return {6, int16_t(off)};
  }

  // A population count, rotate or division with remainder in clang's shape
  // (the JIT's idioms), over random registers; forward jumps may still land
  // inside it.
  void idiom() {
    uint8_t x = reg(), t = reg();
    while (t == x) t = reg();
    const bool w64 = pick(2);
    auto op = [&](Op o64, Op o32) { return w64 ? o64 : o32; };
    if (pick(4) == 0) {  // q = x / d; r = x - q * d (d, q, r random: any may coincide with x or t)
      const uint8_t d = reg(), q = reg(), r = reg();
      const bool sign = pick(2);
      emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = q, .src = x});
      emit({.op = sign ? op(Op::SDIV64_REG, Op::SDIV32_REG) : op(Op::DIV64_REG, Op::DIV32_REG), .dst = q, .src = d,
            .off = int16_t(sign)});
      emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = t, .src = q});
      emit({.op = op(Op::MUL64_REG, Op::MUL32_REG), .dst = t, .src = d});
      emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = r, .src = x});
      emit({.op = op(Op::SUB64_REG, Op::SUB32_REG), .dst = r, .src = t});
      return;
    }
    if (pick(3) == 0) {  // rotate
      const int32_t width = w64 ? 64 : 32, k = 1 + int32_t(pick(uint64_t(width - 1)));
      static const Op joins64[] = {Op::OR64_REG, Op::XOR64_REG, Op::ADD64_REG};
      static const Op joins32[] = {Op::OR32_REG, Op::XOR32_REG, Op::ADD32_REG};
      emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = t, .src = x});
      emit({.op = op(Op::RSH64_IMM, Op::RSH32_IMM), .dst = t, .imm = width - k});
      emit({.op = op(Op::LSH64_IMM, Op::LSH32_IMM), .dst = x, .imm = k});
      emit({.op = (w64 ? joins64 : joins32)[pick(3)], .dst = x, .src = t});
      return;
    }
    // popcount: 64-bit with lddw masks, 32-bit with immediates.
    const uint64_t k55 = 0x5555555555555555ull, k33 = 0x3333333333333333ull, k0f = 0x0f0f0f0f0f0f0f0full,
                   k01 = 0x0101010101010101ull;
    auto mask = [&](uint8_t r, uint64_t m) {
      if (!w64) return emit({.op = Op::AND32_IMM, .dst = r, .imm = int32_t(uint32_t(m))});
      uint8_t c = reg();
      while (c == x || c == t) c = reg();
      emit({.op = Op::LDDW, .dst = c, .imm = int32_t(uint32_t(m)), .imm64 = int64_t(m)});
      emit({.op = Op::AND64_REG, .dst = r, .src = c});
    };
    emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = t, .src = x});
    emit({.op = op(Op::RSH64_IMM, Op::RSH32_IMM), .dst = t, .imm = 1});
    mask(t, k55);
    emit({.op = op(Op::SUB64_REG, Op::SUB32_REG), .dst = x, .src = t});
    emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = t, .src = x});
    mask(t, k33);
    emit({.op = op(Op::RSH64_IMM, Op::RSH32_IMM), .dst = x, .imm = 2});
    mask(x, k33);
    emit({.op = op(Op::ADD64_REG, Op::ADD32_REG), .dst = x, .src = t});
    emit({.op = op(Op::MOV64_REG, Op::MOV32_REG), .dst = t, .src = x});
    emit({.op = op(Op::RSH64_IMM, Op::RSH32_IMM), .dst = t, .imm = 4});
    emit({.op = op(Op::ADD64_REG, Op::ADD32_REG), .dst = t, .src = x});
    mask(t, k0f);
    if (w64) {
      emit({.op = Op::LDDW, .dst = x, .imm = int32_t(uint32_t(k01)), .imm64 = int64_t(k01)});
      emit({.op = Op::MUL64_REG, .dst = t, .src = x});
    } else {
      emit({.op = Op::MUL32_IMM, .dst = t, .imm = int32_t(uint32_t(k01))});
    }
    emit({.op = op(Op::RSH64_IMM, Op::RSH32_IMM), .dst = t, .imm = w64 ? 56 : 24});
  }

  void body_insn(bool with_sub, bool sub) {
    const uint64_t kind = pick(100);
    if (kind < 38) return alu();
    if (kind < 41) return idiom();
    if (kind < 45) return loop(sub);
    if (kind < 50) return emit(random_value(reg()));
    if (kind < 60) return body_memory(sub, false);
    if (kind < 70) return body_memory(sub, true);
    if (kind < 77) {
      static const Op atomics[] = {
          Op::ATOMIC_ADD64, Op::ATOMIC_ADD32, Op::ATOMIC_OR64, Op::ATOMIC_OR32, Op::ATOMIC_AND64,
          Op::ATOMIC_AND32, Op::ATOMIC_XOR64, Op::ATOMIC_XOR32, Op::ATOMIC_FETCH_ADD64, Op::ATOMIC_FETCH_ADD32,
          Op::ATOMIC_FETCH_OR64, Op::ATOMIC_FETCH_OR32, Op::ATOMIC_FETCH_AND64, Op::ATOMIC_FETCH_AND32,
          Op::ATOMIC_FETCH_XOR64, Op::ATOMIC_FETCH_XOR32, Op::ATOMIC_XCHG64, Op::ATOMIC_XCHG32,
          Op::ATOMIC_CMPXCHG64, Op::ATOMIC_CMPXCHG32};
      const Op op = atomics[pick(std::size(atomics))];
      const bool is64 = !isa::is_32bit(op);
      auto [base, off] = address(is64 ? 8 : 4, true, sub);
      return emit({.op = op, .dst = base, .src = reg(), .off = off, .imm = isa::info(op).match_value});
    }
    if (kind < 90) return jump();
    if (kind < 94 && !sub) {
      static const Op pkt[] = {Op::LDABSB, Op::LDABSH, Op::LDABSW, Op::LDINDB, Op::LDINDH, Op::LDINDW};
      const Op op = pkt[pick(std::size(pkt))];
      const bool ind = isa::info(op).form == isa::Form::LoadInd;
      const int32_t imm = pick(8) == 0 ? imm32() : int32_t(pick(kMemSize + 8));
      return emit({.op = op, .src = uint8_t(ind ? reg() : 0), .imm = ind && pick(2) ? int32_t(pick(16)) : imm});
    }
    if (kind < 97 && !sub) {
      emit({.op = Op::CALL, .imm = 1});
      for (uint8_t r = 1; r <= 5; ++r) emit(random_value(r));  // r1-r5 are undefined after a call
      return;
    }
    if (with_sub) {
      targets_.push_back({items_.size(), kSub});
      emit({.op = Op::CALL_LOCAL});
      return;
    }
    alu();
  }

  void alu() {
    static const Op ops[] = {
        Op::ADD64_IMM, Op::ADD64_REG, Op::ADD32_IMM, Op::ADD32_REG, Op::SUB64_IMM, Op::SUB64_REG, Op::SUB32_IMM,
        Op::SUB32_REG, Op::MUL64_IMM, Op::MUL64_REG, Op::MUL32_IMM, Op::MUL32_REG, Op::DIV64_IMM, Op::DIV64_REG,
        Op::DIV32_IMM, Op::DIV32_REG, Op::SDIV64_IMM, Op::SDIV64_REG, Op::SDIV32_IMM, Op::SDIV32_REG,
        Op::OR64_IMM, Op::OR64_REG, Op::OR32_IMM, Op::OR32_REG, Op::AND64_IMM, Op::AND64_REG, Op::AND32_IMM,
        Op::AND32_REG, Op::LSH64_IMM, Op::LSH64_REG, Op::LSH32_IMM, Op::LSH32_REG, Op::RSH64_IMM, Op::RSH64_REG,
        Op::RSH32_IMM, Op::RSH32_REG, Op::MOD64_IMM, Op::MOD64_REG, Op::MOD32_IMM, Op::MOD32_REG,
        Op::SMOD64_IMM, Op::SMOD64_REG, Op::SMOD32_IMM, Op::SMOD32_REG, Op::XOR64_IMM, Op::XOR64_REG,
        Op::XOR32_IMM, Op::XOR32_REG, Op::ARSH64_IMM, Op::ARSH64_REG, Op::ARSH32_IMM, Op::ARSH32_REG,
        Op::NEG64, Op::NEG32, Op::MOV64_IMM, Op::MOV64_REG, Op::MOV32_IMM, Op::MOV32_REG, Op::MOVSX8_64,
        Op::MOVSX16_64, Op::MOVSX32_64, Op::MOVSX8_32, Op::MOVSX16_32, Op::LE16, Op::LE32, Op::LE64,
        Op::BE16, Op::BE32, Op::BE64, Op::BSWAP16, Op::BSWAP32, Op::BSWAP64};
    const Op op = ops[pick(std::size(ops))];
    const isa::OpInfo& info = isa::info(op);
    Insn i{.op = op, .dst = reg()};
    switch (info.match) {
      case isa::Match::Off: i.off = int16_t(info.match_value); break;
      case isa::Match::Imm: i.imm = info.match_value; break;
      default: break;
    }
    if (info.form == isa::Form::AluImm) i.imm = imm32();
    if (info.form == isa::Form::AluReg) i.src = reg();
    emit(i);
  }

  void jump() {
    static const Op ops[] = {
        Op::JA, Op::JA32, Op::JEQ_IMM, Op::JEQ_REG, Op::JEQ32_IMM, Op::JEQ32_REG, Op::JGT_IMM, Op::JGT_REG,
        Op::JGT32_IMM, Op::JGT32_REG, Op::JGE_IMM, Op::JGE_REG, Op::JGE32_IMM, Op::JGE32_REG, Op::JSET_IMM,
        Op::JSET_REG, Op::JSET32_IMM, Op::JSET32_REG, Op::JNE_IMM, Op::JNE_REG, Op::JNE32_IMM, Op::JNE32_REG,
        Op::JSGT_IMM, Op::JSGT_REG, Op::JSGT32_IMM, Op::JSGT32_REG, Op::JSGE_IMM, Op::JSGE_REG, Op::JSGE32_IMM,
        Op::JSGE32_REG, Op::JLT_IMM, Op::JLT_REG, Op::JLT32_IMM, Op::JLT32_REG, Op::JLE_IMM, Op::JLE_REG,
        Op::JLE32_IMM, Op::JLE32_REG, Op::JSLT_IMM, Op::JSLT_REG, Op::JSLT32_IMM, Op::JSLT32_REG, Op::JSLE_IMM,
        Op::JSLE_REG, Op::JSLE32_IMM, Op::JSLE32_REG};
    const Op op = ops[pick(std::size(ops))];
    const isa::Form f = isa::info(op).form;
    Insn i{.op = op};
    if (f == isa::Form::JumpImm || f == isa::Form::JumpReg) i.dst = reg();
    if (f == isa::Form::JumpImm) i.imm = imm32();
    if (f == isa::Form::JumpReg) i.src = reg();
    const bool on_zero = op == Op::JEQ_IMM || op == Op::JNE_IMM || op == Op::JEQ32_IMM || op == Op::JNE32_IMM;
    if (on_zero && pick(2)) {
      // == 0 / != 0 right after an operation on the register (the JIT
      // branches on that operation's flags), either width, sometimes with a
      // move in between.
      static const Op sets[] = {Op::ADD64_IMM, Op::ADD32_IMM, Op::SUB64_REG, Op::SUB32_REG, Op::AND64_IMM,
                                Op::AND32_REG, Op::OR64_REG, Op::OR32_IMM, Op::XOR64_IMM, Op::XOR32_REG,
                                Op::NEG64, Op::NEG32};
      const Op set = sets[pick(std::size(sets))];
      const isa::Form sf = isa::info(set).form;
      Insn a{.op = set, .dst = i.dst};
      if (sf == isa::Form::AluImm) a.imm = int32_t(pick(5)) - 2;
      if (sf == isa::Form::AluReg) a.src = reg();
      emit(a);
      if (pick(3) == 0) emit({.op = pick(2) ? Op::MOV64_REG : Op::MOV32_REG, .dst = reg(), .src = reg()});
      i.imm = 0;
    }
    const size_t here = items_.size();
    targets_.push_back({here, here + 1 + size_t(pick(8))});
    emit(i);
  }

  std::mt19937_64 rng_;
  std::vector<Insn> items_;
  std::vector<std::pair<size_t, size_t>> targets_;  // (item, target item or kSub)
  std::vector<std::pair<size_t, size_t>> loops_;    // [head, past the latch)
};

struct Outcome {
  std::string error;
  uint64_t r0 = 0;
  std::vector<uint8_t> mem;
  bool operator==(const Outcome&) const = default;
};

Outcome run(const vm::Program& p, const std::vector<uint8_t>& init) {
  Outcome o;
  o.mem = init;
  vm::ExecContext ctx;
  ctx.packet = o.mem.data();
  ctx.packet_len = o.mem.size();
  auto r = p.run(reinterpret_cast<uint64_t>(o.mem.data()), o.mem.size(), ctx);
  if (r)
    o.r0 = *r;
  else
    o.error = r.error().message;
  return o;
}

std::string describe(const std::vector<Insn>& prog, const vm::Program& jitted) {
  std::string s = isa::format_program(prog, isa::Syntax::Kernel, true);
  if (auto d = jit::disassemble(jitted)) s += *d;
  return s;
}

// What the JIT's special cases did over all seeds: jumps replaced by tail
// copies (of them, loops unrolled), windows emitted as one instruction, moves emitted before a branch
// on zero's operation, branches emitted as a cmov, loads through a sum.
struct Exercised {
  size_t copies = 0, idioms = 0, moves_first = 0, selects = 0, indexed_loads = 0, unrolled = 0;
};

void check_seeds(uint64_t first, uint64_t count, Exercised& done) {
  for (uint64_t seed = first; seed < first + count; ++seed) {
    Generator g(seed);
    const std::vector<Insn> prog = g.generate();
    const auto code = isa::encode_program(prog);
    auto interp = vm::Program::load(code, {vm::Mode::Verified, &helpers()});
    ASSERT_TRUE(interp.has_value()) << "seed " << seed << ": " << interp.error().message;
    auto native = vm::Program::load(code, {vm::Mode::Verified, &helpers()});
    ASSERT_TRUE(native.has_value());
    jit::CompileStats stats;
    // Every third seed with constant blinding (its size bounds are checked too).
    auto c = jit::compile(*native, {.bmi2 = seed % 2 == 0, .stats = &stats, .blind_constants = seed % 3 == 0});
    ASSERT_TRUE(c.has_value()) << "seed " << seed << ": " << c.error().message;
    EXPECT_FALSE(stats.rel32_retry) << "seed " << seed << ": a jump size bound was too small";
    done.copies += stats.tail_copies;
    done.unrolled += stats.unrolled;
    done.idioms += stats.idioms;
    done.moves_first += stats.moves_first;
    done.selects += stats.selects;
    done.indexed_loads += stats.indexed_loads;
    std::mt19937_64 mem_rng(seed * 7919);
    std::vector<uint8_t> mem(kMemSize);
    for (auto& b : mem) b = uint8_t(mem_rng());
    const Outcome want = run(*interp, mem);
    const Outcome got = run(*native, mem);
    EXPECT_EQ(want.error, got.error) << "seed " << seed << "\n" << describe(prog, *native);
    EXPECT_EQ(want.r0, got.r0) << "seed " << seed << "\n" << describe(prog, *native);
    if (want.mem != got.mem) {
      size_t at = 0;
      while (want.mem[at] == got.mem[at]) ++at;
      ADD_FAILURE() << "seed " << seed << ": memory differs from byte " << at << " (results from " << kResults
                    << ", r0-r5, r7-r9 by 8 bytes)\n"
                    << describe(prog, *native);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

// XBPF_JIT_DIFF_SEEDS=N runs N seeds instead of 4000 (long campaigns by hand).
TEST(JitDifferential, RandomProgramsAgreeWithTheInterpreter) {
  Exercised done;
  const char* n = std::getenv("XBPF_JIT_DIFF_SEEDS");
  check_seeds(1, n ? std::strtoull(n, nullptr, 10) : 4000, done);
  // The generator's if/else and switch-like loops are what tail copies
  // replace, its idiom() windows what Options::idioms replaces, its short
  // forward branches what Options::selects replaces: the comparison must
  // have covered them.
  EXPECT_GT(done.copies, 500u);
  EXPECT_GT(done.idioms, 300u);  // (1,156 here; fewer on a CPU without popcnt, where only rotates count)
  EXPECT_GT(done.moves_first, 50u);  // (117 here: the generator's `op; mov; if == 0` runs)
  EXPECT_GT(done.selects, 100u);
  EXPECT_GT(done.indexed_loads, 300u);
  EXPECT_GT(done.unrolled, 300u);  // (the loops closed by clang's latch around a store-free block)
  std::printf("tail copies compiled: %zu (loops unrolled: %zu), idioms: %zu, moves before a branch on zero's operation: "
              "%zu, selects: %zu, indexed loads: %zu\n",
              done.copies, done.unrolled, done.idioms, done.moves_first, done.selects, done.indexed_loads);
}

// Each ALU operation in isolation over corner values, with dst and src in
// rax, rdx and rcx (the registers division and shifts borrow) and elsewhere:
// one program per (operation, dst, src) runs every pair of values and stores
// dst*3 + src*5 + r8 per pair, which also catches clobbered registers.
TEST(JitDifferential, AluCornersAgree) {
  static const int64_t values[] = {0, 1, -1, 2, -2, 31, 32, 63, 64, INT32_MAX, INT32_MIN, int64_t(UINT32_MAX),
                                   INT64_MIN, INT64_MAX, INT64_MIN + 1};
  size_t checked = 0;
  for (const isa::OpInfo& info : isa::kOpTable) {
    const isa::Form f = info.form;
    if (f != isa::Form::AluReg && f != isa::Form::AluImm && f != isa::Form::AluUnary && f != isa::Form::Endian)
      continue;
    for (uint8_t dst : {0, 3, 4, 6}) {
      for (uint8_t src : {0, 3, 4, 7}) {
        std::vector<Insn> prog;
        std::vector<std::pair<int64_t, int64_t>> pairs;
        for (int64_t a : values) {
          for (int64_t b : values) {
            if (f == isa::Form::AluImm && (b < INT32_MIN || b > INT32_MAX)) continue;
            Insn i{.op = info.op, .dst = dst, .src = uint8_t(f == isa::Form::AluReg ? src : 0)};
            if (info.match == isa::Match::Off) i.off = int16_t(info.match_value);
            if (info.match == isa::Match::Imm) i.imm = info.match_value;
            if (f == isa::Form::AluImm) i.imm = int32_t(b);
            const int32_t slot = int32_t(8 * pairs.size());
            pairs.push_back({a, b});
            for (const Insn& x : std::initializer_list<Insn>{
                     {.op = Op::LDDW, .dst = src, .imm = int32_t(b), .imm64 = b},
                     {.op = Op::MOV64_IMM, .dst = 8, .imm = 0x11},
                     {.op = Op::LDDW, .dst = dst, .imm = int32_t(a), .imm64 = a},
                     i,
                     {.op = Op::MUL64_IMM, .dst = dst, .imm = 3},
                     {.op = Op::MUL64_IMM, .dst = src, .imm = 5},
                     {.op = Op::ADD64_REG, .dst = 8, .src = dst},
                     {.op = Op::ADD64_REG, .dst = 8, .src = src},
                     {.op = Op::STXDW, .dst = 9, .src = 8, .off = int16_t(slot)}})
              prog.push_back(x);
            if (f == isa::Form::AluUnary || f == isa::Form::Endian) break;
          }
        }
        prog.insert(prog.begin(), {.op = Op::MOV64_REG, .dst = 9, .src = 1});
        prog.push_back({.op = Op::MOV64_IMM, .dst = 0, .imm = 0});
        prog.push_back({.op = Op::EXIT});
        uint32_t pc = 0;
        for (Insn& x : prog) {
          x.pc = pc;
          pc += uint32_t(isa::slot_count(x.op));
        }
        const auto code = isa::encode_program(prog);
        auto interp = vm::Program::load(code, {vm::Mode::Verified, nullptr});
        ASSERT_TRUE(interp.has_value()) << interp.error().message;
        std::vector<uint8_t> init(8 * pairs.size(), 0);
        const Outcome want = run(*interp, init);
        for (int variant = 0; variant < 3; ++variant) {
          const bool bmi2 = variant != 1, blind = variant == 2;
          auto native = vm::Program::load(code, {vm::Mode::Verified, nullptr});
          ASSERT_TRUE(jit::compile(*native, {.bmi2 = bmi2, .blind_constants = blind}).has_value());
          const Outcome got = run(*native, init);
          for (size_t k = 0; k < pairs.size(); ++k) {
            uint64_t w, g;
            std::memcpy(&w, want.mem.data() + 8 * k, 8);
            std::memcpy(&g, got.mem.data() + 8 * k, 8);
            ASSERT_EQ(w, g) << info.name << " a=" << pairs[k].first << " b=" << pairs[k].second << " dst=r" << int(dst)
                            << " src=r" << int(src) << " bmi2=" << bmi2 << " blind=" << blind;
          }
          checked += pairs.size();
        }
        if (f != isa::Form::AluReg) break;
      }
    }
  }
  EXPECT_GT(checked, 20000u);
}

// Loop latches `if c goto +1; goto head` (which the JIT turns into one
// inverted branch) for every condition, both widths, immediate and register.
TEST(JitDifferential, InvertedLoopLatchesAgree) {
  static const int64_t starts[] = {-3, 0, 5, INT32_MAX - 2, int64_t(UINT32_MAX) - 2, INT64_MAX - 2};
  static const int32_t limits[] = {-1, 0, 3, 7};
  size_t checked = 0;
  for (const isa::OpInfo& info : isa::kOpTable) {
    if (info.form != isa::Form::JumpImm && info.form != isa::Form::JumpReg) continue;
    for (int64_t start : starts) {
      for (int32_t limit : limits) {
        for (int32_t step : {1, -1}) {
          Insn latch{.op = info.op, .dst = 1, .off = 1};
          if (info.form == isa::Form::JumpImm) latch.imm = limit;
          else latch.src = 2;
          std::vector<Insn> prog{
              {.op = Op::MOV64_IMM, .dst = 0, .imm = 0},
              {.op = Op::LDDW, .dst = 1, .imm = int32_t(start), .imm64 = start},
              {.op = Op::MOV64_IMM, .dst = 2, .imm = limit},
              {.op = Op::MOV64_IMM, .dst = 3, .imm = 0},
              // head:
              {.op = Op::ADD64_IMM, .dst = 0, .imm = 1},
              {.op = Op::ADD64_IMM, .dst = 1, .imm = step},
              {.op = Op::ADD64_IMM, .dst = 3, .imm = 1},
              {.op = Op::JGT_IMM, .dst = 3, .off = 2, .imm = 20},
              latch,
              {.op = Op::JA, .off = -6},
              {.op = Op::LSH64_IMM, .dst = 0, .imm = 8},
              {.op = Op::ADD64_REG, .dst = 0, .src = 3},
              {.op = Op::EXIT}};
          uint32_t pc = 0;
          for (Insn& x : prog) {
            x.pc = pc;
            pc += uint32_t(isa::slot_count(x.op));
          }
          const auto code = isa::encode_program(prog);
          auto interp = vm::Program::load(code, {vm::Mode::Verified, nullptr});
          auto native = vm::Program::load(code, {vm::Mode::Verified, nullptr});
          ASSERT_TRUE(interp && native);
          ASSERT_TRUE(jit::compile(*native).has_value());
          vm::ExecContext c1, c2;
          const uint64_t want = *interp->run(0, 0, c1), got = *native->run(0, 0, c2);
          ASSERT_EQ(want, got) << info.name << " start=" << start << " limit=" << limit << " step=" << step << "\n"
                               << describe(prog, *native);
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 44u * 6 * 4 * 2);
}

}  // namespace
