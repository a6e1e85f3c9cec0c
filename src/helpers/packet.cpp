// Packet helpers for XDP and skb programs, on the run's PacketState (the
// context's 32-bit data fields are kept in sync). Bounds and flag checks
// follow net/core/filter.c; the checksum arithmetic is the kernel's
// one's-complement code on the raw (network-order) values.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "helpers/helpers.hpp"
#include "helpers/impl.hpp"
#include "support/hash.hpp"

namespace xbpf::helpers::impl {

namespace {
constexpr long kEthHlen = 14;
constexpr uint32_t kMaxMetaLen = 255;  // xdp_metalen_invalid: u8 skb_shared_info.meta_len

uint32_t low32(const uint8_t* p) { return uint32_t(reinterpret_cast<uint64_t>(p)); }

void sync(PacketState& p) {
  if (p.ctx_data) *p.ctx_data = low32(p.data);
  if (p.ctx_data_end) *p.ctx_data_end = low32(p.data_end);
  if (p.ctx_data_meta) *p.ctx_data_meta = low32(p.data_meta);
  if (p.ctx_len) *p.ctx_len = uint32_t(p.data_end - p.data);
}

// One's-complement helpers (include/net/checksum.h).
uint32_t csum_add(uint32_t a, uint32_t b) {
  const uint32_t r = a + b;
  return r + (r < b);
}
uint32_t csum_sub(uint32_t a, uint32_t b) { return csum_add(a, ~b); }
uint16_t csum_fold(uint32_t s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}
uint16_t csum16_add(uint16_t csum, uint16_t addend) {
  uint16_t r = uint16_t(csum + addend);
  return uint16_t(r + (r < addend));
}
void csum_replace4(uint16_t* sum, uint32_t from, uint32_t to) {
  const uint32_t tmp = csum_sub(~uint32_t(*sum), from);
  *sum = csum_fold(csum_add(tmp, to));
}
void csum_replace2(uint16_t* sum, uint16_t from, uint16_t to) {
  *sum = uint16_t(~csum16_add(csum16_add(uint16_t(~*sum), uint16_t(~from)), to));
}
void csum_replace_by_diff(uint16_t* sum, uint32_t diff) { *sum = csum_fold(csum_add(diff, ~uint32_t(*sum))); }

// Checksum field at `off` inside the skb data, or nullptr (-EFAULT).
uint16_t* csum_field(PacketState& p, uint64_t off) {
  const long len = p.data_end - p.data;
  if (off > 0xffff || long(off) > len - 2) return nullptr;
  return reinterpret_cast<uint16_t*>(p.data + off);
}
}  // namespace

XBPF_HELPER(xdp_adjust_head) {
  (void)r1, (void)r3, (void)r4, (void)r5;
  PacketState* p = packet(c);
  if (!p || !p->is_xdp) return uint64_t(-EINVAL);
  // Positions are offsets from the buffer's start, checked before any pointer
  // is formed (a pointer pushed out of its buffer is undefined behaviour).
  const long delta = int32_t(r2);
  const long metalen = p->data - p->data_meta;
  const long pos = (p->data - p->lo) + delta;
  if (pos < long(p->min_headroom) + metalen || pos > (p->data_end - p->lo) - long(kEthHlen)) return uint64_t(-EINVAL);
  uint8_t* data = p->lo + pos;
  if (metalen) std::memmove(data - metalen, p->data_meta, size_t(metalen));
  p->data_meta = data - metalen;
  p->data = data;
  sync(*p);
  return 0;
}

XBPF_HELPER(xdp_adjust_meta) {
  (void)r1, (void)r3, (void)r4, (void)r5;
  PacketState* p = packet(c);
  if (!p || !p->is_xdp) return uint64_t(-EINVAL);
  const long pos = (p->data_meta - p->lo) + int32_t(r2);  // offsets first, as in xdp_adjust_head
  if (pos < long(p->min_headroom) || pos > p->data - p->lo) return uint64_t(-EINVAL);
  uint8_t* meta = p->lo + pos;
  const long metalen = p->data - meta;
  if (metalen % 4 != 0 || metalen > long(kMaxMetaLen)) return uint64_t(-EACCES);
  p->data_meta = meta;
  sync(*p);
  return 0;
}

XBPF_HELPER(xdp_adjust_tail) {
  (void)r1, (void)r3, (void)r4, (void)r5;
  PacketState* p = packet(c);
  if (!p || !p->is_xdp) return uint64_t(-EINVAL);
  const long delta = int32_t(r2);
  const long pos = (p->data_end - p->lo) + delta;  // offsets first, as in xdp_adjust_head
  if (pos > p->hi - p->lo || pos < (p->data - p->lo) + long(kEthHlen)) return uint64_t(-EINVAL);
  uint8_t* end = p->lo + pos;
  if (delta > 0) std::memset(p->data_end, 0, size_t(delta));  // growing exposes zeroes, as the kernel
  p->data_end = end;
  sync(*p);
  return 0;
}

XBPF_HELPER(skb_load_bytes) {
  (void)r1, (void)r5;
  if (!vm::helper_access_ok(*c, r3, r4, true)) return uint64_t(-EFAULT);
  PacketState* p = packet(c);
  const uint64_t len = p ? uint64_t(p->data_end - p->data) : 0;
  if (!p || r2 > INT32_MAX || r2 + r4 > len) {
    std::memset(reinterpret_cast<void*>(r3), 0, r4);
    return uint64_t(-EFAULT);
  }
  std::memcpy(reinterpret_cast<void*>(r3), p->data + r2, r4);
  return 0;
}

XBPF_HELPER(skb_store_bytes) {
  constexpr uint64_t kRecomputeCsum = 1, kInvalidateHash = 2;
  if (r5 & ~(kRecomputeCsum | kInvalidateHash)) return uint64_t(-EINVAL);
  (void)r1;
  if (!vm::helper_access_ok(*c, r3, r4, false)) return uint64_t(-EFAULT);
  PacketState* p = packet(c);
  if (!p || r2 > 0xffff || r2 + r4 > uint64_t(p->data_end - p->data)) return uint64_t(-EFAULT);
  std::memmove(p->data + r2, reinterpret_cast<const void*>(r3), r4);
  return 0;
}

XBPF_HELPER(l3_csum_replace) {
  (void)r1;
  constexpr uint64_t kHdrFieldMask = 0xf;
  if (r5 & ~kHdrFieldMask) return uint64_t(-EINVAL);
  PacketState* p = packet(c);
  uint16_t* sum = p ? csum_field(*p, r2) : nullptr;
  if (!sum) return uint64_t(-EFAULT);
  switch (r5 & kHdrFieldMask) {
    case 0:
      if (r3 != 0) return uint64_t(-EINVAL);
      csum_replace_by_diff(sum, uint32_t(r4));
      return 0;
    case 2: csum_replace2(sum, uint16_t(r3), uint16_t(r4)); return 0;
    case 4: csum_replace4(sum, uint32_t(r3), uint32_t(r4)); return 0;
    default: return uint64_t(-EINVAL);
  }
}

XBPF_HELPER(l4_csum_replace) {
  (void)r1;
  constexpr uint64_t kHdrFieldMask = 0xf, kPseudoHdr = 1U << 4, kMangled0 = 1U << 5, kEnforce = 1U << 6,
                     kIpv6 = 1U << 7;
  if (r5 & ~(kHdrFieldMask | kPseudoHdr | kMangled0 | kEnforce | kIpv6)) return uint64_t(-EINVAL);
  PacketState* p = packet(c);
  uint16_t* sum = p ? csum_field(*p, r2) : nullptr;
  if (!sum) return uint64_t(-EFAULT);
  const bool mmzero = r5 & kMangled0;
  if (mmzero && *sum == 0) return 0;
  // The test-run skb is CHECKSUM_NONE, so the pseudo-header flag only
  // matters for skb->csum, which xbpf does not model.
  switch (r5 & kHdrFieldMask) {
    case 0:
      if (r3 != 0) return uint64_t(-EINVAL);
      csum_replace_by_diff(sum, uint32_t(r4));
      break;
    case 2: csum_replace2(sum, uint16_t(r3), uint16_t(r4)); break;
    case 4: csum_replace4(sum, uint32_t(r3), uint32_t(r4)); break;
    default: return uint64_t(-EINVAL);
  }
  if (mmzero && *sum == 0) *sum = 0xffff;  // CSUM_MANGLED_0
  return 0;
}

// bpf_csum_diff: the one's-complement sum of ~from and to, seeded, folded to
// 16 bits as kernels since 6.12 return it on every architecture.
XBPF_HELPER(csum_diff) {
  if (((r2 | r4) & 3) || r2 + r4 > 512) return uint64_t(-EINVAL);
  if (!vm::helper_access_ok(*c, r1, r2, false) || !vm::helper_access_ok(*c, r3, r4, false))
    return uint64_t(-EFAULT);
  uint64_t sum = uint32_t(r5);
  for (uint64_t i = 0; i < r2; i += 4) {
    uint32_t w;
    std::memcpy(&w, reinterpret_cast<const uint8_t*>(r1) + i, 4);
    sum += uint32_t(~w);
  }
  for (uint64_t i = 0; i < r4; i += 4) {
    uint32_t w;
    std::memcpy(&w, reinterpret_cast<const uint8_t*>(r3) + i, 4);
    sum += w;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

XBPF_HELPER(redirect) {
  (void)r3, (void)r4, (void)r5;
  RunState* s = state(c);
  const bool xdp = s && s->prog_type == kabi::ProgType::Xdp;
  if (xdp ? r2 != 0 : (r2 & ~uint64_t(BPF_F_INGRESS)) != 0) return xdp ? XDP_ABORTED : TC_ACT_SHOT;
  if (s) s->set_redirect(uint32_t(r1), r2);
  return xdp ? XDP_REDIRECT : TC_ACT_REDIRECT;
}

// bpf_redirect_map(map, key, flags), XDP only: the kernel's
// __bpf_xdp_redirect_map. The low flag bits (BPF_F_ACTION_MASK) are the
// action returned when the key has no entry; a devmap also takes
// BPF_F_BROADCAST (the whole map is the target) and BPF_F_EXCLUDE_INGRESS.
XBPF_HELPER(redirect_map) {
  (void)r4, (void)r5;
  constexpr uint64_t kActionMask = XDP_TX;  // BPF_F_ACTION_MASK: XDP_ABORTED, _DROP, _PASS, _TX
  constexpr uint64_t kBroadcast = BPF_F_BROADCAST, kExcludeIngress = BPF_F_EXCLUDE_INGRESS;
  maps::Map* m = map_arg(c, r1);
  if (!m) return XDP_ABORTED;
  const bool dev = m->type() == kabi::MapType::Devmap || m->type() == kabi::MapType::DevmapHash;
  if (r3 & ~(kActionMask | (dev ? kBroadcast | kExcludeIngress : 0))) return XDP_ABORTED;
  // The lookup takes a u32 key: the upper half of the u64 argument is dropped, as in the kernel.
  const uint32_t key = uint32_t(r2);
  const void* entry = m->lookup_elem(&key);
  RunState* s = state(c);
  if (!entry && !(r3 & kBroadcast)) {
    // The last call decides: a miss clears an earlier target.
    if (s) s->set_redirect(0, 0);
    return r3 & kActionMask;
  }
  if (s) {
    uint32_t ifindex = 0;
    if (dev && entry) std::memcpy(&ifindex, entry, 4);  // struct bpf_devmap_val.ifindex
    s->set_redirect(ifindex, r3 & kBroadcast ? r3 : 0, m->id(), key);
  }
  return XDP_REDIRECT;
}

namespace {

// What the flow hash covers (the kernel's flow_keys, as its dissector fills
// them for skb_get_hash): the network protocol, the first VLAN tag (its id
// and priority, not the DEI bit; its type and the type it encapsulates; no
// inner tag), the L4 protocol, the IPv6 flow label, the ports of TCP, UDP,
// UDP-Lite, SCTP and DCCP (not for fragments, nor past a nonzero flow
// label), and the addresses. Zeroed, so the padding hashes alike.
struct FlowKeys {
  uint16_t n_proto = 0;  // network order
  uint16_t vlan_tci = 0, vlan_tpid = 0, vlan_eth_type = 0;  // host order
  uint8_t ip_proto = 0;
  uint8_t pad[3] = {};
  uint32_t flow_label = 0;
  uint16_t src_port = 0, dst_port = 0;  // network order
  uint8_t src[16] = {}, dst[16] = {};
};
static_assert(sizeof(FlowKeys) == 52);

uint16_t be16_at(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
// A 16-bit value's bytes swapped: network order as __sk_buff stores it, to or
// from host order.
uint16_t swap16(uint32_t v) { return __builtin_bswap16(uint16_t(v)); }
// 802.1Q or 802.1ad, in host order (the kernel's eth_type_vlan).
bool vlan_type(uint16_t host) { return host == 0x8100 || host == 0x88a8; }

// A tag in the skb's metadata (__sk_buff.vlan_*, bpf_skb_vlan_push): host order.
struct MetaTag {
  uint16_t proto, tci;
};

// Dissects from the network header `p` (protocol `proto`, host order) to `end`;
// the skb's metadata tag, if any, is the first tag (and `proto` what it
// encapsulates). Stops quietly where the packet ends, or after 15 headers (the
// kernel's MAX_FLOW_DISSECT_HDRS: every tag counts): what was found is hashed.
void dissect(const uint8_t* p, const uint8_t* end, uint16_t proto, const MetaTag* meta, FlowKeys& k) {
  constexpr int kMaxHeaders = 15;
  uint16_t next = meta ? meta->proto : proto;  // the type being dissected
  for (int hdrs = 0; vlan_type(next);) {
    uint16_t tci, inner;
    if (hdrs == 0 && meta) {
      tci = meta->tci;
      inner = proto;
    } else {
      if (end - p < 4) break;
      tci = be16_at(p);
      inner = be16_at(p + 2);
      p += 4;
    }
    if (hdrs == 0) {
      k.vlan_tci = uint16_t(tci & ~0x1000);  // (the DEI bit is not a key)
      k.vlan_tpid = next;
      k.vlan_eth_type = inner;
    }
    next = inner;
    if (++hdrs == kMaxHeaders + 1) {  // the network header is not reached
      k.n_proto = swap16(next);
      return;
    }
  }
  proto = next;
  k.n_proto = swap16(proto);
  uint8_t l4 = 0;
  if (proto == 0x0800) {
    if (end - p < 20 || (p[0] >> 4) != 4 || (p[0] & 0xf) < 5) return;
    const size_t hlen = size_t(p[0] & 0xf) * 4;
    k.ip_proto = p[9];
    const bool fragment = (be16_at(p + 6) & 0x3fff) != 0;  // MF or an offset
    std::memcpy(k.src, p + 12, 4);
    std::memcpy(k.dst, p + 16, 4);
    if (fragment || size_t(end - p) < hlen) return;
    l4 = k.ip_proto;
    p += hlen;
  } else if (proto == 0x86dd) {
    if (end - p < 40 || (p[0] >> 4) != 6) return;
    k.flow_label = uint32_t((p[1] & 0xf) << 16 | p[2] << 8 | p[3]);
    uint8_t next = p[6];
    std::memcpy(k.src, p + 8, 16);
    std::memcpy(k.dst, p + 24, 16);
    p += 40;
    if (k.flow_label) {  // the dissector stops at a flow label (FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL)
      k.ip_proto = next;
      return;
    }
    // Hop-by-hop, routing and destination options headers; a fragment header ends the walk.
    for (int h = 0; h < 8 && (next == 0 || next == 43 || next == 60) && end - p >= 8; ++h) {
      const size_t len = (size_t(p[1]) + 1) * 8;
      next = p[0];
      if (size_t(end - p) < len) return;
      p += len;
    }
    k.ip_proto = next;
    if (next == 44) return;
    l4 = next;
  } else {
    return;
  }
  if ((l4 == 6 || l4 == 17 || l4 == 136 || l4 == 132 || l4 == 33) && end - p >= 4) {
    std::memcpy(&k.src_port, p, 2);
    std::memcpy(&k.dst_port, p + 2, 2);
  }
}

// skb_get_hash's value for the packet: a keyed hash of its FlowKeys, the
// same for both directions of a flow (the lower address, then port, goes
// first, as __flow_hash_consistentify orders them), never 0. Keyed once per
// process (the kernel: once per boot), so values differ from the kernel's
// and between processes; equal flows hash equal, as there.
uint32_t flow_hash(const PacketState& p, const __sk_buff& skb, bool l2) {
  FlowKeys k;
  const uint8_t* net = l2 ? p.data + kEthHlen : p.data;
  const MetaTag meta{swap16(skb.vlan_proto), uint16_t(skb.vlan_tci)};
  if (net <= p.data_end) dissect(net, p.data_end, swap16(skb.protocol), skb.vlan_present ? &meta : nullptr, k);
  const int order = std::memcmp(k.src, k.dst, sizeof k.src);
  if (order > 0 || (order == 0 && be16_at(reinterpret_cast<const uint8_t*>(&k.src_port)) >
                                       be16_at(reinterpret_cast<const uint8_t*>(&k.dst_port)))) {
    std::swap(k.src, k.dst);
    std::swap(k.src_port, k.dst_port);
  }
  static const uint64_t key = [] {
    std::random_device rd;
    return uint64_t(rd()) << 32 | rd();
  }();
  const uint64_t h = hash_bytes(&k, sizeof k, key);
  const uint32_t v = uint32_t(h >> 32) ^ uint32_t(h);
  return v ? v : 1;
}

}  // namespace

// bpf_get_hash_recalc(skb): skb->hash, computed (and stored) when the skb
// has none yet (skb_get_hash).
XBPF_HELPER(get_hash_recalc) {
  (void)r2, (void)r3, (void)r4, (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p) return 0;
  if (p->hash_set || skb->hash) return skb->hash;
  // tc programs see the Ethernet header; the other skb types start at the network one.
  skb->hash = flow_hash(*p, *skb, (kTcTypes & bit(state(c)->prog_type)) != 0);
  return skb->hash;
}

// bpf_set_hash(skb, hash): a software hash, kept as set (0 included). Returns 0.
XBPF_HELPER(set_hash) {
  (void)r3, (void)r4, (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p) return 0;
  skb->hash = uint32_t(r2);
  p->hash_set = true;
  return 0;
}

// bpf_set_hash_invalid(skb): forgets the hash (skb_clear_hash); the next
// bpf_get_hash_recalc computes it again. Returns 0.
XBPF_HELPER(set_hash_invalid) {
  (void)r2, (void)r3, (void)r4, (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p) return 0;
  skb->hash = 0;
  p->hash_set = false;
  return 0;
}

// bpf_skb_change_tail(skb, len, flags): the packet becomes `len` bytes long,
// counted from data; new bytes are zero (__bpf_skb_change_tail). EINVAL for
// flags or a length outside [min_len, kSkbMaxLen].
XBPF_HELPER(skb_change_tail) {
  (void)r1, (void)r4, (void)r5;
  PacketState* p = skb_packet(c);
  const auto len = uint32_t(r2);
  if (!p || r3 || len < p->min_len || len > kSkbMaxLen) return uint64_t(-EINVAL);
  const long old = p->data_end - p->data;
  if (len > p->hi - p->data) return uint64_t(-ENOMEM);  // a buffer laid out without room for kSkbMaxLen
  if (long(len) > old) std::memset(p->data_end, 0, size_t(long(len) - old));
  p->data_end = p->data + len;
  sync(*p);
  return 0;
}

namespace {
// bpf_skb_adjust_room's flags and modes (uapi; the header here predates some).
constexpr uint64_t kAdjFixedGso = 1 << 0, kAdjEncapL3Ipv4 = 1 << 1, kAdjEncapL3Ipv6 = 1 << 2,
                   kAdjEncapL4Gre = 1 << 3, kAdjEncapL4Udp = 1 << 4, kAdjNoCsumReset = 1 << 5,
                   kAdjEncapL2Eth = 1 << 6, kAdjDecapL3Ipv4 = 1 << 7, kAdjDecapL3Ipv6 = 1 << 8;
constexpr uint64_t kAdjEncapL2Mask = 0xffULL << 56;
constexpr uint64_t kAdjEncapL3 = kAdjEncapL3Ipv4 | kAdjEncapL3Ipv6, kAdjDecapL3 = kAdjDecapL3Ipv4 | kAdjDecapL3Ipv6;
constexpr uint64_t kAdjMask = kAdjFixedGso | kAdjEncapL3 | kAdjEncapL4Gre | kAdjEncapL4Udp | kAdjEncapL2Eth |
                              kAdjEncapL2Mask | kAdjDecapL3;
constexpr uint32_t kAdjRoomNet = 0, kAdjRoomMac = 1;
constexpr uint32_t kProtoIpv4 = 0x0008, kProtoIpv6 = 0xdd86;  // __sk_buff.protocol: network order

// skb->protocol after bpf_skb_adjust_room changed the outer L3 header: an
// IPv4 packet becomes IPv6 with `to_v6`, an IPv6 one IPv4 with `to_v4`.
void switch_l3(__sk_buff* skb, bool to_v6, bool to_v4) {
  if (skb->protocol == kProtoIpv4 && to_v6) skb->protocol = kProtoIpv6;
  else if (skb->protocol == kProtoIpv6 && to_v4) skb->protocol = kProtoIpv4;
}

// Inserts `len` zero bytes `off` bytes into the packet (bpf_skb_generic_push):
// the first `off` bytes move `len` earlier. Without the headroom, the packet
// first moves later in the buffer (the kernel reallocates instead). `off` may
// pass the packet's end (a trimmed packet): the bytes moved stay in the buffer.
long push_room(PacketState& p, uint32_t off, uint32_t len) {
  if (p.hi - p.data < long(off) + long(len)) return -ENOMEM;  // a buffer without the room
  if (p.data - p.lo < long(len)) {
    const long shift = long(len) - (p.data - p.lo);
    if (p.hi - p.data_end < shift) return -ENOMEM;
    std::memmove(p.data + shift, p.data, size_t(p.data_end - p.data));
    p.data += shift;
    p.data_end += shift;
  }
  p.data -= len;
  std::memmove(p.data, p.data + len, off);
  std::memset(p.data + off, 0, len);
  p.data_meta = p.data;
  return 0;
}

// Removes `len` bytes `off` bytes into the packet (bpf_skb_generic_pop):
// -ENOMEM when the packet is shorter than both (pskb_may_pull).
long pop_room(PacketState& p, uint32_t off, uint32_t len) {
  if (p.data_end - p.data < long(off) + long(len)) return -ENOMEM;
  std::memmove(p.data + len, p.data, off);
  p.data += len;
  p.data_meta = p.data;
  return 0;
}
}  // namespace

// bpf_skb_adjust_room(skb, len_diff, mode, flags): grows or shrinks the room
// after the L2 header (BPF_ADJ_ROOM_MAC) or after the L3 base header
// (BPF_ADJ_ROOM_NET), new bytes zero. With BPF_F_ADJ_ROOM_ENCAP_L3_* the room
// is an encapsulation (once per skb; skb->protocol follows the outer L3
// header), with BPF_F_ADJ_ROOM_DECAP_L3_* a shrink removes one. Checks and
// errors in the kernel's order (bpf_skb_adjust_room, bpf_skb_net_grow/_shrink);
// GSO and checksum offload do not exist in xbpf's test runs.
XBPF_HELPER(skb_adjust_room) {
  (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p) return uint64_t(-EINVAL);
  const auto diff = int32_t(r2);
  const auto mode = uint32_t(r3);
  const uint64_t flags = r4;
  const bool shrink = diff < 0;
  const uint32_t abs = shrink ? uint32_t(-int64_t(diff)) : uint32_t(diff);
  const uint32_t base = skb->protocol == kProtoIpv4 ? 20 : skb->protocol == kProtoIpv6 ? 40 : 0;
  if (flags & ~(kAdjMask | kAdjNoCsumReset)) return uint64_t(-EINVAL);
  if (abs > 0xfff) return uint64_t(-EFAULT);
  if (!base) return uint64_t(-kENOTSUPP);
  uint32_t off = p->min_len;  // the L2 header's length
  if (mode == kAdjRoomNet) off += base;
  else if (mode != kAdjRoomMac) return uint64_t(-kENOTSUPP);
  uint32_t len_min = base;
  if (flags & kAdjDecapL3) {
    if (!shrink) return uint64_t(-EINVAL);
    switch (flags & kAdjDecapL3) {
      case kAdjDecapL3Ipv4: len_min = 20; break;
      case kAdjDecapL3Ipv6: len_min = 40; break;
      default: return uint64_t(-EINVAL);
    }
  }
  const auto len = uint32_t(p->data_end - p->data), len_cur = len - p->min_len;
  if ((shrink && (abs >= len_cur || len_cur - abs < len_min)) || (!shrink && len + abs > kSkbMaxLen))
    return uint64_t(-kENOTSUPP);
  long r;
  if (shrink) {
    if (flags & ~(kAdjFixedGso | kAdjDecapL3 | kAdjNoCsumReset)) return uint64_t(-EINVAL);
    r = pop_room(*p, off, abs);
    if (!r) switch_l3(skb, flags & kAdjDecapL3Ipv6, flags & kAdjDecapL3Ipv4);
  } else {
    const auto inner_mac_len = uint32_t(flags >> 56);
    const bool encap = flags & kAdjEncapL3;
    if (encap) {
      if ((flags & kAdjEncapL3) == kAdjEncapL3) return uint64_t(-EINVAL);
      if ((flags & kAdjEncapL4Gre) && (flags & kAdjEncapL4Udp)) return uint64_t(-EINVAL);
      if ((flags & kAdjEncapL2Eth) && inner_mac_len < kEthHlen) return uint64_t(-EINVAL);
      if (p->encapsulation) return uint64_t(-EALREADY);
      if (inner_mac_len > abs) return uint64_t(-EINVAL);
    }
    r = push_room(*p, off, abs);
    if (!r && encap) {
      p->encapsulation = true;
      switch_l3(skb, flags & kAdjEncapL3Ipv6, flags & kAdjEncapL3Ipv4);
    }
  }
  sync(*p);
  return uint64_t(r);
}

// bpf_skb_change_proto(skb, proto, flags): IPv4 to IPv6 (20 zero bytes more
// after the L2 header) or back (20 fewer), skb->protocol and the hash reset;
// the program rewrites the headers itself (bpf_skb_proto_xlat).
XBPF_HELPER(skb_change_proto) {
  (void)r4, (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p || r3) return uint64_t(-EINVAL);
  const auto to = uint16_t(r2);
  constexpr uint32_t kDiff = 40 - 20;
  long r;
  if (skb->protocol == kProtoIpv4 && to == kProtoIpv6) {
    r = push_room(*p, p->min_len, kDiff);
    if (!r) skb->protocol = kProtoIpv6;
  } else if (skb->protocol == kProtoIpv6 && to == kProtoIpv4) {
    r = pop_room(*p, p->min_len, kDiff);
    if (!r) skb->protocol = kProtoIpv4;
  } else {
    return uint64_t(-kENOTSUPP);
  }
  if (!r) {
    skb->hash = 0;  // skb_clear_hash
    p->hash_set = false;
  }
  sync(*p);
  return uint64_t(r);
}

namespace {
// 802.1Q as __sk_buff.protocol and vlan_proto hold it (network order).
constexpr uint32_t kProto8021q = 0x0081;
// __sk_buff.protocol or vlan_proto (network order) is 802.1Q or 802.1ad.
bool eth_type_vlan(uint32_t proto) { return vlan_type(swap16(proto)); }

// The skb's tag outside the packet (the kernel's hardware-accelerated tag,
// __vlan_hwaccel_put_tag): __sk_buff.vlan_present, vlan_tci, vlan_proto.
void put_tag(__sk_buff* skb, uint32_t proto, uint16_t tci) {
  skb->vlan_present = 1;  // (vlan_all != 0: the protocol is never 0)
  skb->vlan_proto = proto;
  skb->vlan_tci = tci;
}

// Takes the tag after the MAC addresses out of the packet (__skb_vlan_pop;
// tc programs' data is the MAC header): its TCI to `tci`, skb->protocol to
// the protocol it encapsulates (vlan_set_encap_proto), the network header
// no closer than ETH_HLEN. -ENOMEM for fewer than 18 bytes (VLAN_ETH_HLEN).
long untag(__sk_buff* skb, PacketState& p, uint16_t* tci) {
  constexpr long kVlanEthHlen = kEthHlen + 4;
  if (p.data_end - p.data < kVlanEthHlen) return -ENOMEM;
  *tci = be16_at(p.data + 14);
  const uint16_t inner = be16_at(p.data + 16);
  if (inner >= 0x600) {
    skb->protocol = swap16(inner);  // (stored in network order)
  } else {  // 802.3 framing: the 2 bytes after the tag tell raw 802.3 (0xffff) from LLC
    const bool raw = p.data_end - p.data >= kVlanEthHlen + 2 && p.data[18] == 0xff && p.data[19] == 0xff;
    skb->protocol = raw ? 0x0100 : 0x0400;  // htons(ETH_P_802_3), htons(ETH_P_802_2)
  }
  const long r = pop_room(p, 2 * 6, 4);
  if (!r) p.min_len = p.min_len >= 4 + kEthHlen ? p.min_len - 4 : uint32_t(kEthHlen);
  return r;
}
}  // namespace

// bpf_skb_vlan_push(skb, vlan_proto, vlan_tci): the new tag goes into the
// skb's metadata, as the kernel's skb_vlan_push puts it in the hardware-
// accelerated tag; a tag already there is first written into the packet
// after the MAC addresses (__vlan_insert_tag: 4 bytes more), and
// skb->protocol becomes its protocol. A protocol other than 802.1Q and
// 802.1ad is taken as 802.1Q.
XBPF_HELPER(skb_vlan_push) {
  (void)r4, (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p) return uint64_t(-EINVAL);
  uint32_t proto = uint16_t(r2);
  if (!eth_type_vlan(proto)) proto = kProto8021q;
  if (skb->vlan_present) {
    if (const long r = push_room(*p, 2 * 6, 4); r) return uint64_t(r);
    const auto old = uint16_t(skb->vlan_proto);
    std::memcpy(p->data + 12, &old, 2);  // (network order already)
    p->data[14] = uint8_t(skb->vlan_tci >> 8);
    p->data[15] = uint8_t(skb->vlan_tci);
    skb->protocol = skb->vlan_proto;
    sync(*p);  // (the network header keeps its offset from data)
  }
  put_tag(skb, proto, uint16_t(r3));
  return 0;
}

// bpf_skb_vlan_pop(skb): removes the metadata tag, or else the packet's
// outer tag (when skb->protocol is 802.1Q/802.1ad; otherwise nothing to do);
// then a tag left at the front of the packet moves into the metadata, as the
// kernel's skb_vlan_pop does.
XBPF_HELPER(skb_vlan_pop) {
  (void)r2, (void)r3, (void)r4, (void)r5;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  PacketState* p = skb_packet(c);
  if (!p) return uint64_t(-EINVAL);
  uint16_t tci = 0;
  long r = 0;
  if (skb->vlan_present) {
    skb->vlan_present = skb->vlan_proto = skb->vlan_tci = 0;  // __vlan_hwaccel_clear_tag
  } else {
    if (!eth_type_vlan(skb->protocol)) return 0;
    r = untag(skb, *p, &tci);
  }
  if (!r && eth_type_vlan(skb->protocol)) {
    const uint32_t proto = skb->protocol;
    r = untag(skb, *p, &tci);
    if (!r) put_tag(skb, proto, tci);
  }
  sync(*p);
  return uint64_t(r);
}

// bpf_skb_change_head(skb, head_room, flags): `head_room` zero bytes in
// front of the packet, which become its MAC header (the network header stays
// where it was: skb_reset_mac_header). No flags; the packet may grow to
// kSkbMaxLen (BPF_SKB_MAX_LEN).
XBPF_HELPER(skb_change_head) {
  (void)r1, (void)r4, (void)r5;
  PacketState* p = skb_packet(c);
  const auto room = uint32_t(r2);
  if (!p) return uint64_t(-EINVAL);
  const auto len = uint32_t(p->data_end - p->data);
  if (r3 || uint64_t(len) + room > kSkbMaxLen) return uint64_t(-EINVAL);
  const long r = push_room(*p, 0, room);
  if (!r) p->min_len += room;  // the network header's offset from data
  sync(*p);
  return uint64_t(r);
}

// bpf_skb_pull_data(skb, len): makes the first `len` bytes (0: all) direct
// readable and writable. xbpf's skbs are linear, so that holds already up to
// the packet's length; more is -ENOMEM, as pskb_may_pull fails in the kernel.
XBPF_HELPER(skb_pull_data) {
  (void)r1, (void)r3, (void)r4, (void)r5;
  PacketState* p = skb_packet(c);
  if (!p) return uint64_t(-EINVAL);
  return uint32_t(r2) > uint64_t(p->data_end - p->data) ? uint64_t(-ENOMEM) : 0;
}

// bpf_skb_change_type(skb, type): sets skb->pkt_type; both the old and the
// new type must be PACKET_HOST..PACKET_OTHERHOST (skb_pkt_type_ok).
XBPF_HELPER(skb_change_type) {
  (void)r3, (void)r4, (void)r5;
  constexpr uint32_t kPacketOtherhost = 3;
  auto* skb = reinterpret_cast<__sk_buff*>(r1);
  if (!skb_packet(c) || skb->pkt_type > kPacketOtherhost || uint32_t(r2) > kPacketOtherhost) return uint64_t(-EINVAL);
  skb->pkt_type = uint32_t(r2);
  return 0;
}

}  // namespace xbpf::helpers::impl
