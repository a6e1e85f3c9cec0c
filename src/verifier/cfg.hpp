// The verifier's first pass: program structure, before any abstract
// execution (the kernel's check_subprogs + check_cfg).
//
// Finds the subprograms (targets of bpf-to-bpf calls and of `lddw rX, func`),
// and rejects, with the kernel's messages:
//   jumps that leave their subprogram        "jump out of range from insn 5 to 12"
//   a subprogram whose last insn falls off    "last insn is not an exit or jmp"
//   instructions no path reaches               "unreachable insn 7"
//   loops when loops are not allowed           "back-edge from insn 9 to 3"
//   recursion                                  "recursive call from insn 4 to 9"
//   callx, which Linux refuses                 "unknown opcode 8d"
//   programs over the size limit               "BPF program is too large. ..."
// It also records what the abstract interpreter needs: prune points (jump
// targets, branch fall-throughs, call returns) and loop heads.
//
// Instruction indices in messages are slot indices (`pc`), as the kernel's.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "isa/isa.hpp"
#include "support/error.hpp"

namespace xbpf::verifier {

inline constexpr size_t kMaxInsnsPrivileged = 1'000'000;  // BPF_COMPLEXITY_LIMIT_INSNS
inline constexpr size_t kMaxInsnsUnprivileged = 4096;     // BPF_MAXINSNS
inline constexpr uint32_t kMaxCallFrames = 8;             // MAX_CALL_FRAMES

struct CfgOptions {
  bool allow_loops = true;  // privileged (bpf_capable): bounded loops are allowed
  bool allow_calls = true;  // privileged (bpf_capable): bpf-to-bpf calls and `lddw rX, func` are allowed
  size_t max_insns = kMaxInsnsPrivileged;
};

struct Subprog {
  uint32_t start = 0;  // first slot
  uint32_t end = 0;    // one past the last slot
  std::vector<uint32_t> callees;  // subprogram indices called directly (bpf-to-bpf)
  bool address_taken = false;     // target of `lddw rX, func` (a callback)
};

// A structural failure: the kernel's message and the slot it is about.
struct CfgError {
  uint32_t pc = 0;
  std::string message;
};

class Cfg {
 public:
  // `insns` is a decoded program (isa::decode_program): targets are in range
  // and never inside an lddw.
  [[nodiscard]] static BasicExpected<Cfg, CfgError> build(std::span<const isa::Insn> insns,
                                                          const CfgOptions& opts = {});

  [[nodiscard]] std::span<const Subprog> subprogs() const { return subprogs_; }
  // Subprogram holding slot `pc`.
  [[nodiscard]] uint32_t subprog_of(uint32_t pc) const;
  // Index into the instruction vector of the instruction starting at slot `pc`.
  [[nodiscard]] std::optional<uint32_t> index_of(uint32_t pc) const {
    if (pc >= index_.size() || index_[pc] == UINT32_MAX) return std::nullopt;
    return index_[pc];
  }
  // Where abstract states are compared (jump targets, fall-throughs after
  // conditional jumps, returns from calls).
  [[nodiscard]] bool is_prune_point(uint32_t pc) const { return prune_[pc]; }
  // Targets of back-edges: where a loop's states must be checkpointed.
  [[nodiscard]] bool is_loop_head(uint32_t pc) const { return loop_head_[pc]; }
  // Deepest chain of bpf-to-bpf calls from the main program, counting frames
  // (1 = no calls).
  [[nodiscard]] uint32_t max_call_depth() const { return max_depth_; }
  // After exploration (the kernel's check_max_stack_depth): along every chain
  // of calls from the main program or a callback (a callback counts as called
  // where its address is taken), the frames' stack sizes -- `depth` per
  // subprogram, each rounded up to 16 bytes as with the JIT -- must total at
  // most 512 bytes; and a subprogram that tail-calls may not run below 256
  // bytes of callers' stack. `insns` is the program the Cfg was built from.
  [[nodiscard]] std::optional<CfgError> check_stack_depth(std::span<const isa::Insn> insns,
                                                          std::span<const int32_t> depth) const;

 private:
  std::vector<Subprog> subprogs_;
  std::vector<uint32_t> index_;  // per slot: instruction index, or UINT32_MAX for an lddw's second slot
  std::vector<bool> prune_;
  std::vector<bool> loop_head_;
  uint32_t max_depth_ = 1;
};

}  // namespace xbpf::verifier
