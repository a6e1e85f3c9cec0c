// Loads, stores and atomics: the stack (spills, fills, initialised bytes),
// the context (per program type rules), map values and keys, packets (proven
// ranges), helper memory, sockets (uapi fields); 64-bit immediates (maps,
// functions) and the legacy packet loads.
#include <linux/bpf.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "verifier/checker.hpp"

namespace xbpf::verifier::detail {
namespace {

using isa::Form;
using isa::Insn;
using isa::Op;

using VoidResult = BasicExpected<void, Reject>;
Unexpected<Reject> no(Reject r) { return Unexpected<Reject>(std::move(r)); }

int access_size(const Insn& i) {
  switch (isa::info(i.op).code & 0x18) {
    case 0x00: return 4;  // BPF_W
    case 0x08: return 2;  // BPF_H
    case 0x10: return 1;  // BPF_B
    default: return 8;    // BPF_DW
  }
}

// Byte `o` (-512..-1 from the frame pointer) of a frame's stack.
SlotType& stack_byte(Frame& f, int o) {
  const int p = kStackSize + o;
  return f.slot(p / 8).bytes[p % 8];
}
StackSlot& stack_slot(Frame& f, int o) { return f.slot((kStackSize + o) / 8); }

Scalar loaded(int size) { return truncate(Scalar::unknown(), static_cast<unsigned>(size)); }

std::string tnum_text(const Scalar& v) { return v.var.to_string(); }
// How the kernel's alignment messages print a variable offset: a constant as
// its value, anything else as the tnum.
std::string align_text(const Scalar& v) {
  return v.is_const() ? fmt::format("{}", static_cast<int64_t>(v.const_value())) : v.var.to_string();
}

// The kernel's stack bounds message.
Reject stack_bounds(bool write, int regno, int off, int size) {
  return reject("invalid {} stack R{} off={} size={}", write ? "write to" : "read from", regno, off, size);
}

// Bytes [off, off+size) of a frame lose any spilled register; a spill
// partially overwritten becomes plain data.
void scrub(Frame& f, int off, int size, SlotType as) {
  for (int o = off; o < off + size; ++o) {
    StackSlot& slot = stack_slot(f, o);
    if (slot.bytes[0] == SlotType::Spill) {
      slot.bytes.fill(SlotType::Misc);
      slot.spilled = RegState{};
    }
    stack_byte(f, o) = as;
  }
}

}  // namespace

// ---- stack ----

static VoidResult stack_write(Checker& c, State& s, const RegState& base, int regno, int off, int size,
                              const RegState* value, bool value_is_zero) {
  Frame& f = c.frame_of(s, base);
  if (!base.var.is_const()) {
    if (!c.env().privileged) return no(reject("R{} variable stack access prohibited for !root", regno));
    if (base.var.smax >= (int64_t{1} << 29) || base.var.smin <= -(int64_t{1} << 29))
      return no(reject("invalid unbounded variable-offset write to stack R{}", regno));
    const int64_t lo = off + base.var.smin, hi = off + base.var.smax;
    if (lo < -kStackSize || hi + size > 0)
      return no(reject("invalid variable-offset write to stack R{} var_off={} off={} size={}", regno,
                       tnum_text(base.var), off, size));
    scrub(f, static_cast<int>(lo), static_cast<int>(hi - lo) + size, SlotType::Misc);
    f.stack_depth = std::max<int32_t>(f.stack_depth, static_cast<int32_t>(-lo));
    c.note_stack_access(f, lo);
    return {};
  }
  off += static_cast<int>(static_cast<int64_t>(base.var.const_value()));
  if (off < -kStackSize || off + size > 0) return no(stack_bounds(true, regno, off, size));
  if (off % size != 0)
    return no(reject("misaligned stack access off {}+{}+{} size {}", align_text(base.var), base.off,
                     off - base.off, size));
  f.stack_depth = std::max<int32_t>(f.stack_depth, -off);
  c.note_stack_access(f, off);
  StackSlot& slot = stack_slot(f, off);
  if (size == 8 && value && value->type != RegType::NotInit) {
    c.trace().stack_written[base.frameno] |= uint64_t{1} << ((kStackSize + off) / 8);
    c.trace().stack_touched = true;
    c.trace().stack = StepTrace::Spill;
    c.trace().stack_frame = base.frameno;
    c.trace().slot = static_cast<uint8_t>((kStackSize + off) / 8);
    slot.bytes.fill(SlotType::Spill);
    slot.spilled = *value;
    return {};
  }
  if (slot.bytes[0] == SlotType::Spill && slot.spilled.type != RegType::Scalar && !c.env().privileged)
    return no(reject("attempt to corrupt spilled pointer on stack"));
  if (value && value->type != RegType::Scalar && !c.env().privileged)
    return no(reject("R{} partial copy of pointer", regno));
  scrub(f, off, size, value_is_zero ? SlotType::Zero : SlotType::Misc);
  return {};
}

// Reads bytes [off, off+size) of `f` as data (not a fill): uninitialised
// bytes are an error unless privileged (allow_uninit_stack). Bytes below
// the stack the writes so far have allocated (8-byte slots) are reported as
// out of bounds, as the kernel does; helpers (`indirect`) may not read
// spilled pointers either.
static BasicExpected<bool, Reject> stack_bytes_readable(Checker& c, Frame& f, int off, int size, bool indirect,
                                                        int regno) {
  const int allocated = (f.stack_depth + 7) / 8 * 8;
  if (!c.env().privileged && off < -allocated)
    return no(reject("invalid read from stack R{} off={} size={}", regno, off, size));
  bool all_zero = true;
  for (int k = 0; k < size; ++k) {
    const SlotType t = stack_byte(f, off + k);
    const bool hidden_ptr =
        t == SlotType::Spill && indirect && stack_slot(f, off + k).spilled.type != RegType::Scalar;
    if ((t == SlotType::Invalid || hidden_ptr) && !c.env().privileged) {
      if (indirect) return no(reject("invalid read from stack R{} off {}+{} size {}", regno, off, k, size));
      return no(reject("invalid read from stack off {}+{} size {}", off, k, size));
    }
    if (t == SlotType::Spill) {
      const StackSlot& slot = stack_slot(f, off + k);
      all_zero = all_zero && slot.spilled.type == RegType::Scalar && slot.spilled.var.is_const() &&
                 slot.spilled.var.const_value() == 0;
    } else {
      all_zero = all_zero && t == SlotType::Zero;
    }
  }
  return all_zero;
}

static BasicExpected<RegState, Reject> stack_read(Checker& c, State& s, const RegState& base, int regno, int off,
                                                  int size) {
  Frame& f = c.frame_of(s, base);
  if (!base.var.is_const()) {
    if (!c.env().privileged) return no(reject("R{} variable stack access prohibited for !root", regno));
    if (base.var.smax >= (int64_t{1} << 29) || base.var.smin <= -(int64_t{1} << 29))
      return no(reject("invalid unbounded variable-offset read from stack R{}", regno));
    const int64_t lo = off + base.var.smin, hi = off + base.var.smax;
    if (lo < -kStackSize || hi + size > 0)
      return no(reject("invalid variable-offset read from stack R{} var_off={} off={} size={}", regno,
                       tnum_text(base.var), off, size));
    c.trace().read_stack(base.frameno, lo, hi + size);
    // Reads count for the frame's size too (privileged programs may read
    // stack they never wrote: the kernel's grow_stack_state on reads).
    c.note_stack_access(f, lo);
    auto ok = stack_bytes_readable(c, f, static_cast<int>(lo), static_cast<int>(hi - lo) + size, false, regno);
    if (!ok) return no(ok.error());
    return RegState::scalar(loaded(size));
  }
  off += static_cast<int>(static_cast<int64_t>(base.var.const_value()));
  if (off < -kStackSize || off + size > 0) return no(stack_bounds(false, regno, off, size));
  if (off % size != 0)
    return no(reject("misaligned stack access off {}+{}+{} size {}", align_text(base.var), base.off,
                     off - base.off, size));
  c.trace().read_stack(base.frameno, off, off + size);
  c.note_stack_access(f, off);
  StackSlot& slot = stack_slot(f, off);
  if (slot.bytes[0] == SlotType::Spill) {
    if (size == 8) {
      c.trace().stack = StepTrace::Fill;
      c.trace().stack_frame = base.frameno;
      c.trace().slot = static_cast<uint8_t>((kStackSize + off) / 8);
      return slot.spilled;
    }
    if (slot.spilled.type != RegType::Scalar) return no(reject("invalid size of register fill"));
    return RegState::scalar(loaded(size));
  }
  auto zero = stack_bytes_readable(c, f, off, size, false, regno);
  if (!zero) return no(zero.error());
  return RegState::scalar(*zero ? Scalar::constant(0) : loaded(size));
}

// ---- bounded memory (map values, map keys, helper memory, packets) ----

// [reg.off + off + var, ... + size) inside [0, limit): the kernel's
// check_map_access / check_mem_region_access messages.
static VoidResult region_access(const RegState& r, int regno, int off, int size, uint64_t limit,
                                std::string_view what) {
  const int64_t base = int64_t{r.off} + off;
  if (r.var.smin + base < 0 && !r.var.is_const())
    return no(reject("R{} min value is negative, either use unsigned index or do a if (index >=0) check.", regno));
  if (r.var.umax >= (uint64_t{1} << 29))
    return no(reject("R{} unbounded memory access, make sure to bounds check any such access", regno));
  // The kernel checks the lowest and then the highest address, and names the
  // end that failed after the access itself.
  const int64_t lo = base + r.var.smin, hi = base + static_cast<int64_t>(r.var.umax);
  for (const auto& [at, end] : {std::pair{lo, "min"}, std::pair{hi, "max"}}) {
    if (at >= 0 && at + size <= static_cast<int64_t>(limit)) continue;
    const std::string access =
        what == "map value" ? fmt::format("invalid access to map value, value_size={} off={} size={}", limit, at, size)
                            : fmt::format("invalid access to {}, {}={} off={} size={}", what,
                                          what == "memory" ? "mem_size" : "key_size", limit, at, size);
    return no(reject("R{} {} value is outside of the allowed memory range ({})", regno, end, access));
  }
  return {};
}

// The value's `struct bpf_spin_lock` is only for bpf_spin_lock/unlock: no
// load, store or helper memory access may overlap it (check_map_access).
static VoidResult spin_lock_untouched(const RegState& r, int off, int size, bool direct) {
  const int32_t lock = r.map->spin_lock_off;
  if (lock < 0) return {};
  const int64_t lo = int64_t{r.off} + off + r.var.smin, hi = int64_t{r.off} + off + static_cast<int64_t>(r.var.umax);
  if (lo < lock + 4 && lock < hi + size)
    return no(reject("bpf_spin_lock cannot be accessed {}", direct ? "directly by load/store" : "indirectly by helper"));
  return {};
}

static VoidResult packet_access(const RegState& r, int regno, int off, int size) {
  if (r.var.smin < 0)
    return no(reject("R{} min value is negative, either use unsigned index or do a if (index >=0) check.", regno));
  const int64_t o = int64_t{r.off} + off;
  if (o < 0 || o + size > int64_t{r.range})
    return no(reject("R{} offset is outside of the packet (invalid access to packet, off={} size={}, R{}(id={},off={},r={}))",
                     regno, o, size, regno, r.id, r.off, r.range));
  return {};
}

// bpf_sock_is_valid_access / bpf_sock_common_is_valid_access: reads of
// struct bpf_sock through a socket pointer (a sock_common lacks type ..
// priority). The listed u32 fields allow narrow reads at their start (the
// addresses anywhere inside); dst_port is a __be16 (1 or 2 bytes inside it,
// or 4 at its start); every other field is read whole.
static bool sock_field_ok(RegType t, int off, int size) {
  using S = bpf_sock;
  auto at = [&](size_t o) { return off == static_cast<int>(o); };
  auto within = [&](size_t b, size_t len) { return off >= static_cast<int>(b) && off < static_cast<int>(b + len); };
  if (off < 0 || off >= static_cast<int>(sizeof(S)) || off % size != 0) return false;
  if (t == RegType::PtrToSockCommon && within(offsetof(S, type), offsetof(S, priority) + 4 - offsetof(S, type)))
    return false;
  const bool narrow = size <= 4 && (size & (size - 1)) == 0;
  if (at(offsetof(S, state)) || at(offsetof(S, family)) || at(offsetof(S, type)) || at(offsetof(S, protocol)) ||
      at(offsetof(S, src_port)) || at(offsetof(S, rx_queue_mapping)) || within(offsetof(S, src_ip4), 4) ||
      within(offsetof(S, src_ip6), 16) || within(offsetof(S, dst_ip4), 4) || within(offsetof(S, dst_ip6), 16))
    return narrow;
  if (within(offsetof(S, dst_port), 2)) return size == 4 || (narrow && size <= 2);
  if (within(offsetof(S, dst_port) + 2, 2)) return false;  // padding up to dst_ip4
  return size == 4;
}

static bool packet_writable(kabi::ProgType t) {
  using kabi::ProgType;
  return t == ProgType::Xdp || t == ProgType::SchedCls || t == ProgType::SchedAct || t == ProgType::LwtXmit ||
         t == ProgType::SkSkb;
}

// Checks one access through `base`; for reads returns the loaded register.
static BasicExpected<RegState, Reject> access(Checker& c, State& s, int regno, int off, int size, bool write,
                                              const RegState* value, bool value_is_zero) {
  const RegState base = s.cur().regs[regno];
  const Env& env = c.env();
  if (base.type == RegType::NotInit) return no(reject("R{} !read_ok", regno));
  if (base.maybe_null() || base.type == RegType::Scalar || base.type == RegType::PtrToPacketEnd ||
      base.type == RegType::ConstPtrToMap || base.type == RegType::PtrToFunc)
    return no(reject("R{} invalid mem access '{}'", regno, base.type_name()));
  if (write && value && value->type != RegType::Scalar && !env.privileged && base.type != RegType::PtrToStack)
    return no(reject("R{} leaks addr into {}", regno, base.type == RegType::PtrToMapValue ? "map" : "mem"));
  switch (base.type) {
    case RegType::PtrToStack: {
      if (write) {
        if (auto r = stack_write(c, s, base, regno, base.off + off, size, value, value_is_zero); !r) return no(r.error());
        return RegState{};
      }
      return stack_read(c, s, base, regno, base.off + off, size);
    }
    case RegType::PtrToCtx: {
      if (base.off != 0) return no(reject("dereference of modified ctx ptr R{} off={} disallowed", regno, base.off));
      if (!base.var.is_const() || base.var.const_value() != 0)
        return no(reject("variable ctx access var_off={} off={} size={}", tnum_text(base.var), off, size));
      auto t = context_access(env, off, size, write);
      if (!t) return no(reject("invalid bpf_context access off={} size={}", off, size));
      if (write) return RegState{};
      if (*t == RegType::Scalar) return RegState::scalar(loaded(size));
      RegState r;
      r.type = *t;
      r.var = Scalar::constant(0);
      return r;
    }
    case RegType::PtrToMapValue: {
      // An xskmap lookup gives the kernel's PTR_TO_XDP_SOCK: struct
      // bpf_xdp_sock, whose one field (queue_id) programs may read
      // (bpf_xdp_sock_is_valid_access).
      if (base.map->type == kabi::MapType::Xskmap) {
        if (write) return no(reject("R{} cannot write into xdp_sock", regno));
        if (base.off + off != 0 || size != 4 || !base.var.is_const() || base.var.const_value() != 0)
          return no(reject("R{} invalid xdp_sock access off={} size={}", regno, base.off + off, size));
      }
      if (write && (base.map->rdonly_prog || (base.flags & kRdonly)))
        return no(reject("write into map forbidden, value_size={} off={} size={}", base.map->value_size,
                         base.off + off, size));
      if (auto r = region_access(base, regno, off, size, base.map->value_size, "map value"); !r) return no(r.error());
      if (auto r = spin_lock_untouched(base, off, size, true); !r) return no(r.error());
      if (write) return RegState{};
      if (const auto& frozen = base.map->frozen_value; !frozen.empty() && base.var.is_const() &&
          (size == 1 || size == 2 || size == 4 || size == 8)) {
        const int64_t at = base.off + off + static_cast<int64_t>(base.var.const_value());
        if (at >= 0 && static_cast<uint64_t>(at) + static_cast<uint64_t>(size) <= frozen.size()) {
          uint64_t v = 0;
          std::memcpy(&v, frozen.data() + at, static_cast<size_t>(size));  // little-endian, as the target
          return RegState::scalar(Scalar::constant(v));
        }
      }
      return RegState::scalar(loaded(size));
    }
    case RegType::PtrToMapKey:
      if (write) return no(reject("write to change key R{} not allowed", regno));
      if (auto r = region_access(base, regno, off, size, base.map->key_size, "map key"); !r) return no(r.error());
      return RegState::scalar(loaded(size));
    case RegType::PtrToMem:
      if (write && (base.flags & kRdonly)) return no(reject("R{} cannot write into rdonly_mem", regno));
      if (auto r = region_access(base, regno, off, size, base.mem_size, "memory"); !r) return no(r.error());
      return write ? RegState{} : RegState::scalar(loaded(size));
    case RegType::PtrToPacket:
    case RegType::PtrToPacketMeta:
      if (write && !packet_writable(env.prog_type)) return no(reject("cannot write into packet"));
      if (auto r = packet_access(base, regno, off, size); !r) return no(r.error());
      return write ? RegState{} : RegState::scalar(loaded(size));
    case RegType::PtrToSockCommon:
    case RegType::PtrToSocket:  // no arithmetic on socket pointers: base.off is 0
      if (write) return no(reject("R{} cannot write into {}", regno, base.type_name()));
      if (!sock_field_ok(base.type, base.off + off, size))
        return no(reject("R{} invalid {} access off={} size={}", regno, base.type_name(), base.off + off, size));
      return RegState::scalar(loaded(size));
    default:
      return no(reject("R{} invalid mem access '{}'", regno, base.type_name()));
  }
}

// Unprivileged programs may not store a pointer where it can be read back as
// a number (is_pointer_value): the message names the stored register.
static BasicExpected<void, Reject> store_leak(const Env& env, const RegState& base, const RegState& value,
                                              int value_regno) {
  if (env.privileged || value.type == RegType::Scalar || base.maybe_null()) return {};
  const char* into = base.type == RegType::PtrToMapValue ? "map"
                     : base.type == RegType::PtrToCtx    ? "ctx"
                     : is_packet(base.type)              ? "packet"
                     : base.type == RegType::PtrToMem    ? "mem"
                                                         : nullptr;
  if (!into) return {};
  return no(reject("R{} leaks addr into {}", value_regno, into));
}

StepResult Checker::load_store(State& s, const Insn& i) {
  Frame& f = s.cur();
  const Form form = isa::info(i.op).form;
  const int size = access_size(i);
  const uint32_t next = i.pc + 1;
  if (form == Form::Load) {
    auto r = access(*this, s, i.src, i.off, size, false, nullptr, false);
    if (!r) return no(r.error());
    RegState v = *r;
    const bool sign = (isa::info(i.op).code & 0xe0) == 0x80;  // BPF_MEMSX
    if (sign && v.type == RegType::Scalar) v.var = sign_extend(v.var, static_cast<unsigned>(size * 8), false);
    s.cur().regs[i.dst] = v;
    return Step{Step::Next, next, {}, 0};
  }
  if (form == Form::StoreImm) {
    RegState v = RegState::scalar(Scalar::constant(static_cast<uint64_t>(static_cast<int64_t>(i.imm))));
    auto r = access(*this, s, i.dst, i.off, size, true, size == 8 ? &v : nullptr, i.imm == 0);
    if (!r) return no(r.error());
    return Step{Step::Next, next, {}, 0};
  }
  if (f.regs[i.src].type == RegType::NotInit) return no(reject("R{} !read_ok", i.src));
  if (form == Form::StoreReg) {
    if (auto r = store_leak(env(), f.regs[i.dst], f.regs[i.src], i.src); !r) return no(r.error());
  }
  const RegState v = f.regs[i.src];
  const bool zero = v.type == RegType::Scalar && v.var.is_const() && v.var.const_value() == 0;
  if (form == Form::StoreReg) {
    // Zero bytes read back as the constant 0, a fact the history cannot trace
    // (the kernel marks the register precise too).
    if (zero && size != 8 && f.regs[i.dst].type == RegType::PtrToStack) need_precise(i.src);
    auto r = access(*this, s, i.dst, i.off, size, true, &v, zero);
    if (!r) return no(r.error());
    return Step{Step::Next, next, {}, 0};
  }
  // Atomics: read-modify-write of an initialised location.
  const RegState base = f.regs[i.dst];
  if (base.type == RegType::PtrToCtx || is_packet(base.type) || base.type == RegType::PtrToSockCommon ||
      base.type == RegType::PtrToSocket)
    return no(reject("BPF_ATOMIC stores into R{} {} is not allowed", i.dst, base.type_name()));
  if (size != 4 && size != 8) return no(reject("invalid atomic operand size"));
  if (v.type != RegType::Scalar && !env().privileged) return no(reject("R{} leaks addr into mem", i.src));
  // Atomics are always strictly aligned (strict_alignment_once).
  const bool aligned = base.var.var.is_aligned(static_cast<uint64_t>(size)) && (base.off + i.off) % size == 0;
  if (!aligned && is_pointer(base.type) && !base.maybe_null()) {
    const char* desc = base.type == RegType::PtrToMapValue ? "value " : base.type == RegType::PtrToStack ? "stack " : "";
    return no(reject("misaligned {}access off {}+{}+{} size {}", desc, align_text(base.var), base.off, i.off, size));
  }
  // The old value is loaded without a destination register: for an
  // unprivileged program, a spilled pointer there would leak.
  if (!env().privileged && base.type == RegType::PtrToStack && base.var.is_const()) {
    const int off = base.off + i.off + static_cast<int>(static_cast<int64_t>(base.var.const_value()));
    Frame& bf = frame_of(s, base);
    if (off >= -kStackSize && off + size <= 0 && stack_byte(bf, off) == SlotType::Spill &&
        stack_slot(bf, off).spilled.type != RegType::Scalar)
      return no(reject("leaking pointer from stack off {}", off));
  }
  if (auto r = access(*this, s, i.dst, i.off, size, false, nullptr, false); !r) return no(r.error());
  if (auto r = access(*this, s, i.dst, i.off, size, true, nullptr, false); !r) return no(r.error());
  if (isa::is_cmpxchg(i.op)) {  // r0 is compared and receives the old value
    if (s.cur().regs[0].type == RegType::NotInit) return no(reject("R0 !read_ok"));
    s.cur().regs[0] = RegState::scalar(loaded(size));
  } else if (i.imm & isa::kAtomicFetch) {  // fetch (and xchg): src receives the old value
    s.cur().regs[i.src] = RegState::scalar(loaded(size));
  }
  return Step{Step::Next, next, {}, 0};
}

BasicExpected<void, Reject> Checker::check_helper_mem(State& s, int regno, int64_t size, bool write, bool zero_ok) {
  const RegState r = s.cur().regs[regno];
  if (size == 0 && zero_ok) return {};
  if (size <= 0) return no(reject("invalid zero-sized read"));
  const int sz = static_cast<int>(size);
  switch (r.type) {
    case RegType::PtrToStack: {
      Frame& f = frame_of(s, r);
      if (!r.var.is_const()) {
        if (!env().privileged) return no(reject("R{} variable stack access prohibited for !root", regno));
        const int64_t lo = r.off + r.var.smin, hi = r.off + r.var.smax;
        if (lo < -kStackSize || hi + size > 0)
          return no(reject("invalid variable-offset indirect access to stack R{} var_off={} off={} size={}", regno,
                           tnum_text(r.var), r.off, size));
        note_stack_access(f, lo);
        if (!write) trace().read_stack(r.frameno, lo, hi + sz);
        if (write) scrub(f, static_cast<int>(lo), static_cast<int>(hi - lo) + sz, SlotType::Misc);
        else if (auto ok = stack_bytes_readable(*this, f, static_cast<int>(lo), static_cast<int>(hi - lo) + sz, true, regno); !ok)
          return no(ok.error());
        f.stack_depth = std::max<int32_t>(f.stack_depth, static_cast<int32_t>(-lo));
        return {};
      }
      const int off = r.off + static_cast<int>(static_cast<int64_t>(r.var.const_value()));
      if (off < -kStackSize || off + size > 0) return no(stack_bounds(write, regno, off, static_cast<int>(size)));
      note_stack_access(f, off);
      if (write) {
        f.stack_depth = std::max<int32_t>(f.stack_depth, -off);
        scrub(f, off, sz, SlotType::Misc);
        return {};
      }
      trace().read_stack(r.frameno, off, off + sz);
      auto ok = stack_bytes_readable(*this, f, off, sz, true, regno);
      if (!ok) return no(ok.error());
      f.stack_depth = std::max<int32_t>(f.stack_depth, -off);
      return {};
    }
    case RegType::PtrToMapValue:
      if (write && r.map->rdonly_prog) return no(reject("write into map forbidden, value_size={} off={} size={}",
                                                        r.map->value_size, r.off, size));
      if (auto a = region_access(r, regno, 0, sz, r.map->value_size, "map value"); !a) return a;
      return spin_lock_untouched(r, 0, sz, false);
    case RegType::PtrToMapKey:
      if (write) return no(reject("R{} cannot write into map_key", regno));
      return region_access(r, regno, 0, sz, r.map->key_size, "map key");
    case RegType::PtrToMem:
      return region_access(r, regno, 0, sz, r.mem_size, "memory");
    case RegType::PtrToPacket:
    case RegType::PtrToPacketMeta:
      if (write && !packet_writable(env().prog_type)) return no(reject("cannot write into packet"));
      return packet_access(r, regno, 0, sz);
    default:
      return no(reject("R{} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem", regno, r.type_name()));
  }
}

StepResult Checker::load_imm64(State& s, const Insn& i) {
  RegState& d = s.cur().regs[i.dst];
  const uint32_t next = i.pc + 2;
  switch (i.op) {
    case Op::LDDW:
      d = RegState::scalar(Scalar::constant(static_cast<uint64_t>(i.imm64)));
      break;
    case Op::LDDW_MAP_IDX:
    case Op::LDDW_MAP_IDX_VALUE: {
      // verify() checked every map reference before the first visit
      // (check_map_reference: index, second slot, program type, offset).
      const auto idx = static_cast<uint32_t>(i.imm);
      // (Kept as a second guard: an index past env().maps would be read
      // out of bounds, and a rejection costs nothing here.)
      if (idx >= env().maps.size()) return no(reject("fd {} is not pointing to valid bpf_map", i.imm));
      const MapDesc& m = env().maps[idx];
      d = RegState{};
      d.map = &m;
      d.var = Scalar::constant(0);
      if (i.op == Op::LDDW_MAP_IDX) {
        d.type = RegType::ConstPtrToMap;
        break;
      }
      d.type = RegType::PtrToMapValue;
      d.off = static_cast<int32_t>(static_cast<uint64_t>(i.imm64) >> 32);
      break;
    }
    case Op::LDDW_FUNC:
      if (!env().func_info) return no(reject("missing btf func_info"));
      d = RegState{};
      d.type = RegType::PtrToFunc;
      d.var = Scalar::constant(0);
      d.subprog = static_cast<uint32_t>(i.target());
      break;
    case Op::LDDW_MAP_FD:
    case Op::LDDW_MAP_VALUE:
      return no(reject("fd {} is not pointing to valid bpf_map", i.imm));
    default:
      return no(reject("unsupported 64-bit immediate load (src {}): BTF ids are not resolved by xbpf yet", i.src));
  }
  return Step{Step::Next, next, {}, 0};
}

StepResult Checker::legacy_packet_load(State& s, const Insn& i) {
  using kabi::ProgType;
  const ProgType t = env().prog_type;
  if (t != ProgType::SocketFilter && t != ProgType::SchedCls && t != ProgType::SchedAct)
    return no(reject("BPF_LD_[ABS|IND] instructions not allowed for this program type"));
  Frame& f = s.cur();
  if (f.regs[6].type == RegType::NotInit) return no(reject("R6 !read_ok"));
  if (s.lock_map) return no(reject("BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region"));
  if (!s.refs.empty()) return no(reject("BPF_LD_[ABS|IND] would lead to reference leak"));
  if (f.regs[6].type != RegType::PtrToCtx) return no(reject("at the time of BPF_LD_ABS|IND R6 != pointer to skb"));
  // The index register is only read (the kernel does not type it).
  if (isa::info(i.op).form == Form::LoadInd && f.regs[i.src].type == RegType::NotInit)
    return no(reject("R{} !read_ok", i.src));
  for (int r = 1; r <= 5; ++r) f.regs[r] = RegState{};
  f.regs[0] = RegState::scalar(loaded(access_size(i)));
  return Step{Step::Next, i.pc + 1, {}, 0};
}

}  // namespace xbpf::verifier::detail
