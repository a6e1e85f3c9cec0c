// `xbpf btf dump file OBJ [format raw|c]`: bpftool's command shape, with the
// keyword arguments it takes (keywords may be abbreviated, as in bpftool).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "btf/btf.hpp"
#include "commands.hpp"
#include "io.hpp"

namespace xbpf::cli {
namespace {

// bpftool's is_prefix(): `arg` is a non-empty prefix of `keyword`.
bool is_prefix(const std::string& arg, std::string_view keyword) {
  return !arg.empty() && keyword.starts_with(arg);
}

struct DumpArgs {
  std::vector<std::string> words;  // file OBJ [format raw|c]
};

// Usage errors are CLI11 exceptions so that main() reports them and exits 2.
std::pair<std::string, bool> parse_words(const std::vector<std::string>& w) {
  if (w.size() < 2 || !is_prefix(w[0], "file"))
    throw CLI::ValidationError("btf dump", "expected 'file OBJ [format raw|c]'");
  bool c_format = false;
  for (size_t i = 2; i < w.size(); i += 2) {
    if (!is_prefix(w[i], "format")) throw CLI::ValidationError("btf dump", "unrecognized option '" + w[i] + "'");
    if (i + 1 >= w.size()) throw CLI::ValidationError("btf dump", "expecting value for 'format'");
    if (w[i + 1] == "c")
      c_format = true;
    else if (w[i + 1] == "raw")
      c_format = false;
    else
      throw CLI::ValidationError("btf dump", "unrecognized format '" + w[i + 1] + "', possible values: raw, c");
  }
  return {w[1], c_format};
}

int run_dump(const DumpArgs& a) {
  auto [path, c_format] = parse_words(a.words);
  auto btf = btf::Btf::load_file(path);
  if (!btf) return report(btf.error());
  if (!c_format) {
    std::string text = btf::dump_raw(*btf);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  auto text = btf::dump_c(*btf);
  if (!text) return report(text.error());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace

void add_btf_command(CLI::App& app, int& exit_code) {
  CLI::App* btf = app.add_subcommand("btf", "Inspect BTF type information (bpftool's 'btf' command)");
  btf->require_subcommand(1);
  auto args = std::make_shared<DumpArgs>();
  CLI::App* dump = btf->add_subcommand(
      "dump", "Print the BTF of an ELF object or raw BTF file: dump file OBJ [format raw|c]");
  // Checked by parse_words() so every misuse gets the same usage message.
  dump->add_option("words", args->words, "file OBJ [format raw|c]");
  dump->callback([args, &exit_code] { exit_code = run_dump(*args); });
}

}  // namespace xbpf::cli
