// Disassembly of JIT output with capstone, interleaved with the BPF source.
#include <capstone/capstone.h>

#include <fmt/format.h>

#include "isa/disasm.hpp"
#include "jit/jit.hpp"

namespace xbpf::jit {
namespace {

// Appends the x86 instructions in [from, to) of `code`, addresses as offsets.
void append_range(csh cs, std::span<const uint8_t> code, size_t from, size_t to, bool opcodes, std::string& out) {
  cs_insn* insn = nullptr;
  const size_t n = cs_disasm(cs, code.data() + from, to - from, from, 0, &insn);
  size_t end = from;
  for (size_t k = 0; k < n; ++k) {
    if (opcodes) {
      std::string bytes;
      for (uint16_t b = 0; b < insn[k].size; ++b) bytes += fmt::format("{:02x}", insn[k].bytes[b]);
      out += fmt::format("  {:5x}:  {:<22} {} {}\n", insn[k].address, bytes, insn[k].mnemonic, insn[k].op_str);
    } else {
      out += fmt::format("  {:5x}:  {} {}\n", insn[k].address, insn[k].mnemonic, insn[k].op_str);
    }
    end = size_t(insn[k].address) + insn[k].size;
  }
  if (n) cs_free(insn, n);
  if (end < to) out += fmt::format("  {:5x}:  ({} bytes capstone does not decode)\n", end, to - end);
}

}  // namespace

Expected<std::string> disassemble(const vm::Program& prog, const DisasmOptions& opts) {
  const auto view = code_of(prog);
  if (!view) return fail(Errc::invalid_argument, "program has no native code (not compiled by the JIT)");
  csh cs;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) return fail(Errc::unsupported, "capstone: cs_open failed");
  std::string out = "; entry stub\n";
  const auto insns = prog.insns();
  const auto& offs = view->insn_offsets;
  append_range(cs, view->code, 0, insns.empty() ? view->code.size() : offs[insns[0].pc], opts.opcodes, out);
  for (size_t k = 0; k < insns.size(); ++k) {
    const isa::Insn& i = insns[k];
    const size_t from = offs[i.pc];
    const size_t to = k + 1 < insns.size() ? offs[insns[k + 1].pc] : view->code.size();
    if (opts.before_insn)
      out += opts.before_insn(i);
    else
      out += fmt::format("; {:4}: {}\n", i.pc, isa::format_insn(i, isa::Syntax::Kernel));
    append_range(cs, view->code, from, to, opts.opcodes, out);
  }
  cs_close(&cs);
  return out;
}

}  // namespace xbpf::jit
