// Internal: validation of object files read back from a store.
#pragma once

#include "maps/shm.hpp"
#include "maps/store.hpp"

namespace xbpf::maps::detail {

// Reads and checks the header of an opened object file (magic, version, kind,
// id, checksum, CPU count, and that the file is exactly as big as it claims).
// EINVAL with a message naming the file when anything is off.
[[nodiscard]] Expected<ObjHeader> read_header(const ObjectFile& f, ObjectKind kind, uint32_t id);
// read_header for a map, plus the attributes re-validated and the storage
// size recomputed from them.
[[nodiscard]] Expected<MapAttr> read_map_header(const ObjectFile& f, uint32_t id);

// "map", "prog", "BTF", "link": object kinds in messages.
[[nodiscard]] const char* kind_name(ObjectKind kind);

// Program records in the object's storage.
[[nodiscard]] std::vector<uint8_t> serialize_program(const ProgramRecord& rec);
[[nodiscard]] Expected<ProgramRecord> parse_program(const uint8_t* p, size_t n, const std::string& path);
// Link records likewise (the detached flag lives in the header, not here).
[[nodiscard]] std::vector<uint8_t> serialize_link(const LinkRecord& rec);
[[nodiscard]] Expected<LinkRecord> parse_link(const uint8_t* p, size_t n, const std::string& path);

}  // namespace xbpf::maps::detail

namespace xbpf::maps {

// A process's hold on a store object: its flock(LOCK_SH) keeps the object alive.
class Store::Hold {
 public:
  explicit Hold(detail::ObjectFile f) : file(std::move(f)) {}
  detail::ObjectFile file;
};

}  // namespace xbpf::maps
