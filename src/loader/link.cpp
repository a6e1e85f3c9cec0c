// Stage: build each entry program (libbpf's bpf_object__relocate): append
// the subprograms it calls or takes the address of, depth first in the order
// libbpf uses, fix call offsets, then apply map / global data / extern
// relocations and rebase .BTF.ext func and line info.
#include <algorithm>

#include "loader/context.hpp"

namespace xbpf::loader::detail {
namespace {

constexpr uint8_t kOpCall = 0x85;
constexpr uint8_t kOpLddw = 0x18;

class Linker {
 public:
  explicit Linker(Context& c) : c_(c), offset_of_(c.functions.size(), kUnplaced) {}

  Expected<ProgramSpec> link(size_t entry);
  size_t total_insns() const { return total_; }

 private:
  static constexpr int64_t kUnplaced = -1;
  struct Frame {
    size_t fn;
    uint32_t offset;  // where the function starts in the program
    uint32_t next;    // next slot to visit
  };

  Expected<void> place(size_t fn);
  Expected<void> visit(Frame& fr);
  Expected<void> apply_data_relocs();
  void add_btf_ext(const Function& f, uint32_t offset);
  void reset();
  template <class... Args>
  Unexpected<Error> fail(const Function& f, uint32_t slot, fmt::format_string<Args...> fm, Args&&... args) {
    return sec_fail(c_, f.section, "program '{}': insn {}: {}", prog_->name, f.first + slot,
                    fmt::format(fm, std::forward<Args>(args)...));
  }

  Context& c_;
  std::vector<int64_t> offset_of_;  // per function; kUnplaced outside the current program
  std::vector<size_t> placed_;      // functions of the current program, in placement order
  std::vector<Frame> stack_;
  ProgramSpec* prog_ = nullptr;
  size_t total_ = 0;
};

const PendingReloc* reloc_at(const Function& f, uint32_t slot) {
  auto it = std::lower_bound(f.relocs.begin(), f.relocs.end(), slot,
                             [](const PendingReloc& r, uint32_t s) { return r.insn < s; });
  return it != f.relocs.end() && it->insn == slot ? &*it : nullptr;
}

void Linker::reset() {
  for (size_t fn : placed_) offset_of_[fn] = kUnplaced;
  placed_.clear();
  stack_.clear();
}

// Appends function `fn` to the program and schedules its calls.
Expected<void> Linker::place(size_t fn) {
  const Function& f = c_.functions[fn];
  const size_t at = prog_->insns.size();
  if (at + f.count > c_.opts.max_program_insns)
    return sec_fail(c_, f.section, "program '{}' exceeds {} instructions once '{}' is linked", prog_->name,
                    c_.opts.max_program_insns, f.name);
  if (total_ + f.count > c_.opts.max_total_insns)
    return obj_fail(c_, "linked programs exceed {} instructions in total", c_.opts.max_total_insns);
  total_ += f.count;
  offset_of_[fn] = static_cast<int64_t>(at);
  placed_.push_back(fn);
  prog_->insns.insert(prog_->insns.end(), f.insns.begin(), f.insns.end());
  prog_->functions.push_back({f.name, static_cast<uint32_t>(at), f.count});
  stack_.push_back({fn, static_cast<uint32_t>(at), 0});
  return {};
}

// Handles one slot of the function on top of the stack: a local call or a
// function address gets its target placed (if new) and its offset fixed.
Expected<void> Linker::visit(Frame& fr) {
  const Function& f = c_.functions[fr.fn];
  const uint32_t slot = fr.next++;
  const uint32_t at = fr.offset + slot;
  const isa::RawInsn insn = prog_->insns[at];
  const PendingReloc* r = reloc_at(f, slot);
  const bool local_call = insn.code == kOpCall && insn.src == kPseudoCall && !(r && r->kind != PendingKind::Call);
  const bool func_addr = r && r->kind == PendingKind::FuncAddr;
  if (!local_call && !func_addr) {
    if (insn.code == kOpLddw && insn.src == kPseudoFunc)
      return fail(f, slot, "lddw of a function address without a relocation");
    return {};
  }
  size_t sec = f.section;
  int64_t target = int64_t(f.first) + slot + insn.imm + 1;  // same-section call, no relocation
  if (r) sec = r->target_section, target = int64_t(r->target_slot);
  Function* g = target >= 0 ? c_.function_at(sec, uint64_t(target)) : nullptr;
  if (!g)
    return fail(f, slot, "{} target slot {} of section {} is not inside any function",
                func_addr ? "function address" : "call", target, c_.section(sec).name);
  const size_t gi = static_cast<size_t>(g - c_.functions.data());
  if (offset_of_[gi] == kUnplaced)
    if (auto p = place(gi); !p) return p;
  const int64_t dest = offset_of_[gi] + (target - int64_t(g->first));
  isa::RawInsn& out = prog_->insns[at];  // `place` may have reallocated
  out.imm = static_cast<int32_t>(dest - int64_t(at) - 1);
  if (func_addr) out.src = kPseudoFunc;
  return {};
}

Expected<void> Linker::apply_data_relocs() {
  for (size_t fn : placed_) {
    const Function& f = c_.functions[fn];
    const auto base = static_cast<uint32_t>(offset_of_[fn]);
    for (const PendingReloc& r : f.relocs) {
      isa::RawInsn* insn = &prog_->insns[base + r.insn];
      InsnReloc out{RelocKind::Map, base + r.insn, r.map, r.offset, r.symbol};
      switch (r.kind) {
        case PendingKind::Call:
        case PendingKind::FuncAddr: continue;  // done while placing
        case PendingKind::Map:
          insn->src = kPseudoMapIdx, insn->imm = static_cast<int32_t>(r.map);
          break;
        case PendingKind::MapValue:
          insn->src = kPseudoMapIdxValue, insn->imm = static_cast<int32_t>(r.map);
          insn[1].imm = static_cast<int32_t>(r.offset);
          out.kind = RelocKind::MapValue;
          break;
        case PendingKind::Kfunc:
          insn->src = kPseudoKfuncCall, insn->imm = 0, insn->off = 0;
          out.kind = RelocKind::Kfunc;
          break;
        case PendingKind::Ksym:
          insn->imm = 0, insn[1].imm = 0;
          out.kind = RelocKind::Ksym;
          break;
        case PendingKind::ExternCall:
          // Nothing can provide a non-BTF extern function (a libcall such as
          // memset): poison it as libbpf does an unresolved kfunc.
          insn->src = 0, insn->off = 0;
          insn->imm = kUnresolvedCallPoison + static_cast<int32_t>(r.extern_idx);
          out.kind = RelocKind::Extern;
          break;
      }
      prog_->relocations.push_back(std::move(out));
    }
  }
  return {};
}

void Linker::add_btf_ext(const Function& f, uint32_t offset) {
  if (!c_.ext) return;
  const std::string& sec = c_.section(f.section).name;
  auto in_range = [&](uint32_t idx) { return idx >= f.first && idx < f.first + f.count; };
  if (auto it = c_.ext->func_info.find(sec); it != c_.ext->func_info.end())
    for (btf::FuncInfo fi : it->second)
      if (in_range(fi.insn_idx)) fi.insn_idx = fi.insn_idx - f.first + offset, prog_->func_info.push_back(fi);
  if (auto it = c_.ext->line_info.find(sec); it != c_.ext->line_info.end())
    for (btf::LineInfo li : it->second)
      if (in_range(li.insn_idx)) li.insn_idx = li.insn_idx - f.first + offset, prog_->line_info.push_back(li);
}

Expected<ProgramSpec> Linker::link(size_t entry) {
  const Function& e = c_.functions[entry];
  ProgramSpec p;
  prog_ = &p;
  p.name = e.name;
  p.section_index = e.section;
  p.section_offset = e.first;
  p.global = e.global;
  std::string_view sec = c_.section(e.section).name;
  p.section_info = classify_section(sec);
  p.section = std::string(sec.starts_with('?') ? sec.substr(1) : sec);
  if (p.section_info.source == TypeSource::Unknown && c_.opts.default_prog_type) {
    p.section_info.type = *c_.opts.default_prog_type;
    p.section_info.source = TypeSource::Option;
  }
  p.type = p.section_info.type;
  p.attach_type = p.section_info.attach_type;
  p.attach_target = p.section_info.attach_target;
  reset();
  if (auto r = place(entry); !r) return unexpected(r.error());
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    if (top.next >= c_.functions[top.fn].count) {
      stack_.pop_back();
      continue;
    }
    if (auto r = visit(top); !r) return unexpected(r.error());
  }
  if (auto r = apply_data_relocs(); !r) return unexpected(r.error());
  for (size_t fn : placed_) {
    const Function& f = c_.functions[fn];
    add_btf_ext(f, static_cast<uint32_t>(offset_of_[fn]));
    for (CoreReloResult cr : f.core) {
      cr.insn += static_cast<uint32_t>(offset_of_[fn]);
      p.core_relos.push_back(std::move(cr));
    }
  }
  p.btf = c_.obj.btf;
  p.license = c_.obj.license;
  p.kernel_version = c_.obj.kernel_version;
  return p;
}

}  // namespace

Expected<void> link_programs(Context& c) {
  Linker linker(c);
  for (size_t i = 0; i < c.functions.size(); ++i) {
    if (!c.functions[i].entry) continue;
    auto p = linker.link(i);
    if (!p) return unexpected(p.error());
    c.obj.programs.push_back(std::move(*p));
  }
  return {};
}

}  // namespace xbpf::loader::detail
