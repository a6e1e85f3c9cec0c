// `xbpf prog` verbs on programs in the store (bpftool's shapes):
//
//   xbpf prog { show | list } [PROG]
//   xbpf prog { load | loadall } OBJ PATH [type TYPE] [pinmaps MAP_DIR]
//   xbpf prog pin PROG PATH
//   xbpf prog run PROG [data_in FILE] [data_out FILE] [ctx_in FILE] [ctx_out FILE] [repeat N] [pcap FILE]
//   xbpf prog dump { xlated | jited } PROG [file FILE | opcodes | linum]...
//
//   PROG := id ID | pinned PATH | name NAME | tag TAG    (PATH: a pin name inside the store)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "maps/store.hpp"
#include "support/error.hpp"
#include "words.hpp"

namespace xbpf::cli {

struct ProgOutput {
  bool json = false;
  bool pretty = false;
};

// Whether `word` starts a PROG (id/pinned/name/tag) rather than naming an object file.
[[nodiscard]] bool is_prog_selector(std::string_view word);

[[nodiscard]] Expected<void> prog_show(maps::Store& store, Words& w, const ProgOutput& out);
[[nodiscard]] Expected<void> prog_load(maps::Store& store, Words& w, bool all);
[[nodiscard]] Expected<void> prog_pin(maps::Store& store, Words& w);
[[nodiscard]] Expected<void> prog_run_stored(maps::Store& store, Words& w, const ProgOutput& out);
[[nodiscard]] Expected<void> prog_dump_stored(maps::Store& store, Words& w, bool jited);

}  // namespace xbpf::cli
