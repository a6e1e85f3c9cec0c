// prog_array, array_of_maps, hash_of_maps (see fd_maps.hpp).
//
// A map-in-map keeps its inner maps (a prog_array its programs) alive like
// the kernel's references: one hard link <store>/refs/<outer>.<inner>.<slot>
// per occupied slot, removed when the slot is cleared or the outer map is reclaimed.
#include "maps/fd_maps.hpp"

#include <cstring>
#include <mutex>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "maps/array.hpp"
#include "maps/hash.hpp"
#include "maps/store.hpp"

namespace xbpf::maps {

namespace detail {

namespace {

// The inner map template, kept in the outer map's header page (past ObjHeader).
struct InnerTemplate {
  uint32_t type, key_size, value_size, max_entries, map_flags;
};
constexpr size_t kTemplateOff = 2048;

InnerTemplate* template_of(uint8_t* storage) {
  return reinterpret_cast<InnerTemplate*>(storage - kHeaderSize + kTemplateOff);
}

Expected<void> validate_fd_array(const MapAttr& a) {
  if (a.value_size != 4) return bad_attr(a, EINVAL, "value_size must be 4 (an id)");
  if (a.map_flags & kFMmapable) return bad_attr(a, EINVAL, "fd arrays cannot be mmapable");
  MapAttr as_array = a;
  as_array.type = MapType::Array;
  return kArrayOps.validate(as_array);
}

Expected<void> validate_map_in_map(const MapAttr& a) {
  if (a.inner_map_id == 0) return bad_attr(a, EBADF, "map-in-map needs an inner map (inner_map_id)");
  if (a.type == MapType::HashOfMaps) {
    if (a.value_size != 4) return bad_attr(a, EINVAL, "value_size must be 4 (a map id)");
    MapAttr as_hash = a;
    as_hash.type = MapType::Hash;
    return kHashOps.validate(as_hash);
  }
  return validate_fd_array(a);
}

uint64_t fd_array_size(const MapAttr& a) { return round_page(uint64_t{a.max_entries} * 4); }
uint64_t hash_of_maps_size(const MapAttr& a) { return HashMap::geometry(a).total; }

Expected<void> prepare_map_in_map(Store& store, uint8_t* storage, const MapAttr& a) {
  auto inner = store.cached_map(a.inner_map_id);
  if (!inner) return fail_errno(EBADF, "map '{}': inner map {} does not exist", a.name, a.inner_map_id);
  const Map& m = **inner;
  // The kernel's errnos: EINVAL for a second level of maps, ENOTSUPP for a
  // prog array (its owner program type is a run-time binding a template
  // cannot check; it also keeps the usercnt rule, which empties prog arrays
  // only programs hold, away from arrays reached through an outer map).
  if (kabi::is_map_in_map(m.type()))
    return fail_errno(EINVAL, "map '{}': inner map {} is a map-in-map (one level only)", a.name, m.id());
  if (m.type() == MapType::ProgArray)
    return fail_errno(kENOTSUPP, "map '{}': inner map {} is a prog_array, which cannot be an inner map", a.name,
                      m.id());
  *template_of(storage) = {static_cast<uint32_t>(m.type()), m.key_size(), m.value_size(), m.max_entries(),
                           m.attr().map_flags};
  if (a.type == MapType::HashOfMaps) HashMap::init_storage(storage, a);
  return {};
}

std::string slot_tag(const void* key, uint32_t key_size) {
  return fmt::format("{:016x}", hash_bytes(key, key_size, 0));
}

// Shared by both map-in-map kinds: inner map resolution and references.
class InnerMaps {
 public:
  InnerMaps(std::weak_ptr<Store> store, uint32_t outer_id, uint8_t* storage, const std::string& outer)
      : store_(std::move(store)), outer_id_(outer_id), tmpl_(*template_of(storage)), outer_(outer) {}

  // Program side: the inner Map* for an id read from a slot.
  Map* resolve(uint32_t id) noexcept {
    if (id == 0) return nullptr;
    std::lock_guard lk(mu_);
    if (auto it = cache_.find(id); it != cache_.end()) return it->second.get();
    auto s = store_.lock();
    if (!s) return nullptr;
    auto m = s->cached_map(id);
    if (!m) return nullptr;
    return (cache_[id] = *m).get();
  }

  // User side: the new inner map must match the template (bpf_map_meta_equal).
  Expected<void> check(uint32_t id) {
    auto s = store_.lock();
    auto m = s ? s->cached_map(id) : Expected<std::shared_ptr<Map>>(fail_errno(EBADF, ""));
    if (!m) return fail_errno(EBADF, "map '{}': no map with id {}", outer_, id);
    const Map& in = **m;
    const bool any_size = tmpl_.map_flags & kFInnerMap;
    if (static_cast<uint32_t>(in.type()) != tmpl_.type || in.key_size() != tmpl_.key_size ||
        in.value_size() != tmpl_.value_size || in.attr().map_flags != tmpl_.map_flags ||
        (!any_size && in.max_entries() != tmpl_.max_entries)) {
      return fail_errno(EINVAL, "map '{}': map {} does not match the inner map template", outer_, id);
    }
    return {};
  }

  void add_ref(uint32_t inner, const std::string& slot) {
    if (auto s = store_.lock()) {
      (void)link((s->dir() + "/maps/" + std::to_string(inner)).c_str(), ref_path(*s, inner, slot).c_str());
    }
  }
  void drop_ref(uint32_t inner, const std::string& slot) {
    if (inner == 0) return;
    {
      // A program in this process may still use the Map*: retire it (kept
      // until the outer map goes away) rather than unmap it now, the way the
      // kernel waits for an RCU grace period.
      std::lock_guard lk(mu_);
      if (auto it = cache_.find(inner); it != cache_.end()) {
        retired_.push_back(std::move(it->second));
        cache_.erase(it);
      }
    }
    if (auto s = store_.lock()) {
      unlink(ref_path(*s, inner, slot).c_str());
      try_reclaim(s->dir() + "/maps/" + std::to_string(inner));
    }
  }

 private:
  std::string ref_path(const Store& s, uint32_t inner, const std::string& slot) const {
    return fmt::format("{}/refs/{}.{}.{}", s.dir(), outer_id_, inner, slot);
  }
  std::weak_ptr<Store> store_;
  uint32_t outer_id_;
  InnerTemplate tmpl_;
  std::string outer_;
  std::mutex mu_;
  std::unordered_map<uint32_t, std::shared_ptr<Map>> cache_;
  std::vector<std::shared_ptr<Map>> retired_;
};

// Slots of u32 ids; common to prog_array and array_of_maps.
class FdArrayMap : public ArrayMap {
 public:
  explicit FdArrayMap(MapContext&& ctx) : ArrayMap(std::move(ctx)) {
    if (attr_.type == MapType::ArrayOfMaps) inner_.emplace(store_, id_, storage_, attr_.name);
  }
  uint32_t id_at(uint32_t i) const noexcept {
    return i < attr_.max_entries ? std::atomic_ref(ids()[i]).load(std::memory_order_acquire) : 0;
  }

  void* lookup_elem(const void* key) noexcept override {
    if (!inner_) return nullptr;  // programs tail-call into a prog_array, never look it up
    uint32_t i;
    std::memcpy(&i, key, 4);
    return inner_->resolve(id_at(i));
  }
  long update_elem(const void*, const void*, uint64_t) noexcept override { return -EOPNOTSUPP; }
  long delete_elem(const void*) noexcept override { return -EOPNOTSUPP; }

  Expected<void> lookup(const void* key, void* value, uint64_t flags) override {
    if (auto r = check_user_read(); !r) return r;
    if (flags) return fail_errno(EINVAL, "map '{}': invalid flags {:#x}", name(), flags);
    uint32_t i;
    std::memcpy(&i, key, 4);
    const uint32_t id = id_at(i);
    if (id == 0) return fail_errno(ENOENT, "map '{}': slot {} is empty", name(), i);
    std::memcpy(value, &id, 4);
    return {};
  }
  Expected<void> update(const void* key, const void* value, uint64_t flags) override {
    if (auto r = check_user_write(); !r) return r;
    if (flags != kAny) return fail_errno(EINVAL, "map '{}': flags must be BPF_ANY", name());
    uint32_t i, id;
    std::memcpy(&i, key, 4);
    std::memcpy(&id, value, 4);
    if (i >= attr_.max_entries) return fail_errno(E2BIG, "map '{}': index {} >= max_entries", name(), i);
    if (auto r = check_target(id); !r) return r;
    add_ref(id, i);
    const uint32_t old = std::atomic_ref(ids()[i]).exchange(id, std::memory_order_acq_rel);
    if (old != id) drop_ref(old, i);
    return {};
  }
  Expected<void> remove(const void* key) override {
    if (auto r = check_user_write(); !r) return r;
    uint32_t i;
    std::memcpy(&i, key, 4);
    if (i >= attr_.max_entries) return fail_errno(EINVAL, "map '{}': index {} out of range", name(), i);
    const uint32_t old = std::atomic_ref(ids()[i]).exchange(0, std::memory_order_acq_rel);
    if (old == 0) return fail_errno(ENOENT, "map '{}': slot {} is empty", name(), i);
    drop_ref(old, i);
    return {};
  }

 private:
  uint32_t* ids() const noexcept { return reinterpret_cast<uint32_t*>(storage_); }
  // A prog_array keeps its programs' records alive as the kernel keeps prog
  // references: refs/<array>.p<prog>.<index> hard links.
  void add_ref(uint32_t id, uint32_t i) {
    if (inner_) return inner_->add_ref(id, std::to_string(i));
    if (auto s = store_.lock()) {
      (void)link(fmt::format("{}/progs/{}", s->dir(), id).c_str(), prog_ref(*s, id, i).c_str());
    }
  }
  void drop_ref(uint32_t id, uint32_t i) {
    if (inner_) return inner_->drop_ref(id, std::to_string(i));
    if (id == 0) return;
    if (auto s = store_.lock()) {
      unlink(prog_ref(*s, id, i).c_str());
      try_reclaim(fmt::format("{}/progs/{}", s->dir(), id));
    }
  }
  std::string prog_ref(const Store& s, uint32_t prog, uint32_t i) const {
    return fmt::format("{}/refs/{}.p{}.{}", s.dir(), id_, prog, i);
  }
  Expected<void> check_target(uint32_t id) {
    if (inner_) return inner_->check(id);
    auto s = store_.lock();
    if (id == 0 || !s || !s->has_program(id)) return fail_errno(EBADF, "map '{}': no program with id {}", name(), id);
    return {};
  }
  std::optional<InnerMaps> inner_;
};

class HashOfMapsMap : public HashMap {
 public:
  explicit HashOfMapsMap(MapContext&& ctx) : HashMap(std::move(ctx)), inner_(store_, id_, storage_, attr_.name) {}

  void* lookup_elem(const void* key) noexcept override {
    auto* slot = static_cast<uint32_t*>(HashMap::lookup_elem(key));
    return slot ? inner_.resolve(std::atomic_ref(*slot).load(std::memory_order_acquire)) : nullptr;
  }
  long update_elem(const void*, const void*, uint64_t) noexcept override { return -EOPNOTSUPP; }
  long delete_elem(const void*) noexcept override { return -EOPNOTSUPP; }

  Expected<void> update(const void* key, const void* value, uint64_t flags) override {
    uint32_t id, old = 0;
    std::memcpy(&id, value, 4);
    if (auto r = check_user_write(); !r) return r;
    if (auto r = inner_.check(id); !r) return r;
    (void)HashMap::lookup(key, &old, 0);
    const std::string slot = slot_tag(key, key_size());
    inner_.add_ref(id, slot);
    if (auto r = HashMap::update(key, value, flags); !r) {
      if (old != id) inner_.drop_ref(id, slot);
      return r;
    }
    if (old != id) inner_.drop_ref(old, slot);
    return {};
  }
  Expected<void> remove(const void* key) override {
    uint32_t old = 0;
    if (auto r = HashMap::lookup_and_delete(key, &old, 0); !r) return r;
    inner_.drop_ref(old, slot_tag(key, key_size()));
    return {};
  }
  Expected<void> lookup_and_delete(const void*, void*, uint64_t) override {
    return fail_errno(EOPNOTSUPP, "map '{}': lookup_and_delete is not supported for hash_of_maps", name());
  }

 private:
  InnerMaps inner_;
};

std::unique_ptr<Map> make_fd_array(MapContext&& c) { return std::unique_ptr<Map>(new FdArrayMap(std::move(c))); }
std::unique_ptr<Map> make_hash_of_maps(MapContext&& c) {
  return std::unique_ptr<Map>(new HashOfMapsMap(std::move(c)));
}

}  // namespace

const MapOps kProgArrayOps = {MapType::ProgArray, validate_fd_array, fd_array_size, nullptr, nullptr, make_fd_array};
const MapOps kArrayOfMapsOps = {MapType::ArrayOfMaps, validate_map_in_map, fd_array_size, prepare_map_in_map,
                                nullptr, make_fd_array};
const MapOps kHashOfMapsOps = {MapType::HashOfMaps, validate_map_in_map, hash_of_maps_size, prepare_map_in_map,
                               nullptr, make_hash_of_maps};

}  // namespace detail

uint32_t prog_array_get(Map& m, uint32_t index) noexcept {
  if (m.type() != MapType::ProgArray) return 0;
  return static_cast<detail::FdArrayMap&>(m).id_at(index);
}

}  // namespace xbpf::maps
