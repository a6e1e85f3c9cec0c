#include "verifier/scalar.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace xbpf::verifier {
namespace {

constexpr uint64_t kLow32 = 0xffffffffULL;

// One width's ranges: the 64-bit view or the 32-bit subregister view.
template <class U, class S>
struct Lane {
  U umin, umax;
  S smin, smax;
  static constexpr Lane full() {
    return {0, std::numeric_limits<U>::max(), std::numeric_limits<S>::min(), std::numeric_limits<S>::max()};
  }
};
using Lane64 = Lane<uint64_t, int64_t>;
using Lane32 = Lane<uint32_t, int32_t>;

Lane64 lane64(const Scalar& s) { return {s.umin, s.umax, s.smin, s.smax}; }
Lane32 lane32(const Scalar& s) { return {s.u32_min, s.u32_max, s.s32_min, s.s32_max}; }
void set(Scalar& s, Lane64 l) { s.umin = l.umin, s.umax = l.umax, s.smin = l.smin, s.smax = l.smax; }
void set(Scalar& s, Lane32 l) { s.u32_min = l.umin, s.u32_max = l.umax, s.s32_min = l.smin, s.s32_max = l.smax; }

template <class U, class S>
Lane<U, S> lane_add(Lane<U, S> a, Lane<U, S> b) {
  auto r = Lane<U, S>::full();
  S lo, hi;
  if (!__builtin_add_overflow(a.smin, b.smin, &lo) && !__builtin_add_overflow(a.smax, b.smax, &hi))
    r.smin = lo, r.smax = hi;
  U ulo, uhi;
  // Both ends wrap or neither: if only the top wraps the range splits.
  if (!__builtin_add_overflow(a.umax, b.umax, &uhi)) r.umin = static_cast<U>(a.umin + b.umin), r.umax = uhi;
  else if (__builtin_add_overflow(a.umin, b.umin, &ulo)) r.umin = ulo, r.umax = uhi;
  return r;
}

template <class U, class S>
Lane<U, S> lane_sub(Lane<U, S> a, Lane<U, S> b) {
  auto r = Lane<U, S>::full();
  S lo, hi;
  if (!__builtin_sub_overflow(a.smin, b.smax, &lo) && !__builtin_sub_overflow(a.smax, b.smin, &hi))
    r.smin = lo, r.smax = hi;
  if (a.umin >= b.umax) r.umin = static_cast<U>(a.umin - b.umax), r.umax = static_cast<U>(a.umax - b.umin);
  return r;
}

template <class U, class S>
Lane<U, S> lane_mul(Lane<U, S> a, Lane<U, S> b) {
  auto r = Lane<U, S>::full();
  U ulo, uhi;
  if (!__builtin_mul_overflow(a.umax, b.umax, &uhi)) {
    ulo = static_cast<U>(a.umin * b.umin);
    r.umin = ulo, r.umax = uhi;
  }
  // Without overflow at any corner, the signed extremes are at the corners.
  S c[4];
  if (!__builtin_mul_overflow(a.smin, b.smin, &c[0]) && !__builtin_mul_overflow(a.smin, b.smax, &c[1]) &&
      !__builtin_mul_overflow(a.smax, b.smin, &c[2]) && !__builtin_mul_overflow(a.smax, b.smax, &c[3])) {
    r.smin = *std::min_element(c, c + 4);
    r.smax = *std::max_element(c, c + 4);
  }
  return r;
}

// Ranges implied by a tnum alone (update_reg_bounds).
template <class U, class S>
void tighten_from_tnum(Lane<U, S>& l, uint64_t value, uint64_t mask) {
  const U v = static_cast<U>(value), m = static_cast<U>(mask);
  constexpr U sign = U{1} << (sizeof(U) * 8 - 1);
  l.umin = std::max(l.umin, v);
  l.umax = std::min(l.umax, static_cast<U>(v | m));
  l.smin = std::max(l.smin, static_cast<S>(v | (m & sign)));
  l.smax = std::min(l.smax, static_cast<S>(v | (m & ~sign)));
}

// Signed and unsigned views of one lane inform each other when the range does
// not cross the sign boundary.
template <class U, class S>
void cross(Lane<U, S>& l) {
  if (static_cast<S>(l.umin) <= static_cast<S>(l.umax)) {
    l.smin = std::max(l.smin, static_cast<S>(l.umin));
    l.smax = std::min(l.smax, static_cast<S>(l.umax));
  }
  if (static_cast<U>(l.smin) <= static_cast<U>(l.smax)) {
    l.umin = std::max(l.umin, static_cast<U>(l.smin));
    l.umax = std::min(l.umax, static_cast<U>(l.smax));
  }
}

bool consistent(const Scalar& s) {
  return s.umin <= s.umax && s.smin <= s.smax && s.u32_min <= s.u32_max && s.s32_min <= s.s32_max;
}

void deduce(Scalar& s) {
  Lane64 l64 = lane64(s);
  Lane32 l32 = lane32(s);
  // 64 -> 32: when the upper halves agree across the range, the low halves
  // form a contiguous range.
  if ((l64.umin >> 32) == (l64.umax >> 32)) {
    l32.umin = std::max(l32.umin, static_cast<uint32_t>(l64.umin));
    l32.umax = std::min(l32.umax, static_cast<uint32_t>(l64.umax));
    if (static_cast<int32_t>(l64.umin) <= static_cast<int32_t>(l64.umax)) {
      l32.smin = std::max(l32.smin, static_cast<int32_t>(l64.umin));
      l32.smax = std::min(l32.smax, static_cast<int32_t>(l64.umax));
    }
  }
  if ((l64.smin >> 32) == (l64.smax >> 32)) {
    l32.umin = std::max(l32.umin, static_cast<uint32_t>(l64.smin));
    l32.umax = std::min(l32.umax, static_cast<uint32_t>(l64.smax));
    if (static_cast<int32_t>(l64.smin) <= static_cast<int32_t>(l64.smax)) {
      l32.smin = std::max(l32.smin, static_cast<int32_t>(l64.smin));
      l32.smax = std::min(l32.smax, static_cast<int32_t>(l64.smax));
    }
  }
  cross(l32);
  cross(l64);
  // 32 -> 64: with a fixed upper half, the low half's range bounds the value.
  if (l32.umin <= l32.umax) {
    if ((l64.umin >> 32) == (l64.umax >> 32)) {
      const uint64_t hi = l64.umin & ~kLow32;
      l64.umin = std::max(l64.umin, hi | l32.umin);
      l64.umax = std::min(l64.umax, hi | l32.umax);
    }
    if ((l64.smin >> 32) == (l64.smax >> 32)) {
      const uint64_t hi = static_cast<uint64_t>(l64.smin) & ~kLow32;
      l64.smin = std::max(l64.smin, static_cast<int64_t>(hi | l32.umin));
      l64.smax = std::min(l64.smax, static_cast<int64_t>(hi | l32.umax));
    }
  }
  cross(l64);
  set(s, l64);
  set(s, l32);
}

void update_from_tnum(Scalar& s) {
  Lane64 l64 = lane64(s);
  Lane32 l32 = lane32(s);
  tighten_from_tnum(l64, s.var.value, s.var.mask);
  tighten_from_tnum(l32, s.var.value, s.var.mask);
  set(s, l64);
  set(s, l32);
}

// Shift amount when it is a known constant below the width, else nullopt.
std::optional<unsigned> shift_amount(const Scalar& src, bool alu32) {
  const unsigned width = alu32 ? 32 : 64;
  if (!(alu32 ? src.is_const32() : src.is_const())) return std::nullopt;
  const uint64_t k = alu32 ? (src.var.value & kLow32) : src.var.value;
  if (k >= width) return std::nullopt;  // the interpreter masks; the verifier (like the kernel) gives up
  return static_cast<unsigned>(k);
}

uint64_t concrete(AluOp op, uint64_t a, uint64_t b, bool alu32);

}  // namespace

// Every view is the value itself (what sync() computes, without its cost:
// constants are made for every register and stack slot of every new frame).
Scalar Scalar::constant(uint64_t v) {
  Scalar s;
  s.var = Tnum::constant(v);
  s.umin = s.umax = v;
  s.smin = s.smax = static_cast<int64_t>(v);
  s.u32_min = s.u32_max = static_cast<uint32_t>(v);
  s.s32_min = s.s32_max = static_cast<int32_t>(v);
  return s;
}

Scalar Scalar::urange(uint64_t lo, uint64_t hi) {
  Scalar s;
  s.umin = lo, s.umax = hi;
  s.sync();
  return s;
}

Scalar Scalar::srange(int64_t lo, int64_t hi) {
  Scalar s;
  s.smin = lo, s.smax = hi;
  s.sync();
  return s;
}

void Scalar::sync() {
  update_from_tnum(*this);
  deduce(*this);
  if (!consistent(*this)) return;  // an impossible state: refine() reports it
  var = tnum_intersect(var, Tnum::range(umin, umax));
  var = tnum_with_subreg(var, tnum_intersect(tnum_subreg(var), Tnum::range(u32_min, u32_max)));
  update_from_tnum(*this);
  deduce(*this);
}

void Scalar::zext32() {
  var = tnum_subreg(var);
  umin = u32_min, umax = u32_max;
  smin = u32_min, smax = u32_max;
  sync();
}

bool Scalar::contains(uint64_t x) const {
  const auto x32 = static_cast<uint32_t>(x);
  return var.contains(x) && x >= umin && x <= umax && static_cast<int64_t>(x) >= smin &&
         static_cast<int64_t>(x) <= smax && x32 >= u32_min && x32 <= u32_max &&
         static_cast<int32_t>(x32) >= s32_min && static_cast<int32_t>(x32) <= s32_max;
}

bool Scalar::includes(const Scalar& o) const {
  return var.includes(o.var) && umin <= o.umin && o.umax <= umax && smin <= o.smin && o.smax <= smax &&
         u32_min <= o.u32_min && o.u32_max <= u32_max && s32_min <= o.s32_min && o.s32_max <= s32_max;
}

std::string Scalar::to_string() const {
  if (is_const()) return fmt::format("{}", static_cast<int64_t>(var.value));
  std::string out = "scalar(";
  auto add = [&](std::string_view name, auto v) { out += fmt::format("{}{}={}", out.size() > 7 ? "," : "", name, v); };
  if (smin != std::numeric_limits<int64_t>::min()) add("smin", smin);
  if (smax != std::numeric_limits<int64_t>::max()) add("smax", smax);
  if (umin != 0) add("umin", umin);
  if (umax != std::numeric_limits<uint64_t>::max()) add("umax", umax);
  if (s32_min != std::numeric_limits<int32_t>::min()) add("smin32", s32_min);
  if (s32_max != std::numeric_limits<int32_t>::max()) add("smax32", s32_max);
  if (u32_min != 0) add("umin32", u32_min);
  if (u32_max != std::numeric_limits<uint32_t>::max()) add("umax32", u32_max);
  if (!var.is_unknown()) add("var_off", var.to_string());
  return out + ")";
}

std::string Tnum::to_string() const { return fmt::format("({:#x}; {:#x})", value, mask); }

}  // namespace xbpf::verifier

namespace xbpf::verifier {
namespace {

// Kernel semantics of one ALU operation on concrete values (for constants).
uint64_t concrete(AluOp op, uint64_t a, uint64_t b, bool alu32) {
  if (alu32) a &= kLow32, b &= kLow32;
  const unsigned width = alu32 ? 32 : 64;
  uint64_t r = 0;
  switch (op) {
    case AluOp::Add: r = a + b; break;
    case AluOp::Sub: r = a - b; break;
    case AluOp::Mul: r = a * b; break;
    case AluOp::Div: r = b ? a / b : 0; break;
    case AluOp::Mod: r = b ? a % b : a; break;
    case AluOp::Or: r = a | b; break;
    case AluOp::And: r = a & b; break;
    case AluOp::Xor: r = a ^ b; break;
    case AluOp::Lsh: r = a << (b & (width - 1)); break;
    case AluOp::Rsh: r = a >> (b & (width - 1)); break;
    case AluOp::Arsh:
      r = alu32 ? static_cast<uint32_t>(static_cast<int32_t>(a) >> (b & 31))
                : static_cast<uint64_t>(static_cast<int64_t>(a) >> (b & 63));
      break;
    case AluOp::Neg: r = 0 - a; break;
    case AluOp::Mov: r = b; break;
  }
  return alu32 ? r & kLow32 : r;
}

// The low-32-bit lane of ops whose low result bits depend only on the low
// operand bits (add, sub, mul, and, or, xor, lsh).
Lane32 low_lane(AluOp op, const Scalar& a, const Scalar& b) {
  switch (op) {
    case AluOp::Add: return lane_add(lane32(a), lane32(b));
    case AluOp::Sub: return lane_sub(lane32(a), lane32(b));
    case AluOp::Mul: return lane_mul(lane32(a), lane32(b));
    default: return Lane32::full();  // the tnum and sync() derive it
  }
}

Scalar alu64_ranges(AluOp op, const Scalar& a, const Scalar& b, Tnum var) {
  Scalar r;
  r.var = var;
  switch (op) {
    case AluOp::Add: set(r, lane_add(lane64(a), lane64(b))); break;
    case AluOp::Sub: set(r, lane_sub(lane64(a), lane64(b))); break;
    case AluOp::Mul: set(r, lane_mul(lane64(a), lane64(b))); break;
    case AluOp::And: r.umax = std::min(a.umax, b.umax); break;
    case AluOp::Or: r.umin = std::max(a.umin, b.umin); break;
    default: break;  // xor: the tnum says it all
  }
  set(r, low_lane(op, a, b));
  if (op == AluOp::And) r.u32_max = std::min(a.u32_max, b.u32_max);
  if (op == AluOp::Or) r.u32_min = std::max(a.u32_min, b.u32_min);
  r.sync();
  return r;
}

Scalar shift(AluOp op, const Scalar& a, unsigned k, bool alu32) {
  Scalar r;
  const unsigned width = alu32 ? 32 : 64;
  if (op == AluOp::Lsh) {
    r.var = tnum_lshift(a.var, k);
    if (!alu32 && (k == 0 || (a.umax >> (64 - k)) == 0)) r.umin = a.umin << k, r.umax = a.umax << k;
    if (k >= 32) r.u32_min = r.u32_max = 0;  // a 64-bit shift by 32+ leaves the low half zero
    else if (k == 0 || (a.u32_max >> (32 - k)) == 0) r.u32_min = a.u32_min << k, r.u32_max = a.u32_max << k;
  } else if (op == AluOp::Rsh) {
    if (alu32) {
      r.var = tnum_rshift(tnum_subreg(a.var), k);
      r.u32_min = a.u32_min >> k, r.u32_max = a.u32_max >> k;
    } else {
      r.var = tnum_rshift(a.var, k);
      r.umin = a.umin >> k, r.umax = a.umax >> k;
    }
  } else {  // Arsh
    r.var = tnum_arshift(alu32 ? tnum_subreg(a.var) : a.var, k, width);
    if (alu32) r.s32_min = a.s32_min >> k, r.s32_max = a.s32_max >> k;
    else r.smin = a.smin >> k, r.smax = a.smax >> k;
  }
  r.sync();
  return r;
}

}  // namespace

Scalar alu(AluOp op, Scalar dst, const Scalar& src, bool alu32) {
  if (op == AluOp::Mov) {
    Scalar r = src;
    if (alu32) r.zext32();
    return r;
  }
  const bool consts = alu32 ? dst.is_const32() && (op == AluOp::Neg || src.is_const32())
                            : dst.is_const() && (op == AluOp::Neg || src.is_const());
  // A shift by the width or more is unknown even between constants (the
  // kernel gives up on such an amount before computing; the ISA masks it).
  const bool wide_shift = (op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh) && !shift_amount(src, alu32);
  if (consts && !wide_shift) return Scalar::constant(concrete(op, dst.var.value, src.var.value, alu32));
  Scalar r;
  switch (op) {
    case AluOp::Add: r = alu64_ranges(op, dst, src, tnum_add(dst.var, src.var)); break;
    case AluOp::Sub: r = alu64_ranges(op, dst, src, tnum_sub(dst.var, src.var)); break;
    case AluOp::Mul: r = alu64_ranges(op, dst, src, tnum_mul(dst.var, src.var)); break;
    case AluOp::And: r = alu64_ranges(op, dst, src, tnum_and(dst.var, src.var)); break;
    case AluOp::Or: r = alu64_ranges(op, dst, src, tnum_or(dst.var, src.var)); break;
    case AluOp::Xor: r = alu64_ranges(op, dst, src, tnum_xor(dst.var, src.var)); break;
    case AluOp::Neg: r = alu(AluOp::Sub, Scalar::constant(0), dst, alu32); break;
    case AluOp::Lsh: case AluOp::Rsh: case AluOp::Arsh: {
      auto k = shift_amount(src, alu32);
      r = k ? shift(op, dst, *k, alu32) : Scalar::unknown();
      break;
    }
    case AluOp::Div:
    case AluOp::Mod: {
      // Unsigned division by a known non-zero constant; anything else unknown.
      const bool c = alu32 ? src.is_const32() : src.is_const();
      const uint64_t d = alu32 ? (src.var.value & kLow32) : src.var.value;
      if (!c || d == 0) break;
      if (op == AluOp::Div) {
        if (alu32) r.u32_min = dst.u32_min / d, r.u32_max = dst.u32_max / d;
        else r.umin = dst.umin / d, r.umax = dst.umax / d;
      } else {
        if (alu32) r.u32_max = static_cast<uint32_t>(std::min<uint64_t>(dst.u32_max, d - 1));
        else r.umax = std::min(dst.umax, d - 1);
      }
      r.sync();
      break;
    }
    case AluOp::Mov: break;
  }
  if (alu32) r.zext32();
  return r;
}

Scalar sign_extend(const Scalar& s, unsigned bits, bool alu32) {
  Scalar r;
  if (tnum_cast(s.var, bits / 8).is_const()) {
    const uint64_t v = s.var.value;
    uint64_t x = bits == 8 ? static_cast<uint64_t>(static_cast<int8_t>(v))
                 : bits == 16 ? static_cast<uint64_t>(static_cast<int16_t>(v))
                              : static_cast<uint64_t>(static_cast<int32_t>(v));
    return Scalar::constant(alu32 ? x & kLow32 : x);
  }
  // The sign bit of the low part is the only thing that decides the top.
  const Tnum low = tnum_cast(s.var, bits / 8);
  const uint64_t sign = uint64_t{1} << (bits - 1);
  if (!(low.mask & sign)) {
    r.var = (low.value & sign) ? Tnum{low.value | ~((sign << 1) - 1), low.mask} : low;
  } else {
    r.smin = -static_cast<int64_t>(sign), r.smax = static_cast<int64_t>(sign - 1);
  }
  r.sync();
  if (alu32) r.zext32();
  return r;
}

Scalar truncate(const Scalar& s, unsigned bytes) {
  if (bytes >= 8) return s;
  Scalar r;
  r.var = tnum_cast(s.var, bytes);
  if (bytes == 4) r.u32_min = s.u32_min, r.u32_max = s.u32_max, r.s32_min = s.s32_min, r.s32_max = s.s32_max;
  else if (s.umax < (uint64_t{1} << (bytes * 8))) r.umin = s.umin, r.umax = s.umax;
  r.sync();
  if (bytes == 4) r.zext32();
  return r;
}

Scalar join(const Scalar& a, const Scalar& b) {
  Scalar r;
  r.var = tnum_union(a.var, b.var);
  r.umin = std::min(a.umin, b.umin), r.umax = std::max(a.umax, b.umax);
  r.smin = std::min(a.smin, b.smin), r.smax = std::max(a.smax, b.smax);
  r.u32_min = std::min(a.u32_min, b.u32_min), r.u32_max = std::max(a.u32_max, b.u32_max);
  r.s32_min = std::min(a.s32_min, b.s32_min), r.s32_max = std::max(a.s32_max, b.s32_max);
  r.sync();
  return r;
}

}  // namespace xbpf::verifier

// ---- conditional jumps ----
namespace xbpf::verifier {
namespace {

JmpOp negate(JmpOp op) {
  switch (op) {
    case JmpOp::Jeq: return JmpOp::Jne;
    case JmpOp::Jne: return JmpOp::Jeq;
    case JmpOp::Jgt: return JmpOp::Jle;
    case JmpOp::Jle: return JmpOp::Jgt;
    case JmpOp::Jge: return JmpOp::Jlt;
    case JmpOp::Jlt: return JmpOp::Jge;
    case JmpOp::Jsgt: return JmpOp::Jsle;
    case JmpOp::Jsle: return JmpOp::Jsgt;
    case JmpOp::Jsge: return JmpOp::Jslt;
    case JmpOp::Jslt: return JmpOp::Jsge;
    case JmpOp::Jset: return JmpOp::Jset;  // handled by the caller
  }
  return op;
}

// `a OP b` with b on the left becomes `b OP' a`.
JmpOp swap(JmpOp op) {
  switch (op) {
    case JmpOp::Jgt: return JmpOp::Jlt;
    case JmpOp::Jlt: return JmpOp::Jgt;
    case JmpOp::Jge: return JmpOp::Jle;
    case JmpOp::Jle: return JmpOp::Jge;
    case JmpOp::Jsgt: return JmpOp::Jslt;
    case JmpOp::Jslt: return JmpOp::Jsgt;
    case JmpOp::Jsge: return JmpOp::Jsle;
    case JmpOp::Jsle: return JmpOp::Jsge;
    default: return op;
  }
}

// The view a jump compares: the 64-bit lane and tnum, or the subregister's.
template <class U, class S>
struct View {
  Lane<U, S> l;
  Tnum t;
};
template <class U, class S>
View<U, S> view(const Scalar& s) {
  if constexpr (sizeof(U) == 8) return {lane64(s), s.var};
  else return {lane32(s), tnum_subreg(s.var)};
}

template <class U, class S>
std::optional<bool> taken(JmpOp op, View<U, S> a, View<U, S> b) {
  switch (op) {
    case JmpOp::Jeq:
    case JmpOp::Jne: {
      std::optional<bool> eq;
      if (a.t.is_const() && b.t.is_const()) eq = a.t.value == b.t.value;
      else if (a.l.umin > b.l.umax || a.l.umax < b.l.umin || a.l.smin > b.l.smax || a.l.smax < b.l.smin ||
               ((a.t.value ^ b.t.value) & ~(a.t.mask | b.t.mask)) != 0)
        eq = false;
      if (!eq) return std::nullopt;
      return op == JmpOp::Jeq ? *eq : !*eq;
    }
    case JmpOp::Jset:
      if (a.t.value & b.t.value) return true;
      if (((a.t.value | a.t.mask) & (b.t.value | b.t.mask)) == 0) return false;
      return std::nullopt;
    case JmpOp::Jgt:
      if (a.l.umin > b.l.umax) return true;
      if (a.l.umax <= b.l.umin) return false;
      return std::nullopt;
    case JmpOp::Jge:
      if (a.l.umin >= b.l.umax) return true;
      if (a.l.umax < b.l.umin) return false;
      return std::nullopt;
    case JmpOp::Jsgt:
      if (a.l.smin > b.l.smax) return true;
      if (a.l.smax <= b.l.smin) return false;
      return std::nullopt;
    case JmpOp::Jsge:
      if (a.l.smin >= b.l.smax) return true;
      if (a.l.smax < b.l.smin) return false;
      return std::nullopt;
    default:
      return taken(swap(op), b, a);
  }
}

// Narrows a and b (one lane) under `a OP b` (OP is not Jset), knowing the
// relation is possible.
template <class U, class S>
void narrow(JmpOp op, Lane<U, S>& a, Lane<U, S>& b) {
  switch (op) {
    case JmpOp::Jeq:
      a.umin = b.umin = std::max(a.umin, b.umin);
      a.umax = b.umax = std::min(a.umax, b.umax);
      a.smin = b.smin = std::max(a.smin, b.smin);
      a.smax = b.smax = std::min(a.smax, b.smax);
      return;
    case JmpOp::Jne:  // only a constant on one side can move the other's edge
      for (auto [x, y] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
        if (y->umin != y->umax || y->smin != y->smax) continue;
        if (x->umin == y->umin && x->umin < x->umax) ++x->umin;
        if (x->umax == y->umin && x->umax > x->umin) --x->umax;
        if (x->smin == y->smin && x->smin < x->smax) ++x->smin;
        if (x->smax == y->smin && x->smax > x->smin) --x->smax;
      }
      return;
    case JmpOp::Jgt:
      a.umin = std::max<U>(a.umin, b.umin + 1);
      b.umax = std::min<U>(b.umax, a.umax - 1);
      return;
    case JmpOp::Jge:
      a.umin = std::max(a.umin, b.umin);
      b.umax = std::min(b.umax, a.umax);
      return;
    case JmpOp::Jsgt:
      a.smin = std::max<S>(a.smin, b.smin + 1);
      b.smax = std::min<S>(b.smax, a.smax - 1);
      return;
    case JmpOp::Jsge:
      a.smin = std::max(a.smin, b.smin);
      b.smax = std::min(b.smax, a.smax);
      return;
    default:
      narrow(swap(op), b, a);
  }
}

template <class U, class S>
bool refine_lane(JmpOp op, bool is_taken, Scalar& a, Scalar& b) {
  View<U, S> va = view<U, S>(a), vb = view<U, S>(b);
  const bool is64 = sizeof(U) == 8;
  if (op == JmpOp::Jset) {
    auto t = taken(op, va, vb);
    if (t && *t != is_taken) return false;
    // Only a constant mask teaches something: its bits are all zero in a when
    // not taken; when taken and it is one bit, that bit is one.
    if (vb.t.is_const()) {
      const uint64_t m = vb.t.value;
      if (!is_taken) a.var.value &= ~m, a.var.mask &= ~m;
      else if (std::has_single_bit(m)) a.var.value |= m, a.var.mask &= ~m;
    }
    return true;
  }
  const JmpOp c = is_taken ? op : negate(op);
  auto t = taken(c, va, vb);
  if (t && !*t) return false;
  narrow(c, va.l, vb.l);
  if (va.l.umin > va.l.umax || va.l.smin > va.l.smax || vb.l.umin > vb.l.umax || vb.l.smin > vb.l.smax) return false;
  if (c == JmpOp::Jeq) {
    const Tnum both = tnum_intersect(va.t, vb.t);
    va.t = vb.t = both;
  }
  set(a, va.l);
  set(b, vb.l);
  if (is64) {
    a.var = va.t, b.var = vb.t;
  } else {
    a.var = tnum_with_subreg(a.var, va.t), b.var = tnum_with_subreg(b.var, vb.t);
  }
  return true;
}

}  // namespace

std::optional<bool> branch_taken(JmpOp op, const Scalar& a, const Scalar& b, bool jmp32) {
  if (jmp32) return taken(op, view<uint32_t, int32_t>(a), view<uint32_t, int32_t>(b));
  return taken(op, view<uint64_t, int64_t>(a), view<uint64_t, int64_t>(b));
}

bool refine(JmpOp op, bool is_taken, Scalar& a, Scalar& b, bool jmp32) {
  const bool ok = jmp32 ? refine_lane<uint32_t, int32_t>(op, is_taken, a, b)
                        : refine_lane<uint64_t, int64_t>(op, is_taken, a, b);
  if (!ok) return false;
  a.sync();
  b.sync();
  return consistent(a) && consistent(b);
}

}  // namespace xbpf::verifier
