// Ring buffer helpers on src/maps' ring buffer (kernel memory layout). A
// checked program may only submit or discard samples it reserved in this run.
#include <algorithm>
#include <cerrno>

#include "helpers/impl.hpp"
#include "maps/ringbuf.hpp"

namespace xbpf::helpers::impl {

namespace {
maps::Map* ringbuf_arg(vm::ExecContext* c, uint64_t r) {
  maps::Map* m = map_arg(c, r);
  return m && m->type() == kabi::MapType::Ringbuf ? m : nullptr;
}

// True (and forgotten) when `sample` is an outstanding reservation; verified
// programs are trusted.
bool take_sample(vm::ExecContext* c, uint64_t sample) {
  if (c->program && c->program->mode() == vm::Mode::Verified) return true;
  RunState* s = state(c);
  if (!s) return false;
  auto it = std::find(s->ringbuf_samples.begin(), s->ringbuf_samples.end(), sample);
  if (it == s->ringbuf_samples.end()) return false;
  s->ringbuf_samples.erase(it);
  return true;
}
}  // namespace

XBPF_HELPER(ringbuf_output) {
  (void)r5;
  maps::Map* m = ringbuf_arg(c, r1);
  if (!m) return uint64_t(-EINVAL);
  if (!vm::helper_access_ok(*c, r2, r3, false)) return uint64_t(-EFAULT);
  return uint64_t(maps::ringbuf_output(*m, reinterpret_cast<const void*>(r2), r3, r4));
}

XBPF_HELPER(ringbuf_reserve) {
  (void)r4, (void)r5;
  maps::Map* m = ringbuf_arg(c, r1);
  if (!m) return 0;
  void* p = maps::ringbuf_reserve(*m, r2, r3);
  if (!p) return 0;
  grant(c, p, r2, true);
  // Checked programs: remembered until submitted or discarded, and discarded
  // after the run if still held. Verified programs release every reservation
  // (the verifier proved it), and their submit does not look here.
  const bool verified = c->program && c->program->mode() == vm::Mode::Verified;
  if (RunState* s = state(c); s && !verified) s->ringbuf_samples.push_back(reinterpret_cast<uint64_t>(p));
  return reinterpret_cast<uint64_t>(p);
}

XBPF_HELPER(ringbuf_submit) {
  (void)r3, (void)r4, (void)r5;
  if (take_sample(c, r1)) maps::ringbuf_submit(reinterpret_cast<void*>(r1), r2);
  return 0;
}

XBPF_HELPER(ringbuf_discard) {
  (void)r3, (void)r4, (void)r5;
  if (take_sample(c, r1)) maps::ringbuf_discard(reinterpret_cast<void*>(r1), r2);
  return 0;
}

XBPF_HELPER(ringbuf_query) {
  (void)r3, (void)r4, (void)r5;
  maps::Map* m = ringbuf_arg(c, r1);
  return m ? maps::ringbuf_query(*m, r2) : 0;
}

}  // namespace xbpf::helpers::impl
