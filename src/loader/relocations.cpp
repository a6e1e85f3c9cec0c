// Stage: read the relocation sections of code sections and record, per
// function, what each relocated instruction refers to (libbpf's
// bpf_program__record_reloc). Every relocation is checked against the
// instruction it patches: calls for functions, lddw for maps and data.
#include <algorithm>

#include "isa/disasm.hpp"
#include "loader/context.hpp"

namespace xbpf::loader::detail {
namespace {

constexpr uint8_t kOpCall = 0x85;  // BPF_JMP | BPF_CALL
constexpr uint8_t kOpLddw = 0x18;  // BPF_LD | BPF_IMM | BPF_DW

std::string_view reloc_type_name(uint32_t t) {
  switch (t) {
    case kRBpfNone: return "R_BPF_NONE";
    case kRBpf64_64: return "R_BPF_64_64";
    case kRBpf64Abs64: return "R_BPF_64_ABS64";
    case kRBpf64Abs32: return "R_BPF_64_ABS32";
    case kRBpf64Nodyld32: return "R_BPF_64_NODYLD32";
    case kRBpf64_32: return "R_BPF_64_32";
  }
  return "unknown";
}

// The instruction at `slot` as llvm-objdump would print it, for messages.
std::string describe(std::span<const isa::RawInsn> slots, size_t slot) {
  auto insn = isa::decode_one(slots, slot);
  if (!insn) return fmt::format("opcode {:#04x}", slots[slot].code);
  return isa::format_insn(*insn, isa::Syntax::Kernel);
}

// Everything needed to classify one relocation.
struct Site {
  Context& c;
  const elf::Section& code;     // the section being relocated
  std::span<const isa::RawInsn> slots;
  const elf::Relocation& rel;
  uint32_t index;               // position in the relocation section
  uint64_t slot;                // instruction slot in `code`
  int64_t imm;                  // the instruction's imm plus the RELA addend
  const elf::Symbol& sym;
  std::string sym_name;

  template <class... Args>
  Unexpected<Error> fail(fmt::format_string<Args...> f, Args&&... args) const {
    return sec_fail(c, code.index, "relocation {} at insn {} ({} against '{}'): {}", index, slot,
                    reloc_type_name(rel.type), sym_name, fmt::format(f, std::forward<Args>(args)...));
  }
  Unexpected<Error> wrong_insn(std::string_view expected) const {
    return sec_fail(c, code.index, "relocation {} at insn {} targets a '{}', expected {}", index, slot,
                    describe(slots, slot), expected);
  }
  bool is_call() const { return slots[slot].code == kOpCall; }
  bool is_lddw() const { return slots[slot].code == kOpLddw && slot + 1 < slots.size(); }
};

Expected<PendingReloc> extern_reloc(const Site& s, uint32_t ext_idx) {
  const ExternSpec& e = s.c.obj.externs[ext_idx];
  PendingReloc p;
  p.extern_idx = ext_idx;
  if (s.is_call()) {
    p.kind = e.kind == ExternSpec::Kind::Function && e.btf_id ? PendingKind::Kfunc : PendingKind::ExternCall;
    return p;
  }
  if (!s.is_lddw()) return s.wrong_insn("call or lddw");
  if (e.kind == ExternSpec::Kind::Kconfig) {
    if (s.c.kconfig_map == UINT32_MAX) return s.fail("no .kconfig map for this extern");
    p.kind = PendingKind::MapValue;
    p.map = s.c.kconfig_map;
    p.offset = e.kconfig_offset;
    return p;
  }
  if (e.kind == ExternSpec::Kind::Ksym) {
    p.kind = PendingKind::Ksym;
    return p;
  }
  return s.fail("extern '{}' has no BTF declaration in .kconfig or .ksyms", e.name);
}

Expected<PendingReloc> code_reloc(const Site& s) {
  PendingReloc p;
  p.target_section = s.sym.section_index;
  if (s.sym.value % kInsnSize != 0) return s.fail("function symbol value {:#x} is not instruction aligned", s.sym.value);
  if (s.is_call()) {
    if (s.slots[s.slot].src != kPseudoCall) return s.fail("relocation on a helper call (src_reg {})", s.slots[s.slot].src);
    // Global functions: imm = -1, the symbol is the callee. Static ones: the
    // symbol is the section and imm + 1 the callee's slot in it.
    p.kind = PendingKind::Call;
    int64_t target = int64_t(s.sym.value / kInsnSize) + s.imm + 1;
    if (target < 0) return s.fail("call target slot {} is negative", target);
    p.target_slot = uint64_t(target);
    return p;
  }
  if (!s.is_lddw()) return s.wrong_insn("call or lddw");
  int64_t byte = int64_t(s.sym.value) + s.imm;
  if (byte < 0 || byte % int64_t(kInsnSize) != 0) return s.fail("function address offset {} is not a valid slot", byte);
  p.kind = PendingKind::FuncAddr;
  p.target_slot = uint64_t(byte) / kInsnSize;
  return p;
}

Expected<PendingReloc> map_reloc(const Site& s) {
  if (!s.is_lddw()) return s.wrong_insn("lddw");
  // Old objects name the section and put the offset in imm.
  uint64_t off = s.sym.value + uint64_t(s.sym.type == kSttSection ? s.imm : 0);
  auto it = s.c.map_at.find({s.sym.section_index, off});
  if (it == s.c.map_at.end())
    return s.fail("no map definition at offset {:#x} of section {}", off, s.c.section(s.sym.section_index).name);
  PendingReloc p;
  p.kind = PendingKind::Map;
  p.map = it->second;
  return p;
}

Expected<PendingReloc> data_reloc(const Site& s) {
  if (!s.is_lddw()) return s.wrong_insn("lddw");
  auto it = s.c.data_map_of.find(s.sym.section_index);
  if (it == s.c.data_map_of.end()) return s.fail("no global data map for section {}", s.c.section(s.sym.section_index).name);
  const uint32_t map = it->second;
  int64_t off = int64_t(s.sym.value) + s.imm;
  uint64_t size = s.c.obj.maps[map].value_size;
  if (off < 0 || uint64_t(off) > size)
    return s.fail("offset {} is outside section {} ({} bytes)", off, s.c.section(s.sym.section_index).name, size);
  PendingReloc p;
  p.kind = PendingKind::MapValue;
  p.map = map;
  p.offset = static_cast<uint32_t>(off);
  return p;
}

Expected<PendingReloc> classify(const Site& s, uint32_t sym_index) {
  if (s.rel.type != kRBpf64_64 && s.rel.type != kRBpf64_32 && s.rel.type != kRBpfNone)
    return s.fail("relocation type {} does not apply to instructions", s.rel.type);
  if (s.slots[s.slot].code == kOpLddw && !s.is_lddw()) return s.fail("lddw is cut off by the section end");
  if (auto ext = s.c.extern_of_symbol.find(sym_index); ext != s.c.extern_of_symbol.end())
    return extern_reloc(s, ext->second);
  const uint16_t shndx = s.sym.section_index;
  if (shndx == kShnUndef) return s.fail("symbol is undefined and not an extern");
  if (shndx >= kShnLoReserve)
    return s.fail("symbol is in special section {:#x}; forgot to initialize a global variable?", shndx);
  if (s.sym.value > s.c.section(shndx).size)
    return s.fail("symbol value {:#x} is outside its section {} ({} bytes)", s.sym.value, s.c.section(shndx).name,
                  s.c.section(shndx).size);
  switch (s.c.roles[shndx]) {
    case SecRole::Code: return code_reloc(s);
    case SecRole::LegacyMaps:
    case SecRole::BtfMaps: return map_reloc(s);
    case SecRole::Data:
    case SecRole::Rodata:
    case SecRole::Bss: return data_reloc(s);
    default:
      return s.fail("symbol is in section {}, which holds no code, maps or global data", s.c.section(shndx).name);
  }
}

Expected<void> read_reloc_section(Context& c, const elf::Section& rs) {
  const elf::Section& code = c.section(rs.info);
  auto rels = c.elf.relocations(rs);
  if (!rels) return unexpected(rels.error());
  std::span<const isa::RawInsn> slots;
  std::vector<isa::RawInsn> copy(code.data.size() / kInsnSize);
  if (!copy.empty()) std::memcpy(copy.data(), code.data.data(), copy.size() * kInsnSize);
  slots = copy;
  for (uint32_t i = 0; i < rels->size(); ++i) {
    const elf::Relocation& r = (*rels)[i];
    if (r.offset % kInsnSize != 0 || r.offset / kInsnSize >= slots.size())
      return sec_fail(c, code.index, "relocation {}: offset {:#x} is not an instruction of the section", i, r.offset);
    const uint64_t slot = r.offset / kInsnSize;
    if (r.addend < INT32_MIN || r.addend > INT32_MAX)
      return sec_fail(c, code.index, "relocation {}: addend {} does not fit an instruction", i, r.addend);
    Function* f = c.function_at(code.index, slot);
    if (!f) {
      // libbpf: code outside any function (an overridden weak function).
      c.obj.warnings.push_back(fmt::format("section {}: relocation {} at insn {} is outside every function, skipped",
                                           code.name, i, slot));
      continue;
    }
    Site s{c, code, slots, r, i, slot, int64_t(slots[slot].imm) + r.addend, c.symbols[r.symbol], c.symbol_name(r.symbol)};
    auto p = classify(s, r.symbol);
    if (!p) return unexpected(p.error());
    p->insn = static_cast<uint32_t>(slot - f->first);
    p->reloc_index = i;
    p->symbol = s.sym_name;
    if (p->kind != PendingKind::Call && p->kind != PendingKind::Kfunc && p->kind != PendingKind::ExternCall &&
        p->insn + 1 >= f->count)
      return s.fail("lddw is cut off by the end of function '{}'", f->name);
    f->relocs.push_back(std::move(*p));
  }
  return {};
}

}  // namespace

Expected<void> collect_code_relocations(Context& c) {
  for (const elf::Section& rs : c.elf.sections()) {
    if (rs.type != kShtRel && rs.type != kShtRela) continue;
    if (rs.info == 0 || rs.info >= c.roles.size() || c.roles[rs.info] != SecRole::Code) continue;
    if (auto r = read_reloc_section(c, rs); !r) return r;
  }
  for (Function& f : c.functions) {
    std::stable_sort(f.relocs.begin(), f.relocs.end(),
                     [](const PendingReloc& a, const PendingReloc& b) { return a.insn < b.insn; });
    for (size_t i = 1; i < f.relocs.size(); ++i)
      if (f.relocs[i].insn == f.relocs[i - 1].insn)
        return sec_fail(c, f.section, "two relocations ({} and {}) patch insn {}", f.relocs[i - 1].reloc_index,
                        f.relocs[i].reloc_index, f.first + f.relocs[i].insn);
  }
  return {};
}

}  // namespace xbpf::loader::detail
