// Verifier soundness fuzzer with maps and helpers: fuzz_verifier's check
// (a program the verifier accepts must never fault in the checked
// interpreter), for programs that use maps and call the standard helpers.
//
// Input: byte 0 picks the program type, byte 1 the packet length (14 +
// byte), the rest is bytecode. Every lddw of a map (src 5) or of a map value
// (src 6) is pointed at one of the maps below (imm modulo their number, the
// value offset modulo the value size), as the loader's relocations would.
// The program is verified as the runtime verifies it (runtime::verifier_env),
// and an accepted one is loaded in CHECKED mode and run through test_run on
// a packet: every load, store and helper access is checked against the
// memory a verified program may touch. A checked-mode fault after acceptance
// means the verifier let an unsafe program through: the fuzzer aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "loader/loader.hpp"
#include "maps/store.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"
#include "verifier/verifier.hpp"

namespace {

using xbpf::kabi::MapType;
using xbpf::kabi::ProgType;

struct Kind {
  ProgType type;
  const char* section;
};
constexpr Kind kKinds[] = {{ProgType::Xdp, "xdp"}, {ProgType::SchedCls, "tc"}, {ProgType::SocketFilter, "socket"}};

std::vector<xbpf::loader::MapSpec> fuzz_maps() {
  auto map = [](const char* name, MapType t, uint32_t ks, uint32_t vs, uint32_t n) {
    xbpf::loader::MapSpec m;
    m.name = name;
    m.section = ".maps";
    m.type = t;
    m.key_size = ks;
    m.value_size = vs;
    m.max_entries = n;
    return m;
  };
  return {map("hash", MapType::Hash, 4, 8, 16), map("array", MapType::Array, 4, 16, 4),
          map("events", MapType::Ringbuf, 0, 0, 4096), map("global", MapType::Array, 4, 32, 1),
          map("percpu", MapType::PercpuArray, 4, 8, 2)};
}

// One store for the whole run, in a directory of its own (removed at exit).
std::shared_ptr<xbpf::maps::Store> store() {
  static std::shared_ptr<xbpf::maps::Store> s = [] {
    static std::string dir = "/dev/shm/xbpf-fuzz-maps-" + std::to_string(getpid());
    auto st = xbpf::maps::Store::open(dir);
    if (!st) {
      std::fprintf(stderr, "cannot open a store in %s: %s\n", dir.c_str(), st.error().message.c_str());
      std::abort();
    }
    std::atexit([] { std::system(("rm -rf " + dir).c_str()); });
    return *st;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 + 8) return 0;
  const Kind kind = kKinds[data[0] % std::size(kKinds)];
  std::vector<uint8_t> packet(14 + data[1]);
  for (size_t k = 0; k < packet.size(); ++k) packet[k] = static_cast<uint8_t>(k * 13 + 1);

  xbpf::loader::ObjectSpec spec;
  spec.maps = fuzz_maps();
  xbpf::loader::ProgramSpec p;
  p.name = "fuzz";
  p.section = kind.section;
  p.type = kind.type;
  p.license = "GPL";
  p.insns.resize((size - 2) / 8);
  std::memcpy(p.insns.data(), data + 2, p.insns.size() * 8);
  for (size_t k = 0; k + 1 < p.insns.size(); ++k) {
    xbpf::isa::RawInsn& i = p.insns[k];
    if (i.code != 0x18) continue;
    if (i.src == 5 || i.src == 6) {
      const uint32_t m = static_cast<uint32_t>(i.imm) % spec.maps.size();
      i.imm = static_cast<int32_t>(m);
      xbpf::loader::InsnReloc r;
      r.kind = i.src == 5 ? xbpf::loader::RelocKind::Map : xbpf::loader::RelocKind::MapValue;
      r.insn = static_cast<uint32_t>(k);
      r.map = m;
      if (i.src == 6) {
        const uint32_t vs = spec.maps[m].value_size ? spec.maps[m].value_size : 1;
        p.insns[k + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(p.insns[k + 1].imm) % vs);
        r.offset = static_cast<uint32_t>(p.insns[k + 1].imm);
      }
      p.relocations.push_back(r);
    } else if (i.src != 0) {
      return 0;  // functions, BTF ids, fds: not this fuzzer's business
    }
    ++k;
  }
  p.functions.push_back({p.name, 0, static_cast<uint32_t>(p.insns.size())});

  xbpf::verifier::Env env = xbpf::runtime::verifier_env(spec, p);
  env.insn_limit = 20000;
  const bool verbose = std::getenv("XBPF_FUZZ_VERBOSE") != nullptr;  // to check the seeds run
  const auto verdict = xbpf::verifier::verify(p.insns, env);
  if (verbose) std::fprintf(stderr, "verifier: %s\n", verdict.ok ? "accepted" : verdict.message.c_str());
  if (!verdict.ok) return 0;

  spec.programs.push_back(std::move(p));
  xbpf::runtime::LoadOptions lo;
  lo.mode = xbpf::vm::Mode::Checked;
  lo.insn_budget = 2'000'000;
  auto obj = xbpf::runtime::Object::load(std::move(spec), store(), lo);
  if (!obj) {  // e.g. a helper the runtime does not implement
    if (verbose) std::fprintf(stderr, "load: %s\n", obj.error().message.c_str());
    return 0;
  }
  xbpf::runtime::TestRun tr;
  tr.data_in = packet;
  auto r = xbpf::runtime::test_run(*(*obj)->programs().front(), tr);
  if (verbose) std::fprintf(stderr, "run: %s\n", r ? std::to_string(r->retval).c_str() : r.error().message.c_str());
  if (!r && r.error().code == xbpf::Errc::runtime && r.error().message.find("budget") == std::string::npos) {
    std::fprintf(stderr, "VERIFIER UNSOUND: accepted a program that faulted: %s\n", r.error().message.c_str());
    std::abort();
  }
  return 0;
}
