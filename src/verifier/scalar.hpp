// What the verifier knows about a scalar register: a tnum plus signed and
// unsigned ranges of the 64-bit value and of its low 32 bits, kept mutually
// consistent after every operation (the same five views the Linux verifier
// keeps, so its verdicts can be matched).
//
// Invariants after sync() (every public operation ends with it):
//  * every view holds every possible value (soundness);
//  * umin <= umax, smin <= smax, u32_min <= u32_max, s32_min <= s32_max;
//  * each view is as tight as the others allow (one round of propagation).
// Soundness of every transfer function and branch refinement is checked by
// property tests on random sets (tests/verifier_scalar_test.cpp).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "verifier/tnum.hpp"

namespace xbpf::verifier {

// ALU operations (BPF_OP values of the ISA, BPF_ADD = 0x00 ... BPF_END = 0xd0).
enum class AluOp : uint8_t {
  Add = 0x00, Sub = 0x10, Mul = 0x20, Div = 0x30, Or = 0x40, And = 0x50, Lsh = 0x60, Rsh = 0x70,
  Neg = 0x80, Mod = 0x90, Xor = 0xa0, Mov = 0xb0, Arsh = 0xc0,
};

// Conditional jump operations (BPF_OP values of BPF_JMP/BPF_JMP32).
enum class JmpOp : uint8_t {
  Jeq = 0x10, Jgt = 0x20, Jge = 0x30, Jset = 0x40, Jne = 0x50, Jsgt = 0x60, Jsge = 0x70,
  Jlt = 0xa0, Jle = 0xb0, Jslt = 0xc0, Jsle = 0xd0,
};

struct Scalar {
  Tnum var = Tnum::unknown();
  uint64_t umin = 0, umax = std::numeric_limits<uint64_t>::max();
  int64_t smin = std::numeric_limits<int64_t>::min(), smax = std::numeric_limits<int64_t>::max();
  uint32_t u32_min = 0, u32_max = std::numeric_limits<uint32_t>::max();
  int32_t s32_min = std::numeric_limits<int32_t>::min(), s32_max = std::numeric_limits<int32_t>::max();

  static Scalar unknown() { return {}; }
  static Scalar constant(uint64_t v);
  // Unsigned / signed 64-bit ranges (then synced).
  static Scalar urange(uint64_t lo, uint64_t hi);
  static Scalar srange(int64_t lo, int64_t hi);

  [[nodiscard]] bool is_const() const { return var.is_const(); }
  [[nodiscard]] bool is_const32() const { return tnum_subreg(var).is_const(); }
  [[nodiscard]] uint64_t const_value() const { return var.value; }
  // Every view admits x.
  [[nodiscard]] bool contains(uint64_t x) const;
  // Every value of `o` is a value of this (for state pruning).
  [[nodiscard]] bool includes(const Scalar& o) const;
  bool operator==(const Scalar&) const = default;

  // Restores the invariants (the kernel's reg_bounds_sync).
  void sync();
  // After a 32-bit operation: the 64-bit value is the zero-extended subregister.
  void zext32();

  [[nodiscard]] std::string to_string() const;  // kernel-log style: "scalar(umax=255,var_off=(0x0; 0xff))"
};

// dst = dst OP src for a 64-bit (`alu32` false) or 32-bit ALU instruction.
// Shifts by an amount that is not a known constant in range give unknown.
[[nodiscard]] Scalar alu(AluOp op, Scalar dst, const Scalar& src, bool alu32);
// Sign extension of the low `bits` (8, 16, 32) bits: MOVSX and sign-extending loads.
[[nodiscard]] Scalar sign_extend(const Scalar& s, unsigned bits, bool alu32);
// Zero extension of the low `bytes` bytes (loads of 1, 2, 4 bytes).
[[nodiscard]] Scalar truncate(const Scalar& s, unsigned bytes);
// The smallest scalar holding every value of either (the join of two paths).
[[nodiscard]] Scalar join(const Scalar& a, const Scalar& b);

// Whether `a OP b` (64-bit or JMP32) holds for every value (true), for none
// (false), or depends (nullopt).
[[nodiscard]] std::optional<bool> branch_taken(JmpOp op, const Scalar& a, const Scalar& b, bool jmp32);
// Refines a and b under the assumption that `a OP b` is `taken`. Returns
// false if that assumption is impossible (the branch is dead).
[[nodiscard]] bool refine(JmpOp op, bool taken, Scalar& a, Scalar& b, bool jmp32);

}  // namespace xbpf::verifier
