// BPF -> x86-64 lowering into xbpf's encoder (x86_asm.hpp). Internal to src/jit.
#pragma once

#include <cstdint>
#include <vector>

#include "jit/x86_asm.hpp"

#include "jit/jit.hpp"
#include "support/error.hpp"
#include "vm/vm.hpp"

namespace xbpf::jit {

// Where things landed in the (flattened, text-only) code.
struct Lowered {
  std::vector<uint32_t> insn_offsets;  // per instruction slot
  std::vector<uint32_t> function_pcs;  // entry pcs, ascending (0 first)
  std::vector<Label> function_labels;  // their prologues
  Label main;                          // == function_labels[0]
  bool no_area = false;                // the entry stub neither reads the RunArea nor exits early
  size_t tail_copies = 0;              // jumps replaced by a copy of their target's run
  size_t unrolled = 0;                 // of them, loops emitted twice per trip
  size_t idioms = 0;                   // windows emitted as one instruction (idioms.hpp)
  size_t moves_first = 0;              // moves emitted before the operation of a branch on zero (Options::zero_branch_order)
  size_t selects = 0;                  // branches over a short run emitted as a cmov (Options::selects)
  size_t indexed_loads = 0;            // loads from [base + index] through a sum they overwrite (Options::indexed_loads)
};

// Emits the entry stub (at offset 0), then every function of `prog` with its
// prologue. With `short_jumps`, forward jumps whose size bound fits use rel8
// (an encoder error if a bound was wrong: lower again without). Errors name
// the instruction.
[[nodiscard]] Expected<void> lower(const vm::Program& prog, const Options& opts, bool short_jumps,
                                   x86::Assembler& a, Lowered& out);

}  // namespace xbpf::jit
