// `xbpf btf show|list` and `xbpf btf dump id|map|prog` driven like a user, on
// the BTF objects a loaded object leaves in the store; every error path with
// its exit code and message.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_run.hpp"
#include "maps/store.hpp"
#include "xbpf/xbpf.hpp"

namespace fs = std::filesystem;
using xbpf::test::CliResult;

namespace {

const std::string kObjects = XBPF_TEST_OBJECTS_DIR;

class BtfCli : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = fs::path("/dev/shm") / ("xbpf-btf-cli-" + std::to_string(getpid()) + "-" +
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(store_);
  }
  void TearDown() override {
    fs::remove_all(store_);
    fs::remove(packet());
  }
  // The store given as bpftool's global option, before the command (and in
  // XBPF_STORE, so that nothing reaches the user's default store).
  CliResult x(const std::string& args, bool with_stderr = true) {
    return xbpf::test::run_shell("XBPF_STORE=" + store_.string() + " " + xbpf::test::kXbpf + " --store " +
                                     store_.string() + " " + args,
                                 with_stderr);
  }
  fs::path packet() const { return store_.string() + ".pkt"; }
  // Runs btf_maps.o's `entry` once on a zero packet with its maps pinned under bm/.
  void load_btf_maps() {
    std::ofstream(packet(), std::ios::binary) << std::string(64, '\0');
    auto r = x("prog run " + kObjects + "/btf_maps.o --program entry --data-in " + packet().string() +
               " --pinmaps bm --store " + store_.string());
    ASSERT_EQ(r.code, 0) << r.out;
  }
  // Loads `obj` in this process and pins program `prog` as `pin`, so that it
  // outlives this process (through the public API, not `xbpf prog load`).
  void pin_program(const std::string& obj, const std::string& prog, const std::string& pin, uint32_t* id = nullptr) {
    auto store = xbpf::Store::open(store_.string());
    ASSERT_TRUE(store) << store.error().message;
    auto o = xbpf::Object::open(kObjects + "/" + obj);
    ASSERT_TRUE(o) << o.error().message;
    auto loaded = o->load(*store);
    ASSERT_TRUE(loaded) << loaded.error().message;
    auto p = o->program(prog);
    ASSERT_TRUE(p) << p.error().message;
    auto s = xbpf::maps::Store::open(store_.string());
    ASSERT_TRUE(s);
    auto r = (*s)->pin(xbpf::maps::ObjectKind::Program, p->id(), pin);
    ASSERT_TRUE(r) << r.error().message;
    if (id) *id = p->id();
  }
  // The id of the only BTF object of the store.
  uint32_t only_btf_id() {
    auto r = x("-j btf list", false);
    EXPECT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.size(), 1u) << r.out;
    return j.empty() ? 0 : j[0]["id"].get<uint32_t>();
  }
  fs::path store_;
};

TEST_F(BtfCli, ListShowsEachObjectWithTheMapsAndProgramsNamingIt) {
  auto r = x("btf list");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "");  // an empty store
  r = x("-j btf list", false);
  EXPECT_EQ(r.out, "[]\n");

  load_btf_maps();
  uint32_t entry = 0;
  pin_program("btf_maps.o", "entry", "entry", &entry);
  r = x("btf list");
  ASSERT_EQ(r.code, 0) << r.out;
  // Two loads of btf_maps.o, two BTF objects: the first named by the maps
  // `prog run` left pinned and by tail_a/tail_b (the pinned prog array
  // `jumps` holds them), the second by the pinned `entry` and its maps.
  std::smatch m;
  const std::regex line(R"((\d+): name <anon>  size (\d+)B  prog_ids ([\d,]+)  map_ids ([\d,]+)\n)");
  std::string rest = r.out;
  std::vector<std::string> progs;
  while (std::regex_search(rest, m, line)) {
    EXPECT_EQ(m.position(0), 0) << r.out;
    EXPECT_GT(std::stoul(m[2]), 0u);
    progs.push_back(m[3]);
    rest = m.suffix();
  }
  ASSERT_EQ(progs.size(), 2u) << r.out;
  EXPECT_EQ(std::count(progs[0].begin(), progs[0].end(), ','), 1) << r.out;  // tail_a, tail_b
  EXPECT_EQ(progs[1], std::to_string(entry)) << r.out;
  EXPECT_EQ(rest, "") << r.out;

  r = x("-j btf list", false);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  for (const auto& b : j) {
    EXPECT_GT(b["size"].get<uint32_t>(), 0u);
    EXPECT_FALSE(b["map_ids"].empty());
    EXPECT_EQ(b["kernel"], false);
    EXPECT_FALSE(b.contains("name"));  // anonymous, as bpftool leaves it out
  }
  EXPECT_EQ(j[0]["prog_ids"].size(), 2u);
  const auto& with_p = j[1];
  EXPECT_EQ(with_p["prog_ids"], nlohmann::json::array({entry}));

  // show id: just that one; -p indents.
  const auto id = with_p["id"].get<uint32_t>();
  r = x("btf show id " + std::to_string(id));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind(std::to_string(id) + ": name <anon>  size ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("  prog_ids " + std::to_string(entry) + "  map_ids "), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  r = x("btf -p show id " + std::to_string(id), false);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("{\n    \"id\": " + std::to_string(id) + ",\n    \"size\": ", 0), 0u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out), with_p);
}

TEST_F(BtfCli, DumpIdMapAndProg) {
  load_btf_maps();
  const uint32_t id = only_btf_id();
  ASSERT_NE(id, 0u);
  auto all = x("btf dump id " + std::to_string(id), false);
  ASSERT_EQ(all.code, 0) << all.out;
  EXPECT_NE(all.out.find("STRUCT 'value' size=16 vlen=2\n\t'packets' type_id="), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("VAR 'stats' type_id="), std::string::npos) << all.out;

  // A map: its key and value types (bpftool's default, "kv"), or one of them, or all.
  auto kv = x("btf dump map pinned bm/stats");
  ASSERT_EQ(kv.code, 0) << kv.out;
  EXPECT_TRUE(std::regex_match(kv.out, std::regex(R"(\[\d+\] TYPEDEF '__u32' type_id=\d+
\[\d+\] STRUCT 'value' size=16 vlen=2
	'packets' type_id=\d+ bits_offset=0
	'bytes' type_id=\d+ bits_offset=64
)")))
      << kv.out;
  auto value = x("btf dump map name stats value");
  EXPECT_EQ(value.out, kv.out.substr(kv.out.find('\n') + 1));
  auto key = x("btf dump map pinned bm/stats key");
  EXPECT_EQ(key.out, kv.out.substr(0, kv.out.find('\n') + 1));
  EXPECT_EQ(x("btf dump map pinned bm/stats all").out, all.out);
  EXPECT_EQ(x("btf dump map pinned bm/stats kv format raw").out, kv.out);

  auto c = x("btf dump map pinned bm/stats format c");
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("typedef unsigned int __u32;\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("struct value {\n\t__u64 packets;\n\t__u64 bytes;\n};\n"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("struct inner_map"), std::string::npos) << c.out;  // only what the key and value need
  auto c_all = x("btf dump id " + std::to_string(id) + " format c");
  ASSERT_EQ(c_all.code, 0);
  EXPECT_NE(c_all.out.find("struct inner_map {"), std::string::npos) << c_all.out;

  // A program: the whole BTF it was loaded with.
  pin_program("global_data.o", "use_globals", "g");
  auto p = x("-j btf list", false);
  ASSERT_EQ(nlohmann::json::parse(p.out).size(), 2u);
  auto prog = x("btf dump prog pinned g");
  ASSERT_EQ(prog.code, 0) << prog.out;
  EXPECT_NE(prog.out.find("FUNC 'use_globals' type_id="), std::string::npos) << prog.out;
  EXPECT_EQ(x("btf dump prog name use_globals").out, prog.out);
  auto show = x("-j prog show pinned g", false);
  if (show.code == 0) {  // `prog show` is another branch's; use it when present
    auto j = nlohmann::json::parse(show.out);
    EXPECT_EQ(x("btf dump prog tag " + j["tag"].get<std::string>()).out, prog.out);
    EXPECT_EQ(x("btf dump prog id " + std::to_string(j["id"].get<uint32_t>())).out, prog.out);
  }
}

// A program record without BTF (as a raw-bytecode program would have).
uint32_t add_program_without_btf(const fs::path& store, const std::string& pin) {
  auto s = xbpf::maps::Store::open(store.string());
  EXPECT_TRUE(s);
  xbpf::maps::ProgramRecord rec;
  rec.name = "nobtf";
  rec.prog_type = 1;  // socket_filter
  rec.tag = "0123456789abcdef";
  rec.insns = {0x00000000000000b7ull, 0x0000000000000095ull};  // r0 = 0; exit
  auto id = (*s)->add_program(rec);
  EXPECT_TRUE(id) << id.error().message;
  EXPECT_TRUE((*s)->pin(xbpf::maps::ObjectKind::Program, *id, pin));
  return *id;
}

// `-j btf dump`: bpftool's {"types": [...]}, one object per type with the raw
// dump's fields, for the whole object and for a map's key and value.
TEST_F(BtfCli, DumpAsJsonHasEveryTypeWithTheRawFields) {
  load_btf_maps();
  const std::string id = std::to_string(only_btf_id());
  auto text = x("btf dump id " + id, false);
  auto js = x("-j btf dump id " + id, false);
  ASSERT_EQ(text.code, 0) << text.out;
  ASSERT_EQ(js.code, 0) << js.out;
  const auto types = nlohmann::json::parse(js.out).at("types");
  // Every top-level line of the text form ("[ID] KIND 'NAME' ...") is one entry.
  std::vector<std::string> heads;
  std::istringstream lines(text.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '[') heads.push_back(line);
  ASSERT_EQ(types.size(), heads.size()) << js.out;
  bool saw_struct = false;
  for (size_t k = 0; k < heads.size(); ++k) {
    const auto& t = types[k];
    const std::string head = "[" + std::to_string(t.at("id").get<uint32_t>()) + "] " + t.at("kind").get<std::string>() +
                             " '" + t.at("name").get<std::string>() + "'";
    EXPECT_EQ(heads[k].substr(0, head.size()), head) << heads[k];
    if (t["kind"] == "INT") {
      EXPECT_NE(heads[k].find("encoding=" + t.at("encoding").get<std::string>()), std::string::npos);
    }
    if (t["kind"] == "STRUCT" && t["name"] == "value") {
      saw_struct = true;
      EXPECT_EQ(t.at("size"), 16);
      EXPECT_EQ(t.at("vlen"), 2);
      ASSERT_EQ(t.at("members").size(), 2u);
      EXPECT_EQ(t["members"][0].at("name"), "packets");
      EXPECT_EQ(t["members"][1].at("name"), "bytes");
      EXPECT_EQ(t["members"][1].at("bits_offset"), 64);
    }
    if (t["kind"] == "VAR") {
      EXPECT_TRUE(t.contains("linkage")) << t;
    }
    if (t["kind"] == "DATASEC") {
      EXPECT_TRUE(t.at("vars").is_array()) << t;
    }
  }
  EXPECT_TRUE(saw_struct) << js.out;
  // A map's key and value only.
  auto kv = x("-j btf dump map pinned bm/stats", false);
  ASSERT_EQ(kv.code, 0) << kv.out;
  const auto kvt = nlohmann::json::parse(kv.out).at("types");
  ASSERT_EQ(kvt.size(), 2u) << kv.out;
  EXPECT_EQ(kvt[0].at("kind"), "TYPEDEF");
  EXPECT_EQ(kvt[1].at("name"), "value");
  EXPECT_EQ(nlohmann::json::parse(x("-p btf dump map pinned bm/stats", false).out), nlohmann::json::parse(kv.out));
}

TEST_F(BtfCli, ErrorPathsExitWithAMessageNamingTheCommand) {
  load_btf_maps();
  ASSERT_EQ(x("map create plain type hash key 4 value 4 entries 4 name plain").code, 0);
  const uint32_t prog = add_program_without_btf(store_, "nobtf");
  auto plain = x("-j map show pinned plain", false);
  const auto plain_id = nlohmann::json::parse(plain.out)["id"].get<uint32_t>();
  const std::string s = store_.string();
  const xbpf::test::CliCase cases[] = {
      // Lookups that fail: exit 1, "xbpf: btf VERB: ...".
      {"btf show id 999", 1, "xbpf: btf show: BTF 999: no such BTF object in store " + s + " (No such file or directory)"},
      {"btf dump id 999", 1, "xbpf: btf dump: BTF 999: no such BTF object in store " + s},
      {"btf dump map id 999", 1, "xbpf: btf dump: map 999: no such map in store " + s},
      {"btf dump map pinned nosuch", 1, "xbpf: btf dump: "},
      {"btf dump map pinned nosuch", 1, "No such file or directory"},
      {"btf dump map name nosuch", 1, "xbpf: btf dump: no map named 'nosuch'"},
      {"btf dump map pinned plain", 1, "xbpf: btf dump: map " + std::to_string(plain_id) + " has no BTF"},
      {"btf dump map pinned nobtf", 1, "xbpf: btf dump: pinned object 'nobtf' is not a map"},
      {"btf dump prog pinned plain", 1, "xbpf: btf dump: pinned object 'plain' is not a program"},
      {"btf dump prog pinned nobtf", 1, "xbpf: btf dump: program " + std::to_string(prog) + " has no BTF"},
      {"btf dump prog id 999", 1, "xbpf: btf dump: program 999: no such program in store " + s},
      {"btf dump prog name nosuch", 1, "xbpf: btf dump: no program with name 'nosuch'"},
      {"btf dump prog tag 00112233", 1, "xbpf: btf dump: no program with tag '00112233'"},
      {"btf dump file /nonexistent.o", 1, "xbpf: /nonexistent.o: cannot open"},
      {"-j btf dump map pinned bm/stats format c", 1, "xbpf: btf dump: JSON output for C-syntax dump is not supported"},
      // Malformed command lines: exit 2.
      {"btf", 2, "xbpf: btf: a command is required"},
      {"btf frobnicate", 2, "xbpf: btf: unknown command 'frobnicate'"},
      {"btf dump", 2, "expected 'BTF_SRC [format raw|c]'"},
      {"btf dump id", 2, "BTF id expected"},
      {"btf dump id abc", 2, "can't parse BTF id 'abc'"},
      {"btf dump id 1 format json", 2, "unrecognized format 'json', possible values: raw, c"},
      {"btf dump id 1 format", 2, "expecting value for 'format'"},
      {"btf dump id 1 extra", 2, "unrecognized option 'extra'"},
      {"btf dump bogus 1", 2, "unrecognized BTF source 'bogus'"},
      {"btf dump map", 2, "MAP (id ID | pinned PIN | name NAME) expected"},
      {"btf dump map pinned", 2, "pinned argument expected"},
      {"btf dump map bogus x", 2, "expected 'id', 'pinned' or 'name' for the map, got 'bogus'"},
      {"btf dump prog", 2, "PROG (id ID | pinned PIN | name NAME | tag TAG) expected"},
      {"btf dump prog bogus x", 2, "expected 'id', 'pinned', 'name' or 'tag' for the program"},
      {"btf show id", 2, "BTF id expected"},
      {"btf show name x", 2, "expected 'id ID'"},
      {"btf show id 1 extra", 2, "unexpected argument 'extra'"},
  };
  xbpf::test::expect_errors(cases, [&](const std::string& args, bool err) { return x(args, err); });
}

}  // namespace
