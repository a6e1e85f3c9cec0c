// JIT differential fuzzer with maps and helpers. Input as fuzz_verifier_maps':
// byte 0 picks the program type, byte 1 the packet length (14 + byte), the
// rest is bytecode; every lddw of a map (src 5) or of a map value (src 6)
// names one of the maps below (imm modulo their number, the value offset
// modulo the value size). The program is verified privileged, as the runtime
// verifies it (loops, bpf-to-bpf calls, callbacks with func info).
//
// An accepted program is relocated and loaded three times, each copy against
// its OWN set of maps, created fresh for the input with identical contents
// (hash maps with BPF_F_ZERO_SEED, so iteration order is the same): two
// interpreter copies and one JIT copy, each with the runtime's inlined array
// and per-CPU array lookups; the JIT compiles with the verifier's facts and,
// for odd-length programs, constant blinding. All run on the same context and packet (one fixed low page, reset
// before each run). Afterwards r0, the context, the packet buffer, the packet
// bounds and redirect target the helpers left, the contents of every map and
// the ring buffer's positions and records must be identical between the
// first interpreter run and the JIT run, else the fuzzer aborts printing both
// outcomes and the JIT's disassembly.
//
// Privileged programs may read uninitialised stack and leak pointers (stack
// addresses, map value addresses, `lddw func` values) into r0, the packet or
// map values; those differ between the engines. The second interpreter run
// detects them: it uses other maps and another program copy, runs at another
// native stack depth, with its frames poisoned with another byte pattern
// (jit_diff_common.hpp: the JIT's frames get the first run's).
// When the two interpreter runs disagree, the program is skipped and counted
// (printed at exit with what was compared).
//
// Helpers: the standard table of the program type, made deterministic for
// the run: ktime_get_ns/boot_ns/coarse_ns return a fake clock and
// get_prandom_u32 a fixed-seed generator (both restarted for every run),
// get_smp_processor_id returns 0 and the process is pinned to one CPU (per-
// CPU maps use the running CPU); bpf_loop and bpf_for_each_map_elem share an
// iteration budget per run (nested callbacks would otherwise run for ever).
// probe_write_user is excluded (it writes any address of the harness), as
// are helpers xbpf does not implement (counted).
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "helpers/helpers.hpp"
#include "jit_diff_common.hpp"
#include "helpers/run_state.hpp"
#include "isa/isa.hpp"
#include "jit/jit.hpp"
#include "maps/map.hpp"
#include "maps/ringbuf.hpp"
#include "maps/store.hpp"
#include "verifier/verifier.hpp"
#include "vm/vm.hpp"

namespace {

using xbpf::kabi::MapType;
using xbpf::kabi::ProgType;
namespace vm = xbpf::vm;
using namespace xbpf::fuzz;
namespace maps = xbpf::maps;
using Bytes = std::vector<uint8_t>;

constexpr ProgType kTypes[] = {ProgType::Xdp, ProgType::SchedCls, ProgType::SocketFilter};

// ---- what a campaign covered (printed at exit)
struct Counts {
  size_t verified = 0, compared = 0;
  size_t loops = 0, calls = 0, helpers = 0, callbacks = 0;
  size_t map_helpers = 0, ringbuf = 0, direct_values = 0, inlined = 0, packet_moved = 0;
  size_t skipped_garbage = 0, skipped_helper = 0, skipped_reloc = 0;
  size_t skipped_endless = 0;  // verified, but runs for ever (the termination probe)
  CodegenCounts codegen;  // compared programs with each code-generation option
  ~Counts() {
    codegen.print("fuzz_jit_maps");
    std::fprintf(stderr,
                 "fuzz_jit_maps: %zu verified, %zu compared (with loops %zu, bpf-to-bpf calls %zu, helper calls "
                 "%zu, callbacks %zu, map helpers %zu, ring buffer helpers %zu, direct map values %zu, inlined "
                 "array lookups %zu, packet moved by a helper %zu); skipped: %zu outcomes depending on stack "
                 "garbage or addresses, %zu for their helpers, %zu direct values of non-arrays, %zu that do not "
                 "terminate\n",
                 verified, compared, loops, calls, helpers, callbacks, map_helpers, ringbuf, direct_values, inlined,
                 packet_moved, skipped_garbage, skipped_helper, skipped_reloc, skipped_endless);
  }
} g_counts;

constexpr uint32_t kTailCall = 12, kProbeWriteUser = 36;

const vm::HelperTable& table_for(ProgType t) { return deterministic_table(t); }

// ---- the maps: fuzz_verifier_maps' set
struct MapDef {
  const char* name;
  MapType type;
  uint32_t key_size, value_size, max_entries, flags;
};
constexpr MapDef kMaps[] = {{"hash", MapType::Hash, 4, 8, 16, maps::kFZeroSeed},
                            {"array", MapType::Array, 4, 16, 4, 0},
                            {"events", MapType::Ringbuf, 0, 0, 4096, 0},
                            {"global", MapType::Array, 4, 32, 1, 0},
                            {"percpu", MapType::PercpuArray, 4, 8, 2, 0}};

std::shared_ptr<maps::Store> store() {
  static std::shared_ptr<maps::Store> s = [] {
    static std::string dir = "/dev/shm/xbpf-fuzz-jit-maps-" + std::to_string(getpid());
    auto st = maps::Store::open(dir);
    if (!st) {
      std::fprintf(stderr, "cannot open a store in %s: %s\n", dir.c_str(), st.error().message.c_str());
      std::abort();
    }
    std::atexit([] { std::system(("rm -rf " + dir).c_str()); });
    // Per-CPU maps index by the running CPU: stay on one.
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(std::max(sched_getcpu(), 0), &one);
    sched_setaffinity(0, sizeof one, &one);
    return *st;
  }();
  return s;
}

// One engine's maps, created with the same initial contents.
std::vector<std::shared_ptr<maps::Map>> make_maps() {
  std::vector<std::shared_ptr<maps::Map>> out;
  for (const MapDef& d : kMaps) {
    maps::MapAttr a;
    a.type = d.type;
    a.key_size = d.key_size;
    a.value_size = d.value_size;
    a.max_entries = d.max_entries;
    a.map_flags = d.flags;
    a.name = d.name;
    auto m = store()->create_map(a);
    if (!m) {
      std::fprintf(stderr, "cannot create map %s: %s\n", d.name, m.error().message.c_str());
      std::abort();
    }
    maps::Map& map = **m;
    if (d.type != MapType::Ringbuf) {
      Bytes v(map.user_value_size());
      const uint32_t keys = d.type == MapType::Hash ? 5 : d.max_entries;
      for (uint32_t k = 0; k < keys; ++k) {
        const uint32_t key = d.type == MapType::Hash ? k * 3 + 1 : k;
        for (size_t b = 0; b < v.size(); ++b) v[b] = static_cast<uint8_t>((key * 31 + b) * 7 + d.value_size);
        if (auto r = map.update(&key, v.data(), 0); !r) {
          std::fprintf(stderr, "cannot fill map %s: %s\n", d.name, r.error().message.c_str());
          std::abort();
        }
      }
    }
    out.push_back(std::move(*m));
  }
  return out;
}

std::map<Bytes, Bytes> contents(maps::Map& m) {
  std::map<Bytes, Bytes> out;
  Bytes key(m.key_size()), next(m.key_size()), val(m.user_value_size());
  const void* prev = nullptr;
  while (m.get_next_key(prev, next.data())) {
    if (m.lookup(next.data(), val.data(), 0)) out[next] = val;
    key = next;
    prev = key.data();
  }
  return out;
}

// ---- the run
// The context and the packet buffer: one page each below 4 GiB (the 32-bit
// data fields hold real addresses), the same for every run.
constexpr size_t kPage = 4096, kHeadroom = 256, kTail = 320;
uint8_t* low_pages() {
  static uint8_t* p = static_cast<uint8_t*>(
      mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
  return p;
}

struct Outcome {
  uint64_t r0 = 0;
  Bytes ctx, buffer;
  uint64_t data = 0, data_end = 0, data_meta = 0, redirect = 0, redirect_flags = 0;
  std::vector<std::map<Bytes, Bytes>> maps;
  uint64_t rb_producer = 0, rb_consumer = 0;
  std::vector<Bytes> records;
  bool operator==(const Outcome&) const = default;
};

struct Engine {
  std::vector<std::shared_ptr<maps::Map>> maps;
  std::unique_ptr<vm::Program> prog;
};

uint32_t low32(const void* p) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p)); }

// `endless` (the termination probe, on a checked copy): runs with a budget of
// 20M instructions and the context, the packet buffer and the arrays granted;
// *endless tells whether the budget ran out (any other stop counts as ending).
Outcome run_once(const Engine& e, ProgType type, const Bytes& packet, uint8_t pattern, size_t shift,
                 bool* endless = nullptr) {
  uint8_t* ctx = low_pages();
  uint8_t* buf = low_pages() + kPage;
  std::memset(ctx, 0, kPage);
  std::memset(buf, 0, kPage);
  xbpf::helpers::RunState st;
  st.prog_type = type;
  for (const auto& m : e.maps) st.maps.push_back({m.get(), false});
  auto field = [&](size_t off) { return reinterpret_cast<uint32_t*>(ctx + off); };
  uint8_t* data = buf + kHeadroom;
  std::memcpy(data, packet.data(), packet.size());
  uint8_t* end = data + packet.size();
  if (type == ProgType::Xdp) {
    st.packet = {buf, buf + kPage - kTail, data, end, data, 32, field(8 * 0), field(4), field(8), nullptr, true};
    *field(12) = 1;  // ingress_ifindex
  } else {
    if (type == ProgType::SocketFilter) data += 14;  // L3 types start after the Ethernet header
    st.packet = {buf, buf + kPage - kTail, data, end, data, 0, field(76), field(80), field(140), field(0), false};
    *field(0) = static_cast<uint32_t>(end - data);  // len
    *field(16) = 0x0008;                             // protocol (ETH_P_IP, network order)
    *field(40) = 1;                                  // ifindex
  }
  *st.packet.ctx_data = low32(st.packet.data);
  *st.packet.ctx_data_end = low32(st.packet.data_end);
  *st.packet.ctx_data_meta = low32(st.packet.data_meta);

  vm::ExecContext ec;
  ec.runtime = &st;
  ec.packet = st.packet.data;
  ec.packet_len = static_cast<uint64_t>(st.packet.data_end - st.packet.data);
  restart_helpers();
  if (endless) {
    st.regions.push_back({reinterpret_cast<uint64_t>(ctx), kPage, true});
    st.regions.push_back({reinterpret_cast<uint64_t>(buf), kPage, true});
    for (const auto& m : e.maps)
      if (const maps::ArrayLayout l = m->array_layout(); l.base)
        st.regions.push_back({reinterpret_cast<uint64_t>(l.base), uint64_t(l.stride) * l.max_entries, true});
    ec.regions = st.regions;
    ec.insn_budget = 20'000'000;
    auto r = e.prog->run(reinterpret_cast<uint64_t>(ctx), 0, ec);
    *endless = !r && r.error().message.find("instruction budget") != std::string::npos;
    return {};
  }
  ec.stack_poison = pattern;
  Outcome o;
  o.r0 = run_shifted(shift, [&] {
    auto r = e.prog->run(reinterpret_cast<uint64_t>(ctx), 0, ec);
    if (!r) {
      std::fprintf(stderr, "verified program failed to run: %s\n", r.error().message.c_str());
      std::abort();
    }
    return *r;
  });
  if (st.error) {
    std::fprintf(stderr, "a helper failed in a verified program: %s\n", st.error->message.c_str());
    std::abort();
  }
  o.ctx.assign(ctx, ctx + 256);
  o.buffer.assign(buf, buf + kPage);
  o.data = uint64_t(st.packet.data - buf), o.data_end = uint64_t(st.packet.data_end - buf);
  o.data_meta = uint64_t(st.packet.data_meta - buf);
  o.redirect = st.redirect_ifindex, o.redirect_flags = st.redirect_flags;
  for (const auto& m : e.maps) {
    if (m->type() == MapType::Ringbuf) {
      const maps::RingbufLayout l = maps::ringbuf_layout(*m);
      o.rb_producer = *l.producer_pos, o.rb_consumer = *l.consumer_pos;
      maps::RingBufferConsumer c;
      (void)c.add(m, [&](const void* p, size_t n) {
        o.records.emplace_back(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
        return 0;
      });
      c.consume();
      o.maps.emplace_back();
    } else {
      o.maps.push_back(contents(*m));
    }
  }
  return o;
}

std::string hex(const Bytes& b) {
  std::string s;
  char x[4];
  for (uint8_t c : b) std::snprintf(x, sizeof x, "%02x", c), s += x;
  return s;
}

std::string describe(const Outcome& o) {
  std::string s = "r0 " + std::to_string(o.r0) + " (" + hex(Bytes(reinterpret_cast<const uint8_t*>(&o.r0),
                                                                  reinterpret_cast<const uint8_t*>(&o.r0) + 8)) +
                  ")\n  ctx " + hex(o.ctx) + "\n  packet [" + std::to_string(o.data_meta) + ", " +
                  std::to_string(o.data) + ", " + std::to_string(o.data_end) + ") " +
                  hex(Bytes(o.buffer.begin() + long(std::min(o.data_meta, o.data)), o.buffer.begin() + long(o.data_end))) +
                  "\n  redirect " + std::to_string(o.redirect) + " flags " + std::to_string(o.redirect_flags) + "\n";
  for (size_t m = 0; m < o.maps.size(); ++m) {
    s += std::string("  map ") + kMaps[m].name + ":";
    for (const auto& [k, v] : o.maps[m]) s += " " + hex(k) + "=" + hex(v);
    s += "\n";
  }
  s += "  ringbuf producer " + std::to_string(o.rb_producer) + " consumer " + std::to_string(o.rb_consumer) + ":";
  for (const Bytes& r : o.records) s += " " + hex(r);
  return s + "\n";
}

bool is_call(const xbpf::isa::RawInsn& i) { return i.code == 0x85 && i.src == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 + 8) return 0;
  const ProgType type = kTypes[data[0] % std::size(kTypes)];
  Bytes packet(14 + data[1]);
  for (size_t k = 0; k < packet.size(); ++k) packet[k] = static_cast<uint8_t>(k * 13 + 1);
  packet[12] = 0x08, packet[13] = 0x00;  // IPv4
  std::vector<xbpf::isa::RawInsn> code((size - 2) / 8);
  std::memcpy(code.data(), data + 2, code.size() * 8);

  // Map references as the loader leaves them (map_idx / map_idx_value).
  struct Ref {
    size_t insn;
    uint32_t map, offset;
    bool value;
  };
  std::vector<Ref> refs;
  bool loops = false, calls = false, helpers = false, callbacks = false, map_helpers = false, ringbuf = false;
  bool bad_helper = false, bad_value = false;
  const vm::HelperTable& table = table_for(type);
  for (size_t k = 0; k < code.size(); ++k) {
    xbpf::isa::RawInsn& i = code[k];
    const uint8_t cls = i.code & 7, op = i.code & 0xf0;
    if (i.code == 0x18) {
      if (k + 1 >= code.size()) break;
      if (i.src == 5 || i.src == 6) {
        const uint32_t m = static_cast<uint32_t>(i.imm) % std::size(kMaps);
        i.imm = static_cast<int32_t>(m);
        Ref r{k, m, 0, i.src == 6};
        if (r.value) {
          const uint32_t vs = kMaps[m].value_size ? kMaps[m].value_size : 1;
          code[k + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(code[k + 1].imm) % vs);
          r.offset = static_cast<uint32_t>(code[k + 1].imm);
          if (kMaps[m].type != MapType::Array) bad_value = true;
        }
        refs.push_back(r);
      } else if (i.src == 4) {
        callbacks = true;
      } else if (i.src != 0) {
        return 0;  // BTF ids, fds: not this fuzzer's business
      }
      ++k;
      continue;
    }
    if (i.code == 0x85) {
      if (i.src == 1) calls = true;
      else if (i.src != 0) return 0;  // kfuncs
      else {
        helpers = true;
        const auto id = static_cast<uint32_t>(i.imm);
        if (id == kTailCall || id == kProbeWriteUser || !table.get(id)) bad_helper = true;
        if (id == 1 || id == 2 || id == 3 || (id >= 87 && id <= 89) || id == 164 || id == 195) map_helpers = true;
        if (id >= 130 && id <= 134) ringbuf = true;
      }
      continue;
    }
    if ((cls == 5 || cls == 6) && op != 0x80 && op != 0x90) {
      const int64_t off = (cls == 6 && op == 0x00) ? i.imm : i.off;
      if (off < 0) loops = true;
    }
  }

  xbpf::verifier::Env env;
  env.prog_type = type;
  env.privileged = true;
  env.func_info = true;  // callbacks need BTF func info
  env.insn_limit = 20000;
  for (const MapDef& d : kMaps) env.maps.push_back({d.name, d.type, d.key_size, d.value_size, d.max_entries, d.flags});
  const xbpf::verifier::Verdict verdict = xbpf::verifier::verify(code, env);
  if (std::getenv("XBPF_FUZZ_VERBOSE"))  // to check the seeds run
    std::fprintf(stderr, "verifier: %s\n", verdict.ok ? "accepted" : verdict.message.c_str());
  if (!verdict.ok) return 0;
  ++g_counts.verified;
  if (bad_helper || bad_value) {
    ++(bad_helper ? g_counts.skipped_helper : g_counts.skipped_reloc);
    return 0;
  }

  // Four engines, each with its own maps: interpreter, interpreter (to see
  // garbage and addresses), JIT, and a checked interpreter: the termination
  // probe (the kernel's verifier, and xbpf's, may accept a loop that never
  // ends; tests/verifier_cases.hpp "loop around bpf_loop never ends").
  Engine engines[4];
  size_t inlined = 0;
  for (int e = 0; e < 4; ++e) {
    Engine& en = engines[e];
    en.maps = make_maps();
    std::vector<xbpf::isa::RawInsn> run = code;
    for (const Ref& r : refs) {
      maps::Map& m = *en.maps[r.map];
      uint64_t v = reinterpret_cast<uint64_t>(&m);
      if (r.value) v = reinterpret_cast<uint64_t>(m.array_layout().base) + r.offset;
      run[r.insn].src = 0;
      run[r.insn].imm = static_cast<int32_t>(static_cast<uint32_t>(v));
      run[r.insn + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(v >> 32));
    }
    // The runtime's inlined lookups (runtime::Object::inline_lookups).
    std::vector<vm::InlineArrayLookup> lookups;
    for (size_t pc = 0; pc < code.size() && pc < verdict.call_map.size(); ++pc) {
      if (!is_call(code[pc]) || code[pc].imm != 1) continue;
      const int32_t m = verdict.call_map[pc];
      if (m < 0 || size_t(m) >= en.maps.size()) continue;
      maps::ArrayLayout a = en.maps[size_t(m)]->array_layout();
      if (!a.base) a = en.maps[size_t(m)]->percpu_layout();  // as the runtime: this CPU's copy
      if (a.base && a.max_entries) lookups.push_back({uint32_t(pc), a.base, a.stride, a.max_entries, a.ncpus});
    }
    if (e == 3) {
      auto p = vm::Program::load(run, {vm::Mode::Checked, &table});
      if (p) en.prog = std::make_unique<vm::Program>(std::move(*p));
      continue;
    }
    inlined = lookups.size();
    auto p = vm::Program::load(run, {vm::Mode::Verified, &table, lookups});
    if (!p) {
      std::fprintf(stderr, "verified program refused by the loader: %s\n", p.error().message.c_str());
      std::abort();
    }
    en.prog = std::make_unique<vm::Program>(std::move(*p));
  }
  // As the runtime compiles: with the verifier's facts; odd-length programs blinded.
  xbpf::jit::Options jo;
  jo.facts = &verdict.jit_facts;
  jo.blind_constants = (code.size() & 1) != 0;
  jo.stack_poison = kPoison;  // as the first interpreter run's
  xbpf::jit::CompileStats stats;
  jo.stats = &stats;
  if (auto c = xbpf::jit::compile(*engines[2].prog, jo); !c) {
    std::fprintf(stderr, "verified program refused by the JIT: %s\n", c.error().message.c_str());
    std::abort();
  }
  if (bool endless = false; engines[3].prog && (run_once(engines[3], type, packet, 0, 0, &endless), endless)) {
    ++g_counts.skipped_endless;
    return 0;
  }
  const Outcome want = run_once(engines[0], type, packet, kPoison, 0);
  const Outcome want2 = run_once(engines[1], type, packet, kPoison2, 208);
  if (!(want == want2)) {
    ++g_counts.skipped_garbage;
    return 0;
  }
  const Outcome got = run_once(engines[2], type, packet, kPoison, 0);
  if (!(want == got)) {
    std::fprintf(stderr, "JIT DIFFERS:\ninterpreter %sjit         %s", describe(want).c_str(), describe(got).c_str());
    if (auto d = xbpf::jit::disassemble(*engines[2].prog)) std::fprintf(stderr, "%s", d->c_str());
    std::abort();
  }
  ++g_counts.compared;
  g_counts.codegen.add(verdict.jit_facts, stats);
  g_counts.loops += loops;
  g_counts.calls += calls;
  g_counts.helpers += helpers;
  g_counts.callbacks += callbacks;
  g_counts.map_helpers += map_helpers;
  g_counts.ringbuf += ringbuf;
  g_counts.direct_values += std::any_of(refs.begin(), refs.end(), [](const Ref& r) { return r.value; });
  g_counts.inlined += inlined > 0;
  g_counts.packet_moved += want.data != kHeadroom + (type == ProgType::SocketFilter ? 14 : 0) ||
                           want.data_end != kHeadroom + packet.size();
  return 0;
}
