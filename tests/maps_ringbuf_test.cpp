// Ring buffer: kernel layout (record header bits, positions, wrap-around
// view), reserve/submit/discard/output/query, consumer callbacks, and a
// consumer in another process blocked on the futex.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "maps/ringbuf.hpp"
#include "maps/store.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

class MapRingbufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-rb-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = *Store::open(dir_ + "/s");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::shared_ptr<Map> make(uint32_t size = 4096) {
    MapAttr a;
    a.type = MapType::Ringbuf;
    a.max_entries = size;
    a.name = "rb";
    auto m = store_->create_map(a);
    EXPECT_TRUE(m) << m.error().message;
    return m ? *m : nullptr;
  }
  std::string dir_;
  std::shared_ptr<Store> store_;
};

TEST_F(MapRingbufTest, CreateChecks) {
  struct Case {
    uint32_t ks, vs, n, flags;
    int err;
  } cases[] = {
      {0, 0, 4096, 0, 0},          {4, 0, 4096, 0, EINVAL}, {0, 4, 4096, 0, EINVAL},
      {0, 0, 3 * 4096, 0, EINVAL}, {0, 0, 1024, 0, EINVAL}, {0, 0, 0, 0, EINVAL},
      {0, 0, 4096, kFRdonly, EINVAL},
  };
  for (const auto& c : cases) {
    MapAttr a;
    a.type = MapType::Ringbuf;
    a.key_size = c.ks;
    a.value_size = c.vs;
    a.max_entries = c.n;
    a.map_flags = c.flags;
    auto m = store_->create_map(a);
    EXPECT_EQ(m ? 0 : m.error().errnum, c.err) << c.n;
  }
}

TEST_F(MapRingbufTest, ReserveSubmitLayout) {
  auto m = make();
  const RingbufLayout l = ringbuf_layout(*m);
  ASSERT_NE(l.data, nullptr);
  EXPECT_EQ(l.size, 4096U);
  auto* p = static_cast<uint8_t*>(ringbuf_reserve(*m, 5, 0));
  ASSERT_NE(p, nullptr);
  uint32_t len;
  std::memcpy(&len, p - 8, 4);
  EXPECT_EQ(len, 5U | kRingbufBusyBit);
  EXPECT_EQ(*l.producer_pos, 16U) << "8-byte header + 5 bytes rounded to 8";
  EXPECT_EQ(ringbuf_query(*m, kRbAvailData), 16U);
  EXPECT_EQ(ringbuf_query(*m, kRbRingSize), 4096U);
  EXPECT_EQ(ringbuf_query(*m, kRbProdPos), 16U);
  EXPECT_EQ(ringbuf_query(*m, kRbConsPos), 0U);
  std::memcpy(p, "hello", 5);
  ringbuf_submit(p, 0);
  std::memcpy(&len, p - 8, 4);
  EXPECT_EQ(len, 5U);
  auto* q = static_cast<uint8_t*>(ringbuf_reserve(*m, 3, 0));
  ringbuf_discard(q, 0);
  std::memcpy(&len, q - 8, 4);
  EXPECT_EQ(len, 3U | kRingbufDiscardBit);
  EXPECT_EQ(ringbuf_reserve(*m, 8, 1), nullptr) << "flags must be 0";

  RingBufferConsumer c;
  std::vector<std::string> got;
  ASSERT_TRUE(c.add(m, [&](const void* d, size_t n) {
    got.emplace_back(static_cast<const char*>(d), n);
    return 0;
  }));
  EXPECT_EQ(c.consume(), 1);
  EXPECT_EQ(got, std::vector<std::string>{"hello"});
  EXPECT_EQ(*l.consumer_pos, 32U);
  EXPECT_EQ(ringbuf_query(*m, kRbAvailData), 0U);
}

TEST_F(MapRingbufTest, FullRingAndWrapAround) {
  auto m = make(4096);
  std::vector<uint8_t> rec(1000);
  int ok = 0;
  uint64_t produced = 0;
  auto fill = [&] {
    for (size_t i = 0; i < rec.size(); ++i) rec[i] = static_cast<uint8_t>(produced + i);
  };
  for (fill(); ringbuf_output(*m, rec.data(), rec.size(), 0) == 0; fill()) {
    ++ok;
    produced += rec.size();
  }
  EXPECT_EQ(ok, 4) << "4 x 1008 bytes fit in 4096";
  EXPECT_EQ(ringbuf_output(*m, rec.data(), rec.size(), 0), -EAGAIN);
  EXPECT_EQ(ringbuf_output(*m, rec.data(), 8, 4), -EINVAL);
  EXPECT_EQ(ringbuf_reserve(*m, 5000, 0), nullptr) << "bigger than the ring";
  RingBufferConsumer c;
  uint64_t seen = 0;
  ASSERT_TRUE(c.add(m, [&](const void* d, size_t n) {
    const auto* b = static_cast<const uint8_t*>(d);
    for (size_t i = 0; i < n; ++i) {
      if (b[i] != static_cast<uint8_t>(seen + i)) return -1;
    }
    seen += n;
    return 0;
  }));
  EXPECT_EQ(c.consume(), 4);
  // Records now straddle the end of the data area: the consumer sees them whole.
  for (int round = 0; round < 20; ++round) {
    fill();
    produced += rec.size();
    ASSERT_EQ(ringbuf_output(*m, rec.data(), rec.size(), 0), 0);
    ASSERT_EQ(c.consume(), 1) << round;
  }
}

TEST_F(MapRingbufTest, CallbackErrorStops) {
  auto m = make();
  uint64_t v = 1;
  ASSERT_EQ(ringbuf_output(*m, &v, 8, 0), 0);
  ASSERT_EQ(ringbuf_output(*m, &v, 8, 0), 0);
  RingBufferConsumer c;
  ASSERT_TRUE(c.add(m, [](const void*, size_t) { return -7; }));
  EXPECT_EQ(c.consume(), -7);
  EXPECT_EQ(ringbuf_query(*m, kRbAvailData), 16U) << "the failed record is consumed, the next is not";
}

TEST_F(MapRingbufTest, UserSideElementOpsUnsupported) {
  auto m = make();
  uint32_t k = 0;
  auto r = m->lookup(&k, &k, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, 524);
  RingBufferConsumer c;
  MapAttr a;
  a.type = MapType::Array;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = 1;
  auto arr = store_->create_map(a);
  EXPECT_FALSE(c.add(*arr, [](const void*, size_t) { return 0; }));
  EXPECT_EQ(ringbuf_reserve(**arr, 8, 0), nullptr);
}

TEST_F(MapRingbufTest, ConsumerInAnotherProcessWakesUp) {
  auto m = make(1 << 16);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto s = Store::open(dir_ + "/s");
    auto mm = (*s)->open_map(m->id());
    RingBufferConsumer c;
    uint64_t sum = 0, count = 0;
    (void)c.add(*mm, [&](const void* d, size_t) {
      uint64_t v;
      std::memcpy(&v, d, 8);
      sum += v;
      ++count;
      return 0;
    });
    while (count < 1000) {
      if (c.poll(5000) < 0) _exit(3);
    }
    (void)!write(fds[1], &sum, 8);
    _exit(0);
  }
  close(fds[1]);
  usleep(20000);  // let the consumer block first
  uint64_t want = 0;
  for (uint64_t i = 1; i <= 1000; ++i) {
    while (ringbuf_output(*m, &i, 8, 0) != 0) usleep(100);
    want += i;
    if (i % 100 == 0) usleep(1000);
  }
  uint64_t got = 0;
  ASSERT_EQ(read(fds[0], &got, 8), 8);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(got, want);
}

TEST_F(MapRingbufTest, PollTimesOut) {
  auto m = make();
  RingBufferConsumer c;
  ASSERT_TRUE(c.add(m, [](const void*, size_t) { return 0; }));
  EXPECT_EQ(c.poll(10), 0);
}

}  // namespace
