// Interpreter benchmark: each workload of bench/workloads/ runs natively (the
// same C compiled by clang -O2), in the interpreter in Verified mode, and in
// Checked mode. Before timing anything, the three results are cross-checked
// on the same input; a mismatch aborts the program.
//
// Counters: bpf_insns = BPF instructions one run executes (from a Checked
// run's ExecContext::insns_executed); per_insn = time per run / bpf_insns
// (for native rows: native time per BPF instruction the same work takes).
//
// Usage: interp_bench [--obj-dir=DIR] [google benchmark flags]
#include <benchmark/benchmark.h>
#include <elf.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "elf/elf_file.hpp"
#include "isa/isa.hpp"
#include "vm/vm.hpp"

extern "C" {
#include "workload.h"
#include "workload_support.hpp"

#define XBPF_WORKLOAD_ENTRY(name) u64 xbpf_native_##name(u8* mem, u64 len);
#include "workload_list.inc"
#undef XBPF_WORKLOAD_ENTRY
}

namespace {

using namespace xbpf;
using NativeFn = u64 (*)(u8*, u64);

struct WorkloadDef {
  const char* name;
  NativeFn native;
};

constexpr WorkloadDef kWorkloads[] = {
#define XBPF_WORKLOAD_ENTRY(name) {#name, xbpf_native_##name},
#include "workload_list.inc"
#undef XBPF_WORKLOAD_ENTRY
};

// One workload, loaded in both interpreter modes and cross-checked.
struct Workload {
  std::string name;
  NativeFn native = nullptr;
  std::unique_ptr<vm::Program> verified;
  std::unique_ptr<vm::Program> checked;
  size_t slots = 0;     // program size in instruction slots
  uint64_t insns = 0;   // instructions executed by one run
  uint64_t checksum = 0;
};

// The input buffer (layout in workload.h). Never written by the workloads.
alignas(64) u8 g_mem[XBPF_MEM_SIZE];

[[noreturn]] void die(std::string_view msg) {
  fmt::print(stderr, "interp_bench: {}\n", msg);
  std::fflush(stderr);
  std::abort();
}

uint64_t fnv1a(std::span<const u8> bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (u8 b : bytes) h = (h ^ b) * 0x100000001b3ULL;
  return h;
}

std::vector<isa::RawInsn> workload_code(const std::string& dir, const std::string& name) {
  auto code = bench::workload_code(dir, name);
  if (!code) die(code.error().message);
  return std::move(*code);
}

std::unique_ptr<vm::Program> load(std::span<const isa::RawInsn> code, vm::Mode mode, const std::string& name) {
  auto prog = bench::load_workload(code, mode, name);
  if (!prog) die(prog.error().message);
  return std::move(*prog);
}

// Runs a program on g_mem. In checked mode the buffer is granted read-only,
// so a workload that writes it, or reads past it, fails.
Expected<uint64_t> run(const vm::Program& prog, vm::ExecContext& ctx) {
  return prog.run(reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, ctx);
}

struct CheckedContext {
  vm::Region region{reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, false};
  vm::ExecContext ctx;
  CheckedContext() {
    ctx.regions = std::span<const vm::Region>(&region, 1);
    ctx.insn_budget = 100'000'000;
  }
};

// Loads a workload and checks that native, verified and checked runs agree.
Workload prepare(const WorkloadDef& def, const std::string& dir) {
  Workload w;
  w.name = def.name;
  w.native = def.native;
  auto code = workload_code(dir, w.name);
  w.slots = code.size();
  w.verified = load(code, vm::Mode::Verified, w.name);
  w.checked = load(code, vm::Mode::Checked, w.name);

  const uint64_t before = fnv1a(g_mem);
  const uint64_t native = w.native(g_mem, XBPF_MEM_SIZE);
  vm::ExecContext vctx;
  auto verified = run(*w.verified, vctx);
  CheckedContext cctx;
  auto checked = run(*w.checked, cctx.ctx);
  if (!verified) die(fmt::format("{}: verified run failed: {}", w.name, verified.error().message));
  if (!checked) die(fmt::format("{}: checked run failed: {}", w.name, checked.error().message));
  if (fnv1a(g_mem) != before) die(fmt::format("{}: the input buffer was modified", w.name));
  if (*verified != native || *checked != native)
    die(fmt::format("{}: CHECKSUM MISMATCH: native {:#018x}, verified {:#018x}, checked {:#018x}",
                    w.name, native, *verified, *checked));
  w.checksum = native;
  w.insns = cctx.ctx.insns_executed;
  if (w.insns == 0) die(fmt::format("{}: checked run reported 0 executed instructions", w.name));
  return w;
}

void set_counters(benchmark::State& st, const Workload& w) {
  st.counters["bpf_insns"] = static_cast<double>(w.insns);
  st.counters["per_insn"] =
      benchmark::Counter(static_cast<double>(w.insns),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void bm_native(benchmark::State& st, const Workload* w) {
  for (auto _ : st) {
    u64 r = w->native(g_mem, XBPF_MEM_SIZE);
    benchmark::DoNotOptimize(r);
  }
  set_counters(st, *w);
}

void bm_interp(benchmark::State& st, const Workload* w, vm::Mode mode) {
  const vm::Program& prog = mode == vm::Mode::Verified ? *w->verified : *w->checked;
  CheckedContext cctx;  // regions are ignored in verified mode
  for (auto _ : st) {
    auto r = run(prog, cctx.ctx);
    if (!r) {
      st.SkipWithError(r.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(*r);
  }
  set_counters(st, *w);
}

void print_summary(std::span<const Workload> workloads) {
  fmt::print(stderr, "{:<10} {:>6} {:>9} {:>18}  (native == verified == checked)\n", "workload", "slots",
             "insns/run", "checksum");
  for (const Workload& w : workloads)
    fmt::print(stderr, "{:<10} {:>6} {:>9} {:#018x}\n", w.name, w.slots, w.insns, w.checksum);
}

// Removes --obj-dir=DIR from argv (before Google Benchmark sees it).
std::string take_obj_dir(int& argc, char** argv) {
  std::string dir = XBPF_BENCH_OBJ_DIR;
  constexpr std::string_view flag = "--obj-dir=";
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with(flag)) dir = std::string(a.substr(flag.size()));
    else argv[out++] = argv[i];
  }
  argc = out;
  return dir;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string obj_dir = take_obj_dir(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  bench::fill_input(g_mem);
  std::vector<Workload> workloads;
  for (const WorkloadDef& def : kWorkloads) workloads.push_back(prepare(def, obj_dir));
  print_summary(workloads);

  benchmark::AddCustomContext("workload_compiler", XBPF_BENCH_CLANG " -O2 (BPF: -target bpf -mcpu="
                                                   XBPF_BENCH_BPF_CPU ")");
  for (const Workload& w : workloads) {
    const Workload* p = &w;
    benchmark::RegisterBenchmark((w.name + "/native").c_str(), bm_native, p);
    benchmark::RegisterBenchmark((w.name + "/verified").c_str(), bm_interp, p, vm::Mode::Verified);
    benchmark::RegisterBenchmark((w.name + "/checked").c_str(), bm_interp, p, vm::Mode::Checked);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
