// `xbpf link ...`: bpftool's link commands.
//
//   xbpf link { show | list } [LINK];  xbpf link pin LINK PATH;  xbpf link detach LINK
//   LINK := id ID | pinned PATH
//
// A link is a program attached to a hook. The hooks xbpf has are packet
// devices (`xbpf net attach xdp PROG dev NAME` makes an XDP link): a link
// lives while its device runs it, a pin names it or a process holds it, and
// holds its program. `detach` takes it off its device; a pinned link then
// stays, shown as detached (the kernel's defunct link), until unpinned.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "maps/store.hpp"
#include "prog_store.hpp"
#include "words.hpp"

namespace xbpf::cli {
namespace {

using maps::LinkRecord;
using maps::ObjectKind;

const char* kind_word(ObjectKind k) {
  switch (k) {
    case ObjectKind::Map: return "map";
    case ObjectKind::Program: return "program";
    case ObjectKind::Btf: return "BTF object";
    case ObjectKind::Link: return "link";
  }
  return "object";
}

// LINK := id ID | pinned PATH.
Expected<uint32_t> select_link(maps::Store& store, Words& w) {
  auto kind = w.expect("LINK (id ID | pinned PATH)");
  if (!kind) return unexpected(kind.error());
  auto arg = w.expect(*kind + " argument");
  if (!arg) return unexpected(arg.error());
  if (*kind == "id") {
    auto id = parse_number(*arg, "link id");
    if (!id) return unexpected(id.error());
    if (*id == 0 || *id > UINT32_MAX) return fail_errno(ENOENT, "link {}: no such link in store {}", *arg, store.dir());
    auto rec = store.link(uint32_t(*id));
    if (!rec) return unexpected(rec.error());
    return uint32_t(*id);
  }
  if (*kind == "pinned") {
    auto obj = store.pinned(*arg);
    if (!obj) return unexpected(obj.error());
    if (obj->first != ObjectKind::Link)
      return fail(Errc::invalid_argument, "pinned object '{}' is a {}, not a link", *arg, kind_word(obj->first));
    return obj->second;
  }
  return fail(Errc::invalid_argument, "expected 'id' or 'pinned', got '{}'", *kind);
}

std::string link_type_name(uint32_t t) { return t == maps::kLinkTypeXdp ? "xdp" : fmt::format("type {}", t); }

// bpftool's XDP link: "devname"/"ifindex" of the device, "(detached)" once detached.
nlohmann::ordered_json show_json(const LinkRecord& r, const std::multimap<uint32_t, std::string>& pins,
                         const std::string& file) {
  nlohmann::ordered_json j = {{"id", r.id}, {"type", link_type_name(r.link_type)}, {"prog_id", r.prog_id}};
  j["devname"] = r.detached ? "(detached)" : r.target;
  j["ifindex"] = 0;  // store devices have names, not ifindexes
  add_pins_and_pids(j, pins, r.id, file);
  return j;
}

// bpftool's plain layout, trailing spaces included:
//   "ID: xdp  prog P  \n\tifindex NAME(0) \n\tpinned PATH\n"
void show_text(const LinkRecord& r, const std::multimap<uint32_t, std::string>& pins, const std::string& file) {
  std::printf("%u: %s  prog %u  \n\tifindex %s ", r.id, link_type_name(r.link_type).c_str(), r.prog_id,
              r.detached ? "(detached)" : fmt::format("{}(0)", r.target).c_str());
  for (const std::string& line : pins_and_pids_lines(pins, r.id, file)) std::printf("\n\t%s", line.c_str());
  std::printf("\n");
}

Expected<void> link_show(maps::Store& store, Words& w) {
  const bool selected = !w.empty();
  std::vector<uint32_t> ids;
  if (selected) {
    auto id = select_link(store, w);
    if (!id) return unexpected(id.error());
    ids.push_back(*id);
  } else {
    auto all = store.link_ids();
    if (!all) return unexpected(all.error());
    ids = std::move(*all);
  }
  if (auto r = w.done(); !r) return r;
  const auto pins = pins_of(store, ObjectKind::Link);
  const bool json = globals().json || globals().pretty;
  auto arr = nlohmann::ordered_json::array();
  for (uint32_t id : ids) {
    auto rec = store.link(id);
    if (!rec) {
      if (rec.error().errnum == ENOENT && !selected) continue;  // released meanwhile
      return unexpected(rec.error());
    }
    const std::string file = store.dir() + "/links/" + std::to_string(id);
    if (json) arr.push_back(show_json(*rec, pins, file));
    else show_text(*rec, pins, file);
  }
  // bpftool prints one object for `show LINK`, an array for the listing.
  if (json) std::printf("%s\n", (selected ? arr[0] : arr).dump(globals().pretty ? 4 : -1).c_str());
  return {};
}

Expected<void> link_pin(maps::Store& store, Words& w) {
  auto id = select_link(store, w);
  if (!id) return unexpected(id.error());
  auto path = w.expect("PATH");
  if (!path) return unexpected(path.error());
  if (auto r = w.done(); !r) return r;
  return store.pin(ObjectKind::Link, *id, *path);
}

Expected<void> link_detach(maps::Store& store, Words& w) {
  auto id = select_link(store, w);
  if (!id) return unexpected(id.error());
  if (auto r = w.done(); !r) return r;
  return store.detach_link(*id);
}

}  // namespace

void add_link_command(CLI::App& app, int& exit_code) {
  auto* link = app.add_subcommand("link", "Inspect, pin and detach links (bpftool's 'link' command)");
  require_command(link, exit_code);
  const StoreVerb verbs[] = {
      {"show", "show [LINK]: links (programs attached to packet devices) in the store", link_show},
      {"list", "list [LINK]: same as show", link_show},
      {"pin", "pin LINK PATH: give a link a name in the store", link_pin},
      {"detach", "detach LINK: take the link's program off its device", link_detach},
  };
  add_store_verbs(link, "link", verbs, exit_code);
}

}  // namespace xbpf::cli
