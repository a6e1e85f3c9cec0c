// `xbpf btf ...`: bpftool's btf commands, on ELF/raw BTF files and on the BTF
// objects of the store (those loaded objects left for their maps and programs).
//
//   xbpf btf { show | list } [id ID]
//   xbpf btf dump { file OBJ | id ID | map MAP [key | value | kv | all] | prog PROG } [format raw|c]
//
// MAP := id ID | pinned PIN | name NAME;  PROG := id ID | pinned PIN | name NAME | tag TAG.
// Keywords may be abbreviated, as in bpftool. A malformed command line exits 2
// (CLI11 exceptions, reported by main()); a failed lookup exits 1.
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "btf/btf.hpp"
#include "commands.hpp"
#include "io.hpp"
#include "words.hpp"
#include "maps/store.hpp"

namespace xbpf::cli {
namespace {

using maps::Store;
using Json = nlohmann::ordered_json;  // members in bpftool's order

struct BtfArgs {
  std::string store;
  bool json = false;
  bool pretty = false;
  std::vector<std::string> words;
};

// bpftool's is_prefix(): `arg` is a non-empty prefix of `keyword`.
bool is_prefix(const std::string& arg, std::string_view keyword) {
  return !arg.empty() && keyword.starts_with(arg);
}

[[noreturn]] void usage(const std::string& verb, const std::string& msg) {
  throw CLI::ValidationError("btf " + verb, msg);
}

// The next word, or a usage error naming what was expected.
std::string need_word(Words& w, const std::string& verb, std::string_view what) {
  if (w.empty()) usage(verb, fmt::format("{} expected", what));
  return w.next();
}

uint32_t need_id(Words& w, const std::string& verb, std::string_view what) {
  auto n = parse_number(need_word(w, verb, what), what);
  if (!n || *n > UINT32_MAX) usage(verb, n ? fmt::format("{} {} is too large", what, *n) : n.error().message);
  return static_cast<uint32_t>(*n);
}

// One type as bpftool's `-j btf dump` prints it: the raw dump's fields as
// members, named as in the text form, in its order.
Json raw_type_json(const btf::Type& t) {
  using btf::Kind;
  auto name = [](uint32_t off, std::string_view n) { return off == 0 ? std::string("(anon)") : std::string(n); };
  Json j = {{"id", t.id}, {"kind", btf::kind_name(t.kind)}, {"name", name(t.name_off, t.name)}};
  switch (t.kind) {
    case Kind::Int:
      j["size"] = t.size;
      j["bits_offset"] = t.int_offset;
      j["nr_bits"] = t.int_bits;
      j["encoding"] = btf::int_encoding_name(t.int_encoding);
      break;
    case Kind::Ptr: case Kind::Const: case Kind::Volatile: case Kind::Restrict: case Kind::Typedef:
    case Kind::TypeTag:
      j["type_id"] = t.ref;
      break;
    case Kind::Array:
      j["type_id"] = t.elem_type;
      j["index_type_id"] = t.index_type;
      j["nr_elems"] = t.nelems;
      break;
    case Kind::Struct: case Kind::Union: {
      j["size"] = t.size;
      j["vlen"] = t.vlen;
      Json members = Json::array();
      for (const btf::Member& m : t.members) {
        Json e = {{"name", name(m.name_off, m.name)}, {"type_id", m.type}, {"bits_offset", m.bit_offset}};
        if (m.bitfield_size != 0) e["bitfield_size"] = m.bitfield_size;
        members.push_back(std::move(e));
      }
      j["members"] = std::move(members);
      break;
    }
    case Kind::Enum: case Kind::Enum64: {
      j["encoding"] = t.kflag ? "SIGNED" : "UNSIGNED";
      j["size"] = t.size;
      j["vlen"] = t.vlen;
      Json values = Json::array();
      for (const btf::Enumerator& e : t.enumerators) {
        Json v = {{"name", name(e.name_off, e.name)}};
        if (t.kind == Kind::Enum)
          t.kflag ? (v["val"] = static_cast<int32_t>(e.value)) : (v["val"] = static_cast<uint32_t>(e.value));
        else
          t.kflag ? (v["val"] = static_cast<int64_t>(e.value)) : (v["val"] = static_cast<uint64_t>(e.value));
        values.push_back(std::move(v));
      }
      j["values"] = std::move(values);
      break;
    }
    case Kind::Fwd: j["fwd_kind"] = t.kflag ? "union" : "struct"; break;
    case Kind::Func:
    case Kind::Var:
      j["type_id"] = t.ref;
      j["linkage"] = btf::linkage_name(t.linkage);
      break;
    case Kind::FuncProto: {
      j["ret_type_id"] = t.ref;
      j["vlen"] = t.vlen;
      Json params = Json::array();
      for (const btf::Param& p : t.params) params.push_back({{"name", name(p.name_off, p.name)}, {"type_id", p.type}});
      j["params"] = std::move(params);
      break;
    }
    case Kind::Datasec: {
      j["size"] = t.size;
      j["vlen"] = t.vlen;
      Json vars = Json::array();
      for (const btf::VarSecinfo& v : t.vars) vars.push_back({{"type_id", v.type}, {"offset", v.offset}, {"size", v.size}});
      j["vars"] = std::move(vars);
      break;
    }
    case Kind::Float: j["size"] = t.size; break;
    case Kind::DeclTag:
      j["type_id"] = t.ref;
      j["component_idx"] = t.component_idx;
      break;
    case Kind::Void: break;
  }
  return j;
}

Expected<std::vector<uint8_t>> store_btf(Store& store, uint32_t id) {
  auto raw = store.btf(id);
  if (!raw) return fail_errno(ENOENT, "BTF {}: no such BTF object in store {}", id, store.dir());
  return raw;
}

Expected<btf::Btf> parse_store_btf(Store& store, uint32_t id) {
  auto raw = store_btf(store, id);
  if (!raw) return unexpected(raw.error());
  return btf::Btf::parse(*raw, fmt::format("BTF {}", id));
}

// MAP := id ID | pinned PIN | name NAME; the map's attributes.
Expected<maps::MapInfo> select_map(Store& store, Words& w, const std::string& verb) {
  const std::string kind = need_word(w, verb, "MAP (id ID | pinned PIN | name NAME)");
  if (is_prefix(kind, "id")) {
    const uint32_t id = need_id(w, verb, "map id");
    auto m = store.open_map(id);
    if (!m) return fail_errno(ENOENT, "map {}: no such map in store {}", id, store.dir());
    return (*m)->info();
  }
  const std::string arg = need_word(w, verb, kind + " argument");
  if (is_prefix(kind, "pinned")) {
    auto obj = store.pinned(arg);
    if (!obj) return unexpected(obj.error());
    if (obj->first != maps::ObjectKind::Map) return fail(Errc::invalid_argument, "pinned object '{}' is not a map", arg);
    auto m = store.open_map(obj->second);
    if (!m) return unexpected(m.error());
    return (*m)->info();
  }
  if (is_prefix(kind, "name")) {
    auto ids = store.map_ids();
    if (!ids) return unexpected(ids.error());
    std::optional<maps::MapInfo> found;
    for (uint32_t id : *ids) {
      auto m = store.open_map(id);
      if (!m || (*m)->name() != arg) continue;
      if (found) return fail(Errc::invalid_argument, "several maps are named '{}': use id", arg);
      found = (*m)->info();
    }
    if (!found) return fail_errno(ENOENT, "no map named '{}'", arg);
    return *found;
  }
  usage(verb, fmt::format("expected 'id', 'pinned' or 'name' for the map, got '{}'", kind));
}

// PROG := id ID | pinned PIN | name NAME | tag TAG; the program's record.
Expected<maps::ProgramRecord> select_prog(Store& store, Words& w, const std::string& verb) {
  const std::string kind = need_word(w, verb, "PROG (id ID | pinned PIN | name NAME | tag TAG)");
  if (is_prefix(kind, "id")) {
    const uint32_t id = need_id(w, verb, "program id");
    auto p = store.program(id);
    if (!p) return fail_errno(ENOENT, "program {}: no such program in store {}", id, store.dir());
    return p;
  }
  const std::string arg = need_word(w, verb, kind + " argument");
  if (is_prefix(kind, "pinned")) {
    auto obj = store.pinned(arg);
    if (!obj) return unexpected(obj.error());
    if (obj->first != maps::ObjectKind::Program)
      return fail(Errc::invalid_argument, "pinned object '{}' is not a program", arg);
    return store.program(obj->second);
  }
  const bool by_tag = is_prefix(kind, "tag");
  if (!by_tag && !is_prefix(kind, "name"))
    usage(verb, fmt::format("expected 'id', 'pinned', 'name' or 'tag' for the program, got '{}'", kind));
  auto ids = store.program_ids();
  if (!ids) return unexpected(ids.error());
  std::optional<maps::ProgramRecord> found;
  for (uint32_t id : *ids) {
    auto p = store.program(id);
    if (!p || (by_tag ? p->tag : p->name) != arg) continue;
    if (found) return fail(Errc::invalid_argument, "several programs have {} '{}': use id", by_tag ? "tag" : "name", arg);
    found = std::move(*p);
  }
  if (!found) return fail_errno(ENOENT, "no program with {} '{}'", by_tag ? "tag" : "name", arg);
  return *found;
}

// ---- show / list ----------------------------------------------------------

// Which programs and maps of the store name each BTF object (bpftool builds
// the same tables from every program's and map's info).
struct BtfUsers {
  std::map<uint32_t, std::vector<uint32_t>> progs, maps;
};

Expected<BtfUsers> btf_users(Store& store) {
  BtfUsers u;
  auto pids = store.program_ids();
  if (!pids) return unexpected(pids.error());
  for (uint32_t id : *pids)
    if (auto p = store.program(id); p && p->btf_id) u.progs[p->btf_id].push_back(id);  // gone meanwhile: skipped
  auto mids = store.map_ids();
  if (!mids) return unexpected(mids.error());
  for (uint32_t id : *mids)
    if (auto m = store.open_map(id); m && (*m)->info().attr.btf_id) u.maps[(*m)->info().attr.btf_id].push_back(id);
  return u;
}

std::string join_ids(const std::vector<uint32_t>& ids) {
  std::string s;
  for (uint32_t id : ids) s += fmt::format("{}{}", s.empty() ? "" : ",", id);
  return s;
}

Expected<void> run_show(Store& store, Words& w, const BtfArgs& a, const std::string& verb) {
  std::vector<uint32_t> ids;
  const bool single = !w.empty();
  if (single) {
    if (!is_prefix(w.next(), "id")) usage(verb, "expected 'id ID'");
    ids.push_back(need_id(w, verb, "BTF id"));
  }
  if (!w.empty()) usage(verb, fmt::format("unexpected argument '{}'", w.next()));
  if (!single) {
    auto all = store.btf_ids();
    if (!all) return unexpected(all.error());
    ids = *all;
  }
  auto users = btf_users(store);
  if (!users) return unexpected(users.error());
  auto j = Json::array();
  for (uint32_t id : ids) {
    auto raw = store_btf(store, id);
    if (!raw) {
      if (single) return unexpected(raw.error());
      continue;  // released meanwhile
    }
    const auto& progs = users->progs[id];
    const auto& maps = users->maps[id];
    if (a.json) {
      // Store BTF objects have no name (the kernel names only vmlinux and
      // module BTF), so "name" is left out, as bpftool does for anonymous ones.
      j.push_back({{"id", id}, {"size", raw->size()}, {"prog_ids", progs}, {"map_ids", maps}, {"kernel", false}});
      continue;
    }
    std::string line = fmt::format("{}: name <anon>  size {}B", id, raw->size());
    if (!progs.empty()) line += "  prog_ids " + join_ids(progs);
    if (!maps.empty()) line += "  map_ids " + join_ids(maps);
    std::printf("%s\n", line.c_str());
  }
  if (a.json) std::printf("%s\n", (single ? j[0] : j).dump(a.pretty ? 4 : -1).c_str());
  return {};
}

// ---- dump -------------------------------------------------------------------

// The BTF to print and, for `map`, the types to print (none: all).
struct DumpSource {
  std::optional<btf::Btf> btf;
  std::vector<uint32_t> roots;
};

Expected<DumpSource> dump_source(Store* store, Words& w, const std::string& verb) {
  const std::string src = need_word(w, verb, "BTF_SRC (file OBJ | id ID | map MAP | prog PROG)");
  DumpSource d;
  if (is_prefix(src, "file")) {
    auto b = btf::Btf::load_file(need_word(w, verb, "file name"));
    if (!b) return unexpected(b.error());
    d.btf.emplace(std::move(*b));
    return d;
  }
  if (!is_prefix(src, "id") && !is_prefix(src, "map") && !is_prefix(src, "prog"))
    usage(verb, fmt::format("unrecognized BTF source '{}': expected file, id, map or prog", src));
  uint32_t btf_id = 0;
  if (is_prefix(src, "id")) {
    btf_id = need_id(w, verb, "BTF id");
  } else if (is_prefix(src, "map")) {
    auto m = select_map(*store, w, verb);
    if (!m) return unexpected(m.error());
    if (m->attr.btf_id == 0) return fail(Errc::invalid_argument, "map {} has no BTF", m->id);
    btf_id = m->attr.btf_id;
    // bpftool: the key and value types by default ("kv"), or one of them, or
    // every type ("all").
    const bool key = !w.empty() && is_prefix(w.peek(), "key");
    const bool value = !w.empty() && is_prefix(w.peek(), "value");
    const bool all = !w.empty() && is_prefix(w.peek(), "all");
    const bool kv = !w.empty() && is_prefix(w.peek(), "kv");
    if (key || value || all || kv) w.next();
    if (!all) {
      if (!value && m->attr.btf_key_type_id) d.roots.push_back(m->attr.btf_key_type_id);
      if (!key && m->attr.btf_value_type_id) d.roots.push_back(m->attr.btf_value_type_id);
      if (d.roots.empty())
        return fail(Errc::invalid_argument, "map {} has no BTF {} type", m->id, key ? "key" : value ? "value" : "key or value");
    }
  } else {
    auto p = select_prog(*store, w, verb);
    if (!p) return unexpected(p.error());
    if (p->btf_id == 0) return fail(Errc::invalid_argument, "program {} has no BTF", p->id);
    btf_id = p->btf_id;
  }
  auto b = parse_store_btf(*store, btf_id);
  if (!b) return unexpected(b.error());
  d.btf.emplace(std::move(*b));
  return d;
}

// The first word decides whether the store is needed: only id, map and prog
// read it (`file` and a misspelt source must not create a default store).
Expected<void> run_dump(const BtfArgs& a) {
  const std::string verb = "dump";
  Words w(a.words);
  std::shared_ptr<Store> store;
  if (!w.empty() && !is_prefix(w.peek(), "file") &&
      (is_prefix(w.peek(), "id") || is_prefix(w.peek(), "map") || is_prefix(w.peek(), "prog"))) {
    auto s = Store::open(a.store.empty() ? Store::default_dir() : a.store);
    if (!s) return unexpected(s.error());
    store = *s;
  }
  auto src = dump_source(store.get(), w, verb);
  if (!src) return unexpected(src.error());
  bool c_format = false;
  while (!w.empty()) {
    const std::string k = w.next();
    if (!is_prefix(k, "format")) usage(verb, "unrecognized option '" + k + "'");
    if (w.empty()) usage(verb, "expecting value for 'format'");
    const std::string f = w.next();
    if (f == "c") c_format = true;
    else if (f == "raw") c_format = false;
    else usage(verb, "unrecognized format '" + f + "', possible values: raw, c");
  }
  const btf::Btf& b = *src->btf;
  if (a.json) {
    if (c_format) return fail(Errc::invalid_argument, "JSON output for C-syntax dump is not supported");
    Json types = Json::array();
    if (src->roots.empty()) {
      for (size_t id = b.first_own_id(); id < b.type_count(); ++id)
        types.push_back(raw_type_json(*b.type(static_cast<uint32_t>(id))));
    } else {
      for (uint32_t id : src->roots)
        if (const btf::Type* t = b.type(id)) types.push_back(raw_type_json(*t));
    }
    std::printf("%s\n", Json{{"types", std::move(types)}}.dump(a.pretty ? 4 : -1).c_str());
    return {};
  }
  std::string text;
  if (!c_format && src->roots.empty()) {
    text = btf::dump_raw(b);
  } else if (!c_format) {
    for (uint32_t id : src->roots) text += btf::dump_raw_type(b, id) + "\n";
  } else {
    auto c = src->roots.empty() ? btf::dump_c(b) : btf::dump_c_types(b, src->roots);
    if (!c) return unexpected(c.error());
    text = std::move(*c);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return {};
}

// --store / -j / -p given after `btf` or before it (globals), as for map.
void merge_globals(BtfArgs& a) {
  if (a.store.empty()) a.store = globals().store;
  a.json |= globals().json || globals().pretty;
  a.pretty |= globals().pretty;
  if (a.pretty) a.json = true;
}

int report_btf_verb(const Error& e, const std::string& verb) { return report_verb(e, "btf " + verb); }

}  // namespace

void add_btf_command(CLI::App& app, int& exit_code) {
  CLI::App* btf = app.add_subcommand("btf", "Inspect BTF type information (bpftool's 'btf' command)");
  require_command(btf, exit_code);
  auto args = std::make_shared<BtfArgs>();
  btf->add_option("--store", args->store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
  btf->add_flag("-j,--json", args->json, "JSON output, as bpftool's (show, list, raw dump)");
  btf->add_flag("-p,--pretty", args->pretty, "Pretty-printed JSON (implies --json)");
  btf->footer("MAP := id ID | pinned PIN | name NAME    PROG := id ID | pinned PIN | name NAME | tag TAG");
  for (const char* verb : {"show", "list"}) {
    auto* sub = btf->add_subcommand(verb, std::string(verb) + " [id ID]: the BTF objects of the store");
    sub->add_option("words", args->words, "id ID");
    sub->fallthrough();
    sub->callback([args, &exit_code, v = std::string(verb)] {
      merge_globals(*args);
      auto store = Store::open(args->store.empty() ? Store::default_dir() : args->store);
      if (!store) {
        exit_code = report(store.error());
        return;
      }
      Words w(args->words);
      if (auto r = run_show(**store, w, *args, v); !r) exit_code = report_btf_verb(r.error(), v);
    });
  }
  CLI::App* dump = btf->add_subcommand(
      "dump", "Print BTF: dump { file OBJ | id ID | map MAP [key|value|kv|all] | prog PROG } [format raw|c]");
  // Checked by run_dump() so every misuse gets a message naming the command.
  dump->add_option("words", args->words, "BTF_SRC [format raw|c]");
  dump->fallthrough();
  dump->callback([args, &exit_code] {
    merge_globals(*args);
    if (args->words.empty()) throw CLI::ValidationError("btf dump", "expected 'BTF_SRC [format raw|c]'");
    // Files keep the messages `btf dump file` always printed ("xbpf: F: ...").
    if (auto r = run_dump(*args); !r)
      exit_code = is_prefix(args->words[0], "file") ? report(r.error()) : report_btf_verb(r.error(), "dump");
  });
}

}  // namespace xbpf::cli
