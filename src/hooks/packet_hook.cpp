#include "hooks/packet_hook.hpp"

#include <cerrno>
#include <cstring>

namespace xbpf::hooks {

namespace {
using runtime::XdpFrame;
constexpr size_t kMaxData = XdpFrame::max_data();
}  // namespace

Expected<std::unique_ptr<PacketHook>> PacketHook::open(std::shared_ptr<maps::Store> store, std::string device,
                                                       runtime::LoadOptions opts) {
  if (!store) return fail(Errc::invalid_argument, "packet hook: no store");
  // Validates the name (ENOENT only means nothing is attached yet).
  if (auto l = store->device_link(device); !l && l.error().errnum != ENOENT) return xbpf::unexpected(l.error());
  auto buf = runtime::LowBuffer::allocate(XdpFrame::kPage);
  if (!buf) return xbpf::unexpected(buf.error());
  auto trace = helpers::TraceLog::open(helpers::TraceLog::path_in(store->dir()));
  if (!trace) return xbpf::unexpected(trace.error());
  std::unique_ptr<PacketHook> h(new PacketHook());
  h->store_ = std::move(store);
  h->device_ = std::move(device);
  h->opts_ = std::move(opts);
  h->generation_ = &h->store_->attach_generation();
  h->buf_ = std::move(*buf);
  h->trace_.emplace(std::move(*trace));
  return h;
}

void PacketHook::reload(uint64_t generation) {
  // Recorded first: a change made while this lookup runs moves the counter
  // again, and the next packet looks again.
  seen_ = generation;
  loaded_once_ = true;
  uint32_t link = 0, prog = 0;
  if (auto l = store_->device_link(device_)) {
    if (auto rec = store_->link(*l)) {
      link = *l;
      prog = rec->prog_id;
    }
  } else if (l.error().errnum != ENOENT) {
    load_error_ = with_context(l.error(), fmt::format("packet hook '{}'", device_));
    return;
  }
  // The counter is store-wide: most changes are about other devices.
  if (link == link_id_ && (link == 0 || prog_)) return;
  obj_.reset();
  prog_ = nullptr;
  load_error_.reset();
  state_ = helpers::RunState{};
  state_.trace = &*trace_;
  link_id_ = link;
  if (link == 0) return;  // nothing attached (or detached between the two reads)
  auto obj = runtime::Object::open_program(store_, prog, opts_);
  if (!obj) {
    // Gone between the reads: the detach bumped the counter; look again next time.
    if (obj.error().errnum == ENOENT) {
      link_id_ = 0;
      return;
    }
    load_error_ = with_context(obj.error(), fmt::format("packet hook '{}': link {}", device_, link));
    return;
  }
  obj_ = std::move(*obj);
  prog_ = obj_->programs()[0].get();
}

Expected<Verdict> PacketHook::run(std::span<const uint8_t> packet) {
  // Acquire pairs with the release of Store::bump_generation.
  const uint64_t g = generation_->load(std::memory_order_acquire);
  if (g != seen_ || !loaded_once_) [[unlikely]]
    reload(g);
  if (load_error_) [[unlikely]]
    return xbpf::unexpected(*load_error_);
  if (!prog_) return Verdict{XDP_PASS, packet, 0, 0};
  if (packet.size() < XdpFrame::kEthHlen || packet.size() > kMaxData)
    return fail_errno(EINVAL, "packet hook '{}': packets must be {}..{} bytes, got {}", device_, XdpFrame::kEthHlen,
                      kMaxData, packet.size());
  ctx_ = xdp_md{};  // ingress_ifindex 0: the devices of the store have names, not ifindexes
  helpers::RunState& st = state_;
  if (prog_->vm().mode() == vm::Mode::Checked) {  // Program::run appends these on every checked run
    st.regions.clear();
    st.maps.clear();
  }
  st.set_redirect(0, 0);
  st.error.reset();
  XdpFrame::lay_out(buf_.data(), packet, XdpFrame::kHeadroom, 0, ctx_, st.packet);
  auto r = prog_->run(&ctx_, sizeof ctx_, st);
  if (!r) return xbpf::unexpected(with_context(r.error(), fmt::format("packet hook '{}'", device_)));
  return Verdict{uint32_t(*r), std::span<const uint8_t>(st.packet.data, st.packet.data_end), prog_->id(),
                 st.redirect_ifindex, st.redirect_map_id, st.redirect_key};
}

}  // namespace xbpf::hooks
