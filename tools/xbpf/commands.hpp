// Each command family registers its subcommands on the CLI11 app. A
// subcommand's callback stores its exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <span>
#include <string>

#include "maps/store.hpp"
#include "support/error.hpp"
#include "words.hpp"

namespace xbpf::cli {

// bpftool's global options, given before the command (`xbpf -j prog show`);
// the families also accept them after the command and merge them here.
struct Globals {
  std::string store;  // --store DIR ("" = $XBPF_STORE or /dev/shm/xbpf-UID)
  bool json = false;  // -j/--json
  bool pretty = false;  // -p/--pretty (implies json)
};
Globals& globals();
void add_global_options(CLI::App& app);

// A verb of a store command (`prog show`, `link pin`, `net attach`): it runs
// on the opened store with the bpftool words after it.
struct StoreVerb {
  const char* name;
  const char* help;
  std::function<Expected<void>(maps::Store&, Words&)> fn;
};
// Adds each verb under `family` (`family_name` in messages) with bpftool's
// words and --store/-j/-p; its callback opens the store and reports a failure
// as "xbpf: FAMILY VERB: ..." with exit code 1.
void add_store_verbs(CLI::App* family, const std::string& family_name, std::span<const StoreVerb> verbs,
                     int& exit_code);

void add_isa_commands(CLI::App& app, int& exit_code);          // asm, disasm
void add_conformance_command(CLI::App& app, int& exit_code);   // conformance
void add_btf_command(CLI::App& app, int& exit_code);           // btf dump
void add_object_command(CLI::App& app, int& exit_code);        // object show
void add_map_command(CLI::App& app, int& exit_code);           // map create/show/dump/update/...
void add_prog_command(CLI::App& app, int& exit_code);          // prog run, prog tracelog
void add_verify_command(CLI::App& app, int& exit_code);        // verify
void add_link_command(CLI::App& app, int& exit_code);          // link show/list/pin/detach
void add_net_command(CLI::App& app, int& exit_code);           // net attach/detach/show/list
void add_help_commands(CLI::App& app, int& exit_code);         // help, __complete (hidden)

}  // namespace xbpf::cli
