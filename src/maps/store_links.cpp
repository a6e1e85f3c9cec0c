// Store: links and device attachments (see store.hpp and the layout in store.cpp).
//
// Why device attachments are hard links: the store already keeps an object
// alive by its link count (pins) or a process's flock (holders). An XDP
// program stays on a netdev after bpftool exits; here the entry
// devs/<device>.xdp plays the netdev's part, with no daemon: it raises the
// link's link count, so the link, the program the link holds (refs/) and the
// program's maps live until the device is detached. A hook reads the entry
// without locking: attach creates it with link() (EEXIST: the device is
// taken) or replaces it with rename(), both atomic.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <dirent.h>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"
#include "maps/store_impl.hpp"

namespace xbpf::maps {

using detail::ObjectFile;

namespace {

constexpr const char* kXdpSuffix = ".xdp";

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

// The kernel's dev_valid_name: what `ip link` would accept as a name.
Expected<void> check_device_name(const std::string& d) {
  bool ok = !d.empty() && d.size() < 16 && d != "." && d != "..";
  for (char c : d) ok = ok && c != '/' && c != ':' && static_cast<unsigned char>(c) > ' ' && c != 0x7f;
  if (!ok) return fail_errno(EINVAL, "device '{}': bad name (1..15 characters, no '/', ':' or white space)", d);
  return {};
}

// The link an object file (a device entry) is, from its header; 0 if it is
// not a valid link file.
uint32_t link_id_of(int fd) {
  detail::ObjHeader h;
  const auto n = pread(fd, &h, offsetof(detail::ObjHeader, frozen), 0);
  if (n != static_cast<ssize_t>(offsetof(detail::ObjHeader, frozen)) || h.magic != detail::kObjMagic ||
      h.checksum != detail::header_checksum(h) || h.kind != static_cast<uint32_t>(ObjectKind::Link))
    return 0;
  return h.id;
}

// The detached flag: the header's `frozen` word (outside the checksum, set
// once and never cleared, as a map's frozen flag).
void mark_detached(const ObjectFile& f) {
  const uint32_t one = 1;
  (void)!pwrite(f.fd(), &one, sizeof one, offsetof(detail::ObjHeader, frozen));
}

bool is_detached(int fd) {
  uint32_t v = 0;
  return pread(fd, &v, sizeof v, offsetof(detail::ObjHeader, frozen)) == sizeof v && v != 0;
}

// flock(LOCK_EX) on the devs/ directory: attach and detach are
// read-check-modify sequences (which link does the device run?) that must
// not interleave between processes.
class DevLock {
 public:
  explicit DevLock(const std::string& dir) : fd_(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ >= 0)
      while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~DevLock() {
    if (fd_ >= 0) close(fd_);  // closing drops the lock
  }
  DevLock(const DevLock&) = delete;
  DevLock& operator=(const DevLock&) = delete;
  [[nodiscard]] bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

std::string Store::device_path(const std::string& device) const { return dir_ + "/devs/" + device + kXdpSuffix; }

Expected<uint32_t> Store::add_link(LinkRecord rec) {
  if (auto r = check_device_name(rec.target); !r) return Unexpected(r.error());
  if (!has_program(rec.prog_id)) return fail_errno(ENOENT, "prog {}: no such program in store {}", rec.prog_id, dir_);
  auto id = next_id(ObjectKind::Link);
  if (!id) return id;
  rec.id = *id;
  if (!rec.create_time_ns) rec.create_time_ns = now_ns();
  if (!rec.owner_pid) rec.owner_pid = self_pid();
  if (!rec.owner_uid) rec.owner_uid = geteuid();
  const std::vector<uint8_t> body = detail::serialize_link(rec);
  auto file = ObjectFile::create(tmp_path(*id), detail::kHeaderSize + body.size());
  if (!file) return Unexpected(with_context(file.error(), fmt::format("link to '{}'", rec.target)));
  if (auto r = file->map(0, 0); !r) return Unexpected(r.error());
  MapAttr tag;
  tag.name = rec.target.substr(0, 15);
  detail::fill_header(*file->header(), ObjectKind::Link, *id, tag, body.size());
  std::memcpy(file->storage(), body.data(), body.size());
  if (auto r = file->publish(object_path(ObjectKind::Link, *id)); !r) return Unexpected(r.error());
  // The link holds its program; if the program went meanwhile, `file` takes
  // the half-made link with it.
  if (auto r = add_ref("l" + std::to_string(*id), ObjectKind::Program, rec.prog_id, "0"); !r)
    return Unexpected(with_context(r.error(), fmt::format("link to '{}'", rec.target)));
  std::lock_guard lk(mu_);
  pending_[object_path(ObjectKind::Link, *id)] = std::make_shared<Hold>(std::move(*file));
  return *id;
}

Expected<LinkRecord> Store::link(uint32_t id) {
  auto file = ObjectFile::open(object_path(ObjectKind::Link, id));
  if (!file) return fail_errno(ENOENT, "link {}: no such link in store {}", id, dir_);
  auto h = detail::read_header(*file, ObjectKind::Link, id);
  if (!h) return Unexpected(h.error());
  if (h->storage_size > detail::kPage) return fail_errno(EINVAL, "{}: corrupt link record", file->path());
  std::vector<uint8_t> body(h->storage_size);
  if (pread(file->fd(), body.data(), body.size(), detail::kHeaderSize) != static_cast<ssize_t>(body.size()))
    return fail_errno(EIO, "{}: cannot read link record", file->path());
  auto rec = detail::parse_link(body.data(), body.size(), file->path());
  if (!rec) return rec;
  rec->id = id;
  rec->detached = is_detached(file->fd());
  return rec;
}

Expected<uint32_t> Store::attach_xdp(uint32_t prog_id, const std::string& device, bool replace) {
  if (auto r = check_device_name(device); !r) return Unexpected(r.error());
  auto prog = program(prog_id);
  if (!prog) return Unexpected(prog.error());
  // The kernel's dev_xdp_attach refuses other program types with EINVAL too.
  if (prog->prog_type != kProgTypeXdp)
    return fail_errno(EINVAL, "prog {} ('{}'): not an XDP program; only XDP programs attach to a device", prog_id,
                      prog->name);
  LinkRecord rec;
  rec.prog_id = prog_id;
  rec.target = device;
  auto id = add_link(rec);
  if (!id) return id;
  const std::string link_file = object_path(ObjectKind::Link, *id);
  // This process lets go of the new link on every way out: attached, the
  // device holds it; not attached, it goes (and releases the program).
  struct Release {
    Store& s;
    const std::string& path;
    ~Release() {
      std::shared_ptr<Hold> h;
      std::lock_guard lk(s.mu_);
      if (auto it = s.pending_.find(path); it != s.pending_.end()) {
        h = std::move(it->second);
        s.pending_.erase(it);
      }
    }
  } release{*this, link_file};
  const std::string entry = device_path(device);
  ObjectFile old;  // the link replaced, held until it is marked detached
  {
    DevLock lock(dir_ + "/devs");
    if (!lock.ok()) return fail_errno(errno, "store {}: cannot lock devs/: {}", dir_, std::strerror(errno));
    if (!replace) {
      if (::link(link_file.c_str(), entry.c_str()) != 0) {
        const int e = errno;
        if (e != EEXIST) return fail_errno(e, "device '{}': {}", device, std::strerror(e));
        auto cur = device_link(device);
        return fail_errno(EEXIST, "device '{}' already runs link {}", device, cur ? *cur : 0);
      }
    } else {
      if (auto cur = device_link(device)) {
        if (auto f = ObjectFile::open(object_path(ObjectKind::Link, *cur))) old = std::move(*f);
      }
      const std::string tmp = fmt::format("{}/tmp/{}-dev-{}", dir_, self_pid(), *id);
      if (::link(link_file.c_str(), tmp.c_str()) != 0 || rename(tmp.c_str(), entry.c_str()) != 0) {
        const int e = errno;
        unlink(tmp.c_str());
        return fail_errno(e, "device '{}': {}", device, std::strerror(e));
      }
    }
    bump_generation();
  }
  if (old.fd() >= 0) mark_detached(old);
  return *id;
}

Expected<uint32_t> Store::device_link(const std::string& device) {
  if (auto r = check_device_name(device); !r) return Unexpected(r.error());
  const int fd = ::open(device_path(device).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(ENOENT, "device '{}': no XDP program attached", device);
  const uint32_t id = link_id_of(fd);
  close(fd);
  if (id == 0) return fail_errno(EINVAL, "{}: not a valid link", device_path(device));
  return id;
}

Expected<uint32_t> Store::detach_device(const std::string& device) {
  if (auto r = check_device_name(device); !r) return Unexpected(r.error());
  ObjectFile held;  // dropped after the lock: the last holder reclaims the link
  uint32_t id = 0;
  {
    DevLock lock(dir_ + "/devs");
    if (!lock.ok()) return fail_errno(errno, "store {}: cannot lock devs/: {}", dir_, std::strerror(errno));
    auto cur = device_link(device);
    if (!cur) return Unexpected(cur.error());
    id = *cur;
    // Held through its own path (not the entry's) so that dropping it
    // reclaims the link file when nothing else names it.
    if (auto f = ObjectFile::open(object_path(ObjectKind::Link, id))) held = std::move(*f);
    if (unlink(device_path(device).c_str()) != 0)
      return fail_errno(errno, "device '{}': {}", device, std::strerror(errno));
    bump_generation();
  }
  if (held.fd() >= 0) mark_detached(held);
  return id;
}

Expected<void> Store::detach_link(uint32_t id) {
  auto rec = link(id);
  if (!rec) return Unexpected(rec.error());
  auto file = ObjectFile::open(object_path(ObjectKind::Link, id));
  if (!file) return fail_errno(ENOENT, "link {}: no such link in store {}", id, dir_);
  {
    DevLock lock(dir_ + "/devs");
    if (!lock.ok()) return fail_errno(errno, "store {}: cannot lock devs/: {}", dir_, std::strerror(errno));
    // The device may run another link by now (replaced): leave that one.
    if (auto cur = device_link(rec->target); cur && *cur == id) {
      if (unlink(device_path(rec->target).c_str()) != 0)
        return fail_errno(errno, "device '{}': {}", rec->target, std::strerror(errno));
      bump_generation();
    }
  }
  mark_detached(*file);
  return {};
}

Expected<std::vector<std::pair<std::string, uint32_t>>> Store::devices() {
  const std::string d = dir_ + "/devs";
  DIR* dp = opendir(d.c_str());
  if (!dp) return fail_errno(errno, "store: {}: {}", d, std::strerror(errno));
  std::vector<std::pair<std::string, uint32_t>> out;
  const size_t sl = std::strlen(kXdpSuffix);
  while (dirent* e = readdir(dp)) {
    const std::string n = e->d_name;
    if (n.size() <= sl || !n.ends_with(kXdpSuffix)) continue;
    if (auto id = device_link(n.substr(0, n.size() - sl))) out.emplace_back(n.substr(0, n.size() - sl), *id);
  }
  closedir(dp);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace xbpf::maps
