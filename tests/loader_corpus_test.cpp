// The loader against the shared corpus of real objects: every object opens
// (or, under invalid/, is refused with a precise message), and every program
// the Linux 6.18 verifier accepted or rejected is found with exactly the
// instruction count the kernel was given (kernel-6.18-verdicts.tsv).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "corpus_verdicts.hpp"
#include "loader/loader.hpp"

namespace fs = std::filesystem;
using namespace xbpf;

namespace {

using test::kCorpus;
using Row = test::VerdictRow;
using test::read_verdicts;

// Every regular file of the corpus except the verdict table and notes.
std::vector<std::string> corpus_files() {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(kCorpus)) {
    if (!e.is_regular_file()) continue;
    auto rel = fs::relative(e.path(), kCorpus).generic_string();
    if (rel.find('/') == std::string::npos) continue;  // top-level tsv / README
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The verdict table spells program types as bpftool does ("raw_tp").
std::string tsv_type(const loader::ProgramSpec& p) {
  std::string n(loader::name(p.type));
  return n == "raw_tracepoint" ? "raw_tp" : n;
}

}  // namespace

TEST(LoaderCorpus, OpensEveryObjectAndMatchesKernelInstructionCounts) {
  if (!fs::exists(kCorpus / "kernel-6.18-verdicts.tsv"))
    GTEST_SKIP() << "*** CORPUS ABSENT: " << kCorpus << " not found; loader corpus test NOT RUN ***";
  const auto files = corpus_files();
  std::map<std::string, Expected<loader::ObjectSpec>> opened;
  double seconds = 0;
  size_t objects = 0, invalid_total = 0, invalid_handled = 0;
  for (const auto& rel : files) {
    const std::string path = (kCorpus / rel).string();
    auto t0 = std::chrono::steady_clock::now();
    auto obj = loader::open_object(path);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool invalid = rel.starts_with("invalid/");
    if (invalid) {
      ++invalid_total;
      // Refused with a message naming the file, or opened.
      if (obj || obj.error().message.find(path) == 0) ++invalid_handled;
      else ADD_FAILURE() << rel << ": error does not name the file: " << obj.error().message;
    } else {
      ++objects;
      EXPECT_TRUE(obj.has_value()) << rel << ": " << obj.error().message;
    }
    opened.emplace(rel, std::move(obj));
  }

  size_t wanted = 0, matched = 0, typed = 0, typed_match = 0, guessed = 0, guessed_match = 0;
  for (const Row& r : read_verdicts()) {
    if (r.verdict != "ACCEPT" && r.verdict != "REJECT") continue;
    auto it = opened.find(r.file);
    ++wanted;
    if (it == opened.end() || !it->second) {
      ADD_FAILURE() << r.file << ": not opened, but the kernel " << r.verdict << "ed " << r.program;
      continue;
    }
    const loader::ProgramSpec* p = nullptr;
    for (const auto& q : it->second->programs)
      if (q.section == r.section && q.name == r.program) p = &q;
    if (!p) {
      ADD_FAILURE() << r.file << ": program " << r.program << " in section " << r.section << " not found";
      continue;
    }
    if (p->insns.size() == r.insn_cnt) ++matched;
    else ADD_FAILURE() << r.file << " " << r.section << "/" << r.program << ": " << p->insns.size()
                       << " instructions, kernel got " << r.insn_cnt;
    // Types named by the section (no "(reason)" suffix in the table) must agree.
    if (r.prog_type.find('(') == std::string::npos) {
      ++typed;
      if (tsv_type(*p) == r.prog_type) ++typed_match;
      else ADD_FAILURE() << r.file << " " << r.section << ": type " << tsv_type(*p) << ", kernel was asked for "
                         << r.prog_type;
    } else {
      ++guessed;
      if (r.prog_type.starts_with(tsv_type(*p) + "(")) ++guessed_match;
    }
  }
  // Again with the kernel's BTF parsed once and shared, as a long-lived
  // loader would: what remains is the loader's own cost.
  double shared_seconds = 0;
  if (auto vmlinux = btf::Btf::load_file("/sys/kernel/btf/vmlinux")) {
    loader::OpenOptions opts;
    opts.target_btf = std::make_shared<const btf::Btf>(std::move(*vmlinux));
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& rel : files) (void)loader::open_object((kCorpus / rel).string(), opts);
    shared_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::printf("corpus: %zu objects, %zu/%zu ACCEPT+REJECT programs found with matching insn counts, "
              "%zu/%zu invalid handled; types: %zu/%zu from section names, %zu/%zu guessed by the reference "
              "loader from file paths; parse time %.3f s (%.3f s with vmlinux BTF shared)\n",
              objects, matched, wanted, invalid_handled, invalid_total, typed_match, typed, guessed_match, guessed,
              seconds, shared_seconds);
  EXPECT_EQ(matched, wanted);
}
