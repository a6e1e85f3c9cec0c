// The JIT on clang-built programs through the runtime: each test object is
// loaded twice (verified mode, separate stores); one copy's programs are
// compiled by the JIT. Every program then runs the same inputs through
// BPF_PROG_TEST_RUN semantics (runtime::test_run) on both, and return values,
// output packets, output contexts and the contents of every map must agree.
// This covers helpers with maps, inlined array lookups, global data, tail
// calls through a prog array, bpf_loop/for_each callbacks and packet writes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "jit/jit.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"
#include "runtime_fixture.hpp"

using namespace xbpf;
using testing_support::eth_ip;
using Bytes = std::vector<uint8_t>;

namespace {

std::string obj(const std::string& name) { return std::string(XBPF_TEST_OBJECTS_DIR) + "/" + name + ".o"; }

std::vector<Bytes> packets() {
  std::vector<Bytes> v = {eth_ip(6, 23, 0), eth_ip(6, 80, 40), eth_ip(17, 7, 12), eth_ip(17, 53, 100),
                          eth_ip(6, 443, 1400)};
  Bytes arp = eth_ip(6, 1, 10);
  arp[13] = 0x06;
  v.push_back(arp);
  Bytes truncated = eth_ip(6, 80, 0);
  truncated.resize(24);
  v.push_back(truncated);
  v.push_back(Bytes(60, 0x5a));
  return v;
}

// One store for both copies: program ids (which tail calls resolve through a
// process-wide table) are unique within a store only.
struct Store {
  std::string dir;
  std::shared_ptr<maps::Store> store;
  Store() {
    char tmpl[] = "/dev/shm/xbpf-jitrt-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    auto s = maps::Store::open(dir);
    EXPECT_TRUE(s.has_value());
    if (s) store = std::move(*s);
  }
  ~Store() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

struct Loaded {
  std::unique_ptr<runtime::Object> object;
};

std::unique_ptr<Loaded> load(const Store& store, const std::string& name, bool on_jit) {
  auto l = std::make_unique<Loaded>();
  if (!store.store) return nullptr;
  auto spec = loader::open_object(obj(name));
  EXPECT_TRUE(spec.has_value()) << spec.error().message;
  if (!spec) return nullptr;
  auto o = runtime::Object::load(std::move(*spec), store.store, {});
  EXPECT_TRUE(o.has_value()) << o.error().message;
  if (!o) return nullptr;
  l->object = std::move(*o);
  if (on_jit) {
    for (const auto& p : l->object->programs()) {
      // The runtime owns the vm::Program (not const itself); compiling it is
      // what the runtime will do when asked for the JIT engine.
      auto r = jit::compile(const_cast<vm::Program&>(p->vm()));
      EXPECT_TRUE(r.has_value()) << p->name() << ": " << r.error().message;
      EXPECT_TRUE(jit::code_of(p->vm()).has_value()) << p->name();
    }
  }
  return l;
}

// Runs every program of `name` on both engines; returns the number of runs compared.
size_t compare_object(const std::string& name) {
  Store store;
  auto interp = load(store, name, false);
  auto native = load(store, name, true);
  if (!interp || !native) return 0;
  size_t runs = 0;
  for (const auto& p : interp->object->programs()) {
    runtime::Program* q = native->object->program(p->name());
    EXPECT_NE(q, nullptr);
    if (!q) continue;
    SCOPED_TRACE(name + "/" + p->name());
    std::vector<runtime::TestRun> inputs;
    const auto pkts = packets();
    std::vector<Bytes> ctxs;
    if (runtime::takes_packet(p->type())) {
      for (const Bytes& pkt : pkts) {
        runtime::TestRun tr;
        tr.data_in = pkt;
        tr.want_ctx_out = true;
        inputs.push_back(tr);
      }
    } else {
      for (uint64_t seed : {1, 2, 3, 0x1234}) {
        Bytes args(6 * 8);
        for (size_t k = 0; k < 6; ++k) {
          const uint64_t v = seed * 0x9e3779b97f4a7c15ULL + k * 77;
          std::memcpy(args.data() + 8 * k, &v, 8);
        }
        ctxs.push_back(args);
      }
      for (const Bytes& c : ctxs) {
        runtime::TestRun tr;
        tr.ctx_in = std::span<const uint8_t>(c);
        inputs.push_back(tr);
      }
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
      auto want = runtime::test_run(*p, inputs[k]);
      auto got = runtime::test_run(*q, inputs[k]);
      EXPECT_EQ(want.has_value(), got.has_value()) << "input " << k << ": "
                                                   << (want ? got.error().message : want.error().message);
      if (want.has_value() != got.has_value()) continue;
      if (!want) {
        EXPECT_EQ(want.error().errnum, got.error().errnum) << "input " << k;
        continue;
      }
      EXPECT_EQ(want->retval, got->retval) << "input " << k;
      EXPECT_TRUE(want->data_out == got->data_out) << "input " << k << ": data_out differs";
      EXPECT_TRUE(want->ctx_out == got->ctx_out) << "input " << k << ": ctx_out differs";
      ++runs;
    }
  }
  const auto& spec_maps = interp->object->spec().maps;
  for (size_t m = 0; m < spec_maps.size(); ++m) {
    maps::Map& a = *interp->object->maps()[m];
    maps::Map& b = *native->object->maps()[m];
    using MT = kabi::MapType;
    if (a.type() == MT::ProgArray || a.type() == MT::Ringbuf || a.type() == MT::PerfEventArray) continue;
    EXPECT_TRUE(testing_support::map_contents(a) == testing_support::map_contents(b))
        << name << ": map '" << spec_maps[m].name << "' differs";
  }
  return runs;
}

class JitRuntime : public ::testing::TestWithParam<std::string> {};

TEST_P(JitRuntime, SameResultsAsTheInterpreter) {
  const size_t runs = compare_object(GetParam());
  EXPECT_GT(runs, 0u);
  std::printf("[ jit ] %s: %zu runs agree\n", GetParam().c_str(), runs);
}

INSTANTIATE_TEST_SUITE_P(Objects, JitRuntime,
                         ::testing::Values("rt_xdp", "rt_tc", "rt_tail", "rt_array", "rt_foreach", "rt_rawtp",
                                           "rt_ringbuf", "rt_printk"));

}  // namespace
