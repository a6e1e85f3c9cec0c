#include "verifier/cfg.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace xbpf::verifier {
namespace {

using isa::Form;
using isa::Insn;
using isa::Op;

constexpr uint32_t kNone = UINT32_MAX;

Unexpected<CfgError> cfg_fail(uint32_t pc, std::string msg) { return Unexpected<CfgError>(CfgError{pc, std::move(msg)}); }

bool is_cond_jump(Form f) { return f == Form::JumpImm || f == Form::JumpReg; }
bool is_uncond_jump(const Insn& i) { return i.op == Op::JA || i.op == Op::JA32; }
uint32_t width(const Insn& i) { return isa::info(i.op).form == Form::LoadImm64 ? 2 : 1; }

// Successor slots of one instruction inside its subprogram (calls fall
// through: the callee is a separate subprogram).
void successors(const Insn& i, std::vector<uint32_t>& out) {
  out.clear();
  const Form f = isa::info(i.op).form;
  if (f == Form::Exit) return;
  if (is_uncond_jump(i)) {
    out.push_back(static_cast<uint32_t>(i.target()));
    return;
  }
  out.push_back(i.pc + width(i));
  if (is_cond_jump(f)) out.push_back(static_cast<uint32_t>(i.target()));
}

}  // namespace

uint32_t Cfg::subprog_of(uint32_t pc) const {
  auto it = std::upper_bound(subprogs_.begin(), subprogs_.end(), pc,
                             [](uint32_t p, const Subprog& s) { return p < s.start; });
  return static_cast<uint32_t>(it - subprogs_.begin()) - 1;
}

BasicExpected<Cfg, CfgError> Cfg::build(std::span<const Insn> insns, const CfgOptions& opts) {
  Cfg c;
  if (insns.empty()) return cfg_fail(0, "no instructions");
  const uint32_t slots = insns.back().pc + width(insns.back());
  if (slots > opts.max_insns)
    return cfg_fail(0, fmt::format("BPF program is too large. Processed {} insn (limit {})", slots, opts.max_insns));
  c.index_.assign(slots, kNone);
  for (uint32_t k = 0; k < insns.size(); ++k) c.index_[insns[k].pc] = k;

  // Subprogram starts: 0, every local call target, every `lddw rX, func` target.
  std::vector<uint32_t> starts{0};
  for (const Insn& i : insns) {
    if (i.op == Op::CALLX) return cfg_fail(i.pc, "unknown opcode 8d");
    if (i.op == Op::CALL_LOCAL || i.op == Op::LDDW_FUNC) {
      if (!opts.allow_calls)  // the kernel's add_subprog_and_kfunc, before anything else looks at them
        return cfg_fail(i.pc, "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN");
      starts.push_back(static_cast<uint32_t>(i.target()));
    }
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  for (size_t k = 0; k < starts.size(); ++k)
    c.subprogs_.push_back(Subprog{starts[k], k + 1 < starts.size() ? starts[k + 1] : slots, {}, false});

  // Jumps stay inside their subprogram; each subprogram ends in exit or goto.
  for (const Insn& i : insns) {
    const Form f = isa::info(i.op).form;
    const Subprog& s = c.subprogs_[c.subprog_of(i.pc)];
    if (f == Form::Jump || f == Form::JumpLong || is_cond_jump(f)) {
      const int64_t t = i.target();
      if (t < s.start || t >= s.end) return cfg_fail(i.pc, fmt::format("jump out of range from insn {} to {}", i.pc, t));
    }
    if (i.pc + width(i) == s.end && f != Form::Exit && !is_uncond_jump(i))
      return cfg_fail(i.pc, "last insn is not an exit or jmp");
  }
  for (const Insn& i : insns) {
    Subprog& s = c.subprogs_[c.subprog_of(i.pc)];
    const uint32_t callee = i.op == Op::CALL_LOCAL || i.op == Op::LDDW_FUNC
                                ? c.subprog_of(static_cast<uint32_t>(i.target())) : kNone;
    if (callee == kNone) continue;
    if (i.op == Op::LDDW_FUNC) c.subprogs_[callee].address_taken = true;
    else if (std::find(s.callees.begin(), s.callees.end(), callee) == s.callees.end()) s.callees.push_back(callee);
  }

  // Depth-first walk of each subprogram reachable from the main one (through
  // calls or taken addresses): unreachable instructions, back-edges.
  c.prune_.assign(slots, false);
  c.loop_head_.assign(slots, false);
  enum : uint8_t { kUnseen, kOnStack, kDone };
  std::vector<uint8_t> state(slots, kUnseen);
  std::vector<uint32_t> succ;
  std::vector<std::pair<uint32_t, size_t>> stack;  // (pc, next successor to explore)
  std::vector<bool> sub_reached(c.subprogs_.size(), false);
  std::vector<uint32_t> work{0};
  sub_reached[0] = true;
  while (!work.empty()) {
    const Subprog& s = c.subprogs_[work.back()];
    work.pop_back();
    stack.push_back({s.start, 0});
    state[s.start] = kOnStack;
    while (!stack.empty()) {
      auto& [pc, next] = stack.back();
      const Insn& i = insns[c.index_[pc]];
      if (next == 0) {
        const Form f = isa::info(i.op).form;
        // A conditional jump is checked before it forks (the kernel's prune
        // point since 6.3: a stored state there covers both outcomes) and
        // each outcome again (a refined state prunes what the first missed).
        if (is_cond_jump(f)) c.prune_[i.pc] = c.prune_[i.pc + 1] = c.prune_[static_cast<uint32_t>(i.target())] = true;
        if (is_uncond_jump(i)) c.prune_[static_cast<uint32_t>(i.target())] = true;
        if (f == Form::CallLocal || f == Form::Call) c.prune_[i.pc + 1] = true;
        if (i.op == Op::CALL_LOCAL || i.op == Op::LDDW_FUNC) {
          const uint32_t callee = c.subprog_of(static_cast<uint32_t>(i.target()));
          if (!sub_reached[callee]) sub_reached[callee] = true, work.push_back(callee);
        }
      }
      successors(i, succ);
      if (next < succ.size()) {
        const uint32_t t = succ[next++];
        if (state[t] == kOnStack) {
          if (!opts.allow_loops) return cfg_fail(pc, fmt::format("back-edge from insn {} to {}", pc, t));
          c.loop_head_[t] = c.prune_[t] = true;
        } else if (state[t] == kUnseen) {
          state[t] = kOnStack;
          stack.push_back({t, 0});
        }
        continue;
      }
      state[pc] = kDone;
      stack.pop_back();
    }
  }
  for (const Insn& i : insns)
    if (state[i.pc] == kUnseen) return cfg_fail(i.pc, fmt::format("unreachable insn {}", i.pc));

  // Call graph from the main program and from each callback: recursion is
  // refused, and so is a chain deeper than the kernel's 8 frames (which also
  // bounds this walk's own recursion).
  std::vector<uint8_t> cstate(c.subprogs_.size(), kUnseen);
  std::vector<uint32_t> depth(c.subprogs_.size(), 1);
  std::optional<CfgError> err;
  auto visit = [&](auto& self, uint32_t sp, uint32_t level) -> void {
    cstate[sp] = kOnStack;
    for (uint32_t callee : c.subprogs_[sp].callees) {
      if (err) return;
      auto call_site = [&] {
        for (const Insn& i : insns)
          if (i.op == Op::CALL_LOCAL && c.subprog_of(i.pc) == sp && c.subprog_of(static_cast<uint32_t>(i.target())) == callee)
            return i;
        return insns[0];
      };
      if (cstate[callee] == kOnStack) {
        const Insn i = call_site();
        err = CfgError{i.pc, fmt::format("recursive call from insn {} to {}", i.pc, i.target())};
        return;
      }
      if (level + 1 > kMaxCallFrames) {
        err = CfgError{call_site().pc, fmt::format("the call stack of {} frames is too deep !", level + 1)};
        return;
      }
      if (cstate[callee] == kUnseen) self(self, callee, level + 1);
      depth[sp] = std::max(depth[sp], depth[callee] + 1);
      if (depth[sp] + level - 1 > kMaxCallFrames && !err)
        err = CfgError{call_site().pc, fmt::format("the call stack of {} frames is too deep !", depth[sp] + level - 1)};
    }
    cstate[sp] = kDone;
  };
  for (uint32_t sp = 0; sp < c.subprogs_.size() && !err; ++sp)
    if (sp == 0 || c.subprogs_[sp].address_taken) visit(visit, sp, 1);
  if (err) return Unexpected<CfgError>(*err);
  c.max_depth_ = depth[0];
  return c;
}

std::optional<CfgError> Cfg::check_stack_depth(std::span<const isa::Insn> insns,
                                               std::span<const int32_t> depth) const {
  constexpr int kMaxStack = 512, kTailCallStack = 256;
  constexpr int32_t kTailCall = 12;  // BPF_FUNC_tail_call
  struct Edge {
    uint32_t callee;
    uint32_t pc;
  };
  std::vector<std::vector<Edge>> edges(subprogs_.size());
  std::vector<bool> tail_calls(subprogs_.size(), false);
  for (const Insn& i : insns) {
    const uint32_t sp = subprog_of(i.pc);
    if (i.op == Op::CALL_LOCAL || i.op == Op::LDDW_FUNC)
      edges[sp].push_back({subprog_of(static_cast<uint32_t>(i.target())), i.pc});
    else if (i.op == Op::CALL && i.imm == kTailCall)
      tail_calls[sp] = true;
  }
  auto frame_size = [&](uint32_t sp) { return sp < depth.size() ? (std::max(depth[sp], 0) + 15) / 16 * 16 : 0; };
  // Level by level (level = frames in the chain): the most stack any chain
  // leaves below each subprogram, and the call that achieves it. Linear in
  // the call graph per level, so hostile call graphs cannot blow it up; the
  // frame limit bounds the levels (build() refused deeper direct chains).
  constexpr int kUnreached = -1;
  std::vector<int> below(subprogs_.size(), kUnreached), next(subprogs_.size());
  std::vector<uint32_t> at(subprogs_.size(), 0), next_at(subprogs_.size());
  for (uint32_t sp = 0; sp < subprogs_.size(); ++sp)
    if (sp == 0 || subprogs_[sp].address_taken) below[sp] = 0, at[sp] = subprogs_[sp].start;
  for (uint32_t frames = 1; frames <= kMaxCallFrames + 1; ++frames) {
    std::fill(next.begin(), next.end(), kUnreached);
    bool any = false;
    for (uint32_t sp = 0; sp < subprogs_.size(); ++sp) {
      if (below[sp] == kUnreached) continue;
      if (frames > 1 && tail_calls[sp] && below[sp] >= kTailCallStack)
        return CfgError{at[sp], fmt::format("tail_calls are not allowed when call stack of previous frames is {} "
                                            "bytes. Too large", below[sp])};
      const int total = below[sp] + frame_size(sp);
      if (total > kMaxStack)
        return CfgError{at[sp], fmt::format("combined stack size of {} calls is {}. Too large", frames, total)};
      for (const Edge& e : edges[sp])
        if (total > next[e.callee]) next[e.callee] = total, next_at[e.callee] = e.pc, any = true;
    }
    if (!any) break;
    below.swap(next);
    at.swap(next_at);
  }
  return std::nullopt;
}

}  // namespace xbpf::verifier
