// Idioms: straight-line runs of BPF instructions that compute one operation
// BPF lacks and x86-64 has, which the JIT emits as that one instruction.
//  - Population count. BPF has no such instruction, so clang expands
//    __builtin_popcount{,ll} (and the SWAR loop body it recognises as one) into
//    LLVM's 12-15 instruction bit-twiddling sequence; `popcnt` does it in one.
//  - Rotates. BPF has none; clang writes (x << k) | (x >> (w - k)) as four
//    instructions (copy, two shifts, or), which `rol` or `rorx` does in one.
//  - Division with remainder. BPF's division gives no remainder, so when C
//    asks for both x / d and x % d clang computes the remainder as
//    x - (x / d) * d (LLVM's DivRemPairs); x86's `div` leaves both at once.
// Found by evaluating a window of instructions symbolically and matching the
// expression it leaves in one register against the operation's exact
// definition (both widths; shift counts and masks must be the operation's,
// as constants in the window or in registers set once before it). Every
// other register the window writes must be dead after it (static liveness)
// or end up holding a constant, which the JIT then sets (a division's
// quotient, the one exception, may stay live in the register it went to). No jump may land
// inside the window. Internal to src/jit; independent of the encoder.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "isa/isa.hpp"

namespace xbpf::jit {

struct Idiom {
  enum class Kind : uint8_t {
    popcnt64,  // dst = popcount(src)
    popcnt32,  // dst = popcount(low 32 bits of src), zero-extended
    rotl64,    // dst = src rotated left by `count`
    rotl32,    // dst = low 32 bits of src rotated left by `count`, zero-extended
    divmod64,  // dst = src % divisor; quot (if any) = src / divisor (BPF's / and %,
    divmod32,  // x / 0 = 0 and x % 0 = x included; `sign`: sdiv/smod; 32: low halves)
  };
  Kind kind = Kind::popcnt64;
  bool is64() const { return kind == Kind::popcnt64 || kind == Kind::rotl64 || kind == Kind::divmod64; }
  uint32_t first = 0;  // the window: indices into the program's instructions
  uint32_t end = 0;    // (one past the last)
  uint8_t dst = 0;     // holds the result after the window
  uint8_t src = 0;     // the operand: this register's value where the window starts
  uint8_t count = 0;   // rotates: bits to the left (1..width-1)
  // Division with remainder: the divisor's register (its value where the
  // window starts), the register left holding the quotient (kNoReg: none
  // live), the division's instruction index (its verifier facts).
  static constexpr uint8_t kNoReg = 0xff;
  uint8_t divisor = 0;
  uint8_t quot = kNoReg;
  bool sign = false;
  uint32_t div_at = 0;
  // Which of the window's other registers, and for a division of r0 and
  // r3, are live after it (bit r): a division keeps those of r0 and r3.
  uint16_t live_after = 0;
  // Registers the window writes besides dst that are live after it; each
  // holds the constant beside it there.
  uint8_t nconsts = 0;
  std::array<uint8_t, 10> const_reg{};
  std::array<uint64_t, 10> const_value{};
};

// The idioms of `insns` (one program, every function), in ascending order,
// not overlapping. `function_of`: per instruction slot, its function's index
// (functions are contiguous slot ranges; a window stays inside one).
// `join(pc)`: control can arrive at slot pc other than by falling through
// (a jump target; function entries count anyway): such a slot may only start
// a window. `popcnt`: the CPU has the instruction (rotates are always found).
[[nodiscard]] std::vector<Idiom> find_idioms(std::span<const isa::Insn> insns,
                                             const std::vector<uint32_t>& function_of,
                                             const std::function<bool(uint32_t pc)>& join, bool popcnt);

}  // namespace xbpf::jit
