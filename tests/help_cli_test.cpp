// `xbpf help` and shell completion (`xbpf __complete`, scripts/xbpf-completion.bash),
// driven like a user. The completion's command and verb lists come from the
// CLI's own tree, so "every command and verb has help" is checked against
// what the binary really accepts.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

namespace fs = std::filesystem;
using xbpf::test::CliResult;
using xbpf::test::run_shell;
using xbpf::test::run_xbpf;

namespace {

const std::string kScript = std::string(XBPF_TEST_DATA_DIR) + "/../../scripts/xbpf-completion.bash";

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& w) {
  return std::find(v.begin(), v.end(), w) != v.end();
}

// `xbpf __complete` with a store of the test's own (none unless created).
class CompleteCli : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = fs::temp_directory_path() / ("xbpf-help-cli-" + std::to_string(getpid()) + "-" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(store_);
  }
  void TearDown() override { fs::remove_all(store_); }
  // Candidates for the last word of `line`: words after "xbpf", single spaces, '' for an empty word.
  CliResult complete(const std::string& line) {
    const auto cword = std::count(line.begin(), line.end(), ' ') + 1;
    return run_xbpf_env("__complete " + std::to_string(cword) + " xbpf " + line, false);
  }
  CliResult run_xbpf_env(const std::string& args, bool with_stderr = true) {
    return run_shell("XBPF_STORE=" + store_.string() + " " + xbpf::test::kXbpf + " " + args, with_stderr);
  }
  fs::path store_;
};

TEST(HelpCli, ListsTheCommandsAndSaysHowToComplete) {
  auto r = run_xbpf("help", false);
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"asm", "disasm", "conformance", "verify", "object", "btf", "map", "prog", "link", "net", "help"})
    EXPECT_NE(r.out.find(std::string("\n    ") + c + " "), std::string::npos) << c << "\n" << r.out;
  EXPECT_NE(r.out.find("source scripts/xbpf-completion.bash"), std::string::npos);
}

TEST(HelpCli, EveryCommandAndVerbOfTheCliHasAPage) {
  auto families = run_xbpf("__complete 1 xbpf ''", false);
  ASSERT_EQ(families.code, 0);
  const auto names = lines(families.out);
  EXPECT_TRUE(has(names, "help"));
  EXPECT_FALSE(has(names, "__complete"));  // hidden
  for (const std::string& f : names) {
    auto page = run_xbpf("help " + f, false);
    EXPECT_EQ(page.code, 0) << f;
    for (const char* section : {"NAME\n", "SYNOPSIS\n", "DESCRIPTION\n", "OPTIONS\n", "EXIT STATUS\n", "EXAMPLES\n",
                                "SEE ALSO\n"})
      EXPECT_NE(page.out.find(section), std::string::npos) << f << " lacks " << section;
    EXPECT_NE(page.out.find("    xbpf " + f + " - "), std::string::npos) << f;
    if (f == "help") continue;  // its second word is a command, not a verb
    const auto verbs = lines(run_xbpf("__complete 2 xbpf " + f + " ''", false).out);
    for (const std::string& v : verbs) {
      auto para = run_xbpf("help " + f + " " + v);
      EXPECT_EQ(para.code, 0) << "no paragraph for '" << f << " " << v << "': " << para.out;
      EXPECT_NE(para.out.find("    xbpf " + f + " "), std::string::npos) << para.out;
      EXPECT_NE(para.out.find(v), std::string::npos) << para.out;
    }
  }
}

TEST(HelpCli, VerbParagraphOnly) {
  auto r = run_xbpf("help prog load", false);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("    xbpf prog load OBJ PIN", 0), 0u) << r.out;
  EXPECT_EQ(r.out.find("SYNOPSIS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("loadall"), std::string::npos) << r.out;  // the next paragraph is not included
  EXPECT_NE(r.out.find("xbpf help prog\n"), std::string::npos) << r.out;
  // A verb in a { a | b } group, and a group of header lines (dump's four forms).
  r = run_xbpf("help map dequeue", false);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("xbpf map { pop | dequeue } MAP"), std::string::npos) << r.out;
  r = run_xbpf("help prog dump", false);
  EXPECT_NE(r.out.find("dump xlated PROG"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dump jited OBJ"), std::string::npos) << r.out;
}

TEST(HelpCli, UnknownTopicsExitOneWithTheChoices) {
  auto r = run_xbpf("help nosuch");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("xbpf help: no help for 'nosuch' (commands: asm, btf, conformance, disasm, help, link, map", 0), 0u)
      << r.out;
  EXPECT_EQ(run_xbpf("help nosuch", false).out, "");  // the message is on stderr only
  r = run_xbpf("help prog nosuch");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("no help for 'prog nosuch' (prog verbs: show, list, load, loadall, dump, pin, run, detach, tracelog)"),
            std::string::npos)
      << r.out;
  r = run_xbpf("help verify x");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("(verify has no verbs)"), std::string::npos) << r.out;
  EXPECT_EQ(run_xbpf("help prog run extra").code, 2);  // at most COMMAND VERB
}

TEST(HelpCli, PipedOutputIsThePlainPage) {
  // Not a terminal: no pager even when one is set.
  auto r = run_shell("PAGER=false " + xbpf::test::kXbpf + " help asm | cat", false);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("NAME\n    xbpf asm - ", 0), 0u) << r.out;
}

TEST_F(CompleteCli, CommandsAndVerbsComeFromTheCli) {
  auto r = complete("''");
  EXPECT_EQ(r.code, 0);
  const auto families = lines(r.out);
  for (const char* f : {"asm", "disasm", "conformance", "verify", "object", "btf", "map", "prog", "help"})
    EXPECT_TRUE(has(families, f)) << f << "\n" << r.out;
  EXPECT_EQ(complete("pr").out, "prog\n");
  const auto verbs = lines(complete("prog ''").out);
  for (const char* v : {"run", "dump", "tracelog"}) EXPECT_TRUE(has(verbs, v)) << v;
  const auto map_verbs = lines(complete("map ''").out);
  for (const char* v : {"create", "show", "dump", "update", "pop", "peek"}) EXPECT_TRUE(has(map_verbs, v)) << v;
  EXPECT_EQ(complete("help pr").out, "prog\n");
  EXPECT_TRUE(has(lines(complete("help prog ''").out), "loadall"));
}

TEST_F(CompleteCli, BpftoolKeywords) {
  EXPECT_EQ(complete("map show ''").out, "id\npinned\nname\n");
  EXPECT_EQ(complete("prog show ''").out, "id\npinned\nname\ntag\n");
  EXPECT_EQ(complete("prog dump ''").out, "xlated\njited\n");
  EXPECT_EQ(complete("prog dump xlated id 3 ''").out, "opcodes\nlinum\nfile\n");
  EXPECT_EQ(complete("prog dump xlated id 3 linum ''").out, "opcodes\nfile\n");
  EXPECT_EQ(complete("prog load a.o p ''").out, "type\npinmaps\n");
  EXPECT_TRUE(has(lines(complete("prog load a.o p type ''").out), "xdp"));
  EXPECT_EQ(complete("prog run a.o ''").out,
            "data_in\ndata_out\ndata_size_out\nctx_in\nctx_out\nctx_size_out\nrepeat\npcap\n");
  auto types = lines(complete("map create x type ''").out);
  EXPECT_TRUE(has(types, "hash") && has(types, "array") && has(types, "ringbuf"));
  EXPECT_FALSE(has(types, "unspec"));
  EXPECT_EQ(complete("map update id 1 key 1 0 0 0 ''").out, "value\nany\nexist\nnoexist\n");
  EXPECT_EQ(complete("btf dump ''").out, "file\nid\nmap\nprog\n");
  EXPECT_EQ(complete("btf dump file a.o ''").out, "format\n");
  EXPECT_EQ(complete("btf dump file a.o format ''").out, "raw\nc\n");
  EXPECT_EQ(complete("btf dump map ''").out, "id\npinned\nname\n");
}

TEST_F(CompleteCli, OptionsAndTheirValuesComeFromTheCli) {
  EXPECT_EQ(complete("prog run a.o --pro").out, "--program\n");
  EXPECT_EQ(complete("prog run a.o --engine ''").out, "auto\njit\ninterpreter\n");
  EXPECT_EQ(complete("disasm --syntax ''").out, "kernel\nconformance\n");
  EXPECT_TRUE(has(lines(complete("map show --").out), "--store"));
  // An option's value does not count as a positional word.
  EXPECT_EQ(complete("map --store /x show ''").out, "id\npinned\nname\n");
  // bash splits "--opt=VALUE" into three words.
  EXPECT_EQ(complete("map --store = /x show ''").out, "id\npinned\nname\n");
  EXPECT_EQ(complete("prog run a.o --engine = j").out, "jit\n");
}

TEST_F(CompleteCli, FilesAreLeftToTheShell) {
  for (const char* line : {"verify ''", "prog run a.o --data-in ''", "btf dump file ''", "prog run id 1 data_in ''"}) {
    auto r = complete(line);
    EXPECT_EQ(r.code, 0) << line;
    EXPECT_EQ(r.out, "") << line;
  }
  // Free-form words: nothing, and no file names either (status 1).
  auto r = complete("map create x type hash key ''");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
}

TEST_F(CompleteCli, LiveIdsPinsAndNamesFromTheStore) {
  ASSERT_EQ(run_xbpf_env("map create demo/m type hash key 4 value 4 entries 8 name m").code, 0);
  auto shown = run_xbpf_env("map -j show pinned demo/m", false);
  ASSERT_EQ(shown.code, 0) << shown.out;
  const std::string id = std::to_string(nlohmann::json::parse(shown.out)["id"].get<int>());
  EXPECT_EQ(complete("map show id ''").out, id + "\n");
  EXPECT_EQ(complete("map show pinned ''").out, "demo/m\n");
  EXPECT_EQ(complete("map show pinned de").out, "demo/m\n");
  EXPECT_EQ(complete("map show name ''").out, "m\n");
  EXPECT_EQ(complete("map update pinned ''").out, "demo/m\n");
  // A map is not a program.
  auto r = complete("prog show pinned ''");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  // --store on the line wins over $XBPF_STORE.
  r = run_shell("XBPF_STORE=/nonexistent " + xbpf::test::kXbpf + " __complete 6 xbpf map --store " + store_.string() +
                    " show pinned ''",
                false);
  EXPECT_EQ(r.out, "demo/m\n");
}

// Links and devices, live: ids and pins of links, names of devices that run a program.
TEST_F(CompleteCli, LinksAndDevicesFromTheStore) {
  const std::string obj = std::string(XBPF_TEST_OBJECTS_DIR) + "/rt_xdp.o";
  ASSERT_EQ(run_xbpf_env("prog load " + obj + " x").code, 0);
  ASSERT_EQ(run_xbpf_env("net attach xdp pinned x dev port0").code, 0);
  auto shown = run_xbpf_env("-j link show", false);
  ASSERT_EQ(shown.code, 0) << shown.out;
  const std::string id = std::to_string(nlohmann::json::parse(shown.out)[0]["id"].get<int>());
  ASSERT_EQ(run_xbpf_env("link pin id " + id + " lnk").code, 0);
  EXPECT_EQ(complete("link show ''").out, "id\npinned\n");
  EXPECT_EQ(complete("link show id ''").out, id + "\n");
  EXPECT_EQ(complete("link detach pinned ''").out, "lnk\n");
  EXPECT_EQ(complete("prog show pinned ''").out, "x\n");  // a link pin is not a program
  EXPECT_EQ(complete("net ''").out, "show\nlist\nattach\ndetach\n");
  EXPECT_EQ(complete("net detach ''").out, "xdp\nxdpgeneric\n");
  EXPECT_EQ(complete("net detach xdp ''").out, "dev\n");
  EXPECT_EQ(complete("net detach xdp dev ''").out, "port0\n");
  EXPECT_EQ(complete("net attach xdp pinned x ''").out, "dev\noverwrite\n");
  EXPECT_EQ(complete("prog detach pinned x ''").out, "xdp\n");
  EXPECT_EQ(complete("prog detach pinned x xdp dev ''").out, "port0\n");
}

TEST_F(CompleteCli, NeverCreatesAStoreNorPrintsErrors) {
  auto r = run_xbpf_env("__complete 4 xbpf map show id ''");  // stderr merged
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(store_));
  for (const char* junk : {"", "x", "99 xbpf", "0 xbpf", "3 xbpf map show -- --store"}) {
    r = run_xbpf_env(std::string("__complete ") + junk);
    EXPECT_EQ(r.out.find("xbpf:"), std::string::npos) << junk << ": " << r.out;
  }
  EXPECT_FALSE(fs::exists(store_));
}

TEST(CompletionScriptCli, IsValidBashAndCompletesThroughXbpf) {
  EXPECT_EQ(run_shell("bash -n " + kScript).code, 0);
  const std::string bin = fs::path(xbpf::test::kXbpf).parent_path().string();
  const std::string prelude = "PATH=" + bin + ":$PATH bash -c 'source " + kScript + " && ";
  auto r = run_shell(prelude + "COMP_WORDS=(xbpf pr); COMP_CWORD=1; _xbpf; printf \"%s\\n\" \"${COMPREPLY[@]}\"'");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(lines(r.out), "prog")) << r.out;
  r = run_shell(prelude + "complete -p xbpf'");
  EXPECT_NE(r.out.find("-F _xbpf xbpf"), std::string::npos) << r.out;
  // Where a file goes, bash's own file completion answers.
  r = run_shell(prelude + "COMP_WORDS=(xbpf verify " + kScript.substr(0, kScript.size() - 5) +
                "); COMP_CWORD=2; _xbpf; printf \"%s\\n\" \"${COMPREPLY[@]}\"'");
  EXPECT_TRUE(has(lines(r.out), kScript)) << r.out;
}

}  // namespace
