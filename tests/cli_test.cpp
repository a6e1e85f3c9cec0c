// Drives the `xbpf` binary like a user: exit codes and messages of every
// command, including the error paths.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "cli_run.hpp"

namespace {

using xbpf::test::kXbpf;
const std::string kPlugin = std::string(XBPF_BINARY_DIR) + "/tools/xbpf/xbpf-conformance-plugin";

using Result = xbpf::test::CliResult;
Result sh(const std::string& cmd) { return xbpf::test::run_shell(cmd); }

std::string temp_file(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/xbpf_cli_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, HelpListsCommands) {
  auto r = sh(kXbpf + " --help");
  EXPECT_EQ(r.code, 0);
  for (const char* cmd : {"asm", "disasm", "conformance"}) EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
}

TEST(Cli, UnknownCommandIsOneLineAndExit2) {
  auto r = sh(kXbpf + " frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("xbpf: "), std::string::npos);
}

TEST(Cli, MissingArgumentAndBadOptionValue) {
  auto r = sh(kXbpf + " asm");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(count_lines(r.out), 1u) << r.out;
  auto s = temp_file("ok.bin", std::string("\x95\0\0\0\0\0\0\0", 8));
  auto b = sh(kXbpf + " disasm --syntax klingon " + s);
  EXPECT_EQ(b.code, 2);
  EXPECT_EQ(count_lines(b.out), 1u) << b.out;
}

TEST(Cli, AsmThenDisasmRoundTrip) {
  auto src = temp_file("prog.s", "mov %r0, 1\nldxw %r0, [%r1+4]\njeq %r0, 3, +1\nexit\nexit\n");
  auto bin = ::testing::TempDir() + "/xbpf_cli_prog.bin";
  ASSERT_EQ(sh(kXbpf + " asm " + src + " -o " + bin).code, 0);
  auto k = sh(kXbpf + " disasm " + bin);
  EXPECT_EQ(k.code, 0);
  EXPECT_NE(k.out.find("r0 = *(u32 *)(r1 + 4)"), std::string::npos) << k.out;
  auto c = sh(kXbpf + " disasm --no-pc --syntax conformance " + bin);
  EXPECT_EQ(c.code, 0);
  auto again = temp_file("again.s", c.out);
  auto hex1 = sh(kXbpf + " asm " + src), hex2 = sh(kXbpf + " asm " + again);
  EXPECT_EQ(hex1.out, hex2.out);
}

TEST(Cli, MalformedAssemblyNamesFileAndLine) {
  auto src = temp_file("bad.s", "mov %r0, 1\nmov %r11, 2\nexit\n");
  auto r = sh(kXbpf + " asm " + src);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(src + ":2:"), std::string::npos) << r.out;
}

TEST(Cli, TruncatedAndInvalidBytecode) {
  auto t = temp_file("trunc.bin", std::string("\xb7\0\0\0\1\0\0\0\x95\0\0", 11));
  auto r = sh(kXbpf + " disasm " + t);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not a multiple of 8"), std::string::npos) << r.out;
  auto u = temp_file("unknown.bin", std::string("\xff\0\0\0\0\0\0\0", 8));
  auto v = sh(kXbpf + " disasm " + u);
  EXPECT_EQ(v.code, 1);
  EXPECT_NE(v.out.find("insn 0: unknown opcode 0xff"), std::string::npos) << v.out;
}

TEST(Cli, MissingFile) {
  auto r = sh(kXbpf + " disasm /nonexistent/x.bin");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent/x.bin: cannot open file"), std::string::npos) << r.out;
}

TEST(Cli, ConformanceSummaryLineAndFailureExit) {
  auto good = temp_file("good.data", "-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n");
  auto r = sh(kXbpf + " conformance " + good);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("1 passed, 0 failed"), std::string::npos) << r.out;
  auto bad = temp_file("bad.data", "-- asm\nmov %r0, 3\nexit\n-- result\n0x4\n");
  auto f = sh(kXbpf + " conformance " + good + " " + bad);
  EXPECT_EQ(f.code, 1);
  EXPECT_NE(f.out.find("r0 = 0x3, expected 0x4"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("1 passed, 1 failed"), std::string::npos) << f.out;
}

// --engine jit runs the same files on the JIT (verified mode only).
TEST(Cli, ConformanceOnTheJit) {
  auto good = temp_file("good.data", "-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n");
  auto bad = temp_file("bad.data", "-- asm\nmov %r0, 3\nexit\n-- result\n0x4\n");
  auto r = sh(kXbpf + " conformance --engine jit -v " + good + " " + bad);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("PASS [jit] " + good), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL [jit] " + bad + ": r0 = 0x3, expected 0x4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 passed, 1 failed"), std::string::npos) << r.out;
  auto checked = sh(kXbpf + " conformance --engine jit --mode checked " + good);
  EXPECT_EQ(checked.code, 2);
  EXPECT_NE(checked.out.find("--engine jit runs verified programs only"), std::string::npos) << checked.out;
  auto unknown = sh(kXbpf + " conformance --engine llvm " + good);
  EXPECT_EQ(unknown.code, 2) << unknown.out;
  // The plugin: same protocol on the JIT.
  auto p = sh("echo 7110010000000000 9500000000000000 | " + kPlugin + " --engine jit 'aa bb'");
  EXPECT_EQ(p.code, 0);
  EXPECT_EQ(p.out, "bb\n");
}

TEST(Cli, ConformancePluginProtocol) {
  // ldxb %r0, [%r1+1]; exit — memory "aa bb" gives 0xbb.
  auto r = sh("echo 7110010000000000 9500000000000000 | " + kPlugin + " 'aa bb'");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "bb\n");
  auto bad = sh("echo 71100100000000 | " + kPlugin);
  EXPECT_EQ(bad.code, 1);
  auto oob = sh("echo 7110100000000000 9500000000000000 | " + kPlugin + " 'aa bb'");
  EXPECT_EQ(oob.code, 1);
  EXPECT_NE(oob.out.find("invalid memory access"), std::string::npos) << oob.out;
}

TEST(Cli, ConformancePluginElf) {
  auto src = temp_file("ret42.c", "int f(void) { return 42; }\n");
  auto obj = ::testing::TempDir() + "/xbpf_cli_ret42.o";
  if (sh("clang -O2 -target bpf -c " + src + " -o " + obj).code != 0)
    GTEST_SKIP() << "CLANG WITH THE BPF TARGET IS MISSING: the --elf plugin path was NOT tested";
  auto hex = sh("xxd -p " + obj + " | tr -d '\\n' | " + kPlugin + " --elf");
  EXPECT_EQ(hex.code, 0) << hex.out;
  EXPECT_EQ(hex.out, "2a\n");
  auto raw = sh(kPlugin + " --elf < " + obj);
  EXPECT_EQ(raw.out, "2a\n");
}

}  // namespace
