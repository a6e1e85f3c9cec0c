// perf_event_array (bpf_perf_event_output records and the consumer) and
// stack_trace (bpf_get_stackid semantics).
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "maps/perf_buffer.hpp"
#include "maps/stack_trace.hpp"
#include "maps/store.hpp"
#include "maps_fixture.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

using MapFixture = xbpf::test::MapFixture;

TEST_F(MapFixture, PerfEventOutputAndConsume) {
  EXPECT_EQ(create_err(attr(MapType::PerfEventArray, 4, 8, 2)), EINVAL);
  auto m = make(attr(MapType::PerfEventArray, 4, 4, 2));
  const char msg[] = "hello";
  EXPECT_EQ(perf_event_output(*m, 0, msg, 5), -ENOENT) << "no consumer yet";
  EXPECT_EQ(perf_event_output(*m, 2, msg, 5), -E2BIG);
  EXPECT_EQ(perf_event_output(*m, 1ULL << 60, msg, 5), -EINVAL);
  PerfBufferConsumer c;
  std::vector<std::pair<uint32_t, std::string>> got;
  uint64_t lost = 0;
  ASSERT_TRUE(c.add(
      m, [&](uint32_t cpu, const void* d, uint32_t n) { got.emplace_back(cpu, std::string(static_cast<const char*>(d), n)); },
      [&](uint32_t, uint64_t l) { lost += l; }));
  ASSERT_EQ(perf_event_output(*m, 1, msg, 5), 0);
  ASSERT_EQ(perf_event_output(*m, 0, "abcdefgh", 8), 0);
  EXPECT_EQ(c.consume(), 2);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0].first, 0U);
  EXPECT_EQ(got[0].second.size(), 12U) << "raw size is padded: round_up(8 + 4, 8) - 4";
  EXPECT_EQ(got[0].second.substr(0, 8), "abcdefgh");
  EXPECT_EQ(got[1].first, 1U);
  EXPECT_EQ(got[1].second.substr(0, 5), "hello");
  // Fill one buffer: further records are lost and reported.
  std::vector<uint8_t> big(1000, 7);
  int ok = 0;
  while (perf_event_output(*m, 0, big.data(), big.size()) == 0) ++ok;
  EXPECT_EQ(perf_event_output(*m, 0, big.data(), big.size()), -ENOSPC);
  got.clear();
  EXPECT_EQ(c.consume(), ok + 1);
  EXPECT_EQ(lost, 2U);
  // Wrapped records come out whole.
  for (int i = 0; i < 200; ++i) {
    big[0] = static_cast<uint8_t>(i);
    ASSERT_EQ(perf_event_output(*m, kFCurrentCpu, big.data(), big.size()), 0);
    got.clear();
    ASSERT_EQ(c.poll(100), 1);
    ASSERT_EQ(got[0].second.size(), 1004U);
    EXPECT_EQ(static_cast<uint8_t>(got[0].second[0]), static_cast<uint8_t>(i));
    EXPECT_EQ(static_cast<uint8_t>(got[0].second[999]), 7);
  }
  uint32_t k = 0;
  ASSERT_TRUE(m->remove(&k));
  EXPECT_EQ(perf_event_output(*m, 0, msg, 5), -ENOENT);
  EXPECT_EQ(err(m->lookup(&k, &k, 0)), 524);
}

TEST_F(MapFixture, PerfConsumerInAnotherProcess) {
  auto m = make(attr(MapType::PerfEventArray, 4, 4, 1));
  PerfBufferConsumer c;
  uint64_t sum = 0;
  ASSERT_TRUE(c.add(m, [&](uint32_t, const void* d, uint32_t) {
    uint64_t v;
    std::memcpy(&v, d, 8);
    sum += v;
  }));
  const pid_t pid = fork();
  if (pid == 0) {
    auto s = Store::open(dir_ + "/s");
    auto mm = (*s)->open_map(m->id());
    for (uint64_t i = 1; i <= 500; ++i) {
      while (perf_event_output(**mm, 0, &i, 8) != 0) usleep(100);
    }
    _exit(0);
  }
  while (sum < 500 * 501 / 2) ASSERT_GE(c.poll(2000), 0);
  waitpid(pid, nullptr, 0);
  EXPECT_EQ(sum, 500U * 501 / 2);
}

TEST_F(MapFixture, StackTrace) {
  EXPECT_EQ(create_err(attr(MapType::StackTrace, 4, 12, 8)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::StackTrace, 8, 16, 8)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::StackTrace, 4, 128 * 8, 8)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::StackTrace, 4, 16, 8, 1U << 5)), EINVAL);
  auto m = make(attr(MapType::StackTrace, 4, 4 * 8, 16));
  const uint64_t ips[] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000};
  const long id = stack_get_id(*m, ips, 3, 0);
  ASSERT_GE(id, 0);
  EXPECT_EQ(stack_get_id(*m, ips, 3, 0), id) << "the same stack gets the same id";
  EXPECT_EQ(stack_get_id(*m, ips, 3, 1ULL << 11), -EINVAL);
  EXPECT_EQ(stack_get_id(*m, ips, 3, 3), -EFAULT) << "nothing left after skipping 3";
  uint32_t k = static_cast<uint32_t>(id);
  uint64_t out[4] = {9, 9, 9, 9};
  ASSERT_TRUE(m->lookup(&k, out, 0));
  EXPECT_EQ(out[0], 0x1000U);
  EXPECT_EQ(out[2], 0x3000U);
  EXPECT_EQ(out[3], 0U) << "unused frames read as zero";
  const long deep = stack_get_id(*m, ips, 6, 1);  // skip 1, keep at most 4 frames
  ASSERT_GE(deep, 0);
  uint32_t dk = static_cast<uint32_t>(deep);
  ASSERT_TRUE(m->lookup(&dk, out, 0));
  EXPECT_EQ(out[0], 0x2000U);
  EXPECT_EQ(out[3], 0x5000U);
  // Find a different stack that lands in an occupied bucket.
  uint64_t other[3] = {0, 0x2, 0x3};
  long clash = -1;
  for (uint64_t x = 1; x < 100000 && clash < 0; ++x) {
    other[0] = x;
    const long r = stack_get_id(*m, other, 3, 0);
    if (r == -EEXIST) clash = static_cast<long>(x);
  }
  ASSERT_GT(clash, 0);
  const long reused = stack_get_id(*m, other, 3, kFReuseStackId);
  ASSERT_GE(reused, 0);
  uint32_t next = 0;
  uint32_t count = 0;
  bool first = true;
  while (m->get_next_key(first ? nullptr : &next, &next)) {
    first = false;
    ++count;
  }
  EXPECT_GE(count, 2U);
  ASSERT_TRUE(m->remove(&k));
  EXPECT_EQ(err(m->lookup(&k, out, 0)), ENOENT);
  EXPECT_EQ(err(m->update(&k, out, 0)), EINVAL);
}

}  // namespace
