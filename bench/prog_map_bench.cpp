// Map operations from running programs: the same clang-built object
// (prog_map/prog_map.bpf.c) runs in xbpf's interpreter (checked and verified
// mode) and in the kernel through BPF_PROG_TEST_RUN (libbpf), side by side.
// Rows: xbpf checked, xbpf verified (array lookups inlined), xbpf verified
// without inlining (array_lookup only: what inlining saves), kernel JIT.
// The ring buffer is drained between test-run calls, outside the timed runs.
// Each program makes kOps (256) map helper calls per run; the reported
// `ns_per_op` is the test-run duration per run (each engine's own timer,
// over `repeat` runs) divided by kOps.
//
// Usage: prog_map_bench [--obj=PATH] [google benchmark flags]
// Without bpf(2) the kernel rows are skipped with a message.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "maps/ringbuf.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace {

using namespace xbpf;
constexpr int kOps = 256;
constexpr uint32_t kRepeat = 200;
const char* const kProgs[] = {"loop_only", "array_lookup", "hash_lookup", "hash_update", "ringbuf_reserve_submit"};

std::string g_obj = XBPF_PROG_MAP_OBJ;
std::vector<uint8_t> g_packet(64, 0);

struct XbpfSide {
  std::string dir;
  std::shared_ptr<maps::Store> store;
  std::unique_ptr<runtime::Object> checked, verified, verified_noinline;
};
XbpfSide* g_xbpf = nullptr;

void fill_hash(maps::Map& m) {
  for (uint32_t k = 0; k < 64; ++k) {
    const uint64_t v = k + 1;
    (void)m.update(&k, &v, 0);
  }
}

std::unique_ptr<runtime::Object> load_xbpf(vm::Mode mode, bool inline_lookups = true) {
  auto spec = loader::open_object(g_obj);
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.error().message.c_str());
    std::exit(1);
  }
  runtime::LoadOptions opts;
  // Verified rows: xbpf's verifier must accept the object (Object::load checks it).
  opts.mode = mode;
  opts.inline_lookups = inline_lookups;
  auto o = runtime::Object::load(std::move(*spec), g_xbpf->store, opts);
  if (!o) {
    std::fprintf(stderr, "%s\n", o.error().message.c_str());
    std::exit(1);
  }
  fill_hash(*(*o)->map("hash"));
  return std::move(*o);
}

enum class Engine { Checked, Verified, VerifiedNoInline };

void BM_xbpf(benchmark::State& state, const char* prog, Engine e) {
  runtime::Object& o = e == Engine::Checked    ? *g_xbpf->checked
                       : e == Engine::Verified ? *g_xbpf->verified
                                               : *g_xbpf->verified_noinline;
  runtime::TestRun tr;
  tr.data_in = g_packet;
  tr.repeat = kRepeat;
  maps::RingBufferConsumer drain;  // empties the ring between calls (untimed)
  if (!drain.add(o.map("rb"), [](const void*, size_t) { return 0; })) {
    state.SkipWithError("no ring buffer map 'rb' in the object");
    return;
  }
  double total_ns = 0;  // sum of per-run durations
  for (auto _ : state) {
    auto r = runtime::test_run(*o.program(prog), tr);
    drain.consume();
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      return;
    }
    if (r->retval != 2 && r->retval != 0) {
      state.SkipWithError("the program failed some operations (ring buffer full?)");
      return;
    }
    state.SetIterationTime(double(r->duration_ns) * kRepeat / 1e9);
    total_ns += double(r->duration_ns);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * kRepeat * kOps);
  if (state.iterations()) state.counters["ns_per_op"] = total_ns / double(state.iterations() * kOps);
}

#ifdef XBPF_HAVE_LIBBPF
bpf_object* g_kobj = nullptr;

void BM_kernel(benchmark::State& state, const char* prog) {
  if (!g_kobj) {
    state.SkipWithError("kernel unavailable (bpf(2) refused the object; run as root)");
    return;
  }
  const int fd = bpf_program__fd(bpf_object__find_program_by_name(g_kobj, prog));
  ring_buffer* drain = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(g_kobj, "rb")),
                                        [](void*, void*, size_t) { return 0; }, nullptr, nullptr);
  if (!drain) {
    state.SkipWithError("cannot map the kernel's ring buffer");
    return;
  }
  double total_ns = 0;  // sum of per-run durations
  for (auto _ : state) {
    LIBBPF_OPTS(bpf_test_run_opts, o);
    o.data_in = g_packet.data();
    o.data_size_in = uint32_t(g_packet.size());
    o.repeat = kRepeat;
    const int err = bpf_prog_test_run_opts(fd, &o);
    ring_buffer__consume(drain);
    if (err) {
      ring_buffer__free(drain);
      state.SkipWithError(std::strerror(-err));
      return;
    }
    if (o.retval != 2 && o.retval != 0) {
      ring_buffer__free(drain);
      state.SkipWithError("the program failed some operations (ring buffer full?)");
      return;
    }
    state.SetIterationTime(double(o.duration) * kRepeat / 1e9);
    total_ns += double(o.duration);
  }
  ring_buffer__free(drain);
  state.SetItemsProcessed(int64_t(state.iterations()) * kRepeat * kOps);
  if (state.iterations()) state.counters["ns_per_op"] = total_ns / double(state.iterations() * kOps);
}

void load_kernel() {
  libbpf_set_print([](libbpf_print_level, const char*, va_list) { return 0; });
  g_kobj = bpf_object__open_file(g_obj.c_str(), nullptr);
  if (!g_kobj || bpf_object__load(g_kobj)) {
    std::fprintf(stderr, "prog_map_bench: kernel rows skipped: cannot load %s into the kernel\n", g_obj.c_str());
    if (g_kobj) bpf_object__close(g_kobj);
    g_kobj = nullptr;
    return;
  }
  const int hfd = bpf_map__fd(bpf_object__find_map_by_name(g_kobj, "hash"));
  for (uint32_t k = 0; k < 64; ++k) {
    const uint64_t v = k + 1;
    bpf_map_update_elem(hfd, &k, &v, 0);
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--obj=", 6) == 0) g_obj = argv[i] + 6;
  g_packet[12] = 0x08;
  XbpfSide side;
  side.dir = "/dev/shm/xbpf-prog-map-bench-" + std::to_string(getpid());
  auto store = maps::Store::open(side.dir);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  side.store = *store;
  g_xbpf = &side;
  side.checked = load_xbpf(vm::Mode::Checked);
  side.verified = load_xbpf(vm::Mode::Verified);
  side.verified_noinline = load_xbpf(vm::Mode::Verified, false);
  for (const char* p : kProgs) {
    benchmark::RegisterBenchmark((std::string("xbpf_checked/") + p).c_str(), BM_xbpf, p, Engine::Checked)
        ->UseManualTime();
    benchmark::RegisterBenchmark((std::string("xbpf_verified/") + p).c_str(), BM_xbpf, p, Engine::Verified)
        ->UseManualTime();
    if (std::string(p) == "array_lookup")
      benchmark::RegisterBenchmark("xbpf_verified_noinline/array_lookup", BM_xbpf, p, Engine::VerifiedNoInline)
          ->UseManualTime();
#ifdef XBPF_HAVE_LIBBPF
    benchmark::RegisterBenchmark((std::string("kernel/") + p).c_str(), BM_kernel, p)->UseManualTime();
#endif
  }
#ifdef XBPF_HAVE_LIBBPF
  load_kernel();
#else
  std::fprintf(stderr, "prog_map_bench: built without libbpf: kernel rows not available\n");
#endif
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  side.checked.reset();
  side.verified.reset();
  side.verified_noinline.reset();
  side.store.reset();
  std::filesystem::remove_all(side.dir);
#ifdef XBPF_HAVE_LIBBPF
  if (g_kobj) bpf_object__close(g_kobj);
#endif
  return 0;
}
