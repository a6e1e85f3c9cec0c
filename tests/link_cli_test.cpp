// `xbpf net` and `xbpf link` (and `prog detach`) driven like a user: attach an
// XDP program to a packet device, list devices and links in bpftool's text
// and JSON, pin and detach links, and release everything again with `rm` of
// the pins; every error path with its exit code and one-line message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using xbpf::test::run_xbpf;

namespace {

const std::string kObjects = XBPF_TEST_OBJECTS_DIR;

class LinkCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/dev/shm/xbpf-link-cli-" + std::to_string(getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string store() const { return " --store " + dir_; }
  xbpf::test::CliResult x(const std::string& args, bool err = true) { return run_xbpf(args + store(), err); }
  // rt_xdp's programs pinned as xdp/xdp_parse and xdp/xdp_adjust, rt_tc's as tc/...
  void load() {
    ASSERT_EQ(x("prog loadall " + kObjects + "/rt_xdp.o xdp pinmaps xdp_maps").code, 0);
    ASSERT_EQ(x("prog loadall " + kObjects + "/rt_tc.o tc").code, 0);
  }
  uint32_t prog_id(const std::string& pin) {
    auto r = x("-j prog show pinned " + pin, false);
    EXPECT_EQ(r.code, 0) << r.out;
    return r.code == 0 ? json::parse(r.out)["id"].get<uint32_t>() : 0;
  }
  std::vector<std::string> files(const std::string& sub) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_ + "/" + sub)) out.push_back(e.path().filename());
    return out;
  }
  std::string dir_;
};

TEST_F(LinkCli, NothingAttached) {
  auto r = x("link list");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  r = x("-j link show");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[]\n");
  r = x("net show");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "xdp:\n\ntc:\n\nflow_dissector:\n\n");
  r = x("-j net list");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out), json::parse(R"([{"xdp":[],"tc":[],"flow_dissector":[]}])"));
}

TEST_F(LinkCli, AttachShowPinDetachInBpftoolsShapes) {
  load();
  const uint32_t parse = prog_id("xdp/xdp_parse");
  ASSERT_NE(parse, 0U);
  auto r = x("net attach xdp pinned xdp/xdp_parse dev port0");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  // net show: bpftool's sections.
  r = x("net show");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "xdp:\nport0(0) generic id " + std::to_string(parse) + "\n\ntc:\n\nflow_dissector:\n\n");
  r = x("-j net show dev port0");
  ASSERT_EQ(r.code, 0) << r.out;
  // Byte for byte: bpftool's members in bpftool's order.
  EXPECT_EQ(r.out, R"([{"xdp":[{"devname":"port0","ifindex":0,"mode":"generic","id":)" + std::to_string(parse) +
                       R"(}],"tc":[],"flow_dissector":[]}])" "\n");
  EXPECT_EQ(x("net show dev port9").out, "xdp:\n\ntc:\n\nflow_dissector:\n\n");
  // link show: the link the attach made.
  r = x("-j link show");
  ASSERT_EQ(r.code, 0) << r.out;
  auto links = json::parse(r.out);
  ASSERT_EQ(links.size(), 1U) << r.out;
  const uint32_t link = links[0]["id"];
  EXPECT_EQ(r.out, R"([{"id":)" + std::to_string(link) + R"(,"type":"xdp","prog_id":)" + std::to_string(parse) +
                       R"(,"devname":"port0","ifindex":0}])" "\n");
  r = x("link show id " + std::to_string(link));
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::to_string(link) + ": xdp  prog " + std::to_string(parse) + "  \n\tifindex port0(0) \n");
  // Pinned: a pinned line, and `link show pinned` finds it.
  ASSERT_EQ(x("link pin id " + std::to_string(link) + " links/port0").code, 0);
  r = x("link show pinned links/port0");
  EXPECT_EQ(r.out, std::to_string(link) + ": xdp  prog " + std::to_string(parse) +
                       "  \n\tifindex port0(0) \n\tpinned links/port0\n");
  r = x("-j link show pinned links/port0");
  EXPECT_EQ(json::parse(r.out)["pinned"], json::parse(R"(["links/port0"])"));
  // Detached: the device runs nothing; the pinned link stays, detached.
  ASSERT_EQ(x("link detach pinned links/port0").code, 0);
  EXPECT_EQ(x("net show").out, "xdp:\n\ntc:\n\nflow_dissector:\n\n");
  r = x("link show");
  EXPECT_EQ(r.out, std::to_string(link) + ": xdp  prog " + std::to_string(parse) +
                       "  \n\tifindex (detached) \n\tpinned links/port0\n");
  EXPECT_EQ(json::parse(x("-j link show id " + std::to_string(link)).out)["devname"], "(detached)");
  // `prog show` is unchanged by all this, JSON included.
  r = x("-j prog show pinned xdp/xdp_parse");
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(json::parse(r.out)["id"], parse);
  EXPECT_EQ(json::parse(r.out)["type"], "xdp");
}

TEST_F(LinkCli, OverwriteAndProgDetach) {
  load();
  const uint32_t parse = prog_id("xdp/xdp_parse"), adjust = prog_id("xdp/xdp_adjust");
  ASSERT_EQ(x("net attach xdp id " + std::to_string(parse) + " dev port0").code, 0);
  ASSERT_EQ(x("net attach xdpgeneric name xdp_adjust dev port0 overwrite").code, 0);
  EXPECT_EQ(x("net show").out, "xdp:\nport0(0) generic id " + std::to_string(adjust) + "\n\ntc:\n\nflow_dissector:\n\n");
  // The replaced link was not pinned: it is gone; one link is left.
  EXPECT_EQ(json::parse(x("-j link show").out).size(), 1U);
  ASSERT_EQ(x("net attach xdp pinned xdp/xdp_parse dev port1").code, 0);
  // prog detach: only the program the device runs.
  auto r = x("prog detach pinned xdp/xdp_parse xdp dev port0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("device 'port0' runs prog " + std::to_string(adjust) + ", not prog " + std::to_string(parse)),
            std::string::npos)
      << r.out;
  ASSERT_EQ(x("prog detach pinned xdp/xdp_adjust xdp dev port0").code, 0);
  EXPECT_EQ(x("net show").out, "xdp:\nport1(0) generic id " + std::to_string(parse) + "\n\ntc:\n\nflow_dissector:\n\n");
  ASSERT_EQ(x("net detach xdp dev port1").code, 0);
  EXPECT_EQ(x("link show").out, "");
  EXPECT_TRUE(files("devs").empty());
}

// `rm` of the pins is how bpftool users release objects: once the program's
// and the link's pins are gone and the device is detached, nothing is left.
TEST_F(LinkCli, RmOfThePinsReleasesEverything) {
  load();
  ASSERT_EQ(x("net attach xdp pinned xdp/xdp_parse dev port0").code, 0);
  const uint32_t link = json::parse(x("-j link show").out)[0]["id"];
  ASSERT_EQ(x("link pin id " + std::to_string(link) + " l0").code, 0);
  // The program's pin goes, and the maps': the attached link still holds it.
  fs::remove_all(dir_ + "/pins/xdp");
  fs::remove_all(dir_ + "/pins/xdp_maps");
  fs::remove_all(dir_ + "/pins/tc");
  auto progs = json::parse(x("-j prog show").out);
  ASSERT_EQ(progs.size(), 1U) << progs;
  EXPECT_EQ(progs[0]["name"], "xdp_parse");
  EXPECT_EQ(x("net show").out.find("port0(0) generic id "), 5U);
  // Detached, the pinned link still holds the program.
  ASSERT_EQ(x("net detach xdp dev port0").code, 0);
  EXPECT_EQ(json::parse(x("-j prog show").out).size(), 1U);
  // rm of the link's pin: link, program, maps and BTF go.
  fs::remove(dir_ + "/pins/l0");
  EXPECT_EQ(x("link show").out, "");
  EXPECT_EQ(x("-j prog show").out, "[]\n");
  EXPECT_EQ(x("-j map show").out, "[]\n");
  for (const char* sub : {"links", "progs", "maps", "btf", "refs", "devs"}) EXPECT_TRUE(files(sub).empty()) << sub;
}

TEST_F(LinkCli, ErrorsNameTheProblem) {
  load();
  ASSERT_EQ(x("map create m type array key 4 value 4 entries 1 name m").code, 0);
  ASSERT_EQ(x("net attach xdp pinned xdp/xdp_parse dev port0").code, 0);
  const xbpf::test::CliCase cases[] = {
      {"link show id 999", 1, "xbpf: link show: link 999: no such link in store"},
      {"link detach id 7", 1, "xbpf: link detach: link 7: no such link"},
      {"link pin id 7 name", 1, "xbpf: link pin: link 7: no such link"},
      {"link show pinned m", 1, "pinned object 'm' is a map, not a link"},
      {"link detach pinned xdp/xdp_parse", 1, "pinned object 'xdp/xdp_parse' is a program, not a link"},
      {"link show pinned nosuch", 1, "pin 'nosuch': not pinned"},
      {"link show id x", 1, "can't parse link id 'x'"},
      {"link show tag 1", 1, "expected 'id' or 'pinned', got 'tag'"},
      {"link detach", 1, "LINK (id ID | pinned PATH) expected"},
      {"link show id 1 extra", 1, "unexpected argument 'extra'"},
      {"link frob", 2, "frob"},
      {"net detach xdp dev port9", 1, "xbpf: net detach: device 'port9': no XDP program attached (No such file"},
      {"net attach xdp pinned tc/tc_rewrite dev port1", 1, "not an XDP program; only XDP programs attach to a device (Invalid argument)"},
      {"net attach xdp pinned xdp/xdp_adjust dev port0", 1, "device 'port0' already runs link 1 ('overwrite' replaces it) (File exists)"},
      {"net attach xdp pinned xdp/xdp_adjust", 1, "'dev NAME' expected"},
      {"net attach xdp pinned xdp/xdp_adjust port0", 1, "expected 'dev', got 'port0'"},
      {"net attach xdp pinned xdp/xdp_adjust dev", 1, "device NAME expected"},
      {"net attach xdp pinned xdp/xdp_adjust dev a/b", 1, "device 'a/b': bad name"},
      {"net attach xdp pinned xdp/xdp_adjust dev port2 now", 1, "unexpected argument 'now'"},
      {"net attach xdp id 999 dev port2", 1, "prog 999: no such program"},
      {"net attach xdpdrv pinned xdp/xdp_adjust dev port2", 1, "attach type 'xdpdrv' is not supported"},
      {"net attach sideways pinned xdp/xdp_adjust dev port2", 1, "unknown attach type 'sideways'"},
      {"net attach", 1, "ATTACH_TYPE (xdp | xdpgeneric) expected"},
      {"net detach xdp", 1, "'dev NAME' expected"},
      {"net show dev", 1, "device NAME expected"},
      {"net frob", 2, "frob"},
      {"prog detach pinned xdp/xdp_parse xdp dev port9", 1, "device 'port9': no XDP program attached"},
      {"prog detach pinned xdp/xdp_parse tc dev port0", 1, "attach type 'tc': xbpf attaches programs to devices only"},
      {"prog detach pinned xdp/xdp_parse xdp", 1, "'dev NAME' expected after xdp"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return x(args, err); });
  // None of the failures changed what port0 runs, nor left links behind.
  EXPECT_EQ(json::parse(x("-j link show").out).size(), 1U);
  EXPECT_EQ(x("net show").out.find("port0(0) generic id "), 5U);
}

}  // namespace
