// Precision tracking (the kernel's mark_chain_precision and backtracking).
//
// Scalars in stored states are imprecise by default, and an imprecise scalar
// of a stored state covers any scalar when pruning. A scalar becomes precise
// when a check reads its exact value (pointer arithmetic, helper sizes, a
// branch decided by it, a return range, ...): the driver then walks the
// path's instruction history backwards, turning "this register" into the
// registers and stack slots it was computed from, and marks those precise in
// every stored state (checkpoint) on the way, up the parent chain.
//
// Invariant: a location precise in a checkpoint has had its sources marked in
// all the checkpoint's ancestors, so a walk stops at locations already
// precise. Marks of a checkpoint are final once its subtree is explored
// (branches == 0); only then is it used for pruning with them.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

#include "verifier/checker.hpp"

namespace xbpf::verifier::detail {

// A set of locations per frame: registers and stack slots (spilled scalars).
struct Marks {
  std::array<uint16_t, kMaxCallFrames> regs{};
  std::array<uint64_t, kMaxCallFrames> slots{};
  [[nodiscard]] bool empty() const {
    for (size_t f = 0; f < kMaxCallFrames; ++f)
      if (regs[f] || slots[f]) return false;
    return true;
  }
  void set_all() {
    regs.fill(0xffff);
    slots.fill(~uint64_t{0});
  }
  [[nodiscard]] bool reg(size_t f, int r) const { return regs[f] >> r & 1; }
  [[nodiscard]] bool slot(size_t f, int k) const { return slots[f] >> k & 1; }
};

// Every scalar location of `s` (the conservative "everything matters").
[[nodiscard]] Marks scalar_locations(const State& s);

// The scalar locations of `s` whose value a state `covering` it (compared
// exactly) may rely on: all but those where `covering` holds a scalar it knows
// nothing about (unbounded, unlinked, or plain stack data), for which any
// value of `s` is covered whatever `covering`'s exploration later needs.
[[nodiscard]] Marks scalar_locations_under(const State& covering, const State& s);

// A stored state at a prune point. `first` is the index of the first history
// entry recorded after it: entries on a path below it belong to ancestors.
struct Checkpoint {
  State st;
  Marks precise;
  // Stack liveness, per frame: slots whose contents here some path below
  // reads (final once branches == 0), and slots overwritten whole between
  // the parent checkpoint and this one (they screen reads from the parent).
  std::array<uint64_t, kMaxCallFrames> read{}, seg_written{};
  uint32_t pc = 0;
  int32_t parent = -1;
  int32_t first = 0;
  uint32_t branches = 1;
  uint32_t hits = 0, misses = 0;
  bool listed = false;  // in the driver's per-pc list of states to prune against
  // Register liveness, per frame, the same way (the kernel's REG_LIVE_READ):
  // registers some path below reads before writing them, and registers
  // written between the parent checkpoint and this one.
  std::array<uint16_t, kMaxCallFrames> read_regs{}, seg_written_regs{};
};

// Every stored state of a verification, by index (a deque: appending never
// moves the stored states, which are large).
using Checkpoints = std::deque<Checkpoint>;

// One executed instruction of a path: paths that fork share their prefix
// (entries form a tree through `prev`).
struct HistEntry {
  uint32_t pc = 0;
  int32_t prev = -1;
  uint32_t linked = 0;   // first location of its linked groups in Precision::linked_
  uint16_t nlinked = 0;  // how many (separators included)
  uint8_t frame = 0;     // current frame before the instruction
  uint8_t stack_frame = 0;
  uint8_t slot = 0;
  uint8_t kind = 0;      // StepTrace::StackKind | kCallbackExit
  static constexpr uint8_t kCallbackExit = 0x80;
};

// Marks slots `mask` of frame `frame`, read by the path whose latest
// checkpoint is `cp` and which overwrote `written` since, as read in every
// checkpoint up the chain until a whole overwrite screens them.
void mark_stack_read(Checkpoints& cps, int32_t cp, const std::array<uint64_t, kMaxCallFrames>& written,
                     size_t frame, uint64_t mask);
// The same for registers `mask` of frame `frame`.
void mark_regs_read(Checkpoints& cps, int32_t cp, const std::array<uint16_t, kMaxCallFrames>& written,
                    size_t frame, uint16_t mask);

class Precision {
 public:
  Precision(const Checker& checker, Checkpoints& cps) : checker_(checker), cps_(cps) {}

  // Appends the instruction `i` that just ran in frame `frame` after `prev`;
  // returns the new entry's index.
  int32_t record(int32_t prev, const isa::Insn& i, uint8_t frame, const StepTrace& t);
  [[nodiscard]] int32_t size() const { return static_cast<int32_t>(hist_.size()); }

  // Marks `want` — locations of the path state whose last history entry is
  // `last`, at call depth `depth`, below checkpoint `cp` — precise in every
  // checkpoint they come from.
  // `stop`: a checkpoint on the chain where marking ends (it and its
  // ancestors are left alone); -1 marks up to the root.
  void mark(Marks want, int32_t last, int32_t cp, int depth, int32_t stop = -1);
  // Conservative fallback: every scalar of every checkpoint from `cp` up.
  void mark_all(int32_t cp);
  [[nodiscard]] uint64_t fallbacks() const { return fallbacks_; }

 private:
  bool backtrack_insn(const HistEntry& h, Marks& bt, int after) const;
  void sync_linked(const HistEntry& h, Marks& bt) const;
  bool apply(Checkpoint& c, Marks& bt) const;

  const Checker& checker_;
  Checkpoints& cps_;
  std::vector<HistEntry> hist_;
  std::vector<uint16_t> linked_;
  uint64_t fallbacks_ = 0;
};

}  // namespace xbpf::verifier::detail
