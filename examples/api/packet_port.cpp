// A user-space packet port with an XDP hook: every packet the application
// handles goes through the XDP program attached to its device, whoever
// attached it (this process through Store::attach_xdp, or another one with
// `xbpf net attach xdp PROG dev NAME`), and changes apply from the next packet.
//
//   usage: example_packet_port OBJECT        a self-contained demo in a private store:
//                                            nothing attached, OBJECT's drop_discard
//                                            attached, detached again
//          example_packet_port DEVICE PCAP   the default store: run each packet of PCAP
//                                            through DEVICE and count the verdicts
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include <unistd.h>

#include "xbpf/xbpf.hpp"

namespace {

const char* action_name(uint32_t a) {
  static const char* const kNames[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"};
  return a < 5 ? kNames[a] : "?";
}

// Runs packets through the hook; verdict -> packets.
std::map<uint32_t, int> run_all(xbpf::PacketHook& hook, const std::vector<std::vector<uint8_t>>& packets,
                                uint32_t* last_prog) {
  std::map<uint32_t, int> counts;
  for (const auto& p : packets) {
    auto v = hook.run(p);
    if (!v) {
      std::fprintf(stderr, "%s\n", v.error().message.c_str());
      ++counts[~0U];
      continue;
    }
    ++counts[v->action];
    *last_prog = v->prog_id;
  }
  return counts;
}

void print(const char* what, const std::map<uint32_t, int>& counts, uint32_t prog) {
  std::printf("%s (prog %u):", what, prog);
  for (auto [a, n] : counts) std::printf(" %s=%d", a == ~0U ? "errors" : action_name(a), n);
  std::printf("\n");
}

// A UDP/IPv4 packet to `port`.
std::vector<uint8_t> udp(uint8_t port) {
  std::vector<uint8_t> p(60, 0);
  p[12] = 0x08;
  p[14] = 0x45;
  p[23] = 17;
  p[37] = port;
  return p;
}

int demo(const char* object) {
  const std::string dir = "/dev/shm/xbpf-example-port-" + std::to_string(getpid());
  auto store = xbpf::Store::open(dir);
  if (!store) return std::fprintf(stderr, "%s\n", store.error().message.c_str()), 1;
  // The port opens its hook before anything is attached: packets pass.
  auto hook = xbpf::PacketHook::open(*store, "port0");
  if (!hook) return std::fprintf(stderr, "%s\n", hook.error().message.c_str()), 1;
  const std::vector<std::vector<uint8_t>> traffic = {udp(53), udp(9), udp(9), udp(123)};
  uint32_t prog = 0;
  auto before = run_all(*hook, traffic, &prog);
  print("nothing attached", before, prog);
  int bad = before != std::map<uint32_t, int>{{2, 4}};

  auto obj = xbpf::Object::open(object);
  if (!obj) return std::fprintf(stderr, "%s\n", obj.error().message.c_str()), 1;
  if (auto r = obj->load(*store); !r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
  auto filter = obj->program("drop_discard");
  if (!filter) return std::fprintf(stderr, "%s\n", filter.error().message.c_str()), 1;
  auto link = store->attach_xdp(*filter, "port0");
  if (!link) return std::fprintf(stderr, "%s\n", link.error().message.c_str()), 1;
  auto during = run_all(*hook, traffic, &prog);
  print("drop_discard attached", during, prog);
  bad += during != std::map<uint32_t, int>{{1, 2}, {2, 2}} || prog != filter->id();
  auto dropped = obj->map("verdicts")->get<uint32_t, uint64_t>(1);
  bad += !dropped || *dropped != 2;

  if (auto r = store->detach_xdp("port0"); !r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
  auto after = run_all(*hook, traffic, &prog);
  print("detached", after, prog);
  bad += after != std::map<uint32_t, int>{{2, 4}} || prog != 0;
  std::filesystem::remove_all(dir);
  return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2) return demo(argv[1]);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OBJECT | %s DEVICE PCAP\n", argv[0], argv[0]);
    return 2;
  }
  auto store = xbpf::Store::open_default();
  if (!store) return std::fprintf(stderr, "%s\n", store.error().message.c_str()), 1;
  auto hook = xbpf::PacketHook::open(*store, argv[1]);
  if (!hook) return std::fprintf(stderr, "%s\n", hook.error().message.c_str()), 1;
  std::vector<std::vector<uint8_t>> packets;
  auto read = xbpf::for_each_pcap_packet(argv[2], [&](std::span<const uint8_t> p) { packets.emplace_back(p.begin(), p.end()); });
  if (!read) return std::fprintf(stderr, "%s\n", read.error().message.c_str()), 1;
  uint32_t prog = 0;
  auto counts = run_all(*hook, packets, &prog);
  std::printf("Packets: %zu\n", packets.size());
  print(argv[1], counts, prog);
  return counts.count(~0U) ? 1 : 0;
}
