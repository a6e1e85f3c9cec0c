// The shared corpus's verdict table (kernel-6.18-verdicts.tsv): one row per
// program the Linux 6.18 verifier was given, for the corpus tests and
// bench/verify_bench.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kabi/kernel_types.hpp"

namespace xbpf::test {

#ifdef XBPF_SHARED_DIR
inline const std::filesystem::path kCorpus = std::filesystem::path(XBPF_SHARED_DIR) / "corpus" / "ebpf-samples";
#endif

struct VerdictRow {
  std::string file, section, program, prog_type, verdict, reason;
  size_t insn_cnt = 0;
  double kernel_usec = 0;  // the kernel's own "verification time"
  uint64_t insns_processed = 0;  // the kernel's "processed N insns"
};

// The rows of `tsv`; empty when it cannot be read.
inline std::vector<VerdictRow> read_verdicts(const std::filesystem::path& tsv) {
  std::vector<VerdictRow> rows;
  std::ifstream in(tsv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '\t');) f.push_back(col);
    if (f.size() < 8) continue;
    rows.push_back({f[0], f[1], f[2], f[3], f[5], f.size() > 8 ? f[8] : "", std::stoul(f[4]),
                    std::atof(f[7].c_str())});
    rows.back().insns_processed = std::strtoull(f[6].c_str(), nullptr, 10);
  }
  return rows;
}

#ifdef XBPF_SHARED_DIR
inline std::vector<VerdictRow> read_verdicts() { return read_verdicts(kCorpus / "kernel-6.18-verdicts.tsv"); }
#endif

// The table's program type ("sched_cls(cilium-path)", bpftool's "raw_tp").
inline std::optional<kabi::ProgType> row_type(const std::string& prog_type) {
  std::string n = prog_type.substr(0, prog_type.find('('));
  if (n == "raw_tp") n = "raw_tracepoint";
  return kabi::prog_type_from_name(n);
}
inline std::optional<kabi::ProgType> row_type(const VerdictRow& r) { return row_type(r.prog_type); }

}  // namespace xbpf::test
