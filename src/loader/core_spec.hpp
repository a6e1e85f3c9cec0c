// Internal to the loader: CO-RE access specifications and their matching
// against a target BTF (libbpf's relo_core.c algorithm), independent of
// instructions. core.cpp applies the results to the program.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "btf/btf.hpp"
#include "support/error.hpp"

namespace xbpf::loader::detail {

// One high-level step of an access: a named member, or an array index (name empty).
struct CoreAccessor {
  uint32_t type_id = 0;  // the struct/union (member) or the element type (index)
  uint32_t idx = 0;
  std::string_view name;
};

// A parsed access against one BTF ("0:1:2" on `root`).
struct CoreSpec {
  const btf::Btf* btf = nullptr;
  uint32_t root = 0;
  btf::CoreReloKind kind = btf::CoreReloKind::FieldByteOffset;
  std::vector<CoreAccessor> acc;  // high level: named fields and indices
  std::vector<uint32_t> raw;      // low level: every step, anonymous members included
  uint64_t bit_offset = 0;
};

// What a relocation computes on one side (local or target).
struct CoreValue {
  uint64_t value = 0;
  uint32_t mem_size = 0;    // field size for load/store size adjustment (0 = n/a)
  uint32_t mem_type = 0;    // the field's type id (for size adjustment checks)
  bool poison = false;      // needed but not found
  bool validate = true;     // the instruction must currently hold `value`
};

// Matching recurses through members and parameters; a hostile type graph
// (many same-named or anonymous members of the same type) would make that
// exponential. Every matching step spends from a budget shared by all the
// relocations of an object; once spent, matching fails with an error.
struct CoreBudget {
  int64_t steps = 20'000'000;
  bool spend() { return --steps >= 0; }
};

[[nodiscard]] bool core_is_field(btf::CoreReloKind k);
[[nodiscard]] bool core_is_type(btf::CoreReloKind k);
[[nodiscard]] bool core_is_enumval(btf::CoreReloKind k);

// Parses a relocation's access string against the local BTF.
[[nodiscard]] Expected<CoreSpec> core_parse_spec(const btf::Btf& local, const btf::CoreRelo& relo);
// Matches a local spec to candidate `targ_id` of the target BTF: nullopt when
// it does not match, an Error when the data is unusable (nesting too deep).
[[nodiscard]] Expected<std::optional<CoreSpec>> core_match_spec(const CoreSpec& local, const btf::Btf& targ,
                                                               uint32_t targ_id, CoreBudget& budget);
// The relocated value of `spec` (nullptr: no target found).
[[nodiscard]] Expected<CoreValue> core_calc(btf::CoreReloKind kind, const CoreSpec* spec);
// "struct task.comm[2] (0:2:2)" for messages.
[[nodiscard]] std::string core_format_spec(const CoreSpec& spec);

}  // namespace xbpf::loader::detail
