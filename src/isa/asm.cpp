#include "isa/asm.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace xbpf::isa {
namespace {

// ---------------------------------------------------------------------------
// Characters and words

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ident_start(char c) { return is_alpha(c) || c == '_' || c == '.'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the run of characters at the start of `s` satisfying `pred`.
template <class Pred>
size_t span_of(std::string_view s, Pred pred, size_t from = 0) {
  size_t n = from;
  while (n < s.size() && pred(s[n])) ++n;
  return n;
}

// First whitespace- or comma-separated piece of `s`, for error messages.
std::string describe(std::string_view s) {
  s = trim(s);
  if (s.empty()) return "end of line";
  size_t n = span_of(s, [](char c) { return !is_space(c) && c != ','; });
  return fmt::format("'{}'", s.substr(0, n ? n : 1));
}

// A parsed integer literal: sign and magnitude, before any range check.
struct Number {
  bool neg = false;
  uint64_t mag = 0;
};

enum class NumStatus { ok, malformed, too_big };

NumStatus parse_number(std::string_view t, Number& n) {
  n = {};
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    n.neg = t[0] == '-';
    t.remove_prefix(span_of(t, is_space, 1));
  }
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  }
  if (t.empty()) return NumStatus::malformed;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n.mag, base);
  if (end != t.data() + t.size()) return NumStatus::malformed;
  if (ec == std::errc::result_out_of_range) return NumStatus::too_big;
  return ec == std::errc{} ? NumStatus::ok : NumStatus::malformed;
}

// Signed value of `n` if it lies in [lo, hi].
std::optional<int64_t> in_range(Number n, int64_t lo, int64_t hi) {
  constexpr uint64_t kMinMag = uint64_t(1) << 63;
  if (n.neg) {
    if (n.mag > kMinMag) return std::nullopt;
    int64_t v = n.mag == kMinMag ? std::numeric_limits<int64_t>::min() : -int64_t(n.mag);
    return v >= lo ? std::optional(v) : std::nullopt;
  }
  if (n.mag > uint64_t(hi)) return std::nullopt;
  return int64_t(n.mag);
}

// ---------------------------------------------------------------------------
// Operand reader: consumes the operands of one line left to right. The first
// problem is recorded and every later call becomes a no-op returning zero, so
// the per-form parsers read as straight-line code.

struct MemRef {
  uint8_t reg = 0;
  int16_t off = 0;
};

// A jump / call target: a label name, or a relative slot offset when label is empty.
struct Target {
  bool present = false;
  std::string label;
  int64_t rel = 0;
};

class Operands {
 public:
  explicit Operands(std::string_view s) : s_(s) {}

  const std::optional<std::string>& error() const { return error_; }

  bool accept(char c) {
    if (error_ || !next_is(c)) return false;
    s_.remove_prefix(1);
    return true;
  }
  void comma() {
    if (!error_ && !accept(',')) fail("expected ',', got {}", describe(s_));
  }

  uint8_t reg() {
    if (error_) return 0;
    skip_ws();
    size_t pct = s_.starts_with('%') ? 1 : 0;
    size_t n = span_of(s_, is_ident_char, pct);
    std::string_view tok = s_.substr(0, n), body = tok.substr(pct);
    unsigned value = 0;
    bool numeric = body.size() >= 2 && body[0] == 'r' &&
                   std::from_chars(body.data() + 1, body.data() + body.size(), value).ptr ==
                       body.data() + body.size();
    if (!numeric) return fail("expected register, got {}", describe(s_)), 0;
    if (value > kMaxReg) return fail("invalid register '{}' (registers are r0..r10)", tok), 0;
    s_.remove_prefix(n);
    return uint8_t(value);
  }

  int32_t imm32() {
    return int32_t(uint32_t(uint64_t(number("immediate", std::numeric_limits<int32_t>::min(),
                                            std::numeric_limits<uint32_t>::max(), "int32 or uint32"))));
  }
  int16_t off16() {
    return int16_t(number("offset", std::numeric_limits<int16_t>::min(),
                          std::numeric_limits<int16_t>::max(), "int16"));
  }
  // Up to 64 bits, signed or unsigned: [-2^63, 2^64-1].
  int64_t imm64() {
    auto lit = literal("immediate");
    if (!lit) return 0;
    auto v = lit->n.neg ? in_range(lit->n, std::numeric_limits<int64_t>::min(), 0)
                        : std::optional(int64_t(lit->n.mag));
    if (!v) return fail("immediate {} out of range (must fit 64 bits)", lit->text), 0;
    return *v;
  }

  // [%rN], [%rN+off] or [%rN-off].
  MemRef mem() {
    MemRef m;
    if (error_) return m;
    if (!accept('[')) return fail("expected memory operand [%rN+off], got {}", describe(s_)), m;
    m.reg = reg();
    if (next_is('+') || next_is('-')) m.off = off16();
    if (!error_ && !accept(']')) fail("expected ']', got {}", describe(s_));
    return m;
  }

  // A label or a signed relative offset (+N / -N, the sign is required).
  Target target() {
    Target t;
    if (error_) return t;
    skip_ws();
    if (next_is('+') || next_is('-')) {
      t.rel = number("jump offset", std::numeric_limits<int64_t>::min(),
                     std::numeric_limits<int64_t>::max(), "64 bits");
      t.present = !error_;
      return t;
    }
    size_t n = s_.empty() || !is_ident_start(s_[0]) ? 0 : span_of(s_, is_ident_char);
    if (n == 0) return fail("expected jump target (label, +N or -N), got {}", describe(s_)), t;
    t = {true, std::string(s_.substr(0, n)), 0};
    s_.remove_prefix(n);
    return t;
  }

  // Consumes `word` if it is the next whole word.
  bool keyword(std::string_view word) {
    if (error_) return false;
    skip_ws();
    if (!s_.starts_with(word) || (s_.size() > word.size() && is_ident_char(s_[word.size()])))
      return false;
    s_.remove_prefix(word.size());
    return true;
  }

  // Everything must have been consumed.
  void finish() {
    skip_ws();
    if (!error_ && !s_.empty()) fail("trailing garbage '{}'", s_);
  }

  template <class... A>
  void fail(fmt::format_string<A...> f, A&&... args) {
    if (!error_) error_ = fmt::format(f, std::forward<A>(args)...);
  }

 private:
  void skip_ws() { s_.remove_prefix(span_of(s_, is_space)); }
  bool next_is(char c) {
    skip_ws();
    return !s_.empty() && s_.front() == c;
  }
  // An integer literal (optional sign, decimal or 0x hex), consumed on success.
  struct Literal {
    Number n;
    std::string_view text;
  };
  std::optional<Literal> literal(std::string_view what) {
    if (error_) return std::nullopt;
    skip_ws();
    size_t sign = (!s_.empty() && (s_[0] == '+' || s_[0] == '-')) ? 1 : 0;
    size_t start = span_of(s_, is_space, sign);  // allow `[%r1 + 4]`
    Literal lit{{}, s_.substr(0, span_of(s_, is_ident_char, start))};
    NumStatus st = parse_number(lit.text, lit.n);
    if (st == NumStatus::malformed) return fail("expected {}, got {}", what, describe(s_)), std::nullopt;
    if (st == NumStatus::too_big) return fail("{} {} out of range", what, lit.text), std::nullopt;
    s_.remove_prefix(lit.text.size());
    return lit;
  }
  // A number in [lo, hi]; `what` and `range` name it in messages.
  int64_t number(std::string_view what, int64_t lo, int64_t hi, std::string_view range) {
    auto lit = literal(what);
    if (!lit) return 0;
    auto v = in_range(lit->n, lo, hi);
    if (!v) return fail("{} {} out of range (must fit {})", what, lit->text, range), 0;
    return *v;
  }

  std::string_view s_;
  std::optional<std::string> error_;
};

// ---------------------------------------------------------------------------
// Mnemonics, derived from kOpTable

// Pseudo lddw rows carry their kind as a second mnemonic word ("lddw map_fd");
// in the text it follows the register: `lddw %r1, map_fd 3`.
std::string_view lead_of(const OpInfo& i) {
  if (i.form != Form::LoadImm64) return i.mnemonic;
  return i.mnemonic.substr(0, i.mnemonic.find(' '));
}
std::string_view pseudo_kind(const OpInfo& i) {
  size_t sp = i.mnemonic.find(' ');
  return i.form == Form::LoadImm64 && sp != std::string_view::npos ? i.mnemonic.substr(sp + 1)
                                                                  : std::string_view{};
}

// If `line` starts with the words of `lead` (each ending at whitespace or end of
// line), the length consumed; otherwise 0.
size_t match_lead(std::string_view line, std::string_view lead) {
  size_t pos = 0;
  while (!lead.empty()) {
    size_t sp = lead.find(' ');
    std::string_view word = lead.substr(0, sp);
    pos = span_of(line, is_space, pos);
    if (line.substr(pos, word.size()) != word) return 0;
    pos += word.size();
    if (pos < line.size() && !is_space(line[pos])) return 0;
    lead = sp == std::string_view::npos ? std::string_view{} : lead.substr(sp + 1);
  }
  return pos;
}

// The idx-th comma-separated operand of `ops`, trimmed.
std::string_view operand_text(std::string_view ops, int idx) {
  for (; idx > 0; --idx) {
    size_t comma = ops.find(',');
    if (comma == std::string_view::npos) return {};
    ops.remove_prefix(comma + 1);
  }
  return trim(ops.substr(0, ops.find(',')));
}

bool looks_like_reg(std::string_view s) {
  if (s.starts_with('%')) return true;
  return s.size() >= 2 && s[0] == 'r' && is_digit(s[1]);
}

// Whether the operands `ops` fit row `i` among rows sharing its mnemonic
// (register vs immediate variants, pseudo lddw kinds).
bool fits(const OpInfo& i, std::string_view ops) {
  switch (i.form) {
    case Form::AluImm: case Form::JumpImm: return !looks_like_reg(operand_text(ops, 1));
    case Form::AluReg: case Form::JumpReg: return looks_like_reg(operand_text(ops, 1));
    case Form::Call: return !looks_like_reg(operand_text(ops, 0));
    case Form::CallReg: return looks_like_reg(operand_text(ops, 0));
    case Form::LoadImm64: {
      std::string_view v = operand_text(ops, 1);
      std::string_view word = v.substr(0, span_of(v, is_ident_char));
      return word == pseudo_kind(i) || (pseudo_kind(i).empty() && !is_ident_start(v.empty() ? '0' : v[0]));
    }
    default: return true;
  }
}

struct Selected {
  const OpInfo* row = nullptr;
  size_t length = 0;  // characters of the mnemonic in the line
};

// Finds the table row for `line`: longest matching mnemonic, then the operand shape.
Selected select_row(std::string_view line) {
  Selected best;
  for (const OpInfo& i : kOpTable) {
    size_t n = match_lead(line, lead_of(i));
    if (n > best.length) best = {&i, n};
  }
  if (!best.row) return best;
  std::string_view lead = lead_of(*best.row), ops = line.substr(best.length);
  for (const OpInfo& i : kOpTable)
    if (lead_of(i) == lead && fits(i, ops)) return {&i, best.length};
  return best;
}

// Accepted spellings that are not the table mnemonic (older assemblers).
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"swap16", "bswap16"}, {"swap32", "bswap32"}, {"swap64", "bswap64"}};

// ---------------------------------------------------------------------------
// Operand parsing per form

void parse_lddw(const OpInfo& row, Operands& in, Insn& x, Target& t) {
  x.dst = in.reg();
  in.comma();
  std::string_view kind = pseudo_kind(row);
  if (kind.empty()) {
    x.imm64 = in.imm64();
    x.imm = int32_t(uint32_t(uint64_t(x.imm64)));
    return;
  }
  if (!in.keyword(kind)) in.fail("expected '{}'", kind);
  if (row.op == Op::LDDW_FUNC)
    t = in.target();
  else
    x.imm = in.imm32();
  int32_t hi = in.accept(',') ? in.imm32() : 0;
  x.imm64 = int64_t((uint64_t(uint32_t(hi)) << 32) | uint32_t(x.imm));
}

void parse_operands(const OpInfo& row, Operands& in, Insn& x, Target& t) {
  MemRef m;
  switch (row.form) {
    case Form::AluImm: x.dst = in.reg(); in.comma(); x.imm = in.imm32(); break;
    case Form::AluReg: x.dst = in.reg(); in.comma(); x.src = in.reg(); break;
    case Form::AluUnary: case Form::Endian: case Form::CallReg: x.dst = in.reg(); break;
    case Form::LoadImm64: parse_lddw(row, in, x, t); break;
    case Form::LoadAbs: case Form::Call: x.imm = in.imm32(); break;
    case Form::LoadInd: x.src = in.reg(); in.comma(); x.imm = in.imm32(); break;
    case Form::Load:
      x.dst = in.reg(); in.comma(); m = in.mem();
      x.src = m.reg; x.off = m.off;
      break;
    case Form::StoreImm: m = in.mem(); in.comma(); x.imm = in.imm32(); x.dst = m.reg; x.off = m.off; break;
    case Form::StoreReg: case Form::Atomic:
      m = in.mem(); in.comma(); x.src = in.reg();
      x.dst = m.reg; x.off = m.off;
      break;
    case Form::Jump: case Form::JumpLong: case Form::CallLocal: t = in.target(); break;
    case Form::JumpImm: x.dst = in.reg(); in.comma(); x.imm = in.imm32(); in.comma(); t = in.target(); break;
    case Form::JumpReg: x.dst = in.reg(); in.comma(); x.src = in.reg(); in.comma(); t = in.target(); break;
    case Form::CallKfunc: x.imm = in.imm32(); if (in.accept(',')) x.off = in.off16(); break;
    case Form::Exit: break;
  }
}

// The field that tells rows sharing an opcode byte apart is fixed by the row.
void apply_match(const OpInfo& row, Insn& x) {
  switch (row.match) {
    case Match::Off: x.off = int16_t(row.match_value); break;
    case Match::Imm: x.imm = row.match_value; break;
    case Match::Src: x.src = uint8_t(row.match_value); break;
    case Match::None: break;
  }
}

// Stores a relative slot offset in the field the form keeps it in; an error
// message if it does not fit.
std::optional<std::string> set_relative(Insn& x, int64_t rel) {
  Form f = info(x.op).form;
  if (f == Form::Jump || f == Form::JumpImm || f == Form::JumpReg) {
    if (rel < std::numeric_limits<int16_t>::min() || rel > std::numeric_limits<int16_t>::max())
      return fmt::format("jump offset {} out of int16 range", rel);
    x.off = int16_t(rel);
    return std::nullopt;
  }
  if (rel < std::numeric_limits<int32_t>::min() || rel > std::numeric_limits<int32_t>::max())
    return fmt::format("{} offset {} out of int32 range",
                       f == Form::JumpLong ? "jump" : f == Form::CallLocal ? "call" : "func", rel);
  x.imm = int32_t(rel);
  if (f == Form::LoadImm64)
    x.imm64 = int64_t((uint64_t(x.imm64) & 0xffffffff00000000ull) | uint32_t(x.imm));
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// The assembler: lines → instructions, then label fixups.

struct Fixup {
  size_t index;  // into insns
  std::string label;
  size_t line;
};

struct LabelDef {
  uint32_t slot;
  size_t line;
};

class Assembler {
 public:
  explicit Assembler(std::string_view source) : source_(source) {}

  Expected<void> line(std::string_view text, size_t line_no);
  Expected<std::vector<Insn>> finish();

 private:
  template <class... A>
  Unexpected<Error> error(size_t line_no, fmt::format_string<A...> f, A&&... args) {
    return fail(Errc::parse, "{}:{}: {}", source_, line_no, fmt::format(f, std::forward<A>(args)...));
  }
  Expected<void> label(std::string_view name, size_t line_no);
  Expected<void> instruction(std::string_view text, size_t line_no);

  std::string_view source_;
  std::vector<Insn> insns_;
  std::vector<Fixup> fixups_;
  std::unordered_map<std::string, LabelDef> labels_;
  std::optional<uint32_t> first_exit_;  // target of `exit` when no `exit:` label exists
  uint32_t pc_ = 0;
};

Expected<void> Assembler::line(std::string_view text, size_t line_no) {
  text = trim(text.substr(0, text.find('#')));
  // Leading `name:` definitions.
  for (;;) {
    size_t n = text.empty() || !is_ident_start(text[0]) ? 0 : span_of(text, is_ident_char);
    if (n == 0 || n >= text.size() || text[n] != ':') break;
    if (auto r = label(text.substr(0, n), line_no); !r) return r;
    text = trim(text.substr(n + 1));
  }
  if (text.empty()) return {};
  return instruction(text, line_no);
}

Expected<void> Assembler::label(std::string_view name, size_t line_no) {
  auto [it, inserted] = labels_.try_emplace(std::string(name), LabelDef{pc_, line_no});
  if (!inserted)
    return error(line_no, "duplicate label '{}' (first defined at line {})", name, it->second.line);
  return {};
}

Expected<void> Assembler::instruction(std::string_view text, size_t line_no) {
  std::string aliased;
  std::string_view first = text.substr(0, span_of(text, [](char c) { return !is_space(c); }));
  for (auto [from, to] : kAliases)
    if (first == from) text = aliased = std::string(to) + std::string(text.substr(first.size()));

  Selected sel = select_row(text);
  if (!sel.row) return error(line_no, "unknown mnemonic '{}'", first);
  Insn x{sel.row->op};
  x.pc = pc_;
  Target t;
  Operands in(text.substr(sel.length));
  parse_operands(*sel.row, in, x, t);
  in.finish();
  if (in.error()) return error(line_no, "{}", *in.error());
  apply_match(*sel.row, x);
  if (t.present && !t.label.empty()) {
    fixups_.push_back({insns_.size(), std::move(t.label), line_no});
  } else if (t.present) {
    if (auto e = set_relative(x, t.rel)) return error(line_no, "{}", *e);
  }
  if (x.op == Op::EXIT && !first_exit_) first_exit_ = pc_;
  insns_.push_back(x);
  pc_ += uint32_t(slot_count(x.op));
  return {};
}

Expected<std::vector<Insn>> Assembler::finish() {
  for (const Fixup& f : fixups_) {
    auto it = labels_.find(f.label);
    std::optional<uint32_t> slot = it != labels_.end() ? std::optional(it->second.slot)
                                   : f.label == "exit" ? first_exit_
                                                       : std::nullopt;
    if (!slot) return error(f.line, "undefined label '{}'", f.label);
    Insn& x = insns_[f.index];
    if (auto e = set_relative(x, int64_t(*slot) - (int64_t(x.pc) + 1)))
      return error(f.line, "{} (to label '{}')", *e, f.label);
  }
  return std::move(insns_);
}

}  // namespace

Expected<std::vector<Insn>> assemble(std::string_view text, std::string_view source) {
  Assembler as(source);
  for (size_t line_no = 1;; ++line_no) {
    size_t nl = text.find('\n');
    if (auto r = as.line(text.substr(0, nl), line_no); !r) return unexpected(r.error());
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return as.finish();
}

}  // namespace xbpf::isa
