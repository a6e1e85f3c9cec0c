// Live objects: an ObjectSpec turned into maps in a Store and programs ready
// to run, the way libbpf's bpf_object__load turns an opened object into
// kernel objects.
//
//  - maps are created through maps::Store (inner map templates first); global
//    data maps (.data/.bss/.rodata) are one-entry arrays initialised with their
//    contents, .rodata is BPF_F_RDONLY_PROG and frozen; prog-array and
//    map-in-map initialisers are applied once everything exists;
//  - pseudo lddw are rewritten: `map_idx` (src 5) becomes the Map* value,
//    `map_idx_value` (src 6) the address of the value plus offset; the store's
//    ProgramRecord keeps the kernel's form (src 1/2 with map ids);
//  - each program is loaded into a vm::Program with the helper table of its
//    program type. By default (LoadOptions::mode = Verified) xbpf's verifier
//    must accept it first and it then runs unchecked; in CHECKED mode regions
//    are granted for the context, the packet, global data and every map value
//    a helper returns (helpers::grant), and every access is checked.
//
// An Object is not copyable or movable (programs refer to it); it is shared
// between threads read-only: Program::run may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "helpers/helpers.hpp"
#include "helpers/run_state.hpp"
#include "jit/jit.hpp"
#include "loader/loader.hpp"
#include "maps/store.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace xbpf::runtime {

using kabi::ProgType;

// Which engine runs verified programs. Auto: the JIT (as a kernel with
// bpf_jit_enable=1), the interpreter in checked mode (the JIT trusts the
// verifier and emits no checks). Jit: compiling must succeed, else the load
// fails (the kernel's CONFIG_BPF_JIT_ALWAYS_ON); checked mode with Jit is an
// error.
enum class Engine : uint8_t { Auto, Interpreter, Jit };
[[nodiscard]] std::string_view engine_name(Engine e);

struct LoadOptions {
  Engine engine = Engine::Auto;
  // Checked: every access checked at run time. Verified: xbpf's verifier must
  // accept each program first (unless `trusted`), then it runs unchecked.
  vm::Mode mode = vm::Mode::Verified;
  bool trusted = false;  // Verified without verifying (the caller vouches, e.g. the kernel accepted it)
  const helpers::Registry* helpers = nullptr;  // nullptr: Registry::standard()
  uint64_t insn_budget = 1'000'000;            // checked mode, per run
  // Verified mode: replace lookups the verifier bound to one array map with
  // inline code (vm::InlineArrayLookup). Off only to measure or debug it.
  bool inline_lookups = true;
  // JIT: constant blinding (the kernel's bpf_jit_harden) for programs from
  // untrusted sources: no immediate of the program appears in executable
  // memory. Costs ~45% compile time and code size (docs/benchmarks.md).
  bool blind_constants = false;
  // JIT: after the load's compiles, compile all the object's programs this
  // many more rounds, in order (each compile replaces the last);
  // Program::jit_warm_stats() reports each program's fastest. Measurement
  // only (jit_bench --corpus --warm): the load's own compiles run after
  // every program's verification, the first of them in the caches the
  // verifier left. (With one program, a round repeats it: primed by the
  // same input, such a compile runs ~1.5x faster than any real one.)
  unsigned jit_warm_repeats = 0;
  // Called before each program is verified (progress reports; the programs
  // are compiled after all of them are verified).
  std::function<void(size_t index, const std::string& name)> on_program;
};

class Object;

// One loaded program.
class Program {
 public:
  [[nodiscard]] const std::string& name() const { return spec_->name; }
  [[nodiscard]] ProgType type() const { return spec_->type; }
  [[nodiscard]] uint32_t id() const { return id_; }  // store id
  [[nodiscard]] const loader::ProgramSpec& spec() const { return *spec_; }
  [[nodiscard]] const vm::Program& vm() const { return vm_; }
  [[nodiscard]] Object& object() const { return *object_; }
  // Engine::Jit when the program runs as native code, else Engine::Interpreter.
  [[nodiscard]] Engine engine() const { return vm_.native() ? Engine::Jit : Engine::Interpreter; }
  // What jit::compile reported when this program was loaded (compile time,
  // code size; all zero on the interpreter).
  [[nodiscard]] const jit::CompileStats& jit_stats() const { return jit_stats_; }
  // The fastest of LoadOptions::jit_warm_repeats compiles (all zero without them).
  [[nodiscard]] const jit::CompileStats& jit_warm_stats() const { return jit_warm_stats_; }

  // Runs once on `ctx` (the uapi context). `st` is prepared by the caller
  // (packet, extra regions); this adds the object's regions and maps, and
  // wires tail calls. r1 = ctx. Checked-mode faults and helper failures
  // (a faulting bpf_loop callback) are errors naming the program.
  [[nodiscard]] Expected<uint64_t> run(void* ctx, size_t ctx_size, helpers::RunState& st) const;

 private:
  friend class Object;
  Program(Object* o, const loader::ProgramSpec* s, vm::Program p) : object_(o), spec_(s), vm_(std::move(p)) {}
  Object* object_;
  const loader::ProgramSpec* spec_;
  vm::Program vm_;
  jit::CompileStats jit_stats_, jit_warm_stats_;
  uint32_t id_ = 0;
  std::shared_ptr<maps::Store::Hold> hold_;  // keeps the store record alive
};

class Object {
 public:
  // Creates the maps, loads and registers the programs. Errors name the
  // object and the map or program; map creation errors carry the errno.
  [[nodiscard]] static Expected<std::unique_ptr<Object>> load(loader::ObjectSpec spec,
                                                              std::shared_ptr<maps::Store> store,
                                                              const LoadOptions& opts = {});
  // A program another process loaded, from its record in `store` (bpftool's
  // `prog run id N` on a program this process did not load): its maps are
  // opened by id, its BTF (func and line info) read from the store, and the
  // recorded instructions verified again before they run (the store is a
  // file anyone with the owner's rights can change). The Object holds the
  // program; it has one program and the program's maps. ENOENT when there
  // is no such program or one of its maps is gone.
  [[nodiscard]] static Expected<std::unique_ptr<Object>> open_program(std::shared_ptr<maps::Store> store,
                                                                      uint32_t id, const LoadOptions& opts = {});
  ~Object();
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  [[nodiscard]] const loader::ObjectSpec& spec() const { return spec_; }
  [[nodiscard]] const std::shared_ptr<maps::Store>& store() const { return store_; }
  // nullptr when absent.
  [[nodiscard]] Program* program(std::string_view name) const;
  [[nodiscard]] std::shared_ptr<maps::Map> map(std::string_view name) const;
  [[nodiscard]] const std::vector<std::unique_ptr<Program>>& programs() const { return programs_; }
  [[nodiscard]] const std::vector<std::shared_ptr<maps::Map>>& maps() const { return maps_; }
  [[nodiscard]] const LoadOptions& options() const { return opts_; }

 private:
  friend class Program;
  Object() = default;
  Expected<void> init(std::shared_ptr<maps::Store> store, const LoadOptions& opts);
  Expected<void> store_btf();
  Expected<void> create_maps();
  Expected<void> adopt_record(const maps::ProgramRecord& rec);
  void add_map_regions(maps::Map& map);
  Expected<void> open_tail_targets();
  Expected<void> load_programs();
  Expected<uint32_t> register_program(const loader::ProgramSpec& ps, const vm::Program& vp,
                                      const std::optional<verifier::Verdict>& verdict, std::vector<uint64_t> xlated);
  Expected<verifier::Verdict> verify_program(const loader::ProgramSpec& ps) const;
  std::vector<vm::InlineArrayLookup> inline_lookups(const loader::ProgramSpec& ps, const verifier::Verdict& v) const;
  Expected<void> init_slots();
  Expected<std::vector<isa::RawInsn>> relocate(const loader::ProgramSpec& p, std::vector<uint64_t>* record);

  loader::ObjectSpec spec_;
  std::shared_ptr<maps::Store> store_;
  LoadOptions opts_;
  std::vector<std::shared_ptr<maps::Map>> maps_;  // parallel to spec_.maps
  std::vector<std::unique_ptr<Program>> programs_;  // parallel to spec_.programs
  std::vector<std::unique_ptr<vm::HelperTable>> tables_;
  std::vector<helpers::MapRef> map_refs_;  // every map a program may name
  std::vector<vm::Region> regions_;        // global data / direct value access
  const void* scope_ = nullptr;            // the store's identity: tail calls resolve ids within it
  uint32_t btf_id_ = 0;                    // the object's BTF in the store, 0 = none
  std::shared_ptr<maps::Store::Hold> btf_hold_;
  uint32_t adopted_id_ = 0;                // open_program: the record the one program came from
  std::vector<std::unique_ptr<Object>> tail_targets_;  // open_program: programs its prog arrays hold
};

// What xbpf's verifier needs to check `p` as BPF_PROG_LOAD would: its type,
// attach type, func info and the object's maps (map_idx N = o.maps[N]).
// Privileged, log level 0; callers adjust those.
[[nodiscard]] verifier::Env verifier_env(const loader::ObjectSpec& o, const loader::ProgramSpec& p,
                                         const helpers::Registry* helpers = nullptr);

// A program loaded by any Object of this process from the store at `store_dir`
// (ids are unique within one store only), by store id: what tail calls
// through prog arrays reach. nullptr when none.
[[nodiscard]] const Program* find_loaded(const std::string& store_dir, uint32_t id);

}  // namespace xbpf::runtime
