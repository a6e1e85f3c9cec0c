// Internal to the loader: the state shared by the stages that turn an
// ElfFile into an ObjectSpec (sections -> functions -> maps -> relocations
// -> CO-RE -> linking). Not installed, not part of the API.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "btf/btf.hpp"
#include "elf/elf_file.hpp"
#include "loader/loader.hpp"

namespace xbpf::loader::detail {

// ELF constants used by the loader (kept here rather than including <elf.h>
// in every file).
inline constexpr uint32_t kShtProgbits = 1, kShtSymtab = 2, kShtRela = 4, kShtNobits = 8, kShtRel = 9;
inline constexpr uint8_t kSttNotype = 0, kSttObject = 1, kSttFunc = 2, kSttSection = 3;
inline constexpr uint8_t kStbLocal = 0, kStbGlobal = 1, kStbWeak = 2;
inline constexpr uint16_t kShnUndef = 0, kShnLoReserve = 0xff00;
inline constexpr size_t kInsnSize = 8;

// BPF ELF relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def).
inline constexpr uint32_t kRBpfNone = 0, kRBpf64_64 = 1, kRBpf64Abs64 = 2, kRBpf64Abs32 = 3,
                          kRBpf64Nodyld32 = 4, kRBpf64_32 = 10;

// What the loader does with a section.
enum class SecRole : uint8_t {
  Other,       // ignored (debug info, string tables, ...)
  Code,        // executable: programs and subprograms
  License,
  Version,
  LegacyMaps,  // "maps" or "maps/NAME"
  BtfMaps,     // ".maps"
  Data,        // .data, .data.*
  Rodata,      // .rodata, .rodata.*
  Bss,         // .bss, .bss.* (NOBITS)
  Btf,
  BtfExt,
};

// A relocation of one instruction, recorded while reading relocation
// sections and applied when programs are linked.
enum class PendingKind : uint8_t {
  Call,        // call src=1 to target_section:target_slot
  FuncAddr,    // lddw of a function's address (callback): becomes src=4
  Map,         // lddw of map `map`
  MapValue,    // lddw of map `map` value + offset
  Kfunc,       // call of extern kernel function `extern_idx`
  Ksym,        // lddw of extern kernel variable `extern_idx`
  ExternCall,  // call of an extern without BTF (libcall): poisoned
};

struct PendingReloc {
  PendingKind kind = PendingKind::Map;
  uint32_t insn = 0;            // slot relative to the function's first slot
  uint32_t reloc_index = 0;     // position in its relocation section (for messages)
  size_t target_section = 0;    // Call, FuncAddr
  uint64_t target_slot = 0;     // Call, FuncAddr: slot inside target_section
  uint32_t map = 0;             // Map, MapValue
  uint32_t offset = 0;          // MapValue
  uint32_t extern_idx = 0;      // Kfunc, Ksym, ExternCall: index into ObjectSpec::externs
  std::string symbol;
};

// One function of a code section: an entry program or a subprogram.
struct Function {
  std::string name;
  size_t section = 0;   // ELF section index
  uint32_t first = 0;   // first slot inside the section
  uint32_t count = 0;   // slots
  bool global = true;
  bool entry = false;   // loadable program (else only linked into others)
  std::vector<isa::RawInsn> insns;       // the section's slots, then CO-RE-patched
  std::vector<PendingReloc> relocs;      // sorted by insn
  std::vector<CoreReloResult> core;      // insn relative to `first`
};

// A BTF-defined map variable in .maps, for matching `.rel.maps` entries
// (the `values = {...}` initialisers) to their map.
struct BtfMapVar {
  uint32_t map = 0;            // index into ObjectSpec::maps
  uint64_t offset = 0;         // of the variable in .maps
  uint64_t size = 0;           // of the variable
  uint64_t values_offset = UINT64_MAX;  // of its `values` member, if any
};

struct Context {
  Context(const elf::ElfFile& e, const OpenOptions& o) : elf(e), opts(o) {}

  const elf::ElfFile& elf;
  const OpenOptions& opts;
  std::vector<elf::Symbol> symbols;  // copied once: ElfFile::symbols() copies
  std::vector<SecRole> roles;        // by section index
  size_t text_section = 0;           // ".text" if it has code, else 0
  size_t btf_maps_section = 0;       // ".maps", else 0
  ObjectSpec obj;
  std::unique_ptr<btf::BtfExt> ext;  // strings point into *obj.btf
  std::vector<Function> functions;   // sorted by (section, first)
  // Maps defined at (section, offset) (legacy and BTF-defined maps).
  std::map<std::pair<size_t, uint64_t>, uint32_t> map_at;
  // The global-data map of a data section.
  std::map<size_t, uint32_t> data_map_of;
  // The extern behind a symbol index.
  std::map<uint32_t, uint32_t> extern_of_symbol;
  uint32_t kconfig_map = UINT32_MAX;
  std::vector<BtfMapVar> btf_map_vars;

  const elf::Section& section(size_t i) const { return elf.sections()[i]; }
  // "file: section NAME: " prefix for messages.
  std::string where(size_t section_index) const;
  // Finds the function containing slot `slot` of section `sec`, or nullptr.
  Function* function_at(size_t sec, uint64_t slot);
  // The name to print for symbol i (section name for unnamed section symbols).
  std::string symbol_name(uint32_t i) const;
};

// Builds an Errc::invalid_program error "file: section S: <message>".
template <class... Args>
[[nodiscard]] Unexpected<Error> sec_fail(const Context& c, size_t section, fmt::format_string<Args...> f,
                                         Args&&... args) {
  return Unexpected<Error>(
      Error{Errc::invalid_program, c.where(section) + fmt::format(f, std::forward<Args>(args)...)});
}
// Builds an Errc::invalid_program error "file: <message>".
template <class... Args>
[[nodiscard]] Unexpected<Error> obj_fail(const Context& c, fmt::format_string<Args...> f, Args&&... args) {
  return Unexpected<Error>(
      Error{Errc::invalid_program, c.elf.name() + ": " + fmt::format(f, std::forward<Args>(args)...)});
}

// Little-endian u32 at byte `off` of `data`; the caller checked bounds.
[[nodiscard]] uint32_t read_u32(std::span<const uint8_t> data, size_t off);

// Stages, in the order loader.cpp runs them. Each fills part of the Context.
Expected<void> discover_functions(Context& c);       // functions.cpp
Expected<void> collect_legacy_maps(Context& c);      // maps_legacy.cpp
Expected<void> collect_btf_maps(Context& c);         // maps_btf.cpp
Expected<void> collect_global_data(Context& c);      // global_data.cpp
Expected<void> collect_externs(Context& c);          // global_data.cpp
Expected<void> collect_code_relocations(Context& c); // relocations.cpp
Expected<void> collect_map_inits(Context& c);        // maps_btf.cpp (.rel.maps: values = {...})
Expected<void> apply_core(Context& c);               // core.cpp
Expected<void> link_programs(Context& c);            // link.cpp

}  // namespace xbpf::loader::detail
