// Assembler + disassembler fuzzer: any text either fails with an error naming
// the line, or assembles; what assembles must disassemble (conformance syntax)
// and re-assemble to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "isa/asm.hpp"
#include "isa/disasm.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto insns = xbpf::isa::assemble(text, "fuzz");
  if (!insns) return 0;
  auto code = xbpf::isa::encode_program(*insns);
  std::string again = xbpf::isa::format_program(*insns, xbpf::isa::Syntax::Conformance, false);
  (void)xbpf::isa::format_program(*insns, xbpf::isa::Syntax::Kernel, true);
  auto back = xbpf::isa::assemble(again, "fuzz-roundtrip");
  if (!back || xbpf::isa::encode_program(*back) != code) std::abort();  // round trip broken
  return 0;
}
