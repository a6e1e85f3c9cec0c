// Entry points and the first stage: deciding what each ELF section is
// (libbpf's bpf_object__elf_collect), license, version and BTF.
#include "loader/loader.hpp"

#include <algorithm>
#include <cstring>

#include "loader/context.hpp"

namespace xbpf::loader {
namespace detail {

uint32_t read_u32(std::span<const uint8_t> data, size_t off) {
  uint32_t v;
  std::memcpy(&v, data.data() + off, sizeof v);
  return v;
}

std::string Context::where(size_t section_index) const {
  const auto secs = elf.sections();
  std::string_view sname = section_index < secs.size() ? std::string_view(secs[section_index].name) : "?";
  return fmt::format("{}: section {}: ", elf.name(), sname.empty() ? fmt::format("#{}", section_index)
                                                                     : std::string(sname));
}

Function* Context::function_at(size_t sec, uint64_t slot) {
  // functions are sorted by (section, first): the candidate is the last one
  // starting at or before (sec, slot).
  auto it = std::upper_bound(functions.begin(), functions.end(), std::pair{sec, slot},
                             [](const std::pair<size_t, uint64_t>& key, const Function& f) {
                               return key.first < f.section || (key.first == f.section && key.second < f.first);
                             });
  if (it == functions.begin()) return nullptr;
  --it;
  if (it->section != sec || slot >= uint64_t(it->first) + it->count) return nullptr;
  return &*it;
}

std::string Context::symbol_name(uint32_t i) const {
  const elf::Symbol& s = symbols[i];
  if (!s.name.empty()) return s.name;
  if (s.type == kSttSection && s.section_index < elf.sections().size()) return section(s.section_index).name;
  return fmt::format("#{}", i);
}

namespace {

constexpr uint16_t kEtRel = 1;
constexpr uint16_t kEmNone = 0, kEmBpf = 247;
constexpr uint32_t kShtStrtab = 3, kShtLlvmAddrsig = 0x6fff4c03;

bool has_prefix_dot(std::string_view name, std::string_view base) {
  return name == base || (name.starts_with(base) && name.size() > base.size() && name[base.size()] == '.');
}

// What libbpf would do with section `s` (bpf_object__elf_collect +
// ignore_elf_section), plus the legacy "maps/NAME" sections of iproute2.
SecRole role_of(const elf::Section& s) {
  const std::string_view n = s.name;
  if (s.type == kShtStrtab || s.type == kShtLlvmAddrsig || s.type == kShtSymtab) return SecRole::Other;
  if (n.starts_with(".debug_") || n.starts_with(".rel")) return SecRole::Other;
  if (n == "license") return SecRole::License;
  if (n == "version") return SecRole::Version;
  if (n == "maps" || n.starts_with("maps/")) return s.type == kShtProgbits ? SecRole::LegacyMaps : SecRole::Other;
  if (n == ".maps") return SecRole::BtfMaps;
  if (n == ".BTF") return SecRole::Btf;
  if (n == ".BTF.ext") return SecRole::BtfExt;
  if (s.type == kShtProgbits && s.size > 0) {
    if (elf::is_executable(s)) return SecRole::Code;
    if (has_prefix_dot(n, ".data")) return SecRole::Data;
    if (has_prefix_dot(n, ".rodata")) return SecRole::Rodata;
    return SecRole::Other;
  }
  if (s.type == kShtNobits && s.size > 0 && has_prefix_dot(n, ".bss")) return SecRole::Bss;
  return SecRole::Other;
}

// libbpf's object name: the file name up to its first '.'.
std::string object_name(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  return std::string(path.substr(0, path.find('.')));
}

Expected<void> classify_sections(Context& c) {
  const auto secs = c.elf.sections();
  c.roles.resize(secs.size(), SecRole::Other);
  for (const elf::Section& s : secs) {
    SecRole r = role_of(s);
    if ((r == SecRole::Btf || r == SecRole::BtfExt) && s.type != kShtProgbits)
      return sec_fail(c, s.index, "has type {}, expected SHT_PROGBITS", s.type);
    if (r == SecRole::BtfMaps) {
      if (c.btf_maps_section) return sec_fail(c, s.index, "second .maps section");
      c.btf_maps_section = s.index;
    }
    if (r == SecRole::Code && s.name == ".text") c.text_section = s.index;
    constexpr uint64_t kShfAlloc = 0x2;
    if (r == SecRole::Other && s.type == kShtProgbits && s.size > 0 && (s.flags & kShfAlloc) &&
        s.name != ".eh_frame")
      c.obj.warnings.push_back(fmt::format("skipping unrecognized data section {} ({})", s.index, s.name));
    c.roles[s.index] = r;
  }
  return {};
}

Expected<void> read_license_and_version(Context& c) {
  for (const elf::Section& s : c.elf.sections()) {
    if (c.roles[s.index] == SecRole::License) {
      // libbpf keeps at most 63 characters, up to the first NUL.
      auto d = s.data;
      size_t n = std::find(d.begin(), d.end(), uint8_t{0}) - d.begin();
      c.obj.license.assign(reinterpret_cast<const char*>(d.data()), std::min<size_t>(n, 63));
    } else if (c.roles[s.index] == SecRole::Version) {
      if (s.data.size() != 4) return sec_fail(c, s.index, "size {} is not 4 (a kernel version u32)", s.data.size());
      c.obj.kernel_version = read_u32(s.data, 0);
    }
  }
  return {};
}

// Parses .BTF and .BTF.ext. BTF is optional unless BTF-defined maps need it;
// a broken .BTF.ext is ignored with a warning, as libbpf does.
Expected<void> read_btf(Context& c) {
  const elf::Section* btf_sec = nullptr;
  const elf::Section* ext_sec = nullptr;
  for (const elf::Section& s : c.elf.sections()) {
    if (c.roles[s.index] == SecRole::Btf && !btf_sec) btf_sec = &s;
    if (c.roles[s.index] == SecRole::BtfExt && !ext_sec) ext_sec = &s;
  }
  if (!btf_sec) {
    if (c.btf_maps_section) return sec_fail(c, c.btf_maps_section, "BTF-defined maps need a .BTF section");
    return {};
  }
  auto btf = btf::Btf::parse(btf_sec->data, c.elf.name() + ": .BTF");
  if (!btf) {
    if (c.btf_maps_section) return unexpected(btf.error());
    c.obj.warnings.push_back(btf.error().message + " (BTF ignored)");
    return {};
  }
  c.obj.btf = std::make_shared<const btf::Btf>(std::move(*btf));
  if (!ext_sec) return {};
  auto ext = btf::BtfExt::parse(ext_sec->data, *c.obj.btf, c.elf.name() + ": .BTF.ext");
  if (!ext) {
    c.obj.warnings.push_back(ext.error().message + " (.BTF.ext ignored)");
    return {};
  }
  c.ext = std::make_unique<btf::BtfExt>(std::move(*ext));
  return {};
}

Expected<void> check_header(Context& c) {
  if (c.elf.elf_type() != kEtRel)
    return obj_fail(c, "not a relocatable object (e_type {}, expected ET_REL): not a BPF object file",
                    c.elf.elf_type());
  // Old LLVM wrote e_machine = EM_NONE; libbpf accepts it.
  if (c.elf.machine() != kEmNone && c.elf.machine() != kEmBpf)
    return obj_fail(c, "e_machine is {}, expected EM_BPF (247): not a BPF object file", c.elf.machine());
  return {};
}

Expected<ObjectSpec> load(const elf::ElfFile& file, const OpenOptions& opts) {
  Context c(file, opts);
  c.obj.path = file.name();
  c.obj.name = object_name(file.name());
  c.symbols = file.symbols();
  for (const std::string& w : file.warnings()) c.obj.warnings.push_back(w);
  using Stage = Expected<void> (*)(Context&);
  static constexpr Stage kStages[] = {
      check_header,      classify_sections,   read_license_and_version, read_btf,
      discover_functions, collect_externs,     collect_legacy_maps,      collect_btf_maps,
      collect_global_data, collect_code_relocations, apply_core,        link_programs,
      collect_map_inits,
  };
  for (Stage s : kStages)
    if (auto r = s(c); !r) return unexpected(r.error());
  return std::move(c.obj);
}

}  // namespace
}  // namespace detail

Expected<ObjectSpec> open_object(const std::string& path, const OpenOptions& opts) {
  auto file = elf::ElfFile::open(path);
  if (!file) return unexpected(file.error());
  return detail::load(*file, opts);
}

Expected<ObjectSpec> from_memory(std::vector<uint8_t> bytes, std::string name, const OpenOptions& opts) {
  auto file = elf::ElfFile::from_memory(std::move(bytes), std::move(name));
  if (!file) return unexpected(file.error());
  return detail::load(*file, opts);
}

const ProgramSpec* find_program(const ObjectSpec& obj, std::string_view name) {
  for (const ProgramSpec& p : obj.programs)
    if (p.name == name) return &p;
  return nullptr;
}

const MapSpec* find_map(const ObjectSpec& obj, std::string_view name) {
  for (const MapSpec& m : obj.maps)
    if (m.name == name) return &m;
  return nullptr;
}

std::string_view name(RelocKind k) {
  switch (k) {
    case RelocKind::Map: return "map";
    case RelocKind::MapValue: return "map_value";
    case RelocKind::Kfunc: return "kfunc";
    case RelocKind::Ksym: return "ksym";
    case RelocKind::Extern: return "extern";
  }
  return "?";
}

std::string_view name(MapOrigin o) {
  switch (o) {
    case MapOrigin::BtfDefined: return "btf";
    case MapOrigin::Legacy: return "legacy";
    case MapOrigin::Data: return "data";
    case MapOrigin::Bss: return "bss";
    case MapOrigin::Kconfig: return "kconfig";
    case MapOrigin::InnerTemplate: return "inner";
  }
  return "?";
}

}  // namespace xbpf::loader
