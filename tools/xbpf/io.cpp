#include "io.hpp"

#include "commands.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "elf/elf_file.hpp"

namespace xbpf::cli {

Expected<std::vector<uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::io, "{}: cannot open file", path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return fail(Errc::io, "{}: read error", path);
  return bytes;
}

Expected<void> write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail(Errc::io, "{}: cannot create file", path);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) return fail(Errc::io, "{}: write error", path);
  return {};
}

bool is_elf(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 4 && bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F';
}

Expected<std::vector<NamedCode>> load_code(const std::string& path, std::vector<uint8_t> bytes,
                                           const std::string& section) {
  std::vector<NamedCode> out;
  if (!is_elf(bytes)) {
    if (!section.empty()) return fail(Errc::invalid_argument, "{}: --section given but the file is not ELF", path);
    auto code = isa::from_bytes(bytes);
    if (!code) return xbpf::unexpected(with_context(code.error(), path));
    out.push_back({path, std::move(*code)});
    return out;
  }
  auto elf = elf::ElfFile::from_memory(std::move(bytes), path);
  if (!elf) return xbpf::unexpected(elf.error());
  for (const elf::Section& s : elf->sections()) {
    if (section.empty() ? !elf::is_executable(s) : s.name != section) continue;
    auto code = isa::from_bytes(s.data);
    if (!code) return xbpf::unexpected(with_context(code.error(), path + ": section " + s.name));
    out.push_back({s.name, std::move(*code)});
  }
  if (out.empty()) {
    if (section.empty()) return fail(Errc::invalid_argument, "{}: no executable section", path);
    return fail(Errc::invalid_argument, "{}: no section named '{}'", path, section);
  }
  return out;
}

int report(const Error& e) {
  std::fprintf(stderr, "xbpf: %s\n", e.message.c_str());
  return 1;
}

void require_command(CLI::App* family, int& exit_code) {
  family->require_subcommand(0, 1);
  family->allow_extras();
  family->callback([family, &exit_code] {
    if (!family->get_subcommands().empty()) return;
    const auto extra = family->remaining();
    // The command's full path ("prog dump"), without the program's own name.
    std::string path = family->get_name();
    for (const CLI::App* p = family->get_parent(); p && p->get_parent(); p = p->get_parent())
      path = p->get_name() + " " + path;
    std::fprintf(stderr, "xbpf: %s: %s (try 'xbpf %s --help')\n", path.c_str(),
                 extra.empty() ? "a command is required" : ("unknown command '" + extra[0] + "'").c_str(),
                 path.c_str());
    exit_code = 2;
  });
}

Expected<void> write_output(const std::string& path, const std::vector<uint8_t>& bytes) {
  if (path != "-") return write_file(path, bytes);
  for (size_t i = 0; i < bytes.size(); i += 16) {
    std::string line;
    for (size_t k = i; k < std::min(bytes.size(), i + 16); ++k) line += fmt::format("{:02x} ", bytes[k]);
    std::printf("%s\n", line.c_str());
  }
  return {};
}

Expected<loader::ObjectSpec> open_object_spec(const std::string& object, const std::string& type) {
  auto spec = loader::open_object(object, loader::OpenOptions{});
  if (!spec) return unexpected(spec.error());
  if (!type.empty()) {
    auto t = kabi::prog_type_from_name(type);
    if (!t) return fail(Errc::invalid_argument, "unknown program type '{}'", type);
    for (auto& p : spec->programs) p.type = *t;
  }
  return spec;
}

int report_verb(Error e, const std::string& verb) {
  if (e.errnum && e.message.find(std::strerror(e.errnum)) == std::string::npos)
    e.message += fmt::format(" ({})", std::strerror(e.errnum));
  return report(with_context(e, verb));
}

Globals& globals() {
  static Globals g;
  return g;
}

void add_global_options(CLI::App& app) {
  app.add_option("--store", globals().store, "Store directory (default: $XBPF_STORE or /dev/shm/xbpf-UID)");
  app.add_flag("-j,--json", globals().json, "JSON output, as bpftool's");
  app.add_flag("-p,--pretty", globals().pretty, "Pretty-printed JSON (implies --json)");
}

}  // namespace xbpf::cli
