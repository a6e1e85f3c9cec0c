// BTF from hand-built blobs: hostile inputs rejected with precise messages,
// type-graph queries, split BTF, .BTF.ext decoding, and format_value against
// goldens captured from a real `bpftool map dump` (bpftool v7.1, kernel
// BTF_LOAD + an ARRAY map holding the same BTF and bytes).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "btf/btf.hpp"

namespace {

using namespace xbpf::btf;

// Assembles a .BTF blob: types are appended in id order (first id 1).
class Builder {
 public:
  uint32_t str(const std::string& s) {
    if (s.empty()) return 0;
    const auto off = static_cast<uint32_t>(strs_.size());
    strs_.insert(strs_.end(), s.begin(), s.end());
    strs_.push_back(0);
    return off;
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) types_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void head(const std::string& name, Kind k, uint32_t vlen, uint32_t size_or_type, bool kflag = false) {
    u32(str(name));
    u32((kflag ? 1u << 31 : 0) | (static_cast<uint32_t>(k) << 24) | vlen);
    u32(size_or_type);
  }
  Builder& int_(const std::string& name, uint32_t size, uint32_t enc, uint32_t bits) {
    head(name, Kind::Int, 0, size);
    u32((enc << 24) | bits);
    return *this;
  }
  Builder& ref(Kind k, const std::string& name, uint32_t type) {
    head(name, k, 0, type);
    return *this;
  }
  Builder& array(uint32_t elem, uint32_t index, uint32_t n) {
    head("", Kind::Array, 0, 0);
    u32(elem);
    u32(index);
    u32(n);
    return *this;
  }
  struct M {
    std::string name;
    uint32_t type;
    uint32_t offset;  // raw btf_member.offset
  };
  Builder& composite(Kind k, const std::string& name, uint32_t size, const std::vector<M>& ms, bool kflag = false) {
    head(name, k, static_cast<uint32_t>(ms.size()), size, kflag);
    for (const M& m : ms) {
      u32(str(m.name));
      u32(m.type);
      u32(m.offset);
    }
    return *this;
  }
  Builder& enum_(const std::string& name, uint32_t size, const std::vector<std::pair<std::string, int32_t>>& vs) {
    head(name, Kind::Enum, static_cast<uint32_t>(vs.size()), size);
    for (const auto& [n, v] : vs) {
      u32(str(n));
      u32(static_cast<uint32_t>(v));
    }
    return *this;
  }
  Builder& enum64(const std::string& name, uint32_t size, const std::vector<std::pair<std::string, uint64_t>>& vs) {
    head(name, Kind::Enum64, static_cast<uint32_t>(vs.size()), size);
    for (const auto& [n, v] : vs) {
      u32(str(n));
      u32(static_cast<uint32_t>(v));
      u32(static_cast<uint32_t>(v >> 32));
    }
    return *this;
  }
  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out = {0x9f, 0xeb, 1, 0};
    auto put = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put(24);
    put(0);
    put(static_cast<uint32_t>(types_.size()));
    put(static_cast<uint32_t>(types_.size()));
    put(static_cast<uint32_t>(strs_.size()));
    out.insert(out.end(), types_.begin(), types_.end());
    out.insert(out.end(), strs_.begin(), strs_.end());
    return out;
  }

  std::vector<uint8_t> types_;
  std::vector<uint8_t> strs_ = {0};
};

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }

std::string parse_error(const std::vector<uint8_t>& blob) {
  auto r = Btf::parse(blob, "t.o: .BTF");
  return r ? std::string("(parsed)") : r.error().message;
}

// ---- hostile blobs ---------------------------------------------------------

TEST(BtfHostile, HeaderProblems) {
  Builder b;
  b.int_("int", 4, 1, 32);
  auto blob = b.build();
  ASSERT_EQ(parse_error(blob), "(parsed)");
  auto bad = blob;
  bad[0] = 0x34;
  bad[1] = 0x12;
  EXPECT_EQ(parse_error(bad), "t.o: .BTF: bad magic 0x1234 (expected 0xeb9f)");
  bad = blob;
  put32(bad, 4, 1000);
  EXPECT_EQ(parse_error(bad), "t.o: .BTF: header length 1000 runs past the end (45 bytes)");
  bad = blob;
  put32(bad, 20, 100);  // str_len
  EXPECT_EQ(parse_error(bad),
            "t.o: .BTF: string section (100 bytes at 16) runs past the end (21 bytes after the header)");
  bad = blob;
  put32(bad, 12, 20);  // type_len overlapping the strings
  EXPECT_EQ(parse_error(bad), "t.o: .BTF: type section (20 bytes at 0) overlaps the string section at 16");
  bad = blob;
  bad[2] = 2;
  EXPECT_EQ(parse_error(bad), "t.o: .BTF: unsupported BTF version 2");
  EXPECT_EQ(parse_error(std::vector<uint8_t>(blob.begin(), blob.begin() + 10)),
            "t.o: .BTF: too short for a BTF header (10 bytes, need 24)");
  bad = blob;
  bad.back() = 'x';
  EXPECT_EQ(parse_error(bad), "t.o: .BTF: string section does not end with a NUL byte");
  bad = blob;
  bad[0] = 0xeb;
  bad[1] = 0x9f;
  auto be = Btf::parse(bad, "t.o: .BTF");
  ASSERT_FALSE(be);
  EXPECT_EQ(be.error().code, xbpf::Errc::unsupported);
}

TEST(BtfHostile, StringOffsetOutOfRange) {
  Builder b;
  b.int_("int", 4, 1, 32);
  auto blob = b.build();
  put32(blob, 24, 999);  // the INT's name_off
  EXPECT_EQ(parse_error(blob), "t.o: .BTF: type [1] INT: type name offset 999 is outside the string section (5 bytes)");
  Builder m;
  m.int_("int", 4, 1, 32).composite(Kind::Struct, "s", 4, {{"a", 1, 0}});
  blob = m.build();
  put32(blob, 24 + 16 + 12, 777);  // member 0 name_off
  EXPECT_EQ(parse_error(blob),
            "t.o: .BTF: type [2] STRUCT 's': member 0 name offset 777 is outside the string section (9 bytes)");
}

TEST(BtfHostile, TypeIdOutOfRange) {
  Builder b;
  b.int_("int", 4, 1, 32).composite(Kind::Struct, "foo", 16, {{"a", 1, 0}, {"b", 1, 32}, {"c", 9999, 64}});
  EXPECT_EQ(parse_error(b.build()), "t.o: .BTF: type [2] STRUCT 'foo': member 2 refers to type 9999 (only 2 types)");
  Builder p;
  p.ref(Kind::Ptr, "", 5);
  EXPECT_EQ(parse_error(p.build()), "t.o: .BTF: type [1] PTR: refers to type 5 (only 1 types)");
  Builder a;
  a.int_("int", 4, 1, 32).array(1, 42, 3);
  EXPECT_EQ(parse_error(a.build()), "t.o: .BTF: type [2] ARRAY: its index type refers to type 42 (only 2 types)");
}

TEST(BtfHostile, CyclesAreRejectedOrReported) {
  Builder t;
  t.ref(Kind::Typedef, "a", 2).ref(Kind::Typedef, "b", 3).ref(Kind::Const, "", 1);
  EXPECT_EQ(parse_error(t.build()),
            "t.o: .BTF: type [1] TYPEDEF 'a': reference cycle: [1] TYPEDEF 'a' -> [2] TYPEDEF 'b' -> [3] CONST -> [1]");
  Builder p;
  p.ref(Kind::Ptr, "", 1);
  EXPECT_EQ(parse_error(p.build()), "t.o: .BTF: type [1] PTR: reference cycle: [1] PTR -> [1]");
  // Pointers through a struct are fine; embedding the struct in itself is
  // valid BTF structurally but has no size.
  Builder ok;
  ok.int_("int", 4, 1, 32).composite(Kind::Struct, "node", 16, {{"v", 1, 0}, {"next", 3, 64}}).ref(Kind::Ptr, "", 2);
  auto list = Btf::parse(ok.build(), "t.o: .BTF");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(*list->size_of(2), 16u);
  Builder s;
  s.int_("int", 4, 1, 32).composite(Kind::Struct, "s", 8, {{"a", 1, 0}, {"self", 3, 32}}).ref(Kind::Typedef, "s_t", 2);
  auto self = Btf::parse(s.build(), "t.o: .BTF");
  ASSERT_TRUE(self) << self.error().message;
  auto size = self->size_of(2);
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().message,
            "t.o: .BTF: type [2] STRUCT 's' contains itself by value: [2] STRUCT 's' -> [3] TYPEDEF 's_t' -> [2]");
  EXPECT_FALSE(self->size_of(3));
  EXPECT_FALSE(self->align_of(2));
  EXPECT_TRUE(self->size_of(1));
  auto c = dump_c(*self);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "t.o: .BTF: cannot print as C: unsatisfiable type cycle at [2] STRUCT 's'");
  std::vector<uint8_t> bytes(8);
  EXPECT_FALSE(format_value(*self, 2, bytes));
  EXPECT_NE(dump_raw(*self).find("'self' type_id=3 bits_offset=32"), std::string::npos);
}

TEST(BtfHostile, VlenAndTruncation) {
  Builder b;
  b.head("s", Kind::Struct, 65535, 4);
  EXPECT_EQ(parse_error(b.build()),
            "t.o: .BTF: type [1] STRUCT 's': vlen 65535 needs 786420 bytes but only 0 are left in the type section");
  Builder t;
  t.int_("int", 4, 1, 32);
  auto blob = t.build();
  put32(blob, 12, 8);  // type_len: half a type
  EXPECT_EQ(parse_error(blob), "t.o: .BTF: type [1]: truncated (8 bytes left in the type section, need 12)");
  Builder k;
  k.head("x", static_cast<Kind>(25), 0, 0);
  EXPECT_EQ(parse_error(k.build()), "t.o: .BTF: type [1]: unknown kind 25");
  Builder i;
  i.int_("int", 4, 1, 40);
  EXPECT_EQ(parse_error(i.build()), "t.o: .BTF: type [1] INT 'int': 40 bits at offset 0 do not fit in 4 bytes");
  Builder f;
  f.int_("int", 4, 1, 32).ref(Kind::Func, "f", 1);
  EXPECT_EQ(parse_error(f.build()), "t.o: .BTF: type [2] FUNC 'f': refers to [1] INT 'int' which is not a FUNC_PROTO");
  Builder e;
  e.enum_("e", 3, {{"A", 1}});
  EXPECT_EQ(parse_error(e.build()), "t.o: .BTF: type [1] ENUM 'e': invalid size 3");
}

// Hostile nesting: deep but acyclic chains stay bounded (no stack overflow).
TEST(BtfHostile, DeepNestingIsBounded) {
  Builder b;
  b.int_("int", 4, 1, 32);
  // Struct [i] embeds struct [i + 1]: forward references, so every walk
  // from [2] must descend the whole chain.
  const uint32_t depth = 5000;
  for (uint32_t i = 0; i < depth; ++i)
    b.composite(Kind::Struct, "s" + std::to_string(i), 4, {{"m", i + 1 < depth ? i + 3 : 1, 0}});
  auto btf = Btf::parse(b.build(), "t.o: .BTF");
  ASSERT_TRUE(btf) << btf.error().message;
  EXPECT_EQ(*btf->size_of(2), 4u);
  EXPECT_EQ(*btf->align_of(2), 4u);
  auto c = dump_c(*btf);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("nesting deeper than 512 levels"), std::string::npos) << c.error().message;
  std::vector<uint8_t> bytes(4);
  auto v = format_value(*btf, 2, bytes);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("nesting deeper than 512"), std::string::npos);
  EXPECT_NE(dump_raw(*btf).find("[5001] STRUCT 's4999' size=4 vlen=1"), std::string::npos);
}

// ---- queries ---------------------------------------------------------------

TEST(BtfQueries, FindResolveSizeSplit) {
  Builder b;
  b.int_("int", 4, 1, 32)
      .ref(Kind::Typedef, "myint", 1)
      .ref(Kind::Const, "", 2)
      .array(3, 1, 10)
      .composite(Kind::Struct, "task", 48, {{"a", 4, 0}, {"b", 1, 320}})
      .composite(Kind::Struct, "task___v2", 4, {{"a", 1, 0}})
      .composite(Kind::Union, "task", 4, {{"a", 1, 0}})
      .int_("long", 8, 1, 64);
  auto btf = Btf::parse(b.build(), "t.o: .BTF");
  ASSERT_TRUE(btf) << btf.error().message;
  EXPECT_EQ(btf->type_count(), 9u);
  EXPECT_EQ(btf->type(0), nullptr);
  EXPECT_EQ(btf->type(9), nullptr);
  EXPECT_EQ(btf->find("task", Kind::Struct), 5u);
  EXPECT_EQ(btf->find("task", Kind::Union), 7u);
  EXPECT_FALSE(btf->find("task", Kind::Enum).has_value());
  EXPECT_EQ(btf->find_candidates("task", Kind::Struct), (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(essential_name("task___v2"), "task");
  EXPECT_EQ(essential_name("a___b___c"), "a___b");
  EXPECT_EQ(essential_name("__u32"), "__u32");
  EXPECT_EQ(essential_name("a____b"), "a____b");
  EXPECT_EQ(essential_name("x___"), "x___");
  EXPECT_EQ(essential_name("x___y"), "x");
  EXPECT_EQ(btf->resolve(3), 1u);
  EXPECT_EQ(btf->skip_qualifiers(3), 2u);
  EXPECT_EQ(*btf->size_of(4), 40u);
  EXPECT_EQ(*btf->size_of(3), 4u);
  EXPECT_EQ(*btf->align_of(5), 4u);
  EXPECT_EQ(btf->describe(5), "[5] STRUCT 'task'");
  EXPECT_EQ(btf->describe(4), "[4] ARRAY");
  EXPECT_EQ(btf->pointer_size(), 8u);
  // Split BTF: ids and string offsets continue the base's.
  // Split string sections need not start with "\0"; offsets start after the base's.
  Builder s2;
  s2.strs_.clear();
  const uint32_t base_strs = static_cast<uint32_t>(b.strs_.size());
  s2.u32(0);
  s2.u32(static_cast<uint32_t>(Kind::Ptr) << 24);
  s2.u32(5);
  s2.u32(base_strs);  // "ext" at the first split string offset
  s2.u32((static_cast<uint32_t>(Kind::Struct) << 24) | 1);
  s2.u32(8);
  s2.u32(base_strs + 4);  // "p"
  s2.u32(9);
  s2.u32(0);
  s2.strs_ = {'e', 'x', 't', 0, 'p', 0};
  auto split = Btf::parse(s2.build(), "mod: .BTF", &*btf);
  ASSERT_TRUE(split) << split.error().message;
  EXPECT_EQ(split->first_own_id(), 9u);
  EXPECT_EQ(split->type_count(), 11u);
  EXPECT_EQ(split->find("ext", Kind::Struct), 10u);
  EXPECT_EQ(split->find("task", Kind::Struct), 5u);
  EXPECT_EQ(dump_raw(*split), "[9] PTR '(anon)' type_id=5\n[10] STRUCT 'ext' size=8 vlen=1\n\t'p' type_id=9 bits_offset=0\n");
}

TEST(BtfQueries, ParseAccess) {
  EXPECT_EQ(*parse_access("0:1:23"), (std::vector<uint32_t>{0, 1, 23}));
  EXPECT_EQ(*parse_access("7"), (std::vector<uint32_t>{7}));
  EXPECT_FALSE(parse_access(""));
  EXPECT_FALSE(parse_access("0:"));
  EXPECT_FALSE(parse_access("0:x"));
  EXPECT_FALSE(parse_access("99999999999"));
  EXPECT_EQ(core_relo_kind_name(CoreReloKind::FieldByteOffset), "byte_off");
}

// ---- .BTF.ext --------------------------------------------------------------

struct ExtBuilder {
  std::vector<uint8_t> func, line, core;
  static void put(std::vector<uint8_t>& v, uint32_t x) {
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
  }
  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out = {0x9f, 0xeb, 1, 0};
    put(out, 32);
    put(out, 0);
    put(out, static_cast<uint32_t>(func.size()));
    put(out, static_cast<uint32_t>(func.size()));
    put(out, static_cast<uint32_t>(line.size()));
    put(out, static_cast<uint32_t>(func.size() + line.size()));
    put(out, static_cast<uint32_t>(core.size()));
    out.insert(out.end(), func.begin(), func.end());
    out.insert(out.end(), line.begin(), line.end());
    out.insert(out.end(), core.begin(), core.end());
    return out;
  }
};

TEST(BtfExtParse, RecordsAndErrors) {
  Builder b;
  b.int_("int", 4, 1, 32);
  b.head("", Kind::FuncProto, 0, 1);
  b.ref(Kind::Func, "main", 2);
  const uint32_t sec = b.str("xdp"), file = b.str("a.c"), line = b.str("return 0;"), acc = b.str("0:1");
  auto btf = Btf::parse(b.build(), "t.o: .BTF");
  ASSERT_TRUE(btf) << btf.error().message;
  ExtBuilder e;
  for (uint32_t v : {8u, sec, 1u, 16u, 3u}) ExtBuilder::put(e.func, v);
  for (uint32_t v : {16u, sec, 1u, 24u, file, line, (12u << 10) | 5}) ExtBuilder::put(e.line, v);
  for (uint32_t v : {16u, sec, 1u, 40u, 1u, acc, 0u}) ExtBuilder::put(e.core, v);
  auto ext = BtfExt::parse(e.build(), *btf, "t.o: .BTF.ext");
  ASSERT_TRUE(ext) << ext.error().message;
  ASSERT_EQ(ext->func_info.at("xdp").size(), 1u);
  EXPECT_EQ(ext->func_info.at("xdp")[0].insn_idx, 2u);  // byte offset 16 -> instruction 2
  EXPECT_EQ(ext->func_info.at("xdp")[0].type_id, 3u);
  const LineInfo& li = ext->line_info.at("xdp")[0];
  EXPECT_EQ(li.insn_idx, 3u);
  EXPECT_EQ(li.file_name, "a.c");
  EXPECT_EQ(li.line, "return 0;");
  EXPECT_EQ(li.line_num, 12u);
  EXPECT_EQ(li.column, 5u);
  const CoreRelo& cr = ext->core_relos.at("xdp")[0];
  EXPECT_EQ(cr.insn_idx, 5u);
  EXPECT_EQ(cr.access, "0:1");
  EXPECT_EQ(cr.kind, CoreReloKind::FieldByteOffset);

  auto error_of = [&](ExtBuilder x) {
    auto r = BtfExt::parse(x.build(), *btf, "t.o: .BTF.ext");
    return r ? std::string("(parsed)") : r.error().message;
  };
  ExtBuilder bad = e;
  bad.func[0] = 6;  // record size below 8
  EXPECT_EQ(error_of(bad), "t.o: .BTF.ext: func_info: invalid record size 6 (need a multiple of 4, at least 8)");
  bad = e;
  bad.func[8] = 200;  // 200 records
  EXPECT_EQ(error_of(bad), "t.o: .BTF.ext: func_info: section 'xdp': 200 records of 8 bytes need 1600 bytes, only 8 left");
  bad = e;
  bad.func[12] = 17;  // insn_off not a multiple of 8
  EXPECT_EQ(error_of(bad), "t.o: .BTF.ext: func_info: section 'xdp' record 0: instruction offset 17 is not a multiple of 8");
  bad = e;
  bad.func[16] = 1;  // type 1 is an INT
  EXPECT_EQ(error_of(bad), "t.o: .BTF.ext: func_info: section 'xdp' record 0: type [1] INT 'int' is not a FUNC");
  bad = e;
  bad.line[4] = 0xff;  // section name offset
  bad.line[5] = 0xff;
  EXPECT_EQ(error_of(bad), "t.o: .BTF.ext: line_info: string offset 65535 is outside the .BTF string section");
  bad = e;
  bad.core[24] = 13;  // relocation kind
  EXPECT_EQ(error_of(bad), "t.o: .BTF.ext: core_relo: section 'xdp' record 0: unknown relocation kind 13");
  auto short_hdr = e.build();
  short_hdr.resize(20);
  EXPECT_FALSE(BtfExt::parse(short_hdr, *btf, "t.o: .BTF.ext"));
}

// ---- format_value goldens from bpftool -----------------------------------

// The BTF and bytes fed to the kernel by the golden capture (see file comment).
Btf golden_btf() {
  Builder b;
  b.int_("int", 4, 1, 32).int_("unsigned int", 4, 0, 32).int_("char", 1, 1, 8).int_("long long", 8, 1, 64);
  b.int_("unsigned char", 1, 0, 8).int_("short", 2, 1, 16).int_("_Bool", 1, 4, 8);
  b.array(3, 2, 8).array(1, 2, 3).enum_("color", 4, {{"RED", 0}, {"BLUE", 5}}).ref(Kind::Ptr, "", 1);
  b.ref(Kind::Typedef, "u8", 5).ref(Kind::Const, "", 1);
  b.composite(Kind::Struct, "inner", 8, {{"x", 1, 0}, {"y", 6, 32}});
  b.composite(Kind::Union, "u", 4, {{"i", 1, 0}, {"b", 5, 0}});
  b.composite(Kind::Struct, "bits", 4, {{"a", 2, (3u << 24) | 0}, {"b", 2, (5u << 24) | 3}, {"c", 1, (10u << 24) | 8}},
              true);
  b.enum64("big", 8, {{"HUGE", uint64_t{1} << 40}});
  b.composite(Kind::Struct, "", 4, {{"z", 1, 0}});
  b.composite(Kind::Struct, "v", 108,
              {{"a", 1, 0},     {"b", 2, 32},     {"s", 8, 64},     {"raw", 8, 128},  {"arr", 9, 192},
               {"col", 10, 288}, {"col2", 10, 320}, {"p", 11, 384},   {"t", 12, 448},   {"k", 13, 480},
               {"in", 14, 512},  {"un", 15, 576},  {"bf", 16, 608},  {"big", 17, 640}, {"ll", 4, 704},
               {"sh", 6, 768},   {"bo", 7, 784},   {"", 18, 800},    {"neg", 1, 832}});
  auto btf = Btf::parse(b.build(), "golden: .BTF");
  EXPECT_TRUE(btf) << btf.error().message;
  return std::move(*btf);
}

std::vector<uint8_t> golden_value() {
  std::vector<uint8_t> v(108);
  auto at = [&](size_t off, auto x) { std::memcpy(&v[off], &x, sizeof x); };
  at(0, int32_t{-7});
  at(4, uint32_t{4000000000u});
  std::memcpy(&v[8], "hi", 2);
  for (int i = 0; i < 8; ++i) v[16 + i] = static_cast<uint8_t>(i + 1);
  at(24, int32_t{1});
  at(28, int32_t{-2});
  at(32, int32_t{3});
  at(36, uint32_t{5});
  at(40, uint32_t{7});
  at(48, uint64_t{0xffff888012345678ull});
  v[56] = 200;
  at(60, int32_t{42});
  at(64, int32_t{9});
  at(68, int16_t{-3});
  at(72, int32_t{0x41424344});
  at(76, uint32_t{5u | (17u << 3) | (0x2ffu << 8)});
  at(80, uint64_t{1} << 40);
  at(88, int64_t{-123456789012});
  at(96, int16_t{300});
  v[98] = 1;
  at(100, int32_t{77});
  at(104, int32_t{-1});
  return v;
}

// The "value" of `bpftool map dump` output, which bpftool prints at depth 2.
const char* const kGoldenValue = R"({
            "a": -7,
            "b": 4000000000,
            "s": "hi",
            "raw": [1,2,3,4,5,6,7,8
            ],
            "arr": [1,-2,3
            ],
            "col": "BLUE",
            "col2": 7,
            "p": 0xffff888012345678,
            "t": 200,
            "k": 42,
            "in": {
                "x": 9,
                "y": -3
            },
            "un": {
                "i": 1094861636,
                "b": 68
            },
            "bf": {
                "a": 0x5,
                "b": 0x11,
                "c": 0x2ff
            },
            "big": "HUGE",
            "ll": -123456789012,
            "sh": 300,
            "bo": true,
            "": {
                "z": 77
            },
            "neg": -1
        })";

TEST(BtfFormatValue, MatchesBpftoolMapDump) {
  Btf btf = golden_btf();
  const auto bytes = golden_value();
  FormatOptions o;
  o.base_depth = 2;
  auto text = format_value(btf, 19, bytes, o);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, kGoldenValue);
  auto key = format_value(btf, 2, std::vector<uint8_t>(4, 0), o);
  EXPECT_EQ(*key, "0");
  auto standalone = format_value(btf, 14, std::span(bytes).subspan(64));
  EXPECT_EQ(*standalone, "{\n    \"x\": 9,\n    \"y\": -3\n}");
}

TEST(BtfFormatValue, DatasecMatchesBpftool) {
  // Captured from bpftool for an ARRAY map whose value type is this DATASEC.
  Builder b;
  b.int_("int", 4, 1, 32).int_("unsigned int", 4, 0, 32).int_("char", 1, 1, 8).array(3, 2, 6);
  b.ref(Kind::Var, "counter", 1);
  b.u32(1);
  b.ref(Kind::Var, "label", 4);
  b.u32(0);
  b.head(".data", Kind::Datasec, 2, 12);
  for (uint32_t v : {5u, 0u, 4u, 6u, 4u, 6u}) b.u32(v);
  auto btf = Btf::parse(b.build(), "golden2: .BTF");
  ASSERT_TRUE(btf) << btf.error().message;
  std::vector<uint8_t> bytes = {0x39, 0x30, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 0};
  FormatOptions o;
  o.base_depth = 2;
  auto text = format_value(*btf, 7, bytes, o);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, R"({
            ".data": [{
                    "counter": 12345
                },{
                    "label": "abc"
                }
            ]
        })");
}

TEST(BtfFormatValue, BoundsAndErrors) {
  Builder b;
  b.int_("int", 4, 1, 32).int_("unsigned int", 4, 0, 32).array(1, 2, 100000);
  b.head("", Kind::FuncProto, 0, 1);
  auto btf = Btf::parse(b.build(), "t.o: .BTF");
  ASSERT_TRUE(btf);
  std::vector<uint8_t> bytes(400000, 0);
  FormatOptions o;
  o.max_values = 3;
  auto text = format_value(*btf, 3, bytes, o);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, "[0,0,0,...\n]");
  auto short_bytes = format_value(*btf, 1, std::vector<uint8_t>(2));
  ASSERT_FALSE(short_bytes);
  EXPECT_EQ(short_bytes.error().message, "t.o: .BTF: value of [1] INT 'int' needs 4 bytes, got 2");
  auto proto = format_value(*btf, 4, bytes);
  ASSERT_FALSE(proto);
  EXPECT_EQ(proto.error().message, "t.o: .BTF: type [4] FUNC_PROTO has no size (it is or refers to [4] FUNC_PROTO)");
}

}  // namespace
