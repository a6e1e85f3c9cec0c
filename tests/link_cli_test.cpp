// `xbpf link` driven like a user. xbpf has no hooks yet, so no link exists:
// listing gives nothing, naming a link gives bpftool's ENOENT, a pin of a
// map or program is refused as not a link.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cli_run.hpp"

namespace fs = std::filesystem;
using xbpf::test::run_xbpf;

namespace {

class LinkCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/dev/shm/xbpf-link-cli-" + std::to_string(getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string store() const { return " --store " + dir_; }
  std::string dir_;
};

TEST_F(LinkCli, NoLinksExistYet) {
  auto r = run_xbpf("link list" + store());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  r = run_xbpf("-j link show" + store());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[]\n");
}

TEST_F(LinkCli, ErrorsNameTheProblem) {
  ASSERT_EQ(run_xbpf("map create m type array key 4 value 4 entries 1 name m" + store()).code, 0);
  const xbpf::test::CliCase cases[] = {
      {"link show id 1", 1, "xbpf: link show: link 1: no such link (xbpf has no attach points yet) (No such file"},
      {"link detach id 7", 1, "xbpf: link detach: link 7: no such link"},
      {"link pin id 7 name", 1, "xbpf: link pin: link 7: no such link"},
      {"link show pinned m", 1, "pinned object 'm' is a map, not a link"},
      {"link show pinned nosuch", 1, "pin 'nosuch': not pinned"},
      {"link show id x", 1, "can't parse link id 'x'"},
      {"link show tag 1", 1, "expected 'id' or 'pinned', got 'tag'"},
      {"link detach", 1, "LINK (id ID | pinned PATH) expected"},
      {"link frob", 2, "frob"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return run_xbpf(args + store(), err); });
}

}  // namespace
