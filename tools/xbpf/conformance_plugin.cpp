// bpf_conformance plugin: reads the program as hex on stdin, the initial
// memory as hex in the first non-option argument (optional), runs it on the
// xbpf interpreter and prints r0 in hex. With `--elf`, stdin holds an ELF
// object (hex or raw) and its first executable section is run.
// Options: --elf, --mode checked|verified (default checked), --engine
// interpreter|jit (jit implies verified).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "conformance/runner.hpp"
#include "io.hpp"

using namespace xbpf;

namespace {

int fail_with(const Error& e) {
  std::fprintf(stderr, "xbpf-conformance-plugin: %s\n", e.message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool elf = false;
  std::string mem_hex;
  conformance::RunOptions opts;
  bool mode_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--elf") {
      elf = true;
    } else if (a == "--mode" && i + 1 < argc) {
      std::string m = argv[++i];
      if (m != "checked" && m != "verified") return fail_with({Errc::invalid_argument, "unknown mode '" + m + "'"});
      opts.mode = m == "checked" ? vm::Mode::Checked : vm::Mode::Verified;
      mode_given = true;
    } else if (a == "--engine" && i + 1 < argc) {
      std::string e = argv[++i];
      if (e != "interpreter" && e != "jit") return fail_with({Errc::invalid_argument, "unknown engine '" + e + "'"});
      opts.engine = e == "jit" ? conformance::Engine::Jit : conformance::Engine::Interpreter;
    } else if (a.starts_with("--")) {
      return fail_with({Errc::invalid_argument, "unknown option '" + a + "'"});
    } else if (mem_hex.empty()) {
      mem_hex = a;
    }
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::vector<uint8_t> bytes(input.begin(), input.end());
  if (!cli::is_elf(bytes)) {
    auto decoded = conformance::parse_hex_bytes(input);
    if (!decoded) return fail_with(with_context(decoded.error(), "program on stdin"));
    bytes = std::move(*decoded);
  }
  if (elf && !cli::is_elf(bytes)) return fail_with({Errc::invalid_argument, "--elf given but stdin is not ELF"});
  auto units = cli::load_code("<stdin>", std::move(bytes), "");
  if (!units) return fail_with(units.error());
  auto mem = conformance::parse_hex_bytes(mem_hex);
  if (!mem) return fail_with(with_context(mem.error(), "memory argument"));
  if (opts.engine == conformance::Engine::Jit) {
    if (mode_given && opts.mode == vm::Mode::Checked)
      return fail_with({Errc::invalid_argument, "--engine jit runs verified programs only"});
    opts.mode = vm::Mode::Verified;
  }
  auto r0 = conformance::run_program(units->front().code, *mem, opts);
  if (!r0) return fail_with(r0.error());
  std::printf("%llx\n", static_cast<unsigned long long>(*r0));
  return 0;
}
