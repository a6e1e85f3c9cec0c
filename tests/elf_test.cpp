// Tests of the ELF64 reader: real clang-built objects from the shared corpus,
// truncated copies of them, the corpus' malformed files, and hand-corrupted
// headers with the exact diagnostics they must produce.
#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "elf/elf_file.hpp"

namespace fs = std::filesystem;
using xbpf::Errc;
using xbpf::elf::ElfFile;
using xbpf::elf::Section;

namespace {

const fs::path kCorpus = fs::path(XBPF_SHARED_DIR) / "corpus" / "ebpf-samples";

// Skips the calling test, loudly, when the shared corpus is not there.
#define REQUIRE_CORPUS()                                                                     \
  do {                                                                                       \
    if (!fs::is_directory(kCorpus))                                                          \
      GTEST_SKIP() << "SHARED CORPUS MISSING: " << kCorpus << " not found; ELF corpus tests " \
                   << "did not run";                                                         \
  } while (0)

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A temporary file removed at scope exit.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::vector<uint8_t>& bytes, size_t len) {
    char tmpl[] = "/tmp/xbpf_elf_test_XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    path = tmpl;
    EXPECT_EQ(write(fd, bytes.data(), len), static_cast<ssize_t>(len));
    close(fd);
  }
  ~TempFile() { fs::remove(path); }
};

std::vector<fs::path> corpus_objects() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kCorpus)) {
    if (!e.is_regular_file() || e.path().extension() != ".o") continue;
    if (e.path().parent_path().filename() == "invalid") continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Invariants open() promises for every file it accepts. `well_formed`: the
// relocation sections must parse too (true for real objects).
void check_invariants(const ElfFile& f, bool well_formed) {
  const auto bytes = f.bytes();
  const auto sections = f.sections();
  const size_t symbol_count = f.symbols().size();
  for (size_t i = 0; i < sections.size(); ++i) {
    const Section& s = sections[i];
    EXPECT_EQ(s.index, i);
    if (!s.data.empty()) {
      EXPECT_GE(s.data.data(), bytes.data());
      EXPECT_LE(s.data.data() + s.data.size(), bytes.data() + bytes.size());
    }
    if (s.type == SHT_REL || s.type == SHT_RELA) {
      auto rel = f.relocations(s);
      if (well_formed) {
        EXPECT_TRUE(rel.has_value()) << (rel ? "" : rel.error().message);
      }
      if (!rel) continue;
      for (const auto& r : *rel) EXPECT_LT(r.symbol, symbol_count);
    }
  }
  for (const auto& sym : f.symbols())
    if (sym.section_index != SHN_UNDEF && sym.section_index < SHN_LORESERVE) {
      EXPECT_LT(sym.section_index, sections.size()) << sym.name;
    }
}

// Patches a little-endian integer into an image.
template <class T>
void poke(std::vector<uint8_t>& b, size_t off, T v) {
  ASSERT_LE(off + sizeof v, b.size());
  std::memcpy(b.data() + off, &v, sizeof v);
}

template <class T>
T peek(const std::vector<uint8_t>& b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

size_t shdr_offset(const std::vector<uint8_t>& b, size_t index) {
  return peek<Elf64_Off>(b, offsetof(Elf64_Ehdr, e_shoff)) + index * sizeof(Elf64_Shdr);
}

std::string open_error(std::vector<uint8_t> bytes) {
  auto f = ElfFile::from_memory(std::move(bytes), "prog.o");
  return f ? std::string("(opened)") : f.error().message;
}

}  // namespace

TEST(ElfFile, EveryCorpusObjectOpens) {
  REQUIRE_CORPUS();
  auto objects = corpus_objects();
  ASSERT_GT(objects.size(), 100u) << "corpus looks incomplete";
  for (const auto& p : objects) {
    SCOPED_TRACE(p.string());
    auto f = ElfFile::open(p.string());
    ASSERT_TRUE(f.has_value()) << f.error().message;
    // Old clang versions wrote EM_NONE for BPF objects (ovs, cilium's lxc_jit).
    EXPECT_TRUE(f->machine() == EM_BPF || f->machine() == EM_NONE) << f->machine();
    EXPECT_EQ(f->elf_type(), ET_REL);
    EXPECT_FALSE(f->symbols().empty());
    check_invariants(*f, true);
  }
}

TEST(ElfFile, LoopObjectGolden) {
  REQUIRE_CORPUS();
  auto f = ElfFile::open((kCorpus / "build" / "loop.o").string());
  ASSERT_TRUE(f.has_value()) << f.error().message;
  ASSERT_EQ(f->sections().size(), 23u);
  const Section* prog = f->find("test_md");
  ASSERT_NE(prog, nullptr);
  EXPECT_EQ(prog->index, 3u);
  EXPECT_TRUE(xbpf::elf::is_executable(*prog));
  EXPECT_EQ(prog->data.size(), 0xe0u);
  EXPECT_EQ(prog->addralign, 8u);
  EXPECT_FALSE(xbpf::elf::is_executable(*f->find(".BTF")));
  EXPECT_EQ(f->find("no-such-section"), nullptr);

  auto syms = f->symbols();
  ASSERT_EQ(syms.size(), 15u);
  EXPECT_EQ(syms[1].name, "loop.c");
  EXPECT_EQ(syms[1].type, STT_FILE);
  EXPECT_EQ(syms[1].section_index, SHN_ABS);
  const auto& foo = syms[14];
  EXPECT_EQ(foo.name, "foo");
  EXPECT_EQ(foo.type, STT_FUNC);
  EXPECT_EQ(foo.bind, STB_GLOBAL);
  EXPECT_EQ(foo.section_index, 3u);
  EXPECT_EQ(foo.size, 224u);
  EXPECT_EQ(syms[3].name, "LBB0_1");
  EXPECT_EQ(syms[3].value, 0x48u);

  const Section* rel = f->find(".rel.BTF.ext");
  ASSERT_NE(rel, nullptr);
  EXPECT_EQ(rel->info, f->find(".BTF.ext")->index);
  auto relocs = f->relocations(*rel);
  ASSERT_TRUE(relocs.has_value()) << relocs.error().message;
  EXPECT_EQ(relocs->size(), 14u);
  EXPECT_EQ(f->relocations(*prog).error().code, Errc::invalid_argument);
}

TEST(ElfFile, SpansSurviveMove) {
  REQUIRE_CORPUS();
  auto f = ElfFile::open((kCorpus / "build" / "loop.o").string());
  ASSERT_TRUE(f.has_value());
  std::vector<uint8_t> text(f->find("test_md")->data.begin(), f->find("test_md")->data.end());
  ElfFile moved = std::move(*f);
  const Section* s = moved.find("test_md");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(std::equal(s->data.begin(), s->data.end(), text.begin(), text.end()));
}

// Every prefix of a small object, opened from a file: each must fail (clang
// puts the section headers last) with a message naming the file.
TEST(ElfFile, TruncatedCopiesFailCleanly) {
  REQUIRE_CORPUS();
  for (const char* name : {"build/loop.o", "build/map_in_map_legacy.o", "linux/sockex1_kern.o"}) {
    auto bytes = read_bytes(kCorpus / name);
    ASSERT_FALSE(bytes.empty()) << name;
    for (size_t len = 0; len < bytes.size(); len += (len < 128 ? 1 : 7)) {
      TempFile tmp(bytes, len);
      auto f = ElfFile::open(tmp.path.string());
      ASSERT_FALSE(f.has_value()) << name << " truncated to " << len << " bytes opened";
      EXPECT_EQ(f.error().message.rfind(tmp.path.string() + ": ", 0), 0u) << f.error().message;
    }
  }
}

TEST(ElfFile, InvalidCorpusFilesOpenOrFailClearly) {
  REQUIRE_CORPUS();
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(kCorpus / "invalid")) {
    ++files;
    const std::string path = e.path().string();
    auto f = ElfFile::open(path);
    if (f) {
      check_invariants(*f, false);
    } else {
      EXPECT_EQ(f.error().message.rfind(path + ": ", 0), 0u) << f.error().message;
      EXPECT_GT(f.error().message.size(), path.size() + 10) << f.error().message;
    }
    std::cout << "  " << e.path().filename().string() << ": "
              << (f ? "opened" : f.error().message.substr(path.size() + 2)) << "\n";
  }
  EXPECT_GT(files, 0u);
}

TEST(ElfFile, RejectsWrongClassAndByteOrder) {
  EXPECT_EQ(open_error({}), "prog.o: not an ELF file: only 0 bytes");
  EXPECT_EQ(open_error(std::vector<uint8_t>(64, 'x')), "prog.o: not an ELF file (bad magic)");
  std::vector<uint8_t> ident(64, 0);
  std::memcpy(ident.data(), ELFMAG, SELFMAG);
  ident[EI_CLASS] = ELFCLASS32;
  ident[EI_DATA] = ELFDATA2LSB;
  EXPECT_EQ(open_error(ident), "prog.o: not an ELF64 file (EI_CLASS is 1, 32-bit)");
  ident[EI_CLASS] = ELFCLASS64;
  ident[EI_DATA] = ELFDATA2MSB;
  EXPECT_EQ(open_error(ident), "prog.o: not a little-endian ELF file (EI_DATA is 2, big-endian)");
  ident[EI_DATA] = ELFDATA2LSB;
  ident.resize(40);
  EXPECT_EQ(open_error(ident), "prog.o: truncated ELF header: 40 of 64 bytes");
  auto missing = ElfFile::open("/nonexistent/prog.o");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::io);
  EXPECT_EQ(missing.error().message, "/nonexistent/prog.o: cannot open: No such file or directory");
}

// Hand-corrupted headers of a real object, one field at a time.
TEST(ElfFile, CorruptedHeadersGiveExactErrors) {
  REQUIRE_CORPUS();
  const auto good = read_bytes(kCorpus / "build" / "loop.o");
  ASSERT_TRUE(ElfFile::from_memory(good, "prog.o").has_value());
  auto patched = [&](size_t section, size_t field_off, auto value) {
    auto b = good;
    poke(b, shdr_offset(b, section) + field_off, value);
    return open_error(std::move(b));
  };
  EXPECT_EQ(patched(7, offsetof(Elf64_Shdr, sh_offset), Elf64_Off{0x12c0}),
            "prog.o: section 7 data runs past end of file (offset 0x12c0, size 0x50, file size 0x12f0)");
  EXPECT_EQ(patched(3, offsetof(Elf64_Shdr, sh_size), Elf64_Xword{~0ull}),
            "prog.o: section 3 data runs past end of file (offset 0x40, size 0xffffffffffffffff, file size 0x12f0)");
  EXPECT_EQ(patched(5, offsetof(Elf64_Shdr, sh_name), Elf64_Word{0x1000}),
            "prog.o: section 5: name offset 0x1000 outside section name table (section 1)");
  EXPECT_EQ(patched(22, offsetof(Elf64_Shdr, sh_link), Elf64_Word{99}),
            "prog.o: section 22 (.symtab): link 99 is not a string table");
  EXPECT_EQ(patched(22, offsetof(Elf64_Shdr, sh_entsize), Elf64_Xword{16}),
            "prog.o: section 22 (.symtab): symbol entry size 16, expected 24");

  auto b = good;  // symbol 14 (foo): bad name, then bad section index
  const size_t sym14 = peek<Elf64_Off>(b, shdr_offset(b, 22) + offsetof(Elf64_Shdr, sh_offset)) + 14 * 24;
  poke(b, sym14 + offsetof(Elf64_Sym, st_name), Elf64_Word{0xffff});
  EXPECT_EQ(open_error(b), "prog.o: symbol 14: name offset 0xffff outside string table (section 1)");
  b = good;
  poke(b, sym14 + offsetof(Elf64_Sym, st_shndx), Elf64_Section{77});
  {  // tolerated like libbpf: the symbol stays (indices are stable) but is inert
    auto f = ElfFile::from_memory(b, "prog.o");
    ASSERT_TRUE(f) << f.error().message;
    auto syms = f->symbols();
    EXPECT_EQ(syms[14].name, "foo");
    EXPECT_EQ(syms[14].section_index, SHN_UNDEF);
    EXPECT_EQ(syms[14].bad_section_index, 77);
    EXPECT_EQ(syms[14].bind, STB_LOCAL);
    ASSERT_EQ(f->warnings().size(), 1u);
    EXPECT_EQ(f->warnings()[0], "symbol 14 ('foo'): section index 77 out of range (23 sections), ignored");
  }

  b = good;
  poke(b, offsetof(Elf64_Ehdr, e_shstrndx), Elf64_Half{200});
  EXPECT_EQ(open_error(b), "prog.o: section name table index 200 out of range (23 sections)");
  b = good;
  poke(b, offsetof(Elf64_Ehdr, e_shoff), Elf64_Off{0x1200});
  EXPECT_EQ(open_error(b), "prog.o: section header table (offset 0x1200, 1472 bytes) runs past end of file");
}

TEST(ElfFile, CorruptedRelocationsAreRejected) {
  REQUIRE_CORPUS();
  auto b = read_bytes(kCorpus / "build" / "loop.o");
  // .rel.BTF.ext (section 15) at file offset 0xae8: entry 0's symbol -> 40.
  poke(b, 0xae8 + offsetof(Elf64_Rel, r_info), Elf64_Xword{ELF64_R_INFO(40, 3)});
  auto f = ElfFile::from_memory(b, "prog.o");
  ASSERT_TRUE(f.has_value()) << f.error().message;
  auto rel = f->relocations(*f->find(".rel.BTF.ext"));
  ASSERT_FALSE(rel.has_value());
  EXPECT_EQ(rel.error().message,
            "prog.o: section 15 (.rel.BTF.ext): relocation 0: symbol index 40 out of range (15 symbols)");
}

// Random byte mutations of a real object: open() must never crash (run this
// under XBPF_SANITIZE=ON to catch out-of-bounds reads), and what it accepts
// must satisfy the documented invariants.
TEST(ElfFile, RandomMutationsNeverCrash) {
  REQUIRE_CORPUS();
  const auto good = read_bytes(kCorpus / "build" / "loop.o");
  const size_t header_end = peek<Elf64_Off>(good, offsetof(Elf64_Ehdr, e_shoff));
  std::mt19937_64 rng(42);
  size_t opened = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto b = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // Half the mutations hit the headers (ELF header, section headers), where they matter most.
      size_t pos = (rng() & 1) ? rng() % 64 : header_end + rng() % (b.size() - header_end);
      if (rng() % 3 == 0) pos = rng() % b.size();
      b[pos] = static_cast<uint8_t>(rng());
    }
    auto f = ElfFile::from_memory(std::move(b), "m.o");
    if (!f) {
      EXPECT_EQ(f.error().message.rfind("m.o: ", 0), 0u);
      continue;
    }
    ++opened;
    check_invariants(*f, false);
  }
  EXPECT_GT(opened, 0u);
}
