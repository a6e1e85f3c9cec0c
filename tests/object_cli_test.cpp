// `xbpf object show` driven like a user: the table, --json, and errors.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

namespace {

const std::string kObjects = XBPF_TEST_OBJECTS_DIR;
using Result = xbpf::test::CliResult;
Result run(const std::string& args, bool with_stderr = true) { return xbpf::test::run_xbpf(args, with_stderr); }

}  // namespace

TEST(ObjectCli, ShowListsProgramsMapsAndGlobalData) {
  auto r = run("object show " + kObjects + "/global_data.o");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s : {"programs (1):", "use_globals", "socket_filter", "maps (0):", "global data (6):",
                        "global_d.rodata", ".rodata.table", "global_.kconfig"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  r = run("object show " + kObjects + "/btf_maps.o");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s : {"outer.inner", "array_of_maps", "prog_array", "ringbuf", "8192"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(ObjectCli, Json) {
  auto r = run("object show --json " + kObjects + "/progs.o", false);
  ASSERT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["license"], "GPL");
  EXPECT_EQ(j["kernel_version"], 0x060c00);
  ASSERT_EQ(j["programs"].size(), 9u);
  const auto& p = j["programs"][0];
  EXPECT_EQ(p["name"], "xdp_one");
  EXPECT_EQ(p["type"], "xdp");
  EXPECT_EQ(p["type_id"], 6);
  EXPECT_EQ(p["attach_type"], "xdp");
  EXPECT_EQ(p["insns"], 9);
  EXPECT_EQ(p["subprograms"], nlohmann::json::array({"twice", "add"}));
}

TEST(ObjectCli, TypeOptionForUnknownSections) {
  auto r = run("object show --type sched_act " + kObjects + "/iproute2_maps.o");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("sched_cls (convention)"), std::string::npos) << r.out;  // "1/0" is a known convention
  EXPECT_EQ(run("object show --type bogus x.o").code, 2);
}

TEST(ObjectCli, ErrorsAreOneLineAndExit1) {
  auto r = run("object show /nonexistent/x.o");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "xbpf: /nonexistent/x.o: cannot open: No such file or directory\n");
  EXPECT_EQ(run("object").code, 2);
}
