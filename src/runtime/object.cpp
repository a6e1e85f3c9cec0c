#include "runtime/object.hpp"
#include "verifier/verifier.hpp"

#include "jit/jit.hpp"
#include "maps/fd_maps.hpp"
#include "maps/ringbuf.hpp"

#include <sys/stat.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unistd.h>
#include <unordered_map>

namespace xbpf::runtime {

namespace {
using loader::MapOrigin;

// Process-wide (store, id) -> Program: tail calls may cross objects sharing a
// prog array, but program ids are unique only within one store, so two stores
// used by one process must not reach each other's programs. A store is known
// by its directory's device and inode (two Store handles on one directory are
// one store); `scopes` gives each a stable address to key by.
struct ScopedId {
  const void* scope;
  uint32_t id;
  bool operator==(const ScopedId&) const = default;
};
struct ScopedIdHash {
  size_t operator()(const ScopedId& k) const {
    return std::hash<const void*>()(k.scope) * 31 + k.id;
  }
};
struct LoadedRegistry {
  std::shared_mutex mu;
  std::unordered_map<ScopedId, const Program*, ScopedIdHash> progs;
  std::map<std::pair<dev_t, ino_t>, char> scopes;  // nodes never move: &value is the scope
};
LoadedRegistry& loaded() {
  static LoadedRegistry r;
  return r;
}

Expected<const void*> scope_of(const std::string& store_dir) {
  struct stat st{};
  if (stat(store_dir.c_str(), &st) != 0) return fail_errno(errno, "store {}: {}", store_dir, std::strerror(errno));
  std::unique_lock lk(loaded().mu);
  return static_cast<const void*>(&loaded().scopes[{st.st_dev, st.st_ino}]);
}

const Program* find_in_scope(const void* scope, uint32_t id) {
  std::shared_lock lk(loaded().mu);
  auto it = loaded().progs.find(ScopedId{scope, id});
  return it == loaded().progs.end() ? nullptr : it->second;
}

maps::MapAttr attr_of(const loader::MapSpec& m) {
  maps::MapAttr a;
  a.type = m.type;
  a.key_size = m.key_size;
  a.value_size = m.value_size;
  a.max_entries = m.max_entries;
  a.map_flags = m.flags;
  a.map_extra = m.map_extra;
  a.btf_key_type_id = m.btf_key_type_id;
  a.btf_value_type_id = m.btf_value_type_id;
  a.name = m.name.substr(0, 15);
  if (m.origin == MapOrigin::Data && m.section.starts_with(".rodata")) a.map_flags |= maps::kFRdonlyProg;
  if (m.origin == MapOrigin::Kconfig) a.map_flags |= maps::kFRdonlyProg;
  return a;
}

// bpf_prog_tag-like: a hex hash of the instructions (FNV-1a; not the kernel's SHA-1).
std::string tag_of(const std::vector<uint64_t>& insns) {
  uint64_t h = 1469598103934665603ULL;
  for (uint64_t w : insns)
    for (int i = 0; i < 8; ++i) h = (h ^ ((w >> (8 * i)) & 0xff)) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

// Tail calls: (prog array, index) -> the program of the running program's
// store whose id the slot holds.
const vm::Program* resolve_tail_call(vm::ExecContext* c, uint64_t map, uint32_t index) {
  maps::Map* m = helpers::map_arg(c, map);
  const helpers::RunState* st = helpers::state(c);
  if (!m || !st || m->type() != kabi::MapType::ProgArray) return nullptr;
  const uint32_t id = maps::prog_array_get(*m, index);
  const Program* p = id ? find_in_scope(st->tail_call_scope, id) : nullptr;
  return p ? &p->vm() : nullptr;
}
}  // namespace

const Program* find_loaded(const std::string& store_dir, uint32_t id) {
  auto scope = scope_of(store_dir);
  return scope ? find_in_scope(*scope, id) : nullptr;
}

std::string_view engine_name(Engine e) {
  switch (e) {
    case Engine::Auto: return "auto";
    case Engine::Interpreter: return "interpreter";
    case Engine::Jit: return "jit";
  }
  return "?";
}

Object::~Object() {
  std::unique_lock lk(loaded().mu);
  for (const auto& p : programs_) {
    if (!p || !p->id_) continue;
    // Only our own entry: open_program() may open a program this process
    // has loaded already, and the first one stays registered.
    auto it = loaded().progs.find(ScopedId{scope_, p->id_});
    if (it != loaded().progs.end() && it->second == p.get()) loaded().progs.erase(it);
  }
}

// What load() and open_program() share: the store, the options with their
// defaults, and the store's identity for tail calls. spec_.name is set.
Expected<void> Object::init(std::shared_ptr<maps::Store> store, const LoadOptions& opts) {
  store_ = std::move(store);
  opts_ = opts;
  if (!opts_.helpers) opts_.helpers = &helpers::Registry::standard();
  if (opts.engine == Engine::Jit && opts.mode == vm::Mode::Checked)
    return fail(Errc::invalid_argument, "{}: the JIT runs verified programs only; checked mode runs on the interpreter",
                spec_.name);
  auto scope = scope_of(store_->dir());
  if (!scope) return xbpf::unexpected(with_context(scope.error(), spec_.name));
  scope_ = *scope;
  return {};
}

Expected<std::unique_ptr<Object>> Object::load(loader::ObjectSpec spec, std::shared_ptr<maps::Store> store,
                                               const LoadOptions& opts) {
  if (!store) return fail(Errc::invalid_argument, "{}: no store to load into", spec.path);
  std::unique_ptr<Object> o(new Object());
  o->spec_ = std::move(spec);
  if (auto r = o->init(std::move(store), opts); !r) return xbpf::unexpected(r.error());
  for (auto step : {&Object::store_btf, &Object::create_maps, &Object::load_programs, &Object::init_slots}) {
    if (auto r = (o.get()->*step)(); !r) return xbpf::unexpected(with_context(r.error(), o->spec_.name));
  }
  return o;
}

// The object's BTF becomes a store object that its maps and programs name
// (BPF_BTF_LOAD before the maps, as libbpf does).
Expected<void> Object::store_btf() {
  if (!spec_.btf) return {};
  auto id = store_->add_btf(spec_.btf->raw());
  if (!id) return xbpf::unexpected(with_context(id.error(), "BTF"));
  btf_id_ = *id;
  auto hold = store_->hold_btf(*id);
  if (!hold) return xbpf::unexpected(hold.error());
  btf_hold_ = std::move(*hold);
  return {};
}

void Object::add_map_regions(maps::Map& map) {
  map_refs_.push_back({&map, map.prog_read_only()});
  // Global data and other arrays are reachable through direct value access.
  if (maps::ArrayLayout l = map.array_layout(); l.base)
    regions_.push_back({reinterpret_cast<uint64_t>(l.base), uint64_t(l.stride) * l.max_entries, !map.prog_read_only()});
}

Expected<std::unique_ptr<Object>> Object::open_program(std::shared_ptr<maps::Store> store, uint32_t id,
                                                       const LoadOptions& opts) {
  if (!store) return fail(Errc::invalid_argument, "prog {}: no store", id);
  auto rec = store->program(id);
  if (!rec) return xbpf::unexpected(rec.error());
  // Hold the record first: it must not go while its maps are opened.
  auto hold = store->hold_program(id);
  if (!hold) return xbpf::unexpected(hold.error());
  std::unique_ptr<Object> o(new Object());
  o->spec_.path = fmt::format("prog {}", id);
  o->spec_.name = fmt::format("prog {} ('{}')", id, rec->name);
  if (auto r = o->init(std::move(store), opts); !r) return xbpf::unexpected(r.error());
  o->adopted_id_ = id;
  if (auto r = o->adopt_record(*rec); !r) return xbpf::unexpected(with_context(r.error(), o->spec_.name));
  if (auto r = o->load_programs(); !r) return xbpf::unexpected(with_context(r.error(), o->spec_.name));
  if (auto r = o->open_tail_targets(); !r) return xbpf::unexpected(with_context(r.error(), o->spec_.name));
  return o;
}

// Tail calls reach programs loaded in this process (find_loaded): the
// programs the prog arrays hold now are opened too, transitively. A slot set
// later by another process to a program not open here falls through, as an
// empty slot.
Expected<void> Object::open_tail_targets() {
  for (const auto& m : maps_) {
    if (m->type() != kabi::MapType::ProgArray) continue;
    for (uint32_t slot = 0; slot < m->max_entries(); ++slot) {
      uint32_t pid = 0;
      if (!m->lookup(&slot, &pid, 0) || pid == 0) continue;
      if (find_in_scope(scope_, pid)) continue;
      auto t = open_program(store_, pid, opts_);
      if (!t) {
        if (t.error().errnum == ENOENT) continue;  // removed meanwhile: an empty slot
        return xbpf::unexpected(with_context(t.error(), fmt::format("map '{}' slot {}", m->name(), slot)));
      }
      // Checked mode: the state a run starts with is the entry object's;
      // what the targets may touch must be granted there too.
      regions_.insert(regions_.end(), (*t)->regions_.begin(), (*t)->regions_.end());
      map_refs_.insert(map_refs_.end(), (*t)->map_refs_.begin(), (*t)->map_refs_.end());
      tail_targets_.push_back(std::move(*t));
    }
  }
  return {};
}

// The inverse of relocate() and register_program(): an ObjectSpec with the
// record's program and maps, map references back in the loader's map_idx form.
Expected<void> Object::adopt_record(const maps::ProgramRecord& rec) {
  if (rec.btf_id) {
    auto raw = store_->btf(rec.btf_id);
    if (!raw) return xbpf::unexpected(raw.error());
    auto b = btf::Btf::parse(*raw, fmt::format("BTF {}", rec.btf_id));
    if (!b) return xbpf::unexpected(b.error());
    spec_.btf = std::make_shared<const btf::Btf>(std::move(*b));
    btf_id_ = rec.btf_id;
  }
  auto add_map = [&](uint32_t mid) -> Expected<size_t> {
    for (size_t i = 0; i < maps_.size(); ++i)
      if (maps_[i]->id() == mid) return i;
    auto m = store_->open_map(mid);
    if (!m) return xbpf::unexpected(m.error());
    const maps::MapInfo info = (*m)->info();
    loader::MapSpec ms;
    ms.name = info.attr.name;
    ms.type = info.attr.type;
    ms.key_size = info.attr.key_size;
    ms.value_size = info.attr.value_size;
    ms.max_entries = info.attr.max_entries;
    ms.flags = info.attr.map_flags;
    ms.map_extra = info.attr.map_extra;
    if (info.attr.btf_id == rec.btf_id) {
      ms.btf_key_type_id = info.attr.btf_key_type_id;
      ms.btf_value_type_id = info.attr.btf_value_type_id;
    }
    // A frozen read-only one-entry array is constant data the verifier may
    // read (.rodata), as when the object was first loaded.
    const maps::ArrayLayout l = (*m)->array_layout();
    if (info.frozen && (info.attr.map_flags & maps::kFRdonlyProg) && l.base && info.attr.max_entries == 1) {
      ms.origin = MapOrigin::Data;
      ms.section = ".rodata";
      ms.data.assign(l.base, l.base + info.attr.value_size);
    }
    add_map_regions(**m);
    maps_.push_back(std::move(*m));
    spec_.maps.push_back(std::move(ms));
    return maps_.size() - 1;
  };
  for (uint32_t mid : rec.map_ids) {
    auto i = add_map(mid);
    if (!i) return xbpf::unexpected(i.error());
    // Map-in-map: the verifier needs the inner template's shape.
    if (const uint32_t inner = maps_[*i]->info().attr.inner_map_id) {
      auto t = add_map(inner);
      if (!t) return xbpf::unexpected(t.error());
      spec_.maps[*i].inner_map = uint32_t(*t);
    }
  }
  loader::ProgramSpec ps;
  ps.name = rec.name;
  ps.section = "store";
  ps.type = ProgType(rec.prog_type);
  if (rec.expected_attach_type) ps.attach_type = loader::AttachType(rec.expected_attach_type - 1);
  ps.license = rec.gpl ? "GPL" : "";
  ps.btf = spec_.btf;
  ps.insns.resize(rec.insns.size());
  std::memcpy(ps.insns.data(), rec.insns.data(), rec.insns.size() * sizeof(isa::RawInsn));
  for (uint32_t pc = 0; pc + 1 < ps.insns.size(); ++pc) {
    isa::RawInsn& insn = ps.insns[pc];
    if (insn.code != 0x18) continue;
    if (insn.src == loader::kPseudoMapFd || insn.src == loader::kPseudoMapValue) {
      const uint32_t mid = uint32_t(insn.imm);
      size_t idx = 0;
      while (idx < maps_.size() && maps_[idx]->id() != mid) ++idx;
      if (idx == maps_.size() || std::find(rec.map_ids.begin(), rec.map_ids.end(), mid) == rec.map_ids.end())
        return fail(Errc::invalid_program, "insn {}: map {} is not one of the program's maps", pc, mid);
      const bool value = insn.src == loader::kPseudoMapValue;
      ps.relocations.push_back({value ? loader::RelocKind::MapValue : loader::RelocKind::Map, pc, uint32_t(idx),
                                value ? uint32_t(ps.insns[pc + 1].imm) : 0, maps_[idx]->name()});
      insn.src = value ? loader::kPseudoMapIdxValue : loader::kPseudoMapIdx;
      insn.imm = int32_t(idx);
      if (!value) ps.insns[pc + 1].imm = 0;
    }
    ++pc;  // the second slot
  }
  if (spec_.btf) {
    for (const maps::FuncInfoRecord& f : rec.func_info) ps.func_info.push_back({f.insn_off, f.type_id});
    for (const maps::LineInfoRecord& l : rec.line_info) {
      ps.line_info.push_back({l.insn_off, spec_.btf->string_at(l.file_name_off).value_or(""),
                              spec_.btf->string_at(l.line_off).value_or(""), l.line_col >> 10, l.line_col & 0x3ff});
    }
  }
  // Function spans for dumps: from func_info (names of the BTF FUNCs), else one.
  for (size_t k = 0; k < ps.func_info.size(); ++k) {
    const uint32_t start = ps.func_info[k].insn_idx;
    const uint32_t end = k + 1 < ps.func_info.size() ? ps.func_info[k + 1].insn_idx : uint32_t(ps.insns.size());
    if (start >= end || end > ps.insns.size()) return fail(Errc::invalid_program, "func_info {}: bad span", k);
    ps.functions.push_back({std::string(spec_.btf->name_of(ps.func_info[k].type_id)), start, end - start});
  }
  if (ps.functions.empty() || ps.functions[0].start != 0) {
    ps.functions.clear();
    ps.functions.push_back({rec.name, 0, uint32_t(ps.insns.size())});
  }
  spec_.license = ps.license;
  spec_.programs.push_back(std::move(ps));
  return {};
}

// What loaders do to a declared map before creating it, where the kernel
// would refuse the declaration as written. The spec changes, so the verifier
// sees the map as created.
static void apply_loader_conventions(loader::MapSpec& m) {
  using kabi::MapType;
  const bool typed_key = m.btf_key_type_id != 0, typed_value = m.btf_value_type_id != 0;
  // libbpf: a perf event array declared without a size gets one slot per possible CPU.
  if (m.type == MapType::PerfEventArray && m.max_entries == 0) m.max_entries = maps::possible_cpus();
  // Cilium's loader (cilium/ebpf): ring buffers and perf event arrays may name
  // key and value types for code generators; the sizes those types imply are
  // replaced by the ones the kernel requires (0 and 0; 4 and 4), and the types
  // are not given to the kernel. Sizes written as key_size/value_size stay.
  if ((m.type == MapType::Ringbuf || m.type == MapType::UserRingbuf) && (typed_key || typed_value)) {
    if (typed_key) m.key_size = 0;
    if (typed_value) m.value_size = 0;
    m.btf_key_type_id = m.btf_value_type_id = 0;
  }
  if (m.type == MapType::PerfEventArray && (typed_key || typed_value)) {
    if (typed_key || m.key_size == 0) m.key_size = 4;
    if (typed_value || m.value_size == 0) m.value_size = 4;
    m.btf_key_type_id = m.btf_value_type_id = 0;
  }
  // samples/bpf's loader: a legacy map-in-map definition leaves value_size 0,
  // and the map is created with the 4-byte id value bpf_create_map_in_map gives it.
  if (m.origin == loader::MapOrigin::Legacy && kabi::is_map_in_map(m.type) && m.value_size == 0) m.value_size = 4;
}

Expected<void> Object::create_maps() {
  maps_.resize(spec_.maps.size());
  for (loader::MapSpec& m : spec_.maps) apply_loader_conventions(m);
  // Inner-map templates first: outer maps name them by id.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < spec_.maps.size(); ++i) {
      const loader::MapSpec& m = spec_.maps[i];
      if ((m.origin == MapOrigin::InnerTemplate) != (pass == 0)) continue;
      maps::MapAttr a = attr_of(m);
      if (btf_id_ && (a.btf_key_type_id || a.btf_value_type_id)) a.btf_id = btf_id_;
      if (m.inner_map) {
        if (*m.inner_map >= maps_.size() || !maps_[*m.inner_map])
          return fail(Errc::invalid_program, "map '{}': inner map template missing", m.name);
        a.inner_map_id = maps_[*m.inner_map]->id();
      }
      auto created = store_->create_map(a);
      if (!created) return xbpf::unexpected(with_context(created.error(), fmt::format("map '{}'", m.name)));
      maps_[i] = std::move(*created);
      maps::Map& map = *maps_[i];
      if (!m.data.empty()) {
        const uint32_t zero = 0;
        if (auto r = map.update(&zero, m.data.data(), maps::kAny); !r)
          return xbpf::unexpected(with_context(r.error(), fmt::format("map '{}': initial value", m.name)));
      }
      if (m.origin == MapOrigin::Data && m.section.starts_with(".rodata")) {
        if (auto r = map.freeze(); !r) return xbpf::unexpected(r.error());
      }
      add_map_regions(map);
    }
  }
  return {};
}

// Rewrites the pseudo lddw for execution and, in `record`, into the kernel's
// xlated form (BPF_PSEUDO_MAP_FD / MAP_VALUE with map ids).
Expected<std::vector<isa::RawInsn>> Object::relocate(const loader::ProgramSpec& p, std::vector<uint64_t>* record) {
  std::vector<isa::RawInsn> run = p.insns;
  std::vector<isa::RawInsn> rec = p.insns;
  for (const loader::InsnReloc& r : p.relocations) {
    if (r.kind != loader::RelocKind::Map && r.kind != loader::RelocKind::MapValue) continue;
    if (r.insn + 1 >= run.size() || r.map >= maps_.size() || !maps_[r.map])
      return fail(Errc::invalid_program, "prog '{}': insn {}: bad map relocation", p.name, r.insn);
    maps::Map& m = *maps_[r.map];
    uint64_t v = reinterpret_cast<uint64_t>(&m);
    if (r.kind == loader::RelocKind::MapValue) {
      const maps::ArrayLayout l = m.array_layout();
      if (!l.base || r.offset >= m.value_size())
        return fail(Errc::invalid_program, "prog '{}': insn {}: direct value access into map '{}' needs an array",
                    p.name, r.insn, m.name());
      v = reinterpret_cast<uint64_t>(l.base) + r.offset;
    }
    run[r.insn].src = 0;
    run[r.insn].imm = int32_t(uint32_t(v));
    run[r.insn + 1].imm = int32_t(uint32_t(v >> 32));
    rec[r.insn].src = r.kind == loader::RelocKind::Map ? loader::kPseudoMapFd : loader::kPseudoMapValue;
    rec[r.insn].imm = int32_t(m.id());
    rec[r.insn + 1].imm = r.kind == loader::RelocKind::Map ? 0 : int32_t(r.offset);
  }
  record->resize(rec.size());
  std::memcpy(record->data(), rec.data(), rec.size() * sizeof(isa::RawInsn));
  return run;
}

// Byte offset of the `struct bpf_spin_lock` member of a map value type, -1
// when it has none (top-level members only, as the kernel's BTF record).
static int32_t spin_lock_offset(const btf::Btf& b, uint32_t value_type) {
  const btf::Type* t = b.type(b.resolve(value_type));
  if (!t || t->kind != btf::Kind::Struct) return -1;
  for (const btf::Member& m : t->members) {
    const btf::Type* mt = b.type(b.resolve(m.type));
    if (mt && mt->kind == btf::Kind::Struct && mt->name == "bpf_spin_lock" && m.bit_offset % 8 == 0)
      return static_cast<int32_t>(m.bit_offset / 8);
  }
  return -1;
}

// xbpf's verifier on the program as the loader produced it (map references
// as map_idx pseudo lddw, which the verifier resolves against spec_.maps).
verifier::Env verifier_env(const loader::ObjectSpec& o, const loader::ProgramSpec& p,
                          const helpers::Registry* helpers) {
  verifier::Env env;
  env.prog_type = p.type;
  env.attach_type = p.attach_type;
  env.func_info = !p.func_info.empty();
  env.helpers = helpers;
  for (const loader::MapSpec& m : o.maps) {
    // The flags as the created map will have them (the kernel adds some per type).
    const uint32_t flags = m.flags | maps::implied_map_flags(m.type);
    env.maps.push_back({m.name, m.type, m.key_size, m.value_size, m.max_entries, flags,
                        (flags & maps::kFRdonlyProg) != 0, m.inner_map ? int32_t(*m.inner_map) : -1, {}});
    // .rodata: create_maps() fills it with this value and freezes it before
    // any program loads, so the verifier may read constants from it.
    if (m.origin == MapOrigin::Data && m.section.starts_with(".rodata") && (m.flags & maps::kFRdonlyProg) &&
        m.type == kabi::MapType::Array && m.max_entries == 1 && m.data.size() == m.value_size)
      env.maps.back().frozen_value = m.data;
    env.maps.back().has_btf = o.btf && m.btf_value_type_id != 0;
    if (env.maps.back().has_btf) env.maps.back().spin_lock_off = spin_lock_offset(*o.btf, m.btf_value_type_id);
  }
  return env;
}

Expected<verifier::Verdict> Object::verify_program(const loader::ProgramSpec& ps) const {
  const verifier::Env env = verifier_env(spec_, ps, opts_.helpers);
  verifier::Verdict v = verifier::verify(ps.insns, env);
  if (!v.ok)
    return fail(Errc::invalid_program, "prog '{}': rejected by the verifier at insn {}: {}", ps.name, v.pc, v.message);
  return v;
}

// BPF_JMP | BPF_CALL with src_reg 0: a call to the helper whose id is imm.
static bool is_helper_call(const isa::RawInsn& insn) { return insn.code == 0x85 && insn.src == 0; }

// Lookups the verifier bound to one array or per-CPU array map, for the
// interpreter and the JIT to inline (see vm::InlineArrayLookup).
std::vector<vm::InlineArrayLookup> Object::inline_lookups(const loader::ProgramSpec& ps,
                                                           const verifier::Verdict& v) const {
  constexpr int32_t kMapLookupElem = 1;
  std::vector<vm::InlineArrayLookup> out;
  for (size_t pc = 0; pc < ps.insns.size() && pc < v.call_map.size(); ++pc) {
    const isa::RawInsn& insn = ps.insns[pc];
    if (!is_helper_call(insn) || insn.imm != kMapLookupElem) continue;
    const int32_t m = v.call_map[pc];
    if (m < 0 || size_t(m) >= maps_.size() || !maps_[size_t(m)]) continue;
    maps::ArrayLayout a = maps_[size_t(m)]->array_layout();
    if (!a.base) a = maps_[size_t(m)]->percpu_layout();  // this CPU's copy (vm::current_cpu)
    if (a.base && a.max_entries)
      out.push_back(vm::InlineArrayLookup{uint32_t(pc), a.base, a.stride, a.max_entries, a.ncpus});
  }
  return out;
}

// The helper table knows every kernel helper, so the verifier may accept a
// call to one xbpf cannot run: such a program fails to load here, by name.
static Expected<void> check_helpers_implemented(const loader::ProgramSpec& ps, const helpers::Registry& reg) {
  for (const isa::RawInsn& insn : ps.insns) {
    if (!is_helper_call(insn)) continue;
    const helpers::HelperSpec* h = reg.find(static_cast<uint32_t>(insn.imm));
    if (h && !helpers::implemented(*h))
      return fail(Errc::unsupported, "prog '{}': helper bpf_{}#{} is not implemented by xbpf", ps.name, h->name,
                  h->id);
  }
  return {};
}

// The kernel's license_is_gpl_compatible().
static bool gpl_compatible(std::string_view license) {
  for (std::string_view l : {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"})
    if (license == l) return true;
  return false;
}

// The program's record in the store (what `prog show` and other processes see).
Expected<uint32_t> Object::register_program(const loader::ProgramSpec& ps, const vm::Program& vp,
                                            const std::optional<verifier::Verdict>& verdict,
                                            std::vector<uint64_t> xlated) {
  maps::ProgramRecord rec;
  rec.name = ps.name.substr(0, 15);
  rec.prog_type = uint32_t(ps.type);
  rec.tag = tag_of(xlated);
  rec.insns = std::move(xlated);
  // The maps this program references (the kernel's used_maps), each once.
  for (const loader::InsnReloc& r : ps.relocations) {
    if ((r.kind != loader::RelocKind::Map && r.kind != loader::RelocKind::MapValue) || !maps_[r.map]) continue;
    const uint32_t mid = maps_[r.map]->id();
    if (std::find(rec.map_ids.begin(), rec.map_ids.end(), mid) == rec.map_ids.end()) rec.map_ids.push_back(mid);
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  rec.load_time_ns = uint64_t(ts.tv_sec) * 1'000'000'000ULL + uint64_t(ts.tv_nsec);
  rec.owner_uid = getuid();
  rec.owner_pid = uint32_t(getpid());
  rec.btf_id = btf_id_;
  rec.expected_attach_type = ps.attach_type ? uint32_t(*ps.attach_type) + 1 : 0;
  rec.gpl = gpl_compatible(ps.license.empty() ? spec_.license : ps.license);
  if (auto code = jit::code_of(vp)) {
    rec.jited = true;
    rec.jited_len = uint32_t(code->code.size());
  }
  if (verdict) rec.verified_insns = uint32_t(std::min<uint64_t>(verdict->stats.insns_processed, UINT32_MAX));
  if (btf_id_ && spec_.btf) {
    for (const btf::FuncInfo& f : ps.func_info) rec.func_info.push_back({f.insn_idx, f.type_id});
    for (const btf::LineInfo& l : ps.line_info) {
      rec.line_info.push_back({l.insn_idx, spec_.btf->string_offset(l.file_name).value_or(0),
                               spec_.btf->string_offset(l.line).value_or(0), l.line_num << 10 | (l.column & 0x3ff)});
    }
  }
  auto id = store_->add_program(std::move(rec));
  if (!id) return xbpf::unexpected(with_context(id.error(), fmt::format("prog '{}'", ps.name)));
  return id;
}

// Every program is relocated, verified and loaded into the interpreter's
// form first; then they are compiled one after another. A compile right
// after a verification runs in the caches the verifier left: batched, the
// corpus's in-load compiles take 10-15 % less (docs/benchmarks.md), and no
// program is registered before all are verified.
Expected<void> Object::load_programs() {
  struct Checked {
    const loader::ProgramSpec* ps;
    std::vector<uint64_t> xlated;
    std::optional<verifier::Verdict> verdict;  // what the JIT may rely on (facts of exactly these slots)
    size_t slots;
    vm::Program vp;
    jit::CompileStats stats, warm;  // the load's compile; the fastest of the measurement rounds
  };
  std::vector<Checked> checked;
  checked.reserve(spec_.programs.size());
  for (const loader::ProgramSpec& ps : spec_.programs) {
    if (opts_.on_program) opts_.on_program(checked.size(), ps.name);
    std::vector<uint64_t> xlated;
    auto insns = relocate(ps, &xlated);
    if (!insns) return xbpf::unexpected(insns.error());
    std::vector<vm::InlineArrayLookup> lookups;
    std::optional<verifier::Verdict> verdict;
    if (opts_.mode == vm::Mode::Verified && !opts_.trusted) {
      auto v = verify_program(ps);
      if (!v) return xbpf::unexpected(v.error());
      if (opts_.inline_lookups) lookups = inline_lookups(ps, *v);
      verdict = std::move(*v);
    }
    if (auto r = check_helpers_implemented(ps, *opts_.helpers); !r) return r;
    tables_.push_back(std::make_unique<vm::HelperTable>(opts_.helpers->table_for(ps.type)));
    auto vp = vm::Program::load(*insns, vm::LoadOptions{opts_.mode, tables_.back().get(), lookups});
    if (!vp) return xbpf::unexpected(with_context(vp.error(), fmt::format("prog '{}'", ps.name)));
    checked.push_back(Checked{&ps, std::move(xlated), std::move(verdict), insns->size(), std::move(*vp), {}, {}});
  }
  // The load's compiles; then, for measurement, jit_warm_repeats more rounds
  // over all of them (each replaces the code; each program's fastest is
  // kept). Rounds, not repeats of one program: a compile right after one of
  // the same program ran ~1.5x faster, primed by that very input (most
  // likely the branch predictors), which no real load sees.
  if (opts_.mode == vm::Mode::Verified && opts_.engine != Engine::Interpreter) {
    for (unsigned k = 0; k <= opts_.jit_warm_repeats; ++k) {
      for (Checked& c : checked) {
        jit::Options jo;
        jit::CompileStats again;
        jo.stats = k ? &again : &c.stats;
        // Relocation rewrites immediates only: the verified slots are the loaded ones.
        if (c.verdict && c.verdict->jit_facts.insn.size() == c.slots) jo.facts = &c.verdict->jit_facts;
        jo.blind_constants = opts_.blind_constants;
        if (auto r = jit::compile(c.vp, jo); !r)
          return xbpf::unexpected(with_context(r.error(), fmt::format("prog '{}'", c.ps->name)));
        if (k == 1 || (k > 1 && again.emit_ns + again.memory_ns < c.warm.emit_ns + c.warm.memory_ns)) c.warm = again;
      }
    }
  }
  for (Checked& c : checked) {
    const loader::ProgramSpec& ps = *c.ps;
    auto prog = std::unique_ptr<Program>(new Program(this, &ps, std::move(c.vp)));
    prog->jit_stats_ = c.stats;
    prog->jit_warm_stats_ = c.warm;
    auto id = adopted_id_ ? Expected<uint32_t>(adopted_id_)
                          : register_program(ps, prog->vm(), c.verdict, std::move(c.xlated));
    if (!id) return xbpf::unexpected(id.error());
    prog->id_ = *id;
    auto hold = store_->hold_program(*id);
    if (!hold) return xbpf::unexpected(with_context(hold.error(), fmt::format("prog '{}'", ps.name)));
    prog->hold_ = std::move(*hold);
    {
      std::unique_lock lk(loaded().mu);
      loaded().progs.try_emplace(ScopedId{scope_, *id}, prog.get());
    }
    programs_.push_back(std::move(prog));
  }
  return {};
}

// Prog-array and map-in-map initial slots (`values = {...}`).
Expected<void> Object::init_slots() {
  for (size_t i = 0; i < spec_.maps.size(); ++i) {
    for (const loader::MapSlotInit& s : spec_.maps[i].init) {
      uint32_t v = 0;
      if (spec_.maps[i].type == kabi::MapType::ProgArray) {
        if (s.target >= programs_.size()) return fail(Errc::invalid_program, "map '{}': bad slot", spec_.maps[i].name);
        v = programs_[s.target]->id();
      } else {
        if (s.target >= maps_.size() || !maps_[s.target])
          return fail(Errc::invalid_program, "map '{}': bad slot", spec_.maps[i].name);
        v = maps_[s.target]->id();
      }
      if (auto r = maps_[i]->update(&s.slot, &v, maps::kAny); !r)
        return xbpf::unexpected(with_context(r.error(), fmt::format("map '{}': slot {}", spec_.maps[i].name, s.slot)));
    }
  }
  return {};
}

Program* Object::program(std::string_view name) const {
  for (const auto& p : programs_)
    if (p->name() == name) return p.get();
  return nullptr;
}

std::shared_ptr<maps::Map> Object::map(std::string_view name) const {
  // Global data maps answer to their section name too (".bss"), as libbpf's
  // real_name does.
  for (size_t i = 0; i < spec_.maps.size(); ++i) {
    const loader::MapSpec& m = spec_.maps[i];
    const bool data = m.origin == MapOrigin::Data || m.origin == MapOrigin::Bss || m.origin == MapOrigin::Kconfig;
    if (m.name == name || (data && m.section == name)) return maps_[i];
  }
  return nullptr;
}

Expected<uint64_t> Program::run(void* ctx, size_t ctx_size, helpers::RunState& st) const {
  const Object& o = *object_;
  st.prog_type = type();
  if (vm_.mode() == vm::Mode::Checked) {
    if (ctx && ctx_size) st.regions.push_back({reinterpret_cast<uint64_t>(ctx), ctx_size, true});
    if (st.packet.lo) {
      st.regions.push_back({reinterpret_cast<uint64_t>(st.packet.lo), uint64_t(st.packet.hi - st.packet.lo), true});
    }
    st.regions.insert(st.regions.end(), o.regions_.begin(), o.regions_.end());
    st.maps.insert(st.maps.end(), o.map_refs_.begin(), o.map_refs_.end());
  } else if (st.maps.empty()) {
    st.maps = o.map_refs_;  // verified: only tail calls consult them
  }
  st.tail_call_scope = o.scope_;
  vm::ExecContext c;
  c.regions = st.regions;
  c.runtime = &st;
  c.insn_budget = o.opts_.insn_budget;
  c.tail_call = resolve_tail_call;
  if (st.packet.data) {
    c.packet = st.packet.data;
    c.packet_len = uint64_t(st.packet.data_end - st.packet.data);
  }
  auto r = vm_.run(reinterpret_cast<uint64_t>(ctx), 0, c);
  // A checked program may end holding reservations (the verifier would have
  // refused it): discard them so the consumer is not blocked forever.
  for (uint64_t sample : st.ringbuf_samples) maps::ringbuf_discard(reinterpret_cast<void*>(sample), 0);
  st.ringbuf_samples.clear();
  if (!r) return xbpf::unexpected(with_context(r.error(), fmt::format("prog '{}'", name())));
  if (st.error) return xbpf::unexpected(with_context(*st.error, fmt::format("prog '{}'", name())));
  return r;
}

}  // namespace xbpf::runtime
