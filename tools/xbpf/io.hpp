// Small file helpers shared by the CLI commands.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "isa/isa.hpp"
#include "loader/loader.hpp"
#include "support/error.hpp"

namespace xbpf::cli {

[[nodiscard]] Expected<std::vector<uint8_t>> read_file(const std::string& path);
[[nodiscard]] Expected<void> write_file(const std::string& path, const std::vector<uint8_t>& bytes);

// A program's bytecode from a raw file, or from an ELF object's section
// (`section` empty: every executable section).
struct NamedCode {
  std::string name;  // section name, or the file name for raw bytecode
  std::vector<isa::RawInsn> code;
};
[[nodiscard]] bool is_elf(const std::vector<uint8_t>& bytes);
[[nodiscard]] Expected<std::vector<NamedCode>> load_code(const std::string& path, std::vector<uint8_t> bytes,
                                                         const std::string& section);

// A command family (`xbpf map`, `xbpf prog`): one of its commands is
// required; a missing or unknown one gets a one-line error and exit code 2.
void require_command(CLI::App* family, int& exit_code);

// Writes bytes to a file, or as hex lines (16 bytes each) to stdout for "-".
[[nodiscard]] Expected<void> write_output(const std::string& path, const std::vector<uint8_t>& bytes);

// Opens OBJ; a non-empty `type` (bpftool's TYPE: "xdp", "tc", ...) overrides
// what the section names say, for every program.
[[nodiscard]] Expected<loader::ObjectSpec> open_object_spec(const std::string& object, const std::string& type);

// report() for a failed verb of a store command: "xbpf: VERB: <message> (<strerror>)",
// the errno's text added unless the message already says it (bpftool's form).
int report_verb(Error e, const std::string& verb);

// Prints "xbpf: <message>" to stderr and returns the exit code for input errors (1).
int report(const Error& e);

}  // namespace xbpf::cli
