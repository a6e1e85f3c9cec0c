// Embedder packet hooks (src/hooks) and the store's links and device
// attachments under them: attach through the store, run packets through a
// hook, detach, replace, lifetimes (a link holds its program, a device holds
// its link), the generation counter a running hook watches, and changes made
// by another process while a hook is open.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "hooks/packet_hook.hpp"
#include "runtime/test_run.hpp"
#include "runtime_fixture.hpp"

using namespace xbpf;
using testing_support::Exec;

namespace fs = std::filesystem;

namespace {

std::string obj(const char* name) { return std::string(XBPF_TEST_OBJECTS_DIR) + "/" + name + ".o"; }

// Ethernet + IPv4 + UDP/TCP to `dport` (what rt_xdp's xdp_parse decides on).
std::vector<uint8_t> packet(uint8_t proto, uint16_t dport) {
  std::vector<uint8_t> p(14 + 20 + (proto == 6 ? 20 : 8) + 8, 0);
  const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(p.data(), mac, 12);
  p[12] = 0x08;
  p[14] = 0x45;
  p[17] = uint8_t(p.size() - 14);
  p[23] = proto;
  const uint8_t addrs[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  std::memcpy(&p[26], addrs, 8);
  p[36] = uint8_t(dport >> 8);
  p[37] = uint8_t(dport);
  return p;
}

uint64_t counter(maps::Store& s, uint32_t map_id, uint32_t key) {
  auto m = s.open_map(map_id);
  EXPECT_TRUE(m) << m.error().message;
  uint64_t v = 0;
  if (m) {
    EXPECT_TRUE((*m)->lookup(&key, &v, 0));
  }
  return v;
}

class HooksTest : public ::testing::Test {
 protected:
  // Loads rt_xdp and returns the id of `prog`; the object is dropped, so the
  // program lives only as long as something else holds it (a pin, a link).
  uint32_t load_pinned(const char* prog, const std::string& pin, const char* file = "rt_xdp") {
    auto o = tmp_.load(obj(file), {});
    if (!o) return 0;
    const uint32_t id = o->program(prog)->id();
    EXPECT_TRUE(store().pin(maps::ObjectKind::Program, id, pin));
    return id;
  }
  // The verdicts map of rt_xdp's xdp_parse (its first map).
  uint32_t verdicts_map(uint32_t prog) {
    auto rec = store().program(prog);
    EXPECT_TRUE(rec && !rec->map_ids.empty());
    return rec && !rec->map_ids.empty() ? rec->map_ids[0] : 0;
  }
  std::unique_ptr<hooks::PacketHook> hook(const std::string& dev, runtime::LoadOptions lo = {}) {
    auto h = hooks::PacketHook::open(tmp_.store(), dev, lo);
    EXPECT_TRUE(h) << h.error().message;
    return h ? std::move(*h) : nullptr;
  }
  maps::Store& store() { return *tmp_.store(); }
  testing_support::TempStore tmp_{"hooks-test"};
};

class HookExecTest : public HooksTest, public ::testing::WithParamInterface<Exec> {};

}  // namespace

TEST_P(HookExecTest, AttachedProgramRunsOnTheDevice) {
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  ASSERT_NE(prog, 0U);
  auto link = store().attach_xdp(prog, "port0", false);
  ASSERT_TRUE(link) << link.error().message;
  auto h = hook("port0", testing_support::load_options(GetParam()));
  ASSERT_TRUE(h);
  const uint32_t verdicts = verdicts_map(prog);
  const auto tcp23 = packet(6, 23), udp7 = packet(17, 7), udp53 = packet(17, 53);
  auto v = h->run(tcp23);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->action, uint32_t(XDP_DROP));
  EXPECT_EQ(v->prog_id, prog);
  EXPECT_EQ(h->link_id(), *link);
  v = h->run(udp53);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->action, uint32_t(XDP_PASS));
  // The echo responder rewrites the packet: addresses swapped in the output.
  v = h->run(udp7);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->action, uint32_t(XDP_TX));
  ASSERT_EQ(v->data.size(), udp7.size());
  EXPECT_EQ(v->data[26], 10);
  EXPECT_EQ(v->data[29], 2);  // saddr is now 10.0.0.2
  EXPECT_EQ(v->data[33], 1);
  // Map effects, seen through the store from this side.
  EXPECT_EQ(counter(store(), verdicts, XDP_DROP), 1U);
  EXPECT_EQ(counter(store(), verdicts, XDP_PASS), 1U);
  EXPECT_EQ(counter(store(), verdicts, XDP_TX), 1U);
  // Out-of-range packet sizes are refused, as BPF_PROG_TEST_RUN refuses them.
  std::vector<uint8_t> tiny(10), huge(4000);
  EXPECT_EQ(h->run(tiny).error().errnum, EINVAL);
  EXPECT_EQ(h->run(huge).error().errnum, EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Engines, HookExecTest, testing_support::all_execs(), testing_support::ExecParamName());

TEST_F(HooksTest, NothingAttachedPassesWithoutRunning) {
  auto h = hook("port0");
  ASSERT_TRUE(h);
  const auto p = packet(6, 23);
  auto v = h->run(p);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->action, uint32_t(XDP_PASS));
  EXPECT_EQ(v->prog_id, 0U);
  EXPECT_EQ(v->data.data(), p.data());  // untouched, not even copied
  // Bad device names are refused when the hook opens, with the kernel's EINVAL.
  for (const char* bad : {"", "a/b", "has space", "x:1", ".", "..", "sixteen_chars_xx"})
    EXPECT_EQ(hooks::PacketHook::open(tmp_.store(), bad).error().errnum, EINVAL) << bad;
}

TEST_F(HooksTest, DetachPassesAndTheProgramNoLongerRuns) {
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  ASSERT_TRUE(store().attach_xdp(prog, "port0", false));
  auto h = hook("port0");
  const uint32_t verdicts = verdicts_map(prog);
  const auto tcp23 = packet(6, 23);
  ASSERT_EQ(h->run(tcp23)->action, uint32_t(XDP_DROP));
  auto gone = store().detach_device("port0");
  ASSERT_TRUE(gone) << gone.error().message;
  for (int i = 0; i < 3; ++i) {
    auto v = h->run(tcp23);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->action, uint32_t(XDP_PASS));
    EXPECT_EQ(v->prog_id, 0U);
  }
  EXPECT_EQ(counter(store(), verdicts, XDP_DROP), 1U);  // the program ran once, before the detach
  EXPECT_EQ(h->prog_id(), 0U);
  // Detaching an idle device: ENOENT, and nothing else changes.
  EXPECT_EQ(store().detach_device("port0").error().errnum, ENOENT);
  EXPECT_EQ(store().device_link("port0").error().errnum, ENOENT);
  // The program is still pinned; the link went with the attachment.
  EXPECT_TRUE(store().has_program(prog));
  EXPECT_EQ(store().link_ids()->size(), 0U);
}

TEST_F(HooksTest, OneLinkPerDeviceUnlessReplaced) {
  const uint32_t parse = load_pinned("xdp_parse", "parse");
  const uint32_t adjust = load_pinned("xdp_adjust", "adjust");
  auto first = store().attach_xdp(parse, "port0", false);
  ASSERT_TRUE(first);
  ASSERT_TRUE(store().pin(maps::ObjectKind::Link, *first, "first_link"));
  auto h = hook("port0");
  const auto tcp23 = packet(6, 23);
  EXPECT_EQ(h->run(tcp23)->action, uint32_t(XDP_DROP));
  // Taken: EEXIST, and the refused link does not linger.
  auto again = store().attach_xdp(adjust, "port0", false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().errnum, EEXIST);
  EXPECT_EQ(*store().link_ids(), std::vector<uint32_t>{*first});
  EXPECT_EQ(*store().device_link("port0"), *first);
  // Replaced: the hook switches at its next packet; the old link is detached
  // (kept by its pin, shown as detached).
  auto second = store().attach_xdp(adjust, "port0", true);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*store().device_link("port0"), *second);
  auto v = h->run(tcp23);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->prog_id, adjust);
  EXPECT_EQ(v->action, uint32_t(XDP_TX));
  EXPECT_EQ(std::memcmp(v->data.data(), "XBPFENC!", 8), 0);  // xdp_adjust's header
  auto old = store().link(*first);
  ASSERT_TRUE(old);
  EXPECT_TRUE(old->detached);
  EXPECT_FALSE(store().link(*second)->detached);
  // Unpinning the old link frees it; the program stays (pinned).
  ASSERT_TRUE(store().unpin("first_link"));
  EXPECT_EQ(*store().link_ids(), std::vector<uint32_t>{*second});
  EXPECT_TRUE(store().has_program(parse));
  // Another device is independent.
  ASSERT_TRUE(store().attach_xdp(parse, "port1", false));
  EXPECT_EQ(store().devices()->size(), 2U);
  EXPECT_EQ(h->run(tcp23)->prog_id, adjust);
}

TEST_F(HooksTest, ALinkKeepsItsProgramAliveAndTheLastDetachFreesEverything) {
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  const auto maps_before = *store().map_ids();
  ASSERT_FALSE(maps_before.empty());
  auto link = store().attach_xdp(prog, "port0", false);
  ASSERT_TRUE(link);
  auto rec = store().link(*link);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->prog_id, prog);
  EXPECT_EQ(rec->target, "port0");
  EXPECT_EQ(rec->link_type, maps::kLinkTypeXdp);
  EXPECT_EQ(rec->attach_type, maps::kAttachTypeXdp);
  EXPECT_EQ(rec->owner_pid, uint32_t(getpid()));
  EXPECT_FALSE(rec->detached);
  // `rm` of the program's pin: the attached link still holds it.
  ASSERT_TRUE(store().unpin("parse"));
  EXPECT_TRUE(store().has_program(prog));
  auto h = hook("port0");
  EXPECT_EQ(h->run(packet(6, 23))->action, uint32_t(XDP_DROP));
  // The hook's own loaded copy holds the program too; once it lets go and
  // the device is detached, link, program and maps all go.
  h.reset();
  ASSERT_TRUE(store().detach_device("port0"));
  EXPECT_TRUE(store().link_ids()->empty());
  EXPECT_TRUE(store().program_ids()->empty());
  EXPECT_TRUE(store().map_ids()->empty());
  EXPECT_TRUE(store().btf_ids()->empty());
  EXPECT_TRUE(fs::is_empty(tmp_.dir() + "/refs"));
}

TEST_F(HooksTest, LinkDetachKeepsAPinnedLinkAsDetached) {
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  auto link = store().attach_xdp(prog, "port0", false);
  ASSERT_TRUE(link);
  ASSERT_TRUE(store().pin(maps::ObjectKind::Link, *link, "l"));
  auto what = store().pinned("l");
  ASSERT_TRUE(what);
  EXPECT_EQ(what->first, maps::ObjectKind::Link);
  EXPECT_EQ(what->second, *link);
  auto h = hook("port0");
  EXPECT_EQ(h->run(packet(6, 23))->action, uint32_t(XDP_DROP));
  ASSERT_TRUE(store().detach_link(*link));
  EXPECT_EQ(h->run(packet(6, 23))->action, uint32_t(XDP_PASS));
  EXPECT_EQ(store().device_link("port0").error().errnum, ENOENT);
  auto rec = store().link(*link);
  ASSERT_TRUE(rec);
  EXPECT_TRUE(rec->detached);
  EXPECT_TRUE(store().detach_link(*link));  // again: nothing to do, as the kernel's
  // The defunct link still holds its program: unpinning the program keeps it.
  ASSERT_TRUE(store().unpin("parse"));
  h.reset();
  EXPECT_TRUE(store().has_program(prog));
  ASSERT_TRUE(store().unpin("l"));
  EXPECT_TRUE(store().link_ids()->empty());
  EXPECT_FALSE(store().has_program(prog));
  EXPECT_EQ(store().detach_link(*link).error().errnum, ENOENT);
  EXPECT_EQ(store().link(*link).error().errnum, ENOENT);
}

TEST_F(HooksTest, OnlyXdpProgramsAttach) {
  auto o = tmp_.load(obj("rt_tc"), {});
  ASSERT_TRUE(o);
  auto r = store().attach_xdp(o->program("tc_rewrite")->id(), "port0", false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
  EXPECT_NE(r.error().message.find("not an XDP program"), std::string::npos) << r.error().message;
  EXPECT_TRUE(store().link_ids()->empty());
  EXPECT_TRUE(store().devices()->empty());
  EXPECT_EQ(store().attach_xdp(99999, "port0", false).error().errnum, ENOENT);
  const uint32_t prog = o->program("tc_rewrite")->id();
  EXPECT_EQ(store().attach_xdp(prog, "bad/name", false).error().errnum, EINVAL);
}

TEST_F(HooksTest, AHookOpenedBeforeTheAttachPicksItUp) {
  auto h = hook("port0");
  const auto tcp23 = packet(6, 23);
  EXPECT_EQ(h->run(tcp23)->prog_id, 0U);
  const uint64_t g0 = store().attach_generation().load();
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  ASSERT_TRUE(store().attach_xdp(prog, "port0", false));
  EXPECT_EQ(store().attach_generation().load(), g0 + 1);
  auto v = h->run(tcp23);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->prog_id, prog);
  EXPECT_EQ(v->action, uint32_t(XDP_DROP));
  // A change on another device moves the counter; the hook keeps its program.
  ASSERT_TRUE(store().attach_xdp(prog, "port1", false));
  EXPECT_EQ(h->run(tcp23)->prog_id, prog);
  ASSERT_TRUE(store().detach_device("port1"));
  EXPECT_EQ(store().attach_generation().load(), g0 + 3);
  EXPECT_EQ(h->run(tcp23)->prog_id, prog);
}

// Another process attaches and detaches (its own Store handle, as the CLI
// would) while this process's hook is open and running.
TEST_F(HooksTest, ChangesFromAnotherProcessReachARunningHook) {
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  auto h = hook("port0");
  const auto tcp23 = packet(6, 23);
  EXPECT_EQ(h->run(tcp23)->prog_id, 0U);
  auto in_child = [&](auto fn) {
    const pid_t pid = fork();
    if (pid == 0) {
      auto s = maps::Store::open(tmp_.dir());
      _exit(s && fn(**s) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  ASSERT_TRUE(in_child([&](maps::Store& s) { return bool(s.attach_xdp(prog, "port0", false)); }));
  // The child has exited: the device alone keeps the link.
  auto v = h->run(tcp23);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->prog_id, prog);
  EXPECT_EQ(v->action, uint32_t(XDP_DROP));
  ASSERT_TRUE(in_child([&](maps::Store& s) { return bool(s.detach_device("port0")); }));
  v = h->run(tcp23);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->prog_id, 0U);
  EXPECT_EQ(v->action, uint32_t(XDP_PASS));
}

// Another process attaches, replaces and detaches as fast as it can while
// this one runs packets: every packet gets one of the three answers (drop
// by xdp_parse, XDP_TX by xdp_adjust, pass with nothing), never an error,
// however the lookups interleave with the changes.
TEST_F(HooksTest, RacingChangesNeverBreakARunningHook) {
  const uint32_t parse = load_pinned("xdp_parse", "parse");
  const uint32_t adjust = load_pinned("xdp_adjust", "adjust");
  auto h = hook("port0");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = maps::Store::open(tmp_.dir());
    bool ok = bool(s);
    for (int i = 0; ok && i < 300; ++i) {
      ok = bool((*s)->attach_xdp(i % 2 ? adjust : parse, "port0", true));
      if (ok && i % 3 == 0) ok = bool((*s)->detach_device("port0"));
    }
    _exit(ok ? 0 : 1);
  }
  const auto tcp23 = packet(6, 23);
  std::map<uint32_t, int> seen;
  int errors = 0, status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    auto v = h->run(tcp23);
    if (!v) {
      ADD_FAILURE() << v.error().message;
      if (++errors > 3) break;
      continue;
    }
    ++seen[v->action];
    if (v->prog_id == parse) EXPECT_EQ(v->action, uint32_t(XDP_DROP));
    else if (v->prog_id == adjust) EXPECT_EQ(v->action, uint32_t(XDP_TX));
    else EXPECT_EQ(v->action, uint32_t(XDP_PASS));
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The child's last change was an attach of xdp_adjust (i = 299).
  auto v = h->run(tcp23);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->prog_id, adjust);
  EXPECT_EQ(*store().link_ids(), std::vector<uint32_t>{*store().device_link("port0")});
  for (auto [action, n] : seen) std::printf("action %u: %d packets\n", action, n);
}

// A link whose only holder was killed is an orphan: the next sweep reclaims
// it, and drops its hold on the program (which its pin keeps here).
TEST_F(HooksTest, ALinkOfAKilledHolderIsSwept) {
  const uint32_t prog = load_pinned("xdp_parse", "parse");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = maps::Store::open(tmp_.dir());
    maps::LinkRecord rec;
    rec.prog_id = prog;
    rec.target = "port0";
    auto id = s ? (*s)->add_link(rec) : Expected<uint32_t>(xbpf::unexpected(s.error()));
    auto hold = id ? (*s)->hold_link(*id) : Expected<std::shared_ptr<maps::Store::Hold>>(xbpf::unexpected(id.error()));
    const uint32_t out = hold ? *id : 0;
    (void)!write(fds[1], &out, sizeof out);
    pause();
    _exit(0);
  }
  close(fds[1]);
  uint32_t id = 0;
  ASSERT_EQ(read(fds[0], &id, sizeof id), static_cast<ssize_t>(sizeof id));
  close(fds[0]);
  ASSERT_NE(id, 0U);
  EXPECT_EQ(*store().link_ids(), std::vector<uint32_t>{id});
  EXPECT_EQ(store().link(id)->target, "port0");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(store().link_ids()->empty());
  EXPECT_FALSE(fs::exists(tmp_.dir() + "/refs/l" + std::to_string(id) + ".p" + std::to_string(prog) + ".0"));
  EXPECT_TRUE(store().has_program(prog));
  ASSERT_TRUE(store().unpin("parse"));
  EXPECT_FALSE(store().has_program(prog));
}

// Stores made before links: the meta page's new words are zero (the page was
// always zero-filled), the link id counter starts at 1 and the store works.
TEST_F(HooksTest, StoresFromBeforeLinksStillOpen) {
  const std::string meta = tmp_.dir() + "/meta";
  {
    std::fstream f(meta, std::ios::in | std::ios::out | std::ios::binary);
    const char zeros[12] = {};
    f.seekp(20);
    f.write(zeros, sizeof zeros);  // next_link_id and the generation, as an old store has them
  }
  fs::remove_all(tmp_.dir() + "/links");
  fs::remove_all(tmp_.dir() + "/devs");
  auto s = maps::Store::open(tmp_.dir());
  ASSERT_TRUE(s) << s.error().message;
  auto o = tmp_.load(obj("rt_xdp"), {});
  ASSERT_TRUE(o);
  auto link = (*s)->attach_xdp(o->program("xdp_parse")->id(), "port0", false);
  ASSERT_TRUE(link) << link.error().message;
  EXPECT_EQ(*link, 1U);
  EXPECT_EQ((*s)->attach_generation().load(), 1U);
}

