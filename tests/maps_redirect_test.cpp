// The XDP redirect maps (devmap, devmap_hash, cpumap, xskmap) and
// bpf_redirect_map: creation checks, the user-side commands with the kernel's
// errnos (compared with the running kernel's bpf(2) where it is available),
// sharing between handles, the verifier's rules for these maps, the helper's
// results and recorded targets on every engine, and the corpus objects that
// use them.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hooks/packet_hook.hpp"
#include "isa/asm.hpp"
#include "isa/isa.hpp"
#include "maps_fixture.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"
#include "runtime_fixture.hpp"
#include "test_paths.hpp"

using namespace xbpf;
using xbpf::test::MapFixture;
using kabi::MapType;
using namespace xbpf::maps;

namespace {

constexpr uint32_t kRdonlyProg = 1U << 7;

struct DevVal {
  uint32_t ifindex = 0;
  int32_t prog = 0;
};

// ---- creation

class RedirectMaps : public MapFixture {
 protected:
  static uint32_t u32(const void* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  int update(Map& m, uint32_t key, const void* value, uint64_t flags = kAny) {
    return err(m.update(&key, value, flags));
  }
  int update32(Map& m, uint32_t key, uint32_t value, uint64_t flags = kAny) { return update(m, key, &value, flags); }
  int lookup(Map& m, uint32_t key, void* out) { return err(m.lookup(&key, out, 0)); }
  int remove(Map& m, uint32_t key) { return err(m.remove(&key)); }
  // get_next_key from `key` (nullptr: the first), -errno or the next key.
  int64_t next(Map& m, const uint32_t* key) {
    uint32_t n = 0;
    auto r = m.get_next_key(key, &n);
    return r ? int64_t(n) : -int64_t(r.error().errnum);
  }
};

TEST_F(RedirectMaps, CreationFollowsTheKernel) {
  // As dev_map_alloc_check, cpu_map_alloc and xsk_map_alloc (checked against
  // Linux 6.18: see KernelAgrees below).
  for (MapType t : {MapType::Devmap, MapType::DevmapHash, MapType::Cpumap, MapType::Xskmap}) {
    SCOPED_TRACE(kabi::name(t));
    EXPECT_EQ(create_err(attr(t, 4, 4, 4)), 0);
    EXPECT_EQ(create_err(attr(t, 4, 8, 4)), t == MapType::Xskmap ? EINVAL : 0);
    EXPECT_EQ(create_err(attr(t, 4, 12, 4)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 8, 4, 4)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 4, 0, 4)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 4, 4, 0)), EINVAL);
    EXPECT_EQ(create_err(attr(t, 4, 4, 4, kFNumaNode)), 0);
    const int access = t == MapType::Cpumap ? EINVAL : 0;  // a cpumap takes BPF_F_NUMA_NODE only
    EXPECT_EQ(create_err(attr(t, 4, 4, 4, kFRdonly)), access);
    EXPECT_EQ(create_err(attr(t, 4, 4, 4, kFWronly)), access);
    for (uint32_t f : {kFNoPrealloc, kFNoCommonLru, kFZeroSeed, kFRdonlyProg, kFWronlyProg, kFMmapable})
      EXPECT_EQ(create_err(attr(t, 4, 4, 4, f)), EINVAL) << "flag " << f;
  }
  EXPECT_EQ(create_err(attr(MapType::Cpumap, 4, 4, 8192)), 0);  // NR_CPUS of distribution kernels
  EXPECT_EQ(create_err(attr(MapType::Cpumap, 4, 4, 8193)), E2BIG);
  EXPECT_EQ(create_err(attr(MapType::DevmapHash, 4, 4, (1U << 31) + 1)), EINVAL);
}

TEST_F(RedirectMaps, DevmapsAreReadOnlyForPrograms) {
  // dev_map_init_map adds BPF_F_RDONLY_PROG; the other two keep their flags.
  EXPECT_TRUE(make(attr(MapType::Devmap, 4, 4, 4))->prog_read_only());
  auto h = make(attr(MapType::DevmapHash, 4, 4, 4));
  EXPECT_EQ(h->info().attr.map_flags, kRdonlyProg);
  EXPECT_FALSE(make(attr(MapType::Cpumap, 4, 4, 4))->prog_read_only());
  EXPECT_FALSE(make(attr(MapType::Xskmap, 4, 4, 4))->prog_read_only());
  EXPECT_EQ(maps::implied_map_flags(MapType::Devmap), kRdonlyProg);
  EXPECT_EQ(maps::implied_map_flags(MapType::Array), 0U);
  // A reopened devmap (another process) has the flag too.
  auto again = store_->open_map(h->id());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE((*again)->prog_read_only());
}

// ---- devmap

TEST_F(RedirectMaps, DevmapIsArrayLike) {
  auto m = make(attr(MapType::Devmap, 4, 4, 4));
  uint32_t out = 99;
  EXPECT_EQ(lookup(*m, 0, &out), ENOENT);  // empty
  EXPECT_EQ(update32(*m, 0, 7), 0);
  EXPECT_EQ(lookup(*m, 0, &out), 0);
  EXPECT_EQ(out, 7U);
  EXPECT_EQ(update32(*m, 1, 8, kNoExist), EEXIST);  // every index "exists", empty or not
  EXPECT_EQ(update32(*m, 1, 8, kExist), 0);
  EXPECT_EQ(update32(*m, 4, 8), E2BIG);
  EXPECT_EQ(update32(*m, 0, 8, 3), EINVAL);
  EXPECT_EQ(update32(*m, 0, 8, kFLock), EINVAL);
  EXPECT_EQ(update32(*m, 1, 0), 0);  // ifindex 0 clears
  EXPECT_EQ(lookup(*m, 1, &out), ENOENT);
  EXPECT_EQ(lookup(*m, 9, &out), ENOENT);
  EXPECT_EQ(remove(*m, 0), 0);
  EXPECT_EQ(remove(*m, 0), 0);  // an empty entry deletes fine
  EXPECT_EQ(remove(*m, 4), EINVAL);
  EXPECT_EQ(lookup(*m, 0, &out), ENOENT);
  // dev_map_get_next_key: every index, occupied or not.
  const uint32_t k0 = 0, k2 = 2, k3 = 3, k9 = 9;
  EXPECT_EQ(next(*m, nullptr), 0);
  EXPECT_EQ(next(*m, &k0), 1);
  EXPECT_EQ(next(*m, &k2), 3);
  EXPECT_EQ(next(*m, &k3), -ENOENT);
  EXPECT_EQ(next(*m, &k9), 0);
  BatchArgs b;
  EXPECT_EQ(err(m->lookup_batch(b)), kENOTSUPP);
  EXPECT_EQ(err(m->lookup_and_delete(&k0, &out, 0)), EOPNOTSUPP);
}

TEST_F(RedirectMaps, DevmapValueWithProgramFd) {
  auto m = make(attr(MapType::Devmap, 4, 8, 4));
  DevVal v{3, -1}, out{9, 9};
  EXPECT_EQ(update(*m, 0, &v), 0);  // a negative fd names no program
  EXPECT_EQ(lookup(*m, 0, &out), 0);
  EXPECT_EQ(out.ifindex, 3U);
  EXPECT_EQ(out.prog, 0);  // bpf_prog.id: none
  v = {3, 5};
  auto r = m->update(&v, &v, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EOPNOTSUPP);
  EXPECT_NE(r.error().message.find("map 'm'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("devmap programs"), std::string::npos) << r.error().message;
  v = {0, 5};
  EXPECT_EQ(update(*m, 0, &v), EINVAL);  // a program without a device
  v = {0, 0};
  EXPECT_EQ(update(*m, 0, &v), 0);
  EXPECT_EQ(lookup(*m, 0, &out), ENOENT);
}

TEST_F(RedirectMaps, DevmapHashIsHashLike) {
  auto m = make(attr(MapType::DevmapHash, 4, 4, 2));
  uint32_t out = 0;
  EXPECT_EQ(update32(*m, 5, 1, kExist), 0);  // the kernel never checks BPF_EXIST here: it adds
  EXPECT_EQ(update32(*m, 6, 2, kNoExist), 0);
  EXPECT_EQ(update32(*m, 6, 2, kNoExist), EEXIST);
  EXPECT_EQ(update32(*m, 6, 3, kExist), 0);
  EXPECT_EQ(update32(*m, 7, 0), EINVAL);  // no device 0
  EXPECT_EQ(update32(*m, 7, 1, 3), EINVAL);
  EXPECT_EQ(update32(*m, 8, 1), E2BIG);  // full
  EXPECT_EQ(lookup(*m, 6, &out), 0);
  EXPECT_EQ(out, 3U);
  EXPECT_EQ(lookup(*m, 9, &out), ENOENT);
  EXPECT_EQ(remove(*m, 9), ENOENT);
  const uint32_t k77 = 77;
  const int64_t first = next(*m, nullptr);
  EXPECT_TRUE(first == 5 || first == 6) << first;
  EXPECT_EQ(next(*m, &k77), first);  // a missing key restarts
  const uint32_t f = uint32_t(first);
  const int64_t second = next(*m, &f);
  EXPECT_EQ(second, first == 5 ? 6 : 5);
  const uint32_t s = uint32_t(second);
  EXPECT_EQ(next(*m, &s), -ENOENT);
  EXPECT_EQ(remove(*m, 5), 0);
  EXPECT_EQ(update32(*m, 8, 4), 0);
  uint32_t in[2] = {4, 7};
  EXPECT_EQ(update(*make(attr(MapType::DevmapHash, 4, 8, 2)), 1, in), EOPNOTSUPP);
  BatchArgs b;
  EXPECT_EQ(err(m->update_batch(b)), kENOTSUPP);
  EXPECT_EQ(err(m->lookup_and_delete(&k77, &out, 0)), EOPNOTSUPP);
}

// ---- cpumap, xskmap

TEST_F(RedirectMaps, CpumapEntriesAreQueueSizes) {
  auto m = make(attr(MapType::Cpumap, 4, 4, 64));
  uint32_t out = 0;
  EXPECT_EQ(update32(*m, 0, 192), 0);
  EXPECT_EQ(lookup(*m, 0, &out), 0);
  EXPECT_EQ(out, 192U);
  EXPECT_EQ(update32(*m, 0, 1, kNoExist), EEXIST);
  EXPECT_EQ(update32(*m, 0, 16384, kExist), 0);
  EXPECT_EQ(update32(*m, 0, 16385), EOVERFLOW);
  EXPECT_EQ(update32(*m, 64, 1), E2BIG);
  EXPECT_EQ(update32(*m, maps::possible_cpus(), 1), ENODEV);  // not a possible CPU
  EXPECT_EQ(update32(*m, maps::possible_cpus(), 16385), EOVERFLOW);  // qsize is checked first
  EXPECT_EQ(update32(*m, 0, 0), 0);  // qsize 0 clears
  EXPECT_EQ(lookup(*m, 0, &out), ENOENT);
  EXPECT_EQ(remove(*m, 1), 0);
  EXPECT_EQ(remove(*m, 64), EINVAL);
  const uint32_t last = 63;
  EXPECT_EQ(next(*m, &last), -ENOENT);
  uint32_t with_prog[2] = {64, 3};
  EXPECT_EQ(update(*make(attr(MapType::Cpumap, 4, 8, 4)), 0, with_prog), EOPNOTSUPP);
}

TEST_F(RedirectMaps, XskmapHoldsNoSockets) {
  auto m = make(attr(MapType::Xskmap, 4, 4, 4));
  uint32_t fd = 3, out = 0;
  auto r = m->update(&out, &fd, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EOPNOTSUPP);
  EXPECT_NE(r.error().message.find("AF_XDP"), std::string::npos) << r.error().message;
  EXPECT_EQ(update32(*m, 4, 3), E2BIG);
  EXPECT_EQ(update32(*m, 0, 3, 3), EINVAL);
  EXPECT_EQ(lookup(*m, 0, &out), EOPNOTSUPP);  // xsk_map_lookup_elem_sys_only
  EXPECT_EQ(lookup(*m, 9, &out), EOPNOTSUPP);
  EXPECT_EQ(remove(*m, 0), 0);
  EXPECT_EQ(remove(*m, 4), EINVAL);
  EXPECT_EQ(next(*m, nullptr), 0);
  const uint32_t k = 0;
  EXPECT_EQ(m->lookup_elem(&k), nullptr);
}

TEST_F(RedirectMaps, HandlesShareEntries) {
  for (MapType t : {MapType::Devmap, MapType::DevmapHash, MapType::Cpumap}) {
    SCOPED_TRACE(kabi::name(t));
    auto a = make(attr(t, 4, 4, 4));
    auto b = store_->open_map(a->id());
    ASSERT_TRUE(b) << b.error().message;
    uint32_t out = 0;
    EXPECT_EQ(update32(*a, 1, 42), 0);
    EXPECT_EQ(lookup(**b, 1, &out), 0);
    EXPECT_EQ(out, 42U);
    const uint32_t k = 1;
    auto* v = static_cast<uint32_t*>((*b)->lookup_elem(&k));  // the program side sees it too
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, 42U);
    EXPECT_EQ(remove(**b, 1), 0);
    EXPECT_EQ(lookup(*a, 1, &out), ENOENT);
    EXPECT_EQ(a->lookup_elem(&k), nullptr);
  }
}

// ---- the kernel as the oracle

long sys_bpf(int cmd, union bpf_attr* a) { return syscall(__NR_bpf, cmd, a, sizeof(*a)); }

// The same command on the kernel: -errno or 0 (a created map's fd in *fd).
int kernel_create(const MapAttr& m, int* fd) {
  union bpf_attr a{};
  a.map_type = static_cast<uint32_t>(m.type);
  a.key_size = m.key_size;
  a.value_size = m.value_size;
  a.max_entries = m.max_entries;
  a.map_flags = m.map_flags;
  const long r = sys_bpf(BPF_MAP_CREATE, &a);
  if (r < 0) return -errno;
  *fd = int(r);
  return 0;
}

int kernel_elem(int cmd, int fd, uint32_t key, void* value, uint64_t flags) {
  union bpf_attr a{};
  a.map_fd = uint32_t(fd);
  a.key = reinterpret_cast<uint64_t>(&key);
  a.value = reinterpret_cast<uint64_t>(value);
  a.flags = flags;
  return sys_bpf(cmd, &a) < 0 ? -errno : 0;
}

TEST_F(RedirectMaps, KernelAgrees) {
  // Creation and element commands whose outcome does not depend on devices,
  // programs or sockets xbpf does not have: ifindex 1 (loopback, present in
  // every network namespace), no program fds, an ordinary UDP socket as the
  // xskmap value (the kernel refuses it with EOPNOTSUPP, as xbpf refuses all).
  int probe = -1;
  if (const int e = kernel_create(attr(MapType::Devmap, 4, 4, 1), &probe); e != 0) {
    // Devmaps need CAP_NET_ADMIN besides bpf(2) itself.
    std::printf("*** bpf(2) cannot create a devmap here (%s): kernel comparison NOT RUN ***\n", std::strerror(-e));
    GTEST_SKIP() << "bpf(2) devmap creation unavailable: " << std::strerror(-e);
  }
  close(probe);
  const int udp = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(udp, 0);
  size_t compared = 0;
  for (MapType t : {MapType::Devmap, MapType::DevmapHash, MapType::Cpumap, MapType::Xskmap}) {
    for (uint32_t vs : {4U, 8U, 12U}) {
      for (uint32_t flags : {0U, kFNumaNode, kFRdonly, kFWronly, kFRdonlyProg, kFWronlyProg, kFMmapable}) {
        const MapAttr a = attr(t, 4, vs, 4, flags);
        SCOPED_TRACE(fmt::format("{} value_size {} flags {:#x}", kabi::name(t), vs, flags));
        int kfd = -1;
        const int kr = kernel_create(a, &kfd);
        EXPECT_EQ(-kr, create_err(a));
        ++compared;
        if (kr != 0) continue;
        if (flags != 0) {  // element commands on the plain maps only
          close(kfd);
          continue;
        }
        auto m = make(a);
        // (key, value word, flags): each applied to both, errnos compared.
        const uint32_t word = t == MapType::Xskmap ? uint32_t(udp) : t == MapType::Cpumap ? 64 : 1;
        const struct {
          uint32_t key, word;
          uint64_t flags;
        } steps[] = {{0, word, kAny}, {0, word, kNoExist}, {1, word, kExist}, {2, word, kExist},
                     {4, word, kAny}, {0, word, 3},        {0, word, kFLock}, {3, 0, kAny},
                     {0, 16385, kAny}, {0, 0, kAny}};
        for (const auto& s : steps) {
          if (t == MapType::Xskmap && s.word != word) continue;
          // The kernel refuses an ifindex with no device behind it; xbpf has none to check.
          if ((t == MapType::Devmap || t == MapType::DevmapHash) && s.word > 1) continue;
          uint32_t v[2] = {s.word, 0};
          const int ke = kernel_elem(BPF_MAP_UPDATE_ELEM, kfd, s.key, v, s.flags);
          EXPECT_EQ(-ke, update(*m, s.key, v, s.flags)) << "update key " << s.key << " word " << s.word
                                                        << " flags " << s.flags;
          ++compared;
        }
        for (uint32_t key : {0U, 1U, 2U, 9U}) {
          uint32_t kv[2] = {7, 7}, xv[2] = {7, 7};
          const int ke = kernel_elem(BPF_MAP_LOOKUP_ELEM, kfd, key, kv, 0);
          EXPECT_EQ(-ke, lookup(*m, key, xv)) << "lookup " << key;
          if (ke == 0) {
            EXPECT_EQ(std::memcmp(kv, xv, vs), 0) << "value of " << key;
          }
          EXPECT_EQ(-kernel_elem(BPF_MAP_DELETE_ELEM, kfd, key, nullptr, 0), remove(*m, key)) << "delete " << key;
          compared += 2;
        }
        close(kfd);
      }
    }
  }
  close(udp);
  std::printf("[ kernel ] %zu create/update/lookup/delete results agree with bpf(2)\n", compared);
}

// ---- programs: the verifier's rules and bpf_redirect_map

loader::MapSpec map_spec(MapType t, uint32_t value_size, uint32_t n) {
  loader::MapSpec m;
  m.name = "target";
  m.section = ".maps";
  m.type = t;
  m.key_size = 4;
  m.value_size = value_size;
  m.max_entries = n;
  return m;
}

class RedirectPrograms : public ::testing::TestWithParam<testing_support::Exec> {
 protected:
  // Loads one XDP program over one map (map_idx 0); the error when it does not load.
  Expected<runtime::Program*> load(const std::string& text, const loader::MapSpec& map) {
    auto o = testing_support::one_program_object("redirect_test", "xdp", kabi::ProgType::Xdp, text, {map});
    if (!o) return xbpf::unexpected(o.error());
    auto obj = runtime::Object::load(std::move(*o), store_.store(), testing_support::load_options(GetParam()));
    if (!obj) return xbpf::unexpected(obj.error());
    objects_.push_back(std::move(*obj));
    return objects_.back()->program("prog");
  }

  // r0 = bpf_redirect_map(&target, key, flags); the run's result.
  runtime::TestRunResult redirect(runtime::Program* p) {
    const auto pkt = testing_support::eth_ip(17, 53, 16);
    runtime::TestRun tr;
    tr.data_in = pkt;
    auto r = runtime::test_run(*p, tr);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : runtime::TestRunResult{};
  }

  testing_support::TempStore store_{"redirect"};
  std::vector<std::unique_ptr<runtime::Object>> objects_;
};

std::string redirect_prog(uint64_t key, uint64_t flags) {
  return fmt::format("lddw %r1, map_idx 0\nlddw %r2, {}\nlddw %r3, {}\ncall 51\nexit\n", key, flags);
}

// A program that looks key 0 up in the map, then `then` with r0 the value.
std::string lookup_prog(const char* then) {
  return fmt::format(R"(
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 0
    call 1
    jeq %r0, 0, out
    {}
  out:
    mov %r0, 2
    exit
  )", then);
}

// A program calling helper `id` (map_update_elem 2, map_delete_elem 3) on key 0.
std::string change_prog(int id) {
  return fmt::format(R"(
    stw [%r10-4], 0
    stw [%r10-8], 1
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -8
    mov %r4, 0
    lddw %r1, map_idx 0
    call {}
    mov %r0, 2
    exit
  )", id);
}

// The verifier runs on the verified engines only (checked mode checks each access as it runs).
class RedirectVerifier : public RedirectPrograms {};

TEST_P(RedirectVerifier, RulesFollowTheKernel) {
  // What Linux 6.18 answers (check_map_func_compatibility, record_func_map,
  // bpf_xdp_sock_is_valid_access), message for message.
  auto reason = [&](const std::string& text, MapType t) -> std::string {
    auto p = load(text, map_spec(t, 4, 4));
    return p ? "" : p.error().message;
  };
  auto has = [](const std::string& s, const char* what) { return s.find(what) != std::string::npos; };
  for (MapType t : {MapType::Devmap, MapType::DevmapHash}) {
    EXPECT_EQ(reason(lookup_prog("ldxw %r1, [%r0]"), t), "");
    EXPECT_TRUE(has(reason(lookup_prog("stw [%r0], 1"), t), "write into map forbidden, value_size=4 off=0 size=4"));
    EXPECT_TRUE(has(reason(change_prog(2), t), "write into map forbidden"));
    EXPECT_TRUE(has(reason(change_prog(3), t), "write into map forbidden"));
  }
  EXPECT_TRUE(has(reason(lookup_prog("mov %r0, 1"), MapType::Cpumap), "cannot pass map_type 16 into func bpf_map_lookup_elem#1"));
  EXPECT_TRUE(has(reason(change_prog(2), MapType::Cpumap), "cannot pass map_type 16 into func bpf_map_update_elem#2"));
  EXPECT_EQ(reason(lookup_prog("ldxw %r1, [%r0]"), MapType::Xskmap), "");  // queue_id
  EXPECT_TRUE(has(reason(lookup_prog("stw [%r0], 1"), MapType::Xskmap), "R0 cannot write into xdp_sock"));
  EXPECT_TRUE(has(reason(lookup_prog("ldxw %r1, [%r0+4]"), MapType::Xskmap), "invalid xdp_sock access"));
  EXPECT_TRUE(has(reason(change_prog(2), MapType::Xskmap), "cannot pass map_type 17 into func bpf_map_update_elem#2"));
  EXPECT_TRUE(has(reason(change_prog(3), MapType::Xskmap), "cannot pass map_type 17 into func bpf_map_delete_elem#3"));
  EXPECT_TRUE(has(reason(redirect_prog(0, 0), MapType::Array), "cannot pass map_type 2 into func bpf_redirect_map#51"));
}

TEST_P(RedirectPrograms, DevmapTargets) {
  constexpr uint64_t kBroadcast = 1U << 3, kExcludeIngress = 1U << 4;
  for (MapType t : {MapType::Devmap, MapType::DevmapHash}) {
    SCOPED_TRACE(kabi::name(t));
    struct Case {
      uint64_t key, flags;
      uint32_t ret, ifindex, key_out;
    } cases[] = {
        {3, 0, 4, 7, 3},                                 // XDP_REDIRECT to the entry's device
        {0x100000003ULL, 0, 4, 7, 3},                    // the key is a u32
        {1, 2, 2, 0, 0},                                 // no entry: the flags' action (XDP_PASS)
        {1, 1, 1, 0, 0},                                 // XDP_DROP
        {1, 0, 0, 0, 0},                                 // XDP_ABORTED
        {3, 4, 0, 0, 0},                                 // flags outside the mask: XDP_ABORTED
        {3, 1U << 5, 0, 0, 0},
        {1, kBroadcast | kExcludeIngress, 4, 0, 1},      // BPF_F_BROADCAST: the whole map, entry or not
        {3, kBroadcast | 2, 4, 7, 3},
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(fmt::format("key {:#x} flags {:#x}", c.key, c.flags));
      auto p = load(redirect_prog(c.key, c.flags), map_spec(t, 4, 4));
      ASSERT_TRUE(p) << p.error().message;
      auto m = (*p)->object().map("target");
      const uint32_t k = 3, ifindex = 7;
      ASSERT_TRUE(m->update(&k, &ifindex, 0));
      const auto r = redirect(*p);
      EXPECT_EQ(r.retval, c.ret);
      EXPECT_EQ(r.redirect_ifindex, c.ifindex);
      EXPECT_EQ(r.redirect_map_id, c.ret == 4 ? m->id() : 0U);
      EXPECT_EQ(r.redirect_key, c.key_out);
    }
  }
}

TEST_P(RedirectPrograms, CpumapAndXskmapTargets) {
  auto p = load(redirect_prog(0, 2), map_spec(MapType::Cpumap, 4, 8));
  ASSERT_TRUE(p) << p.error().message;
  auto m = (*p)->object().map("target");
  EXPECT_EQ(redirect(*p).retval, 2U);  // empty: XDP_PASS
  const uint32_t cpu = 0, qsize = 256;
  ASSERT_TRUE(m->update(&cpu, &qsize, 0));
  auto r = redirect(*p);
  EXPECT_EQ(r.retval, 4U);
  EXPECT_EQ(r.redirect_map_id, m->id());
  EXPECT_EQ(r.redirect_key, 0U);  // the CPU
  EXPECT_EQ(r.redirect_ifindex, 0U);
  // BPF_F_BROADCAST is for devmaps only.
  auto b = load(redirect_prog(0, 1U << 3), map_spec(MapType::Cpumap, 4, 8));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(redirect(*b).retval, 0U);
  // An xskmap has no sockets: always the flags' action.
  auto x = load(redirect_prog(1, 3), map_spec(MapType::Xskmap, 4, 4));
  ASSERT_TRUE(x) << x.error().message;
  r = redirect(*x);
  EXPECT_EQ(r.retval, 3U);
  EXPECT_EQ(r.redirect_map_id, 0U);
}

INSTANTIATE_TEST_SUITE_P(Engines, RedirectPrograms, testing_support::all_execs(), testing_support::ExecParamName());
INSTANTIATE_TEST_SUITE_P(Engines, RedirectVerifier, testing_support::verified_execs(), testing_support::ExecParamName());

// ---- the corpus objects that use these maps

const std::filesystem::path kCorpus = std::filesystem::path(XBPF_SHARED_DIR) / "corpus" / "ebpf-samples";

TEST(RedirectCorpus, ObjectsLoadAndRedirect) {
  if (!std::filesystem::exists(kCorpus)) GTEST_SKIP() << "*** CORPUS ABSENT: " << kCorpus << " ***";
  const char* files[] = {"linux/xdp_fwd_kern.o",          "linux/xdp_redirect_map_kern.o",
                         "linux/xdp_router_ipv4_kern.o",  "prototype-kernel/xdp_redirect_err_kern.o",
                         "linux/xdp_redirect_cpu_kern.o", "prototype-kernel/xdp_redirect_cpu_kern.o",
                         "suricata/xdp_filter.o",         "linux/xdpsock_kern.o"};
  for (auto e : {testing_support::Exec::Interpreter, testing_support::Exec::Jit}) {
    for (const char* f : files) {
      SCOPED_TRACE(f);
      testing_support::TempStore s("redirect-corpus");
      auto o = s.load((kCorpus / f).string(), testing_support::load_options(e));
      EXPECT_NE(o, nullptr);
    }
  }
  // xdp_redirect_map: every packet to tx_port[0]'s device.
  for (auto e : {testing_support::Exec::Interpreter, testing_support::Exec::Jit}) {
    testing_support::TempStore s("redirect-corpus");
    auto o = s.load((kCorpus / "linux/xdp_redirect_map_kern.o").string(), testing_support::load_options(e));
    ASSERT_NE(o, nullptr);
    auto tx = o->map("tx_port");
    const uint32_t k = 0, ifindex = 5;
    ASSERT_TRUE(tx->update(&k, &ifindex, 0));
    const auto pkt = testing_support::eth_ip(17, 53, 16);
    runtime::TestRun tr;
    tr.data_in = pkt;
    auto r = runtime::test_run(*o->program("xdp_redirect_map"), tr);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->retval, 4U);  // XDP_REDIRECT
    EXPECT_EQ(r->redirect_ifindex, 5U);
    EXPECT_EQ(r->redirect_map_id, tx->id());
    // The same program attached to a packet device: the verdict carries the target.
    auto link = s.store()->attach_xdp(o->program("xdp_redirect_map")->id(), "port0", false);
    ASSERT_TRUE(link) << link.error().message;
    auto h = hooks::PacketHook::open(s.store(), "port0", testing_support::load_options(e));
    ASSERT_TRUE(h) << h.error().message;
    auto v = (*h)->run(pkt);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->action, 4U);
    EXPECT_EQ(v->redirect_ifindex, 5U);
    EXPECT_EQ(v->redirect_map_id, tx->id());
    EXPECT_EQ(v->redirect_key, 0U);
  }
}

}  // namespace
