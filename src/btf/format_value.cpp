// format_value: a value printed the way bpftool's plain-text `map dump`
// prints BTF-typed keys and values (bpftool's btf_dumper.c writing through
// its json_writer.c in pretty mode). The JSON writer rules reproduced here:
//   - a value after a previous one at the same level is preceded by ',';
//   - an object member name starts a new line indented 4 spaces per level;
//   - closing ']' / '}' go on a new line unless the array/object is empty;
//   - array elements are NOT put on their own lines ("[1,2,3\n    ]").
// Deviations from bpftool, all for safety: every read is bounds-checked, a
// BOOL reads its own size (bpftool reads 4 bytes), 128-bit shifts are exact
// (bpftool shifts by 64 in one corner case), FLOAT prints its value (bpftool
// reports "unsupported kind"), output is bounded by FormatOptions.
#include <cctype>
#include <cmath>
#include <cstring>

#include "btf/btf.hpp"
#include "btf/btf_internal.hpp"

namespace xbpf::btf {

namespace {

class ValuePrinter {
 public:
  ValuePrinter(const Btf& b, std::span<const uint8_t> bytes, const FormatOptions& o)
      : b_(b), bytes_(bytes), depth_(o.base_depth), max_values_(o.max_values), plain_(o.plain_text) {}

  Expected<void> value(uint32_t id, uint8_t bit_offset, size_t off);
  std::string take() { return std::move(out_); }

 private:
  template <class... Args>
  Unexpected<Error> err(fmt::format_string<Args...> f, Args&&... args) {
    return fail(Errc::invalid_argument, "{}: {}", b_.name(), fmt::format(f, std::forward<Args>(args)...));
  }
  // json_writer primitives.
  void eor() {
    if (sep_ != '\0') out_.push_back(sep_);
    sep_ = ',';
  }
  void eol() {
    out_.push_back('\n');
    out_.append(size_t{depth_} * 4, ' ');
  }
  void begin(char c) {
    eor();
    out_.push_back(c);
    ++depth_;
    sep_ = '\0';
  }
  void end(char c) {
    --depth_;
    if (sep_ != '\0') eol();
    out_.push_back(c);
    sep_ = ',';
  }
  void quoted(std::string_view s);
  void name(std::string_view n) {
    eor();
    eol();
    sep_ = '\0';
    quoted(n);
    out_ += ": ";
  }
  template <class... Args>
  void scalar(fmt::format_string<Args...> f, Args&&... args) {
    eor();
    fmt::format_to(std::back_inserter(out_), f, std::forward<Args>(args)...);
    ++values_;
  }

  // A float; JSON has no nan/inf, so the JSON flavour quotes them.
  template <class F>
  void number(F v) {
    if (plain_ || std::isfinite(v))
      scalar("{}", v);
    else
      scalar("\"{}\"", v);
  }

  Expected<void> need(size_t off, size_t n, uint32_t id) {
    if (off <= bytes_.size() && n <= bytes_.size() - off) return {};
    return err("value of {} needs bytes [{}, {}) but only {} are given", b_.describe(id), off, off + n, bytes_.size());
  }
  uint64_t load(size_t off, size_t n) const {  // little-endian, n <= 8, bounds checked by the caller
    uint64_t v = 0;
    std::memcpy(&v, bytes_.data() + off, n);
    return v;
  }
  Expected<void> int_value(const Type& t, uint8_t bit_offset, size_t off);
  Expected<void> bitfield(uint32_t nr_bits, uint32_t bit_offset, size_t off, uint32_t id);
  Expected<void> struct_value(const Type& t, size_t off);
  Expected<void> array_value(const Type& t, size_t off);
  Expected<void> enum_value(const Type& t, size_t off);
  bool is_str_array(const Type& t, size_t off) const;

  const Btf& b_;
  std::span<const uint8_t> bytes_;
  std::string out_;
  unsigned depth_;
  char sep_ = '\0';
  size_t values_ = 0;
  size_t max_values_;
  bool plain_;  // FormatOptions::plain_text
  unsigned nesting_ = 0;
};

void ValuePrinter::quoted(std::string_view s) {
  out_.push_back('"');
  for (char c : s) {
    switch (c) {
      case '\t': out_ += "\\t"; break;
      case '\n': out_ += "\\n"; break;
      case '\r': out_ += "\\r"; break;
      case '\f': out_ += "\\f"; break;
      case '\b': out_ += "\\b"; break;
      case '\\': out_ += "\\\\"; break;
      case '"': out_ += "\\\""; break;
      default: out_.push_back(c);
    }
  }
  out_.push_back('"');
}

Expected<void> ValuePrinter::value(uint32_t id, uint8_t bit_offset, size_t off) {
  struct Nest {
    unsigned& n;
    ~Nest() { --n; }
  } nest{++nesting_};
  if (nesting_ > detail::kMaxNesting) return err("value nesting deeper than {} levels", detail::kMaxNesting);
  const Type* t = b_.type(id);
  if (t == nullptr) {
    scalar("{}", plain_ ? "(unknown)" : "\"(unknown)\"");
    return {};
  }
  switch (t->kind) {
    case Kind::Int: return int_value(*t, bit_offset, off);
    case Kind::Struct: case Kind::Union: return struct_value(*t, off);
    case Kind::Array: return array_value(*t, off);
    case Kind::Enum: case Kind::Enum64: return enum_value(*t, off);
    case Kind::Ptr: {
      if (auto r = need(off, 8, id); !r) return r;
      const uint64_t p = load(off, 8);
      if (!plain_)
        scalar("{}", p);  // bpftool's JSON flavour: the address in decimal
      else if (p == 0)
        scalar("(nil)");
      else
        scalar("0x{:x}", p);
      return {};
    }
    case Kind::Typedef: case Kind::Volatile: case Kind::Const: case Kind::Restrict: case Kind::TypeTag: {
      const uint32_t r = b_.resolve(id);
      if (r == 0) return err("{} resolves to void", b_.describe(id));
      return value(r, bit_offset, off);
    }
    case Kind::Var: {
      begin('{');
      name(t->name);
      if (auto r = value(t->ref, bit_offset, off); !r) return r;
      end('}');
      return {};
    }
    case Kind::Datasec: {
      begin('{');
      name(t->name);
      begin('[');
      for (const VarSecinfo& v : t->vars)
        if (auto r = value(v.type, 0, off + v.offset); !r) return r;
      end(']');
      end('}');
      return {};
    }
    case Kind::Float: {
      if (auto r = need(off, t->size, id); !r) return r;
      if (t->size == 4) {
        float f;
        std::memcpy(&f, bytes_.data() + off, 4);
        number(f);
      } else if (t->size == 8) {
        double d;
        std::memcpy(&d, bytes_.data() + off, 8);
        number(d);
      } else {
        return err("{}: cannot print a {}-byte float", b_.describe(id), t->size);
      }
      return {};
    }
    default:
      return err("cannot print a value of {}", b_.describe(id));
  }
}

Expected<void> ValuePrinter::int_value(const Type& t, uint8_t bit_offset, size_t off) {
  const uint32_t bits = t.int_bits;
  // Bit-shifted or odd-sized ints print like bitfields, in hex.
  if (bit_offset != 0 || t.int_offset != 0 || bits % 8 != 0) {
    const uint32_t total = uint32_t{bit_offset} + t.int_offset;
    return bitfield(bits, total % 8, off + total / 8, t.id);
  }
  if (bits == 128) return bitfield(128, 0, off, t.id);
  if (auto r = need(off, bits / 8, t.id); !r) return r;
  const uint64_t v = load(off, bits / 8);
  switch (t.int_encoding) {
    case 0:
      scalar("{}", v);
      return {};
    case kIntSigned: {
      const unsigned shift = 64 - bits;
      scalar("{}", static_cast<int64_t>(v << shift) >> shift);
      return {};
    }
    case kIntChar: {
      const char c = static_cast<char>(v);
      if (std::isprint(static_cast<unsigned char>(c)) && plain_) {
        scalar("\"{}\"", c);  // as bpftool: '"' and '\\' unescaped
      } else if (std::isprint(static_cast<unsigned char>(c))) {
        eor();
        quoted(std::string_view(&c, 1));
        ++values_;
      } else if (plain_) {
        scalar("0x{:x}", static_cast<uint8_t>(c));
      } else {
        scalar("\"\\u00{:02x}\"", static_cast<uint8_t>(c));
      }
      return {};
    }
    default: {  // BOOL: parse() allows no other encoding
      if (auto r = need(off, t.size, t.id); !r) return r;
      bool any = false;
      for (uint32_t i = 0; i < t.size; ++i) any = any || bytes_[off + i] != 0;
      scalar("{}", any ? "true" : "false");
      return {};
    }
  }
}

// nr_bits bits starting bit_offset (< 8) bits into the byte at `off`,
// printed in hex as bpftool's btf_dumper_bitfield does.
Expected<void> ValuePrinter::bitfield(uint32_t nr_bits, uint32_t bit_offset, size_t off, uint32_t id) {
  const uint32_t bits_to_copy = bit_offset + nr_bits;
  const uint32_t bytes = (bits_to_copy + 7) / 8;
  if (nr_bits == 0 || bytes > 16) return err("{}: cannot print a {}-bit field", b_.describe(id), nr_bits);
  if (auto r = need(off, bytes, id); !r) return r;
  unsigned __int128 num = 0;
  std::memcpy(&num, bytes_.data() + off, bytes);
  num <<= 128 - bits_to_copy;
  num >>= 128 - nr_bits;
  const uint64_t hi = static_cast<uint64_t>(num >> 64), lo = static_cast<uint64_t>(num);
  const char* q = plain_ ? "" : "\"";  // the JSON flavour quotes hex numbers
  if (hi == 0)
    scalar("{}0x{:x}{}", q, lo, q);
  else
    scalar("{}0x{:x}{:016x}{}", q, hi, lo, q);
  return {};
}

Expected<void> ValuePrinter::struct_value(const Type& t, size_t off) {
  begin('{');
  for (const Member& m : t.members) {
    name(m.name);
    const size_t moff = off + m.bit_offset / 8;
    Expected<void> r = m.bitfield_size != 0 ? bitfield(m.bitfield_size, m.bit_offset % 8, moff, t.id)
                                            : value(m.type, static_cast<uint8_t>(m.bit_offset % 8), moff);
    if (!r) return r;
  }
  end('}');
  return {};
}

// bpftool prints char arrays holding a printable NUL-terminated string as a
// JSON string. Typedefs of char do not count (bpftool skips modifiers only).
bool ValuePrinter::is_str_array(const Type& t, size_t off) const {
  if (t.nelems == 0) return false;
  const Type* e = b_.type(b_.skip_qualifiers(t.elem_type));
  if (e == nullptr || e->kind != Kind::Int || e->size != 1) return false;
  if (e->int_encoding != kIntChar && e->name != "char") return false;
  for (size_t i = 0; i < t.nelems && off + i < bytes_.size(); ++i) {
    const auto c = static_cast<signed char>(bytes_[off + i]);
    if (c == 0) return true;
    if (c <= 0x1f || c >= 0x7f) return false;
  }
  return false;
}

Expected<void> ValuePrinter::array_value(const Type& t, size_t off) {
  if (is_str_array(t, off)) {
    eor();
    quoted(reinterpret_cast<const char*>(bytes_.data() + off));
    ++values_;
    return {};
  }
  auto elem_size = b_.size_of(t.elem_type);
  if (!elem_size) return unexpected(Error{Errc::invalid_argument, elem_size.error().message});
  begin('[');
  for (uint32_t i = 0; i < t.nelems; ++i) {
    if (values_ >= max_values_) {
      eor();
      out_ += plain_ ? "..." : "\"...\"";
      break;
    }
    if (auto r = value(t.elem_type, 0, off + i * *elem_size); !r) return r;
  }
  end(']');
  return {};
}

Expected<void> ValuePrinter::enum_value(const Type& t, size_t off) {
  if (auto r = need(off, t.size, t.id); !r) return r;
  const uint64_t raw = load(off, t.size);
  if (t.kind == Kind::Enum) {
    // bpftool reads the value signed and compares with the s32 enumerator.
    const unsigned shift = 64 - t.size * 8;
    const int64_t v = static_cast<int64_t>(raw << shift) >> shift;
    for (const Enumerator& e : t.enumerators)
      if (v == static_cast<int32_t>(e.value)) {
        eor();
        quoted(e.name);
        ++values_;
        return {};
      }
    scalar("{}", v);
    return {};
  }
  for (const Enumerator& e : t.enumerators)
    if (raw == static_cast<uint64_t>(e.value)) {
      eor();
      quoted(e.name);
      ++values_;
      return {};
    }
  scalar("{}", static_cast<int64_t>(raw));
  return {};
}

}  // namespace

Expected<std::string> format_value(const Btf& btf, uint32_t type_id, std::span<const uint8_t> bytes,
                                   const FormatOptions& opts) {
  auto size = btf.size_of(type_id);
  if (!size) return unexpected(Error{Errc::invalid_argument, size.error().message});
  if (bytes.size() < *size)
    return fail(Errc::invalid_argument, "{}: value of {} needs {} bytes, got {}", btf.name(), btf.describe(type_id),
                *size, bytes.size());
  ValuePrinter p(btf, bytes, opts);
  if (auto r = p.value(type_id, 0, 0); !r) return unexpected(r.error());
  return p.take();
}

}  // namespace xbpf::btf
