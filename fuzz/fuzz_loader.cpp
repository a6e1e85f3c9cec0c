// Loader fuzzer: hostile objects must open with a precise error or yield an
// ObjectSpec whose every index is in range, within bounded time and memory
// (small instruction limits; CO-RE against the object's own BTF, never the
// host's vmlinux, so runs are deterministic).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "loader/loader.hpp"

using namespace xbpf::loader;

namespace {

// Crashes (so libFuzzer reports the input) when an invariant of the spec breaks.
void check(bool ok) {
  if (!ok) std::abort();
}

void check_spec(const ObjectSpec& o) {
  for (const ProgramSpec& p : o.programs) {
    check(!p.functions.empty() && p.functions[0].start == 0);
    for (const FunctionSpan& f : p.functions) check(f.start + f.count <= p.insns.size());
    for (const InsnReloc& r : p.relocations) {
      check(r.insn < p.insns.size());
      if (r.kind == RelocKind::Map || r.kind == RelocKind::MapValue) check(r.map < o.maps.size());
    }
    for (const auto& fi : p.func_info) check(fi.insn_idx < p.insns.size());
    for (const auto& li : p.line_info) check(li.insn_idx < p.insns.size());
    for (const CoreReloResult& c : p.core_relos) check(c.insn < p.insns.size());
  }
  for (const MapSpec& m : o.maps) {
    if (m.inner_map) check(*m.inner_map < o.maps.size());
    for (const MapSlotInit& s : m.init) check(s.target < (is_map_in_map(m.type) ? o.maps.size() : o.programs.size()));
    check(m.data.empty() || m.data.size() == m.value_size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  OpenOptions opts;
  opts.core_target_self = true;
  opts.max_program_insns = 1 << 16;
  opts.max_total_insns = 1 << 20;
  auto obj = from_memory(std::vector<uint8_t>(data, data + size), "fuzz.o", opts);
  if (!obj) {
    check(obj.error().message.rfind("fuzz.o", 0) == 0);  // every error names the object
    return 0;
  }
  check_spec(*obj);
  return 0;
}
