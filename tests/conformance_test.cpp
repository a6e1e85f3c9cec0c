// Every bpf_conformance program (../shared/conformance/tests) and every one of
// our own (tests/data) must pass on the interpreter in checked and verified mode.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "conformance/runner.hpp"
#include "conformance_files.hpp"

using namespace xbpf;
namespace fs = std::filesystem;

namespace {

using test::conformance_files;
const std::string& kSharedDir = test::kSharedConformanceDir;

struct Case {
  std::string path;
  vm::Mode mode;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.path << (c.mode == vm::Mode::Checked ? " (checked)" : " (verified)");
}

std::vector<Case> cases(const std::string& dir) {
  std::vector<Case> out;
  for (const auto& f : conformance_files(dir))
    for (vm::Mode m : {vm::Mode::Checked, vm::Mode::Verified}) out.push_back({f, m});
  return out;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = fs::path(info.param.path).stem().string();
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n + (info.param.mode == vm::Mode::Checked ? "_checked" : "_verified");
}

class Conformance : public ::testing::TestWithParam<Case> {};

TEST_P(Conformance, Passes) {
  auto df = conformance::read_data_file(GetParam().path);
  ASSERT_TRUE(df.has_value()) << df.error().message;
  conformance::RunOptions opts;
  opts.mode = GetParam().mode;
  auto r = conformance::run_case(*df, opts);
  EXPECT_TRUE(r.passed) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Shared, Conformance, ::testing::ValuesIn(cases(kSharedDir)), case_name);
INSTANTIATE_TEST_SUITE_P(Own, Conformance, ::testing::ValuesIn(cases(XBPF_TEST_DATA_DIR)), case_name);

TEST(ConformanceSuites, ArePresent) {
  EXPECT_FALSE(conformance_files(XBPF_TEST_DATA_DIR).empty()) << "our own .data tests are missing from tests/data";
  if (conformance_files(kSharedDir).empty())
    GTEST_SKIP() << "SHARED CONFORMANCE SUITE MISSING: " << kSharedDir
                 << " has no .data files; the 313 shared programs were NOT run";
  EXPECT_EQ(conformance_files(kSharedDir).size(), 313u);
}

}  // namespace
