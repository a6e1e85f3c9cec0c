// The xbpf interpreter: a program is pre-decoded once at load time into
// threaded code (one 16-byte slot per instruction slot, holding the handler
// address), then run any number of times.
//
// Two modes:
//  * Verified: no runtime checks at all. Only for programs a verifier accepted
//    (or that the caller otherwise trusts); a bad access is undefined behaviour.
//  * Checked: every load, store and atomic is checked against the memory
//    regions the caller granted plus the program's own stack; the number of
//    executed instructions is bounded; call depth is bounded. A violation
//    stops the program with an Errc::runtime error naming the instruction.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "isa/isa.hpp"
#include "support/error.hpp"

namespace xbpf::vm {

inline constexpr size_t kStackSize = 512;    // bytes per frame, as in the kernel
inline constexpr size_t kMaxFrames = 8;      // bpf-to-bpf call depth (MAX_CALL_FRAMES)
inline constexpr uint32_t kMaxTailCalls = 33;  // MAX_TAIL_CALL_CNT
inline constexpr uint32_t kHelperTailCall = 12;  // BPF_FUNC_tail_call

struct ExecContext;
class Program;

// Helper ABI: r1..r5 in, r0 out, plus the running context (6th SysV argument,
// so a JIT can call helpers directly).
using HelperFn = uint64_t (*)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                              ExecContext* ctx);

// Helper ids to implementations. Ids follow the kernel's `enum bpf_func_id`.
class HelperTable {
 public:
  void set(uint32_t id, HelperFn fn, std::string name);
  [[nodiscard]] HelperFn get(uint32_t id) const { return id < fns_.size() ? fns_[id] : nullptr; }
  [[nodiscard]] std::string_view name(uint32_t id) const;

 private:
  std::vector<HelperFn> fns_;
  std::vector<std::string> names_;
};

// The helpers the bpf_conformance suite expects (id 5: returns its first argument).
[[nodiscard]] const HelperTable& conformance_helpers();

// A memory range a checked program may access.
struct Region {
  uint64_t begin = 0;
  uint64_t size = 0;
  bool writable = true;
};

enum class Mode : uint8_t { Verified, Checked };

// Resolves a tail call: map (r2) and index (r3) to the program to continue
// with, or nullptr (then the call falls through, as in the kernel).
using TailCallResolver = const Program* (*)(ExecContext* ctx, uint64_t map, uint32_t index);

// Per-run state that helpers may read; owned by the caller of run().
struct ExecContext {
  std::span<const Region> regions;     // checked mode: memory granted besides the stack
  const uint8_t* packet = nullptr;     // legacy LD_ABS/LD_IND source (skb data)
  uint64_t packet_len = 0;
  TailCallResolver tail_call = nullptr;
  void* user = nullptr;                // embedder data for its helpers
  void* runtime = nullptr;             // xbpf's own per-run state for the standard helpers
  uint64_t insn_budget = 1'000'000;    // checked mode: max executed instructions
  uint64_t insns_executed = 0;         // checked mode: set by run()
  // For differential testing: 0-255 fills every BPF frame with this byte when
  // it starts (a run's first frame, a bpf-to-bpf callee's, a callback's, a
  // tail-called program's), so what a privileged program reads from stack it
  // never wrote is the same on every engine (jit::Options::stack_poison is
  // the JIT's side). -1 (default): a frame holds whatever memory it reuses.
  int16_t stack_poison = -1;
  // Set by run() on entry (and on a tail call), never inside the dispatch loop:
  // what a helper needs to check pointers and to call back into the program.
  const Program* program = nullptr;    // the program executing now
  uint64_t stack_lo = 0;               // its stack (all frames): [stack_lo, stack_hi)
  uint64_t stack_hi = 0;
};

// True when a helper may access [addr, addr+size): always for verified
// programs (the verifier proved it), else when the range lies inside the
// running program's stack or one granted region (writable for `write`).
[[nodiscard]] bool helper_access_ok(const ExecContext& ctx, uint64_t addr, uint64_t size, bool write);

// A bpf_map_lookup_elem call the loader replaces with direct code (the
// kernel's map_gen_lookup): the verifier proved that the call's map argument
// is this one flat array map on every path, so the call becomes a bounds
// check and an address computation, with no helper call at all.
//
// A per-CPU array (BPF_MAP_TYPE_PERCPU_ARRAY, ncpus > 1) inlines the same
// way, into the current CPU's copy: element i of CPU c lives at
// base + (i * ncpus + c) * stride, c = current_cpu(ncpus) (what the map's own
// lookup_elem uses, with ncpus = possible_cpus()).
struct InlineArrayLookup {
  uint32_t pc = 0;           // the call instruction
  uint8_t* base = nullptr;   // element 0 (of CPU 0); the map outlives the program
  uint32_t stride = 0;       // bytes per element
  uint32_t max_entries = 0;
  uint32_t ncpus = 0;        // per-CPU array: copies of each element; 0 or 1: a flat array
};

// The CPU slot per-CPU maps use for the calling thread: sched_getcpu() modulo
// `ncpus` (0 when the CPU is unknown), as maps::current_cpu() with
// ncpus = possible_cpus(). For inlined per-CPU lookups (interpreter, JIT).
[[nodiscard]] uint32_t current_cpu(uint32_t ncpus) noexcept;

// Native code attached to a Program by a backend (the x86-64 JIT, src/jit).
// Once attached, Program::run and Program::call_function execute it instead
// of the threaded code, so every caller of the interpreter's entry points runs
// the native code unchanged. Implementations must be thread-safe for runs.
class NativeCode {
 public:
  virtual ~NativeCode() = default;
  // Runs `prog` (the Program this code is attached to) from its first
  // instruction with r1..r5 = args. Sets ctx.program as Program::run does.
  [[nodiscard]] virtual Expected<uint64_t> run(const Program& prog, std::span<const uint64_t, 5> args,
                                               ExecContext& ctx) const = 0;
  // As Program::call_function: `fn` is a value this code's `lddw func` produced.
  [[nodiscard]] virtual Expected<uint64_t> call_function(const Program& prog, uint64_t fn,
                                                         std::span<const uint64_t, 5> args,
                                                         ExecContext& ctx) const = 0;
  // Code whose runs need nothing set up but ctx.program (no helper, tail
  // call or early exit: the JIT's lean entry) may offer itself as a plain C
  // function of r1..r5 returning r0; Program::run then calls it directly.
  using DirectFn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
  [[nodiscard]] virtual DirectFn direct() const { return nullptr; }
};

struct LoadOptions {
  Mode mode = Mode::Checked;
  const HelperTable* helpers = nullptr;  // nullptr = no helpers; calls fail to load
  // Verified mode only (checked programs keep the helper, which grants access).
  std::span<const InlineArrayLookup> array_lookups;
};

// A pre-decoded program. Immutable after load; run() may be called from many
// threads at once (each run has its own registers and stack).
class Program {
 public:
  // Decodes, validates and pre-decodes `code`. Errors name the instruction.
  [[nodiscard]] static Expected<Program> load(std::span<const isa::RawInsn> code, LoadOptions opts);

  // Runs with r1 = arg1, r2 = arg2 (r3..r5 = 0). Verified mode never fails
  // (the result is r0); checked mode fails on a violation.
  [[nodiscard]] Expected<uint64_t> run(uint64_t arg1, uint64_t arg2, ExecContext& ctx) const {
    if (direct_.fn) {  // (inline: a lean JIT-compiled program is one call away)
      ctx.program = this;
      return direct_.fn(arg1, arg2, 0, 0, 0);
    }
    return run_entry(arg1, arg2, ctx);
  }

  // Calls a function of this program by the value an `lddw func` (src 4)
  // produced -- the callback a helper such as bpf_loop receives -- with
  // r1..r5 = args, on a fresh stack. Restores ctx's program/stack fields
  // afterwards, so helpers may call it while the program runs. Fails when
  // `fn` is not an instruction of this program.
  [[nodiscard]] Expected<uint64_t> call_function(uint64_t fn, std::span<const uint64_t, 5> args,
                                                 ExecContext& ctx) const;

  // Attaches native code (a backend such as jit::compile does this right after
  // load, before the program is shared); run() and call_function() use it from
  // then on. Not safe while another thread runs the program.
  void set_native(std::unique_ptr<NativeCode> code) {
    native_ = std::move(code);
    direct_.fn = native_ ? native_->direct() : nullptr;
  }
  [[nodiscard]] const NativeCode* native() const { return native_.get(); }
  // The calls that load() replaced by inline array lookups (verified mode).
  [[nodiscard]] std::span<const InlineArrayLookup> array_lookups() const { return array_lookups_; }

  [[nodiscard]] Mode mode() const { return mode_; }
  [[nodiscard]] size_t size() const { return insns_.size(); }
  [[nodiscard]] std::span<const isa::Insn> insns() const { return insns_; }

  struct Slot;       // threaded-code slot, defined in interpreter.cpp
  struct ArraySlot;  // an inlined array lookup's constants (interpreter.cpp)
  [[nodiscard]] const Slot* first_slot() const { return slots_.get(); }
  [[nodiscard]] const HelperTable* helper_table() const { return helpers_; }
  // Calls replaced by inline code at load (LoadOptions::array_lookups).
  [[nodiscard]] size_t inlined_calls() const { return inlined_; }

  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;
  ~Program();

 private:
  Program() = default;
  [[nodiscard]] Expected<uint64_t> run_entry(uint64_t arg1, uint64_t arg2, ExecContext& ctx) const;
  // native_->direct(); a moved-from Program keeps none (its code went along).
  struct Direct {
    NativeCode::DirectFn fn = nullptr;
    Direct() = default;
    Direct(Direct&& o) noexcept : fn(std::exchange(o.fn, nullptr)) {}
    Direct& operator=(Direct&& o) noexcept {
      fn = std::exchange(o.fn, nullptr);
      return *this;
    }
  } direct_;
  Mode mode_ = Mode::Checked;
  std::vector<isa::Insn> insns_;
  std::unique_ptr<Slot[]> slots_;  // size() + 1 slots (last: fell off the end)
  size_t slot_count_ = 0;
  const HelperTable* helpers_ = nullptr;
  // What inlined lookup slots point to (InlineArrayLookup plus the index mask).
  std::unique_ptr<ArraySlot[]> arrays_;
  size_t inlined_ = 0;
  std::vector<InlineArrayLookup> array_lookups_;
  std::unique_ptr<NativeCode> native_;  // declared last: destroyed first
};

}  // namespace xbpf::vm
