// bpftool's raw BTF dump ("bpftool btf dump file F", format raw), line for
// line: the format strings below are those of bpftool's dump_btf_type().
#include <fmt/format.h>

#include "btf/btf.hpp"

namespace xbpf::btf {

namespace {

// bpftool's btf_str(): "(anon)" for offset 0, else the string.
std::string_view str_or_anon(uint32_t name_off, std::string_view name) {
  return name_off == 0 ? std::string_view("(anon)") : name;
}

void append_members(fmt::memory_buffer& out, const Btf& btf, const Type& t) {
  switch (t.kind) {
    case Kind::Struct:
    case Kind::Union:
      for (const Member& m : t.members) {
        fmt::format_to(std::back_inserter(out), "\n\t'{}' type_id={} bits_offset={}", str_or_anon(m.name_off, m.name),
                       m.type, m.bit_offset);
        if (m.bitfield_size != 0) fmt::format_to(std::back_inserter(out), " bitfield_size={}", m.bitfield_size);
      }
      break;
    case Kind::Enum:
      for (const Enumerator& e : t.enumerators) {
        if (t.kflag)
          fmt::format_to(std::back_inserter(out), "\n\t'{}' val={}", str_or_anon(e.name_off, e.name),
                         static_cast<int32_t>(e.value));
        else
          fmt::format_to(std::back_inserter(out), "\n\t'{}' val={}", str_or_anon(e.name_off, e.name),
                         static_cast<uint32_t>(e.value));
      }
      break;
    case Kind::Enum64:
      for (const Enumerator& e : t.enumerators) {
        if (t.kflag)
          fmt::format_to(std::back_inserter(out), "\n\t'{}' val={}LL", str_or_anon(e.name_off, e.name), e.value);
        else
          fmt::format_to(std::back_inserter(out), "\n\t'{}' val={}ULL", str_or_anon(e.name_off, e.name),
                         static_cast<uint64_t>(e.value));
      }
      break;
    case Kind::FuncProto:
      for (const Param& p : t.params)
        fmt::format_to(std::back_inserter(out), "\n\t'{}' type_id={}", str_or_anon(p.name_off, p.name), p.type);
      break;
    case Kind::Datasec:
      for (const VarSecinfo& v : t.vars) {
        fmt::format_to(std::back_inserter(out), "\n\ttype_id={} offset={} size={}", v.type, v.offset, v.size);
        if (const Type* vt = btf.type(v.type))
          fmt::format_to(std::back_inserter(out), " ({} '{}')", kind_name(vt->kind), str_or_anon(vt->name_off, vt->name));
      }
      break;
    default:
      break;
  }
}

void append_type(fmt::memory_buffer& out, const Btf& btf, const Type& t) {
  auto o = std::back_inserter(out);
  fmt::format_to(o, "[{}] {} '{}'", t.id, kind_name(t.kind), str_or_anon(t.name_off, t.name));
  switch (t.kind) {
    case Kind::Int:
      fmt::format_to(o, " size={} bits_offset={} nr_bits={} encoding={}", t.size, t.int_offset, t.int_bits,
                     int_encoding_name(t.int_encoding));
      break;
    case Kind::Ptr: case Kind::Const: case Kind::Volatile: case Kind::Restrict: case Kind::Typedef:
    case Kind::TypeTag:
      fmt::format_to(o, " type_id={}", t.ref);
      break;
    case Kind::Array:
      fmt::format_to(o, " type_id={} index_type_id={} nr_elems={}", t.elem_type, t.index_type, t.nelems);
      break;
    case Kind::Struct: case Kind::Union: case Kind::Datasec:
      fmt::format_to(o, " size={} vlen={}", t.size, t.vlen);
      break;
    case Kind::Enum: case Kind::Enum64:
      fmt::format_to(o, " encoding={} size={} vlen={}", t.kflag ? "SIGNED" : "UNSIGNED", t.size, t.vlen);
      break;
    case Kind::Fwd:
      fmt::format_to(o, " fwd_kind={}", t.kflag ? "union" : "struct");
      break;
    case Kind::Func:
      fmt::format_to(o, " type_id={} linkage={}", t.ref, linkage_name(t.linkage));
      break;
    case Kind::FuncProto:
      fmt::format_to(o, " ret_type_id={} vlen={}", t.ref, t.vlen);
      break;
    case Kind::Var:
      fmt::format_to(o, " type_id={}, linkage={}", t.ref, linkage_name(t.linkage));
      break;
    case Kind::Float:
      fmt::format_to(o, " size={}", t.size);
      break;
    case Kind::DeclTag:
      fmt::format_to(o, " type_id={} component_idx={}", t.ref, t.component_idx);
      break;
    case Kind::Void:
      break;
  }
  append_members(out, btf, t);
}

}  // namespace

std::string_view int_encoding_name(uint8_t enc) {
  switch (enc) {
    case 0: return "(none)";
    case kIntSigned: return "SIGNED";
    case kIntChar: return "CHAR";
    case kIntBool: return "BOOL";
    default: return "UNKN";
  }
}

std::string_view linkage_name(uint32_t linkage) {
  switch (linkage) {
    case 0: return "static";
    case 1: return "global";
    case 2: return "extern";
    default: return "(unknown)";
  }
}

std::string dump_raw_type(const Btf& btf, uint32_t id) {
  const Type* t = btf.type(id);
  if (t == nullptr) return {};
  fmt::memory_buffer out;
  append_type(out, btf, *t);
  return fmt::to_string(out);
}

std::string dump_raw(const Btf& btf) {
  fmt::memory_buffer out;
  for (size_t id = btf.first_own_id(); id < btf.type_count(); ++id) {
    append_type(out, btf, *btf.type(static_cast<uint32_t>(id)));
    out.push_back('\n');
  }
  return fmt::to_string(out);
}

}  // namespace xbpf::btf
