// Internal: the path explorer and the per-instruction transfer functions
// shared by verifier.cpp (driver, pruning), transfer.cpp (ALU, jumps),
// memory.cpp (loads, stores, stack, context, maps, packets) and calls.cpp
// (helpers, bpf-to-bpf calls, exit).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "verifier/cfg.hpp"
#include "verifier/state.hpp"
#include "verifier/verifier.hpp"

namespace xbpf::verifier::detail {

// A rejection: the kernel-style message (the pc is the current instruction).
struct Reject {
  std::string message;
};

template <class... Args>
[[nodiscard]] Reject reject(fmt::format_string<Args...> f, Args&&... args) {
  return Reject{fmt::format(f, std::forward<Args>(args)...)};
}

// What one instruction did to the path: continue at `next`, also explore
// `branch` (a second state), or end the path (exit of the main program).
struct Step {
  enum Kind : uint8_t { Next, Fork, End } kind = Next;
  uint32_t next = 0;
  std::optional<State> branch;  // Fork: the other successor's state
  uint32_t branch_pc = 0;
};

using StepResult = BasicExpected<Step, Reject>;

// What one step did that precision tracking (precision.hpp) needs: the
// scalars whose exact values its checks read, the stack slot it spilled to
// or filled from, and the locations a comparison refined together.
struct StepTrace {
  enum StackKind : uint8_t { None, Spill, Fill };
  uint16_t precise_regs = 0;  // current frame's registers, values before the insn
  StackKind stack = None;     // an 8-byte spill of a register or fill of a spilled one
  uint8_t stack_frame = 0;    // whose stack
  uint8_t slot = 0;
  bool callback_exit = false;  // exit of a callback (back to its helper call)
  // Groups of locations sharing a scalar id, each ended by kGroupEnd; a
  // location is frame << 7 | reg, or frame << 7 | 64 + slot.
  std::vector<uint16_t> linked;
  static constexpr uint16_t kGroupEnd = 0xffff;
  // Stack liveness, per frame: slots whose contents the step read, and slots
  // it overwrote whole (8-byte stores) after reading.
  std::array<uint64_t, kMaxCallFrames> stack_read{}, stack_written{};
  bool stack_touched = false;
  void clear() {
    precise_regs = 0;
    stack = None;
    callback_exit = false;
    linked.clear();
    if (stack_touched) stack_read.fill(0), stack_written.fill(0), stack_touched = false;
  }
  // Bytes [lo, hi) below frame `frame`'s pointer (lo, hi < 0 ... <= 0) were read.
  void read_stack(uint8_t frame, int64_t lo, int64_t hi) {
    if (hi <= lo || lo < -kStackSize || hi > 0) return;
    const auto first = static_cast<int>((kStackSize + lo) / 8), last = static_cast<int>((kStackSize + hi - 1) / 8);
    for (int k = first; k <= last; ++k) stack_read[frame] |= uint64_t{1} << k;
    stack_touched = true;
  }
};

class Checker {
 public:
  Checker(std::span<const isa::Insn> insns, const Cfg& cfg, const Env& env);
  [[nodiscard]] StepResult step(State& s, const isa::Insn& insn);
  [[nodiscard]] State initial_state() const;
  [[nodiscard]] const Env& env() const { return env_; }
  [[nodiscard]] const isa::Insn& insn_at(uint32_t pc) const { return insns_[*cfg_.index_of(pc)]; }
  uint32_t new_id() { return ++last_id_; }
  // Per slot: the map a helper call's map argument names on every path so far
  // (Verdict::call_map; kPoisoned once two paths disagree).
  static constexpr int32_t kUnseen = -2, kPoisoned = -1;
  [[nodiscard]] std::vector<int32_t>& call_maps() { return call_maps_; }
  void record_call_map(uint32_t pc, const MapDesc& map);
  // JIT facts (Verdict::jit_facts): `holds` are the facts true on this visit
  // of `pc`; returns those true on every visit so far, this one included.
  // The caller makes the registers its facts rest on precise (need_precise)
  // while they are still true, so pruned paths are covered too.
  uint8_t record_facts(uint32_t pc, uint8_t holds);
  [[nodiscard]] const std::vector<uint8_t>& facts() const { return facts_; }
  static constexpr uint8_t kFactsSeen = 0x80;
  // A stack access of frame `f` reaching down to `lo` (< 0) below its frame
  // pointer: JitFacts::stack_depth of its subprogram.
  void note_stack_access(const Frame& f, int64_t lo);
  [[nodiscard]] const std::vector<uint32_t>& stack_access() const { return stack_access_; }
  // Precision tracking: the driver clears the trace before each step.
  [[nodiscard]] StepTrace& trace() { return trace_; }
  // The check being made reads the exact value of current-frame register
  // `regno` (a scalar): it must be precise in every stored state it came from.
  void need_precise(int regno) { trace_.precise_regs |= static_cast<uint16_t>(1u << regno); }
  // Records the scalars sharing r's id (refined together by a comparison).
  void record_linked(const State& s, const RegState& r);

  // transfer.cpp
  [[nodiscard]] StepResult alu(State& s, const isa::Insn& i);
  [[nodiscard]] StepResult jump(State& s, const isa::Insn& i);
  [[nodiscard]] StepResult jump_outcomes(State& s, const isa::Insn& i);  // jump() without recording facts
  // memory.cpp
  [[nodiscard]] StepResult load_store(State& s, const isa::Insn& i);
  [[nodiscard]] StepResult load_imm64(State& s, const isa::Insn& i);
  [[nodiscard]] StepResult legacy_packet_load(State& s, const isa::Insn& i);
  // Checks that [reg + off, reg + off + size) may be read (or written) as
  // helper memory (ARG_PTR_TO_MEM and friends); marks written stack bytes.
  [[nodiscard]] BasicExpected<void, Reject> check_helper_mem(State& s, int regno, int64_t size, bool write,
                                                             bool zero_ok);
  // calls.cpp
  [[nodiscard]] StepResult call_helper(State& s, const isa::Insn& i);
  [[nodiscard]] StepResult call_local(State& s, const isa::Insn& i);
  [[nodiscard]] StepResult exit(State& s, const isa::Insn& i);

  // Frame whose stack a PtrToStack register points into.
  Frame& frame_of(State& s, const RegState& r) { return s.frames[r.frameno]; }
  // Applies `fn` to every register and spilled register of every frame.
  template <class Fn>
  void for_each_reg(State& s, Fn&& fn) {
    for (Frame& f : s.frames) {
      for (RegState& r : f.regs) fn(r);
      for (StackSlot& slot : f.stack)
        if (slot.bytes[0] == SlotType::Spill) fn(slot.spilled);
    }
  }

 private:
  std::span<const isa::Insn> insns_;
  const Cfg& cfg_;
  const Env& env_;
  const helpers::Registry& helpers_;
  uint32_t last_id_ = 0;
  std::vector<int32_t> call_maps_;
  std::vector<uint8_t> facts_;           // per slot; kFactsSeen once visited
  std::vector<uint32_t> stack_access_;   // per subprogram index
  StepTrace trace_;
};

// Kernel's rules for context fields (context_rules.cpp): the type a load of
// `size` bytes at `off` yields, or nullopt when the access is invalid.
[[nodiscard]] std::optional<RegType> context_access(const Env& env, int off, int size, bool write);
[[nodiscard]] int context_size(kabi::ProgType t);

}  // namespace xbpf::verifier::detail
