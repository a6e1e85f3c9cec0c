// xbpf's x86-64 encoder (src/jit/x86_asm.hpp) against asmjit, byte for byte:
// every instruction form the JIT emits, over every register, the widths,
// the immediates at each encoding's edges and the memory operands' special
// cases (rsp/r12 need a SIB, rbp/r13 a displacement, r8-r15 a REX).
// asmjit (with kOptimizeForSize, as the JIT used it) is the oracle; where
// asmjit refuses an operand, the encoder must refuse it too.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <asmjit/x86.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "jit/x86_asm.hpp"

namespace {

namespace A = asmjit;
namespace X = xbpf::jit::x86;
using xbpf::jit::Imm;
using xbpf::jit::Label;

struct Recorder : A::ErrorHandler {
  A::Error error = A::kErrorOk;
  void handleError(A::Error e, const char*, A::BaseEmitter*) override {
    if (error == A::kErrorOk) error = e;
  }
};

constexpr uint64_t kBase = 0x7f0000100000;

// asmjit's bytes for `emit`, or nullopt if asmjit refused it.
std::optional<std::vector<uint8_t>> theirs(const std::function<void(A::x86::Assembler&)>& emit) {
  A::CodeHolder code;
  code.init(A::Environment::host());
  Recorder rec;
  code.setErrorHandler(&rec);
  A::x86::Assembler a(&code);
  a.addEncodingOptions(A::EncodingOptions::kOptimizeForSize | A::EncodingOptions::kOptimizedAlign);
  emit(a);
  if (rec.error == A::kErrorOk) code.flatten();
  if (rec.error == A::kErrorOk) code.resolveUnresolvedLinks();
  if (rec.error == A::kErrorOk) code.relocateToBase(kBase);
  if (rec.error != A::kErrorOk) return std::nullopt;
  std::vector<uint8_t> out(code.codeSize());
  code.copyFlattenedData(out.data(), out.size());
  return out;
}

std::optional<std::vector<uint8_t>> mine(const std::function<void(X::Assembler&)>& emit) {
  X::Assembler a;
  emit(a);
  if (!a.finish()) return std::nullopt;
  std::vector<uint8_t> out(a.size());
  if (!a.relocate(kBase, out.data())) return std::nullopt;
  return out;
}

std::string hex(const std::optional<std::vector<uint8_t>>& b) {
  if (!b) return "(refused)";
  std::string s;
  for (uint8_t x : *b) s += fmt::format("{:02x} ", x);
  return s;
}

// An immediate the operand takes: a signed or unsigned value of its width
// (a sign-extended imm32 for 64 bits). asmjit truncates others silently;
// xbpf refuses them (Refusals).
bool in_range(int64_t v, unsigned size) {
  if (size == 8) return v >= INT32_MIN && v <= INT32_MAX;
  const int64_t lo = -(int64_t(1) << (8 * size - 1)), hi = (int64_t(1) << (8 * size)) - 1;
  return v >= lo && v <= hi;
}

size_t g_forms = 0;  // compared by the running test (printed at its end)

void same(const std::string& what, const std::function<void(X::Assembler&)>& m,
          const std::function<void(A::x86::Assembler&)>& t) {
  ++g_forms;
  const auto x = mine(m), y = theirs(t);
  if (x != y) ADD_FAILURE() << "MISMATCH " << what << ": xbpf " << hex(x) << "| asmjit " << hex(y);
}

X::Gp xr(unsigned id, unsigned size) { return X::Gp(uint8_t(id), uint8_t(size)); }
A::x86::Gp ar(unsigned id, unsigned size) {
  switch (size) {
    case 8: return A::x86::gpq(id);
    case 4: return A::x86::gpd(id);
    case 2: return A::x86::gpw(id);
    default: return A::x86::gpb(id);
  }
}

const unsigned kSizes[] = {1, 2, 4, 8};
const int64_t kImms[] = {0, 1, 2, -1, 8, 63, 127, 128, -128, -129, 255, 256, 0x7fff, 0x8000, 0xffff, 0x12345,
                         0x7fffffff, -0x80000000LL, 0x80000000LL, 0xffffffffLL, 0x100000000LL, -0x80000001LL,
                         INT64_MIN, INT64_MAX};
const int32_t kDisps[] = {0, 1, -1, 127, 128, -128, -129, 0x12345678};

struct MemCase {
  X::Mem x;
  A::x86::Mem a;
  std::string name;
};

// Every base, with and without an index, at the displacements' edges.
std::vector<MemCase> mems(unsigned size) {
  std::vector<MemCase> out;
  for (unsigned b = 0; b < 16; ++b)
    for (int32_t d : kDisps) {
      out.push_back({X::ptr(xr(b, 8), d, uint8_t(size)), A::x86::ptr(A::x86::gpq(b), d, size),
                     fmt::format("[r{} + {}]", b, d)});
      if (d == 0 || d == 128)
        for (unsigned i : {0u, 5u, 9u, 12u, 13u})
          for (unsigned shift : {0u, 3u})
            out.push_back({X::ptr(xr(b, 8), xr(i, 8), shift, d, uint8_t(size)),
                           A::x86::ptr(A::x86::gpq(b), A::x86::gpq(i), shift, d, size),
                           fmt::format("[r{} + r{} << {} + {}]", b, i, shift, d)});
    }
  return out;
}

TEST(X86Asm, AluRegRegImmMem) {
  using XA = void (X::Assembler::*)(const X::Gp&, const X::Gp&);
  struct Op {
    const char* name;
    XA rr;
    void (X::Assembler::*ri)(const X::Gp&, Imm);
    void (X::Assembler::*rm)(const X::Gp&, const X::Mem&);
    void (X::Assembler::*mr)(const X::Mem&, const X::Gp&);
    void (X::Assembler::*mi)(const X::Mem&, Imm);
    A::InstId id;
  };
  const Op ops[] = {
      {"add", &X::Assembler::add, &X::Assembler::add, &X::Assembler::add, &X::Assembler::add, &X::Assembler::add, A::x86::Inst::kIdAdd},
      {"or", &X::Assembler::or_, &X::Assembler::or_, &X::Assembler::or_, &X::Assembler::or_, &X::Assembler::or_, A::x86::Inst::kIdOr},
      {"and", &X::Assembler::and_, &X::Assembler::and_, &X::Assembler::and_, &X::Assembler::and_, &X::Assembler::and_, A::x86::Inst::kIdAnd},
      {"sub", &X::Assembler::sub, &X::Assembler::sub, &X::Assembler::sub, &X::Assembler::sub, &X::Assembler::sub, A::x86::Inst::kIdSub},
      {"xor", &X::Assembler::xor_, &X::Assembler::xor_, &X::Assembler::xor_, &X::Assembler::xor_, &X::Assembler::xor_, A::x86::Inst::kIdXor},
      {"cmp", &X::Assembler::cmp, &X::Assembler::cmp, &X::Assembler::cmp, &X::Assembler::cmp, &X::Assembler::cmp, A::x86::Inst::kIdCmp},
  };
  for (const Op& op : ops)
    for (unsigned size : kSizes) {
      for (unsigned d = 0; d < 16; ++d) {
        for (unsigned s = 0; s < 16; ++s)
          same(fmt::format("{} r{}, r{} /{}", op.name, d, s, size), [&](X::Assembler& a) { (a.*op.rr)(xr(d, size), xr(s, size)); },
               [&](A::x86::Assembler& a) { a.emit(op.id, ar(d, size), ar(s, size)); });
        for (int64_t v : kImms)
          if (in_range(v, size))
          same(fmt::format("{} r{}, {} /{}", op.name, d, v, size), [&](X::Assembler& a) { (a.*op.ri)(xr(d, size), Imm(v)); },
               [&](A::x86::Assembler& a) { a.emit(op.id, ar(d, size), A::Imm(v)); });
      }
      for (const MemCase& m : mems(size))
        for (unsigned r : {0u, 6u, 11u}) {
          same(fmt::format("{} r{}, {} /{}", op.name, r, m.name, size), [&](X::Assembler& a) { (a.*op.rm)(xr(r, size), m.x); },
               [&](A::x86::Assembler& a) { a.emit(op.id, ar(r, size), m.a); });
          same(fmt::format("{} {}, r{} /{}", op.name, m.name, r, size), [&](X::Assembler& a) { (a.*op.mr)(m.x, xr(r, size)); },
               [&](A::x86::Assembler& a) { a.emit(op.id, m.a, ar(r, size)); });
          same(fmt::format("lock {} {}, r{} /{}", op.name, m.name, r, size),
               [&](X::Assembler& a) { (a.lock().*op.mr)(m.x, xr(r, size)); },
               [&](A::x86::Assembler& a) { a.lock().emit(op.id, m.a, ar(r, size)); });
        }
      for (const MemCase& m : mems(size))
        for (int64_t v : {0LL, -1LL, 127LL, 128LL, 0x7fffffffLL, 0xffffffffLL})
          if (in_range(v, size))
          same(fmt::format("{} {}, {} /{}", op.name, m.name, v, size), [&](X::Assembler& a) { (a.*op.mi)(m.x, Imm(v)); },
               [&](A::x86::Assembler& a) { a.emit(op.id, m.a, A::Imm(v)); });
    }
}

TEST(X86Asm, Mov) {
  for (unsigned size : kSizes)
    for (unsigned d = 0; d < 16; ++d) {
      for (unsigned s = 0; s < 16; ++s)
        same(fmt::format("mov r{}, r{} /{}", d, s, size), [&](X::Assembler& a) { a.mov(xr(d, size), xr(s, size)); },
             [&](A::x86::Assembler& a) { a.mov(ar(d, size), ar(s, size)); });
      for (int64_t v : kImms)
        if (size == 8 || in_range(v, size))
        same(fmt::format("mov r{}, {} /{}", d, v, size), [&](X::Assembler& a) { a.mov(xr(d, size), Imm(v)); },
             [&](A::x86::Assembler& a) { a.mov(ar(d, size), A::Imm(v)); });
    }
  for (unsigned d = 0; d < 16; ++d)
    for (int64_t v : kImms)
      same(fmt::format("movabs r{}, {}", d, v), [&](X::Assembler& a) { a.movabs(xr(d, 8), Imm(v)); },
           [&](A::x86::Assembler& a) { a.movabs(ar(d, 8), A::Imm(v)); });
  for (unsigned size : kSizes)
    for (const MemCase& m : mems(size)) {
      for (unsigned r : {0u, 5u, 6u, 7u, 12u})
        same(fmt::format("mov r{} <-> {} /{}", r, m.name, size),
             [&](X::Assembler& a) {
               a.mov(xr(r, size), m.x);
               a.mov(m.x, xr(r, size));
             },
             [&](A::x86::Assembler& a) {
               a.mov(ar(r, size), m.a);
               a.mov(m.a, ar(r, size));
             });
      for (int64_t v : {0LL, -1LL, 127LL, 0x1234LL, 0x7fffffffLL, -0x80000000LL})
        if (in_range(v, size))
        same(fmt::format("mov {}, {} /{}", m.name, v, size), [&](X::Assembler& a) { a.mov(m.x, Imm(v)); },
             [&](A::x86::Assembler& a) { a.mov(m.a, A::Imm(v)); });
    }
  // The thread pointer: fs:[0].
  X::Mem tp = X::qword_ptr_abs(0);
  tp.setSegment(X::fs);
  A::x86::Mem atp = A::x86::qword_ptr_abs(0);
  atp.setSegment(A::x86::fs);
  same("mov r11, fs:[0]", [&](X::Assembler& a) { a.mov(X::r11, tp); }, [&](A::x86::Assembler& a) { a.mov(A::x86::r11, atp); });
}

TEST(X86Asm, ExtendsLeaTest) {
  for (unsigned d = 0; d < 16; ++d)
    for (unsigned s = 0; s < 16; ++s) {
      for (unsigned dsize : {4u, 8u})
        for (unsigned ssize : {1u, 2u}) {
          same(fmt::format("movzx r{}/{}, r{}/{}", d, dsize, s, ssize), [&](X::Assembler& a) { a.movzx(xr(d, dsize), xr(s, ssize)); },
               [&](A::x86::Assembler& a) { a.movzx(ar(d, dsize), ar(s, ssize)); });
          same(fmt::format("movsx r{}/{}, r{}/{}", d, dsize, s, ssize), [&](X::Assembler& a) { a.movsx(xr(d, dsize), xr(s, ssize)); },
               [&](A::x86::Assembler& a) { a.movsx(ar(d, dsize), ar(s, ssize)); });
        }
      same(fmt::format("movsxd r{}, r{}", d, s), [&](X::Assembler& a) { a.movsxd(xr(d, 8), xr(s, 4)); },
           [&](A::x86::Assembler& a) { a.movsxd(ar(d, 8), ar(s, 4)); });
      for (unsigned size : kSizes)
        same(fmt::format("test r{}, r{} /{}", d, s, size), [&](X::Assembler& a) { a.test(xr(d, size), xr(s, size)); },
             [&](A::x86::Assembler& a) { a.test(ar(d, size), ar(s, size)); });
    }
  for (unsigned size : kSizes)
    for (unsigned d = 0; d < 16; ++d)
      for (int64_t v : kImms)
        if (in_range(v, size))
        same(fmt::format("test r{}, {} /{}", d, v, size), [&](X::Assembler& a) { a.test(xr(d, size), Imm(v)); },
             [&](A::x86::Assembler& a) { a.test(ar(d, size), A::Imm(v)); });
  for (unsigned ssize : {1u, 2u})
    for (const MemCase& m : mems(ssize))
      for (unsigned d : {0u, 3u, 10u})
        same(fmt::format("movzx/movsx r{}, {} /{}", d, m.name, ssize),
             [&](X::Assembler& a) {
               a.movzx(xr(d, 4), m.x);
               a.movsx(xr(d, 8), m.x);
             },
             [&](A::x86::Assembler& a) {
               a.movzx(ar(d, 4), m.a);
               a.movsx(ar(d, 8), m.a);
             });
  for (const MemCase& m : mems(4))
    for (unsigned d : {0u, 3u, 10u})
      same(fmt::format("movsxd r{}, {}", d, m.name), [&](X::Assembler& a) { a.movsxd(xr(d, 8), m.x); },
           [&](A::x86::Assembler& a) { a.movsxd(ar(d, 8), m.a); });
  for (const MemCase& m : mems(0))
    for (unsigned d : {0u, 9u})
      for (unsigned size : {4u, 8u})
        same(fmt::format("lea r{}, {} /{}", d, m.name, size), [&](X::Assembler& a) { a.lea(xr(d, size), m.x); },
             [&](A::x86::Assembler& a) { a.lea(ar(d, size), m.a); });
}

TEST(X86Asm, MultiplyDivideUnary) {
  for (unsigned size : {2u, 4u, 8u})
    for (unsigned d = 0; d < 16; ++d)
      for (unsigned s = 0; s < 16; ++s) {
        same(fmt::format("imul r{}, r{} /{}", d, s, size), [&](X::Assembler& a) { a.imul(xr(d, size), xr(s, size)); },
             [&](A::x86::Assembler& a) { a.imul(ar(d, size), ar(s, size)); });
        for (int64_t v : {1LL, -1LL, 127LL, 128LL, -129LL, 0x7fffffffLL, 0xffffffffLL})
          if (in_range(v, size))
          same(fmt::format("imul r{}, r{}, {} /{}", d, s, v, size),
               [&](X::Assembler& a) { a.imul(xr(d, size), xr(s, size), Imm(v)); },
               [&](A::x86::Assembler& a) { a.imul(ar(d, size), ar(s, size), A::Imm(v)); });
        if (size == 2) continue;
        same(fmt::format("popcnt r{}, r{} /{}", d, s, size), [&](X::Assembler& a) { a.popcnt(xr(d, size), xr(s, size)); },
             [&](A::x86::Assembler& a) { a.popcnt(ar(d, size), ar(s, size)); });
        for (uint8_t cc = 0; cc < 16; ++cc)
          same(fmt::format("cmov{} r{}, r{} /{}", cc, d, s, size),
               [&](X::Assembler& a) { a.cmov(X::CondCode(cc), xr(d, size), xr(s, size)); },
               [&](A::x86::Assembler& a) { a.cmov(A::x86::CondCode(cc), ar(d, size), ar(s, size)); });
        same(fmt::format("xchg r{}, r{} /{}", d, s, size), [&](X::Assembler& a) { a.xchg(xr(d, size), xr(s, size)); },
             [&](A::x86::Assembler& a) { a.xchg(ar(d, size), ar(s, size)); });
        for (unsigned c = 0; c < 16; ++c) {
          same(fmt::format("shlx/shrx/sarx r{}, r{}, r{} /{}", d, s, c, size),
               [&](X::Assembler& a) {
                 a.shlx(xr(d, size), xr(s, size), xr(c, size));
                 a.shrx(xr(d, size), xr(s, size), xr(c, size));
                 a.sarx(xr(d, size), xr(s, size), xr(c, size));
               },
               [&](A::x86::Assembler& a) {
                 a.shlx(ar(d, size), ar(s, size), ar(c, size));
                 a.shrx(ar(d, size), ar(s, size), ar(c, size));
                 a.sarx(ar(d, size), ar(s, size), ar(c, size));
               });
          same(fmt::format("mulx r{}, r{}, r{} /{}", d, s, c, size),
               [&](X::Assembler& a) { a.mulx(xr(d, size), xr(s, size), xr(c, size)); },
               [&](A::x86::Assembler& a) { a.mulx(ar(d, size), ar(s, size), ar(c, size)); });
        }
        for (int64_t c : {1, 7, 31})
          same(fmt::format("rorx r{}, r{}, {} /{}", d, s, c, size),
               [&](X::Assembler& a) { a.rorx(xr(d, size), xr(s, size), Imm(c)); },
               [&](A::x86::Assembler& a) { a.rorx(ar(d, size), ar(s, size), A::Imm(c)); });
      }
  for (unsigned size : kSizes)
    for (unsigned d = 0; d < 16; ++d) {
      same(fmt::format("neg r{} /{}", d, size), [&](X::Assembler& a) { a.neg(xr(d, size)); },
           [&](A::x86::Assembler& a) { a.neg(ar(d, size)); });
      if (size < 4) continue;
      same(fmt::format("div/idiv/imul rdx:rax, r{} /{}", d, size),
           [&](X::Assembler& a) {
             a.div(xr(2, size), xr(0, size), xr(d, size));
             a.idiv(xr(2, size), xr(0, size), xr(d, size));
             a.imul(xr(2, size), xr(0, size), xr(d, size));
           },
           [&](A::x86::Assembler& a) {
             a.div(ar(2, size), ar(0, size), ar(d, size));
             a.idiv(ar(2, size), ar(0, size), ar(d, size));
             a.imul(ar(2, size), ar(0, size), ar(d, size));
           });
      same(fmt::format("bswap r{} /{}", d, size), [&](X::Assembler& a) { a.bswap(xr(d, size)); },
           [&](A::x86::Assembler& a) { a.bswap(ar(d, size)); });
    }
  same("cqo cdq ret leave int3",
       [&](X::Assembler& a) {
         a.cqo();
         a.cdq();
         a.ret();
         a.leave();
         a.int3();
       },
       [&](A::x86::Assembler& a) {
         a.cqo();
         a.cdq();
         a.ret();
         a.leave();
         a.int3();
       });
}

TEST(X86Asm, Shifts) {
  using XS = void (X::Assembler::*)(const X::Gp&, Imm);
  using XC = void (X::Assembler::*)(const X::Gp&, const X::Gp&);
  struct Op {
    const char* name;
    XS ri;
    XC rc;
    A::InstId id;
  };
  const Op ops[] = {
      {"rol", &X::Assembler::rol, &X::Assembler::rol, A::x86::Inst::kIdRol},
      {"ror", &X::Assembler::ror, &X::Assembler::ror, A::x86::Inst::kIdRor},
      {"shl", &X::Assembler::shl, &X::Assembler::shl, A::x86::Inst::kIdShl},
      {"shr", &X::Assembler::shr, &X::Assembler::shr, A::x86::Inst::kIdShr},
      {"sar", &X::Assembler::sar, &X::Assembler::sar, A::x86::Inst::kIdSar},
  };
  for (const Op& op : ops)
    for (unsigned size : kSizes)
      for (unsigned d = 0; d < 16; ++d) {
        for (int64_t c : {1, 2, 8, 31, 63})
          same(fmt::format("{} r{}, {} /{}", op.name, d, c, size), [&](X::Assembler& a) { (a.*op.ri)(xr(d, size), Imm(c)); },
               [&](A::x86::Assembler& a) { a.emit(op.id, ar(d, size), A::Imm(c)); });
        same(fmt::format("{} r{}, cl /{}", op.name, d, size), [&](X::Assembler& a) { (a.*op.rc)(xr(d, size), X::cl); },
             [&](A::x86::Assembler& a) { a.emit(op.id, ar(d, size), A::x86::cl); });
      }
}

TEST(X86Asm, AtomicsPushPop) {
  for (unsigned size : {1u, 2u, 4u, 8u})
    for (const MemCase& m : mems(size))
      for (unsigned r : {1u, 6u, 8u, 13u}) {
        same(fmt::format("lock xadd {}, r{} /{}", m.name, r, size), [&](X::Assembler& a) { a.lock().xadd(m.x, xr(r, size)); },
             [&](A::x86::Assembler& a) { a.lock().xadd(m.a, ar(r, size)); });
        same(fmt::format("lock cmpxchg {}, r{} /{}", m.name, r, size),
             [&](X::Assembler& a) { a.lock().cmpxchg(m.x, xr(r, size), xr(0, size)); },
             [&](A::x86::Assembler& a) { a.lock().cmpxchg(m.a, ar(r, size), ar(0, size)); });
        same(fmt::format("xchg {}, r{} /{}", m.name, r, size), [&](X::Assembler& a) { a.xchg(m.x, xr(r, size)); },
             [&](A::x86::Assembler& a) { a.xchg(m.a, ar(r, size)); });
      }
  for (unsigned r = 0; r < 16; ++r)
    same(fmt::format("push/pop/call/jmp r{}", r),
         [&](X::Assembler& a) {
           a.push(xr(r, 8));
           a.pop(xr(r, 8));
           a.call(xr(r, 8));
           a.jmp(xr(r, 8));
         },
         [&](A::x86::Assembler& a) {
           a.push(ar(r, 8));
           a.pop(ar(r, 8));
           a.call(ar(r, 8));
           a.jmp(ar(r, 8));
         });
}

// Jumps and calls to labels, both directions, at the rel8 edges; lea of a
// label; calls of absolute addresses; alignment.
TEST(X86Asm, LabelsJumpsCallsAlign) {
  for (int pad : {0, 1, 100, 120, 122, 123, 124, 125, 126, 127, 128, 129, 130, 200, 70000})
    for (int cc = -1; cc < 16; ++cc)
      for (bool short_ : {false, true}) {
        // Backward.
        same(fmt::format("back {} over {} short {}", cc, pad, short_),
             [&](X::Assembler& a) {
               Label l = a.newLabel();
               a.bind(l);
               for (int k = 0; k < pad; ++k) a.int3();
               if (short_) a.short_();
               cc < 0 ? a.jmp(l) : a.j(X::CondCode(cc), l);
             },
             [&](A::x86::Assembler& a) {
               A::Label l = a.newLabel();
               a.bind(l);
               for (int k = 0; k < pad; ++k) a.int3();
               if (short_) a.short_();
               cc < 0 ? a.jmp(l) : a.j(A::x86::CondCode(cc), l);
             });
        // Forward.
        same(fmt::format("forward {} over {} short {}", cc, pad, short_),
             [&](X::Assembler& a) {
               Label l = a.newLabel();
               if (short_) a.short_();
               cc < 0 ? a.jmp(l) : a.j(X::CondCode(cc), l);
               for (int k = 0; k < pad; ++k) a.int3();
               a.bind(l);
             },
             [&](A::x86::Assembler& a) {
               A::Label l = a.newLabel();
               if (short_) a.short_();
               cc < 0 ? a.jmp(l) : a.j(A::x86::CondCode(cc), l);
               for (int k = 0; k < pad; ++k) a.int3();
               a.bind(l);
             });
      }
  for (int pad : {0, 5, 300})
    same(fmt::format("call/lea label, pad {}", pad),
         [&](X::Assembler& a) {
           Label f = a.newLabel(), b = a.newLabel();
           a.bind(b);
           a.call(f);
           a.lea(X::r9, X::ptr(f));
           a.lea(X::rax, X::ptr(b));
           for (int k = 0; k < pad; ++k) a.int3();
           a.bind(f);
           a.call(b);
         },
         [&](A::x86::Assembler& a) {
           A::Label f = a.newLabel(), b = a.newLabel();
           a.bind(b);
           a.call(f);
           a.lea(A::x86::r9, A::x86::ptr(f));
           a.lea(A::x86::rax, A::x86::ptr(b));
           for (int k = 0; k < pad; ++k) a.int3();
           a.bind(f);
           a.call(b);
         });
  // asmjit's call of an address is `40 e8 rel32` (a REX that changes
  // nothing, so that `ff 15 disp32` through an address table fits in its
  // place) and two bytes of padding; xbpf's is `e8 rel32` (far_calls
  // instead).
  for (uint64_t target : {kBase + 0x1000, kBase - 0x7fff0000, kBase + 5}) {
    const auto x = mine([&](X::Assembler& a) { a.call(Imm(target)); });
    auto y = theirs([&](A::x86::Assembler& a) { a.call(A::Imm(target)); });
    ASSERT_TRUE(y && y->size() >= 6 && (*y)[0] == 0x40);
    y->erase(y->begin());
    y->resize(5);
    int32_t d;  // one byte shorter: one more to the target
    std::memcpy(&d, y->data() + 1, 4);
    ++d;
    std::memcpy(y->data() + 1, &d, 4);
    EXPECT_EQ(hex(x), hex(y)) << fmt::format("call {:#x}", target);
  }
  for (int pad = 0; pad < 20; ++pad)
    same(fmt::format("align 16 after {}", pad),
         [&](X::Assembler& a) {
           for (int k = 0; k < pad; ++k) a.int3();
           a.align(xbpf::jit::AlignMode::kCode, 16);
           a.int3();
         },
         [&](A::x86::Assembler& a) {
           for (int k = 0; k < pad; ++k) a.int3();
           a.align(A::AlignMode::kCode, 16);
           a.int3();
         });
}

// What the encoder refuses, and what it does with a call out of reach.
TEST(X86Asm, Refusals) {
  EXPECT_FALSE(mine([](X::Assembler& a) { a.add(X::rax, Imm(int64_t(1) << 40)); }));
  EXPECT_FALSE(mine([](X::Assembler& a) { a.add(X::eax, X::rdx); }));
  // Immediates out of the operand's range (asmjit truncates them).
  EXPECT_FALSE(mine([](X::Assembler& a) { a.add(X::eax, Imm(int64_t(1) << 32)); }));
  EXPECT_FALSE(mine([](X::Assembler& a) { a.mov(X::byte_ptr(X::rax), Imm(256)); }));
  EXPECT_FALSE(mine([](X::Assembler& a) { a.xor_(X::qword_ptr(X::rax), Imm(0xffffffffLL)); }));
  EXPECT_FALSE(mine([](X::Assembler& a) { a.lock().cmp(X::qword_ptr(X::rax), X::rdx); }));
  EXPECT_FALSE(mine([](X::Assembler& a) { a.shl(X::rax, X::rdx); }));
  EXPECT_FALSE(mine([](X::Assembler& a) {
    Label l = a.newLabel();
    a.short_().jmp(l);
    for (int k = 0; k < 200; ++k) a.int3();
    a.bind(l);
  }));
  EXPECT_FALSE(mine([](X::Assembler& a) { a.jmp(a.newLabel()); }));
  // A call out of rel32 reach fails relocate(); with far_calls it is
  // `mov r11, imm64; call r11`.
  const uint64_t far = kBase + (uint64_t(1) << 40);
  EXPECT_FALSE(mine([&](X::Assembler& a) { a.call(Imm(far)); }));
  const auto f = mine([&](X::Assembler& a) {
    a.far_calls(true);
    a.call(Imm(far));
  });
  const auto g = theirs([&](A::x86::Assembler& a) {
    a.movabs(A::x86::r11, A::Imm(far));
    a.call(A::x86::r11);
  });
  EXPECT_EQ(hex(f), hex(g));
}

// Each test's count of forms compared (a loop cut short by a mistake shows).
class FormCount : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { g_forms = 0; }
  void OnTestEnd(const ::testing::TestInfo& t) override {
    if (g_forms) std::printf("[ forms    ] %s: %zu compared with asmjit\n", t.name(), g_forms);
  }
};
const bool kListening = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new FormCount);
  return true;
}();

}  // namespace
