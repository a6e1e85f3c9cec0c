// `xbpf conformance`: runs bpf_conformance `.data` files and prints
// "N passed, M failed".
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.hpp"
#include "conformance/runner.hpp"
#include "io.hpp"

namespace xbpf::cli {
namespace {

struct ConfArgs {
  std::vector<std::string> paths;
  std::string engine = "interpreter";
  std::string mode = "both";
  bool verbose = false;
};

Expected<std::vector<std::string>> collect(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".data") files.push_back(e.path().string());
      if (ec) return fail(Errc::io, "{}: {}", p, ec.message());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      return fail(Errc::io, "{}: no such file or directory", p);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int run_conformance(const ConfArgs& a) {
  auto files = collect(a.paths);
  if (!files) return report(files.error());
  const bool jit = a.engine == "jit";
  if (jit && a.mode == "checked") {
    std::fprintf(stderr, "xbpf conformance: --engine jit runs verified programs only (checked mode is the interpreter's)\n");
    return 2;
  }
  std::vector<vm::Mode> modes;
  if (a.mode != "verified" && !jit) modes.push_back(vm::Mode::Checked);
  if (a.mode != "checked") modes.push_back(vm::Mode::Verified);
  size_t passed = 0, failed = 0;
  for (const std::string& f : *files) {
    auto df = conformance::read_data_file(f);
    if (!df) {
      std::printf("FAIL %s\n", df.error().message.c_str());
      ++failed;
      continue;
    }
    bool ok = true;
    for (vm::Mode m : modes) {
      conformance::RunOptions opts;
      opts.mode = m;
      opts.engine = jit ? conformance::Engine::Jit : conformance::Engine::Interpreter;
      auto r = conformance::run_case(*df, opts);
      const char* mname = jit ? "jit" : m == vm::Mode::Checked ? "checked" : "verified";
      if (!r.passed) {
        std::printf("FAIL [%s] %s\n", mname, r.message.c_str());
        ok = false;
      } else if (a.verbose) {
        std::printf("PASS [%s] %s\n", mname, f.c_str());
      }
    }
    ok ? ++passed : ++failed;
  }
  std::printf("%zu passed, %zu failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

void add_conformance_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ConfArgs>();
  CLI::App* c = app.add_subcommand("conformance", "Run bpf_conformance .data test files");
  c->add_option("paths", args->paths, ".data files or directories holding them")->required();
  c->add_option("--engine", args->engine, "Execution engine: interpreter (default) or jit")
      ->check(CLI::IsMember({"interpreter", "jit"}));
  c->add_option("--mode", args->mode, "Interpreter mode: checked, verified or both (default; jit: verified)")
      ->check(CLI::IsMember({"checked", "verified", "both"}));
  c->add_flag("-v,--verbose", args->verbose, "Print every passing test too");
  c->callback([args, &exit_code] { exit_code = run_conformance(*args); });
}

}  // namespace xbpf::cli
