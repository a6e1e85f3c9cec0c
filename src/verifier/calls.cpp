// Calls and exits: helper calls checked against the helper table's
// prototypes (argument types, map compatibility, memory sizes, references),
// bpf-to-bpf calls with a frame each, callbacks (bpf_loop,
// bpf_for_each_map_elem), and the exit
// rules of subprograms, callbacks and the main program.
#include <algorithm>

#include "verifier/checker.hpp"

namespace xbpf::verifier::detail {
namespace {

using helpers::Arg;
using helpers::HelperSpec;
using helpers::Ret;
using isa::Insn;
using kabi::MapType;

using VoidResult = BasicExpected<void, Reject>;
Unexpected<Reject> no(Reject r) { return Unexpected<Reject>(std::move(r)); }

constexpr uint32_t kTailCall = 12;
constexpr uint32_t kLoop = 181;
constexpr uint32_t kForEachMapElem = 164;

// Maps with a for-each callback (the kernel's map_set_for_each_callback_args).
bool has_for_each(MapType t) {
  return t == MapType::Array || t == MapType::PercpuArray || t == MapType::Hash || t == MapType::PercpuHash ||
         t == MapType::LruHash || t == MapType::LruPercpuHash;
}

bool is_size_arg(Arg a) {
  return a == Arg::ConstSize || a == Arg::ConstSizeOrZero || a == Arg::ConstAllocSizeOrZero;
}

// check_map_func_compatibility, the pairs xbpf knows.
VoidResult map_compatible(const MapDesc& m, const HelperSpec& h) {
  const std::string_view n = h.name;
  const bool ringbuf_fn = n.starts_with("ringbuf_");
  const bool generic = n == "map_lookup_elem" || n == "map_update_elem" || n == "map_delete_elem";
  bool ok = true;
  switch (m.type) {
    case MapType::Ringbuf: ok = ringbuf_fn; break;
    case MapType::PerfEventArray: ok = n == "perf_event_output" || n == "perf_event_read" ||
                                       n == "perf_event_read_value" || n == "skb_output" || n == "xdp_output";
      break;
    case MapType::ProgArray: ok = h.id == kTailCall; break;
    case MapType::StackTrace: ok = n == "get_stackid"; break;
    case MapType::Queue: case MapType::Stack: ok = n == "map_push_elem" || n == "map_pop_elem" || n == "map_peek_elem"; break;
    case MapType::BloomFilter: ok = n == "map_push_elem" || n == "map_peek_elem"; break;
    case MapType::ArrayOfMaps: case MapType::HashOfMaps: ok = n == "map_lookup_elem"; break;
    // A devmap lookup reads the entry's struct bpf_devmap_val; an xskmap
    // lookup gives the socket; a cpumap is for redirects only.
    case MapType::Devmap: case MapType::DevmapHash: case MapType::Xskmap:
      ok = n == "redirect_map" || n == "map_lookup_elem"; break;
    case MapType::Cpumap: ok = n == "redirect_map"; break;
    case MapType::Sockmap:
      ok = n == "sk_redirect_map" || n == "msg_redirect_map" || n == "sock_map_update" || n == "sk_select_reuseport" ||
           generic;
      break;
    case MapType::Sockhash:
      ok = n == "sk_redirect_hash" || n == "msg_redirect_hash" || n == "sock_hash_update" ||
           n == "sk_select_reuseport" || generic;
      break;
    case MapType::ReuseportSockarray: ok = n == "sk_select_reuseport" || generic; break;
    case MapType::CgroupArray: ok = n == "skb_under_cgroup" || n == "current_task_under_cgroup"; break;
    case MapType::CgroupStorage: case MapType::PercpuCgroupStorage: ok = n == "get_local_storage"; break;
    default: {
      static constexpr std::string_view kTyped[] = {
          "perf_event_output", "perf_event_read", "perf_event_read_value", "get_stackid", "redirect_map",
          "sk_redirect_map", "msg_redirect_map", "sock_map_update", "sk_redirect_hash", "msg_redirect_hash",
          "sock_hash_update", "sk_select_reuseport", "skb_under_cgroup", "current_task_under_cgroup",
          "get_local_storage", "map_push_elem", "map_pop_elem", "map_peek_elem"};
      ok = !ringbuf_fn && h.id != kTailCall;
      for (std::string_view t : kTyped) ok = ok && n != t;
    }
  }
  if (h.id == kTailCall && m.type != MapType::ProgArray) return no(reject("expected prog array map for tail call"));
  if (!ok)
    return no(reject("cannot pass map_type {} into func bpf_{}#{}", static_cast<uint32_t>(m.type), n, h.id));
  return {};
}

// The id of an acquired reference, numbered as the kernel's: check_helper_call
// gives the maybe-NULL pointer an id, then acquire_reference a second one that
// replaces it ("Unreleased reference id=2" for a program's first reference).
uint32_t acquire_id(Checker& c) {
  c.new_id();
  return c.new_id();
}

std::string range_text(const Scalar& v) {
  if (v.is_const()) return fmt::format("{}", static_cast<int64_t>(v.const_value()));
  return fmt::format("smin={} smax={}", v.smin, v.smax);
}

}  // namespace

static VoidResult check_arg(Checker& c, State& s, const HelperSpec& h, int argno, const MapDesc*& map,
                            uint32_t& release_ref, uint32_t& callback) {
  const Arg a = h.args[argno];
  const int regno = argno + 1;
  Frame& f = s.cur();
  const RegState& r = f.regs[regno];
  if (r.type == RegType::NotInit) return no(reject("R{} !read_ok", regno));
  auto expected = [&](std::string_view what) {
    return no(reject("R{} type={} expected={}", regno, r.type_name(), what));
  };
  switch (a) {
    case Arg::DontCare:
      return {};
    case Arg::Anything:  // a pointer would reach the helper as a number
      if (r.type != RegType::Scalar && !c.env().privileged) return no(reject("R{} leaks addr into helper function", regno));
      return {};
    case Arg::ConstMapPtr:
      if (r.type != RegType::ConstPtrToMap) return expected("map_ptr");
      map = r.map;
      return {};  // compatibility is checked after every argument, as the kernel does
    case Arg::PtrToMapKey: case Arg::PtrToMapValue: case Arg::PtrToUninitMapValue: {
      if (!map) return no(reject("invalid map_ptr to access map->{}", a == Arg::PtrToMapKey ? "key" : "value"));
      const uint32_t size = a == Arg::PtrToMapKey ? map->key_size : map->value_size;
      return c.check_helper_mem(s, regno, size, a == Arg::PtrToUninitMapValue, false);
    }
    case Arg::PtrToMem: case Arg::PtrToMemOrNull: case Arg::PtrToUninitMem: {
      if (a == Arg::PtrToMemOrNull && r.type == RegType::Scalar) c.need_precise(regno);  // NULL or not
      if (a == Arg::PtrToMemOrNull && r.type == RegType::Scalar && r.var.is_const() && r.var.const_value() == 0)
        return {};
      if (argno + 1 >= 5 || !is_size_arg(h.args[argno + 1])) return no(reject("arg {} has no size argument", regno));
      const RegState& sz = f.regs[regno + 1];
      if (sz.type != RegType::Scalar) return no(reject("R{} type={} expected=scalar", regno + 1, sz.type_name()));
      c.need_precise(regno + 1);  // the size decides the access
      if (sz.var.smin < 0)
        return no(reject("R{} min value is negative, either use unsigned or 'var &= const'", regno + 1));
      if (sz.var.umax >= (uint64_t{1} << 29))
        return no(reject("R{} unbounded memory access, use 'var &= const' or 'if (var < const)'", regno + 1));
      const bool zero_ok = h.args[argno + 1] != Arg::ConstSize;
      if (sz.var.umin == 0 && !zero_ok) return no(reject("R{} invalid zero-sized read", regno + 1));
      return c.check_helper_mem(s, regno, static_cast<int64_t>(sz.var.umax), a == Arg::PtrToUninitMem,
                                zero_ok && sz.var.umax == 0);
    }
    case Arg::ConstSize: case Arg::ConstSizeOrZero:
      if (r.type != RegType::Scalar) return expected("scalar");
      return {};
    case Arg::ConstAllocSizeOrZero:
      if (r.type != RegType::Scalar) return expected("scalar");
      c.need_precise(regno);
      if (!r.var.is_const()) return no(reject("R{} is not a known constant'", regno));
      return {};
    case Arg::PtrToCtx:
      if (r.type != RegType::PtrToCtx) return expected("ctx");
      if (r.off != 0) return no(reject("dereference of modified ctx ptr R{} off={} disallowed", regno, r.off));
      return {};
    case Arg::PtrToSpinLock: {
      // The kernel's process_spin_lock: a map value pointer at the constant
      // offset of the value's `struct bpf_spin_lock`.
      if (r.type != RegType::PtrToMapValue) return expected("map_value");
      if (!r.var.is_const())
        return no(reject("R{} doesn't have constant offset. bpf_spin_lock has to be at the constant offset", regno));
      if (!r.map->has_btf) return no(reject("map '{}' has to have BTF in order to use bpf_spin_lock", r.map->name));
      if (r.map->spin_lock_off < 0) return no(reject("map '{}' has no valid bpf_spin_lock", r.map->name));
      const int64_t at = r.off + static_cast<int64_t>(r.var.const_value());
      if (at != r.map->spin_lock_off)
        return no(reject("off {} doesn't point to 'struct bpf_spin_lock' that is at {}", at, r.map->spin_lock_off));
      return {};
    }
    case Arg::PtrToFunc:
      if (r.type != RegType::PtrToFunc) return expected("func");
      callback = r.subprog;
      return {};
    case Arg::PtrToStackOrNull:
      if (r.type == RegType::Scalar) c.need_precise(regno);
      if (r.type == RegType::Scalar && r.var.is_const() && r.var.const_value() == 0) return {};
      if (r.type != RegType::PtrToStack) return expected("fp");
      return {};
    case Arg::PtrToConstStr:
      if (r.type != RegType::PtrToMapValue || !r.map->rdonly_prog)
        return no(reject("R{} does not point to a readonly map'", regno));
      return {};
    case Arg::PtrToLong:
      return c.check_helper_mem(s, regno, 8, true, false);
    case Arg::PtrToAllocMem:
      if (r.type != RegType::PtrToMem || !(r.flags & kRingbuf) || r.maybe_null()) return expected("ringbuf_mem");
      if (r.off != 0 || !r.var.is_const() || r.var.const_value() != 0)
        return no(reject("R{} must have zero offset when passed to release func", regno));
      if (!r.ref_obj_id) return no(reject("release reference to an unacquired object"));
      release_ref = r.ref_obj_id;
      return {};
    case Arg::PtrToCtxOrNull:
      if (r.type == RegType::Scalar) c.need_precise(regno);  // NULL or not
      if (r.type == RegType::Scalar && r.var.is_const() && r.var.const_value() == 0) return {};
      if (r.type != RegType::PtrToCtx) return expected("ctx");
      if (r.off != 0) return no(reject("dereference of modified ctx ptr R{} off={} disallowed", regno, r.off));
      return {};
    case Arg::PtrToSockArg: case Arg::PtrToSockRelease:
      // sk_assign's sk_lookup form takes ARG_PTR_TO_SOCKET_OR_NULL (ctx->sk), not tracked yet.
      if (c.env().prog_type == kabi::ProgType::SkLookup)
        return no(reject("bpf_{} in sk_lookup programs is not supported by xbpf's verifier yet", h.name));
      if ((r.type != RegType::PtrToSockCommon && r.type != RegType::PtrToSocket) || r.maybe_null())
        return expected("sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_");
      if (a == Arg::PtrToSockArg) return {};
      if (!r.ref_obj_id) return no(reject("R{} must be referenced when passed to release function", regno));
      release_ref = r.ref_obj_id;
      return {};
  }
  return {};
}

// A map reached through a map-in-map lookup is only the inner template: the
// real map differs per lookup, so such calls are never bound to one map.
// Helpers bpf_base_func_proto offers only with CAP_BPF or CAP_PERFMON:
// refused to unprivileged programs whatever their type allows.
static bool needs_capability(uint32_t id) {
  static constexpr uint32_t kIds[] = {
      6,   16,  35,  80,  81,  93,  94,  112, 113, 114, 115, 118, 149, 153, 154, 158, 164, 165, 169, 170,
      171, 172, 175, 177, 181, 194, 197, 198, 199, 200, 201, 202, 203, 209, 210, 211};
  return std::find(std::begin(kIds), std::end(kIds), id) != std::end(kIds);
}

void Checker::record_call_map(uint32_t pc, const MapDesc& map) {
  const auto idx = static_cast<int32_t>(&map - env().maps.data());
  bool inner = false;
  for (const MapDesc& m : env().maps) inner = inner || m.inner == idx;
  if (call_maps_.size() <= pc) call_maps_.resize(pc + 1, kUnseen);
  int32_t& seen = call_maps_[pc];
  if (inner) seen = kPoisoned;
  else if (seen == kUnseen) seen = idx;
  else if (seen != idx) seen = kPoisoned;
}

StepResult Checker::call_helper(State& s, const Insn& i) {
  const auto id = static_cast<uint32_t>(i.imm);
  const HelperSpec* h = helpers_.find(id);
  if (!h) return no(reject("invalid func unknown#{}", id));
  if (!helpers_.allowed(id, env().prog_type) || (!env().privileged && needs_capability(id)))
    return no(reject("program of this type cannot use helper bpf_{}#{}", h->name, id));
  // While a bpf_spin_lock is held only its unlock may be called: a helper
  // that sleeps, loops or calls back could hold it for ever.
  constexpr uint32_t kSpinLock = 93, kSpinUnlock = 94;
  if (s.lock_map && id != kSpinUnlock) return no(reject("function calls are not allowed while holding a lock"));
  const MapDesc* map = nullptr;
  uint32_t release = 0, callback = UINT32_MAX;
  for (int k = 0; k < 5; ++k) {
    if (h->args[k] == Arg::DontCare) break;
    if (auto r = check_arg(*this, s, *h, k, map, release, callback); !r) return no(r.error());
  }
  // record_func_map, before the compatibility check: the helpers that
  // change a map are refused on a BPF_F_RDONLY_PROG one (.rodata, devmaps).
  if (map && map->rdonly_prog &&
      (h->name == std::string_view("map_update_elem") || h->name == std::string_view("map_delete_elem") ||
       h->name == std::string_view("map_push_elem") || h->name == std::string_view("map_pop_elem")))
    return no(reject("write into map forbidden"));
  // The kernel sets up a callback before it checks the map's compatibility.
  if (id == kForEachMapElem && map && !has_for_each(map->type))
    return no(reject("callback function not allowed for map"));
  if (map) {
    if (auto r = map_compatible(*map, *h); !r) return no(r.error());
    record_call_map(i.pc, *map);
  }
  if (id == kSpinLock || id == kSpinUnlock) {
    const RegState& lock = s.cur().regs[1];
    if (id == kSpinLock) {
      s.lock_map = lock.map, s.lock_id = lock.id;
    } else {
      if (!s.lock_map) return no(reject("bpf_spin_unlock without taking a lock"));
      if (s.lock_map != lock.map || s.lock_id != lock.id) return no(reject("bpf_spin_unlock of different lock"));
      s.lock_map = nullptr, s.lock_id = 0;
    }
  }
  if (id == kTailCall && !s.refs.empty()) return no(reject("tail_call would lead to reference leak"));
  if (id == kTailCall && s.cur().subprog != 0 && !env().func_info)
    return no(reject("tail_call is not allowed in subprogs without BTF"));
  if (callback != UINT32_MAX) {
    if (id != kLoop && id != kForEachMapElem)
      return no(reject("callback helper bpf_{} is not supported by xbpf's verifier yet", h->name));
    if (s.frames.size() >= kMaxCallFrames)
      return no(reject("the call stack of {} frames is too deep !", s.frames.size() + 1));
    // Fork: the loop runs zero times (continue below), or once more (enter the
    // callback; its exit comes back to this call, which forks again).
    State enter = s;
    Frame cb;
    cb.callsite = i.pc;
    cb.callback = true;
    cb.subprog = callback;
    if (id == kLoop) {
      // long callback(u64 index, void *ctx)
      cb.regs[1] = RegState::scalar(verifier::alu(AluOp::Mov, Scalar::unknown(), Scalar::unknown(), true));
      cb.regs[2] = s.cur().regs[3];
    } else {
      // long callback(struct bpf_map *map, const void *key, void *value, void *ctx)
      // (the kernel's set_map_elem_callback_state), typed by this path's map:
      // two maps at one call site are fine, each path verifies it for its own.
      auto map_reg = [&](RegType t) {
        RegState r;
        r.type = t;
        r.var = Scalar::constant(0);
        r.map = map;
        return r;
      };
      cb.regs[1] = map_reg(RegType::ConstPtrToMap);
      cb.regs[2] = map_reg(RegType::PtrToMapKey);
      cb.regs[3] = map_reg(RegType::PtrToMapValue);
      cb.regs[4] = s.cur().regs[3];
    }
    cb.regs[10].type = RegType::PtrToStack;
    cb.regs[10].var = Scalar::constant(0);
    cb.regs[10].frameno = static_cast<uint8_t>(s.frames.size());
    enter.frames.push_back(cb);
    ++enter.callback_entries;
    Frame& f = s.cur();
    for (int r = 1; r <= 5; ++r) f.regs[r] = RegState{};
    f.regs[0] = RegState::unknown();
    return Step{Step::Fork, i.pc + 1, std::move(enter), callback};
  }
  // A helper that may move or resize the packet invalidates every packet
  // pointer, in every frame and spill slot (the kernel's clear_all_pkt_pointers).
  if (helpers::changes_packet_data(id)) {
    for_each_reg(s, [&](RegState& r) {
      if (is_packet(r.type) || r.type == RegType::PtrToPacketEnd)
        r = env().privileged ? RegState::unknown() : RegState{};
    });
  }
  if (release) {
    std::erase_if(s.refs, [&](const Reference& x) { return x.id == release; });
    for_each_reg(s, [&](RegState& r) {
      if (r.ref_obj_id == release) r = env().privileged ? RegState::unknown() : RegState{};
    });
  }
  Frame& f = s.cur();
  const RegState size_arg = f.regs[1 + 1];
  for (int r = 1; r <= 5; ++r) f.regs[r] = RegState{};
  RegState& r0 = f.regs[0];
  switch (h->ret) {
    case Ret::Integer: r0 = RegState::unknown(); break;
    case Ret::Void: r0 = RegState{}; break;
    case Ret::PtrToMapValueOrNull: {
      if (!map) return no(reject("kernel subsystem misconfigured verifier: no map for bpf_{}", h->name));
      r0 = RegState{};
      r0.var = Scalar::constant(0);
      r0.id = new_id();
      r0.flags = kMaybeNull;
      if (map->inner >= 0) {
        r0.type = RegType::ConstPtrToMap;
        r0.map = &env().maps[static_cast<size_t>(map->inner)];
      } else {
        r0.type = RegType::PtrToMapValue;
        r0.map = map;
      }
      break;
    }
    case Ret::PtrToAllocMemOrNull: {
      r0 = RegState{};
      r0.type = RegType::PtrToMem;
      r0.var = Scalar::constant(0);
      r0.flags = kMaybeNull | kRingbuf;
      r0.mem_size = static_cast<uint32_t>(size_arg.var.const_value());
      r0.id = acquire_id(*this);
      r0.ref_obj_id = r0.id;
      s.refs.push_back(Reference{r0.id, i.pc});
      break;
    }
    case Ret::AcquiredSocketOrNull: case Ret::AcquiredSockCommonOrNull: {
      r0 = RegState{};
      r0.type = h->ret == Ret::AcquiredSocketOrNull ? RegType::PtrToSocket : RegType::PtrToSockCommon;
      r0.var = Scalar::constant(0);
      r0.flags = kMaybeNull;
      r0.id = acquire_id(*this);
      r0.ref_obj_id = r0.id;
      s.refs.push_back(Reference{r0.id, i.pc});
      break;
    }
  }
  return Step{Step::Next, i.pc + 1, {}, 0};
}

StepResult Checker::call_local(State& s, const Insn& i) {
  if (s.frames.size() >= kMaxCallFrames)
    return no(reject("the call stack of {} frames is too deep !", s.frames.size() + 1));
  Frame callee;
  callee.callsite = i.pc;
  callee.subprog = static_cast<uint32_t>(i.target());
  for (int r = 1; r <= 5; ++r) callee.regs[r] = s.cur().regs[r];
  callee.regs[10].type = RegType::PtrToStack;
  callee.regs[10].var = Scalar::constant(0);
  callee.regs[10].frameno = static_cast<uint8_t>(s.frames.size());
  s.frames.push_back(callee);
  return Step{Step::Next, static_cast<uint32_t>(i.target()), {}, 0};
}

StepResult Checker::exit(State& s, const Insn& i) {
  if (s.lock_map && s.frames.size() == 1)
    return no(reject("BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region"));
  Frame& f = s.cur();
  const RegState r0 = f.regs[0];
  // The program and a callback must return a value. A subprogram need not:
  // prepare_func_exit hands its R0, uninitialized or not, to the caller,
  // where reading it is refused.
  if (r0.type == RegType::NotInit && (s.frames.size() == 1 || f.callback)) return no(reject("R0 !read_ok"));
  if (s.frames.size() > 1) {
    const auto depth = static_cast<uint8_t>(s.frames.size() - 1);
    if (r0.type == RegType::PtrToStack && r0.frameno == depth)
      return no(reject("cannot return stack pointer to the caller"));
    const bool callback = f.callback;
    const uint32_t callsite = f.callsite;
    if (callback) {
      trace().callback_exit = true;
      if (r0.type == RegType::Scalar) need_precise(0);
      if (r0.type != RegType::Scalar || r0.var.smin < 0 || r0.var.smax > 1)
        return no(reject("At callback return the register R0 has {} should have been in [0, 1]",
                         r0.type == RegType::Scalar ? range_text(r0.var) : r0.type_name()));
    }
    s.frames.pop_back();
    // Nothing may keep pointing into the frame that just ended.
    for_each_reg(s, [&](RegState& r) {
      if (r.type == RegType::PtrToStack && r.frameno >= depth) r = RegState{};
    });
    if (callback) return Step{Step::Next, callsite, {}, 0};  // the helper call runs again: next iteration or done
    Frame& caller = s.cur();
    for (int r = 1; r <= 5; ++r) caller.regs[r] = RegState{};
    caller.regs[0] = r0;
    return Step{Step::Next, callsite + 1, {}, 0};
  }
  if (r0.type != RegType::Scalar) {
    if (!env().privileged) return no(reject("R0 leaks addr as return value"));
  }
  if (!s.refs.empty())
    return no(reject("Unreleased reference id={} alloc_insn={}", s.refs.front().id, s.refs.front().insn));
  using kabi::ProgType;
  const ProgType t = env().prog_type;
  if (t == ProgType::CgroupSkb || t == ProgType::SockOps || t == ProgType::CgroupSock ||
      t == ProgType::CgroupDevice || t == ProgType::CgroupSysctl || t == ProgType::CgroupSockopt ||
      t == ProgType::CgroupSockAddr) {
    if (r0.type != RegType::Scalar)
      return no(reject("At program exit the register R0 is not a known value ({})", r0.type_name()));
    need_precise(0);
    if (r0.var.smin < 0 || r0.var.smax > 1)
      return no(reject("At program exit the register R0 has {} should have been in [0, 1]", range_text(r0.var)));
  }
  (void)i;
  return Step{Step::End, 0, {}, 0};
}

}  // namespace xbpf::verifier::detail
