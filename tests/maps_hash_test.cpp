// Hash, per-CPU hash, LRU hash, LRU per-CPU hash: kernel create checks,
// flags and errno values, iteration order, batch ops, and concurrent
// threads / processes (including one SIGKILLed mid-update).
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include "maps/store.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

class MapHashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-hash-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = *Store::open(dir_ + "/s");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static MapAttr attr(MapType t, uint32_t n = 8, uint32_t ks = 4, uint32_t vs = 8, uint32_t flags = 0) {
    MapAttr a;
    a.type = t;
    a.key_size = ks;
    a.value_size = vs;
    a.max_entries = n;
    a.map_flags = flags;
    a.name = "h";
    return a;
  }
  std::shared_ptr<Map> make(const MapAttr& a) {
    auto m = store_->create_map(a);
    EXPECT_TRUE(m) << m.error().message;
    return m ? *m : nullptr;
  }
  static int err(const Expected<void>& r) { return r ? 0 : r.error().errnum; }
  std::string dir_;
  std::shared_ptr<Store> store_;
};

TEST_F(MapHashTest, CreateChecksFollowTheKernel) {
  struct Case {
    const char* what;
    MapAttr a;
    int err;
  } cases[] = {
      {"valid", attr(MapType::Hash), 0},
      {"key_size 0", attr(MapType::Hash, 8, 0), EINVAL},
      {"value_size 0", attr(MapType::Hash, 8, 4, 0), EINVAL},
      {"max_entries 0", attr(MapType::Hash, 0), EINVAL},
      {"key too big", attr(MapType::Hash, 8, 513), E2BIG},
      {"no_prealloc accepted", attr(MapType::Hash, 8, 4, 8, kFNoPrealloc), 0},
      {"lru no_prealloc", attr(MapType::LruHash, 8, 4, 8, kFNoPrealloc), 524},
      {"no_common_lru on hash", attr(MapType::Hash, 8, 4, 8, kFNoCommonLru), EINVAL},
      {"no_common_lru on lru", attr(MapType::LruHash, 8, 4, 8, kFNoCommonLru), 0},
      {"mmapable", attr(MapType::Hash, 8, 4, 8, kFMmapable), EINVAL},
      {"zero seed", attr(MapType::Hash, 8, 4, 8, kFZeroSeed), 0},
      {"percpu value too big", attr(MapType::PercpuHash, 8, 4, 40000), E2BIG},
      {"valid percpu", attr(MapType::LruPercpuHash), 0},
  };
  for (const auto& c : cases) {
    auto m = store_->create_map(c.a);
    EXPECT_EQ(m ? 0 : m.error().errnum, c.err) << c.what;
  }
}

TEST_F(MapHashTest, FlagsAndErrnos) {
  for (MapType t : {MapType::Hash, MapType::LruHash}) {
    auto m = make(attr(t, 2));
    uint32_t k = 1;
    uint64_t v = 10, out = 0;
    EXPECT_EQ(err(m->lookup(&k, &out, 0)), ENOENT);
    EXPECT_EQ(err(m->update(&k, &v, kExist)), ENOENT);
    EXPECT_EQ(err(m->update(&k, &v, kNoExist)), 0);
    EXPECT_EQ(err(m->update(&k, &v, kNoExist)), EEXIST);
    v = 11;
    EXPECT_EQ(err(m->update(&k, &v, kExist)), 0);
    EXPECT_EQ(err(m->update(&k, &v, 3)), EINVAL);
    EXPECT_EQ(err(m->update(&k, &v, kFLock)), EINVAL);
    EXPECT_EQ(err(m->lookup(&k, &out, 0)), 0);
    EXPECT_EQ(out, 11U);
    EXPECT_EQ(*static_cast<uint64_t*>(m->lookup_elem(&k)), 11U);
    EXPECT_EQ(err(m->remove(&k)), 0);
    EXPECT_EQ(err(m->remove(&k)), ENOENT);
    EXPECT_EQ(m->delete_elem(&k), -ENOENT);
    EXPECT_EQ(m->lookup_elem(&k), nullptr);
  }
}

TEST_F(MapHashTest, FullMapReturnsE2big) {
  auto m = make(attr(MapType::Hash, 4));
  uint64_t v = 0;
  for (uint32_t k = 0; k < 4; ++k) ASSERT_EQ(m->update_elem(&k, &v, kAny), 0);
  uint32_t k = 100;
  EXPECT_EQ(m->update_elem(&k, &v, kAny), -E2BIG);
  EXPECT_EQ(err(m->update(&k, &v, kAny)), E2BIG);
  k = 2;  // replacing an existing key still works when full
  v = 9;
  EXPECT_EQ(m->update_elem(&k, &v, kAny), 0);
  EXPECT_EQ(*static_cast<uint64_t*>(m->lookup_elem(&k)), 9U);
  ASSERT_TRUE(m->remove(&k));
  k = 100;
  EXPECT_EQ(m->update_elem(&k, &v, kAny), 0);
}

TEST_F(MapHashTest, LruEvictsInsteadOfFailing) {
  for (MapType t : {MapType::LruHash, MapType::LruPercpuHash}) {
    auto m = make(attr(t, 16));
    std::vector<uint8_t> v(m->user_value_size());
    for (uint32_t k = 0; k < 200; ++k) {
      v[0] = static_cast<uint8_t>(k);
      ASSERT_TRUE(m->update(&k, v.data(), kAny)) << k;
      EXPECT_NE(m->lookup_elem(&k), nullptr) << "the newest key is present";
    }
    uint32_t n = 0, key = 0;
    std::vector<uint32_t> seen;
    bool first = true;
    while (m->get_next_key(first ? nullptr : &key, &key)) {
      first = false;
      ++n;
    }
    EXPECT_LE(n, 16U);
    EXPECT_GE(n, 8U);
  }
}

TEST_F(MapHashTest, GetNextKeyWalksEveryKeyOnce) {
  auto m = make(attr(MapType::Hash, 64));
  uint64_t v = 0;
  std::set<uint32_t> want;
  for (uint32_t k = 0; k < 50; ++k) {
    const uint32_t key = k * 7919;
    ASSERT_TRUE(m->update(&key, &v, kAny));
    want.insert(key);
  }
  std::set<uint32_t> got;
  uint32_t key = 0;
  bool first = true;
  for (;;) {
    auto r = m->get_next_key(first ? nullptr : &key, &key);
    if (!r) {
      EXPECT_EQ(r.error().errnum, ENOENT);
      break;
    }
    first = false;
    EXPECT_TRUE(got.insert(key).second) << "key " << key << " twice";
  }
  EXPECT_EQ(got, want);
  uint32_t missing = 123456, next = 0, first_key = 0;
  ASSERT_TRUE(m->get_next_key(nullptr, &first_key));
  ASSERT_TRUE(m->get_next_key(&missing, &next));
  EXPECT_EQ(next, first_key) << "a missing key restarts at the first key";
  auto empty = make(attr(MapType::Hash, 4));
  EXPECT_EQ(err(empty->get_next_key(nullptr, &next)), ENOENT);
}

TEST_F(MapHashTest, BigKeysAndLookupAndDelete) {
  auto m = make(attr(MapType::Hash, 8, 20, 12));
  uint8_t key[20] = {1, 2, 3}, v[12] = {7}, out[12] = {};
  ASSERT_TRUE(m->update(key, v, kAny));
  key[19] = 1;
  EXPECT_EQ(err(m->lookup(key, out, 0)), ENOENT);
  key[19] = 0;
  ASSERT_TRUE(m->lookup_and_delete(key, out, 0));
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(err(m->lookup_and_delete(key, out, 0)), ENOENT);
}

TEST_F(MapHashTest, PercpuValues) {
  auto m = make(attr(MapType::PercpuHash, 8, 4, 4));
  const uint32_t n = possible_cpus();
  std::vector<uint32_t> in(n * 2), out(n * 2, 0xff);
  for (uint32_t c = 0; c < n; ++c) in[c * 2] = c + 100;
  uint32_t k = 5;
  ASSERT_TRUE(m->update(&k, in.data(), kAny));
  ASSERT_TRUE(m->lookup(&k, out.data(), 0));
  for (uint32_t c = 0; c < n; ++c) {
    EXPECT_EQ(out[c * 2], c + 100);
    EXPECT_EQ(out[c * 2 + 1], 0U);
    EXPECT_EQ(*static_cast<uint32_t*>(m->lookup_percpu_elem(&k, c)), c + 100);
  }
  // A program's update writes its CPU's copy; a new element is zero elsewhere.
  uint32_t k2 = 6, one = 1;
  ASSERT_EQ(m->update_elem(&k2, &one, kAny), 0);
  uint32_t sum = 0;
  for (uint32_t c = 0; c < n; ++c) sum += *static_cast<uint32_t*>(m->lookup_percpu_elem(&k2, c));
  EXPECT_EQ(sum, 1U);
}

TEST_F(MapHashTest, SpinLockUpdates) {
  MapAttr a = attr(MapType::Hash, 4, 4, 16);
  a.spin_lock_off = 4;
  auto m = make(a);
  uint32_t k = 1, v[4] = {1, 0xffffffff, 3, 4}, out[4] = {};
  ASSERT_TRUE(m->update(&k, v, kFLock));
  ASSERT_TRUE(m->update(&k, v, kFLock | kExist));
  ASSERT_TRUE(m->lookup(&k, out, kFLock));
  EXPECT_EQ(out[0], 1U);
  EXPECT_EQ(out[1], 0U);
  EXPECT_EQ(out[3], 4U);
  MapAttr lru = attr(MapType::LruHash);
  lru.spin_lock_off = 0;
  auto bad = store_->create_map(lru);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().errnum, EOPNOTSUPP);
}

TEST_F(MapHashTest, BatchOps) {
  auto m = make(attr(MapType::Hash, 16));
  std::vector<uint32_t> keys(10);
  std::vector<uint64_t> vals(10);
  for (uint32_t i = 0; i < 10; ++i) keys[i] = i, vals[i] = i * 100;
  BatchArgs up{.keys = keys.data(), .values = vals.data(), .count = 10};
  ASSERT_TRUE(m->update_batch(up));
  std::set<uint32_t> seen;
  std::vector<uint32_t> ok(4);
  std::vector<uint64_t> ov(4);
  uint32_t in = 0, out = 0;
  bool first = true;
  for (;;) {
    BatchArgs b{.in_batch = first ? nullptr : &in, .out_batch = &out, .keys = ok.data(), .values = ov.data(),
                .count = 4};
    auto r = m->lookup_batch(b);
    for (uint32_t i = 0; i < b.count; ++i) {
      EXPECT_EQ(ov[i], ok[i] * 100U);
      seen.insert(ok[i]);
    }
    if (!r) {
      EXPECT_EQ(r.error().errnum, ENOENT);
      break;
    }
    first = false;
    in = out;
  }
  EXPECT_EQ(seen.size(), 10U);
  BatchArgs del{.keys = keys.data(), .count = 3};
  ASSERT_TRUE(m->delete_batch(del));
  BatchArgs del_again{.keys = keys.data(), .count = 3};
  auto d = m->delete_batch(del_again);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().errnum, ENOENT);
  EXPECT_EQ(del_again.count, 0U);
  std::vector<uint32_t> rk(16);
  std::vector<uint64_t> rv(16);
  BatchArgs lad{.keys = rk.data(), .values = rv.data(), .count = 16};
  auto r = m->lookup_and_delete_batch(lad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOENT);
  EXPECT_EQ(lad.count, 7U);
  uint32_t any;
  EXPECT_EQ(err(m->get_next_key(nullptr, &any)), ENOENT);
}

// ---- concurrency

// Each worker adds 1 to a counter per key with atomics, and inserts its own
// distinct keys; every update must be there at the end.
void hammer(Map& m, uint32_t worker, uint32_t iters) {
  for (uint32_t i = 0; i < iters; ++i) {
    const uint32_t shared_key = i % 16;
    uint64_t zero = 0;
    if (m.update_elem(&shared_key, &zero, kNoExist) != 0 && m.lookup_elem(&shared_key) == nullptr) std::abort();
    auto* v = static_cast<uint64_t*>(m.lookup_elem(&shared_key));
    __atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
    const uint32_t own = 1000 + worker * iters + i;
    const uint64_t val = own;
    if (m.update_elem(&own, &val, kNoExist) != 0) std::abort();
    if (i % 3 == 0 && m.delete_elem(&own) != 0) std::abort();
  }
}

void check_hammered(Map& m, uint32_t workers, uint32_t iters) {
  uint64_t total = 0;
  for (uint32_t k = 0; k < 16; ++k) {
    uint64_t v = 0;
    ASSERT_TRUE(m.lookup(&k, &v, 0));
    total += v;
  }
  EXPECT_EQ(total, uint64_t{workers} * iters);
  for (uint32_t w = 0; w < workers; ++w) {
    for (uint32_t i = 0; i < iters; ++i) {
      const uint32_t own = 1000 + w * iters + i;
      uint64_t v = 0;
      const bool present = m.lookup(&own, &v, 0).has_value();
      EXPECT_EQ(present, i % 3 != 0) << own;
      if (present) {
        EXPECT_EQ(v, own);
      }
    }
  }
}

TEST_F(MapHashTest, TwoThreadsHammerOneMap) {
  constexpr uint32_t kIters = 20000;
  auto m = make(attr(MapType::Hash, 2 * kIters + 64));
  std::thread a(hammer, std::ref(*m), 0, kIters), b(hammer, std::ref(*m), 1, kIters);
  a.join();
  b.join();
  check_hammered(*m, 2, kIters);
}

TEST_F(MapHashTest, TwoProcessesHammerOneMap) {
  constexpr uint32_t kIters = 20000;
  auto m = make(attr(MapType::Hash, 2 * kIters + 64));
  pid_t pids[2];
  for (uint32_t w = 0; w < 2; ++w) {
    pids[w] = fork();
    ASSERT_GE(pids[w], 0);
    if (pids[w] == 0) {
      auto s = Store::open(dir_ + "/s");
      auto mm = (*s)->open_map(m->id());
      if (!mm) _exit(2);
      hammer(**mm, w, kIters);
      _exit(0);
    }
  }
  for (pid_t p : pids) {
    int status = 0;
    waitpid(p, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  check_hammered(*m, 2, kIters);
}

// A child updating in a tight loop is SIGKILLed repeatedly (sometimes inside
// a bucket lock); the map must stay usable with no lost structure.
TEST_F(MapHashTest, SigkilledWriterLeavesMapUsable) {
  auto m = make(attr(MapType::Hash, 64));
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::open(dir_ + "/s");
      auto mm = (*s)->open_map(m->id());
      for (uint64_t i = 0;; ++i) {
        const uint32_t k = static_cast<uint32_t>(i % 8);
        (void)(*mm)->update_elem(&k, &i, kAny);
        (void)(*mm)->delete_elem(&k);
        (void)(*mm)->update_elem(&k, &i, kAny);
      }
    }
    usleep(2000 + round * 300);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    for (uint32_t k = 0; k < 8; ++k) {
      uint64_t v = k;
      ASSERT_TRUE(m->update(&k, &v, kAny)) << "round " << round;
      ASSERT_TRUE(m->lookup(&k, &v, 0));
      EXPECT_EQ(v, k);
    }
  }
  // A kill inside an update leaks at most one slot (20 kills); the rest stay usable.
  for (uint32_t k = 100; k < 130; ++k) {
    uint64_t v = 0;
    ASSERT_TRUE(m->update(&k, &v, kNoExist)) << k;
  }
}

}  // namespace

namespace {

TEST_F(MapHashTest, LruPercpuProgramSide) {
  auto m = make(attr(MapType::LruPercpuHash, 4, 4, 8));
  uint32_t k = 3;
  uint64_t one = 1;
  ASSERT_EQ(m->update_elem(&k, &one, kAny), 0);
  auto* p = static_cast<uint64_t*>(m->lookup_elem(&k));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 1U);
  std::vector<uint64_t> all(possible_cpus());
  ASSERT_TRUE(m->lookup(&k, all.data(), 0));
  uint64_t sum = 0;
  for (uint64_t v : all) sum += v;
  EXPECT_EQ(sum, 1U);
  EXPECT_EQ(m->lookup_percpu_elem(&k, possible_cpus()), nullptr);
}

TEST_F(MapHashTest, FrozenAndReadOnlyMaps) {
  auto m = make(attr(MapType::Hash));
  uint32_t k = 1;
  uint64_t v = 1;
  ASSERT_TRUE(m->update(&k, &v, kAny));
  ASSERT_TRUE(m->freeze());
  EXPECT_EQ(err(m->update(&k, &v, kAny)), EPERM);
  EXPECT_EQ(err(m->remove(&k)), EPERM);
  EXPECT_EQ(err(m->lookup_and_delete(&k, &v, 0)), EPERM);
  EXPECT_EQ(m->update_elem(&k, &v, kAny), 0) << "programs may still write a frozen map";
  auto wo = make(attr(MapType::Hash, 8, 4, 8, kFWronly));
  EXPECT_EQ(err(wo->update(&k, &v, kAny)), 0);
  EXPECT_EQ(err(wo->lookup(&k, &v, 0)), EPERM);
  EXPECT_EQ(err(wo->get_next_key(nullptr, &k)), EPERM);
}

TEST_F(MapHashTest, DeleteDuringIterationRestartsAtFirstKey) {
  auto m = make(attr(MapType::Hash, 16));
  uint64_t v = 0;
  for (uint32_t k = 0; k < 10; ++k) ASSERT_TRUE(m->update(&k, &v, kAny));
  uint32_t first = 0, next = 0;
  ASSERT_TRUE(m->get_next_key(nullptr, &first));
  ASSERT_TRUE(m->remove(&first));
  ASSERT_TRUE(m->get_next_key(&first, &next));
  uint32_t new_first = 0;
  ASSERT_TRUE(m->get_next_key(nullptr, &new_first));
  EXPECT_EQ(next, new_first);
}

}  // namespace
