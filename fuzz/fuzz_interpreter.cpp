// Decoder + interpreter (checked mode) fuzzer. Input: the first 64 bytes are
// the memory region handed to the program (r1, r2 = 64); the rest is
// bytecode. Any input must either be refused at load time with an error or run
// to completion / a runtime error — never crash, hang or touch memory outside
// the stack and the granted region (ASan checks the latter).
#include <cstdint>
#include <cstring>
#include <vector>

#include "isa/isa.hpp"
#include "vm/vm.hpp"

namespace {

uint64_t echo_helper(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, xbpf::vm::ExecContext*) { return r1; }

const xbpf::vm::HelperTable& helpers() {
  static const xbpf::vm::HelperTable t = [] {
    xbpf::vm::HelperTable h;
    h.set(1, echo_helper, "echo");
    h.set(5, echo_helper, "echo5");
    return h;
  }();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kMem = 64;
  if (size < kMem) return 0;
  // 8-aligned copy so misaligned-access checks see realistic addresses.
  alignas(8) uint8_t mem[kMem];
  std::memcpy(mem, data, kMem);
  size_t code_bytes = (size - kMem) / 8 * 8;
  std::vector<xbpf::isa::RawInsn> code(code_bytes / 8);
  if (code_bytes) std::memcpy(code.data(), data + kMem, code_bytes);

  auto prog = xbpf::vm::Program::load(code, {xbpf::vm::Mode::Checked, &helpers()});
  if (!prog) return 0;
  xbpf::vm::Region region{reinterpret_cast<uint64_t>(mem), kMem, true};
  xbpf::vm::ExecContext ctx;
  ctx.regions = {&region, 1};
  ctx.packet = mem;
  ctx.packet_len = kMem;
  ctx.insn_budget = 20000;
  (void)prog->run(reinterpret_cast<uint64_t>(mem), kMem, ctx);
  return 0;
}
