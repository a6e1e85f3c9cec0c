// Helpers shared by the btf library's translation units; not part of the API.
#pragma once

#include <cstdint>
#include <optional>

#include "btf/btf.hpp"

namespace xbpf::btf::detail {

// The i-th outgoing edge of `t` in the "reference" graph: every reference
// except struct/union members. parse() requires this graph to be acyclic
// (C cannot express such a loop without a struct/union tag in it).
// nullopt once i is past the last edge; edges may be 0 (void).
[[nodiscard]] inline std::optional<uint32_t> reference_edge(const Type& t, uint32_t i) {
  switch (t.kind) {
    case Kind::Ptr: case Kind::Typedef: case Kind::Volatile: case Kind::Const: case Kind::Restrict:
    case Kind::TypeTag: case Kind::Var: case Kind::DeclTag: case Kind::Func:
      if (i == 0) return t.ref;
      return std::nullopt;
    case Kind::Array:
      if (i == 0) return t.elem_type;
      if (i == 1) return t.index_type;
      return std::nullopt;
    case Kind::FuncProto:
      if (i == 0) return t.ref;
      if (i - 1 < t.params.size()) return t.params[i - 1].type;
      return std::nullopt;
    case Kind::Datasec:
      if (i < t.vars.size()) return t.vars[i].type;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// The i-th outgoing edge of `t` in the "by value" graph: the types whose
// bytes are part of a value of `t` (pointers and function prototypes break
// the chain). A cycle here is a type containing itself by value.
[[nodiscard]] inline std::optional<uint32_t> value_edge(const Type& t, uint32_t i) {
  switch (t.kind) {
    case Kind::Typedef: case Kind::Volatile: case Kind::Const: case Kind::Restrict:
    case Kind::TypeTag: case Kind::Var:
      if (i == 0) return t.ref;
      return std::nullopt;
    case Kind::Array:
      if (i == 0) return t.elem_type;
      return std::nullopt;
    case Kind::Struct: case Kind::Union:
      if (i < t.members.size()) return t.members[i].type;
      return std::nullopt;
    case Kind::Datasec:
      if (i < t.vars.size()) return t.vars[i].type;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// True for CONST, VOLATILE, RESTRICT and TYPE_TAG (libbpf's btf_is_mod).
[[nodiscard]] inline bool is_modifier(Kind k) {
  return k == Kind::Const || k == Kind::Volatile || k == Kind::Restrict || k == Kind::TypeTag;
}

// Deepest nesting the recursive printers follow before giving up.
inline constexpr unsigned kMaxNesting = 512;

}  // namespace xbpf::btf::detail
