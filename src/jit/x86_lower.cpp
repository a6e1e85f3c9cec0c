// BPF -> x86-64: the structure of the lowering (functions, labels, loop
// heads, tail copies, rel8 bounds), the dispatch per instruction, jumps,
// and lower(). The class and the frame layout: x86_lowering.hpp.
#include "jit/x86_lowering.hpp"

#include <algorithm>
#include <chrono>
#include <sys/random.h>
#include <sys/rseq.h>

namespace xbpf::jit {
namespace x86low {

// A fresh seed for one compile's blinding keys. Each thread draws 64 random
// bits once (getrandom: ~12 us on this VM, std::random_device ~80 us, both
// too much per compile) and then moves along a splitmix64 stream, so every
// compile gets new keys that the program's author cannot predict. Should
// getrandom fail, the clock seeds the stream.
uint64_t blinding_seed() {
  thread_local uint64_t state = [] {
    uint64_t s = 0;
    if (getrandom(&s, sizeof(s), 0) != ssize_t(sizeof(s)))
      s = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9e3779b97f4a7c15ull;
    return s;
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Where the calling thread's CPU number is, as an offset from the thread
// pointer (fs:0): the cpu_id field of the rseq area glibc registers for every
// thread (what sched_getcpu() reads). nullopt: glibc did not register one
// (GLIBC_TUNABLES=glibc.pthread.rseq=0, old kernels); then calls stay calls.
std::optional<int32_t> rseq_cpu_id_offset() {
  if (__rseq_size < offsetof(struct rseq, cpu_id) + sizeof(uint32_t)) return std::nullopt;
  const ptrdiff_t off = __rseq_offset + ptrdiff_t(offsetof(struct rseq, cpu_id));
  if (off < INT32_MIN || off > INT32_MAX) return std::nullopt;
  return int32_t(off);
}

// `loop_bytes`: pc -> the loop's code size at that head, measured by a
// first pass (nullptr: the first pass; run() then fills loop_bytes_).
// `first_offsets`, `first_regions`: that pass's code offsets, valid as
// distances inside each of its regions.
Lowering::Lowering(const vm::Program& prog, const Options& opts, bool short_jumps, x86::Assembler& a, Lowered& out, const std::vector<uint32_t>* loop_bytes, const std::vector<uint32_t>* first_offsets, const std::vector<Region>* first_regions) : prog_(prog), a_(a), out_(out), fit_sizes_(loop_bytes), first_offsets_(first_offsets), first_regions_(first_regions), short_jumps_(short_jumps) {
  bmi2_ = opts.bmi2 && x86::host_features().bmi2;
  align_loops_ = opts.align_loops;
  fit_loops_ = opts.align_loops && opts.fit_loops;
  latch_ = opts.latch;
  short_arith_ = opts.short_arith;
  zero_branch_order_ = opts.zero_branch_order;
  selects_ = opts.selects;
  indexed_loads_ = opts.indexed_loads;
  copy_sources_ = opts.copy_sources;
  tail_copies_ = opts.tail_copies;
  unroll_ = opts.tail_copies && opts.unroll;
  skip_crossing_ = opts.skip_crossing_heads;
  idioms_on_ = opts.idioms;
  code_offset_ = opts.code_offset;
  facts_ = opts.facts;
  inline_helpers_ = opts.inline_helpers;
  cpu_id_off_ = rseq_cpu_id_offset();
  blind_ = opts.blind_constants;
  stack_poison_ = opts.stack_poison;
  if (blind_) key_state_ = blinding_seed();
}

Expected<void> Lowering::run() {
  if (!analysed_)
    if (auto r = find_functions(); !r) return r;
  // One buffer for the whole program: the size bounds overestimate about 3x.
  uint32_t bound = an_.bound_prefix.back();
  if (!regions_.empty()) {
    bound = 0;
    for (const Region& r : regions_) bound += an_.bound_prefix[r.end] - an_.bound_prefix[r.begin];
  }
  a_.reserve(256 + bound / 2);
  emit_enter_stub();
  out_.no_area = an_.stub == Stub::lean;
  out_.insn_offsets.assign(slot_count(prog_), 0);
  const auto insns = prog_.insns();
  // A first pass lowers only its regions_: `region_end` ends the one being
  // lowered (UINT32_MAX: no first pass), region_begin_ starts it.
  size_t region = 0;
  uint32_t region_end = regions_.empty() ? UINT32_MAX : regions_[0].end;
  region_begin_ = regions_.empty() ? 0 : regions_[0].begin;
  size_t k = 0;
  for (Function& f : an_.functions) {
    cur_ = &f;
    forget();
    if (f.begin >= region_begin_ && f.begin < region_end) emit_prologue(f);
    const Insn* last = nullptr;
    bool emitted = true;  // the last instruction of f was lowered (a first pass skips some)
    for (; k < insns.size() && insns[k].pc < f.end; ++k) {
      const Insn& i = insns[k];
      if (i.pc >= region_end || i.pc < region_begin_) [[unlikely]] {
        // (a first pass only) Past its region: the slot right after it
        // gets its offset (jumps out of the loop measure to it), then the
        // next region starts. Nothing else outside a region is lowered.
        if (i.pc == region_end) {
          if (an_.target[i.pc] && an_.loop_head[i.pc]) align_loop_head(i.pc);
          out_.insn_offsets[i.pc] = uint32_t(a_.offset());
        }
        while (i.pc >= region_end) {
          if (++region == regions_.size()) return {};  // every short loop measured
          region_begin_ = regions_[region].begin;
          region_end = regions_[region].end;
        }
        // (Regions are apart, so the slot that ends one is outside the next.
        // A region starts at a loop head: a label, where forget() runs.)
        if (i.pc < region_begin_) {
          if (idiom_at(k)) ++next_idiom_;  // (no window crosses a region's start: a jump target)
          emitted = false;
          continue;
        }
      }
      emitted = true;
      if (an_.target[i.pc]) {
        if (an_.loop_head[i.pc]) align_loop_head(i.pc);
        a_.bind(label(i.pc));
        forget();  // other paths join here
      }
      out_.insn_offsets[i.pc] = uint32_t(a_.offset());
      if (isa::slot_count(i.op) == 2) out_.insn_offsets[i.pc + 1] = uint32_t(a_.offset());
      // (The tests below are in order of their cost; each starts with what
      // rules out most instructions, the form, before calling out.)
      const Form form = isa::form(i.op);
      const bool branch = form == Form::JumpImm || form == Form::JumpReg;
      if (branch && k + 1 < insns.size() && jumps_over_goto(i, insns[k + 1]) &&
          (insns[k + 1].target() > int64_t(insns[k + 1].pc) || !an_.split_latch[size_t(insns[k + 1].target())])) {
        // `if c goto +1; goto L` (clang's loop latch) becomes `if !c goto L`.
        const Insn& ja = insns[++k];
        if (auto r = jump(i, ja.target(), ja.pc + 1, true); !r) return r;
        out_.insn_offsets[ja.pc] = uint32_t(a_.offset());
        note_back_edge(ja);
        last = &ja;
        continue;
      }
      if (branch && selects_ && i.target() > int64_t(i.pc) + 1) {
        if (const size_t lowered = select(k)) {
          k += lowered - 1;
          last = &insns[k];
          continue;
        }
      }
      if (const Idiom* m = idiom_at(k)) {
        emit_idiom(*m);
        for (uint32_t w = m->first + 1; w < m->end; ++w) {
          const Insn& in = insns[w];
          out_.insn_offsets[in.pc] = out_.insn_offsets[i.pc];
          if (isa::slot_count(in.op) == 2) out_.insn_offsets[in.pc + 1] = out_.insn_offsets[i.pc];
        }
        k = m->end - 1;
        last = &insns[k];
        ++next_idiom_;
        ++out_.idioms;
        forget();  // (what the window's instructions would have taught)
        continue;
      }
      if (!branch && k + 2 < insns.size() && zero_branch(insns[k + 2].op) && move_first(i, insns[k + 1], insns[k + 2]) &&
          !idiom_at(k + 1)) {
        const Insn& mov = insns[++k];
        out_.insn_offsets[mov.pc] = uint32_t(a_.offset());  // as i's: both precede the pair's code
        if (auto r = emit(mov); !r) return r;
        learn(mov);
        if (auto r = emit(i); !r) return r;
        learn(i);
        last = &mov;
        ++out_.moves_first;
        continue;
      }
      if (i.op == Op::MOV64_REG || i.op == Op::ADD64_REG || i.op == Op::ADD64_IMM) {
        if (const size_t n = indexed_load(insns, k, insns.size())) {
          for (size_t w = k + 1; w < k + n; ++w) out_.insn_offsets[insns[w].pc] = out_.insn_offsets[i.pc];
          k += n - 1;
          last = &insns[k];
          continue;
        }
      }
      if ((i.op == Op::MOV64_REG || i.op == Op::MOV32_REG) && k + 1 < insns.size() && !idiom_at(k + 1) &&
          lea_mov_add(i, insns[k + 1])) {
        const Insn& add = insns[++k];
        out_.insn_offsets[add.pc] = uint32_t(a_.offset());
        learn(i);
        learn(add);
        last = &add;
        continue;
      }
      if ((form == Form::Jump || form == Form::JumpLong) && an_.copy[i.pc].end) {  // (copies replace only gotos)
        if (auto r = emit_copy(i); !r) return r;
        last = &i;
        continue;
      }
      if (auto r = emit(i); !r) return r;
      note_back_edge(i);
      learn(i);
      last = &i;
    }
    if (emitted && (!last || can_fall_through(last->op))) emit_abort(Abort::fell_off, f.end);
  }
  return {};
}

// Instruction slots (an lddw takes two; Program::size counts instructions).
uint32_t Lowering::slot_count(const vm::Program& p) {
  const auto insns = p.insns();
  return insns.empty() ? 0 : insns.back().pc + uint32_t(isa::slot_count(insns.back().op));
}

void Lowering::note_back_edge_to(int64_t t) {
  if (!fit_loops_ || fit_sizes_ || !an_.loop_head[size_t(t)]) return;
  if (out_.insn_offsets[size_t(t)] == 0) return;  // not emitted yet: a forward target
  if (t < int64_t(region_begin_)) return;           // a first pass did not lower the head
  if (loop_bytes_.empty()) loop_bytes_.assign(an_.loop_head.size(), 0);
  loop_bytes_[size_t(t)] = uint32_t(a_.offset()) - out_.insn_offsets[size_t(t)];
}

// Nops of exactly `n` bytes (the recommended multi-byte forms).
void Lowering::emit_nops(uint32_t n) { a_.nop(n); }

// A loop head: 16-byte aligned; with fit_loops, a loop known (first pass)
// to be at most 64 bytes goes to the first 16-byte boundary from which it
// does not cross a 64-byte line, if that costs at most kMaxFitPad bytes.
// Positions count code_offset (the code's start in its page-aligned mapping).
void Lowering::align_loop_head(uint32_t pc) {
  if (!fit_loops_) {
    a_.align(AlignMode::kCode, 16);
    return;
  }
  const uint64_t p = a_.offset() + code_offset_;
  uint64_t c = (p + 15) & ~uint64_t(15);
  const uint32_t bytes = fit_sizes_ && pc < fit_sizes_->size() ? (*fit_sizes_)[pc] : 0;
  if (bytes && bytes <= 64) {
    uint64_t f = c;
    while (f % 64 + bytes > 64) f += 16;
    if (f - p <= kMaxFitPad) c = f;
  }
  emit_nops(uint32_t(c - p));
}

// Options::latch: which loop heads keep their latch split. `back_edges`:
// the instruction indices of the jumps backward (or to themselves), ascending.
void Lowering::find_split_latches(const std::vector<uint32_t>& back_edges) {
  const auto insns = prog_.insns();
  const size_t n = an_.loop_head.size();
  an_.split_latch.assign(n, latch_ == Options::Latch::split);
  if (back_edges.empty()) return;
  std::vector<uint32_t> end(n, 0), latches(n, 0);  // head -> last back edge, fusable latches
  std::vector<uint32_t> heads;
  for (const uint32_t k : back_edges) {
    const Insn& i = insns[k];
    const auto t = size_t(i.target());
    if (!end[t] && t != i.pc) heads.push_back(uint32_t(t));
    end[t] = std::max(end[t], i.pc);
    if (k > 0 && jumps_over_goto(insns[k - 1], i)) ++latches[t];
  }
  if (heads.size() > 1024) return;  // pairwise below: keep big programs' compile linear
  if (skip_crossing_ && align_loops_)
    for (uint32_t h : heads)
      for (uint32_t g : heads)
        if (g < h && h <= end[g] && end[g] < end[h]) an_.loop_head[h] = false;  // crossing, not nested
  if (latch_ != Options::Latch::by_loop) return;
  for (uint32_t h : heads) {
    if (latches[h] != 1 || end[h] - h > 64) continue;  // (binsearch's 100-insn loop: fused is faster)
    bool alone = true;  // no other loop overlaps [h, end[h]]
    for (uint32_t g : heads)
      if (g != h && g <= end[h] && h <= end[g]) alone = false;
    an_.split_latch[h] = alone;
  }
}

// A conditional jump over an unconditional one nothing else jumps to.
bool Lowering::jumps_over_goto(const Insn& i, const Insn& next) const {
  const Form f = isa::form(i.op);
  return (f == Form::JumpImm || f == Form::JumpReg) && i.target() == int64_t(i.pc) + 2 &&
         (next.op == Op::JA || next.op == Op::JA32) && next.pc == i.pc + 1 && !an_.target[next.pc];
}

// Options::tail_copies: which unconditional jumps become a copy of the run
// at their target. The run is straight-line code of one function (ALU and
// loads, nothing with a side table or a side effect beyond registers) up to
// and including its first conditional jump, whose fall-through then becomes
// a jump target. Only inside loops: the jump goes backward, or the run's
// branch does. Not for clang's fused latch (`if c goto +1; goto L`) on
// either side. The loop heads (alignment) are then the targets of the
// backward jumps the code actually has. `back_edges`: the program has a backward
// jump (without one, there is nothing to look for).
void Lowering::find_tail_copies(bool back_edges) {
  const auto insns = prog_.insns();
  const uint32_t n = slot_count(prog_);
  an_.copy.assign(n, Copy{});
  if (!tail_copies_ || !back_edges) return;
  uint32_t budget = kMaxCopiedInsns;
  bool any = false;
  for (size_t k = 0; k < insns.size(); ++k) {
    const Insn& ja = insns[k];
    if (ja.op != Op::JA && ja.op != Op::JA32) continue;
    if (k > 0 && jumps_over_goto(insns[k - 1], ja)) {
      // Options::unroll: clang's latch of a loop whose body is one run.
      if (!unroll_ || ja.target() >= int64_t(insns[k - 1].pc)) continue;
      const auto head = std::lower_bound(insns.begin(), insns.begin() + ptrdiff_t(k), ja.target(),
                                         [](const Insn& i, int64_t pc) { return int64_t(i.pc) < pc; });
      const auto first = uint32_t(head - insns.begin());
      if (int64_t(head->pc) != ja.target() || !unroll_body(first, k - 1, ja)) continue;
      if (uint32_t(k) - first > budget) break;
      budget -= uint32_t(k) - first;
      an_.copy[ja.pc] = Copy{first, uint32_t(k), true};
      ++an_.tail_copies;
      ++an_.unrolled;
      any = true;
      continue;
    }
    const int64_t t = ja.target();
    if (t == int64_t(ja.pc) + 1) continue;
    // (instructions are in pc order, at index pc until the first lddw; a
    // target inside an lddw is none)
    const auto at = size_t(t) < insns.size() && insns[size_t(t)].pc == t
                        ? insns.begin() + t
                        : std::lower_bound(insns.begin(), insns.end(), t,
                                           [](const Insn& i, int64_t pc) { return int64_t(i.pc) < pc; });
    if (at == insns.end() || int64_t(at->pc) != t) continue;
    const auto first = uint32_t(at - insns.begin());
    uint32_t e = 0, blocks = 0;  // the run: [first, e]
    bool loops = t <= int64_t(ja.pc);
    for (uint32_t m = first; m < insns.size() && m - first < kMaxCopyRun; ++m) {
      const Insn& i = insns[m];
      if (an_.function_of[i.pc] != an_.function_of[ja.pc]) break;
      const Form f = isa::form(i.op);
      if (f == Form::AluImm || f == Form::AluReg || f == Form::AluUnary || f == Form::Load) continue;
      if (f != Form::JumpImm && f != Form::JumpReg) break;
      if (m + 1 >= insns.size() || an_.function_of[insns[m + 1].pc] != an_.function_of[ja.pc] ||
          jumps_over_goto(i, insns[m + 1]))
        break;
      e = m;
      const bool latch = i.target() <= int64_t(i.pc);
      loops = loops || latch;
      if (++blocks == kMaxCopyBlocks || latch) break;  // (past a latch: the loop's exit)
    }
    if (!blocks || !loops) continue;
    const uint32_t fall = insns[e].pc + 1;
    if (e + 1 - first > budget) break;
    budget -= e + 1 - first;
    an_.copy[ja.pc] = Copy{first, e + 1};
    ++an_.tail_copies;
    an_.target[fall] = 1;
    any = true;
  }
  if (!any || !align_loops_) return;
  std::fill(an_.loop_head.begin(), an_.loop_head.end(), false);
  for (const Insn& i : insns) {
    if (!isa::is_jump(i.op)) continue;
    if (const Copy& c = an_.copy[i.pc]; c.end && c.unroll) {  // the loop's one back edge, at i.pc
      an_.loop_head[size_t(i.target())] = true;
    } else if (c.end) {  // the run's branches and last jump sit at i.pc
      for (uint32_t m = c.first; m < c.end; ++m)
        if (isa::is_jump(insns[m].op) && insns[m].target() <= int64_t(i.pc))
          an_.loop_head[size_t(insns[m].target())] = true;
      if (insns[c.end - 1].pc + 1 <= i.pc) an_.loop_head[insns[c.end - 1].pc + 1] = true;
    } else if (i.target() <= int64_t(i.pc)) {
      an_.loop_head[size_t(i.target())] = true;
    }
  }
}

// Options::unroll: whether insns[first, latch) is a loop body one copy can
// repeat: straight-line ALU and loads of ja's function (no jump lands inside
// it or on its latch, insns[latch], whose goto `ja` jumps back to insns[first]),
// at most kMaxUnrollBody instructions with the latch.
bool Lowering::unroll_body(size_t first, size_t latch, const Insn& ja) const {
  const auto insns = prog_.insns();
  if (latch + 1 - first > kMaxUnrollBody) return false;
  for (size_t m = first; m < latch; ++m) {
    const Insn& i = insns[m];
    const Form f = isa::form(i.op);
    if (f != Form::AluImm && f != Form::AluReg && f != Form::AluUnary && f != Form::Load) return false;
    if (an_.function_of[i.pc] != an_.function_of[ja.pc] || (m > first && an_.target[i.pc])) return false;
  }
  return !an_.target[insns[latch].pc];
}

// The run an_.copy[ja.pc] in place of the jump `ja`, then a jump to the run's
// fall-through. The run's start is a join (its label), so nothing known
// about registers before carries in.
Expected<void> Lowering::emit_copy(const Insn& ja) {
  const auto insns = prog_.insns();
  const Copy c = an_.copy[ja.pc];
  const bool lookups = !prog_.array_lookups().empty();
  forget();
  for (uint32_t k = c.first; k < c.end; ++k) {
    const Insn& i = insns[k];
    if (c.unroll && k + 1 == c.end) {  // the latch, fused: back to the head unless it exits
      if (auto r = jump(i, ja.target(), ja.pc + 1, true); !r) return r;
      note_back_edge_to(ja.target());
      forget();
      return {};
    }
    if (isa::is_jump(i.op)) {
      // At ja's place: a forward target's distance is bounded from ja.pc + 1
      // plus what of the copy follows this branch.
      uint32_t after = kJmpRel32;
      for (uint32_t m = k + 1; m < c.end; ++m) after += size_bound(insns[m], lookups, inline_helpers_, blind_);
      if (auto r = jump(i, i.target(), ja.pc + 1, false, after); !r) return r;
      if (i.target() <= int64_t(ja.pc)) note_back_edge_to(i.target());
      continue;  // (the copy is straight-line: what is known holds on)
    }
    if (k + 2 < c.end && zero_branch(insns[k + 2].op) && move_first(i, insns[k + 1], insns[k + 2]) &&
        !idiom_in(k + 1, c.end)) {
      const Insn& mov = insns[++k];
      if (auto r = emit(mov); !r) return r;
      learn(mov);
      if (auto r = emit(i); !r) return r;
      learn(i);
      continue;
    }
    if (const Idiom* m = idiom_in(k, c.end)) {  // (its liveness holds: after it the copy goes on as the original)
      emit_idiom(*m);
      k = m->end - 1;
      ++out_.idioms;
      forget();
      continue;
    }
    if (const size_t n = indexed_load(insns, k, c.end)) {
      k += uint32_t(n) - 1;
      continue;
    }
    if (k + 2 < c.end && lea_mov_add(i, insns[k + 1])) {
      learn(i);
      learn(insns[++k]);
      continue;
    }
    if (auto r = emit(i); !r) return r;
    learn(i);
  }
  const uint32_t fall = insns[c.end - 1].pc + 1;
  if (near(ja.pc + 1, fall)) a_.short_();
  a_.jmp(label(fall));
  if (fall <= ja.pc) note_back_edge_to(fall);
  forget();
  return {};
}

namespace {
constexpr uint32_t form_bit(Form f) { return 1u << unsigned(f); }
// The forms find_functions() looks at: calls, legacy packet loads, jumps.
constexpr uint32_t kNotableForms =
    form_bit(Form::Call) | form_bit(Form::CallReg) | form_bit(Form::CallLocal) | form_bit(Form::CallKfunc) |
    form_bit(Form::LoadAbs) | form_bit(Form::LoadInd) | form_bit(Form::Jump) | form_bit(Form::JumpLong) |
    form_bit(Form::JumpImm) | form_bit(Form::JumpReg);
}  // namespace

// Functions start at 0 and at every local call or `lddw func` target. Jumps
// must stay inside their function (the verifier guarantees it). What this
// and the finders it calls compute goes in an_, which adopt_analysis() hands
// to the second pass whole (remaking only the prologue labels: labels belong
// to one pass's assembler, and jump targets get theirs on first use).
Expected<void> Lowering::find_functions() {
  const auto insns = prog_.insns();
  std::vector<uint32_t> entries{0};
  for (const Insn& i : insns) {
    if (i.op == Op::CALL_LOCAL || i.op == Op::LDDW_FUNC) entries.push_back(uint32_t(i.target()));
    if (i.op == Op::LDDW_FUNC) an_.has_func_refs = true;
  }
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  const uint32_t n = slot_count(prog_);
  an_.functions.resize(entries.size());
  an_.function_of.assign(n, 0);
  for (size_t f = 0; f < entries.size(); ++f) {
    const uint32_t begin = entries[f], end = f + 1 < entries.size() ? entries[f + 1] : n;
    an_.functions[f].begin = begin;
    an_.functions[f].end = end;
    an_.functions[f].prologue = a_.newLabel();
    std::fill(an_.function_of.begin() + begin, an_.function_of.begin() + end, uint32_t(f));
  }
  labels_.assign(n, Label());
  an_.target.assign(n, 0);
  an_.loop_head.assign(n, false);
  // bound_prefix[pc]: the size bounds of the instructions before slot pc.
  // Loop heads and tail copies add to it; programs with either (known only
  // after this loop) get it recomputed below.
  const bool lookups = !prog_.array_lookups().empty();
  an_.bound_prefix.resize(n + 1);
  uint32_t bound = 0;
  bool mentioned[11] = {};
  bool calls = false;
  size_t f = 0, with_code = 0;
  std::vector<uint32_t> back_edges;
  uint32_t* const bound_prefix = an_.bound_prefix.data();  // (locals: the stores below alias no member)
  uint32_t f_end = an_.functions[0].end;
  for (size_t k = 0; k < insns.size(); ++k) {
    const Insn& i = insns[k];
    if (i.pc >= f_end || k == 0) {
      // A function whose last instruction may fall through gets an early
      // exit (Abort::fell_off; only unverified code can reach it).
      if (k > 0 && can_fall_through(insns[k - 1].op)) an_.stub = Stub::full;
      while (i.pc >= an_.functions[f].end) {
        close_function(an_.functions[f++], mentioned, calls);
        std::fill(std::begin(mentioned), std::end(mentioned), false);
        calls = false;
      }
      f_end = an_.functions[f].end;
      ++with_code;
    }
    bound_prefix[i.pc] = bound;  // (pcs are consecutive: an lddw's second slot is set below)
    bound += size_bound(i, lookups, inline_helpers_, blind_);
    if (isa::slot_count(i.op) == 2) bound_prefix[i.pc + 1] = bound;
    mentioned[i.dst] = mentioned[i.src] = true;
    // Most instructions are none of the forms below: one test of a mask
    // rules them out before the switch's indirect jump.
    const Form form = isa::form(i.op);
    if (!(form_bit(form) & kNotableForms)) continue;
    // The RunArea (r12): helpers' ExecContext, tail calls, callx, legacy
    // packet loads; early exits unwind to the full stub's saved rsp.
    switch (form) {
      case Form::Call:
        calls = true;
        if (uint32_t(i.imm) == vm::kHelperTailCall) an_.stub = Stub::full;
        else if (an_.stub == Stub::lean) an_.stub = Stub::area;
        continue;
      case Form::CallReg:
        calls = true;
        an_.stub = Stub::full;
        continue;
      case Form::CallLocal:
      case Form::CallKfunc:
        calls = true;
        continue;
      case Form::LoadAbs:
      case Form::LoadInd:
        an_.stub = Stub::full;
        continue;
      case Form::Jump:
      case Form::JumpLong:
      case Form::JumpImm:
      case Form::JumpReg:
        break;
      default:
        continue;
    }
    const int64_t t = i.target();
    if (t < an_.functions[f].begin || t >= an_.functions[f].end)
      return fail(Errc::unsupported, "insn {}: jit: jump to insn {} leaves the function at insn {}", i.pc, t,
                  an_.functions[f].begin);
    an_.target[size_t(t)] = 1;
    if (t <= int64_t(i.pc)) {
      back_edges.push_back(uint32_t(k));
      if (align_loops_) an_.loop_head[size_t(t)] = true;
    }
  }
  if (!insns.empty() && can_fall_through(insns.back().op)) an_.stub = Stub::full;
  an_.bound_prefix[n] = bound;
  for (; f < an_.functions.size(); ++f) {
    close_function(an_.functions[f], mentioned, calls);
    std::fill(std::begin(mentioned), std::end(mentioned), false);
    calls = false;
  }
  if (with_code != an_.functions.size()) an_.stub = Stub::full;  // a function without code: an early exit
  if (!facts_) an_.stub = Stub::full;
  find_tail_copies(!back_edges.empty());
  find_split_latches(back_edges);
  if (an_.unrolled)  // (their latches jump out; the copy's jumps back)
    for (const Insn& i : insns)
      if (an_.copy[i.pc].unroll) an_.split_latch[size_t(i.target())] = true;
  if (idioms_on_ && !blind_) {
    // (a window never crosses a function's entry: find_idioms keeps it inside one)
    an_.idioms = find_idioms(insns, an_.function_of, [this](uint32_t pc) { return an_.target[pc] != 0; },
                          x86::host_features().popcnt);
  }
  if (facts_) {
    if (facts_->insn.size() != n)
      return fail(Errc::invalid_argument, "jit: verifier facts for {} instruction slots, program has {}",
                  facts_->insn.size(), n);
    // A function's frame covers every verifier subprogram inside it (the
    // two find the same entries; should they ever differ, the deepest).
    for (Function& fn : an_.functions) {
      if (!facts_->depth_of(fn.begin)) continue;  // unknown to the verifier: 512
      uint32_t depth = 0;
      for (size_t k = 0; k < facts_->subprog_start.size() && k < facts_->stack_depth.size(); ++k)
        if (facts_->subprog_start[k] >= fn.begin && facts_->subprog_start[k] < fn.end)
          depth = std::max(depth, facts_->stack_depth[k]);
      fn.frame = int32_t(std::min<uint32_t>((depth + 15) / 16 * 16, kFrameBytes));
    }
  }
  for (Function& fn : an_.functions) {
    if (!facts_) {
      fn.uses_rbp = fn.calls = true;  // unverified: as always, a 512-byte frame and aligned calls
    } else {
      // No frame and no mention of r10: the function never forms a stack
      // address (the verifier's depth counts every access of its frame,
      // through any pointer), so rbp stays the caller's.
      fn.uses_rbp = fn.uses_rbp || fn.frame > 0;
    }
    const size_t pushes = (fn.uses_rbp ? 1 : 0) + fn.saved.size();
    // At the prologue rsp is 8 mod 16 (a return address); after an odd
    // number of pushes it is aligned again.
    fn.pad = fn.calls && pushes % 2 == 0 ? 8 : 0;
  }
  an_.head_prefix.assign(n + 1, 0);
  if (!back_edges.empty() || an_.tail_copies) {  // (a tail copy needs a loop: never without back edges)
    // The instructions' own bounds are differences of the prefix so far
    // (0 for an lddw's second slot); heads (at instructions only) and copies
    // add to them.
    const std::vector<uint32_t> plain = an_.bound_prefix;
    const uint32_t pad = fit_loops_ ? kMaxFitPad + 15 : 15;
    for (size_t pc = 0; pc < n; ++pc) {
      const bool head = an_.loop_head[pc];
      uint32_t b = plain[pc + 1] - plain[pc] + (head ? pad : 0);
      if (const Copy& c = an_.copy[pc]; c.end) {
        const Insn& last = insns[c.end - 1];
        b += plain[last.pc + uint32_t(isa::slot_count(last.op))] - plain[insns[c.first].pc];
        b += kJmpRel32;  // the jump to the run's fall-through
      }
      an_.head_prefix[pc + 1] = an_.head_prefix[pc] + (head ? 1 : 0);
      an_.bound_prefix[pc + 1] = an_.bound_prefix[pc] + b;
    }
  }
  publish_functions();
  return {};
}

void Lowering::publish_functions() {
  for (const Function& fn : an_.functions) {
    out_.function_pcs.push_back(fn.begin);
    out_.function_labels.push_back(fn.prologue);
  }
  out_.main = an_.functions[0].prologue;
  out_.tail_copies = an_.tail_copies;
  out_.unrolled = an_.unrolled;
}

void Lowering::adopt_analysis(Lowering&& first) {
  an_ = std::move(first.an_);
  for (Function& f : an_.functions) f.prologue = a_.newLabel();
  labels_.assign(first.labels_.size(), Label());
  publish_functions();
  analysed_ = true;
}

void Lowering::close_function(Function& f, const bool (&mentioned)[11], bool calls) {
  for (int r = 6; r <= 9; ++r)
    if (mentioned[r]) f.saved.push_back(kReg[r]);
  f.uses_rbp = mentioned[10];
  f.calls = calls;
}

// The lowering of each operation, by its form (a per-operation table: one
// indirect call per instruction, where a switch on the form and then on the
// ALU operation mispredicted twice). The switch keeps every form handled
// (-Werror=switch).
consteval Lowering::Handler Lowering::handler_of(const isa::OpInfo& op) {
  const uint8_t kind = op.code & 0xf0;
  const bool plain = kind == 0x00 || kind == 0x10 || kind == 0x40 || kind == 0x50 || kind == 0xa0;
  // Moves, shifts and divisions blind their immediates themselves: alu()'s
  // other cases, each dispatched to directly.
  const Handler own = kind == 0xb0                                   ? &Lowering::alu_mov
                      : kind == 0x30 || kind == 0x90                 ? &Lowering::alu_divmod
                      : kind == 0x60 || kind == 0x70 || kind == 0xc0 ? &Lowering::alu_shift
                                                                     : &Lowering::alu;
  switch (op.form) {
    case Form::AluImm: return plain ? &Lowering::alu_plain_imm : own;
    case Form::AluReg: return plain ? &Lowering::alu_plain_reg : own;
    case Form::AluUnary: return &Lowering::alu;
    case Form::Endian: return &Lowering::endian;
    case Form::LoadImm64: return &Lowering::load_imm64;
    case Form::LoadAbs:
    case Form::LoadInd: return &Lowering::load_packet;
    case Form::Load: return &Lowering::load;
    case Form::StoreImm:
    case Form::StoreReg: return &Lowering::store;
    case Form::Atomic: return &Lowering::atomic;
    case Form::Jump:
    case Form::JumpLong:
    case Form::JumpImm:
    case Form::JumpReg: return &Lowering::jump_insn;
    case Form::Call: return &Lowering::call_helper;
    case Form::CallLocal: return &Lowering::call_local;
    case Form::CallKfunc: return &Lowering::refuse;
    case Form::CallReg: return &Lowering::callx;
    case Form::Exit: return &Lowering::exit_function;
  }
  return &Lowering::refuse;
}

Expected<void> Lowering::emit(const Insn& i) {
  static constexpr auto kHandlers = isa::per_op(handler_of);
  return (this->*kHandlers[size_t(i.op)])(i);
}

Expected<void> Lowering::jump_insn(const Insn& i) { return jump(i, i.target(), i.pc + 1, false); }
Expected<void> Lowering::refuse(const Insn& i) { return unsupported(i); }

// (Out of line, as every case of emit(): it stays a dispatcher with tail
// calls and no frame of its own.)
Expected<void> Lowering::call_local(const Insn& i) {
  a_.call(an_.functions[function_index(i.target())].prologue);
  return {};
}

Expected<void> Lowering::exit_function(const Insn&) {
  emit_teardown(*cur_);
  a_.ret();
  return {};
}

Unexpected<Error> Lowering::unsupported(const Insn& i) {
  if (isa::form(i.op) == Form::CallKfunc) return fail(Errc::unsupported, "insn {}: jit: kfunc calls are not supported", i.pc);
  return fail(Errc::unsupported, "insn {}: jit: no lowering for {}", i.pc, isa::info(i.op).name);
}

}  // namespace x86low

using namespace x86low;  // (and isa::Insn)

Expected<void> lower(const vm::Program& prog, const Options& opts, bool short_jumps, x86::Assembler& a,
                     Lowered& out) {
  if (prog.size() == 0) return fail(Errc::invalid_program, "jit: empty program");
  // The fit places loops of at most 64 bytes. A program without a backward
  // jump over at most 64 slots has none (as good as: every instruction but
  // the few a fold or an idiom absorbs takes a byte or more), so nothing to
  // measure: one pass. (Real programs jump back far to shared error paths:
  // Cilium's from-netdev, 1,006 instructions, compiled twice for that.)
  // The first pass lowers only the short loops, each from its head to its
  // back edge (nested and overlapping ones together): a loop's size depends
  // only on its own instructions, as every loop head is a join where the
  // lowering forgets what it knew. Jumps out of a loop may be longer in the
  // first pass than in the second (their target is not bound), never
  // shorter. The second pass bounds a forward jump by the first pass's
  // offsets only inside one loop (near()); elsewhere by the size bounds
  // alone, as a one-pass compile. (Cilium's bpf_lxc has 1,800-instruction
  // programs whose only short loop is at the end.)
  constexpr int64_t kMaxFitSlots = 64;
  const auto insns = prog.insns();
  std::vector<Region> loops;  // back edges come in pc order; their heads may reach back over earlier loops
  for (const Insn& i : insns)
    if (isa::is_jump(i.op) && i.target() <= int64_t(i.pc) && int64_t(i.pc) - i.target() < kMaxFitSlots) {
      Region g{uint32_t(i.target()), i.pc + 1};
      while (!loops.empty() && g.begin <= loops.back().end) {
        g.begin = std::min(g.begin, loops.back().begin);
        loops.pop_back();
      }
      loops.push_back(g);
    }
  if (opts.align_loops && opts.fit_loops && !loops.empty()) {
    // First pass into a scratch buffer: the loops' code sizes.
    {
      thread_local x86::Assembler sa;  // (its buffer is kept between compiles)
      sa.reset();
      Lowered sout;
      Lowering first(prog, opts, short_jumps, sa, sout);
      first.regions_ = std::move(loops);
      // (No loop measured -- every short loop's head crosses another loop, so
      // none is aligned -- the second pass still takes the analysis, and the
      // offsets, rather than analysing again.)
      if (first.run()) {
        Lowering l(prog, opts, short_jumps, a, out, first.loop_bytes_.empty() ? nullptr : &first.loop_bytes_,
                   &sout.insn_offsets, &first.regions_);
        l.adopt_analysis(std::move(first));
        return l.run();
      }
    }
  }
  Lowering l(prog, opts, short_jumps, a, out);
  return l.run();
}

}  // namespace xbpf::jit
