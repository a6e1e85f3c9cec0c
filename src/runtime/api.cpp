// The public API (include/xbpf/xbpf.hpp) over the runtime, loader and maps.
#include "xbpf/xbpf.hpp"

#include <cerrno>

#include "helpers/trace_log.hpp"
#include "maps/ringbuf.hpp"
#include "runtime/api_state.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"

namespace xbpf {


using detail::Access;

namespace {
Expected<Store> make_store(Expected<std::shared_ptr<maps::Store>> s) {
  if (!s) return xbpf::unexpected(s.error());
  auto st = std::make_shared<detail::StoreState>();
  st->store = std::move(*s);
  auto log = helpers::TraceLog::open(helpers::TraceLog::path_in(st->store->dir()));
  if (!log) return xbpf::unexpected(log.error());
  st->trace = std::make_unique<helpers::TraceLog>(std::move(*log));
  return Access::store(std::move(st));
}

runtime::TestRun to_runtime(const TestRun& o, helpers::TraceLog* trace) {
  runtime::TestRun r;
  r.data_in = o.data_in;
  r.ctx_in = o.ctx_in;
  r.want_ctx_out = o.want_ctx_out;
  r.repeat = o.repeat;
  r.trace = trace;
  return r;
}
}  // namespace

Expected<Store> Store::open(const std::string& dir) { return make_store(maps::Store::open(dir)); }
Expected<Store> Store::open_default() { return open(maps::Store::default_dir()); }
const std::string& Store::dir() const { return s_->store->dir(); }
Expected<std::vector<std::string>> Store::read_trace(uint64_t& offset) const {
  return helpers::read_trace(s_->trace->path(), offset);
}

Expected<uint32_t> Store::attach_xdp(const Program& prog, const std::string& device, bool replace) const {
  return s_->store->attach_xdp(prog.id(), device, replace);
}
Expected<void> Store::detach_xdp(const std::string& device) const {
  auto link = s_->store->detach_device(device);
  if (!link) return xbpf::unexpected(link.error());
  return {};
}

Expected<Object> Object::open(const std::string& path) {
  auto spec = loader::open_object(path);
  if (!spec) return xbpf::unexpected(spec.error());
  Object o;
  Access::state(o) = std::make_shared<detail::ObjectState>();
  Access::state(o)->spec = std::move(*spec);
  return o;
}

Expected<void> Object::load(const Store& store) {
  if (s_->live) return fail(Errc::invalid_argument, "object '{}': already loaded", s_->spec.name);
  // A copy: a failed load leaves the object opened (and retryable).
  auto live = runtime::Object::load(s_->spec, Access::state(store)->store);
  if (!live) return xbpf::unexpected(live.error());
  s_->live = std::move(*live);
  s_->store = Access::state(store);
  return {};
}

bool Object::loaded() const { return s_->live != nullptr; }

std::vector<std::string> Object::program_names() const {
  std::vector<std::string> v;
  const auto& spec = s_->live ? s_->live->spec() : s_->spec;
  for (const auto& p : spec.programs) v.push_back(p.name);
  return v;
}

std::vector<std::string> Object::map_names() const {
  std::vector<std::string> v;
  const auto& spec = s_->live ? s_->live->spec() : s_->spec;
  for (const auto& m : spec.maps) v.push_back(m.name);
  return v;
}

Expected<Program> Object::program(const std::string& name) const {
  if (!s_->live) return fail(Errc::invalid_argument, "object '{}': load() it before using program '{}'", s_->spec.name, name);
  const auto& progs = s_->live->programs();
  for (size_t i = 0; i < progs.size(); ++i)
    if (progs[i]->name() == name) return Access::program(s_, i);
  return fail_errno(ENOENT, "object '{}': no program '{}'", s_->live->spec().name, name);
}

Expected<Map> Object::map(const std::string& name) const {
  if (!s_->live) return fail(Errc::invalid_argument, "object '{}': load() it before using map '{}'", s_->spec.name, name);
  auto want = s_->live->map(name);
  const auto& all = s_->live->maps();
  for (size_t i = 0; i < all.size(); ++i)
    if (want && all[i] == want) return Access::map(s_, i);
  return fail_errno(ENOENT, "object '{}': no map '{}'", s_->live->spec().name, name);
}

const std::string& Program::name() const { return Access::prog(*this).name(); }
std::string_view Program::type() const { return kabi::name(Access::prog(*this).type()); }
uint32_t Program::id() const { return Access::prog(*this).id(); }

Expected<TestRunResult> Program::run(const TestRun& opts) const {
  auto r = runtime::test_run(Access::prog(*this), to_runtime(opts, obj_->store->trace.get()));
  if (!r) return xbpf::unexpected(r.error());
  return TestRunResult{r->retval, std::move(r->data_out), std::move(r->ctx_out), r->duration_ns};
}

Expected<PcapSummary> Program::run_pcap(const std::string& path, const TestRun& opts) const {
  auto r = runtime::run_pcap(Access::prog(*this), path, to_runtime(opts, obj_->store->trace.get()));
  if (!r) return xbpf::unexpected(r.error());
  return PcapSummary{r->packets, std::move(r->verdicts)};
}

Expected<uint64_t> for_each_pcap_packet(const std::string& path,
                                        const std::function<void(std::span<const uint8_t>)>& each) {
  return runtime::for_each_packet(path, [&each](std::span<const uint8_t> packet) -> Expected<void> {
    each(packet);
    return {};
  });
}

const std::string& Map::name() const { return Access::map(*this).name(); }
uint32_t Map::id() const { return Access::map(*this).id(); }
uint32_t Map::key_size() const { return Access::map(*this).key_size(); }
uint32_t Map::value_size() const { return Access::map(*this).value_size(); }
size_t Map::user_value_size() const { return Access::map(*this).user_value_size(); }
Expected<void> Map::lookup(const void* key, void* value) const { return Access::map(*this).lookup(key, value, 0); }
Expected<void> Map::update(const void* key, const void* value, uint64_t flags) const {
  return Access::map(*this).update(key, value, flags);
}
Expected<void> Map::remove(const void* key) const { return Access::map(*this).remove(key); }
Expected<void> Map::get_next_key(const void* key, void* next_key) const {
  return Access::map(*this).get_next_key(key, next_key);
}

RingBuffer::RingBuffer() : s_(std::make_shared<detail::RingState>()) {}

Expected<void> RingBuffer::add(const Map& m, Callback cb) {
  auto r = s_->consumer.add(Access::map_ptr(m), [cb = std::move(cb)](const void* d, size_t n) {
    return cb(std::span<const uint8_t>(static_cast<const uint8_t*>(d), n));
  });
  if (r) s_->keep.push_back(Access::owner(m));
  return r;
}
int RingBuffer::consume() { return s_->consumer.consume(); }
int RingBuffer::poll(int timeout_ms) { return s_->consumer.poll(timeout_ms); }

}  // namespace xbpf
