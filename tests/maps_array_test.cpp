// Array and per-CPU array maps: kernel create checks, flags, errno values,
// iteration, freeze, BPF_F_RDONLY(_PROG), BPF_F_LOCK, batch ops.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "maps/lock.hpp"
#include "maps/store.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

class MapArrayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-array-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = *Store::open(dir_ + "/s");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static MapAttr attr(MapType t, uint32_t vs = 8, uint32_t n = 4, uint32_t flags = 0) {
    MapAttr a;
    a.type = t;
    a.key_size = 4;
    a.value_size = vs;
    a.max_entries = n;
    a.map_flags = flags;
    a.name = "arr";
    return a;
  }
  std::shared_ptr<Map> make(const MapAttr& a) {
    auto m = store_->create_map(a);
    EXPECT_TRUE(m) << m.error().message;
    return m ? *m : nullptr;
  }
  std::string dir_;
  std::shared_ptr<Store> store_;
};

struct CreateCase {
  const char* what;
  MapAttr attr;
  int err;  // 0 = accepted
};

MapAttr with(MapAttr a, auto&& f) {
  f(a);
  return a;
}

TEST_F(MapArrayTest, CreateChecksFollowTheKernel) {
  const MapAttr ok = attr(MapType::Array);
  const CreateCase cases[] = {
      {"valid", ok, 0},
      {"key_size 8", with(ok, [](MapAttr& a) { a.key_size = 8; }), EINVAL},
      {"value_size 0", with(ok, [](MapAttr& a) { a.value_size = 0; }), EINVAL},
      {"max_entries 0", with(ok, [](MapAttr& a) { a.max_entries = 0; }), EINVAL},
      {"unknown flag", with(ok, [](MapAttr& a) { a.map_flags = 1U << 20; }), EINVAL},
      {"no_prealloc", with(ok, [](MapAttr& a) { a.map_flags = kFNoPrealloc; }), EINVAL},
      {"rdonly+wronly", with(ok, [](MapAttr& a) { a.map_flags = kFRdonly | kFWronly; }), EINVAL},
      {"rdonly_prog+wronly_prog", with(ok, [](MapAttr& a) { a.map_flags = kFRdonlyProg | kFWronlyProg; }), EINVAL},
      {"mmapable", with(ok, [](MapAttr& a) { a.map_flags = kFMmapable; }), 0},
      {"percpu mmapable", with(attr(MapType::PercpuArray), [](MapAttr& a) { a.map_flags = kFMmapable; }), EINVAL},
      {"map_extra", with(ok, [](MapAttr& a) { a.map_extra = 1; }), EINVAL},
      {"bad name", with(ok, [](MapAttr& a) { a.name = "a-b"; }), EINVAL},
      {"long name", with(ok, [](MapAttr& a) { a.name = "0123456789abcdef"; }), EINVAL},
      {"huge value", with(ok, [](MapAttr& a) { a.value_size = 1U << 30; }), E2BIG},
      {"huge map", with(ok, [](MapAttr& a) { a.max_entries = 1U << 31; a.value_size = 4096; }), E2BIG},
      {"spin lock outside value", with(ok, [](MapAttr& a) { a.spin_lock_off = 8; }), EINVAL},
      {"unsupported type", with(ok, [](MapAttr& a) { a.type = MapType::Sockmap; }), EINVAL},
  };
  for (const auto& c : cases) {
    auto m = store_->create_map(c.attr);
    if (c.err == 0) {
      EXPECT_TRUE(m) << c.what << ": " << m.error().message;
    } else {
      ASSERT_FALSE(m) << c.what;
      EXPECT_EQ(m.error().errnum, c.err) << c.what << ": " << m.error().message;
      EXPECT_NE(m.error().message.find("map '"), std::string::npos) << m.error().message;
    }
  }
}

TEST_F(MapArrayTest, ElementsExistAndAreZero) {
  auto m = make(attr(MapType::Array));
  uint64_t v = 1;
  for (uint32_t k = 0; k < 4; ++k) {
    ASSERT_TRUE(m->lookup(&k, &v, 0));
    EXPECT_EQ(v, 0U);
    EXPECT_NE(m->lookup_elem(&k), nullptr);
  }
  uint32_t k = 4;
  EXPECT_EQ(m->lookup_elem(&k), nullptr);
  auto r = m->lookup(&k, &v, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, ENOENT);
}

TEST_F(MapArrayTest, UpdateFlagsAndErrors) {
  auto m = make(attr(MapType::Array));
  uint32_t k = 1;
  uint64_t v = 5, out = 0;
  struct Case {
    uint32_t key;
    uint64_t flags;
    int err;
  } cases[] = {
      {1, kAny, 0}, {1, kExist, 0}, {1, kNoExist, EEXIST}, {4, kAny, E2BIG},
      {1, 3, EINVAL}, {1, 8, EINVAL}, {1, kFLock, EINVAL},  // no spin lock in the value
  };
  for (const auto& c : cases) {
    auto r = m->update(&c.key, &v, c.flags);
    EXPECT_EQ(r ? 0 : r.error().errnum, c.err) << "key " << c.key << " flags " << c.flags;
    EXPECT_EQ(m->update_elem(&c.key, &v, c.flags), -c.err) << "program side, flags " << c.flags;
  }
  ASSERT_TRUE(m->lookup(&k, &out, 0));
  EXPECT_EQ(out, 5U);
  EXPECT_EQ(m->delete_elem(&k), -EINVAL);
  auto d = m->remove(&k);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().errnum, EINVAL);
  auto l = m->lookup(&k, &out, 1);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().errnum, EINVAL);
}

TEST_F(MapArrayTest, GetNextKey) {
  auto m = make(attr(MapType::Array, 8, 3));
  uint32_t next = 99;
  ASSERT_TRUE(m->get_next_key(nullptr, &next));
  EXPECT_EQ(next, 0U);
  uint32_t k = 0;
  ASSERT_TRUE(m->get_next_key(&k, &next));
  EXPECT_EQ(next, 1U);
  k = 2;
  auto end = m->get_next_key(&k, &next);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().errnum, ENOENT);
  k = 77;  // missing key: the first key
  ASSERT_TRUE(m->get_next_key(&k, &next));
  EXPECT_EQ(next, 0U);
}

TEST_F(MapArrayTest, FreezeBlocksUserWritesOnly) {
  auto m = make(attr(MapType::Array));
  uint32_t k = 0;
  uint64_t v = 3;
  EXPECT_FALSE(m->frozen());
  ASSERT_TRUE(m->freeze());
  EXPECT_TRUE(m->frozen());
  auto again = m->freeze();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().errnum, EBUSY);
  auto r = m->update(&k, &v, kAny);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EPERM);
  EXPECT_EQ(m->update_elem(&k, &v, kAny), 0);  // programs still write
  auto other = store_->open_map(m->id());
  ASSERT_TRUE(other);
  EXPECT_TRUE((*other)->frozen());
  EXPECT_TRUE((*other)->info().frozen);
}

TEST_F(MapArrayTest, AccessFlags) {
  auto ro = make(attr(MapType::Array, 8, 4, kFRdonly));
  auto wo = make(attr(MapType::Array, 8, 4, kFWronly));
  auto rop = make(attr(MapType::Array, 8, 4, kFRdonlyProg));
  uint32_t k = 0;
  uint64_t v = 1;
  auto r = ro->update(&k, &v, kAny);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EPERM);
  EXPECT_TRUE(ro->lookup(&k, &v, 0));
  auto w = wo->lookup(&k, &v, 0);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().errnum, EPERM);
  EXPECT_TRUE(wo->update(&k, &v, kAny));
  EXPECT_TRUE(rop->prog_read_only());
  EXPECT_FALSE(ro->prog_read_only());
  EXPECT_TRUE(rop->update(&k, &v, kAny));
}

TEST_F(MapArrayTest, PercpuLayout) {
  auto m = make(attr(MapType::PercpuArray, 4, 2));
  const uint32_t n = possible_cpus();
  ASSERT_EQ(m->user_value_size(), n * 8);
  std::vector<uint8_t> in(m->user_value_size()), out(m->user_value_size(), 0xff);
  for (uint32_t c = 0; c < n; ++c) in[c * 8] = static_cast<uint8_t>(c + 1);
  uint32_t k = 1;
  ASSERT_TRUE(m->update(&k, in.data(), kAny));
  ASSERT_TRUE(m->lookup(&k, out.data(), 0));
  for (uint32_t c = 0; c < n; ++c) {
    EXPECT_EQ(out[c * 8], c + 1);
    EXPECT_EQ(out[c * 8 + 4], 0) << "padding is zeroed";
    auto* p = static_cast<uint8_t*>(m->lookup_percpu_elem(&k, c));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, c + 1);
  }
  EXPECT_EQ(m->lookup_percpu_elem(&k, n), nullptr);
  EXPECT_NE(m->lookup_elem(&k), nullptr);
  EXPECT_EQ(m->array_layout().base, nullptr) << "per-CPU arrays are not flat";
}

TEST_F(MapArrayTest, ArrayLayoutForInlinedLookups) {
  auto m = make(attr(MapType::Array, 12, 5));
  const ArrayLayout l = m->array_layout();
  ASSERT_NE(l.base, nullptr);
  EXPECT_EQ(l.stride, 16U);
  EXPECT_EQ(l.max_entries, 5U);
  for (uint32_t k = 0; k < 5; ++k) EXPECT_EQ(m->lookup_elem(&k), l.base + k * 16);
}

TEST_F(MapArrayTest, SpinLockValue) {
  MapAttr a = attr(MapType::Array, 16, 2);
  a.spin_lock_off = 0;
  auto m = make(a);
  uint32_t k = 0;
  uint32_t v[4] = {0xffffffff, 1, 2, 3}, out[4] = {9, 9, 9, 9};
  ASSERT_TRUE(m->update(&k, v, kFLock));
  ASSERT_TRUE(m->lookup(&k, out, kFLock));
  EXPECT_EQ(out[0], 0U) << "the lock word is never copied out";
  EXPECT_EQ(out[1], 1U);
  EXPECT_EQ(out[3], 3U);
  auto* raw = static_cast<uint32_t*>(m->lookup_elem(&k));
  EXPECT_EQ(raw[0], 0U) << "the lock word is never copied in";
  spin_lock(raw);
  EXPECT_NE(raw[0], 0U);
  spin_unlock(raw);
  EXPECT_EQ(m->update_elem(&k, v, kFLock), 0);
}

TEST_F(MapArrayTest, BatchOps) {
  auto m = make(attr(MapType::Array, 8, 5));
  std::vector<uint32_t> keys = {0, 1, 2, 3, 4};
  std::vector<uint64_t> vals = {10, 11, 12, 13, 14};
  BatchArgs up{.keys = keys.data(), .values = vals.data(), .count = 5};
  ASSERT_TRUE(m->update_batch(up));
  EXPECT_EQ(up.count, 5U);
  std::vector<uint32_t> ok(3);
  std::vector<uint64_t> ov(3);
  uint32_t token = 0;
  BatchArgs lb{.out_batch = &token, .keys = ok.data(), .values = ov.data(), .count = 3};
  ASSERT_TRUE(m->lookup_batch(lb));
  EXPECT_EQ(lb.count, 3U);
  EXPECT_EQ(ok, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(ov, (std::vector<uint64_t>{10, 11, 12}));
  uint32_t token2 = 0;
  BatchArgs lb2{.in_batch = &token, .out_batch = &token2, .keys = ok.data(), .values = ov.data(), .count = 3};
  auto end = m->lookup_batch(lb2);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().errnum, ENOENT);
  EXPECT_EQ(lb2.count, 2U);
  EXPECT_EQ(ok[1], 4U);
  EXPECT_EQ(ov[1], 14U);
  BatchArgs bad{.keys = ok.data(), .values = ov.data(), .count = 1, .flags = 1};
  auto b = m->lookup_batch(bad);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().errnum, EINVAL);
  BatchArgs del{.keys = keys.data(), .count = 1};
  auto d = m->delete_batch(del);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().errnum, EINVAL);
  EXPECT_EQ(del.count, 0U);
}

}  // namespace
