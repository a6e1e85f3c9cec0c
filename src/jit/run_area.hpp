// The per-run block native code reaches through r12, and the C++ functions
// native code calls (tail calls, callx). Internal to src/jit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vm/vm.hpp"

namespace xbpf::jit {

// Why a run stopped early (RunArea::error).
enum class Abort : uint32_t {
  none = 0,         // also: legacy packet load out of bounds (r0 = 0, no error)
  fell_off,         // error_arg = pc of the instruction past the function's end
  callx_unknown,    // error_arg = pc of the callx, callx_id = the helper id
};

// One per run (Program::run, call_function): lives on the C++ caller's stack.
// Field offsets are part of the generated code (static_asserts below).
struct RunArea {
  vm::ExecContext* ctx = nullptr;        // +0: the helpers' 6th argument
  uint64_t abort_rsp = 0;                // +8: rsp of the entry stub, to unwind all frames
  uint32_t tail_calls = 0;               // +16
  Abort error = Abort::none;             // +20
  uint64_t error_arg = 0;                // +24
  uint64_t callx_id = 0;                 // +32: callx's helper id, for callx_dispatch
  const vm::HelperTable* helpers = nullptr;  // +40
};
inline constexpr int32_t kAreaCtx = 0;
inline constexpr int32_t kAreaAbortRsp = 8;
inline constexpr int32_t kAreaTailCalls = 16;
inline constexpr int32_t kAreaError = 20;
inline constexpr int32_t kAreaErrorArg = 24;
inline constexpr int32_t kAreaCallxId = 32;
static_assert(offsetof(RunArea, ctx) == kAreaCtx);
static_assert(offsetof(RunArea, abort_rsp) == kAreaAbortRsp);
static_assert(offsetof(RunArea, tail_calls) == kAreaTailCalls);
static_assert(offsetof(RunArea, error) == kAreaError);
static_assert(offsetof(RunArea, error_arg) == kAreaErrorArg);
static_assert(offsetof(RunArea, callx_id) == kAreaCallxId);

// ExecContext fields read by generated code (legacy packet loads).
static_assert(std::is_standard_layout_v<vm::ExecContext>);
inline constexpr int32_t kCtxPacket = int32_t(offsetof(vm::ExecContext, packet));
inline constexpr int32_t kCtxPacketLen = int32_t(offsetof(vm::ExecContext, packet_len));

// The entry stub at offset 0 of every compiled program:
// saves the callee-saved registers, points r12 at `area`, loads r1..r5 from
// `args`, zeroes r0 and r6..r9 (as the interpreter starts), calls `fn` (a
// BPF function's prologue) and returns its r0.
using EnterFn = uint64_t (*)(const uint64_t* args, RunArea* area, const void* fn);

// Called by native code for `call 12` (bpf_tail_call): the prologue of the
// program to continue with, or nullptr to fall through (no resolver, index
// above u32, limit of 33 reached, no program in the slot, or a program
// without native code). Counts the tail call and sets ctx->program.
const void* tail_call_target(RunArea* area, uint64_t map, uint64_t index) noexcept;

// Called by native code for callx: the helper whose id is area->callx_id, or
// an Abort::callx_unknown error that native code turns into an early exit.
uint64_t callx_dispatch(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                        RunArea* area) noexcept;

}  // namespace xbpf::jit
