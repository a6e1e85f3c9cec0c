// The x86-64 JIT: compiles a loaded, verified-mode vm::Program to native code
// and attaches it to the program (vm::Program::set_native), so the
// interpreter's entry points (run, call_function, tail calls from other
// native programs) execute the native code from then on.
//
// Register mapping follows the kernel's x86-64 JIT: r0 rax, r1 rdi, r2 rsi,
// r3 rdx, r4 rcx, r5 r8 (the SysV argument registers, so a helper call is a
// plain call with the ExecContext as 6th argument in r9), r6 rbx, r7 r13,
// r8 r14, r9 r15 (callee-saved), r10 rbp (each BPF function has its own
// 512-byte frame below rbp on the native stack). r12 holds the run's
// RunArea; r9, r10 and r11 are scratch.
//
// The JIT trusts the program: it emits only what the ISA's semantics need
// (division by zero, INT_MIN / -1, legacy packet load bounds), no memory
// checks. Checked-mode programs are refused.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "support/error.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace xbpf::jit {

// Where compile() spent its time, for benchmarks (Options::stats).
struct CompileStats {
  uint64_t emit_ns = 0;    // lowering and encoding
  uint64_t memory_ns = 0;  // code memory: allocation, relocation, copy, mprotect to read+execute
  size_t code_bytes = 0;
  size_t insns = 0;        // BPF instructions compiled
  bool rel32_retry = false;  // a rel8 size bound was wrong: compiled again with rel32 jumps only
  bool far_calls = false;    // a call target was out of rel32 reach: compiled again calling through r11
  size_t tail_copies = 0;    // unconditional jumps replaced by a copy of their target (Options::tail_copies)
  size_t unrolled = 0;       // loops emitted twice per trip (Options::unroll; counted in tail_copies too)
  size_t idioms = 0;         // population counts and rotates emitted as one instruction (Options::idioms)
  size_t moves_first = 0;    // moves emitted before the operation a branch on zero tests (Options::zero_branch_order)
  size_t selects = 0;        // conditional jumps over a short run emitted as a cmov (Options::selects)
  size_t indexed_loads = 0;  // loads through a sum they overwrite, from [base + index] (Options::indexed_loads)
};

struct Options {
  // Use BMI2's shlx/shrx/sarx for shifts by a register when the CPU has them
  // (false: always the cl-based sequence; tests cover both).
  bool bmi2 = true;
  // Align loop heads (targets of backward jumps) to 16 bytes.
  bool align_loops = true;
  // With align_loops: a loop (its head .. its last backward jump) shorter
  // than 64 bytes is placed, by at most kMaxFitPad bytes of nops before its
  // head, so that it lies inside one 64-byte line (positions count
  // code_offset). Costs a second lowering pass to learn the loops' sizes.
  bool fit_loops = true;
  // clang's loop latch `if c goto +1; goto head`: `fused` is one inverted
  // branch `if !c goto head`; `split` keeps the kernel JIT's `jcc out; jmp
  // head` (faster on Zen 5 for csum's, bitcount's, ilog2's loops, slower for
  // nested loops and loops with several latches); `by_loop`: split for the
  // latch of a loop of at most 64 instructions that has no other latch and
  // neither contains nor is inside another loop, fused otherwise. A latch jumping forward is fused.
  enum class Latch : uint8_t { fused, split, by_loop };
  Latch latch = Latch::by_loop;
  // Arithmetic shorter than the kernel JIT's one-for-one code: multiplies by
  // 2^k, 3/5/9 * 2^k and 2^k +- 1 as shifts, lea and shift-and-add instead
  // of imul; `rA = rB; rA += X` as one lea (false: imul and mov+add, for A/B).
  bool short_arith = true;
  // With short_arith: `w2 += -1; r1 = r0; if w2 != 0 goto L` (a loop
  // counter, a move, the latch) is emitted as `r1 = r0; w2 += -1; jcc`: the
  // branch then reads the flags of the operation right before it, and the two
  // fuse into one µop (with the move between them they cannot). Only a
  // register or constant move that the operation neither reads nor writes,
  // and that no jump enters, moves up (false: program order, for A/B).
  bool zero_branch_order = true;
  // Tail copies: an unconditional jump inside a loop to a short straight run
  // (at most 12 ALU and load instructions ending in a conditional jump: a
  // loop's latch, a switch's first compare) is replaced by a copy of that run
  // and a jump to the run's fall-through. The path then takes one jump fewer
  // whenever the copied branch is taken, and each copy of the branch is
  // predicted from its own history (as a threaded interpreter's replicated
  // dispatch). At most 256 instructions are copied per program.
  bool tail_copies = true;
  // Unrolling: a loop whose body is one straight run (ALU and loads, at
  // most 16 instructions with its latch) ending in clang's latch `if c goto
  // +1; goto H` is emitted twice per trip, `H: body; if c goto X; body; if
  // !c goto H; X:` -- one taken branch per two iterations where the kernel's
  // JIT takes one (or two) per iteration; both exit tests stay, so nothing
  // about the trip count is assumed. Its latch is then never fused. Shares
  // tail_copies' budget of copied instructions (needs tail_copies).
  bool unroll = true;
  // Copy sources: after `rA = rB` (64-bit), a later read of rA as a source
  // operand (of add, sub, mul, or, and, xor, a register compare, a fused
  // lea) in the same straight-line block reads rB while both are unchanged,
  // so the reader does not wait for the move when the core does not
  // eliminate it (x86 cores eliminate most but not all register moves).
  bool copy_sources = true;
  // With align_loops: a backward-jump target whose "loop" (it .. its last
  // backward jump) crosses another's instead of nesting (a switch arm jumping
  // back to a shared latch block inside the loop body) is not aligned: its
  // padding would run on the fall-through path every iteration.
  bool skip_crossing_heads = true;
  // Idioms: LLVM's expansion of __builtin_popcount (BPF has no population
  // count) becomes `popcnt` when the CPU has it, and (x << k) | (x >> (w - k))
  // becomes `rol`/`rorx`, when the instructions form a straight-line window
  // no jump enters and whatever else they write is dead afterwards or a
  // constant (src/jit/idioms.hpp). Not with blind_constants.
  bool idioms = true;
  // Selects: `if c goto L; <1-3 ALU instructions writing one register rD>;
  // L:` (clang's lowering of `if (c) x = ...` for a target without a
  // conditional move) becomes the run computed into a scratch register, the
  // compare, and `cmov rD, scratch` when c is false: no branch to mispredict,
  // as native compilers emit for such code. The run may be moves, add, sub,
  // and, or, xor and shifts by a constant of either width (nothing that can
  // fault or is slow); no jump may enter it; rD must not reach a load or
  // store address right after L (there a predicted branch lets the core start
  // the access early: a binary search keeps its branches). Not with
  // blind_constants.
  bool selects = true;
  // Indexed loads: `rA = rB; rA += rC; rD = *(size *)(rA + off)`, or the add
  // and the load alone (clang's `p[i]`), as one load from [rB + rC + off]
  // (an immediate add joins the displacement) when the sum is dead after the
  // load: rD is rA, or the straight-line code after it writes rA before
  // reading it. The sum is then never made; the kernel's JIT emits the move,
  // the add and the load. Neither the add nor the load may be a jump target;
  // no immediate is folded with blind_constants.
  bool indexed_loads = true;
  // Bytes of int3 before the code in its mapping: moves every instruction by
  // that much relative to pages and cache lines. For benchmarks measuring how
  // much code placement alone changes (0: the code starts on a page).
  uint32_t code_offset = 0;
  CompileStats* stats = nullptr;  // filled in when set
  // What the verifier proved of this program (Verdict::jit_facts of the
  // verification of exactly these instructions, slot for slot; compile()
  // refuses facts of another size). With them: divisions by a register
  // proven nonzero (not -1) skip those tests and save only the live ones of
  // r0/r3, zero-extensions of registers whose upper half is zero vanish, and
  // each function's frame is its verified stack depth instead of 512 bytes.
  // nullptr: only what the code shows locally. Not kept after compile().
  const verifier::JitFacts* facts = nullptr;
  // Constant blinding (the kernel's bpf_jit_harden): every immediate of the
  // program (ALU, store, jump, lddw) reaches the machine code only XORed with
  // a random key drawn per instruction, and is unmasked in a scratch register
  // at run time, so no constant chosen by the program's author appears in
  // executable memory (JIT spraying). Costs one or two instructions each.
  bool blind_constants = false;
  // Calls to the standard bpf_get_smp_processor_id (a HelperTable entry
  // named "bpf_get_smp_processor_id", as helpers::Registry::table_for names
  // it) become a read of the thread's rseq cpu_id (sched_getcpu()'s source).
  // (bpf_ktime_get_ns stays a helper call: calling clock_gettime directly
  // measured no faster.)
  // Per-CPU array lookups (vm::InlineArrayLookup with ncpus > 1) are inlined
  // whatever this says, as flat array lookups are.
  bool inline_helpers = true;
  // For differential testing, vm::ExecContext::stack_poison's counterpart:
  // 0-255 makes every function's prologue fill its BPF frame with this byte
  // (8 bytes per store), so reads of never-written stack see what the
  // interpreter sees with the same poison. -1 (default): no fill.
  int16_t stack_poison = -1;
};

// Compiles `prog` and attaches the native code to it. Fails (leaving the
// program on the interpreter) for checked-mode programs, kfunc calls, code
// that jumps between functions or anything the encoder refuses.
// Thread safety: not while `prog` runs elsewhere.
[[nodiscard]] Expected<void> compile(vm::Program& prog, const Options& opts = {});

// What compile() produced, for inspection (disassembly, tests).
struct CodeView {
  std::span<const uint8_t> code;         // the whole read+execute mapping's code
  std::span<const uint32_t> insn_offsets;  // per instruction slot: offset of its native code
                                         // (lddw's second slot repeats the first's)
  uint32_t entry_offset = 0;             // the main function's prologue
};

// The native code attached to `prog` by compile(), or nullopt.
[[nodiscard]] std::optional<CodeView> code_of(const vm::Program& prog);

struct DisasmOptions {
  bool opcodes = true;  // the machine code bytes of each x86 instruction
  // Text put before instruction `pc`'s x86 code (one or more lines, each
  // ending in '\n'); empty function: "; PC: INSN" in kernel syntax. Callers
  // add source lines and show map references their own way.
  std::function<std::string(const isa::Insn&)> before_insn;
};

// The native code of `prog` as text (capstone, Intel syntax): the entry stub,
// then each BPF instruction (kernel syntax, with its slot index) followed by
// the x86-64 instructions it became. Fails when `prog` has no native code.
[[nodiscard]] Expected<std::string> disassemble(const vm::Program& prog, const DisasmOptions& opts = {});

}  // namespace xbpf::jit
