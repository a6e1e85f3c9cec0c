// Every bpf_conformance program (../shared/conformance/tests) and every one of
// our own (tests/data) must pass on the JIT, with BMI2 shifts and without, and
// with constant blinding (jit::Options::blind_constants).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "conformance/runner.hpp"
#include "conformance_files.hpp"
#include "jit/jit.hpp"

using namespace xbpf;
namespace fs = std::filesystem;

namespace {

using test::conformance_files;
const std::string& kSharedDir = test::kSharedConformanceDir;

struct Case {
  std::string path;
  bool bmi2;
  bool blind = false;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.path << (c.bmi2 ? " (bmi2)" : " (no bmi2)") << (c.blind ? " (blinded)" : "");
}

std::vector<Case> cases(const std::string& dir) {
  std::vector<Case> out;
  for (const auto& f : conformance_files(dir)) {
    for (bool bmi2 : {true, false}) out.push_back({f, bmi2});
    out.push_back({f, true, true});
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = fs::path(info.param.path).stem().string();
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n + (info.param.bmi2 ? "_bmi2" : "_nobmi2") + (info.param.blind ? "_blind" : "");
}

// As conformance::run_program, on the JIT: r1 = a private copy of the memory,
// r2 = its size, the conformance helpers.
Expected<uint64_t> run_on_jit(std::span<const isa::RawInsn> code, std::span<const uint8_t> mem, bool bmi2,
                              bool blind) {
  auto prog = vm::Program::load(code, {vm::Mode::Verified, &vm::conformance_helpers()});
  if (!prog) return xbpf::unexpected(prog.error());
  if (auto r = jit::compile(*prog, {.bmi2 = bmi2, .blind_constants = blind}); !r) return xbpf::unexpected(r.error());
  if (!jit::code_of(*prog)) return fail(Errc::runtime, "no native code attached");
  std::vector<uint8_t> buf(mem.begin(), mem.end());
  vm::ExecContext ctx;
  ctx.packet = buf.data();
  ctx.packet_len = buf.size();
  const uint64_t r1 = buf.empty() ? 0 : reinterpret_cast<uint64_t>(buf.data());
  return prog->run(r1, buf.size(), ctx);
}

class JitConformance : public ::testing::TestWithParam<Case> {};

TEST_P(JitConformance, Passes) {
  auto df = conformance::read_data_file(GetParam().path);
  ASSERT_TRUE(df.has_value()) << df.error().message;
  auto code = conformance::program_of(*df);
  if (!code) {
    EXPECT_TRUE(df->error.has_value()) << code.error().message;
    return;
  }
  auto r0 = run_on_jit(*code, df->mem, GetParam().bmi2, GetParam().blind);
  if (!r0) {
    EXPECT_TRUE(df->error.has_value()) << r0.error().message;
    return;
  }
  ASSERT_TRUE(df->result.has_value()) << "expected an error, got r0 = " << *r0;
  EXPECT_EQ(*r0, *df->result) << std::hex << "r0 = 0x" << *r0 << ", expected 0x" << *df->result;
}

INSTANTIATE_TEST_SUITE_P(Shared, JitConformance, ::testing::ValuesIn(cases(kSharedDir)), case_name);
INSTANTIATE_TEST_SUITE_P(Own, JitConformance, ::testing::ValuesIn(cases(XBPF_TEST_DATA_DIR)), case_name);

TEST(JitConformanceSuites, ArePresent) {
  if (conformance_files(kSharedDir).empty())
    GTEST_SKIP() << "SHARED CONFORMANCE SUITE MISSING: " << kSharedDir
                 << " has no .data files; the 313 shared programs were NOT run on the JIT";
  EXPECT_EQ(conformance_files(kSharedDir).size(), 313u);
}

}  // namespace
