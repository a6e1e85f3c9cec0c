// Store: reading object files back (with validation), program records, pins.
#include <cerrno>
#include <algorithm>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maps/lock.hpp"
#include "maps/map_impl.hpp"
#include "maps/store_impl.hpp"

namespace xbpf::maps {

namespace detail {

namespace {

constexpr uint64_t kMaxProgramBytes = uint64_t{64} << 20;
constexpr uint64_t kMaxBtfBytes = uint64_t{256} << 20;
constexpr uint32_t kRecordExt1 = 0x31545845;  // "EXT1"

Expected<void> corrupt(const ObjectFile& f, const char* why) {
  return fail_errno(EINVAL, "{}: corrupt store object ({})", f.path(), why);
}

// Bounds-checked reader of a serialized record.
struct Reader {
  const uint8_t* p;
  size_t n;
  size_t off = 0;
  bool ok = true;
  template <class T>
  T get() {
    T v{};
    if (!ok || n - off < sizeof(T)) {
      ok = false;
      return v;
    }
    std::memcpy(&v, p + off, sizeof(T));
    off += sizeof(T);
    return v;
  }
  void bytes(void* dst, size_t len) {
    if (len == 0) return;  // dst may be an empty vector's nullptr
    if (!ok || n - off < len) {
      ok = false;
      return;
    }
    std::memcpy(dst, p + off, len);
    off += len;
  }
};

template <class T>
void put(std::vector<uint8_t>& out, const T& v) {
  const auto* b = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), b, b + sizeof(T));
}

}  // namespace

const char* kind_name(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::Map: return "map";
    case ObjectKind::Program: return "prog";
    case ObjectKind::Btf: return "BTF";
    case ObjectKind::Link: return "link";
  }
  return "object";
}

Expected<ObjHeader> read_header(const ObjectFile& f, ObjectKind kind, uint32_t id) {
  if (f.file_size() < kHeaderSize) {
    if (auto r = corrupt(f, "shorter than its header"); !r) return Unexpected(r.error());
  }
  ObjHeader h;
  if (pread(f.fd(), &h, offsetof(ObjHeader, frozen), 0) != static_cast<ssize_t>(offsetof(ObjHeader, frozen))) {
    return fail_errno(EIO, "{}: cannot read header: {}", f.path(), std::strerror(errno));
  }
  const char* why = nullptr;
  if (h.magic != kObjMagic) {
    why = "bad magic";
  } else if (h.version != kObjVersion) {
    why = "unknown format version";
  } else if (h.checksum != header_checksum(h)) {
    why = "header checksum mismatch";
  } else if (h.kind != static_cast<uint32_t>(kind) || h.id != id) {
    why = "header names another object";
  } else if (h.ncpus != possible_cpus()) {
    why = "created for a different number of CPUs";
  } else if (h.storage_size > (uint64_t{1} << 36) || f.file_size() != kHeaderSize + h.storage_size) {
    why = "file size does not match its header";
  }
  if (why) {
    if (auto r = corrupt(f, why); !r) return Unexpected(r.error());
  }
  return h;
}

Expected<MapAttr> read_map_header(const ObjectFile& f, uint32_t id) {
  auto h = read_header(f, ObjectKind::Map, id);
  if (!h) return Unexpected(h.error());
  MapAttr a = attr_from_header(*h);
  if (auto r = validate_attr(a); !r) {
    return fail_errno(EINVAL, "{}: corrupt store object (attributes: {})", f.path(), r.error().message);
  }
  if (find_ops(a.type)->storage_size(a) != h->storage_size) {
    if (auto r = corrupt(f, "storage size does not match the attributes"); !r) return Unexpected(r.error());
  }
  return a;
}

std::vector<uint8_t> serialize_program(const ProgramRecord& r) {
  std::vector<uint8_t> out;
  put(out, r.prog_type);
  put(out, r.owner_uid);
  put(out, r.owner_pid);
  put(out, r.load_time_ns);
  put(out, static_cast<uint32_t>(r.name.size()));
  put(out, static_cast<uint32_t>(r.tag.size()));
  put(out, static_cast<uint32_t>(r.insns.size()));
  put(out, static_cast<uint32_t>(r.map_ids.size()));
  out.insert(out.end(), r.name.begin(), r.name.end());
  out.insert(out.end(), r.tag.begin(), r.tag.end());
  for (uint64_t i : r.insns) put(out, i);
  for (uint32_t m : r.map_ids) put(out, m);
  // Extension 1 (records before it end here).
  put(out, kRecordExt1);
  put(out, r.btf_id);
  put(out, r.expected_attach_type);
  put(out, static_cast<uint32_t>(r.gpl) | static_cast<uint32_t>(r.jited) << 1);
  put(out, r.jited_len);
  put(out, r.verified_insns);
  put(out, static_cast<uint32_t>(r.func_info.size()));
  put(out, static_cast<uint32_t>(r.line_info.size()));
  for (const FuncInfoRecord& f : r.func_info) put(out, f);
  for (const LineInfoRecord& l : r.line_info) put(out, l);
  return out;
}

Expected<ProgramRecord> parse_program(const uint8_t* p, size_t n, const std::string& path) {
  Reader rd{p, n};
  ProgramRecord r;
  r.prog_type = rd.get<uint32_t>();
  r.owner_uid = rd.get<uint32_t>();
  r.owner_pid = rd.get<uint32_t>();
  r.load_time_ns = rd.get<uint64_t>();
  const auto name_len = rd.get<uint32_t>();
  const auto tag_len = rd.get<uint32_t>();
  const auto n_insns = rd.get<uint32_t>();
  const auto n_maps = rd.get<uint32_t>();
  // Check the claimed sizes against what is there before allocating.
  const uint64_t need = uint64_t{name_len} + tag_len + uint64_t{n_insns} * 8 + uint64_t{n_maps} * 4;
  if (!rd.ok || need > n - rd.off) return fail_errno(EINVAL, "{}: corrupt program record", path);
  r.name.resize(name_len);
  rd.bytes(r.name.data(), name_len);
  r.tag.resize(tag_len);
  rd.bytes(r.tag.data(), tag_len);
  r.insns.resize(n_insns);
  rd.bytes(r.insns.data(), uint64_t{n_insns} * 8);
  r.map_ids.resize(n_maps);
  rd.bytes(r.map_ids.data(), uint64_t{n_maps} * 4);
  if (rd.off == n) return r;  // a record of the first format
  if (rd.get<uint32_t>() != kRecordExt1) return fail_errno(EINVAL, "{}: corrupt program record (extension)", path);
  r.btf_id = rd.get<uint32_t>();
  r.expected_attach_type = rd.get<uint32_t>();
  const auto flags = rd.get<uint32_t>();
  r.gpl = flags & 1;
  r.jited = flags & 2;
  r.jited_len = rd.get<uint32_t>();
  r.verified_insns = rd.get<uint32_t>();
  const auto n_func = rd.get<uint32_t>();
  const auto n_line = rd.get<uint32_t>();
  const uint64_t rest = uint64_t{n_func} * sizeof(FuncInfoRecord) + uint64_t{n_line} * sizeof(LineInfoRecord);
  if (!rd.ok || rest != n - rd.off) return fail_errno(EINVAL, "{}: corrupt program record (extension)", path);
  r.func_info.resize(n_func);
  rd.bytes(r.func_info.data(), uint64_t{n_func} * sizeof(FuncInfoRecord));
  r.line_info.resize(n_line);
  rd.bytes(r.line_info.data(), uint64_t{n_line} * sizeof(LineInfoRecord));
  return r;
}

// Since links: prog_type-like fixed words, then the target name.
std::vector<uint8_t> serialize_link(const LinkRecord& r) {
  std::vector<uint8_t> out;
  put(out, r.link_type);
  put(out, r.attach_type);
  put(out, r.prog_id);
  put(out, r.owner_uid);
  put(out, r.owner_pid);
  put(out, r.create_time_ns);
  put(out, static_cast<uint32_t>(r.target.size()));
  out.insert(out.end(), r.target.begin(), r.target.end());
  return out;
}

Expected<LinkRecord> parse_link(const uint8_t* p, size_t n, const std::string& path) {
  Reader rd{p, n};
  LinkRecord r;
  r.link_type = rd.get<uint32_t>();
  r.attach_type = rd.get<uint32_t>();
  r.prog_id = rd.get<uint32_t>();
  r.owner_uid = rd.get<uint32_t>();
  r.owner_pid = rd.get<uint32_t>();
  r.create_time_ns = rd.get<uint64_t>();
  const auto len = rd.get<uint32_t>();
  if (!rd.ok || len != n - rd.off || len > 255) return fail_errno(EINVAL, "{}: corrupt link record", path);
  r.target.assign(reinterpret_cast<const char*>(p + rd.off), len);
  return r;
}

}  // namespace detail

using detail::ObjectFile;

Expected<uint32_t> Store::add_program(ProgramRecord rec) {
  auto id = next_id(ObjectKind::Program);
  if (!id) return id;
  rec.id = *id;
  const std::vector<uint8_t> body = detail::serialize_program(rec);
  if (body.size() > detail::kMaxProgramBytes) return fail_errno(E2BIG, "prog '{}': record too large", rec.name);
  auto file = ObjectFile::create(tmp_path(*id), detail::kHeaderSize + body.size());
  if (!file) return Unexpected(with_context(file.error(), fmt::format("prog '{}'", rec.name)));
  if (auto r = file->map(0, 0); !r) return Unexpected(r.error());
  MapAttr tag;
  tag.name = rec.name.substr(0, 15);
  detail::fill_header(*file->header(), ObjectKind::Program, *id, tag, body.size());
  std::memcpy(file->storage(), body.data(), body.size());
  if (auto r = file->publish(object_path(ObjectKind::Program, *id)); !r) return Unexpected(r.error());
  // The program's references; should one fail, `file` reclaims the record and
  // the references made so far.
  const std::string holder = "p" + std::to_string(*id);
  for (uint32_t m : rec.map_ids) {
    if (auto r = add_ref(holder, ObjectKind::Map, m, "m"); !r)
      return Unexpected(with_context(r.error(), fmt::format("prog '{}'", rec.name)));
  }
  if (rec.btf_id != 0) {
    if (auto r = add_ref(holder, ObjectKind::Btf, rec.btf_id, "0"); !r)
      return Unexpected(with_context(r.error(), fmt::format("prog '{}'", rec.name)));
  }
  std::lock_guard lk(mu_);
  // Keeps the record alive until the runtime takes its own hold.
  pending_[object_path(ObjectKind::Program, *id)] = std::make_shared<Hold>(std::move(*file));
  return *id;
}

Expected<uint32_t> Store::add_btf(std::span<const uint8_t> raw) {
  if (raw.empty() || raw.size() > detail::kMaxBtfBytes)
    return fail_errno(raw.empty() ? EINVAL : E2BIG, "BTF: {} bytes: {}", raw.size(), raw.empty() ? "empty" : "too large");
  auto id = next_id(ObjectKind::Btf);
  if (!id) return id;
  auto file = ObjectFile::create(tmp_path(*id), detail::kHeaderSize + raw.size());
  if (!file) return Unexpected(with_context(file.error(), "BTF"));
  if (auto r = file->map(0, 0); !r) return Unexpected(r.error());
  detail::fill_header(*file->header(), ObjectKind::Btf, *id, MapAttr{}, raw.size());
  std::memcpy(file->storage(), raw.data(), raw.size());
  if (auto r = file->publish(object_path(ObjectKind::Btf, *id)); !r) return Unexpected(r.error());
  std::lock_guard lk(mu_);
  // Alive until a map or program refers to it, or this store closes.
  pending_[object_path(ObjectKind::Btf, *id)] = std::make_shared<Hold>(std::move(*file));
  return *id;
}

Expected<std::vector<uint8_t>> Store::btf(uint32_t id) {
  auto file = ObjectFile::open(object_path(ObjectKind::Btf, id));
  if (!file) return fail_errno(ENOENT, "BTF {}: no such BTF object in store {}", id, dir_);
  auto h = detail::read_header(*file, ObjectKind::Btf, id);
  if (!h) return Unexpected(h.error());
  if (h->storage_size > detail::kMaxBtfBytes) return fail_errno(EINVAL, "{}: corrupt BTF object", file->path());
  std::vector<uint8_t> raw(h->storage_size);
  if (pread(file->fd(), raw.data(), raw.size(), detail::kHeaderSize) != static_cast<ssize_t>(raw.size()))
    return fail_errno(EIO, "{}: cannot read BTF object", file->path());
  return raw;
}

Expected<ProgramRecord> Store::program(uint32_t id) {
  auto file = ObjectFile::open(object_path(ObjectKind::Program, id));
  if (!file) return fail_errno(ENOENT, "prog {}: no such program in store {}", id, dir_);
  auto h = detail::read_header(*file, ObjectKind::Program, id);
  if (!h) return Unexpected(h.error());
  if (h->storage_size > detail::kMaxProgramBytes) return fail_errno(EINVAL, "{}: corrupt program record", file->path());
  std::vector<uint8_t> body(h->storage_size);
  if (pread(file->fd(), body.data(), body.size(), detail::kHeaderSize) != static_cast<ssize_t>(body.size())) {
    return fail_errno(EIO, "{}: cannot read program record", file->path());
  }
  auto rec = detail::parse_program(body.data(), body.size(), file->path());
  if (rec) rec->id = id;
  return rec;
}

bool Store::has_program(uint32_t id) {
  struct stat st{};
  return stat(object_path(ObjectKind::Program, id).c_str(), &st) == 0;
}

Expected<std::shared_ptr<Store::Hold>> Store::hold(ObjectKind kind, uint32_t id) {
  const std::string path = object_path(kind, id);
  auto file = ObjectFile::open(path);
  if (!file) {
    return fail_errno(ENOENT, "{} {}: no such {} in store {}", detail::kind_name(kind), id,
                      kind == ObjectKind::Btf      ? "BTF object"
                      : kind == ObjectKind::Link ? "link"
                                                 : "program",
                      dir_);
  }
  if (auto h = detail::read_header(*file, kind, id); !h) return Unexpected(h.error());
  auto hold = std::make_shared<Hold>(std::move(*file));
  std::lock_guard lk(mu_);
  pending_.erase(path);
  return hold;
}

Expected<std::shared_ptr<Store::Hold>> Store::hold_program(uint32_t id) { return hold(ObjectKind::Program, id); }
Expected<std::shared_ptr<Store::Hold>> Store::hold_btf(uint32_t id) { return hold(ObjectKind::Btf, id); }
Expected<std::shared_ptr<Store::Hold>> Store::hold_link(uint32_t id) { return hold(ObjectKind::Link, id); }

namespace {

Expected<void> check_pin_path(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.back() == '/') return fail_errno(EINVAL, "pin '{}': bad pin name", p);
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    const std::string part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return fail_errno(EINVAL, "pin '{}': bad pin name", p);
    start = end + 1;
  }
  return {};
}

}  // namespace

Expected<void> Store::pin(ObjectKind kind, uint32_t id, const std::string& path) {
  if (auto r = check_pin_path(path); !r) return r;
  const std::string obj = object_path(kind, id);
  // Holding the object while linking guarantees it is not reclaimed meanwhile.
  auto file = ObjectFile::open(obj);
  if (!file) return fail_errno(ENOENT, "pin '{}': no such {} {}", path, detail::kind_name(kind), id);
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    if (mkdir((dir_ + "/pins/" + path.substr(0, slash)).c_str(), 0700) != 0 && errno != EEXIST) {
      return fail_errno(errno, "pin '{}': {}", path, std::strerror(errno));
    }
  }
  if (::link(obj.c_str(), (dir_ + "/pins/" + path).c_str()) != 0) {
    const int e = errno;
    return fail_errno(e, "pin '{}': {}", path, e == EEXIST ? "name already pinned" : std::strerror(e));
  }
  return {};
}

Expected<std::pair<ObjectKind, uint32_t>> Store::pinned(const std::string& path) {
  if (auto r = check_pin_path(path); !r) return Unexpected(r.error());
  const std::string full = dir_ + "/pins/" + path;
  const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(ENOENT, "pin '{}': not pinned", path);
  detail::ObjHeader h;
  const auto n = pread(fd, &h, offsetof(detail::ObjHeader, frozen), 0);
  close(fd);
  if (n != static_cast<ssize_t>(offsetof(detail::ObjHeader, frozen)) || h.magic != detail::kObjMagic ||
      h.checksum != detail::header_checksum(h) || h.kind > static_cast<uint32_t>(ObjectKind::Link)) {
    return fail_errno(EINVAL, "pin '{}': not a valid store object", path);
  }
  return std::pair{static_cast<ObjectKind>(h.kind), h.id};
}

Expected<std::vector<Store::PinEntry>> Store::pins() {
  std::vector<PinEntry> out;
  std::vector<std::string> todo{""};
  while (!todo.empty()) {
    const std::string rel = todo.back();
    todo.pop_back();
    const std::string d = dir_ + "/pins" + (rel.empty() ? "" : "/" + rel);
    DIR* dp = opendir(d.c_str());
    if (!dp) {
      if (rel.empty()) return fail_errno(errno, "store: {}: {}", d, std::strerror(errno));
      continue;  // removed meanwhile
    }
    while (dirent* e = readdir(dp)) {
      const std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      const std::string path = rel.empty() ? n : rel + "/" + n;
      struct stat st{};
      if (lstat((d + "/" + n).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        todo.push_back(path);
      } else if (auto what = pinned(path)) {
        out.push_back({path, what->first, what->second});
      }
    }
    closedir(dp);
  }
  std::sort(out.begin(), out.end(), [](const PinEntry& a, const PinEntry& b) { return a.path < b.path; });
  return out;
}

Expected<void> Store::unpin(const std::string& path) {
  auto what = pinned(path);
  if (!what) return Unexpected(what.error());
  if (unlink((dir_ + "/pins/" + path).c_str()) != 0) return fail_errno(errno, "pin '{}': {}", path, std::strerror(errno));
  detail::try_reclaim(object_path(what->first, what->second));
  clear_unreferenced_prog_arrays();  // the pin may have been a prog array's last user reference
  return {};
}

}  // namespace xbpf::maps
