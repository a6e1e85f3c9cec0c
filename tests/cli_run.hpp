// Runs the built xbpf binary like a user would, for the CLI tests.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
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

}  // namespace xbpf::test
