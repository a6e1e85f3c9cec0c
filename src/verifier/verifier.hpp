// The verifier: proves a program safe to run without runtime checks, as the
// Linux verifier does, and explains a rejection the way the kernel does.
//
// verify() runs the structural pass (cfg.hpp), then explores every path with
// abstract states (state.hpp), pruning paths whose state is covered by one
// already proven safe at the same instruction. A program is accepted only if
// every path reaches `exit` safely within the work limit.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "helpers/helpers.hpp"
#include "isa/isa.hpp"
#include "kabi/kernel_types.hpp"
#include "support/error.hpp"

namespace xbpf::verifier {

// What the verifier knows of a map the program references (lddw map_idx imm
// N refers to maps[N]).
struct MapDesc {
  std::string name;
  kabi::MapType type = kabi::MapType::Unspec;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;        // map_flags
  bool rdonly_prog = false;  // BPF_F_RDONLY_PROG (.rodata): programs may not write values
  int32_t inner = -1;        // map-in-map: index of the inner map template in Env::maps
  // A frozen BPF_F_RDONLY_PROG array of one entry (.rodata): its value. Loads
  // at a constant offset read constants from it, as the kernel's
  // bpf_map_direct_read does, so configuration constants bound packet offsets.
  std::vector<uint8_t> frozen_value;
  // BTF of the value: whether the map has any (btf_value_type_id), and the
  // offset of its `struct bpf_spin_lock` member (-1: none).
  bool has_btf = false;
  int32_t spin_lock_off = -1;
};

struct Env {
  kabi::ProgType prog_type = kabi::ProgType::SocketFilter;
  std::optional<kabi::AttachType> attach_type;  // expected_attach_type (from the section name)
  bool privileged = true;             // bpf_capable: loops, pointer arithmetic, uninit stack reads...
  std::vector<MapDesc> maps;
  const helpers::Registry* helpers = nullptr;  // nullptr: Registry::standard()
  uint64_t insn_limit = 1'000'000;    // BPF_COMPLEXITY_LIMIT_INSNS
  int log_level = 0;                  // 1: the failing path; 2: every instruction's state
  bool func_info = false;             // the program has BTF func info (required for callbacks)
  // Store a state at every prune point, not only every few jumps (the
  // kernel's BPF_F_TEST_STATE_FREQ): slower, more pruning; for tests.
  bool test_state_freq = false;
  // false: stored states compare every scalar and stack slot, as without
  // precision tracking and stack liveness (for differential tests).
  bool track_precision = true;
  // Collect Verdict::jit_facts. Facts read from a scalar's bounds make the
  // scalar precise, which can cost some pruning: false leaves them out.
  bool jit_facts = true;
};

struct Stats {
  uint64_t insns_processed = 0;
  uint64_t states_total = 0;   // states stored at prune points
  uint64_t states_pruned = 0;  // paths cut because a stored state covered them
  uint64_t peak_states = 0;
  uint32_t max_stack_depth = 0;
  double seconds = 0;
  double cpu_seconds = 0;  // this thread's CPU time (wall time suffers on a loaded machine)
};

// What a JIT may assume of an accepted program beyond the ISA's semantics (the
// kernel keeps such facts in insn_aux_data and subprog_info). Each
// instruction fact holds on EVERY path the verifier explored to the
// instruction, pruned paths included: a fact read from a scalar's bounds made
// that scalar precise (the kernel's mark_chain_precision), so a path cut by a
// stored state had its value inside the bounds the fact was read from. A
// wrong fact is a crash (a #DE from a zero divisor) or a wrong result, so
// instructions the verifier never reached have no facts.
struct JitFacts {
  enum : uint8_t {
    // Division / modulo by a register: the divisor (its low 32 bits for a
    // 32-bit operation) is never 0.
    kDivisorNonzero = 1,
    // Signed division / modulo by a register: the divisor is never -1.
    kDivisorNotMinusOne = 2,
    // `mov32 rX, rX` and `le32 rX` (a zero-extension and nothing else): the
    // register's upper 32 bits are already zero.
    kUpperZero = 4,
    // Division / modulo by a register: r0 (r3) is not read after it before
    // being written (static liveness of the frame, as pruning uses), so a JIT
    // that divides in r0/r3's machine registers need not preserve them.
    kR0DeadAfter = 8,
    kR3DeadAfter = 16,
    // A conditional jump whose jump was explored on no path (kNeverTaken:
    // only the fall-through; kAlwaysTaken: only the jump). Every execution
    // the verifier accepted follows explored edges, so a JIT may emit no
    // branch (kNeverTaken) or an unconditional jump (kAlwaysTaken), as the
    // kernel's opt_hard_wire_dead_code_branches does.
    kNeverTaken = 32,
    kAlwaysTaken = 64,
  };
  std::vector<uint8_t> insn;  // per instruction slot (an lddw's second slot: 0)
  // Per subprogram, in ascending order of first slot: the first slot and the
  // deepest byte below its frame pointer any access of its frame reaches on
  // any path (loads and stores, atomics, helper memory, callees through a
  // pointer), rounded up to 8: its stack frame needs no more (the kernel's
  // subprog_info[].stack_depth, which its JITs size frames by).
  std::vector<uint32_t> subprog_start;
  std::vector<uint32_t> stack_depth;

  [[nodiscard]] bool has(uint32_t pc, uint8_t fact) const { return pc < insn.size() && (insn[pc] & fact) == fact; }
  // The stack depth of the subprogram starting at slot `start`; nullopt when
  // no subprogram starts there.
  [[nodiscard]] std::optional<uint32_t> depth_of(uint32_t start) const {
    for (size_t k = 0; k < subprog_start.size(); ++k)
      if (subprog_start[k] == start) return stack_depth[k];
    return std::nullopt;
  }
};

struct Verdict {
  bool ok = false;
  std::string message;  // on reject: the kernel-style message ("R0 invalid mem access 'scalar'")
  uint32_t pc = 0;      // on reject: the instruction
  std::string log;      // verifier log at the requested level
  // On reject: the decoder refused an instruction before verification began
  // (unknown opcode, reserved field set, invalid register...). It checks every
  // instruction; the kernel checks only those its verifier visits, so it may
  // accept such an instruction in code no path reaches.
  bool malformed = false;
  Stats stats;
  // Accepted programs, per instruction slot: for a helper call whose map
  // argument is the same map (from an `lddw map`) on every explored path, that
  // map's index in Env::maps; kNoMap otherwise (the kernel's map_ptr_state in
  // insn_aux_data). The runtime uses it to bind or inline such calls.
  static constexpr int32_t kNoMap = -1;
  std::vector<int32_t> call_map;
  // Accepted programs: what a JIT may rely on (see JitFacts). Filled unless
  // Env::jit_facts is false.
  JitFacts jit_facts;
};

// Verifies `code` (relocated: map references as lddw map_idx / map_idx_value).
// Never fails for bad programs (that is a Verdict with ok = false); errors are
// for bad arguments only.
[[nodiscard]] Verdict verify(std::span<const isa::RawInsn> code, const Env& env);

}  // namespace xbpf::verifier
