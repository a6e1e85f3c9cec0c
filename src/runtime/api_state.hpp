// Internal: what the public API's handles (include/xbpf/xbpf.hpp) hold, shared
// by its implementation files: runtime/api.cpp, and hooks/api_hook.cpp (the
// packet hook lives in xbpf_hooks, above the runtime).
#pragma once

#include <memory>
#include <vector>

#include "helpers/trace_log.hpp"
#include "loader/loader.hpp"
#include "maps/ringbuf.hpp"
#include "maps/store.hpp"
#include "runtime/object.hpp"
#include "xbpf/xbpf.hpp"

namespace xbpf {

namespace detail {
struct StoreState {
  std::shared_ptr<maps::Store> store;
  std::unique_ptr<helpers::TraceLog> trace;
};
struct ObjectState {
  loader::ObjectSpec spec;  // as opened
  std::shared_ptr<StoreState> store;
  std::unique_ptr<runtime::Object> live;
};
struct RingState {
  maps::RingBufferConsumer consumer;
  std::vector<std::shared_ptr<ObjectState>> keep;  // the maps' objects stay loaded
};
struct Access {
  static Store store(std::shared_ptr<StoreState> s) {
    Store out;
    out.s_ = std::move(s);
    return out;
  }
  static const std::shared_ptr<StoreState>& state(const Store& s) { return s.s_; }
  static std::shared_ptr<ObjectState>& state(Object& o) { return o.s_; }
  static const std::shared_ptr<ObjectState>& state(const Object& o) { return o.s_; }
  static Program program(std::shared_ptr<ObjectState> o, size_t i) {
    Program p;
    p.obj_ = std::move(o);
    p.index_ = i;
    return p;
  }
  static Map map(std::shared_ptr<ObjectState> o, size_t i) {
    Map m;
    m.obj_ = std::move(o);
    m.index_ = i;
    return m;
  }
  static runtime::Program& prog(const Program& p) { return *p.obj_->live->programs()[p.index_]; }
  static maps::Map& map(const Map& m) { return *m.obj_->live->maps()[m.index_]; }
  static const std::shared_ptr<maps::Map>& map_ptr(const Map& m) { return m.obj_->live->maps()[m.index_]; }
  static const std::shared_ptr<ObjectState>& owner(const Map& m) { return m.obj_; }
  static std::shared_ptr<HookState>& state(PacketHook& h) { return h.s_; }
  static const std::shared_ptr<HookState>& state(const PacketHook& h) { return h.s_; }
};
}  // namespace detail

}  // namespace xbpf
