// Each command family registers its subcommands on the CLI11 app. A
// subcommand's callback stores its exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

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
