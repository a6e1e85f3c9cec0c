// `xbpf object show OBJ [--json]`: what the loader makes of a BPF object —
// programs, maps, global data — without loading anything.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "io.hpp"
#include "loader/loader.hpp"

namespace xbpf::cli {
namespace {

using loader::MapOrigin;
using loader::MapSpec;
using loader::ObjectSpec;
using loader::ProgramSpec;

struct ShowArgs {
  std::string input;
  bool json = false;
  bool verbose = false;
  std::string type;
  std::string btf;
};

bool is_global_data(const MapSpec& m) {
  return m.origin == MapOrigin::Data || m.origin == MapOrigin::Bss || m.origin == MapOrigin::Kconfig;
}

// Type names from the kernel table; numbers newer than the table print as numbers.
template <class E>
std::string name_or_number(E v) {
  std::string_view n = loader::name(v);
  return n.empty() ? std::to_string(static_cast<uint32_t>(v)) : std::string(n);
}

std::string type_of(const ProgramSpec& p) {
  std::string t = name_or_number(p.type);
  if (p.section_info.source != loader::TypeSource::Libbpf) t += fmt::format(" ({})", loader::name(p.section_info.source));
  return t;
}

// A plain text table: columns padded to their widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w.resize(std::max(w.size(), r.size())), w[i] = std::max(w[i], r[i].size());
  for (const auto& r : rows) {
    std::string line = "  ";
    for (size_t i = 0; i < r.size(); ++i) line += i + 1 < r.size() ? fmt::format("{:<{}}  ", r[i], w[i]) : r[i];
    std::printf("%s\n", line.c_str());
  }
}

void print_text(const ObjectSpec& o, bool verbose) {
  std::printf("%s: license \"%s\"", o.path.c_str(), o.license.c_str());
  if (o.kernel_version) std::printf(", kernel version %#x", o.kernel_version);
  std::printf(", %s\n", o.btf ? fmt::format("BTF with {} types", o.btf->type_count() - 1).c_str() : "no BTF");
  std::vector<std::vector<std::string>> rows{{"PROGRAM", "SECTION", "TYPE", "ATTACH", "TARGET", "INSNS"}};
  for (const ProgramSpec& p : o.programs)
    rows.push_back({p.name, p.section, type_of(p),
                    p.attach_type ? name_or_number(*p.attach_type) : "-",
                    p.attach_target.empty() ? "-" : p.attach_target, std::to_string(p.insns.size())});
  std::printf("programs (%zu):\n", o.programs.size());
  print_table(rows);
  rows = {{"MAP", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "ORIGIN"}};
  size_t maps = 0, data = 0;
  for (const MapSpec& m : o.maps) {
    if (is_global_data(m)) continue;
    ++maps;
    rows.push_back({m.name, name_or_number(m.type), std::to_string(m.key_size),
                    std::to_string(m.value_size), std::to_string(m.max_entries), fmt::format("{:#x}", m.flags),
                    std::string(loader::name(m.origin))});
  }
  std::printf("maps (%zu):\n", maps);
  if (maps) print_table(rows);
  rows = {{"MAP", "SECTION", "SIZE", "FLAGS"}};
  for (const MapSpec& m : o.maps)
    if (is_global_data(m))
      ++data, rows.push_back({m.name, m.section, std::to_string(m.value_size), fmt::format("{:#x}", m.flags)});
  std::printf("global data (%zu):\n", data);
  if (data) print_table(rows);
  if (!verbose) return;
  for (const ProgramSpec& p : o.programs)
    for (const auto& r : p.relocations)
      std::printf("  %s: insn %u: %s %s\n", p.name.c_str(), r.insn, std::string(loader::name(r.kind)).c_str(),
                  r.symbol.c_str());
  for (const std::string& w : o.warnings) std::printf("warning: %s\n", w.c_str());
}

nlohmann::ordered_json to_json(const ObjectSpec& o) {
  using J = nlohmann::ordered_json;
  J progs = J::array(), maps = J::array(), data = J::array();
  for (const ProgramSpec& p : o.programs) {
    J subs = J::array();
    for (size_t i = 1; i < p.functions.size(); ++i) subs.push_back(p.functions[i].name);
    progs.push_back({{"name", p.name}, {"section", p.section}, {"type", name_or_number(p.type)},
                     {"type_id", static_cast<uint32_t>(p.type)}, {"type_source", loader::name(p.section_info.source)},
                     {"attach_type", p.attach_type ? J(name_or_number(*p.attach_type)) : J(nullptr)},
                     {"attach_target", p.attach_target}, {"insns", p.insns.size()},
                     {"relocations", p.relocations.size()}, {"subprograms", subs}});
  }
  for (const MapSpec& m : o.maps) {
    J j = {{"name", m.name}, {"section", m.section}, {"origin", loader::name(m.origin)},
           {"type", name_or_number(m.type)}, {"type_id", static_cast<uint32_t>(m.type)}, {"key_size", m.key_size},
           {"value_size", m.value_size}, {"max_entries", m.max_entries}, {"flags", m.flags}};
    if (m.inner_map) j["inner_map"] = o.maps[*m.inner_map].name;
    if (m.pinning) j["pinning"] = m.pinning;
    (is_global_data(m) ? data : maps).push_back(std::move(j));
  }
  return {{"path", o.path}, {"license", o.license}, {"kernel_version", o.kernel_version},
          {"btf", o.btf != nullptr}, {"programs", progs}, {"maps", maps}, {"global_data", data},
          {"warnings", o.warnings}};
}

int run_show(const ShowArgs& a) {
  loader::OpenOptions opts;
  if (!a.type.empty()) opts.default_prog_type = loader::prog_type_from_name(a.type);
  opts.target_btf_path = a.btf;
  auto obj = loader::open_object(a.input, opts);
  if (!obj) return report(obj.error());
  if (a.json)
    std::printf("%s\n", to_json(*obj).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
  else
    print_text(*obj, a.verbose);
  return 0;
}

std::vector<std::string> prog_type_names() {
  std::vector<std::string> out;
  for (uint32_t i = 1; !loader::name(static_cast<loader::ProgType>(i)).empty(); ++i)
    out.emplace_back(loader::name(static_cast<loader::ProgType>(i)));
  return out;
}

}  // namespace

void add_object_command(CLI::App& app, int& exit_code) {
  CLI::App* obj = app.add_subcommand("object", "Inspect BPF ELF objects as the loader opens them");
  obj->require_subcommand(1);
  auto args = std::make_shared<ShowArgs>();
  CLI::App* show = obj->add_subcommand("show", "List an object's programs, maps and global data");
  show->add_option("object", args->input, "BPF ELF object")->required();
  show->add_flag("-j,--json", args->json, "Print JSON");
  show->add_flag("-v,--verbose", args->verbose, "Also print relocations and loader warnings");
  show->add_option("--type", args->type, "Program type for sections whose name says nothing")
      ->check(CLI::IsMember(prog_type_names()));
  show->add_option("--btf", args->btf, "Target BTF for CO-RE (default: /sys/kernel/btf/vmlinux)");
  show->callback([args, &exit_code] {
    args->json |= globals().json || globals().pretty;
    exit_code = run_show(*args);
  });
}

}  // namespace xbpf::cli
