// The bpf_trace_printk log: one file (<store>/trace_pipe.log) that every
// process running programs of a store appends to, one line per call, in the
// kernel's trace_pipe format:
//   "<comm>-<tid> [<cpu>] <sec>.<usec>: bpf_trace_printk: <message>"
// Appends use O_APPEND with one write(2) per line, so lines from concurrent
// writers never interleave. Readers poll from an offset (a CLI "tracelog -f").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.hpp"

namespace xbpf::helpers {

class TraceLog {
 public:
  // Opens (creating) the log at `path`. Errors: Errc::io with the errno.
  [[nodiscard]] static Expected<TraceLog> open(const std::string& path);
  // The log of a store directory.
  [[nodiscard]] static std::string path_in(const std::string& store_dir) { return store_dir + "/trace_pipe.log"; }

  TraceLog(TraceLog&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  TraceLog& operator=(TraceLog&& o) noexcept;
  ~TraceLog();

  // Appends one message as a trace line (a trailing newline is not doubled).
  void write(std::string_view message) const;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  TraceLog(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Complete lines of a trace log from byte `offset` on; `offset` advances past
// them (a partial last line is left for the next call). Errors: Errc::io.
[[nodiscard]] Expected<std::vector<std::string>> read_trace(const std::string& path, uint64_t& offset);

}  // namespace xbpf::helpers
