// Per-run state the standard helpers read and update, reached through
// vm::ExecContext::runtime. The runtime fills one per run (test-run, hook
// invocation); embedders calling programs directly may leave it null, and the
// helpers then degrade (no packet, no trace log) instead of failing.
//
// Why a side structure instead of private fields after the uapi context: the
// context stays the literal kernel struct (xdp_md, __sk_buff, pt_regs) the
// program was compiled against, and helpers that need more (packet bounds,
// the maps a checked program may name) find it here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "maps/map.hpp"
#include "support/error.hpp"
#include "vm/vm.hpp"

namespace xbpf::helpers {

class TraceLog;

// The tunnel metadata bpf_skb_set_tunnel_key attaches to an skb (the
// kernel's ip_tunnel_info in its per-CPU metadata dst), as the tunnel
// helpers read and write it. Addresses as the kernel's key: IPv4 in the first
// four bytes, network order.
struct TunnelInfo {
  static constexpr uint32_t kOptsMax = 252;  // IP_TUNNEL_OPTS_MAX
  bool present = false;                      // the skb has tunnel metadata
  bool ipv6 = false;                         // IP_TUNNEL_INFO_IPV6
  uint64_t id = 0;
  uint8_t tos = 0, ttl = 0;
  uint32_t flags = 0;  // IP_TUNNEL_*_BIT bits of tun_flags
  uint32_t label = 0;  // IPv6 flow label, host order
  uint8_t src[16]{}, dst[16]{};
  uint32_t opts_len = 0;
  uint8_t opts[kOptsMax]{};
};

// The packet of an XDP or skb program. All pointers are into one buffer
// [lo, hi) allocated below 4 GiB, so the context's 32-bit data fields can hold
// them (see runtime/context.hpp). Helpers that move data/data_end keep the
// context fields (ctx_*) in sync.
struct PacketState {
  uint8_t* lo = nullptr;         // buffer start (xdp: data_hard_start)
  uint8_t* hi = nullptr;         // buffer end (xdp: data_hard_end, tailroom excluded)
  uint8_t* data = nullptr;
  uint8_t* data_end = nullptr;
  uint8_t* data_meta = nullptr;  // == data when there is no metadata
  uint32_t min_headroom = 0;     // bytes below data that adjust_head may not use (xdp_frame)
  uint32_t* ctx_data = nullptr;  // context fields mirroring the pointers (may be null)
  uint32_t* ctx_data_end = nullptr;
  uint32_t* ctx_data_meta = nullptr;
  uint32_t* ctx_len = nullptr;   // __sk_buff.len
  bool is_xdp = false;
  // __sk_buff.hash was set by bpf_set_hash (the kernel's sw_hash): kept
  // even when 0. Otherwise a hash of 0 means none yet.
  bool hash_set = false;
  // skb only: the shortest length bpf_skb_change_tail may give the packet,
  // counted from data: the network header's offset (__bpf_skb_min_len).
  uint32_t min_len = 0;
  // skb only: bpf_skb_adjust_room pushed an encapsulation (skb->encapsulation).
  bool encapsulation = false;
  // skb only: where the tunnel helpers keep the skb's tunnel metadata;
  // nullptr where there is none to keep: bpf_skb_set_tunnel_key then fails
  // with -EOPNOTSUPP, and the getters and set_tunnel_opt fail as on an skb
  // without a key (-EINVAL, or -ENOENT for get_tunnel_opt).
  TunnelInfo* tunnel = nullptr;
};

// The device a test run's packet arrives on, as in the kernel's test runs:
// loopback, the only device xbpf knows.
inline constexpr uint32_t kLoopbackIfindex = 1;

// The longest skb bpf_skb_change_tail may make, counted from data: the
// kernel's BPF_SKB_MAX_LEN, SKB_MAX_ALLOC (four 4 KiB pages less the aligned
// skb_shared_info). Buffers of skb programs that may call it hold that much
// after data; growing past the buffer's end is -ENOMEM.
inline constexpr uint32_t kSkbMaxLen = 4 * 4096 - 320;

// A map a (checked) program may name, with what a helper needs to grant
// access to its values.
struct MapRef {
  maps::Map* map = nullptr;
  bool rdonly_prog = false;  // BPF_F_RDONLY_PROG: values granted read-only
};

struct RunState {
  kabi::ProgType prog_type = kabi::ProgType::Unspec;
  // Checked mode: the regions the program may access. ExecContext::regions
  // views this vector; helpers returning pointers (map values, ring buffer
  // samples) append grants and re-point the span (grant()).
  std::vector<vm::Region> regions;
  std::vector<MapRef> maps;        // maps the program may pass to helpers
  PacketState packet;
  TraceLog* trace = nullptr;       // bpf_trace_printk sink; null: discarded
  uint64_t attach_cookie = 0;      // bpf_get_attach_cookie
  uint64_t func_ip = 0;            // bpf_get_func_ip
  // The last redirect's target: bpf_redirect's ifindex and flags, or
  // bpf_redirect_map's map id and key (a cpumap's CPU, an xskmap's queue)
  // with, for a devmap, the entry's ifindex (0 with BPF_F_BROADCAST, kept
  // in redirect_flags). A failed bpf_redirect_map clears them all.
  uint32_t redirect_ifindex = 0;
  uint64_t redirect_flags = 0;
  uint32_t redirect_map_id = 0;    // 0: no map (bpf_redirect)
  uint32_t redirect_key = 0;
  // Every redirect helper sets the whole target through here (and a new run
  // clears it with set_redirect(0, 0)), so no field survives from an earlier call.
  void set_redirect(uint32_t ifindex, uint64_t flags, uint32_t map_id = 0, uint32_t key = 0) {
    redirect_ifindex = ifindex;
    redirect_flags = flags;
    redirect_map_id = map_id;
    redirect_key = key;
  }
  std::vector<uint64_t> ringbuf_samples;  // reserved, not yet submitted/discarded (checked mode)
  std::optional<Error> error;      // a helper-level failure (e.g. a callback's checked-mode fault)
  const void* tail_call_scope = nullptr;  // runtime: the store whose program ids tail calls resolve in
};

// The run state of a context, or nullptr.
[[nodiscard]] inline RunState* state(vm::ExecContext* c) { return static_cast<RunState*>(c->runtime); }
// The run's packet when the program runs on one (data set), else nullptr.
[[nodiscard]] inline PacketState* packet(vm::ExecContext* c) {
  RunState* s = state(c);
  return s && s->packet.data ? &s->packet : nullptr;
}
// The run's packet when it is an skb (not an XDP frame), else nullptr.
[[nodiscard]] inline PacketState* skb_packet(vm::ExecContext* c) {
  PacketState* p = packet(c);
  return p && !p->is_xdp ? p : nullptr;
}

// Grants [p, p+size) to the running checked program (no-op when verified or
// without run state) and re-points ctx->regions.
void grant(vm::ExecContext* c, const void* p, uint64_t size, bool writable);

// The Map behind a helper's map argument, or nullptr when a checked program
// passed something that is not one of its maps.
[[nodiscard]] maps::Map* map_arg(vm::ExecContext* c, uint64_t r);
// Same, with the map's reference (for rdonly_prog); nullptr when unknown.
[[nodiscard]] const MapRef* map_ref(vm::ExecContext* c, uint64_t r);

}  // namespace xbpf::helpers
