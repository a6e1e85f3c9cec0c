// LPM trie: kernel key layout, longest-prefix match, flags/errnos, ENOSPC,
// iteration order (the kernel trie's post-order).
#include <arpa/inet.h>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "maps/store.hpp"
#include "maps_fixture.hpp"

using namespace xbpf;
using namespace xbpf::maps;

namespace {

using MapFixture = xbpf::test::MapFixture;

struct Key4 {
  uint32_t prefixlen;
  uint8_t data[4];
};

Key4 k4(const char* ip, uint32_t plen) {
  Key4 k{plen, {}};
  inet_pton(AF_INET, ip, k.data);
  return k;
}

TEST_F(MapFixture, LpmCreateChecks) {
  EXPECT_EQ(create_err(attr(MapType::LpmTrie, 8, 4, 10, kFNoPrealloc)), 0);
  EXPECT_EQ(create_err(attr(MapType::LpmTrie, 8, 4, 10)), EINVAL) << "BPF_F_NO_PREALLOC is required";
  EXPECT_EQ(create_err(attr(MapType::LpmTrie, 4, 4, 10, kFNoPrealloc)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::LpmTrie, 261, 4, 10, kFNoPrealloc)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::LpmTrie, 8, 0, 10, kFNoPrealloc)), EINVAL);
  EXPECT_EQ(create_err(attr(MapType::LpmTrie, 8, 4, 0, kFNoPrealloc)), EINVAL);
}

TEST_F(MapFixture, LpmLongestPrefixMatch) {
  auto m = make(attr(MapType::LpmTrie, 8, 4, 4, kFNoPrealloc));
  struct Route {
    const char* ip;
    uint32_t plen, value;
  } routes[] = {{"10.0.0.0", 8, 1}, {"10.1.0.0", 16, 2}, {"10.1.2.0", 24, 3}, {"0.0.0.0", 0, 9}};
  for (const auto& r : routes) {
    Key4 k = k4(r.ip, r.plen);
    ASSERT_TRUE(m->update(&k, &r.value, kNoExist)) << r.ip;
  }
  struct Probe {
    const char* ip;
    uint32_t want;
  } probes[] = {{"10.1.2.3", 3}, {"10.1.3.3", 2}, {"10.2.0.1", 1}, {"192.168.0.1", 9}};
  for (const auto& p : probes) {
    Key4 k = k4(p.ip, 32);
    uint32_t v = 0;
    ASSERT_TRUE(m->lookup(&k, &v, 0)) << p.ip;
    EXPECT_EQ(v, p.want) << p.ip;
    auto* pv = static_cast<uint32_t*>(m->lookup_elem(&k));
    ASSERT_NE(pv, nullptr);
    EXPECT_EQ(*pv, p.want);
  }
  Key4 shorter = k4("10.1.2.3", 12);  // the key's prefixlen caps the match
  uint32_t v = 0;
  ASSERT_TRUE(m->lookup(&shorter, &v, 0));
  EXPECT_EQ(v, 1U);
  Key4 extra = k4("172.16.0.0", 12);
  EXPECT_EQ(err(m->update(&extra, &v, kAny)), ENOSPC);
  Key4 dup = k4("10.1.255.255", 16);  // same /16 prefix, other host bits
  EXPECT_EQ(err(m->update(&dup, &v, kNoExist)), EEXIST);
  Key4 missing = k4("10.9.0.0", 16);
  EXPECT_EQ(err(m->update(&missing, &v, kExist)), ENOENT);
  Key4 too_long = k4("10.0.0.0", 33);
  EXPECT_EQ(err(m->update(&too_long, &v, kAny)), EINVAL);
  EXPECT_EQ(err(m->update(&dup, &v, 3)), EINVAL);
  EXPECT_EQ(err(m->remove(&missing)), ENOENT);
  Key4 r16 = k4("10.1.0.0", 16);
  ASSERT_TRUE(m->remove(&r16));
  Key4 probe = k4("10.1.3.3", 32);
  ASSERT_TRUE(m->lookup(&probe, &v, 0));
  EXPECT_EQ(v, 1U);
}

TEST_F(MapFixture, LpmIterationIsPostOrder) {
  auto m = make(attr(MapType::LpmTrie, 8, 4, 8, kFNoPrealloc));
  const std::pair<const char*, uint32_t> entries[] = {
      {"192.168.0.0", 16}, {"10.0.0.0", 8}, {"10.1.0.0", 16}, {"192.168.1.0", 24}, {"0.0.0.0", 0}};
  uint32_t v = 0;
  for (const auto& [ip, plen] : entries) {
    Key4 k = k4(ip, plen);
    ASSERT_TRUE(m->update(&k, &v, kAny));
  }
  std::vector<std::pair<std::string, uint32_t>> order;
  Key4 k{};
  bool first = true;
  while (m->get_next_key(first ? nullptr : &k, &k)) {
    first = false;
    char buf[INET_ADDRSTRLEN];
    order.emplace_back(inet_ntop(AF_INET, k.data, buf, sizeof buf), k.prefixlen);
  }
  const std::vector<std::pair<std::string, uint32_t>> want = {
      {"10.1.0.0", 16}, {"10.0.0.0", 8}, {"192.168.1.0", 24}, {"192.168.0.0", 16}, {"0.0.0.0", 0}};
  EXPECT_EQ(order, want);
  Key4 missing = k4("1.2.3.4", 32), next{};
  ASSERT_TRUE(m->get_next_key(&missing, &next));
  EXPECT_EQ(next.prefixlen, 16U) << "a missing key restarts at the first key";
}

}  // namespace
