// Assembler and disassembler: golden encodings per form, round trips for every
// row of the opcode table, kernel-syntax spellings, labels, error messages with
// line numbers, and the whole shared bpf_conformance suite.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "isa/asm.hpp"
#include "isa/disasm.hpp"
#include "isa/isa.hpp"

using namespace xbpf;
using namespace xbpf::isa;

namespace {

std::vector<uint64_t> encode_u64(std::span<const Insn> insns) {
  std::vector<uint64_t> out;
  for (const RawInsn& r : encode_program(insns)) {
    uint64_t v;
    std::memcpy(&v, &r, sizeof v);
    out.push_back(v);
  }
  return out;
}

// Assembles text that must be valid; returns the slots as 64-bit values.
std::vector<uint64_t> asm_u64(std::string_view text) {
  auto r = assemble(text, "t");
  EXPECT_TRUE(r.has_value()) << text << ": " << (r ? "" : r.error().message);
  return r ? encode_u64(*r) : std::vector<uint64_t>{};
}

// ---------------------------------------------------------------------------
// (1) Golden encodings: text → slots (imm << 32 | off << 16 | src << 12 | dst << 8 | code).

struct Golden {
  const char* text;
  std::vector<uint64_t> slots;
};

TEST(Assembler, GoldenEncodingsForEveryForm) {
  const Golden cases[] = {
      // AluImm
      {"add %r1, 5", {0x0000000500000107}},
      {"add32 %r0, -3", {0xfffffffd00000004}},
      {"mov32 %r2, 0xffffffff", {0xffffffff000002b4}},
      {"mov %r0, -2147483648", {0x80000000000000b7}},
      {"smod %r1, -7", {0xfffffff900010197}},
      {"lsh r3, 0x3f", {0x0000003f00000367}},
      // AluReg
      {"sub %r3, %r4", {0x000000000000431f}},
      {"sdiv32 %r1, %r2", {0x000000000001213c}},
      {"mov %r0, %r10", {0x000000000000a0bf}},
      {"movsx1664 %r1, %r2", {0x00000000001021bf}},
      {"movsx832 %r1, %r2", {0x00000000000821bc}},
      // AluUnary, Endian
      {"neg %r5", {0x0000000000000587}},
      {"neg32 %r5", {0x0000000000000584}},
      {"be32 %r1", {0x00000020000001dc}},
      {"le16 %r0", {0x00000010000000d4}},
      {"bswap64 %r2", {0x00000040000002d7}},
      {"swap16 %r0", {0x00000010000000d7}},
      // LoadImm64 and its pseudo kinds
      {"lddw %r0, 0x1122334455667788", {0x5566778800000018, 0x1122334400000000}},
      {"lddw %r9, -1", {0xffffffff00000918, 0xffffffff00000000}},
      {"lddw %r1, map_fd 3", {0x0000000300001118, 0}},
      {"lddw %r2, map_value 3, 16", {0x0000000300002218, 0x0000001000000000}},
      {"lddw %r1, map_idx 2", {0x0000000200005118, 0}},
      {"lddw %r1, map_idx_value 2, 8", {0x0000000200006118, 0x0000000800000000}},
      {"lddw %r1, btf_id 7", {0x0000000700003118, 0}},
      {"lddw %r1, func +3", {0x0000000300004118, 0}},
      // Legacy packet loads
      {"ldabsw 12", {0x0000000c00000020}},
      {"ldabsb 4", {0x0000000400000030}},
      {"ldindh %r1, 4", {0x0000000400001048}},
      // Load, StoreImm, StoreReg
      {"ldxw %r0, [%r1+4]", {0x0000000000041061}},
      {"ldxdw %r2, [%r10-8]", {0x00000000fff8a279}},
      {"ldxsb %r1, [%r2]", {0x0000000000002191}},
      {"ldxh %r1, [%r2 + 0x10]", {0x0000000000102169}},
      {"stw [%r10-4], 5", {0x00000005fffc0a62}},
      {"stdw [%r1+8], 0xffffffff", {0xffffffff0008017a}},
      {"stxdw [%r10-8], %r1", {0x00000000fff81a7b}},
      {"stxb [%r1-32768], %r2", {0x0000000080002173}},
      // Atomic
      {"lock add [%r10-8], %r1", {0x00000000fff81adb}},
      {"lock add32 [%r1], %r2", {0x00000000000021c3}},
      {"lock fetch xor32 [%r1+4], %r2", {0x000000a1000421c3}},
      {"lock fetch and [%r1], %r2", {0x00000051000021db}},
      {"lock xchg32 [%r1], %r2", {0x000000e1000021c3}},
      {"lock cmpxchg [%r1], %r2", {0x000000f1000021db}},
      // Jumps
      {"ja +3", {0x0000000000030005}},
      {"ja -1", {0x00000000ffff0005}},
      {"ja32 -2", {0xfffffffe00000006}},
      {"jeq %r1, 0xb, +1", {0x0000000b00010115}},
      {"jsgt32 %r2, -1, -3", {0xfffffffffffd0266}},
      {"jne %r1, %r2, +2", {0x000000000002215d}},
      {"jslt32 %r3, %r4, +0", {0x00000000000043ce}},
      // Calls, exit
      {"call 5", {0x0000000500000085}},
      {"call local +4", {0x0000000400001085}},
      {"call kfunc 1234", {0x000004d200002085}},
      {"call kfunc 1234, 2", {0x000004d200022085}},
      {"call %r2", {0x000000000000028d}},
      {"exit", {0x0000000000000095}},
  };
  for (const Golden& g : cases) EXPECT_EQ(asm_u64(g.text), g.slots) << g.text;
}

// ---------------------------------------------------------------------------
// (2) Round trip through both syntaxes for every row of the table.

Insn representative(const OpInfo& i, int variant) {
  // Fields per form (RFC 9669); unused fields stay zero so the Insn is canonical.
  struct { uint8_t dst, src; int16_t off; int32_t imm; int64_t imm64; } const v[] = {
      {0, 1, 0, 0, 0},
      {9, 10, -8, -1, -1},
      {5, 7, INT16_MAX, INT32_MIN, INT64_MIN},
      {1, 0, INT16_MIN, INT32_MAX, 0x1122334455667788},
      {10, 3, 1, 0x7fff, 0xffffffff},
  };
  const auto& p = v[variant];
  Form f = i.form;
  bool dst = f != Form::LoadAbs && f != Form::LoadInd && f != Form::Jump && f != Form::JumpLong &&
             f != Form::Call && f != Form::CallLocal && f != Form::CallKfunc && f != Form::Exit;
  bool src = f == Form::AluReg || f == Form::LoadInd || f == Form::Load || f == Form::StoreReg ||
             f == Form::Atomic || f == Form::JumpReg;
  bool off = f == Form::Load || f == Form::StoreImm || f == Form::StoreReg || f == Form::Atomic ||
             f == Form::Jump || f == Form::JumpImm || f == Form::JumpReg || f == Form::CallKfunc;
  bool imm = f == Form::AluImm || f == Form::LoadImm64 || f == Form::LoadAbs || f == Form::LoadInd ||
             f == Form::StoreImm || f == Form::JumpLong || f == Form::JumpImm || f == Form::Call ||
             f == Form::CallLocal || f == Form::CallKfunc;
  bool writes = f == Form::AluImm || f == Form::AluReg || f == Form::AluUnary || f == Form::Endian ||
                f == Form::LoadImm64 || f == Form::Load;
  Insn x{i.op};
  x.dst = dst ? (writes && p.dst == kFramePointer ? 8 : p.dst) : 0;
  x.src = src ? p.src : 0;
  if (f == Form::Atomic && (i.match_value & 1) && x.src == kFramePointer) x.src = 6;
  x.off = off ? p.off : 0;
  x.imm = imm ? p.imm : 0;
  if (f == Form::LoadImm64) {
    x.imm64 = p.imm64;
    x.imm = int32_t(uint32_t(uint64_t(p.imm64)));
  }
  if (i.match == Match::Off) x.off = int16_t(i.match_value);
  if (i.match == Match::Imm) x.imm = i.match_value;
  if (i.match == Match::Src) x.src = uint8_t(i.match_value);
  return x;
}

// What the kernel-syntax text of a row must contain.
std::string_view kernel_marker(const OpInfo& i) {
  switch (i.op) {
    case Op::LDDW: return " ll";
    case Op::LDDW_MAP_FD: case Op::LDDW_MAP_VALUE: return "map[fd:";
    case Op::LDDW_MAP_IDX: case Op::LDDW_MAP_IDX_VALUE: return "map[idx:";
    case Op::LDDW_FUNC: return "subprog[";
    default: return i.symbol;
  }
}

TEST(Disassembler, EveryRowRoundTripsThroughConformanceSyntax) {
  int checked = 0;
  for (const OpInfo& i : kOpTable) {
    for (int variant = 0; variant < 5; ++variant) {
      Insn x = representative(i, variant);
      std::string text = format_insn(x, Syntax::Conformance);
      SCOPED_TRACE(fmt::format("{} variant {}: '{}'", i.name, variant, text));
      auto back = assemble(text);
      ASSERT_TRUE(back.has_value()) << back.error().message;
      ASSERT_EQ(back->size(), 1u);
      EXPECT_EQ(encode_u64(*back), encode_u64(std::span(&x, 1)));
      EXPECT_EQ((*back)[0], x);

      std::string kernel = format_insn(x, Syntax::Kernel);
      EXPECT_FALSE(kernel.empty());
      EXPECT_NE(kernel.find(kernel_marker(i)), std::string::npos) << kernel;
      ++checked;
    }
  }
  EXPECT_EQ(checked, int(kNumOps * 5));
}

// ---------------------------------------------------------------------------
// Kernel syntax spellings (llvm-objdump / bpftool).

TEST(Disassembler, KernelSyntax) {
  const std::pair<const char*, const char*> cases[] = {
      {"add %r1, 5", "r1 += 5"},
      {"mov32 %r0, -1", "w0 = -1"},
      {"add32 %r0, %r1", "w0 += w1"},
      {"arsh %r2, %r3", "r2 s>>= r3"},
      {"sdiv32 %r2, 3", "w2 s/= 3"},
      {"movsx864 %r1, %r2", "r1 = (s8)r2"},
      {"movsx1632 %r1, %r2", "w1 = (s16)w2"},
      {"neg %r0", "r0 = -r0"},
      {"neg32 %r3", "w3 = -w3"},
      {"be16 %r0", "r0 = be16 r0"},
      {"le64 %r4", "r4 = le64 r4"},
      {"bswap32 %r1", "r1 = bswap32 r1"},
      {"lddw %r0, 0x1122334455667788", "r0 = 0x1122334455667788 ll"},
      {"lddw %r1, map_fd 3", "r1 = map[fd:3]"},
      {"lddw %r1, map_value 3, 16", "r1 = map[fd:3][0]+16"},
      {"lddw %r1, map_idx 2", "r1 = map[idx:2]"},
      {"lddw %r1, map_idx_value 2, 8", "r1 = map[idx:2]+8"},
      {"lddw %r1, btf_id 7", "r1 = btf_id 7"},
      {"lddw %r1, func +3", "r1 = subprog[+3]"},
      {"ldabsw 4", "r0 = *(u32 *)skb[4]"},
      {"ldindh %r1, 4", "r0 = *(u16 *)skb[r1 + 4]"},
      {"ldxw %r0, [%r1+4]", "r0 = *(u32 *)(r1 + 4)"},
      {"ldxsw %r1, [%r2-2]", "r1 = *(s32 *)(r2 - 2)"},
      {"stw [%r10-4], 5", "*(u32 *)(r10 - 4) = 5"},
      {"stxdw [%r10-8], %r1", "*(u64 *)(r10 - 8) = r1"},
      {"lock add [%r1], %r2", "lock *(u64 *)(r1 + 0) += r2"},
      {"lock or32 [%r1+8], %r2", "lock *(u32 *)(r1 + 8) |= w2"},
      {"lock fetch add [%r1], %r2", "r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)"},
      {"lock fetch xor32 [%r1], %r2", "w2 = atomic_fetch_xor((u32 *)(r1 + 0), w2)"},
      {"lock xchg [%r1], %r2", "r2 = xchg_64(r1 + 0, r2)"},
      {"lock xchg32 [%r1], %r2", "w2 = xchg32_32(r1 + 0, w2)"},
      {"lock cmpxchg [%r1], %r2", "r0 = cmpxchg_64(r1 + 0, r0, r2)"},
      {"lock cmpxchg32 [%r1-8], %r2", "w0 = cmpxchg32_32(r1 - 8, w0, w2)"},
      {"ja -1", "goto -1"},
      {"ja32 +5", "gotol +5"},
      {"jgt %r1, 5, +3", "if r1 > 0x5 goto +3"},
      {"jsgt %r1, -1, +0", "if r1 s> 0xffffffff goto +0"},
      {"jslt32 %r1, %r2, -2", "if w1 s< w2 goto -2"},
      {"jset %r1, %r2, +1", "if r1 & r2 goto +1"},
      {"call 5", "call 5"},
      {"call local +3", "call pc+3"},
      {"call local -4", "call pc-4"},
      {"call kfunc 1234", "call kfunc 1234"},
      {"call %r2", "callx r2"},
      {"exit", "exit"},
  };
  for (auto [text, expect] : cases) {
    auto r = assemble(text);
    ASSERT_TRUE(r.has_value()) << text << ": " << r.error().message;
    EXPECT_EQ(format_insn((*r)[0], Syntax::Kernel), expect) << text;
  }
}

TEST(Disassembler, ConformanceSyntaxSpellings) {
  const std::pair<const char*, const char*> cases[] = {
      {"ldxw %r0, [%r1+0]", "ldxw %r0, [%r1]"},
      {"stxdw [%r10 - 8], r1", "stxdw [%r10-8], %r1"},
      {"mov %r0, 0xffffffff", "mov %r0, -1"},
      {"mov32 %r1, 0x87654321", "mov32 %r1, 0x87654321"},
      {"mov %r1, -70000", "mov %r1, 0xfffeee90"},
      {"stw [%r1+2], 65536", "stw [%r1+2], 65536"},
      {"jne %r0, 65537, +1", "jne %r0, 0x10001, +1"},
      {"lddw %r1, 0x0f", "lddw %r1, 0xf"},
      {"lddw %r1, map_fd 3, 0", "lddw %r1, map_fd 3"},
      {"lddw %r1, map_value 3", "lddw %r1, map_value 3, 0"},
      {"jeq %r1, 0xb, +0", "jeq %r1, 11, +0"},
      {"lock fetch add32 [%r1+4], %r2", "lock fetch add32 [%r1+4], %r2"},
      {"call local -1", "call local -1"},
  };
  for (auto [text, expect] : cases) {
    auto r = assemble(text);
    ASSERT_TRUE(r.has_value()) << text << ": " << r.error().message;
    EXPECT_EQ(format_insn((*r)[0], Syntax::Conformance), expect) << text;
  }
}

TEST(Disassembler, ProgramWithSlotIndices) {
  auto r = assemble("mov %r0, 0\nlddw %r1, 1\njne %r1, 1, +1\nexit\nexit\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(format_program(*r, Syntax::Conformance, true),
            "   0:\tmov %r0, 0\n   1:\tlddw %r1, 0x1\n   3:\tjne %r1, 1, +1\n   4:\texit\n   5:\texit\n");
  EXPECT_EQ(format_program(*r, Syntax::Kernel, false),
            "r0 = 0\nr1 = 0x1 ll\nif r1 != 0x1 goto +1\nexit\nexit\n");
  EXPECT_EQ(format_program({}, Syntax::Kernel, true), "");
}

// ---------------------------------------------------------------------------
// Labels, comments, layout.

TEST(Assembler, LabelsForwardBackwardAndNamedExit) {
  auto r = assemble(
      "  mov %r0, 0      # trailing comment\n"
      "  ja L1\n"
      "back:\n"
      "  exit\n"
      "L1: jeq %r1, 0xb, exit\n"
      "  lddw %r2, 5\n"
      "  ja back\n"
      "exit:\n"
      "exit\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 7u);
  const auto& v = *r;
  EXPECT_EQ(v[1].op, Op::JA);
  EXPECT_EQ(v[1].off, 1);       // slot 1 → L1 at slot 3
  EXPECT_EQ(v[3].op, Op::JEQ_IMM);
  EXPECT_EQ(v[3].off, 3);       // slot 3 → exit at slot 7 (lddw takes two)
  EXPECT_EQ(v[5].off, -5);      // slot 6 → back at slot 2
  EXPECT_EQ(v[5].pc, 6u);
  EXPECT_EQ(v[6].op, Op::EXIT);
  EXPECT_EQ(v[6].pc, 7u);
  auto d = decode_program(encode_program(v));
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(*d, v);
}

TEST(Assembler, ImplicitExitLabelIsTheFirstExit) {
  auto r = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)[0].off, 1);  // to slot 2, the first exit
  auto none = assemble("ja exit\nmov %r0, 1\n", "t");
  ASSERT_FALSE(none.has_value());
  EXPECT_TRUE(none.error().message.starts_with("t:1: undefined label 'exit'")) << none.error().message;
}

TEST(Assembler, LabelsInImmediateTargets) {
  auto r = assemble(
      "call local f\n"
      "lddw %r1, func f\n"
      "ja32 end\n"
      "f: mov %r0, 1\n"
      "end: exit\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r)[0].imm, 3);   // 0 → 4
  EXPECT_EQ((*r)[1].imm, 2);   // 1 → 4
  EXPECT_EQ((*r)[1].imm64, 2);
  EXPECT_EQ((*r)[2].imm, 1);   // 3 → 5
  EXPECT_EQ((*r)[0].target(), 4);
  EXPECT_EQ((*r)[2].target(), 5);
}

TEST(Assembler, BlankInputAndCrLf) {
  auto e = assemble("");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->empty());
  auto r = assemble("# only\r\n\r\nmov %r0, 1\r\nexit\r\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
}

// ---------------------------------------------------------------------------
// (5) Errors carry "<source>:<line>: ".

TEST(Assembler, ErrorsNameSourceAndLine) {
  const std::pair<std::string, std::string> cases[] = {
      {"mov %r0, 1\nxyz %r0\n", "t:2: unknown mnemonic 'xyz'"},
      {"lock foo [%r1], %r2", "t:1: unknown mnemonic 'lock'"},
      {"add 5, %r0", "t:1: expected register, got '5'"},
      {"mov %r11, 1", "t:1: invalid register '%r11'"},
      {"mov %r0, %r16", "t:1: invalid register '%r16'"},
      {"mov %r0, 0x100000000", "t:1: immediate 0x100000000 out of range (must fit int32 or uint32)"},
      {"\nmov %r0, -2147483649", "t:2: immediate -2147483649 out of range"},
      {"mov %r0, 99999999999999999999999", "t:1: immediate 99999999999999999999999 out of range"},
      {"lddw %r0, 0x10000000000000000", "t:1: immediate 0x10000000000000000 out of range"},
      {"lddw %r0, -9223372036854775809", "t:1: immediate -9223372036854775809 out of range"},
      {"mov %r0, 12abc", "t:1: expected immediate, got '12abc'"},
      {"mov %r0, 0x", "t:1: expected immediate, got '0x'"},
      {"ldxw %r0, [%r1+32768]", "t:1: offset +32768 out of range (must fit int16)"},
      {"ldxw %r0, %r1", "t:1: expected memory operand [%rN+off], got '%r1'"},
      {"ldxw %r0, [%r1+4", "t:1: expected ']', got end of line"},
      {"exit\n\nja foo\n", "t:3: undefined label 'foo'"},
      {"a:\nexit\na: exit\n", "t:3: duplicate label 'a' (first defined at line 1)"},
      {"ja +32768", "t:1: jump offset 32768 out of int16 range"},
      {"jeq %r1, 1, -32769", "t:1: jump offset -32769 out of int16 range"},
      {"call local +2147483648", "t:1: call offset 2147483648 out of int32 range"},
      {"jeq %r1, 1, 5", "t:1: expected jump target (label, +N or -N), got '5'"},
      {"exit now", "t:1: trailing garbage 'now'"},
      {"mov %r0, 1 2", "t:1: trailing garbage '2'"},
      {"neg %r0, %r1", "t:1: trailing garbage ', %r1'"},
      {"mov %r0", "t:1: expected ',', got end of line"},
      {"lddw %r1, map_fd", "t:1: expected immediate, got end of line"},
      {"lddw %r1, map_fd x", "t:1: expected immediate, got 'x'"},
      {"call", "t:1: expected immediate, got end of line"},
      {"stw [%r10-4], %r1", "t:1: expected immediate, got '%r1'"},
  };
  for (const auto& [text, expect] : cases) {
    auto r = assemble(text, "t");
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code, Errc::parse);
    EXPECT_TRUE(r.error().message.starts_with(expect)) << text << "\n  got:  " << r.error().message
                                                        << "\n  want: " << expect;
  }
}

TEST(Assembler, LabelTooFarForInt16) {
  std::string text = "ja far\n";
  for (int k = 0; k < 40000; ++k) text += "exit\n";
  text += "far: exit\n";
  auto r = assemble(text, "big.s");
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().message.starts_with("big.s:1: jump offset 40000 out of int16 range"))
      << r.error().message;
  // The same distance is fine for ja32 (offset in imm).
  text[0] = '#';
  text = "ja32 far\n" + text;
  EXPECT_TRUE(assemble(text).has_value());
}

// ---------------------------------------------------------------------------
// (6) The shared bpf_conformance suite.

namespace fs = std::filesystem;

fs::path conformance_dir() { return fs::path(XBPF_SHARED_DIR) / "conformance" / "tests"; }

// Lines of section `name` ("asm", "raw") of a .data file; the asm text keeps the
// file's line numbering by padding with blank lines.
std::string section(const std::string& file, std::string_view name, bool pad) {
  std::istringstream in(file);
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.starts_with("-- ")) {
      inside = std::string_view(line).substr(3) == name;
      if (pad) out += '\n';
      continue;
    }
    if (inside) out += line;
    if (inside || pad) out += '\n';
  }
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(ConformanceSuite, EveryFileAssemblesAndRoundTrips) {
  fs::path dir = conformance_dir();
  if (!fs::is_directory(dir))
    GTEST_SKIP() << "\n\n*** SHARED CONFORMANCE SUITE MISSING: " << dir
                 << " does not exist; the .data files were NOT checked. ***\n";
  int files = 0, with_raw = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".data") continue;
    ++files;
    std::string file = read_file(entry.path());
    std::string name = entry.path().filename().string();
    auto insns = assemble(section(file, "asm", true), name);
    ASSERT_TRUE(insns.has_value()) << insns.error().message;
    ASSERT_FALSE(insns->empty()) << name;

    // Re-assembling the disassembly gives the same bytes.
    std::string text = format_program(*insns, Syntax::Conformance, false);
    auto again = assemble(text, name + " (disassembled)");
    ASSERT_TRUE(again.has_value()) << again.error().message << "\n" << text;
    EXPECT_EQ(encode_u64(*again), encode_u64(*insns)) << name;
    EXPECT_FALSE(format_program(*insns, Syntax::Kernel, true).empty());

    std::string raw = section(file, "raw", false);
    if (raw.empty()) continue;
    ++with_raw;
    std::vector<uint64_t> expect;
    std::istringstream in(raw);
    for (std::string tok; in >> tok;) expect.push_back(std::stoull(tok, nullptr, 16));
    EXPECT_EQ(encode_u64(*insns), expect) << name;
  }
  EXPECT_GT(files, 100) << "suspiciously few .data files in " << dir;
  EXPECT_GE(with_raw, 1) << "lddw.data's -- raw section not found";
  std::printf("[ info     ] %d .data files assembled, %d compared against -- raw\n", files, with_raw);
}

// ---------------------------------------------------------------------------
// Robustness: malformed input never crashes or hangs.

TEST(Assembler, PrefixesAndNoiseNeverCrash) {
  const char* lines[] = {
      "lock fetch xor32 [%r10-8], %r1", "lddw %r1, map_idx_value 2, 8", "jeq %r1, 0xb, exit",
      "ldxdw %r0, [%r10-8]",            "call local func1",             "stw [%r1+0x2], -5",
      "L1: ja32 L1",                    "lddw %r0, 0xFFFFFFFFFFFFFFFF", "call kfunc 1, 2",
  };
  int results = 0;
  for (std::string_view line : lines)
    for (size_t n = 0; n <= line.size(); ++n) {
      (void)assemble(line.substr(0, n));
      (void)assemble(line.substr(n));
      ++results;
    }
  std::mt19937 rng(12345);
  const std::string alphabet = "%r0123456789abcxlddw[]+-,:# \tjalockfetchmov\nexit";
  for (int k = 0; k < 3000; ++k) {
    std::string s;
    for (int n = int(rng() % 40); n > 0; --n) s += alphabet[rng() % alphabet.size()];
    auto r = assemble(s, "noise");
    if (!r) {
      EXPECT_TRUE(r.error().message.starts_with("noise:")) << r.error().message;
    }
    ++results;
  }
  EXPECT_GT(results, 3000);
}

}  // namespace
