// Program-side map operations, called directly (what a helper call costs
// once the JIT has made it a plain call): array/hash lookup, hash update,
// ring buffer reserve+submit, and two threads updating one hash map.
// Targets on the project machine: array lookup <= 5 ns, hash lookup <= 25 ns,
// hash update <= 60 ns, ringbuf reserve+submit <= 40 ns.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <benchmark/benchmark.h>

#include "maps/ringbuf.hpp"
#include "maps/store.hpp"

using namespace xbpf::maps;

namespace {

// One temporary store for the whole run, removed at exit.
struct BenchStore {
  BenchStore() {
    char tmpl[] = "/dev/shm/xbpf-bench-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    auto s = Store::open(dir + "/s");
    if (!s) std::abort();
    store = *s;
  }
  ~BenchStore() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  std::shared_ptr<Map> make(MapType t, uint32_t ks, uint32_t vs, uint32_t n) {
    MapAttr a;
    a.type = t;
    a.key_size = ks;
    a.value_size = vs;
    a.max_entries = n;
    a.name = "bench";
    auto m = store->create_map(a);
    if (!m) std::abort();
    return *m;
  }
  std::string dir;
  std::shared_ptr<Store> store;
};

BenchStore& bench_store() {
  static BenchStore s;
  return s;
}

constexpr uint32_t kEntries = 1024;

void BM_ArrayLookup(benchmark::State& state) {
  auto m = bench_store().make(MapType::Array, 4, 8, kEntries);
  uint32_t k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->lookup_elem(&k));
    k = (k + 1) & (kEntries - 1);
  }
}
BENCHMARK(BM_ArrayLookup);

std::shared_ptr<Map> filled_hash(uint32_t key_size) {
  auto m = bench_store().make(MapType::Hash, key_size, 8, kEntries);
  std::vector<uint8_t> key(key_size);
  for (uint32_t i = 0; i < kEntries; ++i) {
    std::memcpy(key.data(), &i, 4);
    uint64_t v = i;
    if (m->update_elem(key.data(), &v, kAny) != 0) std::abort();
  }
  return m;
}

void BM_HashLookup(benchmark::State& state) {
  const auto ks = static_cast<uint32_t>(state.range(0));
  auto m = filled_hash(ks);
  std::vector<uint8_t> key(ks);
  uint32_t i = 0;
  for (auto _ : state) {
    std::memcpy(key.data(), &i, 4);
    benchmark::DoNotOptimize(m->lookup_elem(key.data()));
    i = (i + 1) & (kEntries - 1);
  }
}
BENCHMARK(BM_HashLookup)->Arg(4)->Arg(8)->Arg(16);

void BM_HashUpdateExisting(benchmark::State& state) {
  auto m = filled_hash(4);
  uint32_t k = 0;
  uint64_t v = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->update_elem(&k, &v, kAny));
    k = (k + 1) & (kEntries - 1);
    ++v;
  }
}
BENCHMARK(BM_HashUpdateExisting);

void BM_HashUpdateDeleteInsert(benchmark::State& state) {
  auto m = filled_hash(4);
  uint32_t k = 0;
  uint64_t v = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->delete_elem(&k));
    benchmark::DoNotOptimize(m->update_elem(&k, &v, kNoExist));
    k = (k + 1) & (kEntries - 1);
  }
}
BENCHMARK(BM_HashUpdateDeleteInsert);

void BM_RingbufReserveSubmit(benchmark::State& state) {
  auto m = bench_store().make(MapType::Ringbuf, 0, 0, 1 << 22);
  const RingbufLayout l = ringbuf_layout(*m);
  for (auto _ : state) {
    void* p = ringbuf_reserve(*m, 16, 0);
    if (!p) [[unlikely]] {
      // Ring full: play the consumer (one store) and go on.
      std::atomic_ref(*l.consumer_pos).store(std::atomic_ref(*l.producer_pos).load());
      p = ringbuf_reserve(*m, 16, 0);
    }
    std::memset(p, 1, 16);
    ringbuf_submit(p, kRbNoWakeup);
  }
}
BENCHMARK(BM_RingbufReserveSubmit);

void BM_RingbufOutput(benchmark::State& state) {
  auto m = bench_store().make(MapType::Ringbuf, 0, 0, 1 << 22);
  const RingbufLayout l = ringbuf_layout(*m);
  uint64_t data[2] = {1, 2};
  for (auto _ : state) {
    if (ringbuf_output(*m, data, sizeof data, 0) != 0) [[unlikely]] {
      std::atomic_ref(*l.consumer_pos).store(std::atomic_ref(*l.producer_pos).load());
    }
  }
}
BENCHMARK(BM_RingbufOutput);

// Two threads updating one shared hash map (distinct key ranges, same buckets space).
std::shared_ptr<Map> g_shared;

void BM_HashUpdate2Threads(benchmark::State& state) {
  if (state.thread_index() == 0) g_shared = filled_hash(4);
  // Google Benchmark starts the timed loop for all threads together, after setup.
  uint32_t k = static_cast<uint32_t>(state.thread_index()) * (kEntries / 2);
  uint64_t v = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(g_shared->update_elem(&k, &v, kAny));
    k = (k + 1) & (kEntries - 1);
    ++v;
  }
  if (state.thread_index() == 0) g_shared.reset();
}
BENCHMARK(BM_HashUpdate2Threads)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
