// Consume a program's ring buffer records and its bpf_trace_printk lines.
//   usage: example_ringbuf_events ringbuf_events.bpf.o
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include <unistd.h>

#include "xbpf/xbpf.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: %s OBJECT\n", argv[0]), 2;
  const std::string dir = "/dev/shm/xbpf-example-rb-" + std::to_string(getpid());
  auto store = xbpf::Store::open(dir);
  auto obj = xbpf::Object::open(argv[1]);
  if (!store || !obj) return std::fprintf(stderr, "cannot open the store or the object\n"), 1;
  if (auto r = obj->load(*store); !r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;

  xbpf::RingBuffer rb;
  std::vector<uint32_t> lengths;
  auto r = rb.add(*obj->map("events"), [&](std::span<const uint8_t> rec) {
    uint32_t len;
    std::memcpy(&len, rec.data(), sizeof len);
    lengths.push_back(len);
    return 0;
  });
  if (!r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;

  auto prog = obj->program("report");
  for (size_t size : {64, 128, 1500}) {
    std::vector<uint8_t> pkt(size, 0);
    xbpf::TestRun run;
    run.data_in = pkt;
    if (auto res = prog->run(run); !res) return std::fprintf(stderr, "%s\n", res.error().message.c_str()), 1;
  }
  const int n = rb.consume();
  std::printf("%d ring buffer records:", n);
  for (uint32_t l : lengths) std::printf(" %u", l);
  std::printf("\n");

  uint64_t offset = 0;
  auto lines = store->read_trace(offset);
  if (!lines) return std::fprintf(stderr, "%s\n", lines.error().message.c_str()), 1;
  for (const auto& l : *lines) std::printf("trace: %s\n", l.c_str());
  std::filesystem::remove_all(dir);
  const bool ok = n == 3 && lengths == std::vector<uint32_t>{64, 128, 1500} && lines->size() == 3 &&
                  lines->back().find("packet of 1500 bytes") != std::string::npos;
  return ok ? 0 : 1;
}
