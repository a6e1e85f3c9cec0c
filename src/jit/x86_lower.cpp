// BPF -> x86-64. One function per instruction class; the register mapping and
// frame layout are described in jit.hpp. Every sequence leaves r9-r11 dead
// (scratch) and rsp where it found it, so flags and scratch registers never
// live across two BPF instructions.
//
// Frame of a BPF function (one per bpf-to-bpf call, as the kernel's JIT):
//   [rbp + 8]            return address
//   [rbp]                caller's rbp (its r10)
//   [rbp - depth, rbp)   the BPF stack; r10 = rbp. depth: the function's
//                        verified stack depth rounded up to 16 when
//                        Options::facts are given (the kernel sizes frames
//                        the same way), else 512
//   [rbp - depth - pad ..] callee-saved registers this function touches (r6-r9)
// rsp is 16-byte aligned after the prologue, so helpers are called directly.
//
// Constant blinding (Options::blind_constants) rewrites every immediate the
// program chose into `mov reg, imm ^ key; xor reg, key` with a fresh random
// key (the kernel's bpf_jit_blind_insn does the same with BPF_REG_AX); r10 is
// the register it unmasks into, as r10 is the kernel x86 JIT's AX.
#include "jit/x86_lower.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <string_view>
#include <sys/random.h>
#include <sys/rseq.h>

#include "jit/run_area.hpp"
#include "jit/x86_facts.hpp"

namespace xbpf::jit {
namespace {

using namespace asmjit;
using x86::Gp;
using isa::Form;
using isa::Insn;
using isa::Op;

const Gp kReg[11] = {x86::rax, x86::rdi, x86::rsi, x86::rdx, x86::rcx, x86::r8,
                     x86::rbx, x86::r13, x86::r14, x86::r15, x86::rbp};
const Gp kArea = x86::r12;
// Scratch: caller-saved, no BPF register lives there.
const Gp kT9 = x86::r9;
const Gp kT10 = x86::r10;
const Gp kT11 = x86::r11;
// Where blinded immediates are unmasked (the kernel x86 JIT's BPF_REG_AX is r10 too).
const Gp kBlind = kT10;

constexpr int32_t kFrameBytes = int32_t(vm::kStackSize);
constexpr uint32_t kMapLookupElem = 1;  // BPF_FUNC_map_lookup_elem
constexpr uint32_t kGetSmpProcessorId = 8;

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

struct Function {
  uint32_t begin = 0;  // first instruction slot
  uint32_t end = 0;    // one past the last
  int32_t frame = kFrameBytes;  // bytes of BPF stack below rbp (a multiple of 16)
  Label prologue;
  std::vector<Gp> saved;  // callee-saved BPF registers it mentions
  // With facts (see emit_prologue): rbp is set up only when the function
  // mentions r10 or has a frame; rsp is re-aligned only when it calls.
  bool uses_rbp = true;
  bool calls = true;
  int32_t pad = 0;  // bytes below the pushes that keep rsp 16-byte aligned at calls
};

// What the entry stub must do for a program (see emit_enter_stub).
enum class Stub : uint8_t {
  full,  // saves every callee-saved register, sets up RunArea and early exits
  area,  // saves r12 and points it at the RunArea (helpers need the ExecContext)
  lean,  // loads r1-r5 and jumps to the function: nothing else to save or set
};

class Lowering {
 public:
  // `loop_bytes`: pc -> the loop's code size at that head, measured by a
  // first pass (nullptr: the first pass; run() then fills loop_bytes_).
  Lowering(const vm::Program& prog, const Options& opts, bool short_jumps, x86::Assembler& a, Lowered& out,
           const std::vector<uint32_t>* loop_bytes = nullptr, const std::vector<uint32_t>* first_offsets = nullptr)
      : prog_(prog), a_(a), out_(out), fit_sizes_(loop_bytes), first_offsets_(first_offsets), short_jumps_(short_jumps) {
    bmi2_ = opts.bmi2 && CpuInfo::host().features().x86().hasBMI2();
    align_loops_ = opts.align_loops;
    fit_loops_ = opts.align_loops && opts.fit_loops;
    latch_ = opts.latch;
    short_arith_ = opts.short_arith;
    tail_copies_ = opts.tail_copies;
    skip_crossing_ = opts.skip_crossing_heads;
    code_offset_ = opts.code_offset;
    facts_ = opts.facts;
    inline_helpers_ = opts.inline_helpers;
    cpu_id_off_ = rseq_cpu_id_offset();
    blind_ = opts.blind_constants;
    if (blind_) key_state_ = blinding_seed();
    a_.addEncodingOptions(EncodingOptions::kOptimizeForSize | EncodingOptions::kOptimizedAlign);
  }

  Expected<void> run() {
    if (auto r = find_functions(); !r) return r;
    // One buffer for the whole program: the size bounds overestimate about 3x.
    CodeHolder* code = a_.code();
    code->reserveBuffer(&code->textSection()->buffer(), 256 + bound_prefix_.back() / 2);
    emit_enter_stub();
    out_.no_area = stub_ == Stub::lean;
    out_.insn_offsets.assign(slot_count(prog_), 0);
    const auto insns = prog_.insns();
    size_t k = 0;
    for (Function& f : functions_) {
      cur_ = &f;
      nonzero_.clear();
      emit_prologue(f);
      const Insn* last = nullptr;
      for (; k < insns.size() && insns[k].pc < f.end; ++k) {
        const Insn& i = insns[k];
        if (labels_[i.pc].isValid()) {
          if (loop_head_[i.pc]) align_loop_head(i.pc);
          a_.bind(labels_[i.pc]);
          nonzero_.clear();  // other paths join here
        }
        out_.insn_offsets[i.pc] = uint32_t(a_.offset());
        if (isa::slot_count(i.op) == 2) out_.insn_offsets[i.pc + 1] = uint32_t(a_.offset());
        if (k + 1 < insns.size() && jumps_over_goto(i, insns[k + 1]) &&
            (insns[k + 1].target() > int64_t(insns[k + 1].pc) || !split_latch_[size_t(insns[k + 1].target())])) {
          // `if c goto +1; goto L` (clang's loop latch) becomes `if !c goto L`.
          const Insn& ja = insns[++k];
          if (auto r = jump(i, ja.target(), ja.pc + 1, true); !r) return r;
          out_.insn_offsets[ja.pc] = uint32_t(a_.offset());
          note_back_edge(ja);
          last = &ja;
          continue;
        }
        if (k + 1 < insns.size() && lea_mov_add(i, insns[k + 1])) {
          const Insn& add = insns[++k];
          out_.insn_offsets[add.pc] = uint32_t(a_.offset());
          nonzero_.update(i);
          nonzero_.update(add);
          last = &add;
          continue;
        }
        if (copy_[i.pc].end) {
          if (auto r = emit_copy(i); !r) return r;
          last = &i;
          continue;
        }
        if (auto r = emit(i); !r) return r;
        note_back_edge(i);
        nonzero_.update(i);
        last = &i;
      }
      if (!last || can_fall_through(last->op)) emit_abort(Abort::fell_off, f.end);
    }
    return {};
  }

 private:
  // ---- structure -----------------------------------------------------------

  // Instruction slots (an lddw takes two; Program::size counts instructions).
  static uint32_t slot_count(const vm::Program& p) {
    const auto insns = p.insns();
    return insns.empty() ? 0 : insns.back().pc + uint32_t(isa::slot_count(insns.back().op));
  }

  static bool can_fall_through(Op op) { return op != Op::EXIT && op != Op::JA && op != Op::JA32; }

 public:
  static constexpr uint32_t kMaxFitPad = 48;  // bytes of nops at most before a loop head
  std::vector<uint32_t> loop_bytes_;  // first pass: pc -> bytes from the head to its last back edge's end

 private:
  // After a jump's code: a backward jump ends its target's loop here (so far).
  void note_back_edge(const Insn& i) {
    if (!isa::is_jump(i.op) || i.target() > int64_t(i.pc)) return;
    note_back_edge_to(i.target());
  }
  void note_back_edge_to(int64_t t) {
    if (!fit_loops_ || fit_sizes_ || !loop_head_[size_t(t)]) return;
    if (out_.insn_offsets[size_t(t)] == 0) return;  // not emitted yet: a forward target
    if (loop_bytes_.empty()) loop_bytes_.assign(loop_head_.size(), 0);
    loop_bytes_[size_t(t)] = uint32_t(a_.offset()) - out_.insn_offsets[size_t(t)];
  }

  // Nops of exactly `n` bytes (the recommended multi-byte forms).
  void emit_nops(uint32_t n) {
    static const uint8_t kNops[9][9] = {
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
      a_.embed(kNops[m - 1], m);
      n -= m;
    }
  }

  // A loop head: 16-byte aligned; with fit_loops, a loop known (first pass)
  // to be at most 64 bytes goes to the first 16-byte boundary from which it
  // does not cross a 64-byte line, if that costs at most kMaxFitPad bytes.
  // Positions count code_offset (the code's start in its page-aligned mapping).
  void align_loop_head(uint32_t pc) {
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

  // True when a forward jump from slot `next` to slot `to` certainly fits a
  // rel8 displacement: the code in between is at most the sum of its
  // instructions' size bounds plus a loop head's alignment. (A bound that is
  // wrong makes asmjit fail the jump; compile() then retries with rel32 only.)
  // Backward jumps need no help: asmjit knows a bound label's distance.
  //
  // Second pass (fit_loops): the first pass's actual offsets bound the
  // distance too. Between the two passes only two things change: jumps the
  // first pass made rel32 may become rel8 here (shorter), and a loop head's
  // padding grows from at most 15 to at most 15 + kMaxFitPad bytes. So the
  // distance here is at most the first pass's plus that growth for every
  // loop head from `next` to `to` (the kernel's JIT gets rel8 wherever it
  // fits by iterating its passes until the size converges).
  bool near(uint32_t next, int64_t to) const {
    if (!short_jumps_ || to <= int64_t(next) - 1) return false;
    const uint32_t bytes = bound_prefix_[size_t(to)] - bound_prefix_[next] + near_slack_;
    if (bytes <= 100) return true;
    if (!first_offsets_ || size_t(to) >= first_offsets_->size()) return false;
    const int64_t first = int64_t((*first_offsets_)[size_t(to)]) - int64_t((*first_offsets_)[next]);
    const int64_t heads = int64_t(head_prefix_[size_t(to) + 1] - head_prefix_[next]);
    return first >= 0 && first + heads * (kMaxFitPad + 15) + near_slack_ <= 120;
  }

  // Options::latch: which loop heads keep their latch split.
  void find_split_latches() {
    const auto insns = prog_.insns();
    const size_t n = loop_head_.size();
    split_latch_.assign(n, latch_ == Options::Latch::split);
    std::vector<uint32_t> end(n, 0), latches(n, 0);  // head -> last back edge, fusable latches
    std::vector<uint32_t> heads;
    for (size_t k = 0; k < insns.size(); ++k) {
      const Insn& i = insns[k];
      if (!isa::is_jump(i.op) || i.target() > int64_t(i.pc)) continue;
      const auto t = size_t(i.target());
      if (!end[t] && t != i.pc) heads.push_back(uint32_t(t));
      end[t] = std::max(end[t], i.pc);
      if (k > 0 && jumps_over_goto(insns[k - 1], i)) ++latches[t];
    }
    if (heads.size() > 1024) return;  // pairwise below: keep big programs' compile linear
    if (skip_crossing_ && align_loops_)
      for (uint32_t h : heads)
        for (uint32_t g : heads)
          if (g < h && h <= end[g] && end[g] < end[h]) loop_head_[h] = false;  // crossing, not nested
    if (latch_ != Options::Latch::by_loop) return;
    for (uint32_t h : heads) {
      if (latches[h] != 1 || end[h] - h > 64) continue;  // (binsearch's 100-insn loop: fused is faster)
      bool alone = true;  // no other loop overlaps [h, end[h]]
      for (uint32_t g : heads)
        if (g != h && g <= end[h] && h <= end[g]) alone = false;
      split_latch_[h] = alone;
    }
  }

  // A conditional jump over an unconditional one nothing else jumps to.
  bool jumps_over_goto(const Insn& i, const Insn& next) const {
    const Form f = isa::info(i.op).form;
    return (f == Form::JumpImm || f == Form::JumpReg) && i.target() == int64_t(i.pc) + 2 &&
           (next.op == Op::JA || next.op == Op::JA32) && next.pc == i.pc + 1 && !labels_[next.pc].isValid();
  }

  static constexpr uint32_t kJmpRel32 = 5;
  static constexpr uint32_t kMaxCopyRun = 12;      // instructions of one copied run
  // Blocks of one run: a latch and the next iteration's first compare (a
  // switch's dispatch; dispatch measured 0.87-0.90 of the uncopied code with
  // 1 or 2, worse with 3).
  static constexpr uint32_t kMaxCopyBlocks = 2;
  static constexpr uint32_t kMaxCopiedInsns = 256;  // per program

  // Options::tail_copies: which unconditional jumps become a copy of the run
  // at their target. The run is straight-line code of one function (ALU and
  // loads, nothing with a side table or a side effect beyond registers) up to
  // and including its first conditional jump, whose fall-through then becomes
  // a jump target. Only inside loops: the jump goes backward, or the run's
  // branch does. Not for clang's fused latch (`if c goto +1; goto L`) on
  // either side. The loop heads (alignment) are then the targets of the
  // backward jumps the code actually has.
  void find_tail_copies() {
    const auto insns = prog_.insns();
    const uint32_t n = slot_count(prog_);
    copy_.assign(n, Copy{});
    if (!tail_copies_) return;
    std::vector<uint32_t> index_of(n, UINT32_MAX);
    for (size_t k = 0; k < insns.size(); ++k) index_of[insns[k].pc] = uint32_t(k);
    uint32_t budget = kMaxCopiedInsns;
    bool any = false;
    for (size_t k = 0; k < insns.size(); ++k) {
      const Insn& ja = insns[k];
      if (ja.op != Op::JA && ja.op != Op::JA32) continue;
      if (k > 0 && jumps_over_goto(insns[k - 1], ja)) continue;
      const int64_t t = ja.target();
      if (t == int64_t(ja.pc) + 1 || index_of[size_t(t)] == UINT32_MAX) continue;
      const uint32_t first = index_of[size_t(t)];
      uint32_t e = 0, blocks = 0;  // the run: [first, e]
      bool loops = t <= int64_t(ja.pc);
      for (uint32_t m = first; m < insns.size() && m - first < kMaxCopyRun; ++m) {
        const Insn& i = insns[m];
        if (function_of_[i.pc] != function_of_[ja.pc]) break;
        const Form f = isa::info(i.op).form;
        if (f == Form::AluImm || f == Form::AluReg || f == Form::AluUnary || f == Form::Load) continue;
        if (f != Form::JumpImm && f != Form::JumpReg) break;
        if (m + 1 >= insns.size() || function_of_[insns[m + 1].pc] != function_of_[ja.pc] ||
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
      copy_[ja.pc] = Copy{first, e + 1};
      ++out_.tail_copies;
      if (!labels_[fall].isValid()) labels_[fall] = a_.newLabel();
      any = true;
    }
    if (!any || !align_loops_) return;
    std::fill(loop_head_.begin(), loop_head_.end(), false);
    for (const Insn& i : insns) {
      if (!isa::is_jump(i.op)) continue;
      if (const Copy& c = copy_[i.pc]; c.end) {  // the run's branches and last jump sit at i.pc
        for (uint32_t m = c.first; m < c.end; ++m)
          if (isa::is_jump(insns[m].op) && insns[m].target() <= int64_t(i.pc))
            loop_head_[size_t(insns[m].target())] = true;
        if (insns[c.end - 1].pc + 1 <= i.pc) loop_head_[insns[c.end - 1].pc + 1] = true;
      } else if (i.target() <= int64_t(i.pc)) {
        loop_head_[size_t(i.target())] = true;
      }
    }
  }

  // The run copy_[ja.pc] in place of the jump `ja`, then a jump to the run's
  // fall-through. The run's start is a join (its label), so nothing known
  // about registers before carries in.
  Expected<void> emit_copy(const Insn& ja) {
    const auto insns = prog_.insns();
    const Copy c = copy_[ja.pc];
    const bool lookups = !prog_.array_lookups().empty();
    nonzero_.clear();
    for (uint32_t k = c.first; k < c.end; ++k) {
      const Insn& i = insns[k];
      if (isa::is_jump(i.op)) {
        // At ja's place: a forward target's distance is bounded from ja.pc + 1
        // plus what of the copy follows this branch.
        near_slack_ = kJmpRel32;
        for (uint32_t m = k + 1; m < c.end; ++m) near_slack_ += size_bound(insns[m], lookups, inline_helpers_, blind_);
        auto r = jump(i, i.target(), ja.pc + 1, false);
        near_slack_ = 0;
        if (!r) return r;
        if (i.target() <= int64_t(ja.pc)) note_back_edge_to(i.target());
        continue;  // (the copy is straight-line: what is known holds on)
      }
      if (k + 2 < c.end && lea_mov_add(i, insns[k + 1])) {
        nonzero_.update(i);
        nonzero_.update(insns[++k]);
        continue;
      }
      if (auto r = emit(i); !r) return r;
      nonzero_.update(i);
    }
    const uint32_t fall = insns[c.end - 1].pc + 1;
    if (near(ja.pc + 1, fall)) a_.short_();
    a_.jmp(labels_[fall]);
    if (fall <= ja.pc) note_back_edge_to(fall);
    nonzero_.clear();
    return {};
  }

  // Functions start at 0 and at every local call or `lddw func` target. Jumps
  // must stay inside their function (the verifier guarantees it).
  Expected<void> find_functions() {
    const auto insns = prog_.insns();
    std::vector<uint32_t> entries{0};
    for (const Insn& i : insns) {
      if (i.op == Op::CALL_LOCAL || i.op == Op::LDDW_FUNC) entries.push_back(uint32_t(i.target()));
      if (i.op == Op::LDDW_FUNC) has_func_refs_ = true;
    }
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
    const uint32_t n = slot_count(prog_);
    functions_.resize(entries.size());
    function_of_.assign(n, 0);
    for (size_t f = 0; f < entries.size(); ++f) {
      functions_[f].begin = entries[f];
      functions_[f].end = f + 1 < entries.size() ? entries[f + 1] : n;
      functions_[f].prologue = a_.newLabel();
      for (uint32_t pc = functions_[f].begin; pc < functions_[f].end; ++pc) function_of_[pc] = uint32_t(f);
    }
    labels_.assign(n, Label());
    loop_head_.assign(n, false);
    bool mentioned[11] = {};
    bool calls = false;
    size_t f = 0;
    for (const Insn& i : insns) {
      while (i.pc >= functions_[f].end) {
        close_function(functions_[f++], mentioned, calls);
        std::fill(std::begin(mentioned), std::end(mentioned), false);
        calls = false;
      }
      mentioned[i.dst] = mentioned[i.src] = true;
      const Form form = isa::info(i.op).form;
      if (form == Form::Call || form == Form::CallLocal || form == Form::CallReg || form == Form::CallKfunc) calls = true;
      // The RunArea (r12): helpers' ExecContext, tail calls, callx, legacy
      // packet loads; early exits unwind to the full stub's saved rsp.
      if (form == Form::Call || form == Form::CallReg || form == Form::LoadAbs || form == Form::LoadInd)
        if (stub_ == Stub::lean) stub_ = Stub::area;
      if ((form == Form::Call && uint32_t(i.imm) == vm::kHelperTailCall) || form == Form::CallReg ||
          form == Form::LoadAbs || form == Form::LoadInd)
        stub_ = Stub::full;
      if (!isa::is_jump(i.op)) continue;
      const int64_t t = i.target();
      if (t < functions_[f].begin || t >= functions_[f].end)
        return fail(Errc::unsupported, "insn {}: jit: jump to insn {} leaves the function at insn {}", i.pc, t,
                    functions_[f].begin);
      if (!labels_[size_t(t)].isValid()) labels_[size_t(t)] = a_.newLabel();
      if (t <= int64_t(i.pc) && align_loops_) loop_head_[size_t(t)] = true;
    }
    for (; f < functions_.size(); ++f) {
      close_function(functions_[f], mentioned, calls);
      std::fill(std::begin(mentioned), std::end(mentioned), false);
      calls = false;
    }
    // A function whose last instruction may fall through gets an early exit
    // (Abort::fell_off; only unverified code can reach it).
    std::vector<bool> has_code(functions_.size(), false);
    for (size_t k = 0; k < insns.size(); ++k) {
      const size_t fk = function_of_[insns[k].pc];
      has_code[fk] = true;
      const bool last = k + 1 == insns.size() || function_of_[insns[k + 1].pc] != fk;
      if (last && can_fall_through(insns[k].op)) stub_ = Stub::full;
    }
    if (std::find(has_code.begin(), has_code.end(), false) != has_code.end()) stub_ = Stub::full;
    if (!facts_) stub_ = Stub::full;
    find_tail_copies();
    find_split_latches();
    if (facts_) {
      if (facts_->insn.size() != n)
        return fail(Errc::invalid_argument, "jit: verifier facts for {} instruction slots, program has {}",
                    facts_->insn.size(), n);
      // A function's frame covers every verifier subprogram inside it (the
      // two find the same entries; should they ever differ, the deepest).
      for (Function& fn : functions_) {
        if (!facts_->depth_of(fn.begin)) continue;  // unknown to the verifier: 512
        uint32_t depth = 0;
        for (size_t k = 0; k < facts_->subprog_start.size() && k < facts_->stack_depth.size(); ++k)
          if (facts_->subprog_start[k] >= fn.begin && facts_->subprog_start[k] < fn.end)
            depth = std::max(depth, facts_->stack_depth[k]);
        fn.frame = int32_t(std::min<uint32_t>((depth + 15) / 16 * 16, kFrameBytes));
      }
    }
    for (Function& fn : functions_) {
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
    head_prefix_.assign(n + 1, 0);
    for (uint32_t pc = 0; pc < n; ++pc) head_prefix_[pc + 1] = head_prefix_[pc] + (loop_head_[pc] ? 1 : 0);
    bound_prefix_.assign(n + 1, 0);
    for (size_t k = 0, pc = 0; pc < n; ++pc) {
      uint32_t b = 0;
      if (k < insns.size() && insns[k].pc == pc) {
        b = size_bound(insns[k], !prog_.array_lookups().empty(), inline_helpers_, blind_) + (loop_head_[pc] ? (fit_loops_ ? kMaxFitPad + 15 : 15) : 0);
        for (uint32_t c = copy_[pc].first; c < copy_[pc].end; ++c)
          b += size_bound(insns[c], !prog_.array_lookups().empty(), inline_helpers_, blind_);
        if (copy_[pc].end) b += kJmpRel32;  // the jump to the run's fall-through
        ++k;
      }
      bound_prefix_[pc + 1] = bound_prefix_[pc] + b;
    }
    for (const Function& fn : functions_) {
      out_.function_pcs.push_back(fn.begin);
      out_.function_labels.push_back(fn.prologue);
    }
    out_.main = functions_[0].prologue;
    return {};
  }

  static void close_function(Function& f, const bool (&mentioned)[11], bool calls) {
    for (int r = 6; r <= 9; ++r)
      if (mentioned[r]) f.saved.push_back(kReg[r]);
    f.uses_rbp = mentioned[10];
    f.calls = calls;
  }

  // ---- entry stub, prologue, epilogue --------------------------------------

  // uint64_t enter(const uint64_t* args, RunArea* area, const void* fn)
  //
  // Stub::full saves the C++ caller's callee-saved registers, records its rsp
  // for early exits (which unwind every BPF frame at once, skipping their
  // epilogues) and calls `fn`. Without facts it also zeroes r0 and r6-r9, as
  // the interpreter starts; the verifier rejects any read of a register
  // before its first write ("R0 !read_ok"), so verified programs skip that.
  // Every program that may exit early (legacy packet loads, callx, falling
  // off a function) or tail-call (the target may exit early, to this stub)
  // gets it. Otherwise each BPF function saves what it clobbers itself
  // (rbp, r6-r9), so the stub only sets r12 when helpers need the RunArea
  // (Stub::area: push r12 keeps the call aligned) or just loads r1-r5 and
  // jumps (Stub::lean: the function returns to the C++ caller itself).
  void emit_enter_stub() {
    abort_ = a_.newLabel();
    if (stub_ == Stub::lean || stub_ == Stub::area) {
      if (stub_ == Stub::area) {
        a_.push(kArea);
        a_.mov(kArea, x86::rsi);
      }
      a_.mov(kT11, x86::rdx);
      // The main function of a verified program reads only r1 before
      // writing (the verifier starts r2-r5 uninitialised); callbacks
      // (bpf_loop, for_each_map_elem) get r1-r5, but a lean program calls no
      // helper, so nothing calls back into it unless it has `lddw func`.
      if (stub_ != Stub::lean || has_func_refs_) {
        a_.mov(x86::rsi, x86::qword_ptr(x86::rdi, 8));
        a_.mov(x86::rdx, x86::qword_ptr(x86::rdi, 16));
        a_.mov(x86::rcx, x86::qword_ptr(x86::rdi, 24));
        a_.mov(x86::r8, x86::qword_ptr(x86::rdi, 32));
      }
      a_.mov(x86::rdi, x86::qword_ptr(x86::rdi, 0));
      if (stub_ == Stub::lean) {
        a_.jmp(kT11);
      } else {
        a_.call(kT11);
        a_.pop(kArea);
        a_.ret();
      }
      // No early exit exists in such a program: nothing jumps here.
      a_.bind(abort_);
      a_.int3();
      return;
    }
    static const Gp kSaved[] = {x86::rbx, x86::rbp, x86::r12, x86::r13, x86::r14, x86::r15};
    for (const Gp& r : kSaved) a_.push(r);
    a_.sub(x86::rsp, 8);  // 6 pushes + return address: realign to 16 for the call
    a_.mov(kArea, x86::rsi);
    a_.mov(x86::qword_ptr(kArea, kAreaAbortRsp), x86::rsp);
    a_.mov(kT11, x86::rdx);
    a_.mov(x86::rsi, x86::qword_ptr(x86::rdi, 8));
    a_.mov(x86::rdx, x86::qword_ptr(x86::rdi, 16));
    a_.mov(x86::rcx, x86::qword_ptr(x86::rdi, 24));
    a_.mov(x86::r8, x86::qword_ptr(x86::rdi, 32));
    a_.mov(x86::rdi, x86::qword_ptr(x86::rdi, 0));
    if (!facts_)
      for (int r : {0, 6, 7, 8, 9}) a_.xor_(kReg[r].r32(), kReg[r].r32());
    a_.call(kT11);
    Label leave = a_.newLabel();
    a_.bind(leave);
    a_.add(x86::rsp, 8);
    for (size_t k = std::size(kSaved); k-- > 0;) a_.pop(kSaved[k]);
    a_.ret();
    // Early exit from any depth: back to the stub's frame with r0 = 0.
    a_.bind(abort_);
    a_.mov(x86::rsp, x86::qword_ptr(kArea, kAreaAbortRsp));
    a_.xor_(x86::eax, x86::eax);
    a_.jmp(leave);
  }

  // Without facts: push rbp; mov rbp, rsp; sub rsp, 512 (+8); push r6-r9 it
  // mentions. With facts, the frame is the verified depth, rbp is set only
  // when used, and the alignment pad only when the function calls.
  void emit_prologue(const Function& f) {
    a_.align(AlignMode::kCode, 16);
    a_.bind(f.prologue);
    if (f.uses_rbp) {
      a_.push(x86::rbp);
      a_.mov(x86::rbp, x86::rsp);
      if (const int32_t bytes = f.frame + f.pad; bytes) a_.sub(x86::rsp, bytes);
      for (const Gp& r : f.saved) a_.push(r);
      return;
    }
    for (const Gp& r : f.saved) a_.push(r);
    if (f.pad) a_.sub(x86::rsp, f.pad);
  }

  // Restores what the prologue saved and drops the frame (no return).
  void emit_teardown(const Function& f) {
    if (f.uses_rbp) {
      for (size_t k = f.saved.size(); k-- > 0;) a_.pop(f.saved[k]);
      a_.leave();
      return;
    }
    if (f.pad) a_.add(x86::rsp, f.pad);
    for (size_t k = f.saved.size(); k-- > 0;) a_.pop(f.saved[k]);
  }

  void emit_abort(Abort why, uint64_t arg) {
    a_.mov(x86::dword_ptr(kArea, kAreaError), uint32_t(why));
    a_.mov(x86::qword_ptr(kArea, kAreaErrorArg), Imm(int64_t(arg)));
    a_.jmp(abort_);
  }

  // ---- instructions ----------------------------------------------------------

  Expected<void> emit(const Insn& i) {
    switch (isa::info(i.op).form) {
      case Form::AluImm:
      case Form::AluReg:
      case Form::AluUnary: return alu(i);
      case Form::Endian: return endian(i);
      case Form::LoadImm64: return load_imm64(i);
      case Form::LoadAbs:
      case Form::LoadInd: return load_packet(i);
      case Form::Load: return load(i);
      case Form::StoreImm:
      case Form::StoreReg: return store(i);
      case Form::Atomic: return atomic(i);
      case Form::Jump:
      case Form::JumpLong:
      case Form::JumpImm:
      case Form::JumpReg: return jump(i, i.target(), i.pc + 1, false);
      case Form::Call: return call_helper(i);
      case Form::CallLocal: a_.call(functions_[function_index(i.target())].prologue); return {};
      case Form::CallKfunc: return fail(Errc::unsupported, "insn {}: jit: kfunc calls are not supported", i.pc);
      case Form::CallReg: return callx(i);
      case Form::Exit:
        emit_teardown(*cur_);
        a_.ret();
        return {};
    }
    return unsupported(i);
  }

  Unexpected<Error> unsupported(const Insn& i) {
    return fail(Errc::unsupported, "insn {}: jit: no lowering for {}", i.pc, isa::info(i.op).name);
  }

  size_t function_index(int64_t pc) const { return function_of_[size_t(pc)]; }

  static Gp width(const Gp& r, bool is64) { return is64 ? Gp(r.r64()) : Gp(r.r32()); }

  // ---- facts and blinding ---------------------------------------------------

  bool fact(const Insn& i, uint8_t f) const { return facts_ && facts_->has(i.pc, f); }

  // A fresh blinding key (splitmix64 from blinding_seed()). Its low half is
  // never 0, so a masked immediate differs from the immediate.
  uint64_t key64() {
    for (;;) {
      uint64_t z = (key_state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      if (uint32_t(z) != 0) return z;
    }
  }

  // r = imm32 sign-extended to 64 bits (its low half for a 32-bit `r`),
  // without the immediate in the code: mov r, imm ^ key; xor r, key. Both
  // immediates sign-extend, and sign extension commutes with xor.
  void blinded_imm(const Gp& r, int32_t imm) {
    const auto k = int32_t(uint32_t(key64()));
    const auto masked = int32_t(uint32_t(imm) ^ uint32_t(k));
    if (r.size() == 8) {
      a_.mov(r, Imm(int64_t(masked)));
      a_.xor_(r, Imm(int64_t(k)));
    } else {
      a_.mov(r, Imm(uint32_t(masked)));
      a_.xor_(r, Imm(uint32_t(k)));
    }
  }

  Expected<void> alu(const Insn& i) {
    const isa::OpInfo& info = isa::info(i.op);
    const bool is64 = !isa::is_32bit(i.op);
    bool imm = info.form == Form::AluImm;
    const Gp d = width(kReg[i.dst], is64);
    Gp s = width(kReg[i.src], is64);
    const uint8_t kind = info.code & 0xf0;
    // Blinding: the immediate goes through r10 and the register form is
    // used (moves, divisions and shifts blind their own way).
    if (imm && blind_ && kind != 0xb0 && kind != 0x30 && kind != 0x90 && kind != 0x60 && kind != 0x70 &&
        kind != 0xc0) {
      s = width(kBlind, is64);
      blinded_imm(s, i.imm);
      imm = false;
    }
    // A 64-bit operation's immediate is the sign-extended imm32: x86's own rule.
    switch (kind) {
      case 0x00: imm ? a_.add(d, Imm(i.imm)) : a_.add(d, s); return {};
      case 0x10: imm ? a_.sub(d, Imm(i.imm)) : a_.sub(d, s); return {};
      case 0x20:
        if (imm)
          mul_imm(d, is64, i.imm);
        else
          a_.imul(d, s);
        return {};
      case 0x40: imm ? a_.or_(d, Imm(i.imm)) : a_.or_(d, s); return {};
      case 0x50: imm ? a_.and_(d, Imm(i.imm)) : a_.and_(d, s); return {};
      case 0xa0: imm ? a_.xor_(d, Imm(i.imm)) : a_.xor_(d, s); return {};
      case 0x80: a_.neg(d); return {};
      case 0x30: div_mod(i, is64, imm, i.off == 1, false); return {};
      case 0x90: div_mod(i, is64, imm, i.off == 1, true); return {};
      case 0x60:
      case 0x70:
      case 0xc0: shift(i, is64, imm, info.code & 0xf0); return {};
      case 0xb0: mov(i, is64, imm); return {};
      default: break;
    }
    return unsupported(i);
  }

  // `rA = rB; rA += rC` or `rA += imm` (clang's address arithmetic, `r1 =
  // r10; r1 += -8` above all) as one `lea rA, [rB + rC/imm]`: one instruction
  // instead of two, and no dependence on the move being eliminated. The add
  // must not be a jump target (a path entering there has no move). A 32-bit
  // add takes the low half of the 64-bit sum and zero-extends, as lea with a
  // 32-bit destination does, whatever the move's width; a 64-bit add after a
  // 32-bit move (whose result is zero-extended) is left alone. Not with
  // blinding for an immediate (it must not appear in the code). Emits and
  // returns true when the pair is fused.
  bool lea_mov_add(const Insn& mov, const Insn& add) {
    if (!short_arith_ || (mov.op != Op::MOV64_REG && mov.op != Op::MOV32_REG) || mov.off != 0 || mov.dst == mov.src)
      return false;
    const bool add_imm = add.op == Op::ADD64_IMM || add.op == Op::ADD32_IMM;
    const bool add32 = add.op == Op::ADD32_IMM || add.op == Op::ADD32_REG;
    if (!add_imm && add.op != Op::ADD64_REG && !add32) return false;
    if (add.dst != mov.dst || labels_[add.pc].isValid() || (add_imm && blind_)) return false;
    if (mov.op == Op::MOV32_REG && !add32) return false;
    const Gp base = kReg[mov.src];
    const Gp d = add32 ? Gp(kReg[mov.dst].r32()) : kReg[mov.dst];
    if (add_imm)
      a_.lea(d, x86::ptr(base, add.imm));
    else  // rA += rA after the move adds rB
      a_.lea(d, x86::ptr(base, add.src == mov.dst ? base : kReg[add.src]));
    return true;
  }

  // dst *= imm. imul takes 3 cycles of latency on current x86-64 cores; a
  // multiplier that is a power of two, 3/5/9 times one, or 2^k +- 1 costs 1-2
  // cycles as a shift, an lea (base + index * scale) or a shift and an add or
  // sub (what C compilers do; the kernel's JIT always emits imul). All of it
  // is exact modulo 2^64 (2^32 for a 32-bit `d`, whose operations zero-extend
  // as BPF's do). Negative multipliers keep imul. Not reached when blinding
  // (the immediate then comes in a register).
  void mul_imm(const Gp& d, bool is64, int32_t imm) {
    const Gp d64 = d.r64();
    const auto log2 = [](uint32_t v) { return uint32_t(std::countr_zero(v)); };
    const auto pow2 = [](uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
    if (imm < 0 || !short_arith_) {
      a_.imul(d, d, Imm(imm));
      return;
    }
    const auto c = uint32_t(imm);
    if (c == 0) {
      a_.xor_(d64.r32(), d64.r32());
      return;
    }
    if (c == 1) {
      if (!is64) a_.mov(d64.r32(), d64.r32());  // the 32-bit multiply's zero-extension
      return;
    }
    if (pow2(c)) {
      a_.shl(d, log2(c));
      return;
    }
    // m * 2^k with m = 3, 5 or 9: lea d, [d + d*(m-1)], then the shift.
    const uint32_t k = log2(c), m = c >> k;
    if (m == 3 || m == 5 || m == 9) {
      a_.lea(d, x86::ptr(d64, d64, log2(m - 1)));
      if (k) a_.shl(d, k);
      return;
    }
    // 2^k + 1 and 2^k - 1: keep d, shift it, add or subtract the kept copy.
    const Gp t = width(kT11, is64);
    if (pow2(c - 1) || pow2(c + 1)) {
      a_.mov(t, d);
      if (pow2(c - 1)) {
        a_.shl(d, log2(c - 1));
        a_.add(d, t);
      } else {
        a_.shl(d, log2(c + 1));
        a_.sub(d, t);
      }
      return;
    }
    a_.imul(d, d, Imm(imm));
  }

  void mov(const Insn& i, bool is64, bool imm) {
    const Gp d64 = kReg[i.dst];
    if (imm) {
      if (i.imm == 0)
        a_.xor_(d64.r32(), d64.r32());
      else if (blind_)
        blinded_imm(is64 ? d64 : Gp(d64.r32()), i.imm);
      else if (!is64 || i.imm > 0)
        a_.mov(d64.r32(), Imm(uint32_t(i.imm)));
      else
        a_.mov(d64, Imm(int64_t(i.imm)));
      return;
    }
    const Gp s64 = kReg[i.src];
    switch (i.off) {
      case 0:
        if (is64) {
          if (i.dst != i.src) a_.mov(d64, s64);
        } else if (i.dst != i.src || !fact(i, verifier::JitFacts::kUpperZero)) {
          a_.mov(d64.r32(), s64.r32());  // else: a zero-extension of what is zero-extended already
        }
        return;
      case 8: is64 ? a_.movsx(d64, s64.r8()) : a_.movsx(d64.r32(), s64.r8()); return;
      case 16: is64 ? a_.movsx(d64, s64.r16()) : a_.movsx(d64.r32(), s64.r16()); return;
      default: a_.movsxd(d64, s64.r32()); return;  // 32: movsx32_64 (decoder checked)
    }
  }

  // Unsigned and signed division and modulo with the ISA's special cases:
  // x / 0 = 0, x % 0 = x, INT_MIN s/ -1 = INT_MIN, x s% -1 = 0 (32-bit results
  // zero-extended). rax (r0) and rdx (r3) are pushed around the
  // hardware division unless the verifier found them dead after it; the
  // result travels in r11. A divisor the verifier proved nonzero (not -1)
  // skips that test: its facts hold on every path (a wrong one would be a
  // #DE), so nothing but JitFacts is trusted beyond the current block.
  void div_mod(const Insn& i, bool is64, bool imm, bool sign, bool mod) {
    const Gp d64 = kReg[i.dst];
    const Gp d = width(d64, is64);
    if (imm) {
      if (i.imm == 0) {  // the verifier refuses it; the ISA still defines it
        if (!mod)
          a_.xor_(d64.r32(), d64.r32());
        else if (!is64)
          a_.mov(d64.r32(), d64.r32());
        return;
      }
      if (sign && i.imm == -1) {
        if (mod)
          a_.xor_(d64.r32(), d64.r32());
        else
          a_.neg(d);
        return;
      }
      if (blind_)
        blinded_imm(width(kT11, is64), i.imm);
      else if (is64)
        a_.mov(kT11, Imm(int64_t(i.imm)));
      else
        a_.mov(kT11.r32(), Imm(uint32_t(i.imm)));
    }
    // A divisor known to be nonzero in this block needs no zero test; unsigned
    // x / 0 needs no code of its own either (t is already the result, 0).
    const bool check_zero =
        !imm && !nonzero_.known(i.src, is64) && !fact(i, verifier::JitFacts::kDivisorNonzero);
    const bool check_minus_one = !imm && sign && !fact(i, verifier::JitFacts::kDivisorNotMinusOne);
    // Nothing to test and a divisor in neither rax nor rdx: divide by the
    // source register itself and put the result straight into dst (as the
    // kernel's JIT; r11 is not needed).
    const bool direct = !check_zero && !check_minus_one && !imm && i.src != 0 && i.src != 3;
    if (!imm && !direct) a_.mov(width(kT11, is64), width(kReg[i.src], is64));
    const Gp t = width(kT11, is64);
    const Gp ax = width(x86::rax, is64);
    const Gp dx = width(x86::rdx, is64);
    const bool dst_is_rax = i.dst == 0, dst_is_rdx = i.dst == 3;
    const bool save_rax = !dst_is_rax && !fact(i, verifier::JitFacts::kR0DeadAfter);
    const bool save_rdx = !dst_is_rdx && !fact(i, verifier::JitFacts::kR3DeadAfter);
    // Saved on the stack, as the kernel's JIT does: on Zen 5 push/pop around
    // the division ran divchain 6 % faster than moves to r9/r10 (in-run A/B,
    // 150 rounds: 7,030 against 7,520 ns; the stack engine renames them).
    if (save_rax) a_.push(x86::rax);
    if (save_rdx) a_.push(x86::rdx);
    if (!dst_is_rax) a_.mov(ax, d);
    if (direct) {
      if (sign) {
        is64 ? a_.cqo(x86::rdx, x86::rax) : a_.cdq(x86::edx, x86::eax);
        a_.idiv(dx, ax, width(kReg[i.src], is64));
      } else {
        a_.xor_(x86::edx, x86::edx);
        a_.div(dx, ax, width(kReg[i.src], is64));
      }
      const Gp res = mod ? dx : ax;
      if (!(mod ? dst_is_rdx : dst_is_rax)) a_.mov(d, res);  // a 32-bit mov zero-extends
      if (save_rdx) a_.pop(x86::rdx);
      if (save_rax) a_.pop(x86::rax);
      return;
    }
    Label done = a_.newLabel(), minus_one = a_.newLabel();
    Label zero = sign || mod ? a_.newLabel() : done;
    if (check_minus_one) {
      a_.cmp(t, Imm(-1));
      a_.short_().je(minus_one);
    }
    if (check_zero) {
      a_.test(t, t);
      a_.short_().jz(zero);
    }
    if (sign) {
      is64 ? a_.cqo(x86::rdx, x86::rax) : a_.cdq(x86::edx, x86::eax);
      a_.idiv(dx, ax, t);
    } else {
      a_.xor_(x86::edx, x86::edx);
      a_.div(dx, ax, t);
    }
    a_.mov(t, mod ? dx : ax);
    const bool zero_block = check_zero && (sign || mod);
    if (zero_block || check_minus_one) a_.short_().jmp(done);
    if (zero_block) {
      a_.bind(zero);
      if (mod) a_.mov(t, ax);  // x % 0 = x; for x / 0, t is already 0
      if (check_minus_one) a_.short_().jmp(done);
    }
    if (check_minus_one) {
      a_.bind(minus_one);
      if (mod) {
        a_.xor_(kT11.r32(), kT11.r32());
      } else {
        a_.mov(t, ax);
        a_.neg(t);
      }
    }
    if (check_zero || check_minus_one) a_.bind(done);
    if (save_rdx) a_.pop(x86::rdx);
    if (save_rax) a_.pop(x86::rax);
    a_.mov(d64, kT11);
  }

  // Shift counts are masked to 5/6 bits, as x86 does itself.
  void shift(const Insn& i, bool is64, bool imm, uint8_t kind) {
    const Gp d64 = kReg[i.dst];
    const Gp d = width(d64, is64);
    auto by_cl = [&](const Gp& r) {
      if (kind == 0x60) a_.shl(r, x86::cl);
      else if (kind == 0x70) a_.shr(r, x86::cl);
      else a_.sar(r, x86::cl);
    };
    Gp s64 = kReg[i.src];
    if (imm) {
      const uint32_t n = uint32_t(i.imm) & (is64 ? 63 : 31);
      if (n == 0) {
        if (!is64) a_.mov(d, d);  // zero-extension is the only effect
        return;
      }
      if (!blind_) {
        if (kind == 0x60) a_.shl(d, n);
        else if (kind == 0x70) a_.shr(d, n);
        else a_.sar(d, n);
        return;
      }
      blinded_imm(kBlind.r32(), int32_t(n));  // then shift by the register
      s64 = kBlind;
    }
    const Gp s = width(s64, is64);
    if (bmi2_) {
      if (kind == 0x60) a_.shlx(d, d, s);
      else if (kind == 0x70) a_.shrx(d, d, s);
      else a_.sarx(d, d, s);
      return;
    }
    // A count of 0 leaves a 32-bit destination untouched: zero-extend first.
    if (s64 == x86::rcx) {  // count already in rcx
      if (!is64) a_.mov(d, d);
      by_cl(d);
    } else if (i.dst == 4) {  // shift a copy of rcx, then put it back
      a_.mov(width(kT11, is64), width(x86::rcx, is64));
      a_.mov(x86::rcx, s64);
      by_cl(width(kT11, is64));
      a_.mov(x86::rcx, kT11);
    } else {
      if (!is64) a_.mov(d, d);
      a_.mov(kT11, x86::rcx);
      a_.mov(x86::rcx, s64);
      by_cl(d);
      a_.mov(x86::rcx, kT11);
    }
  }

  Expected<void> endian(const Insn& i) {
    const Gp d = kReg[i.dst];
    switch (i.op) {
      case Op::LE16: a_.movzx(d.r32(), d.r16()); return {};
      case Op::LE32:
        if (!fact(i, verifier::JitFacts::kUpperZero)) a_.mov(d.r32(), d.r32());
        return {};
      case Op::LE64: return {};
      case Op::BE16:
      case Op::BSWAP16:
        a_.ror(d.r16(), 8);
        a_.movzx(d.r32(), d.r16());
        return {};
      case Op::BE32:
      case Op::BSWAP32: a_.bswap(d.r32()); return {};
      case Op::BE64:
      case Op::BSWAP64: a_.bswap(d); return {};
      default: return unsupported(i);
    }
  }

  Expected<void> load_imm64(const Insn& i) {
    const Gp d = kReg[i.dst];
    if (i.op == Op::LDDW_FUNC) {
      a_.lea(d, x86::ptr(functions_[function_index(i.target())].prologue));
      return {};
    }
    if (i.op != Op::LDDW)
      return fail(Errc::invalid_program, "insn {}: unresolved pseudo lddw ({}): relocate the program first", i.pc,
                  isa::info(i.op).mnemonic);
    const uint64_t v = uint64_t(i.imm64);
    if (v == 0) {
      a_.xor_(d.r32(), d.r32());
    } else if (blind_ && v <= UINT32_MAX) {
      const auto k = uint32_t(key64());
      a_.mov(d.r32(), Imm(uint32_t(v) ^ k));
      a_.xor_(d.r32(), Imm(k));
    } else if (blind_) {  // map addresses too: simpler than telling them apart
      const uint64_t k = key64();
      a_.movabs(d, Imm(v ^ k));
      a_.movabs(kBlind, Imm(k));
      a_.xor_(d, kBlind);
    } else if (v <= UINT32_MAX) {
      a_.mov(d.r32(), Imm(uint32_t(v)));
    } else if (int64_t(v) >= INT32_MIN && int64_t(v) <= INT32_MAX) {
      a_.mov(d, Imm(int64_t(v)));
    } else {
      a_.movabs(d, Imm(v));
    }
    return {};
  }

  Expected<void> load(const Insn& i) {
    const Gp d = kReg[i.dst];
    const Gp s = kReg[i.src];
    switch (i.op) {
      case Op::LDXB: a_.movzx(d.r32(), x86::byte_ptr(s, i.off)); return {};
      case Op::LDXH: a_.movzx(d.r32(), x86::word_ptr(s, i.off)); return {};
      case Op::LDXW: a_.mov(d.r32(), x86::dword_ptr(s, i.off)); return {};
      case Op::LDXDW: a_.mov(d, x86::qword_ptr(s, i.off)); return {};
      case Op::LDXSB: a_.movsx(d, x86::byte_ptr(s, i.off)); return {};
      case Op::LDXSH: a_.movsx(d, x86::word_ptr(s, i.off)); return {};
      case Op::LDXSW: a_.movsxd(d, x86::dword_ptr(s, i.off)); return {};
      default: return unsupported(i);
    }
  }

  Expected<void> store(const Insn& i) {
    const Gp d = kReg[i.dst];
    const Gp s = kReg[i.src];
    if (blind_ && isa::info(i.op).form == Form::StoreImm) {
      blinded_imm(kBlind, i.imm);
      switch (i.op) {
        case Op::STB: a_.mov(x86::byte_ptr(d, i.off), kBlind.r8()); return {};
        case Op::STH: a_.mov(x86::word_ptr(d, i.off), kBlind.r16()); return {};
        case Op::STW: a_.mov(x86::dword_ptr(d, i.off), kBlind.r32()); return {};
        case Op::STDW: a_.mov(x86::qword_ptr(d, i.off), kBlind); return {};
        default: return unsupported(i);
      }
    }
    switch (i.op) {
      case Op::STB: a_.mov(x86::byte_ptr(d, i.off), Imm(int8_t(i.imm))); return {};
      case Op::STH: a_.mov(x86::word_ptr(d, i.off), Imm(int16_t(i.imm))); return {};
      case Op::STW: a_.mov(x86::dword_ptr(d, i.off), Imm(i.imm)); return {};
      case Op::STDW: a_.mov(x86::qword_ptr(d, i.off), Imm(int64_t(i.imm))); return {};
      case Op::STXB: a_.mov(x86::byte_ptr(d, i.off), s.r8()); return {};
      case Op::STXH: a_.mov(x86::word_ptr(d, i.off), s.r16()); return {};
      case Op::STXW: a_.mov(x86::dword_ptr(d, i.off), s.r32()); return {};
      case Op::STXDW: a_.mov(x86::qword_ptr(d, i.off), s); return {};
      default: return unsupported(i);
    }
  }

  // Atomics are sequentially consistent: x86's locked instructions are.
  Expected<void> atomic(const Insn& i) {
    const bool is64 = !isa::is_32bit(i.op);
    const x86::Mem m = is64 ? x86::qword_ptr(kReg[i.dst], i.off) : x86::dword_ptr(kReg[i.dst], i.off);
    const Gp s = width(kReg[i.src], is64);
    switch (i.imm) {
      case 0x00: a_.lock().add(m, s); return {};
      case 0x40: a_.lock().or_(m, s); return {};
      case 0x50: a_.lock().and_(m, s); return {};
      case 0xa0: a_.lock().xor_(m, s); return {};
      case 0x01: a_.lock().xadd(m, s); return {};  // src = old (32-bit: zero-extended)
      case 0xe1: a_.xchg(m, s); return {};         // implicitly locked
      case 0xf1:
        a_.lock().cmpxchg(m, s, width(x86::rax, is64));
        if (!is64) a_.mov(x86::eax, x86::eax);  // success leaves eax unwritten
        return {};
      case 0x41:
      case 0x51:
      case 0xa1: fetch_loop(i, is64); return {};
      default: return unsupported(i);
    }
  }

  // fetch_or/and/xor: a cmpxchg loop. rax (r0) is the comparand, so it is
  // saved in r10 (which doubles as the operand when src is r0 itself).
  void fetch_loop(const Insn& i, bool is64) {
    const Gp ax = width(x86::rax, is64);
    const Gp opnd = width(i.src == 0 ? kT10 : kReg[i.src], is64);
    const Gp t = width(kT11, is64);
    const x86::Mem m = is64 ? x86::qword_ptr(kT9) : x86::dword_ptr(kT9);
    a_.lea(kT9, x86::ptr(kReg[i.dst], i.off));
    a_.mov(kT10, x86::rax);
    a_.mov(ax, m);
    Label retry = a_.newLabel();
    a_.bind(retry);
    a_.mov(t, ax);
    if (i.imm == 0x41) a_.or_(t, opnd);
    else if (i.imm == 0x51) a_.and_(t, opnd);
    else a_.xor_(t, opnd);
    a_.lock().cmpxchg(m, t, ax);
    a_.short_().jne(retry);
    if (i.src != 0) {
      a_.mov(width(kReg[i.src], is64), ax);
      a_.mov(x86::rax, kT10);
    }
  }

  // Jumps to `to` (an instruction slot) when the condition holds, or when it
  // does not if `inverted`; `next` is the slot after the jump's code.
  Expected<void> jump(const Insn& i, int64_t to, uint32_t next, bool inverted) {
    const Label& target = labels_[size_t(to)];
    const isa::OpInfo& info = isa::info(i.op);
    const bool rel8 = near(next, to);
    if (info.form == Form::Jump || info.form == Form::JumpLong) {
      if (to == int64_t(next)) return {};  // `goto +0`: the next instruction's code follows
      if (rel8) a_.short_();
      a_.jmp(target);
      return {};
    }
    // The verifier explored only one outcome on every path (JitFacts): no
    // compare, and a plain jump or nothing (the kernel hard-wires such
    // branches the same way).
    const bool never = fact(i, verifier::JitFacts::kNeverTaken), always = fact(i, verifier::JitFacts::kAlwaysTaken);
    if (never || always) {
      if (always != inverted) {  // the condition's jump happens (inverted: the fall-through)
        if (rel8) a_.short_();
        a_.jmp(target);
      }
      return {};
    }
    const bool is64 = isa::op_class(info.code) == isa::kClassJmp;
    const Gp d = width(kReg[i.dst], is64);
    const uint8_t kind = info.code & 0xf0;
    if (info.form == Form::JumpImm) {
      if (kind != 0x40 && i.imm == 0) {
        a_.test(d, d);  // same flags as cmp d, 0
      } else if (blind_) {
        const Gp k = width(kBlind, is64);
        blinded_imm(k, i.imm);
        if (kind == 0x40) a_.test(d, k);
        else a_.cmp(d, k);
      } else if (kind == 0x40) {
        a_.test(d, Imm(i.imm));
      } else {
        a_.cmp(d, Imm(i.imm));
      }
    } else {
      const Gp s = width(kReg[i.src], is64);
      if (kind == 0x40)
        a_.test(d, s);
      else
        a_.cmp(d, s);
    }
    x86::CondCode cc;
    switch (kind) {
      case 0x10: cc = x86::CondCode::kE; break;
      case 0x20: cc = x86::CondCode::kA; break;
      case 0x30: cc = x86::CondCode::kAE; break;
      case 0x40: cc = x86::CondCode::kNE; break;
      case 0x50: cc = x86::CondCode::kNE; break;
      case 0x60: cc = x86::CondCode::kG; break;
      case 0x70: cc = x86::CondCode::kGE; break;
      case 0xa0: cc = x86::CondCode::kB; break;
      case 0xb0: cc = x86::CondCode::kBE; break;
      case 0xc0: cc = x86::CondCode::kL; break;
      case 0xd0: cc = x86::CondCode::kLE; break;
      default: return unsupported(i);
    }
    if (inverted) cc = x86::negateCond(cc);
    if (rel8) a_.short_();
    a_.j(cc, target);
    return {};
  }

  // Legacy LD_ABS / LD_IND: r0 = big-endian packet[off .. off+size); out of
  // bounds (or no packet) ends the whole run with r0 = 0, as the interpreter
  // (and the kernel) do. r1-r5 are left intact.
  Expected<void> load_packet(const Insn& i) {
    const unsigned size = isa::mem_size(isa::info(i.op).code);
    if (isa::info(i.op).form == Form::LoadAbs) {
      if (i.imm < 0) {
        a_.jmp(abort_);
        return {};
      }
      if (blind_) blinded_imm(kT10.r32(), i.imm);
      else a_.mov(kT10.r32(), Imm(uint32_t(i.imm)));
    } else {
      a_.mov(kT10.r32(), kReg[i.src].r32());
      if (blind_) {
        blinded_imm(kT11.r32(), i.imm);
        a_.add(kT10.r32(), kT11.r32());
      } else {
        a_.add(kT10.r32(), Imm(i.imm));
      }
      a_.movsxd(kT10, kT10.r32());
      a_.test(kT10, kT10);
      a_.js(abort_);
    }
    a_.mov(kT11, x86::qword_ptr(kArea, kAreaCtx));
    a_.mov(kT9, x86::qword_ptr(kT11, kCtxPacketLen));
    a_.sub(kT9, size);
    a_.jb(abort_);  // packet_len < size
    a_.cmp(kT10, kT9);
    a_.ja(abort_);  // off > packet_len - size
    a_.mov(kT11, x86::qword_ptr(kT11, kCtxPacket));
    a_.test(kT11, kT11);
    a_.jz(abort_);
    switch (size) {
      case 1: a_.movzx(x86::eax, x86::byte_ptr(kT11, kT10)); break;
      case 2:
        a_.movzx(x86::eax, x86::word_ptr(kT11, kT10));
        a_.ror(x86::ax, 8);
        break;
      default:
        a_.mov(x86::eax, x86::dword_ptr(kT11, kT10));
        a_.bswap(x86::eax);
        break;
    }
    return {};
  }

  Expected<void> call_helper(const Insn& i) {
    const uint32_t id = uint32_t(i.imm);
    if (id == vm::kHelperTailCall) {
      tail_call();
      return {};
    }
    for (const vm::InlineArrayLookup& l : prog_.array_lookups()) {
      if (l.pc == i.pc && id == kMapLookupElem) {
        if (l.ncpus > 1) inline_percpu_lookup(l);
        else inline_array_lookup(l);
        return {};
      }
    }
    const vm::HelperTable* table = prog_.helper_table();
    vm::HelperFn fn = table ? table->get(id) : nullptr;
    if (!fn) return fail(Errc::invalid_program, "insn {}: call to unknown helper {}", i.pc, i.imm);
    // The standard helper, by the name helpers::Registry::table_for gives it
    // (a table may put something else under the id). bpf_ktime_get_ns stays
    // a call: a direct clock_gettime call from here measured no faster than
    // the helper (bench/jit_helpers_bench; the vDSO's ~30 ns dominate).
    if (inline_helpers_ && id == kGetSmpProcessorId && cpu_id_off_ &&
        table->name(id) == "bpf_get_smp_processor_id") {
      inline_smp_processor_id(fn);
      return {};
    }
    emit_helper_call(fn);
    return {};
  }

  void emit_helper_call(vm::HelperFn fn) {
    a_.mov(kT9, x86::qword_ptr(kArea, kAreaCtx));
    a_.call(Imm(reinterpret_cast<uint64_t>(fn)));
  }

  // r11d = the rseq area's cpu_id (thread pointer at fs:0, then the field).
  void load_rseq_cpu_id() {
    x86::Mem tp = x86::qword_ptr_abs(0);
    tp.setSegment(x86::fs);
    a_.mov(kT11, tp);
    a_.mov(kT11.r32(), x86::dword_ptr(kT11, *cpu_id_off_));
  }

  // bpf_get_smp_processor_id: the rseq cpu_id, as sched_getcpu() reads it;
  // the helper when the thread has no valid one (cpu_id < 0).
  void inline_smp_processor_id(vm::HelperFn fn) {
    Label slow = a_.newLabel(), done = a_.newLabel();
    load_rseq_cpu_id();
    a_.test(kT11.r32(), kT11.r32());
    a_.short_().js(slow);
    a_.mov(x86::eax, kT11.r32());
    a_.short_().jmp(done);
    a_.bind(slow);
    emit_helper_call(fn);
    a_.bind(done);
  }

  // A per-CPU array's lookup into the current CPU's copy:
  // base + ((key & mask) * ncpus + cpu) * stride, cpu = vm::current_cpu(ncpus)
  // (the map's own notion), read from the rseq area when the CPU number is
  // below ncpus, else computed by the call. Leaves r1-r5 intact on the fast
  // path; the slow path clobbers them, as any call may.
  void inline_percpu_lookup(const vm::InlineArrayLookup& l) {
    const uint32_t mask = uint32_t((uint64_t{1} << std::bit_width(l.max_entries - 1)) - 1);
    Label null = a_.newLabel(), done = a_.newLabel(), slow = a_.newLabel(), have_cpu = a_.newLabel();
    a_.mov(x86::eax, x86::dword_ptr(x86::rsi));
    a_.cmp(x86::eax, Imm(l.max_entries));
    a_.jae(null);
    a_.and_(x86::eax, Imm(mask));
    if (cpu_id_off_) {
      load_rseq_cpu_id();
      a_.cmp(kT11.r32(), Imm(l.ncpus));  // unsigned: a negative (unknown) cpu_id too
      a_.jae(slow);
    } else {
      a_.jmp(slow);
    }
    a_.bind(have_cpu);
    // The index and the CPU are below 2^32 each, their products fit 64 bits.
    a_.mov(kT10, Imm(uint64_t(l.ncpus)));
    a_.imul(x86::rax, kT10);
    a_.add(x86::rax, kT11);
    element_address(l);
    a_.jmp(done);
    a_.bind(slow);
    a_.push(x86::rax);  // the masked index; two pushes keep rsp aligned
    a_.push(x86::rax);
    a_.mov(x86::edi, Imm(l.ncpus));
    a_.call(Imm(reinterpret_cast<uint64_t>(&vm::current_cpu)));
    a_.mov(kT11.r32(), x86::eax);  // zero-extended
    a_.pop(x86::rax);
    a_.pop(x86::rax);
    a_.jmp(have_cpu);
    a_.bind(null);
    a_.xor_(x86::eax, x86::eax);
    a_.bind(done);
  }

  // rax = l.base + rax * l.stride (rax: the element's slot index).
  void element_address(const vm::InlineArrayLookup& l) {
    if (std::has_single_bit(l.stride)) {
      if (l.stride > 1) a_.shl(x86::rax, std::countr_zero(l.stride));
    } else {
      a_.imul(x86::rax, x86::rax, Imm(l.stride));
    }
    a_.mov(kT11, Imm(reinterpret_cast<uint64_t>(l.base)));
    a_.add(x86::rax, kT11);
  }

  // The kernel's map_gen_lookup: r0 = &elem[key] or NULL; the index is masked
  // after the bounds check so a mispredicted check cannot read out of bounds
  // speculatively. Leaves r1-r5 intact (so does the interpreter's slot).
  void inline_array_lookup(const vm::InlineArrayLookup& l) {
    const uint32_t mask = uint32_t((uint64_t{1} << std::bit_width(l.max_entries - 1)) - 1);
    Label null = a_.newLabel(), done = a_.newLabel();
    a_.mov(x86::eax, x86::dword_ptr(x86::rsi));
    a_.cmp(x86::eax, Imm(l.max_entries));
    a_.short_().jae(null);
    a_.and_(x86::eax, Imm(mask));
    element_address(l);
    a_.short_().jmp(done);
    a_.bind(null);
    a_.xor_(x86::eax, x86::eax);
    a_.bind(done);
  }

  // bpf_tail_call(ctx, map, index): a true tail call. The target's prologue
  // is entered after this function's frame is gone, so the target returns to
  // this function's caller. Registers are preserved when it falls through.
  void tail_call() {
    static const Gp kKeep[] = {x86::rax, x86::rdi, x86::rsi, x86::rdx, x86::rcx, x86::r8};  // even: aligned
    for (const Gp& r : kKeep) a_.push(r);
    a_.mov(x86::rdi, kArea);  // (area, map = rsi, index = rdx)
    a_.call(Imm(reinterpret_cast<uint64_t>(&tail_call_target)));
    a_.mov(kT11, x86::rax);
    for (size_t k = std::size(kKeep); k-- > 0;) a_.pop(kKeep[k]);
    Label none = a_.newLabel();
    a_.test(kT11, kT11);
    a_.short_().jz(none);
    emit_teardown(*cur_);
    a_.jmp(kT11);
    a_.bind(none);
  }

  // callx rN: the helper whose id is in rN (uBPF's convention).
  Expected<void> callx(const Insn& i) {
    a_.mov(x86::qword_ptr(kArea, kAreaCallxId), kReg[i.dst]);
    a_.mov(x86::qword_ptr(kArea, kAreaErrorArg), Imm(int64_t(i.pc)));
    a_.mov(kT9, kArea);
    a_.call(Imm(reinterpret_cast<uint64_t>(&callx_dispatch)));
    a_.cmp(x86::dword_ptr(kArea, kAreaError), 0);
    a_.jne(abort_);  // unknown helper: callx_dispatch set the error
    return {};
  }

  const vm::Program& prog_;
  x86::Assembler& a_;
  Lowered& out_;
  bool bmi2_ = false;
  std::vector<Function> functions_;
  std::vector<uint32_t> function_of_;  // pc -> index in functions_
  std::vector<Label> labels_;          // pc -> jump target label (invalid: not a target)
  std::vector<bool> loop_head_;        // pc -> target of a backward jump (aligned to 16)
  std::vector<uint32_t> bound_prefix_;  // pc -> sum of the size bounds of the slots before it
  bool align_loops_ = true;
  bool fit_loops_ = true;     // Options::fit_loops (and align_loops)
  Options::Latch latch_ = Options::Latch::by_loop;
  bool short_arith_ = true;
  bool tail_copies_ = true;
  uint32_t near_slack_ = 0;  // bytes of a tail copy after the jump being emitted
  // pc of an unconditional jump -> the run it is replaced by (Options::
  // tail_copies): indices into prog_.insns(), [first, end); end == 0: none.
  struct Copy {
    uint32_t first = 0, end = 0;
  };
  std::vector<Copy> copy_;
  bool skip_crossing_ = true;  // Options::skip_crossing_heads
  std::vector<bool> split_latch_;  // loop head pc -> its latch stays `jcc out; jmp head`
  uint32_t code_offset_ = 0;  // Options::code_offset
  const std::vector<uint32_t>* fit_sizes_ = nullptr;  // second pass: the first pass's loop_bytes_
  const std::vector<uint32_t>* first_offsets_ = nullptr;  // second pass: the first pass's insn_offsets
  std::vector<uint32_t> head_prefix_;  // pc -> loop heads among the slots before it
  bool short_jumps_ = true;
  NonzeroRegs nonzero_;  // in the block being emitted
  const verifier::JitFacts* facts_ = nullptr;  // Options::facts (size checked)
  bool blind_ = false;                          // Options::blind_constants
  bool inline_helpers_ = true;                  // Options::inline_helpers
  std::optional<int32_t> cpu_id_off_;           // rseq_cpu_id_offset()
  uint64_t key_state_ = 0;                      // blinding keys: splitmix64 state
  const Function* cur_ = nullptr;
  Stub stub_ = Stub::lean;  // what emit_enter_stub emits (find_functions decides)
  bool has_func_refs_ = false;  // an `lddw func`: a function others may call back
  Label abort_;
};

}  // namespace

Expected<void> lower(const vm::Program& prog, const Options& opts, bool short_jumps, x86::Assembler& a,
                     Lowered& out) {
  if (prog.size() == 0) return fail(Errc::invalid_program, "jit: empty program");
  // A program without a backward jump has no loop to fit: one pass.
  const auto insns = prog.insns();
  const bool has_loop = std::any_of(insns.begin(), insns.end(),
                                    [](const Insn& i) { return isa::is_jump(i.op) && i.target() <= int64_t(i.pc); });
  if (opts.align_loops && opts.fit_loops && has_loop) {
    // First pass into a scratch buffer: the loops' code sizes.
    CodeHolder scratch;
    if (scratch.init(Environment::host()) == kErrorOk) {
      x86::Assembler sa(&scratch);
      Lowered sout;
      Lowering first(prog, opts, short_jumps, sa, sout);
      if (first.run() && !first.loop_bytes_.empty()) {
        Lowering l(prog, opts, short_jumps, a, out, &first.loop_bytes_, &sout.insn_offsets);
        return l.run();
      }
    }
  }
  Lowering l(prog, opts, short_jumps, a, out);
  return l.run();
}

}  // namespace xbpf::jit
