// Differential test against the Linux kernel: the same clang-built object is
// loaded into the kernel through libbpf (the oracle) and into xbpf; every
// program runs the same packets through BPF_PROG_TEST_RUN and xbpf's
// test_run, and retval, data_out, ctx_out, map contents and ring buffer
// records must agree.
//
// Without bpf(2) (or libbpf) the test skips naming what is missing; under
// CI=true it fails instead, so CI can never pass vacuously.
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "maps/ringbuf.hpp"
#include "runtime/object.hpp"
#include "runtime_fixture.hpp"
#include "runtime/test_run.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

using namespace xbpf;
using testing_support::eth_ip;
using Bytes = std::vector<uint8_t>;

namespace {

std::string obj(const std::string& name) { return std::string(XBPF_TEST_OBJECTS_DIR) + "/" + name + ".o"; }

// Skips, or fails under CI=true, naming what is missing.
#define REQUIRE_KERNEL(missing)                                                              \
  do {                                                                                       \
    const char* ci = std::getenv("CI");                                                      \
    if (ci && std::string(ci) == "true") FAIL() << "kernel oracle unavailable: " << missing; \
    GTEST_SKIP() << "kernel oracle unavailable: " << missing;                                \
  } while (0)

std::vector<Bytes> packets() {
  std::vector<Bytes> v = {eth_ip(6, 23, 0), eth_ip(6, 80, 40), eth_ip(17, 7, 12), eth_ip(17, 53, 100),
                          eth_ip(17, 9, 0), eth_ip(6, 443, 1400), eth_ip(17, 53, 20, 6)};
  Bytes arp = eth_ip(6, 1, 10);
  arp[12] = 0x08;
  arp[13] = 0x06;
  v.push_back(arp);
  Bytes bcast = eth_ip(17, 53, 4);
  std::memset(bcast.data(), 0xff, 6);
  v.push_back(bcast);
  Bytes truncated = eth_ip(6, 80, 0);
  truncated.resize(24);
  v.push_back(truncated);
  Bytes llc(60, 0x5a);
  llc[12] = 0x00;
  llc[13] = 0x2e;
  llc[0] = 0x01;  // multicast
  v.push_back(llc);
  return v;
}

// "offset N: A vs B" for the first difference (readable failures for byte buffers).
std::string first_diff(const Bytes& a, const Bytes& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return "offset " + std::to_string(i) + ": xbpf " + std::to_string(a[i]) + " vs kernel " + std::to_string(b[i]);
  return a.size() == b.size() ? "equal" : "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
}

#ifdef XBPF_HAVE_LIBBPF
struct KernelResult {
  uint32_t retval = 0;
  Bytes data_out, ctx_out;
  uint32_t duration = 0;
};

int kernel_run(int fd, const Bytes& data, const Bytes& ctx_in, size_t ctx_size, KernelResult* out,
               uint32_t repeat = 1) {
  out->data_out.assign(data.size() + 4096 + 16384, 0);  // room for bpf_skb_change_tail's longest packet
  out->ctx_out.assign(ctx_size, 0);
  LIBBPF_OPTS(bpf_test_run_opts, o);
  o.data_in = data.data();
  o.data_size_in = uint32_t(data.size());
  o.data_out = out->data_out.data();
  o.data_size_out = uint32_t(out->data_out.size());
  if (!ctx_in.empty()) {
    o.ctx_in = ctx_in.data();
    o.ctx_size_in = uint32_t(ctx_in.size());
  }
  if (ctx_size) {
    o.ctx_out = out->ctx_out.data();
    o.ctx_size_out = uint32_t(ctx_size);
  }
  o.repeat = repeat;
  const int err = bpf_prog_test_run_opts(fd, &o);
  if (err) return err;
  out->retval = o.retval;
  out->duration = o.duration;
  out->data_out.resize(o.data_size_out);
  out->ctx_out.resize(o.ctx_size_out);
  return 0;
}

// All (key, value) pairs of a kernel map / an xbpf map, in key order.
std::map<Bytes, Bytes> kernel_map(int fd, uint32_t ks, uint32_t vs) {
  std::map<Bytes, Bytes> m;
  Bytes key(ks), next(ks), val(vs);
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    if (bpf_map_lookup_elem(fd, next.data(), val.data()) == 0) m[next] = val;
    key = next;
    prev = key.data();
  }
  return m;
}

constexpr size_t kSkbCtx = 192;  // sizeof(struct __sk_buff)
constexpr size_t kXdpCtx = 24;   // sizeof(struct xdp_md)

// Every case runs three times: the checked interpreter, and verified mode
// (xbpf's verifier accepts the program, which then runs unchecked with inlined
// array lookups) on the interpreter and on the JIT -- all must equal the kernel.
class TestRunKernelDiff : public ::testing::TestWithParam<testing_support::Exec> {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-kdiff-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = *maps::Store::open(dir_);
  }
  void TearDown() override {
    ours_.reset();
    if (kobj_) bpf_object__close(kobj_);
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Loads `name` into both; false (test already skipped/failed) when the kernel is unusable.
  bool load(const std::string& name) {
    // Is bpf(2) usable at all? (A verifier refusal of our object is a failure, not a skip.)
    if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr) != 1) {
      kernel_missing_ = "bpf(2) cannot load an XDP program (not root, or BPF disabled)";
      return false;
    }
    kobj_ = bpf_object__open_file(obj(name).c_str(), nullptr);
    if (!kobj_) {
      ADD_FAILURE() << "libbpf cannot open " << name;
      return false;
    }
    if (int err = bpf_object__load(kobj_); err) {
      ADD_FAILURE() << "the kernel refused " << name << ": " << std::strerror(-err) << " (see the verifier log above)";
      return false;
    }
    auto spec = loader::open_object(obj(name));
    EXPECT_TRUE(spec) << spec.error().message;
    if (!spec) return false;
    runtime::LoadOptions lo = testing_support::load_options(GetParam());
    auto o = runtime::Object::load(std::move(*spec), store_, lo);
    EXPECT_TRUE(o) << o.error().message;
    if (!o) return false;
    ours_ = std::move(*o);
    return true;
  }

  // Runs every packet through `prog` in both, comparing results; returns the
  // number of (packet) runs that agreed.
  int compare_program(const std::string& prog, size_t ctx_size) {
    bpf_program* kp = bpf_object__find_program_by_name(kobj_, prog.c_str());
    runtime::Program* op = ours_->program(prog);
    EXPECT_TRUE(kp && op) << prog;
    if (!kp || !op) return 0;
    int agreed = 0;
    const auto pkts = packets();
    for (size_t i = 0; i < pkts.size(); ++i) {
      SCOPED_TRACE(prog + " packet " + std::to_string(i));
      // XDP gets an xdp_md describing the packet (data_end = size): 6.18 reads
      // a zeroed one as "no linear data, all fragments", which xbpf does not model.
      Bytes ctx_in;
      if (op->type() == kabi::ProgType::Xdp) {
        const uint32_t md[6] = {0, uint32_t(pkts[i].size()), 0, 0, 0, 0};
        ctx_in.assign(reinterpret_cast<const uint8_t*>(md), reinterpret_cast<const uint8_t*>(md) + sizeof md);
      }
      KernelResult k;
      const int kerr = kernel_run(bpf_program__fd(kp), pkts[i], ctx_in, ctx_size, &k);
      runtime::TestRun tr;
      tr.data_in = pkts[i];
      if (!ctx_in.empty()) tr.ctx_in = std::span<const uint8_t>(ctx_in);
      tr.want_ctx_out = ctx_size != 0;
      auto r = runtime::test_run(*op, tr);
      if (kerr) {
        EXPECT_FALSE(r) << "kernel refused with " << kerr << ", xbpf accepted";
        if (!r) {
          EXPECT_EQ(-r.error().errnum, kerr) << r.error().message;
          agreed += -r.error().errnum == kerr;
        }
        continue;
      }
      EXPECT_TRUE(r) << r.error().message;
      if (!r) continue;
      EXPECT_EQ(r->retval, k.retval);
      EXPECT_TRUE(r->data_out == k.data_out) << "data_out " << first_diff(r->data_out, k.data_out);
      EXPECT_TRUE(r->ctx_out == k.ctx_out) << "ctx_out " << first_diff(r->ctx_out, k.ctx_out);
      agreed += r->retval == k.retval && r->data_out == k.data_out && r->ctx_out == k.ctx_out;
      kernel_ns_ += k.duration;
      ours_ns_ += r->duration_ns;
    }
    return agreed;
  }

  // One run of `prog` on `pkt` with context `ctx` (an __sk_buff, an xdp_md)
  // in both, `repeat` times: return value, output packet and context must
  // agree (true if so).
  bool compare_run(const char* prog, const Bytes& pkt, const Bytes& ctx, uint32_t repeat) {
    bpf_program* kp = bpf_object__find_program_by_name(kobj_, prog);
    runtime::Program* op = ours_->program(prog);
    EXPECT_TRUE(kp && op) << prog;
    if (!kp || !op) return false;
    KernelResult k;
    EXPECT_EQ(kernel_run(bpf_program__fd(kp), pkt, ctx, ctx.size(), &k, repeat), 0);
    runtime::TestRun tr;
    tr.data_in = pkt;
    tr.ctx_in = std::span<const uint8_t>(ctx);
    tr.repeat = repeat;
    auto r = runtime::test_run(*op, tr);
    EXPECT_TRUE(r) << r.error().message;
    if (!r) return false;
    EXPECT_EQ(r->retval, k.retval);
    EXPECT_TRUE(r->data_out == k.data_out) << first_diff(r->data_out, k.data_out);
    EXPECT_TRUE(r->ctx_out == k.ctx_out) << first_diff(r->ctx_out, k.ctx_out);
    return r->retval == k.retval && r->data_out == k.data_out && r->ctx_out == k.ctx_out;
  }

  // compare_run with a zeroed __sk_buff whose cb[] starts with `cb` (the
  // test programs take their arguments there).
  bool compare_cb_run(const char* prog, const Bytes& pkt, std::initializer_list<uint32_t> cb) {
    Bytes ctx(kSkbCtx, 0);
    std::memcpy(&ctx[48], cb.begin(), std::min<size_t>(cb.size(), 5) * 4);
    return compare_run(prog, pkt, ctx, 1);
  }

  // One XDP run of `prog` on `pkt` (an xdp_md describing it) in both: the
  // return value, packet and context must agree (true if so).
  bool compare_xdp_run(const char* prog, const Bytes& pkt) {
    const uint32_t md[6] = {0, uint32_t(pkt.size()), 0, 0, 0, 0};
    const Bytes ctx(reinterpret_cast<const uint8_t*>(md), reinterpret_cast<const uint8_t*>(md) + sizeof md);
    return compare_run(prog, pkt, ctx, 1);
  }

  void compare_maps(std::initializer_list<const char*> names) {
    for (const char* n : names) {
      SCOPED_TRACE(std::string("map ") + n);
      bpf_map* km = bpf_object__find_map_by_name(kobj_, n);
      auto om = ours_->map(n);
      ASSERT_TRUE(km && om);
      auto kv = kernel_map(bpf_map__fd(km), bpf_map__key_size(km), uint32_t(om->user_value_size()));
      auto ov = testing_support::map_contents(*om);
      EXPECT_EQ(kv.size(), ov.size());
      EXPECT_TRUE(kv == ov) << "map contents differ";
    }
  }

  std::string dir_;
  std::shared_ptr<maps::Store> store_;
  std::unique_ptr<runtime::Object> ours_;
  bpf_object* kobj_ = nullptr;
  std::string kernel_missing_;
  uint64_t kernel_ns_ = 0, ours_ns_ = 0;
};

#define LOAD_OR_SKIP(name)                                        \
  do {                                                            \
    if (!load(name)) {                                            \
      if (!kernel_missing_.empty()) REQUIRE_KERNEL(kernel_missing_); \
      return;                                                     \
    }                                                             \
  } while (0)


TEST_P(TestRunKernelDiff, XdpParse) {
  LOAD_OR_SKIP("rt_xdp");
  const int n = compare_program("xdp_parse", kXdpCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"verdicts", "by_src"});
  std::printf("[ diff ] rt_xdp/xdp_parse: %d/%zu packets agree (kernel %lu ns, xbpf %lu ns total)\n", n,
              packets().size(), (unsigned long)kernel_ns_, (unsigned long)ours_ns_);
}

TEST_P(TestRunKernelDiff, XdpAdjust) {
  LOAD_OR_SKIP("rt_xdp");
  const int n = compare_program("xdp_adjust", kXdpCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"adjust_results"});
  std::printf("[ diff ] rt_xdp/xdp_adjust: %d/%zu packets agree\n", n, packets().size());
}

TEST_P(TestRunKernelDiff, TcRewrite) {
  LOAD_OR_SKIP("rt_tc");
  const int n = compare_program("tc_rewrite", kSkbCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"by_proto"});
  std::printf("[ diff ] rt_tc/tc_rewrite: %d/%zu packets agree\n", n, packets().size());
}

// Packets for the flow hash: flows, their reverse, fragments, IPv6 with and
// without a flow label, ARP, VLAN tags. Ethernet, the IPv4 checksum left 0 (nothing checks it).
Bytes eth_v4(uint8_t proto, std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, uint16_t sport,
             uint16_t dport, size_t payload, uint16_t frag = 0) {
  Bytes p(14 + 20 + 20 + payload, 0);
  p[12] = 0x08;
  p[14] = 0x45;
  p[16] = uint8_t((p.size() - 14) >> 8);
  p[17] = uint8_t(p.size() - 14);
  p[20] = uint8_t(frag >> 8);
  p[21] = uint8_t(frag);
  p[22] = 64;
  p[23] = proto;
  std::memcpy(&p[26], src.data(), 4);
  std::memcpy(&p[30], dst.data(), 4);
  p[34] = uint8_t(sport >> 8);
  p[35] = uint8_t(sport);
  p[36] = uint8_t(dport >> 8);
  p[37] = uint8_t(dport);
  for (size_t i = 54; i < p.size(); ++i) p[i] = uint8_t(i * 13);
  return p;
}
Bytes eth_v6(uint8_t last_src, uint8_t last_dst, uint16_t sport, uint16_t dport, uint32_t flow_label) {
  Bytes p(14 + 40 + 8, 0);
  p[12] = 0x86;
  p[13] = 0xdd;
  p[14] = 0x60;
  p[15] = uint8_t((flow_label >> 16) & 0xf);
  p[16] = uint8_t(flow_label >> 8);
  p[17] = uint8_t(flow_label);
  p[19] = 8;   // payload length
  p[20] = 17;  // UDP
  p[21] = 64;
  p[22] = p[38] = 0xfd;
  p[37] = last_src;
  p[53] = last_dst;
  p[54] = uint8_t(sport >> 8);
  p[55] = uint8_t(sport);
  p[56] = uint8_t(dport >> 8);
  p[57] = uint8_t(dport);
  return p;
}

// bpf_get_hash_recalc, set_hash and set_hash_invalid: the kernel keys its
// flow hash randomly at boot and xbpf once per process, so the values
// differ; which packets hash alike must agree, pair by pair.
TEST_P(TestRunKernelDiff, FlowHashGroupsPacketsAsTheKernel) {
  LOAD_OR_SKIP("rt_tc");
  auto vlan = [](Bytes p, std::initializer_list<uint8_t> tags) {  // tags after the MAC addresses
    p.insert(p.begin() + 12, tags);
    return p;
  };
  const std::array<uint8_t, 4> a{10, 0, 0, 1}, b{192, 168, 7, 2};
  Bytes arp1 = eth_v4(6, a, b, 1, 2, 10), arp2 = eth_v4(17, b, a, 7, 9, 30);
  arp1[13] = arp2[13] = 0x06;
  std::vector<Bytes> pkts = {
      eth_v4(6, a, b, 12345, 80, 0),     // 0: a flow
      eth_v4(6, a, b, 12345, 80, 40),    // 1: the same flow, more payload: as 0
      eth_v4(6, b, a, 80, 12345, 0),     // 2: its reverse: as 0
      eth_v4(6, a, b, 12345, 81, 0),     // 3: another port
      eth_v4(17, a, b, 12345, 80, 0),    // 4: UDP, same ports
      eth_v4(6, a, b, 12345, 80, 8, 0x2000),  // 5: a first fragment (MF): no ports
      eth_v4(6, a, b, 999, 998, 8, 0x0010),   // 6: a later fragment: as 5
      eth_v4(1, a, b, 0x0800, 0x1234, 8),     // 7: ICMP
      eth_v6(1, 2, 1000, 53, 0),         // 8: IPv6 UDP
      eth_v6(2, 1, 53, 1000, 0),         // 9: its reverse: as 8
      eth_v6(1, 2, 1000, 54, 0),         // 10: another port
      eth_v6(1, 2, 1000, 53, 0x12345),   // 11: a flow label: ports not hashed
      eth_v6(1, 2, 2000, 53, 0x12345),   // 12: as 11
      arp1,                              // 13: ARP: only the protocol
      arp2,                              // 14: as 13
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x05}),   // 15: 802.1Q, VLAN 5
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x60, 0x05}),   // 16: priority 3
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x10, 0x05}),   // 17: DEI
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x06}),   // 18: VLAN 6
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x88, 0xa8, 0x00, 0x05}),   // 19: 802.1ad
      vlan(eth_v4(6, b, a, 80, 12345, 0), {0x81, 0x00, 0x00, 0x05}),   // 20: 15's reverse
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07}),  // 21: two tags
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x08}),  // 22: inner VLAN 8
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07}),  // 23: two 802.1Q tags
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07, 0x81, 0x00, 0x00, 0x09}),  // 24: three
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x08, 0x81, 0x00, 0x00, 0x09}),  // 25
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07, 0x81, 0x00, 0x00, 0x0a}),  // 26
      eth_v4(6, a, b, 12345, 80, 0),     // 27: 0 run by tc_hash_tagged (VLAN 5 pushed into the metadata first)
      vlan(eth_v4(6, a, b, 12345, 80, 0), {0x81, 0x00, 0x00, 0x07}),   // 28: tagged (VLAN 7), and VLAN 5 in the metadata
  };
  const size_t tagged_runs[2] = {27, 28};
  // 29-34: 12 to 17 802.1Q tags (VLAN 5, then 7s). The kernel's dissector
  // stops after 15 headers, each tag one: up to 15 hash as 23, 16 without
  // the IPv4 header, 17 without reaching it.
  for (size_t n = 12; n <= 17; ++n) {
    std::vector<uint8_t> tags;
    for (size_t t = 0; t < n; ++t) tags.insert(tags.end(), {0x81, 0x00, 0x00, uint8_t(t ? 7 : 5)});
    Bytes p = eth_v4(6, a, b, 12345, 80, 0);
    p.insert(p.begin() + 12, tags.begin(), tags.end());
    pkts.push_back(std::move(p));
  }
  std::vector<uint32_t> k(pkts.size()), x(pkts.size());
  for (size_t i = 0; i < pkts.size(); ++i) {
    SCOPED_TRACE("packet " + std::to_string(i));
    const char* prog = i == tagged_runs[0] || i == tagged_runs[1] ? "tc_hash_tagged" : "tc_hash";
    bpf_program* kp = bpf_object__find_program_by_name(kobj_, prog);
    runtime::Program* op = ours_->program(prog);
    ASSERT_TRUE(kp && op);
    KernelResult kr;
    ASSERT_EQ(kernel_run(bpf_program__fd(kp), pkts[i], {}, 0, &kr), 0);
    runtime::TestRun tr;
    tr.data_in = pkts[i];
    auto r = runtime::test_run(*op, tr);
    ASSERT_TRUE(r) << r.error().message;
    k[i] = kr.retval;
    x[i] = r->retval;
    EXPECT_GT(k[i], 6u) << "the kernel failed property " << k[i];
    EXPECT_GT(x[i], 6u) << "xbpf failed property " << x[i];
  }
  int alike = 0;
  for (size_t i = 0; i < pkts.size(); ++i)
    for (size_t j = i + 1; j < pkts.size(); ++j) {
      EXPECT_EQ(k[i] == k[j], x[i] == x[j]) << "packets " << i << " and " << j << ": the kernel hashes them "
                                             << (k[i] == k[j] ? "alike" : "apart");
      alike += k[i] == k[j];
    }
  // 0=1=2 (three pairs), 5=6, 8=9, 11=12, 13=14, 15=17=20=27 (six: neither DEI nor the
  // direction counts, and a metadata tag hashes as one in the packet), 21=22 (inner
  // tags do not count), 23=24=25=26=28=29=30=31=32 (36: nor do tags after the second).
  EXPECT_EQ(alike, 50);
  std::printf("[ diff ] rt_tc/tc_hash: %zu packets, %d pairs hash alike in the kernel\n", pkts.size(), alike);
}

TEST_P(TestRunKernelDiff, SocketFilter) {
  LOAD_OR_SKIP("rt_tc");
  const int n = compare_program("sock_udp", kSkbCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"by_proto"});
  std::printf("[ diff ] rt_tc/sock_udp: %d/%zu packets agree\n", n, packets().size());
}

TEST_P(TestRunKernelDiff, CgroupSkb) {
  LOAD_OR_SKIP("rt_tc");
  const int n = compare_program("cg_ingress", kSkbCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"by_proto"});
  std::printf("[ diff ] rt_tc/cg_ingress: %d/%zu packets agree\n", n, packets().size());
}

// bpf_skb_change_tail, bpf_skb_pull_data and bpf_skb_change_type: lengths
// around both limits, flags, repeats that grow one shared packet, pull
// lengths around the packet's, packet types around PACKET_OTHERHOST.
TEST_P(TestRunKernelDiff, ChangeTailPullAndType) {
  LOAD_OR_SKIP("rt_tc");
  const Bytes pkt = eth_ip(17, 53, 30);  // 72 bytes
  Bytes mcast = pkt;
  mcast[0] = 0x01;  // PACKET_MULTICAST
  struct Case {
    const char* what;
    uint32_t mark, flags, type, pull, repeat;
    bool multicast;
    uint32_t shrink_first = 0;
  };
  const Case cases[] = {
      {"7 more", 0, 0, 0, 0, 1, false},          {"7 more, 3 repeats", 0, 0, 0, 0, 3, false},
      {"same length", 72, 0, 0, 0, 1, false},    {"1500", 1500, 0, 3, 0, 1, false},
      {"16064 (the most)", 16064, 0, 0, 0, 1, false}, {"16065", 16065, 0, 0, 0, 1, false},
      {"65550", 65550, 0, 0, 0, 1, false},
      {"shrink to 20", 20, 0, 1, 20, 2, false},  {"14 (the least)", 14, 0, 0, 14, 1, false},
      {"13", 13, 0, 0, 0, 1, false},             {"flags 1", 100, 1, 0, 0, 1, false},
      {"pull all", 80, 0, 2, 80, 1, false},      {"pull one more", 80, 0, 0, 81, 1, false},
      {"type 4", 80, 0, 4, 0, 1, false},         {"multicast to host", 80, 0, 0, 0, 1, true},
      {"shrink to 20, then 72", 72, 0, 0, 0, 1, false, 20}, {"shrink to 14, then 7 more, 2 repeats", 0, 0, 0, 0, 2, false, 14}};
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Bytes ctx(kSkbCtx, 0);
    std::memcpy(&ctx[8], &c.mark, 4);    // mark
    std::memcpy(&ctx[32], &c.flags, 4);  // priority
    std::memcpy(&ctx[48], &c.type, 4);   // cb[0]
    std::memcpy(&ctx[56], &c.pull, 4);   // cb[2]
    std::memcpy(&ctx[64], &c.shrink_first, 4);  // cb[4]
    agreed += compare_run("tc_change_tail", c.multicast ? mcast : pkt, ctx, c.repeat);
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  std::printf("[ diff ] rt_tc/tc_change_tail: %d/%zu cases agree\n", agreed, std::size(cases));
}

// bpf_skb_set/get_tunnel_key and _opt: IPv4 and IPv6 keys, the flags each
// helper takes and refuses, the older key sizes, a family mismatch, options
// of good and bad sizes, reads with nothing set, and a repeat.
TEST_P(TestRunKernelDiff, TunnelKeysAndOptions) {
  LOAD_OR_SKIP("rt_tc");
  const Bytes pkt = eth_ip(17, 53, 100);
  struct Case {
    const char* what;
    uint32_t set_flags, set_size, get_flags, get_size, opt_size, label, repeat = 1;
  };
  const Case cases[] = {
      {"nothing set", 0, 0, 0, 44, 0, 0},
      {"IPv4", 0, 44, 0, 44, 0, 0},
      {"IPv4, tunnel flags read", 0, 44, 16, 44, 0, 0},
      {"IPv4, no checksum, don't fragment, sequence", 2 | 4 | 8, 44, 16, 44, 0, 0},
      {"IPv4, no key", 16, 44, 16, 44, 0, 0},
      {"IPv6 with a label", 1, 44, 1 | 16, 44, 0, 0x123456},
      {"IPv6 set, IPv4 read", 1, 44, 0, 44, 0, 0},
      {"IPv4 set, IPv6 read", 0, 44, 1, 44, 0, 0},
      {"IPv4 with a label", 0, 44, 0, 44, 0, 5},
      {"size 8", 0, 8, 0, 8, 0, 0},
      {"size 22", 0, 22, 0, 22, 0, 0},
      {"size 24", 0, 24, 0, 24, 0, 0},
      {"size 28", 0, 28, 0, 28, 0, 0},
      {"IPv6, read with size 8", 1, 44, 1, 8, 0, 0},
      {"IPv6, read with size 28", 1, 44, 1, 28, 0, 0},
      {"set size 40", 0, 40, 0, 44, 0, 0},
      {"get size 45", 0, 44, 0, 45, 0, 0},
      {"get size 64", 0, 44, 0, 64, 0, 0},
      {"set flags 32", 32, 44, 0, 44, 0, 0},
      {"get flags 2", 0, 44, 2, 44, 0, 0},
      {"options 8", 0, 44, 16, 44, 8, 0},
      {"options 252", 1, 44, 1 | 16, 44, 252, 0},
      {"options 6", 0, 44, 0, 44, 6, 0},
      {"options 256", 0, 44, 0, 44, 256, 0},
      {"options without a key", 0, 0, 0, 44, 8, 0},
      {"options, 3 repeats", 0, 44, 16, 44, 12, 0, 3},
  };
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Bytes ctx(kSkbCtx, 0);
    std::memcpy(&ctx[8], &c.label, 4);  // mark
    const uint32_t cb[5] = {c.set_flags, c.set_size, c.get_flags, c.get_size, c.opt_size};
    std::memcpy(&ctx[48], cb, sizeof cb);
    agreed += compare_run("tc_tunnel", pkt, ctx, c.repeat);
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  compare_maps({"tun_opts"});
  std::printf("[ diff ] rt_tc/tc_tunnel: %d/%zu cases agree\n", agreed, std::size(cases));
}

// bpf_skb_adjust_room: both modes, growing and shrinking around the limits,
// every flag's checks, encapsulation once, decapsulation changing the
// protocol, IPv6 and a non-IP packet; grows past the 64-byte headroom.
TEST_P(TestRunKernelDiff, AdjustRoom) {
  LOAD_OR_SKIP("rt_tc");
  const Bytes v4 = eth_ip(17, 53, 100);  // 142 bytes
  Bytes v6 = eth_v6(1, 2, 1000, 53, 0);
  Bytes arp = eth_ip(6, 1, 10);
  arp[13] = 0x06;
  constexpr uint32_t kNet = 0, kMac = 1;
  constexpr uint64_t kFixedGso = 1, kL3v4 = 2, kL3v6 = 4, kGre = 8, kUdp = 16, kNoCsum = 32, kL2Eth = 64,
                     kDecap4 = 128, kDecap6 = 256;
  const auto l2 = [](uint64_t len) { return len << 56; };
  struct Case {
    const char* what;
    const Bytes* pkt;
    int32_t diff;
    uint32_t mode;
    uint64_t flags;
    int32_t second = 0;
  };
  const Case cases[] = {
      {"mac +8", &v4, 8, kMac, 0},
      {"net +8", &v4, 8, kNet, 0},
      {"mac -8", &v4, -8, kMac, 0},
      {"net -8", &v4, -8, kNet, 0},
      {"0", &v4, 0, kMac, 0},
      {"+4095 (past the headroom)", &v4, 4095, kMac, 0},
      {"+4096", &v4, 4096, kMac, 0},
      {"-107 (leaves the IPv4 header)", &v4, -108, kNet, 0},
      {"-108", &v4, -109, kMac, 0},
      {"mode 2", &v4, 8, 2, 0},
      {"unknown flag", &v4, 8, kMac, 1ULL << 9},
      {"fixed gso, no csum reset", &v4, 8, kMac, kFixedGso | kNoCsum},
      {"encap IPv4 + UDP + L2 14", &v4, 50, kMac, kL3v4 | kUdp | l2(14)},
      {"encap IPv6 (protocol changes)", &v4, 40, kMac, kL3v6},
      {"encap twice", &v4, 20, kMac, kL3v4, 20},
      {"encap both L3", &v4, 20, kMac, kL3v4 | kL3v6},
      {"encap GRE and UDP", &v4, 28, kMac, kL3v4 | kGre | kUdp},
      {"encap L2 eth, inner mac 10", &v4, 40, kMac, kL3v4 | kL2Eth | l2(10)},
      {"encap inner mac past the room", &v4, 20, kMac, kL3v4 | l2(30)},
      {"decap on grow", &v4, 20, kMac, kDecap4},
      {"decap to IPv6", &v4, -20, kMac, kDecap6},
      {"decap both", &v4, -20, kMac, kDecap4 | kDecap6},
      {"shrink with an encap flag", &v4, -20, kMac, kL3v4},
      {"IPv6 net +16 then -16", &v6, 16, kNet, 0, -16},
      {"IPv6 decap to IPv4", &v6, -20, kMac, kDecap4},
      {"ARP", &arp, 8, kMac, 0},
      {"IPv6 net, decap to IPv4, past the packet", &v6, -22, kNet, kDecap4},
  };
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    agreed += compare_cb_run("tc_adjust", *c.pkt,
                             {uint32_t(c.diff), c.mode, uint32_t(c.flags), uint32_t(c.flags >> 32), uint32_t(c.second)});
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  std::printf("[ diff ] rt_tc/tc_adjust: %d/%zu cases agree\n", agreed, std::size(cases));
}

// bpf_skb_change_proto: IPv4 to IPv6 and back, the same protocol, ARP,
// flags. (An IPv6 packet too short to lose 20 bytes cannot be a test run's
// input: the IPv6 header must be whole.)
TEST_P(TestRunKernelDiff, ChangeProto) {
  LOAD_OR_SKIP("rt_tc");
  const Bytes v4 = eth_ip(17, 53, 100);
  const Bytes v6 = eth_v6(1, 2, 1000, 53, 0);
  Bytes arp = eth_ip(6, 1, 10);
  arp[13] = 0x06;
  struct Case {
    const char* what;
    const Bytes* pkt;
    uint32_t proto, flags;
  };
  const Case cases[] = {{"4 to 6", &v4, 0xdd86, 0}, {"6 to 4", &v6, 0x0008, 0}, {"4 to 4", &v4, 0x0008, 0},
                        {"flags", &v4, 0xdd86, 1},  {"ARP to 6", &arp, 0xdd86, 0}};
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    agreed += compare_cb_run("tc_change_proto", *c.pkt, {c.proto, c.flags});
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  std::printf("[ diff ] rt_tc/tc_change_proto: %d/%zu cases agree\n", agreed, std::size(cases));
}

// bpf_skb_vlan_push/pop: the tag in the skb's metadata and in the packet,
// pushes that move the metadata tag into the packet, pops of the metadata
// tag, of a packet's tag and of a double-tagged packet's (whose inner tag
// moves to the metadata), 802.3 framing inside a tag, a tagged frame too
// short to pop, and an unknown protocol (taken as 802.1Q).
TEST_P(TestRunKernelDiff, VlanPushPop) {
  LOAD_OR_SKIP("rt_tc");
  const Bytes v4 = eth_ip(17, 53, 100);
  auto tagged = [](const Bytes& inner, std::initializer_list<uint8_t> tags) {
    Bytes b = inner;
    b.insert(b.begin() + 12, tags);
    return b;
  };
  const Bytes q = tagged(v4, {0x81, 0x00, 0x20, 0x05});
  const Bytes qinq = tagged(v4, {0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0xe0, 0x07});
  Bytes short_q(v4.begin(), v4.begin() + 16);  // an 802.1Q type, then 2 bytes
  short_q[12] = 0x81, short_q[13] = 0x00;
  Bytes raw = tagged(v4, {0x81, 0x00, 0x00, 0x09});  // then a length (802.3) and 0xffff: raw 802.3
  raw[16] = 0x00, raw[17] = 0x40, raw[18] = 0xff, raw[19] = 0xff;
  Bytes llc = raw;
  llc[18] = 0xaa;  // LLC
  constexpr uint32_t kPush1 = 1, kPush2 = 2, kPop = 3;
  auto ops = [](std::initializer_list<uint32_t> l) {
    uint32_t v = 0, k = 0;
    for (uint32_t o : l) v |= o << (2 * k++);
    return v;
  };
  const uint32_t q123 = 0x0081 | 0x0123u << 16, ad456 = 0xa888 | 0x0456u << 16;
  struct Case {
    const char* what;
    const Bytes* pkt;
    uint32_t ops, a, b;
  };
  const Case cases[] = {
      {"push", &v4, ops({kPush1}), q123, 0},
      {"push 802.1ad, TCI 0xffff", &v4, ops({kPush1}), 0xa888 | 0xffffu << 16, 0},
      {"push an unknown protocol", &v4, ops({kPush1}), 0x3412 | 0x7u << 16, 0},
      {"push twice: the first tag into the packet", &v4, ops({kPush1, kPush2}), q123, ad456},
      {"push three times", &v4, ops({kPush1, kPush2, kPush1}), q123, ad456},
      {"push, pop", &v4, ops({kPush1, kPop}), q123, 0},
      {"push twice, pop: the packet's tag to the metadata", &v4, ops({kPush1, kPush2, kPop}), q123, ad456},
      {"push twice, pop twice", &v4, ops({kPush1, kPush2, kPop, kPop}), q123, ad456},
      {"pop untagged", &v4, ops({kPop}), 0, 0},
      {"pop a tagged packet", &q, ops({kPop}), 0, 0},
      {"pop a tagged packet twice", &q, ops({kPop, kPop}), 0, 0},
      {"push on a tagged packet, pop twice", &q, ops({kPush1, kPop, kPop}), q123, 0},
      {"pop double-tagged: the inner tag to the metadata", &qinq, ops({kPop}), 0, 0},
      {"pop double-tagged, push", &qinq, ops({kPop, kPush2}), 0, ad456},
      {"pop too short", &short_q, ops({kPop}), 0, 0},
      {"pop to raw 802.3", &raw, ops({kPop}), 0, 0},
      {"pop to 802.2", &llc, ops({kPop}), 0, 0},
  };
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    agreed += compare_cb_run("tc_vlan", *c.pkt, {c.ops, c.a, c.b});
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  std::printf("[ diff ] rt_tc/tc_vlan: %d/%zu cases agree\n", agreed, std::size(cases));
}

// The calling thread in a fresh network namespace for the scope (the kernel's
// test runs use the caller's loopback device), then back in its own.
class FreshNetns {
 public:
  FreshNetns() : own_(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (own_ < 0) error_ = std::string("open /proc/self/ns/net: ") + std::strerror(errno);
    else if (unshare(CLONE_NEWNET) != 0) error_ = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  }
  ~FreshNetns() {
    if (own_ < 0) return;
    if (error_.empty()) {
      EXPECT_EQ(setns(own_, CLONE_NEWNET), 0) << std::strerror(errno);
    }
    close(own_);
  }
  FreshNetns(const FreshNetns&) = delete;
  FreshNetns& operator=(const FreshNetns&) = delete;
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  int own_;
  std::string error_;
};

// bpf_fib_lookup from tc and XDP, in a fresh network namespace, which is what
// xbpf models (loopback, ifindex 1, its only device, not forwarding): the
// argument checks (plen, flags, family), unknown devices, forwarding
// disabled, IPv6 addresses never forwarded. The kernel's answer on a host
// namespace would depend on its routes and sysctls.
TEST_P(TestRunKernelDiff, FibLookup) {
  LOAD_OR_SKIP("rt_route");
  FreshNetns ns;
  if (!ns.error().empty()) REQUIRE_KERNEL(ns.error());
  const Bytes v4 = eth_ip(17, 53, 100);
  struct Case {
    const char* what;
    uint8_t family;
    uint32_t ifindex, flags, plen;
    uint8_t dst = 0, src = 4;  // IPv6 picks: global, link-local, multicast, loopback, unspecified
  };
  const Case cases[] = {
      {"IPv4 on loopback", 2, 1, 0, 64},
      {"IPv4 output", 2, 1, 2, 64},
      {"IPv4 direct, skip_neigh, tbid, src", 2, 1, 0x1d, 64},
      {"IPv4 mark", 2, 1, 0x20, 64},
      {"unknown flag", 2, 1, 0x40, 64},
      {"high flag", 2, 1, 0x80000000u, 64},
      {"plen 63", 2, 1, 0, 63},
      {"plen 128", 2, 1, 0, 128},
      {"IPv4 ifindex 0", 2, 0, 0, 64},
      {"IPv4 ifindex 99", 2, 99, 0, 64},
      {"family 0", 0, 1, 0, 64},
      {"AF_UNIX", 1, 1, 0, 64},
      {"IPv6 global", 10, 1, 0, 64},
      {"IPv6 global, ifindex 99", 10, 99, 0, 64},
      {"IPv6 link-local destination, ifindex 99", 10, 99, 0, 64, 1},
      {"IPv6 multicast destination", 10, 1, 0, 64, 2},
      {"IPv6 loopback destination", 10, 1, 0, 64, 3},
      {"IPv6 link-local source", 10, 1, 0, 64, 0, 1},
      {"IPv6 unspecified destination", 10, 1, 0, 64, 4},
      {"IPv6 link-local, bad flag", 10, 1, 0x40, 64, 1},
  };
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    agreed += compare_cb_run("tc_fib", v4,
                             {c.family, c.ifindex, c.flags, c.plen - 1, uint32_t(c.dst) | uint32_t(c.src) << 8});
    if (c.ifindex > 255 || c.flags > 255) continue;
    Bytes pkt = v4;  // XDP: the arguments in the bytes after the Ethernet header
    const uint8_t args[6] = {c.family, uint8_t(c.ifindex), uint8_t(c.flags), uint8_t(c.plen - 1), c.dst, c.src};
    std::memcpy(&pkt[14], args, sizeof args);
    agreed += compare_xdp_run("xdp_fib", pkt);
  }
  const int runs = int(std::size(cases)) * 2 - 1;  // (the high flag does not fit XDP's byte)
  EXPECT_EQ(agreed, runs);
  std::printf("[ diff ] rt_route/tc_fib, xdp_fib: %d/%d runs agree\n", agreed, runs);
}

// bpf_redirect_peer and bpf_redirect_neigh: TC_ACT_REDIRECT, or TC_ACT_SHOT
// for flags and for next-hop params shorter than struct bpf_redir_neigh.
TEST_P(TestRunKernelDiff, RedirectPeerAndNeigh) {
  LOAD_OR_SKIP("rt_route");
  const Bytes v4 = eth_ip(17, 53, 100);
  struct Case {
    const char* what;
    uint32_t kind, ifindex, flags, plen;
  };
  const Case cases[] = {
      {"peer", 0, 1, 0, 0},           {"peer, flags", 0, 1, 1, 0},          {"peer, ifindex 99", 0, 99, 0, 0},
      {"neigh", 1, 1, 0, 0},          {"neigh, flags", 1, 1, 4, 0},         {"neigh IPv4 next hop", 2, 1, 0, 20},
      {"neigh plen 19", 2, 1, 0, 19}, {"neigh IPv6 next hop, plen 31", 3, 1, 0, 31},
      {"neigh params, plen 0", 2, 1, 0, 0},
  };
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    agreed += compare_cb_run("tc_redirect", v4, {c.kind, c.ifindex, c.flags, c.plen});
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  std::printf("[ diff ] rt_route/tc_redirect: %d/%zu cases agree\n", agreed, std::size(cases));
}

// bpf_skb_change_head: zero bytes in front, flags, the length limit and its
// overflow, growth past the headroom; then change_tail's minimum and
// adjust_room's offset, which follow the headers it moved.
TEST_P(TestRunKernelDiff, ChangeHead) {
  LOAD_OR_SKIP("rt_route");
  const Bytes v4 = eth_ip(17, 53, 100);  // 142 bytes
  Bytes arp = eth_ip(6, 1, 10);
  arp[13] = 0x06;
  struct Case {
    const char* what;
    const Bytes* pkt;
    uint32_t room, flags, tail = 0, adjust = 0;
  };
  const Case cases[] = {
      {"0", &v4, 0, 0},
      {"14", &v4, 14, 0},
      {"flags", &v4, 14, 1},
      {"100 (past the headroom)", &v4, 100, 0},
      {"to the limit", &v4, 16064 - 142, 0},
      {"past the limit", &v4, 16064 - 142 + 1, 0},
      {"overflow", &v4, 0xffffffffu, 0},
      {"20, then tail under the network header", &v4, 20, 0, 33},
      {"20, then tail at the network header", &v4, 20, 0, 34},
      {"20, then adjust_room", &v4, 20, 0, 0, 1},
      {"ARP 8", &arp, 8, 0},
  };
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    agreed += compare_cb_run("tc_change_head", *c.pkt, {c.room, c.flags, c.tail, c.adjust});
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  std::printf("[ diff ] rt_route/tc_change_head: %d/%zu cases agree\n", agreed, std::size(cases));
}

// ctx_in cases: accepted fields come back in ctx_out, forbidden ones are EINVAL
// in both; XDP metadata in front of the packet; repeat counts in maps.
TEST_P(TestRunKernelDiff, ContextInAndRepeat) {
  LOAD_OR_SKIP("rt_tc");
  bpf_program* kp = bpf_object__find_program_by_name(kobj_, "tc_rewrite");
  runtime::Program* op = ours_->program("tc_rewrite");
  const Bytes pkt = eth_ip(17, 53, 30);
  struct Case {
    const char* what;
    size_t off;
    uint32_t value;
  };
  const Case cases[] = {{"mark", 8, 5},         {"priority", 32, 9},  {"cb[1]", 52, 77},  {"len (forbidden)", 0, 1},
                        {"protocol (forbidden)", 16, 8}, {"tc_index (forbidden)", 44, 1}, {"wire_len", 168, 2000},
                        {"wire_len too small", 168, 10}, {"ifindex 1", 40, 1}};
  int agreed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Bytes ctx(kSkbCtx, 0);
    std::memcpy(&ctx[c.off], &c.value, 4);
    KernelResult k;
    const int kerr = kernel_run(bpf_program__fd(kp), pkt, ctx, kSkbCtx, &k, 3);
    runtime::TestRun tr;
    tr.data_in = pkt;
    tr.ctx_in = std::span<const uint8_t>(ctx);
    tr.repeat = 3;
    auto r = runtime::test_run(*op, tr);
    if (kerr) {
      ASSERT_FALSE(r) << "kernel: " << kerr;
      EXPECT_EQ(-r.error().errnum, kerr);
      agreed += -r.error().errnum == kerr;
      continue;
    }
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->retval, k.retval);
    EXPECT_TRUE(r->data_out == k.data_out) << first_diff(r->data_out, k.data_out);
    EXPECT_TRUE(r->ctx_out == k.ctx_out) << first_diff(r->ctx_out, k.ctx_out);
    agreed += r->retval == k.retval && r->data_out == k.data_out && r->ctx_out == k.ctx_out;
  }
  EXPECT_EQ(agreed, int(std::size(cases)));
  compare_maps({"by_proto"});
  std::printf("[ diff ] rt_tc/tc_rewrite ctx_in: %d/%zu cases agree (repeat 3)\n", agreed, std::size(cases));
}

TEST_P(TestRunKernelDiff, XdpMetadataIn) {
  LOAD_OR_SKIP("rt_xdp");
  int agreed = 0, total = 0;
  for (uint32_t meta : {4U, 8U, 32U, 3U, 36U, 216U, 220U, 252U, 256U}) {
    for (const char* prog : {"xdp_parse", "xdp_adjust"}) {
      SCOPED_TRACE(std::string(prog) + " meta " + std::to_string(meta));
      Bytes pkt(meta, 0xee);
      const Bytes p = eth_ip(17, 7, 20);
      pkt.insert(pkt.end(), p.begin(), p.end());
      const uint32_t md[6] = {meta, uint32_t(pkt.size()), 0, 0, 0, 0};
      Bytes ctx(reinterpret_cast<const uint8_t*>(md), reinterpret_cast<const uint8_t*>(md) + sizeof md);
      KernelResult k;
      const int kerr = kernel_run(bpf_program__fd(bpf_object__find_program_by_name(kobj_, prog)), pkt, ctx, kXdpCtx, &k);
      runtime::TestRun tr;
      tr.data_in = pkt;
      tr.ctx_in = std::span<const uint8_t>(ctx);
      auto r = runtime::test_run(*ours_->program(prog), tr);
      ++total;
      if (kerr) {
        ASSERT_FALSE(r) << "kernel: " << kerr;
        EXPECT_EQ(-r.error().errnum, kerr);
        agreed += -r.error().errnum == kerr;
        continue;
      }
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->retval, k.retval);
      EXPECT_TRUE(r->data_out == k.data_out) << first_diff(r->data_out, k.data_out);
      EXPECT_TRUE(r->ctx_out == k.ctx_out) << first_diff(r->ctx_out, k.ctx_out);
      agreed += r->retval == k.retval && r->data_out == k.data_out && r->ctx_out == k.ctx_out;
    }
  }
  EXPECT_EQ(agreed, total);
  compare_maps({"verdicts", "by_src", "adjust_results"});
  std::printf("[ diff ] rt_xdp metadata ctx_in: %d/%d cases agree\n", agreed, total);
}

TEST_P(TestRunKernelDiff, RawTracepoint) {
  LOAD_OR_SKIP("rt_rawtp");
  const int fd = bpf_program__fd(bpf_object__find_program_by_name(kobj_, "raw_sum"));
  int agreed = 0, total = 0;
  for (uint64_t a : {0ULL, 1ULL, 0x123456789ULL}) {
    for (size_t nargs : {3U, 12U, 13U}) {
      std::vector<uint64_t> args(nargs);
      for (size_t i = 0; i < nargs; ++i) args[i] = a * (i + 1) + i;
      SCOPED_TRACE("a=" + std::to_string(a) + " nargs=" + std::to_string(nargs));
      LIBBPF_OPTS(bpf_test_run_opts, ko);
      ko.ctx_in = args.data();
      ko.ctx_size_in = uint32_t(nargs * 8);
      const int kerr = bpf_prog_test_run_opts(fd, &ko);
      runtime::TestRun tr;
      tr.ctx_in = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(args.data()), nargs * 8);
      auto r = runtime::test_run(*ours_->program("raw_sum"), tr);
      ++total;
      if (kerr) {
        ASSERT_FALSE(r) << "kernel: " << kerr;
        EXPECT_EQ(-r.error().errnum, kerr);
        agreed += -r.error().errnum == kerr;
        continue;
      }
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->retval, ko.retval);
      agreed += r->retval == ko.retval;
    }
  }
  EXPECT_EQ(agreed, total);
  compare_maps({"sums"});
  std::printf("[ diff ] rt_rawtp/raw_sum: %d/%d cases agree\n", agreed, total);
}

TEST_P(TestRunKernelDiff, TailCallsAndGlobalData) {
  LOAD_OR_SKIP("rt_tail");
  const int n = compare_program("tail_entry", kXdpCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({".bss", ".data", ".rodata"});
  std::printf("[ diff ] rt_tail/tail_entry: %d/%zu packets agree\n", n, packets().size());
  // An index with bits above 32 (the kernel uses r3's low 32 bits).
  EXPECT_EQ(compare_program("tail_wide", kXdpCtx), int(packets().size()));
  compare_maps({".bss", ".data"});
}

TEST_P(TestRunKernelDiff, RingbufLoopStrings) {
  LOAD_OR_SKIP("rt_ringbuf");
  const int n = compare_program("rb_summary", kXdpCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"results"});
  std::vector<Bytes> krec, orec;
  bpf_map* km = bpf_object__find_map_by_name(kobj_, "events");
  ASSERT_NE(km, nullptr);
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    static_cast<std::vector<Bytes>*>(ctx)->emplace_back(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(km), cb, &krec, nullptr);
  ASSERT_NE(rb, nullptr);
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
  maps::RingBufferConsumer c;
  ASSERT_TRUE(c.add(ours_->map("events"), [&](const void* d, size_t s) {
    orec.emplace_back(static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + s);
    return 0;
  }));
  c.consume();
  EXPECT_EQ(krec.size(), orec.size());
  EXPECT_TRUE(krec == orec) << "ring buffer records differ";
  std::printf("[ diff ] rt_ringbuf/rb_summary: %d/%zu packets agree, %zu ring buffer records compared\n", n,
              packets().size(), krec.size());
}

TEST_P(TestRunKernelDiff, ForEachMapElem) {
  LOAD_OR_SKIP("rt_foreach");
  const int n = compare_program("fe_walk", kXdpCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"flows", "slots", "fe_results"});
  std::printf("[ diff ] rt_foreach/fe_walk: %d/%zu packets agree\n", n, packets().size());
}

TEST_P(TestRunKernelDiff, SpinLock) {
  LOAD_OR_SKIP("rt_foreach");
  const int n = compare_program("fe_lock", kXdpCtx);
  EXPECT_EQ(n, int(packets().size()));
  compare_maps({"totals"});
  std::printf("[ diff ] rt_foreach/fe_lock: %d/%zu packets agree\n", n, packets().size());
}

INSTANTIATE_TEST_SUITE_P(Engines, TestRunKernelDiff, testing_support::all_execs(), testing_support::ExecParamName());

#else
TEST(TestRunKernelDiff, Oracle) { REQUIRE_KERNEL("xbpf was built without libbpf (pkg-config libbpf not found)"); }
#endif

}  // namespace
