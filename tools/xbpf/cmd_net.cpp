// `xbpf net ...`: bpftool's net commands, on the store's packet devices.
//
//   xbpf net attach ATTACH_TYPE PROG dev NAME [overwrite]
//   xbpf net detach ATTACH_TYPE dev NAME
//   xbpf net { show | list } [dev NAME]
//   ATTACH_TYPE := xdp | xdpgeneric
//
// A device here is a name an embedder's packet hook (hooks::PacketHook)
// opens, not a kernel netdev: it has no ifindex (shown as 0) and runs XDP
// programs the way the kernel's generic XDP does (mode "generic"). The
// attachment lives in the store (devs/<NAME>.xdp) until detached, so it
// outlives this command, as a netlink attachment outlives bpftool.
#include <cerrno>
#include <cstdio>
#include <functional>
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

// ATTACH_TYPE: bpftool's xdp (the driver's mode if it has one, else generic)
// and xdpgeneric both mean the one mode xbpf has.
Expected<void> xdp_attach_type(Words& w) {
  auto t = w.expect("ATTACH_TYPE (xdp | xdpgeneric)");
  if (!t) return unexpected(t.error());
  if (*t == "xdp" || *t == "xdpgeneric") return {};
  if (*t == "xdpdrv" || *t == "xdpoffload" || *t == "tcx_ingress" || *t == "tcx_egress")
    return fail(Errc::unsupported, "attach type '{}' is not supported: xbpf devices run XDP in generic mode (xdp)", *t);
  return fail(Errc::invalid_argument, "unknown attach type '{}' (expected xdp or xdpgeneric)", *t);
}

Expected<std::string> dev_name(Words& w) {
  if (!w.accept("dev")) {
    if (w.empty()) return fail(Errc::invalid_argument, "'dev NAME' expected");
    return fail(Errc::invalid_argument, "expected 'dev', got '{}'", w.peek());
  }
  return w.expect("device NAME");
}

Expected<void> net_attach(maps::Store& store, Words& w) {
  if (auto r = xdp_attach_type(w); !r) return r;
  auto prog = select_one(store, w);
  if (!prog) return unexpected(prog.error());
  auto dev = dev_name(w);
  if (!dev) return unexpected(dev.error());
  const bool overwrite = w.accept("overwrite");
  if (auto r = w.done(); !r) return r;
  auto link = store.attach_xdp(*prog, *dev, overwrite);
  if (!link) {
    Error e = link.error();
    if (e.errnum == EEXIST) e.message += " ('overwrite' replaces it)";
    return unexpected(std::move(e));
  }
  return {};
}

Expected<void> net_detach(maps::Store& store, Words& w) {
  if (auto r = xdp_attach_type(w); !r) return r;
  auto dev = dev_name(w);
  if (!dev) return unexpected(dev.error());
  if (auto r = w.done(); !r) return r;
  auto link = store.detach_device(*dev);
  if (!link) return unexpected(link.error());
  return {};
}

// bpftool's layout: an xdp section ("NAME(IFINDEX) MODE id PROG"), then the
// tc and flow_dissector sections, which xbpf devices never have entries in.
Expected<void> net_show(maps::Store& store, Words& w) {
  std::string only;
  if (!w.empty()) {
    auto dev = dev_name(w);
    if (!dev) return unexpected(dev.error());
    if (auto r = w.done(); !r) return r;
    only = *dev;
    if (auto l = store.device_link(only); !l && l.error().errnum != ENOENT) return unexpected(l.error());
  }
  auto devs = store.devices();
  if (!devs) return unexpected(devs.error());
  auto xdp = nlohmann::ordered_json::array();
  std::string text = "xdp:\n";
  for (const auto& [name, link_id] : *devs) {
    if (!only.empty() && name != only) continue;
    auto rec = store.link(link_id);
    if (!rec) continue;  // detached meanwhile
    xdp.push_back({{"devname", name}, {"ifindex", 0}, {"mode", "generic"}, {"id", rec->prog_id}});
    text += fmt::format("{}(0) generic id {}\n", name, rec->prog_id);
  }
  if (globals().json || globals().pretty) {
    const nlohmann::ordered_json out = nlohmann::ordered_json::array(
        {{{"xdp", xdp}, {"tc", nlohmann::ordered_json::array()}, {"flow_dissector", nlohmann::ordered_json::array()}}});
    std::printf("%s\n", out.dump(globals().pretty ? 4 : -1).c_str());
  } else {
    std::printf("%s\ntc:\n\nflow_dissector:\n\n", text.c_str());
  }
  return {};
}

}  // namespace

void add_net_command(CLI::App& app, int& exit_code) {
  auto* net = app.add_subcommand("net", "Attach XDP programs to packet devices and list them (bpftool's 'net' command)");
  require_command(net, exit_code);
  const StoreVerb verbs[] = {
      {"show", "show [dev NAME]: the XDP program each packet device runs", net_show},
      {"list", "list [dev NAME]: same as show", net_show},
      {"attach", "attach xdp PROG dev NAME [overwrite]: attach PROG to the packet device NAME", net_attach},
      {"detach", "detach xdp dev NAME: detach the program of the packet device NAME", net_detach},
  };
  add_store_verbs(net, "net", verbs, exit_code);
}

}  // namespace xbpf::cli
