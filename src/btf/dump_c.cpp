// BTF to a compilable C header, as `bpftool btf dump file F format c` prints
// it. The algorithm and its output format are libbpf's btf_dump.c (v1.1):
//   1. order_type(): topological sort of type definitions; a "strong" link
//      (embedding) needs the full definition first, a "weak" one (through a
//      pointer to a named type) only a forward declaration;
//   2. emit_type(): emits definitions in that order, forward-declaring
//      structs and typedefs met while still being emitted;
//   3. emit_type_decl()/emit_type_chain(): C declarator syntax for a chain of
//      pointers, modifiers, arrays and function prototypes.
// Unlike libbpf every recursion is depth-bounded and the output is
// size-bounded, so hostile BTF yields an error rather than a crash.
#include <algorithm>
#include <unordered_map>

#include "btf/btf.hpp"
#include "btf/btf_internal.hpp"

namespace xbpf::btf {

namespace {

enum : uint8_t { kNotOrdered = 0, kOrdering = 1, kOrdered = 2 };
enum : uint8_t { kNotEmitted = 0, kEmitting = 1, kEmitted = 2 };

struct TypeState {
  uint8_t order = kNotOrdered;
  uint8_t emit = kNotEmitted;
  bool fwd_emitted = false;
  bool name_resolved = false;
  bool referenced = false;
};

bool is_composite(const Type* t) { return t != nullptr && (t->kind == Kind::Struct || t->kind == Kind::Union); }

int64_t roundup(int64_t x, int64_t y) { return (x + y - 1) / y * y; }

// A view of one frame of the shared declaration stack: [start, start + cnt).
struct IdStack {
  size_t start;
  size_t cnt;
};

class CDumper {
 public:
  CDumper(const Btf& btf, size_t max_output) : b_(btf), max_output_(max_output), st_(btf.type_count()) {}

  // roots empty: every type.
  Expected<std::string> run(std::span<const uint32_t> roots = {});

 private:
  // Increments the shared recursion depth for one call; ok() is false once
  // the depth limit or an earlier error stops the dump.
  class Guard {
   public:
    explicit Guard(CDumper& d) : d_(d) {
      if (++d_.depth_ > detail::kMaxNesting && !d_.failed_)
        d_.set_error(fmt::format("type nesting deeper than {} levels", detail::kMaxNesting));
    }
    ~Guard() { --d_.depth_; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    [[nodiscard]] bool ok() const { return !d_.failed_; }

   private:
    CDumper& d_;
  };

  template <class... Args>
  void print(fmt::format_string<Args...> f, Args&&... args) {
    fmt::format_to(std::back_inserter(out_), f, std::forward<Args>(args)...);
    if (out_.size() > max_output_ && !failed_) set_error(fmt::format("C output larger than {} bytes", max_output_));
  }
  void set_error(std::string msg) {
    failed_ = true;
    error_ = std::move(msg);
  }
  static std::string_view pfx(int lvl) {
    static constexpr std::string_view kTabs = "\t\t\t\t\t\t\t\t\t\t\t\t\t";
    return kTabs.substr(0, std::min<size_t>(static_cast<size_t>(lvl), kTabs.size()));
  }
  const Type* T(uint32_t id) const { return b_.type(id); }

  void mark_referenced(const Type& t);
  int order_type(uint32_t id, bool through_ptr);
  void emit_type(uint32_t id, uint32_t cont_id);
  void emit_type_body(uint32_t id, const Type& t, uint32_t cont_id);
  bool is_struct_packed(const Type& t) const;
  void emit_bit_padding(int64_t cur_off, int64_t next_off, int64_t next_align, bool in_bitfield, int lvl);
  void emit_struct_fwd(uint32_t id, const Type& t);
  void emit_struct_def(uint32_t id, const Type& t, int lvl);
  void emit_enum_fwd(uint32_t id);
  void emit_enum_def(uint32_t id, const Type& t, int lvl);
  void emit_fwd_def(uint32_t id, const Type& t);
  void emit_typedef_def(uint32_t id, const Type& t, int lvl);
  void emit_type_decl(uint32_t id, std::string_view fname, int lvl);
  void emit_mods(IdStack& s);
  void drop_mods(IdStack& s);
  void emit_name(std::string_view name, bool last_was_ptr);
  void emit_type_chain(IdStack& s, std::string_view fname, int lvl);
  void emit_array_decl(const Type& t, IdStack& s, std::string_view fname, int lvl, bool last_was_ptr);
  void emit_proto_decl(const Type& t, IdStack& s, std::string_view fname, int lvl, bool last_was_ptr);
  size_t name_dups(std::unordered_map<std::string_view, size_t>& names, std::string_view name);
  std::string_view resolve_name(uint32_t id, std::unordered_map<std::string_view, size_t>& names);
  std::string_view type_name(uint32_t id) { return resolve_name(id, type_names_); }
  std::string_view ident_name(uint32_t id) { return resolve_name(id, ident_names_); }
  bool is_blacklisted(uint32_t id) const { return b_.name_of(id) == "__builtin_va_list"; }
  uint32_t align_or_zero(uint32_t id) const {
    auto a = b_.align_of(id);
    return a ? *a : 0;
  }

  const Btf& b_;
  size_t max_output_;
  std::vector<TypeState> st_;
  std::vector<uint32_t> emit_queue_;
  std::vector<uint32_t> decl_stack_;
  std::unordered_map<std::string_view, size_t> type_names_;   // struct/union/enum names
  std::unordered_map<std::string_view, size_t> ident_names_;  // typedefs and enumerators
  std::unordered_map<uint32_t, std::string> cached_names_;    // deduplicated "name___N"
  std::string out_;
  unsigned depth_ = 0;
  bool failed_ = false;
  std::string error_;
};

Expected<std::string> CDumper::run(std::span<const uint32_t> roots) {
  st_[0].order = kOrdered;
  st_[0].emit = kEmitted;
  for (uint32_t id = 1; id < b_.type_count(); ++id) mark_referenced(*T(id));
  print("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n");
  print("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n");
  print("#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n");
  auto dump_one = [this](uint32_t id) {
    emit_queue_.clear();
    if (order_type(id, false) < 0) return false;
    for (size_t i = 0; i < emit_queue_.size() && !failed_; ++i) emit_type(emit_queue_[i], 0);
    return true;
  };
  if (roots.empty()) {
    for (uint32_t id = 1; id < b_.type_count() && !failed_; ++id)
      if (!dump_one(id)) break;
  } else {
    for (size_t i = 0; i < roots.size() && !failed_; ++i)
      if (roots[i] == 0 || roots[i] >= b_.type_count() || !dump_one(roots[i])) break;
  }
  if (failed_) return fail(Errc::invalid_program, "{}: cannot print as C: {}", b_.name(), error_);
  print("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n");
  print("#endif /* __VMLINUX_H__ */\n");
  return std::move(out_);
}

// Types referenced by another type; a top-level anonymous enum is one that
// nothing references (it declares constants and must be emitted on its own).
void CDumper::mark_referenced(const Type& t) {
  switch (t.kind) {
    case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::Ptr: case Kind::Typedef:
    case Kind::Func: case Kind::Var: case Kind::DeclTag: case Kind::TypeTag:
      st_[t.ref].referenced = true;
      break;
    case Kind::Array:
      st_[t.index_type].referenced = true;
      st_[t.elem_type].referenced = true;
      break;
    case Kind::Struct: case Kind::Union:
      for (const Member& m : t.members) st_[m.type].referenced = true;
      break;
    case Kind::FuncProto:
      for (const Param& p : t.params) st_[p.type].referenced = true;
      break;
    case Kind::Datasec:
      for (const VarSecinfo& v : t.vars) st_[v.type].referenced = true;
      break;
    default:
      break;
  }
}

// Returns 1 for a strong link, 0 for a weak one, -1 on error (see file comment).
int CDumper::order_type(uint32_t id, bool through_ptr) {
  Guard g(*this);
  if (!g.ok()) return -1;
  TypeState& s = st_[id];
  if (s.order == kOrdered) return 1;
  const Type* t = T(id);
  if (s.order == kOrdering) {
    if (is_composite(t) && through_ptr && t->name_off != 0) return 0;  // loop resolvable by a fwd declaration
    set_error(fmt::format("unsatisfiable type cycle at {}", b_.describe(id)));
    return -1;
  }
  switch (t->kind) {
    case Kind::Int: case Kind::Float:
      s.order = kOrdered;
      return 0;
    case Kind::Ptr: {
      const int r = order_type(t->ref, true);
      st_[id].order = kOrdered;
      return r;
    }
    case Kind::Array:
      return order_type(t->elem_type, false);
    case Kind::Struct: case Kind::Union: {
      // Strong only if embedded, or anonymous (defined inline even behind a pointer).
      if (through_ptr && t->name_off != 0) return 0;
      s.order = kOrdering;
      for (const Member& m : t->members)
        if (order_type(m.type, false) < 0) return -1;
      if (t->name_off != 0) emit_queue_.push_back(id);
      st_[id].order = kOrdered;
      return 1;
    }
    case Kind::Enum: case Kind::Enum64: case Kind::Fwd:
      if (t->name_off != 0 || !s.referenced) emit_queue_.push_back(id);
      s.order = kOrdered;
      return 1;
    case Kind::Typedef: {
      const int strong = order_type(t->ref, through_ptr);
      if (strong < 0) return strong;
      if (through_ptr && strong == 0) return 0;
      emit_queue_.push_back(id);
      st_[id].order = kOrdered;
      return 1;
    }
    case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::TypeTag:
      return order_type(t->ref, through_ptr);
    case Kind::FuncProto: {
      int r = order_type(t->ref, through_ptr);
      if (r < 0) return r;
      bool strong = r > 0;
      for (const Param& p : t->params) {
        r = order_type(p.type, through_ptr);
        if (r < 0) return r;
        strong = strong || r > 0;
      }
      return strong ? 1 : 0;
    }
    default:  // FUNC, VAR, DATASEC, DECL_TAG: not part of C type definitions
      s.order = kOrdered;
      return 0;
  }
}

void CDumper::emit_type(uint32_t id, uint32_t cont_id) {
  Guard g(*this);
  if (!g.ok()) return;
  TypeState& s = st_[id];
  if (s.emit == kEmitted) return;
  const Type& t = *T(id);
  if (s.emit == kEmitting) {
    if (s.fwd_emitted) return;
    if (t.kind == Kind::Struct || t.kind == Kind::Union) {
      if (id == cont_id) return;  // a struct referring to itself needs no fwd declaration
      if (t.name_off == 0) return;  // anonymous struct/union loop: libbpf warns and goes on
      emit_struct_fwd(id, t);
      print(";\n\n");
      st_[id].fwd_emitted = true;
    } else if (t.kind == Kind::Typedef) {
      // The typedef itself serves as forward declaration (usable through pointers only).
      if (!is_blacklisted(id)) {
        emit_typedef_def(id, t, 0);
        print(";\n\n");
      }
      st_[id].fwd_emitted = true;
    }
    return;
  }
  emit_type_body(id, t, cont_id);
}

void CDumper::emit_type_body(uint32_t id, const Type& t, uint32_t cont_id) {
  const bool top_level = cont_id == 0;
  switch (t.kind) {
    case Kind::Int: {
      static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
          {"__Poly8_t", "unsigned char"}, {"__Poly16_t", "unsigned short"},
          {"__Poly64_t", "unsigned long long"}, {"__Poly128_t", "unsigned __int128"}};
      for (const auto& [name, alias] : kAliases)
        if (t.name == name) print("typedef {} {};\n\n", alias, name);
      st_[id].emit = kEmitted;
      break;
    }
    case Kind::Enum: case Kind::Enum64:
      if (top_level) {
        emit_enum_def(id, t, 0);
        print(";\n\n");
      }
      st_[id].emit = kEmitted;
      break;
    case Kind::Ptr: case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::TypeTag:
      emit_type(t.ref, cont_id);
      break;
    case Kind::Array:
      emit_type(t.elem_type, cont_id);
      break;
    case Kind::Fwd:
      emit_fwd_def(id, t);
      print(";\n\n");
      st_[id].emit = kEmitted;
      break;
    case Kind::Typedef:
      st_[id].emit = kEmitting;
      emit_type(t.ref, id);
      // Someone may have needed the typedef as a forward declaration meanwhile.
      if (!st_[id].fwd_emitted && !is_blacklisted(id)) {
        emit_typedef_def(id, t, 0);
        print(";\n\n");
      }
      st_[id].emit = kEmitted;
      break;
    case Kind::Struct: case Kind::Union:
      st_[id].emit = kEmitting;
      // A definition (top level, or an anonymous one inlined) spells out every
      // member, so their types need forward declarations where applicable.
      if (top_level || t.name_off == 0) {
        const uint32_t new_cont = t.name_off == 0 ? cont_id : id;
        for (const Member& m : t.members) emit_type(m.type, new_cont);
      } else if (!st_[id].fwd_emitted && id != cont_id) {
        emit_struct_fwd(id, t);
        print(";\n\n");
        st_[id].fwd_emitted = true;
      }
      if (top_level) {
        emit_struct_def(id, t, 0);
        print(";\n\n");
        st_[id].emit = kEmitted;
      } else {
        st_[id].emit = kNotEmitted;
      }
      break;
    case Kind::FuncProto:
      emit_type(t.ref, cont_id);
      for (const Param& p : t.params) emit_type(p.type, cont_id);
      break;
    default:
      break;
  }
}

bool CDumper::is_struct_packed(const Type& t) const {
  uint32_t max_align = 1;
  for (const Member& m : t.members) {
    const uint32_t align = align_or_zero(m.type);
    if (align != 0 && m.bitfield_size == 0 && m.bit_offset % (8 * align) != 0) return true;
    max_align = std::max(align, max_align);
  }
  // A non-packed struct's size is a multiple of its alignment.
  return t.size % max_align != 0;
}

// Fills a gap of padding bits with unnamed bitfields (`long: 0`, `int: 32`,
// ...), relying on natural alignment where the compiler would pad anyway.
void CDumper::emit_bit_padding(int64_t cur_off, int64_t next_off, int64_t next_align, bool in_bitfield, int lvl) {
  const struct { std::string_view name; int64_t bits; } pads[] = {
      {"long", int64_t{b_.pointer_size()} * 8}, {"int", 32}, {"short", 16}, {"char", 8}};
  if (cur_off >= next_off) return;
  if (next_align <= 0) next_align = 1;  // member without alignment (invalid BTF): libbpf divides by zero
  int64_t new_off = 0, pad_bits = 0;
  std::string_view pad_type;
  for (const auto& p : pads) {
    pad_bits = p.bits;
    pad_type = p.name;
    new_off = roundup(cur_off, pad_bits);
    if (new_off <= next_off) break;
  }
  if (new_off > cur_off && new_off <= next_off) {
    // An explicit `<type>: 0` mark is needed when the next field's own
    // alignment would not land it there, or a `<type>: X` would fit in the hole.
    if (in_bitfield || (new_off == next_off && roundup(cur_off, next_align * 8) != new_off) ||
        (new_off != next_off && next_off - new_off <= new_off - cur_off))
      print("\n{}{}: {};", pfx(lvl), pad_type, in_bitfield ? new_off - cur_off : 0);
    cur_off = new_off;
  }
  if (next_off - cur_off >= pad_bits) {
    // Whole `<type>: N;` units; formatted once since hostile sizes make many.
    const std::string unit = fmt::format("\n{}{}: {};", pfx(lvl), pad_type, pad_bits);
    for (; next_off - cur_off >= pad_bits && !failed_; cur_off += pad_bits) print("{}", unit);
  }
  while (cur_off != next_off && !failed_) {
    const int64_t bits = std::min(next_off - cur_off, pad_bits);
    // The remainder uses the smallest type that covers it.
    for (auto it = std::rbegin(pads); it != std::rend(pads); ++it) {
      pad_type = it->name;
      pad_bits = it->bits;
      if (pad_bits < bits) continue;
      print("\n{}{}: {};", pfx(lvl), pad_type, bits);
      cur_off += bits;
      break;
    }
  }
}

void CDumper::emit_struct_fwd(uint32_t id, const Type& t) {
  print("{}{}{}", t.kind == Kind::Struct ? "struct" : "union", t.name_off != 0 ? " " : "", type_name(id));
}

void CDumper::emit_struct_def(uint32_t id, const Type& t, int lvl) {
  Guard g(*this);
  if (!g.ok()) return;
  const bool is_struct = t.kind == Kind::Struct;
  const int64_t align = align_or_zero(id);
  const bool packed = is_struct && is_struct_packed(t);
  print("{}{}{} {{", is_struct ? "struct" : "union", t.name_off != 0 ? " " : "", type_name(id));
  int64_t off = 0;
  bool prev_bitfield = false;
  for (const Member& m : t.members) {
    if (failed_) return;
    const int64_t m_off = m.bit_offset;
    const int64_t m_align = packed ? 1 : align_or_zero(m.type);
    const bool in_bitfield = prev_bitfield && m.bitfield_size != 0;
    emit_bit_padding(off, m_off, m_align, in_bitfield, lvl + 1);
    print("\n{}", pfx(lvl + 1));
    emit_type_decl(m.type, m.name, lvl + 1);
    if (m.bitfield_size != 0) {
      print(": {}", m.bitfield_size);
      off = m_off + m.bitfield_size;
      prev_bitfield = true;
    } else {
      auto sz = b_.size_of(m.type);
      off = m_off + static_cast<int64_t>(sz ? *sz : 0) * 8;
      prev_bitfield = false;
    }
    print(";");
  }
  if (is_struct) emit_bit_padding(off, int64_t{t.size} * 8, align, false, lvl + 1);
  // `struct empty {}` stays on one line.
  if (!t.members.empty() || t.size != 0)
    print("\n{}}}", pfx(lvl));
  else
    print("}}");
  if (packed) print(" __attribute__((packed))");
}

void CDumper::emit_enum_fwd(uint32_t id) { print("enum {}", type_name(id)); }

void CDumper::emit_enum_def(uint32_t id, const Type& t, int lvl) {
  print("enum{}{}", t.name_off != 0 ? " " : "", type_name(id));
  if (t.enumerators.empty()) return;
  print(" {{");
  for (const Enumerator& e : t.enumerators) {
    // Enumerators share the namespace of typedef names.
    const size_t dups = name_dups(ident_names_, e.name);
    std::string name = dups > 1 ? fmt::format("{}___{}", e.name, dups) : std::string(e.name);
    if (t.kind == Kind::Enum) {
      if (t.kflag)
        print("\n{}{} = {},", pfx(lvl + 1), name, static_cast<int32_t>(e.value));
      else
        print("\n{}{} = {},", pfx(lvl + 1), name, static_cast<uint32_t>(e.value));
    } else if (t.kflag) {
      print("\n{}{} = {}LL,", pfx(lvl + 1), name, e.value);
    } else {
      print("\n{}{} = {}ULL,", pfx(lvl + 1), name, static_cast<uint64_t>(e.value));
    }
  }
  // libbpf >= 1.2 appends __attribute__((mode(byte|word))) to 1- and 8-byte
  // enums; bpftool 7.1 (libbpf 1.1), the reference here, does not.
  print("\n{}}}", pfx(lvl));
}

void CDumper::emit_fwd_def(uint32_t id, const Type& t) {
  print("{} {}", t.kflag ? "union" : "struct", type_name(id));
}

void CDumper::emit_typedef_def(uint32_t id, const Type& t, int lvl) {
  const std::string_view name = ident_name(id);
  // Old GCC emits __gnuc_va_list as a typedef of void.
  if (t.ref == 0 && name == "__gnuc_va_list") {
    print("typedef __builtin_va_list __gnuc_va_list");
    return;
  }
  print("typedef ");
  emit_type_decl(t.ref, name, lvl);
}

size_t CDumper::name_dups(std::unordered_map<std::string_view, size_t>& names, std::string_view name) {
  return ++names[name];
}

std::string_view CDumper::resolve_name(uint32_t id, std::unordered_map<std::string_view, size_t>& names) {
  const Type& t = *T(id);
  if (t.name_off == 0) return {};
  TypeState& s = st_[id];
  if (s.name_resolved) {
    auto it = cached_names_.find(id);
    return it != cached_names_.end() ? std::string_view(it->second) : t.name;
  }
  s.name_resolved = true;
  if (t.kind == Kind::Fwd || (t.kind == Kind::Enum && t.vlen == 0)) return t.name;
  const size_t dups = name_dups(names, t.name);
  if (dups <= 1) return t.name;
  return cached_names_[id] = fmt::format("{}___{}", t.name, dups);
}

// Declarator syntax: push the chain of pointers/modifiers/arrays/prototypes
// down to its terminal type, then print it inside out (libbpf's decl stack;
// frames are index ranges, so nested declarations may grow the vector).
void CDumper::emit_type_decl(uint32_t id, std::string_view fname, int lvl) {
  Guard g(*this);
  if (!g.ok()) return;
  const size_t start = decl_stack_.size();
  // Ends: parse() guarantees the reference graph outside structs is acyclic.
  for (bool done = false; !done;) {
    decl_stack_.push_back(id);
    if (id == 0) break;
    const Type& t = *T(id);
    switch (t.kind) {
      case Kind::Ptr: case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::FuncProto:
      case Kind::TypeTag:
        id = t.ref;
        break;
      case Kind::Array:
        id = t.elem_type;
        break;
      default:  // INT, ENUM, ENUM64, FWD, STRUCT, UNION, TYPEDEF, FLOAT end the chain
        done = true;
        break;
    }
  }
  IdStack s{start, decl_stack_.size() - start};
  emit_type_chain(s, fname, lvl);
  decl_stack_.resize(start);
}

void CDumper::emit_mods(IdStack& s) {
  while (s.cnt != 0) {
    const Type* t = T(decl_stack_[s.start + s.cnt - 1]);
    if (t == nullptr) return;
    if (t->kind == Kind::Volatile)
      print("volatile ");
    else if (t->kind == Kind::Const)
      print("const ");
    else if (t->kind == Kind::Restrict)
      print("restrict ");
    else
      return;
    --s.cnt;
  }
}

void CDumper::drop_mods(IdStack& s) {
  while (s.cnt != 0) {
    const Type* t = T(decl_stack_[s.start + s.cnt - 1]);
    if (t == nullptr || !detail::is_modifier(t->kind)) return;
    --s.cnt;
  }
}

void CDumper::emit_name(std::string_view name, bool last_was_ptr) {
  print("{}{}", !name.empty() && !last_was_ptr ? " " : "", name);
}

void CDumper::emit_type_chain(IdStack& s, std::string_view fname, int lvl) {
  Guard g(*this);
  if (!g.ok()) return;
  // Starts true so that a lone pointer (a function pointer's `(*name)`) gets no space.
  bool last_was_ptr = true;
  while (s.cnt != 0 && !failed_) {
    const uint32_t id = decl_stack_[s.start + --s.cnt];
    if (id == 0) {
      emit_mods(s);
      print("void");
      last_was_ptr = false;
      continue;
    }
    const Type& t = *T(id);
    switch (t.kind) {
      case Kind::Int: case Kind::Float:
        emit_mods(s);
        print("{}", t.name);
        break;
      case Kind::Struct: case Kind::Union:
        emit_mods(s);
        if (t.name_off == 0)
          emit_struct_def(id, t, lvl);  // anonymous: defined inline
        else
          emit_struct_fwd(id, t);
        break;
      case Kind::Enum: case Kind::Enum64:
        emit_mods(s);
        if (t.name_off == 0)
          emit_enum_def(id, t, lvl);
        else
          emit_enum_fwd(id);
        break;
      case Kind::Fwd:
        emit_mods(s);
        emit_fwd_def(id, t);
        break;
      case Kind::Typedef:
        emit_mods(s);
        print("{}", ident_name(id));
        break;
      case Kind::Ptr: print("{}", last_was_ptr ? "*" : " *"); break;
      case Kind::Volatile: print(" volatile"); break;
      case Kind::Const: print(" const"); break;
      case Kind::Restrict: print(" restrict"); break;
      case Kind::TypeTag:
        emit_mods(s);
        if (t.kflag)
          print(" __attribute__(({}))", t.name);
        else
          print(" __attribute__((btf_type_tag(\"{}\")))", t.name);
        break;
      case Kind::Array:
        emit_array_decl(t, s, fname, lvl, last_was_ptr);
        return;
      case Kind::FuncProto:
        emit_proto_decl(t, s, fname, lvl, last_was_ptr);
        return;
      default:
        return;
    }
    last_was_ptr = t.kind == Kind::Ptr;
  }
  emit_name(fname, last_was_ptr);
}

void CDumper::emit_array_decl(const Type& t, IdStack& s, std::string_view fname, int lvl, bool last_was_ptr) {
  // GCC puts the element's const/volatile on the array too; C has no use for them.
  drop_mods(s);
  if (s.cnt == 0) {
    emit_name(fname, last_was_ptr);
    print("[{}]", t.nelems);
    return;
  }
  const Type* next = T(decl_stack_[s.start + s.cnt - 1]);
  const bool multidim = next != nullptr && next->kind == Kind::Array;
  if (!fname.empty() && !last_was_ptr) print(" ");
  if (!multidim) print("(");
  emit_type_chain(s, fname, lvl);
  if (!multidim) print(")");
  print("[{}]", t.nelems);
}

void CDumper::emit_proto_decl(const Type& t, IdStack& s, std::string_view fname, int lvl, bool last_was_ptr) {
  // GCC adds volatile to noreturn function pointers; drop it as for arrays.
  drop_mods(s);
  if (s.cnt != 0) {
    print(" (");
    emit_type_chain(s, fname, lvl);
    print(")");
  } else {
    emit_name(fname, last_was_ptr);
  }
  print("(");
  // Clang encodes `f(void)` as one void parameter.
  if (t.params.empty() || (t.params.size() == 1 && t.params[0].type == 0)) {
    print("void)");
    return;
  }
  for (size_t i = 0; i < t.params.size() && !failed_; ++i) {
    if (i > 0) print(", ");
    if (i + 1 == t.params.size() && t.params[i].type == 0) {
      print("...");
      break;
    }
    emit_type_decl(t.params[i].type, t.params[i].name, lvl);
  }
  print(")");
}

}  // namespace

Expected<std::string> dump_c(const Btf& btf, size_t max_output) {
  CDumper d(btf, max_output);
  return d.run();
}

Expected<std::string> dump_c_types(const Btf& btf, std::span<const uint32_t> roots, size_t max_output) {
  for (uint32_t id : roots)
    if (id == 0 || id >= btf.type_count())
      return fail(Errc::invalid_argument, "{}: no type {} to print (only {} types)", btf.name(), id, btf.type_count());
  CDumper d(btf, max_output);
  return d.run(roots);
}

}  // namespace xbpf::btf
