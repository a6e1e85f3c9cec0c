// Verifier soundness fuzzer. Input: byte 0 picks the program type, byte 1 the
// packet length, the rest is bytecode. Every program is verified; one the
// verifier accepts is run in the CHECKED interpreter with exactly the memory a
// verified program may touch (its context, the packet, its stack). A checked-
// mode memory fault after acceptance means the verifier let an unsafe program
// through: the fuzzer aborts. (Helper calls and maps are left out here: the
// harness grants no map memory.)
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "isa/isa.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace {

using xbpf::kabi::ProgType;

constexpr ProgType kTypes[] = {ProgType::SocketFilter, ProgType::Xdp, ProgType::Kprobe, ProgType::SchedCls};

// Packet memory below 4 GiB so the 32-bit data fields hold real addresses (as the runtime does).
uint8_t* low_page() {
  static uint8_t* p = static_cast<uint8_t*>(
      mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  return p;
}

bool has_calls_or_maps(const std::vector<xbpf::isa::RawInsn>& code) {
  for (const auto& i : code)
    if (i.code == 0x85 || i.code == 0x8d || (i.code == 0x18 && i.src != 0)) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 + 8) return 0;
  const ProgType type = kTypes[data[0] % std::size(kTypes)];
  const size_t pkt_len = data[1];
  std::vector<xbpf::isa::RawInsn> code((size - 2) / 8);
  std::memcpy(code.data(), data + 2, code.size() * 8);
  if (has_calls_or_maps(code)) return 0;

  xbpf::verifier::Env env;
  env.prog_type = type;
  env.insn_limit = 20000;
  auto verdict = xbpf::verifier::verify(code, env);
  if (!verdict.ok) return 0;

  auto prog = xbpf::vm::Program::load(code, {xbpf::vm::Mode::Checked, nullptr});
  if (!prog) {
    std::fprintf(stderr, "verified program refused by the interpreter: %s\n", prog.error().message.c_str());
    std::abort();
  }
  uint8_t* page = low_page();
  uint8_t* pkt = page + 4096;
  std::memset(page, 0, 8192);
  for (size_t k = 0; k < pkt_len; ++k) pkt[k] = static_cast<uint8_t>(k * 7);
  alignas(8) uint8_t ctx[256] = {};
  auto put32 = [&](size_t off, const void* p) {
    const auto v = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p));
    std::memcpy(ctx + off, &v, 4);
  };
  size_t ctx_size = 192;  // __sk_buff
  if (type == ProgType::Xdp) {
    ctx_size = 24;
    put32(0, pkt), put32(4, pkt + pkt_len), put32(8, pkt);
  } else if (type == ProgType::SchedCls) {
    put32(76, pkt), put32(80, pkt + pkt_len), put32(140, pkt);
  } else if (type == ProgType::Kprobe) {
    ctx_size = 168;
  }
  xbpf::vm::Region regions[] = {{reinterpret_cast<uint64_t>(ctx), ctx_size, true},
                                {reinterpret_cast<uint64_t>(pkt), pkt_len, true}};
  xbpf::vm::ExecContext ec;
  ec.regions = regions;
  ec.packet = pkt;
  ec.packet_len = pkt_len;
  ec.insn_budget = 2'000'000;
  auto r = prog->run(reinterpret_cast<uint64_t>(ctx), 0, ec);
  if (!r && r.error().message.find("budget") == std::string::npos) {
    std::fprintf(stderr, "VERIFIER UNSOUND: accepted a program that faulted: %s\n", r.error().message.c_str());
    std::abort();
  }
  return 0;
}
