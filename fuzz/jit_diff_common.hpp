// What the two JIT differential fuzzers (fuzz_jit, fuzz_jit_maps) share:
// helpers made deterministic for a run, and the stack tricks that tell an
// outcome depending on stack garbage or addresses from a real difference,
// and the count of compared programs each code-generation option touched.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <map>

#include "helpers/helpers.hpp"
#include "jit/jit.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace xbpf::fuzz {

// Compared programs with a branch the JIT hard-wired (JitFacts::kNeverTaken/
// kAlwaysTaken), a tail copy, an idiom, a move before a branch on zero's
// operation, a select, an indexed load (jit::CompileStats); printed at exit.
struct CodegenCounts {
  size_t decided_branches = 0, tail_copied = 0, idioms = 0, moves_first = 0, selects = 0, indexed_loads = 0;
  void add(const verifier::JitFacts& facts, const jit::CompileStats& stats) {
    decided_branches += std::any_of(facts.insn.begin(), facts.insn.end(), [](uint8_t f) {
      return (f & (verifier::JitFacts::kNeverTaken | verifier::JitFacts::kAlwaysTaken)) != 0;
    });
    tail_copied += stats.tail_copies > 0;
    idioms += stats.idioms > 0;
    moves_first += stats.moves_first > 0;
    selects += stats.selects > 0;
    indexed_loads += stats.indexed_loads > 0;
  }
  void print(const char* fuzzer) const {
    std::fprintf(stderr,
                 "%s: %zu compared programs had a hard-wired (verifier-decided) branch, %zu a tail copy, %zu an "
                 "idiom, %zu a move before a branch on zero's operation, %zu a select, %zu an indexed load\n",
                 fuzzer, decided_branches, tail_copied, idioms, moves_first, selects, indexed_loads);
  }
};

// ---- deterministic helpers (state restarted before every run)
// ktime_get_ns/boot_ns/coarse_ns return a fake clock, get_prandom_u32 a
// fixed-seed generator, get_smp_processor_id 0; bpf_loop and
// bpf_for_each_map_elem share an iteration budget per run (nested callbacks
// could otherwise run 2^23 iterations per level).
inline uint64_t g_clock = 0, g_rand = 0, g_loop_budget = 0;
constexpr uint64_t kLoopBudget = 4096;  // callback iterations per run, all levels together
inline vm::HelperFn g_real_loop = nullptr, g_real_for_each = nullptr;

inline void restart_helpers() {
  g_clock = 1'000'000'000;
  g_rand = 0x9e3779b97f4a7c15ULL;
  g_loop_budget = kLoopBudget;
}
inline uint64_t fake_clock(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) {
  return g_clock += 1000;
}
inline uint64_t fake_prandom(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) {
  g_rand = g_rand * 6364136223846793005ULL + 1442695040888963407ULL;
  return g_rand >> 32;
}
inline uint64_t fake_cpu(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, vm::ExecContext*) { return 0; }
inline uint64_t budget_loop(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, vm::ExecContext* c) {
  const uint64_t n = r1 > (1U << 23) ? r1 : std::min(r1, g_loop_budget);  // above the max: the real -E2BIG
  const uint64_t r = g_real_loop(n, r2, r3, r4, r5, c);
  if (r <= n) g_loop_budget -= std::min(r, g_loop_budget);
  return r;
}
inline uint64_t budget_for_each(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                                vm::ExecContext* c) {
  if (g_loop_budget == 0) return 0;  // as if the map were empty
  const uint64_t r = g_real_for_each(r1, r2, r3, r4, r5, c);
  if (int64_t(r) > 0) g_loop_budget -= std::min(r, g_loop_budget);
  return r;
}

// Replaces the nondeterministic helpers of `h` (a standard table) with the fakes above.
inline void make_deterministic(vm::HelperTable& h) {
  g_real_loop = h.get(181);
  g_real_for_each = h.get(164);
  for (uint32_t id : {5u, 125u, 160u})
    if (h.get(id)) h.set(id, fake_clock, "fake_ktime");
  if (h.get(7)) h.set(7, fake_prandom, "fake_prandom_u32");
  if (h.get(8)) h.set(8, fake_cpu, "fake_smp_processor_id");
  if (h.get(181)) h.set(181, budget_loop, "budget_loop");
  if (h.get(164)) h.set(164, budget_for_each, "budget_for_each_map_elem");
}

// The standard helper table of program type `t`, made deterministic (built
// once per type).
inline const vm::HelperTable& deterministic_table(kabi::ProgType t) {
  static std::map<kabi::ProgType, vm::HelperTable> tables;
  auto it = tables.find(t);
  if (it == tables.end()) {
    vm::HelperTable h = helpers::Registry::standard().table_for(t);
    make_deterministic(h);
    it = tables.emplace(t, std::move(h)).first;
  }
  return it->second;
}

// ---- the stack
// Garbage: every run poisons each BPF frame when it starts
// (vm::ExecContext::stack_poison, jit::Options::stack_poison), so a read of
// stack never written sees the run's pattern on both engines; filling the
// native stack beforehand is not enough (a callback's frame, or a callee's
// after a helper call, reuses memory the helpers' C++ frames wrote, and the
// engines' frames lie at different depths below them).
constexpr uint8_t kPoison = 0xa5, kPoison2 = 0x5a;  // every bit differs
// Addresses: runs a function `shift` bytes deeper than it would otherwise
// start (stack addresses then differ).
template <class F>
__attribute__((noinline)) uint64_t run_shifted(size_t shift, F&& f) {
  void* pad = __builtin_alloca(shift);
  std::memset(pad, 0, shift);
  asm volatile("" : : "r"(pad) : "memory");
  return f();
}

}  // namespace xbpf::fuzz
