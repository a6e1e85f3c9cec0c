// Runs the built xbpf binary like a user would, for the CLI tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <initializer_list>
#include <string>

namespace xbpf::test {

inline const std::string kXbpf = std::string(XBPF_BINARY_DIR) + "/tools/xbpf/xbpf";

struct CliResult {
  int code = -1;    // exit status, -1 if killed by a signal
  std::string out;  // stdout (and stderr when asked)
};

// Runs a shell command line; stdout (and stderr, merged, when asked) is captured.
inline CliResult run_shell(const std::string& cmd, bool with_stderr = true) {
  CliResult r;
  FILE* p = popen((cmd + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `xbpf ARGS`; `args` goes through the shell.
inline CliResult run_xbpf(const std::string& args, bool with_stderr = true) {
  return run_shell(kXbpf + " " + args, with_stderr);
}

// An error path: the arguments, the exit code and a part of the message.
struct CliCase {
  std::string args;
  int code;
  std::string text;
};

// Runs every case through `run` ((args, with_stderr) -> CliResult) and checks
// its exit code, that the message is one line on stderr starting "xbpf: " and
// holding `text`, and that nothing went to stdout.
template <class Run, class Cases>
void expect_errors(const Cases& cases, Run&& run) {
  for (const CliCase& c : cases) {
    const CliResult r = run(c.args, true);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.text), std::string::npos) << c.args << ": expected '" << c.text << "' in\n" << r.out;
    EXPECT_EQ(r.out.find("xbpf: "), 0u) << c.args << ": " << r.out;
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << c.args << ": error must be one line:\n" << r.out;
    EXPECT_EQ(run(c.args, false).out, "") << c.args << ": the message goes to stderr, nothing to stdout";
  }
}

}  // namespace xbpf::test
