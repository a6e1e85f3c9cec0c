// The public API's PacketHook (include/xbpf/xbpf.hpp) over hooks::PacketHook.
#include "hooks/packet_hook.hpp"
#include "runtime/api_state.hpp"

namespace xbpf {

namespace detail {
struct HookState {
  std::shared_ptr<StoreState> store;  // the trace log the programs write to lives here
  std::unique_ptr<hooks::PacketHook> hook;
};
}  // namespace detail

using detail::Access;

Expected<PacketHook> PacketHook::open(const Store& store, const std::string& device) {
  auto h = hooks::PacketHook::open(Access::state(store)->store, device);
  if (!h) return xbpf::unexpected(h.error());
  PacketHook out;
  Access::state(out) = std::make_shared<detail::HookState>(detail::HookState{Access::state(store), std::move(*h)});
  return out;
}

Expected<PacketVerdict> PacketHook::run(std::span<const uint8_t> packet) {
  auto v = s_->hook->run(packet);
  if (!v) return xbpf::unexpected(v.error());
  return PacketVerdict{v->action, v->data, v->prog_id};
}

const std::string& PacketHook::device() const { return s_->hook->device(); }

}  // namespace xbpf
