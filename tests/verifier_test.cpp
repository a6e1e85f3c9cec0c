// The verifier on small programs, in the domain's notation: each case is the
// program (conformance assembly), its program type and maps, and the verdict:
// "" for accept, else the kernel-style message the rejection must carry.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "verifier/verifier.hpp"
#include "verifier_cases.hpp"

namespace {

using namespace xbpf::verifier;
using namespace xbpf::test;

Verdict run(const Case& c) {
  auto insns = xbpf::isa::assemble(c.text, c.name);
  EXPECT_TRUE(insns) << c.name << ": " << insns.error().message;
  if (!insns) return {};
  Env env;
  env.prog_type = c.type;
  env.privileged = c.privileged;
  env.maps = kMaps;
  env.func_info = c.func_info;
  env.log_level = 1;
  return verify(xbpf::isa::encode_program(*insns), env);
}

TEST(Verifier, Cases) {
  for (const Case& c : kCases) {
    Verdict v = run(c);
    if (std::string(c.verdict).empty()) {
      EXPECT_TRUE(v.ok) << c.name << ": rejected: " << v.message << "\n" << v.log;
    } else {
      EXPECT_FALSE(v.ok) << c.name << ": accepted, expected '" << c.verdict << "'";
      EXPECT_NE(v.message.find(c.verdict), std::string::npos)
          << c.name << ": message '" << v.message << "', expected '" << c.verdict << "'";
    }
  }
}

TEST(Verifier, StatisticsAreReported) {
  Verdict v = run({"loop", ProgType::SocketFilter, "mov %r0, 0\nadd %r0, 1\njlt %r0, 100, -2\nexit\n", ""});
  ASSERT_TRUE(v.ok) << v.message;
  EXPECT_GE(v.stats.insns_processed, 200u);  // the loop is unrolled, as the kernel does
  EXPECT_GT(v.stats.states_total, 0u);
  EXPECT_NE(v.log.find("processed"), std::string::npos);
}

}  // namespace
