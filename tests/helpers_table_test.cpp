// The helper table and the helper implementations, called directly through
// the vm::HelperFn ABI (no maps library types needed: a test-only Map).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <filesystem>
#include <linux/bpf.h>  // enum bpf_func_id and its __BPF_FUNC_MAPPER list: the names to match
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "helpers/helpers.hpp"
#include "helpers/run_state.hpp"
#include "helpers/trace_log.hpp"
#include "maps/store.hpp"
#include "runtime/object.hpp"

using namespace xbpf;
using helpers::Registry;
using kabi::ProgType;

namespace {

// A tiny hash map with 4-byte keys and 8-byte values, enough for the helpers.
class TestMap : public maps::Map {
 public:
  explicit TestMap(maps::MapAttr a) : Map(1, std::move(a)) {}
  maps::MapInfo info() const override { return {id_, attr_, false}; }
  void* lookup_elem(const void* key) noexcept override {
    auto it = data_.find(k(key));
    return it == data_.end() ? nullptr : &it->second;
  }
  long update_elem(const void* key, const void* value, uint64_t flags) noexcept override {
    if (flags == maps::kNoExist && data_.count(k(key))) return -EEXIST;
    std::memcpy(&data_[k(key)], value, 8);
    return 0;
  }
  long delete_elem(const void* key) noexcept override { return data_.erase(k(key)) ? 0 : -ENOENT; }
  Expected<void> lookup(const void*, void*, uint64_t) override { return {}; }
  Expected<void> update(const void*, const void*, uint64_t) override { return {}; }
  Expected<void> remove(const void*) override { return {}; }
  Expected<void> get_next_key(const void*, void*) override { return {}; }

 private:
  static uint32_t k(const void* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
  std::map<uint32_t, uint64_t> data_;
};

maps::MapAttr hash_attr() {
  maps::MapAttr a;
  a.type = kabi::MapType::Hash;
  a.key_size = 4;
  a.value_size = 8;
  a.max_entries = 16;
  a.name = "t";
  return a;
}

uint64_t u(const void* p) { return reinterpret_cast<uint64_t>(p); }

vm::HelperFn fn(uint32_t id) {
  const helpers::HelperSpec* h = Registry::standard().find(id);
  EXPECT_NE(h, nullptr) << id;
  return h ? h->fn : nullptr;
}

}  // namespace

TEST(HelperTable, IdsAndPrototypesFollowTheKernel) {
  const Registry& r = Registry::standard();
  EXPECT_EQ(r.find(1)->name, "map_lookup_elem");
  EXPECT_EQ(r.find(1)->ret, helpers::Ret::PtrToMapValueOrNull);
  EXPECT_EQ(r.find(1)->args[0], helpers::Arg::ConstMapPtr);
  EXPECT_EQ(r.find(1)->args[1], helpers::Arg::PtrToMapKey);
  EXPECT_EQ(r.find(12)->name, "tail_call");
  EXPECT_EQ(r.find(130)->name, "ringbuf_output");
  EXPECT_EQ(r.find(181)->name, "loop");
  EXPECT_EQ(r.find(195)->name, "map_lookup_percpu_elem");
  EXPECT_EQ(helpers::name(helpers::Arg::ConstSize), "ARG_CONST_SIZE");
  EXPECT_EQ(r.find(0), nullptr);  // BPF_FUNC_unspec
  EXPECT_EQ(r.find(helpers::kUserHelperBase), nullptr);
}

// Every id of the installed uapi header's enum bpf_func_id has a row with the
// kernel's name (rows past the header's last id, from newer kernels, are fine).
#define XBPF_HELPER_NAME(x) #x
static constexpr const char* kKernelHelperNames[] = {__BPF_FUNC_MAPPER(XBPF_HELPER_NAME)};
#undef XBPF_HELPER_NAME

TEST(HelperTable, EveryKernelHelperHasARowWithItsName) {
  static_assert(std::size(kKernelHelperNames) == __BPF_FUNC_MAX_ID);
  ASSERT_EQ(std::string_view(kKernelHelperNames[BPF_FUNC_map_lookup_elem]), "map_lookup_elem");
  ASSERT_EQ(std::string_view(kKernelHelperNames[BPF_FUNC_user_ringbuf_drain]), "user_ringbuf_drain");
  const Registry& r = Registry::standard();
  for (uint32_t id = 1; id < __BPF_FUNC_MAX_ID; ++id) {
    const helpers::HelperSpec* h = r.find(id);
    ASSERT_NE(h, nullptr) << "no row for helper id " << id << " (" << kKernelHelperNames[id] << ")";
    EXPECT_EQ(h->name, kKernelHelperNames[id]) << id;
  }
}

TEST(HelperTable, RowsAreSortedUniqueAndWellFormed) {
  const auto rows = helpers::builtin_helpers();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().id, 1u);
  for (size_t k = 0; k < rows.size(); ++k) {
    const helpers::HelperSpec& h = rows[k];
    if (k) {
      EXPECT_LT(rows[k - 1].id, h.id) << h.name;
    }
    EXPECT_LT(h.id, helpers::kUserHelperBase);
    EXPECT_FALSE(h.name.empty()) << h.id;
    EXPECT_FALSE(h.name.starts_with("bpf_")) << h.name;
    // Arguments are a prefix: nothing after the first DontCare.
    bool ended = false;
    for (helpers::Arg a : h.args) {
      if (ended) {
        EXPECT_EQ(a, helpers::Arg::DontCare) << h.name;
      }
      ended = ended || a == helpers::Arg::DontCare;
    }
    // A memory argument is followed by its size (the fixed-size kinds aside).
    for (size_t i = 0; i < 5; ++i) {
      const helpers::Arg a = h.args[i];
      if (a != helpers::Arg::PtrToMem && a != helpers::Arg::PtrToMemOrNull && a != helpers::Arg::PtrToUninitMem)
        continue;
      ASSERT_LT(i + 1, 5u) << h.name;
      const helpers::Arg n = h.args[i + 1];
      EXPECT_TRUE(n == helpers::Arg::ConstSize || n == helpers::Arg::ConstSizeOrZero ||
                  n == helpers::Arg::ConstAllocSizeOrZero)
          << h.name << " arg " << i + 1;
    }
    for (helpers::Arg a : h.args) EXPECT_NE(helpers::name(a), "ARG_?") << h.name;
    EXPECT_NE(helpers::name(h.ret), "RET_?") << h.name;
  }
  EXPECT_EQ(Registry::standard().all().size(), rows.size());
}

TEST(HelperTable, PrototypeSpotChecks) {
  using helpers::Arg;
  using helpers::Ret;
  const Registry& r = Registry::standard();
  // trace_printk declares two arguments; r3-r5 (the format's values) are unchecked.
  const helpers::HelperSpec* printk = r.find(BPF_FUNC_trace_printk);
  EXPECT_EQ(printk->args, (std::array<Arg, 5>{Arg::PtrToMem, Arg::ConstSize}));
  EXPECT_EQ(r.find(BPF_FUNC_get_hash_recalc)->args, (std::array<Arg, 5>{Arg::PtrToCtx}));
  EXPECT_NE(r.find(BPF_FUNC_get_hash_recalc)->fn, nullptr);
  EXPECT_EQ(r.find(BPF_FUNC_get_cgroup_classid)->fn, nullptr);
  EXPECT_EQ(r.find(BPF_FUNC_skb_load_bytes)->args,
            (std::array<Arg, 5>{Arg::PtrToCtx, Arg::Anything, Arg::PtrToUninitMem, Arg::ConstSize}));
  EXPECT_EQ(r.find(BPF_FUNC_fib_lookup)->args,
            (std::array<Arg, 5>{Arg::PtrToCtx, Arg::PtrToMem, Arg::ConstSize, Arg::Anything}));
  EXPECT_EQ(r.find(BPF_FUNC_redirect_map)->args, (std::array<Arg, 5>{Arg::ConstMapPtr, Arg::Anything, Arg::Anything}));
  EXPECT_EQ(r.find(BPF_FUNC_jiffies64)->args, (std::array<Arg, 5>{}));
  EXPECT_EQ(r.find(BPF_FUNC_for_each_map_elem)->args[1], Arg::PtrToFunc);
  // Kinds the verifier does not check yet: the row is kept, the call refused.
  const helpers::HelperSpec* fullsock = r.find(BPF_FUNC_sk_fullsock);
  EXPECT_EQ(fullsock->ret, helpers::pending::RetPtrToSocketOrNull);
  EXPECT_EQ(helpers::name(fullsock->ret), "RET_PTR_TO_SOCKET_OR_NULL");
  EXPECT_FALSE(fullsock->verifiable());
  EXPECT_TRUE(r.kernel_allowed(BPF_FUNC_sk_fullsock, ProgType::SchedCls));
  EXPECT_FALSE(r.allowed(BPF_FUNC_sk_fullsock, ProgType::SchedCls));
  // The lookups and sk_release are checked (references), and run (no socket found).
  EXPECT_EQ(r.find(BPF_FUNC_sk_lookup_tcp)->ret, helpers::Ret::AcquiredSocketOrNull);
  EXPECT_TRUE(r.allowed(BPF_FUNC_sk_lookup_tcp, ProgType::SchedCls));
  EXPECT_EQ(r.find(BPF_FUNC_sk_release)->args[0], helpers::Arg::PtrToSockRelease);
  EXPECT_TRUE(helpers::implemented(*r.find(BPF_FUNC_sk_release)));
  EXPECT_EQ(helpers::name(r.find(BPF_FUNC_timer_init)->args[0]), "ARG_PTR_TO_TIMER");
  EXPECT_TRUE(r.find(BPF_FUNC_map_lookup_elem)->verifiable());
  // tail_call has no fn but runs (the interpreter's); get_cgroup_classid does not.
  EXPECT_TRUE(helpers::implemented(*r.find(BPF_FUNC_tail_call)));
  EXPECT_FALSE(helpers::implemented(*r.find(BPF_FUNC_get_cgroup_classid)));
  EXPECT_TRUE(helpers::implemented(*r.find(BPF_FUNC_get_hash_recalc)));
  EXPECT_TRUE(helpers::implemented(*r.find(BPF_FUNC_probe_read_kernel)));
  // Packet-moving helpers (the verifier must forget packet pointers after them).
  EXPECT_TRUE(helpers::changes_packet_data(BPF_FUNC_skb_pull_data));
  EXPECT_TRUE(helpers::changes_packet_data(BPF_FUNC_xdp_adjust_head));
  EXPECT_FALSE(helpers::changes_packet_data(BPF_FUNC_skb_load_bytes));
  EXPECT_FALSE(helpers::changes_packet_data(BPF_FUNC_map_lookup_elem));
}

TEST(HelperTable, ProgramTypesRestrictHelpers) {
  const Registry& r = Registry::standard();
  EXPECT_TRUE(r.allowed(44, ProgType::Xdp));         // xdp_adjust_head
  EXPECT_FALSE(r.allowed(44, ProgType::SchedCls));
  EXPECT_TRUE(r.allowed(9, ProgType::SchedCls));     // skb_store_bytes
  EXPECT_FALSE(r.allowed(9, ProgType::SocketFilter));
  EXPECT_TRUE(r.allowed(14, ProgType::Kprobe));      // get_current_pid_tgid
  // bpf_base_func_proto offers it to every program type since 6.10.
  EXPECT_TRUE(r.allowed(14, ProgType::SocketFilter));
  // get_current_uid_gid too in 6.18 (the kernel accepts it from an unprivileged
  // socket filter: verifier_cases.hpp checks that against the live kernel).
  EXPECT_TRUE(r.allowed(15, ProgType::SocketFilter));
  EXPECT_FALSE(r.allowed(44, ProgType::SocketFilter));  // xdp_adjust_head stays packet-type only
  EXPECT_TRUE(r.allowed(15, ProgType::CgroupSockAddr));
  EXPECT_TRUE(r.allowed(34, ProgType::SchedCls));      // get_hash_recalc
  EXPECT_TRUE(r.allowed(34, ProgType::LwtOut));
  EXPECT_FALSE(r.allowed(34, ProgType::Xdp));
  EXPECT_TRUE(r.allowed(51, ProgType::Xdp));           // redirect_map
  EXPECT_FALSE(r.allowed(51, ProgType::SchedCls));
  EXPECT_TRUE(r.allowed(6, ProgType::SocketFilter));   // trace_printk (base, CAP_PERFMON)
  EXPECT_FALSE(r.allowed(13, ProgType::SocketFilter)); // clone_redirect
  // The reference kernel is locked down / lacks KPROBE_OVERRIDE.
  EXPECT_FALSE(r.allowed(36, ProgType::Kprobe));       // probe_write_user
  EXPECT_FALSE(r.allowed(58, ProgType::Kprobe));       // override_return
  vm::HelperTable xdp = r.table_for(ProgType::Xdp);
  EXPECT_NE(xdp.get(1), nullptr);
  EXPECT_NE(xdp.get(44), nullptr);
  EXPECT_EQ(xdp.get(9), nullptr);
  EXPECT_EQ(xdp.name(1), "bpf_map_lookup_elem");
  // Only implemented helpers reach the interpreter's table.
  vm::HelperTable tc = r.table_for(ProgType::SchedCls);
  EXPECT_EQ(tc.get(17), nullptr);  // get_cgroup_classid: allowed, not implemented
  EXPECT_NE(tc.get(34), nullptr);  // get_hash_recalc
  EXPECT_NE(tc.get(9), nullptr);
}

// A program calling a helper xbpf does not implement verifies, but fails to load.
TEST(HelperTable, UnimplementedHelperFailsToLoad) {
  char tmpl[] = "/dev/shm/xbpf-helpers-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  {
    auto store = maps::Store::open(tmpl);
    ASSERT_TRUE(store) << store.error().message;
    auto program = [](int32_t helper) {
      loader::ObjectSpec o;
      o.path = o.name = "t";
      loader::ProgramSpec p;
      p.name = "uses_helper";
      p.section = "tc";
      p.type = ProgType::SchedCls;
      p.insns = {
          {0x85, 0, 0, 0, helper},  // call helper (r1 = ctx)
          {0xb7, 0, 0, 0, 0},       // r0 = 0
          {0x95, 0, 0, 0, 0},       // exit
      };
      o.programs.push_back(std::move(p));
      return o;
    };
    for (auto mode : {vm::Mode::Checked, vm::Mode::Verified}) {
      runtime::LoadOptions opts;
      opts.mode = mode;
      auto bad = runtime::Object::load(program(BPF_FUNC_get_cgroup_classid), *store, opts);
      ASSERT_FALSE(bad);
      EXPECT_NE(bad.error().message.find("prog 'uses_helper': helper bpf_get_cgroup_classid#17 is not implemented by xbpf"),
                std::string::npos)
          << bad.error().message;
      EXPECT_EQ(bad.error().code, Errc::unsupported);
      auto good = runtime::Object::load(program(BPF_FUNC_get_prandom_u32), *store, opts);
      EXPECT_TRUE(good) << good.error().message;
    }
  }
  std::filesystem::remove_all(tmpl);
}

TEST(HelperTable, EmbedderHelpers) {
  Registry r = Registry::standard();
  helpers::HelperSpec h;
  h.id = helpers::kUserHelperBase + 1;
  h.fn = [](uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return a + b; };
  h.args = {helpers::Arg::Anything, helpers::Arg::Anything};
  ASSERT_TRUE(r.add(h, "my_add"));
  EXPECT_EQ(r.find(h.id)->name, "my_add");
  EXPECT_EQ(r.add(h, "again").error().errnum, EEXIST);
  h.id = 5;
  EXPECT_EQ(r.add(h, "low").error().errnum, EINVAL);
  vm::HelperTable t = r.table_for(ProgType::Kprobe);
  EXPECT_EQ(t.get(helpers::kUserHelperBase + 1)(2, 3, 0, 0, 0, nullptr), 5U);
  EXPECT_EQ(Registry::standard().find(helpers::kUserHelperBase + 1), nullptr);
}

// helpers::seed_clock: every clock helper reads one counter, on the calling
// thread only, until clear_clock.
TEST(HelperClock, SeedClockReplacesTheThreadsClocks) {
  constexpr uint32_t kKtime = 5, kBoot = 125, kCoarse = 160;
  helpers::seed_clock(1000, 10);
  EXPECT_EQ(fn(kKtime)(0, 0, 0, 0, 0, nullptr), 1000U);
  EXPECT_EQ(fn(kBoot)(0, 0, 0, 0, 0, nullptr), 1010U);
  EXPECT_EQ(fn(kCoarse)(0, 0, 0, 0, 0, nullptr), 1020U);
  uint64_t other = 0;
  std::thread([&] { other = fn(kKtime)(0, 0, 0, 0, 0, nullptr); }).join();
  EXPECT_GT(other, 1'000'000U);  // the real monotonic clock: the machine has been up for more than 1 ms
  helpers::clear_clock();
  const uint64_t a = fn(kKtime)(0, 0, 0, 0, 0, nullptr), b = fn(kKtime)(0, 0, 0, 0, 0, nullptr);
  EXPECT_GT(a, 1'000'000U);
  EXPECT_GE(b, a);
}

// bpf_sk_assign as tc sees it off ingress (xbpf runs tc programs in test
// runs only): -EINVAL for flags or no socket, else -EOPNOTSUPP; the sk_lookup
// type's variant is not modelled (-EOPNOTSUPP).
TEST(HelperSocket, SkAssign) {
  constexpr uint32_t kSkAssign = 124;
  helpers::RunState st;
  st.prog_type = ProgType::SchedCls;
  vm::ExecContext c;
  c.runtime = &st;
  uint64_t sock = 0;
  EXPECT_EQ(int64_t(fn(kSkAssign)(0, 0, 0, 0, 0, &c)), -EINVAL);
  EXPECT_EQ(int64_t(fn(kSkAssign)(0, u(&sock), 1, 0, 0, &c)), -EINVAL);
  EXPECT_EQ(int64_t(fn(kSkAssign)(0, u(&sock), 0, 0, 0, &c)), -EOPNOTSUPP);
  st.prog_type = ProgType::SkLookup;
  EXPECT_EQ(int64_t(fn(kSkAssign)(0, 0, 0, 0, 0, &c)), -EOPNOTSUPP);
}

TEST(HelperMaps, LookupUpdateDeleteGrantValues) {
  TestMap m(hash_attr());
  helpers::RunState st;
  st.maps.push_back({&m, false});
  vm::ExecContext c;
  c.runtime = &st;
  uint32_t key = 7;
  uint64_t val = 42;
  // Without a running program, helpers only see granted regions.
  EXPECT_EQ(fn(1)(u(&m), u(&key), 0, 0, 0, &c), 0U);
  st.regions = {{u(&key), 4, false}, {u(&val), 8, false}};
  c.regions = st.regions;
  EXPECT_EQ(fn(2)(u(&m), u(&key), u(&val), 0, 0, &c), 0U);
  uint64_t p = fn(1)(u(&m), u(&key), 0, 0, 0, &c);
  ASSERT_NE(p, 0U);
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(p), 42U);
  ASSERT_EQ(st.regions.size(), 3U);  // the value was granted to the checked program
  EXPECT_EQ(st.regions[2].begin, p);
  EXPECT_EQ(c.regions.size(), 3U);
  EXPECT_EQ(int64_t(fn(2)(u(&m), u(&key), u(&val), maps::kNoExist, 0, &c)), -EEXIST);
  EXPECT_EQ(fn(3)(u(&m), u(&key), 0, 0, 0, &c), 0U);
  EXPECT_EQ(int64_t(fn(3)(u(&m), u(&key), 0, 0, 0, &c)), -ENOENT);
  // A pointer that is not one of the program's maps is refused, not followed.
  EXPECT_EQ(int64_t(fn(3)(0x1234, u(&key), 0, 0, 0, &c)), -EINVAL);
  EXPECT_EQ(fn(1)(0x1234, u(&key), 0, 0, 0, &c), 0U);
}

TEST(HelperMemory, ProbeReadIsFaultSafe) {
  vm::ExecContext c;
  char src[] = "hello";
  char dst[16];
  std::memset(dst, 'x', sizeof dst);
  vm::Region r{u(dst), sizeof dst, true};
  c.regions = std::span(&r, 1);
  EXPECT_EQ(fn(112)(u(dst), 6, u(src), 0, 0, &c), 0U);
  EXPECT_STREQ(dst, "hello");
  // Unmapped source: -EFAULT and a zeroed destination, never a crash.
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  EXPECT_EQ(int64_t(fn(112)(u(dst), 8, u(page), 0, 0, &c)), -EFAULT);
  EXPECT_EQ(dst[0], 0);
  EXPECT_EQ(int64_t(fn(112)(u(dst), 8, 0x10, 0, 0, &c)), -EFAULT);
  EXPECT_EQ(int64_t(fn(113)(u(dst), 8, u(src), 0, 0, &c)), -EFAULT);  // no kernel memory
  EXPECT_EQ(int64_t(fn(114)(u(dst), 16, u(src), 0, 0, &c)), 6);      // length with the NUL
  EXPECT_STREQ(dst, "hello");
  EXPECT_EQ(int64_t(fn(114)(u(dst), 3, u(src), 0, 0, &c)), 3);
  EXPECT_STREQ(dst, "he");
  // A string that ends right before an unmapped page is read whole.
  char* two = static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_EQ(mprotect(two + 4096, 4096, PROT_NONE), 0);
  std::memcpy(two + 4093, "ab", 3);
  EXPECT_EQ(int64_t(fn(114)(u(dst), 16, u(two + 4093), 0, 0, &c)), 3);
  two[4095] = 'c';  // now it runs into the unmapped page
  EXPECT_EQ(int64_t(fn(114)(u(dst), 16, u(two + 4093), 0, 0, &c)), -EFAULT);
  // Destination outside the program's memory: refused.
  char other[8];
  EXPECT_EQ(int64_t(fn(112)(u(other), 6, u(src), 0, 0, &c)), -EFAULT);
  // probe_write_user to an unmapped page: -EFAULT.
  EXPECT_EQ(int64_t(fn(36)(u(page), u(dst), 4, 0, 0, &c)), -EFAULT);
  EXPECT_EQ(fn(36)(u(other), u(dst), 4, 0, 0, &c), 0U);
  munmap(page, 4096);
  munmap(two, 8192);
}

TEST(HelperString, StrtolFollowsTheKernel) {
  vm::ExecContext c;
  struct {
    char buf[32];
    int64_t res;
  } m{};
  vm::Region r{u(&m), sizeof m, true};
  c.regions = std::span(&r, 1);
  auto run = [&](const char* s, uint64_t flags, vm::HelperFn f) {
    std::memset(m.buf, 0, sizeof m.buf);
    std::strcpy(m.buf, s);
    return int64_t(f(u(m.buf), std::strlen(s), flags, u(&m.res), 0, &c));
  };
  EXPECT_EQ(run("  -123abc", 0, fn(105)), 6);
  EXPECT_EQ(m.res, -123);
  EXPECT_EQ(run("0x1f", 0, fn(105)), 4);
  EXPECT_EQ(m.res, 31);
  EXPECT_EQ(run("017", 0, fn(105)), 3);
  EXPECT_EQ(m.res, 15);
  EXPECT_EQ(run("ff", 16, fn(106)), 2);
  EXPECT_EQ(m.res, 255);
  EXPECT_EQ(run("-1", 0, fn(106)), -EINVAL);
  EXPECT_EQ(run("abc", 10, fn(105)), -EINVAL);
  EXPECT_EQ(run("12", 7, fn(105)), -EINVAL);
  EXPECT_EQ(run("99999999999999999999", 10, fn(106)), -ERANGE);
  EXPECT_EQ(run("9223372036854775808", 10, fn(105)), -ERANGE);
}

TEST(HelperString, StrncmpAndFormats) {
  vm::ExecContext c;
  char buf[64] = "abc";
  vm::Region r{u(buf), sizeof buf, true};
  c.regions = std::span(&r, 1);
  static const char kAbd[] = "abd";
  vm::Region rs[2] = {r, {u(kAbd), sizeof kAbd, false}};
  c.regions = rs;
  EXPECT_EQ(int64_t(fn(182)(u(buf), 3, u(kAbd), 0, 0, &c)), -1);
  EXPECT_EQ(int64_t(fn(182)(u(buf), 2, u(kAbd), 0, 0, &c)), 0);

  static const char kFmt[] = "%d|%5u|%-4x|%s|%c|%%|%lld|%llx|%i";
  static const char kStr[] = "xy";
  struct {
    char out[64];
    uint64_t args[8];
  } m{};
  uint64_t in[8] = {uint64_t(-5), 255, 0xab, u(kStr), 'q', uint64_t(-7), 0xdeadbeefcafeULL, 0x1ffffffffULL};
  std::memcpy(m.args, in, sizeof in);
  vm::Region rr[2] = {{u(&m), sizeof m, true}, {u(kFmt), sizeof kFmt, false}};
  c.regions = rr;
  const std::string want = "-5|  255|ab  |xy|q|%|-7|deadbeefcafe|-1";
  EXPECT_EQ(int64_t(fn(165)(u(m.out), sizeof m.out, u(kFmt), u(m.args), sizeof m.args, &c)),
            int64_t(want.size() + 1));
  EXPECT_EQ(std::string(m.out), want);
  // Truncation: the return value is still the full length + 1.
  EXPECT_EQ(int64_t(fn(165)(u(m.out), 4, u(kFmt), u(m.args), sizeof m.args, &c)), int64_t(want.size() + 1));
  EXPECT_STREQ(m.out, "-5|");
  // Too few arguments, unknown conversions: -EINVAL.
  EXPECT_EQ(int64_t(fn(165)(u(m.out), sizeof m.out, u(kFmt), u(m.args), 16, &c)), -EINVAL);
  static const char kBad[] = "%f";
  vm::Region rb[2] = {{u(&m), sizeof m, true}, {u(kBad), sizeof kBad, false}};
  c.regions = rb;
  EXPECT_EQ(int64_t(fn(165)(u(m.out), sizeof m.out, u(kBad), u(m.args), 8, &c)), -EINVAL);
}

TEST(HelperTrace, PrintkGoesToTheTraceLog) {
  char dir[] = "/tmp/xbpf-trace-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = helpers::TraceLog::path_in(dir);
  auto log = helpers::TraceLog::open(path);
  ASSERT_TRUE(log) << log.error().message;
  helpers::RunState st;
  st.trace = &*log;
  vm::ExecContext c;
  c.runtime = &st;
  static const char kFmt[] = "pkt %d len %u\n";
  vm::Region r{u(kFmt), sizeof kFmt, false};
  c.regions = std::span(&r, 1);
  EXPECT_EQ(int64_t(fn(6)(u(kFmt), sizeof kFmt, uint64_t(-1), 60, 0, &c)), int64_t(std::strlen("pkt -1 len 60\n")));
  EXPECT_EQ(int64_t(fn(6)(u(kFmt), sizeof kFmt - 1, 1, 2, 0, &c)), -EINVAL);  // not NUL-terminated
  uint64_t off = 0;
  auto lines = helpers::read_trace(path, off);
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 1U);
  EXPECT_NE((*lines)[0].find("bpf_trace_printk: pkt -1 len 60"), std::string::npos) << (*lines)[0];
  auto again = helpers::read_trace(path, off);
  EXPECT_TRUE(again && again->empty());
  unlink(path.c_str());
  rmdir(dir);
}

TEST(HelperPacket, ChecksumsAndXdpAdjust) {
  alignas(8) uint8_t buf[256] = {};
  helpers::RunState st;
  st.prog_type = ProgType::Xdp;
  uint32_t fields[3] = {};
  st.packet = {buf, buf + 200, buf + 64, buf + 128, buf + 64, 40, &fields[0], &fields[1], &fields[2], nullptr, true};
  vm::ExecContext c;
  c.runtime = &st;
  EXPECT_EQ(fn(44)(0, uint64_t(-14), 0, 0, 0, &c), 0U);
  EXPECT_EQ(st.packet.data, buf + 50);
  EXPECT_EQ(fields[0], uint32_t(u(buf + 50)));
  EXPECT_EQ(int64_t(fn(44)(0, uint64_t(-11), 0, 0, 0, &c)), -EINVAL);  // into the xdp_frame area
  EXPECT_EQ(int64_t(fn(44)(0, 70, 0, 0, 0, &c)), -EINVAL);              // < ETH_HLEN left
  EXPECT_EQ(fn(65)(0, 72, 0, 0, 0, &c), 0U);
  EXPECT_EQ(int64_t(fn(65)(0, 1, 0, 0, 0, &c)), -EINVAL);               // past the frame
  EXPECT_EQ(fn(54)(0, uint64_t(-8), 0, 0, 0, &c), 0U);
  EXPECT_EQ(int64_t(fn(54)(0, uint64_t(-2), 0, 0, 0, &c)), -EACCES);  // not a multiple of 4
  EXPECT_EQ(fn(23)(3, 0, 0, 0, 0, &c), 4U);  // XDP_REDIRECT
  EXPECT_EQ(st.redirect_ifindex, 3U);

  // l3_csum_replace on an IPv4 header keeps the checksum valid.
  uint8_t ip[20] = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  auto csum = [](const uint8_t* h) {
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) s += uint32_t(h[i]) << 8 | h[i + 1];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
  };
  uint16_t cs = csum(ip);
  ip[10] = uint8_t(cs >> 8);
  ip[11] = uint8_t(cs);
  helpers::RunState sk;
  sk.prog_type = ProgType::SchedCls;
  sk.packet = {ip, ip + 20, ip, ip + 20, ip, 0, nullptr, nullptr, nullptr, nullptr, false};
  c.runtime = &sk;
  uint32_t old_daddr, new_daddr;
  std::memcpy(&old_daddr, ip + 16, 4);
  const uint8_t nd[4] = {192, 168, 1, 1};
  std::memcpy(&new_daddr, nd, 4);
  std::memcpy(ip + 16, nd, 4);
  EXPECT_EQ(fn(10)(0, 10, old_daddr, new_daddr, 4, &c), 0U);
  EXPECT_EQ(csum(ip), 0) << "checksum no longer verifies";
  EXPECT_EQ(int64_t(fn(10)(0, 19, 0, 0, 4, &c)), -EFAULT);
  EXPECT_EQ(int64_t(fn(10)(0, 10, 0, 0, 3, &c)), -EINVAL);
}

// bpf_perf_event_output needs a real perf event array: tests/helpers_stack_test.cpp.
TEST(HelperMisc, TimeTaskLocksAndLoop) {
  helpers::RunState st;
  vm::ExecContext c;
  c.runtime = &st;
  const uint64_t t0 = fn(5)(0, 0, 0, 0, 0, &c), t1 = fn(5)(0, 0, 0, 0, 0, &c);
  EXPECT_LE(t0, t1);
  EXPECT_EQ(fn(14)(0, 0, 0, 0, 0, &c) >> 32, uint64_t(getpid()));
  EXPECT_EQ(uint32_t(fn(15)(0, 0, 0, 0, 0, &c)), getuid());
  // Spin locks: lock, unlock, lock again (would hang if unlock did nothing).
  alignas(8) uint32_t lock = 0;
  st.regions = {{u(&lock), 4, true}};
  c.regions = st.regions;
  fn(93)(u(&lock), 0, 0, 0, 0, &c);
  EXPECT_EQ(lock, 1U);
  fn(94)(u(&lock), 0, 0, 0, 0, &c);
  EXPECT_EQ(lock, 0U);
  // bpf_loop needs a running program (a callback to call).
  EXPECT_EQ(int64_t(fn(181)(1, 0, 0, 0, 0, &c)), -EINVAL);
  EXPECT_EQ(int64_t(fn(181)(1, 0, 0, 1, 0, &c)), -EINVAL);  // flags
  EXPECT_EQ(int64_t(fn(181)((1U << 23) + 1, 0, 0, 0, 0, &c)), -E2BIG);
}

TEST(HelperSocket, NoSocketsAndOneNetns) {
  vm::ExecContext c;
  char tuple[12] = {};
  // No socket to find: NULL, which the verifier makes every program handle.
  EXPECT_EQ(fn(BPF_FUNC_sk_lookup_tcp)(0, u(tuple), sizeof tuple, uint64_t(-1), 0, &c), 0U);
  EXPECT_EQ(fn(BPF_FUNC_sk_lookup_udp)(0, u(tuple), sizeof tuple, uint64_t(-1), 0, &c), 0U);
  EXPECT_EQ(fn(BPF_FUNC_skc_lookup_tcp)(0, u(tuple), sizeof tuple, uint64_t(-1), 0, &c), 0U);
  // The process's netns, whatever the ctx: stable, non-zero, the nsfs inode.
  struct stat st{};
  ASSERT_EQ(stat("/proc/self/ns/net", &st), 0);
  EXPECT_EQ(fn(BPF_FUNC_get_netns_cookie)(0, 0, 0, 0, 0, &c), uint64_t(st.st_ino));
  EXPECT_EQ(fn(BPF_FUNC_get_netns_cookie)(u(tuple), 0, 0, 0, 0, &c), uint64_t(st.st_ino));
}
