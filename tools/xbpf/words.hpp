// bpftool-style argument words ("id 3 key 1 2 3 4 value hex 00 ff"), shared
// by the command families that take them.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.hpp"

namespace xbpf::cli {

// The words after the verb, consumed left to right.
class Words {
 public:
  explicit Words(const std::vector<std::string>& w) : w_(w) {}
  [[nodiscard]] bool empty() const { return i_ >= w_.size(); }
  [[nodiscard]] const std::string& peek() const { return w_[i_]; }
  std::string next() { return w_[i_++]; }
  bool accept(std::string_view word) {
    if (empty() || peek() != word) return false;
    ++i_;
    return true;
  }
  [[nodiscard]] Expected<std::string> expect(std::string_view what) {
    if (empty()) return fail(Errc::invalid_argument, "{} expected", what);
    return next();
  }
  [[nodiscard]] Expected<void> done() const {
    if (!empty()) return fail(Errc::invalid_argument, "unexpected argument '{}'", w_[i_]);
    return {};
  }
  // Remaining words up to (not including) the first keyword in `stop`.
  std::vector<std::string> until(std::initializer_list<std::string_view> stop) {
    std::vector<std::string> out;
    while (!empty()) {
      bool is_stop = false;
      for (auto s : stop) is_stop |= peek() == s;
      if (is_stop) break;
      out.push_back(next());
    }
    return out;
  }

 private:
  const std::vector<std::string>& w_;
  size_t i_ = 0;
};

// A non-negative number in C notation (decimal, 0x.., 0..).
[[nodiscard]] inline Expected<uint64_t> parse_number(const std::string& s, std::string_view what) {
  if (s.empty()) return fail(Errc::invalid_argument, "{} expected", what);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno || *end || s[0] == '-') return fail(Errc::invalid_argument, "can't parse {} '{}'", what, s);
  return v;
}

}  // namespace xbpf::cli
