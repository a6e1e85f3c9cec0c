// Tristate numbers: what the verifier knows about the bits of a 64-bit value.
//
// A Tnum is (value, mask): every bit set in `mask` is unknown; every other bit
// equals the corresponding bit of `value`. Invariant: value & mask == 0.
// A Tnum stands for the set of all x with (x & ~mask) == value.
//
// Every operation is sound: for any concrete a in A and b in B, op(a, b) is in
// op(A, B). Addition, subtraction and multiplication follow the algorithms of
// "Sound, Precise, and Fast Abstract Interpretation with Tristate Numbers"
// (Vishwanathan et al., CGO 2022), which the Linux verifier also uses; the
// property tests in tests/verifier_tnum_test.cpp check soundness on random sets.
#pragma once

#include <bit>
#include <cstdint>
#include <string>

namespace xbpf::verifier {

struct Tnum {
  uint64_t value = 0;
  uint64_t mask = ~uint64_t{0};  // default: nothing known

  static constexpr Tnum constant(uint64_t v) { return {v, 0}; }
  static constexpr Tnum unknown() { return {0, ~uint64_t{0}}; }
  // The smallest tnum holding every value of [min, max] (unsigned).
  static constexpr Tnum range(uint64_t min, uint64_t max) {
    const uint64_t chi = min ^ max;
    const int bits = 64 - std::countl_zero(chi);
    if (bits > 63) return unknown();
    const uint64_t delta = (uint64_t{1} << bits) - 1;
    return {min & ~delta, delta};
  }

  [[nodiscard]] constexpr bool is_const() const { return mask == 0; }
  [[nodiscard]] constexpr bool is_unknown() const { return mask == ~uint64_t{0}; }
  [[nodiscard]] constexpr bool contains(uint64_t x) const { return (x & ~mask) == value; }
  // Every value of `o` is a value of this.
  [[nodiscard]] constexpr bool includes(Tnum o) const {
    return (o.mask & ~mask) == 0 && (o.value & ~mask) == value;
  }
  [[nodiscard]] constexpr uint64_t umin() const { return value; }
  [[nodiscard]] constexpr uint64_t umax() const { return value | mask; }
  // The value is a multiple of `size` (a power of two) for every member.
  [[nodiscard]] constexpr bool is_aligned(uint64_t size) const { return ((value | mask) & (size - 1)) == 0; }

  constexpr bool operator==(const Tnum&) const = default;

  [[nodiscard]] std::string to_string() const;  // "(0x4; 0x3)" as the kernel prints
};

[[nodiscard]] constexpr Tnum tnum_add(Tnum a, Tnum b) {
  const uint64_t sm = a.mask + b.mask;
  const uint64_t sv = a.value + b.value;
  const uint64_t sigma = sm + sv;
  const uint64_t chi = sigma ^ sv;
  const uint64_t mu = chi | a.mask | b.mask;
  return {sv & ~mu, mu};
}

[[nodiscard]] constexpr Tnum tnum_sub(Tnum a, Tnum b) {
  const uint64_t dv = a.value - b.value;
  const uint64_t alpha = dv + a.mask;
  const uint64_t beta = dv - b.mask;
  const uint64_t chi = alpha ^ beta;
  const uint64_t mu = chi | a.mask | b.mask;
  return {dv & ~mu, mu};
}

[[nodiscard]] constexpr Tnum tnum_and(Tnum a, Tnum b) {
  const uint64_t alpha = a.value | a.mask;
  const uint64_t beta = b.value | b.mask;
  const uint64_t v = a.value & b.value;
  return {v, alpha & beta & ~v};
}

[[nodiscard]] constexpr Tnum tnum_or(Tnum a, Tnum b) {
  const uint64_t v = a.value | b.value;
  const uint64_t mu = a.mask | b.mask;
  return {v, mu & ~v};
}

[[nodiscard]] constexpr Tnum tnum_xor(Tnum a, Tnum b) {
  const uint64_t v = a.value ^ b.value;
  const uint64_t mu = a.mask | b.mask;
  return {v & ~mu, mu};
}

[[nodiscard]] constexpr Tnum tnum_lshift(Tnum a, unsigned s) { return {a.value << s, a.mask << s}; }
[[nodiscard]] constexpr Tnum tnum_rshift(Tnum a, unsigned s) { return {a.value >> s, a.mask >> s}; }
// Arithmetic right shift of the 64-bit value (or of its low 32 bits when
// `bits` is 32; the result is then zero-extended).
[[nodiscard]] constexpr Tnum tnum_arshift(Tnum a, unsigned s, unsigned bits = 64) {
  if (bits == 32) {
    const auto v = static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.value)) >> s);
    const auto m = static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.mask)) >> s);
    return {v, m};
  }
  return {static_cast<uint64_t>(static_cast<int64_t>(a.value) >> s),
          static_cast<uint64_t>(static_cast<int64_t>(a.mask) >> s)};
}

// Multiplication: partial products of a's bits; known-one bits of a add a
// shifted b's unknown bits, unknown bits of a add all of b's possible bits.
[[nodiscard]] constexpr Tnum tnum_mul(Tnum a, Tnum b) {
  const uint64_t known = a.value * b.value;
  Tnum acc = Tnum::constant(0);
  while (a.value || a.mask) {
    if (a.value & 1) acc = tnum_add(acc, Tnum{0, b.mask});
    else if (a.mask & 1) acc = tnum_add(acc, Tnum{0, b.value | b.mask});
    a = tnum_rshift(a, 1);
    b = tnum_lshift(b, 1);
  }
  return tnum_add(Tnum::constant(known), acc);
}

// Values in both (assumes they overlap, as the caller knows both hold).
[[nodiscard]] constexpr Tnum tnum_intersect(Tnum a, Tnum b) {
  const uint64_t v = a.value | b.value;
  const uint64_t mu = a.mask & b.mask;
  return {v & ~mu, mu};
}

// The smallest tnum holding every value of either (the join).
[[nodiscard]] constexpr Tnum tnum_union(Tnum a, Tnum b) {
  const uint64_t mu = a.mask | b.mask | (a.value ^ b.value);
  return {a.value & ~mu, mu};
}

// Truncation to the low `size` bytes (1, 2, 4 or 8), zero-extended.
[[nodiscard]] constexpr Tnum tnum_cast(Tnum a, unsigned size) {
  if (size >= 8) return a;
  const uint64_t keep = (uint64_t{1} << (size * 8)) - 1;
  return {a.value & keep, a.mask & keep};
}
[[nodiscard]] constexpr Tnum tnum_subreg(Tnum a) { return tnum_cast(a, 4); }
// Keeps the upper 32 bits of `a` and sets the low 32 bits from `lo`.
[[nodiscard]] constexpr Tnum tnum_with_subreg(Tnum a, Tnum lo) {
  const uint64_t hi = ~uint64_t{0xffffffff};
  return {(a.value & hi) | (lo.value & 0xffffffff), (a.mask & hi) | (lo.mask & 0xffffffff)};
}

}  // namespace xbpf::verifier
