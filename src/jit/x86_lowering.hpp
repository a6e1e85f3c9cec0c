// The BPF -> x86-64 lowering, internal to src/jit: class Lowering, split by
// concept over x86_lower.cpp (structure: functions, labels, loops, tail
// copies; lower()), x86_lower_jump.cpp (jumps, their reach, compares),
// x86_lower_alu.cpp, x86_lower_mem.cpp,
// x86_lower_select.cpp (selects) and
// x86_lower_calls.cpp (entry stub, frames, helper and tail calls).
//
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
#pragma once

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "jit/idioms.hpp"
#include "jit/run_area.hpp"
#include "jit/x86_facts.hpp"
#include "jit/x86_lower.hpp"

namespace xbpf::jit::x86low {

using x86::Gp;
using isa::Form;
using isa::Insn;
using isa::Op;

// BPF r0-r10 -> x86-64. (16 entries: the decoder refuses registers above
// r10, but an index from a 4-bit field is then in bounds by construction;
// 11-15 are never used.)
const Gp kReg[16] = {x86::rax, x86::rdi, x86::rsi, x86::rdx, x86::rcx, x86::r8,
                     x86::rbx, x86::r13, x86::r14, x86::r15, x86::rbp};
const Gp kArea = x86::r12;

// The x86 instruction of a BPF ALU operation `kind` (its opcode's operation
// bits) that is one two-operand x86 instruction of the same shape, destination
// first: add, sub, or, and, xor, mov, and the shifts (by a constant or cl).
// 0: none (mul, div, mod, neg, endian). alu() and select() both lower through it.
constexpr InstId plain_inst(uint8_t kind) {
  switch (kind) {
    case 0x00: return x86::Inst::kIdAdd;
    case 0x10: return x86::Inst::kIdSub;
    case 0x40: return x86::Inst::kIdOr;
    case 0x50: return x86::Inst::kIdAnd;
    case 0x60: return x86::Inst::kIdShl;
    case 0x70: return x86::Inst::kIdShr;
    case 0xa0: return x86::Inst::kIdXor;
    case 0xb0: return x86::Inst::kIdMov;
    case 0xc0: return x86::Inst::kIdSar;
    default: return 0;
  }
}
// Scratch: caller-saved, no BPF register lives there.
const Gp kT9 = x86::r9;
const Gp kT10 = x86::r10;
const Gp kT11 = x86::r11;
// Where blinded immediates are unmasked (the kernel x86 JIT's BPF_REG_AX is r10 too).
const Gp kBlind = kT10;

constexpr int32_t kFrameBytes = int32_t(vm::kStackSize);
constexpr uint32_t kMapLookupElem = 1;  // BPF_FUNC_map_lookup_elem
constexpr uint32_t kGetSmpProcessorId = 8;

// A fresh seed for one compile's blinding keys (x86_lower.cpp).
uint64_t blinding_seed();
// The calling thread's CPU number as an offset from fs:0 (x86_lower.cpp).
std::optional<int32_t> rseq_cpu_id_offset();

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

// Instruction slots [begin, end).
struct Region {
  uint32_t begin = 0, end = 0;
};

class Lowering {
 public:
  Lowering(const vm::Program& prog, const Options& opts, bool short_jumps, x86::Assembler& a, Lowered& out, const std::vector<uint32_t>* loop_bytes = nullptr, const std::vector<uint32_t>* first_offsets = nullptr, const std::vector<Region>* first_regions = nullptr);
  Expected<void> run();
  // For lower()'s second pass: take the first pass's analysis of the same
  // program and options (functions and frames, jump targets, loop heads,
  // tail copies, split latches, idioms, size bounds) instead of redoing it
  // in run(); only the labels are made anew, in this pass's assembler.
  void adopt_analysis(Lowering&& first);

 private:
  // ---- structure -----------------------------------------------------------

  static uint32_t slot_count(const vm::Program& p);
  static bool can_fall_through(Op op) { return op != Op::EXIT && op != Op::JA && op != Op::JA32; }

 public:
  static constexpr uint32_t kMaxFitPad = 48;  // bytes of nops at most before a loop head
  std::vector<uint32_t> loop_bytes_;  // first pass: pc -> bytes from the head to its last back edge's end
  // A first pass lowers only these slot ranges, ascending and apart: the
  // short loops (lower()). Empty: the whole program.
  std::vector<Region> regions_;

 private:
  // After an instruction's code: a backward jump ends its target's loop
  // here (so far). Inline: run() calls it for every instruction.
  void note_back_edge(const Insn& i) {
    if (isa::is_jump(i.op) && i.target() <= int64_t(i.pc)) note_back_edge_to(i.target());
  }
  void note_back_edge_to(int64_t t);
  void emit_nops(uint32_t n);
  void align_loop_head(uint32_t pc);
  bool near(uint32_t next, int64_t to, uint32_t slack = 0) const;
  void find_split_latches(const std::vector<uint32_t>& back_edges);
  bool jumps_over_goto(const Insn& i, const Insn& next) const;
  static constexpr uint32_t kJmpRel32 = 5;
  static constexpr uint32_t kMaxCopyRun = 12;      // instructions of one copied run
  // Blocks of one run: a latch and the next iteration's first compare (a
  // switch's dispatch; dispatch measured 0.87-0.90 of the uncopied code with
  // 1 or 2, worse with 3).
  static constexpr uint32_t kMaxCopyBlocks = 2;
  static constexpr uint32_t kMaxCopiedInsns = 256;  // per program
  static constexpr uint32_t kMaxUnrollBody = 16;    // Options::unroll: a loop body's instructions, its latch included
  bool unroll_body(size_t first, size_t latch, const Insn& ja) const;
  void find_tail_copies(bool back_edges);
  Expected<void> emit_copy(const Insn& ja);
  Expected<void> find_functions();
  void publish_functions();
  bool analysed_ = false;  // adopt_analysis() ran: run() skips find_functions()
  static void close_function(Function& f, const bool (&mentioned)[11], bool calls);

  // ---- instructions (x86_lower.cpp: dispatch; x86_lower_jump.cpp: jumps) --------
  size_t function_index(int64_t pc) const { return an_.function_of[size_t(pc)]; }
  static Gp width(const Gp& r, bool is64) { return is64 ? Gp(r.r64()) : Gp(r.r32()); }
  bool fact(const Insn& i, uint8_t f) const { return facts_ && facts_->has(i.pc, f); }
  Expected<void> emit(const Insn& i);
  using Handler = Expected<void> (Lowering::*)(const Insn&);
  static consteval Handler handler_of(const isa::OpInfo& op);
  Expected<void> call_local(const Insn& i);
  Expected<void> exit_function(const Insn&);
  Expected<void> jump_insn(const Insn& i);
  Expected<void> refuse(const Insn& i);
  [[gnu::noinline, gnu::cold]] Unexpected<Error> unsupported(const Insn& i);
  Expected<void> jump(const Insn& i, int64_t to, uint32_t next, bool inverted, uint32_t slack = 0);
  // The compare (or test) of conditional jump `i`; returns the condition
  // under which it jumps (nullopt: no such jump).
  std::optional<x86::CondCode> compare(const Insn& i);
  static std::optional<x86::CondCode> jump_cond(uint8_t kind);
  // Options::selects: the branch at index k over a short run of ALU
  // instructions writing one register, as a cmov. Returns the instructions
  // it lowered (0: not such a branch; nothing emitted).
  size_t select(size_t k);
  static constexpr uint32_t kMaxSelectRun = 3;  // instructions a select computes unconditionally
  bool feeds_address(size_t k, uint8_t d) const;
  static constexpr size_t kAddressScan = 16;  // instructions feeds_address() looks at

  // ---- ALU, blinding (x86_lower_alu.cpp) -----------------------------------------
  uint64_t key64();
  void blinded_imm(const Gp& r, int32_t imm);
  Expected<void> alu(const Insn& i);
  // add, sub, or, and, xor of a register / an immediate (alu()'s commonest
  // cases, dispatched to directly).
  Expected<void> alu_plain_reg(const Insn& i);
  Expected<void> alu_plain_imm(const Insn& i);
  // mov, div and mod, shifts: alu()'s cases (they blind immediates themselves).
  Expected<void> alu_mov(const Insn& i);
  Expected<void> alu_divmod(const Insn& i);
  Expected<void> alu_shift(const Insn& i);
  bool lea_mov_add(const Insn& mov, const Insn& add);
  size_t indexed_load(std::span<const Insn> insns, size_t k, size_t end);
  bool move_first(const Insn& op, const Insn& mov, const Insn& branch) const;
  // `if r == imm` / `if r != imm`, either width (move_first's cheap test).
  static bool zero_branch(Op op) {
    return op == Op::JEQ_IMM || op == Op::JNE_IMM || op == Op::JEQ32_IMM || op == Op::JNE32_IMM;
  }
  void mul_imm(const Gp& d, bool is64, int32_t imm);
  void mov(const Insn& i, bool is64, bool imm);
  void div_mod(const Insn& i, bool is64, bool imm, bool sign, bool mod);
  void div_rem(const Idiom& m, bool is64);
  void divide(const Gp& dv, bool is64, bool sign);
  // rax and rdx (BPF r0, r3) as scratch for a division: `scratch` (bits 0
  // and 3) the ones the code about to be emitted changes beyond its
  // results, `live` the BPF registers whose values must survive it. Pushes
  // the live ones (give_back pops them) and marks the others clobbered.
  struct Borrowed {
    bool rax = false, rdx = false;
  };
  Borrowed borrow(uint16_t scratch, uint16_t live);
  void give_back(Borrowed b);
  // r0 and r3 (bits 0 and 3) unless the verifier found them dead after `i`.
  uint16_t live_after(const Insn& i) const {
    return uint16_t((fact(i, verifier::JitFacts::kR0DeadAfter) ? 0 : 1u) |
                    (fact(i, verifier::JitFacts::kR3DeadAfter) ? 0 : 1u << 3));
  }
  void divisor_checks(const Gp& dv, bool minus_one, const Label& to_minus_one, bool zero, const Label& to_zero);
  bool divide_by_constant(const Insn& i, bool is64, bool mod);
  void signed_divide_by_constant(const Insn& i, bool is64, bool mod);
  void shift(const Insn& i, bool is64, bool imm, uint8_t kind);
  Expected<void> endian(const Insn& i);
  Expected<void> load_imm64(const Insn& i);
  void mov_imm64(const Gp& d, uint64_t v);
  void emit_idiom(const Idiom& m);

  // ---- memory (x86_lower_mem.cpp) ------------------------------------------------
  Expected<void> load(const Insn& i);
  Expected<void> load_from(const Insn& i, x86::Mem at);
  Expected<void> store(const Insn& i);
  Expected<void> atomic(const Insn& i);
  void fetch_loop(const Insn& i, bool is64);
  Expected<void> load_packet(const Insn& i);

  // ---- entry stub, prologue, epilogue, calls (x86_lower_calls.cpp) ---------------
  void emit_enter_stub();
  void emit_prologue(const Function& f);
  void emit_teardown(const Function& f);
  void emit_abort(Abort why, uint64_t arg);
  Expected<void> call_helper(const Insn& i);
  void emit_helper_call(vm::HelperFn fn);
  void load_rseq_cpu_id();
  void inline_smp_processor_id(vm::HelperFn fn);
  void inline_percpu_lookup(const vm::InlineArrayLookup& l);
  void element_address(const vm::InlineArrayLookup& l);
  void inline_array_lookup(const vm::InlineArrayLookup& l);
  void tail_call();
  Expected<void> callx(const Insn& i);

  const vm::Program& prog_;
  x86::Assembler& a_;
  Lowered& out_;
  bool bmi2_ = false;
  // pc -> its label in this pass's assembler, made on first use (label()):
  // a first pass makes only those its regions use. an_.target says which
  // slots are jump targets.
  std::vector<Label> labels_;
  Label& label(size_t pc) {
    Label& l = labels_[pc];
    if (!l.isValid()) l = a_.newLabel();
    return l;
  }
  bool align_loops_ = true;
  bool fit_loops_ = true;     // Options::fit_loops (and align_loops)
  Options::Latch latch_ = Options::Latch::by_loop;
  bool short_arith_ = true;
  bool zero_branch_order_ = true;  // Options::zero_branch_order
  bool selects_ = true;            // Options::selects
  bool indexed_loads_ = true;      // Options::indexed_loads
  bool tail_copies_ = true;
  bool unroll_ = true;  // Options::unroll
  // pc of an unconditional jump -> the run it is replaced by (Options::
  // tail_copies): indices into prog_.insns(), [first, end); end == 0: none.
  struct Copy {
    uint32_t first = 0, end = 0;
    bool unroll = false;  // Options::unroll: the loop's body and latch, ending in a jump to its head
  };
  // What find_functions() and the finders it calls learn about the program
  // (independent of the code emitted so far): lower()'s second pass adopts
  // it whole. The jump targets' labels_ and the functions' prologue labels
  // belong to one pass's assembler and are made anew.
  struct Analysis {
    std::vector<Function> functions;
    std::vector<uint32_t> function_of;  // pc -> index in functions
    std::vector<uint8_t> target;        // pc -> 1: a jump target (a join; it gets a label)
    std::vector<bool> loop_head;        // pc -> target of a backward jump (aligned to 16)
    std::vector<uint32_t> head_prefix;  // pc -> loop heads among the slots before it
    std::vector<uint32_t> bound_prefix;  // pc -> sum of the size bounds of the slots before it
    std::vector<Copy> copy;             // pc -> its tail copy (Options::tail_copies)
    uint32_t tail_copies = 0;
    uint32_t unrolled = 0;          // loops emitted twice per trip (Options::unroll)
    std::vector<bool> split_latch;  // loop head pc -> its latch stays `jcc out; jmp head`
    std::vector<Idiom> idioms;      // find_idioms, ascending
    Stub stub = Stub::lean;         // what emit_enter_stub emits
    bool has_func_refs = false;     // an `lddw func`: a function others may call back
  };
  Analysis an_;
  bool skip_crossing_ = true;  // Options::skip_crossing_heads
  bool idioms_on_ = true;      // Options::idioms
  size_t next_idiom_ = 0;      // the first not emitted yet
  // The idiom whose window starts at instruction index k, or nullptr.
  const Idiom* idiom_at(size_t k) const {
    return next_idiom_ < an_.idioms.size() && an_.idioms[next_idiom_].first == k ? &an_.idioms[next_idiom_] : nullptr;
  }
  // The idiom whose window starts at instruction index k and ends by `end`
  // (a tail copy's run), in any order of lookups; nullptr: none.
  const Idiom* idiom_in(size_t k, size_t end) const {
    const auto it = std::lower_bound(an_.idioms.begin(), an_.idioms.end(), k,
                                     [](const Idiom& m, size_t at) { return m.first < at; });
    return it != an_.idioms.end() && it->first == k && it->end <= end ? &*it : nullptr;
  }
  uint32_t code_offset_ = 0;  // Options::code_offset
  const std::vector<uint32_t>* fit_sizes_ = nullptr;  // second pass: the first pass's loop_bytes_
  const std::vector<uint32_t>* first_offsets_ = nullptr;  // second pass: the first pass's insn_offsets
  const std::vector<Region>* first_regions_ = nullptr;    // second pass: where those offsets were measured
  uint32_t region_begin_ = 0;  // first pass: the region being lowered starts here
  bool short_jumps_ = true;
  NonzeroRegs nonzero_;  // in the block being emitted
  CopyRegs copies_;      // in the block being emitted (Options::copy_sources)
  bool copy_sources_ = true;
  // BPF registers whose machine registers the instruction just emitted
  // changed beyond its semantics (bit r; set by its lowering, e.g. div_mod
  // when it does not save a dead r0/r3). Only copies read through them care:
  // the registers themselves are dead.
  uint16_t clobbered_ = 0;
  // What the block being emitted knows about registers: after `i`; at a join.
  [[gnu::always_inline]] void learn(const Insn& i) {
    const Effect e = effect(i.op);
    nonzero_.update(i, e);
    copies_.update(i, e);
    copies_.clobbered(clobbered_);
    clobbered_ = 0;
  }
  void forget() {
    nonzero_.clear();
    copies_.clear();
    clobbered_ = 0;
    zf_end_ = UINT32_MAX;
  }
  // ZF as the last instruction emitted left it: set by an x86 add, sub, and,
  // or, xor or neg of BPF register zf_reg_ (at width zf64_) ending at code
  // offset zf_end_. A `== 0` / `!= 0` branch on that register right after it
  // (nothing emitted in between, no join: forget()) needs no `test`
  // (Options::short_arith).
  uint32_t zf_end_ = UINT32_MAX;
  uint8_t zf_reg_ = 0;
  bool zf64_ = false;
  void note_zf(uint8_t r, bool is64) {
    zf_end_ = uint32_t(a_.offset());
    zf_reg_ = r;
    zf64_ = is64;
  }
  // The register to read for BPF register `r` as a source operand.
  Gp source(uint8_t r) const { return kReg[copy_sources_ ? copies_.source(r) : r]; }
  const verifier::JitFacts* facts_ = nullptr;  // Options::facts (size checked)
  bool blind_ = false;                          // Options::blind_constants
  int16_t stack_poison_ = -1;                   // Options::stack_poison
  bool inline_helpers_ = true;                  // Options::inline_helpers
  std::optional<int32_t> cpu_id_off_;           // rseq_cpu_id_offset()
  uint64_t key_state_ = 0;                      // blinding keys: splitmix64 state
  const Function* cur_ = nullptr;
  Label abort_;
};

}  // namespace xbpf::jit::x86low
