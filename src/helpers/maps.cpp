// Map helpers, spin locks and bpf_loop: the helpers that reach into map
// storage or back into the program.
#include <cerrno>
#include <sched.h>

#include <vector>

#include "helpers/impl.hpp"

namespace xbpf::helpers {

void grant(vm::ExecContext* c, const void* p, uint64_t size, bool writable) {
  RunState* s = state(c);
  if (!s || !p || (c->program && c->program->mode() == vm::Mode::Verified)) return;
  const uint64_t b = reinterpret_cast<uint64_t>(p);
  // Values are stable: one grant each, none when a region (an array's whole
  // storage, say) already covers it with the same permission.
  for (const vm::Region& r : s->regions)
    if (b >= r.begin && size <= r.size && b - r.begin <= r.size - size && (r.writable || !writable)) return;
  s->regions.push_back(vm::Region{b, size, writable});
  c->regions = s->regions;
}

const MapRef* map_ref(vm::ExecContext* c, uint64_t r) {
  RunState* s = state(c);
  if (!s) return nullptr;
  for (const MapRef& m : s->maps)
    if (reinterpret_cast<uint64_t>(m.map) == r) return &m;
  return nullptr;
}

maps::Map* map_arg(vm::ExecContext* c, uint64_t r) {
  if (r == 0) return nullptr;
  // Verified programs pass only real map pointers (the verifier proved it).
  if (c->program && c->program->mode() == vm::Mode::Verified) return reinterpret_cast<maps::Map*>(r);
  const MapRef* m = map_ref(c, r);
  return m ? m->map : nullptr;
}

namespace impl {
namespace {
bool readable(vm::ExecContext* c, uint64_t p, uint64_t n) { return vm::helper_access_ok(*c, p, n, false); }
bool writable(vm::ExecContext* c, uint64_t p, uint64_t n) { return vm::helper_access_ok(*c, p, n, true); }
void* ptr(uint64_t v) { return reinterpret_cast<void*>(v); }

// Grants the value a lookup returned; inner maps of map-in-map become
// nameable maps instead (programs pass them on, never dereference them).
// Verified programs skip all of it (the common, fast path).
uint64_t returned_value(vm::ExecContext* c, uint64_t map, maps::Map* m, void* v) {
  if (!v || (c->program && c->program->mode() == vm::Mode::Verified)) return reinterpret_cast<uint64_t>(v);
  if (kabi::is_map_in_map(m->type())) {
    if (RunState* s = state(c); s && !map_ref(c, reinterpret_cast<uint64_t>(v)))
      s->maps.push_back(MapRef{static_cast<maps::Map*>(v), false});
    return reinterpret_cast<uint64_t>(v);
  }
  const MapRef* ref = map_ref(c, map);
  grant(c, v, m->value_size(), !(ref && ref->rdonly_prog));
  return reinterpret_cast<uint64_t>(v);
}
}  // namespace

XBPF_HELPER(map_lookup_elem) {
  (void)r3, (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m || !readable(c, r2, m->key_size())) return 0;
  return returned_value(c, r1, m, m->lookup_elem(ptr(r2)));
}

XBPF_HELPER(map_lookup_percpu_elem) {
  (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m || !readable(c, r2, m->key_size())) return 0;
  return returned_value(c, r1, m, m->lookup_percpu_elem(ptr(r2), uint32_t(r3)));
}

XBPF_HELPER(map_update_elem) {
  (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  if (!readable(c, r2, m->key_size()) || !readable(c, r3, m->value_size())) return uint64_t(-EFAULT);
  return uint64_t(m->update_elem(ptr(r2), ptr(r3), r4));
}

XBPF_HELPER(map_delete_elem) {
  (void)r3, (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  if (!readable(c, r2, m->key_size())) return uint64_t(-EFAULT);
  return uint64_t(m->delete_elem(ptr(r2)));
}

XBPF_HELPER(map_push_elem) {
  (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  if (!readable(c, r2, m->value_size())) return uint64_t(-EFAULT);
  return uint64_t(m->push_elem(ptr(r2), r3));
}

XBPF_HELPER(map_pop_elem) {
  (void)r3, (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  if (!writable(c, r2, m->value_size())) return uint64_t(-EFAULT);
  return uint64_t(m->pop_elem(ptr(r2)));
}

XBPF_HELPER(map_peek_elem) {
  (void)r3, (void)r4, (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  // A bloom filter's peek reads the value (membership test); others write it.
  const bool bloom = m->type() == kabi::MapType::BloomFilter;
  if (!(bloom ? readable(c, r2, m->value_size()) : writable(c, r2, m->value_size()))) return uint64_t(-EFAULT);
  return uint64_t(m->peek_elem(ptr(r2)));
}

// struct bpf_spin_lock { __u32 val; }: a test-and-set lock in the map value,
// shared with other processes mapping the same storage.
XBPF_HELPER(spin_lock) {
  (void)r2, (void)r3, (void)r4, (void)r5;
  if (r1 % 4 != 0 || !writable(c, r1, 4)) return 0;
  auto* v = static_cast<uint32_t*>(ptr(r1));
  while (__atomic_exchange_n(v, 1U, __ATOMIC_ACQUIRE) != 0) {
    while (__atomic_load_n(v, __ATOMIC_RELAXED) != 0) sched_yield();
  }
  return 0;
}

XBPF_HELPER(spin_unlock) {
  (void)r2, (void)r3, (void)r4, (void)r5;
  if (r1 % 4 != 0 || !writable(c, r1, 4)) return 0;
  __atomic_store_n(static_cast<uint32_t*>(ptr(r1)), 0U, __ATOMIC_RELEASE);
  return 0;
}

// The checked-mode bracket of a helper that calls back into the program
// (bpf_loop, bpf_for_each_map_elem): the caller's stack (where callback_ctx
// usually points) is granted for the helper's duration, each callback's
// instructions come off the caller's budget, and the regions and the budget
// are put back when the helper returns. Verified programs skip all of it.
class CallbackScope {
 public:
  explicit CallbackScope(vm::ExecContext* c)
      : c_(c),
        s_(state(c)),
        checked_(c->program->mode() == vm::Mode::Checked),
        base_(s_ ? s_->regions.size() : 0),
        budget_(c->insn_budget) {
    grant(vm::Region{c->stack_lo, c->stack_hi - c->stack_lo, true});
  }
  ~CallbackScope() {
    c_->insn_budget = budget_;
    release(base_);
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

  [[nodiscard]] bool checked() const { return checked_; }
  void grant(const vm::Region& r) {
    if (!checked_ || !s_) return;
    s_->regions.push_back(r);
    c_->regions = s_->regions;
  }
  // Where the grants end now; release(mark) drops everything granted after.
  [[nodiscard]] size_t mark() const { return s_ ? s_->regions.size() : 0; }
  void release(size_t mark) {
    if (!checked_ || !s_) return;
    s_->regions.resize(mark);
    c_->regions = s_->regions;
  }
  // Runs callback `fn` with `args`; on a fault the error is also recorded in
  // the run state (the first one, naming `helper`).
  Expected<uint64_t> call(uint64_t fn, std::span<const uint64_t, 5> args, const char* helper) {
    auto rc = c_->program->call_function(fn, args, *c_);
    if (checked_) c_->insn_budget = c_->insn_budget > c_->insns_executed ? c_->insn_budget - c_->insns_executed : 0;
    if (!rc && s_ && !s_->error) s_->error = with_context(rc.error(), fmt::format("{} callback", helper));
    return rc;
  }

 private:
  vm::ExecContext* c_;
  RunState* s_;
  bool checked_;
  size_t base_;
  uint64_t budget_;
};

// bpf_loop(nr_loops, callback, callback_ctx, flags): callback(i, ctx) until
// it returns 1; returns the number of iterations run. The callback runs on
// its own stack.
XBPF_HELPER(loop) {
  (void)r5;
  constexpr uint64_t kMaxLoops = 1U << 23;  // BPF_MAX_LOOPS
  if (r4 != 0) return uint64_t(-EINVAL);
  if (r1 > kMaxLoops) return uint64_t(-E2BIG);
  if (!c->program) return uint64_t(-EINVAL);
  CallbackScope scope(c);
  for (uint64_t i = 0; i < r1; ++i) {
    const uint64_t args[5] = {i, r3, 0, 0, 0};
    auto rc = scope.call(r2, args, "bpf_loop");
    if (!rc) return uint64_t(-EFAULT);
    if (*rc == 1) return i + 1;
  }
  return r1;
}

// bpf_for_each_map_elem(map, callback, callback_ctx, flags):
// callback(map, key, value, ctx) for each element until it returns 1;
// returns the number of elements visited (the one that stopped the walk
// included), as the kernel. Arrays walk their indices; hash maps walk a
// snapshot of their keys taken first, so a callback that deletes or adds
// elements cannot make the walk restart or run forever (an element deleted
// before its turn is skipped). Per-CPU maps give this CPU's value.
XBPF_HELPER(for_each_map_elem) {
  (void)r5;
  maps::Map* m = map_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  if (r4 != 0) return uint64_t(-EINVAL);
  if (!c->program) return uint64_t(-EINVAL);
  const kabi::MapType t = m->type();
  const bool array = t == kabi::MapType::Array || t == kabi::MapType::PercpuArray;
  if (!array && t != kabi::MapType::Hash && t != kabi::MapType::PercpuHash && t != kabi::MapType::LruHash &&
      t != kabi::MapType::LruPercpuHash)
    return uint64_t(-EINVAL);  // the verifier refuses the call; only checked mode gets here
  const size_t ks = m->key_size();
  std::vector<uint8_t> keys;  // hash maps: every key, back to back
  uint64_t n = m->max_entries();
  if (!array) {
    keys.resize(ks * n);
    uint64_t got = 0;
    for (; got < n; ++got) {
      const void* prev = got ? &keys[(got - 1) * ks] : nullptr;
      if (!m->get_next_key(prev, &keys[got * ks])) break;
    }
    n = got;
  }
  uint32_t index = 0;  // arrays: the key the callback sees
  CallbackScope scope(c);
  // The keys, read-only, for the walk's duration.
  scope.grant(array ? vm::Region{reinterpret_cast<uint64_t>(&index), 4, false}
                    : vm::Region{reinterpret_cast<uint64_t>(keys.data()), keys.size(), false});
  const MapRef* ref = scope.checked() ? map_ref(c, r1) : nullptr;
  uint64_t visited = 0;
  for (uint64_t k = 0; k < n; ++k) {
    const void* key = array ? static_cast<const void*>(&index) : &keys[k * ks];
    index = static_cast<uint32_t>(k);
    void* value = m->lookup_elem(key);
    if (!value) continue;  // deleted by an earlier callback
    const size_t mark = scope.mark();
    scope.grant(vm::Region{reinterpret_cast<uint64_t>(value), m->value_size(), !(ref && ref->rdonly_prog)});
    ++visited;
    const uint64_t args[5] = {r1, reinterpret_cast<uint64_t>(key), reinterpret_cast<uint64_t>(value), r3, 0};
    auto rc = scope.call(r2, args, "bpf_for_each_map_elem");
    scope.release(mark);  // the value and the callback's grants
    if (!rc) return uint64_t(-EFAULT);
    if (*rc == 1) break;
  }
  return visited;
}

}  // namespace impl
}  // namespace xbpf::helpers
