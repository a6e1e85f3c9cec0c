// Runs bpf_conformance `.data` programs on an xbpf engine and compares r0
// with the expected result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conformance/data_file.hpp"
#include "isa/isa.hpp"
#include "vm/vm.hpp"

namespace xbpf::conformance {

// Jit: loaded in verified mode and compiled (src/jit); checked mode is
// interpreter-only, so Jit with Mode::Checked is an error.
enum class Engine { Interpreter, Jit };

struct RunOptions {
  Engine engine = Engine::Interpreter;
  vm::Mode mode = vm::Mode::Checked;
  uint64_t insn_budget = 10'000'000;
};

struct CaseResult {
  bool passed = false;
  std::string message;  // why it failed (empty when passed)
  uint64_t r0 = 0;
};

// The program of a data file: its assembly, cross-checked against `-- raw` when both exist.
[[nodiscard]] Expected<std::vector<isa::RawInsn>> program_of(const DataFile& df);

// Runs `code` with r1 = a private copy of `mem` (r2 = its size), the way the
// bpf_conformance plugins do. Returns r0.
[[nodiscard]] Expected<uint64_t> run_program(std::span<const isa::RawInsn> code, std::span<const uint8_t> mem,
                                             const RunOptions& opts);

// Assembles, loads and runs one data file; compares with its expected result.
[[nodiscard]] CaseResult run_case(const DataFile& df, const RunOptions& opts);

}  // namespace xbpf::conformance
