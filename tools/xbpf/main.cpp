// xbpf: the command-line front end. Parses arguments and dispatches to one
// file per command family; all real work lives in the libraries.
#include <cstdio>
#include <string>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"xbpf: eBPF in user space: assemble, disassemble, run and check BPF programs", "xbpf"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "xbpf 0.1.0");
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("xbpf: ") + e.what() + " (try 'xbpf --help')\n";
  });
  int exit_code = 0;
  xbpf::cli::add_global_options(app);
  xbpf::cli::add_isa_commands(app, exit_code);
  xbpf::cli::add_conformance_command(app, exit_code);
  xbpf::cli::add_btf_command(app, exit_code);
  xbpf::cli::add_object_command(app, exit_code);
  xbpf::cli::add_map_command(app, exit_code);
  xbpf::cli::add_prog_command(app, exit_code);
  xbpf::cli::add_verify_command(app, exit_code);
  xbpf::cli::add_link_command(app, exit_code);
  xbpf::cli::add_net_command(app, exit_code);
  xbpf::cli::add_help_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors exit 2, like most Unix tools
  }
  return exit_code;
}
