// `xbpf link ...`: bpftool's link commands.
//
//   xbpf link { show | list } [LINK];  xbpf link pin LINK PATH;  xbpf link detach LINK
//   LINK := id ID | pinned PATH
//
// A link is a program attached to a hook. xbpf has no hooks yet (uprobes,
// USDT, syscalls and packets are open work), so no link exists: `list`
// prints nothing (JSON: []), and every verb naming a link says that it does
// not exist, with bpftool's errno (ENOENT), or that a pin names a map or a
// program rather than a link. The commands are here so scripts written for
// bpftool get bpftool's answers now and real links later.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "io.hpp"
#include "maps/store.hpp"
#include "words.hpp"

namespace xbpf::cli {
namespace {

// LINK := id ID | pinned PATH. Never found: the store holds no links.
Expected<void> select_link(maps::Store& store, Words& w) {
  auto kind = w.expect("LINK (id ID | pinned PATH)");
  if (!kind) return unexpected(kind.error());
  auto arg = w.expect(*kind + " argument");
  if (!arg) return unexpected(arg.error());
  if (*kind == "id") {
    auto id = parse_number(*arg, "link id");
    if (!id) return unexpected(id.error());
    return fail_errno(ENOENT, "link {}: no such link (xbpf has no attach points yet)", *id);
  }
  if (*kind == "pinned") {
    auto obj = store.pinned(*arg);
    if (!obj) return unexpected(obj.error());
    return fail(Errc::invalid_argument, "pinned object '{}' is a {}, not a link", *arg,
                obj->first == maps::ObjectKind::Map ? "map" : "program");
  }
  return fail(Errc::invalid_argument, "expected 'id' or 'pinned', got '{}'", *kind);
}

Expected<void> link_verb(maps::Store& store, Words& w, const std::string& verb) {
  if ((verb == "show" || verb == "list") && w.empty()) {
    if (globals().json || globals().pretty) std::printf("[]\n");
    return {};
  }
  if (auto r = select_link(store, w); !r) return r;
  return {};
}

}  // namespace

void add_link_command(CLI::App& app, int& exit_code) {
  auto* link = app.add_subcommand("link", "Inspect, pin and detach links (bpftool's 'link' command; none exist yet)");
  require_command(link, exit_code);
  auto words = std::make_shared<std::vector<std::string>>();
  const std::pair<const char*, const char*> verbs[] = {
      {"show", "show [LINK]: links (program attachments) in the store"},
      {"list", "list [LINK]: same as show"},
      {"pin", "pin LINK PATH: give a link a name in the store"},
      {"detach", "detach LINK: detach the program from its hook"},
  };
  for (const auto& [name, help] : verbs) {
    auto* sub = link->add_subcommand(name, help);
    sub->add_option("words", *words, "arguments, as bpftool takes them");
    sub->add_option("--store", globals().store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
    sub->add_flag("-j,--json", globals().json, "JSON output, as bpftool's");
    sub->add_flag("-p,--pretty", globals().pretty, "Pretty-printed JSON (implies --json)");
    sub->callback([&exit_code, words, verb = std::string(name)] {
      auto store = maps::Store::open(globals().store.empty() ? maps::Store::default_dir() : globals().store);
      Words w(*words);
      auto r = store ? link_verb(**store, w, verb) : Expected<void>(unexpected(store.error()));
      if (!r) {
        exit_code = report_verb(r.error(), "link " + verb);
      }
    });
  }
}

}  // namespace xbpf::cli
