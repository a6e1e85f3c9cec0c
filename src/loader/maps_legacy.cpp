// Stage: legacy map definitions, SEC("maps") (libbpf < 1.0, samples/bpf,
// iproute2, Cilium) and iproute2's SEC("maps/NAME").
//
// A section holds fixed-size records of u32 fields, one per map symbol. The
// record size is the section size divided by the number of map symbols, as
// libbpf computed it. Layouts seen in the wild:
//   16..20 bytes  libbpf bpf_map_def: type, key_size, value_size, max_entries[, map_flags]
//   24, 28 bytes  samples/bpf bpf_map_def: ..., map_flags, inner_map_idx[, numa_node]
//             or  iproute2 bpf_elf_map (old): ..., flags, id, pinning
//   36 bytes      iproute2 bpf_elf_map: ..., flags, id, pinning, inner_id, inner_idx
//   other sizes   read with the iproute2 field order as far as they go
// The two 28-byte layouts differ in the last two fields; see read_record().
#include <algorithm>

#include "loader/context.hpp"

namespace xbpf::loader::detail {
namespace {

constexpr uint32_t kFlagNumaNode = 1u << 2;  // BPF_F_NUMA_NODE

struct Record {
  MapSpec map;
  uint32_t inner_map_idx = UINT32_MAX;  // samples/bpf: index of the inner map among legacy maps
  uint32_t inner_id = 0;                // iproute2: id of the inner map template
  uint32_t inner_idx = 0;               // iproute2: slot of this map in its outer map
};

// Decodes one record of `size` bytes at `off` (bounds checked by the caller).
Record read_record(std::span<const uint8_t> d, size_t off, size_t size) {
  auto field = [&](size_t i) { return i * 4 + 4 <= size ? read_u32(d, off + i * 4) : 0u; };
  Record r;
  r.map.type = static_cast<MapType>(field(0));
  r.map.key_size = field(1);
  r.map.value_size = field(2);
  r.map.max_entries = field(3);
  r.map.flags = field(4);
  if (size == 24 || size == 28) {
    // samples/bpf puts inner_map_idx[, numa_node] here; old iproute2 id,
    // pinning. numa_node means something only with BPF_F_NUMA_NODE, and an
    // inner map index only on a map-in-map, so each field is read as the one
    // layout where it is meaningful.
    if (is_map_in_map(r.map.type))
      r.inner_map_idx = field(5);
    else
      r.map.legacy_id = field(5);
    if (r.map.flags & kFlagNumaNode)
      r.map.numa_node = field(6);
    else
      r.map.pinning = field(6);
  } else {
    r.map.legacy_id = field(5);
    r.map.pinning = field(6);
    r.inner_id = field(7);
    r.inner_idx = field(8);
  }
  return r;
}

// The map symbols of a legacy section, sorted by offset, aliases removed.
std::vector<const elf::Symbol*> map_symbols(const Context& c, size_t sec) {
  std::vector<const elf::Symbol*> out;
  for (const elf::Symbol& s : c.symbols)
    if (s.section_index == sec && s.type != kSttSection && s.type != 4 /* STT_FILE */) out.push_back(&s);
  std::stable_sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->value < b->value; });
  out.erase(std::unique(out.begin(), out.end(), [](auto* a, auto* b) { return a->value == b->value; }), out.end());
  return out;
}

Expected<void> read_section(Context& c, const elf::Section& s, std::vector<Record>& out) {
  auto syms = map_symbols(c, s.index);
  if (syms.empty()) {
    c.obj.warnings.push_back(fmt::format("section {}: no map symbols, section ignored", s.name));
    return {};
  }
  const size_t size = s.data.size();
  if (size == 0 || size % syms.size() != 0)
    return sec_fail(c, s.index, "cannot tell the map definition size: {} bytes for {} map symbols", size,
                    syms.size());
  const size_t rec = size / syms.size();
  if (rec < 16 || rec % 4 != 0)
    return sec_fail(c, s.index, "map definitions of {} bytes (from {} bytes, {} symbols); expected a multiple of 4, "
                    "at least 16", rec, size, syms.size());
  for (const elf::Symbol* sym : syms) {
    if (sym->value > size || rec > size - sym->value)
      return sec_fail(c, s.index, "map '{}' at offset {:#x} runs past the section end ({} bytes)", sym->name,
                      sym->value, size);
    Record r = read_record(s.data, sym->value, rec);
    r.map.name = sym->name.empty() ? fmt::format("{}+{:#x}", s.name, sym->value) : sym->name;
    r.map.section = s.name;
    r.map.origin = MapOrigin::Legacy;
    r.map.section_index = s.index;
    r.map.section_offset = static_cast<uint32_t>(sym->value);
    out.push_back(std::move(r));
  }
  return {};
}

// Resolves inner-map references once every legacy map is known.
Expected<void> link_inner_maps(Context& c, std::vector<Record>& recs, uint32_t base) {
  for (Record& r : recs) {
    if (!is_map_in_map(r.map.type)) continue;
    if (r.inner_map_idx != UINT32_MAX) {
      if (r.inner_map_idx >= recs.size() || &recs[r.inner_map_idx] == &r)
        return sec_fail(c, r.map.section_index, "map '{}': inner_map_idx {} does not name another map ({} maps)",
                        r.map.name, r.inner_map_idx, recs.size());
      r.map.inner_map = base + r.inner_map_idx;
    } else if (r.inner_id != 0) {
      for (size_t j = 0; j < recs.size(); ++j) {
        if (recs[j].map.legacy_id != r.inner_id || &recs[j] == &r) continue;
        if (!r.map.inner_map) r.map.inner_map = base + static_cast<uint32_t>(j);
        r.map.init.push_back({recs[j].inner_idx, base + static_cast<uint32_t>(j), recs[j].map.name});
      }
      if (!r.map.inner_map)
        return sec_fail(c, r.map.section_index, "map '{}': inner_id {} matches no map id", r.map.name, r.inner_id);
    }
  }
  return {};
}

}  // namespace

Expected<void> collect_legacy_maps(Context& c) {
  std::vector<Record> recs;
  for (const elf::Section& s : c.elf.sections())
    if (c.roles[s.index] == SecRole::LegacyMaps)
      if (auto r = read_section(c, s, recs); !r) return r;
  const auto base = static_cast<uint32_t>(c.obj.maps.size());
  if (auto r = link_inner_maps(c, recs, base); !r) return r;
  for (Record& r : recs) {
    c.map_at[{r.map.section_index, r.map.section_offset}] = static_cast<uint32_t>(c.obj.maps.size());
    c.obj.maps.push_back(std::move(r.map));
  }
  return {};
}

}  // namespace xbpf::loader::detail
