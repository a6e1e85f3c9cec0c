// Shell completion for xbpf (`xbpf __complete`, driven by
// scripts/xbpf-completion.bash). Command and verb names come from the CLI11
// tree, so completion cannot drift from the parser; the keyword grammar of the
// bpftool-style verbs (PROG, MAP, `type`, `key`, ...) is one table in
// complete.cpp; ids, pins and names are read live from the store.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace xbpf::cli {

struct Completion {
  std::vector<std::string> words;  // candidates starting with the current word, in order, no duplicates
  bool file = false;               // a file name fits here too (the script completes it when `words` is empty)
};

// Candidates for words[cword] (words[0] is the program name, as in bash's
// COMP_WORDS; cword may equal words.size(): an empty word after the last one).
// Never prints, never throws for any input; reads the store only if it
// already exists (the --store given in `words`, else `store_dir`).
[[nodiscard]] Completion complete(const CLI::App& root, size_t cword, const std::vector<std::string>& words,
                                  const std::string& store_dir);

// The help pages' verb names, for `xbpf help COMMAND <TAB>` (set by cmd_help.cpp).
[[nodiscard]] std::vector<std::string> help_topics();
[[nodiscard]] std::vector<std::string> help_verbs(const std::string& topic);

}  // namespace xbpf::cli
