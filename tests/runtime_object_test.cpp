// Live objects from specs and test runs, on our own BPF C programs
// (tests/objects/rt_*.c), without the kernel. Every case runs on the checked
// interpreter, the verified interpreter and the JIT.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "helpers/trace_log.hpp"
#include "runtime/object.hpp"
#include "maps/ringbuf.hpp"
#include "runtime/dump.hpp"
#include "runtime/test_run.hpp"
#include "jit/jit.hpp"
#include "runtime_fixture.hpp"

using namespace xbpf;
using testing_support::Exec;

namespace {

std::string obj(const char* name) { return std::string(XBPF_TEST_OBJECTS_DIR) + "/" + name + ".o"; }

class RuntimeTest : public ::testing::TestWithParam<Exec> {
 protected:
  std::unique_ptr<runtime::Object> load(const char* name) { return load(name, testing_support::load_options(GetParam())); }
  std::unique_ptr<runtime::Object> load(const char* name, const runtime::LoadOptions& lo) { return tmp_.load(obj(name), lo); }
  testing_support::TempStore tmp_{"rt-test"};
};

// Ethernet + IPv4 + UDP/TCP packet builder (checksums left as given).
std::vector<uint8_t> packet(uint8_t proto, uint16_t dport, size_t payload = 8) {
  std::vector<uint8_t> p(14 + 20 + (proto == 6 ? 20 : 8) + payload, 0);
  const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(p.data(), mac, 12);
  p[12] = 0x08;
  p[14] = 0x45;
  p[16] = uint8_t((p.size() - 14) >> 8);
  p[17] = uint8_t(p.size() - 14);
  p[22] = 64;
  p[23] = proto;
  const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  std::memcpy(&p[26], addrs, 8);
  p[34] = 0x30;
  p[35] = 0x39;
  p[36] = uint8_t(dport >> 8);
  p[37] = uint8_t(dport);
  return p;
}

template <class V>
V lookup(maps::Map& m, uint32_t key) {
  V v{};
  EXPECT_TRUE(m.lookup(&key, &v, 0));
  return v;
}

}  // namespace

TEST_P(RuntimeTest, XdpParseVerdictsAndMaps) {
  auto o = load("rt_xdp");
  ASSERT_TRUE(o);
  runtime::Program* p = o->program("xdp_parse");
  ASSERT_NE(p, nullptr);
  EXPECT_NE(p->id(), 0U);
  // The store has its record, in the kernel's xlated form (map ids in pseudo lddw).
  auto rec = tmp_.store()->program(p->id());
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->name, "xdp_parse");
  EXPECT_EQ(rec->prog_type, uint32_t(kabi::ProgType::Xdp));
  EXPECT_EQ(rec->map_ids.size(), 2U);  // verdicts, by_src
  EXPECT_EQ(rec->insns.size(), p->spec().insns.size());
  bool saw_map_fd = false;
  for (uint64_t w : rec->insns) saw_map_fd |= (w & 0xff) == 0x18 && ((w >> 12) & 0xf) == 1;
  EXPECT_TRUE(saw_map_fd);
  auto tcp23 = packet(6, 23), udp7 = packet(17, 7), udp53 = packet(17, 53);
  runtime::TestRun tr;
  tr.data_in = tcp23;
  auto r = runtime::test_run(*p, tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 1U);  // XDP_DROP
  EXPECT_EQ(r->data_out, tcp23);
  tr.data_in = udp7;
  r = runtime::test_run(*p, tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 3U);  // XDP_TX, addresses swapped
  EXPECT_EQ(r->data_out[26], 10);
  EXPECT_EQ(r->data_out[29], 2);
  EXPECT_EQ(r->data_out[5], 2);
  tr.data_in = udp53;
  tr.repeat = 10;
  r = runtime::test_run(*p, tr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->retval, 2U);
  auto verdicts = o->map("verdicts");
  ASSERT_TRUE(verdicts);
  EXPECT_EQ(lookup<uint64_t>(*verdicts, 1), 1U);
  EXPECT_EQ(lookup<uint64_t>(*verdicts, 2), 10U);
  EXPECT_EQ(lookup<uint64_t>(*verdicts, 3), 1U);
  auto by_src = o->map("by_src");
  uint32_t src;
  std::memcpy(&src, &udp53[26], 4);
  uint64_t st[2] = {};
  ASSERT_TRUE(by_src->lookup(&src, st, 0));
  EXPECT_EQ(st[0], 12U);
}

TEST_P(RuntimeTest, XdpContextRules) {
  auto o = load("rt_xdp");
  ASSERT_TRUE(o);
  runtime::Program* p = o->program("xdp_parse");
  auto pkt = packet(17, 53);
  runtime::TestRun tr;
  tr.data_in = pkt;
  uint32_t md[6] = {0, uint32_t(pkt.size()) + 1, 0, 0, 0, 0};
  tr.ctx_in = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(md), sizeof md);
  EXPECT_EQ(runtime::test_run(*p, tr).error().errnum, EINVAL);  // data_end != size
  md[1] = uint32_t(pkt.size());
  md[5] = 3;
  EXPECT_EQ(runtime::test_run(*p, tr).error().errnum, EINVAL);  // egress_ifindex
  md[5] = 0;
  md[0] = 4;  // 4 bytes of metadata in front of the packet
  std::vector<uint8_t> with_meta(4 + pkt.size(), 0xee);
  std::copy(pkt.begin(), pkt.end(), with_meta.begin() + 4);
  md[1] = uint32_t(with_meta.size());
  tr.data_in = with_meta;
  auto r = runtime::test_run(*p, tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->data_out, with_meta);
  uint32_t out[6];
  ASSERT_EQ(r->ctx_out.size(), sizeof out);
  std::memcpy(out, r->ctx_out.data(), sizeof out);
  EXPECT_EQ(out[0], 4U);
  EXPECT_EQ(out[1], with_meta.size());
  tr.ctx_in.reset();
  tr.data_in = std::span<const uint8_t>(pkt.data(), 10);
  EXPECT_EQ(runtime::test_run(*p, tr).error().errnum, EINVAL);  // shorter than ETH_HLEN
}

TEST_P(RuntimeTest, XdpAdjustments) {
  auto o = load("rt_xdp");
  ASSERT_TRUE(o);
  auto pkt = packet(17, 53, 64);
  runtime::TestRun tr;
  tr.data_in = pkt;
  auto r = runtime::test_run(*o->program("xdp_adjust"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 3U);
  // 8 bytes metadata + 8 bytes pushed + packet - 4 trimmed.
  ASSERT_EQ(r->data_out.size(), 8 + 8 + pkt.size() - 4);
  EXPECT_EQ(std::memcmp(r->data_out.data() + 8, "XBPFENC!", 8), 0);
  auto res = o->map("adjust_results");
  EXPECT_EQ(lookup<int64_t>(*res, 0), -EINVAL);
  EXPECT_EQ(lookup<int64_t>(*res, 1), 0);
  EXPECT_EQ(lookup<int64_t>(*res, 3), -EINVAL);
  EXPECT_EQ(lookup<int64_t>(*res, 4), 0);
  EXPECT_EQ(lookup<int64_t>(*res, 5), -EACCES);
  EXPECT_EQ(lookup<int64_t>(*res, 7), -EINVAL);
}

TEST_P(RuntimeTest, TailCallsAndGlobalData) {
  auto o = load("rt_tail");
  ASSERT_TRUE(o);
  runtime::Program* entry = o->program("tail_entry");
  ASSERT_NE(entry, nullptr);
  runtime::TestRun tr;
  auto tcp23 = packet(6, 23), tcp80 = packet(6, 80), udp = packet(17, 9);
  tr.data_in = tcp23;
  EXPECT_EQ(runtime::test_run(*entry, tr)->retval, 1U);
  tr.data_in = tcp80;
  EXPECT_EQ(runtime::test_run(*entry, tr)->retval, 2U);
  tr.data_in = udp;
  EXPECT_EQ(runtime::test_run(*entry, tr)->retval, 3U);
  auto arp = packet(6, 1);
  arp[12] = 0x08;
  arp[13] = 0x06;
  tr.data_in = arp;
  EXPECT_EQ(runtime::test_run(*entry, tr)->retval, 2U);  // tail_deep ran out of tail calls
  auto bss = o->map(".bss");
  ASSERT_TRUE(bss);
  uint64_t b[3];
  ASSERT_TRUE(bss->lookup(&(const uint32_t&)0U, b, 0));
  EXPECT_EQ(b[0], 2U);   // seen_tcp
  EXPECT_EQ(b[1], 1U);   // seen_udp
  EXPECT_EQ(b[2], 33U);  // depth: the first call and 32 more... see kernel test
  auto rodata = o->map(".rodata");
  ASSERT_TRUE(rodata);
  uint32_t v = 99, key = 0;
  EXPECT_FALSE(rodata->update(&key, &v, 0));  // frozen
}

// LoadOptions::blind_constants reaches the JIT: the blinded code is larger
// (each immediate becomes a key and an unmasking xor) and runs the same.
TEST(RuntimeBlinding, BlindedProgramsRunTheSame) {
  testing_support::TempStore tmp("rt-blind");
  runtime::LoadOptions plain = testing_support::load_options(Exec::Jit), blinded = plain;
  blinded.blind_constants = true;
  auto a = tmp.load(obj("rt_tail"), plain);
  auto b = tmp.load(obj("rt_tail"), blinded);
  ASSERT_TRUE(a && b);
  const auto ca = jit::code_of(a->program("tail_entry")->vm()), cb = jit::code_of(b->program("tail_entry")->vm());
  ASSERT_TRUE(ca && cb);
  EXPECT_GT(cb->code.size(), ca->code.size());
  for (auto [proto, port, want] : {std::tuple{6, 23, 1U}, {6, 80, 2U}, {17, 9, 3U}}) {
    auto pkt = packet(uint8_t(proto), uint16_t(port));
    runtime::TestRun tr;
    tr.data_in = pkt;
    EXPECT_EQ(runtime::test_run(*a->program("tail_entry"), tr)->retval, want);
    EXPECT_EQ(runtime::test_run(*b->program("tail_entry"), tr)->retval, want);
  }
}

// Tail calls use r3's low 32 bits as the index, as the kernel does.
TEST_P(RuntimeTest, TailCallIndexIsTheLow32BitsOfR3) {
  auto o = load("rt_tail");
  ASSERT_TRUE(o);
  auto udp = packet(17, 9);
  runtime::TestRun tr;
  tr.data_in = udp;
  auto r = runtime::test_run(*o->program("tail_wide"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 3U);  // XDP_TX from tail_udp (slot 1), not XDP_ABORTED
}

// Program ids are unique within a store only: the same object loaded into two
// stores gets the same ids, and each one's tail calls must stay in its own
// store -- also after the other store's object is gone.
TEST_P(RuntimeTest, TailCallsStayInTheirStore) {
  auto a = load("rt_tail");
  ASSERT_TRUE(a);
  auto tcp80 = packet(6, 80);
  runtime::TestRun tr;
  tr.data_in = tcp80;
  {
    testing_support::TempStore other("rt-test-b");
    auto b = other.load(obj("rt_tail"), testing_support::load_options(GetParam()));
    ASSERT_TRUE(b);
    ASSERT_EQ(b->program("tail_tcp")->id(), a->program("tail_tcp")->id());
    EXPECT_EQ(runtime::test_run(*b->program("tail_entry"), tr)->retval, 2U);
    // b's tail_tcp counted b's packet, not a's.
    uint64_t bss[3];
    ASSERT_TRUE(b->map(".bss")->lookup(&(const uint32_t&)0U, bss, 0));
    EXPECT_EQ(bss[0], 1U);
  }
  EXPECT_EQ(runtime::test_run(*a->program("tail_entry"), tr)->retval, 2U);  // XDP_PASS from a's tail_tcp
  uint64_t bss[3];
  ASSERT_TRUE(a->map(".bss")->lookup(&(const uint32_t&)0U, bss, 0));
  EXPECT_EQ(bss[0], 1U);  // seen_tcp: a's own program ran, once
}

TEST_P(RuntimeTest, LoopStringsRingbuf) {
  auto o = load("rt_ringbuf");
  ASSERT_TRUE(o);
  auto pkt = packet(17, 53, 10);
  runtime::TestRun tr;
  tr.data_in = pkt;
  auto r = runtime::test_run(*o->program("rb_summary"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 2U);
  auto res = o->map("results");
  const uint32_t limit = uint32_t(pkt.size() % 13 + 3);
  EXPECT_EQ(lookup<int64_t>(*res, 0), limit);
  EXPECT_EQ(lookup<int64_t>(*res, 1), int64_t(limit) * (limit - 1) / 2);
  EXPECT_EQ(lookup<int64_t>(*res, 2), 4);
  EXPECT_EQ(lookup<int64_t>(*res, 3), -42);
  EXPECT_EQ(lookup<int64_t>(*res, 4), 1);
  EXPECT_EQ(lookup<int64_t>(*res, 6), 0);
  maps::RingBufferConsumer c;
  std::vector<std::vector<uint8_t>> recs;
  ASSERT_TRUE(c.add(o->map("events"), [&](const void* d, size_t n) {
    recs.emplace_back(static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + n);
    return 0;
  }));
  EXPECT_EQ(c.consume(), 2);
  ASSERT_EQ(recs.size(), 2U);
  EXPECT_EQ(recs[0].size(), 24U);
  EXPECT_EQ(recs[1].size(), 8U);
}

// Verified mode replaces lookups on one known array map with inline code; the
// results must be the helper's, index by index, in range and out of it.
// A verified engine against the checked interpreter.
class RuntimeVerifiedTest : public RuntimeTest {};

TEST_P(RuntimeVerifiedTest, InlinedArrayLookupsMatchTheHelper) {
  auto verified = load("rt_array");
  auto checked = load("rt_array", testing_support::load_options(Exec::Checked));
  ASSERT_TRUE(verified && checked);
  EXPECT_EQ(verified->program("array_get")->engine(),
            GetParam() == Exec::Jit ? runtime::Engine::Jit : runtime::Engine::Interpreter);
  EXPECT_EQ(verified->program("array_get")->vm().inlined_calls(), 1U);
  EXPECT_EQ(verified->program("hash_get")->vm().inlined_calls(), 0U);
  EXPECT_EQ(verified->program("percpu_get")->vm().inlined_calls(), 1U);
  EXPECT_EQ(checked->program("array_get")->vm().inlined_calls(), 0U);  // checked mode keeps the helper
  // The JIT's statistics of the load (jit_bench --corpus reads them): zero on the interpreter.
  const jit::CompileStats& js = verified->program("array_get")->jit_stats();
  if (GetParam() == Exec::Jit) {
    EXPECT_EQ(js.insns, verified->program("array_get")->vm().size());
    EXPECT_GT(js.code_bytes, 0U);
    EXPECT_GT(js.emit_ns, 0U);
  } else {
    EXPECT_EQ(js.insns, 0U);
    EXPECT_EQ(js.code_bytes, 0U);
  }
  EXPECT_EQ(checked->program("array_get")->jit_stats().code_bytes, 0U);
  EXPECT_EQ(verified->program("array_get")->jit_warm_stats().code_bytes, 0U);  // no repeats asked
  if (GetParam() == Exec::Jit) {
    // LoadOptions::jit_warm_repeats (jit_bench --corpus --warm) compiles again; the same code runs.
    auto opts = testing_support::load_options(Exec::Jit);
    opts.jit_warm_repeats = 3;
    auto again = load("rt_array", opts);
    ASSERT_TRUE(again);
    const jit::CompileStats& w = again->program("array_get")->jit_warm_stats();
    EXPECT_EQ(w.insns, js.insns);
    EXPECT_EQ(w.code_bytes, js.code_bytes);
    EXPECT_GT(w.emit_ns, 0U);
    // The rounds cover every program of the object, each compiled to the same code again.
    for (const auto& p : again->programs()) {
      EXPECT_EQ(p->jit_warm_stats().insns, p->jit_stats().insns) << p->name();
      EXPECT_EQ(p->jit_warm_stats().code_bytes, p->jit_stats().code_bytes) << p->name();
      EXPECT_GT(p->jit_warm_stats().code_bytes, 0U) << p->name();
    }
    std::vector<uint8_t> pkt(16, 3);
    runtime::TestRun tr;
    tr.data_in = pkt;
    auto ref = load("rt_array", testing_support::load_options(Exec::Checked));  // its own maps
    ASSERT_TRUE(ref);
    auto a = runtime::test_run(*again->program("array_get"), tr);
    auto b = runtime::test_run(*ref->program("array_get"), tr);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->retval, b->retval);
  }
  const uint32_t k = 3;
  const uint64_t one = 1;
  ASSERT_TRUE(verified->map("small_hash")->update(&k, &one, 0));
  ASSERT_TRUE(checked->map("small_hash")->update(&k, &one, 0));
  for (const char* prog : {"array_get", "array_either", "hash_get", "percpu_get"}) {
    for (int round = 0; round < 2; ++round) {
      for (uint32_t key : {0U, 1U, 3U, 4U, 5U, 6U, 7U, 8U, 0x80U, 0x84U, 0x85U, 0x87U, 0x88U, 0xffU}) {
        SCOPED_TRACE(std::string(prog) + " key " + std::to_string(key));
        std::vector<uint8_t> pkt(16, uint8_t(key));
        runtime::TestRun tr;
        tr.data_in = pkt;
        auto rv = runtime::test_run(*verified->program(prog), tr);
        auto rc = runtime::test_run(*checked->program(prog), tr);
        ASSERT_TRUE(rv && rc);
        EXPECT_EQ(rv->retval, rc->retval);
      }
    }
  }
  // array_get incremented five[0..4] twice per round in both objects.
  for (uint32_t i = 0; i < 5; ++i)
    EXPECT_EQ(lookup<uint64_t>(*verified->map("five"), i), lookup<uint64_t>(*checked->map("five"), i)) << i;
  EXPECT_EQ(lookup<uint64_t>(*verified->map("five"), 4), 2U);
  // percpu_get wrote key * 3 into the copy of the CPU it ran on: some CPU's copy holds it.
  auto pc = verified->map("per_cpu");
  std::vector<uint64_t> copies(pc->user_value_size() / 8);
  const uint32_t k5 = 5;
  ASSERT_TRUE(pc->lookup(&k5, copies.data(), 0));
  EXPECT_NE(std::find(copies.begin(), copies.end(), 15U), copies.end());
}

TEST_P(RuntimeTest, SkbPrograms) {
  auto o = load("rt_tc");
  ASSERT_TRUE(o);
  auto udp = packet(17, 53);
  runtime::TestRun tr;
  tr.data_in = udp;
  tr.want_ctx_out = true;
  auto r = runtime::test_run(*o->program("tc_rewrite"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 0U);
  EXPECT_EQ(r->data_out[30], 10);
  EXPECT_EQ(r->data_out[33], 9);
  ASSERT_EQ(r->ctx_out.size(), 192U);
  uint32_t mark;
  std::memcpy(&mark, r->ctx_out.data() + 8, 4);
  EXPECT_EQ(mark, 0x1000U + 17);
  r = runtime::test_run(*o->program("sock_udp"), tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, udp.size() - 14);
  EXPECT_EQ(r->data_out.size(), udp.size());
  EXPECT_EQ(r->data_out[0], 0);  // the Ethernet header comes back blank
}

INSTANTIATE_TEST_SUITE_P(Engines, RuntimeTest, testing_support::all_execs(), testing_support::ExecParamName());
INSTANTIATE_TEST_SUITE_P(Engines, RuntimeVerifiedTest, testing_support::verified_execs(),
                         testing_support::ExecParamName());

// A program another process loaded and pinned runs from its store record
// (bpftool's `prog run pinned P`): maps by id, BTF func/line info, prog-array
// targets, global data; re-verified, and dumped the same as the original.
TEST_P(RuntimeTest, StoredProgramsRunInAnotherObject) {
  uint32_t entry_id = 0;
  std::string xlated_before;
  {
    auto o = load("rt_tail");
    ASSERT_TRUE(o);
    runtime::Program* entry = o->program("tail_entry");
    ASSERT_NE(entry, nullptr);
    entry_id = entry->id();
    auto rec = tmp_.store()->program(entry_id);
    ASSERT_TRUE(rec);
    EXPECT_TRUE(rec->gpl);
    EXPECT_NE(rec->btf_id, 0U);
    EXPECT_FALSE(rec->func_info.empty());
    EXPECT_FALSE(rec->line_info.empty());
    EXPECT_EQ(rec->jited, GetParam() == Exec::Jit);
    EXPECT_EQ(rec->verified_insns != 0, GetParam() != Exec::Checked);
    ASSERT_TRUE(tmp_.store()->pin(maps::ObjectKind::Program, entry_id, "demo/entry"));
    // As in the kernel, a prog array no one but programs refers to is
    // emptied; pinning it keeps the tail calls.
    ASSERT_TRUE(tmp_.store()->pin(maps::ObjectKind::Map, o->map("jumps")->id(), "demo/jumps"));
    auto x = runtime::dump_xlated(*entry, {.linum = true});
    ASSERT_TRUE(x);
    xlated_before = *x;
    // Opening a program this process has loaded already, then dropping the
    // copy, leaves the loaded one reachable by tail calls.
    {
      auto copy = runtime::Object::open_program(tmp_.store(), o->program("tail_tcp")->id(),
                                                testing_support::load_options(GetParam()));
      ASSERT_TRUE(copy) << copy.error().message;
    }
    EXPECT_EQ(runtime::find_loaded(tmp_.dir(), o->program("tail_tcp")->id()), o->program("tail_tcp"));
    runtime::TestRun tr;
    const auto tcp = packet(6, 80);  // data_in is a view: the packet must outlive the run
    tr.data_in = tcp;
    auto r = runtime::test_run(*entry, tr);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->retval, 2U);  // tail_tcp's verdict, not the fall-through
  }  // the loading "process" is gone; the pin keeps the program, its maps and BTF
  auto opened = runtime::Object::open_program(tmp_.store(), entry_id, testing_support::load_options(GetParam()));
  ASSERT_TRUE(opened) << opened.error().message;
  auto o = std::move(*opened);
  ASSERT_EQ(o->programs().size(), 1U);
  const runtime::Program& entry = *o->programs()[0];
  EXPECT_EQ(entry.id(), entry_id);
  EXPECT_EQ(entry.engine(), GetParam() == Exec::Jit ? runtime::Engine::Jit : runtime::Engine::Interpreter);
  auto x = runtime::dump_xlated(entry, {.linum = true});
  ASSERT_TRUE(x) << x.error().message;
  EXPECT_EQ(*x, xlated_before);
  runtime::TestRun tr;
  auto tcp80 = packet(6, 80), udp = packet(17, 9);
  tr.data_in = tcp80;
  auto r = runtime::test_run(entry, tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 2U);  // through the tail call to tail_tcp
  tr.data_in = udp;
  r = runtime::test_run(entry, tr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->retval, 3U);
  // .bss belongs to the tail-call targets, opened with the entry.
  std::shared_ptr<maps::Map> bss;
  const auto ids = tmp_.store()->map_ids();
  ASSERT_TRUE(ids);
  for (uint32_t id : *ids)
    if (auto m = tmp_.store()->open_map(id); m && (*m)->name().ends_with(".bss")) bss = *m;
  ASSERT_TRUE(bss);
  uint64_t b[3];
  ASSERT_TRUE(bss->lookup(&(const uint32_t&)0U, b, 0));
  EXPECT_EQ(b[0], 2U);  // seen_tcp, counted in the map the first object created: both TCP runs
  EXPECT_EQ(b[1], 1U);
  // Released: unpinning removes the program, its maps and its BTF.
  o.reset();
  bss.reset();
  ASSERT_TRUE(tmp_.store()->unpin("demo/jumps"));
  // The array's last user reference went: it is emptied, so a program now
  // opened from the record falls through its tail calls (XDP_DROP).
  {
    auto again = runtime::Object::open_program(tmp_.store(), entry_id, testing_support::load_options(GetParam()));
    ASSERT_TRUE(again) << again.error().message;
    r = runtime::test_run(*(*again)->programs()[0], tr);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->retval, 1U);
  }
  ASSERT_TRUE(tmp_.store()->unpin("demo/entry"));
  EXPECT_TRUE(tmp_.store()->program_ids()->empty());
  EXPECT_TRUE(tmp_.store()->map_ids()->empty());
  EXPECT_TRUE(tmp_.store()->btf_ids()->empty());
}

// A record whose instructions were changed in the store is verified again
// and refused; a missing program is ENOENT.
TEST(RuntimeStoredProgram, TamperedRecordIsVerifiedAgain) {
  testing_support::TempStore tmp("rt-stored");
  maps::ProgramRecord rec;
  rec.name = "bad";
  rec.prog_type = uint32_t(kabi::ProgType::Xdp);
  rec.insns = {0x0000000000000095ULL};  // exit without setting r0
  auto id = tmp.store()->add_program(rec);
  ASSERT_TRUE(id);
  auto o = runtime::Object::open_program(tmp.store(), *id);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("rejected by the verifier"), std::string::npos) << o.error().message;
  EXPECT_NE(o.error().message.find("R0 !read_ok"), std::string::npos) << o.error().message;
  auto none = runtime::Object::open_program(tmp.store(), 4242);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().errnum, ENOENT);
}

// Declarations the kernel refuses as written, fixed as loaders do before the
// maps are created: ring buffers and perf event arrays naming value types
// (Cilium's loader), a legacy map-in-map with value_size 0 (samples/bpf's).
// A size written out is kept, and refused.
TEST(LoaderConventions, TypedRingBuffersPerfArraysAndLegacyMapInMap) {
  testing_support::TempStore tmp("rt-conv");
  const runtime::LoadOptions lo = testing_support::load_options(Exec::Interpreter);
  auto o = tmp.load(obj("map_conv"), lo);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->map("ring")->key_size(), 0u);
  EXPECT_EQ(o->map("ring")->value_size(), 0u);
  EXPECT_EQ(o->map("ring")->max_entries(), 4096u);
  EXPECT_EQ(o->map("perf")->key_size(), 4u);
  EXPECT_EQ(o->map("perf")->value_size(), 4u);
  EXPECT_EQ(o->map("perf")->max_entries(), maps::possible_cpus());
  auto legacy = tmp.load(obj("map_conv_legacy"), lo);
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->map("outer")->value_size(), 4u);
  auto spec = loader::open_object(obj("map_conv_sized"));
  ASSERT_TRUE(spec) << spec.error().message;
  auto sized = runtime::Object::load(std::move(*spec), tmp.store(), lo);
  ASSERT_FALSE(sized);
  EXPECT_EQ(sized.error().errnum, EINVAL) << sized.error().message;
  EXPECT_NE(sized.error().message.find("ring"), std::string::npos) << sized.error().message;
}
