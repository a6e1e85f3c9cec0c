// The loader: a BPF ELF object (clang -target bpf output, libbpf style or
// older iproute2 / samples/bpf / Cilium styles) -> ObjectSpec, plain data
// describing its programs, maps and global data, opened the way libbpf's
// bpf_object__open would:
//
//  - programs: one per function symbol in each executable section (static
//    ones too); sections without function symbols (old clang) are one
//    program named after the section; `.text` functions are subprograms,
//    linked into every program that calls them or takes their address
//    (`.text` functions are programs only in objects without other code);
//  - maps: BTF-defined `.maps`, legacy `maps` / `maps/NAME` records (every
//    struct bpf_map_def / bpf_elf_map layout), global data (.data*, .rodata*,
//    .bss*, .kconfig) as one-entry arrays;
//  - relocations applied: map references become `lddw map_idx` (src 5) and
//    global data `lddw map_idx_value` (src 6) with imm = index into
//    ObjectSpec::maps, recorded in ProgramSpec::relocations so that a later
//    loader can substitute file descriptors or pointers; bpf-to-bpf calls and
//    `lddw func` point at the appended subprograms; CO-RE relocations are
//    resolved against a target BTF.
//
// Specs are values: no file descriptors, no kernel state. Everything is
// validated; hostile input yields an Error naming the file, the section and
// the problem, within bounded time and memory (see OpenOptions limits).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "btf/btf.hpp"
#include "isa/isa.hpp"
#include "loader/kernel_types.hpp"
#include "loader/section_names.hpp"
#include "support/error.hpp"

namespace xbpf::loader {

// lddw src_reg values used by the loader (uapi BPF_PSEUDO_*).
inline constexpr uint8_t kPseudoMapFd = 1;
inline constexpr uint8_t kPseudoMapValue = 2;
inline constexpr uint8_t kPseudoBtfId = 3;
inline constexpr uint8_t kPseudoFunc = 4;
inline constexpr uint8_t kPseudoMapIdx = 5;
inline constexpr uint8_t kPseudoMapIdxValue = 6;
// call src_reg values.
inline constexpr uint8_t kPseudoCall = 1;
inline constexpr uint8_t kPseudoKfuncCall = 2;

// libbpf's poison for an instruction whose CO-RE relocation could not be
// resolved: `call 0xbad2310` (an unknown helper), so that the verifier refuses
// the program only if the instruction is reachable, naming the relocation.
inline constexpr int32_t kCoreReloPoison = 0xbad2310;
// libbpf's poison for a call to an extern function nothing could resolve
// (unresolved weak kfunc, libcall such as memset): `call 2002000000 + extern#`.
inline constexpr int32_t kUnresolvedCallPoison = 2002000000;

// What a relocated instruction refers to; a live loader patches each one.
enum class RelocKind : uint8_t {
  Map,       // lddw src=5, imm = map index: replace by the map's fd (src 1) or pointer
  MapValue,  // lddw src=6, imm = map index, second imm = offset: map value address
  Kfunc,     // call src=2 to the extern kernel function `symbol` (imm = 0 until resolved)
  Ksym,      // lddw of the extern kernel variable `symbol` (address or BTF id)
  Extern,    // call to an unresolved non-BTF extern (e.g. libcall memset): poisoned
};
// "map", "map_value", "kfunc", "ksym", "extern".
[[nodiscard]] std::string_view name(RelocKind k);

// One instruction a later loader must patch (indices are into ProgramSpec::insns).
struct InsnReloc {
  RelocKind kind = RelocKind::Map;
  uint32_t insn = 0;     // first slot of the lddw / the call
  uint32_t map = 0;      // Map, MapValue: index into ObjectSpec::maps
  uint32_t offset = 0;   // MapValue: byte offset inside the value
  std::string symbol;    // ELF symbol the relocation named (map, variable or function)
};

// A CO-RE relocation and what it resolved to (kept for diagnostics).
struct CoreReloResult {
  uint32_t insn = 0;  // index into ProgramSpec::insns
  btf::CoreReloKind kind = btf::CoreReloKind::FieldByteOffset;
  std::string spec;   // "struct task_struct.pid (0:27)"
  bool resolved = false;
  uint64_t local_value = 0;   // value for the object's own BTF
  uint64_t target_value = 0;  // value written (when resolved)
  std::string error;          // why it did not resolve (when poisoned)
};

// A function placed in a linked program: the entry program itself first, then
// each subprogram appended after it.
struct FunctionSpan {
  std::string name;
  uint32_t start = 0;  // first slot in ProgramSpec::insns
  uint32_t count = 0;  // slots
};

// One loadable program (libbpf's bpf_program after bpf_object__relocate).
struct ProgramSpec {
  std::string name;     // function symbol, or the section name when it has none
  std::string section;  // ELF section name (without libbpf's '?' prefix)
  ProgType type = ProgType::Unspec;
  std::optional<AttachType> attach_type;  // expected_attach_type
  std::string attach_target;              // see SectionInfo::attach_target
  SectionInfo section_info;               // everything the section name said
  std::vector<isa::RawInsn> insns;        // after linking and relocation
  std::vector<InsnReloc> relocations;     // sorted by instruction
  std::vector<FunctionSpan> functions;    // [0] is the program itself
  std::vector<CoreReloResult> core_relos;
  // .BTF.ext annotations rebased onto `insns` (empty without .BTF.ext).
  // Names and source lines point into `btf`, which this spec keeps alive.
  std::vector<btf::FuncInfo> func_info;
  std::vector<btf::LineInfo> line_info;
  std::shared_ptr<const btf::Btf> btf;
  std::string license;
  uint32_t kernel_version = 0;
  bool global = true;  // symbol binding: false for static programs
  size_t section_index = 0;  // ELF section index
  uint32_t section_offset = 0;  // first slot of the program inside its section
};

// Where a map came from.
enum class MapOrigin : uint8_t {
  BtfDefined,  // a variable in SEC(".maps")
  Legacy,      // a record in SEC("maps") or SEC("maps/NAME")
  Data,        // .data / .data.* / .rodata / .rodata.* (contents in `data`)
  Bss,         // .bss / .bss.* (zero-filled)
  Kconfig,     // .kconfig externs (values filled by a later loader)
  InnerTemplate,  // the inner-map definition of a BTF map-in-map (not created by itself)
};
// "btf", "legacy", "data", "bss", "kconfig", "inner".
[[nodiscard]] std::string_view name(MapOrigin o);

// libbpf pinning (LIBBPF_PIN_*) and iproute2 pinning (PIN_*), as found.
inline constexpr uint32_t kPinNone = 0;
inline constexpr uint32_t kPinByName = 1;      // libbpf LIBBPF_PIN_BY_NAME / iproute2 PIN_OBJECT_NS
inline constexpr uint32_t kPinGlobalNs = 2;    // iproute2 PIN_GLOBAL_NS

// A slot of a prog-array or map-in-map filled at creation (BTF `values = {...}`,
// or a legacy inner map).
struct MapSlotInit {
  uint32_t slot = 0;
  uint32_t target = 0;  // prog array: index into ObjectSpec::programs; map-in-map: into ObjectSpec::maps
  std::string target_name;
};

// One map to create (libbpf's bpf_map before load).
struct MapSpec {
  std::string name;     // kernel-visible name (libbpf's naming for global data)
  std::string section;  // ELF section ("maps", ".maps", ".rodata", ...)
  MapOrigin origin = MapOrigin::BtfDefined;
  MapType type = MapType::Unspec;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;      // map_flags (BPF_F_*)
  uint32_t numa_node = 0;
  uint64_t map_extra = 0;
  uint32_t pinning = kPinNone;
  // Legacy iproute2 fields (bpf_elf_map): id names the map for tail-call
  // sections "ID/KEY" and for inner_id references.
  uint32_t legacy_id = 0;
  std::optional<uint32_t> inner_map;  // map-in-map: index of the inner map (template) in ObjectSpec::maps
  std::vector<uint8_t> data;          // global data: initial value (value_size bytes); else empty
  std::vector<MapSlotInit> init;      // prog-array / map-in-map initial slots
  uint32_t btf_key_type_id = 0;       // in ObjectSpec::btf; 0 = none
  uint32_t btf_value_type_id = 0;     // for global data: the DATASEC
  size_t section_index = 0;
  uint32_t section_offset = 0;  // offset of the definition inside its section
};

// An extern symbol (.kconfig / .ksyms / unresolved function) the object uses.
struct ExternSpec {
  enum class Kind : uint8_t { Kconfig, Ksym, Function };
  std::string name;
  Kind kind = Kind::Kconfig;
  bool weak = false;
  uint32_t btf_id = 0;       // VAR / FUNC in ObjectSpec::btf, 0 without BTF
  uint32_t kconfig_offset = 0;  // Kconfig: offset inside the .kconfig map value
  uint32_t size = 0;            // Kconfig: size in bytes
};

// The whole object.
struct ObjectSpec {
  std::string path;
  std::string name;  // libbpf object name: file name up to the first '.'
  std::vector<ProgramSpec> programs;
  std::vector<MapSpec> maps;
  std::vector<ExternSpec> externs;
  std::string license;
  uint32_t kernel_version = 0;  // "version" section; 0 when absent
  std::shared_ptr<const btf::Btf> btf;  // .BTF, null when absent or unusable
  std::vector<std::string> warnings;    // what was skipped, as libbpf would log it
};

// Knobs for opening. Limits keep hostile input bounded.
struct OpenOptions {
  // Program type for programs whose section name says nothing (iproute2's
  // `tc ... bpf obj F sec S` decides the type on the command line).
  std::optional<ProgType> default_prog_type;
  // CO-RE target: a BTF file (raw BTF or ELF with .BTF). Empty: use
  // /sys/kernel/btf/vmlinux when present, else the object's own BTF.
  std::string target_btf_path;
  // Already-parsed target BTF (takes precedence over target_btf_path).
  std::shared_ptr<const btf::Btf> target_btf;
  // Relocate against the object's own BTF even when the kernel's exists
  // (deterministic; used by tests and the fuzzer).
  bool core_target_self = false;
  // Skip CO-RE (leave instructions as compiled; no core_relos recorded).
  bool skip_core = false;
  // Upper bound on one linked program, in slots (the kernel's BPF_COMPLEXITY
  // limit for instructions is 1M).
  size_t max_program_insns = 1'000'000;
  // Upper bound on the instructions of all linked programs together.
  size_t max_total_insns = 16'000'000;
};

// Reads and opens an object file. Errors: Errc::io (unreadable),
// Errc::invalid_program (malformed ELF, bad relocation, bad map definition...),
// Errc::unsupported (valid but not handled, e.g. big-endian objects).
[[nodiscard]] Expected<ObjectSpec> open_object(const std::string& path, const OpenOptions& opts = {});
// Same for an in-memory image; `name` stands for the path in messages.
[[nodiscard]] Expected<ObjectSpec> from_memory(std::vector<uint8_t> bytes, std::string name,
                                               const OpenOptions& opts = {});

// Lookups by name; nullptr when absent.
[[nodiscard]] const ProgramSpec* find_program(const ObjectSpec& obj, std::string_view name);
[[nodiscard]] const MapSpec* find_map(const ObjectSpec& obj, std::string_view name);

}  // namespace xbpf::loader
