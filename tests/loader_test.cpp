// The loader on objects we build from tests/objects/*.c: programs and their
// linking, every map flavour, global data, and hostile variations of those
// objects (each refused with a message naming file, section and problem).
#include <gtest/gtest.h>

#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "isa/isa.hpp"
#include "loader/loader.hpp"

using namespace xbpf;
using namespace xbpf::loader;

namespace {

std::string object_path(std::string_view name) { return std::string(XBPF_TEST_OBJECTS_DIR) + "/" + std::string(name) + ".o"; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

ObjectSpec open_ok(std::string_view name, const OpenOptions& opts = {}) {
  auto o = open_object(object_path(name), opts);
  if (!o) ADD_FAILURE() << o.error().message;
  return o ? std::move(*o) : ObjectSpec{};
}

const ProgramSpec& prog(const ObjectSpec& o, std::string_view name) {
  static const ProgramSpec none;
  const ProgramSpec* p = find_program(o, name);
  if (!p) ADD_FAILURE() << "no program " << name;
  return p ? *p : none;
}

const MapSpec& map(const ObjectSpec& o, std::string_view name) {
  static const MapSpec none;
  const MapSpec* m = find_map(o, name);
  if (!m) ADD_FAILURE() << "no map " << name;
  return m ? *m : none;
}

uint32_t map_index(const ObjectSpec& o, std::string_view name) {
  return static_cast<uint32_t>(&map(o, name) - o.maps.data());
}

// The start slot of the function span named `name`, or -1.
int64_t span_start(const ProgramSpec& p, std::string_view name) {
  for (const FunctionSpan& f : p.functions)
    if (f.name == name) return f.start;
  return -1;
}

// Every local call and function address of a linked program lands on the
// first slot of one of its functions.
void expect_calls_land_on_functions(const ProgramSpec& p) {
  for (size_t pc = 0; pc < p.insns.size(); ++pc) {
    const isa::RawInsn& i = p.insns[pc];
    bool local = (i.code == 0x85 && i.src == kPseudoCall) || (i.code == 0x18 && i.src == kPseudoFunc);
    if (!local) continue;
    int64_t target = int64_t(pc) + 1 + i.imm;
    bool ok = false;
    for (const FunctionSpan& f : p.functions) ok |= f.start == target;
    EXPECT_TRUE(ok) << p.name << ": insn " << pc << " targets " << target;
  }
}

// ---- hostile-input helpers: patch fields of an ELF image in place ----

struct Image {
  std::vector<uint8_t> bytes;

  Elf64_Ehdr& ehdr() { return *reinterpret_cast<Elf64_Ehdr*>(bytes.data()); }
  Elf64_Shdr& shdr(size_t i) { return reinterpret_cast<Elf64_Shdr*>(bytes.data() + ehdr().e_shoff)[i]; }
  std::string name_of(size_t i) {
    return reinterpret_cast<const char*>(bytes.data() + shdr(ehdr().e_shstrndx).sh_offset + shdr(i).sh_name);
  }
  size_t section(std::string_view name) {
    for (size_t i = 0; i < ehdr().e_shnum; ++i)
      if (name_of(i) == name) return i;
    ADD_FAILURE() << "no section " << name;
    return 0;
  }
  template <class T>
  T* entries(std::string_view sec) {
    return reinterpret_cast<T*>(bytes.data() + shdr(section(sec)).sh_offset);
  }
  Elf64_Sym& symbol(std::string_view name) {
    size_t st = section(".symtab");
    auto* syms = entries<Elf64_Sym>(".symtab");
    const char* strs = reinterpret_cast<const char*>(bytes.data() + shdr(shdr(st).sh_link).sh_offset);
    for (size_t i = 0; i < shdr(st).sh_size / sizeof(Elf64_Sym); ++i)
      if (name == strs + syms[i].st_name) return syms[i];
    ADD_FAILURE() << "no symbol " << name;
    return syms[0];
  }
  std::string open_error(const OpenOptions& opts = {}) {
    auto o = from_memory(bytes, "prog.o", opts);
    return o ? "(opened)" : o.error().message;
  }
};

Image image(std::string_view name) { return Image{read_bytes(object_path(name))}; }

}  // namespace

// ---- programs ----

TEST(Loader, ProgramsTypesAndTargetsFromSectionNames) {
  ObjectSpec o = open_ok("progs");
  EXPECT_EQ(o.license, "GPL");
  EXPECT_EQ(o.kernel_version, 0x060c00u);
  struct Want {
    const char* name;
    const char* section;
    ProgType type;
    std::optional<AttachType> attach;
    const char* target;
  };
  const Want want[] = {
      {"xdp_one", "xdp", ProgType::Xdp, AttachType::Xdp, ""},
      {"xdp_two", "xdp", ProgType::Xdp, AttachType::Xdp, ""},
      {"tc_loop", "tc", ProgType::SchedCls, std::nullopt, ""},
      {"kprobe_static", "kprobe/do_sys_open", ProgType::Kprobe, std::nullopt, "do_sys_open"},
      {"not_autoloaded", "socket", ProgType::SocketFilter, std::nullopt, ""},
      {"tp", "tracepoint/syscalls/sys_enter_open", ProgType::Tracepoint, std::nullopt, "syscalls/sys_enter_open"},
      {"bash_readline", "uretprobe//bin/bash:readline", ProgType::Kprobe, std::nullopt, "/bin/bash:readline"},
      {"fentry_connect", "fentry/tcp_connect", ProgType::Tracing, AttachType::TraceFentry, "tcp_connect"},
      {"connect4", "cgroup/connect4", ProgType::CgroupSockAddr, AttachType::CgroupInet4Connect, ""},
  };
  ASSERT_EQ(o.programs.size(), std::size(want));  // .text functions are not programs
  for (const Want& w : want) {
    const ProgramSpec& p = prog(o, w.name);
    EXPECT_EQ(p.section, w.section) << w.name;
    EXPECT_EQ(p.type, w.type) << w.name;
    EXPECT_EQ(p.attach_type, w.attach) << w.name;
    EXPECT_EQ(p.attach_target, w.target) << w.name;
    EXPECT_EQ(p.license, "GPL");
  }
  EXPECT_FALSE(prog(o, "kprobe_static").global);
  EXPECT_TRUE(prog(o, "bash_readline").section_info.is_return);
  EXPECT_TRUE(prog(o, "fentry_connect").section_info.attach_btf);
  EXPECT_FALSE(prog(o, "not_autoloaded").section_info.autoload);
  EXPECT_EQ(find_program(o, "twice"), nullptr);
  EXPECT_EQ(find_program(o, "add"), nullptr);
}

TEST(Loader, SubprogramsAreAppendedAndCallsRelocated) {
  ObjectSpec o = open_ok("progs");
  const ProgramSpec& one = prog(o, "xdp_one");
  // xdp_one calls twice (relocation against the symbol), which calls add
  // (same-section call, no relocation): both appended, depth first.
  ASSERT_EQ(one.functions.size(), 3u);
  EXPECT_EQ(one.functions[1].name, "twice");
  EXPECT_EQ(one.functions[2].name, "add");
  EXPECT_EQ(one.insns.size(), 3u + 3u + 3u);
  expect_calls_land_on_functions(one);
  // xdp_two calls the static add through a section-symbol relocation.
  const ProgramSpec& two = prog(o, "xdp_two");
  ASSERT_EQ(two.functions.size(), 2u);
  EXPECT_EQ(two.functions[1].name, "add");
  expect_calls_land_on_functions(two);
  // The static program links the same subprograms independently.
  expect_calls_land_on_functions(prog(o, "kprobe_static"));
  EXPECT_EQ(prog(o, "kprobe_static").insns.size(), prog(o, "kprobe_static").functions[0].count + 6u);
}

TEST(Loader, CallbackAddressBecomesPseudoFunc) {
  ObjectSpec o = open_ok("progs");
  const ProgramSpec& p = prog(o, "tc_loop");
  ASSERT_EQ(p.functions.size(), 2u);
  EXPECT_EQ(p.functions[1].name, "count_cb");
  size_t found = 0;
  for (size_t pc = 0; pc < p.insns.size(); ++pc)
    if (p.insns[pc].code == 0x18 && p.insns[pc].src == kPseudoFunc) {
      ++found;
      EXPECT_EQ(int64_t(pc) + 1 + p.insns[pc].imm, span_start(p, "count_cb"));
    }
  EXPECT_EQ(found, 1u);
  // Decodes and validates as a whole program (targets in range).
  EXPECT_TRUE(isa::decode_program(p.insns).has_value());
}

TEST(Loader, FromMemoryMatchesOpen) {
  auto a = open_object(object_path("progs"));
  auto b = from_memory(read_bytes(object_path("progs")), "progs.o");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->programs.size(), b->programs.size());
  for (size_t i = 0; i < a->programs.size(); ++i) EXPECT_EQ(a->programs[i].insns, b->programs[i].insns);
  EXPECT_EQ(b->name, "progs");
}

TEST(Loader, DefaultProgTypeAppliesOnlyToUnknownSections) {
  Image img = image("progs");
  // Rename section "tc" to "zz" (same length): not a known section name.
  auto& sh = img.shdr(img.section("tc"));
  std::memcpy(img.bytes.data() + img.shdr(img.ehdr().e_shstrndx).sh_offset + sh.sh_name, "zz", 2);
  OpenOptions opts;
  opts.default_prog_type = ProgType::SchedAct;
  auto o = from_memory(img.bytes, "prog.o", opts);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(prog(*o, "tc_loop").type, ProgType::SchedAct);
  EXPECT_EQ(prog(*o, "tc_loop").section_info.source, TypeSource::Option);
  EXPECT_EQ(prog(*o, "xdp_one").type, ProgType::Xdp);
}

// ---- legacy maps ----

TEST(Loader, SamplesBpfLegacyMaps) {
  ObjectSpec o = open_ok("legacy_maps");
  ASSERT_EQ(o.maps.size(), 4u);
  EXPECT_EQ(map(o, "counts").type, MapType::Hash);
  EXPECT_EQ(map(o, "counts").key_size, 4u);
  EXPECT_EQ(map(o, "counts").value_size, 8u);
  EXPECT_EQ(map(o, "counts").max_entries, 128u);
  EXPECT_EQ(map(o, "counts").origin, MapOrigin::Legacy);
  EXPECT_EQ(map(o, "outer").inner_map, map_index(o, "inner"));
  EXPECT_EQ(map(o, "numa").flags, 4u);
  EXPECT_EQ(map(o, "numa").numa_node, 3u);
  const ProgramSpec& p = prog(o, "lookup");
  EXPECT_EQ(p.type, ProgType::SocketFilter);
  EXPECT_EQ(p.section_info.source, TypeSource::LegacyPrefix);
  ASSERT_EQ(p.relocations.size(), 3u);
  const char* names[] = {"counts", "outer", "numa"};
  for (size_t i = 0; i < 3; ++i) {
    const InsnReloc& r = p.relocations[i];
    EXPECT_EQ(r.kind, RelocKind::Map);
    EXPECT_EQ(r.symbol, names[i]);
    EXPECT_EQ(r.map, map_index(o, names[i]));
    EXPECT_EQ(p.insns[r.insn].code, 0x18);
    EXPECT_EQ(p.insns[r.insn].src, kPseudoMapIdx);
    EXPECT_EQ(uint32_t(p.insns[r.insn].imm), r.map);
  }
}

TEST(Loader, Iproute2Maps) {
  ObjectSpec o = open_ok("iproute2_maps");
  ASSERT_EQ(o.maps.size(), 4u);
  const MapSpec& jmp = map(o, "jmp");
  EXPECT_EQ(jmp.type, MapType::ProgArray);
  EXPECT_EQ(jmp.legacy_id, 1u);
  EXPECT_EQ(jmp.pinning, kPinGlobalNs);
  const MapSpec& outer = map(o, "outer");
  EXPECT_EQ(outer.inner_map, map_index(o, "inner"));
  ASSERT_EQ(outer.init.size(), 1u);
  EXPECT_EQ(outer.init[0].slot, 2u);
  EXPECT_EQ(outer.init[0].target, map_index(o, "inner"));
  EXPECT_EQ(map(o, "config").section, "maps/config");
  EXPECT_EQ(map(o, "config").value_size, 8u);
  const ProgramSpec& slot = prog(o, "slot0");
  EXPECT_EQ(slot.type, ProgType::SchedCls);
  ASSERT_TRUE(slot.section_info.tail_call.has_value());
  EXPECT_EQ(slot.section_info.tail_call->map_id, 1u);
  EXPECT_EQ(slot.section_info.tail_call->key, 0u);
  EXPECT_EQ(prog(o, "cls").relocations.size(), 3u);
}

// ---- BTF-defined maps ----

TEST(Loader, BtfDefinedMaps) {
  ObjectSpec o = open_ok("btf_maps");
  ASSERT_TRUE(o.btf);
  const MapSpec& stats = map(o, "stats");
  EXPECT_EQ(stats.type, MapType::Hash);
  EXPECT_EQ(stats.key_size, 4u);
  EXPECT_EQ(stats.value_size, 16u);
  EXPECT_EQ(stats.max_entries, 1024u);
  EXPECT_EQ(stats.flags, 1u);
  EXPECT_EQ(stats.pinning, kPinByName);
  EXPECT_EQ(o.btf->name_of(stats.btf_value_type_id), "value");
  EXPECT_NE(stats.btf_key_type_id, 0u);
  const MapSpec& sized = map(o, "sized");
  EXPECT_EQ(sized.value_size, 16u);
  EXPECT_EQ(sized.numa_node, 1u);
  EXPECT_EQ(sized.btf_value_type_id, 0u);
  EXPECT_EQ(map(o, "events").max_entries, 8192u);  // rounded up to 2 pages
}

TEST(Loader, BtfMapInMapAndProgArrayInitialisers) {
  ObjectSpec o = open_ok("btf_maps");
  const MapSpec& outer = map(o, "outer");
  ASSERT_TRUE(outer.inner_map.has_value());
  const MapSpec& inner = o.maps[*outer.inner_map];
  EXPECT_EQ(inner.name, "outer.inner");
  EXPECT_EQ(inner.origin, MapOrigin::InnerTemplate);
  EXPECT_EQ(inner.value_size, 8u);
  EXPECT_EQ(outer.value_size, 4u);
  ASSERT_EQ(outer.init.size(), 2u);
  EXPECT_EQ(outer.init[0].slot, 0u);
  EXPECT_EQ(outer.init[0].target, map_index(o, "inner_a"));
  EXPECT_EQ(outer.init[1].slot, 2u);
  EXPECT_EQ(outer.init[1].target, map_index(o, "inner_b"));
  const MapSpec& jumps = map(o, "jumps");
  ASSERT_EQ(jumps.init.size(), 2u);
  EXPECT_EQ(jumps.init[0].slot, 1u);
  EXPECT_EQ(o.programs[jumps.init[0].target].name, "tail_a");
  EXPECT_EQ(jumps.init[1].slot, 2u);
  EXPECT_EQ(o.programs[jumps.init[1].target].name, "tail_b");
}

// ---- global data ----

TEST(Loader, GlobalDataMaps) {
  ObjectSpec o = open_ok("global_data");
  const MapSpec& data = map(o, "global_d.data");
  EXPECT_EQ(data.type, MapType::Array);
  EXPECT_EQ(data.max_entries, 1u);
  EXPECT_EQ(data.key_size, 4u);
  ASSERT_EQ(data.data.size(), 8u);  // counter, then the static hidden_b
  EXPECT_EQ(data.data[0], 5);
  EXPECT_EQ(data.data[4], 2);
  const MapSpec& ro = map(o, "global_d.rodata");
  EXPECT_EQ(ro.flags & 0x80, 0x80u);  // BPF_F_RDONLY_PROG
  ASSERT_EQ(ro.data.size(), 4u);
  EXPECT_EQ(ro.data[0], 42);
  EXPECT_EQ(map(o, ".data.tags").data, (std::vector<uint8_t>{'x', 'b', 'p', 'f', 0, 0, 0, 0}));
  EXPECT_EQ(map(o, ".rodata.table").value_size, 12u);
  const MapSpec& bss = map(o, "global_d.bss");
  EXPECT_EQ(bss.origin, MapOrigin::Bss);
  EXPECT_EQ(bss.value_size, 32u);
  EXPECT_TRUE(bss.data.empty());
  EXPECT_EQ(o.btf->name_of(bss.btf_value_type_id), ".bss");
}

TEST(Loader, KconfigExterns) {
  ObjectSpec o = open_ok("global_data");
  const MapSpec& k = map(o, "global_.kconfig");
  EXPECT_EQ(k.origin, MapOrigin::Kconfig);
  EXPECT_EQ(k.value_size, 5u);
  ASSERT_EQ(o.externs.size(), 2u);
  for (const ExternSpec& e : o.externs) {
    EXPECT_EQ(e.kind, ExternSpec::Kind::Kconfig);
    const bool hz = e.name == "CONFIG_HZ";
    EXPECT_EQ(e.kconfig_offset, hz ? 0u : 4u) << e.name;
    EXPECT_EQ(e.size, hz ? 4u : 1u) << e.name;
    EXPECT_EQ(e.weak, !hz) << e.name;
  }
}

TEST(Loader, GlobalDataRelocationsCarryOffsets) {
  ObjectSpec o = open_ok("global_data");
  const ProgramSpec& p = prog(o, "use_globals");
  struct Want {
    const char* symbol;
    const char* map;
    uint32_t offset;
  };
  // Global variables are relocated against their own symbol (offset 0, the
  // element offset stays in the load); statics against the section symbol
  // with their offset in imm; kconfig externs at their laid-out offset.
  const Want want[] = {{"counter", "global_d.data", 0},       {".data", "global_d.data", 4},
                       {"limit", "global_d.rodata", 0},       {"tag", ".data.tags", 0},
                       {"zeros", "global_d.bss", 0},          {"CONFIG_HZ", "global_.kconfig", 0},
                       {"CONFIG_BPF_SYSCALL", "global_.kconfig", 4}};
  for (const Want& w : want) {
    bool seen = false;
    for (const InsnReloc& r : p.relocations) {
      if (r.symbol != w.symbol) continue;
      seen = true;
      EXPECT_EQ(r.kind, RelocKind::MapValue) << w.symbol;
      EXPECT_EQ(r.map, map_index(o, w.map)) << w.symbol;
      EXPECT_EQ(r.offset, w.offset) << w.symbol;
      EXPECT_EQ(p.insns[r.insn].src, kPseudoMapIdxValue);
      EXPECT_EQ(uint32_t(p.insns[r.insn].imm), r.map);
      EXPECT_EQ(uint32_t(p.insns[r.insn + 1].imm), w.offset);
    }
    EXPECT_TRUE(seen) << w.symbol;
  }
}

TEST(Loader, FuncAndLineInfoAreRebased) {
  ObjectSpec o = open_ok("progs");
  const ProgramSpec& p = prog(o, "xdp_one");
  ASSERT_EQ(p.func_info.size(), 3u);  // xdp_one, twice, add
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(p.func_info[i].insn_idx, p.functions[i].start);
  ASSERT_FALSE(p.line_info.empty());
  for (const auto& li : p.line_info) EXPECT_LT(li.insn_idx, p.insns.size());
  EXPECT_TRUE(p.btf);
}

// ---- hostile input ----

TEST(LoaderHostile, RelocationOnTheWrongInstruction) {
  Image img = image("legacy_maps");
  img.entries<Elf64_Rel>(".relsocket1")[0].r_offset = 0;  // insn 0 is `r6 = 0`
  EXPECT_EQ(img.open_error(),
            "prog.o: section socket1: relocation 0 at insn 0 targets a 'r6 = 0', expected lddw");
}

TEST(LoaderHostile, RelocationOutsideTheSection) {
  Image img = image("legacy_maps");
  img.entries<Elf64_Rel>(".relsocket1")[1].r_offset = 0x10000;
  EXPECT_NE(img.open_error().find("prog.o: section "), std::string::npos);
}

TEST(LoaderHostile, RelocationTypeForDataOnCode) {
  Image img = image("legacy_maps");
  auto& r = img.entries<Elf64_Rel>(".relsocket1")[0];
  r.r_info = ELF64_R_INFO(ELF64_R_SYM(r.r_info), 2 /* R_BPF_64_ABS64 */);
  EXPECT_EQ(img.open_error(),
            "prog.o: section socket1: relocation 0 at insn 4 (R_BPF_64_ABS64 against 'counts'): relocation type 2 "
            "does not apply to instructions");
}

TEST(LoaderHostile, RelocationAgainstNoMapOrData) {
  Image img = image("legacy_maps");
  auto& r = img.entries<Elf64_Rel>(".relsocket1")[0];
  const auto* syms = img.entries<Elf64_Sym>(".symtab");
  uint32_t license = static_cast<uint32_t>(&img.symbol("LICENSE") - syms);
  r.r_info = ELF64_R_INFO(license, ELF64_R_TYPE(r.r_info));
  EXPECT_EQ(img.open_error(),
            "prog.o: section socket1: relocation 0 at insn 4 (R_BPF_64_64 against 'LICENSE'): symbol is in section "
            "license, which holds no code, maps or global data");
}

TEST(LoaderHostile, LegacyMapSectionSizeNotDivisible) {
  Image img = image("legacy_maps");
  img.shdr(img.section("maps")).sh_size -= 1;
  EXPECT_EQ(img.open_error(), "prog.o: section maps: cannot tell the map definition size: 111 bytes for 4 map symbols");
}

TEST(LoaderHostile, FunctionCrossesSectionEnd) {
  Image img = image("progs");
  img.symbol("xdp_two").st_size = 0x1000;
  EXPECT_EQ(img.open_error(),
            "prog.o: section xdp: function 'xdp_two' (offset 0x18, size 4096) crosses the section end (64 bytes)");
}

TEST(LoaderHostile, CallIntoNoFunction) {
  Image img = image("progs");
  // .text `twice` calls `add` without a relocation; aim it past the section.
  auto* text = img.entries<isa::RawInsn>(".text");
  text[1].imm = 1000;
  EXPECT_EQ(img.open_error(),
            "prog.o: section .text: program 'xdp_one': insn 1: call target slot 1002 of section .text is not inside "
            "any function");
}

TEST(LoaderHostile, HugeBss) {
  Image img = image("global_data");
  img.shdr(img.section(".bss")).sh_size = uint64_t(1) << 40;
  EXPECT_EQ(img.open_error(), "prog.o: section .bss: size 1099511627776 does not fit a map value");
}

TEST(LoaderHostile, DataOffsetOutsideSection) {
  Image img = image("global_data");
  Image bad_symbol = img;
  bad_symbol.symbol("tag").st_value = 100;
  EXPECT_NE(bad_symbol.open_error().find("symbol value 0x64 is outside its section .data.tags (8 bytes)"),
            std::string::npos)
      << bad_symbol.open_error();
  // The offset inside the section comes from the lddw's imm too.
  const auto* syms = img.entries<Elf64_Sym>(".symtab");
  const uint32_t tag = static_cast<uint32_t>(&img.symbol("tag") - syms);
  auto* rel = img.entries<Elf64_Rel>(".relsocket");
  auto* code = img.entries<isa::RawInsn>("socket");
  for (size_t i = 0; i < img.shdr(img.section(".relsocket")).sh_size / sizeof(Elf64_Rel); ++i)
    if (ELF64_R_SYM(rel[i].r_info) == tag) code[rel[i].r_offset / 8].imm = 20;
  EXPECT_NE(img.open_error().find("offset 20 is outside section .data.tags (8 bytes)"), std::string::npos)
      << img.open_error();
}

TEST(LoaderHostile, ProgramSizeLimit) {
  OpenOptions opts;
  opts.max_program_insns = 5;
  Image img = image("progs");
  EXPECT_EQ(img.open_error(opts), "prog.o: section .text: program 'xdp_one' exceeds 5 instructions once 'twice' is linked");
}

TEST(LoaderHostile, NotARelocatableBpfObject) {
  Image img = image("progs");
  img.ehdr().e_machine = EM_X86_64;
  EXPECT_EQ(img.open_error(), "prog.o: e_machine is 62, expected EM_BPF (247): not a BPF object file");
  img.ehdr().e_machine = EM_NONE;  // old LLVM: accepted
  EXPECT_EQ(img.open_error(), "(opened)");
  img.ehdr().e_type = ET_EXEC;
  EXPECT_EQ(img.open_error(), "prog.o: not a relocatable object (e_type 2, expected ET_REL): not a BPF object file");
}

TEST(LoaderHostile, EveryTruncationIsRefusedOrOpened) {
  for (const char* name : {"progs", "btf_maps", "global_data"}) {
    auto bytes = read_bytes(object_path(name));
    for (size_t len = 0; len < bytes.size(); len += 7) {
      auto o = from_memory(std::vector<uint8_t>(bytes.begin(), bytes.begin() + len), "cut.o");
      if (!o) {
        EXPECT_EQ(o.error().message.rfind("cut.o", 0), 0u) << o.error().message;
      }
    }
  }
}

// ---- CO-RE ----

namespace {

ObjectSpec open_core(const OpenOptions& extra = {}) {
  OpenOptions opts = extra;
  if (!opts.target_btf && opts.target_btf_path.empty()) opts.target_btf_path = object_path("core_target");
  return open_ok("core", opts);
}

const CoreReloResult* core_at(const ProgramSpec& p, uint32_t insn) {
  for (const CoreReloResult& r : p.core_relos)
    if (r.insn == insn) return &r;
  return nullptr;
}

uint64_t lddw_value(const ProgramSpec& p, uint32_t pc) {
  return uint32_t(p.insns[pc].imm) | (uint64_t(uint32_t(p.insns[pc + 1].imm)) << 32);
}

}  // namespace

TEST(LoaderCore, FieldRelocationsFollowTheTargetLayout) {
  ObjectSpec o = open_core();
  const ProgramSpec& p = prog(o, "core_relos");
  ASSERT_EQ(p.core_relos.size(), 15u);
  EXPECT_EQ(p.insns[0].off, 8);    // tgid moved from 4 to 8 (load offset patched)
  EXPECT_EQ(p.insns[3].imm, 32);   // sizeof comm: 16 -> 32
  EXPECT_EQ(p.insns[5].imm, 1);    // flags exists
  EXPECT_EQ(p.insns[7].imm, 1);    // pid is signed
  EXPECT_EQ(p.insns[9].imm, 59);   // prio: 3-bit int -> 5-bit long, left shift
  EXPECT_EQ(p.insns[11].imm, 59);  // right shift
  EXPECT_EQ(p.insns[13].imm, 0);   // gone does not exist in the target
  const CoreReloResult* r = core_at(p, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->kind, btf::CoreReloKind::FieldByteOffset);
  EXPECT_EQ(r->local_value, 4u);
  EXPECT_EQ(r->target_value, 8u);
  EXPECT_TRUE(r->resolved);
  EXPECT_EQ(r->spec, "[2] STRUCT task.tgid (0:1 @ offset 4)");
}

TEST(LoaderCore, TypeAndEnumRelocations) {
  ObjectSpec o = open_core();
  const ProgramSpec& p = prog(o, "core_relos");
  EXPECT_EQ(lddw_value(p, 15), 2u);  // local type id stays
  EXPECT_EQ(lddw_value(p, 18), 1u);  // target type id: task is [1] in core_target.o
  EXPECT_EQ(p.insns[21].imm, 1);     // task exists
  EXPECT_EQ(p.insns[23].imm, 64);    // sizeof(struct task) in the target
  EXPECT_EQ(p.insns[25].imm, 0);     // missing_type does not exist
  EXPECT_EQ(lddw_value(p, 27), 1u);  // SLEEPING exists
  EXPECT_EQ(lddw_value(p, 30), 9u);  // ZOMBIE = 9 in the target
}

TEST(LoaderCore, UnresolvableRelocationPoisonsTheInstruction) {
  ObjectSpec o = open_core();
  const ProgramSpec& p = prog(o, "core_relos");
  // `t->gone` is read behind `if (r == 12345)`: its offset cannot be relocated.
  EXPECT_EQ(p.insns[34].code, 0x85);
  EXPECT_EQ(p.insns[34].src, 0);
  EXPECT_EQ(p.insns[34].imm, kCoreReloPoison);
  const CoreReloResult* r = core_at(p, 34);
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->resolved);
  EXPECT_NE(r->error.find("no task in"), std::string::npos) << r->error;
  EXPECT_TRUE(isa::decode_program(p.insns).has_value());  // still a well-formed program
}

TEST(LoaderCore, TargetBtfObjectAndSkip) {
  auto target = btf::Btf::load_file(object_path("core_target"));
  ASSERT_TRUE(target) << target.error().message;
  OpenOptions opts;
  opts.target_btf = std::make_shared<const btf::Btf>(std::move(*target));
  ObjectSpec with_target = open_core(opts);
  EXPECT_EQ(prog(with_target, "core_relos").insns[0].off, 8);
  // Relocating against the object's own BTF changes nothing.
  OpenOptions self;
  self.target_btf_path = object_path("core");
  ObjectSpec same = open_core(self);
  for (const CoreReloResult& r : prog(same, "core_relos").core_relos)
    EXPECT_EQ(r.local_value, r.target_value) << r.spec;
  OpenOptions skip;
  skip.skip_core = true;
  skip.target_btf_path = object_path("core_target");
  ObjectSpec skipped = open_ok("core", skip);
  const ProgramSpec& raw = prog(skipped, "core_relos");
  EXPECT_TRUE(raw.core_relos.empty());
  EXPECT_EQ(raw.insns[0].off, 4);
}

TEST(LoaderCore, UnreadableTargetIsAnError) {
  OpenOptions opts;
  opts.target_btf_path = "/nonexistent/vmlinux";
  auto o = open_object(object_path("core"), opts);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("CO-RE target BTF"), std::string::npos) << o.error().message;
}

// ---- section names and kernel type numbers ----

TEST(SectionNames, LibbpfConventionsAndLegacyNames) {
  struct Want {
    const char* section;
    ProgType type;
    std::optional<AttachType> attach;
    const char* target;
    TypeSource source;
  };
  const Want want[] = {
      {"kprobe/do_unlinkat", ProgType::Kprobe, std::nullopt, "do_unlinkat", TypeSource::Libbpf},
      {"kretprobe/do_unlinkat", ProgType::Kprobe, std::nullopt, "do_unlinkat", TypeSource::Libbpf},
      {"uprobe.s//lib/libc.so.6:malloc", ProgType::Kprobe, std::nullopt, "/lib/libc.so.6:malloc", TypeSource::Libbpf},
      {"usdt/./app:provider:probe", ProgType::Kprobe, std::nullopt, "./app:provider:probe", TypeSource::Libbpf},
      {"kprobe.multi/tcp_*", ProgType::Kprobe, AttachType::TraceKprobeMulti, "tcp_*", TypeSource::Libbpf},
      {"tp/sched/sched_switch", ProgType::Tracepoint, std::nullopt, "sched/sched_switch", TypeSource::Libbpf},
      {"raw_tp/sched_switch", ProgType::RawTracepoint, std::nullopt, "sched_switch", TypeSource::Libbpf},
      {"tp_btf/sched_switch", ProgType::Tracing, AttachType::TraceRawTp, "sched_switch", TypeSource::Libbpf},
      {"fexit/tcp_close", ProgType::Tracing, AttachType::TraceFexit, "tcp_close", TypeSource::Libbpf},
      {"fmod_ret/security_x", ProgType::Tracing, AttachType::ModifyReturn, "security_x", TypeSource::Libbpf},
      {"lsm.s/file_open", ProgType::Lsm, AttachType::LsmMac, "file_open", TypeSource::Libbpf},
      {"iter/task", ProgType::Tracing, AttachType::TraceIter, "task", TypeSource::Libbpf},
      {"xdp.frags", ProgType::Xdp, AttachType::Xdp, "", TypeSource::Libbpf},
      {"xdp/devmap", ProgType::Xdp, AttachType::XdpDevmap, "", TypeSource::Libbpf},
      {"tc/ingress", ProgType::SchedCls, AttachType::TcxIngress, "", TypeSource::Libbpf},
      {"classifier", ProgType::SchedCls, std::nullopt, "", TypeSource::Libbpf},
      {"sk_skb/stream_parser", ProgType::SkSkb, AttachType::SkSkbStreamParser, "", TypeSource::Libbpf},
      {"sk_msg", ProgType::SkMsg, AttachType::SkMsgVerdict, "", TypeSource::Libbpf},
      {"cgroup_skb/ingress", ProgType::CgroupSkb, AttachType::CgroupInetIngress, "", TypeSource::Libbpf},
      {"cgroup/sock_release", ProgType::CgroupSock, AttachType::CgroupInetSockRelease, "", TypeSource::Libbpf},
      {"cgroup/sendmsg6", ProgType::CgroupSockAddr, AttachType::CgroupUdp6Sendmsg, "", TypeSource::Libbpf},
      {"cgroup/getsockopt", ProgType::CgroupSockopt, AttachType::CgroupGetsockopt, "", TypeSource::Libbpf},
      {"flow_dissector", ProgType::FlowDissector, AttachType::FlowDissector, "", TypeSource::Libbpf},
      {"sockops", ProgType::SockOps, AttachType::CgroupSockOps, "", TypeSource::Libbpf},
      {"perf_event", ProgType::PerfEvent, std::nullopt, "", TypeSource::Libbpf},
      {"struct_ops/tcp_init", ProgType::StructOps, std::nullopt, "tcp_init", TypeSource::Libbpf},
      {"netfilter", ProgType::Netfilter, AttachType::Netfilter, "", TypeSource::Libbpf},
      // libbpf 0.x / samples/bpf prefix matching
      {"socket1", ProgType::SocketFilter, std::nullopt, "", TypeSource::LegacyPrefix},
      {"xdp_redirect_map", ProgType::Xdp, AttachType::Xdp, "", TypeSource::LegacyPrefix},
      {"tc_mark", ProgType::SchedCls, std::nullopt, "", TypeSource::LegacyPrefix},
      {"cgroup/sock1", ProgType::CgroupSock, AttachType::CgroupInetSockCreate, "", TypeSource::LegacyPrefix},
      {"xdp_devmap/redirect", ProgType::Xdp, AttachType::XdpDevmap, "redirect", TypeSource::LegacyPrefix},
      // iproute2 and Cilium
      {"2/7", ProgType::SchedCls, std::nullopt, "", TypeSource::Convention},
      {"from-netdev", ProgType::SchedCls, std::nullopt, "", TypeSource::Convention},
      {"bind", ProgType::Unspec, std::nullopt, "", TypeSource::Unknown},
      {".text", ProgType::Unspec, std::nullopt, "", TypeSource::Unknown},
  };
  for (const Want& w : want) {
    SectionInfo s = classify_section(w.section);
    EXPECT_EQ(s.type, w.type) << w.section;
    EXPECT_EQ(s.attach_type, w.attach) << w.section;
    EXPECT_EQ(s.attach_target, w.target) << w.section;
    EXPECT_EQ(s.source, w.source) << w.section;
  }
  EXPECT_TRUE(classify_section("kretprobe/x").is_return);
  EXPECT_TRUE(classify_section("fentry.s/x").sleepable);
  EXPECT_TRUE(classify_section("xdp.frags/cpumap").xdp_frags);
  EXPECT_FALSE(classify_section("?xdp").autoload);
  EXPECT_EQ(classify_section("?xdp").type, ProgType::Xdp);
  auto slot = classify_section("1/0x1010").tail_call;
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(slot->map_id, 1u);
  EXPECT_EQ(slot->key, 0x1010u);
}

TEST(KernelTypes, ValuesAreTheKernelsAndNamesRoundTrip) {
  EXPECT_EQ(uint32_t(ProgType::Xdp), 6u);
  EXPECT_EQ(uint32_t(ProgType::Netfilter), 32u);
  EXPECT_EQ(uint32_t(AttachType::CgroupInetIngress), 0u);
  EXPECT_EQ(uint32_t(AttachType::Xdp), 37u);
  EXPECT_EQ(uint32_t(AttachType::TraceUprobeSession), 57u);
  EXPECT_EQ(uint32_t(MapType::Ringbuf), 27u);
  EXPECT_EQ(uint32_t(MapType::Arena), 33u);
  EXPECT_EQ(name(ProgType::RawTracepoint), "raw_tracepoint");
  EXPECT_EQ(name(AttachType::TraceFentry), "trace_fentry");
  EXPECT_EQ(name(MapType::LruPercpuHash), "lru_percpu_hash");
  EXPECT_EQ(name(static_cast<MapType>(999)), "");
  EXPECT_EQ(prog_type_from_name("sched_cls"), ProgType::SchedCls);
  EXPECT_EQ(attach_type_from_name("cgroup_inet4_connect"), AttachType::CgroupInet4Connect);
  EXPECT_EQ(map_type_from_name("devmap_hash"), MapType::DevmapHash);
  EXPECT_EQ(map_type_from_name("nope"), std::nullopt);
}
