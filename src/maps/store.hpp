// The object store: where xbpf's shared objects live.
//
// A store is a directory, normally on tmpfs (default /dev/shm/xbpf-<uid>;
// overridable with XBPF_STORE or --store, read only at entry points). Every
// object (map, program, BTF, link) is one file there, mmapped by each process that uses
// it; ids are store-wide and never reused while the store exists. Pinning
// gives an object a name (a path under the store's pin directory) that keeps
// it alive; an unpinned object is reclaimed when no process holds it, also
// when its holders were killed. Access is governed by file permissions: a
// store directory owned by another user is refused with EACCES. Links
// (programs attached to packet devices) are objects too; a device attachment
// keeps its link alive as a pin does (see attach_xdp).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "maps/map.hpp"
#include "support/error.hpp"

namespace xbpf::maps {

// The numbers are stored in object headers: append only.
enum class ObjectKind : uint8_t { Map, Program, Btf, Link };

// The kernel's numbers a link record carries (enum bpf_link_type, enum
// bpf_attach_type, enum bpf_prog_type) for the one attach point xbpf has.
inline constexpr uint32_t kLinkTypeXdp = 6;      // BPF_LINK_TYPE_XDP
inline constexpr uint32_t kAttachTypeXdp = 37;   // BPF_XDP
inline constexpr uint32_t kProgTypeXdp = 6;      // BPF_PROG_TYPE_XDP

// A source position of a program instruction (bpf_line_info): offsets into
// the string section of the program's BTF object.
struct LineInfoRecord {
  uint32_t insn_off = 0;
  uint32_t file_name_off = 0;
  uint32_t line_off = 0;
  uint32_t line_col = 0;  // line << 10 | column
};
// A function of a program (bpf_func_info): its first instruction and BTF FUNC type.
struct FuncInfoRecord {
  uint32_t insn_off = 0;
  uint32_t type_id = 0;
};

// A program's record in the store (what `prog list`/`prog show` print and
// what another process needs to run its own copy).
struct ProgramRecord {
  uint32_t id = 0;
  std::string name;
  uint32_t prog_type = 0;       // enum bpf_prog_type
  std::string tag;              // hex of a hash of the instructions, as bpftool prints
  std::vector<uint64_t> insns;  // xlated program (raw 8-byte instructions, map refs as pseudo lddw of map ids)
  std::vector<uint32_t> map_ids;
  uint64_t load_time_ns = 0;    // CLOCK_REALTIME
  uint32_t owner_uid = 0;
  uint32_t owner_pid = 0;
  // Since the record's first format (absent in older records: zero/empty).
  uint32_t btf_id = 0;                // the program's BTF object in the store, 0 = none
  uint32_t expected_attach_type = 0;  // enum bpf_attach_type + 1, 0 = none given
  bool gpl = false;                   // GPL-compatible license
  bool jited = false;                 // the loading process compiled it to native code
  uint32_t jited_len = 0;             // bytes of that native code
  uint32_t verified_insns = 0;        // instructions the verifier processed
  std::vector<FuncInfoRecord> func_info;
  std::vector<LineInfoRecord> line_info;
};

// A link's record in the store: a program attached to a hook. Today the only
// hook is an embedder's packet device (hooks::PacketHook): an XDP link.
struct LinkRecord {
  uint32_t id = 0;
  uint32_t link_type = kLinkTypeXdp;
  uint32_t attach_type = kAttachTypeXdp;
  uint32_t prog_id = 0;
  std::string target;     // the device name
  bool detached = false;  // `link detach`: no device runs it any more (the kernel's defunct link)
  uint32_t owner_uid = 0;
  uint32_t owner_pid = 0;
  uint64_t create_time_ns = 0;  // CLOCK_REALTIME
};

class Store : public std::enable_shared_from_this<Store> {
 public:
  // The directory XBPF_STORE names, else /dev/shm/xbpf-<uid>. Entry points only.
  [[nodiscard]] static std::string default_dir();
  // Opens (creating it 0700 if missing) the store at `dir`. Errors: EACCES if
  // owned by another user or not accessible, ENOTDIR, corrupt metadata.
  [[nodiscard]] static Expected<std::shared_ptr<Store>> open(const std::string& dir);

  [[nodiscard]] const std::string& dir() const { return dir_; }

  // BPF_MAP_CREATE. Validates the attributes like the kernel (EINVAL for bad
  // sizes or flags, E2BIG, ...). The map is reclaimed when the last holder
  // drops it, unless pinned.
  [[nodiscard]] Expected<std::shared_ptr<Map>> create_map(const MapAttr& attr);
  // BPF_MAP_GET_FD_BY_ID. ENOENT when no such map.
  [[nodiscard]] Expected<std::shared_ptr<Map>> open_map(uint32_t id);
  // Ids of live maps / programs, ascending (BPF_MAP_GET_NEXT_ID walks).
  [[nodiscard]] Expected<std::vector<uint32_t>> map_ids();

  // Programs: registered by the runtime after loading, kept while held/pinned.
  // A program keeps the maps of rec.map_ids and its BTF object alive, as the
  // kernel's program holds its used maps (refs/p<prog>.<map>.m hard links);
  // ENOENT if one of them is gone.
  [[nodiscard]] Expected<uint32_t> add_program(ProgramRecord rec);
  [[nodiscard]] Expected<ProgramRecord> program(uint32_t id);
  [[nodiscard]] Expected<std::vector<uint32_t>> program_ids();

  // BTF objects (BPF_BTF_LOAD): raw BTF of a loaded object, named by maps
  // (MapAttr::btf_id) and programs (ProgramRecord::btf_id), which keep it
  // alive. The creator holds it until hold_btf() or the store is closed.
  // EINVAL for an empty or oversized blob (the caller parses it).
  [[nodiscard]] Expected<uint32_t> add_btf(std::span<const uint8_t> raw);
  [[nodiscard]] Expected<std::vector<uint8_t>> btf(uint32_t id);
  [[nodiscard]] Expected<std::vector<uint32_t>> btf_ids();

  // Links. A link holds its program (refs/l<link>.p<prog>.0), as the
  // kernel's link holds its bpf_prog: removing the program's pin does not
  // free a program still attached. The creator holds a new link until
  // hold_link() or the store is closed. EINVAL for a bad record, ENOENT if
  // the program is gone.
  [[nodiscard]] Expected<uint32_t> add_link(LinkRecord rec);
  [[nodiscard]] Expected<LinkRecord> link(uint32_t id);
  [[nodiscard]] Expected<std::vector<uint32_t>> link_ids();

  // Device attachments: which link each packet device runs. An attachment is
  // a hard link devs/<device>.xdp to the link's file, so it keeps the link
  // (and through it the program and its maps) alive with no process around,
  // as the kernel keeps an XDP program on a netdev until it is detached.
  // At most one link per device.
  //
  // attach_xdp: creates an XDP link for `prog_id` and attaches it to `device`.
  // EINVAL if the program is not XDP or the device name is bad (the kernel's
  // dev_valid_name: 1..15 bytes, no '/', ':' or white space, not "." / "..");
  // EEXIST if the device runs a link already and `replace` is false. Returns
  // the link id; the caller does not hold the link (the device does).
  [[nodiscard]] Expected<uint32_t> attach_xdp(uint32_t prog_id, const std::string& device, bool replace);
  // The link `device` runs; ENOENT when none.
  [[nodiscard]] Expected<uint32_t> device_link(const std::string& device);
  // Detaches whatever `device` runs (ENOENT when nothing): the link is marked
  // detached and goes unless pinned or held, then its program likewise.
  // Returns the link's id.
  [[nodiscard]] Expected<uint32_t> detach_device(const std::string& device);
  // BPF_LINK_DETACH: the link stops running on its device and is marked
  // detached; it stays while pinned or held. ENOENT if no such link.
  [[nodiscard]] Expected<void> detach_link(uint32_t id);
  // Every device attachment: (device, link id), sorted by device.
  [[nodiscard]] Expected<std::vector<std::pair<std::string, uint32_t>>> devices();
  // Bumped on every attach and detach, by any process: a hook compares it
  // with the value it last saw (one load per packet) and looks its device
  // up again only when it moved.
  [[nodiscard]] const std::atomic<uint64_t>& attach_generation() const;

  // Every pin: (name, kind, id), names sorted (bpftool's `-f`).
  struct PinEntry {
    std::string path;
    ObjectKind kind;
    uint32_t id;
  };
  [[nodiscard]] Expected<std::vector<PinEntry>> pins();

  // BPF_OBJ_PIN / BPF_OBJ_GET. `path` is relative to the store's pin directory
  // ("a/b" allowed, no ".." ). EEXIST if the name is taken, ENOENT if missing.
  [[nodiscard]] Expected<void> pin(ObjectKind kind, uint32_t id, const std::string& path);
  [[nodiscard]] Expected<std::pair<ObjectKind, uint32_t>> pinned(const std::string& path);
  [[nodiscard]] Expected<void> unpin(const std::string& path);

  // Holding keeps an object alive in this process (released on destruction
  // of the returned handle or when the process exits).
  class Hold;
  [[nodiscard]] Expected<std::shared_ptr<Hold>> hold_program(uint32_t id);
  [[nodiscard]] Expected<std::shared_ptr<Hold>> hold_btf(uint32_t id);
  [[nodiscard]] Expected<std::shared_ptr<Hold>> hold_link(uint32_t id);

  ~Store();
  // The map `id` through this process's cache: one mapping per map per
  // process (map-in-map lookups, tail-call resolution). Same errors as open_map.
  [[nodiscard]] Expected<std::shared_ptr<Map>> cached_map(uint32_t id);
  // Whether program `id` exists (prog_array updates check it).
  [[nodiscard]] bool has_program(uint32_t id);
  // Removes orphans: unpinned objects nobody holds (their holders were killed)
  // and half-created files of dead processes. map_ids()/program_ids() call it.
  void sweep();
  // Empties prog arrays only programs refer to (see store.cpp). Part of sweep().
  void clear_unreferenced_prog_arrays();

 private:
  explicit Store(std::string dir) : dir_(std::move(dir)) {}
  [[nodiscard]] Expected<void> init();
  [[nodiscard]] Expected<uint32_t> next_id(ObjectKind kind);
  [[nodiscard]] Expected<std::shared_ptr<Hold>> hold(ObjectKind kind, uint32_t id);
  [[nodiscard]] std::string object_path(ObjectKind kind, uint32_t id) const;
  [[nodiscard]] std::string tmp_path(uint32_t id) const;
  [[nodiscard]] Expected<std::vector<uint32_t>> list(ObjectKind kind);
  [[nodiscard]] std::string device_path(const std::string& device) const;
  void bump_generation();

  std::string dir_;
  void* meta_ = nullptr;  // mmapped id counters shared by every process
  std::mutex mu_;
  std::unordered_map<uint32_t, std::weak_ptr<Map>> cache_;
  // Programs and BTF objects added by this process and not yet held through
  // hold_program() (keyed by object path).
  std::unordered_map<std::string, std::shared_ptr<Hold>> pending_;
  // Links `refs/<holder>.<target>.<slot>` to the object file of `target`;
  // ENOENT if it no longer exists.
  [[nodiscard]] Expected<void> add_ref(const std::string& holder, ObjectKind kind, uint32_t target,
                                       const std::string& slot);
};

}  // namespace xbpf::maps
