// BTF (BPF Type Format): the `.BTF` type graph, the `.BTF.ext` program
// annotations, and bpftool-compatible printers.
//
// Btf::parse validates the whole blob once (header bounds, every string
// offset, every referenced type id, every vlen against the bytes left, per-kind
// field rules, and that no reference chain outside struct/union members loops:
// typedef/modifier/pointer/array/prototype cycles cannot be written in C), so
// every accessor afterwards is infallible except where the graph is ill-formed
// in a way C can express but not compile (a struct containing itself by
// value): size_of, align_of, dump_c and format_value report that loop as an
// Error naming it; parse() precomputes it, so no walk can recurse forever.
//
// The printers reproduce bpftool v7.1 / libbpf 1.1 (the versions the tests
// compare against) byte for byte.
//
// Type ids: 0 is `void`; a standalone Btf has ids 1..type_count()-1. A split
// Btf (module BTF on top of vmlinux) continues the base's numbering: its own
// types start at base->type_count(), and string offsets below the base's
// string section size refer to the base's strings.
//
// Error messages name the object and the type:
//   "prog.o: .BTF: type [42] STRUCT 'foo': member 3 refers to type 9999 (only 120 types)"
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.hpp"

namespace xbpf::elf {
class ElfFile;
}

namespace xbpf::btf {

inline constexpr uint16_t kMagic = 0xeB9F;

// BTF_KIND_* values, as encoded in bits 24..28 of a type's info word.
enum class Kind : uint8_t {
  Void = 0,  // only id 0; never stored in the type section
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  Datasec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
};

// "INT", "PTR", ... as bpftool prints them; "UNKNOWN" for Void.
[[nodiscard]] std::string_view kind_name(Kind k);

// BTF_INT_* encoding bits of an INT type.
inline constexpr uint8_t kIntSigned = 1;
inline constexpr uint8_t kIntChar = 2;
inline constexpr uint8_t kIntBool = 4;

// BTF_FUNC_* linkage of a FUNC (stored in its vlen field).
enum class FuncLinkage : uint8_t { Static = 0, Global = 1, Extern = 2 };
// BTF_VAR_* linkage of a VAR.
enum class VarLinkage : uint8_t { Static = 0, GlobalAllocated = 1, GlobalExtern = 2 };

// A STRUCT/UNION member. bit_offset/bitfield_size are already decoded
// according to the type's kind_flag (bitfield_size 0 = not a bitfield).
struct Member {
  std::string_view name;  // "" for anonymous members (embedded struct/union)
  uint32_t name_off = 0;  // raw string offset (0 = anonymous)
  uint32_t type = 0;
  uint32_t bit_offset = 0;
  uint32_t bitfield_size = 0;
};

// A FUNC_PROTO parameter. A last parameter with type 0 and no name is `...`.
struct Param {
  std::string_view name;
  uint32_t name_off = 0;
  uint32_t type = 0;
};

// An ENUM/ENUM64 value. `value` holds the value's bits: for a signed enum
// (kflag set) a 32-bit ENUM value is sign-extended, otherwise zero-extended;
// ENUM64 is (hi << 32) | lo. Read it as uint64_t for unsigned enums.
struct Enumerator {
  std::string_view name;
  uint32_t name_off = 0;
  int64_t value = 0;
};

// A DATASEC entry: a VAR (or FUNC, for .ksyms) placed at `offset`.
struct VarSecinfo {
  uint32_t type = 0;
  uint32_t offset = 0;
  uint32_t size = 0;
};

// One decoded type. Only the fields of its kind are meaningful; the rest are
// zero/empty. Spans and names point into the owning Btf (valid while it lives,
// across moves).
struct Type {
  uint32_t id = 0;
  Kind kind = Kind::Void;
  bool kflag = false;     // STRUCT/UNION: bitfield encoding; FWD: union; ENUM/ENUM64: signed
  uint16_t vlen = 0;      // raw vlen (member/param/value/var count; FUNC: linkage)
  std::string_view name;  // "" when anonymous
  uint32_t name_off = 0;  // raw string offset (0 = anonymous; bpftool prints "(anon)")
  // INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT: size in bytes.
  uint32_t size = 0;
  // PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG: the referred type;
  // FUNC: its FUNC_PROTO; FUNC_PROTO: return type; VAR: its type;
  // DECL_TAG: the tagged type. 0 (void) is valid for PTR/modifiers/FUNC_PROTO.
  uint32_t ref = 0;
  // INT
  uint8_t int_encoding = 0;  // kInt* bits
  uint8_t int_offset = 0;    // bit offset inside `size` bytes
  uint8_t int_bits = 0;      // number of value bits
  // ARRAY
  uint32_t elem_type = 0;
  uint32_t index_type = 0;
  uint32_t nelems = 0;
  // VAR: VarLinkage value; FUNC: FuncLinkage value (== vlen).
  uint32_t linkage = 0;
  // DECL_TAG: -1 = the type itself, else member/parameter index.
  int32_t component_idx = -1;
  std::span<const Member> members;          // STRUCT, UNION
  std::span<const Param> params;            // FUNC_PROTO
  std::span<const Enumerator> enumerators;  // ENUM, ENUM64
  std::span<const VarSecinfo> vars;         // DATASEC
};

// A parsed, validated BTF blob. Owns a copy of the bytes; move-only (names
// and spans point into the owned buffers; moving keeps them valid).
// Immutable after parse, so concurrent const access is safe.
class Btf {
 public:
  // Parses raw BTF (header, type section, string section).
  // `name` prefixes every error message and is returned by name(); pass
  // "prog.o: .BTF" for an ELF section, the path for a raw file.
  // `base` (optional, not owned; must outlive the result and stay where it
  // is, i.e. not be moved) makes this split BTF: ids and string offsets
  // continue the base's.
  // Errors: Errc::invalid_program for any malformed or inconsistent content.
  [[nodiscard]] static Expected<Btf> parse(std::span<const uint8_t> data, std::string name,
                                           const Btf* base = nullptr);
  // Reads a file: raw BTF (starts with magic 0xeB9F, e.g. /sys/kernel/btf/vmlinux)
  // or an ELF object (its .BTF section). Errors: Errc::io if unreadable,
  // Errc::invalid_program if malformed or an ELF object without .BTF.
  [[nodiscard]] static Expected<Btf> load_file(const std::string& path, const Btf* base = nullptr);
  // The .BTF section of an already-open ELF object (name "<file>: .BTF").
  // Errors: Errc::invalid_program if absent or malformed.
  [[nodiscard]] static Expected<Btf> from_elf(const elf::ElfFile& file);

  // Label used in error messages ("prog.o: .BTF" or the file path).
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const Btf* base() const { return base_; }

  // Number of type ids including void (0) and, for split BTF, the base's:
  // valid ids are 0..type_count()-1 (libbpf's btf__type_cnt).
  [[nodiscard]] size_t type_count() const { return first_id_ + types_.size(); }
  // First id defined by this blob (1, or base->type_count() for split BTF).
  [[nodiscard]] uint32_t first_own_id() const { return first_id_; }
  // The type with this id (looks into the base for split BTF); nullptr for
  // void (0) and for ids >= type_count().
  [[nodiscard]] const Type* type(uint32_t id) const;
  // Name of a type, "" for void, anonymous types and out-of-range ids.
  [[nodiscard]] std::string_view name_of(uint32_t id) const;
  // "[42] STRUCT 'foo'", "[7] PTR" (anonymous), "[0] void", for messages.
  [[nodiscard]] std::string describe(uint32_t id) const;

  // The first type (lowest id, base first) with this exact name and kind.
  [[nodiscard]] std::optional<uint32_t> find(std::string_view name, Kind kind) const;
  // Every type with this exact name and kind, ascending ids (base first).
  [[nodiscard]] std::vector<uint32_t> find_all(std::string_view name, Kind kind) const;
  // CO-RE candidates: types of `kind` whose essential name (see
  // essential_name) equals `essential`, i.e. named `essential` or
  // `essential___<flavor>`. Ascending ids.
  [[nodiscard]] std::vector<uint32_t> find_candidates(std::string_view essential, Kind kind) const;

  // Skips TYPEDEF, CONST, VOLATILE, RESTRICT and TYPE_TAG; returns the first
  // other type's id (0 for void). Ids out of range return themselves.
  // Never loops: parse() rejects modifier/typedef cycles.
  [[nodiscard]] uint32_t resolve(uint32_t id) const;
  // Like resolve(), but skips only CONST, VOLATILE, RESTRICT and TYPE_TAG
  // (keeps typedefs) — what CO-RE and printers use to strip qualifiers.
  [[nodiscard]] uint32_t skip_qualifiers(uint32_t id) const;

  // Size in bytes of a value of this type, as libbpf's btf__resolve_size:
  // follows typedefs, modifiers, VAR and DECL_TAG, multiplies array
  // dimensions; pointers are pointer_size().
  // Errors: void, FUNC, FUNC_PROTO, FWD (no size), a struct/array that
  // contains itself by value, a size above UINT32_MAX.
  [[nodiscard]] Expected<uint64_t> size_of(uint32_t id) const;
  // Alignment in bytes as libbpf's btf__align_of computes it (1 for a
  // struct whose layout shows it is packed). Errors: kinds without
  // alignment (void, FUNC, FUNC_PROTO, FWD, VAR, DATASEC, DECL_TAG), a
  // struct/array that contains itself by value.
  [[nodiscard]] Expected<uint32_t> align_of(uint32_t id) const;
  // Pointer size in bytes: the size of the `long` INT if the BTF has one
  // (4 or 8), else 8 (libbpf's btf__pointer_size fallback for BPF).
  [[nodiscard]] uint32_t pointer_size() const { return ptr_size_; }

  // The string at `offset` in the string section (base's if below its size);
  // nullopt if out of range or not NUL-terminated.
  [[nodiscard]] std::optional<std::string_view> string_at(uint32_t offset) const;
  // The offset string_at() would take for a view into this blob's own string
  // section (what .BTF.ext records store); nullopt for any other view.
  [[nodiscard]] std::optional<uint32_t> string_offset(std::string_view s) const;
  // This blob's raw bytes as parsed (copy owned by this object).
  [[nodiscard]] std::span<const uint8_t> raw() const { return data_; }

  Btf(Btf&&) noexcept = default;
  Btf& operator=(Btf&&) noexcept = default;
  Btf(const Btf&) = delete;
  Btf& operator=(const Btf&) = delete;
  ~Btf() = default;

 private:
  friend class Parser;
  Btf() = default;
  // parse() on bytes already owned (load_file avoids copying vmlinux twice).
  static Expected<Btf> parse_owned(std::vector<uint8_t> bytes, std::string name, const Btf* base);
  void compute_layout();    // fills align_, cyclic_, ptr_size_ (after validation)
  void build_name_index();  // fills by_name_
  [[nodiscard]] bool is_cyclic(uint32_t id) const;
  [[nodiscard]] uint32_t raw_align(uint32_t id) const;  // 0 = none
  [[nodiscard]] std::string cycle_path(uint32_t id) const;

  std::string name_;
  const Btf* base_ = nullptr;
  uint32_t first_id_ = 1;
  uint32_t str_base_ = 0;  // base's string section size (split BTF), else 0
  std::vector<uint8_t> data_;
  std::span<const uint8_t> strings_;  // this blob's string section (inside data_)
  std::vector<Type> types_;           // types_[i] has id first_id_ + i
  std::vector<Member> members_;
  std::vector<Param> params_;
  std::vector<Enumerator> enumerators_;
  std::vector<VarSecinfo> vars_;
  std::vector<uint32_t> by_name_;  // own named type ids sorted by (name, kind, id)
  // Computed once by parse(), indexed like types_:
  std::vector<uint32_t> align_;     // btf__align_of result, 0 = none/error
  std::vector<uint8_t> cyclic_;     // 1 = contains itself by value, or reaches such a type
  uint32_t ptr_size_ = 8;
};

// The name without a CO-RE flavor suffix, as libbpf computes it:
// "task_struct___v1" -> "task_struct" (cut at the last "X___Y", X and Y not '_').
[[nodiscard]] std::string_view essential_name(std::string_view name);

// ---- .BTF.ext ------------------------------------------------------------

// All instruction positions below are INSTRUCTION INDICES (8-byte slots from
// the start of the section, an lddw counting as two): the file stores byte
// offsets, BtfExt::parse divides by 8 (and rejects offsets that are not
// multiples of 8).

// bpf_func_info: the function starting at insn_idx has FUNC type `type_id`.
struct FuncInfo {
  uint32_t insn_idx = 0;
  uint32_t type_id = 0;
};

// bpf_line_info: source position of the instruction at insn_idx.
struct LineInfo {
  uint32_t insn_idx = 0;
  std::string_view file_name;  // from the .BTF string section
  std::string_view line;       // source text of the line
  uint32_t line_num = 0;       // line_col >> 10
  uint32_t column = 0;         // line_col & 0x3ff
};

// enum bpf_core_relo_kind.
enum class CoreReloKind : uint32_t {
  FieldByteOffset = 0,
  FieldByteSize = 1,
  FieldExists = 2,
  FieldSigned = 3,
  FieldLShiftU64 = 4,
  FieldRShiftU64 = 5,
  TypeIdLocal = 6,
  TypeIdTarget = 7,
  TypeExists = 8,
  TypeSize = 9,
  EnumvalExists = 10,
  EnumvalValue = 11,
  TypeMatches = 12,
};
// "byte_off", "byte_sz", "field_exists", ... (libbpf's names).
[[nodiscard]] std::string_view core_relo_kind_name(CoreReloKind k);

// bpf_core_relo: relocate the instruction at insn_idx against `type_id`
// (a local type) following `access` ("0:1:2": first index into the type as an
// array, then member/element indices; for enum relos the enumerator index).
struct CoreRelo {
  uint32_t insn_idx = 0;
  uint32_t type_id = 0;
  std::string_view access;
  CoreReloKind kind = CoreReloKind::FieldByteOffset;
};

// Parses an access string ("0:1:2") into indices. Errors: empty string,
// non-digits, a component above UINT32_MAX.
[[nodiscard]] Expected<std::vector<uint32_t>> parse_access(std::string_view access);

// A parsed .BTF.ext. Keys are ELF section names ("xdp", ".text").
// Names/strings point into the Btf it was parsed against: a BtfExt must not
// outlive that Btf. Records keep file order within each section.
struct BtfExt {
  std::map<std::string, std::vector<FuncInfo>, std::less<>> func_info;
  std::map<std::string, std::vector<LineInfo>, std::less<>> line_info;
  std::map<std::string, std::vector<CoreRelo>, std::less<>> core_relos;

  // Parses `data` (the .BTF.ext section) against its .BTF. `name` prefixes
  // errors ("prog.o: .BTF.ext"). Validates header bounds, record sizes
  // (>= the known record size; larger records are accepted and the extra
  // bytes ignored, as libbpf does), counts against the bytes left, section
  // name and string offsets, type ids (func_info: must be a FUNC; core_relo:
  // in range), and insn offsets (multiple of 8).
  // Errors: Errc::invalid_program.
  [[nodiscard]] static Expected<BtfExt> parse(std::span<const uint8_t> data, const Btf& btf,
                                              std::string name);
};

// ---- printing ------------------------------------------------------------

// Exactly what `bpftool btf dump file F` (format raw) prints, newline-terminated
// lines, one type after another. For split BTF only this blob's own types.
[[nodiscard]] std::string dump_raw(const Btf& btf);
// bpftool's names of an INT's encoding ("SIGNED", "(none)", ...) and of a
// FUNC's or VAR's linkage ("static", "global", "extern", "(unknown)").
[[nodiscard]] std::string_view int_encoding_name(uint8_t enc);
[[nodiscard]] std::string_view linkage_name(uint32_t linkage);
// One type in bpftool's raw format, without a trailing newline (multi-line
// for STRUCT/UNION/ENUM/FUNC_PROTO/DATASEC). Empty for out-of-range ids.
[[nodiscard]] std::string dump_raw_type(const Btf& btf, uint32_t id);

// A C header declaring every type, byte for byte as `bpftool btf dump file F
// format c` (v7.1, libbpf 1.1 btf_dump algorithm) prints it: forward declarations and
// definitions ordered so that it compiles. Bounded: nesting deeper than 512
// levels and output longer than `max_output` bytes are errors.
// Errors (Errc::invalid_program): a type cycle C cannot express (struct
// containing itself by value), nesting too deep, output too large.
[[nodiscard]] Expected<std::string> dump_c(const Btf& btf, size_t max_output = size_t{1} << 30);
// The same for the given root types and what they need only, as `bpftool btf
// dump map MAP format c` prints a map's key and value types. Same errors.
[[nodiscard]] Expected<std::string> dump_c_types(const Btf& btf, std::span<const uint32_t> roots,
                                                 size_t max_output = size_t{1} << 30);

// Options of format_value.
struct FormatOptions {
  // JSON nesting depth the value starts at: bpftool prints a map value at
  // depth 2 (inside the entry array and the {"key","value"} object); 0 gives
  // a standalone value.
  unsigned base_depth = 0;
  // Bound on the scalar values printed in total; once exhausted, the rest of
  // each array is replaced by a single "..." element (so huge arrays stay
  // bounded). bpftool has no such bound.
  size_t max_values = 4096;
  // false: the JSON flavour bpftool's `-j map dump` puts under "formatted"
  // (pointers in decimal, hex numbers and unprintable chars as strings), so
  // the output always parses as JSON.
  bool plain_text = true;
};

// Pretty-prints a value of type `type_id` stored in `bytes` exactly as
// bpftool's plain-text `map dump` prints a BTF map key or value (its
// btf_dumper writing JSON through json_writer in pretty mode, 4 spaces per
// level): integers in decimal (unsigned as unsigned), bitfields and
// non-byte-sized ints in hex ("0x5"), chars as "c" (0x.. if unprintable),
// bools as true/false, char arrays holding a printable NUL-terminated string
// as "text", other arrays as [1,2,3 + newline + "]", structs/unions as
// {"field": value,...} one field per line, enums by enumerator name (else the
// number), pointers as 0x... ("(nil)" for 0), VARs as {"name": value},
// DATASECs as {"sec": [vars...]}.
// Errors (Errc::invalid_argument): bytes shorter than the type's size or a
// member lying outside them, FWD/FUNC/FUNC_PROTO/void values, cyclic types,
// nesting deeper than 512.
[[nodiscard]] Expected<std::string> format_value(const Btf& btf, uint32_t type_id,
                                                 std::span<const uint8_t> bytes,
                                                 const FormatOptions& opts = {});

}  // namespace xbpf::btf
