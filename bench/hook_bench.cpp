// hook_bench: what one packet costs through an embedder packet hook
// (xbpf::PacketHook), side by side in one process:
//
//   hook/idle     PacketHook::run with nothing attached to the device
//   hook/xdp      PacketHook::run with OBJECT's drop_discard attached
//   test_run      Program::run (BPF_PROG_TEST_RUN style), one call per packet
//   kernel/1      the kernel's BPF_PROG_TEST_RUN of the same object, one
//                 syscall per packet (libbpf; root)
//   kernel/N      the same with repeat=N: the kernel's own loop, no syscall
//                 per packet (its per-run cost, as jit_bench reports it)
//
// Each series runs in rounds of ~batch packets, interleaved, on one CPU
// (--cpu); ns per packet are medians over rounds with the p25-p75 spread.
//
// Usage: hook_bench [--rounds=N] [--batch=N] [--cpu=N] [OBJECT]
//   OBJECT defaults to the build's examples/api/packet_port.bpf.o.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <sched.h>
#include <unistd.h>

#include "xbpf/xbpf.hpp"

#ifdef XBPF_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "hook_bench: %s\n", what.c_str());
  std::exit(1);
}

// A UDP/IPv4 packet to port 53 (drop_discard passes it after parsing it all).
std::vector<uint8_t> udp_packet() {
  std::vector<uint8_t> p(64, 0);
  p[12] = 0x08;
  p[14] = 0x45;
  p[23] = 17;
  p[37] = 53;
  return p;
}

struct Series {
  std::string name;
  std::function<void(size_t)> run;  // runs `n` packets
  std::vector<double> ns;           // per packet, one per round
};

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[size_t(q * double(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  size_t rounds = 200, batch = 20000;
  std::string object = XBPF_HOOK_BENCH_OBJ;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string_view flag) { return std::string(a.substr(flag.size())); };
    if (a.starts_with("--rounds=")) {
      rounds = std::stoul(value("--rounds="));
    } else if (a.starts_with("--batch=")) {
      batch = std::stoul(value("--batch="));
    } else if (a.starts_with("--cpu=")) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(std::stoi(value("--cpu=")), &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) die(std::string(a) + ": " + std::strerror(errno));
    } else if (a.starts_with("--")) {
      die("unknown flag " + std::string(a) + " (usage: hook_bench [--rounds=N] [--batch=N] [--cpu=N] [OBJECT])");
    } else {
      object = std::string(a);
    }
  }
  if (rounds == 0 || batch == 0) die("--rounds and --batch must be positive");

  const std::string dir = "/dev/shm/xbpf-hook-bench-" + std::to_string(getpid());
  auto store = xbpf::Store::open(dir);
  if (!store) die(store.error().message);
  auto hook = xbpf::PacketHook::open(*store, "bench0");
  if (!hook) die(hook.error().message);
  auto obj = xbpf::Object::open(object);
  if (!obj) die(obj.error().message);
  if (auto r = obj->load(*store); !r) die(r.error().message);
  auto prog = obj->program("drop_discard");
  if (!prog) die(prog.error().message);

  // A second hook, on a device that gets the program: the idle one stays idle.
  auto busy = xbpf::PacketHook::open(*store, "bench1");
  if (!busy) die(busy.error().message);
  if (auto l = store->attach_xdp(*prog, "bench1"); !l) die(l.error().message);

  const std::vector<uint8_t> packet = udp_packet();
  xbpf::TestRun tr;
  tr.data_in = packet;
  std::vector<Series> series;
  series.push_back({"hook/idle", [&](size_t n) {
                      for (size_t i = 0; i < n; ++i)
                        if (auto v = hook->run(packet); !v || v->prog_id != 0) die("hook/idle: unexpected verdict");
                    }});
  series.push_back({"hook/xdp", [&](size_t n) {
                      for (size_t i = 0; i < n; ++i)
                        if (auto v = busy->run(packet); !v || v->action != 2) die("hook/xdp: unexpected verdict");
                    }});
  series.push_back({"test_run", [&](size_t n) {
                      for (size_t i = 0; i < n; ++i)
                        if (auto r = prog->run(tr); !r || r->retval != 2) die("test_run: unexpected result");
                    }});
#ifdef XBPF_HAVE_LIBBPF
  libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
  bpf_object* kobj = bpf_object__open_file(object.c_str(), nullptr);
  int kfd = -1;
  if (kobj && bpf_object__load(kobj) == 0) kfd = bpf_program__fd(bpf_object__find_program_by_name(kobj, "drop_discard"));
  if (kfd < 0) {
    std::fprintf(stderr, "hook_bench: the kernel column is missing: loading %s into the kernel failed (%s; needs root)\n",
                 object.c_str(), std::strerror(errno));
  } else {
    auto kernel_run = [kfd, &packet](uint32_t repeat) {
      LIBBPF_OPTS(bpf_test_run_opts, o);
      o.data_in = packet.data();
      o.data_size_in = uint32_t(packet.size());
      o.repeat = repeat;
      if (bpf_prog_test_run_opts(kfd, &o) != 0 || o.retval != 2) die("kernel test run failed");
    };
    series.push_back({"kernel/1", [kernel_run](size_t n) {
                        for (size_t i = 0; i < n; ++i) kernel_run(1);
                      }});
    series.push_back({"kernel/N", [kernel_run](size_t n) { kernel_run(uint32_t(n)); }});
  }
#else
  std::fprintf(stderr, "hook_bench: built without libbpf: no kernel column\n");
#endif

  for (Series& s : series) s.run(batch / 10);  // warm up
  for (size_t r = 0; r < rounds; ++r) {
    for (Series& s : series) {
      // The syscall-per-packet series gets fewer packets per round.
      const size_t n = s.name == "kernel/1" || s.name == "test_run" ? batch / 10 : batch;
      const auto t0 = std::chrono::steady_clock::now();
      s.run(n);
      const auto t1 = std::chrono::steady_clock::now();
      s.ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / double(n));
    }
  }
  std::printf("hook_bench: %s, %zu rounds, %zu-byte UDP packet; ns per packet: median [p25-p75]\n", object.c_str(),
              rounds, packet.size());
  for (const Series& s : series)
    std::printf("  %-10s %8.1f [%.1f-%.1f]\n", s.name.c_str(), quantile(s.ns, 0.5), quantile(s.ns, 0.25),
                quantile(s.ns, 0.75));
#ifdef XBPF_HAVE_LIBBPF
  if (kobj) bpf_object__close(kobj);
#endif
  std::filesystem::remove_all(dir);
  return 0;
}
