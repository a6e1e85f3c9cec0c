// .BTF.ext: func_info, line_info and CO-RE relocation records, grouped by
// ELF section name. Layout (all little-endian u32 after the 8-byte prefix):
//   header: magic u16, version u8, flags u8, hdr_len,
//           func_info_off, func_info_len, line_info_off, line_info_len,
//           [core_relo_off, core_relo_len]   (only when hdr_len >= 32)
//   each sub-section (offsets relative to the end of the header):
//           record_size, then { sec_name_off, num_info, records[num_info] }...
#include <cstring>

#include "btf/btf.hpp"

namespace xbpf::btf {

namespace {

constexpr size_t kMinHeader = 24;  // up to line_info_len

uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One sub-section being decoded: which one, its bytes, its minimum record size.
struct SubSection {
  std::string_view what;  // "func_info", "line_info", "core_relo"
  std::span<const uint8_t> bytes;
  uint32_t min_record;
};

class ExtParser {
 public:
  ExtParser(std::span<const uint8_t> d, const Btf& btf, std::string name, BtfExt& out)
      : d_(d), btf_(btf), name_(std::move(name)), out_(out) {}

  Expected<void> run();

 private:
  template <class... Args>
  Unexpected<Error> err(fmt::format_string<Args...> f, Args&&... args) {
    return fail(Errc::invalid_program, "{}: {}", name_, fmt::format(f, std::forward<Args>(args)...));
  }
  Expected<std::span<const uint8_t>> locate(std::string_view what, uint32_t off, uint32_t len);
  Expected<void> walk(const SubSection& s);
  Expected<void> record(const SubSection& s, const std::string& sec, uint32_t i, const uint8_t* r);
  Expected<std::string_view> str(std::string_view ctx, uint32_t off);
  Expected<uint32_t> insn(std::string_view ctx, uint32_t byte_off);

  std::span<const uint8_t> d_;
  const Btf& btf_;
  std::string name_;
  BtfExt& out_;
  uint32_t hdr_len_ = 0;
};

Expected<void> ExtParser::run() {
  if (d_.size() < kMinHeader) return err("too short for a .BTF.ext header ({} bytes, need {})", d_.size(), kMinHeader);
  const uint16_t magic = static_cast<uint16_t>(d_[0] | (d_[1] << 8));
  if (magic == 0x9feb) return fail(Errc::unsupported, "{}: big-endian BTF is not supported", name_);
  if (magic != kMagic) return err("bad magic 0x{:04x} (expected 0x{:04x})", magic, kMagic);
  if (d_[2] != 1) return err("unsupported version {}", d_[2]);
  if (d_[3] != 0) return err("unsupported flags 0x{:x}", d_[3]);
  hdr_len_ = rd32(&d_[4]);
  if (hdr_len_ < kMinHeader) return err("header length {} is smaller than {}", hdr_len_, kMinHeader);
  if (hdr_len_ > d_.size()) return err("header length {} runs past the end ({} bytes)", hdr_len_, d_.size());
  struct { std::string_view what; size_t field; uint32_t min_record; } subs[] = {
      {"func_info", 8, 8}, {"line_info", 16, 16}, {"core_relo", 24, 16}};
  for (const auto& s : subs) {
    if (s.field + 8 > hdr_len_) break;  // older header without this sub-section
    auto bytes = locate(s.what, rd32(&d_[s.field]), rd32(&d_[s.field + 4]));
    if (!bytes) return unexpected(std::move(bytes).error());
    if (bytes->empty()) continue;
    if (auto r = walk({s.what, *bytes, s.min_record}); !r) return r;
  }
  return {};
}

Expected<std::span<const uint8_t>> ExtParser::locate(std::string_view what, uint32_t off, uint32_t len) {
  const uint64_t avail = d_.size() - hdr_len_;
  if (uint64_t{off} + len > avail)
    return err("{} ({} bytes at {}) runs past the end ({} bytes after the header)", what, len, off, avail);
  if (len != 0 && off % 4 != 0) return err("{} offset {} is not 4-byte aligned", what, off);
  return d_.subspan(hdr_len_ + off, len);
}

Expected<void> ExtParser::walk(const SubSection& s) {
  const uint8_t* p = s.bytes.data();
  size_t left = s.bytes.size();
  if (left < 4) return err("{}: too short for its record size ({} bytes)", s.what, left);
  const uint32_t rec_size = rd32(p);
  p += 4;
  left -= 4;
  if (rec_size < s.min_record || rec_size % 4 != 0)
    return err("{}: invalid record size {} (need a multiple of 4, at least {})", s.what, rec_size, s.min_record);
  while (left > 0) {
    if (left < 8) return err("{}: truncated section header ({} bytes left)", s.what, left);
    const uint32_t name_off = rd32(p), count = rd32(p + 4);
    p += 8;
    left -= 8;
    auto sec = str(s.what, name_off);
    if (!sec) return unexpected(std::move(sec).error());
    if (sec->empty()) return err("{}: section name at offset {} is empty", s.what, name_off);
    if (count == 0) return err("{}: section '{}' has no records", s.what, *sec);
    if (uint64_t{count} * rec_size > left)
      return err("{}: section '{}': {} records of {} bytes need {} bytes, only {} left", s.what, *sec, count, rec_size,
                 uint64_t{count} * rec_size, left);
    const std::string sec_name(*sec);
    for (uint32_t i = 0; i < count; ++i, p += rec_size)
      if (auto r = record(s, sec_name, i, p); !r) return r;
    left -= size_t{count} * rec_size;
  }
  return {};
}

Expected<std::string_view> ExtParser::str(std::string_view ctx, uint32_t off) {
  auto s = btf_.string_at(off);
  if (!s) return err("{}: string offset {} is outside the .BTF string section", ctx, off);
  return *s;
}

Expected<uint32_t> ExtParser::insn(std::string_view ctx, uint32_t byte_off) {
  if (byte_off % 8 != 0) return err("{}: instruction offset {} is not a multiple of 8", ctx, byte_off);
  return byte_off / 8;
}

Expected<void> ExtParser::record(const SubSection& s, const std::string& sec, uint32_t i, const uint8_t* r) {
  const std::string ctx = fmt::format("{}: section '{}' record {}", s.what, sec, i);
  auto idx = insn(ctx, rd32(r));
  if (!idx) return unexpected(std::move(idx).error());
  if (s.what == "func_info") {
    const uint32_t type_id = rd32(r + 4);
    const Type* t = btf_.type(type_id);
    if (t == nullptr || t->kind != Kind::Func)
      return err("{}: type {} is not a FUNC", ctx, btf_.describe(type_id));
    out_.func_info[sec].push_back(FuncInfo{*idx, type_id});
  } else if (s.what == "line_info") {
    auto file = str(ctx, rd32(r + 4));
    if (!file) return unexpected(std::move(file).error());
    auto line = str(ctx, rd32(r + 8));
    if (!line) return unexpected(std::move(line).error());
    const uint32_t line_col = rd32(r + 12);
    out_.line_info[sec].push_back(LineInfo{*idx, *file, *line, line_col >> 10, line_col & 0x3ff});
  } else {
    const uint32_t type_id = rd32(r + 4), kind = rd32(r + 12);
    if (type_id >= btf_.type_count())
      return err("{}: refers to type {} (only {} types)", ctx, type_id, btf_.type_count() - 1);
    if (kind > static_cast<uint32_t>(CoreReloKind::TypeMatches)) return err("{}: unknown relocation kind {}", ctx, kind);
    auto access = str(ctx, rd32(r + 8));
    if (!access) return unexpected(std::move(access).error());
    if (access->empty()) return err("{}: empty access string", ctx);
    out_.core_relos[sec].push_back(CoreRelo{*idx, type_id, *access, static_cast<CoreReloKind>(kind)});
  }
  return {};
}

}  // namespace

Expected<BtfExt> BtfExt::parse(std::span<const uint8_t> data, const Btf& btf, std::string name) {
  BtfExt ext;
  ExtParser p(data, btf, std::move(name), ext);
  if (auto r = p.run(); !r) return unexpected(r.error());
  return ext;
}

std::string_view core_relo_kind_name(CoreReloKind k) {
  switch (k) {
    case CoreReloKind::FieldByteOffset: return "byte_off";
    case CoreReloKind::FieldByteSize: return "byte_sz";
    case CoreReloKind::FieldExists: return "field_exists";
    case CoreReloKind::FieldSigned: return "signed";
    case CoreReloKind::FieldLShiftU64: return "lshift_u64";
    case CoreReloKind::FieldRShiftU64: return "rshift_u64";
    case CoreReloKind::TypeIdLocal: return "local_type_id";
    case CoreReloKind::TypeIdTarget: return "target_type_id";
    case CoreReloKind::TypeExists: return "type_exists";
    case CoreReloKind::TypeSize: return "type_size";
    case CoreReloKind::EnumvalExists: return "enumval_exists";
    case CoreReloKind::EnumvalValue: return "enumval_value";
    case CoreReloKind::TypeMatches: return "type_matches";
  }
  return "unknown";
}

Expected<std::vector<uint32_t>> parse_access(std::string_view access) {
  std::vector<uint32_t> out;
  if (access.empty()) return fail(Errc::invalid_program, "empty CO-RE access string");
  size_t i = 0;
  while (true) {
    uint64_t v = 0;
    const size_t start = i;
    for (; i < access.size() && access[i] >= '0' && access[i] <= '9'; ++i) {
      v = v * 10 + static_cast<uint64_t>(access[i] - '0');
      if (v > 0xffffffffULL) return fail(Errc::invalid_program, "CO-RE access string '{}': index too large", access);
    }
    if (i == start) return fail(Errc::invalid_program, "CO-RE access string '{}': expected a number at {}", access, i);
    out.push_back(static_cast<uint32_t>(v));
    if (i == access.size()) return out;
    if (access[i] != ':') return fail(Errc::invalid_program, "CO-RE access string '{}': unexpected '{}'", access, access[i]);
    ++i;
  }
}

}  // namespace xbpf::btf
