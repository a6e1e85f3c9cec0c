// The one error model of xbpf: every fallible operation returns Expected<T>.
// An Error carries a category code and a message that already names the object
// (file, line, instruction index) the problem is about.
#pragma once

#include <string>
#include <utility>

#include <fmt/format.h>

#include "support/expected.hpp"

namespace xbpf {

enum class Errc {
  invalid_argument,  // bad input from the user (CLI, API arguments)
  parse,             // malformed text (assembly, .data files, hex)
  invalid_program,   // bytecode that does not decode or validate
  io,                // file system errors
  runtime,           // a checked program stopped (bad access, budget exhausted)
  unsupported,       // valid input that xbpf does not implement
  os,                // a bpf(2)-style failure: Error::errnum holds the kernel's errno
};

struct Error {
  Errc code;
  std::string message;
  int errnum = 0;  // the errno the kernel would return (ENOENT, EEXIST, E2BIG, ...); 0 = none
};

template <class T>
using Expected = BasicExpected<T, Error>;

// Builds an unexpected Error with a fmt-formatted message.
template <class... Args>
[[nodiscard]] Unexpected<Error> fail(Errc code, fmt::format_string<Args...> f, Args&&... args) {
  return Unexpected<Error>(Error{code, fmt::format(f, std::forward<Args>(args)...)});
}

// The kernel's internal ENOTSUPP (not in userspace errno.h), which bpf(2)
// and helpers return for operations a map type or packet does not support.
inline constexpr int kENOTSUPP = 524;

// Builds an Errc::os error carrying the kernel's errno for the same failure.
template <class... Args>
[[nodiscard]] Unexpected<Error> fail_errno(int errnum, fmt::format_string<Args...> f, Args&&... args) {
  return Unexpected<Error>(Error{Errc::os, fmt::format(f, std::forward<Args>(args)...), errnum});
}

// Prefixes the message of an error with context ("file.o: ").
[[nodiscard]] inline Error with_context(Error e, std::string_view ctx) {
  e.message = fmt::format("{}: {}", ctx, e.message);
  return e;
}

}  // namespace xbpf
