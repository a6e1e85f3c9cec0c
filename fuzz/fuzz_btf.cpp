// BTF fuzzer: hostile bytes must parse with a clear error or yield a Btf on
// which every query and printer terminates quickly without touching memory
// outside the buffers. The input is a .BTF blob optionally followed (at the
// next 4-byte boundary after its sections) by a .BTF.ext blob, so seeds are
// simply the two sections of a real object concatenated.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

#include "btf/btf.hpp"

namespace {

uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Where the .BTF blob ends according to its header (0 if unreadable).
size_t btf_end(std::span<const uint8_t> d) {
  if (d.size() < 24) return 0;
  const uint64_t hdr = rd32(&d[4]);
  const uint64_t end = hdr + std::max(uint64_t{rd32(&d[8])} + rd32(&d[12]), uint64_t{rd32(&d[16])} + rd32(&d[20]));
  return static_cast<size_t>(std::min<uint64_t>((end + 3) & ~uint64_t{3}, d.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xbpf::btf;
  std::span<const uint8_t> in(data, size);
  auto btf = Btf::parse(in, "fuzz: .BTF");
  if (!btf) return 0;
  size_t sum = dump_raw(*btf).size();
  auto c = dump_c(*btf, size_t{64} << 10);  // huge padding runs would otherwise dominate
  if (c) sum += c->size();
  FormatOptions opts;
  opts.max_values = 256;
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(btf->type_count(), 64));
  for (uint32_t id = 0; id < n; ++id) {
    sum += btf->resolve(id) + btf->skip_qualifiers(id) + btf->describe(id).size();
    if (auto s = btf->size_of(id)) sum += *s;
    if (auto a = btf->align_of(id)) sum += *a;
    if (auto v = format_value(*btf, id, in, opts)) sum += v->size();
    if (const Type* t = btf->type(id); t != nullptr && !t->name.empty()) {
      sum += btf->find(t->name, t->kind).value_or(0);
      sum += btf->find_candidates(essential_name(t->name), t->kind).size();
    }
  }
  const size_t ext_at = btf_end(in);
  if (ext_at < size) {
    auto ext = BtfExt::parse(in.subspan(ext_at), *btf, "fuzz: .BTF.ext");
    if (ext)
      for (const auto& [sec, relos] : ext->core_relos)
        for (const CoreRelo& r : relos) sum += parse_access(r.access) ? 1 : 0;
  }
  return sum == 42 ? 0 : 0;
}
