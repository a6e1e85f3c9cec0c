// BPF_PROG_TEST_RUN: run a program once or `repeat` times on given packet
// data and/or context, with the kernel's rules for each program type
// (net/bpf/test_run.c):
//
//  * xdp: data in a 4 KiB frame with XDP_PACKET_HEADROOM (256) of headroom;
//    ctx_in is a struct xdp_md whose data (metadata length) and data_end
//    (== data size) describe the input, egress_ifindex must be 0; data_out
//    runs from data_meta to data_end after the run (head/tail adjustments
//    included); ctx_out gets data/data_end relative to data_meta.
//  * sched_cls/sched_act (L2) and socket_filter/cgroup_skb (L3): an skb whose
//    protocol comes from the Ethernet header (eth_type_trans) and, for L3
//    types, whose data starts after the 14-byte Ethernet header; data_out
//    always starts with the Ethernet header (zeroed for L3 types, as the
//    kernel pushes a blank one back). ctx_in may set only mark, priority,
//    ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size,
//    hwtstamp (anything else: EINVAL); ctx_out returns those.
//    bpf_skb_change_tail may make the packet up to 16,064 bytes long
//    (BPF_SKB_MAX_LEN), as in the kernel.
//  * repeat: every run sees the packet as the last one left it (the kernel
//    reuses one skb or xdp_buff).
//  * kprobe, perf_event, tracepoint, raw_tracepoint, sock_ops, other types:
//    ctx_in is the context itself (no data); ctx_out is the context after.
//
// Errors carry the kernel's errno (EINVAL for a bad ctx/data, ENOSPC is not
// produced: outputs are returned whole).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/object.hpp"

namespace xbpf::runtime {

struct TestRun {
  std::span<const uint8_t> data_in;
  std::optional<std::span<const uint8_t>> ctx_in;  // absent: no context given
  bool want_ctx_out = false;                        // return the context even without ctx_in
  uint32_t repeat = 1;                              // 0 behaves as 1, as the kernel
  uint32_t flags = 0;                               // must be 0 (no live frames, no cpu)
  helpers::TraceLog* trace = nullptr;               // bpf_trace_printk sink
};

struct TestRunResult {
  uint32_t retval = 0;
  std::vector<uint8_t> data_out;
  std::vector<uint8_t> ctx_out;
  uint32_t duration_ns = 0;  // mean per run
  uint64_t redirect_ifindex = 0;  // bpf_redirect's target, or a devmap entry's ifindex
  uint32_t redirect_map_id = 0;   // bpf_redirect_map: the map and the key (0 / 0 otherwise)
  uint32_t redirect_key = 0;
};

[[nodiscard]] Expected<TestRunResult> test_run(const Program& prog, const TestRun& opts);
// Whether test runs of the program type take a packet (data_in): XDP and
// the skb types (the others run on their context alone).
[[nodiscard]] bool takes_packet(ProgType t);

// One run per packet of a pcap file (libpcap), with the same options
// (data_in is each packet). Counts results by return value.
struct PcapRunSummary {
  uint64_t packets = 0;
  std::map<uint32_t, uint64_t> verdicts;  // retval -> packets
  std::vector<TestRunResult> results;     // only when keep_results
};
// `progress`, when given, is called about every 1024 packets with the
// packets run so far and the fraction of the file read (0..1).
using PcapProgress = std::function<void(uint64_t packets, double fraction)>;
[[nodiscard]] Expected<PcapRunSummary> run_pcap(const Program& prog, const std::string& path, TestRun opts,
                                                bool keep_results = false, const PcapProgress& progress = {});
// Calls `each` with the captured bytes of every packet of a pcap file (pcap
// or pcapng, through libpcap; valid during the call), in order, and stops at
// its first error (returned with the file and the packet's number). Returns
// the packets read.
using PacketFn = std::function<Expected<void>(std::span<const uint8_t> packet)>;
[[nodiscard]] Expected<uint64_t> for_each_packet(const std::string& path, const PacketFn& each,
                                                 const PcapProgress& progress = {});

}  // namespace xbpf::runtime
