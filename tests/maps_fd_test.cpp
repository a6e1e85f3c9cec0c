// prog_array, array_of_maps, hash_of_maps: ids in, ids out (user side),
// inner Map* out (program side), template checks, and inner maps kept
// alive by the outer map as kernel references do.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "maps/fd_maps.hpp"
#include "maps/store.hpp"
#include "maps_fixture.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

using MapFixture = xbpf::test::MapFixture;

TEST_F(MapFixture, ProgArray) {
  EXPECT_EQ(create_err(attr(MapType::ProgArray, 4, 8, 4)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::ProgArray, 4, 4, 4, kFMmapable)), EINVAL);
  auto m = make(attr(MapType::ProgArray, 4, 4, 4));
  auto prog = store_->add_program(ProgramRecord{.name = "target"});
  ASSERT_TRUE(prog);
  uint32_t k = 2, id = *prog, out = 0;
  EXPECT_EQ(err(m->lookup(&k, &out, 0)), ENOENT);
  ASSERT_TRUE(m->update(&k, &id, kAny));
  ASSERT_TRUE(m->lookup(&k, &out, 0));
  EXPECT_EQ(out, id);
  EXPECT_EQ(prog_array_get(*m, 2), id);
  EXPECT_EQ(prog_array_get(*m, 1), 0U);
  EXPECT_EQ(prog_array_get(*m, 99), 0U);
  EXPECT_EQ(m->lookup_elem(&k), nullptr) << "programs tail-call, they do not look up";
  EXPECT_EQ(err(m->update(&k, &id, kNoExist)), EINVAL);
  uint32_t bogus = 999999;
  EXPECT_EQ(err(m->update(&k, &bogus, kAny)), EBADF);
  uint32_t big = 4;
  EXPECT_EQ(err(m->update(&big, &id, kAny)), E2BIG);
  ASSERT_TRUE(m->remove(&k));
  EXPECT_EQ(err(m->remove(&k)), ENOENT);
  EXPECT_EQ(prog_array_get(*m, 2), 0U);
}

TEST_F(MapFixture, ArrayOfMaps) {
  auto inner_tmpl = make(attr(MapType::Array, 4, 8, 4));
  MapAttr outer = attr(MapType::ArrayOfMaps, 4, 4, 2);
  EXPECT_EQ(create_err(outer), EBADF) << "no inner map";
  {  // as the kernel: no second level (EINVAL), no prog array (ENOTSUPP, 524)
    auto pa = make(attr(MapType::ProgArray, 4, 4, 4));
    outer.inner_map_id = pa->id();
    EXPECT_EQ(create_err(outer), 524) << "prog_array as inner map";
    outer.inner_map_id = inner_tmpl->id();
    auto level1 = make(outer);
    outer.inner_map_id = level1->id();
    EXPECT_EQ(create_err(outer), EINVAL) << "map-in-map as inner map";
  }
  outer.inner_map_id = inner_tmpl->id();
  auto m = make(outer);
  auto inner = make(attr(MapType::Array, 4, 8, 4));
  auto wrong = make(attr(MapType::Array, 4, 8, 5));
  uint32_t k = 1, id = inner->id(), out = 0, wid = wrong->id();
  EXPECT_EQ(err(m->update(&k, &wid, kAny)), EINVAL) << "max_entries differs from the template";
  ASSERT_TRUE(m->update(&k, &id, kAny));
  ASSERT_TRUE(m->lookup(&k, &out, 0));
  EXPECT_EQ(out, id);
  auto* in = static_cast<Map*>(m->lookup_elem(&k));
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->id(), inner->id());
  uint32_t zero = 0;
  EXPECT_EQ(m->lookup_elem(&zero), nullptr);
  // The outer map keeps the inner one alive after the creator drops it.
  const uint32_t inner_id = inner->id();
  inner.reset();
  in = nullptr;
  auto other = Store::open(dir_ + "/s");
  (*other)->sweep();
  auto again = (*other)->open_map(inner_id);
  ASSERT_TRUE(again) << again.error().message;
  again->reset();
  ASSERT_TRUE(m->remove(&k));
  EXPECT_EQ(err(m->remove(&k)), ENOENT);
  m.reset();  // its process-local cache of inner maps goes with it
  (*other)->sweep();
  EXPECT_FALSE(store_->open_map(inner_id)) << "reclaimed once no slot refers to it";
}

TEST_F(MapFixture, HashOfMapsAndOuterReclaim) {
  auto tmpl = make(attr(MapType::Hash, 4, 4, 8));
  MapAttr outer = attr(MapType::HashOfMaps, 8, 4, 4);
  outer.inner_map_id = tmpl->id();
  auto m = make(outer);
  auto inner = make(attr(MapType::Hash, 4, 4, 8));
  const uint32_t inner_id = inner->id();
  uint64_t k = 0xabcdef;
  uint32_t id = inner_id, out = 0;
  ASSERT_TRUE(m->update(&k, &id, kNoExist));
  EXPECT_EQ(err(m->update(&k, &id, kNoExist)), EEXIST);
  ASSERT_TRUE(m->lookup(&k, &out, 0));
  EXPECT_EQ(out, inner_id);
  auto* in = static_cast<Map*>(m->lookup_elem(&k));
  ASSERT_NE(in, nullptr);
  uint32_t ik = 1, iv = 2;
  EXPECT_EQ(in->update_elem(&ik, &iv, kAny), 0);
  uint32_t got = 0;
  ASSERT_TRUE(inner->lookup(&ik, &got, 0));
  EXPECT_EQ(got, 2U);
  auto arr = make(attr(MapType::Array, 4, 4, 8));
  uint32_t aid = arr->id();
  EXPECT_EQ(err(m->update(&k, &aid, kAny)), EINVAL) << "type differs from the template";
  // Dropping the outer map releases its inner maps.
  inner.reset();
  m.reset();
  EXPECT_FALSE(store_->open_map(inner_id));
}

TEST_F(MapFixture, MapInMapRejectsNestedTemplates) {
  auto tmpl = make(attr(MapType::Array, 4, 4, 1));
  MapAttr outer = attr(MapType::ArrayOfMaps, 4, 4, 1);
  outer.inner_map_id = tmpl->id();
  auto m = make(outer);
  MapAttr nested = attr(MapType::ArrayOfMaps, 4, 4, 1);
  nested.inner_map_id = m->id();
  EXPECT_EQ(create_err(nested), EINVAL);
  MapAttr not_mim = attr(MapType::Array, 4, 4, 1);
  not_mim.inner_map_id = tmpl->id();
  EXPECT_EQ(create_err(not_mim), EINVAL);
}

}  // namespace

namespace {

TEST_F(MapFixture, ProgArrayKeepsProgramsAlive) {
  auto m = make(attr(MapType::ProgArray, 4, 4, 2));
  auto prog = store_->add_program(ProgramRecord{.name = "tail"});
  ASSERT_TRUE(prog);
  uint32_t k = 0, id = *prog;
  ASSERT_TRUE(m->update(&k, &id, kAny));
  // A new Store instance drops nothing, but a fresh process's view is what
  // matters: release this process's creation hold by reopening the store.
  const uint32_t map_id = m->id();
  ASSERT_TRUE(store_->pin(ObjectKind::Map, map_id, "pa"));
  m.reset();
  store_.reset();
  store_ = *Store::open(dir_ + "/s");
  EXPECT_TRUE(store_->has_program(id)) << "held by the prog_array";
  auto again = store_->open_map(map_id);
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->remove(&k));
  EXPECT_FALSE(store_->has_program(id)) << "released with the slot";
}

}  // namespace
