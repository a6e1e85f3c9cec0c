// Decoder / encoder: golden encodings (RFC 9669 field layout), decode(encode(x)) == x
// for every row of the opcode table, and the validation errors of decode_program.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "isa/isa.hpp"

using namespace xbpf;
using namespace xbpf::isa;

namespace {

uint64_t to_u64(const RawInsn& r) {
  uint64_t v;
  std::memcpy(&v, &r, sizeof v);
  return v;
}
RawInsn from_u64(uint64_t v) {
  RawInsn r;
  std::memcpy(&r, &v, sizeof r);
  return r;
}
std::vector<RawInsn> slots(std::initializer_list<uint64_t> vs) {
  std::vector<RawInsn> out;
  for (uint64_t v : vs) out.push_back(from_u64(v));
  return out;
}
RawInsn raw(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  RawInsn r{};
  r.code = code;
  r.dst = dst & 0xf;
  r.src = src & 0xf;
  r.off = off;
  r.imm = imm;
  return r;
}

// ---------------------------------------------------------------------------
// Representative instructions for any table row. Which fields a form uses is
// restated here from RFC 9669 on purpose: the test checks isa.cpp against it.

struct Uses {
  bool dst, src, off, imm;
};
Uses uses(Form f) {
  switch (f) {
    case Form::AluImm: return {true, false, false, true};
    case Form::AluReg: return {true, true, false, false};
    case Form::AluUnary: case Form::Endian: case Form::CallReg: return {true, false, false, false};
    case Form::LoadImm64: return {true, false, false, true};
    case Form::LoadAbs: case Form::Call: case Form::CallLocal: case Form::JumpLong:
      return {false, false, false, true};
    case Form::LoadInd: return {false, true, false, true};
    case Form::Load: case Form::StoreReg: case Form::Atomic: case Form::JumpReg:
      return {true, true, true, false};
    case Form::StoreImm: case Form::JumpImm: return {true, false, true, true};
    case Form::Jump: return {false, false, true, false};
    case Form::CallKfunc: return {false, false, true, true};
    case Form::Exit: return {false, false, false, false};
  }
  return {};
}
bool writes_dst(Form f) {
  return f == Form::AluImm || f == Form::AluReg || f == Form::AluUnary || f == Form::Endian ||
         f == Form::LoadImm64 || f == Form::Load;
}

struct Variant {
  uint8_t dst, src;
  int16_t off;
  int32_t imm;
  int64_t imm64;
};
constexpr Variant kVariants[] = {
    {0, 1, 0, 0, 0},
    {9, 10, -8, -1, -1},
    {5, 7, INT16_MAX, INT32_MIN, INT64_MIN},
    {1, 0, INT16_MIN, INT32_MAX, 0x1122334455667788},
    {10, 3, 1, 0x7fff, 0xffffffff},
};

Insn representative(const OpInfo& i, const Variant& v) {
  Uses u = uses(i.form);
  Insn x{i.op};
  x.dst = u.dst ? v.dst : 0;
  if (writes_dst(i.form) && x.dst == kFramePointer) x.dst = 8;
  x.src = u.src ? v.src : 0;
  if (i.form == Form::Atomic && (i.match_value & 1) && x.src == kFramePointer) x.src = 6;  // fetch writes src
  x.off = u.off ? v.off : 0;
  x.imm = u.imm ? v.imm : 0;
  if (i.form == Form::LoadImm64) {
    x.imm64 = v.imm64;
    x.imm = int32_t(uint32_t(uint64_t(v.imm64)));
  }
  if (i.match == Match::Off) x.off = int16_t(i.match_value);
  if (i.match == Match::Imm) x.imm = i.match_value;
  if (i.match == Match::Src) x.src = uint8_t(i.match_value);
  return x;
}

// ---------------------------------------------------------------------------

TEST(OpTable, RowsAreConsistent) {
  for (size_t k = 0; k < kNumOps; ++k) {
    const OpInfo& i = kOpTable[k];
    EXPECT_EQ(size_t(i.op), k) << i.name;
    EXPECT_FALSE(i.mnemonic.empty()) << i.name;
    EXPECT_GE(i.isa_version, 1) << i.name;
    EXPECT_EQ(&info(i.op), &i);
  }
}

TEST(Decoder, EveryRowRoundTrips) {
  int checked = 0;
  for (const OpInfo& i : kOpTable) {
    for (const Variant& v : kVariants) {
      Insn x = representative(i, v);
      std::vector<RawInsn> out;
      encode(x, out);
      ASSERT_EQ(out.size(), size_t(slot_count(i.op))) << i.name;
      EXPECT_EQ(out[0].code, i.code) << i.name;
      EXPECT_EQ(lookup(out[0]), std::optional<Op>(i.op)) << i.name;
      auto d = decode_one(out, 0);
      ASSERT_TRUE(d.has_value()) << i.name << ": " << d.error().message;
      EXPECT_EQ(*d, x) << i.name << " dst=" << int(x.dst) << " src=" << int(x.src) << " off=" << x.off
                       << " imm=" << x.imm;
      ++checked;
    }
  }
  EXPECT_EQ(checked, int(kNumOps * std::size(kVariants)));
}

// Slot values as the RFC lays them out: imm << 32 | off << 16 | src << 12 | dst << 8 | code.
struct Golden {
  std::vector<uint64_t> slots;
  Insn insn;
};

TEST(Decoder, GoldenEncodings) {
  const Golden cases[] = {
      {{0x0000000500000107}, {Op::ADD64_IMM, 1, 0, 0, 5}},
      {{0xfffffffd00000004}, {Op::ADD32_IMM, 0, 0, 0, -3}},
      {{0x000000000000431f}, {Op::SUB64_REG, 3, 4, 0, 0}},
      {{0x000000000001213c}, {Op::SDIV32_REG, 1, 2, 1, 0}},
      {{0x00000000001021bf}, {Op::MOVSX16_64, 1, 2, 16, 0}},
      {{0xfffffff900010197}, {Op::SMOD64_IMM, 1, 0, 1, -7}},
      {{0x0000000000000587}, {Op::NEG64, 5, 0, 0, 0}},
      {{0x00000020000001dc}, {Op::BE32, 1, 0, 0, 32}},
      {{0x00000040000002d7}, {Op::BSWAP64, 2, 0, 0, 64}},
      {{0x5566778800000018, 0x1122334400000000}, {Op::LDDW, 0, 0, 0, 0x55667788, 0x1122334455667788}},
      {{0x0000000300002218, 0x0000001000000000}, {Op::LDDW_MAP_VALUE, 2, 2, 0, 3, 0x0000001000000003}},
      {{0x0000000c00000020}, {Op::LDABSW, 0, 0, 0, 12}},
      {{0x0000000400001048}, {Op::LDINDH, 0, 1, 0, 4}},
      {{0x00000000fff8a279}, {Op::LDXDW, 2, 10, -8, 0}},
      {{0x00000005fffc0a62}, {Op::STW, 10, 0, -4, 5}},
      {{0x00000000fff81a7b}, {Op::STXDW, 10, 1, -8, 0}},
      {{0x000000a1000421c3}, {Op::ATOMIC_FETCH_XOR32, 1, 2, 4, 0xa1}},
      {{0x000000f1000021db}, {Op::ATOMIC_CMPXCHG64, 1, 2, 0, 0xf1}},
      {{0x00000000ffff0005}, {Op::JA, 0, 0, -1, 0}},
      {{0xfffffffe00000006}, {Op::JA32, 0, 0, 0, -2}},
      {{0xfffffffffffd0266}, {Op::JSGT32_IMM, 2, 0, -3, -1}},
      {{0x000000000002215d}, {Op::JNE_REG, 1, 2, 2, 0}},
      {{0x0000000500000085}, {Op::CALL, 0, 0, 0, 5}},
      {{0x0000000400001085}, {Op::CALL_LOCAL, 0, 1, 0, 4}},
      {{0x000004d200022085}, {Op::CALL_KFUNC, 0, 2, 2, 1234}},
      {{0x000000000000028d}, {Op::CALLX, 2, 0, 0, 0}},
      {{0x0000000000000095}, {Op::EXIT}},
  };
  for (const Golden& g : cases) {
    SCOPED_TRACE(std::string(info(g.insn.op).name));
    std::vector<RawInsn> out;
    encode(g.insn, out);
    ASSERT_EQ(out.size(), g.slots.size());
    for (size_t k = 0; k < out.size(); ++k) EXPECT_EQ(to_u64(out[k]), g.slots[k]) << std::hex << "slot " << k;
    std::vector<RawInsn> in;
    for (uint64_t v : g.slots) in.push_back(from_u64(v));
    auto d = decode_one(in, 0);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_EQ(*d, g.insn);
  }
}

TEST(Decoder, RawLayoutIsLittleEndianNibbles) {
  RawInsn r = raw(0xbf, 1, 2, 0x1234, 0x789abcde);
  auto bytes = to_bytes(std::span(&r, 1));
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0xbf, 0x21, 0x34, 0x12, 0xde, 0xbc, 0x9a, 0x78}));
  auto back = from_bytes(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ((*back)[0], r);
}

TEST(Decoder, FromBytesRejectsTruncatedInput) {
  std::vector<uint8_t> bytes(12, 0);
  auto r = from_bytes(bytes);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::invalid_program);
  EXPECT_NE(r.error().message.find("multiple of 8"), std::string::npos) << r.error().message;
}

TEST(Decoder, ProgramDecodesWithSlotIndices) {
  auto prog = slots({0x00000000000000b7, 0x5566778800000118, 0x1122334400000000, 0x0000000000000095});
  auto d = decode_program(prog);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[0].pc, 0u);
  EXPECT_EQ((*d)[1].pc, 1u);
  EXPECT_EQ((*d)[1].imm64, 0x1122334455667788);
  EXPECT_EQ((*d)[2].pc, 3u);
  EXPECT_EQ(encode_program(*d), prog);
}

// ---------------------------------------------------------------------------
// Validation errors: each names the instruction index.

struct BadProgram {
  const char* what;
  std::vector<RawInsn> prog;
  std::string expect;  // substrings of the message, in order: "insn N" first
  std::string detail;
};

TEST(Validation, ErrorsNameTheInstruction) {
  const RawInsn exit_ = raw(0x95, 0, 0, 0, 0);
  const RawInsn mov0 = raw(0xb7, 0, 0, 0, 0);
  const BadProgram cases[] = {
      {"unknown opcode", {mov0, raw(0xff, 0, 0, 0, 0), exit_}, "insn 1", "unknown opcode 0xff"},
      {"reserved src in imm ALU op", {mov0, mov0, raw(0x07, 1, 1, 0, 1), exit_}, "insn 2", "src"},
      {"reserved off in ALU op", {raw(0x07, 1, 0, 3, 1), exit_}, "insn 0", "off"},
      {"reserved imm in exit", {mov0, raw(0x95, 0, 0, 0, 7)}, "insn 1", "imm"},
      {"bad operation selector", {raw(0x3f, 1, 2, 2, 0), exit_}, "insn 0", "0x3f"},
      {"register 11 as dst", {raw(0xbf, 11, 1, 0, 0), exit_}, "insn 0", "r11"},
      {"register 11 as src", {mov0, raw(0xbf, 1, 11, 0, 0), exit_}, "insn 1", "r11"},
      {"jump out of range", {mov0, raw(0x05, 0, 0, 5, 0), exit_}, "insn 1", "out of range"},
      {"jump before start", {raw(0x15, 1, 0, -2, 0), exit_}, "insn 0", "out of range"},
      {"gotol out of range", {raw(0x06, 0, 0, 0, 100), exit_}, "insn 0", "out of range"},
      {"local call out of range", {raw(0x85, 0, 1, 0, -5), exit_}, "insn 0", "out of range"},
      {"jump into lddw tail",
       {raw(0x05, 0, 0, 1, 0), raw(0x18, 1, 0, 0, 1), raw(0, 0, 0, 0, 0), exit_},
       "insn 0",
       "middle of lddw"},
      {"lddw at the end", {mov0, raw(0x18, 1, 0, 0, 1)}, "insn 1", "second slot"},
      {"bad lddw second slot", {raw(0x18, 1, 0, 0, 1), raw(0x07, 0, 0, 0, 0), exit_}, "insn 1", "second slot"},
      {"write to r10 (mov)", {raw(0xb7, 10, 0, 0, 1), exit_}, "insn 0", "frame pointer"},
      {"write to r10 (ldx)", {mov0, raw(0x79, 10, 1, 0, 0), exit_}, "insn 1", "frame pointer"},
      {"write to r10 (atomic fetch)", {raw(0xdb, 1, 10, 0, 0x01), exit_}, "insn 0", "frame pointer"},
  };
  for (const BadProgram& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = decode_program(c.prog);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::invalid_program);
    const std::string& m = r.error().message;
    EXPECT_TRUE(m.starts_with(c.expect + ":")) << m;
    EXPECT_NE(m.find(c.detail), std::string::npos) << m;
  }
}

TEST(Validation, EmptyProgramIsRejected) {
  auto r = decode_program({});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("empty"), std::string::npos);
}

TEST(Validation, StoresThroughR10AreFine) {
  auto prog = slots({0x00000005fffc0a62, 0x00000000fff81a7b, 0x00000000fff81adb, 0x0000000000000095});
  auto r = decode_program(prog);
  EXPECT_TRUE(r.has_value()) << r.error().message;
}

}  // namespace
