#include "runtime/test_run.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <linux/bpf.h>

#include "helpers/helpers.hpp"
#include "runtime/context.hpp"

namespace xbpf::runtime {

namespace {
constexpr size_t kPage = XdpFrame::kPage;  // skb data too: one page, skb_shared_info at the end
constexpr size_t kEthHlen = XdpFrame::kEthHlen;
constexpr size_t kShinfo = XdpFrame::kShinfo;
constexpr size_t kSkbHeadroom = 64;     // NET_SKB_PAD + NET_IP_ALIGN on x86-64
using helpers::kLoopbackIfindex;  // test runs use the namespace's loopback device
// The skb buffer: its first page is laid out as the kernel's (headroom,
// data, skb_shared_info); the pages after it hold what bpf_skb_change_tail
// may add (the kernel reallocates instead; programs cannot tell).
constexpr size_t kSkbBuffer =
    (kSkbHeadroom + kEthHlen + helpers::kSkbMaxLen + kShinfo + kPage - 1) / kPage * kPage;

// Runs `repeat` times, each with a fresh copy of `base` (regions grow per
// run) but the packet as the last run left it: the kernel runs every repeat
// on the same skb or xdp_buff, so a resized packet stays resized.
Expected<TestRunResult> run_repeated(const Program& prog, void* ctx, size_t ctx_size, const helpers::RunState& base,
                                     const TestRun& opts, helpers::RunState* last) {
  TestRunResult res;
  const uint32_t repeat = opts.repeat ? opts.repeat : 1;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < repeat; ++i) {
    const helpers::PacketState packet = i ? last->packet : base.packet;
    *last = base;
    last->packet = packet;
    auto r = prog.run(ctx, ctx_size, *last);
    if (!r) return xbpf::unexpected(r.error());
    res.retval = uint32_t(*r);
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  res.duration_ns = uint32_t(uint64_t(ns) / repeat);
  res.redirect_ifindex = last->redirect_ifindex;
  res.redirect_map_id = last->redirect_map_id;
  res.redirect_key = last->redirect_key;
  return res;
}

helpers::RunState base_state(const TestRun& o) {
  helpers::RunState s;
  s.trace = o.trace;
  return s;
}

template <class T>
Expected<T> read_ctx(const TestRun& o, std::string_view what) {
  T ctx{};
  if (!o.ctx_in) return ctx;
  const auto in = *o.ctx_in;
  // Bytes past the struct must be zero (bpf_check_uarg_tail_zero).
  for (size_t i = sizeof(T); i < in.size(); ++i)
    if (in[i]) return fail_errno(E2BIG, "test run: {} ctx_in has non-zero bytes past the struct", what);
  std::memcpy(&ctx, in.data(), std::min(in.size(), sizeof(T)));
  return ctx;
}

Expected<TestRunResult> run_xdp(const Program& prog, const TestRun& o) {
  auto md_in = read_ctx<xdp_md>(o, "xdp_md");
  if (!md_in) return xbpf::unexpected(md_in.error());
  xdp_md md = *md_in;
  const size_t size = o.data_in.size();
  size_t headroom = XdpFrame::kHeadroom;
  if (o.ctx_in) {
    if (md.data_meta || md.data_end != size || md.data > md.data_end || md.data % 4 || md.data > 255)
      return fail_errno(EINVAL, "test run: xdp_md must have data_meta 0, data_end == data size, metadata a multiple of 4 up to 255 bytes");
    // Metadata comes out of the headroom, which must keep room for struct xdp_frame.
    if (md.data > XdpFrame::kHeadroom - XdpFrame::kFrameSize)
      return fail_errno(EINVAL, "test run: {} bytes of metadata leave no room for struct xdp_frame", md.data);
    headroom -= md.data;
  }
  if (md.egress_ifindex) return fail_errno(EINVAL, "test run: xdp_md.egress_ifindex must be 0");
  if (!md.ingress_ifindex && md.rx_queue_index) return fail_errno(EINVAL, "test run: rx_queue_index without ingress_ifindex");
  const size_t max_data = XdpFrame::max_data(headroom);
  if (size < kEthHlen || size > max_data)
    return fail_errno(EINVAL, "test run: xdp data must be {}..{} bytes, got {}", kEthHlen, max_data, size);
  auto buf = LowBuffer::allocate(kPage);
  if (!buf) return xbpf::unexpected(buf.error());
  xdp_md ctx{};
  ctx.ingress_ifindex = md.ingress_ifindex ? md.ingress_ifindex : kLoopbackIfindex;
  ctx.rx_queue_index = md.rx_queue_index;
  helpers::RunState st = base_state(o);
  XdpFrame::lay_out(buf->data(), o.data_in, headroom, o.ctx_in ? md.data : 0, ctx, st.packet);
  helpers::RunState last;
  auto res = run_repeated(prog, &ctx, sizeof ctx, st, o, &last);
  if (!res) return res;
  const helpers::PacketState& q = last.packet;
  res->data_out.assign(q.data_meta, q.data_end);
  if (o.ctx_in || o.want_ctx_out) {
    md.data = uint32_t(q.data - q.data_meta);
    md.data_end = uint32_t(q.data_end - q.data_meta);
    res->ctx_out.resize(sizeof md);
    std::memcpy(res->ctx_out.data(), &md, sizeof md);
  }
  return res;
}

// Only these __sk_buff fields may be set by ctx_in (convert___skb_to_skb).
Expected<void> check_skb_ctx(const __sk_buff& s) {
  __sk_buff allowed{};
  std::memcpy(&allowed, &s, sizeof s);
  allowed.mark = allowed.priority = allowed.ingress_ifindex = allowed.ifindex = 0;
  std::memset(allowed.cb, 0, sizeof allowed.cb);
  allowed.tstamp = 0;
  allowed.wire_len = allowed.gso_segs = allowed.gso_size = 0;
  allowed.hwtstamp = 0;
  static const __sk_buff zero{};
  if (std::memcmp(&allowed, &zero, sizeof zero) != 0)
    return fail_errno(EINVAL, "test run: __sk_buff ctx_in sets a field other than mark, priority, ingress_ifindex, "
                              "ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp");
  if (s.ifindex > kLoopbackIfindex) return fail_errno(ENODEV, "test run: no device {} in xbpf", s.ifindex);
  if (s.gso_segs > 65535) return fail_errno(EINVAL, "test run: gso_segs too large");
  return {};
}

// eth_type_trans on the loopback device, whose address and broadcast
// address are both 00:..:00: ff:ff:ff:ff:ff:ff is therefore "multicast".
void eth_type_trans(const uint8_t* eth, size_t size, __sk_buff& ctx) {
  static const uint8_t kZero[6] = {};
  if (std::memcmp(eth, kZero, 6) == 0) ctx.pkt_type = 0;          // PACKET_HOST
  else if (eth[0] & 1) ctx.pkt_type = 2;                          // PACKET_MULTICAST
  else ctx.pkt_type = 3;                                          // PACKET_OTHERHOST
  const uint16_t proto_be = uint16_t(eth[12] | eth[13] << 8);     // as stored (network order)
  if ((uint16_t(eth[12]) << 8 | eth[13]) >= 0x600) ctx.protocol = proto_be;
  else if (size >= kEthHlen + 2 && eth[14] == 0xff && eth[15] == 0xff) ctx.protocol = 0x0100;  // htons(ETH_P_802_3)
  else ctx.protocol = 0x0400;                                     // htons(ETH_P_802_2)
}

// The socket the test run attaches: family and addresses from the IP header.
void fake_sock(const uint8_t* l3, size_t len, __sk_buff& ctx) {
  if (ctx.protocol == 0x0008 && len >= 20) {  // ETH_P_IP
    ctx.family = 2;                           // AF_INET
    std::memcpy(&ctx.local_ip4, l3 + 12, 4);  // sk_rcv_saddr = saddr
    std::memcpy(&ctx.remote_ip4, l3 + 16, 4); // sk_daddr = daddr
  } else if (ctx.protocol == 0xdd86 && len >= 40) {  // ETH_P_IPV6
    ctx.family = 10;
    std::memcpy(ctx.local_ip6, l3 + 8, 16);
    std::memcpy(ctx.remote_ip6, l3 + 24, 16);
  }
}

Expected<TestRunResult> run_skb(const Program& prog, const TestRun& o) {
  // tc programs' data starts at the Ethernet header, the others' at the network header
  const bool l2 = (helpers::kTcTypes & helpers::bit(prog.type())) != 0;
  auto in = read_ctx<__sk_buff>(o, "__sk_buff");
  if (!in) return xbpf::unexpected(in.error());
  if (auto r = check_skb_ctx(*in); !r) return xbpf::unexpected(r.error());
  const size_t size = o.data_in.size();
  const size_t max = kPage - kSkbHeadroom - kShinfo;
  if (size < kEthHlen || size > max)
    return fail_errno(EINVAL, "test run: skb data must be {}..{} bytes, got {}", kEthHlen, max, size);
  if (in->wire_len && (in->wire_len < (l2 ? size : size - kEthHlen) || in->wire_len > 65536))
    return fail_errno(EINVAL, "test run: bad wire_len {}", in->wire_len);
  auto buf = LowBuffer::allocate(kSkbBuffer, kPage);
  if (!buf) return xbpf::unexpected(buf.error());
  uint8_t* eth = buf->data() + kSkbHeadroom;
  std::memcpy(eth, o.data_in.data(), size);
  __sk_buff ctx = *in;
  eth_type_trans(eth, size, ctx);
  // The kernel pulls the whole IP header before running (pskb_may_pull).
  if ((ctx.protocol == 0x0008 && size < kEthHlen + 20) || (ctx.protocol == 0xdd86 && size < kEthHlen + 40))
    return fail_errno(EINVAL, "test run: packet too short for its IP header");
  fake_sock(eth + kEthHlen, size - kEthHlen, ctx);
  ctx.ifindex = kLoopbackIfindex;
  uint8_t* data = l2 ? eth : eth + kEthHlen;
  helpers::RunState st = base_state(o);
  st.packet = {buf->data(), buf->data() + kSkbBuffer - kShinfo, data, eth + size, data, 0,
               &ctx.data, &ctx.data_end, &ctx.data_meta, &ctx.len, false};
  st.packet.min_len = uint32_t(eth + kEthHlen - data);  // the network header (no transport header set)
  helpers::TunnelInfo tunnel;  // none until bpf_skb_set_tunnel_key; kept across repeats, as the skb's dst
  st.packet.tunnel = &tunnel;
  ctx.len = uint32_t(eth + size - data);
  ctx.data = low32(data);
  ctx.data_end = low32(eth + size);
  ctx.data_meta = ctx.data;
  if (!ctx.wire_len) ctx.wire_len = ctx.len;
  helpers::RunState last;
  auto res = run_repeated(prog, &ctx, sizeof ctx, st, o, &last);
  if (!res) return res;
  // Output from the Ethernet header on; L3 types get a blank one pushed back
  // (not read from the buffer: bpf_skb_change_head may have used the room).
  res->data_out.assign(l2 ? 0 : kEthHlen, 0);
  res->data_out.insert(res->data_out.end(), static_cast<const uint8_t*>(last.packet.data),
                       static_cast<const uint8_t*>(last.packet.data_end));
  if (o.ctx_in || o.want_ctx_out) {
    __sk_buff outc = *in;
    outc.mark = ctx.mark;
    outc.priority = ctx.priority;
    outc.ingress_ifindex = in->ingress_ifindex;
    outc.ifindex = ctx.ifindex;
    outc.tstamp = ctx.tstamp;
    std::memcpy(outc.cb, ctx.cb, sizeof outc.cb);
    outc.wire_len = ctx.wire_len;
    outc.gso_segs = ctx.gso_segs;
    outc.gso_size = ctx.gso_size;
    outc.hwtstamp = ctx.hwtstamp;
    res->ctx_out.resize(sizeof outc);
    std::memcpy(res->ctx_out.data(), &outc, sizeof outc);
  }
  return res;
}

// raw_tracepoint: ctx_in is the u64 argument array (at most 12), nothing else
// is allowed; the program sees exactly the bytes given (bpf_prog_test_run_raw_tp).
Expected<TestRunResult> run_raw_tp(const Program& prog, const TestRun& o) {
  const size_t n = o.ctx_in ? o.ctx_in->size() : 0;
  if (!o.data_in.empty() || o.want_ctx_out || o.repeat > 1 || n > 12 * sizeof(uint64_t))
    return fail_errno(EINVAL, "test run: raw_tracepoint takes only ctx_in (up to 12 u64 arguments), once");
  std::vector<uint8_t> ctx;
  if (o.ctx_in) ctx.assign(o.ctx_in->begin(), o.ctx_in->end());
  helpers::RunState st = base_state(o), last;
  return run_repeated(prog, ctx.empty() ? nullptr : ctx.data(), ctx.size(), st, o, &last);
}

// Types whose context is given whole (tracing, sock_ops, ...).
Expected<TestRunResult> run_plain(const Program& prog, const TestRun& o) {
  if (!o.data_in.empty()) return fail_errno(EINVAL, "test run: {} programs take no data_in", kabi::name(prog.type()));
  const size_t want = context_size(prog.type());
  std::vector<uint8_t> ctx(std::max(want, o.ctx_in ? o.ctx_in->size() : 0), 0);
  if (o.ctx_in && !o.ctx_in->empty()) std::memcpy(ctx.data(), o.ctx_in->data(), o.ctx_in->size());
  helpers::RunState st = base_state(o), last;
  auto res = run_repeated(prog, ctx.empty() ? nullptr : ctx.data(), ctx.size(), st, o, &last);
  if (res && (o.ctx_in || o.want_ctx_out)) res->ctx_out = ctx;
  return res;
}
}  // namespace

bool takes_packet(ProgType t) {
  switch (t) {
    case ProgType::Xdp:
    case ProgType::SocketFilter:
    case ProgType::SchedCls:
    case ProgType::SchedAct:
    case ProgType::CgroupSkb:
    case ProgType::LwtIn:
    case ProgType::LwtOut:
    case ProgType::LwtXmit: return true;
    default: return false;
  }
}

Expected<TestRunResult> test_run(const Program& prog, const TestRun& opts) {
  if (opts.flags) return fail_errno(EINVAL, "test run: flags {:#x} are not supported", opts.flags);
  if (prog.type() == ProgType::Xdp) return run_xdp(prog, opts);
  if (takes_packet(prog.type())) return run_skb(prog, opts);
  return prog.type() == ProgType::RawTracepoint ? run_raw_tp(prog, opts) : run_plain(prog, opts);
}

}  // namespace xbpf::runtime
