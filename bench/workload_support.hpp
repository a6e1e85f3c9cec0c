// What interp_bench and jit_bench share about the workloads: the bytes of the
// input buffer, a workload's code from its object, and loading that code.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "elf/elf_file.hpp"
#include "isa/isa.hpp"
#include "support/error.hpp"
#include "vm/vm.hpp"
#include "workload.h"

namespace xbpf::bench {

// The deterministic input (workload.h's layout): splitmix64 bytes, then a
// strictly increasing u32 table. The same bytes in every benchmark.
inline void fill_input(u8* mem) {
  uint64_t state = 0x243f6a8885a308d3ULL;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (size_t i = 0; i < XBPF_RANDOM_BYTES; i += 8) {
    uint64_t v = next();
    std::memcpy(mem + i, &v, 8);
  }
  for (uint32_t i = 0; i < XBPF_SORTED_COUNT; ++i) {
    uint32_t v = i * 4 + static_cast<uint32_t>(next() & 3);
    std::memcpy(mem + XBPF_SORTED_OFFSET + i * 4, &v, 4);
  }
}

// The raw instructions of section "xbpf/NAME" of DIR/NAME.bpf.o. The section
// must be self-contained: no relocation section may apply to it.
inline Expected<std::vector<isa::RawInsn>> workload_code(const std::string& dir, const std::string& name) {
  auto file = elf::ElfFile::open(fmt::format("{}/{}.bpf.o", dir, name));
  if (!file) return xbpf::unexpected(file.error());
  const std::string section = "xbpf/" + name;
  const elf::Section* sec = file->find(section);
  if (!sec || !elf::is_executable(*sec))
    return fail(Errc::invalid_argument, "{}: no executable section '{}'", file->name(), section);
  for (const elf::Section& s : file->sections())
    if ((s.type == SHT_REL || s.type == SHT_RELA) && s.info == sec->index)
      return fail(Errc::invalid_argument, "{}: section '{}' has relocations ({}); workloads must be self-contained",
                  file->name(), section, s.name);
  auto code = isa::from_bytes(sec->data);
  if (!code) return xbpf::unexpected(with_context(code.error(), file->name()));
  return std::move(*code);
}

// A workload's code loaded in `mode`, no helpers.
inline Expected<std::unique_ptr<vm::Program>> load_workload(std::span<const isa::RawInsn> code, vm::Mode mode,
                                                             const std::string& name) {
  auto prog = vm::Program::load(code, vm::LoadOptions{.mode = mode, .helpers = nullptr});
  if (!prog) return xbpf::unexpected(with_context(prog.error(), name + ": load failed"));
  return std::make_unique<vm::Program>(std::move(*prog));
}

}  // namespace xbpf::bench
