// JIT benchmark. Each workload of bench/workloads/ runs, in one process:
//  - natively (the same C compiled by clang -O2, linked in),
//  - on xbpf's JIT, compiled at several code placements (Options::code_offset,
//    Options::align_loops),
//  - on the kernel's JIT through BPF_PROG_TEST_RUN (several loaded copies,
//    each at its own address),
//  - on xbpf's interpreter (verified mode).
// The kernel and xbpf run the same program (wrap_workload: an XDP program
// reading its input from an array map value and storing its result there):
// the kernel through BPF_PROG_LOAD, xbpf through runtime::Object::load with
// an xbpf array map (its verifier accepts the program, the JIT compiles it
// with Verdict::jit_facts, as every verified program); the placements
// compile those same relocated instructions with the same facts (placement
// 0 is checked to be the runtime's code byte for byte). The bare workload
// still runs natively and on xbpf's engines for the cross-checks (and in
// --gbench mode).
// Every engine's result is cross-checked against native before anything is
// timed (a mismatch aborts).
//
// Default mode (side by side): for each of --rounds rounds (300), every
// engine x placement of every workload runs one batch (the kernel: one
// BPF_PROG_TEST_RUN with `repeat`), in an order shuffled every round, and
// records ns per run (the kernel: its `duration`, the mean ns per run it
// measured). Within a workload native, every JIT placement and every kernel
// copy run the same number of runs per batch (about --batch-us, 200, of the
// slowest of them). Printed per workload: the median over rounds per series;
// for the two JITs the median over placements and the min-max over
// placements; ratios to native; geometric means; each engine's empty-program
// (r0 = 0; exit) cost per run; the spread; JIT compile time. Defaults: 16
// xbpf placements, 8 kernel copies, XDP. --cpu=N pins the process (the
// kernel's test run runs on the calling CPU). Needs root for the kernel; if
// bpf(2) fails, the kernel column says so.
//
// Usage: jit_bench [--rounds=N] [--batch-us=US] [--offsets=LIST] [--noalign-offsets=LIST]
//                  [--kernel-copies=K] [--kernel-type=tc|xdp] [--filter=SUBSTR] [--verbose]
//                  [--no-kernel] [--samples=CSV] [--cpu=N]
//                  [--[no-]fit-loops] [--latch=fused|split|by_loop]  (jit::Options of every xbpf compile)
//                  [--other-latch-offsets=LIST --other-latch=L]  (more placements with Options::latch = L,
//                  default fused: "/otherlatch"; --other-no-skip-crossing: those also without
//                  Options::skip_crossing_heads; --other-no-short-arith: those without
//                  Options::short_arith; --other-no-tail-copies: those without
//                  Options::tail_copies; --other-no-unroll: those without Options::unroll;
//                  --other-no-copy-sources: those without
//                  Options::copy_sources; --other-no-idioms: those without Options::idioms;
//                  --other-no-zero-branch-order: those without Options::zero_branch_order;
//                  --other-no-selects: those without Options::selects;
//                  --other-no-indexed-loads: those without Options::indexed_loads;
//                  bench/ab.py summarises such a run) [--no-skip-crossing]  (the code of 00fcada:
//                  --no-fit-loops --latch=fused --no-skip-crossing)
//                  [--no-facts]  (xbpf's placements without the verifier's facts: A/B of what they give)
//        jit_bench --dump=WORKLOAD          xbpf's JIT code of a workload (capstone;
//                                           synthetic_1000: the compile rows' program)
//        jit_bench --dump-kernel=WORKLOAD   the kernel's JIT code, raw, to WORKLOAD.kernel.bin
//        jit_bench --gbench [google benchmark flags]   the Google Benchmark mode (sequential)
//        jit_bench --compile-loop=N         compiles synthetic_1000 N times, nothing else (profilers:
//                                           valgrind --tool=callgrind --toggle-collect='xbpf::jit::compile*')
//        jit_bench --corpus=DIR [--rounds=N] [--warm=K] [--verbose]   compile time of real programs:
//                                           every object under DIR xbpf loads, N times (default 21)
//                                           through runtime::Object::load (verifier facts, inlined
//                                           lookups, the JIT, as `xbpf prog load`); per program the
//                                           median of CompileStats::emit_ns + memory_ns (cold: right
//                                           after verification and map creation) and, with --warm,
//                                           of the fastest of K more rounds over the object's programs
//                                           (LoadOptions::jit_warm_repeats: steady state, no program
//                                           compiled twice in a row); and the counts of tail
//                                           copies, idioms and moved moves
//  (all modes: [--obj-dir=DIR])
//
// Google Benchmark mode counters: bpf_insns = BPF instructions one run
// executes; per_insn = time per run / bpf_insns. Compile rows: ns_per_insn
// (total), emit_per_insn (lowering and encoding only), code_bytes.
#include <asmjit/x86.h>
#include <benchmark/benchmark.h>
#include <elf.h>
#include <stdlib.h>
#include <linux/bpf.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "elf/elf_file.hpp"
#include "isa/isa.hpp"
#include "jit/jit.hpp"
#include "loader/loader.hpp"
#include "maps/store.hpp"
#include "runtime/object.hpp"
#include "synthetic_program.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

extern "C" {
#include "workload.h"
#include "workload_support.hpp"

#define XBPF_WORKLOAD_ENTRY(name) u64 xbpf_native_##name(u8* mem, u64 len);
#include "workload_list.inc"
#undef XBPF_WORKLOAD_ENTRY

// The native "empty program": a call through a pointer that returns 0.
__attribute__((noinline)) u64 xbpf_native_empty(u8*, u64) {
  asm volatile("");
  return 0;
}
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

// One xbpf JIT placement.
struct Placement {
  uint32_t code_offset = 0;
  bool align_loops = true;
  bool other_latch = false;  // --other-latch-offsets: Options::latch from --other-latch (A/B in one run)
  std::string label() const {
    return fmt::format("{}{}{}", code_offset, align_loops ? "" : "/noalign", other_latch ? "/otherlatch" : "");
  }
};

// One copy of the workload loaded into the kernel.
struct KernelCopy {
  int fd = -1;
  uint64_t address = 0;  // jited_ksyms[0]
  uint32_t jited_len = 0;
  double load_us = 0;  // BPF_PROG_LOAD wall time (verification + JIT)
};

struct Workload {
  std::string name;
  NativeFn native = nullptr;
  std::vector<isa::RawInsn> code;
  std::unique_ptr<vm::Program> interp;  // the bare workload: native cross-checks, --gbench
  std::unique_ptr<vm::Program> jit;
  std::unique_ptr<vm::Program> jit_noalign;  // loop heads not aligned: code placement's share
  // xbpf's side of the side-by-side mode: the kernel's program (wrap_workload)
  // loaded through xbpf's runtime (an xbpf array map holds the input; the
  // verifier accepts the program, the JIT compiles it with its facts).
  std::unique_ptr<runtime::Object> object;  // runtime::Object::load, Engine::Jit
  std::vector<isa::RawInsn> wrapped;        // the same program relocated (lddw = &value + off)
  std::optional<verifier::Verdict> verdict;  // nullopt: rejected by xbpf's verifier too (no facts)
  std::string xbpf_verifier_error;
  uint8_t* value = nullptr;                          // the xbpf map's value (input, then the result)
  std::unique_ptr<vm::Program> wrapped_interp;       // verified-mode interpreter
  std::vector<std::unique_ptr<vm::Program>> placed;  // side-by-side mode: one per Placement
  std::vector<KernelCopy> kernel;
  std::string kernel_error;  // why the kernel has no copy (rejected, unavailable)
  uint64_t kernel_verified_insns = 0;  // "processed N insns" of the kernel verifier
  uint64_t insns = 0;  // executed per run (checked interpreter)
  uint64_t checksum = 0;
  size_t slots = 0;
};

alignas(64) u8 g_mem[XBPF_MEM_SIZE];

[[noreturn]] void die(std::string_view msg) {
  fmt::print(stderr, "jit_bench: {}\n", msg);
  std::fflush(stderr);
  std::abort();
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

// --no-fit-loops, --latch=: Options::fit_loops / Options::latch of every
// xbpf compile of the run; --other-latch= for the "/otherlatch" placements
// (code generation A/B in one run).
bool g_fit_loops = jit::Options{}.fit_loops;
jit::Options::Latch g_latch = jit::Options{}.latch;
jit::Options::Latch g_other_latch = jit::Options::Latch::fused;
bool g_no_skip_crossing = false;        // --no-skip-crossing: Options::skip_crossing_heads off
// --other-no-X: Options::X off for the "/otherlatch" placements only (an
// in-run A/B of one code generation option).
struct OtherOff {
  const char* flag;
  bool jit::Options::*option;
  bool off = false;
};
OtherOff g_other_off[] = {
    {"--other-no-skip-crossing", &jit::Options::skip_crossing_heads},
    {"--other-no-short-arith", &jit::Options::short_arith},
    {"--other-no-tail-copies", &jit::Options::tail_copies},
    {"--other-no-unroll", &jit::Options::unroll},
    {"--other-no-copy-sources", &jit::Options::copy_sources},
    {"--other-no-idioms", &jit::Options::idioms},
    {"--other-no-zero-branch-order", &jit::Options::zero_branch_order},
    {"--other-no-selects", &jit::Options::selects},
    {"--other-no-indexed-loads", &jit::Options::indexed_loads},
};
bool g_no_facts = false;  // --no-facts: the xbpf placements compile the verified wrapper without Verdict::jit_facts

jit::Options::Latch parse_latch(const std::string& s) {
  if (s == "fused") return jit::Options::Latch::fused;
  if (s == "split") return jit::Options::Latch::split;
  if (s == "by_loop") return jit::Options::Latch::by_loop;
  std::fprintf(stderr, "--latch: fused, split or by_loop\n");
  std::exit(2);
}

std::unique_ptr<vm::Program> load_jit(std::span<const isa::RawInsn> code, jit::Options opts,
                                      const std::string& name, bool other_latch = false) {
  auto p = load(code, vm::Mode::Verified, name);
  opts.fit_loops = g_fit_loops;
  opts.latch = other_latch ? g_other_latch : g_latch;
  if (g_no_skip_crossing) opts.skip_crossing_heads = false;
  for (const OtherOff& o : g_other_off)
    if (other_latch && o.off) opts.*o.option = false;
  if (auto r = jit::compile(*p, opts); !r) die(fmt::format("{}: jit: {}", name, r.error().message));
  return p;
}

// ---------------------------------------------------------------------------
// The kernel, through raw bpf(2).

long sys_bpf(int cmd, bpf_attr& attr) { return syscall(__NR_bpf, cmd, &attr, sizeof(attr)); }

// Bytes of the map value: the 4 KiB input, then the full 64-bit result the
// wrapper stores (the test run's retval has only 32 bits).
constexpr uint32_t kResultOffset = XBPF_MEM_SIZE;
constexpr uint32_t kValueSize = XBPF_MEM_SIZE + 8;

uint32_t fold32(uint64_t v) { return uint32_t(v ^ (v >> 32)); }

bpf_insn raw_insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// The program both JITs run (the kernel through BPF_PROG_LOAD, xbpf through
// its runtime: verifier, then JIT with the verifier's facts): the workload
// inlined between
//   r1 = &value; r2 = 4096;            (the same input, the same length)
//   <workload, every exit a jump to the epilogue>
//   r1 = &value; *(u64 *)(r1 + 4096) = r0; r1 = r0; r1 >>= 32; w0 ^= w1; exit
// Inlined rather than called as a bpf-to-bpf subprogram so that the kernel
// pays no call per run that xbpf does not. Empty `code`: r0 = 0; exit.
// `map_value(p, reg, off)` appends the two-slot lddw of `&value + off`
// (each loader's own pseudo form).
using MapValueEmitter = std::function<void(std::vector<bpf_insn>&, uint8_t, int32_t)>;
std::vector<bpf_insn> wrap_workload(std::span<const isa::RawInsn> code, const MapValueEmitter& map_value) {
  std::vector<bpf_insn> p;
  if (code.empty()) {
    p.push_back(raw_insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    p.push_back(raw_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    return p;
  }
  map_value(p, 1, 0);
  p.push_back(raw_insn(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, int32_t(XBPF_MEM_SIZE)));
  const size_t base = p.size();
  const size_t epilogue = base + code.size();
  for (size_t k = 0; k < code.size(); ++k) {
    const isa::RawInsn& r = code[k];
    bpf_insn i = raw_insn(r.code, r.dst, r.src, r.off, r.imm);
    const bool second_lddw_slot = k > 0 && code[k - 1].code == (BPF_LD | BPF_DW | BPF_IMM);
    if (!second_lddw_slot && r.code == (BPF_JMP | BPF_EXIT))
      i = raw_insn(BPF_JMP | BPF_JA, 0, 0, int16_t(epilogue - (base + k) - 1), 0);
    p.push_back(i);
  }
  map_value(p, 1, 0);
  p.push_back(raw_insn(BPF_STX | BPF_MEM | BPF_DW, 1, 0, int16_t(kResultOffset), 0));
  p.push_back(raw_insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 0, 0, 0));
  p.push_back(raw_insn(BPF_ALU64 | BPF_RSH | BPF_K, 1, 0, 0, 32));
  p.push_back(raw_insn(BPF_ALU | BPF_XOR | BPF_X, 0, 1, 0, 0));
  p.push_back(raw_insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

struct Kernel {
  int map_fd = -1;
  // BPF_PROG_TYPE_XDP by default: the cheapest per-run path of the test run
  // (a direct call through the XDP dispatcher). Its bpf(2) call attaches the
  // program to the dispatcher and detaches it again (about 2 ms per call,
  // outside `duration`). --kernel-type=tc: SCHED_CLS, an indirect call per
  // run, but a cheap bpf(2) call.
  bpf_prog_type prog_type = BPF_PROG_TYPE_XDP;
  std::string unavailable;  // non-empty: why the kernel column is empty

  // The map holding the input (BPF_MAP_TYPE_ARRAY, one entry).
  bool init(const u8* input) {
    bpf_attr a{};
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = kValueSize;
    a.max_entries = 1;
    std::strncpy(a.map_name, "jit_bench_mem", sizeof(a.map_name) - 1);
    map_fd = int(sys_bpf(BPF_MAP_CREATE, a));
    if (map_fd < 0) {
      unavailable = fmt::format("bpf(BPF_MAP_CREATE) failed: {}", std::strerror(errno));
      return false;
    }
    std::vector<u8> value(kValueSize, 0);
    std::memcpy(value.data(), input, XBPF_MEM_SIZE);
    if (!update(value)) return false;
    return true;
  }

  bool update(const std::vector<u8>& value) {
    uint32_t key = 0;
    bpf_attr a{};
    a.map_fd = uint32_t(map_fd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(value.data());
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, a) < 0) {
      unavailable = fmt::format("bpf(BPF_MAP_UPDATE_ELEM) failed: {}", std::strerror(errno));
      return false;
    }
    return true;
  }

  uint64_t stored_result() const {
    uint32_t key = 0;
    std::vector<u8> value(kValueSize);
    bpf_attr a{};
    a.map_fd = uint32_t(map_fd);
    a.key = reinterpret_cast<uint64_t>(&key);
    a.value = reinterpret_cast<uint64_t>(value.data());
    if (sys_bpf(BPF_MAP_LOOKUP_ELEM, a) < 0) die(fmt::format("bpf(BPF_MAP_LOOKUP_ELEM): {}", std::strerror(errno)));
    uint64_t r;
    std::memcpy(&r, value.data() + kResultOffset, 8);
    return r;
  }

  void map_value_addr(std::vector<bpf_insn>& p, uint8_t reg, int32_t off) const {
    p.push_back(raw_insn(BPF_LD | BPF_DW | BPF_IMM, reg, BPF_PSEUDO_MAP_VALUE, 0, map_fd));
    p.push_back(raw_insn(0, 0, 0, 0, off));
  }

  std::vector<bpf_insn> wrap(std::span<const isa::RawInsn> code) const {
    return wrap_workload(code, [this](std::vector<bpf_insn>& p, uint8_t reg, int32_t off) { map_value_addr(p, reg, off); });
  }

  // BPF_PROG_LOAD (prog_type). Returns the fd, or -1 with `error` set (the
  // verifier log's last lines). `processed`: the verifier's instruction count.
  int load(const std::vector<bpf_insn>& prog, const std::string& name, std::string& error, uint64_t* processed,
           double* load_us) const {
    static char log[1 << 20];
    auto attempt = [&](uint32_t level) {
      bpf_attr a{};
      a.prog_type = prog_type;
      a.insns = reinterpret_cast<uint64_t>(prog.data());
      a.insn_cnt = uint32_t(prog.size());
      a.license = reinterpret_cast<uint64_t>("GPL");
      a.log_level = level;
      a.log_buf = reinterpret_cast<uint64_t>(log);
      a.log_size = sizeof(log);
      log[0] = 0;
      std::strncpy(a.prog_name, ("jb_" + name).substr(0, sizeof(a.prog_name) - 1).c_str(), sizeof(a.prog_name) - 1);
      const auto t0 = std::chrono::steady_clock::now();
      const int fd = int(sys_bpf(BPF_PROG_LOAD, a));
      const auto t1 = std::chrono::steady_clock::now();
      if (load_us) *load_us = std::chrono::duration<double, std::micro>(t1 - t0).count();
      return fd;
    };
    int fd = attempt(4);  // BPF_LOG_STATS: "processed N insns" only
    if (fd < 0) {
      const int err = errno;
      fd = attempt(1);  // the full log, for the reason
      if (fd < 0) {
        std::string_view l(log);
        while (l.size() > 1 && l.back() == '\n') l.remove_suffix(1);
        size_t cut = l.size();
        for (int lines = 0; lines < 6 && cut != std::string_view::npos && cut > 0; ++lines) cut = l.rfind('\n', cut - 1);
        if (cut == std::string_view::npos) cut = 0;
        error = fmt::format("BPF_PROG_LOAD: {}; verifier log ends: {}", std::strerror(err), l.substr(cut));
        return -1;
      }
    }
    if (processed) {
      const char* p = std::strstr(log, "processed ");
      *processed = p ? std::strtoull(p + 10, nullptr, 10) : 0;
    }
    return fd;
  }

  static void info(KernelCopy& c, std::vector<uint8_t>* code = nullptr) {
    bpf_prog_info pi{};
    bpf_attr a{};
    a.info.bpf_fd = uint32_t(c.fd);
    a.info.info_len = sizeof(pi);
    a.info.info = reinterpret_cast<uint64_t>(&pi);
    if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a) < 0) return;
    const uint32_t len = pi.jited_prog_len;
    const uint32_t nsyms = pi.nr_jited_ksyms;
    std::vector<uint8_t> bytes(len);
    std::vector<uint64_t> syms(std::max<uint32_t>(nsyms, 1));
    pi = bpf_prog_info{};
    pi.jited_prog_len = len;
    pi.jited_prog_insns = reinterpret_cast<uint64_t>(bytes.data());
    pi.nr_jited_ksyms = nsyms;
    pi.jited_ksyms = reinterpret_cast<uint64_t>(syms.data());
    a = bpf_attr{};
    a.info.bpf_fd = uint32_t(c.fd);
    a.info.info_len = sizeof(pi);
    a.info.info = reinterpret_cast<uint64_t>(&pi);
    if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a) < 0) return;
    c.jited_len = len;
    c.address = nsyms ? syms[0] : 0;
    if (code) *code = std::move(bytes);
  }

  // One BPF_PROG_TEST_RUN: `repeat` runs; returns the kernel's mean ns per run.
  struct RunResult {
    uint32_t retval = 0;
    uint32_t duration = 0;  // mean ns per run, as the kernel reports it (integer)
    double wall_ns = 0;     // the whole bpf(2) call
  };
  static RunResult test_run(int fd, uint32_t repeat) {
    alignas(8) static u8 data[64] = {};
    bpf_attr a{};
    a.test.prog_fd = uint32_t(fd);
    a.test.data_in = reinterpret_cast<uint64_t>(data);
    a.test.data_size_in = sizeof(data);
    a.test.repeat = repeat;
    const auto t0 = std::chrono::steady_clock::now();
    if (sys_bpf(BPF_PROG_TEST_RUN, a) < 0) die(fmt::format("bpf(BPF_PROG_TEST_RUN): {}", std::strerror(errno)));
    const auto t1 = std::chrono::steady_clock::now();
    return {a.test.retval, a.test.duration, std::chrono::duration<double, std::nano>(t1 - t0).count()};
  }
};

Kernel g_kernel;

void prepare_kernel(Workload& w, size_t copies) {
  if (!g_kernel.unavailable.empty()) {
    w.kernel_error = "kernel unavailable: " + g_kernel.unavailable;
    return;
  }
  const auto prog = g_kernel.wrap(w.code);
  for (size_t i = 0; i < copies; ++i) {
    KernelCopy c;
    std::string err;
    c.fd = g_kernel.load(prog, w.name, err, i == 0 ? &w.kernel_verified_insns : nullptr, &c.load_us);
    if (c.fd < 0) {
      w.kernel_error = err;
      return;
    }
    Kernel::info(c);
    // Cross-check: the full 64-bit result through the map, and the retval.
    std::vector<u8> value(kValueSize, 0);
    std::memcpy(value.data(), g_mem, XBPF_MEM_SIZE);
    if (!g_kernel.update(value)) die(g_kernel.unavailable);
    const auto r = Kernel::test_run(c.fd, 1);
    const uint64_t full = g_kernel.stored_result();
    if (full != w.checksum || r.retval != fold32(w.checksum))
      die(fmt::format("{}: CHECKSUM MISMATCH: native {:#x}, kernel JIT {:#x} (retval {:#x})", w.name, w.checksum, full,
                      r.retval));
    w.kernel.push_back(c);
  }
}

// ---------------------------------------------------------------------------
// xbpf's side: the kernel's program through xbpf's runtime.

// A throw-away store under /dev/shm for the xbpf maps (removed at exit).
struct BenchStore {
  std::string dir;
  std::shared_ptr<maps::Store> store;
  ~BenchStore() {
    store.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
  const std::shared_ptr<maps::Store>& get() {
    if (store) return store;
    std::string tmpl = "/dev/shm/xbpf-jit-bench-XXXXXX";
    if (!mkdtemp(tmpl.data())) die("mkdtemp " + tmpl + " failed");
    dir = tmpl;
    auto s = maps::Store::open(dir);
    if (!s) die(s.error().message);
    store = *s;
    return store;
  }
};
BenchStore g_store;

// A context for r1 (the wrapper never reads it: its input is the map value).
alignas(64) u8 g_dummy_ctx[64];

// ObjectSpec of one XDP program, wrap_workload(code), with one array map
// (key 4, value kValueSize, one entry) as the kernel's; map references in
// the loader's form (lddw src 6 map_idx_value + relocation).
loader::ObjectSpec wrapped_spec(const std::string& name, std::span<const isa::RawInsn> code) {
  loader::ObjectSpec spec;
  spec.name = spec.path = "jit_bench_" + name;
  spec.license = "GPL";
  loader::MapSpec m;
  m.name = "jit_bench_mem";
  m.section = ".maps";
  m.type = kabi::MapType::Array;
  m.key_size = 4;
  m.value_size = kValueSize;
  m.max_entries = 1;
  spec.maps.push_back(m);
  loader::ProgramSpec ps;
  ps.name = "jb_" + name;
  ps.section = "xdp";
  ps.type = kabi::ProgType::Xdp;
  ps.license = "GPL";
  const auto prog = wrap_workload(code, [&ps](std::vector<bpf_insn>& p, uint8_t reg, int32_t off) {
    ps.relocations.push_back({loader::RelocKind::MapValue, uint32_t(p.size()), 0, uint32_t(off), "jit_bench_mem"});
    p.push_back(raw_insn(BPF_LD | BPF_DW | BPF_IMM, reg, loader::kPseudoMapIdxValue, 0, 0));
    p.push_back(raw_insn(0, 0, 0, 0, off));
  });
  for (const bpf_insn& i : prog) {
    isa::RawInsn r{};
    r.code = i.code;
    r.dst = i.dst_reg;
    r.src = i.src_reg;
    r.off = i.off;
    r.imm = i.imm;
    ps.insns.push_back(r);
  }
  ps.functions.push_back({ps.name, 0, uint32_t(ps.insns.size())});
  spec.programs.push_back(std::move(ps));
  return spec;
}

// Loads the wrapper of `code` through runtime::Object::load (xbpf's verifier,
// then the JIT with the verdict's facts, as every verified program is
// loaded), fills the map value with the input, and keeps the relocated
// instructions and the verdict for the other placements. A program xbpf's
// verifier rejects is loaded `trusted` (no facts) and reported as such.
struct XbpfWrapped {
  std::unique_ptr<runtime::Object> object;
  std::vector<isa::RawInsn> wrapped;
  std::optional<verifier::Verdict> verdict;
  std::string verifier_error;
  uint8_t* value = nullptr;
};
XbpfWrapped load_wrapped(const std::string& name, std::span<const isa::RawInsn> code) {
  XbpfWrapped x;
  loader::ObjectSpec spec = wrapped_spec(name, code);
  const loader::ProgramSpec& ps = spec.programs[0];
  verifier::Verdict v = verifier::verify(ps.insns, runtime::verifier_env(spec, ps));
  runtime::LoadOptions lo;
  lo.engine = runtime::Engine::Jit;
  if (v.ok) x.verdict = std::move(v);
  else x.verifier_error = fmt::format("insn {}: {}", v.pc, v.message), lo.trusted = true;
  std::vector<isa::RawInsn> insns = ps.insns;
  std::vector<loader::InsnReloc> relocs = ps.relocations;
  auto obj = runtime::Object::load(std::move(spec), g_store.get(), lo);
  if (!obj) die(fmt::format("{}: xbpf runtime load: {}", name, obj.error().message));
  x.object = std::move(*obj);
  auto map = x.object->map("jit_bench_mem");
  if (!map) die(name + ": no map");
  const maps::ArrayLayout l = map->array_layout();
  if (!l.base) die(name + ": map has no flat value");
  x.value = l.base;
  std::memset(x.value, 0, kValueSize);
  std::memcpy(x.value, g_mem, XBPF_MEM_SIZE);
  // The runtime's relocation: lddw src 6 -> the value's address (+ offset).
  for (const loader::InsnReloc& r : relocs) {
    const uint64_t a = reinterpret_cast<uint64_t>(l.base) + r.offset;
    insns[r.insn].src = 0;
    insns[r.insn].imm = int32_t(uint32_t(a));
    insns[r.insn + 1].imm = int32_t(uint32_t(a >> 32));
  }
  x.wrapped = std::move(insns);
  return x;
}

// Runs a wrapper once and checks both results against native: r0 (the
// folded 32 bits) and the full 64-bit result the program stored.
void check_wrapped(const vm::Program& p, const Workload& w, const std::string& what) {
  vm::ExecContext ctx;
  std::memset(w.value + kResultOffset, 0, 8);
  auto r = p.run(reinterpret_cast<uint64_t>(g_dummy_ctx), 0, ctx);
  uint64_t full;
  std::memcpy(&full, w.value + kResultOffset, 8);
  if (!r || *r != fold32(w.checksum) || full != w.checksum)
    die(fmt::format("{}: CHECKSUM MISMATCH ({}): native {:#x}, stored {:#x}, r0 {}", w.name, what, w.checksum, full,
                    r ? fmt::format("{:#x}", *r) : r.error().message));
}

void prepare_xbpf(Workload& w) {
  XbpfWrapped x = load_wrapped(w.name, w.code);
  w.object = std::move(x.object);
  w.wrapped = std::move(x.wrapped);
  w.verdict = std::move(x.verdict);
  w.xbpf_verifier_error = std::move(x.verifier_error);
  w.value = x.value;
  const runtime::Program* rp = w.object->programs().empty() ? nullptr : w.object->programs()[0].get();
  if (!rp || rp->engine() != runtime::Engine::Jit) die(w.name + ": the runtime did not JIT the wrapper");
  check_wrapped(rp->vm(), w, "xbpf runtime JIT");
  w.wrapped_interp = load(w.wrapped, vm::Mode::Verified, w.name);
  check_wrapped(*w.wrapped_interp, w, "xbpf interpreter");
}

Workload prepare(const WorkloadDef& def, const std::string& dir) {
  Workload w;
  w.name = def.name;
  w.native = def.native;
  w.code = workload_code(dir, w.name);
  w.slots = w.code.size();
  w.interp = load(w.code, vm::Mode::Verified, w.name);
  w.jit = load_jit(w.code, {}, w.name);
  w.jit_noalign = load_jit(w.code, {.align_loops = false}, w.name);
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
  if (*i != native || *j != native || *u != native || *k != native)
    die(fmt::format("{}: CHECKSUM MISMATCH: native {:#x}, interpreter {:#x}, jit {:#x}, jit_noalign {:#x}, checked {:#x}",
                    w.name, native, *i, *j, *u, *k));
  w.checksum = native;
  w.insns = c3.insns_executed;
  return w;
}

// ---------------------------------------------------------------------------
// Google Benchmark mode (--gbench): sequential, one benchmark after another.

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

// The 1,000-instruction program of the compile rows (bench/synthetic_program.hpp)
// with a few divisions among the ALU operations.
std::vector<isa::RawInsn> synthetic_program(size_t n) {
  using isa::Op;
  static const Op alu[] = {Op::ADD64_REG, Op::ADD64_IMM, Op::ADD32_IMM, Op::SUB64_REG, Op::MUL64_IMM,
                           Op::AND64_IMM, Op::OR64_REG,  Op::XOR32_REG, Op::LSH64_IMM, Op::RSH64_IMM,
                           Op::MOV64_IMM, Op::MOV64_REG, Op::MOV32_REG, Op::DIV64_REG, Op::ARSH64_IMM};
  static const Op loads[] = {Op::LDXB, Op::LDXH, Op::LDXW, Op::LDXDW};
  return bench::synthetic_program(n, alu, loads);
}

// compile/asmjit_alone: asmjit by itself, encoding what the JIT's code for
// synthetic_1000 holds, without xbpf (no analysis, no lowering decisions):
// 1,578 instructions in the same proportions (per 100: 30 mov of every
// kind, 9 cmp, 9 jcc, 6 add, 5 movzx, 5 xor, 4 push, 4 pop, 3 sub, 3 shl,
// 3 and, 3 div, 3 test, 2 or, 2 sar, 2 jmp, 2 shr, 1 imul, dumped by
// `--dump=synthetic_1000` and counted at 467c838), each jump to a label bound
// a few instructions on, in one CodeHolder reused as compile_once() does.
// What any asmjit-based lowering of that code costs at least.
void bm_asmjit_alone(benchmark::State& st) {
  using namespace asmjit;
  enum K : uint8_t { MovRR, MovRI, MovRM, MovMR, Cmp, Jcc, Add, Movzx, Xor, Push, Pop, Sub, Shl, And, Div, Test, Or, Sar, Jmp, Shr, Imul };
  static const std::pair<K, int> kMix[] = {{MovRR, 12}, {MovRI, 6}, {MovRM, 6}, {MovMR, 6}, {Cmp, 9}, {Jcc, 9},
                                           {Add, 6},    {Movzx, 5}, {Xor, 5},   {Push, 4},  {Pop, 4}, {Sub, 3},
                                           {Shl, 3},    {And, 3},   {Div, 3},   {Test, 3},  {Or, 2},  {Sar, 2},
                                           {Jmp, 2},    {Shr, 2},   {Imul, 1}};
  std::vector<K> pattern;  // the kinds interleaved: kind k at every (100 / count)-th slot
  for (int slot = 0; slot < 100; ++slot)
    for (const auto& [k, n] : kMix)
      if ((slot * n) / 100 != ((slot + 1) * n) / 100) pattern.push_back(k);
  const x86::Gp regs[] = {x86::rax, x86::rdi, x86::rsi, x86::rdx, x86::rcx, x86::r8, x86::rbx, x86::r13, x86::r14, x86::r15};
  constexpr int kInsns = 1578;
  thread_local CodeHolder code;
  size_t emitted = 0;
  for (auto _ : st) {
    code.init(Environment::host());
    x86::Assembler a(&code);
    a.addEncodingOptions(EncodingOptions::kOptimizeForSize | EncodingOptions::kOptimizedAlign);
    Label pending[4];
    int npending = 0;
    for (int i = 0; i < kInsns; ++i) {
      const x86::Gp& d = regs[i % 10];
      const x86::Gp& r = regs[(i * 7 + 3) % 10];
      switch (pattern[size_t(i) % pattern.size()]) {
        case MovRR: a.mov(d, r); break;
        case MovRI: a.mov(d.r32(), Imm(i * 37)); break;
        case MovRM: a.mov(d.r32(), x86::dword_ptr(r, (i & 63) - 32)); break;
        case MovMR: a.mov(x86::qword_ptr(x86::rbp, -8 * ((i & 15) + 1)), d); break;
        case Cmp: a.cmp(d.r32(), Imm(i & 255)); break;
        case Jcc:
        case Jmp:
          if (npending == 4) a.bind(pending[--npending]);
          pending[npending] = a.newLabel();
          if (pattern[size_t(i) % pattern.size()] == Jcc) a.je(pending[npending++]);
          else a.short_().jmp(pending[npending++]);
          break;
        case Add: a.add(d, Imm(i & 127)); break;
        case Movzx: a.movzx(d.r32(), x86::byte_ptr(r, i & 31)); break;
        case Xor: a.xor_(d.r32(), r.r32()); break;
        case Push: a.push(d); break;
        case Pop: a.pop(d); break;
        case Sub: a.sub(d, r); break;
        case Shl: a.shl(d, Imm(i & 63)); break;
        case And: a.and_(d, Imm(0xff)); break;
        case Div: a.div(x86::rdx, x86::rax, x86::r11); break;
        case Test: a.test(d, d); break;
        case Or: a.or_(d, r); break;
        case Sar: a.sar(d, Imm(i & 63)); break;
        case Shr: a.shr(d, Imm(i & 63)); break;
        case Imul: a.imul(d, r, Imm(11)); break;
      }
      if (i % 3 == 2 && npending) a.bind(pending[--npending]);  // each jump lands a few instructions on
    }
    while (npending) a.bind(pending[--npending]);
    code.flatten();
    code.resolveUnresolvedLinks();
    emitted = code.codeSize();
    code.reset(ResetPolicy::kSoft);
  }
  st.counters["insns"] = kInsns;
  st.counters["code_bytes"] = double(emitted);
}

// `idioms`: jit::Options::idioms (compile/synthetic_1000/no_idioms: what finding them costs).
void bm_compile(benchmark::State& st, const std::vector<isa::RawInsn>* code, bool idioms) {
  // Loading (decode + threaded code) is not part of compile time.
  std::vector<std::unique_ptr<vm::Program>> progs;
  uint64_t emit_ns = 0, total_ns = 0;
  size_t insns = 0, bytes = 0;
  for (auto _ : st) {
    st.PauseTiming();
    auto p = load(*code, vm::Mode::Verified, "compile");
    st.ResumeTiming();
    jit::CompileStats stats;
    if (auto r = jit::compile(*p, {.idioms = idioms, .stats = &stats}); !r) die(r.error().message);
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


// ---------------------------------------------------------------------------
// Side-by-side mode.

// A timed series: one engine at one placement. batch(n) runs n times and
// returns ns per run.
struct Series {
  std::string engine;     // native, jit, kernel, interp
  std::string placement;  // jit: Placement::label(); kernel: copy index and address
  std::function<double(uint64_t)> batch;
  uint64_t n = 1;
  std::vector<double> samples;
  std::vector<int> cpus;  // the CPU each sample started on
  double median = 0, p10 = 0, p25 = 0, p75 = 0;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}
double median(const std::vector<double>& v) { return quantile(v, 0.5); }
double geomean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += std::log(x);
  return std::exp(s / double(v.size()));
}

double now_ns() {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
}

volatile u64 g_sink;

std::function<double(uint64_t)> native_batch(NativeFn fn) {
  return [fn](uint64_t n) {
    NativeFn volatile f = fn;  // a call through a pointer the compiler cannot see through
    u64 acc = 0;
    const double t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) acc += f(g_mem, XBPF_MEM_SIZE);
    const double t1 = now_ns();
    g_sink = acc;
    return (t1 - t0) / double(n);
  };
}

// xbpf's runs of the wrapper (r1 = a context it does not read; its input is
// the map value), through vm::Program::run as any user of the runtime.
std::function<double(uint64_t)> program_batch(const vm::Program* p) {
  return [p](uint64_t n) {
    vm::ExecContext ctx;
    u64 acc = 0;
    const double t0 = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
      auto r = p->run(reinterpret_cast<uint64_t>(g_dummy_ctx), 0, ctx);
      acc += r ? *r : 0;
    }
    const double t1 = now_ns();
    g_sink = acc;
    return (t1 - t0) / double(n);
  };
}

// The kernel's own `duration` (mean ns per run over `repeat` runs, without
// the syscall). `expect`: the 32-bit retval every run must return.
std::function<double(uint64_t)> kernel_batch(int fd, uint32_t expect, const std::string& name) {
  return [fd, expect, name](uint64_t n) {
    const auto r = Kernel::test_run(fd, uint32_t(n));
    if (r.retval != expect) die(fmt::format("{}: kernel retval {:#x}, expected {:#x}", name, r.retval, expect));
    return double(r.duration);
  };
}

// Estimated ns per run of a series: the fastest of a few short trial batches
// (a trial that was preempted must not decide the batch size).
double estimate(Series& s) {
  double best = s.batch(1);
  const uint64_t k = uint64_t(std::clamp(20'000.0 / std::max(best, 1.0), 1.0, 100'000.0));
  for (int t = 0; t < 7; ++t) best = std::min(best, s.batch(k));
  return std::max(best, 0.5);
}

std::vector<uint32_t> parse_list(const std::string& s) {
  std::vector<uint32_t> v;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) v.push_back(uint32_t(std::stoul(s.substr(i, j - i))));
    i = j + 1;
  }
  return v;
}

std::string fmt_ns(double ns) {
  if (std::isnan(ns)) return "—";
  if (ns >= 100) return fmt::format("{:.0f}", ns);
  if (ns >= 10) return fmt::format("{:.1f}", ns);
  return fmt::format("{:.2f}", ns);
}
std::string fmt_ratio(double r) { return std::isnan(r) ? "—" : fmt::format("{:.2f}", r); }

struct SideBySideConfig {
  size_t rounds = 300;
  double batch_us = 200;
  std::vector<Placement> placements;
  size_t kernel_copies = 8;
  bool verbose = false;
  bool kernel = true;
  std::string samples_path;  // --samples=FILE: every sample as CSV
};

struct CompileRow {
  std::string name;
  size_t insns = 0, bytes = 0;
  double total_ns = 0, emit_ns = 0;  // medians per compile
  double kernel_load_us = NAN;       // median BPF_PROG_LOAD wall time of the copies
};

CompileRow measure_compile(const std::string& name, std::span<const isa::RawInsn> code, size_t reps,
                           const verifier::JitFacts* facts = nullptr) {
  std::vector<double> total, emit;
  CompileRow row{.name = name};
  for (size_t r = 0; r < reps; ++r) {
    auto p = load(code, vm::Mode::Verified, name);
    jit::CompileStats stats;
    if (auto e = jit::compile(*p, {.stats = &stats, .facts = facts}); !e) die(e.error().message);
    total.push_back(double(stats.emit_ns + stats.memory_ns));
    emit.push_back(double(stats.emit_ns));
    row.insns = stats.insns;
    row.bytes = stats.code_bytes;
  }
  row.total_ns = median(total);
  row.emit_ns = median(emit);
  return row;
}

int side_by_side(std::vector<Workload>& workloads, const SideBySideConfig& cfg) {
  const std::string kernel_note =
      !cfg.kernel ? "kernel JIT not measured (--no-kernel)"
                  : !g_kernel.unavailable.empty() ? "KERNEL JIT UNAVAILABLE: " + g_kernel.unavailable : "";
  if (!kernel_note.empty())
    fmt::print(stderr, "\n*** {} ***\n*** the kernel column is empty ***\n\n", kernel_note);

  // The empty program, on every engine: r0 = 0; exit.
  // Through the runtime as the workloads (verified, facts).
  XbpfWrapped empty = load_wrapped("empty", {});
  if (!empty.verdict) die("empty program: rejected by xbpf's verifier: " + empty.verifier_error);
  auto empty_jit = load_jit(empty.wrapped, {.facts = &empty.verdict->jit_facts}, "empty");
  auto empty_interp = load(empty.wrapped, vm::Mode::Verified, "empty");
  int empty_kernel_fd = -1;
  std::string empty_kernel_error;
  if (cfg.kernel && g_kernel.unavailable.empty())
    empty_kernel_fd = g_kernel.load(g_kernel.wrap({}), "empty", empty_kernel_error, nullptr, nullptr);

  // Series, grouped per workload (the last group: the empty program).
  struct Group {
    std::string name;
    const Workload* w = nullptr;
    std::vector<Series> series;
  };
  std::vector<Group> groups;
  for (Workload& w : workloads) {
    Group g{w.name, &w, {}};
    g.series.push_back({"native", "", native_batch(w.native)});
    for (size_t i = 0; i < cfg.placements.size(); ++i)
      g.series.push_back({"jit", cfg.placements[i].label(), program_batch(w.placed[i].get())});
    for (size_t i = 0; i < w.kernel.size(); ++i)
      g.series.push_back({"kernel", fmt::format("copy{}@{:#x}", i, w.kernel[i].address),
                          kernel_batch(w.kernel[i].fd, fold32(w.checksum), w.name)});
    g.series.push_back({"interp", "", program_batch(w.wrapped_interp.get())});
    groups.push_back(std::move(g));
  }
  {
    Group g{"(empty program)", nullptr, {}};
    g.series.push_back({"native", "", native_batch(xbpf_native_empty)});
    g.series.push_back({"jit", "0", program_batch(empty_jit.get())});
    if (empty_kernel_fd >= 0 && g_kernel.prog_type == BPF_PROG_TYPE_XDP)
      g.series.push_back({"kernel", "copy0", kernel_batch(empty_kernel_fd, 0, "empty")});
    if (empty_kernel_fd >= 0 && g_kernel.prog_type != BPF_PROG_TYPE_XDP) {
      g.series.push_back({"kernel", "copy0", kernel_batch(empty_kernel_fd, 0, "empty")});
      // `duration` is an integer: the wall time of the whole bpf(2) call / repeat as well.
      g.series.push_back({"kernel_wall", "copy0", [fd = empty_kernel_fd](uint64_t n) {
                            return Kernel::test_run(fd, uint32_t(n)).wall_ns / double(n);
                          }});
    }
    g.series.push_back({"interp", "", program_batch(empty_interp.get())});
    groups.push_back(std::move(g));
  }

  // Batch sizes: within a workload, native, every JIT placement and every
  // kernel copy run the same number of runs per batch (about --batch-us of
  // the slowest of the three), so each batch starts equally cold and
  // amortises its warm-up over as many runs; the interpreter gets its own.
  std::vector<Series*> all;
  for (Group& g : groups) {
    double slowest = 0;
    std::vector<std::string> seen;  // the first series of each engine is estimated
    for (Series& s : g.series) {
      if (std::find(seen.begin(), seen.end(), s.engine) != seen.end()) continue;
      seen.push_back(s.engine);
      if (s.engine == "interp") s.n = std::max<uint64_t>(1, uint64_t(cfg.batch_us * 1000 / estimate(s)));
      else if (s.engine != "kernel_wall") slowest = std::max(slowest, estimate(s));
    }
    for (Series& s : g.series) {
      if (s.engine != "interp") s.n = std::max<uint64_t>(1, uint64_t(cfg.batch_us * 1000 / slowest));
      all.push_back(&s);
    }
  }
  fmt::print(stderr, "{} series, {} rounds of about {:.0f} ms\n", all.size(), cfg.rounds,
             double(all.size()) * cfg.batch_us / 1000);

  std::mt19937_64 rng(12345);
  constexpr size_t kWarmupRounds = 3;
  const auto t_start = std::chrono::steady_clock::now();
  for (size_t round = 0; round < kWarmupRounds + cfg.rounds; ++round) {
    std::shuffle(all.begin(), all.end(), rng);
    for (Series* s : all) {
      const int cpu = sched_getcpu();
      const double ns = s->batch(s->n);
      if (round >= kWarmupRounds) s->samples.push_back(ns), s->cpus.push_back(cpu);
    }
    if ((round + 1) % 50 == 0) fmt::print(stderr, "round {}\n", round + 1);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  for (Series* s : all) {
    s->median = median(s->samples);
    s->p10 = quantile(s->samples, 0.10);
    s->p25 = quantile(s->samples, 0.25);
    s->p75 = quantile(s->samples, 0.75);
  }

  // Compile time.
  std::vector<CompileRow> compile_rows;
  for (const Workload& w : workloads) {
    CompileRow row = measure_compile(w.name, w.wrapped, 200, w.verdict ? &w.verdict->jit_facts : nullptr);
    std::vector<double> lu;
    for (const KernelCopy& c : w.kernel) lu.push_back(c.load_us);
    if (!lu.empty()) row.kernel_load_us = median(lu);
    compile_rows.push_back(row);
  }
  static const std::vector<isa::RawInsn> synthetic = synthetic_program(1000);
  compile_rows.push_back(measure_compile("synthetic_1000", synthetic, 200));

  // Report.
  struct Summary {
    double native = NAN, jit = NAN, jit_lo = NAN, jit_hi = NAN, kernel = NAN, kernel_lo = NAN, kernel_hi = NAN,
           interp = NAN;
    double native_iqr = NAN, jit_iqr = NAN, kernel_iqr = NAN;  // median relative IQR of the series
    double native10 = NAN, jit10 = NAN, kernel10 = NAN;  // as native, jit, kernel with p10 for the median
  };
  auto summarize = [](const Group& g) {
    Summary s;
    std::vector<double> jit, kernel, jit_iqr, kernel_iqr, jit10, kernel10;
    for (const Series& x : g.series) {
      const double iqr = (x.p75 - x.p25) / x.median;
      if (x.engine == "native") s.native = x.median, s.native_iqr = iqr, s.native10 = x.p10;
      if (x.engine == "interp") s.interp = x.median;
      if (x.engine == "jit") jit.push_back(x.median), jit_iqr.push_back(iqr), jit10.push_back(x.p10);
      if (x.engine == "kernel") kernel.push_back(x.median), kernel_iqr.push_back(iqr), kernel10.push_back(x.p10);
    }
    if (!jit.empty()) {
      s.jit = median(jit), s.jit_lo = *std::min_element(jit.begin(), jit.end());
      s.jit_hi = *std::max_element(jit.begin(), jit.end()), s.jit_iqr = median(jit_iqr), s.jit10 = median(jit10);
    }
    if (!kernel.empty()) {
      s.kernel = median(kernel), s.kernel_lo = *std::min_element(kernel.begin(), kernel.end());
      s.kernel_hi = *std::max_element(kernel.begin(), kernel.end()), s.kernel_iqr = median(kernel_iqr);
      s.kernel10 = median(kernel10);
    }
    return s;
  };

  std::vector<size_t> per_cpu;
  for (const Series* s : all)
    for (int c : s->cpus) {
      if (c >= 0 && size_t(c) >= per_cpu.size()) per_cpu.resize(size_t(c) + 1);
      if (c >= 0) ++per_cpu[size_t(c)];
    }
  fmt::print("jit_bench side by side: {} rounds x {} series, batches of ~{:.0f} us, {:.1f} s; "
             "xbpf JIT placements: {}; kernel copies: {}; batches per CPU: {}\n",
             cfg.rounds, all.size(), cfg.batch_us, seconds, cfg.placements.size(),
             cfg.kernel && g_kernel.unavailable.empty() ? std::to_string(cfg.kernel_copies) : kernel_note,
             fmt::join(per_cpu, "/"));
  fmt::print("ns per run: medians over rounds; JIT columns: median over placements [min-max over placements]\n\n");
  fmt::print("| workload | BPF insns/run | native ns | xbpf JIT ns [min–max] | kernel JIT ns [min–max] | "
             "interp ns | JIT / native | kernel / native | JIT / kernel | interp / native |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<double> g_native, g_jit, g_kernel_v, g_interp, r_jit, r_kernel, r_jk, r_interp, jit_worst_r,
      kernel_best_r;
  std::vector<std::string> losses;
  for (const Group& g : groups) {
    if (!g.w) continue;
    const Summary s = summarize(g);
    const std::string kcol = !std::isnan(s.kernel)
                                 ? fmt::format("{} [{}–{}]", fmt_ns(s.kernel), fmt_ns(s.kernel_lo), fmt_ns(s.kernel_hi))
                                 : !kernel_note.empty() ? kernel_note : "REJECTED (see below)";
    fmt::print("| {} | {} | {} | {} [{}–{}] | {} | {} | {} | {} | {} | {} |\n", g.name, g.w->insns, fmt_ns(s.native),
               fmt_ns(s.jit), fmt_ns(s.jit_lo), fmt_ns(s.jit_hi), kcol, fmt_ns(s.interp), fmt_ratio(s.jit / s.native),
               fmt_ratio(s.kernel / s.native), fmt_ratio(s.jit / s.kernel), fmt_ratio(s.interp / s.native));
    g_native.push_back(s.native), g_jit.push_back(s.jit), g_interp.push_back(s.interp);
    r_jit.push_back(s.jit / s.native), r_interp.push_back(s.interp / s.native);
    if (!std::isnan(s.kernel)) {
      g_kernel_v.push_back(s.kernel), r_kernel.push_back(s.kernel / s.native), r_jk.push_back(s.jit / s.kernel);
      if (s.jit >= s.kernel) losses.push_back(g.name);
    }
  }
  const bool kernel_all = g_kernel_v.size() == g_native.size();
  fmt::print("| **geomean** | | {} | {} | {}{} | {} | **{}** | **{}** | **{}** | {} |\n", fmt_ns(geomean(g_native)),
             fmt_ns(geomean(g_jit)), g_kernel_v.empty() ? "—" : fmt_ns(geomean(g_kernel_v)),
             kernel_all ? "" : " (partial)", fmt_ns(geomean(g_interp)), fmt_ratio(geomean(r_jit)),
             r_kernel.empty() ? "—" : fmt_ratio(geomean(r_kernel)), r_jk.empty() ? "—" : fmt_ratio(geomean(r_jk)),
             fmt_ratio(geomean(r_interp)));
  for (const Group& g : groups) {
    if (g.w) continue;
    const Summary s = summarize(g);
    double wall = NAN;
    for (const Series& x : g.series)
      if (x.engine == "kernel_wall") wall = x.median;
    fmt::print("| {} | 1 | {} | {} | {} | {} | | | | |\n", g.name, fmt_ns(s.native), fmt_ns(s.jit),
               std::isnan(s.kernel) ? (empty_kernel_error.empty() ? kernel_note : empty_kernel_error)
                                    : std::isnan(wall) ? fmt::format("{} (integer `duration`)", fmt_ns(s.kernel))
                                    : fmt::format("{} (whole bpf(2) call / repeat: {})", fmt_ns(s.kernel), fmt_ns(wall)),
               fmt_ns(s.interp));
  }

  fmt::print("\nSpread within a series (median over a workload's series of (p75 - p25) / median over rounds), "
             "and the ratios again from each series' 10th percentile instead of its median:\n");
  fmt::print("| workload | native | xbpf JIT | kernel JIT | xbpf JIT: align_loops on / off (medians over their placements) "
             "| p10: JIT / native | p10: JIT / kernel |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|\n");
  std::vector<double> p10_jn, p10_jk;
  for (const Group& g : groups) {
    const Summary s = summarize(g);
    std::vector<double> on, off;
    for (const Series& x : g.series)
      if (x.engine == "jit") (x.placement.ends_with("/noalign") ? off : on).push_back(x.median);
    fmt::print("| {} | {:.1f}% | {:.1f}% | {} | {} / {} | {} | {} |\n", g.name, 100 * s.native_iqr, 100 * s.jit_iqr,
               std::isnan(s.kernel_iqr) ? "—" : fmt::format("{:.1f}%", 100 * s.kernel_iqr),
               on.empty() ? "—" : fmt_ns(median(on)), off.empty() ? "—" : fmt_ns(median(off)),
               fmt_ratio(s.jit10 / s.native10), fmt_ratio(s.jit10 / s.kernel10));
    if (g.w) {
      p10_jn.push_back(s.jit10 / s.native10);
      if (!std::isnan(s.kernel10)) p10_jk.push_back(s.jit10 / s.kernel10);
    }
  }
  fmt::print("| **geomean** (workloads) | | | | | **{}** | **{}** |\n", fmt_ratio(geomean(p10_jn)),
             p10_jk.empty() ? "—" : fmt_ratio(geomean(p10_jk)));

  std::vector<std::string> unmeasured;
  for (const Group& g : groups)
    if (g.w && g.w->kernel.empty()) unmeasured.push_back(g.name);
  std::string kernel_target = kernel_all && losses.empty() ? "MET" : "NOT MET";
  if (!unmeasured.empty()) kernel_target += fmt::format("; no kernel figure for: {}", fmt::join(unmeasured, ", "));
  if (!losses.empty()) kernel_target += fmt::format("; xbpf JIT not faster (median) on: {}", fmt::join(losses, ", "));
  fmt::print("\nTargets: xbpf JIT geomean <= 1.3x native: {:.2f}x -> {}; faster than the kernel JIT on every "
             "workload: {}\n",
             geomean(r_jit), geomean(r_jit) <= 1.3 ? "MET" : "NOT MET", kernel_target);

  for (const Workload& w : workloads)
    if (!w.verdict)
      fmt::print("\n{}: rejected by xbpf's verifier too ({}): xbpf runs it loaded `trusted`, without verifier "
                 "facts\n", w.name, w.xbpf_verifier_error);
  bool any_error = false;
  for (const Workload& w : workloads)
    if (!w.kernel_error.empty()) {
      if (!any_error) fmt::print("\nKernel load failures:\n");
      any_error = true;
      fmt::print("  {}: {}\n", w.name, w.kernel_error);
    }

  fmt::print("\nCompile time (xbpf JIT: medians of 200 compiles; kernel: median BPF_PROG_LOAD wall time of the "
             "copies, verification + JIT):\n");
  fmt::print("| program | BPF insns | code bytes | xbpf compile µs | ns / insn | emit ns / insn | kernel load µs | "
             "kernel verifier insns processed |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const CompileRow& r : compile_rows) {
    uint64_t processed = 0;
    for (const Workload& w : workloads)
      if (w.name == r.name) processed = w.kernel_verified_insns;
    fmt::print("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {} | {} |\n", r.name, r.insns, r.bytes, r.total_ns / 1000,
               r.total_ns / double(r.insns), r.emit_ns / double(r.insns),
               std::isnan(r.kernel_load_us) ? "—" : fmt::format("{:.0f}", r.kernel_load_us),
               processed ? std::to_string(processed) : "—");
  }

  if (!cfg.samples_path.empty()) {
    FILE* f = std::fopen(cfg.samples_path.c_str(), "w");
    if (!f) die("cannot write " + cfg.samples_path);
    fmt::print(f, "workload,engine,placement,batch_runs,round,cpu,ns_per_run\n");
    for (const Group& g : groups)
      for (const Series& s : g.series)
        for (size_t r = 0; r < s.samples.size(); ++r)
          fmt::print(f, "{},{},{},{},{},{},{:.2f}\n", g.name, s.engine, s.placement, s.n, r, s.cpus[r], s.samples[r]);
    std::fclose(f);
  }
  if (cfg.verbose) {
    fmt::print("\nEvery series (ns per run: median [p25-p75] over rounds, batch size):\n");
    for (const Group& g : groups)
      for (const Series& s : g.series)
        fmt::print("  {:16} {:7} {:28} {:>10} [{}-{}] n={}\n", g.name, s.engine, s.placement, fmt_ns(s.median),
                   fmt_ns(s.p25), fmt_ns(s.p75), s.n);
  }
  return 0;
}

std::vector<Placement> placements_from(const std::string& aligned, const std::string& noalign,
                                       const std::string& other_latch) {
  std::vector<Placement> v;
  for (uint32_t o : parse_list(aligned)) v.push_back({o, true});
  for (uint32_t o : parse_list(noalign)) v.push_back({o, false});
  for (uint32_t o : parse_list(other_latch)) v.push_back({o, true, true});
  if (v.empty()) die("no placements");
  return v;
}

bool has_flag(int& argc, char** argv, std::string_view name) {
  int out = 1;
  bool found = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == name) found = true;
    else argv[out++] = argv[i];
  }
  argc = out;
  return found;
}

// --corpus=DIR: the JIT's compile time on real programs. Each round loads
// every object once (so a program's compiles are spread over the run, as the
// machine's state drifts); objects xbpf does not load are counted by the
// error's kind (the first words of its message after the object's name).
int corpus_compile_times(const std::filesystem::path& dir, unsigned rounds, unsigned warm, bool verbose) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) die("corpus missing: " + dir.string() + " is not a directory");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".o" && e.path().parent_path().filename() != "invalid")
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  struct Prog {
    std::string name;
    size_t insns = 0, bytes = 0;
    size_t tail_copies = 0, idioms = 0, moves_first = 0, selects = 0, indexed_loads = 0;  // the JIT's special cases
    size_t rel32_retries = 0;  // compiles whose rel8 bound was wrong (CompileStats::rel32_retry)
    std::vector<double> ns;    // emit + memory, one per round
    std::vector<double> emit;  // emit alone (lowering and encoding)
    std::vector<double> warm;  // the fastest of --warm rounds after the load's, emit + memory
  };
  std::vector<Prog> progs;
  std::map<std::string, size_t> failures;  // kind -> objects
  std::vector<bool> loads(files.size(), true);
  runtime::LoadOptions lo;
  lo.engine = runtime::Engine::Jit;
  lo.jit_warm_repeats = warm;
  for (unsigned round = 0; round < rounds; ++round) {
    size_t at = 0;  // index into progs, in load order
    for (size_t f = 0; f < files.size(); ++f) {
      if (!loads[f]) continue;
      auto spec = loader::open_object(files[f].string());
      auto obj = spec ? runtime::Object::load(std::move(*spec), g_store.get(), lo)
                      : Expected<std::unique_ptr<runtime::Object>>(xbpf::unexpected(spec.error()));
      if (!obj) {
        if (round) die(fmt::format("{}: loaded in round 1, not in round {}: {}", files[f].string(), round + 1,
                                   obj.error().message));
        loads[f] = false;
        // "OBJ: prog 'P': KIND 12..." -> "prog: KIND" (also "map 'M': map 'M': KIND")
        const std::string& m = obj.error().message;
        const auto last = m.rfind("': ");
        std::string kind = m.find(": map '") != std::string::npos ? "map: " : m.find(": prog '") != std::string::npos ? "prog: " : "";
        kind += last == std::string::npos ? m : m.substr(last + 3);
        kind = kind.substr(0, kind.find_first_of("0123456789#'("));
        ++failures[kind];
        continue;
      }
      for (const auto& p : (*obj)->programs()) {
        const jit::CompileStats& s = p->jit_stats();
        if (round == 0)
          progs.push_back({fs::relative(files[f], dir).string() + ":" + p->name(), s.insns, s.code_bytes,
                           s.tail_copies, s.idioms, s.moves_first, s.selects, s.indexed_loads, 0, {}, {}, {}});
        if (at >= progs.size() || progs[at].insns != s.insns) die("corpus: programs changed between rounds");
        progs[at].rel32_retries += s.rel32_retry;
        progs[at].emit.push_back(double(s.emit_ns));
        if (warm) progs[at].warm.push_back(double(p->jit_warm_stats().emit_ns + p->jit_warm_stats().memory_ns));
        progs[at++].ns.push_back(double(s.emit_ns + s.memory_ns));
      }
    }
  }
  size_t objects = 0;
  for (bool l : loads) objects += l;
  fmt::print("corpus {}: {} objects, {} loaded by xbpf ({} programs compiled), {} rounds\n", dir.string(),
             files.size(), objects, progs.size(), rounds);
  for (const auto& [kind, n] : failures) fmt::print("  not loaded: {} x {}\n", n, kind);
  if (progs.empty()) return 0;
  std::sort(progs.begin(), progs.end(), [](const Prog& a, const Prog& b) { return a.insns < b.insns; });
  struct Bucket {
    const char* name;
    size_t lo, hi;
  };
  static const Bucket buckets[] = {{"< 20", 0, 20}, {"20-99", 20, 100}, {"100-199", 100, 200},
                                   {">= 200", 200, SIZE_MAX}, {"all", 0, SIZE_MAX}};
  fmt::print("\n| BPF insns | programs | insns | code bytes | compile µs (sum of medians) | ns / insn | "
             "median program's ns / insn | emit ns / insn |{}\n|---|---:|---:|---:|---:|---:|---:|---:|{}\n",
             warm ? " warm µs | warm ns / insn |" : "", warm ? "---:|---:|" : "");
  for (const Bucket& b : buckets) {
    size_t n = 0, insns = 0, bytes = 0;
    double ns = 0, emit = 0, hot = 0;
    std::vector<double> per;
    for (const Prog& p : progs) {
      if (p.insns < b.lo || p.insns >= b.hi) continue;
      ++n;
      insns += p.insns;
      bytes += p.bytes;
      ns += median(p.ns);
      emit += median(p.emit);
      if (warm) hot += median(p.warm);
      per.push_back(median(p.ns) / double(std::max<size_t>(p.insns, 1)));
    }
    if (!n) continue;
    fmt::print("| {} | {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |", b.name, n, insns, bytes, ns / 1000,
               ns / double(insns), median(per), emit / double(insns));
    if (warm) fmt::print(" {:.1f} | {:.1f} |", hot / 1000, hot / double(insns));
    fmt::print("\n");
  }
  size_t copies = 0, idioms = 0, moves = 0, selects = 0, indexed = 0, retries = 0;
  for (const Prog& p : progs)
    copies += p.tail_copies, idioms += p.idioms, moves += p.moves_first, selects += p.selects,
        indexed += p.indexed_loads, retries += p.rel32_retries;
  fmt::print("\ntail copies {}, idioms {}, moves before a branch on zero's operation {}, selects {}, indexed loads {}; "
             "compiles retried with rel32 jumps (a wrong rel8 bound) {}\n", copies, idioms, moves, selects, indexed, retries);
  const Prog& big = progs.back();
  fmt::print("\nlargest: {} ({} insns, {} bytes): {:.1f} µs, {:.1f} ns / insn", big.name, big.insns, big.bytes,
             median(big.ns) / 1000, median(big.ns) / double(big.insns));
  if (warm) fmt::print("; warm {:.1f} µs, {:.1f} ns / insn", median(big.warm) / 1000, median(big.warm) / double(big.insns));
  fmt::print("\n");
  if (verbose) {
    fmt::print("\n| program | insns | code bytes | compile µs: median [min-max] |{}\n|---|---:|---:|---:|{}\n",
               warm ? " warm µs: median [min-max] |" : "", warm ? "---:|" : "");
    for (const Prog& p : progs) {
      fmt::print("| {} | {} | {} | {:.1f} [{:.1f}-{:.1f}] |", p.name, p.insns, p.bytes, median(p.ns) / 1000,
                 *std::min_element(p.ns.begin(), p.ns.end()) / 1000, *std::max_element(p.ns.begin(), p.ns.end()) / 1000);
      if (warm)
        fmt::print(" {:.1f} [{:.1f}-{:.1f}] |", median(p.warm) / 1000, *std::min_element(p.warm.begin(), p.warm.end()) / 1000,
                   *std::max_element(p.warm.begin(), p.warm.end()) / 1000);
      fmt::print("\n");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string obj_dir = take_flag(argc, argv, "obj-dir", XBPF_BENCH_OBJ_DIR);
  const std::string dump = take_flag(argc, argv, "dump", "");
  const std::string dump_kernel = take_flag(argc, argv, "dump-kernel", "");
  const bool gbench = has_flag(argc, argv, "--gbench");
  if (const std::string n = take_flag(argc, argv, "compile-loop", ""); !n.empty()) {
    // Compiles synthetic_1000 N times and nothing else: for profilers
    // (callgrind --toggle-collect='xbpf::jit::compile*': Ir per compile).
    const std::vector<isa::RawInsn> synthetic = synthetic_program(1000);
    for (unsigned long k = std::stoul(n); k-- > 0;) {
      auto p = load(synthetic, vm::Mode::Verified, "compile");
      if (auto r = jit::compile(*p); !r) die(r.error().message);
    }
    return 0;
  }
  if (const std::string corpus = take_flag(argc, argv, "corpus", ""); !corpus.empty())
    return corpus_compile_times(corpus, unsigned(std::stoul(take_flag(argc, argv, "rounds", "21"))),
                                unsigned(std::stoul(take_flag(argc, argv, "warm", "0"))), has_flag(argc, argv, "--verbose"));
  SideBySideConfig cfg;
  cfg.rounds = std::stoul(take_flag(argc, argv, "rounds", "300"));
  cfg.batch_us = std::stod(take_flag(argc, argv, "batch-us", "200"));
  cfg.kernel_copies = std::stoul(take_flag(argc, argv, "kernel-copies", "8"));
  cfg.placements = placements_from(take_flag(argc, argv, "offsets", "0,8,16,24,32,40,48,56,3,13,29,61"),
                                   take_flag(argc, argv, "noalign-offsets", "0,16,32,48"),
                                   take_flag(argc, argv, "other-latch-offsets", ""));
  const std::string filter = take_flag(argc, argv, "filter", "");
  const std::string kernel_type = take_flag(argc, argv, "kernel-type", "xdp");
  cfg.verbose = has_flag(argc, argv, "--verbose");
  if (has_flag(argc, argv, "--no-fit-loops")) g_fit_loops = false;
  if (has_flag(argc, argv, "--fit-loops")) g_fit_loops = true;
  if (auto l = take_flag(argc, argv, "latch", ""); !l.empty()) g_latch = parse_latch(l);
  if (auto l = take_flag(argc, argv, "other-latch", ""); !l.empty()) g_other_latch = parse_latch(l);
  for (OtherOff& o : g_other_off) o.off = has_flag(argc, argv, o.flag);
  if (has_flag(argc, argv, "--no-skip-crossing")) g_no_skip_crossing = true;
  if (has_flag(argc, argv, "--no-facts")) g_no_facts = true;
  cfg.samples_path = take_flag(argc, argv, "samples", "");
  const std::string cpu = take_flag(argc, argv, "cpu", "");
  if (!cpu.empty()) {
    // The kernel's test run runs on the calling CPU too: one CPU for every engine.
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(std::stoi(cpu), &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) die(fmt::format("--cpu={}: {}", cpu, std::strerror(errno)));
  }
  cfg.kernel = !has_flag(argc, argv, "--no-kernel");
  if (gbench) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  } else if (argc > 1) {
    fmt::print(stderr, "jit_bench: unknown argument '{}' (Google Benchmark flags need --gbench)\n", argv[1]);
    return 1;
  }
  bench::fill_input(g_mem);
  if (dump == "synthetic_1000") {  // the compile rows' program, as bm_compile compiles it
    auto p = load(synthetic_program(1000), vm::Mode::Verified, "compile");
    if (auto r = jit::compile(*p); !r) die(r.error().message);
    auto text = jit::disassemble(*p);
    fmt::print("{}", text ? *text : text.error().message);
    return 0;
  }
  static std::vector<Workload> workloads;
  for (const WorkloadDef& def : kWorkloads)
    if (std::string_view(def.name).find(filter) != std::string_view::npos) workloads.push_back(prepare(def, obj_dir));
  for (Workload& w : workloads) {
    if (w.name != dump) continue;
    prepare_xbpf(w);  // what the side-by-side mode runs: the wrapper, verified, with facts (placement 0)
    auto p = load_jit(w.wrapped, {.facts = w.verdict ? &w.verdict->jit_facts : nullptr}, w.name);
    auto text = jit::disassemble(*p);
    fmt::print("{}", text ? *text : text.error().message);
    return 0;
  }
  if (kernel_type == "xdp") g_kernel.prog_type = BPF_PROG_TYPE_XDP;
  else if (kernel_type == "tc") g_kernel.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  else die("--kernel-type is tc or xdp");
  if (cfg.kernel || !dump_kernel.empty()) g_kernel.init(g_mem);
  if (!dump_kernel.empty()) {
    for (Workload& w : workloads) {
      if (w.name != dump_kernel) continue;
      prepare_kernel(w, 1);
      if (w.kernel.empty()) die(w.kernel_error);
      std::vector<uint8_t> bytes;
      Kernel::info(w.kernel[0], &bytes);
      const std::string path = w.name + ".kernel.bin";
      FILE* f = std::fopen(path.c_str(), "wb");
      if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) die("cannot write " + path);
      std::fclose(f);
      fmt::print("{}: {} bytes of kernel JIT code at {:#x} written to {}\n"
                 "objdump -D -b binary -m i386:x86-64 -M intel {}\n",
                 w.name, bytes.size(), w.kernel[0].address, path, path);
      return 0;
    }
    die("no workload " + dump_kernel);
  }
  if (!gbench) {
    for (Workload& w : workloads) {
      prepare_xbpf(w);
      const verifier::JitFacts* facts = w.verdict && !g_no_facts ? &w.verdict->jit_facts : nullptr;
      for (const Placement& p : cfg.placements)
        w.placed.push_back(load_jit(w.wrapped,
                                    {.align_loops = p.align_loops, .code_offset = p.code_offset, .facts = facts},
                                    w.name, p.other_latch));
      for (size_t i = 0; i < w.placed.size(); ++i)
        check_wrapped(*w.placed[i], w, "xbpf JIT at placement " + cfg.placements[i].label());
      // The placements compile what the runtime compiled: placement 0 with the
      // default options is the runtime's code, byte for byte.
      const auto mine = jit::code_of(*w.placed[0]);
      const auto runtime_code = jit::code_of(w.object->programs()[0]->vm());
      const Placement& p0 = cfg.placements[0];
      if (p0.code_offset == 0 && p0.align_loops && !p0.other_latch && !g_no_facts && g_fit_loops == jit::Options{}.fit_loops &&
          g_latch == jit::Options{}.latch && !g_no_skip_crossing &&
          !std::ranges::equal(mine->code, runtime_code->code))
        die(w.name + ": placement 0 is not the code the runtime compiled");
      if (cfg.kernel) prepare_kernel(w, cfg.kernel_copies);
    }
    return side_by_side(workloads, cfg);
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
    benchmark::RegisterBenchmark(("compile/" + w.name).c_str(), bm_compile, &w.code, true);
  benchmark::RegisterBenchmark("compile/synthetic_1000", bm_compile, &synthetic, true);
  benchmark::RegisterBenchmark("compile/synthetic_1000/no_idioms", bm_compile, &synthetic, false);
  benchmark::RegisterBenchmark("compile/asmjit_alone", bm_asmjit_alone);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
