// `xbpf verify OBJ [--program NAME|SECTION] [--type T] [--log-level N]
//                  [--unprivileged] [--json]`: runs xbpf's verifier on the
// programs of an object, as BPF_PROG_LOAD would, and explains a rejection:
// the kernel-style message, the instruction, the C source line (BTF line
// info) and, with --log-level 1, the path that led there.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "progress.hpp"
#include "io.hpp"
#include "isa/disasm.hpp"
#include "loader/loader.hpp"
#include "runtime/object.hpp"
#include "verifier/verifier.hpp"

namespace xbpf::cli {
namespace {

struct VerifyArgs {
  std::string object, program, type;
  int log_level = 0;
  bool unprivileged = false;
  bool json = false;
};

verifier::Env env_for(const loader::ObjectSpec& o, const loader::ProgramSpec& p, const VerifyArgs& a) {
  verifier::Env env = runtime::verifier_env(o, p);
  env.privileged = !a.unprivileged;
  env.log_level = a.log_level;
  return env;
}

// The source line BTF line info gives for `pc` (the last entry at or before it).
const btf::LineInfo* line_for(const loader::ProgramSpec& p, uint32_t pc) {
  const btf::LineInfo* best = nullptr;
  for (const auto& l : p.line_info)
    if (l.insn_idx <= pc && (!best || l.insn_idx >= best->insn_idx)) best = &l;
  return best;
}

std::string insn_text(const loader::ProgramSpec& p, uint32_t pc) {
  auto i = isa::decode_one(p.insns, pc);
  return i ? isa::format_insn(*i, isa::Syntax::Kernel) : std::string("?");
}

Expected<int> verify_object(const VerifyArgs& a) {
  auto spec = loader::open_object(a.object);
  if (!spec) return unexpected(spec.error());
  if (!a.type.empty()) {
    auto t = kabi::prog_type_from_name(a.type);
    if (!t) return fail(Errc::invalid_argument, "unknown program type '{}'", a.type);
    for (auto& p : spec->programs) p.type = *t;
  }
  int rejected = 0, checked = 0;
  auto out = nlohmann::json::array();
  Progress progress;  // a terminal sees which program a long verification is on
  for (const auto& p : spec->programs) {
    if (!a.program.empty() && p.name != a.program && p.section != a.program) continue;
    ++checked;
    progress.show(fmt::format("{}: verifying program {}/{}: {}", a.object, checked, spec->programs.size(), p.name), true);
    const auto v = verifier::verify(p.insns, env_for(*spec, p, a));
    progress.done();
    const auto* line = v.ok ? nullptr : line_for(p, v.pc);
    if (a.json) {
      nlohmann::json j = {{"name", p.name}, {"section", p.section}, {"type", std::string(kabi::name(p.type))},
                          {"verdict", v.ok ? "accept" : "reject"}, {"insns_processed", v.stats.insns_processed},
                          {"states", v.stats.states_total}, {"seconds", v.stats.seconds}};
      if (!v.ok) {
        j["message"] = v.message;
        j["insn"] = v.pc;
        j["insn_text"] = insn_text(p, v.pc);
        if (line) j["source"] = {{"file", line->file_name}, {"line", line->line_num}, {"text", line->line}};
      }
      if (a.log_level) j["log"] = v.log;
      out.push_back(j);
    } else if (v.ok) {
      std::printf("%s (%s): accepted, processed %llu insns, %llu states, %.3f ms\n", p.name.c_str(),
                  p.section.c_str(), static_cast<unsigned long long>(v.stats.insns_processed),
                  static_cast<unsigned long long>(v.stats.states_total), v.stats.seconds * 1e3);
      if (a.log_level) std::fputs(v.log.c_str(), stdout);
    } else {
      if (a.log_level) std::fputs(v.log.c_str(), stdout);
      std::printf("%s (%s): rejected at insn %u: %s\n  %u: %s\n", p.name.c_str(), p.section.c_str(), v.pc,
                  v.message.c_str(), v.pc, insn_text(p, v.pc).c_str());
      if (line)
        std::printf("  %.*s:%u: %.*s\n", static_cast<int>(line->file_name.size()), line->file_name.data(),
                    line->line_num, static_cast<int>(line->line.size()), line->line.data());
    }
    rejected += v.ok ? 0 : 1;
  }
  if (checked == 0) return fail(Errc::invalid_argument, "{}: no program or section named '{}'", a.object, a.program);
  if (a.json) std::printf("%s\n", out.dump().c_str());
  return rejected;
}

}  // namespace

void add_verify_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand("verify", "Verify the programs of an object as the kernel would (BPF_PROG_LOAD)");
  cmd->add_option("object", a->object, "BPF object file (clang -target bpf)")->required();
  cmd->add_option("--program", a->program, "Only this program (name or section)");
  cmd->add_option("--type", a->type, "Program type when the section name does not tell (e.g. xdp)");
  cmd->add_option("--log-level", a->log_level, "1: the failing path; 2: every instruction")->check(CLI::Range(0, 2));
  cmd->add_flag("--unprivileged", a->unprivileged, "Verify as an unprivileged user (no loops, no pointer leaks, ...)");
  cmd->add_flag("-j,--json", a->json, "JSON output");
  cmd->footer("Exit status: 0 when every program is accepted, 1 when one is rejected or the object is bad.");
  cmd->callback([a, &exit_code] {
    a->json |= globals().json || globals().pretty;
    auto r = verify_object(*a);
    if (!r) exit_code = report(r.error());
    else exit_code = *r ? 1 : 0;
  });
}

}  // namespace xbpf::cli
