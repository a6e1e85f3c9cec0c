#include "helpers/trace_log.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace xbpf::helpers {

Expected<TraceLog> TraceLog::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::io, "{}: cannot open trace log: {}", path, std::strerror(errno));
  return TraceLog(fd, path);
}

TraceLog& TraceLog::operator=(TraceLog&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

TraceLog::~TraceLog() {
  if (fd_ >= 0) ::close(fd_);
}

void TraceLog::write(std::string_view message) const {
  if (fd_ < 0) return;
  char comm[17] = {};
  prctl(PR_GET_NAME, comm);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  const std::string line = fmt::format("{:>16}-{:<7} [{:03}] {}.{:06}: bpf_trace_printk: {}\n", comm, gettid(),
                                       sched_getcpu(), ts.tv_sec, ts.tv_nsec / 1000, message);
  // One write per line: O_APPEND keeps concurrent lines whole.
  [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
}

Expected<std::vector<std::string>> read_trace(const std::string& path, uint64_t& offset) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return fail(Errc::io, "{}: cannot open trace log: {}", path, std::strerror(errno));
  }
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof buf, off_t(offset + data.size()))) > 0) data.append(buf, size_t(n));
  ::close(fd);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = data.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.emplace_back(data.substr(start, nl - start));
  offset += start;
  return lines;
}

}  // namespace xbpf::helpers
