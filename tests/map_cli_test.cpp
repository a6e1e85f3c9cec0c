// `xbpf map ...` driven like a user, each command a separate process on one
// store: what one invocation writes, the next one sees.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

namespace fs = std::filesystem;
using xbpf::test::run_xbpf;

namespace {

class MapCli : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = fs::temp_directory_path() / ("xbpf-map-cli-" + std::to_string(getpid()) + "-" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(store_);
  }
  void TearDown() override { fs::remove_all(store_); }
  xbpf::test::CliResult map(const std::string& args, bool with_stderr = true) {
    return run_xbpf("map --store " + store_.string() + " " + args, with_stderr);
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
  struct Case {
    std::string args;
    int code;
    std::string text;
  };
  const Case cases[] = {
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
  for (const auto& c : cases) {
    auto r = map(c.args);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.text), std::string::npos) << c.args << ": expected '" << c.text << "' in\n" << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << c.args << ": error must be one line:\n" << r.out;
  }
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
