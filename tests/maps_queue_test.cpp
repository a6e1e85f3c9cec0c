// Queue, stack and bloom filter maps: kernel create checks, push/pop/peek
// with BPF_EXIST overwrite, errno values, user-side equivalents.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "maps/store.hpp"
#include "maps_fixture.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

using MapFixture = xbpf::test::MapFixture;

TEST_F(MapFixture, QueueStackCreateChecks) {
  for (MapType t : {MapType::Queue, MapType::Stack}) {
    EXPECT_EQ(create_err(attr(t, 0, 4, 4)), 0);
    EXPECT_EQ(create_err(attr(t, 4, 4, 4)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 0, 0, 4)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 0, 4, 0)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 0, 4, 4, kFNoPrealloc)), EINVAL);
  }
}

TEST_F(MapFixture, QueueIsFifoStackIsLifo) {
  auto q = make(attr(MapType::Queue, 0, 4, 3));
  auto s = make(attr(MapType::Stack, 0, 4, 3));
  for (uint32_t v = 1; v <= 3; ++v) {
    ASSERT_EQ(q->push_elem(&v, kAny), 0);
    ASSERT_EQ(s->push_elem(&v, kAny), 0);
  }
  uint32_t v = 4, out = 0;
  EXPECT_EQ(q->push_elem(&v, kAny), -E2BIG);
  EXPECT_EQ(q->push_elem(&v, kNoExist), -EINVAL);
  EXPECT_EQ(q->push_elem(&v, 4), -EINVAL);
  EXPECT_EQ(q->peek_elem(&out), 0);
  EXPECT_EQ(out, 1U);
  EXPECT_EQ(s->peek_elem(&out), 0);
  EXPECT_EQ(out, 3U);
  // BPF_EXIST on a full map drops the oldest element.
  ASSERT_EQ(q->push_elem(&v, kExist), 0);
  ASSERT_EQ(s->push_elem(&v, kExist), 0);
  std::vector<uint32_t> qo, so;
  while (q->pop_elem(&out) == 0) qo.push_back(out);
  while (s->pop_elem(&out) == 0) so.push_back(out);
  EXPECT_EQ(qo, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(so, (std::vector<uint32_t>{4, 3, 2}));
  EXPECT_EQ(q->pop_elem(&out), -ENOENT);
  EXPECT_EQ(q->peek_elem(&out), -ENOENT);
  EXPECT_EQ(q->lookup_elem(nullptr), nullptr);
}

TEST_F(MapFixture, QueueUserSide) {
  auto q = make(attr(MapType::Queue, 0, 8, 2));
  uint64_t v = 7, out = 0;
  EXPECT_EQ(err(q->lookup(nullptr, &out, 0)), ENOENT);
  ASSERT_TRUE(q->update(nullptr, &v, kAny));
  v = 8;
  ASSERT_TRUE(q->update(nullptr, &v, kAny));
  EXPECT_EQ(err(q->update(nullptr, &v, kAny)), E2BIG);
  ASSERT_TRUE(q->lookup(nullptr, &out, 0));
  EXPECT_EQ(out, 7U);
  ASSERT_TRUE(q->lookup_and_delete(nullptr, &out, 0));
  EXPECT_EQ(out, 7U);
  EXPECT_EQ(err(q->remove(nullptr)), EINVAL);
  EXPECT_EQ(err(q->get_next_key(nullptr, &out)), EINVAL);
  ASSERT_TRUE(q->freeze());
  EXPECT_EQ(err(q->update(nullptr, &v, kAny)), EPERM);
}

TEST_F(MapFixture, BloomFilter) {
  EXPECT_EQ(create_err(attr(MapType::BloomFilter, 4, 4, 10)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::BloomFilter, 0, 0, 10)), EINVAL);
  MapAttr bad = attr(MapType::BloomFilter, 0, 4, 10);
  bad.map_extra = 16;
  EXPECT_EQ(create_err(bad), EINVAL);
  MapAttr a = attr(MapType::BloomFilter, 0, 8, 1000);
  a.map_extra = 3;
  auto b = make(a);
  for (uint64_t v = 0; v < 1000; v += 2) ASSERT_EQ(b->push_elem(&v, kAny), 0);
  for (uint64_t v = 0; v < 1000; v += 2) EXPECT_EQ(b->peek_elem(&v), 0) << "no false negatives";
  int false_pos = 0;
  for (uint64_t v = 1; v < 1000; v += 2) false_pos += b->peek_elem(&v) == 0;
  EXPECT_LT(false_pos, 50) << "false positives stay rare";
  uint64_t v = 1;
  EXPECT_EQ(b->push_elem(&v, kExist), -EINVAL);
  EXPECT_EQ(b->pop_elem(&v), -EOPNOTSUPP);
  uint64_t absent = 123456789;
  if (b->peek_elem(&absent) != 0) {
    EXPECT_EQ(err(b->lookup(nullptr, &absent, 0)), ENOENT);
  }
  ASSERT_TRUE(b->update(nullptr, &absent, kAny));
  EXPECT_TRUE(b->lookup(nullptr, &absent, 0));
  EXPECT_EQ(err(b->remove(nullptr)), EOPNOTSUPP);
  EXPECT_EQ(err(b->get_next_key(nullptr, &v)), EOPNOTSUPP);
}

}  // namespace
