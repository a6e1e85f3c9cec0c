#include "elf/elf_file.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

namespace xbpf::elf {
namespace {

struct ElfDeleter {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

// libelf requires elf_version() before any other call; it is idempotent.
bool init_libelf() {
  static const bool ok = elf_version(EV_CURRENT) != EV_NONE;
  return ok;
}

std::string libelf_error() {
  const char* msg = elf_errmsg(-1);
  return msg ? msg : "unknown libelf error";
}

// True if [offset, offset + size) lies inside a buffer of `total` bytes
// (written so that no addition can overflow).
bool in_bounds(uint64_t offset, uint64_t size, uint64_t total) {
  return offset <= total && size <= total - offset;
}

// The NUL-terminated string at `offset` of a string table, or nullopt if the
// offset is outside the table or the string is not terminated inside it.
std::optional<std::string> string_at(std::span<const uint8_t> table, uint64_t offset) {
  if (offset >= table.size()) return std::nullopt;
  const auto* begin = table.data() + offset;
  const void* nul = std::memchr(begin, 0, table.size() - offset);
  if (nul == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(begin), static_cast<size_t>(static_cast<const uint8_t*>(nul) - begin));
}

Expected<std::vector<uint8_t>> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Errc::io, "{}: cannot open: {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) bytes.reserve(static_cast<size_t>(st.st_size));
  uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(Errc::io, "{}: cannot read: {}", path, std::strerror(err));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  ::close(fd);
  return bytes;
}

// Reads a T from `data` at `offset`; the caller has checked the bounds.
template <class T>
T load(std::span<const uint8_t> data, size_t offset) {
  T value;
  std::memcpy(&value, data.data() + offset, sizeof(T));
  return value;
}

// Checks e_ident and the section header table bounds before handing the
// image to libelf, so the common mistakes get a precise message.
Expected<void> check_header(std::span<const uint8_t> b) {
  if (b.size() < EI_NIDENT) return fail(Errc::invalid_program, "not an ELF file: only {} bytes", b.size());
  if (std::memcmp(b.data(), ELFMAG, SELFMAG) != 0)
    return fail(Errc::invalid_program, "not an ELF file (bad magic)");
  if (b[EI_CLASS] != ELFCLASS64)
    return fail(Errc::invalid_program, "not an ELF64 file (EI_CLASS is {}{})", b[EI_CLASS],
                b[EI_CLASS] == ELFCLASS32 ? ", 32-bit" : "");
  if (b[EI_DATA] != ELFDATA2LSB)
    return fail(Errc::invalid_program, "not a little-endian ELF file (EI_DATA is {}{})", b[EI_DATA],
                b[EI_DATA] == ELFDATA2MSB ? ", big-endian" : "");
  if (b.size() < sizeof(Elf64_Ehdr))
    return fail(Errc::invalid_program, "truncated ELF header: {} of {} bytes", b.size(),
                sizeof(Elf64_Ehdr));
  // libelf refuses a truncated section header table with a generic
  // "invalid ELF file"; say which part is missing. With extended numbering
  // (e_shnum == 0) at least the first header must be present.
  auto eh = load<Elf64_Ehdr>(b, 0);
  uint64_t table = uint64_t(eh.e_shnum ? eh.e_shnum : 1) * sizeof(Elf64_Shdr);
  if (eh.e_shoff != 0 && !in_bounds(eh.e_shoff, table, b.size()))
    return fail(Errc::invalid_program, "section header table (offset {:#x}, {} bytes) runs past end of file",
                eh.e_shoff, table);
  return {};
}

// Fills one Section from its header; its data must lie inside the file.
Expected<void> fill_section(Section& s, size_t i, const Elf64_Shdr& sh, std::span<const uint8_t> file) {
  s.index = i;
  s.type = sh.sh_type;
  s.flags = sh.sh_flags;
  s.size = sh.sh_size;
  s.link = sh.sh_link;
  s.info = sh.sh_info;
  s.addralign = sh.sh_addralign;
  s.entsize = sh.sh_entsize;
  if (s.type == SHT_NOBITS || s.type == SHT_NULL) return {};
  if (!in_bounds(sh.sh_offset, sh.sh_size, file.size()))
    return fail(Errc::invalid_program,
                "section {} data runs past end of file (offset {:#x}, size {:#x}, file size {:#x})", i,
                sh.sh_offset, sh.sh_size, file.size());
  s.data = file.subspan(sh.sh_offset, sh.sh_size);
  return {};
}

}  // namespace

bool is_executable(const Section& s) {
  return s.type == SHT_PROGBITS && (s.flags & SHF_EXECINSTR) != 0;
}

Expected<ElfFile> ElfFile::open(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return unexpected(bytes.error());
  return from_memory(std::move(*bytes), path);
}

Expected<ElfFile> ElfFile::from_memory(std::vector<uint8_t> bytes, std::string name) {
  ElfFile f;
  f.name_ = std::move(name);
  f.bytes_ = std::move(bytes);
  if (auto r = f.parse(); !r) return unexpected(with_context(r.error(), f.name_));
  if (auto r = f.parse_symbols(); !r) return unexpected(with_context(r.error(), f.name_));
  return f;
}

const Section* ElfFile::find(std::string_view name) const {
  for (const Section& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

// Reads the ELF header and the section header table (through libelf, which
// also handles extended section numbering), then each section's name and data.
Expected<void> ElfFile::parse() {
  if (auto r = check_header(bytes_); !r) return r;
  if (!init_libelf()) return fail(Errc::unsupported, "libelf initialisation failed: {}", libelf_error());
  ElfPtr elf(elf_memory(reinterpret_cast<char*>(bytes_.data()), bytes_.size()));
  if (!elf) return fail(Errc::invalid_program, "libelf: {}", libelf_error());
  if (elf_kind(elf.get()) != ELF_K_ELF) return fail(Errc::invalid_program, "not an ELF object");
  // libelf may hand out pointers into the image that are not suitably
  // aligned (a hostile e_shoff), so headers are copied, never dereferenced.
  const Elf64_Ehdr* ehp = elf64_getehdr(elf.get());
  if (!ehp) return fail(Errc::invalid_program, "bad ELF header: {}", libelf_error());
  Elf64_Ehdr eh;
  std::memcpy(&eh, ehp, sizeof eh);
  elf_type_ = eh.e_type;
  machine_ = eh.e_machine;

  size_t count = 0, strndx = 0;
  if (elf_getshdrnum(elf.get(), &count) != 0)
    return fail(Errc::invalid_program, "bad section count: {}", libelf_error());
  if (count == 0) return {};
  if (eh.e_shentsize != sizeof(Elf64_Shdr))
    return fail(Errc::invalid_program, "section header size is {}, expected {}", eh.e_shentsize,
                sizeof(Elf64_Shdr));
  if (count > bytes_.size() / sizeof(Elf64_Shdr) ||
      !in_bounds(eh.e_shoff, count * sizeof(Elf64_Shdr), bytes_.size()))
    return fail(Errc::invalid_program, "section header table ({} entries at offset {:#x}) runs past end of file",
                count, eh.e_shoff);
  if (elf_getshdrstrndx(elf.get(), &strndx) != 0)
    return fail(Errc::invalid_program, "bad section name table index: {}", libelf_error());
  if (strndx >= count)
    return fail(Errc::invalid_program, "section name table index {} out of range ({} sections)", strndx, count);

  std::vector<uint32_t> name_offsets(count);
  sections_.resize(count);
  for (size_t i = 0; i < count; ++i) {
    const Elf64_Shdr* shp = elf64_getshdr(elf_getscn(elf.get(), i));
    if (!shp) return fail(Errc::invalid_program, "section {}: bad header: {}", i, libelf_error());
    Elf64_Shdr sh;
    std::memcpy(&sh, shp, sizeof sh);
    if (auto r = fill_section(sections_[i], i, sh, bytes_); !r) return r;
    name_offsets[i] = sh.sh_name;
  }

  // Names last: the name table is itself a section whose bounds are now known.
  if (strndx == SHN_UNDEF) return {};  // no name table: every name stays empty
  std::span<const uint8_t> names = sections_[strndx].data;
  for (size_t i = 0; i < count; ++i) {
    auto name = string_at(names, name_offsets[i]);
    if (!name)
      return fail(Errc::invalid_program, "section {}: name offset {:#x} outside section name table (section {})",
                  i, name_offsets[i], strndx);
    sections_[i].name = std::move(*name);
  }
  return {};
}

// Validates and decodes the symbol table: entry size, string table link,
// name offsets and section indices.
Expected<void> ElfFile::parse_symbols() {
  for (const Section& s : sections_) {
    if (s.type != SHT_SYMTAB) continue;
    if (symtab_index_ != 0)
      return fail(Errc::invalid_program, "more than one symbol table (sections {} and {})", symtab_index_,
                  s.index);
    symtab_index_ = s.index;
  }
  if (symtab_index_ == 0) return {};
  const Section& st = sections_[symtab_index_];
  if (st.entsize != sizeof(Elf64_Sym))
    return fail(Errc::invalid_program, "section {} ({}): symbol entry size {}, expected {}", st.index, st.name,
                st.entsize, sizeof(Elf64_Sym));
  if (st.data.size() % sizeof(Elf64_Sym) != 0)
    return fail(Errc::invalid_program, "section {} ({}): size {} is not a multiple of {}", st.index, st.name,
                st.data.size(), sizeof(Elf64_Sym));
  if (st.link == 0 || st.link >= sections_.size() || sections_[st.link].type != SHT_STRTAB)
    return fail(Errc::invalid_program, "section {} ({}): link {} is not a string table", st.index, st.name,
                st.link);
  std::span<const uint8_t> strtab = sections_[st.link].data;

  size_t count = st.data.size() / sizeof(Elf64_Sym);
  symbols_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto raw = load<Elf64_Sym>(st.data, i * sizeof(Elf64_Sym));
    auto name = string_at(strtab, raw.st_name);
    if (!name)
      return fail(Errc::invalid_program, "symbol {}: name offset {:#x} outside string table (section {})", i,
                  raw.st_name, st.link);
    if (raw.st_shndx == SHN_XINDEX)
      return fail(Errc::unsupported, "symbol {} ('{}'): extended section indices are not supported", i, *name);
    Symbol sym{std::move(*name), raw.st_value, raw.st_size, raw.st_shndx,
               static_cast<uint8_t>(ELF64_ST_BIND(raw.st_info)), static_cast<uint8_t>(ELF64_ST_TYPE(raw.st_info))};
    if (raw.st_shndx != SHN_UNDEF && raw.st_shndx < SHN_LORESERVE && raw.st_shndx >= sections_.size()) {
      // Objects in the wild carry such symbols (libbpf ignores them: they
      // match no section). Keep the index stable for relocations but make the
      // symbol inert; a relocation that needs it fails with this note.
      sym.bad_section_index = raw.st_shndx;
      sym.section_index = SHN_UNDEF;
      sym.bind = STB_LOCAL;
      sym.type = STT_NOTYPE;
      warnings_.push_back(fmt::format("symbol {} ('{}'): section index {} out of range ({} sections), ignored", i,
                                      sym.name, raw.st_shndx, sections_.size()));
    }
    symbols_.push_back(std::move(sym));
  }
  return {};
}

Expected<std::vector<Relocation>> ElfFile::relocations(const Section& s) const {
  if (s.index >= sections_.size() || sections_[s.index].data.data() != s.data.data())
    return fail(Errc::invalid_argument, "{}: section {} does not belong to this file", name_, s.index);
  const bool rela = s.type == SHT_RELA;
  if (s.type != SHT_REL && !rela)
    return fail(Errc::invalid_argument, "{}: section {} ({}) is not a relocation section", name_, s.index, s.name);
  auto bad = [&](std::string what) {
    return fail(Errc::invalid_program, "{}: section {} ({}): {}", name_, s.index, s.name, what);
  };
  const size_t entsize = rela ? sizeof(Elf64_Rela) : sizeof(Elf64_Rel);
  if (s.entsize != entsize) return bad(fmt::format("entry size {}, expected {}", s.entsize, entsize));
  if (s.data.size() % entsize != 0) return bad(fmt::format("size {} is not a multiple of {}", s.data.size(), entsize));
  if (symtab_index_ == 0 || s.link != symtab_index_)
    return bad(fmt::format("link {} is not the symbol table", s.link));
  if (s.info >= sections_.size()) return bad(fmt::format("target section {} out of range", s.info));
  const uint64_t target_size = sections_[s.info].size;

  std::vector<Relocation> out;
  out.reserve(s.data.size() / entsize);
  for (size_t off = 0; off < s.data.size(); off += entsize) {
    Relocation r;
    uint64_t info = 0;
    if (rela) {
      auto raw = load<Elf64_Rela>(s.data, off);
      r.offset = raw.r_offset, info = raw.r_info, r.addend = raw.r_addend;
    } else {
      auto raw = load<Elf64_Rel>(s.data, off);
      r.offset = raw.r_offset, info = raw.r_info;
    }
    r.symbol = static_cast<uint32_t>(ELF64_R_SYM(info));
    r.type = static_cast<uint32_t>(ELF64_R_TYPE(info));
    const size_t n = off / entsize;
    if (r.symbol >= symbols_.size())
      return bad(fmt::format("relocation {}: symbol index {} out of range ({} symbols)", n, r.symbol,
                             symbols_.size()));
    if (s.info != 0 && r.offset >= target_size)
      return bad(fmt::format("relocation {}: offset {:#x} outside target section {} (size {:#x})", n, r.offset,
                             s.info, target_size));
    out.push_back(r);
  }
  return out;
}

}  // namespace xbpf::elf
