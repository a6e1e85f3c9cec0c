// `xbpf prog run`, `xbpf prog dump` and `xbpf prog tracelog` driven like a
// user: a test run on a packet on each engine, a pcap, pinned maps read back by
// `xbpf map`, xlated and jited dumps, and the error paths.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_run.hpp"

namespace fs = std::filesystem;
using xbpf::test::run_xbpf;

namespace {

const std::string kObjects = XBPF_TEST_OBJECTS_DIR;

// Ethernet + IPv4 (protocol `proto`, source 10.0.0.`src`) + 20 zero bytes.
std::vector<uint8_t> packet(uint8_t proto, uint8_t src) {
  std::vector<uint8_t> p = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                            0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, src, 10, 0, 0, 2};
  p.resize(p.size() + 20, 0);
  return p;
}

template <class T>
void put(std::ofstream& o, T v) {
  o.write(reinterpret_cast<const char*>(&v), sizeof v);
}

class ProgCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xbpf-prog-cli-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "pkt.bin", std::ios::binary).write(reinterpret_cast<const char*>(packet(6, 1).data()), 54);
    std::ofstream pc(dir_ / "t.pcap", std::ios::binary);
    put<uint32_t>(pc, 0xa1b2c3d4), put<uint16_t>(pc, 2), put<uint16_t>(pc, 4), put<int32_t>(pc, 0);
    put<uint32_t>(pc, 0), put<uint32_t>(pc, 65535), put<uint32_t>(pc, 1);
    for (uint32_t k = 0; k < 10; ++k) {
      auto p = packet(k % 2 ? 6 : 17, static_cast<uint8_t>(1 + k % 3));
      put<uint32_t>(pc, k), put<uint32_t>(pc, 0), put<uint32_t>(pc, 54), put<uint32_t>(pc, 54);
      pc.write(reinterpret_cast<const char*>(p.data()), 54);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string store() const { return " --store " + (dir_ / "store").string(); }
  fs::path dir_;
};

TEST_F(ProgCli, RunsAnXdpProgramOnAPacket) {
  auto r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --data-in " + (dir_ / "pkt.bin").string() +
                    " --repeat 100 --data-out -" + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("Return value: 2, duration (average): ", 0), 0u) << r.out;  // XDP_PASS
  EXPECT_NE(r.out.find("ff ff ff ff ff ff 02 00 00 00 00 01 08 00 45 00"), std::string::npos) << r.out;
}

TEST_F(ProgCli, VerifiedModeRunsWhatTheVerifierAccepts) {
  auto r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --mode verified --data-in " +
                    (dir_ / "pkt.bin").string() + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("Return value: 2, duration: ", 0), 0u) << r.out;
  r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --mode trusting" + store());
  EXPECT_EQ(r.code, 2) << r.out;
}

// The same run on each engine; checked mode cannot run on the JIT.
TEST_F(ProgCli, EveryEngineGivesTheSameResult) {
  for (const char* engine : {"auto", "jit", "interpreter", "jit --blind-constants"}) {
    auto r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --engine " + engine + " --pcap " +
                      (dir_ / "t.pcap").string() + store());
    ASSERT_EQ(r.code, 0) << engine << "\n" << r.out;
    EXPECT_NE(r.out.find("Packets: 10\nReturn value 2: 10\n"), std::string::npos) << engine << "\n" << r.out;
  }
  auto r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --mode checked --engine jit" + store());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("the JIT runs verified programs only"), std::string::npos) << r.out;
  r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --engine llvm" + store());
  EXPECT_EQ(r.code, 2) << r.out;
}

// bpftool's `prog dump xlated`: relocated instructions, maps by id, helpers by
// name, BTF source lines (with file/line/column under --linum), bytes under --opcodes.
TEST_F(ProgCli, DumpXlatedShowsRelocatedCodeAndSource) {
  auto r = run_xbpf("prog dump xlated " + kObjects + "/rt_xdp.o --program xdp_parse");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("xdp_parse:\n; void *data = (void *)(long)ctx->data", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("   0: (61) r7 = *(u32 *)(r1 + 4)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": (18) r1 = map[id:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": (85) call bpf_map_lookup_elem#1\n"), std::string::npos) << r.out;
  auto l = run_xbpf("prog dump xlated " + kObjects + "/rt_xdp.o --program xdp_parse --linum --opcodes");
  ASSERT_EQ(l.code, 0) << l.out;
  EXPECT_NE(l.out.find("rt_xdp.c line_num:47 line_col:"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("   0: (61) r7 = *(u32 *)(r1 + 4)\n       61 17 04 00 00 00 00 00\n"), std::string::npos)
      << l.out;
  // Without --program: every program of the object.
  auto all = run_xbpf("prog dump xlated " + kObjects + "/rt_xdp.o");
  ASSERT_EQ(all.code, 0) << all.out;
  EXPECT_NE(all.out.find("\nxdp_adjust:\n"), std::string::npos) << all.out;
}

// `prog dump jited`: each BPF instruction (as a comment) followed by its x86-64 code.
TEST_F(ProgCli, DumpJitedInterleavesBpfAndNativeCode) {
  auto r = run_xbpf("prog dump jited " + kObjects + "/rt_xdp.o --program xdp_parse --opcodes");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("xdp_parse:\n; void *data"), std::string::npos) << r.out;
  // r7 = *(u32 *)(r1 + 4) is r13d <- [rdi + 4] in the kernel's register mapping.
  EXPECT_NE(r.out.find(";    0: (61) r7 = *(u32 *)(r1 + 4)\n;        61 17 04 00 00 00 00 00\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("448b6f04               mov r13d, dword ptr [rdi + 4]\n"), std::string::npos) << r.out;
  // Errors: unknown program, a program the verifier refuses (nothing to compile), missing verb.
  auto e = run_xbpf("prog dump jited " + kObjects + "/rt_xdp.o --program nosuch");
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.out.find("no program or section named 'nosuch'"), std::string::npos) << e.out;
  e = run_xbpf("prog dump jited " + kObjects + "/rt_trace.o");
  EXPECT_EQ(e.code, 1);
  EXPECT_NE(e.out.find("rejected by the verifier"), std::string::npos) << e.out;
  e = run_xbpf("prog dump");
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.out.find("xbpf: prog dump: a command is required (try 'xbpf prog dump --help')"), std::string::npos)
      << e.out;
}

TEST_F(ProgCli, PcapCountsVerdictsAndPinnedMapsOutliveTheRun) {
  auto r = run_xbpf("prog run " + kObjects + "/rt_xdp.o --program xdp_parse --pcap " + (dir_ / "t.pcap").string() +
                    " --pinmaps demo" + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Packets: 10\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Return value 2: 10\n"), std::string::npos) << r.out;
  // The by_src hash map counted packets per source address: 4 + 3 + 3. It has
  // BTF, so it prints as bpftool does (keys: the __u32 read from 10.0.0.N).
  r = run_xbpf("map -j dump pinned demo/by_src" + store(), false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("{\"key\":[\"0x0a\",\"0x00\",\"0x00\",\"0x01\"],\"value\":[\"0x04\",\"0x00\""),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("{\"key\":[\"0x0a\",\"0x00\",\"0x00\",\"0x02\"],\"value\":[\"0x03\",\"0x00\""),
            std::string::npos)
      << r.out;
  size_t entries = 0;  // three sources, each with its typed form
  for (size_t at = 0; (at = r.out.find("\"formatted\":{\"key\":", at)) != std::string::npos; ++at) ++entries;
  EXPECT_EQ(entries, 3u) << r.out;
  r = run_xbpf("map dump pinned demo/by_src" + store());
  EXPECT_NE(r.out.find("\"key\": 16777226,\n        \"value\": {\n            \"packets\": 4,"), std::string::npos)
      << r.out;
}

TEST_F(ProgCli, ErrorsNameTheProblem) {
  struct Case {
    std::string args;
    int code;
    std::string text;
  };
  const Case cases[] = {
      {"prog run " + kObjects + "/rt_xdp.o", 1, "2 programs (xdp_parse, xdp_adjust); choose one with --program"},
      {"prog run " + kObjects + "/rt_xdp.o --program nosuch", 1, "no program or section named 'nosuch'"},
      {"prog run /nonexistent.o", 1, "/nonexistent.o"},
      {"prog run " + kObjects + "/rt_xdp.o --program xdp_parse --data-in /nonexistent.bin", 1, "/nonexistent.bin"},
      {"prog run " + kObjects + "/rt_xdp.o --program xdp_parse --type nosuchtype", 1, "unknown program type 'nosuchtype'"},
      {"prog run " + kObjects + "/rt_xdp.o --repeat 0", 2, "repeat"},
      {"prog frobnicate", 2, "frobnicate"},
  };
  for (const auto& c : cases) {
    auto r = run_xbpf(c.args + store());
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.text), std::string::npos) << c.args << ": expected '" << c.text << "' in\n" << r.out;
  }
}

TEST_F(ProgCli, TracelogShowsWhatProgramsPrinted) {
  auto r = run_xbpf("prog tracelog" + store());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  // A raw tracepoint whose first argument is 42.
  std::vector<uint8_t> args(8, 0);
  args[0] = 42;
  std::ofstream(dir_ / "args.bin", std::ios::binary).write(reinterpret_cast<const char*>(args.data()), 8);
  r = run_xbpf("prog run " + kObjects + "/rt_printk.o --ctx-in " + (dir_ / "args.bin").string() + store());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_xbpf("prog tracelog" + store());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("bpf_trace_printk: say 42\n"), std::string::npos) << r.out;
}

}  // namespace
