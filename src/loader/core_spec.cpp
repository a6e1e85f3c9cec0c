// CO-RE access specifications: parsing against the local BTF, matching
// against a target type, computing relocated values. Follows libbpf's
// relo_core.c rules so that objects relocate the same way.
#include "loader/core_spec.hpp"

#include <algorithm>

namespace xbpf::loader::detail {
namespace {

using btf::CoreReloKind;
using btf::Kind;

constexpr size_t kMaxSpecLen = 64;  // BPF_CORE_SPEC_MAX_LEN
constexpr int kMaxCompatDepth = 32;

using Budget = CoreBudget;

bool is_composite(const btf::Type* t) { return t && (t->kind == Kind::Struct || t->kind == Kind::Union); }
bool is_enum(const btf::Type* t) { return t && (t->kind == Kind::Enum || t->kind == Kind::Enum64); }

// Struct/union and enum/enum64 relocate into each other; otherwise kinds match.
bool kind_compat(const btf::Type* a, const btf::Type* b) {
  return a->kind == b->kind || (is_enum(a) && is_enum(b));
}

const btf::Type* skip(const btf::Btf& b, uint32_t id, uint32_t* out_id) {
  uint32_t r = b.resolve(id);
  if (out_id) *out_id = r;
  return b.type(r);
}

// A zero-length array that is the last member of its struct.
bool is_flex_array(const btf::Btf& b, const CoreAccessor* prev, const btf::Type* arr) {
  if (!prev || prev->name.empty() || arr->nelems > 0) return false;
  const btf::Type* s = b.type(prev->type_id);
  return s && prev->idx + 1 == s->members.size();
}

Expected<uint64_t> size_of(const btf::Btf& b, uint32_t id) { return b.size_of(id); }

Unexpected<Error> spec_error(const btf::Btf& b, const btf::CoreRelo& r, std::string_view why) {
  return fail(Errc::invalid_program, "CO-RE access '{}' on [{}] {}: {}", r.access, r.type_id, b.name_of(r.type_id),
              why);
}

// Fields are compatible when libbpf's bpf_core_fields_are_compat says so.
bool fields_compat(const btf::Btf& lb, uint32_t lid, const btf::Btf& tb, uint32_t tid) {
  for (int depth = 0; depth < kMaxCompatDepth; ++depth) {
    const btf::Type* l = skip(lb, lid, &lid);
    const btf::Type* t = skip(tb, tid, &tid);
    if (!l || !t) return !l && !t;
    if (is_composite(l) && is_composite(t)) return true;
    if (!kind_compat(l, t)) return false;
    switch (l->kind) {
      case Kind::Ptr:
      case Kind::Float: return true;
      case Kind::Fwd:
      case Kind::Enum:
      case Kind::Enum64: {
        auto ln = btf::essential_name(l->name), tn = btf::essential_name(t->name);
        return ln.empty() || tn.empty() || ln == tn;
      }
      case Kind::Int: return l->int_offset == 0 && t->int_offset == 0;
      case Kind::Array: lid = l->elem_type, tid = t->elem_type; continue;
      default: return false;
    }
  }
  return false;
}

// libbpf's bpf_core_types_are_compat (type-based relocations).
bool types_compat(const btf::Btf& lb, uint32_t lid, const btf::Btf& tb, uint32_t tid, int level, Budget& budget) {
  for (int depth = 0; depth < kMaxCompatDepth; ++depth) {
    if (!budget.spend()) return false;
    const btf::Type* l = skip(lb, lid, &lid);
    const btf::Type* t = skip(tb, tid, &tid);
    if (!l || !t) return !l && !t;
    if (!kind_compat(l, t)) return false;
    switch (l->kind) {
      case Kind::Struct:
      case Kind::Union:
      case Kind::Enum:
      case Kind::Enum64:
      case Kind::Fwd: return true;
      case Kind::Int: return l->int_offset == 0 && t->int_offset == 0;
      case Kind::Ptr: lid = l->ref, tid = t->ref; continue;
      case Kind::Array: lid = l->elem_type, tid = t->elem_type; continue;
      case Kind::FuncProto:
        if (l->params.size() != t->params.size() || level <= 0) return false;
        for (size_t i = 0; i < l->params.size(); ++i)
          if (!types_compat(lb, l->params[i].type, tb, t->params[i].type, level - 1, budget)) return false;
        lid = l->ref, tid = t->ref;
        continue;
      default: return false;
    }
  }
  return false;
}

bool names_match(std::string_view l, std::string_view t) {
  if (t.empty()) return l.empty();
  return btf::essential_name(l) == btf::essential_name(t);
}

// libbpf's __bpf_core_types_match (TYPE_MATCHES relocations).
int types_match(const btf::Btf& lb, uint32_t lid, const btf::Btf& tb, uint32_t tid, bool behind_ptr, int level,
                Budget& budget) {
  if (level <= 0) return -1;
  for (int depth = 0; depth < kMaxCompatDepth; ++depth) {
    if (!budget.spend()) return -1;
    const btf::Type* l = skip(lb, lid, &lid);
    const btf::Type* t = skip(tb, tid, &tid);
    if (!l || !t) return !l && !t;
    if (!names_match(l->name, t->name)) return 0;
    switch (l->kind) {
      case Kind::Fwd:
        if (behind_ptr && t->kind != Kind::Fwd)
          return (t->kind == Kind::Struct && !l->kflag) || (t->kind == Kind::Union && l->kflag);
        return t->kind == Kind::Fwd && l->kflag == t->kflag;
      case Kind::Enum:
      case Kind::Enum64: {
        if (!is_enum(t) || l->size != t->size || l->enumerators.size() > t->enumerators.size()) return 0;
        for (const auto& le : l->enumerators)
          if (std::none_of(t->enumerators.begin(), t->enumerators.end(),
                           [&](const btf::Enumerator& te) { return names_match(le.name, te.name); }))
            return 0;
        return 1;
      }
      case Kind::Struct:
      case Kind::Union:
        if (behind_ptr) return l->kind == t->kind || (t->kind == Kind::Fwd && (l->kind == Kind::Union) == t->kflag);
        if (l->kind != t->kind || l->members.size() > t->members.size()) return 0;
        for (const btf::Member& lm : l->members) {
          bool matched = false;
          for (const btf::Member& tm : t->members) {
            if (!names_match(lm.name, tm.name)) continue;
            int r = types_match(lb, lm.type, tb, tm.type, behind_ptr, level - 1, budget);
            if (r < 0) return r;
            if (r > 0) { matched = true; break; }
          }
          if (!matched) return 0;
        }
        return 1;
      case Kind::Int:
        return t->kind == Kind::Int && l->size == t->size &&
               (l->int_encoding & btf::kIntSigned) == (t->int_encoding & btf::kIntSigned);
      case Kind::Ptr:
        if (t->kind != Kind::Ptr) return 0;
        behind_ptr = true, lid = l->ref, tid = t->ref;
        continue;
      case Kind::Array:
        if (t->kind != Kind::Array || l->nelems != t->nelems) return 0;
        lid = l->elem_type, tid = t->elem_type;
        continue;
      case Kind::FuncProto:
        if (t->kind != Kind::FuncProto || l->params.size() != t->params.size()) return 0;
        for (size_t i = 0; i < l->params.size(); ++i) {
          int r = types_match(lb, l->params[i].type, tb, t->params[i].type, behind_ptr, level - 1, budget);
          if (r <= 0) return r;
        }
        lid = l->ref, tid = t->ref;
        continue;
      default: return 0;
    }
  }
  return -1;
}

// Finds local member `lacc` among the members of target composite `tid`,
// descending into anonymous members; extends `spec` on success.
Expected<bool> match_member(const btf::Btf& lb, const CoreAccessor& lacc, const btf::Btf& tb, uint32_t tid,
                            CoreSpec& spec, uint32_t& next, Budget& budget) {
  if (!budget.spend()) return fail(Errc::invalid_program, "CO-RE: target type graph too complex to match");
  const btf::Type* t = skip(tb, tid, &tid);
  if (!is_composite(t)) return false;
  const btf::Member& lm = lb.type(lacc.type_id)->members[lacc.idx];
  for (uint32_t i = 0; i < t->members.size(); ++i) {
    const btf::Member& m = t->members[i];
    if (spec.raw.size() == kMaxSpecLen) return fail(Errc::invalid_program, "CO-RE: target nesting too deep");
    spec.bit_offset += m.bit_offset;
    spec.raw.push_back(i);
    if (m.name.empty()) {
      auto found = match_member(lb, lacc, tb, m.type, spec, next, budget);
      if (!found || *found) return found;
    } else if (m.name == lm.name) {
      next = m.type;
      if (!fields_compat(lb, lm.type, tb, m.type)) return false;
      spec.acc.push_back({tid, i, m.name});
      return true;
    }
    spec.bit_offset -= m.bit_offset;
    spec.raw.pop_back();
  }
  return false;
}

Expected<std::optional<CoreSpec>> match_enumval(const CoreSpec& local, const btf::Btf& targ, uint32_t targ_id,
                                                CoreSpec out) {
  const btf::Type* t = skip(targ, targ_id, &targ_id);
  if (!is_enum(t)) return std::optional<CoreSpec>{};
  auto want = btf::essential_name(local.acc[0].name);
  for (uint32_t i = 0; i < t->enumerators.size(); ++i) {
    if (btf::essential_name(t->enumerators[i].name) != want) continue;
    out.acc.push_back({targ_id, i, t->enumerators[i].name});
    out.raw.push_back(i);
    return std::optional<CoreSpec>(std::move(out));
  }
  return std::optional<CoreSpec>{};
}

}  // namespace

bool core_is_field(btf::CoreReloKind k) { return uint32_t(k) <= uint32_t(CoreReloKind::FieldRShiftU64); }
bool core_is_type(btf::CoreReloKind k) {
  return k == CoreReloKind::TypeIdLocal || k == CoreReloKind::TypeIdTarget || k == CoreReloKind::TypeExists ||
         k == CoreReloKind::TypeSize || k == CoreReloKind::TypeMatches;
}
bool core_is_enumval(btf::CoreReloKind k) {
  return k == CoreReloKind::EnumvalExists || k == CoreReloKind::EnumvalValue;
}

Expected<CoreSpec> core_parse_spec(const btf::Btf& b, const btf::CoreRelo& r) {
  CoreSpec s;
  s.btf = &b;
  s.root = r.type_id;
  s.kind = r.kind;
  if (!b.type(r.type_id)) return spec_error(b, r, "type id out of range");
  if (core_is_type(r.kind)) {
    if (r.access != "0") return spec_error(b, r, "type relocations take access \"0\"");
    return s;
  }
  auto raw = btf::parse_access(r.access);
  if (!raw) return spec_error(b, r, raw.error().message);
  if (raw->empty() || raw->size() > kMaxSpecLen) return spec_error(b, r, "access string length");
  s.raw = std::move(*raw);
  uint32_t id = 0;
  const btf::Type* t = skip(b, r.type_id, &id);
  if (!t) return spec_error(b, r, "resolves to void");
  s.acc.push_back({id, s.raw[0], {}});
  if (core_is_enumval(r.kind)) {
    if (!is_enum(t) || s.raw.size() > 1 || s.raw[0] >= t->enumerators.size())
      return spec_error(b, r, "not an enumerator of an enum");
    s.acc[0].name = t->enumerators[s.raw[0]].name;
    return s;
  }
  if (!core_is_field(r.kind)) return spec_error(b, r, "unknown relocation kind");
  auto sz = size_of(b, id);
  if (!sz) return spec_error(b, r, sz.error().message);
  s.bit_offset = uint64_t(s.raw[0]) * *sz * 8;
  for (size_t i = 1; i < s.raw.size(); ++i) {
    t = skip(b, id, &id);
    const uint32_t idx = s.raw[i];
    if (is_composite(t)) {
      if (idx >= t->members.size()) return spec_error(b, r, "member index out of range");
      const btf::Member& m = t->members[idx];
      s.bit_offset += m.bit_offset;
      if (!m.name.empty()) s.acc.push_back({id, idx, m.name});
      id = m.type;
    } else if (t && t->kind == Kind::Array) {
      const bool flex = is_flex_array(b, &s.acc.back(), t);
      if (!skip(b, t->elem_type, &id)) return spec_error(b, r, "array of void");
      if (!flex && idx >= t->nelems) return spec_error(b, r, "array index out of range");
      s.acc.push_back({id, idx, {}});
      auto esz = size_of(b, id);
      if (!esz) return spec_error(b, r, esz.error().message);
      s.bit_offset += uint64_t(idx) * *esz * 8;
    } else {
      return spec_error(b, r, fmt::format("step {} is into a {}", i, t ? btf::kind_name(t->kind) : "void"));
    }
  }
  return s;
}

Expected<std::optional<CoreSpec>> core_match_spec(const CoreSpec& local, const btf::Btf& targ, uint32_t targ_id,
                                                  CoreBudget& budget) {
  CoreSpec out;
  out.btf = &targ;
  out.root = targ_id;
  out.kind = local.kind;
  if (core_is_type(local.kind)) {
    bool ok = local.kind == CoreReloKind::TypeMatches
                  ? types_match(*local.btf, local.root, targ, targ_id, false, kMaxCompatDepth, budget) > 0
                  : types_compat(*local.btf, local.root, targ, targ_id, kMaxCompatDepth, budget);
    if (budget.steps < 0) return fail(Errc::invalid_program, "CO-RE: target type graph too complex to match");
    return ok ? std::optional<CoreSpec>(std::move(out)) : std::nullopt;
  }
  if (core_is_enumval(local.kind)) return match_enumval(local, targ, targ_id, std::move(out));
  for (size_t i = 0; i < local.acc.size(); ++i) {
    const CoreAccessor& la = local.acc[i];
    const btf::Type* t = skip(targ, targ_id, &targ_id);
    if (!t) return std::optional<CoreSpec>{};
    if (!la.name.empty()) {
      auto m = match_member(*local.btf, la, targ, targ_id, out, targ_id, budget);
      if (!m) return unexpected(m.error());
      if (!*m) return std::optional<CoreSpec>{};
      continue;
    }
    if (i > 0) {
      if (t->kind != Kind::Array) return std::optional<CoreSpec>{};
      const bool flex = is_flex_array(targ, out.acc.empty() ? nullptr : &out.acc.back(), t);
      if (!flex && la.idx >= t->nelems) return std::optional<CoreSpec>{};
      if (!skip(targ, t->elem_type, &targ_id)) return std::optional<CoreSpec>{};
    }
    if (out.raw.size() == kMaxSpecLen) return fail(Errc::invalid_program, "CO-RE: target nesting too deep");
    out.acc.push_back({targ_id, la.idx, {}});
    out.raw.push_back(la.idx);
    auto sz = size_of(targ, targ_id);
    if (!sz) return std::optional<CoreSpec>{};
    out.bit_offset += uint64_t(la.idx) * *sz * 8;
  }
  return std::optional<CoreSpec>(std::move(out));
}

namespace {

Expected<CoreValue> calc_field(CoreReloKind kind, const CoreSpec* spec) {
  CoreValue v;
  if (kind == CoreReloKind::FieldExists) {
    v.value = spec ? 1 : 0;
    return v;
  }
  if (!spec) {
    v.poison = true;
    return v;
  }
  const btf::Btf& b = *spec->btf;
  const CoreAccessor& acc = spec->acc.back();
  if (acc.name.empty()) {  // a[n]: only the element's offset and size make sense
    auto sz = b.size_of(acc.type_id);
    if (!sz) return unexpected(sz.error());
    if (kind == CoreReloKind::FieldByteOffset)
      v.value = spec->bit_offset / 8, v.mem_size = uint32_t(*sz), v.mem_type = acc.type_id;
    else if (kind == CoreReloKind::FieldByteSize)
      v.value = *sz;
    else
      return fail(Errc::invalid_program, "CO-RE: {} cannot apply to an array element", btf::core_relo_kind_name(kind));
    return v;
  }
  const btf::Member& m = b.type(acc.type_id)->members[acc.idx];
  uint32_t ftype = 0;
  const btf::Type* mt = skip(b, m.type, &ftype);
  const uint64_t bit_off = spec->bit_offset;
  uint64_t bit_sz = m.bitfield_size, byte_sz = 0, byte_off = 0;
  const bool bitfield = bit_sz > 0;
  if (bitfield) {
    if (!mt || mt->size == 0) return fail(Errc::invalid_program, "CO-RE: bitfield of unsized type");
    byte_sz = mt->size;
    byte_off = bit_off / 8 / byte_sz * byte_sz;
    while (bit_off + bit_sz - byte_off * 8 > byte_sz * 8) {  // smallest load covering the bits
      if (byte_sz >= 8) return fail(Errc::invalid_program, "CO-RE: bitfield cannot be read with a 64-bit load");
      byte_sz *= 2;
      byte_off = bit_off / 8 / byte_sz * byte_sz;
    }
  } else {
    auto sz = b.size_of(ftype);
    if (!sz) return unexpected(sz.error());
    byte_sz = *sz, byte_off = bit_off / 8, bit_sz = byte_sz * 8;
  }
  v.validate = !bitfield;  // bitfield offsets may legitimately differ from the compiler's
  switch (kind) {
    case CoreReloKind::FieldByteOffset:
      v.value = byte_off;
      if (!bitfield) v.mem_size = uint32_t(byte_sz), v.mem_type = ftype;
      break;
    case CoreReloKind::FieldByteSize: v.value = byte_sz; break;
    case CoreReloKind::FieldSigned:
      v.value = (is_enum(mt) && mt->kflag) || (mt && mt->kind == Kind::Int && (mt->int_encoding & btf::kIntSigned));
      v.validate = true;
      break;
    case CoreReloKind::FieldLShiftU64: v.value = 64 - (bit_off + bit_sz - byte_off * 8); break;
    case CoreReloKind::FieldRShiftU64: v.value = 64 - bit_sz, v.validate = true; break;
    default: return fail(Errc::invalid_program, "CO-RE: unknown field relocation");
  }
  return v;
}

}  // namespace

Expected<CoreValue> core_calc(btf::CoreReloKind kind, const CoreSpec* spec) {
  if (core_is_field(kind)) return calc_field(kind, spec);
  CoreValue v;
  if (core_is_type(kind)) {
    if (!spec) return v;  // type relocations give 0 when the type is missing
    switch (kind) {
      case CoreReloKind::TypeIdLocal:
      case CoreReloKind::TypeIdTarget: v.value = spec->root, v.validate = false; break;
      case CoreReloKind::TypeExists:
      case CoreReloKind::TypeMatches: v.value = 1; break;
      case CoreReloKind::TypeSize: {
        auto sz = spec->btf->size_of(spec->root);
        if (!sz) return unexpected(sz.error());
        v.value = *sz;
        break;
      }
      default: break;
    }
    return v;
  }
  if (kind == CoreReloKind::EnumvalExists) {
    v.value = spec ? 1 : 0;
    return v;
  }
  if (!spec) {
    v.poison = true;
    return v;
  }
  const btf::Type* t = spec->btf->type(spec->acc[0].type_id);
  v.value = uint64_t(t->enumerators[spec->acc[0].idx].value);
  return v;
}

std::string core_format_spec(const CoreSpec& s) {
  const btf::Type* t = s.btf->type(s.root);
  std::string out = fmt::format("[{}] {} {}", s.root, t ? btf::kind_name(t->kind) : "void",
                                t && !t->name.empty() ? t->name : "<anon>");
  if (core_is_type(s.kind)) return out;
  if (core_is_enumval(s.kind)) return out + fmt::format("::{}", s.acc.empty() ? "?" : s.acc[0].name);
  for (size_t i = 0; i < s.acc.size(); ++i) {
    if (!s.acc[i].name.empty())
      out += fmt::format(".{}", s.acc[i].name);
    else if (i > 0 || s.acc[i].idx > 0)
      out += fmt::format("[{}]", s.acc[i].idx);
  }
  out += " (";
  for (size_t i = 0; i < s.raw.size(); ++i) out += fmt::format("{}{}", i ? ":" : "", s.raw[i]);
  return out + fmt::format(" @ offset {})", s.bit_offset / 8);
}

}  // namespace xbpf::loader::detail
