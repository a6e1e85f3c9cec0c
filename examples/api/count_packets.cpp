// Open an object, load it into a store, test-run a program on packets and
// read its map: the basic xbpf API round trip.
//   usage: example_count_packets count_packets.bpf.o
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <unistd.h>

#include "xbpf/xbpf.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OBJECT\n", argv[0]);
    return 2;
  }
  // A private store for the example (real tools use Store::open_default()).
  const std::string dir = "/dev/shm/xbpf-example-" + std::to_string(getpid());
  auto store = xbpf::Store::open(dir);
  if (!store) return std::fprintf(stderr, "%s\n", store.error().message.c_str()), 1;

  auto obj = xbpf::Object::open(argv[1]);
  if (!obj) return std::fprintf(stderr, "%s\n", obj.error().message.c_str()), 1;
  if (auto r = obj->load(*store); !r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
  auto prog = obj->program("count_ipv4");
  auto counts = obj->map("counts");
  if (!prog || !counts) return std::fprintf(stderr, "program or map missing\n"), 1;

  std::vector<uint8_t> ipv4(60, 0), arp(42, 0);
  ipv4[12] = 0x08;
  arp[12] = 0x08;
  arp[13] = 0x06;
  int bad = 0;
  for (const auto* pkt : {&ipv4, &arp, &ipv4}) {
    xbpf::TestRun run;
    run.data_in = *pkt;
    auto res = prog->run(run);
    if (!res) return std::fprintf(stderr, "%s\n", res.error().message.c_str()), 1;
    std::printf("%zu-byte packet -> verdict %u (%u ns)\n", pkt->size(), res->retval, res->duration_ns);
  }
  auto v4 = counts->get<uint32_t, uint64_t>(0);
  auto other = counts->get<uint32_t, uint64_t>(1);
  std::printf("ipv4=%llu other=%llu\n", (unsigned long long)*v4, (unsigned long long)*other);
  bad += *v4 != 2 || *other != 1;
  std::filesystem::remove_all(dir);
  return bad ? 1 : 0;
}
