// What the JIT's code-generation options buy, per operation:
//  * helpers/*: bpf_ktime_get_ns, bpf_get_smp_processor_id and a per-CPU
//    array lookup as helper calls (the standard helpers; for the lookup, a
//    helper doing what the map's lookup_elem does) and inlined
//    (jit::Options::inline_helpers, vm::InlineArrayLookup::ncpus; ktime_get_ns
//    "inlined" is now the same helper call: kept as the yardstick of the
//    decision to leave it a call);
//  * div/*: a verified division loop without and with the verifier's facts
//    (jit::Options::facts: no zero test, r0/r3 not saved when dead);
//  * compile/*: compile time per instruction of a 1,000-instruction program,
//    plain, with (empty) facts and with constant blinding;
//  * sdiv_const/*: signed division and modulo by constants (ISA v4 sdiv,
//    smod), side by side: the JIT (a multiplication), the JIT with
//    Options::short_arith off (idiv, as before), the interpreter, the
//    same loop in C++ (g++'s own multiplication) and the kernel's JIT
//    (BPF_PROG_TEST_RUN of the same instructions, socket filter).
// Each program runs a 64-iteration loop of the operation; counters give ns
// per operation (per_op).
#include <benchmark/benchmark.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "helpers/helpers.hpp"
#include "isa/asm.hpp"
#include "jit/jit.hpp"
#include "synthetic_program.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace {

using namespace xbpf;

constexpr int kLoop = 64;  // operations per run

[[noreturn]] void die(const std::string& msg) {
  fmt::print(stderr, "jit_helpers_bench: {}\n", msg);
  std::abort();
}

std::vector<isa::RawInsn> assemble(const std::string& text) {
  auto insns = isa::assemble(text, "bench");
  if (!insns) die(insns.error().message);
  return isa::encode_program(*insns);
}

const vm::HelperTable& standard_helpers() {
  static const vm::HelperTable t = helpers::Registry::standard().table_for(kabi::ProgType::SocketFilter);
  return t;
}

// A per-CPU array the benchmark owns: 16 entries of 16 bytes per CPU.
constexpr uint32_t kEntries = 16, kStride = 16;
const uint32_t kCpus = [] {
  const long n = sysconf(_SC_NPROCESSORS_CONF);
  return uint32_t(n > 1 ? n : 2);
}();
std::vector<uint8_t> g_percpu(size_t(kEntries) * kCpus * kStride);

// What a per-CPU array's lookup_elem does behind the helper (bounds check,
// current CPU, address), as a helper.
uint64_t percpu_lookup_helper(uint64_t, uint64_t key_ptr, uint64_t, uint64_t, uint64_t, vm::ExecContext*) {
  uint32_t key;
  std::memcpy(&key, reinterpret_cast<const void*>(key_ptr), 4);
  if (key >= kEntries) return 0;
  return reinterpret_cast<uint64_t>(g_percpu.data()) + (uint64_t{key} * kCpus + vm::current_cpu(kCpus)) * kStride;
}

const vm::HelperTable& lookup_helpers() {
  static const vm::HelperTable t = [] {
    vm::HelperTable h;
    h.set(1, percpu_lookup_helper, "map_lookup_elem");
    return h;
  }();
  return t;
}

// r6 counts kLoop iterations of `body`; r7 accumulates.
std::string loop(const std::string& body) {
  return fmt::format("mov %r7, 0\nmov %r6, 0\nloop:\n{}add %r6, 1\njlt %r6, {}, loop\nmov %r0, %r7\nexit\n", body,
                     kLoop);
}

vm::Program compiled(const std::vector<isa::RawInsn>& code, const jit::Options& opts, const vm::HelperTable* h,
                     std::span<const vm::InlineArrayLookup> lookups = {}) {
  auto p = vm::Program::load(code, {vm::Mode::Verified, h, lookups});
  if (!p) die(p.error().message);
  if (auto r = jit::compile(*p, opts); !r) die(r.error().message);
  return std::move(*p);
}

void time_runs(benchmark::State& st, const vm::Program& p) {
  vm::ExecContext ctx;
  uint64_t sink = 0;
  for (auto _ : st) {
    auto r = p.run(0, 0, ctx);
    if (!r) die(r.error().message);
    sink += *r;
  }
  benchmark::DoNotOptimize(sink);
  st.counters["per_op"] = benchmark::Counter(double(st.iterations()) * kLoop,
                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void bm_ktime(benchmark::State& st, bool inlined) {
  const auto code = assemble(loop("call 5\nadd %r7, %r0\n"));
  time_runs(st, compiled(code, {.inline_helpers = inlined}, &standard_helpers()));
}

void bm_cpu(benchmark::State& st, bool inlined) {
  const auto code = assemble(loop("call 8\nadd %r7, %r0\n"));
  time_runs(st, compiled(code, {.inline_helpers = inlined}, &standard_helpers()));
}

void bm_percpu_lookup(benchmark::State& st, int how) {  // 0: helper, 1: inlined on the JIT, 2: inlined, interpreter
  const auto code = assemble(loop(
      "mov %r1, %r6\nand %r1, 15\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, skip\n"
      "ldxdw %r1, [%r0]\nadd %r7, %r1\nskip:\n"));
  // The call is slot 5 of the loop body: mov r7, mov r6, then 5 instructions.
  const vm::InlineArrayLookup l{7, g_percpu.data(), kStride, kEntries, kCpus};
  if (how == 0) {
    time_runs(st, compiled(code, {}, &lookup_helpers()));
  } else if (how == 1) {
    time_runs(st, compiled(code, {}, &lookup_helpers(), {&l, 1}));
  } else {
    auto p = vm::Program::load(code, {vm::Mode::Verified, &lookup_helpers(), {&l, 1}});
    if (!p) die(p.error().message);
    time_runs(st, *p);
  }
}

// Divisor: an unknown value | 1 (nonzero, the verifier proves it), loaded
// before the loop; the loop head starts a new block, where the JIT alone
// knows nothing.
void bm_div(benchmark::State& st, bool facts) {
  const auto code = assemble(
      "call 7\nmov %r8, %r0\nor %r8, 1\nmov %r9, 0x7fffffff\n" +
      loop("mov %r0, %r9\ndiv %r0, %r8\nadd %r7, %r0\nmov %r1, %r9\nmod %r1, %r8\nxor %r7, %r1\nadd %r9, %r7\n"
           "mov32 %r3, %r9\ndiv32 %r3, %r8\nadd %r7, %r3\n"));
  verifier::Env env;
  const verifier::Verdict v = verifier::verify(code, env);
  if (!v.ok) die(v.message);
  jit::Options o;
  if (facts) o.facts = &v.jit_facts;
  const vm::Program p = compiled(code, o, &standard_helpers());
  st.counters["code_bytes"] = double(jit::code_of(p)->code.size());
  time_runs(st, p);
}

// Signed division and modulo by constants in a chain (each dividend from
// the last results, so the loop waits for every division): a 64-bit
// quotient by 1000, a 64-bit remainder by -7, a 32-bit quotient by 10.
// The seed is 0x9e3779b97f4a7c15 (both signs come up as r9 moves).
const char* const kSdivBody =
    "mov %r0, %r9\nsdiv %r0, 1000\nadd %r7, %r0\nmov %r1, %r9\nsmod %r1, -7\nxor %r7, %r1\n"
    "mov32 %r3, %r9\nsdiv32 %r3, 10\nadd %r7, %r3\nadd %r9, %r7\n";
std::string sdiv_program() { return "lddw %r9, 0x9e3779b97f4a7c15\n" + loop(kSdivBody); }

__attribute__((noinline)) uint64_t sdiv_native(int64_t x) {
  uint64_t acc = 0;
  for (int i = 0; i < kLoop; ++i) {
    acc += uint64_t(x / 1000);
    acc ^= uint64_t(x % -7);
    acc += uint32_t(int32_t(x) / 10);
    x = int64_t(uint64_t(x) + acc);
  }
  return acc;
}

void bm_sdiv_const(benchmark::State& st, int how) {  // 0: JIT, 1: JIT with idiv, 2: interpreter
  const auto code = assemble(sdiv_program());
  auto p = vm::Program::load(code, {vm::Mode::Verified});
  if (!p) die(p.error().message);
  if (how != 2) {
    jit::Options o;
    o.short_arith = how == 0;
    if (auto r = jit::compile(*p, o); !r) die(r.error().message);
    st.counters["code_bytes"] = double(jit::code_of(*p)->code.size());
  }
  vm::ExecContext ctx;
  if (auto r = p->run(0, 0, ctx); !r || *r != sdiv_native(int64_t(0x9e3779b97f4a7c15ULL)))
    die("sdiv_const: the result differs from the C++ loop's");
  time_runs(st, *p);
}

void bm_sdiv_const_native(benchmark::State& st) {
  volatile int64_t seed = int64_t(0x9e3779b97f4a7c15ULL);
  uint64_t sink = 0;
  for (auto _ : st) sink += sdiv_native(seed);
  benchmark::DoNotOptimize(sink);
  st.counters["per_op"] = benchmark::Counter(double(st.iterations()) * kLoop,
                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The kernel's JIT: the same instructions as a socket filter, run through
// BPF_PROG_TEST_RUN 1,000 times per iteration (the kernel's measured time of
// those runs is the iteration's time: compare per_op, not Time). Without
// bpf(2) (unprivileged, or a kernel without ISA v4) the row says why instead
// of timing anything.
void bm_sdiv_const_kernel(benchmark::State& st) {
  const auto code = assemble(sdiv_program());
  std::vector<bpf_insn> insns(code.size());
  static_assert(sizeof(bpf_insn) == sizeof(isa::RawInsn));
  std::memcpy(insns.data(), code.data(), code.size() * sizeof(bpf_insn));
  static char log[1 << 16];
  bpf_attr a{};
  a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  a.insns = reinterpret_cast<uint64_t>(insns.data());
  a.insn_cnt = uint32_t(insns.size());
  a.license = reinterpret_cast<uint64_t>("GPL");
  a.log_level = 1;
  a.log_buf = reinterpret_cast<uint64_t>(log);
  a.log_size = sizeof(log);
  const int fd = int(syscall(__NR_bpf, BPF_PROG_LOAD, &a, sizeof(a)));
  if (fd < 0) {
    st.SkipWithError(fmt::format("kernel: BPF_PROG_LOAD failed: {}: {}", std::strerror(errno), log).c_str());
    return;
  }
  uint8_t packet[64] = {};
  auto run = [&](uint32_t repeat, uint64_t* retval) {
    bpf_attr t{};
    t.test.prog_fd = uint32_t(fd);
    t.test.data_in = reinterpret_cast<uint64_t>(packet);
    t.test.data_size_in = sizeof(packet);
    t.test.repeat = repeat;
    long r;
    while ((r = syscall(__NR_bpf, BPF_PROG_TEST_RUN, &t, sizeof(t))) < 0 && errno == EINTR) {
    }
    if (r < 0)
      die(fmt::format("kernel: BPF_PROG_TEST_RUN: {}", std::strerror(errno)));
    *retval = t.test.retval;
    return t.test.duration;  // ns, mean per run
  };
  uint64_t retval = 0;
  run(1, &retval);
  if (retval != uint32_t(sdiv_native(int64_t(0x9e3779b97f4a7c15ULL))))  // (a socket filter's return: 32 bits)
    die("sdiv_const: the kernel's result differs from the C++ loop's");
  constexpr uint32_t kRepeat = 1000;
  for (auto _ : st) st.SetIterationTime(double(run(kRepeat, &retval)) * kRepeat * 1e-9);
  st.counters["per_op"] = benchmark::Counter(double(st.iterations()) * kRepeat * kLoop,
                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  close(fd);
}

// The synthetic program of jit_bench's compile rows (bench/synthetic_program.hpp),
// with operations the verifier accepts in that shape (facts need a verdict).
std::vector<isa::RawInsn> synthetic(size_t n) {
  using isa::Op;
  static const Op alu[] = {Op::ADD64_REG, Op::ADD64_IMM, Op::SUB64_REG, Op::MUL64_IMM, Op::XOR64_REG,
                           Op::AND32_IMM, Op::OR64_IMM,  Op::LSH64_IMM, Op::RSH64_REG, Op::MOV64_REG,
                           Op::MOV32_IMM, Op::DIV64_REG, Op::MOD32_IMM, Op::ARSH32_REG};
  static const Op loads[] = {Op::LDXDW, Op::LDXW, Op::LDXB};
  return bench::synthetic_program(n, alu, loads);
}

void bm_compile(benchmark::State& st, int variant) {  // 0: plain, 1: with facts, 2: blinded
  static const std::vector<isa::RawInsn> code = synthetic(1000);
  verifier::JitFacts facts;  // none proven (the program is not verifiable), one 64-byte frame
  facts.insn.assign(code.size(), 0);
  facts.subprog_start = {0};
  facts.stack_depth = {64};
  jit::Options o;
  if (variant == 1) o.facts = &facts;
  o.blind_constants = variant == 2;
  jit::CompileStats stats;
  o.stats = &stats;
  uint64_t total_ns = 0, emit_ns = 0;
  for (auto _ : st) {
    st.PauseTiming();
    auto p = vm::Program::load(code, {vm::Mode::Verified, nullptr});
    if (!p) die(p.error().message);
    st.ResumeTiming();
    if (auto r = jit::compile(*p, o); !r) die(r.error().message);
    total_ns += stats.emit_ns + stats.memory_ns;
    emit_ns += stats.emit_ns;
  }
  st.counters["emit_per_insn"] = double(emit_ns) / double(st.iterations()) / double(stats.insns);
  st.counters["ns_per_insn"] = double(total_ns) / double(st.iterations()) / double(stats.insns);
  st.counters["code_bytes"] = double(stats.code_bytes);
  st.counters["rel32_retry"] = stats.rel32_retry;
}

}  // namespace

BENCHMARK_CAPTURE(bm_ktime, helper, false);
BENCHMARK_CAPTURE(bm_ktime, inlined, true);
BENCHMARK_CAPTURE(bm_cpu, helper, false);
BENCHMARK_CAPTURE(bm_cpu, inlined, true);
BENCHMARK_CAPTURE(bm_percpu_lookup, helper, 0);
BENCHMARK_CAPTURE(bm_percpu_lookup, inlined, 1);
BENCHMARK_CAPTURE(bm_percpu_lookup, interpreter_inlined, 2);
BENCHMARK_CAPTURE(bm_div, no_facts, false);
BENCHMARK_CAPTURE(bm_div, facts, true);
BENCHMARK_CAPTURE(bm_sdiv_const, jit, 0);
BENCHMARK_CAPTURE(bm_sdiv_const, jit_idiv, 1);
BENCHMARK_CAPTURE(bm_sdiv_const, interpreter, 2);
BENCHMARK(bm_sdiv_const_native)->Name("bm_sdiv_const/native");
BENCHMARK(bm_sdiv_const_kernel)->Name("bm_sdiv_const/kernel")->UseManualTime();
BENCHMARK_CAPTURE(bm_compile, plain, 0);
BENCHMARK_CAPTURE(bm_compile, facts, 1);
BENCHMARK_CAPTURE(bm_compile, blinded, 2);

BENCHMARK_MAIN();
