// `xbpf verify` driven like a user: verdicts, exit codes, the rejected
// instruction with its C source line, log levels, JSON, and bad input.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

using xbpf::test::run_xbpf;

namespace {

const std::string kObj = std::string(XBPF_TEST_OBJECTS_DIR) + "/vf_reject.o";

TEST(VerifyCli, AcceptsAndRejectsWithTheSourceLine) {
  auto r = run_xbpf("verify " + kObj + " --program checked_lookup");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("checked_lookup (xdp): accepted, processed "), std::string::npos) << r.out;

  r = run_xbpf("verify " + kObj);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("unchecked_lookup (xdp): rejected at insn 7: R0 invalid mem access 'map_value_or_null'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("7: r1 = *(u64 *)(r0 + 0)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("vf_reject.c:24:   *v += 1; /* no NULL check */"), std::string::npos) << r.out;
}

TEST(VerifyCli, LogLevelsAndJson) {
  auto r = run_xbpf("verify " + kObj + " --program unchecked_lookup --log-level 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("6: call 1\n7: r1 = *(u64 *)(r0 + 0)\n"), std::string::npos) << r.out;  // the path
  r = run_xbpf("verify " + kObj + " --program checked_lookup --log-level 2");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("1: *(u32 *)(r10 - 4) = r1 ; R1=0 R10=fp0\n"), std::string::npos) << r.out;
  r = run_xbpf("verify " + kObj + " --json", false);
  ASSERT_EQ(r.code, 1);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["verdict"], "accept");
  EXPECT_EQ(j[1]["verdict"], "reject");
  EXPECT_EQ(j[1]["insn"], 7);
  EXPECT_EQ(j[1]["source"]["line"], 24);
}

TEST(VerifyCli, BadInput) {
  auto r = run_xbpf("verify /nonexistent.o");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent.o"), std::string::npos) << r.out;
  r = run_xbpf("verify " + kObj + " --program nosuch");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no program or section named 'nosuch'"), std::string::npos) << r.out;
  r = run_xbpf("verify " + kObj + " --log-level 7");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_xbpf("verify " + kObj + " --type nosuchtype");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("unknown program type 'nosuchtype'"), std::string::npos) << r.out;
}

}  // namespace
