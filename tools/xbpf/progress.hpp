// A one-line progress report on stderr for long operations (a pcap of a
// million packets, an object of many programs). Shown only when stderr is a
// terminal; piped or redirected output gets nothing, so scripts and logs stay
// clean. Redraws at most every 100 ms; the line is erased when done.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace xbpf::cli {

class Progress {
 public:
  Progress() : enabled_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() { done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  [[nodiscard]] bool enabled() const { return enabled_; }

  // Replaces the line with `text` (rate-limited unless `force`).
  void show(const std::string& text, bool force = false) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && shown_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
  }
  // Erases the line (before the command prints its result).
  void done() {
    if (!enabled_ || !shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace xbpf::cli
