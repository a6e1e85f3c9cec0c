// Program types whose context is given whole (uprobe pt_regs, raw
// tracepoint, perf_event), pcap input, and embedder helpers.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <pcap/pcap.h>
#include <unistd.h>

#include "helpers/trace_log.hpp"
#include "runtime/context.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"
#include "verifier/checker.hpp"
#include "runtime_fixture.hpp"
#include "xbpf/xbpf.hpp"

using namespace xbpf;
using testing_support::Exec;

namespace {
std::string obj(const char* name) { return std::string(XBPF_TEST_OBJECTS_DIR) + "/" + name + ".o"; }

struct PtRegs {
  uint64_t r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

class RuntimeTypes : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-rt-types-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = *maps::Store::open(dir_);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Checked mode by default here: rt_trace carries deliberately bad programs
  // (raw_oob) that the checked interpreter must stop; the verifier refuses them.
  static runtime::LoadOptions checked() {
    runtime::LoadOptions o;
    o.mode = vm::Mode::Checked;
    return o;
  }
  std::unique_ptr<runtime::Object> load(const char* name, const runtime::LoadOptions& o = checked()) {
    auto spec = loader::open_object(obj(name));
    EXPECT_TRUE(spec) << spec.error().message;
    auto r = runtime::Object::load(std::move(*spec), store_, o);
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::move(*r) : nullptr;
  }
  std::string dir_;
  std::shared_ptr<maps::Store> store_;
};

int64_t get(maps::Map& m, uint32_t k) {
  int64_t v = 0;
  EXPECT_TRUE(m.lookup(&k, &v, 0));
  return v;
}

std::span<const uint8_t> bytes(const void* p, size_t n) { return {static_cast<const uint8_t*>(p), n}; }
}  // namespace

// The tracing program types on every engine: rt_trace without raw_oob (the
// verifier refuses it; CheckedModeStopsBadPrograms runs it), and with the
// embedder's helper uses_embedder needs.
class RuntimeTypesExec : public RuntimeTypes, public ::testing::WithParamInterface<Exec> {
 protected:
  std::unique_ptr<runtime::Object> load_good() {
    h_.id = 1000;
    h_.args = {helpers::Arg::Anything, helpers::Arg::Anything};
    h_.fn = [](uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return a + b; };
    EXPECT_TRUE(reg_.add(h_, "embedder_add"));
    auto spec = loader::open_object(obj("rt_trace"));
    EXPECT_TRUE(spec) << spec.error().message;
    if (!spec) return nullptr;
    std::erase_if(spec->programs, [](const loader::ProgramSpec& p) { return p.name == "raw_oob"; });
    runtime::LoadOptions lo = testing_support::load_options(GetParam());
    lo.helpers = &reg_;
    auto r = runtime::Object::load(std::move(*spec), store_, lo);
    EXPECT_TRUE(r) << r.error().message;
    if (!r) return nullptr;
    for (const char* name : {"on_call", "on_raw", "on_sample", "uses_embedder"})
      EXPECT_EQ((*r)->program(name)->engine(),
                GetParam() == Exec::Jit ? runtime::Engine::Jit : runtime::Engine::Interpreter)
          << name;
    return std::move(*r);
  }
  helpers::Registry reg_ = helpers::Registry::standard();
  helpers::HelperSpec h_;
};

TEST_P(RuntimeTypesExec, UprobeOnPtRegs) {
  auto o = load_good();
  ASSERT_TRUE(o);
  runtime::Program* p = o->program("on_call");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->type(), kabi::ProgType::Kprobe);
  static const char kArg[] = "hello";
  PtRegs regs{};
  regs.di = reinterpret_cast<uint64_t>(kArg);
  regs.si = 42;
  auto log = helpers::TraceLog::open(helpers::TraceLog::path_in(dir_));
  ASSERT_TRUE(log);
  runtime::TestRun tr;
  tr.ctx_in = bytes(&regs, sizeof regs);
  tr.trace = &*log;
  auto r = runtime::test_run(*p, tr);
  ASSERT_TRUE(r) << r.error().message;
  auto out = o->map("out");
  EXPECT_EQ(get(*out, 0), 6);  // strlen + NUL
  EXPECT_EQ(get(*out, 1), 42);
  EXPECT_EQ(get(*out, 2), 'h');
  EXPECT_EQ(get(*out, 3), -EFAULT);
  EXPECT_EQ(get(*out, 4), getpid());
  EXPECT_EQ(get(*out, 5), 0);
  uint64_t off = 0;
  auto lines = helpers::read_trace(log->path(), off);
  ASSERT_TRUE(lines && lines->size() == 1);
  EXPECT_NE((*lines)[0].find("on_call hello 42"), std::string::npos) << (*lines)[0];
}

TEST_P(RuntimeTypesExec, RawTracepointAndPerfEvent) {
  auto o = load_good();
  ASSERT_TRUE(o);
  uint64_t args[2] = {40, 2};
  runtime::TestRun tr;
  tr.ctx_in = bytes(args, sizeof args);
  auto r = runtime::test_run(*o->program("on_raw"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 1U);
  EXPECT_EQ(get(*o->map("out"), 7), 42);
  r = runtime::test_run(*o->program("uses_embedder"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 45U);  // the embedder's helper: 40 + 5
  struct {
    PtRegs regs;
    uint64_t sample_period, addr;
  } pe{};
  tr.data_in = {};
  pe.regs.ip = 1000;
  pe.sample_period = 7;
  tr.ctx_in = bytes(&pe, sizeof pe);
  r = runtime::test_run(*o->program("on_sample"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 1007U);
  tr.data_in = bytes(args, 8);
  EXPECT_EQ(runtime::test_run(*o->program("on_sample"), tr).error().errnum, EINVAL);  // no data_in
}

INSTANTIATE_TEST_SUITE_P(Engines, RuntimeTypesExec, testing_support::all_execs(), testing_support::ExecParamName());

TEST_F(RuntimeTypes, CheckedModeStopsBadPrograms) {
  helpers::Registry reg = helpers::Registry::standard();
  helpers::HelperSpec h;
  h.id = 1000;
  h.args = {helpers::Arg::Anything, helpers::Arg::Anything};
  h.fn = [](uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t, vm::ExecContext*) -> uint64_t { return a + b; };
  ASSERT_TRUE(reg.add(h, "embedder_add"));
  // Without the embedder's registry the object does not load (unknown helper).
  auto spec = loader::open_object(obj("rt_trace"));
  ASSERT_TRUE(spec);
  auto bad = runtime::Object::load(*spec, store_);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("uses_embedder"), std::string::npos) << bad.error().message;
  runtime::LoadOptions lo = checked();
  lo.helpers = &reg;
  auto o = load("rt_trace", lo);
  ASSERT_TRUE(o);
  uint64_t args[2] = {37, 0};
  runtime::TestRun tr;
  tr.ctx_in = bytes(args, sizeof args);
  auto r = runtime::test_run(*o->program("uses_embedder"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 42U);
  // Reading far past the context is stopped with an error naming the program.
  r = runtime::test_run(*o->program("raw_oob"), tr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("prog 'raw_oob'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("invalid memory access"), std::string::npos) << r.error().message;
  // A faulting user-memory read is -EFAULT, not a crash.
  PtRegs regs{};
  regs.di = 0x10;  // probe_read_user_str of an unmapped address: -EFAULT, no crash
  tr.ctx_in = bytes(&regs, sizeof regs);
  r = runtime::test_run(*o->program("on_call"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(get(*o->map("out"), 0), -EFAULT);
}

TEST_F(RuntimeTypes, PcapOneRunPerPacket) {
  const std::string path = dir_ + "/in.pcap";
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(d, nullptr);
  auto add = [&](uint8_t proto, uint16_t dport) {
    std::vector<uint8_t> p(60, 0);
    p[12] = 0x08;
    p[14] = 0x45;
    p[23] = proto;
    p[36] = uint8_t(dport >> 8);
    p[37] = uint8_t(dport);
    pcap_pkthdr h{};
    h.caplen = h.len = uint32_t(p.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, p.data());
  };
  add(6, 23);
  add(6, 80);
  add(17, 7);
  add(17, 53);
  add(6, 23);
  pcap_dump_close(d);
  pcap_close(dead);
  for (Exec e : {Exec::Checked, Exec::Interpreter, Exec::Jit}) {
    SCOPED_TRACE(testing_support::exec_name(e));
    auto o = load("rt_xdp", testing_support::load_options(e));
    ASSERT_TRUE(o);
    auto s = runtime::run_pcap(*o->program("xdp_parse"), path, {});
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->packets, 5U);
    EXPECT_EQ(s->verdicts[1], 2U);  // XDP_DROP
    EXPECT_EQ(s->verdicts[2], 2U);  // XDP_PASS
    EXPECT_EQ(s->verdicts[3], 1U);  // XDP_TX
    EXPECT_FALSE(runtime::run_pcap(*o->program("xdp_parse"), dir_ + "/missing.pcap", {}));
  }
  // The reader alone, through the public API: every packet, in order.
  std::vector<uint8_t> ports;
  auto n = xbpf::for_each_pcap_packet(path, [&](std::span<const uint8_t> p) {
    EXPECT_EQ(p.size(), 60u);
    ports.push_back(p[37]);
  });
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(ports, (std::vector<uint8_t>{23, 80, 7, 53, 23}));
  // A callback's error stops the walk and names the packet.
  auto stop = runtime::for_each_packet(path, [](std::span<const uint8_t> p) -> Expected<void> {
    if (p[37] == 7) return fail(Errc::invalid_argument, "port 7");
    return {};
  });
  ASSERT_FALSE(stop);
  EXPECT_NE(stop.error().message.find("in.pcap: packet 3: port 7"), std::string::npos) << stop.error().message;
  // Not a pcap file: an error naming it, no callback.
  const std::string junk = dir_ + "/junk.pcap";
  std::FILE* f = std::fopen(junk.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not a capture file at all", f);
  std::fclose(f);
  size_t calls = 0;
  auto bad = xbpf::for_each_pcap_packet(junk, [&](std::span<const uint8_t>) { ++calls; });
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("junk.pcap"), std::string::npos) << bad.error().message;
  EXPECT_EQ(calls, 0u);
}

// Packet buffers are reused between test runs (an munmap costs ~200 us here);
// a reused buffer is zeroed like a fresh one and still lies below 4 GiB.
TEST(LowBuffer, ReusedBuffersAreZeroedAndLow) {
  uint8_t* first = nullptr;
  {
    auto b = runtime::LowBuffer::allocate(4096);
    ASSERT_TRUE(b) << b.error().message;
    first = b->data();
    std::memset(b->data(), 0xab, b->size());
  }
  auto again = runtime::LowBuffer::allocate(100);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->data(), first);  // the same page, taken from this thread's free list
  EXPECT_EQ(again->size(), 4096u);
  EXPECT_LT(reinterpret_cast<uintptr_t>(again->data()), uintptr_t{1} << 32);
  for (size_t i = 0; i < again->size(); ++i) ASSERT_EQ(again->data()[i], 0) << i;
  auto other = runtime::LowBuffer::allocate(8192);  // another size: a fresh mapping
  ASSERT_TRUE(other);
  EXPECT_NE(other->data(), first);
}

// A buffer allocated with fewer bytes to zero keeps old contents past them
// (the skb test run zeroes only its first page; the rest is written before
// a program can read it).
TEST(LowBuffer, ZeroesOnlyWhatIsAsked) {
  uint8_t* first = nullptr;
  {
    auto b = runtime::LowBuffer::allocate(3 * 4096);
    ASSERT_TRUE(b) << b.error().message;
    first = b->data();
    std::memset(b->data(), 0xab, b->size());
  }
  auto again = runtime::LowBuffer::allocate(3 * 4096, 4096);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->data(), first);
  for (size_t i = 0; i < 4096; ++i) ASSERT_EQ(again->data()[i], 0) << i;
  EXPECT_EQ(again->data()[4096], 0xab);
}

// test_run gives context-only programs a context of runtime::context_size
// bytes, and verified programs read it unchecked: it must cover every offset
// the verifier lets a program of the type read (a tracepoint program reading
// its record once crashed the verified interpreter on a zero-sized one).
TEST(ContextSize, CoversWhatTheVerifierAllows) {
#define XBPF_X(name, value, str)                                                                      \
  EXPECT_GE(runtime::context_size(kabi::ProgType::name), size_t(std::max(0, verifier::detail::context_size( \
                                                             kabi::ProgType::name))))                \
      << str;
  XBPF_PROG_TYPES(XBPF_X)
#undef XBPF_X
}
