// The store fixture the maps tests share: a fresh store in a unique
// directory on tmpfs per test, and helpers to create maps and read errnos.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "maps/store.hpp"

namespace xbpf::test {

using namespace xbpf::maps;

class MapFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-maps-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = *Store::open(dir_ + "/s");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  static MapAttr attr(MapType t, uint32_t ks, uint32_t vs, uint32_t n, uint32_t flags = 0) {
    MapAttr a;
    a.type = t;
    a.key_size = ks;
    a.value_size = vs;
    a.max_entries = n;
    a.map_flags = flags;
    a.name = "m";
    return a;
  }
  std::shared_ptr<Map> make(const MapAttr& a) {
    auto m = store_->create_map(a);
    EXPECT_TRUE(m) << m.error().message;
    return m ? *m : nullptr;
  }
  int create_err(const MapAttr& a) {
    auto m = store_->create_map(a);
    return m ? 0 : m.error().errnum;
  }
  static int err(const Expected<void>& r) { return r ? 0 : r.error().errnum; }
  std::string dir_;
  std::shared_ptr<Store> store_;
};

}  // namespace xbpf::test
