// `xbpf prog run` (BPF_PROG_TEST_RUN on an object file), `xbpf prog dump`
// (bpftool prog dump xlated|jited, of an object file's programs) and `xbpf
// prog tracelog` (bpftool prog tracelog: the bpf_trace_printk log of a store).
//
//   xbpf prog run OBJ [--program NAME] [--data-in F | --pcap F] [--ctx-in F]
//                 [--repeat N] [--data-out F] [--ctx-out F] [--engine E]
//                 [--store DIR] [--json]
//   xbpf prog dump xlated|jited OBJ [--program NAME] [--opcodes] [--linum]
//   xbpf prog tracelog [--follow] [--store DIR]
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <filesystem>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>


#include "commands.hpp"
#include "helpers/trace_log.hpp"
#include "io.hpp"
#include "prog_store.hpp"
#include "loader/loader.hpp"
#include "maps/store.hpp"
#include "runtime/dump.hpp"
#include "runtime/object.hpp"
#include "runtime/test_run.hpp"

namespace xbpf::cli {
namespace {

struct RunArgs {
  std::vector<std::string> words;  // OBJ, or PROG and bpftool's words
  std::string object, program, data_in, ctx_in, data_out, ctx_out, pcap, store, type, pinmaps;
  uint32_t repeat = 1;
  bool json = false;
  std::string mode = "verified";
  std::string engine = "auto";
  bool blind = false;
};

struct DumpArgs {
  std::vector<std::string> words;  // OBJ, or PROG and bpftool's words
  std::string object, program, type;
  bool opcodes = false, linum = false;
};

runtime::Engine engine_of(const std::string& name) {
  return name == "jit" ? runtime::Engine::Jit : name == "interpreter" ? runtime::Engine::Interpreter
                                                                      : runtime::Engine::Auto;
}

std::string store_dir(const std::string& given) { return given.empty() ? maps::Store::default_dir() : given; }

Expected<const runtime::Program*> pick(const runtime::Object& o, const std::string& name) {
  if (!name.empty()) {
    if (const runtime::Program* p = o.program(name)) return p;
    for (const auto& p : o.programs())
      if (p->spec().section == name) return p.get();
    return fail(Errc::invalid_argument, "{}: no program or section named '{}'", o.spec().path, name);
  }
  if (o.programs().size() != 1) {
    std::string names;
    for (const auto& p : o.programs()) names += (names.empty() ? "" : ", ") + p->name();
    return fail(Errc::invalid_argument, "{}: {} programs ({}); choose one with --program", o.spec().path,
                o.programs().size(), names);
  }
  return o.programs()[0].get();
}

Expected<void> run(const RunArgs& a) {
  auto spec = open_object_spec(a.object, a.type);
  if (!spec) return unexpected(spec.error());
  auto store = maps::Store::open(store_dir(a.store));
  if (!store) return unexpected(store.error());
  runtime::LoadOptions lo;
  lo.mode = a.mode == "verified" ? vm::Mode::Verified : vm::Mode::Checked;
  lo.engine = engine_of(a.engine);
  lo.blind_constants = a.blind;
  auto obj = runtime::Object::load(std::move(*spec), *store, lo);
  if (!obj) return unexpected(obj.error());
  auto prog = pick(**obj, a.program);
  if (!prog) return unexpected(prog.error());
  // Keep the maps after this process ends, named PINMAPS/<map> (bpftool's pinmaps).
  if (!a.pinmaps.empty()) {
    for (const auto& m : (*obj)->maps()) {
      if (!m) continue;
      const std::string pin = a.pinmaps + "/" + m->name();
      if (auto r = (*store)->pin(maps::ObjectKind::Map, m->id(), pin); !r)
        return unexpected(with_context(r.error(), "pin " + pin));
    }
  }
  auto trace = helpers::TraceLog::open(helpers::TraceLog::path_in((*store)->dir()));
  if (!trace) return unexpected(trace.error());

  runtime::TestRun tr;
  tr.repeat = a.repeat;
  tr.trace = &*trace;
  std::vector<uint8_t> data, ctx;
  if (!a.ctx_in.empty()) {
    auto c = read_file(a.ctx_in);
    if (!c) return unexpected(c.error());
    ctx = std::move(*c);
    tr.ctx_in = std::span<const uint8_t>(ctx);
  }
  tr.want_ctx_out = !a.ctx_out.empty();
  if (!a.pcap.empty()) return run_pcap_and_print(**prog, a.pcap, tr, {a.json, globals().pretty});
  if (!a.data_in.empty()) {
    auto d = read_file(a.data_in);
    if (!d) return unexpected(d.error());
    data = std::move(*d);
  }
  tr.data_in = data;
  auto r = runtime::test_run(**prog, tr);
  if (!r) return unexpected(r.error());
  print_run_result(*r, a.repeat > 1, {a.json, globals().pretty});
  if (!a.data_out.empty())
    if (auto w = write_output(a.data_out, r->data_out); !w) return w;
  if (!a.ctx_out.empty())
    if (auto w = write_output(a.ctx_out, r->ctx_out); !w) return w;
  return {};
}

// A store of our own under /dev/shm for the duration of a command that loads
// an object only to look at it (nothing is left behind).
class ScratchStore {
 public:
  static Expected<std::unique_ptr<ScratchStore>> create() {
    std::string tmpl = "/dev/shm/xbpf-scratch-XXXXXX";
    if (!mkdtemp(tmpl.data())) return fail_errno(errno, "{}: {}", tmpl, std::strerror(errno));
    std::unique_ptr<ScratchStore> s(new ScratchStore(tmpl));
    auto st = maps::Store::open(tmpl);
    if (!st) return unexpected(st.error());
    s->store = *st;
    return s;
  }
  ~ScratchStore() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::shared_ptr<maps::Store> store;

 private:
  explicit ScratchStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Loads OBJ (verified, on the JIT when `jited`) into a scratch store and
// prints each chosen program's dump.
Expected<void> dump(const DumpArgs& a, bool jited) {
  auto spec = open_object_spec(a.object, a.type);
  if (!spec) return unexpected(spec.error());
  auto scratch = ScratchStore::create();
  if (!scratch) return unexpected(scratch.error());
  runtime::LoadOptions lo;
  lo.engine = jited ? runtime::Engine::Jit : runtime::Engine::Interpreter;
  auto obj = runtime::Object::load(std::move(*spec), (*scratch)->store, lo);
  if (!obj) return unexpected(obj.error());
  std::vector<const runtime::Program*> progs;
  if (a.program.empty()) {
    for (const auto& p : (*obj)->programs()) progs.push_back(p.get());
  } else {
    auto p = pick(**obj, a.program);
    if (!p) return unexpected(p.error());
    progs.push_back(*p);
  }
  const runtime::DumpOptions opts{.opcodes = a.opcodes, .linum = a.linum};
  for (size_t k = 0; k < progs.size(); ++k) {
    auto text = jited ? runtime::dump_jited(*progs[k], opts) : runtime::dump_xlated(*progs[k], opts);
    if (!text) return unexpected(text.error());
    std::printf("%s%s", k ? "\n" : "", text->c_str());
  }
  return {};
}

Expected<void> tracelog(const std::string& store, bool follow) {
  const std::string path = helpers::TraceLog::path_in(store_dir(store));
  if (access(path.c_str(), F_OK) != 0 && !follow) return {};  // nothing printed yet
  if (follow) {
    auto created = helpers::TraceLog::open(path);
    if (!created) return unexpected(created.error());
  }
  uint64_t offset = 0;
  for (;;) {
    auto lines = helpers::read_trace(path, offset);
    if (!lines) return unexpected(lines.error());
    for (const auto& l : *lines) std::printf("%s\n", l.c_str());
    std::fflush(stdout);
    if (!follow) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Opens the store and runs `fn`; errors are reported as "xbpf VERB: ...".
template <class F>
int with_store(const std::string& dir, const std::string& verb, F&& fn) {
  auto store = maps::Store::open(store_dir(dir));
  if (!store) return report(with_context(store.error(), verb));
  if (auto r = fn(**store); !r) return report_verb(r.error(), verb);
  return 0;
}

}  // namespace

void add_prog_command(CLI::App& app, int& exit_code) {
  auto* prog = app.add_subcommand("prog", "Run, dump programs and read their trace log (bpftool's 'prog' command)");
  require_command(prog, exit_code);

  auto a = std::make_shared<RunArgs>();
  auto* run_cmd = prog->add_subcommand("run", "Run a program of an object once or N times (BPF_PROG_TEST_RUN)");
  run_cmd->add_option("target", a->words,
                      "OBJ (a BPF object file), or PROG (id ID | pinned PATH | name NAME | tag TAG) followed by "
                      "bpftool's words: data_in FILE, data_out FILE, ctx_in FILE, ctx_out FILE, repeat N, pcap FILE")
      ->required();
  run_cmd->add_option("--program", a->program, "Program name or section (default: the only program)");
  run_cmd->add_option("--type", a->type, "Program type when the section name does not tell (e.g. xdp)");
  auto* din = run_cmd->add_option("--data-in", a->data_in, "Packet data file");
  run_cmd->add_option("--pcap", a->pcap, "Run once per packet of a pcap file and count the verdicts")->excludes(din);
  run_cmd->add_option("--ctx-in", a->ctx_in, "Context (struct xdp_md, __sk_buff, pt_regs, ...) file");
  run_cmd->add_option("--data-out", a->data_out, "Write the packet after the run ('-': hex on stdout)");
  run_cmd->add_option("--ctx-out", a->ctx_out, "Write the context after the run ('-': hex on stdout)");
  run_cmd->add_option("--repeat", a->repeat, "Runs; the duration printed is the mean")->check(CLI::PositiveNumber);
  run_cmd->add_option("--mode", a->mode,
                      "verified (default): xbpf's verifier must accept the program, which then runs unchecked; "
                      "checked: no verifier, every access checked at run time")
      ->check(CLI::IsMember({"checked", "verified"}));
  run_cmd->add_option("--engine", a->engine,
                      "auto (default): the JIT for verified programs, the interpreter for checked ones; "
                      "jit: compiling must succeed; interpreter")
      ->check(CLI::IsMember({"auto", "jit", "interpreter"}));
  run_cmd->add_flag("--blind-constants", a->blind,
                    "JIT: no immediate of the program in executable memory (the kernel's bpf_jit_harden)");
  run_cmd->add_option("--pinmaps", a->pinmaps, "Pin the object's maps as PINMAPS/<map name> in the store");
  run_cmd->add_option("--store", a->store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
  run_cmd->add_flag("-j,--json", a->json, "JSON output");
  run_cmd->callback([a, &exit_code] {
    if (a->store.empty()) a->store = globals().store;
    a->json |= globals().json || globals().pretty;
    if (is_prog_selector(a->words[0])) {
      exit_code = with_store(a->store, "prog run", [&](maps::Store& s) {
        Words w(a->words);
        return prog_run_stored(s, w, {a->json, globals().pretty});
      });
      return;
    }
    if (a->words.size() != 1) {
      exit_code = report(Error{Errc::invalid_argument,
                               fmt::format("prog run: unexpected argument '{}' after the object file", a->words[1]), 0});
      return;
    }
    a->object = a->words[0];
    if (auto r = run(*a); !r) exit_code = report(r.error());
  });

  auto d = std::make_shared<DumpArgs>();
  auto* dump_cmd = prog->add_subcommand("dump", "Print a program as relocated (xlated) or as the JIT compiled it (jited)");
  require_command(dump_cmd, exit_code);
  for (const bool jited : {false, true}) {
    auto* c = dump_cmd->add_subcommand(jited ? "jited" : "xlated",
                                       jited ? "x86-64 code of each BPF instruction (capstone), with source lines"
                                             : "BPF instructions after relocation, with source lines");
    c->add_option("target", d->words,
                  "OBJ (a BPF object file), or PROG (id ID | pinned PATH | name NAME | tag TAG) followed by "
                  "bpftool's words: opcodes, linum, file FILE")
        ->required();
    c->add_option("--program", d->program, "Program name or section (default: every program)");
    c->add_option("--type", d->type, "Program type when the section name does not tell (e.g. xdp)");
    c->add_flag("--opcodes", d->opcodes, "Show instruction bytes");
    c->add_flag("--linum", d->linum, "Show source file, line and column (BTF line info)");
    c->add_option("--store", globals().store, "Store of PROG (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
    c->callback([d, jited, &exit_code] {
      if (is_prog_selector(d->words[0])) {
        exit_code = with_store(globals().store, jited ? "prog dump jited" : "prog dump xlated", [&](maps::Store& s) {
          Words w(d->words);
          return prog_dump_stored(s, w, jited);
        });
        return;
      }
      if (d->words.size() != 1) {
        exit_code = report(Error{Errc::invalid_argument,
                                 fmt::format("prog dump: unexpected argument '{}' after the object file", d->words[1]), 0});
        return;
      }
      d->object = d->words[0];
      if (auto r = dump(*d, jited); !r) exit_code = report(r.error());
    });
  }

  // The verbs on programs in the store, bpftool's words after the verb.
  const StoreVerb verbs[] = {
      {"show", "show [PROG]: programs in the store (bpftool's layout; -j for JSON)",
       [](maps::Store& s, Words& w) { return prog_show(s, w, {globals().json || globals().pretty, globals().pretty}); }},
      {"list", "list [PROG]: same as show",
       [](maps::Store& s, Words& w) { return prog_show(s, w, {globals().json || globals().pretty, globals().pretty}); }},
      {"load", "load OBJ PATH [type TYPE] [pinmaps MAP_DIR]: load, verify, JIT; pin the first program at PATH",
       [](maps::Store& s, Words& w) { return prog_load(s, w, false); }},
      {"loadall", "loadall OBJ PATH [type TYPE] [pinmaps MAP_DIR]: as load, every program pinned as PATH/<name>",
       [](maps::Store& s, Words& w) { return prog_load(s, w, true); }},
      {"pin", "pin PROG PATH: give a program a name in the store",
       [](maps::Store& s, Words& w) { return prog_pin(s, w); }},
      {"detach", "detach PROG xdp dev NAME: detach PROG from the packet device NAME",
       [](maps::Store& s, Words& w) { return prog_detach(s, w); }},
  };
  add_store_verbs(prog, "prog", verbs, exit_code);

  auto follow = std::make_shared<bool>(false);
  auto store = std::make_shared<std::string>();
  auto* tl = prog->add_subcommand("tracelog", "Print the bpf_trace_printk log of the store");
  tl->add_flag("-f,--follow", *follow, "Keep printing new lines");
  tl->add_option("--store", *store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
  tl->callback([follow, store, &exit_code] {
    if (store->empty()) *store = globals().store;
    if (auto r = tracelog(*store, *follow); !r) exit_code = report(r.error());
  });
}

}  // namespace xbpf::cli
