// add_store_verbs (commands.hpp): the verbs of xbpf's store commands. Apart
// from io.cpp because the conformance plugin shares io.cpp without the store.
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "io.hpp"

namespace xbpf::cli {

void add_store_verbs(CLI::App* family, const std::string& family_name, std::span<const StoreVerb> verbs,
                     int& exit_code) {
  auto words = std::make_shared<std::vector<std::string>>();
  for (const StoreVerb& v : verbs) {
    auto* sub = family->add_subcommand(v.name, v.help);
    sub->add_option("words", *words, "arguments, as bpftool takes them");
    sub->add_option("--store", globals().store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
    sub->add_flag("-j,--json", globals().json, "JSON output, as bpftool's");
    sub->add_flag("-p,--pretty", globals().pretty, "Pretty-printed JSON (implies --json)");
    sub->callback([&exit_code, words, fn = v.fn, verb = family_name + " " + v.name] {
      auto store = maps::Store::open(globals().store.empty() ? maps::Store::default_dir() : globals().store);
      if (!store) {
        exit_code = report(with_context(store.error(), verb));
        return;
      }
      Words w(*words);
      if (auto r = fn(**store, w); !r) exit_code = report_verb(r.error(), verb);
    });
  }
}

}  // namespace xbpf::cli
