// bpf_get_stack, bpf_get_stackid and bpf_perf_event_output through real
// programs: each is assembled, loaded by runtime::Object into a store (in
// checked mode, and in verified mode after xbpf's verifier accepted it) and
// run on a kprobe context whose pt_regs point at a frame-pointer chain built
// in a buffer here.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <filesystem>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "elf/elf_file.hpp"
#include "isa/asm.hpp"
#include "isa/isa.hpp"
#include "maps/perf_buffer.hpp"
#include "runtime/object.hpp"
#include "runtime_fixture.hpp"
#include "runtime/test_run.hpp"

using namespace xbpf;
using kabi::MapType;
using kabi::ProgType;

namespace {

constexpr uint64_t kUser = BPF_F_USER_STACK;

// A user stack as a frame-pointer walk sees it: regs.rip, then per frame
// [bp] = caller's bp, [bp + 8] = return address. Frames lie at increasing
// addresses (callers above callees), as on a real stack.
struct FakeStack {
  uint64_t words[16] = {};
  bpf_user_pt_regs_t regs{};
  FakeStack() {
    regs.rip = 0xaaaa;
    regs.rbp = addr(0);
    link(0, 4, 0x1111);
    link(4, 8, 0x2222);
    words[8] = 0;  // the outermost frame: a zero bp ends the chain (as _start leaves it)
    words[9] = 0x3333;
  }
  uint64_t addr(int i) const { return reinterpret_cast<uint64_t>(&words[i]); }
  void link(int at, int next, uint64_t ret) {
    words[at] = addr(next);
    words[at + 1] = ret;
  }
};

// An address no read can succeed on.
struct NoAccessPage {
  void* p = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ~NoAccessPage() { munmap(p, 4096); }
  uint64_t addr() const { return reinterpret_cast<uint64_t>(p); }
};

loader::MapSpec map_spec(const char* name, MapType t, uint32_t key, uint32_t value, uint32_t n) {
  loader::MapSpec m;
  m.name = name;
  m.section = ".maps";
  m.type = t;
  m.key_size = key;
  m.value_size = value;
  m.max_entries = n;
  return m;
}

// r0 = bpf_get_stack(ctx, &stacks[0], size, flags): the frames land in the
// map value, which the test reads back. Returns 12345 if the lookup failed.
std::string get_stack_prog(uint32_t size, uint64_t flags) {
  return fmt::format(R"(
    mov %r6, %r1
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 0
    call 1
    jne %r0, 0, found
    mov %r0, 12345
    exit
  found:
    mov %r1, %r6
    mov %r2, %r0
    mov %r3, {}
    lddw %r4, {}
    call 67
    exit
  )", size, flags);
}

// r0 = bpf_get_stackid(ctx, &stack_map, flags)
std::string get_stackid_prog(uint64_t flags) {
  return fmt::format("lddw %r2, map_idx 0\nlddw %r3, {}\ncall 27\nexit\n", flags);
}

// r0 = bpf_perf_event_output(ctx, &events, flags = ctx->rdi, &value, 8)
constexpr const char* kPerfOutputProg = R"(
    ldxdw %r3, [%r1+112]
    lddw %r2, 0x0807060504030201
    stxdw [%r10-8], %r2
    lddw %r2, map_idx 0
    mov %r4, %r10
    add %r4, -8
    mov %r5, 8
    call 25
    exit
)";

class StackHelpers : public ::testing::TestWithParam<testing_support::Exec> {
 protected:
  static constexpr uint32_t kValueSize = 256;  // the stacks map: 32 frames, or 8 build-id records

  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-stack-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = maps::Store::open(dir_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = *s;
  }
  void TearDown() override {
    objects_.clear();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Loads one program over `maps` (map_idx N = maps[N]); nullptr on failure.
  runtime::Program* load(ProgType type, const std::string& text, std::vector<loader::MapSpec> maps) {
    auto o = testing_support::one_program_object("stack_test", "test", type, text, std::move(maps));
    EXPECT_TRUE(o) << o.error().message;
    if (!o) return nullptr;
    runtime::LoadOptions opts = testing_support::load_options(GetParam());
    auto obj = runtime::Object::load(std::move(*o), store_, opts);
    EXPECT_TRUE(obj) << obj.error().message;
    if (!obj) return nullptr;
    objects_.push_back(std::move(*obj));
    return objects_.back()->program("prog");
  }

  // A kprobe program calling bpf_get_stack into the stacks map.
  runtime::Program* load_get_stack(uint32_t size, uint64_t flags, ProgType type = ProgType::Kprobe) {
    return load(type, get_stack_prog(size, flags), {map_spec("stacks", MapType::Array, 4, kValueSize, 1)});
  }

  // Fills the stacks value with 0xee, runs on `ctx`, returns r0 and the value.
  std::pair<int64_t, std::vector<uint64_t>> run_get_stack(runtime::Program* p, void* ctx, size_t ctx_size) {
    auto m = p->object().map("stacks");
    std::vector<uint8_t> fill(kValueSize, 0xee);
    const uint32_t key = 0;
    EXPECT_TRUE(m->update(&key, fill.data(), 0));
    helpers::RunState st;
    auto r = p->run(ctx, ctx_size, st);
    EXPECT_TRUE(r) << r.error().message;
    std::vector<uint64_t> v(kValueSize / 8);
    EXPECT_TRUE(m->lookup(&key, v.data(), 0));
    return {r ? int64_t(*r) : 0, v};
  }

  std::string dir_;
  std::shared_ptr<maps::Store> store_;
  std::vector<std::unique_ptr<runtime::Object>> objects_;
};

constexpr uint64_t kFill = 0xeeeeeeeeeeeeeeeeULL;

// The first n words of `v`, and whether the rest up to `upto` words are `w`.
std::vector<uint64_t> head(const std::vector<uint64_t>& v, size_t n) { return {v.begin(), v.begin() + n}; }
bool all_of(const std::vector<uint64_t>& v, size_t from, size_t to, uint64_t w) {
  for (size_t i = from; i < to; ++i)
    if (v[i] != w) return false;
  return true;
}

TEST_P(StackHelpers, UserStackFollowsFramePointers) {
  FakeStack s;
  auto* p = load_get_stack(kValueSize, kUser);
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc, 32);  // 4 frames
  EXPECT_EQ(head(v, 4), (std::vector<uint64_t>{0xaaaa, 0x1111, 0x2222, 0x3333}));
  EXPECT_TRUE(all_of(v, 4, v.size(), 0)) << "the unused tail is zeroed";
}

TEST_P(StackHelpers, SkipDropsInnermostFrames) {
  FakeStack s;
  auto* p = load_get_stack(kValueSize, kUser | 2);
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc, 16);
  EXPECT_EQ(head(v, 3), (std::vector<uint64_t>{0x2222, 0x3333, 0}));
  // Skipping every frame leaves an empty stack (0); skipping more than
  // there are is the kernel's -EFAULT (trace->nr < skip). Buffer zeroed.
  auto* all = load_get_stack(kValueSize, kUser | 4);
  ASSERT_NE(all, nullptr);
  auto [rc2, v2] = run_get_stack(all, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc2, 0);
  EXPECT_TRUE(all_of(v2, 0, v2.size(), 0));
  auto* more = load_get_stack(kValueSize, kUser | 5);
  ASSERT_NE(more, nullptr);
  auto [rc3, v3] = run_get_stack(more, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc3, -EFAULT);
  EXPECT_TRUE(all_of(v3, 0, v3.size(), 0));
}

TEST_P(StackHelpers, SmallBufferKeepsInnermostFrames) {
  FakeStack s;
  auto* p = load_get_stack(16, kUser | 1);
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc, 16);
  EXPECT_EQ(head(v, 2), (std::vector<uint64_t>{0x1111, 0x2222}));
  EXPECT_TRUE(all_of(v, 2, v.size(), kFill)) << "bytes past `size` are not the helper's";
  // A size that is not a multiple of 8: -EINVAL, the given bytes zeroed.
  auto* odd = load_get_stack(12, kUser);
  ASSERT_NE(odd, nullptr);
  auto [rc2, v2] = run_get_stack(odd, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc2, -EINVAL);
  EXPECT_EQ(v2[0], 0U);
  EXPECT_EQ(v2[1], 0xeeeeeeee00000000ULL);
}

TEST_P(StackHelpers, UnreadableOrLoopingFramesEndTheWalk) {
  FakeStack s;
  NoAccessPage bad;
  auto* p = load_get_stack(kValueSize, kUser);
  ASSERT_NE(p, nullptr);
  s.words[8] = bad.addr();  // the outermost frame points at memory that faults
  auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc, 32);
  EXPECT_EQ(head(v, 5), (std::vector<uint64_t>{0xaaaa, 0x1111, 0x2222, 0x3333, 0}));
  s.regs.rbp = bad.addr();  // no frame at all: just the ip
  auto [rc2, v2] = run_get_stack(p, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc2, 8);
  EXPECT_EQ(head(v2, 2), (std::vector<uint64_t>{0xaaaa, 0}));
  FakeStack loop;
  loop.words[4] = loop.addr(0);  // frame 1 points back down at frame 0
  auto [rc3, v3] = run_get_stack(p, &loop.regs, sizeof loop.regs);
  EXPECT_EQ(rc3, 24);
  EXPECT_EQ(head(v3, 4), (std::vector<uint64_t>{0xaaaa, 0x1111, 0x2222, 0}));
}

TEST_P(StackHelpers, DepthIsCappedAt127Frames) {
  // 200 frames, each 16 bytes above the previous: the walk stops at
  // perf_event_max_stack (127) even with room for more.
  std::vector<uint64_t> chain(2 * 200 + 2, 0);
  for (size_t i = 0; i < 200; ++i) {
    chain[2 * i] = reinterpret_cast<uint64_t>(&chain[2 * i + 2]);
    chain[2 * i + 1] = 0x10000 + i;
  }
  bpf_user_pt_regs_t regs{};
  regs.rip = 0xfff;
  regs.rbp = reinterpret_cast<uint64_t>(&chain[0]);
  auto* p = load(ProgType::Kprobe, get_stack_prog(kValueSize, kUser | 100),
                 {map_spec("stacks", MapType::Array, 4, kValueSize, 1)});
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &regs, sizeof regs);
  EXPECT_EQ(rc, 27 * 8);  // frames 100..126 of 127
  EXPECT_EQ(v[0], 0x10000U + 99);
  EXPECT_EQ(v[26], 0x10000U + 125);
  EXPECT_EQ(v[27], 0U);
}

TEST_P(StackHelpers, InvalidFlags) {
  FakeStack s;
  for (uint64_t flags : std::vector<uint64_t>{kUser | BPF_F_FAST_STACK_CMP, kUser | (1ULL << 12), BPF_F_USER_BUILD_ID}) {
    auto* p = load_get_stack(kValueSize, flags);
    ASSERT_NE(p, nullptr);
    auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
    EXPECT_EQ(rc, -EINVAL) << flags;
    EXPECT_TRUE(all_of(v, 0, v.size(), 0)) << flags;
  }
}

// A user-space hook interrupted no kernel code: an empty kernel stack, as the
// kernel records for a uprobe. Same for program types without regs.
TEST_P(StackHelpers, KernelStackAndNoRegsAreEmpty) {
  FakeStack s;
  auto* p = load_get_stack(kValueSize, 0);
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(all_of(v, 0, v.size(), 0));
  auto* skip = load_get_stack(kValueSize, 1);
  ASSERT_NE(skip, nullptr);
  EXPECT_EQ(run_get_stack(skip, &s.regs, sizeof s.regs).first, -EFAULT);
  uint64_t raw_tp_ctx[13] = {};
  auto* raw = load_get_stack(kValueSize, kUser, ProgType::RawTracepoint);
  ASSERT_NE(raw, nullptr);
  auto [rc2, v2] = run_get_stack(raw, raw_tp_ctx, sizeof raw_tp_ctx);
  EXPECT_EQ(rc2, 0);
  EXPECT_TRUE(all_of(v2, 0, v2.size(), 0));
}

TEST_P(StackHelpers, PerfEventContextStartsWithRegs) {
  FakeStack s;
  bpf_perf_event_data pe{};
  pe.regs = s.regs;
  pe.sample_period = 1;
  auto* p = load_get_stack(kValueSize, kUser, ProgType::PerfEvent);
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &pe, sizeof pe);
  EXPECT_EQ(rc, 32);
  EXPECT_EQ(head(v, 4), (std::vector<uint64_t>{0xaaaa, 0x1111, 0x2222, 0x3333}));
}

// The GNU build id of this test binary, from its file's note sections (not
// from memory, where the helper reads it).
std::vector<uint8_t> own_build_id() {
  auto f = elf::ElfFile::open("/proc/self/exe");
  if (!f) {
    ADD_FAILURE() << f.error().message;
    return {};
  }
  for (const elf::Section& sh : f->sections()) {
    if (sh.type != SHT_NOTE) continue;
    const std::span<const uint8_t> b = sh.data;
    for (uint64_t at = 0; at + sizeof(Elf64_Nhdr) <= b.size();) {
      Elf64_Nhdr n;
      std::memcpy(&n, b.data() + at, sizeof n);
      const uint64_t desc = at + sizeof n + ((n.n_namesz + 3) & ~3U);
      if (desc + n.n_descsz > b.size()) break;
      if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4) return {b.begin() + desc, b.begin() + desc + n.n_descsz};
      at = desc + ((n.n_descsz + 3) & ~3U);
    }
  }
  return {};
}

// An address inside this binary's code.
void anchor() {}

TEST_P(StackHelpers, BuildIdsForUserFrames) {
  const std::vector<uint8_t> id = own_build_id();
  ASSERT_FALSE(id.empty()) << "the test binary has no GNU build id note";
  ASSERT_LE(id.size(), size_t{BPF_BUILD_ID_SIZE});
  Dl_info info{};
  const auto ip = reinterpret_cast<uint64_t>(&anchor);
  ASSERT_NE(dladdr(reinterpret_cast<void*>(ip), &info), 0);
  FakeStack s;
  s.regs.rip = ip;
  auto* p = load_get_stack(2 * sizeof(bpf_stack_build_id), kUser | BPF_F_USER_BUILD_ID);
  ASSERT_NE(p, nullptr);
  auto [rc, v] = run_get_stack(p, &s.regs, sizeof s.regs);
  ASSERT_EQ(rc, int64_t(2 * sizeof(bpf_stack_build_id)));
  bpf_stack_build_id rec[2];
  std::memcpy(rec, v.data(), sizeof rec);
  EXPECT_EQ(rec[0].status, BPF_STACK_BUILD_ID_VALID);
  EXPECT_EQ(std::vector<uint8_t>(rec[0].build_id, rec[0].build_id + id.size()), id);
  // A file offset: the test binary's code segment has p_offset == p_vaddr.
  EXPECT_EQ(rec[0].offset, ip - reinterpret_cast<uint64_t>(info.dli_fbase));
  EXPECT_EQ(rec[1].status, BPF_STACK_BUILD_ID_IP) << "0x1111 is in no object";
  EXPECT_EQ(rec[1].ip, 0x1111U);
  EXPECT_EQ(v[8], kFill) << "bytes past `size` are not the helper's";
  // The size must be a multiple of the record.
  auto* odd = load_get_stack(40, kUser | BPF_F_USER_BUILD_ID);
  ASSERT_NE(odd, nullptr);
  EXPECT_EQ(run_get_stack(odd, &s.regs, sizeof s.regs).first, -EINVAL);
}

TEST_P(StackHelpers, GetStackIdStoresTheStack) {
  FakeStack s;
  std::vector<loader::MapSpec> maps = {map_spec("stacks", MapType::StackTrace, 4, 8 * 16, 1024)};
  auto* p = load(ProgType::Kprobe, get_stackid_prog(kUser), maps);
  ASSERT_NE(p, nullptr);
  helpers::RunState st;
  auto id = p->run(&s.regs, sizeof s.regs, st);
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_GE(int64_t(*id), 0);
  auto m = p->object().map("stacks");
  const auto key = uint32_t(*id);
  uint64_t frames[16];
  ASSERT_TRUE(m->lookup(&key, frames, 0));
  EXPECT_EQ(std::vector<uint64_t>(frames, frames + 5), (std::vector<uint64_t>{0xaaaa, 0x1111, 0x2222, 0x3333, 0}));
  helpers::RunState st2;
  auto again = p->run(&s.regs, sizeof s.regs, st2);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *id) << "the same stack has the same id";
  // With a skip, another stack (the outer three frames) and another id.
  auto* skip = load(ProgType::Kprobe, get_stackid_prog(kUser | 1), maps);
  ASSERT_NE(skip, nullptr);
  helpers::RunState st3;
  auto id2 = skip->run(&s.regs, sizeof s.regs, st3);
  ASSERT_TRUE(id2);
  ASSERT_GE(int64_t(*id2), 0);
  const auto key2 = uint32_t(*id2);
  ASSERT_TRUE(skip->object().map("stacks")->lookup(&key2, frames, 0));
  EXPECT_EQ(std::vector<uint64_t>(frames, frames + 4), (std::vector<uint64_t>{0x1111, 0x2222, 0x3333, 0}));
}

TEST_P(StackHelpers, GetStackIdErrors) {
  FakeStack s;
  std::vector<loader::MapSpec> maps = {map_spec("stacks", MapType::StackTrace, 4, 8 * 16, 64)};
  for (auto [flags, want] : std::vector<std::pair<uint64_t, int64_t>>{
           {0, -EFAULT},                               // no kernel frames under a user-space hook
           {kUser | 4, -EFAULT},                       // nothing left after the skip
           {kUser | BPF_F_USER_BUILD_ID, -EINVAL},     // a bpf_get_stack flag only
       }) {
    auto* p = load(ProgType::Kprobe, get_stackid_prog(flags), maps);
    ASSERT_NE(p, nullptr);
    helpers::RunState st;
    auto r = p->run(&s.regs, sizeof s.regs, st);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(int64_t(*r), want) << flags;
  }
  uint64_t raw_tp_ctx[13] = {};
  auto* raw = load(ProgType::RawTracepoint, get_stackid_prog(kUser), maps);
  ASSERT_NE(raw, nullptr);
  helpers::RunState st;
  auto r = raw->run(raw_tp_ctx, sizeof raw_tp_ctx, st);
  ASSERT_TRUE(r);
  EXPECT_EQ(int64_t(*r), -EFAULT) << "no regs: an empty stack";
}

// As libbpf: a perf event array declared with max_entries 0 (Cilium's
// cilium_events, libbpf-style objects) is created with one slot per possible
// CPU, and the verifier and the helper see that size.
TEST_P(StackHelpers, PerfEventArrayWithoutSizeGetsOneSlotPerCpu) {
  auto* p = load(ProgType::Kprobe, kPerfOutputProg, {map_spec("events", MapType::PerfEventArray, 4, 4, 0)});
  ASSERT_NE(p, nullptr);
  const uint32_t ncpu = maps::possible_cpus();
  EXPECT_EQ(p->object().map("events")->max_entries(), ncpu);
  FakeStack s;
  for (const auto& [index, want] : {std::pair<uint64_t, int64_t>{ncpu - 1, -ENOENT}, {ncpu, -E2BIG}}) {
    s.regs.rdi = index;
    helpers::RunState st;
    auto r = p->run(&s.regs, sizeof s.regs, st);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(int64_t(*r), want) << "index " << index;  // no consumer yet: ENOENT inside the array
  }
}

TEST_P(StackHelpers, PerfEventOutputReachesTheConsumer) {
  const auto ncpu = uint32_t(std::max<long>(1, sysconf(_SC_NPROCESSORS_CONF)));
  auto* p = load(ProgType::Kprobe, kPerfOutputProg, {map_spec("events", MapType::PerfEventArray, 4, 4, ncpu)});
  ASSERT_NE(p, nullptr);
  FakeStack s;
  auto run = [&](uint64_t flags) {
    s.regs.rdi = flags;
    helpers::RunState st;
    auto r = p->run(&s.regs, sizeof s.regs, st);
    EXPECT_TRUE(r) << r.error().message;
    return r ? int64_t(*r) : 1;
  };
  EXPECT_EQ(run(0), -ENOENT) << "no consumer on index 0 yet";
  EXPECT_EQ(run(ncpu), -E2BIG) << "index past max_entries";
  maps::PerfBufferConsumer consumer;
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> got;
  uint64_t lost = 0;
  ASSERT_TRUE(consumer.add(
      p->object().map("events"),
      [&](uint32_t cpu, const void* d, uint32_t n) {
        got.emplace_back(cpu, std::vector<uint8_t>(static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + n));
      },
      [&](uint32_t, uint64_t l) { lost += l; }));
  EXPECT_EQ(run(BPF_F_CURRENT_CPU), 0);
  EXPECT_EQ(run(ncpu - 1), 0);
  EXPECT_EQ(consumer.consume(), 2);
  ASSERT_EQ(got.size(), 2U);
  EXPECT_LT(got[0].first, ncpu);
  EXPECT_EQ(got[1].first, ncpu - 1);
  // PERF_SAMPLE_RAW data: the 8 bytes, padded with the u32 size to 12.
  const std::vector<uint8_t> want = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0};
  EXPECT_EQ(got[0].second, want);
  EXPECT_EQ(got[1].second, want);
  EXPECT_EQ(run(ncpu), -E2BIG);
  EXPECT_EQ(run(1ULL << 32), -EINVAL) << "BPF_F_CTXLEN_MASK is for skb and xdp programs only";
  EXPECT_EQ(run(1ULL << 52), -EINVAL);
  // A full buffer: -ENOSPC, and the consumer hears of the lost record.
  int64_t rc = 0;
  int sent = 0;
  while (sent < 100000 && (rc = run(0)) == 0) ++sent;
  EXPECT_EQ(rc, -ENOSPC);
  EXPECT_EQ(sent, int(maps::kPerfBufferBytes / 24));  // 24-byte records
  EXPECT_EQ(lost, 0U);
  EXPECT_EQ(consumer.consume(), sent + 1);
  EXPECT_EQ(lost, 1U);
  EXPECT_EQ(run(0), 0) << "room again once consumed";
}

// XDP's bpf_perf_event_output appends BPF_F_CTXLEN_MASK >> 32 bytes of the
// packet to the record (bpf_xdp_event_output); more than the packet: -EFAULT.
TEST_P(StackHelpers, PerfEventOutputAppendsPacketBytes) {
  std::vector<uint8_t> pkt(20);
  for (size_t i = 0; i < pkt.size(); ++i) pkt[i] = uint8_t(0xa0 + i);
  for (uint64_t ctx_len : {14, 20, 21}) {
    auto* p = load(ProgType::Xdp, fmt::format(R"(
      lddw %r2, 0x0807060504030201
      stxdw [%r10-8], %r2
      lddw %r2, map_idx 0
      lddw %r3, {}
      mov %r4, %r10
      add %r4, -8
      mov %r5, 8
      call 25
      exit
    )", ctx_len << 32), {map_spec("events", MapType::PerfEventArray, 4, 4, 1)});
    ASSERT_NE(p, nullptr);
    maps::PerfBufferConsumer consumer;
    std::vector<uint8_t> got;
    ASSERT_TRUE(consumer.add(p->object().map("events"), [&](uint32_t, const void* d, uint32_t n) {
      got.assign(static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + n);
    }));
    runtime::TestRun tr;
    tr.data_in = pkt;
    auto r = runtime::test_run(*p, tr);
    ASSERT_TRUE(r) << r.error().message;
    if (ctx_len > pkt.size()) {
      EXPECT_EQ(int32_t(r->retval), -EFAULT);
      EXPECT_EQ(consumer.consume(), 0);
      continue;
    }
    EXPECT_EQ(r->retval, 0U) << ctx_len;
    EXPECT_EQ(consumer.consume(), 1);
    std::vector<uint8_t> want = {1, 2, 3, 4, 5, 6, 7, 8};
    want.insert(want.end(), pkt.begin(), pkt.begin() + long(ctx_len));
    want.resize(((want.size() + 4 + 7) & ~size_t{7}) - 4);  // raw data padded with its u32 size to 8
    EXPECT_EQ(got, want) << ctx_len;
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, StackHelpers, testing_support::all_execs(), testing_support::ExecParamName());

}  // namespace
