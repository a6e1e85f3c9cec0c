// JIT benchmark. Each workload of bench/workloads/ runs natively (the same C
// compiled by clang -O2), on the JIT and on the interpreter (verified mode),
// side by side in one process; the three results are cross-checked before
// anything is timed (a mismatch aborts). Then compile time: every workload,
// and a synthetic 1,000-instruction program (the yardstick), with the
// split between code generation and code memory (mmap/copy/mprotect).
//
// Counters: bpf_insns = BPF instructions one run executes; per_insn = time per
// run / bpf_insns. Compile rows: ns_per_insn (total), emit_per_insn (lowering
// and encoding only), code_bytes.
//
// Usage: jit_bench [--obj-dir=DIR] [--dump=WORKLOAD] [google benchmark flags]
// (--dump prints the workload's JIT code and exits)
#include <benchmark/benchmark.h>
#include <elf.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "elf/elf_file.hpp"
#include "isa/isa.hpp"
#include "jit/jit.hpp"
#include "vm/vm.hpp"

extern "C" {
#include "workload.h"

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

struct Workload {
  std::string name;
  NativeFn native = nullptr;
  std::vector<isa::RawInsn> code;
  std::unique_ptr<vm::Program> interp;
  std::unique_ptr<vm::Program> jit;
  std::unique_ptr<vm::Program> jit_noalign;  // loop heads not aligned: code placement's share
  uint64_t insns = 0;  // executed per run (checked interpreter)
  uint64_t checksum = 0;
};

alignas(64) u8 g_mem[XBPF_MEM_SIZE];

[[noreturn]] void die(std::string_view msg) {
  fmt::print(stderr, "jit_bench: {}\n", msg);
  std::fflush(stderr);
  std::abort();
}

// The same deterministic input as interp_bench.
void fill_input(u8* mem) {
  uint64_t state = 0x243f6a8885a308d3ULL;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (size_t i = 0; i < XBPF_RANDOM_BYTES; i += 8) {
    uint64_t v = next();
    std::memcpy(mem + i, &v, 8);
  }
  for (uint32_t i = 0; i < XBPF_SORTED_COUNT; ++i) {
    uint32_t v = i * 4 + static_cast<uint32_t>(next() & 3);
    std::memcpy(mem + XBPF_SORTED_OFFSET + i * 4, &v, 4);
  }
}

std::vector<isa::RawInsn> workload_code(const std::string& dir, const std::string& name) {
  auto file = elf::ElfFile::open(fmt::format("{}/{}.bpf.o", dir, name));
  if (!file) die(file.error().message);
  const elf::Section* sec = file->find("xbpf/" + name);
  if (!sec || !elf::is_executable(*sec)) die(fmt::format("{}: no executable section 'xbpf/{}'", file->name(), name));
  for (const elf::Section& s : file->sections())
    if ((s.type == SHT_REL || s.type == SHT_RELA) && s.info == sec->index)
      die(fmt::format("{}: section 'xbpf/{}' has relocations", file->name(), name));
  auto code = isa::from_bytes(sec->data);
  if (!code) die(code.error().message);
  return std::move(*code);
}

std::unique_ptr<vm::Program> load(std::span<const isa::RawInsn> code, vm::Mode mode, const std::string& name) {
  auto prog = vm::Program::load(code, vm::LoadOptions{.mode = mode, .helpers = nullptr});
  if (!prog) die(fmt::format("{}: load failed: {}", name, prog.error().message));
  return std::make_unique<vm::Program>(std::move(*prog));
}

Workload prepare(const WorkloadDef& def, const std::string& dir) {
  Workload w;
  w.name = def.name;
  w.native = def.native;
  w.code = workload_code(dir, w.name);
  w.interp = load(w.code, vm::Mode::Verified, w.name);
  w.jit = load(w.code, vm::Mode::Verified, w.name);
  if (auto r = jit::compile(*w.jit); !r) die(fmt::format("{}: jit: {}", w.name, r.error().message));
  w.jit_noalign = load(w.code, vm::Mode::Verified, w.name);
  if (auto r = jit::compile(*w.jit_noalign, {.align_loops = false}); !r) die(r.error().message);
  auto checked = load(w.code, vm::Mode::Checked, w.name);

  const uint64_t native = w.native(g_mem, XBPF_MEM_SIZE);
  vm::ExecContext c1, c2, c3;
  vm::Region region{reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, false};
  c3.regions = std::span<const vm::Region>(&region, 1);
  c3.insn_budget = 100'000'000;
  auto i = w.interp->run(reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, c1);
  auto j = w.jit->run(reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, c2);
  auto k = checked->run(reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, c3);
  auto u = w.jit_noalign->run(reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, c1);
  if (!i || !j || !k || !u) die(fmt::format("{}: a run failed", w.name));
  if (*i != native || *j != native || *u != native)
    die(fmt::format("{}: CHECKSUM MISMATCH: native {:#x}, interpreter {:#x}, jit {:#x}", w.name, native, *i, *j));
  w.checksum = native;
  w.insns = c3.insns_executed;
  return w;
}

void set_counters(benchmark::State& st, const Workload& w) {
  st.counters["bpf_insns"] = double(w.insns);
  st.counters["per_insn"] = benchmark::Counter(double(w.insns), benchmark::Counter::kIsIterationInvariantRate |
                                                                     benchmark::Counter::kInvert);
}

void bm_native(benchmark::State& st, const Workload* w) {
  for (auto _ : st) {
    u64 r = w->native(g_mem, XBPF_MEM_SIZE);
    benchmark::DoNotOptimize(r);
  }
  set_counters(st, *w);
}

enum class Engine { Interp, Jit, JitNoAlign };

void bm_run(benchmark::State& st, const Workload* w, Engine e) {
  const vm::Program& p = e == Engine::Jit ? *w->jit : e == Engine::JitNoAlign ? *w->jit_noalign : *w->interp;
  vm::ExecContext ctx;
  for (auto _ : st) {
    auto r = p.run(reinterpret_cast<uint64_t>(g_mem), XBPF_MEM_SIZE, ctx);
    benchmark::DoNotOptimize(*r);
  }
  set_counters(st, *w);
}

// A 1,000-instruction program with the mix clang emits for packet and
// tracing code: ALU (a few divisions), stack and context loads/stores, forward
// branches, helper-free.
std::vector<isa::RawInsn> synthetic_program(size_t n) {
  using isa::Insn;
  using isa::Op;
  std::mt19937_64 rng(42);
  static const Op alu[] = {Op::ADD64_REG, Op::ADD64_IMM, Op::ADD32_IMM, Op::SUB64_REG, Op::MUL64_IMM,
                           Op::AND64_IMM, Op::OR64_REG,  Op::XOR32_REG, Op::LSH64_IMM, Op::RSH64_IMM,
                           Op::MOV64_IMM, Op::MOV64_REG, Op::MOV32_REG, Op::DIV64_REG, Op::ARSH64_IMM};
  static const Op loads[] = {Op::LDXB, Op::LDXH, Op::LDXW, Op::LDXDW};
  static const Op jumps[] = {Op::JEQ_IMM, Op::JNE_REG, Op::JGT_IMM, Op::JSGT_REG, Op::JEQ32_IMM, Op::JA};
  std::vector<Insn> prog{{.op = Op::MOV64_REG, .dst = 6, .src = 1}};
  auto reg = [&] {
    static const uint8_t pool[] = {0, 2, 3, 4, 5, 7, 8, 9};
    return pool[rng() % std::size(pool)];
  };
  while (prog.size() + 1 < n) {
    const uint64_t k = rng() % 100;
    Insn i;
    if (k < 55) {
      i.op = alu[rng() % std::size(alu)];
      i.dst = reg();
      if (isa::info(i.op).form == isa::Form::AluImm) i.imm = int32_t(rng() % 64 + 1);
      else i.src = reg();
    } else if (k < 70) {
      i = {.op = loads[rng() % std::size(loads)], .dst = reg(), .src = uint8_t(rng() % 2 ? 6 : 10),
           .off = int16_t(rng() % 2 ? 8 : -16)};
    } else if (k < 82) {
      i = {.op = Op::STXDW, .dst = 10, .src = reg(), .off = int16_t(-8 * int(1 + rng() % 8))};
    } else {
      i.op = jumps[rng() % std::size(jumps)];
      const isa::Form f = isa::info(i.op).form;
      if (f != isa::Form::Jump) i.dst = reg();
      if (f == isa::Form::JumpImm) i.imm = int32_t(rng() % 100);
      if (f == isa::Form::JumpReg) i.src = reg();
      i.off = int16_t(std::min<size_t>(1 + rng() % 20, n - 2 - prog.size()));
    }
    prog.push_back(i);
  }
  prog.push_back({.op = Op::EXIT});
  uint32_t pc = 0;
  for (Insn& i : prog) {
    i.pc = pc;
    pc += uint32_t(isa::slot_count(i.op));
  }
  return isa::encode_program(prog);
}

void bm_compile(benchmark::State& st, const std::vector<isa::RawInsn>* code) {
  // Loading (decode + threaded code) is not part of compile time.
  std::vector<std::unique_ptr<vm::Program>> progs;
  uint64_t emit_ns = 0, total_ns = 0;
  size_t insns = 0, bytes = 0;
  for (auto _ : st) {
    st.PauseTiming();
    auto p = load(*code, vm::Mode::Verified, "compile");
    st.ResumeTiming();
    jit::CompileStats stats;
    if (auto r = jit::compile(*p, {.stats = &stats}); !r) die(r.error().message);
    st.PauseTiming();
    emit_ns += stats.emit_ns;
    total_ns += stats.emit_ns + stats.memory_ns;
    insns = stats.insns;
    bytes = stats.code_bytes;
    p.reset();  // releasing (mprotect back to read+write) is not compile time either
    st.ResumeTiming();
  }
  const double runs = double(st.iterations());
  st.counters["insns"] = double(insns);
  st.counters["code_bytes"] = double(bytes);
  st.counters["ns_per_insn"] = double(total_ns) / runs / double(insns);
  st.counters["emit_per_insn"] = double(emit_ns) / runs / double(insns);
}

// Removes --NAME=VALUE from argv (before Google Benchmark sees it).
std::string take_flag(int& argc, char** argv, std::string_view name, std::string value) {
  const std::string flag = fmt::format("--{}=", name);
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with(flag)) value = std::string(a.substr(flag.size()));
    else argv[out++] = argv[i];
  }
  argc = out;
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string obj_dir = take_flag(argc, argv, "obj-dir", XBPF_BENCH_OBJ_DIR);
  const std::string dump = take_flag(argc, argv, "dump", "");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  fill_input(g_mem);
  static std::vector<Workload> workloads;
  for (const WorkloadDef& def : kWorkloads) workloads.push_back(prepare(def, obj_dir));
  for (const Workload& w : workloads) {
    if (w.name != dump) continue;
    auto text = jit::disassemble(*w.jit);
    fmt::print("{}", text ? *text : text.error().message);
    return 0;
  }
  static const std::vector<isa::RawInsn> synthetic = synthetic_program(1000);
  benchmark::AddCustomContext("workload_compiler",
                              XBPF_BENCH_CLANG " -O2 (BPF: -target bpf -mcpu=" XBPF_BENCH_BPF_CPU ")");
  for (const Workload& w : workloads) {
    const Workload* p = &w;
    benchmark::RegisterBenchmark((w.name + "/native").c_str(), bm_native, p);
    benchmark::RegisterBenchmark((w.name + "/jit").c_str(), bm_run, p, Engine::Jit);
    benchmark::RegisterBenchmark((w.name + "/jit_noalign").c_str(), bm_run, p, Engine::JitNoAlign);
    benchmark::RegisterBenchmark((w.name + "/interp").c_str(), bm_run, p, Engine::Interp);
  }
  for (const Workload& w : workloads)
    benchmark::RegisterBenchmark(("compile/" + w.name).c_str(), bm_compile, &w.code);
  benchmark::RegisterBenchmark("compile/synthetic_1000", bm_compile, &synthetic);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
