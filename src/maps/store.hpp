// The object store: where xbpf's shared objects live.
//
// A store is a directory, normally on tmpfs (default /dev/shm/xbpf-<uid>;
// overridable with XBPF_STORE or --store, read only at entry points). Every
// object (map, program) is one file there, mmapped by each process that uses
// it; ids are store-wide and never reused while the store exists. Pinning
// gives an object a name (a path under the store's pin directory) that keeps
// it alive; an unpinned object is reclaimed when no process holds it, also
// when its holders were killed. Access is governed by file permissions: a
// store directory owned by another user is refused with EACCES.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "maps/map.hpp"
#include "support/error.hpp"

namespace xbpf::maps {

enum class ObjectKind : uint8_t { Map, Program, Btf };

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
