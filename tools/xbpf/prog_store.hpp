// `xbpf prog` verbs on programs in the store (bpftool's shapes):
//
//   xbpf prog { show | list } [PROG]
//   xbpf prog { load | loadall } OBJ PATH [type TYPE] [pinmaps MAP_DIR]
//   xbpf prog pin PROG PATH
//   xbpf prog run PROG [data_in FILE] [data_out FILE] [ctx_in FILE] [ctx_out FILE] [repeat N] [pcap FILE]
//   xbpf prog dump { xlated | jited } PROG [file FILE | opcodes | linum]...
//   xbpf prog detach PROG xdp dev NAME
//
//   PROG := id ID | pinned PATH | name NAME | tag TAG    (PATH: a pin name inside the store)
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "maps/store.hpp"
#include "runtime/test_run.hpp"
#include "support/error.hpp"
#include "words.hpp"

namespace xbpf::cli {

struct ProgOutput {
  bool json = false;
  bool pretty = false;
};

// Whether `word` starts a PROG (id/pinned/name/tag) rather than naming an object file.
[[nodiscard]] bool is_prog_selector(std::string_view word);

// PROG := id ID | pinned PATH | name NAME | tag TAG. Names and tags may match
// several programs; select_one wants exactly one.
[[nodiscard]] Expected<std::vector<uint32_t>> select_programs(maps::Store& store, Words& w);
[[nodiscard]] Expected<uint32_t> select_one(maps::Store& store, Words& w);
// Processes holding a store object file (pid, comm), this one excluded: bpftool's `pids`.
[[nodiscard]] std::vector<std::pair<int, std::string>> holders(const std::string& path);
// The pins naming each object of `kind` (id -> path), for `pinned` lines.
[[nodiscard]] std::multimap<uint32_t, std::string> pins_of(maps::Store& store, maps::ObjectKind kind);
// bpftool's `pinned` (the pins of `id`) and `pids` (the holders of `file`) of
// a `show`: as JSON members, and as text lines without their tab ("pinned
// PATH" per pin, then "pids comm(pid), ..." when held).
void add_pins_and_pids(nlohmann::ordered_json& j, const std::multimap<uint32_t, std::string>& pins, uint32_t id,
                       const std::string& file);
[[nodiscard]] std::vector<std::string> pins_and_pids_lines(const std::multimap<uint32_t, std::string>& pins,
                                                           uint32_t id, const std::string& file);

// `prog run ... pcap FILE`: one test run per packet (progress on a terminal
// only), then the verdict counts as text or JSON.
[[nodiscard]] Expected<void> run_pcap_and_print(const runtime::Program& prog, const std::string& path,
                                                const runtime::TestRun& tr, const ProgOutput& out);
// One test run's result: "Return value: R, duration[ (average)]: Nns" or
// {"retval":R,"duration":N}.
void print_run_result(const runtime::TestRunResult& r, bool average, const ProgOutput& out);

[[nodiscard]] Expected<void> prog_show(maps::Store& store, Words& w, const ProgOutput& out);
[[nodiscard]] Expected<void> prog_load(maps::Store& store, Words& w, bool all);
[[nodiscard]] Expected<void> prog_pin(maps::Store& store, Words& w);
[[nodiscard]] Expected<void> prog_run_stored(maps::Store& store, Words& w, const ProgOutput& out);
[[nodiscard]] Expected<void> prog_dump_stored(maps::Store& store, Words& w, bool jited);
[[nodiscard]] Expected<void> prog_detach(maps::Store& store, Words& w);

}  // namespace xbpf::cli
