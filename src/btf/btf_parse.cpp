// Btf::parse: decodes and validates a .BTF blob in one linear pass over the
// type section, then checks cross-references (ids in range, FUNC -> FUNC_PROTO,
// no reference cycles) and precomputes layout facts (alignment, by-value
// cycles) so that every later query is bounded.
#include <algorithm>
#include <bit>
#include <cstring>

#include "btf/btf.hpp"
#include "btf/btf_internal.hpp"

namespace xbpf::btf {

static_assert(std::endian::native == std::endian::little, "BTF decoding assumes a little-endian host");

namespace {

constexpr size_t kHeaderSize = 24;     // struct btf_header
constexpr size_t kTypeSize = 12;       // struct btf_type
constexpr uint32_t kMaxStrOffset = 0x7fffffff;

uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Bytes of trailing data after the 12-byte btf_type, by kind.
size_t extra_size(Kind k, uint16_t vlen) {
  switch (k) {
    case Kind::Int:
    case Kind::Var:
    case Kind::DeclTag: return 4;
    case Kind::Array: return 12;
    case Kind::Struct:
    case Kind::Union:
    case Kind::Datasec:
    case Kind::Enum64: return size_t{vlen} * 12;
    case Kind::Enum:
    case Kind::FuncProto: return size_t{vlen} * 8;
    default: return 0;
  }
}

}  // namespace

// Friend of Btf: fills its private vectors. One instance per parse() call.
class Parser {
 public:
  Parser(Btf& b) : b_(b) {}

  Expected<void> run() {
    if (auto r = parse_header(); !r) return r;
    if (auto r = decode_types(); !r) return r;
    fix_spans();
    if (auto r = check_references(); !r) return r;
    if (auto r = check_reference_cycles(); !r) return r;
    b_.compute_layout();
    b_.build_name_index();
    return {};
  }

 private:
  template <class... Args>
  Unexpected<Error> err(fmt::format_string<Args...> f, Args&&... args) {
    return fail(Errc::invalid_program, "{}: {}", b_.name_, fmt::format(f, std::forward<Args>(args)...));
  }
  // "type [42] STRUCT 'foo'" for a type being decoded (names may be unchecked yet).
  std::string what(const Type& t) const {
    return fmt::format("type [{}] {}{}", t.id, kind_name(t.kind),
                       t.name.empty() ? std::string() : fmt::format(" '{}'", t.name));
  }

  Expected<void> parse_header();
  Expected<void> decode_types();
  Expected<void> decode_one(Type& t, const uint8_t* p, size_t left, size_t& used);
  Expected<void> decode_fixed(Type& t, const uint8_t* x);
  Expected<void> decode_trailer(Type& t, const uint8_t* x);
  Expected<void> check_shape(const Type& t);
  // `field` and `index` only name the string in the error message ("member 3").
  Expected<std::string_view> name_at(uint32_t off, const Type& t, std::string_view field, int index = -1);
  void fix_spans();
  // `what_ref`/`index` name the reference in the error message ("member 3").
  Expected<void> check_id(const Type& t, uint32_t id, std::string_view what_ref, int index = -1);
  Expected<void> check_references();
  Expected<void> check_reference_cycles();

  Btf& b_;
  std::span<const uint8_t> types_sec_;
  std::vector<uint32_t> extra_start_;  // per type: first index into its member/param/... vector
};

Expected<void> Parser::parse_header() {
  std::span<const uint8_t> d = b_.data_;
  if (d.size() < kHeaderSize) return err("too short for a BTF header ({} bytes, need {})", d.size(), kHeaderSize);
  uint16_t magic = static_cast<uint16_t>(d[0] | (d[1] << 8));
  if (magic == 0x9feb) return fail(Errc::unsupported, "{}: big-endian BTF is not supported", b_.name_);
  if (magic != kMagic) return err("bad magic 0x{:04x} (expected 0x{:04x})", magic, kMagic);
  if (d[2] != 1) return err("unsupported BTF version {}", d[2]);
  if (d[3] != 0) return err("unsupported BTF flags 0x{:x}", d[3]);
  const uint32_t hdr_len = rd32(&d[4]), type_off = rd32(&d[8]), type_len = rd32(&d[12]);
  const uint32_t str_off = rd32(&d[16]), str_len = rd32(&d[20]);
  if (hdr_len < kHeaderSize) return err("header length {} is smaller than {}", hdr_len, kHeaderSize);
  if (hdr_len > d.size()) return err("header length {} runs past the end ({} bytes)", hdr_len, d.size());
  const uint64_t meta = d.size() - hdr_len;
  if (uint64_t{type_off} + type_len > meta)
    return err("type section ({} bytes at {}) runs past the end ({} bytes after the header)", type_len, type_off, meta);
  if (uint64_t{str_off} + str_len > meta)
    return err("string section ({} bytes at {}) runs past the end ({} bytes after the header)", str_len, str_off, meta);
  if (uint64_t{type_off} + type_len > str_off)
    return err("type section ({} bytes at {}) overlaps the string section at {}", type_len, type_off, str_off);
  if (type_off % 4 != 0) return err("type section offset {} is not 4-byte aligned", type_off);
  types_sec_ = d.subspan(hdr_len + type_off, type_len);
  b_.strings_ = d.subspan(hdr_len + str_off, str_len);
  if (str_len == 0) {
    if (b_.base_ == nullptr) return err("empty string section");
    return {};
  }
  if (str_len - 1 > kMaxStrOffset) return err("string section too large ({} bytes)", str_len);
  if (b_.strings_.back() != 0) return err("string section does not end with a NUL byte");
  if (b_.base_ == nullptr && b_.strings_[0] != 0) return err("string section does not start with an empty string");
  return {};
}

Expected<std::string_view> Parser::name_at(uint32_t off, const Type& t, std::string_view field, int index) {
  if (off == 0) return std::string_view{};
  auto s = b_.string_at(off);
  if (!s) {
    const size_t total = b_.str_base_ + b_.strings_.size();
    const std::string which = index < 0 ? std::string(field) : fmt::format("{} {}", field, index);
    return err("{}: {} name offset {} is outside the string section ({} bytes)", what(t), which, off, total);
  }
  return *s;
}

Expected<void> Parser::decode_types() {
  // Every type is at least 12 bytes: reserving by that bound keeps the vector
  // from reallocating without a counting pre-pass.
  b_.types_.reserve(types_sec_.size() / kTypeSize);
  extra_start_.reserve(types_sec_.size() / kTypeSize);
  const uint64_t max_types = 0xffffffffULL - b_.first_id_;
  size_t pos = 0;
  while (pos < types_sec_.size()) {
    if (b_.types_.size() >= max_types) return err("too many types");
    Type& t = b_.types_.emplace_back();
    t.id = static_cast<uint32_t>(b_.first_id_ + b_.types_.size() - 1);
    size_t used = 0;
    if (auto r = decode_one(t, types_sec_.data() + pos, types_sec_.size() - pos, used); !r) return r;
    pos += used;
  }
  return {};
}

Expected<void> Parser::decode_one(Type& t, const uint8_t* p, size_t left, size_t& used) {
  if (left < kTypeSize)
    return err("type [{}]: truncated ({} bytes left in the type section, need {})", t.id, left, kTypeSize);
  t.name_off = rd32(p);
  const uint32_t info = rd32(p + 4);
  t.vlen = static_cast<uint16_t>(info & 0xffff);
  const uint32_t kind = (info >> 24) & 0x1f;
  t.kflag = (info >> 31) != 0;
  if (kind == 0 || kind > static_cast<uint32_t>(Kind::Enum64))
    return err("type [{}]: unknown kind {}", t.id, kind);
  t.kind = static_cast<Kind>(kind);
  if ((info & 0x60ff0000u) != 0) return err("type [{}] {}: reserved info bits set (0x{:08x})", t.id, kind_name(t.kind), info);
  auto name = name_at(t.name_off, t, "type");
  if (!name) return unexpected(std::move(name).error());
  t.name = *name;
  const uint32_t size_or_type = rd32(p + 8);
  switch (t.kind) {
    case Kind::Int: case Kind::Struct: case Kind::Union: case Kind::Enum:
    case Kind::Enum64: case Kind::Datasec: case Kind::Float:
      t.size = size_or_type;
      break;
    default:
      t.ref = size_or_type;
  }
  const size_t extra = extra_size(t.kind, t.vlen);
  if (left - kTypeSize < extra)
    return err("{}: vlen {} needs {} bytes but only {} are left in the type section", what(t), t.vlen, extra,
               left - kTypeSize);
  used = kTypeSize + extra;
  if (auto r = check_shape(t); !r) return r;
  return decode_trailer(t, p + kTypeSize);
}

// Per-kind rules on the fixed fields (kernel's btf_check_meta, minus the
// parts clang-produced objects legitimately violate, such as DATASEC size 0).
Expected<void> Parser::check_shape(const Type& t) {
  const bool has_vlen = t.kind == Kind::Struct || t.kind == Kind::Union || t.kind == Kind::Enum ||
                        t.kind == Kind::Enum64 || t.kind == Kind::FuncProto || t.kind == Kind::Datasec ||
                        t.kind == Kind::Func;
  if (!has_vlen && t.vlen != 0) return err("{}: vlen must be 0, is {}", what(t), t.vlen);
  const bool kflag_ok = t.kind == Kind::Struct || t.kind == Kind::Union || t.kind == Kind::Enum ||
                        t.kind == Kind::Enum64 || t.kind == Kind::Fwd || t.kind == Kind::TypeTag;
  if (t.kflag && !kflag_ok) return err("{}: kind_flag must be 0", what(t));
  const bool needs_name = t.kind == Kind::Typedef || t.kind == Kind::Func || t.kind == Kind::Var ||
                          t.kind == Kind::DeclTag || t.kind == Kind::TypeTag || t.kind == Kind::Fwd ||
                          t.kind == Kind::Datasec;
  if (needs_name && t.name.empty()) return err("{}: must have a name", what(t));
  if (t.kind == Kind::Func && t.vlen > 2) return err("{}: unknown linkage {}", what(t), t.vlen);
  if ((t.kind == Kind::Enum && t.size != 1 && t.size != 2 && t.size != 4 && t.size != 8) ||
      (t.kind == Kind::Enum64 && t.size != 1 && t.size != 2 && t.size != 4 && t.size != 8))
    return err("{}: invalid size {}", what(t), t.size);
  if (t.kind == Kind::Float && t.size != 2 && t.size != 4 && t.size != 8 && t.size != 12 && t.size != 16)
    return err("{}: invalid size {}", what(t), t.size);
  return {};
}

// The fixed-size trailer of INT, ARRAY, VAR and DECL_TAG.
Expected<void> Parser::decode_fixed(Type& t, const uint8_t* x) {
  switch (t.kind) {
    case Kind::Int: {
      const uint32_t v = rd32(x);
      t.int_encoding = static_cast<uint8_t>((v >> 24) & 0x0f);
      t.int_offset = static_cast<uint8_t>((v >> 16) & 0xff);
      t.int_bits = static_cast<uint8_t>(v & 0xff);
      if ((v & 0xf000ff00u) != 0) return err("{}: reserved bits set in int info 0x{:08x}", what(t), v);
      if (t.size != 1 && t.size != 2 && t.size != 4 && t.size != 8 && t.size != 16)
        return err("{}: invalid size {}", what(t), t.size);
      if (t.int_bits == 0 || t.int_bits > 128 || t.int_offset + t.int_bits > t.size * 8)
        return err("{}: {} bits at offset {} do not fit in {} bytes", what(t), t.int_bits, t.int_offset, t.size);
      if (t.int_encoding != 0 && t.int_encoding != kIntSigned && t.int_encoding != kIntChar &&
          t.int_encoding != kIntBool)
        return err("{}: invalid encoding 0x{:x}", what(t), t.int_encoding);
      break;
    }
    case Kind::Array:
      t.elem_type = rd32(x);
      t.index_type = rd32(x + 4);
      t.nelems = rd32(x + 8);
      break;
    case Kind::Var:
      t.linkage = rd32(x);
      if (t.linkage > 2) return err("{}: unknown linkage {}", what(t), t.linkage);
      break;
    case Kind::DeclTag:
      t.component_idx = static_cast<int32_t>(rd32(x));
      if (t.component_idx < -1) return err("{}: invalid component_idx {}", what(t), t.component_idx);
      break;
    case Kind::Func:
      t.linkage = t.vlen;
      break;
    default:
      break;
  }
  return {};
}

// The vlen records of STRUCT/UNION, ENUM/ENUM64, FUNC_PROTO and DATASEC.
Expected<void> Parser::decode_trailer(Type& t, const uint8_t* x) {
  if (auto r = decode_fixed(t, x); !r) return r;
  extra_start_.push_back(0);
  const uint16_t n = t.vlen;
  switch (t.kind) {
    case Kind::Struct:
    case Kind::Union:
      extra_start_.back() = static_cast<uint32_t>(b_.members_.size());
      for (uint16_t i = 0; i < n; ++i, x += 12) {
        Member& m = b_.members_.emplace_back();
        m.name_off = rd32(x);
        m.type = rd32(x + 4);
        const uint32_t off = rd32(x + 8);
        m.bit_offset = t.kflag ? off & 0xffffff : off;
        m.bitfield_size = t.kflag ? off >> 24 : 0;
        auto nm = name_at(m.name_off, t, "member", i);
        if (!nm) return unexpected(std::move(nm).error());
        m.name = *nm;
      }
      break;
    case Kind::Enum:
    case Kind::Enum64:
      extra_start_.back() = static_cast<uint32_t>(b_.enumerators_.size());
      for (uint16_t i = 0; i < n; ++i) {
        Enumerator& e = b_.enumerators_.emplace_back();
        e.name_off = rd32(x);
        if (t.kind == Kind::Enum) {
          const uint32_t v = rd32(x + 4);
          e.value = t.kflag ? int64_t{static_cast<int32_t>(v)} : int64_t{v};
          x += 8;
        } else {
          e.value = static_cast<int64_t>((uint64_t{rd32(x + 8)} << 32) | rd32(x + 4));
          x += 12;
        }
        auto nm = name_at(e.name_off, t, "value", i);
        if (!nm) return unexpected(std::move(nm).error());
        if (nm->empty()) return err("{}: value {} has no name", what(t), i);
        e.name = *nm;
      }
      break;
    case Kind::FuncProto:
      extra_start_.back() = static_cast<uint32_t>(b_.params_.size());
      for (uint16_t i = 0; i < n; ++i, x += 8) {
        Param& p = b_.params_.emplace_back();
        p.name_off = rd32(x);
        p.type = rd32(x + 4);
        auto nm = name_at(p.name_off, t, "parameter", i);
        if (!nm) return unexpected(std::move(nm).error());
        p.name = *nm;
      }
      break;
    case Kind::Datasec:
      extra_start_.back() = static_cast<uint32_t>(b_.vars_.size());
      for (uint16_t i = 0; i < n; ++i, x += 12) b_.vars_.push_back(VarSecinfo{rd32(x), rd32(x + 4), rd32(x + 8)});
      break;
    default:
      break;
  }
  return {};
}

void Parser::fix_spans() {
  for (size_t i = 0; i < b_.types_.size(); ++i) {
    Type& t = b_.types_[i];
    const uint32_t s = extra_start_[i];
    switch (t.kind) {
      case Kind::Struct:
      case Kind::Union: t.members = {b_.members_.data() + s, t.vlen}; break;
      case Kind::Enum:
      case Kind::Enum64: t.enumerators = {b_.enumerators_.data() + s, t.vlen}; break;
      case Kind::FuncProto: t.params = {b_.params_.data() + s, t.vlen}; break;
      case Kind::Datasec: t.vars = {b_.vars_.data() + s, t.vlen}; break;
      default: break;
    }
  }
  extra_start_ = {};
}

Expected<void> Parser::check_id(const Type& t, uint32_t id, std::string_view what_ref, int index) {
  if (id < b_.type_count()) return {};
  std::string which(what_ref);
  if (index >= 0) which += fmt::format(" {}", index);
  if (!which.empty()) which += ' ';
  return err("{}: {}refers to type {} (only {} types)", what(t), which, id, b_.type_count() - 1);
}

Expected<void> Parser::check_references() {
  for (const Type& t : b_.types_) {
    Expected<void> r;
    switch (t.kind) {
      case Kind::Ptr: case Kind::Typedef: case Kind::Volatile: case Kind::Const: case Kind::Restrict:
      case Kind::TypeTag: case Kind::Var: case Kind::DeclTag: case Kind::Func:
        r = check_id(t, t.ref, "");
        if (r && t.kind == Kind::Func) {
          const Type* proto = b_.type(t.ref);
          if (proto == nullptr || proto->kind != Kind::FuncProto)
            return err("{}: refers to {} which is not a FUNC_PROTO", what(t), b_.describe(t.ref));
        }
        break;
      case Kind::FuncProto:
        r = check_id(t, t.ref, "its return type");
        for (size_t i = 0; r && i < t.params.size(); ++i) {
          r = check_id(t, t.params[i].type, "parameter", static_cast<int>(i));
          if (r && t.params[i].type == 0 && i + 1 != t.params.size())
            return err("{}: parameter {} is void but not the last (vararg) one", what(t), i);
        }
        break;
      case Kind::Array:
        r = check_id(t, t.elem_type, "its element type");
        if (r) r = check_id(t, t.index_type, "its index type");
        if (r && t.elem_type == 0) return err("{}: element type is void", what(t));
        break;
      case Kind::Struct: case Kind::Union:
        for (size_t i = 0; r && i < t.members.size(); ++i) {
          r = check_id(t, t.members[i].type, "member", static_cast<int>(i));
          if (r && t.members[i].type == 0) return err("{}: member {} has type void", what(t), i);
        }
        break;
      case Kind::Datasec:
        for (size_t i = 0; r && i < t.vars.size(); ++i) {
          r = check_id(t, t.vars[i].type, "variable", static_cast<int>(i));
          if (r && t.vars[i].type == 0) return err("{}: variable {} has type void", what(t), i);
        }
        break;
      default:
        break;
    }
    if (!r) return r;
  }
  return {};
}

// Outside struct/union members, every reference must lead to a struct,
// union or terminal type: C cannot express a typedef, pointer, array or
// function-prototype chain that loops back on itself, and following one
// (resolve(), the C printer) would never end. Iterative DFS, O(types).
Expected<void> Parser::check_reference_cycles() {
  const uint32_t first = b_.first_id_;
  std::vector<uint8_t> state(b_.types_.size(), 0);  // 0 new, 1 on stack, 2 done
  struct Frame { uint32_t id; uint32_t next; };
  std::vector<Frame> stack;
  for (uint32_t root = 0; root < b_.types_.size(); ++root) {
    if (state[root] != 0) continue;
    stack.push_back({first + root, 0});
    state[root] = 1;
    while (!stack.empty()) {
      Frame& f = stack.back();
      const Type& t = b_.types_[f.id - first];
      auto child = detail::reference_edge(t, f.next++);
      if (!child) {
        state[f.id - first] = 2;
        stack.pop_back();
        continue;
      }
      if (*child < first) continue;  // void or base type: base has no edges into us
      uint8_t& s = state[*child - first];
      if (s == 2) continue;
      if (s == 1) {
        std::string path;
        auto it = std::find_if(stack.begin(), stack.end(), [&](const Frame& g) { return g.id == *child; });
        for (; it != stack.end(); ++it) path += b_.describe(it->id) + " -> ";
        return err("{}: reference cycle: {}[{}]", b_.describe(*child).insert(0, "type "), path, *child);
      }
      s = 1;
      stack.push_back({*child, 0});
    }
  }
  return {};
}

Expected<Btf> Btf::parse(std::span<const uint8_t> data, std::string name, const Btf* base) {
  return parse_owned(std::vector<uint8_t>(data.begin(), data.end()), std::move(name), base);
}

Expected<Btf> Btf::parse_owned(std::vector<uint8_t> bytes, std::string name, const Btf* base) {
  Btf b;
  b.name_ = std::move(name);
  b.base_ = base;
  if (base != nullptr) {
    b.first_id_ = static_cast<uint32_t>(base->type_count());
    b.str_base_ = static_cast<uint32_t>(base->str_base_ + base->strings_.size());
  }
  b.data_ = std::move(bytes);
  Parser p(b);
  if (auto r = p.run(); !r) return unexpected(r.error());
  return b;
}

}  // namespace xbpf::btf
