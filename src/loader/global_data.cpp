// Stages: extern symbols (.kconfig, .ksyms, unresolved functions) and global
// data (.data*, .rodata*, .bss*, .kconfig) as one-entry array maps, named
// and flagged as libbpf does (bpf_object__init_global_data_maps).
#include <algorithm>
#include <cctype>

#include "loader/context.hpp"

namespace xbpf::loader::detail {
namespace {

constexpr uint32_t kFlagRdonlyProg = 1u << 7;  // BPF_F_RDONLY_PROG
constexpr uint32_t kFlagMmapable = 1u << 10;   // BPF_F_MMAPABLE
constexpr size_t kObjNameLen = 16;             // BPF_OBJ_NAME_LEN

// libbpf's internal_map_name(): as much of the object name as fits before the
// section name in 15 characters ("global_v.rodata"); custom sections
// (".rodata.foo") use their own name only.
std::string internal_map_name(std::string_view obj, std::string_view real) {
  size_t sfx = std::min(std::max<size_t>(7, real.size()), kObjNameLen - 1);
  size_t pfx = real.substr(1).find('.') != std::string_view::npos ? 0
                                                                    : std::min(kObjNameLen - sfx - 1, obj.size());
  std::string out = std::string(obj.substr(0, pfx)) + std::string(real.substr(0, sfx));
  for (char& ch : out)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.') ch = '_';
  return out;
}

// The DATASEC describing a data section, and whether any of its variables is
// global (libbpf makes such maps BPF_F_MMAPABLE for skeletons).
void annotate_from_btf(const Context& c, MapSpec& m) {
  if (!c.obj.btf) return;
  auto id = c.obj.btf->find(m.section, btf::Kind::Datasec);
  if (!id) return;
  m.btf_value_type_id = *id;
  for (const btf::VarSecinfo& v : c.obj.btf->type(*id)->vars) {
    const btf::Type* var = c.obj.btf->type(v.type);
    if (var && var->kind == btf::Kind::Var && var->linkage != uint32_t(btf::VarLinkage::Static)) {
      m.flags |= kFlagMmapable;
      break;
    }
  }
}

Expected<void> add_data_map(Context& c, const elf::Section& s) {
  if (s.size > UINT32_MAX) return sec_fail(c, s.index, "size {} does not fit a map value", s.size);
  const SecRole role = c.roles[s.index];
  MapSpec m;
  m.name = internal_map_name(c.obj.name, s.name);
  m.section = s.name;
  m.origin = role == SecRole::Bss ? MapOrigin::Bss : MapOrigin::Data;
  m.type = MapType::Array;
  m.key_size = 4;
  m.value_size = static_cast<uint32_t>(s.size);
  m.max_entries = 1;
  m.flags = role == SecRole::Rodata ? kFlagRdonlyProg : 0;
  if (role != SecRole::Bss) m.data.assign(s.data.begin(), s.data.end());
  m.section_index = s.index;
  annotate_from_btf(c, m);
  c.data_map_of[s.index] = static_cast<uint32_t>(c.obj.maps.size());
  c.obj.maps.push_back(std::move(m));
  return {};
}

// Where the extern named `name` is declared in BTF: its VAR/FUNC id and the
// name of the DATASEC that lists it.
struct ExternBtf {
  uint32_t id = 0;
  btf::Kind kind = btf::Kind::Void;
  std::string_view datasec;
};

std::optional<ExternBtf> find_extern_btf(const btf::Btf& b, std::string_view name) {
  ExternBtf out;
  for (btf::Kind k : {btf::Kind::Var, btf::Kind::Func}) {
    if (auto id = b.find(name, k)) {
      out.id = *id;
      out.kind = k;
      break;
    }
  }
  if (!out.id) return std::nullopt;
  for (uint32_t i = 1; i < b.type_count(); ++i) {
    const btf::Type* t = b.type(i);
    if (!t || t->kind != btf::Kind::Datasec) continue;
    for (const btf::VarSecinfo& v : t->vars)
      if (v.type == out.id) out.datasec = t->name;
  }
  return out;
}

// libbpf lays .kconfig externs out by decreasing alignment, then increasing
// size, then name.
Expected<void> layout_kconfig(Context& c) {
  struct Item {
    size_t ext;
    uint32_t align;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < c.obj.externs.size(); ++i) {
    ExternSpec& e = c.obj.externs[i];
    if (e.kind != ExternSpec::Kind::Kconfig) continue;
    const btf::Type* var = c.obj.btf->type(e.btf_id);
    auto size = c.obj.btf->size_of(var->ref);
    auto align = c.obj.btf->align_of(var->ref);
    if (!size || !align || *size == 0 || *size > 4096 || *align == 0 || *align > 8)
      return obj_fail(c, "extern (kconfig) '{}': cannot determine its size and alignment", e.name);
    e.size = static_cast<uint32_t>(*size);
    items.push_back({i, *align});
  }
  std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    const ExternSpec& ea = c.obj.externs[a.ext];
    const ExternSpec& eb = c.obj.externs[b.ext];
    if (a.align != b.align) return a.align > b.align;
    if (ea.size != eb.size) return ea.size < eb.size;
    return ea.name < eb.name;
  });
  uint32_t off = 0;
  for (const Item& it : items) {
    ExternSpec& e = c.obj.externs[it.ext];
    off = (off + it.align - 1) / it.align * it.align;
    e.kconfig_offset = off;
    off += e.size;
  }
  return {};
}

}  // namespace

Expected<void> collect_externs(Context& c) {
  for (uint32_t i = 0; i < c.symbols.size(); ++i) {
    const elf::Symbol& s = c.symbols[i];
    if (s.section_index != kShnUndef || s.name.empty() || s.type != kSttNotype ||
        (s.bind != kStbGlobal && s.bind != kStbWeak))
      continue;
    ExternSpec e;
    e.name = s.name;
    e.weak = s.bind == kStbWeak;
    e.kind = ExternSpec::Kind::Function;  // without BTF, only calls can use it
    if (c.obj.btf) {
      if (auto eb = find_extern_btf(*c.obj.btf, s.name)) {
        e.btf_id = eb->id;
        if (eb->datasec == ".kconfig" && eb->kind == btf::Kind::Var)
          e.kind = ExternSpec::Kind::Kconfig;
        else if (eb->datasec == ".ksyms" && eb->kind == btf::Kind::Var)
          e.kind = ExternSpec::Kind::Ksym;
        else if (eb->kind == btf::Kind::Var)
          return obj_fail(c, "extern '{}' is in section '{}'; expected .kconfig or .ksyms", s.name, eb->datasec);
      }
    }
    c.extern_of_symbol[i] = static_cast<uint32_t>(c.obj.externs.size());
    c.obj.externs.push_back(std::move(e));
  }
  if (c.obj.btf) return layout_kconfig(c);
  return {};
}

Expected<void> collect_global_data(Context& c) {
  for (const elf::Section& s : c.elf.sections()) {
    SecRole r = c.roles[s.index];
    if (r == SecRole::Data || r == SecRole::Rodata || r == SecRole::Bss)
      if (auto res = add_data_map(c, s); !res) return res;
  }
  uint32_t kconfig_size = 0;
  for (const ExternSpec& e : c.obj.externs)
    if (e.kind == ExternSpec::Kind::Kconfig) kconfig_size = std::max(kconfig_size, e.kconfig_offset + e.size);
  if (kconfig_size == 0) return {};
  MapSpec m;
  m.name = internal_map_name(c.obj.name, ".kconfig");
  m.section = ".kconfig";
  m.origin = MapOrigin::Kconfig;
  m.type = MapType::Array;
  m.key_size = 4;
  m.value_size = kconfig_size;
  m.max_entries = 1;
  m.flags = kFlagRdonlyProg;
  annotate_from_btf(c, m);
  c.kconfig_map = static_cast<uint32_t>(c.obj.maps.size());
  c.obj.maps.push_back(std::move(m));
  return {};
}

}  // namespace xbpf::loader::detail
