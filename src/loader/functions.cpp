// Stage: split every code section into functions (libbpf's
// bpf_object__add_programs), and decide which are entry programs.
#include <algorithm>
#include <cstring>

#include "loader/context.hpp"

namespace xbpf::loader::detail {
namespace {

std::vector<isa::RawInsn> copy_slots(std::span<const uint8_t> bytes) {
  std::vector<isa::RawInsn> out(bytes.size() / kInsnSize);
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * kInsnSize);
  return out;
}

// Functions of one code section: one per STT_FUNC symbol (global or static),
// or, for objects from compilers that emitted no function symbols, the whole
// section as one function named after it.
Expected<void> split_section(Context& c, const elf::Section& s) {
  if (s.data.size() % kInsnSize != 0)
    return sec_fail(c, s.index, "size {} is not a multiple of the instruction size (8)", s.data.size());
  const uint64_t slots = s.data.size() / kInsnSize;
  std::vector<Function> found;
  for (const elf::Symbol& sym : c.symbols) {
    if (sym.section_index != s.index || sym.type != kSttFunc) continue;
    std::string fname = sym.name.empty() ? fmt::format("{}+{:#x}", s.name, sym.value) : sym.name;
    if (sym.value % kInsnSize != 0 || sym.size % kInsnSize != 0 || sym.size == 0)
      return sec_fail(c, s.index, "function '{}' at offset {:#x} with size {} is not whole instructions", fname,
                      sym.value, sym.size);
    if (sym.value > s.data.size() || sym.size > s.data.size() - sym.value)
      return sec_fail(c, s.index, "function '{}' (offset {:#x}, size {}) crosses the section end ({} bytes)", fname,
                      sym.value, sym.size, s.data.size());
    Function f;
    f.name = std::move(fname);
    f.section = s.index;
    f.first = static_cast<uint32_t>(sym.value / kInsnSize);
    f.count = static_cast<uint32_t>(sym.size / kInsnSize);
    f.global = sym.bind != kStbLocal;
    found.push_back(std::move(f));
  }
  if (found.empty() && slots > 0) {
    Function f;
    f.name = s.name;
    f.section = s.index;
    f.count = static_cast<uint32_t>(slots);
    found.push_back(std::move(f));
  }
  std::stable_sort(found.begin(), found.end(), [](const Function& a, const Function& b) { return a.first < b.first; });
  // Two names for the same code (an alias) make one function.
  for (size_t i = 1; i < found.size(); ++i)
    if (found[i].first == found[i - 1].first && found[i].count == found[i - 1].count) {
      c.obj.warnings.push_back(fmt::format("section {}: '{}' is an alias of '{}', ignored", s.name, found[i].name,
                                           found[i - 1].name));
      found.erase(found.begin() + static_cast<ptrdiff_t>(i--));
    }
  for (size_t i = 1; i < found.size(); ++i)
    if (found[i].first < found[i - 1].first + found[i - 1].count)
      return sec_fail(c, s.index, "functions '{}' and '{}' overlap (slots {}..{} and {}..{})", found[i - 1].name,
                      found[i].name, found[i - 1].first, found[i - 1].first + found[i - 1].count - 1,
                      found[i].first, found[i].first + found[i].count - 1);
  for (Function& f : found) {
    f.insns = copy_slots(s.data.subspan(size_t(f.first) * kInsnSize, size_t(f.count) * kInsnSize));
    c.functions.push_back(std::move(f));
  }
  return {};
}

}  // namespace

Expected<void> discover_functions(Context& c) {
  for (const elf::Section& s : c.elf.sections())
    if (c.roles[s.index] == SecRole::Code)
      if (auto r = split_section(c, s); !r) return r;
  // Sections were visited in index order and each sorted, so the whole list
  // is sorted by (section, first) as function_at() requires.
  // `.text` holds subprograms; only an object with no other code (a lone
  // `.text`, as small test objects are) makes its functions programs.
  bool other_code = std::any_of(c.functions.begin(), c.functions.end(),
                                [&](const Function& f) { return f.section != c.text_section; });
  for (Function& f : c.functions) f.entry = !other_code || f.section != c.text_section;
  return {};
}

}  // namespace xbpf::loader::detail
