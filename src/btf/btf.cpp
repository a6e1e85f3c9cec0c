// Btf queries (lookup, resolve, size/alignment), the layout precomputation
// and file loading. Parsing and validation live in btf_parse.cpp.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "btf/btf.hpp"
#include "btf/btf_internal.hpp"
#include "elf/elf_file.hpp"

namespace xbpf::btf {

std::string_view kind_name(Kind k) {
  static constexpr std::array<std::string_view, 20> kNames = {
      "UNKNOWN", "INT",   "PTR",        "ARRAY", "STRUCT",  "UNION", "ENUM",     "FWD",      "TYPEDEF", "VOLATILE",
      "CONST",   "RESTRICT", "FUNC",    "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"};
  const auto i = static_cast<size_t>(k);
  return i < kNames.size() ? kNames[i] : "UNKNOWN";
}

// libbpf's bpf_core_essential_name_len: cut at the LAST "X___Y" where X and
// Y are not underscores, so "__u32" or "a____b" keep their underscores.
std::string_view essential_name(std::string_view name) {
  for (size_t i = name.size() >= 5 ? name.size() - 5 + 1 : 0; i-- > 0;) {
    if (name[i] != '_' && name.compare(i + 1, 3, "___") == 0 && name[i + 4] != '_') return name.substr(0, i + 1);
  }
  return name;
}

const Type* Btf::type(uint32_t id) const {
  if (id < first_id_) return (base_ != nullptr && id != 0) ? base_->type(id) : nullptr;
  const size_t i = id - first_id_;
  return i < types_.size() ? &types_[i] : nullptr;
}

std::string_view Btf::name_of(uint32_t id) const {
  const Type* t = type(id);
  return t != nullptr ? t->name : std::string_view{};
}

std::string Btf::describe(uint32_t id) const {
  if (id == 0) return "[0] void";
  const Type* t = type(id);
  if (t == nullptr) return fmt::format("[{}] (invalid id)", id);
  if (t->name.empty()) return fmt::format("[{}] {}", id, kind_name(t->kind));
  return fmt::format("[{}] {} '{}'", id, kind_name(t->kind), t->name);
}

std::optional<std::string_view> Btf::string_at(uint32_t offset) const {
  if (offset < str_base_) return base_ != nullptr ? base_->string_at(offset) : std::nullopt;
  const size_t rel = offset - str_base_;
  if (rel >= strings_.size()) return std::nullopt;
  const char* p = reinterpret_cast<const char*>(strings_.data()) + rel;
  const void* nul = std::memchr(p, 0, strings_.size() - rel);
  if (nul == nullptr) return std::nullopt;
  return std::string_view(p, static_cast<const char*>(nul) - p);
}

std::optional<uint32_t> Btf::string_offset(std::string_view s) const {
  const auto* b = reinterpret_cast<const char*>(strings_.data());
  if (s.data() < b || s.data() >= b + strings_.size()) return std::nullopt;
  return str_base_ + static_cast<uint32_t>(s.data() - b);
}

// ---- name index ------------------------------------------------------------

void Btf::build_name_index() {
  by_name_.clear();
  for (const Type& t : types_)
    if (!t.name.empty()) by_name_.push_back(t.id);
  std::sort(by_name_.begin(), by_name_.end(), [this](uint32_t a, uint32_t b) {
    const Type& x = types_[a - first_id_];
    const Type& y = types_[b - first_id_];
    if (int c = x.name.compare(y.name); c != 0) return c < 0;
    if (x.kind != y.kind) return x.kind < y.kind;
    return a < b;
  });
}

std::vector<uint32_t> Btf::find_all(std::string_view name, Kind kind) const {
  std::vector<uint32_t> out;
  if (base_ != nullptr) out = base_->find_all(name, kind);
  auto lo = std::lower_bound(by_name_.begin(), by_name_.end(), name, [this](uint32_t id, std::string_view n) {
    return types_[id - first_id_].name < n;
  });
  for (; lo != by_name_.end() && types_[*lo - first_id_].name == name; ++lo)
    if (types_[*lo - first_id_].kind == kind) out.push_back(*lo);
  return out;
}

std::optional<uint32_t> Btf::find(std::string_view name, Kind kind) const {
  if (base_ != nullptr)
    if (auto id = base_->find(name, kind)) return id;
  auto lo = std::lower_bound(by_name_.begin(), by_name_.end(), std::pair{name, kind},
                             [this](uint32_t id, const std::pair<std::string_view, Kind>& key) {
                               const Type& t = types_[id - first_id_];
                               if (int c = t.name.compare(key.first); c != 0) return c < 0;
                               return t.kind < key.second;
                             });
  if (lo == by_name_.end()) return std::nullopt;
  const Type& t = types_[*lo - first_id_];
  if (t.name != name || t.kind != kind) return std::nullopt;
  return *lo;
}

std::vector<uint32_t> Btf::find_candidates(std::string_view essential, Kind kind) const {
  std::vector<uint32_t> out;
  if (base_ != nullptr) out = base_->find_candidates(essential, kind);
  // Every name starting with `essential` sorts into one contiguous run.
  auto lo = std::lower_bound(by_name_.begin(), by_name_.end(), essential, [this](uint32_t id, std::string_view n) {
    return types_[id - first_id_].name < n;
  });
  const size_t own_start = out.size();
  for (; lo != by_name_.end(); ++lo) {
    const Type& t = types_[*lo - first_id_];
    if (!t.name.starts_with(essential)) break;
    if (t.kind == kind && essential_name(t.name) == essential) out.push_back(*lo);
  }
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(own_start), out.end());
  return out;
}

// ---- resolving and layout ---------------------------------------------------

uint32_t Btf::resolve(uint32_t id) const {
  // parse() rejected reference cycles, so the chain ends within type_count() steps.
  for (size_t n = 0; n < type_count(); ++n) {
    const Type* t = type(id);
    if (t == nullptr) return id;
    if (t->kind != Kind::Typedef && !detail::is_modifier(t->kind)) return id;
    id = t->ref;
  }
  return id;
}

uint32_t Btf::skip_qualifiers(uint32_t id) const {
  for (size_t n = 0; n < type_count(); ++n) {
    const Type* t = type(id);
    if (t == nullptr || !detail::is_modifier(t->kind)) return id;
    id = t->ref;
  }
  return id;
}

bool Btf::is_cyclic(uint32_t id) const {
  if (id < first_id_) return base_ != nullptr && id != 0 && base_->is_cyclic(id);
  return id - first_id_ < cyclic_.size() && cyclic_[id - first_id_] != 0;
}

uint32_t Btf::raw_align(uint32_t id) const {
  if (id < first_id_) return (base_ != nullptr && id != 0) ? base_->raw_align(id) : 0;
  return id - first_id_ < align_.size() ? align_[id - first_id_] : 0;
}

// A cyclic type always has a cyclic by-value child; following the first one
// must come back to a type already seen, which closes the loop.
std::string Btf::cycle_path(uint32_t id) const {
  std::vector<uint32_t> path;
  while (std::find(path.begin(), path.end(), id) == path.end() && path.size() <= type_count()) {
    path.push_back(id);
    const Type* t = type(id);
    std::optional<uint32_t> next;
    for (uint32_t i = 0; t != nullptr; ++i) {
      next = detail::value_edge(*t, i);
      if (!next || is_cyclic(*next)) break;
    }
    if (!next) break;
    id = *next;
  }
  auto start = std::find(path.begin(), path.end(), id);
  std::string s;
  for (auto it = start; it != path.end(); ++it) s += describe(*it) + " -> ";
  return s + fmt::format("[{}]", id);
}

namespace {

// libbpf's btf__align_of for one type, given its children's alignments.
uint32_t align_from_children(const Btf& b, const Type& t, uint32_t ptr_size,
                             uint32_t (*child_align)(const Btf&, uint32_t)) {
  switch (t.kind) {
    case Kind::Int: case Kind::Enum: case Kind::Enum64: case Kind::Float:
      return std::min(ptr_size, t.size);
    case Kind::Ptr:
      return ptr_size;
    case Kind::Typedef: case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::TypeTag:
      return child_align(b, t.ref);
    case Kind::Array:
      return child_align(b, t.elem_type);
    case Kind::Struct: case Kind::Union: {
      uint32_t max_align = 1;
      for (const Member& m : t.members) {
        const uint32_t a = child_align(b, m.type);
        if (a == 0) return 0;
        max_align = std::max(max_align, a);
        // A member off its natural alignment means the struct is packed.
        if (m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0) return 1;
      }
      return t.size % max_align != 0 ? 1 : max_align;
    }
    default:
      return 0;
  }
}

}  // namespace

// Post-order DFS over the by-value graph with an explicit stack (no
// recursion, whatever the nesting): a child still on the stack closes a
// by-value cycle; a type is cyclic if it closes one or has a cyclic child.
void Btf::compute_layout() {
  static constexpr std::array<std::string_view, 11> kLongNames = {
      "long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
      "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long", "int long unsigned"};
  ptr_size_ = base_ != nullptr ? base_->ptr_size_ : 8;
  for (const Type& t : types_)
    if (t.kind == Kind::Int && (t.size == 4 || t.size == 8) &&
        std::find(kLongNames.begin(), kLongNames.end(), t.name) != kLongNames.end()) {
      ptr_size_ = t.size;
      break;
    }
  const size_t n = types_.size();
  align_.assign(n, 0);
  cyclic_.assign(n, 0);
  std::vector<uint8_t> state(n, 0);  // 0 new, 1 on stack, 2 done
  struct Frame { uint32_t id; uint32_t next; };
  std::vector<Frame> stack;
  auto child_align = [](const Btf& b, uint32_t id) { return b.raw_align(id); };
  for (uint32_t root = 0; root < n; ++root) {
    if (state[root] != 0) continue;
    stack.push_back({first_id_ + root, 0});
    state[root] = 1;
    while (!stack.empty()) {
      Frame& f = stack.back();
      const size_t fi = f.id - first_id_;
      auto child = detail::value_edge(types_[fi], f.next++);
      if (!child) {
        for (uint32_t i = 0; auto c = detail::value_edge(types_[fi], i); ++i)
          if (is_cyclic(*c)) cyclic_[fi] = 1;
        if (cyclic_[fi] == 0) align_[fi] = align_from_children(*this, types_[fi], ptr_size_, child_align);
        state[fi] = 2;
        stack.pop_back();
        continue;
      }
      if (*child < first_id_) continue;  // void or a base type (already laid out)
      const size_t ci = *child - first_id_;
      if (state[ci] == 1) cyclic_[fi] = 1;
      if (state[ci] != 0) continue;
      state[ci] = 1;
      stack.push_back({*child, 0});
    }
  }
}

Expected<uint64_t> Btf::size_of(uint32_t id) const {
  const uint32_t start = id;
  if (is_cyclic(id))
    return fail(Errc::invalid_program, "{}: type {} contains itself by value: {}", name_, describe(id), cycle_path(id));
  uint64_t nelems = 1;
  for (size_t steps = 0; steps <= type_count(); ++steps) {
    const Type* t = type(id);
    if (t == nullptr)
      return fail(Errc::invalid_program, "{}: type {} has no size (it is or refers to {})", name_, describe(start),
                  describe(id));
    switch (t->kind) {
      case Kind::Int: case Kind::Struct: case Kind::Union: case Kind::Enum: case Kind::Enum64:
      case Kind::Datasec: case Kind::Float:
      case Kind::Ptr: {
        const uint64_t size = t->kind == Kind::Ptr ? ptr_size_ : t->size;
        if (nelems != 0 && size > 0xffffffffULL / nelems)
          return fail(Errc::invalid_program, "{}: type {} is larger than 4 GiB", name_, describe(start));
        return nelems * size;
      }
      case Kind::Typedef: case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::Var:
      case Kind::DeclTag: case Kind::TypeTag:
        id = t->ref;
        break;
      case Kind::Array:
        if (nelems != 0 && t->nelems > 0xffffffffULL / nelems)
          return fail(Errc::invalid_program, "{}: type {} is larger than 4 GiB", name_, describe(start));
        nelems *= t->nelems;
        id = t->elem_type;
        break;
      default:
        return fail(Errc::invalid_program, "{}: type {} has no size (it is or refers to {})", name_, describe(start),
                    describe(id));
    }
  }
  return fail(Errc::invalid_program, "{}: type {}: reference chain does not end", name_, describe(start));
}

Expected<uint32_t> Btf::align_of(uint32_t id) const {
  if (is_cyclic(id))
    return fail(Errc::invalid_program, "{}: type {} contains itself by value: {}", name_, describe(id), cycle_path(id));
  const uint32_t a = raw_align(id);
  if (a == 0)
    return fail(Errc::invalid_program, "{}: type {} has no alignment (it is or contains a type without one)", name_,
                describe(id));
  return a;
}

// ---- loading ---------------------------------------------------------------

Expected<Btf> Btf::from_elf(const elf::ElfFile& file) {
  const elf::Section* s = file.find(".BTF");
  if (s == nullptr) return fail(Errc::invalid_program, "{}: no .BTF section", file.name());
  return parse(s->data, file.name() + ": .BTF");
}

Expected<Btf> Btf::load_file(const std::string& path, const Btf* base) {
  // Read in chunks until EOF rather than trusting the file size: sysfs files
  // such as /sys/kernel/btf/vmlinux need not report theirs.
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(Errc::io, "{}: cannot open: {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes;
  size_t got = 0;
  for (;;) {
    bytes.resize(got + (size_t{1} << 20));
    const size_t n = std::fread(bytes.data() + got, 1, bytes.size() - got, f.get());
    got += n;
    if (n == 0) break;
  }
  if (std::ferror(f.get())) return fail(Errc::io, "{}: read error: {}", path, std::strerror(errno));
  bytes.resize(got);
  if (bytes.size() >= 2 && bytes[0] == 0x9f && bytes[1] == 0xeb) return parse_owned(std::move(bytes), path, base);
  auto elf = elf::ElfFile::from_memory(std::move(bytes), path);
  if (!elf) return unexpected(std::move(elf).error());
  const elf::Section* s = elf->find(".BTF");
  if (s == nullptr) return fail(Errc::invalid_program, "{}: no .BTF section (and not raw BTF)", path);
  return parse(s->data, path + ": .BTF", base);
}

}  // namespace xbpf::btf
