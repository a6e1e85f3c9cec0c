// Threaded-code interpreter. Program::load turns each instruction slot into a
// Slot holding the address of its handler label (computed goto), so dispatch
// is one indirect jump; run() executes the slots. The same function body is
// instantiated twice: kChecked=false (verified programs, no checks) and
// kChecked=true (bounds, alignment, budget and call-depth checks).
//
// The handler bodies come from the X-macro list in isa/opcodes.def: every
// operation of the table has a label L_<Name> below; a missing one is a
// compile error, so the interpreter cannot fall behind the table.
#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "vm/vm.hpp"

namespace xbpf::vm {

struct Program::Slot {
  const void* handler;
  union {
    struct {
      uint8_t dst;
      uint8_t src;
      int16_t off;
      int32_t imm;
    };
    uint64_t imm64;  // second slot of lddw: the full immediate
    HelperFn fn;     // helper call: the resolved implementation
    const Slot* target;  // local call: the callee's first slot
    const Program::ArraySlot* array;  // inlined array lookup
  };
};
using Slot = Program::Slot;

struct Program::ArraySlot {
  uint64_t base;
  uint64_t stride;
  uint32_t max_entries;
  uint32_t ncpus;       // per-CPU array: copies per element (else 1)
  uint32_t index_mask;  // next power of two minus one: the index is masked after the
                        // bounds check, so a mispredicted check cannot read past the
                        // array speculatively (the kernel does the same)
};

namespace {

// Labels that are not opcodes: end-of-program sentinel, tail call, inlined
// array lookup.
enum Special { kFellOff, kTailCall, kLdAbsFail, kArrayLookup, kNumSpecial };

struct Frame {
  const Slot* ret;
  uint64_t saved[4];  // r6..r9
  uint64_t fp;        // r10
};

template <class T>
T load_mem(uint64_t addr) {
  T v;
  std::memcpy(&v, reinterpret_cast<const void*>(addr), sizeof(T));
  return v;
}
template <class T>
void store_mem(uint64_t addr, T v) {
  std::memcpy(reinterpret_cast<void*>(addr), &v, sizeof(T));
}

// True when [addr, addr+size) lies inside one granted region (or the stack).
bool access_ok(const ExecContext& ctx, uint64_t stack_lo, uint64_t stack_hi, uint64_t addr,
               uint64_t size, bool write) {
  if (addr >= stack_lo && addr <= stack_hi - size) return true;
  for (const Region& r : ctx.regions) {
    if (size <= r.size && addr >= r.begin && addr - r.begin <= r.size - size)
      return !write || r.writable;
  }
  return false;
}

Unexpected<Error> access_error(const Slot* pc, const Slot* base, uint64_t addr, unsigned size,
                                    bool write) {
  return fail(Errc::runtime, "insn {}: invalid memory access: {} of {} bytes at {:#x} is outside the stack and "
              "every granted region", pc - base, write ? "write" : "read", size, addr);
}

uint64_t ld_abs(const ExecContext& ctx, int64_t off, unsigned size, bool* ok) {
  if (off < 0 || uint64_t(off) + size > ctx.packet_len || ctx.packet == nullptr) {
    *ok = false;
    return 0;
  }
  const uint8_t* p = ctx.packet + off;
  *ok = true;
  switch (size) {
    case 1: return p[0];
    case 2: return uint64_t(p[0]) << 8 | p[1];
    default: return uint64_t(p[0]) << 24 | uint64_t(p[1]) << 16 | uint64_t(p[2]) << 8 | p[3];
  }
}

template <class T>
T sdiv(T a, T b) {
  if (b == 0) return 0;
  if (b == T(-1)) return T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(a));  // INT_MIN / -1 = INT_MIN
  return a / b;
}
template <class T>
T smod(T a, T b) {
  if (b == T(-1)) return 0;  // INT_MIN % -1 is 0
  return a % b;              // b != 0 checked by the caller
}

// The interpreter proper. With `labels_out` set, only publishes its label table.
template <bool kChecked>
Expected<uint64_t> execute(const Program* prog, const Slot* start, const uint64_t* args,
                           ExecContext* ctx, const void* const** labels_out) {
  static const void* const labels[isa::kNumOps + kNumSpecial] = {
#define XBPF_X(name, ...) &&L_##name,
      XBPF_OPCODES(XBPF_X)
#undef XBPF_X
      &&L_fell_off, &&L_tail_call, &&L_ld_abs_fail, &&L_array_lookup,
  };
  if (labels_out) {
    *labels_out = labels;
    return 0;
  }

  alignas(16) uint8_t stack[kMaxFrames * kStackSize];
  Frame frames[kMaxFrames];
  unsigned depth = 0;
  uint32_t tail_calls = 0;
  uint64_t executed = 0;
  const uint64_t budget = ctx->insn_budget;
  const uint64_t stack_lo = reinterpret_cast<uint64_t>(stack);
  const uint64_t stack_hi = stack_lo + sizeof(stack);
  const Slot* base = start;
  const Slot* pc = start;
  uint64_t reg[11] = {0, args[0], args[1], args[2], args[3], args[4], 0, 0, 0, 0, stack_hi};
  uint64_t addr = 0;
  ctx->program = prog;
  ctx->stack_lo = stack_lo;
  ctx->stack_hi = stack_hi;
  if (ctx->stack_poison >= 0) std::memset(stack + sizeof(stack) - kStackSize, ctx->stack_poison, kStackSize);

#define DISPATCH()                                                    \
  do {                                                                \
    if constexpr (kChecked)                                           \
      if (++executed > budget) goto out_of_budget;                    \
    goto* pc->handler;                                                \
  } while (0)
#define NEXT() \
  do {         \
    ++pc;      \
    DISPATCH(); \
  } while (0)
#define CHECK_ACCESS(a, size, write)                                                         \
  do {                                                                                       \
    if constexpr (kChecked) {                                                                \
      addr = (a);                                                                            \
      if (!access_ok(*ctx, stack_lo, stack_hi, addr, size, write)) {                         \
        ctx->insns_executed = executed;                                                      \
        return access_error(pc, base, addr, size, write);                                    \
      }                                                                                      \
    }                                                                                        \
  } while (0)

  DISPATCH();

  // ---- ALU ---------------------------------------------------------------
#define U64 uint64_t
#define U32 uint32_t
#define ALU64(name, expr)                                  \
  L_##name##64_IMM : {                                     \
    U64& d = reg[pc->dst];                                 \
    const U64 s = U64(int64_t(pc->imm));                   \
    d = (expr);                                            \
    NEXT();                                                \
  }                                                        \
  L_##name##64_REG : {                                     \
    U64& d = reg[pc->dst];                                 \
    const U64 s = reg[pc->src];                            \
    d = (expr);                                            \
    NEXT();                                                \
  }
#define ALU32(name, expr)                                  \
  L_##name##32_IMM : {                                     \
    U64& dd = reg[pc->dst];                                \
    const U32 d = U32(dd);                                 \
    const U32 s = U32(pc->imm);                            \
    dd = U32(expr);                                        \
    NEXT();                                                \
  }                                                        \
  L_##name##32_REG : {                                     \
    U64& dd = reg[pc->dst];                                \
    const U32 d = U32(dd);                                 \
    const U32 s = U32(reg[pc->src]);                       \
    dd = U32(expr);                                        \
    NEXT();                                                \
  }
#define ALU_BOTH(name, expr) ALU64(name, expr) ALU32(name, expr)

  ALU_BOTH(ADD, d + s)
  ALU_BOTH(SUB, d - s)
  ALU_BOTH(MUL, d * s)
  ALU_BOTH(DIV, s ? d / s : 0)
  ALU_BOTH(OR, d | s)
  ALU_BOTH(AND, d & s)
  ALU_BOTH(XOR, d ^ s)
  ALU_BOTH(MOD, s ? d % s : d)
  ALU64(LSH, d << (s & 63))
  ALU32(LSH, d << (s & 31))
  ALU64(RSH, d >> (s & 63))
  ALU32(RSH, d >> (s & 31))
  ALU64(ARSH, U64(int64_t(d) >> (s & 63)))
  ALU32(ARSH, U32(int32_t(d) >> (s & 31)))
  ALU64(SDIV, U64(sdiv<int64_t>(int64_t(d), int64_t(s))))
  ALU32(SDIV, U32(sdiv<int32_t>(int32_t(d), int32_t(s))))
  ALU64(SMOD, s ? U64(smod<int64_t>(int64_t(d), int64_t(s))) : d)
  ALU32(SMOD, s ? U32(smod<int32_t>(int32_t(d), int32_t(s))) : d)

L_NEG64 : { reg[pc->dst] = U64(0) - reg[pc->dst]; NEXT(); }
L_NEG32 : { reg[pc->dst] = U32(U32(0) - U32(reg[pc->dst])); NEXT(); }
L_MOV64_IMM : { reg[pc->dst] = U64(int64_t(pc->imm)); NEXT(); }
L_MOV64_REG : { reg[pc->dst] = reg[pc->src]; NEXT(); }
L_MOV32_IMM : { reg[pc->dst] = U32(pc->imm); NEXT(); }
L_MOV32_REG : { reg[pc->dst] = U32(reg[pc->src]); NEXT(); }
L_MOVSX8_64 : { reg[pc->dst] = U64(int64_t(int8_t(reg[pc->src]))); NEXT(); }
L_MOVSX16_64 : { reg[pc->dst] = U64(int64_t(int16_t(reg[pc->src]))); NEXT(); }
L_MOVSX32_64 : { reg[pc->dst] = U64(int64_t(int32_t(reg[pc->src]))); NEXT(); }
L_MOVSX8_32 : { reg[pc->dst] = U32(int32_t(int8_t(reg[pc->src]))); NEXT(); }
L_MOVSX16_32 : { reg[pc->dst] = U32(int32_t(int16_t(reg[pc->src]))); NEXT(); }

  // Byte order: the host is little-endian (x86-64), so `le` only truncates.
L_LE16 : { reg[pc->dst] = uint16_t(reg[pc->dst]); NEXT(); }
L_LE32 : { reg[pc->dst] = uint32_t(reg[pc->dst]); NEXT(); }
L_LE64 : { NEXT(); }
L_BE16 :
L_BSWAP16 : { reg[pc->dst] = __builtin_bswap16(uint16_t(reg[pc->dst])); NEXT(); }
L_BE32 :
L_BSWAP32 : { reg[pc->dst] = __builtin_bswap32(uint32_t(reg[pc->dst])); NEXT(); }
L_BE64 :
L_BSWAP64 : { reg[pc->dst] = __builtin_bswap64(reg[pc->dst]); NEXT(); }

  // ---- jumps -------------------------------------------------------------
L_JA : { pc += pc->off + 1; DISPATCH(); }
L_JA32 : { pc += int64_t(pc->imm) + 1; DISPATCH(); }

#define JMP(name, T, cond)                                             \
  L_##name##_IMM : {                                                   \
    const T d = T(reg[pc->dst]);                                       \
    const T s = T(int64_t(pc->imm));                                   \
    pc += (cond) ? pc->off + 1 : 1;                                    \
    DISPATCH();                                                        \
  }                                                                    \
  L_##name##_REG : {                                                   \
    const T d = T(reg[pc->dst]);                                       \
    const T s = T(reg[pc->src]);                                       \
    pc += (cond) ? pc->off + 1 : 1;                                    \
    DISPATCH();                                                        \
  }
#define JMP_BOTH(name, cmp, T64, T32) JMP(name, T64, cmp) JMP(name##32, T32, cmp)

  JMP_BOTH(JEQ, d == s, uint64_t, uint32_t)
  JMP_BOTH(JNE, d != s, uint64_t, uint32_t)
  JMP_BOTH(JGT, d > s, uint64_t, uint32_t)
  JMP_BOTH(JGE, d >= s, uint64_t, uint32_t)
  JMP_BOTH(JLT, d < s, uint64_t, uint32_t)
  JMP_BOTH(JLE, d <= s, uint64_t, uint32_t)
  JMP_BOTH(JSET, (d & s) != 0, uint64_t, uint32_t)
  JMP_BOTH(JSGT, d > s, int64_t, int32_t)
  JMP_BOTH(JSGE, d >= s, int64_t, int32_t)
  JMP_BOTH(JSLT, d < s, int64_t, int32_t)
  JMP_BOTH(JSLE, d <= s, int64_t, int32_t)

  // ---- loads and stores --------------------------------------------------
#define LDX(name, T, EXT)                                   \
  L_##name : {                                              \
    const uint64_t a = reg[pc->src] + int64_t(pc->off);     \
    CHECK_ACCESS(a, sizeof(T), false);                      \
    reg[pc->dst] = EXT(load_mem<T>(a));                     \
    NEXT();                                                 \
  }
#define ZX(v) uint64_t(v)
#define SX(v) uint64_t(int64_t(v))
  LDX(LDXB, uint8_t, ZX)
  LDX(LDXH, uint16_t, ZX)
  LDX(LDXW, uint32_t, ZX)
  LDX(LDXDW, uint64_t, ZX)
  LDX(LDXSB, int8_t, SX)
  LDX(LDXSH, int16_t, SX)
  LDX(LDXSW, int32_t, SX)

#define ST(name, T, VAL)                                    \
  L_##name : {                                              \
    const uint64_t a = reg[pc->dst] + int64_t(pc->off);     \
    CHECK_ACCESS(a, sizeof(T), true);                       \
    store_mem<T>(a, T(VAL));                                \
    NEXT();                                                 \
  }
  ST(STB, uint8_t, pc->imm)
  ST(STH, uint16_t, pc->imm)
  ST(STW, uint32_t, pc->imm)
  ST(STDW, uint64_t, int64_t(pc->imm))
  ST(STXB, uint8_t, reg[pc->src])
  ST(STXH, uint16_t, reg[pc->src])
  ST(STXW, uint32_t, reg[pc->src])
  ST(STXDW, uint64_t, reg[pc->src])

  // ---- atomics (sequentially consistent, as the kernel's) ----------------
#define ATOMIC_ADDR(T)                                                           \
  const uint64_t a = reg[pc->dst] + int64_t(pc->off);                            \
  if constexpr (kChecked) {                                                      \
    if (a % sizeof(T) != 0) {                                                    \
      ctx->insns_executed = executed;                                            \
      return fail(Errc::runtime, "insn {}: misaligned atomic access of {} bytes at {:#x}", pc - base, \
                  sizeof(T), a);                                                 \
    }                                                                            \
  }                                                                              \
  CHECK_ACCESS(a, sizeof(T), true);                                              \
  T* p = reinterpret_cast<T*>(a);
#define ATOMIC_RMW(name, T, builtin, FETCH)                          \
  L_##name : {                                                       \
    ATOMIC_ADDR(T)                                                   \
    T old = builtin(p, T(reg[pc->src]), __ATOMIC_SEQ_CST);           \
    if (FETCH) reg[pc->src] = old;                                   \
    NEXT();                                                          \
  }
#define ATOMIC_BOTH(name, builtin, FETCH)                  \
  ATOMIC_RMW(name##64, uint64_t, builtin, FETCH)           \
  ATOMIC_RMW(name##32, uint32_t, builtin, FETCH)
  ATOMIC_BOTH(ATOMIC_ADD, __atomic_fetch_add, false)
  ATOMIC_BOTH(ATOMIC_OR, __atomic_fetch_or, false)
  ATOMIC_BOTH(ATOMIC_AND, __atomic_fetch_and, false)
  ATOMIC_BOTH(ATOMIC_XOR, __atomic_fetch_xor, false)
  ATOMIC_BOTH(ATOMIC_FETCH_ADD, __atomic_fetch_add, true)
  ATOMIC_BOTH(ATOMIC_FETCH_OR, __atomic_fetch_or, true)
  ATOMIC_BOTH(ATOMIC_FETCH_AND, __atomic_fetch_and, true)
  ATOMIC_BOTH(ATOMIC_FETCH_XOR, __atomic_fetch_xor, true)
  ATOMIC_BOTH(ATOMIC_XCHG, __atomic_exchange_n, true)

#define CMPXCHG(name, T)                                                           \
  L_##name : {                                                                     \
    ATOMIC_ADDR(T)                                                                 \
    T expected = T(reg[0]);                                                        \
    __atomic_compare_exchange_n(p, &expected, T(reg[pc->src]), false,              \
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);               \
    reg[0] = expected; /* the old value, zero-extended for 32-bit */               \
    NEXT();                                                                        \
  }
  CMPXCHG(ATOMIC_CMPXCHG64, uint64_t)
  CMPXCHG(ATOMIC_CMPXCHG32, uint32_t)

  // ---- 64-bit immediates ---------------------------------------------------
  // lddw func: load() stored the callee's slot address (see call_function).
L_LDDW :
L_LDDW_FUNC : { reg[pc->dst] = pc[1].imm64; pc += 2; DISPATCH(); }
  // Other pseudo forms are refused by load() (the loader resolves them first).
L_LDDW_MAP_FD :
L_LDDW_MAP_VALUE :
L_LDDW_BTF_ID :
L_LDDW_MAP_IDX :
L_LDDW_MAP_IDX_VALUE :
L_CALL_KFUNC :
  __builtin_unreachable();

  // ---- legacy packet loads: out of bounds ends the program with r0 = 0 -----
#define LD_PKT(name, size, OFF)                                    \
  L_##name : {                                                     \
    bool ok;                                                       \
    uint64_t v = ld_abs(*ctx, (OFF), size, &ok);                   \
    if (!ok) goto L_ld_abs_fail;                                   \
    reg[0] = v;                                                    \
    NEXT();                                                        \
  }
  LD_PKT(LDABSB, 1, int64_t(pc->imm))
  LD_PKT(LDABSH, 2, int64_t(pc->imm))
  LD_PKT(LDABSW, 4, int64_t(pc->imm))
  LD_PKT(LDINDB, 1, int64_t(int32_t(uint32_t(reg[pc->src]) + uint32_t(pc->imm))))
  LD_PKT(LDINDH, 2, int64_t(int32_t(uint32_t(reg[pc->src]) + uint32_t(pc->imm))))
  LD_PKT(LDINDW, 4, int64_t(int32_t(uint32_t(reg[pc->src]) + uint32_t(pc->imm))))
L_ld_abs_fail : {
  if constexpr (kChecked) ctx->insns_executed = executed;
  return 0;
}

  // ---- calls -----------------------------------------------------------------
L_CALL : {
  reg[0] = pc->fn(reg[1], reg[2], reg[3], reg[4], reg[5], ctx);
  NEXT();
}
L_CALLX : {
  const uint64_t id = reg[pc->dst];
  HelperFn fn = id <= UINT32_MAX && prog->helper_table() ? prog->helper_table()->get(uint32_t(id)) : nullptr;
  if (!fn) {
    ctx->insns_executed = executed;
    return fail(Errc::runtime, "insn {}: callx to unknown helper {}", pc - base, id);
  }
  reg[0] = fn(reg[1], reg[2], reg[3], reg[4], reg[5], ctx);
  NEXT();
}
L_array_lookup : {
  // r1-r5 are dead after a call (the verifier marks them unreadable).
  const Program::ArraySlot* a = pc->array;
  const uint32_t key = load_mem<uint32_t>(reg[2]);
  if (key >= a->max_entries) {
    reg[0] = 0;
  } else {
    uint64_t at = key & a->index_mask;
    if (a->ncpus > 1) at = at * a->ncpus + current_cpu(a->ncpus);
    reg[0] = a->base + at * a->stride;
  }
  NEXT();
}
L_tail_call : {
  const Program* next = nullptr;
  // The index is r3's low 32 bits, as the kernel's `u32 index = BPF_R3`.
  if (ctx->tail_call && tail_calls < kMaxTailCalls) next = ctx->tail_call(ctx, reg[2], uint32_t(reg[3]));
  if (!next || next->mode() != (kChecked ? Mode::Checked : Mode::Verified)) NEXT();
  ++tail_calls;
  prog = next;
  ctx->program = next;
  if (ctx->stack_poison >= 0) std::memset(reinterpret_cast<void*>(reg[10] - kStackSize), ctx->stack_poison, kStackSize);
  base = pc = next->first_slot();
  DISPATCH();
}
L_CALL_LOCAL : {
  if constexpr (kChecked) {
    if (depth + 1 >= kMaxFrames) {
      ctx->insns_executed = executed;
      return fail(Errc::runtime, "insn {}: call depth exceeds {} frames", pc - base, kMaxFrames);
    }
  }
  Frame& f = frames[depth++];
  f.ret = pc + 1;
  std::memcpy(f.saved, &reg[6], sizeof(f.saved));
  f.fp = reg[10];
  reg[10] -= kStackSize;
  if (ctx->stack_poison >= 0) std::memset(reinterpret_cast<void*>(reg[10] - kStackSize), ctx->stack_poison, kStackSize);
  pc = pc->target;
  DISPATCH();
}
L_EXIT : {
  if (depth == 0) {
    if constexpr (kChecked) ctx->insns_executed = executed;
    return reg[0];
  }
  Frame& f = frames[--depth];
  std::memcpy(&reg[6], f.saved, sizeof(f.saved));
  reg[10] = f.fp;
  pc = f.ret;
  DISPATCH();
}
L_fell_off : {
  ctx->insns_executed = executed;
  return fail(Errc::runtime, "insn {}: execution fell off the end of the program", pc - base);
}
out_of_budget:
  __attribute__((unused));
  ctx->insns_executed = executed - 1;
  return fail(Errc::runtime, "insn {}: instruction budget of {} exhausted (infinite loop?)", pc - base, budget);

#undef DISPATCH
#undef NEXT
#undef CHECK_ACCESS
}

const void* const* label_table(Mode mode) {
  const void* const* labels = nullptr;
  if (mode == Mode::Checked)
    (void)execute<true>(nullptr, nullptr, nullptr, nullptr, &labels);
  else
    (void)execute<false>(nullptr, nullptr, nullptr, nullptr, &labels);
  return labels;
}

}  // namespace

Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;
Program::~Program() = default;

Expected<Program> Program::load(std::span<const isa::RawInsn> code, LoadOptions opts) {
  auto decoded = isa::decode_program(code);
  if (!decoded) return xbpf::unexpected(decoded.error());
  Program p;
  p.mode_ = opts.mode;
  p.helpers_ = opts.helpers;
  p.insns_ = std::move(*decoded);
  p.slot_count_ = code.size() + 1;
  p.slots_ = std::make_unique<Slot[]>(p.slot_count_);
  const void* const* labels = label_table(opts.mode);
  Slot* slots = p.slots_.get();
  for (size_t i = 0; i < p.slot_count_; ++i) slots[i] = Slot{labels[isa::kNumOps + kFellOff], {}};

  for (const isa::Insn& insn : p.insns_) {
    Slot& s = slots[insn.pc];
    s.handler = labels[size_t(insn.op)];
    s.dst = insn.dst;
    s.src = insn.src;
    s.off = insn.off;
    s.imm = insn.imm;
    switch (insn.op) {
      case isa::Op::LDDW:
        slots[insn.pc + 1].imm64 = uint64_t(insn.imm64);
        break;
      case isa::Op::LDDW_FUNC:
        slots[insn.pc + 1].imm64 = reinterpret_cast<uint64_t>(&slots[insn.target()]);
        break;
      case isa::Op::CALL: {
        if (uint32_t(insn.imm) == kHelperTailCall) {
          s.handler = labels[isa::kNumOps + kTailCall];
          break;
        }
        HelperFn fn = opts.helpers ? opts.helpers->get(uint32_t(insn.imm)) : nullptr;
        if (!fn) return fail(Errc::invalid_program, "insn {}: call to unknown helper {}", insn.pc, insn.imm);
        s.fn = fn;
        break;
      }
      case isa::Op::CALL_LOCAL:
        s.target = &slots[insn.target()];
        break;
      case isa::Op::CALL_KFUNC:
        return fail(Errc::unsupported, "insn {}: kfunc calls are not supported", insn.pc);
      default:
        if (isa::info(insn.op).form == isa::Form::LoadImm64)
          return fail(Errc::invalid_program, "insn {}: unresolved pseudo lddw ({}): relocate the program first",
                      insn.pc, isa::info(insn.op).mnemonic);
        break;
    }
  }
  if (opts.mode == Mode::Verified && !opts.array_lookups.empty()) {
    constexpr uint32_t kMapLookupElem = 1;  // BPF_FUNC_map_lookup_elem
    p.arrays_ = std::make_unique<ArraySlot[]>(opts.array_lookups.size());
    size_t n = 0;
    for (const InlineArrayLookup& l : opts.array_lookups) {
      const size_t at = std::lower_bound(p.insns_.begin(), p.insns_.end(), l.pc,
                                         [](const isa::Insn& i, uint32_t pc) { return i.pc < pc; }) -
                        p.insns_.begin();
      if (at == p.insns_.size() || p.insns_[at].pc != l.pc || p.insns_[at].op != isa::Op::CALL ||
          uint32_t(p.insns_[at].imm) != kMapLookupElem || !l.base || l.max_entries == 0)
        return fail(Errc::invalid_argument, "insn {}: not a bpf_map_lookup_elem call on an array map", l.pc);
      ArraySlot& a = p.arrays_[n++];
      a.base = reinterpret_cast<uint64_t>(l.base);
      a.stride = l.stride;
      a.max_entries = l.max_entries;
      a.ncpus = std::max<uint32_t>(l.ncpus, 1);
      a.index_mask = uint32_t((uint64_t{1} << std::bit_width(l.max_entries - 1)) - 1);
      slots[l.pc].handler = labels[isa::kNumOps + kArrayLookup];
      slots[l.pc].array = &a;
    }
    p.inlined_ = n;
    p.array_lookups_.assign(opts.array_lookups.begin(), opts.array_lookups.end());
  }
  return p;
}

Expected<uint64_t> Program::run_entry(uint64_t arg1, uint64_t arg2, ExecContext& ctx) const {
  const uint64_t args[5] = {arg1, arg2, 0, 0, 0};
  if (native_) return native_->run(*this, args, ctx);
  if (mode_ == Mode::Checked) return execute<true>(this, slots_.get(), args, &ctx, nullptr);
  return execute<false>(this, slots_.get(), args, &ctx, nullptr);
}

Expected<uint64_t> Program::call_function(uint64_t fn, std::span<const uint64_t, 5> args,
                                          ExecContext& ctx) const {
  if (native_) return native_->call_function(*this, fn, args, ctx);
  const uint64_t lo = reinterpret_cast<uint64_t>(slots_.get());
  if (fn < lo || fn >= lo + (slot_count_ - 1) * sizeof(Slot) || (fn - lo) % sizeof(Slot) != 0)
    return fail(Errc::runtime, "callback {:#x} is not a function of this program", fn);
  const Program* saved_prog = ctx.program;
  const uint64_t saved_lo = ctx.stack_lo, saved_hi = ctx.stack_hi;
  const Slot* start = reinterpret_cast<const Slot*>(fn);
  auto r = mode_ == Mode::Checked ? execute<true>(this, start, args.data(), &ctx, nullptr)
                                  : execute<false>(this, start, args.data(), &ctx, nullptr);
  ctx.program = saved_prog;
  ctx.stack_lo = saved_lo;
  ctx.stack_hi = saved_hi;
  return r;
}

bool helper_access_ok(const ExecContext& ctx, uint64_t addr, uint64_t size, bool write) {
  if (ctx.program && ctx.program->mode() == Mode::Verified) return true;
  if (size == 0) return true;
  if (addr + size < addr) return false;
  if (ctx.stack_hi > ctx.stack_lo && addr >= ctx.stack_lo && addr + size <= ctx.stack_hi) return true;
  for (const Region& r : ctx.regions) {
    if (size <= r.size && addr >= r.begin && addr - r.begin <= r.size - size) return !write || r.writable;
  }
  return false;
}

}  // namespace xbpf::vm
