// Internal: the on-disk (tmpfs) format of store objects and the process-local
// handle on one mapped object file. Not part of the public contract.
//
// An object file is one header page (ObjHeader) followed by the type's
// storage. Readers trust nothing in it: the header is checksummed and its
// attributes re-validated, and every index read from storage is bounds-checked.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "maps/map.hpp"
#include "maps/store.hpp"
#include "support/error.hpp"
#include "support/hash.hpp"

namespace xbpf::maps::detail {

inline constexpr uint64_t kObjMagic = 0x314a424f46504258ULL;  // "XBPFOBJ1"
inline constexpr uint32_t kObjVersion = 1;
inline constexpr size_t kPage = 4096;
inline constexpr size_t kHeaderSize = kPage;

struct ObjHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t kind;  // ObjectKind
  uint32_t id;
  uint32_t ncpus;         // possible_cpus() of the creator (per-CPU layouts depend on it)
  uint64_t storage_size;  // bytes after the header
  uint32_t type, key_size, value_size, max_entries, map_flags, inner_map_id;
  uint32_t btf_key_type_id, btf_value_type_id;
  int32_t spin_lock_off;
  uint32_t btf_id;  // store id of the map's BTF object, 0 = none
  uint64_t map_extra;
  char name[16];
  uint64_t checksum;  // FNV-1a of every byte above
  uint32_t frozen;  // accessed with std::atomic_ref: set once by BPF_MAP_FREEZE
};
static_assert(sizeof(ObjHeader) <= kHeaderSize);

[[nodiscard]] uint64_t header_checksum(const ObjHeader& h);
void fill_header(ObjHeader& h, ObjectKind kind, uint32_t id, const MapAttr& attr, uint64_t storage_size);
[[nodiscard]] MapAttr attr_from_header(const ObjHeader& h);

// A mapped object file this process holds (flock LOCK_SH on its own fd).
// Destruction unmaps, then reclaims the file if this was the last holder and
// the object is not pinned (nlink == 1).
class ObjectFile {
 public:
  ObjectFile() = default;
  ObjectFile(ObjectFile&& o) noexcept { *this = std::move(o); }
  ObjectFile& operator=(ObjectFile&& o) noexcept;
  ~ObjectFile() { reset(); }

  // Opens and holds an existing object file: ENOENT if missing or being reclaimed.
  [[nodiscard]] static Expected<ObjectFile> open(const std::string& path);
  // Creates `tmp` of header + storage_size bytes (zero-filled), runs nothing
  // else; the caller fills it, then publish() renames it to `path`.
  [[nodiscard]] static Expected<ObjectFile> create(const std::string& tmp, uint64_t total_size);
  [[nodiscard]] Expected<void> publish(const std::string& path);
  // Maps the whole file; with dup_len != 0 maps [dup_off, dup_off + dup_len)
  // a second time right after the end (ring buffers' wrap-around view).
  [[nodiscard]] Expected<void> map(uint64_t dup_off, uint64_t dup_len);

  [[nodiscard]] uint8_t* base() const { return base_; }
  [[nodiscard]] uint64_t file_size() const { return file_size_; }
  [[nodiscard]] ObjHeader* header() const { return reinterpret_cast<ObjHeader*>(base_); }
  [[nodiscard]] uint8_t* storage() const { return base_ + kHeaderSize; }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  void reset();

 private:
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  size_t map_len_ = 0;
  uint64_t file_size_ = 0;
  std::string path_;
};

// Removes `path` if nobody holds it and it is not pinned. Safe to race with
// openers (they see nlink == 0 and report ENOENT).
void try_reclaim(const std::string& path);
// After map or program `path` was removed: drops the references it held
// (<dir>/refs/<holder>.<target>.<slot> hard links, see store.cpp) and
// reclaims the objects they kept alive.
void release_refs(const std::string& path);

using xbpf::hash_bytes;  // support/hash.hpp (keys, stacks, bloom filter values)

[[nodiscard]] constexpr uint64_t round8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }
[[nodiscard]] constexpr uint64_t round_page(uint64_t v) { return (v + kPage - 1) & ~uint64_t{kPage - 1}; }
[[nodiscard]] constexpr uint32_t roundup_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v && p < (1U << 31)) p <<= 1;
  return p;
}

}  // namespace xbpf::maps::detail
