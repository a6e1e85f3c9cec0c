// `xbpf asm` and `xbpf disasm`.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.hpp"
#include "io.hpp"
#include "isa/asm.hpp"
#include "isa/disasm.hpp"

namespace xbpf::cli {
namespace {

struct AsmArgs {
  std::string input;
  std::string output;
};

int run_asm(const AsmArgs& a) {
  auto bytes = read_file(a.input);
  if (!bytes) return report(bytes.error());
  std::string text(bytes->begin(), bytes->end());
  auto insns = isa::assemble(text, a.input);
  if (!insns) return report(insns.error());
  auto code = isa::encode_program(*insns);
  if (a.output.empty()) {
    for (const isa::RawInsn& r : code) {
      uint64_t w;
      std::memcpy(&w, &r, sizeof(w));
      std::printf("%016llx\n", static_cast<unsigned long long>(w));
    }
    return 0;
  }
  auto ok = write_file(a.output, isa::to_bytes(code));
  return ok ? 0 : report(ok.error());
}

struct DisasmArgs {
  std::string input;
  std::string section;
  std::string syntax = "kernel";
  bool no_pc = false;
};

int run_disasm(const DisasmArgs& a) {
  auto bytes = read_file(a.input);
  if (!bytes) return report(bytes.error());
  const bool elf = is_elf(*bytes);
  auto units = load_code(a.input, std::move(*bytes), a.section);
  if (!units) return report(units.error());
  isa::Syntax syntax = a.syntax == "conformance" ? isa::Syntax::Conformance : isa::Syntax::Kernel;
  int rc = 0;
  for (const NamedCode& u : *units) {
    auto insns = isa::decode_program(u.code);
    if (!insns) {
      rc = report(with_context(insns.error(), elf ? a.input + ": section " + u.name : u.name));
      continue;
    }
    if (elf) std::printf("%s:\n", u.name.c_str());
    std::fputs(isa::format_program(*insns, syntax, !a.no_pc).c_str(), stdout);
  }
  return rc;
}

}  // namespace

void add_isa_commands(CLI::App& app, int& exit_code) {
  auto asm_args = std::make_shared<AsmArgs>();
  CLI::App* as = app.add_subcommand("asm", "Assemble conformance-style BPF assembly into bytecode");
  as->add_option("input", asm_args->input, "Assembly source file")->required();
  as->add_option("-o,--output", asm_args->output, "Write raw bytecode here (default: hex words on stdout)");
  as->callback([asm_args, &exit_code] { exit_code = run_asm(*asm_args); });

  auto dis = std::make_shared<DisasmArgs>();
  CLI::App* ds = app.add_subcommand("disasm", "Disassemble raw bytecode or the sections of an ELF object");
  ds->add_option("input", dis->input, "Raw bytecode file or BPF ELF object")->required();
  ds->add_option("-s,--section", dis->section, "ELF section to disassemble (default: every executable one)");
  ds->add_option("--syntax", dis->syntax, "Output syntax")
      ->check(CLI::IsMember({"kernel", "conformance"}));
  ds->add_flag("--no-pc", dis->no_pc, "Do not print instruction indices");
  ds->callback([dis, &exit_code] { exit_code = run_disasm(*dis); });
}

}  // namespace xbpf::cli
