#include "conformance/data_file.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

namespace xbpf::conformance {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view strip_comment(std::string_view s) {
  auto hash = s.find('#');
  return trim(hash == std::string_view::npos ? s : s.substr(0, hash));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Expected<uint64_t> parse_u64(std::string_view s, const std::string& where) {
  s = trim(s);
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    return fail(Errc::parse, "{}: invalid number '{}'", where, s);
  return v;
}

}  // namespace

Expected<std::vector<uint8_t>> parse_hex_bytes(std::string_view text) {
  std::vector<uint8_t> out;
  int pending = -1;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (pending >= 0) return fail(Errc::parse, "odd number of hex digits");
      continue;
    }
    int d = hex_digit(c);
    if (d < 0) return fail(Errc::parse, "invalid hex character '{}'", c);
    if (pending < 0) {
      pending = d;
    } else {
      out.push_back(uint8_t(pending << 4 | d));
      pending = -1;
    }
  }
  if (pending >= 0) return fail(Errc::parse, "odd number of hex digits");
  return out;
}

Expected<DataFile> parse_data_file(std::string_view text, std::string path) {
  DataFile df;
  df.path = path;
  std::string section;
  std::string mem_text, result_text, error_text;
  std::vector<std::pair<int, std::string>> raw_lines;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.starts_with("-- ")) {
      section = std::string(trim(line.substr(3)));
      if (section == "asm") df.asm_first_line = line_no + 1;
      continue;
    }
    if (section == "asm") {
      df.asm_text.append(line);
      df.asm_text.push_back('\n');
    } else if (section == "mem") {
      df.has_mem = true;
      mem_text.append(strip_comment(line));
      mem_text.push_back(' ');
    } else if (section == "result") {
      result_text.append(strip_comment(line));
    } else if (section == "raw") {
      if (!strip_comment(line).empty()) raw_lines.emplace_back(line_no, std::string(strip_comment(line)));
    } else if (section == "error") {
      error_text.append(strip_comment(line));
    }
  }
  if (df.has_mem) {
    auto mem = parse_hex_bytes(mem_text);
    if (!mem) return xbpf::unexpected(with_context(mem.error(), path + ": -- mem"));
    df.mem = std::move(*mem);
  }
  if (!trim(result_text).empty()) {
    auto r = parse_u64(result_text, path + ": -- result");
    if (!r) return xbpf::unexpected(r.error());
    df.result = *r;
  }
  if (!raw_lines.empty()) {
    std::vector<uint64_t> words;
    for (auto& [ln, s] : raw_lines) {
      auto w = parse_u64(s, fmt::format("{}:{}", path, ln));
      if (!w) return xbpf::unexpected(w.error());
      words.push_back(*w);
    }
    df.raw = std::move(words);
  }
  if (!error_text.empty()) df.error = error_text;
  if (df.asm_text.empty() && !df.raw) return fail(Errc::parse, "{}: no '-- asm' or '-- raw' section", path);
  if (!df.result && !df.error) return fail(Errc::parse, "{}: no '-- result' section", path);
  return df;
}

Expected<DataFile> read_data_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::io, "{}: cannot open file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_data_file(ss.str(), path);
}

}  // namespace xbpf::conformance
