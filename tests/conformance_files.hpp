// The conformance .data files the interpreter and JIT suites both run: the
// shared bpf_conformance suite and our own cases (tests/data).
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace xbpf::test {

inline const std::string kSharedConformanceDir = std::string(XBPF_SHARED_DIR) + "/conformance/tests";

// The .data files of `dir`, sorted; empty when the directory is absent.
inline std::vector<std::string> conformance_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".data") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace xbpf::test
