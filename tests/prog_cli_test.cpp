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

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

namespace fs = std::filesystem;
using xbpf::test::run_xbpf;

const std::string& kXbpfPath() { return xbpf::test::kXbpf; }

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
  const xbpf::test::CliCase cases[] = {
      {"prog run " + kObjects + "/rt_xdp.o", 1, "2 programs (xdp_parse, xdp_adjust); choose one with --program"},
      {"prog run " + kObjects + "/rt_xdp.o --program nosuch", 1, "no program or section named 'nosuch'"},
      {"prog run /nonexistent.o", 1, "/nonexistent.o"},
      {"prog run " + kObjects + "/rt_xdp.o --program xdp_parse --data-in /nonexistent.bin", 1, "/nonexistent.bin"},
      {"prog run " + kObjects + "/rt_xdp.o --program xdp_parse --type nosuchtype", 1, "unknown program type 'nosuchtype'"},
      {"prog run " + kObjects + "/rt_xdp.o --repeat 0", 2, "repeat"},
      {"prog frobnicate", 2, "frobnicate"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return run_xbpf(args + store(), err); });
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

// bpftool's workflow across processes: `prog load` in one process, then
// `prog show`, `prog run`, `prog dump` and `map dump` in others; `rm` of the
// pin releases the program and whatever only it held.
TEST_F(ProgCli, LoadedProgramsAreSharedThroughTheStore) {
  const std::string obj = kObjects + "/rt_xdp.o";
  auto r = run_xbpf("prog load " + obj + " demo/xdp pinmaps demo/maps" + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "");  // like bpftool: silent on success
  r = run_xbpf("prog show" + store(), false);
  ASSERT_EQ(r.code, 0) << r.out;
  // Only the first program is pinned; the second went with the loading process.
  EXPECT_NE(r.out.find(": xdp  name xdp_parse  tag "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("xdp_adjust"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  gpl\n\tloaded_at "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("B  jited "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\tpinned demo/xdp\n"), std::string::npos) << r.out;
  r = run_xbpf("-j prog show pinned demo/xdp" + store(), false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  // Members in bpftool's order, not sorted.
  EXPECT_EQ(r.out.rfind("{\"id\":", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(",\"type\":\"xdp\",\"name\":\"xdp_parse\",\"tag\":"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("\"bytes_xlated\""), r.out.find("\"bytes_jited\"")) << r.out;
  EXPECT_LT(r.out.find("\"map_ids\""), r.out.find("\"pinned\"")) << r.out;
  EXPECT_EQ(j["name"], "xdp_parse");
  EXPECT_EQ(j["type"], "xdp");
  EXPECT_EQ(j["gpl_compatible"], true);
  EXPECT_EQ(j["jited"], true);
  EXPECT_EQ(j["map_ids"].size(), 2u);
  EXPECT_GT(j["btf_id"].get<int>(), 0);
  EXPECT_GT(j["verified_insns"].get<int>(), 0);
  const std::string id = std::to_string(j["id"].get<int>());
  const std::string tag = j["tag"];
  r = run_xbpf("prog show tag " + tag + store(), false);
  EXPECT_NE(r.out.find(id + ": xdp  name xdp_parse"), std::string::npos) << r.out;
  // Another process runs it: TCP from 10.0.0.1 to port 0 passes (2), and the
  // map the loader created counts it.
  r = run_xbpf("prog run pinned demo/xdp data_in " + (dir_ / "pkt.bin").string() + " repeat 10 data_out -" + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Return value: 2, duration (average): "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ff ff ff ff ff ff 02 00 00 00 00 01 08 00 45 00"), std::string::npos) << r.out;
  r = run_xbpf("map dump pinned demo/maps/by_src" + store());
  EXPECT_NE(r.out.find("\"packets\": 10,"), std::string::npos) << r.out;
  r = run_xbpf("prog run id " + id + " pcap " + (dir_ / "t.pcap").string() + store());
  EXPECT_NE(r.out.find("Packets: 10\n"), std::string::npos) << r.out;
  // Dumps of the stored program: source lines from its BTF, maps by id.
  r = run_xbpf("prog dump xlated name xdp_parse linum" + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("r1 = map[id:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rt_xdp.c line_num:"), std::string::npos) << r.out;
  r = run_xbpf("prog dump jited id " + id + " opcodes" + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("; entry stub"), std::string::npos) << r.out;
  r = run_xbpf("prog dump xlated id " + id + " file " + (dir_ / "x.bin").string() + store());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(fs::file_size(dir_ / "x.bin"), j["bytes_xlated"].get<size_t>());
  // A second name; then `rm` of both pins releases the program (not its pinned maps).
  ASSERT_EQ(run_xbpf("prog pin id " + id + " other/name" + store()).code, 0);
  r = run_xbpf("prog show id " + id + store());
  EXPECT_NE(r.out.find("\tpinned demo/xdp\n\tpinned other/name\n"), std::string::npos) << r.out;
  fs::remove(dir_ / "store/pins/demo/xdp");
  fs::remove(dir_ / "store/pins/other/name");
  r = run_xbpf("prog show" + store());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "");
  r = run_xbpf("map dump pinned demo/maps/by_src" + store());
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* m : {"verdicts", "by_src", "adjust_results"}) fs::remove(dir_ / "store/pins/demo/maps" / m);
  EXPECT_EQ(run_xbpf("map show" + store()).out, "");
  EXPECT_EQ(run_xbpf("btf list" + store()).out, "");
}

TEST_F(ProgCli, LoadallPinsEveryProgram) {
  const std::string obj = kObjects + "/rt_xdp.o";
  ASSERT_EQ(run_xbpf("prog loadall " + obj + " all" + store()).code, 0);
  auto r = run_xbpf("-j prog show" + store(), false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << r.out;
  EXPECT_EQ(j[0]["pinned"][0], "all/xdp_parse");
  EXPECT_EQ(j[1]["pinned"][0], "all/xdp_adjust");
  // Loaded twice, a name matches two programs: show lists both, run refuses.
  ASSERT_EQ(run_xbpf("prog loadall " + obj + " again" + store()).code, 0);
  r = run_xbpf("-j prog show name xdp_parse" + store(), false);
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 2u) << r.out;
  r = run_xbpf("prog run name xdp_parse data_in " + (dir_ / "pkt.bin").string() + store());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("xbpf: prog run: 2 programs match: use id"), std::string::npos) << r.out;
}

// Loading shows which program is being verified on a terminal, nothing when piped.
TEST_F(ProgCli, ProgressOnlyOnATerminal) {
  const std::string cmd = kXbpfPath() + " prog load " + kObjects + "/rt_xdp.o p" + store();
  auto piped = xbpf::test::run_shell(cmd);
  EXPECT_EQ(piped.code, 0) << piped.out;
  EXPECT_EQ(piped.out.find('\r'), std::string::npos) << piped.out;
  fs::remove(dir_ / "store/pins/p");
  auto tty = xbpf::test::run_shell("script -qec '" + cmd + "' /dev/null");
  EXPECT_EQ(tty.code, 0) << tty.out;
  EXPECT_NE(tty.out.find("verifying program 1/2: xdp_parse"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\r\033[K"), std::string::npos) << tty.out;
}

TEST_F(ProgCli, StoreVerbErrorsNameTheProblem) {
  const std::string obj = kObjects + "/rt_xdp.o";
  ASSERT_EQ(run_xbpf("prog load " + obj + " taken pinmaps m" + store()).code, 0);
  auto ids = nlohmann::json::parse(run_xbpf("-j prog show" + store(), false).out);
  const std::string id = std::to_string(ids[0]["id"].get<int>());
  const std::string pkt = (dir_ / "pkt.bin").string();
  const xbpf::test::CliCase cases[] = {
      {"prog show id 999", 1, "xbpf: prog show: prog 999: no such program in store"},
      {"prog show id x", 1, "xbpf: prog show: can't parse program id 'x'"},
      {"prog show name nosuch", 1, "xbpf: prog show: no program with name 'nosuch'"},
      {"prog show bogus 1", 1, "expected 'id', 'pinned', 'name' or 'tag', got 'bogus'"},
      {"prog show id", 1, "id argument expected"},
      {"prog show id " + id + " extra", 1, "unexpected argument 'extra'"},
      {"prog run pinned nosuch data_in " + pkt, 1, "xbpf: prog run: pin 'nosuch': not pinned"},
      {"prog run pinned m/verdicts data_in " + pkt, 1, "pinned object 'm/verdicts' is not a program"},
      {"prog run pinned ../x data_in " + pkt, 1, "pin '../x': bad pin name"},
      {"prog run id " + id + " data_in /nonexistent.bin", 1, "/nonexistent.bin"},
      {"prog run id " + id + " repeat 0 data_in " + pkt, 1, "repeat must be 1.."},
      {"prog run id " + id + " frobnicate 1", 1, "unexpected argument 'frobnicate'"},
      {"prog run id " + id + " data_in", 1, "data_in argument expected"},
      {"prog run id " + id + " data_in " + pkt + " data_in " + pkt, 1, "'data_in' given twice"},
      {"prog run id " + id + " data_in " + pkt + " data_size_out 4", 1, "do not fit data_size_out 4"},
      {"prog run id " + id, 1, "xdp data must be"},
      {"prog dump xlated id " + id + " bogus", 1, "unexpected argument 'bogus' (expected file, opcodes or linum)"},
      {"prog dump jited id 999", 1, "prog 999: no such program"},
      {"prog pin id " + id, 1, "PATH expected"},
      {"prog pin id " + id + " taken", 1, "xbpf: prog pin: pin 'taken': name already pinned (File exists)"},
      {"prog load " + obj, 1, "PATH (a pin name) expected"},
      {"prog load /nonexistent.o p", 1, "/nonexistent.o"},
      {"prog load " + obj + " p type nosuch", 1, "unknown program type 'nosuch'"},
      {"prog load " + obj + " p bogus", 1, "unexpected argument 'bogus' (expected type or pinmaps)"},
      {"prog load " + obj + " p map idx 0 id 1", 1, "'map' is not supported by xbpf"},
      {"prog load " + obj + " taken", 1, "pin 'taken': name already pinned"},
      {"prog load " + obj + " q pinmaps m", 1, "xbpf: prog load: pin 'm/"},
      {"prog load " + kObjects + "/vf_reject.o r", 1, "rejected by the verifier"},
      {"prog frobnicate", 2, "frobnicate"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return run_xbpf(args + store(), err); });
  // Failed loads left nothing: still one program, and no pins p, q, r.
  EXPECT_EQ(nlohmann::json::parse(run_xbpf("-j prog show" + store(), false).out).size(), 1u);
  EXPECT_FALSE(fs::exists(dir_ / "store/pins/q"));
  EXPECT_FALSE(fs::exists(dir_ / "store/pins/p"));
}

}  // namespace
