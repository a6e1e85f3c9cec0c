// Embedder packet hooks: an application that processes packets in user space
// (a DPDK-style port, a tun reader, a pcap replayer) opens a hook by device
// name and runs every packet through whatever XDP program is attached to that
// device in the store. Attaching and detaching happen from other processes
// (`xbpf net attach xdp PROG dev NAME`, maps::Store::attach_xdp); the running
// hook picks a change up at its next packet without restarting.
//
// Why a generation counter: looking the device up in the store costs a few
// system calls, and loading the attached program (verify + JIT) far more; a
// per-packet path cannot afford either. The store keeps one shared counter,
// bumped on every attach and detach; run() compares it with the value it saw
// last (one atomic load) and looks the device up only when it moved, keeping
// the loaded program when the device still runs the same link.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <linux/bpf.h>

#include "helpers/run_state.hpp"
#include "helpers/trace_log.hpp"
#include "maps/store.hpp"
#include "runtime/context.hpp"
#include "runtime/object.hpp"
#include "support/error.hpp"

namespace xbpf::hooks {

// What became of one packet.
struct Verdict {
  uint32_t action = XDP_PASS;  // the program's return value (XDP_DROP, XDP_PASS, XDP_TX, ...)
  // The packet as the program left it (head/tail adjustments, rewrites), from
  // data to data_end: a view valid until the next run(). With no program
  // attached, the input itself.
  std::span<const uint8_t> data;
  uint32_t prog_id = 0;           // the program that ran; 0: none attached (action XDP_PASS)
  uint32_t redirect_ifindex = 0;  // XDP_REDIRECT: bpf_redirect's target, or a devmap entry's ifindex
  uint32_t redirect_map_id = 0;   // XDP_REDIRECT through bpf_redirect_map: the map and its key
  uint32_t redirect_key = 0;      // (a cpumap's CPU, an xskmap's queue); 0 / 0 for bpf_redirect
};

// One hook on one device. Not thread-safe: one per packet-processing thread
// (each has its own packet buffer and loaded copy of the program; the maps
// are shared through the store).
class PacketHook {
 public:
  // The device name follows the kernel's rules (1..15 characters, no '/',
  // ':' or white space; EINVAL otherwise). Nothing needs to be attached yet.
  // `opts` is how the attached program is loaded (engine, mode).
  [[nodiscard]] static Expected<std::unique_ptr<PacketHook>> open(std::shared_ptr<maps::Store> store,
                                                                  std::string device,
                                                                  runtime::LoadOptions opts = {});
  // Runs `packet` (an Ethernet frame, 14..3520 bytes: the XDP frame of
  // BPF_PROG_TEST_RUN) through the attached program, if any. Errors: EINVAL
  // for a packet size out of range; the attached program's load error (as
  // long as that link stays attached); a checked-mode fault.
  [[nodiscard]] Expected<Verdict> run(std::span<const uint8_t> packet);

  [[nodiscard]] const std::string& device() const { return device_; }
  // The program loaded for the device as of the last run(), 0 if none.
  [[nodiscard]] uint32_t prog_id() const { return prog_ ? prog_->id() : 0; }
  [[nodiscard]] uint32_t link_id() const { return link_id_; }

 private:
  PacketHook() = default;
  void reload(uint64_t generation);

  std::shared_ptr<maps::Store> store_;
  std::string device_;
  runtime::LoadOptions opts_;
  const std::atomic<uint64_t>* generation_ = nullptr;
  uint64_t seen_ = 0;
  bool loaded_once_ = false;
  uint32_t link_id_ = 0;
  std::unique_ptr<runtime::Object> obj_;
  const runtime::Program* prog_ = nullptr;
  std::optional<Error> load_error_;
  std::optional<helpers::TraceLog> trace_;  // the store's bpf_trace_printk log
  runtime::LowBuffer buf_;   // the frame, below 4 GiB (the context holds 32-bit pointers)
  helpers::RunState state_;  // reused: its vectors keep their capacity
  xdp_md ctx_{};
};

}  // namespace xbpf::hooks
