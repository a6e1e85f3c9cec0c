// `xbpf map ...` driven like a user, each command a separate process on one
// store: what one invocation writes, the next one sees. Maps with BTF (left by
// `prog run --pinmaps`) print their entries through it, as bpftool does.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"
#include "maps/map.hpp"
#include "maps/store.hpp"

namespace fs = std::filesystem;

namespace {

class MapCli : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = fs::path("/dev/shm") / ("xbpf-map-cli-" + std::to_string(getpid()) + "-" +
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(store_);
  }
  void TearDown() override {
    fs::remove_all(store_);
    fs::remove(store_.string() + ".pkt");
  }
  // XBPF_STORE too, so that nothing can reach the user's default store.
  xbpf::test::CliResult map(const std::string& args, bool with_stderr = true) {
    return xbpf::test::run_shell("XBPF_STORE=" + store_.string() + " " + xbpf::test::kXbpf + " map --store " +
                                     store_.string() + " " + args,
                                 with_stderr);
  }
  // `xbpf ARGS` on this test's store.
  xbpf::test::CliResult run_shell_in_store(const std::string& args) {
    return xbpf::test::run_shell("XBPF_STORE=" + store_.string() + " " + xbpf::test::kXbpf + " --store " +
                                 store_.string() + " " + args);
  }
  // `prog run OBJ --program PROG`, its maps pinned under `dir`/.
  void run_and_pin(const std::string& obj, const std::string& prog, const std::string& dir) {
    const std::string pkt = store_.string() + ".pkt";
    std::ofstream(pkt, std::ios::binary) << std::string(64, '\0');
    auto r = xbpf::test::run_shell("XBPF_STORE=" + store_.string() + " " + xbpf::test::kXbpf + " prog run " +
                                   std::string(XBPF_TEST_OBJECTS_DIR) + "/" + obj + " --program " + prog +
                                   " --data-in " + pkt + " --pinmaps " + dir + " --store " + store_.string());
    ASSERT_EQ(r.code, 0) << r.out;
  }
  fs::path store_;
};

TEST_F(MapCli, CreateUpdateLookupDumpDeleteAcrossProcesses) {
  ASSERT_EQ(map("create counts type hash key 4 value 8 entries 16 name counts").code, 0);
  ASSERT_EQ(map("update pinned counts key 1 0 0 0 value 2 0 0 0 0 0 0 0").code, 0);
  ASSERT_EQ(map("update pinned counts key hex 02 00 00 00 value hex ff 0 0 0 0 0 0 1 noexist").code, 0);

  auto r = map("lookup pinned counts key 1 0 0 0");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "key: 01 00 00 00  value: 02 00 00 00 00 00 00 00\n");

  r = map("dump name counts");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("key: 01 00 00 00  value: 02 00 00 00 00 00 00 00\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key: 02 00 00 00  value: ff 00 00 00 00 00 00 01\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Found 2 elements\n"), std::string::npos) << r.out;

  r = map("show pinned counts");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(": hash  name counts  flags 0x0\n\tkey 4B  value 8B  max_entries 16"), std::string::npos)
      << r.out;

  r = map("getnext pinned counts");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("key: None\nnext key:\n", 0), 0u) << r.out;

  EXPECT_EQ(map("delete pinned counts key 1 0 0 0").code, 0);
  r = map("lookup pinned counts key 1 0 0 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not found"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No such file or directory"), std::string::npos) << r.out;
}

TEST_F(MapCli, JsonMatchesBpftoolShape) {
  ASSERT_EQ(map("create a type array key 4 value 4 entries 2 name arr").code, 0);
  ASSERT_EQ(map("update pinned a key 1 0 0 0 value 7 0 0 0").code, 0);
  auto r = map("-j show pinned a", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["type"], "array");
  EXPECT_EQ(j["name"], "arr");
  EXPECT_EQ(j["bytes_key"], 4);
  EXPECT_EQ(j["bytes_value"], 4);
  EXPECT_EQ(j["max_entries"], 2);
  EXPECT_EQ(j["frozen"], 0);
  r = map("-j dump pinned a", false);
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);  // arrays have every index
  EXPECT_EQ(j[1]["key"], nlohmann::json({"0x01", "0x00", "0x00", "0x00"}));
  EXPECT_EQ(j[1]["value"], nlohmann::json({"0x07", "0x00", "0x00", "0x00"}));
  r = map("-j list", false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(nlohmann::json::parse(r.out).is_array());
}

TEST_F(MapCli, FreezeThenUpdateIsRefused) {
  ASSERT_EQ(map("create f type array key 4 value 4 entries 1 name f").code, 0);
  ASSERT_EQ(map("freeze pinned f").code, 0);
  auto r = map("update pinned f key 0 0 0 0 value 1 0 0 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("Operation not permitted"), std::string::npos) << r.out;
  r = map("show pinned f");
  EXPECT_NE(r.out.find("\tfrozen\n"), std::string::npos) << r.out;
}

TEST_F(MapCli, ErrorPathsNameTheProblem) {
  ASSERT_EQ(map("create h type hash key 4 value 8 entries 4 name h").code, 0);
  ASSERT_EQ(map("update pinned h key 1 0 0 0 value 0 0 0 0 0 0 0 0").code, 0);
  const xbpf::test::CliCase cases[] = {
      {"lookup pinned h key 1 0 0", 1, "key expected 4 bytes got 3"},
      {"update pinned h key 1 0 0 0 value 1 0 0 0 0 0 0 0 noexist", 1, "File exists"},
      {"update pinned h key 1 0 0 0 value 1 2 3", 1, "value expected 8 bytes got 3"},
      {"lookup pinned h key 1 0 0 300", 1, "error parsing byte: 300"},
      {"lookup pinned nosuch key 1 0 0 0", 1, "nosuch"},
      {"show id 999999", 1, "No such file or directory"},
      {"dump bogus 1", 1, "expected 'id', 'pinned' or 'name'"},
      {"create x type nosuchtype key 4 value 4 entries 1 name x", 1, "unrecognized map type: nosuchtype"},
      {"create x type array key 4 value 4 name x", 1, "needs type, key, value, entries and name"},
      {"create h type array key 4 value 4 entries 1 name again", 1, "File exists"},
      {"create y type array key 8 value 4 entries 1 name y", 1, "Invalid argument"},
      {"delete pinned h", 1, "did not find key"},
      {"frobnicate", 2, "frobnicate"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return map(args, err); });
}

TEST_F(MapCli, RedirectMaps) {
  // A devmap lists its occupied entries; its flags show the kernel's added BPF_F_RDONLY_PROG.
  ASSERT_EQ(map("create d type devmap key 4 value 4 entries 4 name d").code, 0);
  ASSERT_EQ(map("update pinned d key 2 0 0 0 value 7 0 0 0").code, 0);
  auto r = map("dump pinned d");
  EXPECT_EQ(r.out, "key: 02 00 00 00  value: 07 00 00 00\nFound 1 element\n");
  r = map("show pinned d");
  EXPECT_NE(r.out.find(": devmap  name d  flags 0x80\n"), std::string::npos) << r.out;
  ASSERT_EQ(map("create c type cpumap key 4 value 8 entries 4 name c").code, 0);
  ASSERT_EQ(map("update pinned c key 0 0 0 0 value 64 0 0 0 0 0 0 0").code, 0);
  r = map("dump pinned c");
  EXPECT_EQ(r.out, "key: 00 00 00 00  value: 40 00 00 00 00 00 00 00\nFound 1 element\n");
  ASSERT_EQ(map("create h type devmap_hash key 4 value 8 entries 4 name h").code, 0);
  r = map("update pinned h key 9 0 0 0 value 3 0 0 0 5 0 0 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("map 'h': devmap programs"), std::string::npos) << r.out;
  // An xskmap's entries cannot be read from user space: each key with the error, as bpftool.
  ASSERT_EQ(map("create x type xskmap key 4 value 4 entries 2 name x").code, 0);
  r = map("update pinned x key 0 0 0 0 value 3 0 0 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no AF_XDP sockets"), std::string::npos) << r.out;
  r = map("dump pinned x");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "key: 00 00 00 00  value: <Operation not supported>\n"
                   "key: 01 00 00 00  value: <Operation not supported>\nFound 0 elements\n");
  r = map("-j dump pinned x", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["value"]["error"], "Operation not supported");
}

TEST_F(MapCli, QueuePushPop) {
  ASSERT_EQ(map("create q type queue key 0 value 4 entries 4 name q").code, 0);
  ASSERT_EQ(map("push pinned q value 1 0 0 0").code, 0);
  ASSERT_EQ(map("enqueue pinned q value 2 0 0 0").code, 0);
  auto r = map("peek pinned q");
  EXPECT_EQ(r.out, "value: 01 00 00 00\n");
  r = map("pop pinned q");
  EXPECT_EQ(r.out, "value: 01 00 00 00\n");
  r = map("dequeue pinned q");
  EXPECT_EQ(r.out, "value: 02 00 00 00\n");
  r = map("pop pinned q");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("No such file or directory"), std::string::npos) << r.out;
}

}  // namespace

namespace {

// btf_maps.o's `stats`: hash, key __u32, value struct value { __u64 packets; __u64 bytes; }.
TEST_F(MapCli, BtfStructValuesDumpAndLookupFormatted) {
  run_and_pin("btf_maps.o", "entry", "bm");
  ASSERT_EQ(map("update pinned bm/stats key 1 0 0 0 value 5 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0").code, 0);
  ASSERT_EQ(map("update pinned bm/stats key 0x2a 0 0 0 value hex ff ff ff ff ff ff ff ff 0 0 0 0 0 0 0 0").code, 0);

  auto r = map("dump pinned bm/stats");
  ASSERT_EQ(r.code, 0) << r.out;
  // bpftool's layout: a JSON-like array of {"key", "value"}, no count line.
  const std::string one =
      "{\n"
      "        \"key\": 1,\n"
      "        \"value\": {\n"
      "            \"packets\": 5,\n"
      "            \"bytes\": 256\n"
      "        }\n"
      "    }";
  const std::string big =
      "{\n"
      "        \"key\": 42,\n"
      "        \"value\": {\n"
      "            \"packets\": 18446744073709551615,\n"
      "            \"bytes\": 0\n"
      "        }\n"
      "    }";
  EXPECT_TRUE(r.out == "[" + one + "," + big + "\n]\n" || r.out == "[" + big + "," + one + "\n]\n") << r.out;

  r = map("lookup pinned bm/stats key 1 0 0 0");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out,
            "{\n"
            "    \"key\": 1,\n"
            "    \"value\": {\n"
            "        \"packets\": 5,\n"
            "        \"bytes\": 256\n"
            "    }\n"
            "}\n");

  r = map("getnext pinned bm/stats");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("\\{\n    \"key\": null,\n    \"next_key\": (1|42)\n\\}\n"))) << r.out;

  // show: btf_id on the last line, next to frozen.
  r = map("show pinned bm/stats");
  ASSERT_EQ(r.code, 0) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\n\tbtf_id (\\d+)\n$"))) << r.out;
  const std::string btf_id = m[1];
  auto j = nlohmann::json::parse(map("-j show pinned bm/stats", false).out);
  EXPECT_EQ(std::to_string(j["btf_id"].get<uint32_t>()), btf_id);
  ASSERT_EQ(map("freeze pinned bm/stats").code, 0);
  r = map("show pinned bm/stats");
  EXPECT_NE(r.out.find("\n\tbtf_id " + btf_id + "  frozen\n"), std::string::npos) << r.out;

  // An empty map with BTF: an empty array.
  r = map("dump pinned bm/inner_a");  // array: one entry, zero
  EXPECT_EQ(r.out, "[{\n        \"key\": 0,\n        \"value\": 0\n    }\n]\n") << r.out;
}

// An xskmap with BTF: its entries cannot be read from user space, and the
// BTF layout lists each key with the lookup's error too (as bpftool's
// print_entry_error), before its array; it skipped them silently before.
TEST_F(MapCli, BtfXskmapDumpListsUnreadableKeys) {
  run_and_pin("xsk_btf.o", "entry", "xk");
  auto r = map("dump pinned xk/xsks");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "key: 00 00 00 00  value: <Operation not supported>\n"
                   "key: 01 00 00 00  value: <Operation not supported>\n[]\n");
}

TEST_F(MapCli, BtfJsonHasFormattedNextToTheRawBytes) {
  run_and_pin("btf_maps.o", "entry", "bm");
  ASSERT_EQ(map("update pinned bm/stats key 7 0 0 0 value 3 0 0 0 0 0 0 0 4 0 0 0 0 0 0 0").code, 0);
  auto r = map("-j dump pinned bm/stats", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u) << r.out;
  EXPECT_EQ(j[0]["key"], nlohmann::json({"0x07", "0x00", "0x00", "0x00"}));
  EXPECT_EQ(j[0]["value"].size(), 16u);
  EXPECT_EQ(j[0]["formatted"], nlohmann::json::parse(R"({"key": 7, "value": {"packets": 3, "bytes": 4}})"));
  // bpftool's member order: key, value, formatted; struct fields as declared.
  EXPECT_EQ(r.out.rfind("[{\"key\":[", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\"formatted\":{\"key\":7,\"value\":{\"packets\":3,\"bytes\":4}}"), std::string::npos) << r.out;

  r = map("-p lookup pinned bm/stats key 7 0 0 0", false);
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["formatted"]["value"]["bytes"], 4);
  EXPECT_NE(r.out.find("\n    \"formatted\": {\n        \"key\": 7,"), std::string::npos) << r.out;

  r = map("-j getnext pinned bm/stats", false);
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["key"].is_null());
  EXPECT_EQ(j["next_key"], nlohmann::json({"0x07", "0x00", "0x00", "0x00"}));
  EXPECT_EQ(j["formatted"], nlohmann::json::parse(R"({"key": null, "next_key": 7})"));
}

// Per-CPU maps: "values": [{"cpu": N, "value": ..}] for every possible CPU.
TEST_F(MapCli, BtfPerCpuValues) {
  run_and_pin("rt_array.o", "percpu_get", "ra");
  ASSERT_EQ(map("update pinned ra/per_cpu key 2 0 0 0 value 9 0 0 0 0 0 0 0").code, 0);
  auto r = map("lookup pinned ra/per_cpu key 2 0 0 0");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string want = "{\n    \"key\": 2,\n    \"values\": [";
  for (uint32_t cpu = 0; cpu < xbpf::maps::possible_cpus(); ++cpu)
    want += std::string(cpu ? "," : "") + "{\n            \"cpu\": " + std::to_string(cpu) +
            ",\n            \"value\": 9\n        }";
  want += "\n    ]\n}\n";
  EXPECT_EQ(r.out, want);
  auto j = nlohmann::json::parse(map("-j lookup pinned ra/per_cpu key 2 0 0 0", false).out);
  ASSERT_EQ(j["values"].size(), xbpf::maps::possible_cpus());
  ASSERT_EQ(j["formatted"]["values"].size(), xbpf::maps::possible_cpus());
  EXPECT_EQ(j["formatted"]["values"][0], nlohmann::json::parse(R"({"cpu": 0, "value": 9})"));
  EXPECT_EQ(j["formatted"]["key"], 2);
}

// Global data: the value is the section's DATASEC, printed variable by variable.
TEST_F(MapCli, BtfGlobalDataSection) {
  run_and_pin("global_data.o", "use_globals", "gd");
  auto r = map("dump name global_d.data");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"value\": {\n            \".data\": [{\n                    \"counter\": "), std::string::npos)
      << r.out;
  r = map("-j dump name global_d.data", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_TRUE(j[0]["formatted"]["value"][".data"].is_array()) << r.out;
  r = map("dump name .rodata.table");
  if (r.code == 0) {  // the map's name as the loader shortens it
    EXPECT_NE(r.out.find("\"table\": [7,9,11\n"), std::string::npos) << r.out;
  }
}

// Maps without BTF keep the hex layout (checked above); a map the user created
// has no btf_id line.
TEST_F(MapCli, NoBtfNoBtfIdLine) {
  ASSERT_EQ(map("create a type array key 4 value 4 entries 1 name a").code, 0);
  auto r = map("show pinned a");
  EXPECT_EQ(r.out.find("btf_id"), std::string::npos) << r.out;
  EXPECT_FALSE(nlohmann::json::parse(map("-j show pinned a", false).out).contains("btf_id"));
  EXPECT_EQ(map("dump pinned a").out, "key: 00 00 00 00  value: 00 00 00 00\nFound 1 element\n");
}

// Every error path of the map verbs: exit code, one line on stderr naming the
// command ("xbpf: map VERB: ...").
TEST_F(MapCli, EveryErrorPath) {
  ASSERT_EQ(map("create h type hash key 4 value 8 entries 4 name h").code, 0);
  ASSERT_EQ(map("update pinned h key 1 0 0 0 value 0 0 0 0 0 0 0 0").code, 0);
  ASSERT_EQ(map("create q type queue key 0 value 4 entries 2 name q").code, 0);
  ASSERT_EQ(map("create f type array key 4 value 4 entries 1 name f").code, 0);
  ASSERT_EQ(map("freeze pinned f").code, 0);
  {  // a pinned program (no `prog load` in the CLI yet): a bare record
    auto s = xbpf::maps::Store::open(store_.string());
    ASSERT_TRUE(s);
    xbpf::maps::ProgramRecord rec;
    rec.name = "p";
    rec.prog_type = 1;
    rec.tag = "0123456789abcdef";
    rec.insns = {0x00000000000000b7ull, 0x0000000000000095ull};
    auto id = (*s)->add_program(rec);
    ASSERT_TRUE(id) << id.error().message;
    ASSERT_TRUE((*s)->pin(xbpf::maps::ObjectKind::Program, *id, "prog"));
  }
  const xbpf::test::CliCase cases[] = {
      // unknown id, missing pin, a pin naming a program, an unknown name
      {"lookup id 999999 key 1 0 0 0", 1, "xbpf: map lookup: "},
      {"dump id 999999", 1, "No such file or directory"},
      {"dump pinned nosuch", 1, "xbpf: map dump: "},
      {"dump pinned nosuch", 1, "No such file or directory"},
      {"dump pinned prog", 1, "xbpf: map dump: pinned object 'prog' is not a map"},
      {"show name nosuch", 1, "xbpf: map show: no map named 'nosuch' (No such file or directory)"},
      // sizes and bytes
      {"lookup pinned h key 1 0 0", 1, "xbpf: map lookup: key expected 4 bytes got 3"},
      {"update pinned h key 1 0 0 0 0 value 0 0 0 0 0 0 0 0", 1, "xbpf: map update: key expected 4 bytes got 5"},
      {"update pinned h key 1 0 0 0 value 1 2 3", 1, "xbpf: map update: value expected 8 bytes got 3"},
      {"lookup pinned h key 1 0 0 x", 1, "xbpf: map lookup: error parsing byte: x"},
      {"lookup pinned h key hex 1 0 0 zz", 1, "error parsing byte: zz"},
      {"lookup pinned h key 1 0 0 -1", 1, "error parsing byte: -1"},
      {"delete pinned h key 256 0 0 0", 1, "xbpf: map delete: error parsing byte: 256"},
      {"push pinned q value 1 2 3 4 5", 1, "xbpf: map push: value expected 4 bytes got 5"},
      // bad numbers (map verbs take no JSON input: numbers are the only parsed values)
      {"dump id abc", 1, "xbpf: map dump: can't parse map id 'abc'"},
      {"dump id -1", 1, "can't parse map id '-1'"},
      {"create x type hash key four value 4 entries 1 name x", 1, "xbpf: map create: can't parse key 'four'"},
      {"create x type hash key 4 value 4 entries 99999999999 name x", 1, "entries 99999999999 is too large"},
      {"update pinned h key 1 0 0 0 value id abc", 1, "xbpf: map update: can't parse id 'abc'"},
      {"update pinned h key 1 0 0 0 value id 3", 1, "value is an id but the map's values are 8 bytes"},
      // missing arguments
      {"dump", 1, "xbpf: map dump: MAP (id ID | pinned PIN | name NAME) expected"},
      {"lookup pinned", 1, "xbpf: map lookup: pinned argument expected"},
      {"lookup pinned h", 1, "xbpf: map lookup: did not find key"},
      {"update pinned h key 1 0 0 0", 1, "xbpf: map update: did not find value"},
      {"push pinned q", 1, "xbpf: map push: did not find value"},
      {"pin pinned h", 1, "xbpf: map pin: PIN expected"},
      {"create", 1, "xbpf: map create: PIN expected"},
      {"create x type", 1, "xbpf: map create: type argument expected"},
      {"create x type hash key 4 value 4 entries 1 name x bogus 1", 1, "unknown arg bogus"},
      // unexpected extra arguments
      {"dump pinned h extra", 1, "xbpf: map dump: unexpected argument 'extra'"},
      {"show pinned h extra", 1, "xbpf: map show: unexpected argument 'extra'"},
      {"lookup pinned h key 1 0 0 0 value 1", 1, "xbpf: map lookup: unexpected argument 'value'"},
      {"freeze pinned h now", 1, "xbpf: map freeze: unexpected argument 'now'"},
      {"pop pinned q q", 1, "xbpf: map pop: unexpected argument 'q'"},
      // the map refuses
      {"update pinned f key 0 0 0 0 value 1 0 0 0", 1, "xbpf: map update: "},
      {"update pinned f key 0 0 0 0 value 1 0 0 0", 1, "Operation not permitted"},
      {"pop pinned q", 1, "xbpf: map pop: empty map (No such file or directory)"},
      {"peek pinned q", 1, "xbpf: map peek: empty map (No such file or directory)"},
      {"lookup pinned h key 9 0 0 0", 1, "xbpf: map lookup: key 09 00 00 00: not found (No such file or directory)"},
      {"delete pinned h key 9 0 0 0", 1, "xbpf: map delete: "},
      {"pin pinned h h", 1, "File exists"},
      // unknown verb, no verb
      {"frobnicate", 2, "xbpf: map: unknown command 'frobnicate'"},
      {"", 2, "xbpf: map: a command is required"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return map(args, err); });
}

}  // namespace

namespace {

// A queue whose values have a BTF type (made through the store's API: no
// object in tests/objects declares one): pop and peek print {"value": ..}.
TEST_F(MapCli, BtfQueuePopAndPeek) {
  run_and_pin("rt_array.o", "percpu_get", "ra");  // leaves BTF with a __u64
  auto r = run_shell_in_store("btf dump map pinned ra/per_cpu value");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(^\[(\d+)\] TYPEDEF '__u64')"))) << r.out;
  auto j = nlohmann::json::parse(map("-j show pinned ra/per_cpu", false).out);
  {
    auto s = xbpf::maps::Store::open(store_.string());
    ASSERT_TRUE(s);
    xbpf::maps::MapAttr attr;
    attr.type = *xbpf::kabi::map_type_from_name("queue");
    attr.value_size = 8;
    attr.max_entries = 4;
    attr.name = "bq";
    attr.btf_id = j["btf_id"].get<uint32_t>();
    attr.btf_value_type_id = static_cast<uint32_t>(std::stoul(m[1]));
    auto q = (*s)->create_map(attr);
    ASSERT_TRUE(q) << q.error().message;
    ASSERT_TRUE((*s)->pin(xbpf::maps::ObjectKind::Map, (*q)->id(), "bq"));
  }
  ASSERT_EQ(map("push pinned bq value 7 0 0 0 0 0 0 0").code, 0);
  ASSERT_EQ(map("push pinned bq value 0 1 0 0 0 0 0 0").code, 0);
  r = map("peek pinned bq");
  EXPECT_EQ(r.out, "{\n    \"value\": 7\n}\n");
  r = map("-j pop pinned bq", false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out),
            nlohmann::json::parse(R"({"value": ["0x07","0x00","0x00","0x00","0x00","0x00","0x00","0x00"],
                                      "formatted": {"value": 7}})"));
  r = map("dequeue pinned bq");
  EXPECT_EQ(r.out, "{\n    \"value\": 256\n}\n");
  r = map("pop pinned bq");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "xbpf: map pop: empty map (No such file or directory)\n");
}

}  // namespace
