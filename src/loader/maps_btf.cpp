// Stages: BTF-defined maps (SEC(".maps"), libbpf's parse_btf_map_def), their
// `values = {...}` initialisers (.rel.maps), and BTF key/value types of
// legacy maps declared with BTF_ANNOTATE_KV_PAIR.
#include <algorithm>
#include <bit>

#include "loader/context.hpp"

namespace xbpf::loader::detail {
namespace {

constexpr uint32_t kPageSize = 4096;

// A map definition struct read from BTF (libbpf's struct btf_map_def).
struct BtfMapDef {
  MapSpec map;
  bool has_type = false;
  bool has_inner = false;
  MapSpec inner;
  uint64_t values_offset = UINT64_MAX;
};

class DefParser {
 public:
  DefParser(const Context& c, const btf::Btf& b) : c_(c), b_(b) {}
  Expected<void> parse(std::string_view map_name, uint32_t def_id, BtfMapDef& out, bool is_inner);

 private:
  template <class... Args>
  Unexpected<Error> fail(std::string_view map, fmt::format_string<Args...> f, Args&&... args) const {
    return sec_fail(c_, c_.btf_maps_section, "map '{}': {}", map, fmt::format(f, std::forward<Args>(args)...));
  }
  // Integer attributes are encoded as `int (*name)[VALUE]`.
  Expected<uint32_t> int_field(std::string_view map, const btf::Member& m) const;
  // `key`/`value` are `T *name`: the size of T, and T's id.
  Expected<std::pair<uint32_t, uint32_t>> typed_field(std::string_view map, const btf::Member& m) const;
  Expected<void> values_field(std::string_view map, const btf::Member& m, BtfMapDef& out, bool is_inner);
  Expected<void> set_size(std::string_view map, std::string_view what, uint32_t& field, uint32_t v) const;

  const Context& c_;
  const btf::Btf& b_;
};

Expected<uint32_t> DefParser::int_field(std::string_view map, const btf::Member& m) const {
  const btf::Type* t = b_.type(b_.resolve(m.type));
  if (!t || t->kind != btf::Kind::Ptr)
    return fail(map, "attribute '{}': expected PTR, got {}", m.name, t ? btf::kind_name(t->kind) : "void");
  const btf::Type* arr = b_.type(t->ref);
  if (!arr || arr->kind != btf::Kind::Array)
    return fail(map, "attribute '{}': expected PTR to ARRAY, got PTR to {}", m.name,
                arr ? btf::kind_name(arr->kind) : "void");
  return arr->nelems;
}

Expected<std::pair<uint32_t, uint32_t>> DefParser::typed_field(std::string_view map, const btf::Member& m) const {
  const btf::Type* t = b_.type(m.type);
  if (!t || t->kind != btf::Kind::Ptr)
    return fail(map, "{} spec is not PTR: {}", m.name, t ? btf::kind_name(t->kind) : "void");
  auto size = b_.size_of(t->ref);
  if (!size) return fail(map, "can't determine {} size for type [{}]: {}", m.name, t->ref, size.error().message);
  if (*size > UINT32_MAX) return fail(map, "{} size {} is too large", m.name, *size);
  return std::pair{static_cast<uint32_t>(*size), t->ref};
}

Expected<void> DefParser::set_size(std::string_view map, std::string_view what, uint32_t& field, uint32_t v) const {
  if (field && field != v) return fail(map, "conflicting {} size {} != {}", what, field, v);
  field = v;
  return {};
}

Expected<void> DefParser::values_field(std::string_view map, const btf::Member& m, BtfMapDef& out, bool is_inner) {
  const bool mim = is_map_in_map(out.map.type);
  const bool prog_array = out.map.type == MapType::ProgArray;
  if (is_inner) return fail(map, "multi-level inner maps are not supported");
  if (!mim && !prog_array) return fail(map, "'values' needs a map-in-map or prog-array map");
  if (auto r = set_size(map, "value", out.map.value_size, 4); !r) return r;
  const btf::Type* arr = b_.type(m.type);
  if (!arr || arr->kind != btf::Kind::Array || arr->nelems != 0)
    return fail(map, "'values' is not a zero-sized array");
  const btf::Type* ptr = b_.type(b_.resolve(arr->elem_type));
  if (!ptr || ptr->kind != btf::Kind::Ptr) return fail(map, "'values' elements are not pointers");
  const btf::Type* pointee = b_.type(b_.resolve(ptr->ref));
  out.values_offset = m.bit_offset / 8;
  if (prog_array) {
    if (!pointee || pointee->kind != btf::Kind::FuncProto)
      return fail(map, "prog-array 'values' do not point to functions");
    return {};
  }
  if (!pointee || pointee->kind != btf::Kind::Struct) return fail(map, "map-in-map inner definition is not a struct");
  BtfMapDef inner;
  std::string inner_name = fmt::format("{}.inner", map);
  if (auto r = parse(inner_name, pointee->id, inner, true); !r) return r;
  out.inner = std::move(inner.map);
  out.inner.name = std::move(inner_name);
  out.has_inner = true;
  return {};
}

Expected<void> DefParser::parse(std::string_view map, uint32_t def_id, BtfMapDef& out, bool is_inner) {
  const btf::Type* def = b_.type(def_id);
  for (size_t i = 0; i < def->members.size(); ++i) {
    const btf::Member& m = def->members[i];
    const std::string_view n = m.name;
    MapSpec& s = out.map;
    uint32_t* target = n == "max_entries" ? &s.max_entries
                       : n == "map_flags"   ? &s.flags
                       : n == "numa_node"   ? &s.numa_node
                       : nullptr;
    if (target || n == "type") {
      auto v = int_field(map, m);
      if (!v) return unexpected(v.error());
      if (target) *target = *v;
      if (n == "type") s.type = static_cast<MapType>(*v), out.has_type = true;
    } else if (n == "key_size" || n == "value_size" || n == "pinning" || n == "map_extra") {
      auto v = int_field(map, m);
      if (!v) return unexpected(v.error());
      if (n == "key_size" || n == "value_size") {
        auto r = set_size(map, n.substr(0, n.find('_')), n == "key_size" ? s.key_size : s.value_size, *v);
        if (!r) return r;
      } else if (n == "map_extra") {
        s.map_extra = *v;
      } else {
        if (is_inner) return fail(map, "inner map definitions can't be pinned");
        // libbpf knows 0 and 1 only; Cilium's own loader adds values such as
        // 16 (replace). Keep the number: the live loader decides.
        s.pinning = *v;
      }
    } else if (n == "key" || n == "value") {
      auto kv = typed_field(map, m);
      if (!kv) return unexpected(kv.error());
      auto r = set_size(map, n, n == "key" ? s.key_size : s.value_size, kv->first);
      if (!r) return r;
      (n == "key" ? s.btf_key_type_id : s.btf_value_type_id) = kv->second;
    } else if (n == "values") {
      if (i + 1 != def->members.size()) return fail(map, "'values' must be the last member");
      if (auto r = values_field(map, m, out, is_inner); !r) return r;
    } else {
      return fail(map, "unknown field '{}'", n);
    }
  }
  if (!out.has_type || out.map.type == MapType::Unspec) return fail(map, "map type isn't specified");
  return {};
}

// libbpf rounds ring buffer sizes up to a power-of-2 number of pages.
uint32_t adjust_ringbuf(uint32_t sz) {
  if (sz == 0 || (sz % kPageSize == 0 && std::has_single_bit(sz / kPageSize))) return sz;
  for (uint64_t mul = 1; mul * kPageSize <= UINT32_MAX; mul <<= 1)
    if (mul * kPageSize > sz) return static_cast<uint32_t>(mul * kPageSize);
  return sz;
}

void finish(MapSpec& m) {
  if (m.type == MapType::Ringbuf || m.type == MapType::UserRingbuf) m.max_entries = adjust_ringbuf(m.max_entries);
}

// The offset of map variable `name` in .maps: its ELF symbol (clang leaves
// the DATASEC offsets zero until libbpf fixes them up), else the DATASEC's.
uint64_t var_offset(const Context& c, std::string_view name, uint64_t fallback) {
  for (const elf::Symbol& s : c.symbols)
    if (s.section_index == c.btf_maps_section && s.name == name && s.type != kSttSection) return s.value;
  return fallback;
}

Expected<void> add_btf_map(Context& c, DefParser& parser, const btf::VarSecinfo& vsi) {
  const btf::Btf& b = *c.obj.btf;
  const elf::Section& sec = c.section(c.btf_maps_section);
  const btf::Type* var = b.type(vsi.type);
  std::string_view name = var ? var->name : "";
  if (!var || var->kind != btf::Kind::Var)
    return sec_fail(c, sec.index, "DATASEC entry [{}] is not a VAR", vsi.type);
  if (name.empty()) return sec_fail(c, sec.index, "map variable [{}] has no name", vsi.type);
  if (var->linkage != uint32_t(btf::VarLinkage::GlobalAllocated))
    return sec_fail(c, sec.index, "map '{}': unsupported linkage {} (maps must be global)", name, var->linkage);
  const btf::Type* def = b.type(b.resolve(var->ref));
  if (!def || def->kind != btf::Kind::Struct)
    return sec_fail(c, sec.index, "map '{}': definition is not a struct", name);
  const uint64_t off = var_offset(c, name, vsi.offset);
  if (def->size > vsi.size && vsi.size != 0) return sec_fail(c, sec.index, "map '{}': invalid definition size", name);
  if (off > sec.size || def->size > sec.size - off)
    return sec_fail(c, sec.index, "map '{}' (offset {:#x}, {} bytes) runs past the section end", name, off, def->size);
  BtfMapDef d;
  if (auto r = parser.parse(name, def->id, d, false); !r) return r;
  d.map.name = std::string(name);
  d.map.section = sec.name;
  d.map.origin = MapOrigin::BtfDefined;
  d.map.section_index = sec.index;
  d.map.section_offset = static_cast<uint32_t>(off);
  finish(d.map);
  const auto idx = static_cast<uint32_t>(c.obj.maps.size());
  c.map_at[{sec.index, off}] = idx;
  c.btf_map_vars.push_back({idx, off, std::max<uint64_t>(vsi.size, def->size), d.values_offset});
  if (d.has_inner) d.map.inner_map = idx + 1;
  c.obj.maps.push_back(std::move(d.map));
  if (d.has_inner) {
    d.inner.section = sec.name;
    d.inner.origin = MapOrigin::InnerTemplate;
    d.inner.section_index = sec.index;
    d.inner.section_offset = static_cast<uint32_t>(off);
    finish(d.inner);
    c.obj.maps.push_back(std::move(d.inner));
  }
  return {};
}

// Legacy maps declared with BTF_ANNOTATE_KV_PAIR get a struct
// "____btf_map_<name>" whose `key` and `value` members give the types.
void annotate_legacy_maps(Context& c) {
  const btf::Btf& b = *c.obj.btf;
  for (MapSpec& m : c.obj.maps) {
    if (m.origin != MapOrigin::Legacy) continue;
    auto id = b.find("____btf_map_" + m.name, btf::Kind::Struct);
    if (!id) continue;
    for (const btf::Member& mem : b.type(*id)->members) {
      auto size = b.size_of(mem.type);
      if (mem.name == "key" && size && *size == m.key_size) m.btf_key_type_id = mem.type;
      if (mem.name == "value" && size && *size == m.value_size) m.btf_value_type_id = mem.type;
    }
  }
}

}  // namespace

Expected<void> collect_btf_maps(Context& c) {
  if (c.obj.btf) annotate_legacy_maps(c);
  if (!c.btf_maps_section) return {};
  const btf::Btf& b = *c.obj.btf;  // read_btf guarantees BTF when .maps exists
  auto ds = b.find(".maps", btf::Kind::Datasec);
  if (!ds) return sec_fail(c, c.btf_maps_section, "no DATASEC '.maps' in BTF");
  DefParser parser(c, b);
  for (const btf::VarSecinfo& vsi : b.type(*ds)->vars)
    if (auto r = add_btf_map(c, parser, vsi); !r) return r;
  return {};
}

Expected<void> collect_map_inits(Context& c) {
  if (!c.btf_maps_section) return {};
  for (const elf::Section& rs : c.elf.sections()) {
    if ((rs.type != kShtRel && rs.type != kShtRela) || rs.info != c.btf_maps_section) continue;
    auto rels = c.elf.relocations(rs);
    if (!rels) return unexpected(rels.error());
    for (uint32_t i = 0; i < rels->size(); ++i) {
      const elf::Relocation& r = (*rels)[i];
      const std::string name = c.symbol_name(r.symbol);
      auto var = std::find_if(c.btf_map_vars.begin(), c.btf_map_vars.end(), [&](const BtfMapVar& v) {
        return v.offset <= r.offset && r.offset + 8 <= v.offset + v.size;
      });
      if (var == c.btf_map_vars.end())
        return sec_fail(c, rs.info, "relocation {} ('{}') at offset {:#x} is inside no map", i, name, r.offset);
      MapSpec& m = c.obj.maps[var->map];
      if (var->values_offset == UINT64_MAX || r.offset - var->offset < var->values_offset ||
          (r.offset - var->offset - var->values_offset) % 8 != 0)
        return sec_fail(c, rs.info, "map '{}': relocation {} ('{}') is not an element of 'values'", m.name, i, name);
      const uint64_t slot = (r.offset - var->offset - var->values_offset) / 8;
      if (slot >= m.max_entries)
        return sec_fail(c, rs.info, "map '{}': values[{}] is beyond max_entries {}", m.name, slot, m.max_entries);
      const elf::Symbol& sym = c.symbols[r.symbol];
      MapSlotInit init{static_cast<uint32_t>(slot), 0, name};
      if (is_map_in_map(m.type)) {
        auto t = std::find_if(c.obj.maps.begin(), c.obj.maps.end(), [&](const MapSpec& x) {
          return x.origin == MapOrigin::BtfDefined && x.name == name;
        });
        if (sym.section_index != c.btf_maps_section || t == c.obj.maps.end())
          return sec_fail(c, rs.info, "map '{}': values[{}] = '{}' is not a BTF-defined map", m.name, slot, name);
        init.target = static_cast<uint32_t>(t - c.obj.maps.begin());
      } else {
        auto t = std::find_if(c.obj.programs.begin(), c.obj.programs.end(), [&](const ProgramSpec& p) {
          return p.name == name && p.section_index == sym.section_index && p.section_offset * 8 == sym.value;
        });
        if (t == c.obj.programs.end())
          return sec_fail(c, rs.info, "map '{}': values[{}] = '{}' is not an entry-point program", m.name, slot, name);
        init.target = static_cast<uint32_t>(t - c.obj.programs.begin());
      }
      m.init.push_back(std::move(init));
    }
  }
  return {};
}

}  // namespace xbpf::loader::detail
