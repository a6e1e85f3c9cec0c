#include "conformance/runner.hpp"

#include <algorithm>
#include <cstring>

#include "isa/asm.hpp"
#include "jit/jit.hpp"

namespace xbpf::conformance {

Expected<std::vector<isa::RawInsn>> program_of(const DataFile& df) {
  std::vector<isa::RawInsn> from_raw;
  if (df.raw) {
    for (uint64_t w : *df.raw) {
      isa::RawInsn r;
      static_assert(sizeof(r) == sizeof(w));
      std::memcpy(&r, &w, sizeof(r));
      from_raw.push_back(r);
    }
  }
  if (df.asm_text.empty()) return from_raw;
  // Pad with blank lines so assembler errors carry the file's line numbers.
  std::string text(size_t(std::max(0, df.asm_first_line - 1)), '\n');
  text += df.asm_text;
  auto insns = isa::assemble(text, df.path);
  if (!insns) return xbpf::unexpected(insns.error());
  auto code = isa::encode_program(*insns);
  if (df.raw && code != from_raw)
    return fail(Errc::parse, "{}: '-- asm' and '-- raw' sections encode different programs", df.path);
  return code;
}

Expected<uint64_t> run_program(std::span<const isa::RawInsn> code, std::span<const uint8_t> mem,
                               const RunOptions& opts) {
  if (opts.engine == Engine::Jit && opts.mode != vm::Mode::Verified)
    return fail(Errc::invalid_argument, "the JIT runs verified-mode programs only");
  auto prog = vm::Program::load(code, {opts.mode, &vm::conformance_helpers()});
  if (!prog) return xbpf::unexpected(prog.error());
  if (opts.engine == Engine::Jit) {
    if (auto r = jit::compile(*prog); !r) return xbpf::unexpected(r.error());
  }
  std::vector<uint8_t> buf(mem.begin(), mem.end());
  vm::Region region{reinterpret_cast<uint64_t>(buf.data()), buf.size(), true};
  vm::ExecContext ctx;
  if (!buf.empty()) ctx.regions = std::span<const vm::Region>(&region, 1);
  ctx.packet = buf.data();
  ctx.packet_len = buf.size();
  ctx.insn_budget = opts.insn_budget;
  uint64_t r1 = buf.empty() ? 0 : reinterpret_cast<uint64_t>(buf.data());
  return prog->run(r1, buf.size(), ctx);
}

CaseResult run_case(const DataFile& df, const RunOptions& opts) {
  CaseResult res;
  auto code = program_of(df);
  if (!code) {
    res.passed = df.error.has_value();  // an expected failure
    res.message = code.error().message;
    return res;
  }
  auto r0 = run_program(*code, df.mem, opts);
  if (!r0) {
    res.passed = df.error.has_value();
    res.message = fmt::format("{}: {}", df.path, r0.error().message);
    return res;
  }
  res.r0 = *r0;
  if (!df.result) {
    res.message = fmt::format("{}: expected an error ({}), but the program returned {:#x}", df.path,
                              df.error.value_or(""), *r0);
    return res;
  }
  if (*r0 != *df.result) {
    res.message = fmt::format("{}: r0 = {:#x}, expected {:#x}", df.path, *r0, *df.result);
    return res;
  }
  res.passed = true;
  return res;
}

}  // namespace xbpf::conformance
