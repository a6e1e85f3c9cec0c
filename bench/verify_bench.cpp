// Verification time, xbpf against the Linux verifier of this machine, in one
// run: every program the shared corpus's verdict table
// (kernel-6.18-verdicts.tsv) marks ACCEPT is
//
//  1. opened by xbpf's loader and verified by xbpf's verifier exactly as the
//     VerifierCorpus test does (runtime::verifier_env, the table's program
//     type); the wall time (steady_clock) of verifier::verify() is timed;
//  2. loaded into the kernel (BPF_PROG_LOAD through libbpf's low-level API)
//     from the same relocated instructions: kernel twins of the object's maps
//     (inner maps first, .rodata filled and frozen as xbpf's verifier assumes),
//     lddw map_idx / map_idx_value patched to the twins' fds, the same program
//     and expected attach type. BTF and func_info are passed only when the
//     kernel refuses the program without them. The kernel's own
//     "verification time N usec" and "processed N insns" come from a
//     BPF_LOG_STATS log; the wall time of the bpf(2) call is kept as well.
//
// Also measured: the thread CPU time of both calls (robust on a loaded
// machine; the kernel's includes the JIT). Order of a run:
//
//  * xbpf alone: every program verified once, untimed, by a process that
//    has not touched the kernel part yet: the peak RSS printed then is
//    xbpf's alone (loader + verifier over the whole selection);
//  * side by side: per program, one untimed kernel load (which finds whether
//    BTF is needed), then --reps rounds (default 5) of one timed verify()
//    and one timed kernel load, so both sides see the same machine load;
//    per-program figures are medians; totals are sums of medians over the
//    programs both accepted.
//
// Programs the kernel does not accept in this run are listed with the last
// line of its log (or what failed before BPF_PROG_LOAD), never hidden.
//
// Usage: verify_bench [--corpus DIR] [--reps N] [--verbose] [--filter SUBSTR]
//                     [--kernel-log-level N]
// --kernel-log-level adds bits to BPF_LOG_STATS (5: the level-1 log too, as a
// loader that keeps every log pays). Exit status: 0 when it ran; 1 on bad
// usage, a missing corpus, or bpf(2) unavailable (the message names what is
// missing).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include "corpus_verdicts.hpp"
#include "isa/asm.hpp"
#include "verifier_cases.hpp"
#include "loader/loader.hpp"
#include "runtime/object.hpp"
#include "verifier/verifier.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#endif

namespace fs = std::filesystem;
using namespace xbpf;

namespace {

// BPF_LOG_STATS (include/linux/bpf_verifier.h; not in the uapi header).
constexpr uint32_t kStats = 4;

struct Options {
  fs::path corpus = XBPF_BENCH_CORPUS;
  int reps = 5;
  bool verbose = false;
  std::string filter;
  uint32_t kernel_log_level = kStats;  // BPF_LOG_STATS; 5 adds the level-1 log (which costs the kernel time)
  std::string case_name;  // --case: one program of tests/verifier_cases.hpp instead of the corpus
};

// One ACCEPT row of the verdict table and what this run measured for it.
struct Prog {
  std::string file, section, program, prog_type;
  double tsv_usec = 0;
  uint64_t tsv_insns = 0;
  // xbpf
  bool x_ok = false;
  std::string x_msg;  // loader error or rejection message
  uint64_t x_insns = 0;
  std::vector<double> x_samples, x_cpu_samples;  // µs per timed verify(): wall, thread CPU
  double x_us = 0, x_cpu_us = 0;                 // their medians
  // kernel
  enum class K { NotRun, Accept, Reject, LoadErr } k = K::NotRun;
  std::string k_msg;  // the kernel's last log line, or what failed before BPF_PROG_LOAD
  uint64_t k_insns = 0;
  bool k_btf = false;  // needed BTF + func_info
  // µs per timed load: "verification time", bpf(2) wall, bpf(2) thread CPU
  std::vector<double> k_samples, k_wall_samples, k_cpu_samples;
  double k_us = 0, k_wall_us = 0, k_cpu_us = 0;  // their medians

  [[nodiscard]] std::string id() const {
    return file + " " + section + (program == section ? "" : "/" + program);
  }
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "verify_bench: %s\n", msg.c_str());
  std::exit(1);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    constexpr const char* kUsage =
        "usage: verify_bench [--corpus DIR] [--reps N] [--verbose] [--filter SUBSTR] [--kernel-log-level N]\n"
        "       verify_bench --case NAME [--reps N]";
    if (a == "--corpus") o.corpus = value();
    else if (a == "--reps") o.reps = std::atoi(value().c_str());
    else if (a == "--verbose") o.verbose = true;
    else if (a == "--filter") o.filter = value();
    else if (a == "--case") o.case_name = value();
    else if (a == "--kernel-log-level") o.kernel_log_level = static_cast<uint32_t>(std::atoi(value().c_str())) | kStats;
    else if (a == "--help" || a == "-h") {
      std::printf("%s\n", kUsage);
      std::exit(0);
    } else die("unknown argument '" + a + "' (" + kUsage + ")");
  }
  if (o.reps < 1) die("--reps must be at least 1");
  return o;
}

// The ACCEPT rows of DIR/kernel-6.18-verdicts.tsv whose "file section/program" contains `filter`.
std::vector<Prog> read_accepts(const Options& o) {
  const fs::path tsv = o.corpus / "kernel-6.18-verdicts.tsv";
  if (!fs::exists(tsv)) die("corpus missing: cannot read " + tsv.string() + " (pass --corpus DIR, the ebpf-samples folder)");
  std::vector<Prog> out;
  for (const test::VerdictRow& r : test::read_verdicts(tsv)) {
    if (r.verdict != "ACCEPT") continue;
    Prog p;
    p.file = r.file, p.section = r.section, p.program = r.program, p.prog_type = r.prog_type;
    p.tsv_insns = r.insns_processed;
    p.tsv_usec = r.kernel_usec;
    if (!o.filter.empty() && p.id().find(o.filter) == std::string::npos) continue;
    out.push_back(std::move(p));
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// This thread's CPU time (user + system), in microseconds.
double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

const loader::ProgramSpec* find_prog(const loader::ObjectSpec& o, const Prog& p) {
  for (const auto& q : o.programs)
    if (q.section == p.section && q.name == p.program) return &q;
  return nullptr;
}

// Runs `fn(object, indices of `progs` in that file)` once per file, in table order.
template <class Fn>
void for_each_file(std::vector<Prog>& progs, Fn fn) {
  std::map<std::string, std::vector<size_t>> by_file;
  std::vector<std::string> order;
  for (size_t i = 0; i < progs.size(); ++i) {
    if (!by_file.count(progs[i].file)) order.push_back(progs[i].file);
    by_file[progs[i].file].push_back(i);
  }
  for (const std::string& f : order) fn(f, by_file[f]);
}

// ---- xbpf ----------------------------------------------------------------

// The program of `p` and the verifier environment VerifierCorpus gives it
// (runtime::verifier_env, the table's program type); nullptr with p.x_msg set
// when there is none.
const loader::ProgramSpec* xbpf_setup(const loader::ObjectSpec& obj, Prog& p, verifier::Env& env) {
  const loader::ProgramSpec* ps = find_prog(obj, p);
  if (!ps) return p.x_msg = "program not found by xbpf's loader", nullptr;
  auto type = test::row_type(p.prog_type);
  if (!type) return p.x_msg = "unknown program type '" + p.prog_type + "'", nullptr;
  env = runtime::verifier_env(obj, *ps);
  env.prog_type = *type;  // the type the kernel was asked for
  return ps;
}

// One verify() call: the verdict, and the times when `timed`.
void xbpf_verify(const loader::ProgramSpec& ps, const verifier::Env& env, Prog& p, bool timed) {
  const double c0 = thread_cpu_us();
  const auto t0 = std::chrono::steady_clock::now();
  const verifier::Verdict v = verifier::verify(ps.insns, env);
  const auto t1 = std::chrono::steady_clock::now();
  const double c1 = thread_cpu_us();
  p.x_ok = v.ok, p.x_insns = v.stats.insns_processed;
  p.x_msg = v.ok ? "" : "rejected at insn " + std::to_string(v.pc) + ": " + v.message;
  if (!timed) return;
  p.x_samples.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  p.x_cpu_samples.push_back(c1 - c0);
}

// xbpf alone, once per program, untimed: the verdicts, and the peak RSS of
// loading and verifying the whole selection before the kernel part starts.
void run_xbpf_alone(std::vector<Prog>& progs, const Options& o) {
  for_each_file(progs, [&](const std::string& file, const std::vector<size_t>& idx) {
    auto obj = loader::open_object((o.corpus / file).string());
    for (size_t i : idx) {
      Prog& p = progs[i];
      if (!obj) {
        p.x_msg = "open: " + obj.error().message;
        continue;
      }
      verifier::Env env;
      if (const loader::ProgramSpec* ps = xbpf_setup(*obj, p, env)) xbpf_verify(*ps, env, p, false);
    }
  });
}

// ---- the kernel ------------------------------------------------------------

#ifdef XBPF_HAVE_LIBBPF

// A name the kernel takes (bpf_obj_name_cpy: [A-Za-z0-9_.], at most 15 bytes).
std::string kernel_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (out.size() == BPF_OBJ_NAME_LEN - 1) break;
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') out += c;
  }
  return out;
}

std::string errno_text(int e) { return std::string(std::strerror(e)) + " (errno " + std::to_string(e) + ")"; }

// The last non-empty line of a verifier log.
std::string last_line(const std::string& log) {
  size_t end = log.find_last_not_of("\n \0", std::string::npos, 3);
  if (end == std::string::npos) return "";
  size_t begin = log.rfind('\n', end);
  return log.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin == std::string::npos ? 0 : begin + 1));
}

// N from "<key>N" in the log; nullopt when absent.
std::optional<uint64_t> log_number(const std::string& log, const char* key) {
  const size_t at = log.rfind(key);
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(log.c_str() + at + std::strlen(key), nullptr, 10);
}

// What the object's own loader does before BPF_MAP_CREATE, for definitions
// the kernel refuses as written: ring buffers and perf event arrays whose
// definition names a value type (for code generation: cilium/ebpf examples)
// get the sizes the kernel requires; perf event arrays and per-CPU scratch
// arrays declared with max_entries 0 (libbpf, Falco's loader) get one slot
// per possible CPU; legacy map-in-map definitions without value_size
// (samples/bpf) get 4.
void shape_for_kernel(kabi::MapType type, uint32_t& key, uint32_t& value, uint32_t& max) {
  using kabi::MapType;
  const auto cpus = static_cast<uint32_t>(std::max(1, libbpf_num_possible_cpus()));
  switch (type) {
    case MapType::Ringbuf:
    case MapType::UserRingbuf:
      key = value = 0;
      break;
    case MapType::PerfEventArray:
      key = value = 4;
      if (max == 0) max = cpus;
      break;
    case MapType::ArrayOfMaps:
    case MapType::HashOfMaps:
      value = 4;
      break;
    case MapType::Array:
    case MapType::PercpuArray:
    case MapType::Hash:
    case MapType::PercpuHash:
      if (max == 0) max = cpus;
      break;
    default:
      break;
  }
}

// Kernel twins of one object's maps, created when a program first names them
// (inner maps first) and closed with the object. `descs` is xbpf's view of
// the maps (runtime::verifier_env): a map whose frozen value xbpf's verifier
// reads is filled and frozen here, so both verifiers see the same constants.
class KernelMaps {
 public:
  KernelMaps(const loader::ObjectSpec& o, std::vector<verifier::MapDesc> descs)
      : o_(o), descs_(std::move(descs)), fds_(o.maps.size(), -1), errors_(o.maps.size()) {}
  ~KernelMaps() {
    for (int fd : fds_)
      if (fd >= 0) close(fd);
    if (btf_fd_ >= 0) close(btf_fd_);
  }
  KernelMaps(const KernelMaps&) = delete;
  KernelMaps& operator=(const KernelMaps&) = delete;

  // The twin of o.maps[i]; -1 with `err` set when it cannot be created.
  int fd(uint32_t i, std::string& err, int depth = 0) {
    if (i >= fds_.size()) return err = "map index " + std::to_string(i) + " out of range", -1;
    if (fds_[i] >= 0) return fds_[i];
    if (!errors_[i].empty()) return err = errors_[i], -1;
    fds_[i] = create(i, errors_[i], depth);
    err = errors_[i];
    return fds_[i];
  }

  // The object's BTF loaded into the kernel; -1 with `err` set on failure.
  int btf(std::string& err) {
    if (btf_fd_ >= 0 || !btf_error_.empty()) return err = btf_error_, btf_fd_;
    if (!o_.btf) return err = btf_error_ = "the object has no BTF", -1;
    std::vector<char> log(1 << 20);
    LIBBPF_OPTS(bpf_btf_load_opts, opts, .log_buf = log.data(), .log_level = 1,
                .log_size = static_cast<__u32>(log.size()));
    const auto raw = o_.btf->raw();
    btf_fd_ = bpf_btf_load(raw.data(), raw.size(), &opts);
    if (btf_fd_ < 0) btf_error_ = "BTF load failed: " + errno_text(errno) + ": " + last_line(log.data());
    return err = btf_error_, btf_fd_;
  }

 private:
  int create(uint32_t i, std::string& err, int depth) {
    const loader::MapSpec& m = o_.maps[i];
    LIBBPF_OPTS(bpf_map_create_opts, opts);
    opts.map_flags = m.flags;
    opts.map_extra = m.map_extra;
    if (m.flags & BPF_F_NUMA_NODE) opts.numa_node = m.numa_node;
    if (m.inner_map) {
      if (depth > 4) return err = "map '" + m.name + "': inner maps nest too deep", -1;
      std::string inner_err;
      const int inner = fd(*m.inner_map, inner_err, depth + 1);
      if (inner < 0) return err = "map '" + m.name + "': inner map: " + inner_err, -1;
      opts.inner_map_fd = static_cast<__u32>(inner);
    }
    uint32_t key = m.key_size, value = m.value_size, max = m.max_entries;
    shape_for_kernel(m.type, key, value, max);
    const auto type = static_cast<bpf_map_type>(m.type);
    const std::string name = kernel_name(m.name);
    int fd = bpf_map_create(type, name.c_str(), key, value, max, &opts);
    if (fd < 0 && (m.btf_key_type_id || m.btf_value_type_id)) {  // some map types need their BTF
      std::string btf_err;
      if (const int b = btf(btf_err); b >= 0) {
        opts.btf_fd = static_cast<__u32>(b);
        opts.btf_key_type_id = m.btf_key_type_id;
        opts.btf_value_type_id = m.btf_value_type_id;
        fd = bpf_map_create(type, name.c_str(), key, value, max, &opts);
      }
    }
    if (fd < 0) {
      char buf[160];
      std::snprintf(buf, sizeof buf, " create failed: type=%u key=%u value=%u max=%u flags=0x%x: ",
                    static_cast<unsigned>(m.type), key, value, max, m.flags);
      return err = "map '" + m.name + "'" + buf + errno_text(errno), -1;
    }
    if (!fill(fd, i, err)) {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Global data: the initial value; frozen when xbpf's verifier reads it as constant.
  bool fill(int fd, uint32_t i, std::string& err) {
    const loader::MapSpec& m = o_.maps[i];
    const bool frozen = i < descs_.size() && !descs_[i].frozen_value.empty();
    if (!m.data.empty() && m.data.size() == m.value_size && m.max_entries >= 1) {
      const uint32_t zero = 0;
      if (bpf_map_update_elem(fd, &zero, m.data.data(), BPF_ANY) != 0)
        return err = "map '" + m.name + "': filling the initial value failed: " + errno_text(errno), false;
    }
    if (frozen && bpf_map_freeze(fd) != 0)
      return err = "map '" + m.name + "': BPF_MAP_FREEZE failed: " + errno_text(errno), false;
    return true;
  }

  const loader::ObjectSpec& o_;
  std::vector<verifier::MapDesc> descs_;
  std::vector<int> fds_;
  std::vector<std::string> errors_;
  int btf_fd_ = -1;
  std::string btf_error_;
};

// One BPF_PROG_LOAD attempt.
struct KernelLoad {
  bool ok = false;
  std::string log;
  double wall_us = 0, cpu_us = 0;
  int err = 0;
};

struct KernelProgram {
  bpf_prog_type type{};
  std::optional<bpf_attach_type> attach;
  std::string name, license;
  uint32_t kern_version = 0, flags = 0;
  std::vector<isa::RawInsn> insns;  // map references patched to the twins' fds
  int btf_fd = -1;                  // >= 0: pass BTF and func_info
  std::vector<bpf_func_info> func_info;
};

// A verifier log buffer. Not zero-filled: pages the kernel does not write
// are never touched, so a large one costs nothing until a level-1 log fills it.
struct LogBuf {
  explicit LogBuf(size_t n) : data(new char[n]), size(n) {}
  std::unique_ptr<char[]> data;
  size_t size;
  // The last `keep` bytes written (the statistics and the last messages).
  [[nodiscard]] std::string tail(size_t keep = 64 << 10) const {
    const size_t n = strnlen(data.get(), size);
    return std::string(data.get() + (n > keep ? n - keep : 0), data.get() + n);
  }
};

// Log buffers by level: the stats alone fit in a few KiB; a level-1 log of a
// large program runs to tens of MiB (the kernel fails the load with ENOSPC
// when its log does not fit).
LogBuf& log_for(uint32_t level) {
  static LogBuf small(64 << 10), big(std::size_t{768} << 20);
  return level & 3 ? big : small;
}

KernelLoad kernel_load(const KernelProgram& kp, uint32_t log_level) {
  LogBuf& log = log_for(log_level);
  log.data[0] = '\0';
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = kp.flags, .kern_version = kp.kern_version,
              .log_level = log_level, .log_size = static_cast<__u32>(log.size), .log_buf = log.data.get());
  if (kp.attach) opts.expected_attach_type = *kp.attach;
  if (kp.btf_fd >= 0) {
    opts.prog_btf_fd = static_cast<__u32>(kp.btf_fd);
    opts.func_info = kp.func_info.data();
    opts.func_info_cnt = static_cast<__u32>(kp.func_info.size());
    opts.func_info_rec_size = sizeof(bpf_func_info);
  }
  const double c0 = thread_cpu_us();
  const auto t0 = std::chrono::steady_clock::now();
  const int fd = bpf_prog_load(kp.type, kp.name.c_str(), kp.license.c_str(),
                               reinterpret_cast<const bpf_insn*>(kp.insns.data()), kp.insns.size(), &opts);
  const auto t1 = std::chrono::steady_clock::now();
  const double c1 = thread_cpu_us();
  KernelLoad r{fd >= 0, log.tail(), std::chrono::duration<double, std::micro>(t1 - t0).count(), c1 - c0,
               fd < 0 ? errno : 0};
  if (fd >= 0) close(fd);
  return r;
}

// The instructions, type and options of `ps` for BPF_PROG_LOAD; false with
// p.k_msg set when a map twin cannot be made or the program needs what
// this loader does not provide.
bool kernel_program(const loader::ObjectSpec& obj, const loader::ProgramSpec& ps, const Prog& p, KernelMaps& maps,
                    KernelProgram& kp, std::string& err) {
  for (const loader::InsnReloc& r : ps.relocations)
    if (r.kind != loader::RelocKind::Map && r.kind != loader::RelocKind::MapValue)
      return err = "needs " + std::string(loader::name(r.kind)) + " '" + r.symbol + "' (not provided)", false;
  kp.insns = ps.insns;
  for (size_t k = 0; k + 1 < kp.insns.size(); ++k) {
    isa::RawInsn& insn = kp.insns[k];
    if (insn.code != 0x18) continue;  // lddw: two slots
    if (insn.src == loader::kPseudoMapIdx || insn.src == loader::kPseudoMapIdxValue) {
      const int fd = maps.fd(static_cast<uint32_t>(insn.imm), err);
      if (fd < 0) return false;
      insn.src = insn.src == loader::kPseudoMapIdx ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
      insn.imm = fd;  // the second slot keeps the value offset
    }
    ++k;
  }
  kp.type = static_cast<bpf_prog_type>(*test::row_type(p.prog_type));
  if (ps.attach_type) kp.attach = static_cast<bpf_attach_type>(*ps.attach_type);
  kp.name = kernel_name(ps.name);
  kp.license = !ps.license.empty() ? ps.license : !obj.license.empty() ? obj.license : "GPL";
  kp.kern_version = ps.kernel_version ? ps.kernel_version : obj.kernel_version;
  if (ps.section_info.xdp_frags) kp.flags |= BPF_F_XDP_HAS_FRAGS;
  if (ps.section_info.sleepable) kp.flags |= BPF_F_SLEEPABLE;
  for (const btf::FuncInfo& f : ps.func_info) kp.func_info.push_back({f.insn_idx, f.type_id});
  return true;
}

// Refusals that BTF + func_info cure (bpf-to-bpf callbacks, some subprogram rules).
bool wants_btf(const std::string& log) {
  return log.find("func_info") != std::string::npos || log.find("BTF") != std::string::npos ||
         log.find("btf") != std::string::npos;
}

// The kernel's form of `p`, after one untimed load that finds whether it
// needs BTF + func_info; nullopt with p.k / p.k_msg set when the kernel does
// not accept it (the last line of its level-1 log) or it cannot be loaded.
std::optional<KernelProgram> kernel_setup(const loader::ObjectSpec& obj, Prog& p, KernelMaps& maps,
                                          const Options& o) {
  const loader::ProgramSpec* ps = find_prog(obj, p);
  std::string err;
  KernelProgram kp;
  if (!ps || !test::row_type(p.prog_type) || !kernel_program(obj, *ps, p, maps, kp, err)) {
    p.k = Prog::K::LoadErr, p.k_msg = ps ? err : "program not found by xbpf's loader";
    return std::nullopt;
  }
  if (kernel_load(kp, o.kernel_log_level).ok) return kp;
  KernelLoad full = kernel_load(kp, 1 | kStats);  // the whole log: what it lacks
  if (!full.ok && wants_btf(full.log) && !ps->func_info.empty()) {
    kp.btf_fd = maps.btf(err);
    if (kp.btf_fd < 0) {
      p.k = Prog::K::LoadErr, p.k_msg = err + " (after: " + last_line(full.log) + ")";
      return std::nullopt;
    }
    p.k_btf = true;
    if (kernel_load(kp, o.kernel_log_level).ok) return kp;
    full = kernel_load(kp, 1 | kStats);
  }
  p.k = full.log.empty() ? Prog::K::LoadErr : Prog::K::Reject;
  p.k_msg = full.log.empty() ? "BPF_PROG_LOAD: " + errno_text(full.err) : last_line(full.log);
  return std::nullopt;
}

// One timed load; false (p.k_msg set) when it failed after the setup load succeeded.
bool kernel_sample(const KernelProgram& kp, Prog& p, const Options& o) {
  const KernelLoad l = kernel_load(kp, o.kernel_log_level);
  const auto t = log_number(l.log, "verification time ");
  if (!l.ok || !t) {
    p.k_msg = !l.ok ? "a timed load failed: " + errno_text(l.err) + ": " + last_line(l.log)
                    : "no 'verification time' in the kernel's log";
    if (p.k_samples.empty()) p.k = l.ok ? Prog::K::LoadErr : Prog::K::Reject;
    return false;
  }
  p.k = Prog::K::Accept;
  p.k_samples.push_back(static_cast<double>(*t));
  p.k_wall_samples.push_back(l.wall_us), p.k_cpu_samples.push_back(l.cpu_us);
  p.k_insns = log_number(l.log, "processed ").value_or(0);
  return true;
}

// Side by side: per program, --reps rounds of one timed xbpf verify() and
// one timed kernel load, so that both see the same machine load.
void run_side_by_side(std::vector<Prog>& progs, const Options& o) {
  for_each_file(progs, [&](const std::string& file, const std::vector<size_t>& idx) {
    auto obj = loader::open_object((o.corpus / file).string());
    if (!obj) {
      for (size_t i : idx) progs[i].k = Prog::K::LoadErr, progs[i].k_msg = "open: " + obj.error().message;
      return;
    }
    const loader::ProgramSpec* any = obj->programs.empty() ? nullptr : &obj->programs.front();
    KernelMaps maps(*obj, any ? runtime::verifier_env(*obj, *any).maps : std::vector<verifier::MapDesc>{});
    for (size_t i : idx) {
      Prog& p = progs[i];
      verifier::Env env;
      const loader::ProgramSpec* ps = xbpf_setup(*obj, p, env);
      std::optional<KernelProgram> kp = kernel_setup(*obj, p, maps, o);
      bool kernel_ok = kp.has_value();
      for (int r = 0; r < o.reps; ++r) {
        if (ps && p.x_ok) xbpf_verify(*ps, env, p, true);
        if (kernel_ok) kernel_ok = kernel_sample(*kp, p, o);
      }
    }
  });
}

// --case NAME: one privileged program of tests/verifier_cases.hpp, without
// maps, verified by xbpf and loaded by the kernel --reps times each,
// alternating (for inputs that stress the verifier itself: the
// complexity-limit cases the fuzzers found). Prints both verdicts, the
// instructions each processed and the median and fastest times.
int run_case(const Options& o) {
  const test::Case* c = nullptr;
  for (const test::Case& k : test::kCases)
    if (o.case_name == k.name) c = &k;
  if (!c) die("no case named '" + o.case_name + "' in tests/verifier_cases.hpp");
  if (!c->privileged) die("case '" + o.case_name + "' is unprivileged: --case loads as root, so the kernel's verdict would not be comparable");
  auto insns = isa::assemble(c->text, c->name);
  if (!insns) die("case '" + o.case_name + "' does not assemble: " + insns.error().message);
  std::vector<isa::RawInsn> raw = isa::encode_program(*insns);
  test::apply_patch(*c, raw);
  for (const isa::RawInsn& i : raw)
    if (i.code == 0x18 && i.src != 0) die("case '" + o.case_name + "' references maps or functions: --case has no maps or BTF");
  verifier::Env env;
  env.prog_type = c->type;
  env.privileged = true;
  env.func_info = c->func_info;
  KernelProgram kp;
  kp.type = static_cast<bpf_prog_type>(c->type);
  kp.name = "vbench_case";
  kp.license = "GPL";
  kp.insns = raw;
  std::vector<double> x_us, x_cpu_us, k_us, k_wall_us;
  verifier::Verdict v;
  KernelLoad k;
  for (int r = 0; r < o.reps; ++r) {
    const double c0 = thread_cpu_us();
    const auto t0 = std::chrono::steady_clock::now();
    v = verifier::verify(raw, env);
    const auto t1 = std::chrono::steady_clock::now();
    x_cpu_us.push_back(thread_cpu_us() - c0);
    x_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    k = kernel_load(kp, o.kernel_log_level);
    k_wall_us.push_back(k.wall_us);
    if (auto t = log_number(k.log, "verification time ")) k_us.push_back(double(*t));
  }
  auto ms = [](const std::vector<double>& s) {
    if (s.empty()) return std::string("-");
    return fmt::format("median {:.1f} ms, fastest {:.1f} ms", median(s) / 1000, *std::min_element(s.begin(), s.end()) / 1000);
  };
  std::printf("case '%s', %d repetitions each, alternating; load average %s\n", c->name, o.reps, loadavg().c_str());
  std::printf("  xbpf:   %s after %llu insns; verify() wall %s; CPU %s\n", v.ok ? "accepted" : v.message.c_str(),
              static_cast<unsigned long long>(v.stats.insns_processed), ms(x_us).c_str(), ms(x_cpu_us).c_str());
  // The verdict: the last line of the log above its statistics.
  std::string verdict = k.log;
  for (const char* stats : {"\nverification time ", "\nprocessed "})
    if (const size_t at = verdict.rfind(stats); at != std::string::npos) verdict.resize(at);
  std::printf("  kernel: %s after %llu insns; \"verification time\" %s; BPF_PROG_LOAD wall %s\n",
              k.ok ? "accepted" : last_line(verdict).c_str(),
              static_cast<unsigned long long>(log_number(k.log, "processed ").value_or(0)), ms(k_us).c_str(),
              ms(k_wall_us).c_str());
  return 0;
}

// Fails with a message naming what is missing when bpf(2) cannot be used.
void require_bpf() {
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vbench_probe", 4, 4, 1, nullptr);
  if (fd >= 0) {
    close(fd);
    return;
  }
  const int e = errno;
  if (e == ENOSYS) die("bpf(2) is not available: this kernel has no BPF syscall (ENOSYS)");
  if (e == EPERM || e == EACCES)
    die("bpf(2) refused (" + errno_text(e) + "): run as root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN)");
  die("bpf(2) BPF_MAP_CREATE failed: " + errno_text(e));
}

#else

void require_bpf() {
  die("built without libbpf (libbpf-dev not found at configure time): the kernel side cannot run; "
      "install libbpf-dev and reconfigure");
}
void run_side_by_side(std::vector<Prog>&, const Options&) {}
int run_case(const Options&) { return 1; }

#endif

// ---- the report --------------------------------------------------------------

const char* kname(Prog::K k) {
  switch (k) {
    case Prog::K::Accept: return "ACCEPT";
    case Prog::K::Reject: return "REJECT";
    case Prog::K::LoadErr: return "LOADERR";
    case Prog::K::NotRun: break;
  }
  return "not run";
}

void print_rows(const std::vector<Prog>& progs) {
  std::printf("%-70s %-14s %9s %9s %9s %9s %9s %8s %8s %8s\n", "program (file section[/function])", "type",
              "xbpf_us", "xcpu_us", "kern_us", "kwall_us", "kcpu_us", "x_insns", "k_insns", "tsv_us");
  for (const Prog& p : progs) {
    std::printf("%-70s %-14s %9.1f %9.1f %9.0f %9.1f %9.1f %8llu %8llu %8.0f%s%s\n", p.id().c_str(),
                p.prog_type.substr(0, p.prog_type.find('(')).c_str(), p.x_us, p.x_cpu_us, p.k_us, p.k_wall_us,
                p.k_cpu_us, static_cast<unsigned long long>(p.x_insns), static_cast<unsigned long long>(p.k_insns),
                p.tsv_usec, p.k_btf ? "  (kernel: with BTF)" : "",
                p.k == Prog::K::Accept ? "" : "  (kernel: not accepted)");
  }
  std::printf("\n");
}

// One column of the summary: a figure per program.
struct Column {
  std::vector<double> each;
  std::vector<const Prog*> who;
  void add(double v, const Prog& p) { each.push_back(v), who.push_back(&p); }
  [[nodiscard]] double total() const {
    double t = 0;
    for (double v : each) t += v;
    return t;
  }
  [[nodiscard]] size_t worst() const { return size_t(std::max_element(each.begin(), each.end()) - each.begin()); }
};

void print_line(const char* what, const Column& x, const Column& k) {
  const double xt = x.total(), kt = k.total();
  std::printf("    %-34s %10.1f ms %10.1f ms %8.3f %10.1f us %10.1f us %9.1f ms %9.1f ms\n", what, xt / 1e3, kt / 1e3,
              kt > 0 ? xt / kt : 0.0, median(x.each), median(k.each), x.each[x.worst()] / 1e3,
              k.each[k.worst()] / 1e3);
}

void print_summary(const std::vector<Prog>& progs, const Options& o, long rss_xbpf_kib, long rss_end_kib) {
  Column x, xcpu, k, kwall, kcpu, tsv;
  size_t x_ok = 0, k_ok = 0, k_btf = 0;
  uint64_t x_insns = 0, k_insns = 0, tsv_insns = 0;
  for (const Prog& p : progs) {
    x_ok += p.x_ok, k_ok += p.k == Prog::K::Accept, k_btf += p.k_btf;
    if (!p.x_ok || p.k != Prog::K::Accept) continue;
    x.add(p.x_us, p), xcpu.add(p.x_cpu_us, p), k.add(p.k_us, p), kwall.add(p.k_wall_us, p);
    kcpu.add(p.k_cpu_us, p), tsv.add(p.tsv_usec, p);
    x_insns += p.x_insns, k_insns += p.k_insns, tsv_insns += p.tsv_insns;
  }
  std::printf("verify_bench: %zu ACCEPT programs of the table%s, %d repetitions each, per-program medians\n",
              progs.size(), o.filter.empty() ? "" : (" matching '" + o.filter + "'").c_str(), o.reps);
  std::printf("  accepted in this run: xbpf %zu/%zu, kernel %zu/%zu (kernel log_level %u)", x_ok, progs.size(), k_ok,
              progs.size(), o.kernel_log_level);
  if (k_btf) std::printf(", %zu loaded into the kernel with BTF + func_info", k_btf);
  std::printf("\n");
  for (const Prog& p : progs)
    if (p.k != Prog::K::Accept) std::printf("  kernel %s: %s: %s\n", kname(p.k), p.id().c_str(), p.k_msg.c_str());
  for (const Prog& p : progs)
    if (!p.x_ok) std::printf("  xbpf did not accept: %s: %s\n", p.id().c_str(), p.x_msg.c_str());
  if (x.each.empty()) return;
  std::printf("  over the %zu programs both accepted:\n", x.each.size());
  std::printf("    %-34s %13s %13s %8s %13s %13s %12s %12s\n", "xbpf vs kernel", "xbpf total", "kernel total",
              "ratio", "xbpf median", "kern median", "xbpf worst", "kern worst");
  print_line("verify() wall vs verification time", x, k);
  print_line("verify() wall vs BPF_PROG_LOAD wall", x, kwall);
  print_line("verify() CPU vs BPF_PROG_LOAD CPU", xcpu, kcpu);
  std::printf("    worst: xbpf %s (%.1f ms); kernel %s (%.1f ms)\n", x.who[x.worst()]->id().c_str(),
              x.each[x.worst()] / 1e3, k.who[k.worst()]->id().c_str(), k.each[k.worst()] / 1e3);
  std::printf("    instructions processed: xbpf %llu, kernel %llu\n", static_cast<unsigned long long>(x_insns),
              static_cast<unsigned long long>(k_insns));
  std::printf("    the table's recorded kernel figures for these programs: %.1f ms verification time, %llu insns\n",
              tsv.total() / 1e3, static_cast<unsigned long long>(tsv_insns));
  std::printf("  peak RSS (ru_maxrss): %.1f MiB after the xbpf part (xbpf alone), %.1f MiB for the whole process\n",
              double(rss_xbpf_kib) / 1024, double(rss_end_kib) / 1024);
  std::printf("  xbpf: verifier::verify() (steady_clock wall; thread CPU time); kernel: \"verification time\" from "
              "its log (bpf_check), wall and thread CPU time of the bpf(2) call (includes JIT)\n");
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  if (!o.case_name.empty()) {
    require_bpf();
    return run_case(o);
  }
  if (!fs::is_directory(o.corpus)) die("corpus missing: " + o.corpus.string() + " is not a directory (--corpus DIR)");
  std::vector<Prog> progs = read_accepts(o);
  if (progs.empty()) die("no ACCEPT program of the table matches" + (o.filter.empty() ? "" : " '" + o.filter + "'"));
  require_bpf();
  std::printf("corpus %s; load average %s\n", o.corpus.c_str(), loadavg().c_str());
  std::fflush(stdout);
  run_xbpf_alone(progs, o);
  const long rss_xbpf = peak_rss_kib();
  std::printf("xbpf alone (one untimed pass): peak RSS %.1f MiB; load average %s\n", double(rss_xbpf) / 1024,
              loadavg().c_str());
  std::fflush(stdout);
  run_side_by_side(progs, o);
  for (Prog& p : progs) {
    p.x_us = median(p.x_samples), p.x_cpu_us = median(p.x_cpu_samples);
    p.k_us = median(p.k_samples), p.k_wall_us = median(p.k_wall_samples), p.k_cpu_us = median(p.k_cpu_samples);
  }
  std::printf("side by side done; load average %s\n\n", loadavg().c_str());
  if (o.verbose) print_rows(progs);
  print_summary(progs, o, rss_xbpf, peak_rss_kib());
  return 0;
}
