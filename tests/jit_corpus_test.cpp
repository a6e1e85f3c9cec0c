// The JIT against the interpreter on the real programs of the shared corpus:
// every object xbpf loads is loaded three times, each into its own store —
// twice on the verified interpreter, once on the JIT — and every program runs
// the same inputs in the same order on each (packets for packet programs, a
// zeroed context for the others). Return value, output packet, context and
// error must agree between the JIT and the interpreter, and so must every
// map's contents at the end. bpf_get_prandom_u32 and the clock are seeded
// the same for each engine's run, on one CPU; the second interpreter load
// must agree with the first (what differs there is nondeterminism the test
// does not control: counted, not compared, and a failure).
#include <gtest/gtest.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "corpus_verdicts.hpp"
#include "helpers/helpers.hpp"
#include "runtime/test_run.hpp"
#include "runtime_fixture.hpp"

namespace fs = std::filesystem;
using namespace xbpf;
using testing_support::Exec;
using testing_support::TempStore;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes eth_packet(uint16_t ethertype, size_t l3_len, uint8_t proto) {
  Bytes p(14 + l3_len, 0);
  const uint8_t macs[12] = {0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2};
  std::memcpy(p.data(), macs, 12);
  p[12] = uint8_t(ethertype >> 8);
  p[13] = uint8_t(ethertype);
  for (size_t i = 14; i < p.size(); ++i) p[i] = uint8_t(i * 29 + 7);
  if (ethertype == 0x0800 && l3_len >= 28) {
    p[14] = 0x45;
    p[16] = uint8_t(l3_len >> 8);
    p[17] = uint8_t(l3_len);
    p[20] = p[21] = 0;  // not a fragment
    p[22] = 64;
    p[23] = proto;
    const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
    std::memcpy(&p[26], addrs, 8);
    p[36] = 0, p[37] = 80;  // destination port 80
  } else if (ethertype == 0x86dd && l3_len >= 48) {
    p[14] = 0x60;
    p[18] = uint8_t((l3_len - 40) >> 8);
    p[19] = uint8_t(l3_len - 40);
    p[20] = proto;
    p[21] = 64;
    p[56] = 0, p[57] = 53;  // destination port 53
  }
  if (proto == 6 && ethertype == 0x0800 && l3_len >= 40) p[47] = 0x02;  // SYN
  return p;
}

std::vector<Bytes> packets() {
  std::vector<Bytes> v = {eth_packet(0x0800, 60, 6), eth_packet(0x0800, 48, 17), eth_packet(0x0800, 84, 1),
                          eth_packet(0x86dd, 80, 6), eth_packet(0x86dd, 60, 17), eth_packet(0x0806, 28, 0),
                          eth_packet(0x0800, 20, 6), eth_packet(0x8100, 64, 0), eth_packet(0x0800, 1400, 17)};
  Bytes high = eth_packet(0x0800, 60, 6);  // ports and payload with the high bits set
  for (size_t i = 34; i < high.size(); ++i) high[i] = uint8_t(0x80 | (i * 13));
  v.push_back(high);
  Bytes high6 = eth_packet(0x86dd, 80, 17);
  for (size_t i = 54; i < high6.size(); ++i) high6[i] = uint8_t(0xc0 | (i * 5));
  v.push_back(high6);
  return v;
}

// One run's observable result.
struct Outcome {
  bool ok = false;
  int err = 0;
  uint32_t retval = 0;
  Bytes data, ctx;
  bool operator==(const Outcome&) const = default;
};

Outcome run(const runtime::Program& p, const Bytes* packet) {
  runtime::TestRun tr;
  if (packet) tr.data_in = *packet;
  tr.want_ctx_out = true;
  auto r = runtime::test_run(p, tr);
  Outcome o;
  o.ok = bool(r);
  if (!r) {
    o.err = r.error().errnum;
    return o;
  }
  o.retval = r->retval;
  o.data = std::move(r->data_out);
  o.ctx = std::move(r->ctx_out);
  return o;
}

// Maps whose values are plain data (not ids, not buffers).
bool data_map(kabi::MapType t) {
  using M = kabi::MapType;
  return t == M::Hash || t == M::Array || t == M::PercpuHash || t == M::PercpuArray || t == M::LruHash ||
         t == M::LruPercpuHash || t == M::LpmTrie;
}

}  // namespace

// The calling thread on one CPU for the scope: a per-CPU map keeps a value
// per CPU, so the three loads' runs must all update the same CPU's.
class OnOneCpu {
 public:
  OnOneCpu() {
    CPU_ZERO(&old_);
    if (sched_getaffinity(0, sizeof old_, &old_) != 0) {
      ADD_FAILURE() << "sched_getaffinity: " << std::strerror(errno);
      return;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &old_)) {
        CPU_SET(c, &one);
        break;
      }
    pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
    EXPECT_TRUE(pinned_) << "sched_setaffinity: " << std::strerror(errno);
  }
  ~OnOneCpu() {
    if (pinned_) sched_setaffinity(0, sizeof old_, &old_);
  }
  OnOneCpu(const OnOneCpu&) = delete;
  OnOneCpu& operator=(const OnOneCpu&) = delete;

 private:
  cpu_set_t old_;
  bool pinned_ = false;
};

// Each run's clock: a counter from kClockStart + run * 1 s, 1 µs a read.
constexpr uint64_t kClockStart = 1'000'000'000'000ULL;
struct RealClockAfter {
  ~RealClockAfter() { helpers::clear_clock(); }
};

TEST(JitCorpus, InterpreterAndJitAgreeOnEveryLoadableProgram) {
  const OnOneCpu pin;
  const RealClockAfter real_clock_after;
  if (!fs::exists(test::kCorpus / "kernel-6.18-verdicts.tsv"))
    GTEST_SKIP() << "*** CORPUS ABSENT: " << test::kCorpus << " not found; JIT corpus differential NOT RUN ***";
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(test::kCorpus))
    if (e.is_regular_file() && e.path().extension() == ".o" &&
        fs::relative(e.path(), test::kCorpus).generic_string().rfind("invalid/", 0) != 0)
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  size_t objects = 0, programs = 0, insns = 0, runs = 0, agreed = 0, unsteady_runs = 0;
  size_t maps_compared = 0, unsteady_maps = 0;
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    const runtime::LoadOptions interp = testing_support::load_options(Exec::Interpreter);
    const runtime::LoadOptions jit = testing_support::load_options(Exec::Jit);
    TempStore s1("jcorpus"), s2("jcorpus"), s3("jcorpus");
    auto spec = loader::open_object(f.string());
    if (!spec) continue;
    auto a = runtime::Object::load(*spec, s1.store(), interp);
    if (!a) continue;  // not loadable by xbpf: jit_bench --corpus counts why
    auto b = runtime::Object::load(*spec, s2.store(), interp);
    auto j = runtime::Object::load(std::move(*spec), s3.store(), jit);
    ASSERT_TRUE(b) << b.error().message;
    ASSERT_TRUE(j) << "the interpreter loads it, the JIT does not: " << j.error().message;
    ++objects;
    const auto pkts = packets();
    for (size_t k = 0; k < (*a)->programs().size(); ++k) {
      const runtime::Program& pa = *(*a)->programs()[k];
      const runtime::Program& pb = *(*b)->programs()[k];
      const runtime::Program& pj = *(*j)->programs()[k];
      ASSERT_EQ(pj.engine(), runtime::Engine::Jit) << pj.name();
      ++programs;
      insns += pj.jit_stats().insns;
      const size_t inputs = runtime::takes_packet(pa.type()) ? pkts.size() : 1;
      for (size_t i = 0; i < inputs; ++i) {
        SCOPED_TRACE(pa.name() + " input " + std::to_string(i));
        const Bytes* pkt = runtime::takes_packet(pa.type()) ? &pkts[i] : nullptr;
        // The same bpf_get_prandom_u32 values on each (it tail-calls a random
        // slot, picks a random backend) and the same clock (conntrack
        // lifetimes, latency histograms).
        const auto seeded = [&](const runtime::Program& p) {
          helpers::seed_prandom(uint32_t(runs));
          helpers::seed_clock(kClockStart + runs * 1'000'000'000ULL, 1000);
          return run(p, pkt);
        };
        const Outcome oa = seeded(pa), ob = seeded(pb), oj = seeded(pj);
        ++runs;
        if (!(oa == ob)) {
          ++unsteady_runs;  // time decides; not comparable
          continue;
        }
        EXPECT_EQ(oj.ok, oa.ok);
        EXPECT_EQ(oj.err, oa.err);
        EXPECT_EQ(oj.retval, oa.retval);
        EXPECT_TRUE(oj.data == oa.data) << "output packets differ";
        EXPECT_TRUE(oj.ctx == oa.ctx) << "output contexts differ";
        agreed += oj == oa;
      }
    }
    for (size_t m = 0; m < (*a)->maps().size(); ++m) {
      maps::Map* ma = (*a)->maps()[m].get();
      if (!ma || !data_map(ma->type())) continue;
      SCOPED_TRACE("map " + ma->name());
      const auto ca = testing_support::map_contents(*ma), cb = testing_support::map_contents(*(*b)->maps()[m]),
                 cj = testing_support::map_contents(*(*j)->maps()[m]);
      if (ca != cb) {
        ++unsteady_maps;
        continue;
      }
      ++maps_compared;
      EXPECT_TRUE(cj == ca) << "map contents differ: " << cj.size() << " entries on the JIT, " << ca.size()
                            << " on the interpreter";
    }
  }
  std::printf("[ corpus ] %zu objects, %zu programs (%zu instructions), %zu runs: %zu agree, %zu differ between interpreter loads; "
              "%zu maps agree, %zu differ between interpreter loads\n",
              objects, programs, insns, runs, agreed, unsteady_runs, maps_compared, unsteady_maps);
  // A ratchet: 108 objects (370 programs) loaded when this was last raised.
  // Fewer means something that loaded stopped loading.
  EXPECT_GE(objects, 108u);
  EXPECT_GE(programs, 370u);
  EXPECT_EQ(agreed + unsteady_runs, runs);
  // With the clock and bpf_get_prandom_u32 seeded and one CPU, the two
  // interpreter loads must agree: what still differs is nondeterminism the
  // comparison does not know about.
  EXPECT_EQ(unsteady_runs, 0u) << "runs that differ between two interpreter loads";
  EXPECT_EQ(unsteady_maps, 0u) << "maps that differ between two interpreter loads";
}
