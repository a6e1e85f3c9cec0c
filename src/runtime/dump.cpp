#include "runtime/dump.hpp"

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "isa/disasm.hpp"
#include "jit/jit.hpp"

namespace xbpf::runtime {
namespace {

// What is printed before an instruction: function headers and source lines,
// the instruction in kernel syntax with map ids and helper names.
class Annotations {
 public:
  static Expected<Annotations> of(const Program& p, const DumpOptions& opts) {
    Annotations a;
    a.opts_ = opts;
    auto rec = p.object().store()->program(p.id());
    if (!rec) return xbpf::unexpected(with_context(rec.error(), fmt::format("prog '{}'", p.name())));
    std::vector<isa::RawInsn> raw(rec->insns.size());
    static_assert(sizeof(isa::RawInsn) == sizeof(uint64_t));
    if (!raw.empty()) std::memcpy(raw.data(), rec->insns.data(), raw.size() * sizeof(uint64_t));
    a.raw_ = raw;
    auto insns = isa::decode_program(raw);
    if (!insns) return xbpf::unexpected(with_context(insns.error(), fmt::format("prog '{}'", p.name())));
    const helpers::Registry& reg = *p.object().options().helpers;
    for (const isa::Insn& i : *insns) a.text_[i.pc] = text_of(i, reg);
    for (const loader::FunctionSpan& f : p.spec().functions) a.functions_[f.start] = f.name;
    // A line once, at its first instruction: records that repeat the previous
    // record's line (another column) or have no source text add nothing.
    const btf::LineInfo* prev = nullptr;
    for (const btf::LineInfo& l : p.spec().line_info) {
      if (l.line_num == 0 || l.line.empty()) continue;
      if (prev && prev->line_num == l.line_num && prev->file_name == l.file_name) continue;
      a.lines_[l.insn_idx] = prev = &l;
    }
    return a;
  }

  // The header lines of slot `pc` (function name, source line).
  [[nodiscard]] std::string header(uint32_t pc) const {
    std::string out;
    if (auto f = functions_.find(pc); f != functions_.end()) out += fmt::format("{}{}:\n", pc ? "\n" : "", f->second);
    if (auto l = lines_.find(pc); l != lines_.end()) {
      const btf::LineInfo& li = *l->second;
      std::string_view src = li.line;
      while (!src.empty() && (src.front() == ' ' || src.front() == '\t')) src.remove_prefix(1);
      out += fmt::format("; {}", src);
      if (opts_.linum) out += fmt::format(" [file:{} line_num:{} line_col:{}]", li.file_name, li.line_num, li.column);
      out += '\n';
    }
    return out;
  }

  // "   4: (85) call bpf_map_lookup_elem#1", plus the bytes with `opcodes`.
  [[nodiscard]] std::string insn_line(uint32_t pc) const {
    const isa::RawInsn& r = raw_[pc];
    std::string out = fmt::format("{:4}: ({:02x}) {}\n", pc, r.code, text_.count(pc) ? text_.at(pc) : "?");
    if (opts_.opcodes) {
      const size_t slots = r.code == 0x18 && pc + 1 < raw_.size() ? 2 : 1;
      out += "      ";
      for (size_t s = 0; s < slots; ++s) {
        uint8_t b[8];
        std::memcpy(b, &raw_[pc + s], 8);
        for (uint8_t x : b) out += fmt::format(" {:02x}", x);
      }
      out += '\n';
    }
    return out;
  }

  [[nodiscard]] const std::map<uint32_t, std::string>& text() const { return text_; }

 private:
  // Kernel syntax, with the xlated form's conventions: maps by id, helpers by name.
  static std::string text_of(const isa::Insn& i, const helpers::Registry& reg) {
    std::string s = isa::format_insn(i, isa::Syntax::Kernel);
    if (i.op == isa::Op::LDDW_MAP_FD || i.op == isa::Op::LDDW_MAP_VALUE) {
      if (auto k = s.find("map[fd:"); k != std::string::npos) s.replace(k, 7, "map[id:");
    } else if (i.op == isa::Op::CALL && i.src == 0) {
      if (const helpers::HelperSpec* h = reg.find(uint32_t(i.imm)))
        s = fmt::format("call bpf_{}#{}", h->name, i.imm);
    }
    return s;
  }

  DumpOptions opts_;
  std::vector<isa::RawInsn> raw_;
  std::map<uint32_t, std::string> text_;  // pc -> instruction text
  std::map<uint32_t, std::string> functions_;
  std::map<uint32_t, const btf::LineInfo*> lines_;
};

}  // namespace

Expected<std::string> dump_xlated(const Program& p, const DumpOptions& opts) {
  auto a = Annotations::of(p, opts);
  if (!a) return xbpf::unexpected(a.error());
  std::string out;
  for (const auto& [pc, text] : a->text()) out += a->header(pc) + a->insn_line(pc);
  return out;
}

Expected<std::string> dump_jited(const Program& p, const DumpOptions& opts) {
  if (p.engine() != Engine::Jit)
    return fail(Errc::invalid_argument, "prog '{}': runs on the interpreter, there is no native code to dump",
                p.name());
  auto a = Annotations::of(p, opts);
  if (!a) return xbpf::unexpected(a.error());
  jit::DisasmOptions d;
  d.opcodes = opts.opcodes;
  d.before_insn = [&](const isa::Insn& i) {
    std::string bpf = a->insn_line(i.pc);  // comment lines between the x86 code
    for (size_t k = 0; k < bpf.size(); k = bpf.find('\n', k) + 1) bpf.insert(k, "; ");
    return a->header(i.pc) + bpf;
  };
  auto text = jit::disassemble(p.vm(), d);
  if (!text) return xbpf::unexpected(with_context(text.error(), fmt::format("prog '{}'", p.name())));
  return std::move(*text);
}

}  // namespace xbpf::runtime
