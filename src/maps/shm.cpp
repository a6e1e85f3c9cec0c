#include "maps/shm.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace xbpf::maps::detail {

uint64_t header_checksum(const ObjHeader& h) {
  const auto* p = reinterpret_cast<const uint8_t*>(&h);
  uint64_t sum = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < offsetof(ObjHeader, checksum); ++i) sum = (sum ^ p[i]) * 0x100000001b3ULL;
  return sum;
}

void fill_header(ObjHeader& h, ObjectKind kind, uint32_t id, const MapAttr& a, uint64_t storage_size) {
  std::memset(static_cast<void*>(&h), 0, offsetof(ObjHeader, frozen));
  h.magic = kObjMagic;
  h.version = kObjVersion;
  h.kind = static_cast<uint32_t>(kind);
  h.id = id;
  h.ncpus = possible_cpus();
  h.storage_size = storage_size;
  h.type = static_cast<uint32_t>(a.type);
  h.key_size = a.key_size;
  h.value_size = a.value_size;
  h.max_entries = a.max_entries;
  h.map_flags = a.map_flags;
  h.inner_map_id = a.inner_map_id;
  h.btf_key_type_id = a.btf_key_type_id;
  h.btf_value_type_id = a.btf_value_type_id;
  h.spin_lock_off = a.spin_lock_off;
  h.btf_id = a.btf_id;
  h.map_extra = a.map_extra;
  std::memcpy(h.name, a.name.data(), std::min(a.name.size(), sizeof(h.name) - 1));
  h.checksum = header_checksum(h);
}

MapAttr attr_from_header(const ObjHeader& h) {
  MapAttr a;
  a.type = static_cast<MapType>(h.type);
  a.key_size = h.key_size;
  a.value_size = h.value_size;
  a.max_entries = h.max_entries;
  a.map_flags = h.map_flags;
  a.map_extra = h.map_extra;
  a.inner_map_id = h.inner_map_id;
  a.btf_key_type_id = h.btf_key_type_id;
  a.btf_value_type_id = h.btf_value_type_id;
  a.spin_lock_off = h.spin_lock_off;
  a.btf_id = h.btf_id;
  a.name.assign(h.name, strnlen(h.name, sizeof(h.name)));
  return a;
}

ObjectFile& ObjectFile::operator=(ObjectFile&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    base_ = std::exchange(o.base_, nullptr);
    map_len_ = std::exchange(o.map_len_, 0);
    file_size_ = std::exchange(o.file_size_, 0);
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

void ObjectFile::reset() {
  if (base_) munmap(base_, map_len_);
  base_ = nullptr;
  if (fd_ < 0) return;
  // Our LOCK_SH turns into LOCK_EX only if nobody else holds the object.
  if (!path_.empty() && flock(fd_, LOCK_EX | LOCK_NB) == 0) {
    struct stat st{};
    if (fstat(fd_, &st) == 0 && st.st_nlink == 1 && unlink(path_.c_str()) == 0) release_refs(path_);
  }
  close(fd_);
  fd_ = -1;
  path_.clear();
}

Expected<ObjectFile> ObjectFile::open(const std::string& path) {
  ObjectFile f;
  f.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (f.fd_ < 0) {
    const int e = errno;
    return fail_errno(e == ENOENT ? ENOENT : e, "{}: {}", path, std::strerror(e));
  }
  // Blocks only while a reclaimer holds LOCK_EX; it then has unlinked the file.
  while (flock(f.fd_, LOCK_SH) != 0) {
    if (errno != EINTR) return fail_errno(errno, "{}: flock: {}", path, std::strerror(errno));
  }
  struct stat st{};
  if (fstat(f.fd_, &st) != 0 || st.st_nlink == 0) return fail_errno(ENOENT, "{}: object was reclaimed", path);
  f.file_size_ = static_cast<uint64_t>(st.st_size);
  f.path_ = path;
  return f;
}

Expected<ObjectFile> ObjectFile::create(const std::string& tmp, uint64_t total_size) {
  ObjectFile f;
  f.fd_ = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f.fd_ < 0) return fail_errno(errno, "{}: {}", tmp, std::strerror(errno));
  f.path_ = tmp;
  if (ftruncate(f.fd_, static_cast<off_t>(total_size)) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return fail_errno(e == EFBIG ? E2BIG : ENOMEM, "{}: cannot size to {} bytes: {}", tmp, total_size,
                      std::strerror(e));
  }
  if (flock(f.fd_, LOCK_SH) != 0) return fail_errno(errno, "{}: flock: {}", tmp, std::strerror(errno));
  f.file_size_ = total_size;
  return f;
}

Expected<void> ObjectFile::publish(const std::string& path) {
  if (rename(path_.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(path_.c_str());
    return fail_errno(e, "{}: {}", path, std::strerror(e));
  }
  path_ = path;
  return {};
}

Expected<void> ObjectFile::map(uint64_t dup_off, uint64_t dup_len) {
  const size_t len = static_cast<size_t>(file_size_);
  map_len_ = len + static_cast<size_t>(dup_len);
  // Reserve the whole range first so the second view lands right after the first.
  void* p = mmap(nullptr, map_len_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return fail_errno(ENOMEM, "{}: cannot reserve {} bytes", path_, map_len_);
  base_ = static_cast<uint8_t*>(p);
  if (mmap(base_, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_, 0) == MAP_FAILED) {
    return fail_errno(ENOMEM, "{}: mmap: {}", path_, std::strerror(errno));
  }
  if (dup_len != 0 && mmap(base_ + len, static_cast<size_t>(dup_len), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(dup_off)) == MAP_FAILED) {
    return fail_errno(ENOMEM, "{}: mmap of the wrap-around view: {}", path_, std::strerror(errno));
  }
  return {};
}

void try_reclaim(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  bool released = false;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    struct stat st{};
    if (fstat(fd, &st) == 0 && st.st_nlink == 1 && unlink(path.c_str()) == 0) released = true;
  }
  close(fd);
  if (released) release_refs(path);
}

void release_refs(const std::string& path) {
  // The holder's name in refs/: map "<id>", program "p<id>", link "l<id>" (BTF holds nothing).
  std::string dir, holder;
  for (auto [sub, prefix] : {std::pair{"/maps/", ""}, std::pair{"/progs/", "p"}, std::pair{"/links/", "l"}}) {
    const size_t at = path.rfind(sub);
    if (at == std::string::npos) continue;
    dir = path.substr(0, at);
    holder = prefix + path.substr(at + std::strlen(sub));
    break;
  }
  if (holder.empty()) return;
  const std::string prefix = holder + ".";
  const std::string refs = dir + "/refs";
  DIR* dp = opendir(refs.c_str());
  if (!dp) return;
  std::vector<std::string> targets;
  while (dirent* e = readdir(dp)) {
    const std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    unlink((refs + "/" + n).c_str());
    targets.push_back(n.substr(prefix.size(), n.find('.', prefix.size()) - prefix.size()));
  }
  closedir(dp);
  // "p<id>" names a program, "b<id>" a BTF object, "l<id>" a link, a bare id a map.
  for (const std::string& t : targets) {
    if (t.starts_with('p')) try_reclaim(dir + "/progs/" + t.substr(1));
    else if (t.starts_with('l')) try_reclaim(dir + "/links/" + t.substr(1));
    else if (t.starts_with('b')) try_reclaim(dir + "/btf/" + t.substr(1));
    else try_reclaim(dir + "/maps/" + t);
  }
}

}  // namespace xbpf::maps::detail
