// `xbpf prog` verbs on the store's programs: show/list, load/loadall, pin,
// and run/dump of a program some other process loaded (see prog_store.hpp).
#include "prog_store.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io.hpp"
#include "jit/jit.hpp"
#include "progress.hpp"
#include "runtime/dump.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"
#include "helpers/trace_log.hpp"

namespace xbpf::cli {

using maps::ObjectKind;
using maps::ProgramRecord;
using maps::Store;

Expected<std::vector<uint32_t>> select_programs(Store& store, Words& w) {
  auto kind = w.expect("PROG (id ID | pinned PATH | name NAME | tag TAG)");
  if (!kind) return unexpected(kind.error());
  auto arg = w.expect(*kind + " argument");
  if (!arg) return unexpected(arg.error());
  if (*kind == "id") {
    auto id = parse_number(*arg, "program id");
    if (!id) return unexpected(id.error());
    if (*id == 0 || *id > UINT32_MAX || !store.has_program(uint32_t(*id)))
      return fail_errno(ENOENT, "prog {}: no such program in store {}", *arg, store.dir());
    return std::vector<uint32_t>{uint32_t(*id)};
  }
  if (*kind == "pinned") {
    auto obj = store.pinned(*arg);
    if (!obj) return unexpected(obj.error());
    if (obj->first != ObjectKind::Program)
      return fail(Errc::invalid_argument, "pinned object '{}' is not a program", *arg);
    return std::vector<uint32_t>{obj->second};
  }
  if (*kind != "name" && *kind != "tag")
    return fail(Errc::invalid_argument, "expected 'id', 'pinned', 'name' or 'tag', got '{}'", *kind);
  auto ids = store.program_ids();
  if (!ids) return unexpected(ids.error());
  std::vector<uint32_t> out;
  for (uint32_t id : *ids) {
    auto rec = store.program(id);
    if (rec && (*kind == "name" ? rec->name : rec->tag) == *arg) out.push_back(id);
  }
  if (out.empty()) return fail_errno(ENOENT, "no program with {} '{}'", *kind, *arg);
  return out;
}

Expected<uint32_t> select_one(Store& store, Words& w) {
  auto ids = select_programs(store, w);
  if (!ids) return unexpected(ids.error());
  if (ids->size() > 1) return fail(Errc::invalid_argument, "{} programs match: use id", ids->size());
  return ids->front();
}

// Their flocks in /proc/locks, as bpftool's `pids` (processes with an fd to it).
std::vector<std::pair<int, std::string>> holders(const std::string& path) {
  std::vector<std::pair<int, std::string>> out;
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return out;
  const std::string dev = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
  std::ifstream locks("/proc/locks");
  std::string line;
  std::set<int> seen;
  while (std::getline(locks, line)) {
    std::istringstream in(line);
    std::vector<std::string> t;
    for (std::string x; in >> x;)
      if (x != "->") t.push_back(x);
    // "N: FLOCK ADVISORY READ PID MAJ:MIN:INODE START END"
    if (t.size() < 6 || t[1] != "FLOCK" || t[5] != dev) continue;
    const int pid = std::atoi(t[4].c_str());
    if (pid <= 0 || pid == getpid() || !seen.insert(pid).second) continue;
    std::ifstream comm(fmt::format("/proc/{}/comm", pid));
    std::string name;
    std::getline(comm, name);
    out.emplace_back(pid, name);
  }
  return out;
}

std::multimap<uint32_t, std::string> pins_of(Store& store, ObjectKind kind) {
  std::multimap<uint32_t, std::string> out;
  if (auto pins = store.pins())
    for (const auto& p : *pins)
      if (p.kind == kind) out.emplace(p.id, p.path);
  return out;
}

void add_pins_and_pids(nlohmann::ordered_json& j, const std::multimap<uint32_t, std::string>& pins, uint32_t id,
                       const std::string& file) {
  auto [lo, hi] = pins.equal_range(id);
  if (lo != hi) {
    j["pinned"] = nlohmann::ordered_json::array();
    for (auto it = lo; it != hi; ++it) j["pinned"].push_back(it->second);
  }
  auto pids = holders(file);
  if (!pids.empty()) {
    j["pids"] = nlohmann::ordered_json::array();
    for (const auto& [pid, comm] : pids) j["pids"].push_back({{"pid", pid}, {"comm", comm}});
  }
}

std::vector<std::string> pins_and_pids_lines(const std::multimap<uint32_t, std::string>& pins, uint32_t id,
                                             const std::string& file) {
  std::vector<std::string> lines;
  auto [lo, hi] = pins.equal_range(id);
  for (auto it = lo; it != hi; ++it) lines.push_back("pinned " + it->second);
  auto pids = holders(file);
  if (!pids.empty()) {
    std::string s;
    for (const auto& [pid, comm] : pids) s += fmt::format("{}{}({})", s.empty() ? "" : ", ", comm, pid);
    lines.push_back("pids " + s);
  }
  return lines;
}

namespace {

std::string type_name(uint32_t t) {
  const std::string_view n = kabi::name(static_cast<kabi::ProgType>(t));
  return n.empty() ? fmt::format("type {}", t) : std::string(n);
}

uint64_t memlock_of(const ProgramRecord& r) { return (r.insns.size() * 8 + 4095) / 4096 * 4096; }

nlohmann::ordered_json show_json(const ProgramRecord& r, const std::multimap<uint32_t, std::string>& pins,
                                 const std::string& file) {
  nlohmann::ordered_json j = {{"id", r.id},
                              {"type", type_name(r.prog_type)},
                              {"name", r.name},
                              {"tag", r.tag},
                              {"gpl_compatible", r.gpl},
                              {"loaded_at", r.load_time_ns / 1'000'000'000},
                              {"uid", r.owner_uid},
                              {"orphaned", false},
                              {"bytes_xlated", r.insns.size() * 8},
                              {"jited", r.jited}};
  if (r.jited) j["bytes_jited"] = r.jited_len;
  j["bytes_memlock"] = memlock_of(r);
  if (!r.map_ids.empty()) j["map_ids"] = r.map_ids;
  if (r.btf_id) j["btf_id"] = r.btf_id;
  if (r.verified_insns) j["verified_insns"] = r.verified_insns;
  add_pins_and_pids(j, pins, r.id, file);
  return j;
}

void show_text(const ProgramRecord& r, const std::multimap<uint32_t, std::string>& pins, const std::string& file) {
  std::printf("%u: %s  name %s  tag %s%s\n", r.id, type_name(r.prog_type).c_str(), r.name.c_str(), r.tag.c_str(),
              r.gpl ? "  gpl" : "");
  const time_t t = time_t(r.load_time_ns / 1'000'000'000);
  tm local{};
  localtime_r(&t, &local);
  char when[64];
  strftime(when, sizeof when, "%FT%T%z", &local);
  std::printf("\tloaded_at %s  uid %u\n", when, r.owner_uid);
  std::string maps;
  for (uint32_t m : r.map_ids) maps += (maps.empty() ? "" : ",") + std::to_string(m);
  std::printf("\txlated %zuB  %s  memlock %lluB%s%s\n", r.insns.size() * 8,
              r.jited ? fmt::format("jited {}B", r.jited_len).c_str() : "not jited",
              static_cast<unsigned long long>(memlock_of(r)), maps.empty() ? "" : "  map_ids ", maps.c_str());
  if (r.btf_id) std::printf("\tbtf_id %u\n", r.btf_id);
  for (const std::string& line : pins_and_pids_lines(pins, r.id, file)) std::printf("\t%s\n", line.c_str());
}

// Pins made by a command, removed again if the command fails half-way.
class PinGuard {
 public:
  explicit PinGuard(Store& s) : store_(s) {}
  ~PinGuard() {
    if (!keep_)
      for (const auto& p : pins_) (void)store_.unpin(p);
  }
  Expected<void> pin(ObjectKind kind, uint32_t id, const std::string& path) {
    if (auto r = store_.pin(kind, id, path); !r) return r;
    pins_.push_back(path);
    return {};
  }
  void keep() { keep_ = true; }

 private:
  Store& store_;
  std::vector<std::string> pins_;
  bool keep_ = false;
};

}  // namespace

bool is_prog_selector(std::string_view word) {
  return word == "id" || word == "pinned" || word == "name" || word == "tag";
}

Expected<void> prog_show(Store& store, Words& w, const ProgOutput& out) {
  std::vector<uint32_t> ids;
  const bool selected = !w.empty();
  if (!selected) {
    auto all = store.program_ids();
    if (!all) return unexpected(all.error());
    ids = std::move(*all);
  } else {
    auto sel = select_programs(store, w);
    if (!sel) return unexpected(sel.error());
    ids = std::move(*sel);
  }
  if (auto r = w.done(); !r) return r;
  const auto pins = pins_of(store, ObjectKind::Program);
  auto arr = nlohmann::ordered_json::array();
  for (uint32_t id : ids) {
    auto rec = store.program(id);
    if (!rec) {
      if (rec.error().errnum == ENOENT && !selected) continue;  // released meanwhile
      return unexpected(rec.error());
    }
    const std::string file = store.dir() + "/progs/" + std::to_string(id);
    if (out.json) arr.push_back(show_json(*rec, pins, file));
    else show_text(*rec, pins, file);
  }
  // bpftool prints one object for `show PROG` with a unique match, an array otherwise.
  if (out.json) std::printf("%s\n", (selected && arr.size() == 1 ? arr[0] : arr).dump(out.pretty ? 4 : -1).c_str());
  return {};
}

Expected<void> prog_load(Store& store, Words& w, bool all) {
  auto object = w.expect("OBJ");
  if (!object) return unexpected(object.error());
  auto path = w.expect(all ? "PATH (a pin directory)" : "PATH (a pin name)");
  if (!path) return unexpected(path.error());
  std::string type, pinmaps;
  while (!w.empty()) {
    const std::string k = w.next();
    if (k == "type") {
      auto t = w.expect("TYPE");
      if (!t) return unexpected(t.error());
      type = *t;
    } else if (k == "pinmaps") {
      auto d = w.expect("MAP_DIR");
      if (!d) return unexpected(d.error());
      pinmaps = *d;
    } else if (k == "map" || k == "dev" || k == "offload_dev" || k == "xdpmeta_dev" || k == "autoattach") {
      return fail(Errc::unsupported, "'{}' is not supported by xbpf (no map reuse by index, no devices)", k);
    } else {
      return fail(Errc::invalid_argument, "unexpected argument '{}' (expected type or pinmaps)", k);
    }
  }
  auto spec = open_object_spec(*object, type);
  if (!spec) return unexpected(spec.error());
  if (spec->programs.empty()) return fail(Errc::invalid_program, "{}: no programs", *object);
  Progress progress;
  runtime::LoadOptions lo;
  const size_t nprogs = spec->programs.size();
  if (progress.enabled()) {
    lo.on_program = [&](size_t i, const std::string& name) {
      progress.show(fmt::format("{}: verifying program {}/{}: {}", *object, i + 1, nprogs, name));
    };
  }
  auto obj = runtime::Object::load(std::move(*spec), store.shared_from_this(), lo);
  progress.done();
  if (!obj) return unexpected(obj.error());
  PinGuard pins(store);
  if (all) {
    for (const auto& p : (*obj)->programs())
      if (auto r = pins.pin(ObjectKind::Program, p->id(), *path + "/" + p->name()); !r) return r;
  } else if (auto r = pins.pin(ObjectKind::Program, (*obj)->programs()[0]->id(), *path); !r) {
    return r;
  }
  if (!pinmaps.empty()) {
    for (const auto& m : (*obj)->maps())
      if (m)
        if (auto r = pins.pin(ObjectKind::Map, m->id(), pinmaps + "/" + m->name()); !r) return r;
  }
  pins.keep();
  return {};
}

Expected<void> prog_pin(Store& store, Words& w) {
  auto id = select_one(store, w);
  if (!id) return unexpected(id.error());
  auto path = w.expect("PATH");
  if (!path) return unexpected(path.error());
  if (auto r = w.done(); !r) return r;
  return store.pin(ObjectKind::Program, *id, *path);
}

Expected<void> run_pcap_and_print(const runtime::Program& prog, const std::string& path,
                                  const runtime::TestRun& tr, const ProgOutput& out) {
  Progress progress;  // a million packets take a while: show how far, on a terminal only
  runtime::PcapProgress report_progress;
  if (progress.enabled()) {
    report_progress = [&](uint64_t n, double frac) {
      progress.show(fmt::format("{}: {} packets ({:.0f}%)", path, n, frac * 100));
    };
  }
  auto sum = runtime::run_pcap(prog, path, tr, false, report_progress);
  progress.done();
  if (!sum) return unexpected(sum.error());
  if (out.json) {
    nlohmann::ordered_json v = nlohmann::ordered_json::object();
    for (auto [ret, n] : sum->verdicts) v[std::to_string(ret)] = n;
    std::printf("%s\n",
                nlohmann::ordered_json{{"packets", sum->packets}, {"verdicts", v}}.dump(out.pretty ? 4 : -1).c_str());
  } else {
    std::printf("Packets: %llu\n", static_cast<unsigned long long>(sum->packets));
    for (auto [ret, n] : sum->verdicts)
      std::printf("Return value %u: %llu\n", ret, static_cast<unsigned long long>(n));
  }
  return {};
}

void print_run_result(const runtime::TestRunResult& r, bool average, const ProgOutput& out) {
  if (out.json)
    std::printf("%s\n",
                nlohmann::ordered_json{{"retval", r.retval}, {"duration", r.duration_ns}}.dump(out.pretty ? 4 : -1).c_str());
  else
    std::printf("Return value: %u, duration%s: %uns\n", r.retval, average ? " (average)" : "", r.duration_ns);
}

Expected<void> prog_run_stored(Store& store, Words& w, const ProgOutput& out) {
  auto id = select_one(store, w);
  if (!id) return unexpected(id.error());
  std::map<std::string, std::string> kv;
  static const std::set<std::string> kKeys = {"data_in", "data_out", "data_size_out", "ctx_in", "ctx_out",
                                              "ctx_size_out", "repeat", "pcap"};
  while (!w.empty()) {
    const std::string k = w.next();
    if (!kKeys.count(k)) return fail(Errc::invalid_argument, "unexpected argument '{}'", k);
    auto v = w.expect(k + " argument");
    if (!v) return unexpected(v.error());
    if (!kv.emplace(k, *v).second) return fail(Errc::invalid_argument, "'{}' given twice", k);
  }
  if (kv.count("pcap") && kv.count("data_in")) return fail(Errc::invalid_argument, "data_in and pcap exclude each other");
  runtime::TestRun tr;
  tr.repeat = 1;
  if (auto it = kv.find("repeat"); it != kv.end()) {
    auto n = parse_number(it->second, "repeat");
    if (!n) return unexpected(n.error());
    if (*n == 0 || *n > UINT32_MAX) return fail(Errc::invalid_argument, "repeat must be 1..{}", UINT32_MAX);
    tr.repeat = uint32_t(*n);
  }
  // bpftool's size limits of the output buffers.
  auto size_limit = [&](const char* key) -> Expected<std::optional<uint64_t>> {
    auto it = kv.find(key);
    if (it == kv.end()) return std::optional<uint64_t>{};
    auto n = parse_number(it->second, key);
    if (!n) return unexpected(n.error());
    return std::optional<uint64_t>{*n};
  };
  auto data_limit = size_limit("data_size_out");
  if (!data_limit) return unexpected(data_limit.error());
  auto ctx_limit = size_limit("ctx_size_out");
  if (!ctx_limit) return unexpected(ctx_limit.error());

  Progress progress;
  progress.show(fmt::format("prog {}: verifying and compiling", *id), true);
  auto obj = runtime::Object::open_program(store.shared_from_this(), *id);
  progress.done();
  if (!obj) return unexpected(obj.error());
  const runtime::Program& prog = *(*obj)->programs()[0];
  auto trace = helpers::TraceLog::open(helpers::TraceLog::path_in(store.dir()));
  if (!trace) return unexpected(trace.error());
  tr.trace = &*trace;
  std::vector<uint8_t> data, ctx;
  if (auto it = kv.find("ctx_in"); it != kv.end()) {
    auto c = read_file(it->second);
    if (!c) return unexpected(c.error());
    ctx = std::move(*c);
    tr.ctx_in = std::span<const uint8_t>(ctx);
  }
  tr.want_ctx_out = kv.count("ctx_out") != 0;
  if (auto it = kv.find("pcap"); it != kv.end()) return run_pcap_and_print(prog, it->second, tr, out);
  if (auto it = kv.find("data_in"); it != kv.end()) {
    auto d = read_file(it->second);
    if (!d) return unexpected(d.error());
    data = std::move(*d);
  }
  tr.data_in = data;
  auto r = runtime::test_run(prog, tr);
  if (!r) return unexpected(r.error());
  if (*data_limit && r->data_out.size() > **data_limit)
    return fail_errno(ENOSPC, "data_out: {} bytes do not fit data_size_out {}", r->data_out.size(), **data_limit);
  if (*ctx_limit && r->ctx_out.size() > **ctx_limit)
    return fail_errno(ENOSPC, "ctx_out: {} bytes do not fit ctx_size_out {}", r->ctx_out.size(), **ctx_limit);
  print_run_result(*r, tr.repeat > 1, out);
  if (auto it = kv.find("data_out"); it != kv.end())
    if (auto wr = write_output(it->second, r->data_out); !wr) return wr;
  if (auto it = kv.find("ctx_out"); it != kv.end())
    if (auto wr = write_output(it->second, r->ctx_out); !wr) return wr;
  return {};
}

Expected<void> prog_dump_stored(Store& store, Words& w, bool jited) {
  auto id = select_one(store, w);
  if (!id) return unexpected(id.error());
  runtime::DumpOptions opts;
  std::string file;
  while (!w.empty()) {
    const std::string k = w.next();
    if (k == "opcodes") {
      opts.opcodes = true;
    } else if (k == "linum") {
      opts.linum = true;
    } else if (k == "file") {
      auto f = w.expect("FILE");
      if (!f) return unexpected(f.error());
      file = *f;
    } else {
      return fail(Errc::invalid_argument, "unexpected argument '{}' (expected file, opcodes or linum)", k);
    }
  }
  if (!file.empty() && !jited) {  // the raw xlated instructions, as the record holds them
    auto rec = store.program(*id);
    if (!rec) return unexpected(rec.error());
    std::vector<uint8_t> bytes(rec->insns.size() * 8);
    std::memcpy(bytes.data(), rec->insns.data(), bytes.size());
    return write_file(file, bytes);
  }
  runtime::LoadOptions lo;
  lo.engine = jited ? runtime::Engine::Jit : runtime::Engine::Interpreter;
  auto obj = runtime::Object::open_program(store.shared_from_this(), *id, lo);
  if (!obj) return unexpected(obj.error());
  const runtime::Program& prog = *(*obj)->programs()[0];
  if (!file.empty()) {
    auto code = jit::code_of(prog.vm());
    if (!code) return fail(Errc::invalid_argument, "prog {}: no native code", *id);
    return write_file(file, std::vector<uint8_t>(code->code.begin(), code->code.end()));
  }
  auto text = jited ? runtime::dump_jited(prog, opts) : runtime::dump_xlated(prog, opts);
  if (!text) return unexpected(text.error());
  std::printf("%s", text->c_str());
  return {};
}

// Only XDP attaches today, to a device; the device must run this program.
Expected<void> prog_detach(Store& store, Words& w) {
  auto id = select_one(store, w);
  if (!id) return unexpected(id.error());
  auto type = w.expect("ATTACH_TYPE (xdp)");
  if (!type) return unexpected(type.error());
  if (*type != "xdp")
    return fail(Errc::unsupported, "attach type '{}': xbpf attaches programs to devices only (xdp)", *type);
  if (!w.accept("dev")) return fail(Errc::invalid_argument, "'dev NAME' expected after xdp");
  auto dev = w.expect("device NAME");
  if (!dev) return unexpected(dev.error());
  if (auto r = w.done(); !r) return r;
  auto link = store.device_link(*dev);
  if (!link) return unexpected(link.error());
  auto rec = store.link(*link);
  if (!rec) return unexpected(rec.error());
  if (rec->prog_id != *id)
    return fail_errno(ENOENT, "device '{}' runs prog {}, not prog {}", *dev, rec->prog_id, *id);
  // By link: if the device was re-attached meanwhile, the newcomer stays.
  return store.detach_link(*link);
}

}  // namespace xbpf::cli
