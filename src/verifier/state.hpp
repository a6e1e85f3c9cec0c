// The abstract state the verifier tracks per path: registers, stack frames,
// acquired references. Names and printed forms follow the kernel's verifier
// log ("R1=ctx() R10=fp0", "map_value_or_null"), so messages read the same.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "verifier/scalar.hpp"

namespace xbpf::verifier {

struct MapDesc;

// enum bpf_reg_type, the subset xbpf tracks.
enum class RegType : uint8_t {
  NotInit,
  Scalar,
  PtrToCtx,
  ConstPtrToMap,
  PtrToMapValue,
  PtrToMapKey,
  PtrToStack,
  PtrToPacketMeta,
  PtrToPacket,
  PtrToPacketEnd,
  PtrToMem,   // helper-returned memory (ringbuf record: MEM_RINGBUF), mem_size bytes
  PtrToFunc,  // address of a subprogram (callback)
  // struct bpf_sock_common / struct bpf_sock from a socket lookup: read-only
  // uapi fields (no arithmetic); ref_obj_id is the reference sk_release drops.
  PtrToSockCommon,
  PtrToSocket,
};

// Type flags (the kernel's PTR_MAYBE_NULL, MEM_RDONLY, MEM_RINGBUF).
enum RegFlag : uint8_t {
  kMaybeNull = 1,
  kRdonly = 2,
  kRingbuf = 4,
};

[[nodiscard]] bool is_pointer(RegType t);
[[nodiscard]] bool is_packet(RegType t);  // pkt or pkt_meta (not pkt_end)

struct RegState {
  RegType type = RegType::NotInit;
  uint8_t flags = 0;
  int32_t off = 0;           // pointers: fixed offset from the base
  Scalar var = Scalar::constant(0);  // scalars: the value; pointers: the variable offset
  uint32_t id = 0;           // copies share it: null checks and packet ranges refine them all
  uint32_t ref_obj_id = 0;   // acquired reference (ringbuf record, socket) this pointer is
  const MapDesc* map = nullptr;  // map pointer / map value / map key
  uint32_t range = 0;        // packet: bytes proven readable from `off`
  uint32_t mem_size = 0;     // PtrToMem
  uint8_t frameno = 0;       // PtrToStack: whose frame
  uint32_t subprog = 0;      // PtrToFunc: subprogram index

  static RegState scalar(const Scalar& s) {
    RegState r;
    r.type = RegType::Scalar;
    r.var = s;
    return r;
  }
  static RegState unknown() { return scalar(Scalar::unknown()); }
  [[nodiscard]] bool maybe_null() const { return flags & kMaybeNull; }
  bool operator==(const RegState&) const = default;

  // "ctx()", "fp-8", "map_value_or_null(map=counts,ks=4,vs=8)", "scalar(...)", "1".
  [[nodiscard]] std::string to_string() const;
  // The kernel's type name for messages: "map_value_or_null", "pkt_end", "fp".
  [[nodiscard]] std::string type_name() const;
};

// Storage of the state's vectors. States are copied at every fork and every
// stored state, and their two big blocks, a frame (1,184 bytes) and a stack
// of slots (112 bytes each), are above glibc's per-thread cache (1,032
// bytes): every copy took malloc's slow path. Freed blocks wait instead in
// per-thread lists by size class (16-byte steps up to kPoolMaxBytes), a
// bounded number of bytes per thread (state_pool.cpp); verify() gives them
// back to malloc when it returns (pool_trim).
inline constexpr size_t kPoolMaxBytes = 16 * 1024;
[[nodiscard]] void* pool_allocate(size_t bytes);
void pool_free(void* p, size_t bytes) noexcept;
void pool_trim() noexcept;

template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  [[nodiscard]] T* allocate(size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { pool_free(p, n * sizeof(T)); }
  friend bool operator==(const PoolAllocator&, const PoolAllocator&) { return true; }
};

// What one stack byte holds (enum bpf_stack_slot_type).
enum class SlotType : uint8_t { Invalid, Spill, Misc, Zero };

inline constexpr int kStackSize = 512;
inline constexpr int kStackSlots = kStackSize / 8;

struct StackSlot {
  std::array<SlotType, 8> bytes{};  // index 0 = lowest address of the slot
  RegState spilled;                 // valid when bytes are Spill (a full 8-byte spill)
  bool operator==(const StackSlot&) const = default;
};

struct Frame {
  std::array<RegState, 11> regs;
  // Slot k covers fp-512+8k .. fp-505+8k, stored from the frame pointer down
  // (stack[j] is slot kStackSlots-1-j) and only as deep as the program went:
  // a slot not stored is all Invalid. States are copied at every fork and
  // stored state, so a shallow stack keeps them small.
  std::vector<StackSlot, PoolAllocator<StackSlot>> stack;
  // Slot k, stored from now on.
  StackSlot& slot(int k) {
    const auto j = static_cast<size_t>(kStackSlots - 1 - k);
    if (j >= stack.size()) stack.resize(j + 1);
    return stack[j];
  }
  // Slot k as it is (an empty slot when not stored).
  [[nodiscard]] const StackSlot& slot(int k) const {
    static const StackSlot kEmpty{};
    const auto j = static_cast<size_t>(kStackSlots - 1 - k);
    return j < stack.size() ? stack[j] : kEmpty;
  }
  uint32_t callsite = 0;   // pc of the call that created this frame (unused for frame 0)
  uint32_t subprog = 0;    // first pc of the subprogram this frame runs
  int32_t stack_depth = 0;  // deepest byte used, as a positive number
  bool callback = false;    // a callback invoked by a helper (bpf_loop): exits back to the call
  bool operator==(const Frame&) const = default;
};

struct Reference {
  uint32_t id = 0;
  uint32_t insn = 0;  // where it was acquired
  bool operator==(const Reference&) const = default;
};

struct State {
  std::vector<Frame, PoolAllocator<Frame>> frames;  // frames.back() is the current function
  std::vector<Reference> refs;
  // Callback invocations entered on this path (the kernel's
  // callback_unroll_depth): equal states in two iterations of a helper's
  // callback are not an infinite loop, the helper bounds the iterations.
  // Not part of pruning, only of the infinite-loop test.
  uint32_t callback_entries = 0;
  // The bpf_spin_lock held (the kernel's active_lock): the map whose value
  // holds it and the id of the pointer it was taken through (0 for a direct
  // map value). lock_map null: none held.
  const MapDesc* lock_map = nullptr;
  uint32_t lock_id = 0;
  bool operator==(const State&) const = default;
  [[nodiscard]] Frame& cur() { return frames.back(); }
  [[nodiscard]] const Frame& cur() const { return frames.back(); }
};

}  // namespace xbpf::verifier
