// BTF against real objects: every corpus object parses (fast), dump_raw and
// dump_c match the installed bpftool byte for byte, the C output compiles,
// .BTF.ext records are consistent with the ELF sections, and the CLI.
// Hand-built and hostile blobs are in btf_blob_test.cpp.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "btf/btf.hpp"
#include "elf/elf_file.hpp"

namespace {

namespace fs = std::filesystem;
using xbpf::btf::Btf;
using xbpf::btf::BtfExt;

const std::string kCorpus = std::string(XBPF_SHARED_DIR) + "/corpus/ebpf-samples";
const std::string kXbpf = std::string(XBPF_BINARY_DIR) + "/tools/xbpf/xbpf";
const std::string kVmlinux = "/sys/kernel/btf/vmlinux";
const std::string kBpftool = "/usr/sbin/bpftool";

struct Result {
  int code = -1;
  std::string out;
};

// Runs a shell command; stdout only unless the command redirects stderr.
Result sh(const std::string& cmd) {
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool have_bpftool() { return fs::exists(kBpftool); }
bool have_clang() { return sh("command -v clang >/dev/null 2>&1 && echo y").out == "y\n"; }

// Corpus objects that carry a .BTF section (sorted), excluding the
// deliberately malformed ones under invalid/.
std::vector<std::string> corpus_btf_objects() {
  std::vector<std::string> out;
  if (!fs::is_directory(kCorpus)) return out;
  for (const auto& e : fs::recursive_directory_iterator(kCorpus)) {
    if (e.path().extension() != ".o" || e.path().string().find("/invalid/") != std::string::npos) continue;
    auto f = xbpf::elf::ElfFile::open(e.path().string());
    if (f && f->find(".BTF") != nullptr) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

#define SKIP_WITHOUT_CORPUS()                                                            \
  do {                                                                                   \
    if (!fs::is_directory(kCorpus)) {                                                    \
      std::fprintf(stderr, "*** SKIPPED: BTF corpus not found at %s ***\n", kCorpus.c_str()); \
      GTEST_SKIP() << "corpus not found at " << kCorpus;                                 \
    }                                                                                    \
  } while (0)

#define SKIP_WITHOUT_BPFTOOL()                                                                    \
  do {                                                                                            \
    if (!have_bpftool()) {                                                                        \
      std::fprintf(stderr, "*** SKIPPED: %s not installed, cannot compare with bpftool ***\n", kBpftool.c_str()); \
      GTEST_SKIP() << "bpftool not installed";                                                    \
    }                                                                                             \
  } while (0)

TEST(BtfCorpus, EveryObjectParsesQuickly) {
  SKIP_WITHOUT_CORPUS();
  size_t objects = 0, with_btf = 0, with_ext = 0;
  std::chrono::nanoseconds parse_time{0};
  for (const auto& e : fs::recursive_directory_iterator(kCorpus)) {
    if (!e.is_regular_file()) continue;  // invalid/ holds extension-less objects too
    const bool invalid = e.path().string().find("/invalid/") != std::string::npos;
    auto f = xbpf::elf::ElfFile::open(e.path().string());
    if (!f) continue;
    ++objects;
    const auto* sec = f->find(".BTF");
    if (sec == nullptr) continue;
    const auto start = std::chrono::steady_clock::now();
    auto btf = Btf::from_elf(*f);
    const auto* ext_sec = f->find(".BTF.ext");
    xbpf::Expected<BtfExt> ext = BtfExt{};
    if (btf && ext_sec != nullptr) ext = BtfExt::parse(ext_sec->data, *btf, f->name() + ": .BTF.ext");
    parse_time += std::chrono::steady_clock::now() - start;
    if (invalid) continue;  // malformed on purpose: only "no crash" is required
    ASSERT_TRUE(btf) << btf.error().message;
    ++with_btf;
    if (ext_sec == nullptr) continue;
    ASSERT_TRUE(ext) << ext.error().message;
    ++with_ext;
    // func_info names real sections and points at instructions inside them.
    for (const auto& [name, infos] : ext->func_info) {
      const auto* code = f->find(name);
      ASSERT_NE(code, nullptr) << e.path() << ": func_info for missing section " << name;
      for (const auto& fi : infos) EXPECT_LT(fi.insn_idx * 8ull, code->size) << e.path() << " " << name;
    }
  }
  std::printf("parsed %zu objects with .BTF (%zu with .BTF.ext) of %zu in %.1f ms\n", with_btf, with_ext, objects,
              parse_time.count() / 1e6);
  EXPECT_GE(with_btf, 50u);
#ifdef NDEBUG
  EXPECT_LT(parse_time, std::chrono::seconds(2));
#endif
}

// Whole-text comparison with bpftool, run now on the same file.
void expect_same_as_bpftool(const std::string& path, bool c_format) {
  auto btf = Btf::load_file(path);
  ASSERT_TRUE(btf) << btf.error().message;
  Result ref = sh(kBpftool + " btf dump file '" + path + "'" + (c_format ? " format c" : "") + " 2>/dev/null");
  ASSERT_EQ(ref.code, 0) << "bpftool failed on " << path;
  std::string mine;
  if (c_format) {
    auto c = xbpf::btf::dump_c(*btf);
    ASSERT_TRUE(c) << c.error().message;
    mine = std::move(*c);
  } else {
    mine = xbpf::btf::dump_raw(*btf);
  }
  if (mine == ref.out) return;
  size_t i = 0;
  while (i < mine.size() && i < ref.out.size() && mine[i] == ref.out[i]) ++i;
  const size_t line_start = ref.out.rfind('\n', i) == std::string::npos ? 0 : ref.out.rfind('\n', i) + 1;
  ADD_FAILURE() << path << (c_format ? " (format c)" : " (raw)") << ": differs from bpftool at byte " << i
                << "\nbpftool: " << ref.out.substr(line_start, 160) << "\nxbpf:    " << mine.substr(line_start, 160);
}

TEST(BtfCorpus, RawDumpMatchesBpftool) {
  SKIP_WITHOUT_CORPUS();
  SKIP_WITHOUT_BPFTOOL();
  for (const std::string& path : corpus_btf_objects()) expect_same_as_bpftool(path, false);
}

TEST(BtfCorpus, CDumpMatchesBpftool) {
  SKIP_WITHOUT_CORPUS();
  SKIP_WITHOUT_BPFTOOL();
  for (const std::string& path : corpus_btf_objects()) expect_same_as_bpftool(path, true);
}

TEST(BtfCorpus, CDumpCompiles) {
  SKIP_WITHOUT_CORPUS();
  if (!have_clang()) GTEST_SKIP() << "*** clang not installed: cannot compile the C dump ***";
  const std::string dir = ::testing::TempDir();
  const std::vector<std::string> picks = {"cilium-core/bpf_lxc.o", "cilium-core/bpf_sock.o", "falco/probe.o",
                                          "new_linux/sockex3_kern.o", "build/externalfunction.o"};
  for (const std::string& rel : picks) {
    const std::string path = kCorpus + "/" + rel;
    if (!fs::exists(path)) continue;
    auto btf = Btf::load_file(path);
    ASSERT_TRUE(btf) << btf.error().message;
    auto c = xbpf::btf::dump_c(*btf);
    ASSERT_TRUE(c) << c.error().message;
    const std::string header = dir + "/xbpf_btf_dump.h";
    std::ofstream(header, std::ios::binary) << *c;
    Result r = sh("clang -target bpf -fsyntax-only -x c '" + header + "' 2>&1");
    EXPECT_EQ(r.code, 0) << rel << ":\n" << r.out.substr(0, 2000);
  }
}

TEST(BtfVmlinux, MatchesBpftoolAndLooksUpTypes) {
  if (!fs::exists(kVmlinux)) {
    std::fprintf(stderr, "*** SKIPPED: %s absent (kernel without CONFIG_DEBUG_INFO_BTF) ***\n", kVmlinux.c_str());
    GTEST_SKIP() << kVmlinux << " absent";
  }
  auto btf = Btf::load_file(kVmlinux);
  ASSERT_TRUE(btf) << btf.error().message;
  EXPECT_GT(btf->type_count(), 10000u);
  auto task = btf->find("task_struct", xbpf::btf::Kind::Struct);
  ASSERT_TRUE(task.has_value());
  auto size = btf->size_of(*task);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_GT(*size, 1000u);
  EXPECT_EQ(btf->pointer_size(), 8u);
  EXPECT_FALSE(btf->find_candidates("task_struct", xbpf::btf::Kind::Struct).empty());
  if (!have_bpftool()) {
    std::fprintf(stderr, "*** SKIPPED part: bpftool not installed, vmlinux dumps not compared ***\n");
    return;
  }
  expect_same_as_bpftool(kVmlinux, false);
  expect_same_as_bpftool(kVmlinux, true);
}

// An object of our own with every BTF kind clang emits (ENUM64 needs clang >= 15).
const char* const kKindsSource = R"(
typedef unsigned int u32;
typedef unsigned long long u64;
enum color { RED, GREEN = 5, BLUE = -3 };
enum wide { W_SMALL = 1, W_HUGE = 0x123456789ULL };
enum { ANON_CONST = 7 };
struct fwd_only;
union num { int i; float f; double d; };
struct bits { unsigned a : 3, b : 5; int c : 10; u64 d : 40; char e; } __attribute__((packed));
struct padded { char c; long l; short s; };
struct nested { struct { int x, y; } pt; union { u32 u; char b[4]; }; struct fwd_only *fp; };
struct list { struct list *next, *prev; const volatile int *cv; int *restrict r; };
typedef int (*callback_t)(struct list *, int, ...);
struct ops { callback_t cb; void (*fns[2])(void); int (*(*complex)(int))[3]; };
struct tagged { int __attribute__((btf_type_tag("tag1"))) *p __attribute__((btf_decl_tag("dtag")));
                long double ld; _Bool flag; __int128 big; };
struct empty {};
struct holder { struct bits b; struct padded p; struct nested n; struct list l; struct ops o; struct tagged t;
                union num u; enum color c; enum wide w; struct empty e; int matrix[2][3]; char name[16]; };
struct holder global_holder;
int counter __attribute__((section(".data.custom"))) = 1;
const char message[] = "hello";
__attribute__((btf_decl_tag("dtag"))) int func(struct holder *h, int n) {
  return h->matrix[1][2] + n + ANON_CONST + counter;
}
)";

TEST(BtfOwnObject, AllKindsMatchBpftool) {
  std::string cc;
  for (const char* c : {"clang-16", "clang-15", "clang"})
    if (sh(std::string("command -v ") + c + " >/dev/null 2>&1 && echo y").out == "y\n") {
      cc = c;
      break;
    }
  if (cc.empty()) GTEST_SKIP() << "*** no clang: cannot build the all-kinds object ***";
  SKIP_WITHOUT_BPFTOOL();
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/xbpf_btf_kinds.c") << kKindsSource;
  Result r = sh(cc + " -O2 -g -target bpf -c '" + dir + "/xbpf_btf_kinds.c' -o '" + dir + "/xbpf_btf_kinds.o' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string obj = dir + "/xbpf_btf_kinds.o";
  expect_same_as_bpftool(obj, false);
  expect_same_as_bpftool(obj, true);
  auto btf = Btf::load_file(obj);
  ASSERT_TRUE(btf);
  using xbpf::btf::Kind;
  for (Kind k : {Kind::Int, Kind::Ptr, Kind::Array, Kind::Struct, Kind::Union, Kind::Enum, Kind::Fwd, Kind::Typedef,
                 Kind::Volatile, Kind::Const, Kind::Restrict, Kind::Func, Kind::FuncProto, Kind::Var, Kind::Datasec,
                 Kind::Float, Kind::DeclTag, Kind::TypeTag}) {
    bool seen = false;
    for (uint32_t id = 1; id < btf->type_count(); ++id) seen = seen || btf->type(id)->kind == k;
    EXPECT_TRUE(seen) << "no " << xbpf::btf::kind_name(k) << " in the all-kinds object";
  }
  auto holder = btf->find("holder", Kind::Struct);
  ASSERT_TRUE(holder);
  auto size = btf->size_of(*holder);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_EQ(*size, btf->type(*holder)->size);
  // .BTF.ext: one func_info for func, line info naming the source file.
  auto elf = xbpf::elf::ElfFile::open(obj);
  ASSERT_TRUE(elf);
  auto ext = BtfExt::parse(elf->find(".BTF.ext")->data, *btf, obj + ": .BTF.ext");
  ASSERT_TRUE(ext) << ext.error().message;
  ASSERT_EQ(ext->func_info.count(".text"), 1u);
  ASSERT_EQ(ext->func_info.at(".text").size(), 1u);
  EXPECT_EQ(btf->name_of(ext->func_info.at(".text")[0].type_id), "func");
  ASSERT_FALSE(ext->line_info.at(".text").empty());
  EXPECT_NE(ext->line_info.at(".text")[0].file_name.find("xbpf_btf_kinds.c"), std::string_view::npos);
  EXPECT_GT(ext->line_info.at(".text")[0].line_num, 0u);
}

// CO-RE relocations of a small program of our own, checked against the
// instructions clang emitted (llvm-objdump): offsets are instruction indices.
TEST(BtfOwnObject, CoreRelocations) {
  if (!have_clang()) GTEST_SKIP() << "*** clang not installed: cannot build the CO-RE object ***";
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/xbpf_btf_core.c") << R"(
struct task { int pid; struct { long a; unsigned flags : 3; } inner; char comm[16]; }
    __attribute__((preserve_access_index));
enum state { RUNNING = 0, SLEEPING = 1 };
int read_pid(struct task *t) {
  return t->pid + t->inner.a + t->comm[3] + __builtin_preserve_field_info(t->inner.flags, 0) +
         __builtin_preserve_enum_value(*(enum state *)SLEEPING, 1) + __builtin_preserve_type_info(*t, 1);
}
)";
  const std::string obj = dir + "/xbpf_btf_core.o";
  Result r = sh("clang -O2 -g -target bpf -c '" + dir + "/xbpf_btf_core.c' -o '" + obj + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  auto elf = xbpf::elf::ElfFile::open(obj);
  ASSERT_TRUE(elf);
  auto btf = Btf::from_elf(*elf);
  ASSERT_TRUE(btf) << btf.error().message;
  auto ext = BtfExt::parse(elf->find(".BTF.ext")->data, *btf, obj + ": .BTF.ext");
  ASSERT_TRUE(ext) << ext.error().message;
  std::string got;
  for (const auto& relo : ext->core_relos.at(".text"))
    got += std::to_string(relo.insn_idx) + " " + btf->describe(relo.type_id) + " " + std::string(relo.access) + " " +
           std::string(xbpf::btf::core_relo_kind_name(relo.kind)) + "\n";
  EXPECT_EQ(got,
            "0 [2] STRUCT 'task' 0:0 byte_off\n"
            "1 [2] STRUCT 'task' 0:1:0 byte_off\n"
            "3 [2] STRUCT 'task' 0:2:3 byte_off\n"
            "7 [2] STRUCT 'task' 0:1:1 byte_off\n"
            "9 [12] ENUM 'state' 1 enumval_value\n"
            "12 [2] STRUCT 'task' 0 type_size\n");
  ASSERT_EQ(ext->func_info.at(".text").size(), 1u);
  EXPECT_EQ(btf->describe(ext->func_info.at(".text")[0].type_id), "[11] FUNC 'read_pid'");
  const auto& lines = ext->line_info.at(".text");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].insn_idx, 0u);
  EXPECT_EQ(lines[0].line_num, 6u);
  EXPECT_NE(lines[0].line.find("return t->pid"), std::string_view::npos) << lines[0].line;
}

TEST(BtfCli, DumpRawCAndErrors) {
  SKIP_WITHOUT_CORPUS();
  const std::string obj = kCorpus + "/build/twomaps_btf.o";
  if (!fs::exists(obj)) GTEST_SKIP() << obj << " missing";
  auto btf = Btf::load_file(obj);
  ASSERT_TRUE(btf);
  Result raw = sh(kXbpf + " btf dump file " + obj);
  EXPECT_EQ(raw.code, 0);
  EXPECT_EQ(raw.out, xbpf::btf::dump_raw(*btf));
  Result raw2 = sh(kXbpf + " btf dump file " + obj + " format raw");
  EXPECT_EQ(raw2.out, raw.out);
  Result c = sh(kXbpf + " btf dump file " + obj + " format c");
  EXPECT_EQ(c.code, 0);
  EXPECT_EQ(c.out, *xbpf::btf::dump_c(*btf));
  Result bad_format = sh(kXbpf + " btf dump file " + obj + " format json 2>&1");
  EXPECT_EQ(bad_format.code, 2) << bad_format.out;
  EXPECT_NE(bad_format.out.find("xbpf: "), std::string::npos) << bad_format.out;
  Result no_file_kw = sh(kXbpf + " btf dump " + obj + " 2>&1");
  EXPECT_EQ(no_file_kw.code, 2) << no_file_kw.out;
  Result missing = sh(kXbpf + " btf dump file /nonexistent.o 2>&1");
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.out.rfind("xbpf: /nonexistent.o: cannot open", 0), 0u) << missing.out;
  Result no_btf = sh(kXbpf + " btf dump file " + kCorpus + "/bpf_cilium_test/bpf_lb-DLB_L3.o 2>&1");
  EXPECT_EQ(no_btf.code, 1);
  EXPECT_NE(no_btf.out.find("no .BTF section"), std::string::npos) << no_btf.out;
}

}  // namespace
