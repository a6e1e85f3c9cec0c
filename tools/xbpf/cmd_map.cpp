// `xbpf map ...`: bpftool's map commands for maps in xbpf's store.
//
//   xbpf map create PIN type TYPE key KEY_SIZE value VALUE_SIZE entries MAX name NAME [flags F] [inner_map MAP]
//   xbpf map { show | list } [MAP]
//   xbpf map dump MAP
//   xbpf map lookup MAP key DATA
//   xbpf map getnext MAP [key DATA]
//   xbpf map update MAP key DATA value VALUE [any | exist | noexist]
//   xbpf map delete MAP key DATA
//   xbpf map pin MAP PIN
//   xbpf map freeze MAP
//   xbpf map { push | enqueue } MAP value VALUE;  xbpf map { pop | dequeue | peek } MAP
//
// MAP := id ID | pinned PIN | name NAME;  DATA := [hex] BYTES;  VALUE := DATA | id PROG_OR_MAP_ID
// (prog_array, map-in-map). PIN is a name inside the store. Output follows
// bpftool's layout; -j/--json prints bpftool's JSON. A map with BTF (its
// object's types) has its keys and values printed through them, as bpftool
// does: a JSON-like text in plain mode, a "formatted" member next to the raw
// bytes with -j.
#include <cerrno>
#include <cstdio>
#include <cstring>
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

using maps::Map;
using maps::MapInfo;
using maps::Store;
// Ordered, so that JSON members come in bpftool's order (and struct fields in
// declaration order).
using Json = nlohmann::ordered_json;

struct MapArgs {
  std::string store;
  bool json = false;
  bool pretty = false;
  std::vector<std::string> words;
};



// bpftool's DATA: bytes in C notation (decimal, 0x.., 0..), or after `hex`
// two hex digits each.
Expected<std::vector<uint8_t>> parse_bytes(std::vector<std::string> words, size_t want, std::string_view what) {
  bool hex = !words.empty() && words[0] == "hex";
  if (hex) words.erase(words.begin());
  std::vector<uint8_t> out;
  for (const auto& w : words) {
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(w.c_str(), &end, hex ? 16 : 0);
    if (w.empty() || *end || errno || v > 0xff || w[0] == '-')
      return fail(Errc::invalid_argument, "error parsing byte: {}", w);
    out.push_back(static_cast<uint8_t>(v));
  }
  if (out.size() != want) return fail(Errc::invalid_argument, "{} expected {} bytes got {}", what, want, out.size());
  return out;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt::format("{}{:02x}", i ? " " : "", p[i]);
  return s;
}

Json json_bytes(const uint8_t* p, size_t n) {
  auto a = Json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(fmt::format("0x{:02x}", p[i]));
  return a;
}


Expected<std::shared_ptr<Store>> open_store(const MapArgs& a) {
  return Store::open(a.store.empty() ? Store::default_dir() : a.store);
}

// MAP := id ID | pinned PIN | name NAME
Expected<std::shared_ptr<Map>> select_map(Store& store, Words& w) {
  auto kind = w.expect("MAP (id ID | pinned PIN | name NAME)");
  if (!kind) return unexpected(kind.error());
  auto arg = w.expect(*kind + " argument");
  if (!arg) return unexpected(arg.error());
  if (*kind == "id") {
    auto id = parse_number(*arg, "map id");
    if (!id) return unexpected(id.error());
    return store.open_map(static_cast<uint32_t>(*id));
  }
  if (*kind == "pinned") {
    auto obj = store.pinned(*arg);
    if (!obj) return unexpected(obj.error());
    if (obj->first != maps::ObjectKind::Map)
      return fail(Errc::invalid_argument, "pinned object '{}' is not a map", *arg);
    return store.open_map(obj->second);
  }
  if (*kind == "name") {
    auto ids = store.map_ids();
    if (!ids) return unexpected(ids.error());
    std::shared_ptr<Map> found;
    for (uint32_t id : *ids) {
      auto m = store.open_map(id);
      if (!m || (*m)->name() != *arg) continue;
      if (found) return fail(Errc::invalid_argument, "several maps are named '{}': use id", *arg);
      found = *m;
    }
    if (!found) return fail_errno(ENOENT, "no map named '{}'", *arg);
    return found;
  }
  return fail(Errc::invalid_argument, "expected 'id', 'pinned' or 'name', got '{}'", *kind);
}

Json info_json(const MapInfo& i) {
  Json j = {{"id", i.id},
          {"type", std::string(kabi::name(i.attr.type))},
          {"name", i.attr.name},
          {"flags", i.attr.map_flags},
          {"bytes_key", i.attr.key_size},
          {"bytes_value", i.attr.value_size},
          {"max_entries", i.attr.max_entries},
          {"frozen", i.frozen ? 1 : 0}};
  if (i.attr.btf_id) j["btf_id"] = i.attr.btf_id;
  return j;
}

void print_info(const MapInfo& i) {
  std::string type(kabi::name(i.attr.type));
  if (type.empty()) type = fmt::format("type {}", static_cast<uint32_t>(i.attr.type));
  std::printf("%u: %s  name %s  flags 0x%x\n", i.id, type.c_str(), i.attr.name.c_str(), i.attr.map_flags);
  std::printf("\tkey %uB  value %uB  max_entries %u\n", i.attr.key_size, i.attr.value_size, i.attr.max_entries);
  // bpftool: btf_id and frozen share the last line.
  if (i.attr.btf_id && i.frozen) std::printf("\tbtf_id %u  frozen\n", i.attr.btf_id);
  else if (i.attr.btf_id) std::printf("\tbtf_id %u\n", i.attr.btf_id);
  else if (i.frozen) std::printf("\tfrozen\n");
}

void print_json(const MapArgs& a, const Json& j) {
  std::printf("%s\n", j.dump(a.pretty ? 4 : -1).c_str());
}

using Verb = Expected<void> (*)(Store&, Words&, const MapArgs&);

Expected<void> cmd_create(Store& store, Words& w, const MapArgs& a) {
  auto pin = w.expect("PIN");
  if (!pin) return unexpected(pin.error());
  maps::MapAttr attr;
  bool have_type = false, have_key = false, have_value = false, have_entries = false, have_name = false;
  while (!w.empty()) {
    std::string k = w.next();
    if (k == "inner_map") {
      auto inner = select_map(store, w);
      if (!inner) return unexpected(inner.error());
      attr.inner_map_id = (*inner)->id();
      continue;
    }
    auto v = w.expect(k + " argument");
    if (!v) return unexpected(v.error());
    if (k == "type") {
      auto t = kabi::map_type_from_name(*v);
      if (!t) return fail(Errc::invalid_argument, "unrecognized map type: {}", *v);
      attr.type = *t, have_type = true;
    } else if (k == "name") {
      attr.name = *v, have_name = true;
    } else if (k == "key" || k == "value" || k == "entries" || k == "flags" || k == "extra") {
      auto n = parse_number(*v, k);
      if (!n) return unexpected(n.error());
      if (k != "extra" && *n > UINT32_MAX) return fail(Errc::invalid_argument, "{} {} is too large", k, *v);
      const auto u = static_cast<uint32_t>(*n);
      if (k == "key") attr.key_size = u, have_key = true;
      else if (k == "value") attr.value_size = u, have_value = true;
      else if (k == "entries") attr.max_entries = u, have_entries = true;
      else if (k == "flags") attr.map_flags = u;
      else attr.map_extra = *n;
    } else {
      return fail(Errc::invalid_argument, "unknown arg {}", k);
    }
  }
  if (!have_type || !have_key || !have_value || !have_entries || !have_name)
    return fail(Errc::invalid_argument, "map create needs type, key, value, entries and name");
  auto m = store.create_map(attr);
  if (!m) return unexpected(m.error());
  if (auto r = store.pin(maps::ObjectKind::Map, (*m)->id(), *pin); !r) return unexpected(r.error());
  (void)a;
  return {};
}

Expected<void> cmd_show(Store& store, Words& w, const MapArgs& a) {
  std::vector<std::shared_ptr<Map>> list;
  const bool single = !w.empty();
  if (single) {
    auto m = select_map(store, w);
    if (!m) return unexpected(m.error());
    list.push_back(*m);
  } else {
    auto ids = store.map_ids();
    if (!ids) return unexpected(ids.error());
    for (uint32_t id : *ids)
      if (auto m = store.open_map(id)) list.push_back(*m);  // a map reclaimed meanwhile is skipped
  }
  if (auto r = w.done(); !r) return r;
  auto j = Json::array();
  for (const auto& m : list) {
    if (a.json) j.push_back(info_json(m->info()));
    else print_info(m->info());
  }
  if (a.json) print_json(a, single ? j[0] : j);
  return {};
}

Expected<std::vector<uint8_t>> read_key(const Map& m, Words& w, bool required) {
  if (!w.accept("key")) {
    if (required) return fail(Errc::invalid_argument, "did not find key");
    return std::vector<uint8_t>{};
  }
  return parse_bytes(w.until({"value", "any", "exist", "noexist"}), m.key_size(), "key");
}

// VALUE for update: bytes (replicated to every CPU for per-CPU maps) or `id N`.
Expected<std::vector<uint8_t>> read_value(const Map& m, Words& w) {
  if (!w.accept("value")) return fail(Errc::invalid_argument, "did not find value");
  std::vector<uint8_t> out(m.user_value_size());
  if (w.accept("id") || w.accept("pinned")) {
    auto id = parse_number(w.next(), "id");
    if (!id) return unexpected(id.error());
    if (m.value_size() != 4) return fail(Errc::invalid_argument, "value is an id but the map's values are {} bytes", m.value_size());
    const auto v = static_cast<uint32_t>(*id);
    std::memcpy(out.data(), &v, 4);
    return out;
  }
  auto bytes = parse_bytes(w.until({"any", "exist", "noexist"}), m.value_size(), "value");
  if (!bytes) return unexpected(bytes.error());
  const size_t stride = maps::is_percpu(m.type()) ? (m.value_size() + 7) & ~size_t{7} : m.value_size();
  for (size_t off = 0; off + m.value_size() <= out.size(); off += stride)
    std::memcpy(out.data() + off, bytes->data(), bytes->size());
  return out;
}

// The BTF a map's keys and values are printed through, parsed once per
// command. bpftool formats a map's entries when it has a BTF value type; the
// key is then printed only if it has a BTF key type too (queues have none).
struct MapBtf {
  std::unique_ptr<btf::Btf> btf;  // nullptr: bytes in hex, as before BTF
  uint32_t key_type = 0;
  uint32_t value_type = 0;
};

Expected<MapBtf> load_map_btf(Store& store, const Map& m) {
  const maps::MapAttr attr = m.info().attr;
  if (attr.btf_id == 0 || attr.btf_value_type_id == 0) return MapBtf{};
  auto raw = store.btf(attr.btf_id);
  if (!raw) return unexpected(with_context(raw.error(), fmt::format("map {}: BTF {}", m.id(), attr.btf_id)));
  auto parsed = btf::Btf::parse(*raw, fmt::format("BTF {}", attr.btf_id));
  if (!parsed) return unexpected(with_context(parsed.error(), fmt::format("map {}", m.id())));
  return MapBtf{std::make_unique<btf::Btf>(std::move(*parsed)), attr.btf_key_type_id, attr.btf_value_type_id};
}

size_t percpu_stride(const Map& m) { return (m.value_size() + 7) & ~size_t{7}; }

// bpftool's json_writer in pretty mode: a new line, then 4 spaces per level.
std::string eol(unsigned depth) { return "\n" + std::string(size_t{depth} * 4, ' '); }

// A value as bpftool's plain-text dump prints it, its first line at `depth`.
Expected<std::string> btf_text(const MapBtf& b, uint32_t type, const uint8_t* p, size_t n, unsigned depth) {
  return btf::format_value(*b.btf, type, {p, n}, {.base_depth = depth});
}

// A value as bpftool's -j prints it under "formatted".
Expected<Json> btf_json(const MapBtf& b, uint32_t type, const uint8_t* p, size_t n) {
  auto text = btf::format_value(*b.btf, type, {p, n}, {.plain_text = false});
  if (!text) return unexpected(text.error());
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Json(*text);  // cannot happen for the JSON flavour; keep the text
  return j;
}

// One entry the way bpftool's plain-text dump prints it for a map with BTF:
// an object {"key": .., "value": ..} (per-CPU: "values": [{"cpu": N,
// "value": ..}, ..]) opened at `depth`, without a trailing newline. `key`
// nullptr: no key (queue, stack).
Expected<std::string> entry_text(const Map& m, const MapBtf& b, const uint8_t* key, const uint8_t* value,
                                 unsigned depth) {
  const unsigned in = depth + 1;
  std::string s = "{";
  const char* sep = "";
  if (key && b.key_type) {
    auto k = btf_text(b, b.key_type, key, m.key_size(), in);
    if (!k) return unexpected(k.error());
    s += eol(in) + "\"key\": " + *k;
    sep = ",";
  }
  if (!maps::is_percpu(m.type())) {
    auto v = btf_text(b, b.value_type, value, m.value_size(), in);
    if (!v) return unexpected(v.error());
    s += sep + eol(in) + "\"value\": " + *v;
  } else {
    s += sep + eol(in) + "\"values\": [";
    for (uint32_t cpu = 0; cpu < maps::possible_cpus(); ++cpu) {
      auto v = btf_text(b, b.value_type, value + cpu * percpu_stride(m), m.value_size(), in + 2);
      if (!v) return unexpected(v.error());
      s += fmt::format("{}{{{}\"cpu\": {},{}\"value\": {}{}}}", cpu ? "," : "", eol(in + 2), cpu, eol(in + 2), *v,
                       eol(in + 1));
    }
    s += eol(in) + "]";
  }
  return s + eol(depth) + "}";
}

// The same entry as bpftool's -j "formatted" member.
Expected<Json> entry_formatted(const Map& m, const MapBtf& b, const uint8_t* key, const uint8_t* value) {
  Json f = Json::object();
  if (key && b.key_type) {
    auto k = btf_json(b, b.key_type, key, m.key_size());
    if (!k) return unexpected(k.error());
    f["key"] = std::move(*k);
  }
  if (!maps::is_percpu(m.type())) {
    auto v = btf_json(b, b.value_type, value, m.value_size());
    if (!v) return unexpected(v.error());
    f["value"] = std::move(*v);
    return f;
  }
  auto values = Json::array();
  for (uint32_t cpu = 0; cpu < maps::possible_cpus(); ++cpu) {
    auto v = btf_json(b, b.value_type, value + cpu * percpu_stride(m), m.value_size());
    if (!v) return unexpected(v.error());
    values.push_back({{"cpu", cpu}, {"value", std::move(*v)}});
  }
  f["values"] = std::move(values);
  return f;
}

// One "key: .. value: .." line (per-CPU maps: one value line per CPU, as bpftool).
void print_hex_entry(const Map& m, const uint8_t* key, const uint8_t* value) {
  if (!maps::is_percpu(m.type())) {
    std::printf("key: %s  value: %s\n", hex_bytes(key, m.key_size()).c_str(), hex_bytes(value, m.value_size()).c_str());
    return;
  }
  std::printf("key:\n%s\n", hex_bytes(key, m.key_size()).c_str());
  for (uint32_t cpu = 0; cpu < maps::possible_cpus(); ++cpu)
    std::printf("value (CPU %02u): %s\n", cpu, hex_bytes(value + cpu * percpu_stride(m), m.value_size()).c_str());
}

// bpftool's JSON entry: raw bytes, plus "formatted" when the map has BTF.
Expected<Json> entry_json(const Map& m, const MapBtf& b, const uint8_t* key, const uint8_t* value) {
  Json e = {{"key", json_bytes(key, m.key_size())}};
  if (!maps::is_percpu(m.type())) {
    e["value"] = json_bytes(value, m.value_size());
  } else {
    auto values = Json::array();
    for (uint32_t cpu = 0; cpu < maps::possible_cpus(); ++cpu)
      values.push_back({{"cpu", cpu}, {"value", json_bytes(value + cpu * percpu_stride(m), m.value_size())}});
    e["values"] = values;
  }
  if (b.btf) {
    auto f = entry_formatted(m, b, key, value);
    if (!f) return unexpected(f.error());
    e["formatted"] = std::move(*f);
  }
  return e;
}

// What lookup prints for one entry (bpftool's print_key_value).
Expected<void> print_entry(const MapArgs& a, const Map& m, const MapBtf& b, const uint8_t* key, const uint8_t* value) {
  if (a.json) {
    auto j = entry_json(m, b, key, value);
    if (!j) return unexpected(j.error());
    print_json(a, *j);
  } else if (b.btf) {
    auto t = entry_text(m, b, key, value, 0);
    if (!t) return unexpected(t.error());
    std::printf("%s\n", t->c_str());
  } else {
    print_hex_entry(m, key, value);
  }
  return {};
}

Expected<void> cmd_dump(Store& store, Words& w, const MapArgs& a) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  if (auto r = w.done(); !r) return r;
  Map& map = **m;
  auto b = load_map_btf(store, map);
  if (!b) return unexpected(b.error());
  std::vector<uint8_t> key(map.key_size()), next(map.key_size()), value(map.user_value_size());
  auto j = Json::array();
  std::string text;  // plain output with BTF: bpftool's array of entries
  size_t n = 0;
  for (const void* prev = nullptr;; prev = key.data()) {
    auto r = map.get_next_key(prev, next.data());
    if (!r) {
      if (r.error().errnum == ENOENT) break;
      return unexpected(r.error());
    }
    key = next;
    if (auto l = map.lookup(key.data(), value.data(), 0); !l) {
      if (l.error().errnum == ENOENT) continue;  // deleted meanwhile
      if (l.error().errnum != EOPNOTSUPP) return unexpected(l.error());
      // A key whose value user space cannot read (an xskmap's sockets): as
      // bpftool, the key with the lookup's error, not counted. (bpftool prints
      // that line in BTF mode too, its print_entry_error: it is no silent skip.)
      const std::string why = std::strerror(EOPNOTSUPP);
      if (a.json) j.push_back({{"key", json_bytes(key.data(), key.size())}, {"value", {{"error", why}}}});
      else std::printf("key: %s  value: <%s>\n", hex_bytes(key.data(), key.size()).c_str(), why.c_str());
      continue;
    }
    if (a.json) {
      auto e = entry_json(map, *b, key.data(), value.data());
      if (!e) return unexpected(e.error());
      j.push_back(std::move(*e));
    } else if (b->btf) {
      auto e = entry_text(map, *b, key.data(), value.data(), 1);
      if (!e) return unexpected(e.error());
      text += (n ? "," : "") + *e;
    } else {
      print_hex_entry(map, key.data(), value.data());
    }
    ++n;
  }
  if (a.json) print_json(a, j);
  else if (b->btf) std::printf("[%s%s]\n", text.c_str(), n ? "\n" : "");  // no count line, as bpftool
  else std::printf("Found %zu element%s\n", n, n == 1 ? "" : "s");
  return {};
}

Expected<void> cmd_lookup(Store& store, Words& w, const MapArgs& a) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  auto key = read_key(**m, w, true);
  if (!key) return unexpected(key.error());
  if (auto r = w.done(); !r) return r;
  auto b = load_map_btf(store, **m);
  if (!b) return unexpected(b.error());
  std::vector<uint8_t> value((*m)->user_value_size());
  if (auto r = (*m)->lookup(key->data(), value.data(), 0); !r) {
    if (r.error().errnum == ENOENT) return fail_errno(ENOENT, "key {}: not found", hex_bytes(key->data(), key->size()));
    return r;
  }
  return print_entry(a, **m, *b, key->data(), value.data());
}

// getnext of a map with a BTF key type also prints both keys through it
// (bpftool prints them in hex only): {"key": .., "next_key": ..}, and with -j
// as "formatted" next to the raw bytes.
Expected<void> cmd_getnext(Store& store, Words& w, const MapArgs& a) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  auto key = read_key(**m, w, false);
  if (!key) return unexpected(key.error());
  if (auto r = w.done(); !r) return r;
  auto b = load_map_btf(store, **m);
  if (!b) return unexpected(b.error());
  const bool formatted = b->btf && b->key_type;
  std::vector<uint8_t> next((*m)->key_size());
  if (auto r = (*m)->get_next_key(key->empty() ? nullptr : key->data(), next.data()); !r) return r;
  const size_t ks = next.size();
  if (a.json) {
    Json j = {{"key", key->empty() ? Json() : json_bytes(key->data(), ks)}, {"next_key", json_bytes(next.data(), ks)}};
    if (formatted) {
      Json f = {{"key", nullptr}};
      if (!key->empty()) {
        auto k = btf_json(*b, b->key_type, key->data(), ks);
        if (!k) return unexpected(k.error());
        f["key"] = std::move(*k);
      }
      auto n = btf_json(*b, b->key_type, next.data(), ks);
      if (!n) return unexpected(n.error());
      f["next_key"] = std::move(*n);
      j["formatted"] = std::move(f);
    }
    print_json(a, j);
  } else if (formatted) {
    std::string k = "null";
    if (!key->empty()) {
      auto t = btf_text(*b, b->key_type, key->data(), ks, 1);
      if (!t) return unexpected(t.error());
      k = *t;
    }
    auto n = btf_text(*b, b->key_type, next.data(), ks, 1);
    if (!n) return unexpected(n.error());
    std::printf("{%s\"key\": %s,%s\"next_key\": %s\n}\n", eol(1).c_str(), k.c_str(), eol(1).c_str(), n->c_str());
  } else {
    std::printf("key:%s\nnext key:\n%s\n", key->empty() ? " None" : ("\n" + hex_bytes(key->data(), ks)).c_str(),
                hex_bytes(next.data(), ks).c_str());
  }
  return {};
}

Expected<void> cmd_update(Store& store, Words& w, const MapArgs&) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  auto key = read_key(**m, w, true);
  if (!key) return unexpected(key.error());
  auto value = read_value(**m, w);
  if (!value) return unexpected(value.error());
  uint64_t flags = maps::kAny;
  if (w.accept("exist")) flags = maps::kExist;
  else if (w.accept("noexist")) flags = maps::kNoExist;
  else w.accept("any");
  if (auto r = w.done(); !r) return r;
  return (*m)->update(key->data(), value->data(), flags);
}

Expected<void> cmd_delete(Store& store, Words& w, const MapArgs&) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  auto key = read_key(**m, w, true);
  if (!key) return unexpected(key.error());
  if (auto r = w.done(); !r) return r;
  return (*m)->remove(key->data());
}

Expected<void> cmd_pin(Store& store, Words& w, const MapArgs&) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  auto pin = w.expect("PIN");
  if (!pin) return unexpected(pin.error());
  if (auto r = w.done(); !r) return r;
  return store.pin(maps::ObjectKind::Map, (*m)->id(), *pin);
}

Expected<void> cmd_freeze(Store& store, Words& w, const MapArgs&) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  if (auto r = w.done(); !r) return r;
  return (*m)->freeze();
}

Expected<void> cmd_push(Store& store, Words& w, const MapArgs&) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  auto value = read_value(**m, w);
  if (!value) return unexpected(value.error());
  if (auto r = w.done(); !r) return r;
  // Queue/stack/bloom: the kernel's user-side update with a NULL key pushes.
  return (*m)->update(nullptr, value->data(), maps::kAny);
}

Expected<void> pop_or_peek(Store& store, Words& w, const MapArgs& a, bool pop) {
  auto m = select_map(store, w);
  if (!m) return unexpected(m.error());
  if (auto r = w.done(); !r) return r;
  auto b = load_map_btf(store, **m);
  if (!b) return unexpected(b.error());
  std::vector<uint8_t> value((*m)->user_value_size());
  auto r = pop ? (*m)->lookup_and_delete(nullptr, value.data(), 0) : (*m)->lookup(nullptr, value.data(), 0);
  if (!r) {
    if (r.error().errnum == ENOENT) return fail_errno(ENOENT, "empty map");  // bpftool's words
    return r;
  }
  if (a.json) {
    Json j = {{"value", json_bytes(value.data(), (*m)->value_size())}};
    if (b->btf) {
      auto f = entry_formatted(**m, *b, nullptr, value.data());
      if (!f) return unexpected(f.error());
      j["formatted"] = std::move(*f);
    }
    print_json(a, j);
  } else if (b->btf) {
    auto t = entry_text(**m, *b, nullptr, value.data(), 0);
    if (!t) return unexpected(t.error());
    std::printf("%s\n", t->c_str());
  } else {
    std::printf("value: %s\n", hex_bytes(value.data(), (*m)->value_size()).c_str());
  }
  return {};
}
Expected<void> cmd_pop(Store& s, Words& w, const MapArgs& a) { return pop_or_peek(s, w, a, true); }
Expected<void> cmd_peek(Store& s, Words& w, const MapArgs& a) { return pop_or_peek(s, w, a, false); }

struct VerbInfo {
  const char* name;
  Verb fn;
  const char* help;
};
constexpr VerbInfo kVerbs[] = {
    {"create", cmd_create, "create PIN type TYPE key KEY_SIZE value VALUE_SIZE entries MAX name NAME [flags F] [inner_map MAP]"},
    {"show", cmd_show, "show [MAP]: one map, or every map in the store"},
    {"list", cmd_show, "list [MAP]: same as show"},
    {"dump", cmd_dump, "dump MAP: every entry"},
    {"lookup", cmd_lookup, "lookup MAP key DATA"},
    {"getnext", cmd_getnext, "getnext MAP [key DATA]: the key after DATA (first key without it)"},
    {"update", cmd_update, "update MAP key DATA value VALUE [any|exist|noexist]"},
    {"delete", cmd_delete, "delete MAP key DATA"},
    {"pin", cmd_pin, "pin MAP PIN: give the map a name in the store"},
    {"freeze", cmd_freeze, "freeze MAP: user space may no longer write"},
    {"push", cmd_push, "push MAP value VALUE (queue, stack, bloom_filter)"},
    {"enqueue", cmd_push, "enqueue MAP value VALUE (queue)"},
    {"pop", cmd_pop, "pop MAP (queue, stack)"},
    {"dequeue", cmd_pop, "dequeue MAP (queue)"},
    {"peek", cmd_peek, "peek MAP (queue, stack)"},
};

}  // namespace

void add_map_command(CLI::App& app, int& exit_code) {
  auto* map = app.add_subcommand("map", "Create, inspect and edit maps in the store (bpftool's 'map' command)");
  require_command(map, exit_code);
  auto args = std::make_shared<MapArgs>();
  map->add_option("--store", args->store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
  map->add_flag("-j,--json", args->json, "JSON output, as bpftool's");
  map->add_flag("-p,--pretty", args->pretty, "Pretty-printed JSON (implies --json)");
  map->footer("MAP := id ID | pinned PIN | name NAME    DATA := [hex] BYTES    VALUE := DATA | id ID");
  for (const VerbInfo& v : kVerbs) {
    auto* sub = map->add_subcommand(v.name, v.help);
    sub->add_option("words", args->words, "arguments, as bpftool takes them");
    sub->allow_extras(false);
    sub->fallthrough();  // --store / -j given after the verb, as users type them
    sub->callback([&exit_code, args, fn = v.fn, verb = std::string(v.name)] {
      if (args->store.empty()) args->store = globals().store;
      args->json |= globals().json || globals().pretty;
      args->pretty |= globals().pretty;
      if (args->pretty) args->json = true;
      auto store = open_store(*args);
      if (!store) {
        exit_code = report(store.error());
        return;
      }
      Words w(args->words);
      if (auto r = fn(**store, w, *args); !r) {
        exit_code = report_verb(r.error(), "map " + verb);
      }
    });
  }
}

}  // namespace xbpf::cli
