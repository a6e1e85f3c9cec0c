// xbpf public C++ API: open a clang-built BPF object, load it into a store,
// run its programs (BPF_PROG_TEST_RUN style), read and write its maps, and
// consume ring buffers and the trace log.
//
//   auto store = xbpf::Store::open(dir);                 // or Store::open_default()
//   auto obj = xbpf::Object::open("prog.o");
//   obj->load(*store);                                   // opened -> loaded
//   auto prog = obj->program("xdp_main");
//   xbpf::TestRun run; run.data_in = packet;
//   auto res = prog->run(run);                           // res->retval, res->data_out
//   auto counts = obj->map("counts");
//   counts->lookup(&key, &value);
//   store->attach_xdp(*prog, "port0");                   // a device runs it ...
//   auto hook = xbpf::PacketHook::open(*store, "port0"); // ... in any process
//   auto v = hook->run(packet);                          // v->action: XDP_PASS, ...
//
// Lifecycle follows libbpf: Object::open (parse, nothing created) ->
// load (maps created in the store, programs loaded) -> program/map access.
// Calling program()/map() before load() is refused with Errc::invalid_argument.
// Handles (Program, Map) keep their object alive. Errors are xbpf::Error with
// the kernel's errno where one applies (Errc::os); messages name the object.
// Thread safety: a loaded Object is read-only; Program::run and Map
// operations may be called from many threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "support/error.hpp"

namespace xbpf {

namespace detail {
struct ObjectState;
struct StoreState;
struct RingState;
struct HookState;
struct Access;  // the implementation's door into the handles
}  // namespace detail

class Program;

// Where shared objects live (a directory, normally on tmpfs).
class Store {
 public:
  // Opens or creates the store at `dir`. Errors: EACCES, ENOTDIR, corrupt metadata.
  [[nodiscard]] static Expected<Store> open(const std::string& dir);
  // XBPF_STORE or /dev/shm/xbpf-<uid>: for entry points (tools, examples).
  [[nodiscard]] static Expected<Store> open_default();
  [[nodiscard]] const std::string& dir() const;
  // Complete lines bpf_trace_printk wrote since `offset` (advanced past them).
  [[nodiscard]] Expected<std::vector<std::string>> read_trace(uint64_t& offset) const;
  // Attaches an XDP program to the packet device `device` (what
  // `xbpf net attach xdp PROG dev NAME [overwrite]` does): every PacketHook
  // open on that device, in any process, runs it from its next packet on.
  // The attachment keeps the program alive until detached. Returns the link
  // id. EINVAL for a program that is not XDP or a bad device name (1..15
  // characters, no '/', ':' or white space); EEXIST when the device runs a
  // program and `replace` is false.
  [[nodiscard]] Expected<uint32_t> attach_xdp(const Program& prog, const std::string& device,
                                              bool replace = false) const;
  // Detaches the program of `device` (ENOENT when none).
  [[nodiscard]] Expected<void> detach_xdp(const std::string& device) const;

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::StoreState> s_;
};

// Options of one test run (see runtime/test_run.hpp for the per-type rules).
struct TestRun {
  std::span<const uint8_t> data_in;
  std::optional<std::span<const uint8_t>> ctx_in;
  bool want_ctx_out = false;
  uint32_t repeat = 1;
};

struct TestRunResult {
  uint32_t retval = 0;
  std::vector<uint8_t> data_out;
  std::vector<uint8_t> ctx_out;
  uint32_t duration_ns = 0;  // mean per run
};

struct PcapSummary {
  uint64_t packets = 0;
  std::map<uint32_t, uint64_t> verdicts;  // retval -> packets
};

class Map {
 public:
  [[nodiscard]] const std::string& name() const;
  [[nodiscard]] uint32_t id() const;
  [[nodiscard]] uint32_t key_size() const;
  [[nodiscard]] uint32_t value_size() const;
  // Bytes of a user-side value (per-CPU maps: one slot per possible CPU).
  [[nodiscard]] size_t user_value_size() const;
  // BPF_MAP_LOOKUP_ELEM / UPDATE_ELEM / DELETE_ELEM / GET_NEXT_KEY semantics
  // and errnos (ENOENT when absent or at the end, EEXIST for BPF_NOEXIST...).
  [[nodiscard]] Expected<void> lookup(const void* key, void* value) const;
  [[nodiscard]] Expected<void> update(const void* key, const void* value, uint64_t flags = 0) const;
  [[nodiscard]] Expected<void> remove(const void* key) const;
  // key == nullptr: the first key.
  [[nodiscard]] Expected<void> get_next_key(const void* key, void* next_key) const;

  // Typed lookup; EINVAL when K or V does not have the map's key / user value size.
  template <class K, class V>
  [[nodiscard]] Expected<V> get(const K& key) const {
    if (sizeof(K) != key_size() || sizeof(V) != user_value_size())
      return fail_errno(EINVAL, "map '{}': get<K, V> with sizes {}/{} for a {}/{} map", name(), sizeof(K), sizeof(V),
                        key_size(), user_value_size());
    V v{};
    if (auto r = lookup(&key, &v); !r) return xbpf::unexpected(r.error());
    return v;
  }

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::ObjectState> obj_;
  size_t index_ = 0;
};

class Program {
 public:
  [[nodiscard]] const std::string& name() const;
  [[nodiscard]] std::string_view type() const;  // libbpf name: "xdp", "sched_cls", ...
  [[nodiscard]] uint32_t id() const;            // store id
  // One BPF_PROG_TEST_RUN. bpf_trace_printk output goes to the store's trace log.
  [[nodiscard]] Expected<TestRunResult> run(const TestRun& opts) const;
  // One run per packet of a pcap file.
  [[nodiscard]] Expected<PcapSummary> run_pcap(const std::string& path, const TestRun& opts = {}) const;

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::ObjectState> obj_;
  size_t index_ = 0;
};

class Object {
 public:
  // Parses the ELF object (no maps or programs are created).
  [[nodiscard]] static Expected<Object> open(const std::string& path);
  // Creates maps in `store` and loads every program: xbpf's verifier must
  // accept it, then the JIT compiles it (as a kernel with bpf_jit_enable=1).
  // EINVAL-style errors name the map/program (with the verifier's message).
  [[nodiscard]] Expected<void> load(const Store& store);
  [[nodiscard]] bool loaded() const;
  [[nodiscard]] std::vector<std::string> program_names() const;
  [[nodiscard]] std::vector<std::string> map_names() const;
  // ENOENT (Errc::os) when absent; Errc::invalid_argument before load().
  [[nodiscard]] Expected<Program> program(const std::string& name) const;
  [[nodiscard]] Expected<Map> map(const std::string& name) const;

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::ObjectState> s_;
};

// Calls `each` with the captured bytes of every packet of a pcap (or pcapng)
// file, in order; the bytes are valid during the call. Returns the number of
// packets. Errors name the file (and the record, for a corrupt one).
[[nodiscard]] Expected<uint64_t> for_each_pcap_packet(const std::string& path,
                                                      const std::function<void(std::span<const uint8_t>)>& each);

// What became of one packet that went through a PacketHook.
struct PacketVerdict {
  uint32_t action = 2;  // the XDP program's verdict: 1 XDP_DROP, 2 XDP_PASS, 3 XDP_TX, ...
  // The packet as the program left it: valid until the hook's next run().
  std::span<const uint8_t> data;
  uint32_t prog_id = 0;  // the program that ran; 0 when none is attached (action XDP_PASS)
};

// An embedder packet hook: an application that handles packets in user space
// opens the device NAME and runs each packet through run(). Whatever XDP
// program is attached to NAME (Store::attach_xdp, `xbpf net attach`, from
// any process, before or after open) runs on it; with none attached packets
// pass untouched. Changes are picked up at the next packet (one atomic load
// per packet detects them). Link with xbpf_hooks. One PacketHook per thread.
class PacketHook {
 public:
  [[nodiscard]] static Expected<PacketHook> open(const Store& store, const std::string& device);
  // `packet`: an Ethernet frame of 14..3520 bytes (EINVAL otherwise).
  [[nodiscard]] Expected<PacketVerdict> run(std::span<const uint8_t> packet);
  [[nodiscard]] const std::string& device() const;

 private:
  friend struct detail::Access;
  std::shared_ptr<detail::HookState> s_;
};

// Consumer of BPF_MAP_TYPE_RINGBUF maps (libbpf's ring_buffer).
// One thread per RingBuffer.
class RingBuffer {
 public:
  using Callback = std::function<int(std::span<const uint8_t> record)>;  // < 0 stops
  RingBuffer();
  // EINVAL when `m` is not a ring buffer.
  [[nodiscard]] Expected<void> add(const Map& m, Callback cb);
  // Records consumed (or a callback's negative value).
  int consume();
  // Waits up to timeout_ms (-1: forever) for records, then consumes them.
  int poll(int timeout_ms);

 private:
  std::shared_ptr<detail::RingState> s_;
};

}  // namespace xbpf
