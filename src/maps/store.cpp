// The object store: directory layout, ids, map creation/opening, reclamation.
//
//   <dir>/meta        id counters (mmapped, atomically incremented; ids never reused)
//   <dir>/maps/<id>   one file per map: ObjHeader page + storage
//   <dir>/progs/<id>  one file per program record: ObjHeader page + serialized record
//   <dir>/btf/<id>    one file per BTF object: ObjHeader page + raw BTF
//   <dir>/links/<id>  one file per link: ObjHeader page + serialized LinkRecord;
//                     the header's `frozen` word is the link's detached flag
//   <dir>/devs/<device>.xdp  hard link to the file of the link <device> runs
//                     (keeps it alive, like a pin); attach and detach take
//                     flock(LOCK_EX) on the devs/ directory, readers none
//                     (entries are replaced with rename(), atomically)
//   <dir>/pins/<name> hard links to object files (nlink > 1 = pinned)
//   <dir>/tmp/<pid>-<id>  objects being created (renamed into place when complete)
//   <dir>/refs/<holder>.<target>.<slot>  hard links to <target>'s file, which
//                     keep it alive while <holder> lives: a map-in-map its inner
//                     maps, a prog array its programs, a program its maps and
//                     BTF, a map its BTF, a link its program. Names: map
//                     "<id>", program "p<id>", BTF "b<id>", link "l<id>".
//
// Every holder keeps flock(LOCK_SH) on its own fd; whoever drops the last one
// (or a sweep finding none left) removes the unpinned file.
#include "maps/store.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"
#include "maps/store_impl.hpp"

namespace xbpf::maps {

using detail::ObjectFile;

namespace {

constexpr uint64_t kMetaMagic = 0x3141544d46504258ULL;  // "XBPFMTA1"

struct Meta {
  uint64_t magic;
  std::atomic<uint32_t> next_map_id;
  std::atomic<uint32_t> next_prog_id;
  std::atomic<uint32_t> next_btf_id;  // 0 in stores made before BTF objects: taken as 1
  // Since links (the meta file was always a zero-filled page, so older stores
  // read 0 here: the id counter is taken as 1, the generation starts at 0).
  std::atomic<uint32_t> next_link_id;
  std::atomic<uint64_t> attach_generation;  // bumped on every device attach/detach
};
static_assert(sizeof(Meta) <= detail::kPage && offsetof(Meta, attach_generation) % 8 == 0);
static_assert(std::atomic<uint64_t>::is_always_lock_free);  // shared between processes

const char* kind_dir(ObjectKind k) {
  switch (k) {
    case ObjectKind::Map: return "maps";
    case ObjectKind::Program: return "progs";
    case ObjectKind::Btf: return "btf";
    case ObjectKind::Link: return "links";
  }
  return "?";
}

// The name of an object in refs/ link names.
std::string ref_name(ObjectKind k, uint32_t id) {
  return (k == ObjectKind::Program ? "p" : k == ObjectKind::Btf ? "b" : k == ObjectKind::Link ? "l" : "") +
         std::to_string(id);
}

Expected<void> make_dir(const std::string& p) {
  if (mkdir(p.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail_errno(errno, "store: cannot create {}: {}", p, std::strerror(errno));
  }
  return {};
}

// Creates <dir>/meta atomically: written under tmp/, then hard-linked into place.
Expected<void> create_meta(const std::string& dir) {
  const std::string meta = dir + "/meta";
  if (access(meta.c_str(), F_OK) == 0) return {};
  const std::string tmp = dir + "/tmp/meta-" + std::to_string(self_pid());
  const int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno(errno, "store: cannot create {}: {}", tmp, std::strerror(errno));
  uint8_t page[detail::kPage] = {};
  const uint64_t magic = kMetaMagic;
  const uint32_t one = 1;
  std::memcpy(page, &magic, 8);
  std::memcpy(page + 8, &one, 4);
  std::memcpy(page + 12, &one, 4);
  std::memcpy(page + 16, &one, 4);
  const bool ok = write(fd, page, sizeof page) == static_cast<ssize_t>(sizeof page);
  close(fd);
  const int rc = ok ? link(tmp.c_str(), meta.c_str()) : -1;
  const int e = errno;
  unlink(tmp.c_str());
  if (!ok || (rc != 0 && e != EEXIST)) return fail_errno(e, "store: cannot create {}: {}", meta, std::strerror(e));
  return {};
}

bool parse_id(const char* s, uint32_t* id) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (errno || end == s || *end || v == 0 || v > UINT32_MAX) return false;
  *id = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

std::string Store::default_dir() {
  if (const char* env = std::getenv("XBPF_STORE"); env && *env) return env;
  return "/dev/shm/xbpf-" + std::to_string(geteuid());
}

Expected<std::shared_ptr<Store>> Store::open(const std::string& dir) {
  struct stat st{};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail_errno(errno, "store {}: {}", dir, std::strerror(errno));
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return fail_errno(errno, "store {}: cannot create: {}", dir, std::strerror(errno));
    }
    if (stat(dir.c_str(), &st) != 0) return fail_errno(errno, "store {}: {}", dir, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return fail_errno(ENOTDIR, "store {}: not a directory", dir);
  if (st.st_uid != geteuid()) {
    return fail_errno(EACCES, "store {}: owned by uid {}, not by this user (uid {}); refusing to use it", dir,
                      st.st_uid, geteuid());
  }
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0) {
    return fail_errno(EACCES, "store {}: not accessible: {}", dir, std::strerror(errno));
  }
  std::shared_ptr<Store> s(new Store(dir));
  if (auto r = s->init(); !r) return Unexpected(r.error());
  return s;
}

Expected<void> Store::init() {
  for (const char* sub : {"maps", "progs", "btf", "links", "devs", "pins", "tmp", "refs"}) {
    if (auto r = make_dir(dir_ + "/" + sub); !r) return r;
  }
  if (auto r = create_meta(dir_); !r) return r;
  const std::string path = dir_ + "/meta";
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "store: {}: {}", path, std::strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Meta))) {
    close(fd);
    return fail_errno(EINVAL, "store: {} is truncated", path);
  }
  void* p = mmap(nullptr, sizeof(Meta), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return fail_errno(ENOMEM, "store: cannot map {}", path);
  meta_ = p;
  if (static_cast<Meta*>(p)->magic != kMetaMagic) return fail_errno(EINVAL, "store: {} has a bad magic", path);
  sweep();  // objects orphaned by killed processes go as soon as anyone looks
  return {};
}

Store::~Store() {
  pending_.clear();
  if (meta_) munmap(meta_, sizeof(Meta));
}

Expected<uint32_t> Store::next_id(ObjectKind kind) {
  auto* m = static_cast<Meta*>(meta_);
  auto& ctr = kind == ObjectKind::Map       ? m->next_map_id
              : kind == ObjectKind::Program ? m->next_prog_id
              : kind == ObjectKind::Btf     ? m->next_btf_id
                                            : m->next_link_id;
  uint32_t id = ctr.fetch_add(1, std::memory_order_relaxed);
  if (id == 0) id = ctr.fetch_add(1, std::memory_order_relaxed);  // a counter older stores left at 0
  if (id == 0 || id >= (1U << 31)) return fail_errno(ENOSPC, "store {}: ids exhausted", dir_);
  return id;
}

const std::atomic<uint64_t>& Store::attach_generation() const { return static_cast<const Meta*>(meta_)->attach_generation; }

// Release: whoever acquires the new value sees the device entry as changed.
void Store::bump_generation() { static_cast<Meta*>(meta_)->attach_generation.fetch_add(1, std::memory_order_acq_rel); }

std::string Store::object_path(ObjectKind kind, uint32_t id) const {
  return dir_ + "/" + kind_dir(kind) + "/" + std::to_string(id);
}

std::string Store::tmp_path(uint32_t id) const {
  return dir_ + "/tmp/" + std::to_string(self_pid()) + "-" + std::to_string(id);
}

Expected<std::shared_ptr<Map>> Store::create_map(const MapAttr& attr) {
  if (auto r = detail::validate_attr(attr); !r) return Unexpected(r.error());
  const detail::MapOps* ops = detail::find_ops(attr.type);
  auto id = next_id(ObjectKind::Map);
  if (!id) return Unexpected(id.error());
  const uint64_t storage = ops->storage_size(attr);
  auto file = ObjectFile::create(tmp_path(*id), detail::kHeaderSize + storage);
  if (!file) return Unexpected(with_context(file.error(), fmt::format("map '{}'", attr.name)));
  uint64_t dup_off = 0, dup_len = 0;
  if (ops->dup_region) ops->dup_region(attr, &dup_off, &dup_len);
  if (auto r = file->map(dup_off, dup_len); !r) return Unexpected(r.error());
  detail::fill_header(*file->header(), ObjectKind::Map, *id, attr, storage);
  if (ops->prepare) {
    if (auto r = ops->prepare(*this, file->storage(), attr); !r) return Unexpected(r.error());
  }
  if (auto r = file->publish(object_path(ObjectKind::Map, *id)); !r) return Unexpected(r.error());
  // The map holds its BTF (if that is gone, the map is reclaimed with `file`).
  if (attr.btf_id != 0) {
    if (auto r = add_ref(ref_name(ObjectKind::Map, *id), ObjectKind::Btf, attr.btf_id, "0"); !r)
      return Unexpected(with_context(r.error(), fmt::format("map '{}'", attr.name)));
  }
  std::shared_ptr<Map> m = ops->make(detail::MapContext{*id, attr, std::move(*file), weak_from_this()});
  std::lock_guard lk(mu_);
  cache_[*id] = m;
  return m;
}

Expected<std::shared_ptr<Map>> Store::open_map(uint32_t id) {
  const std::string path = object_path(ObjectKind::Map, id);
  auto file = ObjectFile::open(path);
  if (!file) return fail_errno(ENOENT, "map {}: no such map in store {}", id, dir_);
  auto attr = detail::read_map_header(*file, id);
  if (!attr) return Unexpected(attr.error());
  const detail::MapOps* ops = detail::find_ops(attr->type);
  uint64_t dup_off = 0, dup_len = 0;
  if (ops->dup_region) ops->dup_region(*attr, &dup_off, &dup_len);
  if (auto r = file->map(dup_off, dup_len); !r) return Unexpected(r.error());
  return std::shared_ptr<Map>(ops->make(detail::MapContext{id, std::move(*attr), std::move(*file), weak_from_this()}));
}

Expected<std::shared_ptr<Map>> Store::cached_map(uint32_t id) {
  {
    std::lock_guard lk(mu_);
    if (auto it = cache_.find(id); it != cache_.end()) {
      if (auto m = it->second.lock()) return m;
    }
  }
  auto m = open_map(id);
  if (!m) return m;
  std::lock_guard lk(mu_);
  cache_[id] = *m;
  return m;
}

Expected<std::vector<uint32_t>> Store::list(ObjectKind kind) {
  sweep();
  const std::string d = dir_ + "/" + kind_dir(kind);
  DIR* dp = opendir(d.c_str());
  if (!dp) return fail_errno(errno, "store: {}: {}", d, std::strerror(errno));
  std::vector<uint32_t> ids;
  while (dirent* e = readdir(dp)) {
    uint32_t id;
    if (parse_id(e->d_name, &id)) ids.push_back(id);
  }
  closedir(dp);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Expected<std::vector<uint32_t>> Store::map_ids() { return list(ObjectKind::Map); }
Expected<std::vector<uint32_t>> Store::program_ids() { return list(ObjectKind::Program); }
Expected<std::vector<uint32_t>> Store::btf_ids() { return list(ObjectKind::Btf); }
Expected<std::vector<uint32_t>> Store::link_ids() { return list(ObjectKind::Link); }

Expected<void> Store::add_ref(const std::string& holder, ObjectKind kind, uint32_t target, const std::string& slot) {
  const std::string link_name = fmt::format("{}/refs/{}.{}.{}", dir_, holder, ref_name(kind, target), slot);
  if (::link(object_path(kind, target).c_str(), link_name.c_str()) != 0 && errno != EEXIST) {
    const int e = errno;
    if (e == ENOENT) {
      return fail_errno(ENOENT, "{} {} no longer exists in store {}", detail::kind_name(kind), target, dir_);
    }
    return fail_errno(e, "store: cannot link {}: {}", link_name, std::strerror(e));
  }
  return {};
}

// The kernel clears a prog array when its last user reference (fd or pin)
// goes (bpf_fd_array_map_clear on usercnt == 0); references from programs do
// not count. That breaks the cycle of a program that tail-calls through the
// array that holds it. Here: a prog array no process holds (no LOCK_SH) and
// no pin names (every link but its own file is a refs/ link) is emptied
// through the map's own delete, which drops its program references.
void Store::clear_unreferenced_prog_arrays() {
  std::unordered_map<uint32_t, uint32_t> refs_to;  // map id -> refs/ links to it
  if (DIR* dp = opendir((dir_ + "/refs").c_str())) {
    while (dirent* e = readdir(dp)) {
      const std::string n = e->d_name;
      const size_t a = n.find('.'), b = a == std::string::npos ? a : n.find('.', a + 1);
      uint32_t id;
      if (b != std::string::npos && parse_id(n.substr(a + 1, b - a - 1).c_str(), &id)) ++refs_to[id];
    }
    closedir(dp);
  }
  std::vector<uint32_t> orphans;
  const std::string d = dir_ + "/maps";
  DIR* dp = opendir(d.c_str());
  if (!dp) return;
  while (dirent* e = readdir(dp)) {
    uint32_t id;
    if (!parse_id(e->d_name, &id)) continue;
    const int fd = ::open((d + "/" + e->d_name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    detail::ObjHeader h;
    struct stat st{};
    if (pread(fd, &h, offsetof(detail::ObjHeader, frozen), 0) == static_cast<ssize_t>(offsetof(detail::ObjHeader, frozen)) &&
        h.magic == detail::kObjMagic && h.type == static_cast<uint32_t>(MapType::ProgArray) &&
        flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 && refs_to[id] > 0 && st.st_nlink == 1 + refs_to[id])
      orphans.push_back(id);
    close(fd);
  }
  closedir(dp);
  for (uint32_t id : orphans) {
    auto m = open_map(id);
    if (!m) continue;
    for (uint32_t slot = 0; slot < (*m)->max_entries(); ++slot) (void)(*m)->remove(&slot);
  }
}

void Store::sweep() {
  clear_unreferenced_prog_arrays();
  // Holders before what they hold: links, programs, maps, BTF.
  for (ObjectKind k : {ObjectKind::Link, ObjectKind::Program, ObjectKind::Map, ObjectKind::Btf}) {
    const std::string d = dir_ + "/" + kind_dir(k);
    DIR* dp = opendir(d.c_str());
    if (!dp) continue;
    while (dirent* e = readdir(dp)) {
      uint32_t id;
      if (parse_id(e->d_name, &id)) detail::try_reclaim(d + "/" + e->d_name);
    }
    closedir(dp);
  }
  // Half-created objects of processes that died before publishing them.
  const std::string t = dir_ + "/tmp";
  DIR* dp = opendir(t.c_str());
  if (!dp) return;
  while (dirent* e = readdir(dp)) {
    uint32_t pid;
    const std::string n = e->d_name;
    const size_t dash = n.find('-');
    if (dash == std::string::npos || !parse_id(n.substr(0, dash).c_str(), &pid)) continue;
    if (kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) unlink((t + "/" + n).c_str());
  }
  closedir(dp);
}

}  // namespace xbpf::maps
