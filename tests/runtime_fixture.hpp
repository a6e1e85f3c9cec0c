// What tests that run programs through the runtime share: the three ways
// xbpf executes a program (Exec), and a throw-away store in /dev/shm.
//
// Every program-running suite is parametrised over Exec, so each case runs on
// the checked interpreter, the verified interpreter and the JIT.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <vector>
#include <memory>
#include <ostream>
#include <string>

#include "isa/asm.hpp"
#include "loader/loader.hpp"
#include "maps/store.hpp"
#include "runtime/object.hpp"

namespace xbpf::testing_support {

enum class Exec { Checked, Interpreter, Jit };

// Load options running programs the `e` way (everything else default).
inline runtime::LoadOptions load_options(Exec e) {
  runtime::LoadOptions lo;
  lo.mode = e == Exec::Checked ? vm::Mode::Checked : vm::Mode::Verified;
  lo.engine = e == Exec::Jit ? runtime::Engine::Jit : runtime::Engine::Interpreter;
  return lo;
}

inline const char* exec_name(Exec e) {
  switch (e) {
    case Exec::Checked: return "Checked";
    case Exec::Interpreter: return "Interpreter";
    case Exec::Jit: return "Jit";
  }
  return "?";
}

// Readable parameter values in test output.
inline void PrintTo(Exec e, std::ostream* os) { *os << exec_name(e); }

// An object of one program, "prog" in `section`, from assembly text whose
// `lddw rN, map_idx K` (src 5) name maps[K], as the loader's relocations would.
inline Expected<loader::ObjectSpec> one_program_object(const std::string& name, const std::string& section,
                                                       kabi::ProgType type, const std::string& text,
                                                       std::vector<loader::MapSpec> maps) {
  auto insns = isa::assemble(text, name);
  if (!insns) return xbpf::unexpected(insns.error());
  loader::ObjectSpec o;
  o.path = o.name = name;
  o.maps = std::move(maps);
  loader::ProgramSpec p;
  p.name = "prog";
  p.section = section;
  p.type = type;
  p.license = "GPL";
  p.insns = isa::encode_program(*insns);
  for (uint32_t i = 0; i < p.insns.size(); ++i) {
    if (p.insns[i].code == 0x18 && p.insns[i].src == 5) {
      loader::InsnReloc r;
      r.insn = i;
      r.map = uint32_t(p.insns[i].imm);
      p.relocations.push_back(r);
    }
  }
  o.programs.push_back(std::move(p));
  return o;
}

inline auto all_execs() { return ::testing::Values(Exec::Checked, Exec::Interpreter, Exec::Jit); }
// The verified engines only (programs whose checked run differs by design).
inline auto verified_execs() { return ::testing::Values(Exec::Interpreter, Exec::Jit); }
struct ExecParamName {
  std::string operator()(const ::testing::TestParamInfo<Exec>& i) const { return exec_name(i.param); }
};

// Every (key, value) pair of a map, in key order (values as user space reads
// them: all CPUs' copies for per-CPU maps), for comparing two maps' contents.
inline std::map<std::vector<uint8_t>, std::vector<uint8_t>> map_contents(maps::Map& m) {
  std::map<std::vector<uint8_t>, std::vector<uint8_t>> out;
  std::vector<uint8_t> key(m.key_size()), next(m.key_size()), val(m.user_value_size());
  const void* prev = nullptr;
  while (m.get_next_key(prev, next.data())) {
    if (m.lookup(next.data(), val.data(), 0)) out[next] = val;
    key = next;
    prev = key.data();
  }
  return out;
}

// An Ethernet + IPv4 packet: 10.0.0.1 -> 192.168.7.2, TCP (proto 6, a
// 20-byte header) or else an 8-byte header (UDP), source port 12345,
// destination port `dport`, `payload` bytes of a pattern after it; `ihl`
// words of IP header (options zero). The IP and UDP checksums are arbitrary.
inline std::vector<uint8_t> eth_ip(uint8_t proto, uint16_t dport, size_t payload, uint8_t ihl = 5) {
  const size_t l4 = proto == 6 ? 20 : 8;
  std::vector<uint8_t> p(14 + ihl * 4 + l4 + payload, 0);
  const uint8_t mac[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(p.data(), mac, 12);
  p[12] = 0x08;
  p[14] = uint8_t(0x40 | ihl);
  p[16] = uint8_t((p.size() - 14) >> 8);
  p[17] = uint8_t(p.size() - 14);
  p[22] = 64;
  p[23] = proto;
  p[24] = 0xb1;
  p[25] = 0x7c;
  const uint8_t addrs[8] = {10, 0, 0, 1, 192, 168, 7, 2};
  std::memcpy(&p[26], addrs, 8);
  const size_t l4o = 14 + ihl * 4;
  p[l4o] = 0x30;
  p[l4o + 1] = 0x39;
  p[l4o + 2] = uint8_t(dport >> 8);
  p[l4o + 3] = uint8_t(dport);
  if (proto == 17) {
    p[l4o + 6] = 0x12;
    p[l4o + 7] = 0x34;
  }
  for (size_t i = l4o + l4; i < p.size(); ++i) p[i] = uint8_t(i * 7);
  return p;
}

// An empty store under /dev/shm, removed with everything in it on destruction.
class TempStore {
 public:
  explicit TempStore(const char* tag = "test") {
    std::string tmpl = std::string("/dev/shm/xbpf-") + tag + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
      return;
    }
    dir_ = tmpl;
    auto s = maps::Store::open(dir_);
    if (!s) {
      ADD_FAILURE() << s.error().message;
      return;
    }
    store_ = *s;
  }
  ~TempStore() {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const std::shared_ptr<maps::Store>& store() const { return store_; }

  // Opens and loads the object file at `path`; nullptr (with a test failure) on error.
  std::unique_ptr<runtime::Object> load(const std::string& path, const runtime::LoadOptions& lo) const {
    auto spec = loader::open_object(path);
    EXPECT_TRUE(spec) << spec.error().message;
    if (!spec || !store_) return nullptr;
    auto o = runtime::Object::load(std::move(*spec), store_, lo);
    EXPECT_TRUE(o) << o.error().message;
    return o ? std::move(*o) : nullptr;
  }

 private:
  std::string dir_;
  std::shared_ptr<maps::Store> store_;
};

}  // namespace xbpf::testing_support
