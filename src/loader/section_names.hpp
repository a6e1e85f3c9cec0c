// Program type, expected attach type and attach target from an ELF section
// name, following libbpf's SEC() conventions (libbpf 1.x section_defs), then
// the prefix matching of libbpf 0.x / samples/bpf, then the names used by
// iproute2 and Cilium objects that predate libbpf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "loader/kernel_types.hpp"

namespace xbpf::loader {

// Where a program's type came from, from most to least authoritative.
enum class TypeSource : uint8_t {
  Libbpf,        // an exact libbpf 1.x section definition
  LegacyPrefix,  // libbpf 0.x / samples/bpf prefix match ("socket1", "xdp_prog", "tc_mark")
  Convention,    // iproute2 tail-call slot ("2/7") or Cilium hook name ("from-netdev")
  Option,        // not recognised; OpenOptions::default_prog_type was applied
  Unknown,       // not recognised; type is Unspec
};
[[nodiscard]] std::string_view name(TypeSource s);

// iproute2's "ID/KEY" section convention: the program belongs in slot KEY of
// the prog-array map whose legacy `id` field is ID.
struct TailCallSlot {
  uint32_t map_id = 0;
  uint32_t key = 0;
};

// What a section name says about the programs it holds.
struct SectionInfo {
  ProgType type = ProgType::Unspec;
  std::optional<AttachType> attach_type;  // expected_attach_type; nullopt = none (0 to the kernel)
  // The part after "<type>/" for section kinds that name a target:
  // "do_sys_open" for kprobe/do_sys_open, "syscalls/sys_enter_open" for
  // tracepoint/syscalls/sys_enter_open, "/bin/bash:readline" for
  // uretprobe//bin/bash:readline. Empty otherwise.
  std::string attach_target;
  TypeSource source = TypeSource::Unknown;
  bool sleepable = false;     // ".s" variants (fentry.s, lsm.s, uprobe.s, ...)
  bool xdp_frags = false;     // xdp.frags: BPF_F_XDP_HAS_FRAGS
  bool attach_btf = false;    // target is a BTF id (fentry, fexit, lsm, tp_btf, iter, freplace)
  bool is_return = false;     // kretprobe, uretprobe, kretsyscall, *.multi return probes
  bool autoload = true;       // false for libbpf's "?name" (not loaded by default)
  std::optional<TailCallSlot> tail_call;
};

// Classifies one section name. Never fails: unknown names give
// source == Unknown and type == Unspec.
[[nodiscard]] SectionInfo classify_section(std::string_view section);

}  // namespace xbpf::loader
