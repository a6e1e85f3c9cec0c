// JIT differential fuzzer. Input as fuzz_verifier's: byte 0 picks the program
// type (bits 0-1) and the verification mode (bit 2: privileged), byte 1 the
// packet length, the rest is bytecode. A program the verifier accepts runs on
// the interpreter (verified mode) and on the JIT with identical copies of its
// context and packet; r0, the context and the packet must come out
// identical, else the fuzzer aborts with both outcomes and the JIT's
// disassembly. Maps are fuzz_jit_maps' business: no map or BTF lddw here.
//
// The JIT compiles as the runtime does: with the verifier's facts
// (Verdict::jit_facts), and with constant blinding for inputs of an odd
// number of instructions.
//
// Privileged programs (bit 2) have bounded loops, bpf-to-bpf calls, helpers
// and callbacks (bpf_loop), but they may also read uninitialised stack and
// leak pointers (stack addresses, `lddw func` values), whose values differ
// between the engines -- and verifier::Env has a single `privileged` switch,
// so loops cannot be had without those. The harness therefore compares only
// what cannot depend on them: the interpreter runs the program twice, on two
// separately loaded copies (different `lddw func` values), each run at a
// different native stack depth (different stack addresses) with its frames
// poisoned with a different byte pattern (0xa5, then 0x5a: every bit differs,
// so an uninitialised read shows; the JIT's frames get 0xa5). When the two
// interpreter runs disagree the outcome depends on stack garbage or
// addresses: the program is skipped and counted (printed at exit). Otherwise
// the JIT's run must give the same outcome. Unprivileged programs go through the same double run; for them
// the two interpreter runs must always agree (a disagreement would be a
// verifier leak: counted separately, expected to stay 0).
//
// Helpers: the standard ones the program type may call, made deterministic
// for the run: ktime_get_ns/boot_ns/coarse_ns return a fake clock and
// get_prandom_u32 a fixed-seed generator (both restarted for every run),
// get_smp_processor_id returns 0; bpf_loop is capped by an iteration budget
// per run (nested callbacks could otherwise run 2^23 iterations per level).
// probe_write_user is excluded (it writes any address of the harness).
// Calls to helpers xbpf does not implement are skipped (counted).
//
// Seeds (corpus/fuzz_jit, `xbpf disasm` shows them): besides the ISA's
// classes, the code shapes the JIT treats specially, for the mutator to start
// from: switch-like loops whose arms jump back to a latch at the loop's top
// (priv_switch_loop, priv_switch_loop_stack) and an if/else joining before
// the latch (priv_join_loop), which tail copies replace; chains of register
// copies read after the move (priv_copy_chain: Options::copy_sources);
// population counts and rotates in clang's shapes (idiom_pop64, idiom_pop32,
// idiom_rot, and priv_idiom_loop with masks set before a loop:
// Options::idioms); clang's division with remainder in both widths, signed
// and unsigned (idiom_divmod), division and modulo by constants (const_div,
// and signed with divisors of both signs, const_sdiv: Options::short_arith's
// multiplications), and branches on zero right after
// an operation on the register (zf_branch: the reused flags), also with an
// independent move in between, in a counted loop too (zf_move:
// Options::zero_branch_order), and loads through a sum of the stack pointer
// and a masked length or a constant (priv_indexed_load: Options::indexed_loads). Seeds meant
// for idioms have an even number of instructions: odd ones are blinded.
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "helpers/helpers.hpp"
#include "jit_diff_common.hpp"
#include "isa/isa.hpp"
#include "jit/jit.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace {

using xbpf::kabi::ProgType;
namespace vm = xbpf::vm;
using namespace xbpf::fuzz;

constexpr ProgType kTypes[] = {ProgType::SocketFilter, ProgType::Xdp, ProgType::Kprobe, ProgType::SchedCls};
constexpr size_t kPacketBytes = 256;

// What a campaign covered (printed at exit).
struct Counts {
  size_t verified = 0;           // accepted by the verifier
  size_t compared = 0;           // interpreter and JIT outcomes compared
  size_t compared_unpriv = 0;
  size_t compared_priv = 0;
  size_t loops = 0;              // compared programs with a backward jump
  size_t calls = 0;              // ... with a bpf-to-bpf call
  size_t helpers = 0;            // ... with a helper call
  size_t callbacks = 0;          // ... with an `lddw func` (bpf_loop callback)
  CodegenCounts codegen;         // ... with each code-generation option
  size_t skipped_garbage = 0;    // privileged: outcome depends on stack garbage / addresses
  size_t skipped_unpriv = 0;     // unprivileged and nondeterministic: should stay 0
  size_t skipped_helper = 0;     // calls a helper xbpf does not implement, or an excluded one
  size_t skipped_endless = 0;    // verified, but runs for ever (the termination probe)
  ~Counts() {
    codegen.print("fuzz_jit");
    std::fprintf(stderr,
                 "fuzz_jit: %zu verified, %zu compared (%zu unprivileged, %zu privileged; with loops %zu, "
                 "bpf-to-bpf calls %zu, helper calls %zu, callbacks %zu); skipped: %zu privileged outcomes "
                 "depending on stack garbage or addresses, %zu unprivileged ones (should be 0), %zu for their "
                 "helpers, %zu that do not terminate\n",
                 verified, compared, compared_unpriv, compared_priv, loops, calls, helpers, callbacks,
                 skipped_garbage, skipped_unpriv, skipped_helper, skipped_endless);
  }
} g_counts;

constexpr uint32_t kProbeWriteUser = 36;

const vm::HelperTable& table_for(ProgType t) { return deterministic_table(t); }

struct Shape {
  bool maps = false;       // map / BTF lddw or kfunc call: not this fuzzer's business
  bool bad_helper = false;
  bool loops = false, calls = false, helpers = false, callbacks = false;
};

Shape shape_of(const std::vector<xbpf::isa::RawInsn>& code, const vm::HelperTable& table) {
  Shape s;
  for (size_t k = 0; k < code.size(); ++k) {
    const auto& i = code[k];
    const uint8_t cls = i.code & 7, op = i.code & 0xf0;
    if (i.code == 0x18) {
      if (i.src == 4) s.callbacks = true;
      else if (i.src != 0) s.maps = true;
      ++k;
      continue;
    }
    if (i.code == 0x85) {
      if (i.src == 1) s.calls = true;
      else if (i.src != 0) s.maps = true;
      else {
        s.helpers = true;
        const auto id = static_cast<uint32_t>(i.imm);
        if (id == kProbeWriteUser || !table.get(id)) s.bad_helper = true;
      }
      continue;
    }
    if ((cls == 5 || cls == 6) && op != 0x80 && op != 0x90) {
      const int64_t off = (cls == 6 && op == 0x00) ? i.imm : i.off;
      if (off < 0) s.loops = true;
    }
  }
  return s;
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

  uint64_t run(const vm::Program& p, size_t pkt_len, uint8_t poison) const {
    vm::ExecContext ec;
    ec.stack_poison = poison;
    ec.packet = pkt();
    ec.packet_len = pkt_len;
    auto r = p.run(reinterpret_cast<uint64_t>(ctx()), 0, ec);
    if (!r) {
      std::fprintf(stderr, "verified program failed to run: %s\n", r.error().message.c_str());
      std::abort();
    }
    return *r;
  }
};

struct Outcome {
  uint64_t r0 = 0;
  std::vector<uint8_t> mem;  // the context and the packet
  bool operator==(const Outcome&) const = default;
};

// Both engines get the same arena, one after the other, so its addresses agree.
const Arena& arena() {
  static const Arena a;
  return a;
}

Outcome run_once(const vm::Program& p, ProgType type, size_t pkt_len, uint8_t pattern, size_t shift) {
  arena().reset(type, pkt_len);
  restart_helpers();
  Outcome o;
  o.r0 = run_shifted(shift, [&] { return arena().run(p, pkt_len, pattern); });
  o.mem.assign(arena().page, arena().page + 1024 + kPacketBytes);
  return o;
}

// False when a checked run of `code` exhausts a budget of 20M instructions
// (callbacks included). Other checked-mode stops do not count: the verified
// runs decide about those.
bool terminates(const std::vector<xbpf::isa::RawInsn>& code, const vm::HelperTable& helpers, ProgType type,
                size_t pkt_len) {
  auto p = vm::Program::load(code, {vm::Mode::Checked, &helpers});
  if (!p) return true;
  arena().reset(type, pkt_len);
  restart_helpers();
  vm::Region r{reinterpret_cast<uint64_t>(arena().page), 4096, true};
  vm::ExecContext ec;
  ec.regions = std::span<const vm::Region>(&r, 1);
  ec.packet = arena().pkt();
  ec.packet_len = pkt_len;
  ec.insn_budget = 20'000'000;
  auto res = p->run(reinterpret_cast<uint64_t>(arena().ctx()), 0, ec);
  return res || res.error().message.find("instruction budget") == std::string::npos;
}

std::string describe(const Outcome& o) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "r0 = %#llx, memory:", static_cast<unsigned long long>(o.r0));
  std::string s = buf;
  for (size_t k = 0; k < o.mem.size(); ++k) {
    if (k % 32 == 0) s += k == 1024 ? "\n  packet:\n  " : "\n  ";
    std::snprintf(buf, sizeof buf, "%02x", o.mem[k]);
    s += buf;
  }
  return s + "\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 + 8) return 0;
  const ProgType type = kTypes[data[0] % std::size(kTypes)];
  const bool privileged = (data[0] & 4) != 0;
  const size_t pkt_len = data[1] % (kPacketBytes + 1);
  std::vector<xbpf::isa::RawInsn> code((size - 2) / 8);
  std::memcpy(code.data(), data + 2, code.size() * 8);
  const vm::HelperTable& helpers = table_for(type);
  const Shape shape = shape_of(code, helpers);
  if (shape.maps) return 0;

  xbpf::verifier::Env env;
  env.prog_type = type;
  env.privileged = privileged;
  env.func_info = true;  // callbacks need BTF func info
  env.insn_limit = 20000;
  const xbpf::verifier::Verdict verdict = xbpf::verifier::verify(code, env);
  if (std::getenv("XBPF_FUZZ_VERBOSE"))  // to check the seeds run
    std::fprintf(stderr, "verifier (%s): %s\n", privileged ? "privileged" : "unprivileged",
                 verdict.ok ? "accepted" : verdict.message.c_str());
  if (!verdict.ok) return 0;
  ++g_counts.verified;
  if (shape.bad_helper) {
    ++g_counts.skipped_helper;
    return 0;
  }

  auto interp = vm::Program::load(code, {vm::Mode::Verified, &helpers});
  auto interp2 = vm::Program::load(code, {vm::Mode::Verified, &helpers});
  auto native = vm::Program::load(code, {vm::Mode::Verified, &helpers});
  if (!interp || !interp2 || !native) {
    std::fprintf(stderr, "verified program refused by the loader\n");
    std::abort();
  }
  // As the runtime compiles: with the verifier's facts (divisions without
  // their zero/-1 tests, zero-extensions dropped, frames sized by the verified
  // stack depth); every other input blinded.
  xbpf::jit::Options jo;
  jo.facts = &verdict.jit_facts;
  jo.blind_constants = (code.size() & 1) != 0;
  jo.stack_poison = kPoison;  // as the first interpreter run's
  xbpf::jit::CompileStats stats;
  jo.stats = &stats;
  if (auto c = xbpf::jit::compile(*native, jo); !c) {
    std::fprintf(stderr, "verified program refused by the JIT: %s\n", c.error().message.c_str());
    std::abort();
  }
  // Termination probe: the kernel's verifier (and xbpf's, which agrees) may
  // accept a loop that never ends, e.g. one whose exit test compares a count
  // with the frame pointer (tests/verifier_cases.hpp "loop around bpf_loop
  // never ends"). A verified program has no instruction budget, so a checked
  // copy runs first with one: a program that exhausts it is skipped, counted.
  if (!terminates(code, helpers, type, pkt_len)) {
    ++g_counts.skipped_endless;
    return 0;
  }
  const Outcome want = run_once(*interp, type, pkt_len, kPoison, 0);
  const Outcome want2 = run_once(*interp2, type, pkt_len, kPoison2, 208);
  if (!(want == want2)) {
    ++(privileged ? g_counts.skipped_garbage : g_counts.skipped_unpriv);
    return 0;
  }
  const Outcome got = run_once(*native, type, pkt_len, kPoison, 0);
  if (!(want == got)) {
    std::fprintf(stderr, "JIT DIFFERS (%s program):\ninterpreter %sjit         %s",
                 privileged ? "privileged" : "unprivileged", describe(want).c_str(), describe(got).c_str());
    if (auto d = xbpf::jit::disassemble(*native)) std::fprintf(stderr, "%s", d->c_str());
    std::abort();
  }
  ++g_counts.compared;
  g_counts.codegen.add(verdict.jit_facts, stats);
  ++(privileged ? g_counts.compared_priv : g_counts.compared_unpriv);
  g_counts.loops += shape.loops;
  g_counts.calls += shape.calls;
  g_counts.helpers += shape.helpers;
  g_counts.callbacks += shape.callbacks;
  return 0;
}
