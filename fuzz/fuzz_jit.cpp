// JIT differential fuzzer. Input as fuzz_verifier's: byte 0 picks the program
// type, byte 1 the packet length, the rest is bytecode. A program the verifier
// accepts (unprivileged, so it can neither read uninitialised stack nor leak
// pointers, whose values differ between the engines) runs on the interpreter
// (verified mode) and on the JIT with identical copies of its context and
// packet; r0, the context and the packet must come out identical, else the
// fuzzer aborts with both outcomes and the JIT's disassembly.
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "isa/isa.hpp"
#include "jit/jit.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace {

using xbpf::kabi::ProgType;
namespace vm = xbpf::vm;

constexpr ProgType kTypes[] = {ProgType::SocketFilter, ProgType::Xdp, ProgType::Kprobe, ProgType::SchedCls};
constexpr size_t kPacketBytes = 256;

// How many inputs got as far as the comparison (printed at exit: the share
// of inputs the verifier accepts says how much of a campaign tested the JIT).
size_t g_compared = 0;
struct Report {
  ~Report() { std::fprintf(stderr, "fuzz_jit: %zu verified programs compared\n", g_compared); }
} g_report;

bool has_calls_or_maps(const std::vector<xbpf::isa::RawInsn>& code) {
  for (const auto& i : code)
    if (i.code == 0x85 || i.code == 0x8d || (i.code == 0x18 && i.src != 0)) return true;
  return false;
}

// One engine's memory: context and packet in a page below 4 GiB (the 32-bit
// data fields hold real addresses, as in the runtime).
struct Arena {
  uint8_t* page = static_cast<uint8_t*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  uint8_t* ctx() const { return page; }
  uint8_t* pkt() const { return page + 1024; }

  void reset(ProgType type, size_t pkt_len) const {
    std::memset(page, 0, 4096);
    for (size_t k = 0; k < pkt_len; ++k) pkt()[k] = static_cast<uint8_t>(k * 7 + 3);
    auto put32 = [&](size_t off, const void* p) {
      const auto v = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p));
      std::memcpy(ctx() + off, &v, 4);
    };
    if (type == ProgType::Xdp) {
      put32(0, pkt()), put32(4, pkt() + pkt_len), put32(8, pkt());
    } else if (type == ProgType::SchedCls || type == ProgType::SocketFilter) {
      put32(0, reinterpret_cast<void*>(pkt_len));
      put32(76, pkt()), put32(80, pkt() + pkt_len), put32(140, pkt());
    } else {
      for (size_t k = 0; k < 168; ++k) ctx()[k] = static_cast<uint8_t>(k * 13 + 1);  // pt_regs
    }
  }

  uint64_t run(const vm::Program& p, size_t pkt_len) const {
    vm::ExecContext ec;
    ec.packet = pkt();
    ec.packet_len = pkt_len;
    auto r = p.run(reinterpret_cast<uint64_t>(ctx()), 0, ec);
    if (!r) {
      std::fprintf(stderr, "verified program failed to run: %s\n", r.error().message.c_str());
      std::abort();
    }
    return *r;
  }

  // What the two runs must agree on: the context and the packet.
  std::vector<uint8_t> observable() const { return {page, page + 1024 + kPacketBytes}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 + 8) return 0;
  const ProgType type = kTypes[data[0] % std::size(kTypes)];
  const size_t pkt_len = data[1] % (kPacketBytes + 1);
  std::vector<xbpf::isa::RawInsn> code((size - 2) / 8);
  std::memcpy(code.data(), data + 2, code.size() * 8);
  if (has_calls_or_maps(code)) return 0;

  xbpf::verifier::Env env;
  env.prog_type = type;
  env.privileged = false;
  env.insn_limit = 20000;
  if (!xbpf::verifier::verify(code, env).ok) return 0;

  auto interp = vm::Program::load(code, {vm::Mode::Verified, nullptr});
  auto native = vm::Program::load(code, {vm::Mode::Verified, nullptr});
  if (!interp || !native) {
    std::fprintf(stderr, "verified program refused by the loader\n");
    std::abort();
  }
  if (auto c = xbpf::jit::compile(*native); !c) {
    std::fprintf(stderr, "verified program refused by the JIT: %s\n", c.error().message.c_str());
    std::abort();
  }
  // Both engines get the same arena, one after the other, so addresses agree.
  static const Arena arena;
  arena.reset(type, pkt_len);
  const uint64_t want = arena.run(*interp, pkt_len);
  const std::vector<uint8_t> want_mem = arena.observable();
  arena.reset(type, pkt_len);
  const uint64_t got = arena.run(*native, pkt_len);
  const std::vector<uint8_t> got_mem = arena.observable();
  if (want != got || want_mem != got_mem) {
    std::fprintf(stderr, "JIT DIFFERS: interpreter r0 = %#llx, jit r0 = %#llx, memory %s\n",
                 static_cast<unsigned long long>(want), static_cast<unsigned long long>(got),
                 want_mem == got_mem ? "equal" : "differs");
    if (auto d = xbpf::jit::disassemble(*native)) std::fprintf(stderr, "%s", d->c_str());
    std::abort();
  }
  ++g_compared;
  return 0;
}
