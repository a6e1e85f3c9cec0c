// Soundness of the verifier's scalar domain, checked on random sets: for every
// abstract A, B and concrete a in A, b in B, op(a, b) is in op(A, B), and a
// branch refinement never drops a pair that takes that branch.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "verifier/scalar.hpp"

namespace {

using namespace xbpf::verifier;

// Kernel semantics on concrete values, written independently of the domain.
uint64_t eval(AluOp op, uint64_t a, uint64_t b, bool w32) {
  if (w32) a = static_cast<uint32_t>(a), b = static_cast<uint32_t>(b);
  uint64_t r = 0;
  const uint64_t sh = w32 ? (b & 31) : (b & 63);
  switch (op) {
    case AluOp::Add: r = a + b; break;
    case AluOp::Sub: r = a - b; break;
    case AluOp::Mul: r = a * b; break;
    case AluOp::Div: r = b == 0 ? 0 : a / b; break;
    case AluOp::Mod: r = b == 0 ? a : a % b; break;
    case AluOp::Or: r = a | b; break;
    case AluOp::And: r = a & b; break;
    case AluOp::Xor: r = a ^ b; break;
    case AluOp::Lsh: r = a << sh; break;
    case AluOp::Rsh: r = a >> sh; break;
    case AluOp::Arsh:
      r = w32 ? static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a)) >> sh)
              : static_cast<uint64_t>(static_cast<int64_t>(a) >> sh);
      break;
    case AluOp::Neg: r = -a; break;
    case AluOp::Mov: r = b; break;
  }
  return w32 ? static_cast<uint32_t>(r) : r;
}

bool eval(JmpOp op, uint64_t a, uint64_t b, bool w32) {
  if (w32) {
    const auto ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
    const auto sa = static_cast<int32_t>(ua), sb = static_cast<int32_t>(ub);
    switch (op) {
      case JmpOp::Jeq: return ua == ub;
      case JmpOp::Jne: return ua != ub;
      case JmpOp::Jgt: return ua > ub;
      case JmpOp::Jge: return ua >= ub;
      case JmpOp::Jlt: return ua < ub;
      case JmpOp::Jle: return ua <= ub;
      case JmpOp::Jsgt: return sa > sb;
      case JmpOp::Jsge: return sa >= sb;
      case JmpOp::Jslt: return sa < sb;
      case JmpOp::Jsle: return sa <= sb;
      case JmpOp::Jset: return (ua & ub) != 0;
    }
  }
  const auto sa = static_cast<int64_t>(a), sb = static_cast<int64_t>(b);
  switch (op) {
    case JmpOp::Jeq: return a == b;
    case JmpOp::Jne: return a != b;
    case JmpOp::Jgt: return a > b;
    case JmpOp::Jge: return a >= b;
    case JmpOp::Jlt: return a < b;
    case JmpOp::Jle: return a <= b;
    case JmpOp::Jsgt: return sa > sb;
    case JmpOp::Jsge: return sa >= sb;
    case JmpOp::Jslt: return sa < sb;
    case JmpOp::Jsle: return sa <= sb;
    case JmpOp::Jset: return (a & b) != 0;
  }
  return false;
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  uint64_t u64() { return rng_(); }
  uint64_t below(uint64_t n) { return n ? rng_() % n : 0; }
  // Values near the interesting edges: 0, small, sign boundaries, 32-bit edges.
  uint64_t interesting() {
    static constexpr uint64_t kEdges[] = {0, 1, 2, 7, 8, 255, 256, 0x7fffffff, 0x80000000, 0xffffffff,
                                          0x100000000, 0x7fffffffffffffff, 0x8000000000000000, ~0ULL, ~0ULL - 1};
    switch (below(4)) {
      case 0: return kEdges[below(std::size(kEdges))] + below(3) - 1;
      case 1: return below(64);
      case 2: return static_cast<uint64_t>(-static_cast<int64_t>(below(64)));
      default: return u64() >> below(64);
    }
  }
  uint64_t span() { return below(3) == 0 ? 0 : (u64() >> below(64)); }

  // A random abstract value containing `x`, built from random constraints.
  Scalar scalar(uint64_t x) {
    if (below(4) == 0) return Scalar::constant(x);
    Scalar s;
    if (below(2)) {
      const uint64_t mask = below(2) ? (u64() >> below(64)) : (u64() & u64());
      s.var = Tnum{x & ~mask, mask};
    }
    if (below(2)) {
      const uint64_t lo = span(), hi = span();
      s.umin = x >= lo ? x - lo : 0, s.umax = x + hi < x ? ~0ULL : x + hi;
    }
    if (below(2)) {
      const auto sx = static_cast<int64_t>(x);
      const int64_t lo = static_cast<int64_t>(span() >> 1), hi = static_cast<int64_t>(span() >> 1);
      int64_t v;
      s.smin = __builtin_sub_overflow(sx, lo, &v) ? INT64_MIN : v;
      s.smax = __builtin_add_overflow(sx, hi, &v) ? INT64_MAX : v;
    }
    if (below(3) == 0) {
      const auto x32 = static_cast<uint32_t>(x);
      const auto lo = static_cast<uint32_t>(span()), hi = static_cast<uint32_t>(span());
      s.u32_min = x32 >= lo ? x32 - lo : 0, s.u32_max = x32 + hi < x32 ? ~0U : x32 + hi;
    }
    s.sync();
    return s;
  }

  // Other members of s besides x: random tnum members that pass every view, and edges.
  std::vector<uint64_t> members(const Scalar& s, uint64_t x) {
    std::vector<uint64_t> out{x};
    for (uint64_t c : {s.umin, s.umax, static_cast<uint64_t>(s.smin), static_cast<uint64_t>(s.smax)})
      if (s.contains(c)) out.push_back(c);
    for (int i = 0; i < 24 && out.size() < 8; ++i) {
      uint64_t y = s.var.value | (u64() & s.var.mask);
      if (s.contains(y)) out.push_back(y);
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

constexpr AluOp kAluOps[] = {AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Div, AluOp::Mod, AluOp::Or, AluOp::And,
                             AluOp::Xor, AluOp::Lsh, AluOp::Rsh, AluOp::Arsh, AluOp::Neg, AluOp::Mov};
constexpr JmpOp kJmpOps[] = {JmpOp::Jeq, JmpOp::Jne, JmpOp::Jgt, JmpOp::Jge, JmpOp::Jlt, JmpOp::Jle,
                             JmpOp::Jsgt, JmpOp::Jsge, JmpOp::Jslt, JmpOp::Jsle, JmpOp::Jset};

bool valid(const Scalar& s) {
  return s.umin <= s.umax && s.smin <= s.smax && s.u32_min <= s.u32_max && s.s32_min <= s.s32_max &&
         (s.var.value & s.var.mask) == 0;
}

TEST(VerifierScalar, GeneratedValuesContainTheirSeed) {
  Gen g(1);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t x = g.interesting();
    Scalar s = g.scalar(x);
    ASSERT_TRUE(valid(s)) << s.to_string();
    ASSERT_TRUE(s.contains(x)) << x << " not in " << s.to_string();
  }
}

TEST(VerifierScalar, AluIsSound) {
  Gen g(2);
  size_t checks = 0;
  for (int i = 0; i < 60000; ++i) {
    const uint64_t x = g.interesting();
    // Shift amounts are mostly small constants, as in real programs.
    const uint64_t y = g.below(2) ? g.below(70) : g.interesting();
    const Scalar a = g.scalar(x), b = g.scalar(y);
    const auto as = g.members(a, x), bs = g.members(b, y);
    for (AluOp op : kAluOps)
      for (bool w32 : {false, true}) {
        const Scalar r = alu(op, a, b, w32);
        ASSERT_TRUE(valid(r)) << r.to_string();
        for (uint64_t av : as)
          for (uint64_t bv : bs) {
            const uint64_t c = eval(op, av, bv, w32);
            ++checks;
            ASSERT_TRUE(r.contains(c)) << "op " << int(op) << (w32 ? " (32)" : "") << ": " << av << " op " << bv
                                       << " = " << c << " not in " << r.to_string() << "\n a=" << a.to_string()
                                       << "\n b=" << b.to_string();
          }
      }
  }
  EXPECT_GT(checks, 1000000u);
}

TEST(VerifierScalar, ConstantsFoldExactly) {
  for (AluOp op : kAluOps)
    for (bool w32 : {false, true}) {
      const Scalar r = alu(op, Scalar::constant(0xfffffffffffffff0), Scalar::constant(3), w32);
      ASSERT_TRUE(r.is_const());
      EXPECT_EQ(r.const_value(), eval(op, 0xfffffffffffffff0, 3, w32)) << int(op);
    }
}

TEST(VerifierScalar, BranchesAreSoundAndDecided) {
  Gen g(3);
  for (int i = 0; i < 60000; ++i) {
    const uint64_t x = g.interesting(), y = g.below(2) ? x + g.below(3) - 1 : g.interesting();
    const Scalar a = g.scalar(x), b = g.scalar(y);
    const auto as = g.members(a, x), bs = g.members(b, y);
    for (JmpOp op : kJmpOps)
      for (bool w32 : {false, true}) {
        const auto decided = branch_taken(op, a, b, w32);
        for (bool taken : {true, false}) {
          Scalar ra = a, rb = b;
          const bool possible = refine(op, taken, ra, rb, w32);
          if (possible) {
            ASSERT_TRUE(valid(ra) && valid(rb)) << ra.to_string() << " " << rb.to_string();
          }
          for (uint64_t av : as)
            for (uint64_t bv : bs) {
              const bool cond = eval(op, av, bv, w32);
              if (decided) {
                ASSERT_EQ(cond, *decided) << int(op) << " " << av << " " << bv;
              }
              if (cond != taken) continue;
              ASSERT_TRUE(possible) << "op " << int(op) << (w32 ? " (32)" : "") << " taken=" << taken << ": " << av
                                    << ", " << bv << " take this branch\n a=" << a.to_string()
                                    << "\n b=" << b.to_string();
              ASSERT_TRUE(ra.contains(av) && rb.contains(bv))
                  << "op " << int(op) << (w32 ? " (32)" : "") << " taken=" << taken << ": " << av << ", " << bv
                  << " lost\n a=" << a.to_string() << " -> " << ra.to_string() << "\n b=" << b.to_string()
                  << " -> " << rb.to_string();
            }
        }
      }
  }
}

TEST(VerifierScalar, RefinementIsPrecise) {
  // The classic bounds check: r1 = unknown u8-ish, if r1 > 63 goto out.
  Scalar r = Scalar::urange(0, 255), k = Scalar::constant(63);
  ASSERT_TRUE(refine(JmpOp::Jgt, false, r, k, false));
  EXPECT_EQ(r.umax, 63u);
  EXPECT_EQ(r.var, (Tnum{0, 63}));
  // Signed: if r2 s< 0 goto out; then r2 is non-negative, and with r2 s<= 10 in [0, 10].
  Scalar s = Scalar::unknown(), zero = Scalar::constant(0), ten = Scalar::constant(10);
  ASSERT_TRUE(refine(JmpOp::Jslt, false, s, zero, false));
  ASSERT_TRUE(refine(JmpOp::Jsle, true, s, ten, false));
  EXPECT_EQ(s.umin, 0u);
  EXPECT_EQ(s.umax, 10u);
  // JEQ makes both sides the constant.
  Scalar u = Scalar::unknown(), c = Scalar::constant(42);
  ASSERT_TRUE(refine(JmpOp::Jeq, true, u, c, false));
  EXPECT_TRUE(u.is_const());
  EXPECT_EQ(u.const_value(), 42u);
  // A decided branch: [0, 10] > 20 is never taken.
  Scalar small = Scalar::urange(0, 10), twenty = Scalar::constant(20);
  EXPECT_EQ(branch_taken(JmpOp::Jgt, small, twenty, false), std::optional<bool>(false));
  EXPECT_FALSE(refine(JmpOp::Jgt, true, small, twenty, false));
  // 32-bit compare bounds the subregister, and a zero upper half bounds the whole value.
  Scalar w = alu(AluOp::Mov, Scalar::unknown(), Scalar::unknown(), true);  // w = (u32)unknown
  Scalar lim = Scalar::constant(100);
  ASSERT_TRUE(refine(JmpOp::Jlt, true, w, lim, true));
  EXPECT_EQ(w.umax, 99u);
}

TEST(VerifierScalar, AluPrecisionMatchesTheKernelOnCommonPatterns) {
  // (x & 0xff) << 2 is in [0, 1020] and 4-aligned.
  Scalar x = alu(AluOp::And, Scalar::unknown(), Scalar::constant(0xff), false);
  x = alu(AluOp::Lsh, x, Scalar::constant(2), false);
  EXPECT_EQ(x.umax, 1020u);
  EXPECT_TRUE(x.var.is_aligned(4));
  // w = (u32)x; its 64-bit value is below 2^32.
  Scalar w = alu(AluOp::Mov, Scalar::unknown(), Scalar::unknown(), true);
  EXPECT_EQ(w.umax, 0xffffffffu);
  EXPECT_EQ(w.smin, 0);
  // Sign extension of a byte is within [-128, 127].
  Scalar s = sign_extend(Scalar::unknown(), 8, false);
  EXPECT_EQ(s.smin, -128);
  EXPECT_EQ(s.smax, 127);
  // x % 16 is below 16.
  EXPECT_EQ(alu(AluOp::Mod, Scalar::unknown(), Scalar::constant(16), false).umax, 15u);
}

}  // namespace
