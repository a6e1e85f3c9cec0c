// Stage: apply CO-RE relocations (.BTF.ext core_relo records) to the
// functions' instructions, before linking, as libbpf's
// bpf_object__relocate_core does. A relocation with no matching target
// poisons its instruction (`call 0xbad2310`); a malformed one is an error.
#include <cstdio>
#include <map>
#include <sys/stat.h>

#include "loader/context.hpp"
#include "loader/core_spec.hpp"

namespace xbpf::loader::detail {
namespace {

using btf::CoreReloKind;

constexpr uint8_t kClassLd = 0x00, kClassLdx = 0x01, kClassSt = 0x02, kClassStx = 0x03, kClassAlu = 0x04,
                  kClassAlu64 = 0x07;
constexpr const char* kVmlinux = "/sys/kernel/btf/vmlinux";

// The BTF to relocate against: the caller's, a named file, the running
// kernel's, or (no kernel BTF) the object's own.
Expected<std::shared_ptr<const btf::Btf>> target_btf(Context& c) {
  if (c.opts.target_btf) return c.opts.target_btf;
  if (c.opts.core_target_self) return c.obj.btf;
  std::string path = c.opts.target_btf_path;
  struct stat st {};
  if (path.empty() && ::stat(kVmlinux, &st) == 0) path = kVmlinux;
  if (path.empty()) return c.obj.btf;
  auto b = btf::Btf::load_file(path);
  if (!b) return unexpected(with_context(b.error(), c.elf.name() + ": CO-RE target BTF"));
  return std::make_shared<const btf::Btf>(std::move(*b));
}

struct Result {
  CoreValue local, target;
  std::optional<CoreSpec> target_spec;
  std::string error;  // why the target is missing
};

// Resolves one relocation: local value, then every candidate of the same
// essential name, which must all agree (libbpf's bpf_core_calc_relo_insn).
Expected<Result> resolve(const btf::Btf& local, const btf::Btf& targ, const btf::CoreRelo& r, const CoreSpec& ls,
                         std::map<uint32_t, std::vector<uint32_t>>& cands, CoreBudget& budget) {
  Result res;
  auto lv = core_calc(r.kind, &ls);
  if (!lv) return unexpected(lv.error());
  res.local = *lv;
  if (r.kind == CoreReloKind::TypeIdLocal) {
    res.target = res.local;
    res.local.validate = res.target.validate = false;
    return res;
  }
  const btf::Type* lt = local.type(r.type_id);
  if (lt->name.empty()) return fail(Errc::invalid_program, "CO-RE relocations of anonymous types are not supported");
  auto [it, fresh] = cands.try_emplace(r.type_id);
  if (fresh) {
    auto ess = btf::essential_name(lt->name);
    it->second = targ.find_candidates(ess, lt->kind);
    if (lt->kind == btf::Kind::Enum || lt->kind == btf::Kind::Enum64) {
      auto more = targ.find_candidates(ess, lt->kind == btf::Kind::Enum ? btf::Kind::Enum64 : btf::Kind::Enum);
      it->second.insert(it->second.end(), more.begin(), more.end());
    }
  }
  for (uint32_t cand : it->second) {
    auto m = core_match_spec(ls, targ, cand, budget);
    if (!m) return unexpected(m.error());
    if (!*m) continue;
    auto tv = core_calc(r.kind, &**m);
    if (!tv) return unexpected(tv.error());
    if (!res.target_spec) {
      res.target = *tv, res.target_spec = std::move(*m);
    } else if ((*m)->bit_offset != res.target_spec->bit_offset || tv->poison != res.target.poison ||
               tv->value != res.target.value) {
      return fail(Errc::invalid_program, "CO-RE: ambiguous target: {} and {} relocate differently",
                  core_format_spec(*res.target_spec), core_format_spec(**m));
    }
  }
  if (!res.target_spec) {
    auto tv = core_calc(r.kind, nullptr);
    if (!tv) return unexpected(tv.error());
    res.target = *tv;
    res.error = fmt::format("no {} in {} matches {}", lt->name, targ.name(), core_format_spec(ls));
  }
  return res;
}

void poison(isa::RawInsn* insn, bool lddw) {
  for (int i = 0; i < (lddw ? 2 : 1); ++i) insn[i] = isa::RawInsn{0x85, 0, 0, 0, kCoreReloPoison};
}

int size_bytes(uint8_t code) {
  constexpr int sizes[4] = {4, 2, 1, 8};
  return sizes[(code >> 3) & 3];
}
uint8_t size_bits(uint32_t bytes) {
  switch (bytes) {
    case 4: return 0x00;
    case 2: return 0x08;
    case 1: return 0x10;
    default: return 0x18;
  }
}

// Patches one instruction as libbpf's bpf_core_patch_insn does.
Expected<void> patch(isa::RawInsn* insn, size_t avail, const Result& res, const btf::Btf& local,
                     const btf::Btf& targ) {
  const uint8_t cls = insn->code & 7;
  const bool lddw = insn->code == 0x18;
  if (res.target.poison) return poison(insn, lddw && avail > 1), Expected<void>{};
  const uint64_t orig = res.local.value, val = res.target.value;
  if (cls == kClassAlu || cls == kClassAlu64) {
    if (insn->code & 0x08) return fail(Errc::invalid_program, "CO-RE: ALU instruction with a register operand");
    if (res.local.validate && uint32_t(insn->imm) != uint32_t(orig))
      return fail(Errc::invalid_program, "CO-RE: instruction holds {}, expected {}", insn->imm, orig);
    insn->imm = static_cast<int32_t>(val);
  } else if (cls == kClassLdx || cls == kClassSt || cls == kClassStx) {
    if (res.local.validate && uint64_t(int64_t(insn->off)) != orig)
      return fail(Errc::invalid_program, "CO-RE: load/store offset is {}, expected {}", insn->off, orig);
    if (val > INT16_MAX) return fail(Errc::invalid_program, "CO-RE: offset {} does not fit a load/store", val);
    if (res.local.mem_size != res.target.mem_size) {
      // Only unsigned integers and pointers may change size safely.
      const btf::Type* ot = local.type(local.resolve(res.local.mem_type));
      const btf::Type* nt = targ.type(targ.resolve(res.target.mem_type));
      bool ok = ot && nt &&
                ((ot->kind == btf::Kind::Ptr && nt->kind == btf::Kind::Ptr) ||
                 (ot->kind == btf::Kind::Int && nt->kind == btf::Kind::Int && !(ot->int_encoding & btf::kIntSigned) &&
                  !(nt->int_encoding & btf::kIntSigned)));
      if (!ok) return poison(insn, false), Expected<void>{};
      if (size_bytes(insn->code) != int(res.local.mem_size))
        return fail(Errc::invalid_program, "CO-RE: access size {} does not match the field size {}",
                    size_bytes(insn->code), res.local.mem_size);
      if (res.target.mem_size != 1 && res.target.mem_size != 2 && res.target.mem_size != 4 && res.target.mem_size != 8)
        return fail(Errc::invalid_program, "CO-RE: field size {} cannot be loaded", res.target.mem_size);
      insn->code = static_cast<uint8_t>((insn->code & ~0x18) | size_bits(res.target.mem_size));
    }
    insn->off = static_cast<int16_t>(val);
  } else if (cls == kClassLd && lddw && avail > 1 && insn->src == 0) {
    uint64_t imm = uint32_t(insn[0].imm) | (uint64_t(uint32_t(insn[1].imm)) << 32);
    if (res.local.validate && imm != orig)
      return fail(Errc::invalid_program, "CO-RE: lddw holds {}, expected {}", imm, orig);
    insn[0].imm = static_cast<int32_t>(val);
    insn[1].imm = static_cast<int32_t>(val >> 32);
  } else {
    return fail(Errc::invalid_program, "CO-RE: cannot relocate an instruction with opcode {:#04x}", insn->code);
  }
  return {};
}

}  // namespace

Expected<void> apply_core(Context& c) {
  if (!c.ext || c.opts.skip_core) return {};
  size_t total = 0;
  for (const auto& [sec, relos] : c.ext->core_relos) total += relos.size();
  if (total == 0) return {};
  auto targ = target_btf(c);
  if (!targ) return unexpected(targ.error());
  const btf::Btf& local = *c.obj.btf;
  std::map<uint32_t, std::vector<uint32_t>> cands;
  CoreBudget budget;
  for (const auto& [sec_name, relos] : c.ext->core_relos) {
    const elf::Section* sec = c.elf.find(sec_name);
    if (!sec || c.roles[sec->index] != SecRole::Code) continue;
    for (size_t i = 0; i < relos.size(); ++i) {
      const btf::CoreRelo& r = relos[i];
      Function* f = c.function_at(sec->index, r.insn_idx);
      if (!f) continue;  // libbpf: code of an eliminated weak function
      auto where = [&](const Error& e) {
        return unexpected(Error{Errc::invalid_program,
                                c.where(sec->index) + fmt::format("CO-RE relocation {} at insn {} ({}): {}", i,
                                                                  r.insn_idx, btf::core_relo_kind_name(r.kind),
                                                                  e.message)});
      };
      auto ls = core_parse_spec(local, r);
      if (!ls) return where(ls.error());
      auto res = resolve(local, **targ, r, *ls, cands, budget);
      if (!res) return where(res.error());
      const uint32_t at = r.insn_idx - f->first;
      if (auto p = patch(&f->insns[at], f->count - at, *res, local, **targ); !p) return where(p.error());
      // Without a target, existence and type relocations still resolve (to 0);
      // the others poison their instruction.
      f->core.push_back({at, r.kind, core_format_spec(*ls), !res->target.poison, res->local.value,
                         res->target.value, res->error});
    }
  }
  return {};
}

}  // namespace xbpf::loader::detail
