// A small, BPF-agnostic ELF64 little-endian reader built on libelf.
//
// ElfFile owns the file's bytes; sections and symbols are parsed and fully
// validated once, at open time, so every accessor is infallible and every
// span it hands out lies inside the owned buffer. Hostile input never
// crashes: it yields an Error whose message names the file and the problem
// ("prog.o: section 7 data runs past end of file").
//
// Meaning (which sections are programs, maps, BTF; what a relocation type
// means) belongs to the loader, not here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.hpp"

namespace xbpf::elf {

// One section header plus its contents.
struct Section {
  std::string name;
  uint32_t type = 0;             // SHT_*
  uint64_t flags = 0;            // SHF_*
  std::span<const uint8_t> data; // empty for SHT_NOBITS and SHT_NULL
  size_t index = 0;              // section header index (sections()[i].index == i)
  uint64_t size = 0;             // sh_size; for SHT_NOBITS (.bss) the only size there is
  uint32_t link = 0;             // sh_link (symtab of a REL section, strtab of a symtab)
  uint32_t info = 0;             // sh_info (section a REL/RELA section applies to)
  uint64_t addralign = 0;
  uint64_t entsize = 0;
};

// One entry of the symbol table (.symtab).
struct Symbol {
  std::string name;
  uint64_t value = 0;
  uint64_t size = 0;
  // st_shndx. Either a reserved index (SHN_UNDEF, or >= SHN_LORESERVE such as
  // SHN_ABS/SHN_COMMON) or, guaranteed by open(), < sections().size().
  uint16_t section_index = 0;
  uint8_t bind = 0;  // STB_*
  uint8_t type = 0;  // STT_*
  // Non-zero when st_shndx pointed past the section table: the symbol is then
  // kept (indices stay stable) as an inert local SHN_UNDEF symbol.
  uint16_t bad_section_index = 0;
};

// One entry of a SHT_REL or SHT_RELA section.
struct Relocation {
  uint64_t offset = 0;  // r_offset: byte offset inside the target section
  uint32_t symbol = 0;  // index into symbols(); guaranteed < symbols().size()
  uint32_t type = 0;    // machine-specific R_* value
  int64_t addend = 0;   // 0 for SHT_REL
};

// True for SHT_PROGBITS sections with SHF_EXECINSTR (code).
[[nodiscard]] bool is_executable(const Section& s);

// A parsed ELF64 little-endian file. Move-only: spans point into its buffer
// (moving keeps them valid). Immutable after construction, so concurrent
// const access is safe.
class ElfFile {
 public:
  // Reads and parses a file. Errors: Errc::io if it cannot be read,
  // Errc::invalid_program if it is not a well-formed ELF64 LE file.
  [[nodiscard]] static Expected<ElfFile> open(const std::string& path);
  // Parses an in-memory image; `name` prefixes every error message.
  [[nodiscard]] static Expected<ElfFile> from_memory(std::vector<uint8_t> bytes, std::string name);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::span<const uint8_t> bytes() const { return bytes_; }
  [[nodiscard]] uint16_t elf_type() const { return elf_type_; }  // e_type (ET_REL, ...)
  [[nodiscard]] uint16_t machine() const { return machine_; }    // e_machine (EM_BPF, ...)

  // All sections in header order, including the null section 0.
  [[nodiscard]] std::span<const Section> sections() const { return sections_; }
  // The first section with this name, or nullptr.
  [[nodiscard]] const Section* find(std::string_view name) const;
  // The symbol table in order (entry 0 is the null symbol); empty without .symtab.
  [[nodiscard]] std::vector<Symbol> symbols() const { return symbols_; }
  // Oddities tolerated while parsing (one line each, no file name prefix).
  [[nodiscard]] std::span<const std::string> warnings() const { return warnings_; }
  // Entries of a SHT_REL or SHT_RELA section of this file. Errors if `s` is
  // another type or its entries are malformed (bad entsize, symbol index out
  // of range, section not linked to the symbol table).
  [[nodiscard]] Expected<std::vector<Relocation>> relocations(const Section& s) const;

  ElfFile(ElfFile&&) noexcept = default;
  ElfFile& operator=(ElfFile&&) noexcept = default;
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

 private:
  ElfFile() = default;
  Expected<void> parse();
  Expected<void> parse_symbols();

  std::string name_;
  std::vector<uint8_t> bytes_;
  uint16_t elf_type_ = 0;
  uint16_t machine_ = 0;
  std::vector<Section> sections_;
  size_t symtab_index_ = 0;  // 0 = no symbol table
  std::vector<Symbol> symbols_;
  std::vector<std::string> warnings_;
};

}  // namespace xbpf::elf
