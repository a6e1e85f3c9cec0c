// Reader for bpf_conformance `.data` files: sections introduced by `-- name`
// lines (`asm`, `mem`, `result`, `raw`, `c`, ...), `#` comments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/error.hpp"

namespace xbpf::conformance {

struct DataFile {
  std::string path;
  std::string asm_text;             // the `-- asm` section, verbatim
  int asm_first_line = 0;           // line number of the first asm line (1-based)
  std::vector<uint8_t> mem;         // `-- mem`: initial memory (r1 points at a copy)
  bool has_mem = false;
  std::optional<uint64_t> result;   // `-- result`: expected r0
  std::optional<std::vector<uint64_t>> raw;  // `-- raw`: instruction words
  std::optional<std::string> error; // `-- error`: expected failure text, if any
};

// Parses the text of a .data file; `path` names it in errors.
[[nodiscard]] Expected<DataFile> parse_data_file(std::string_view text, std::string path);
[[nodiscard]] Expected<DataFile> read_data_file(const std::string& path);

// Parses hex bytes ("00 1a ff" or "001aff"), used by `-- mem` and the plugin protocol.
[[nodiscard]] Expected<std::vector<uint8_t>> parse_hex_bytes(std::string_view text);

}  // namespace xbpf::conformance
