// Fuzzes what a store trusts least: object files written by someone else.
// The first byte picks a mode:
//   raw         the input is the whole object file (header and all);
//   structured  the input supplies map attributes (made self-consistent: a
//               valid header with the right checksum) and the storage bytes,
//               so the fuzzer reaches past header validation into every map
//               type's handling of hostile shared memory.
// Opening must fail cleanly or give a map that survives every operation.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <fcntl.h>
#include <signal.h>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "maps/fd_maps.hpp"
#include "maps/lock.hpp"
#include "maps/map_impl.hpp"
#include "maps/perf_buffer.hpp"
#include "maps/ringbuf.hpp"
#include "maps/stack_trace.hpp"
#include "maps/store.hpp"

using namespace xbpf::maps;

namespace {

struct FuzzStore {
  FuzzStore() {
    // libFuzzer may end the process without running destructors: name the
    // directory after our pid and remove those of earlier, dead runs.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("xbpf-fuzz-store-", 0) != 0) continue;
      const long pid = std::strtol(n.c_str() + 16, nullptr, 10);
      if (pid <= 0 || (kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH)) std::filesystem::remove_all(e.path(), ec);
    }
    dir = "/dev/shm/xbpf-fuzz-store-" + std::to_string(getpid());
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directory(dir, ec);
    store = *Store::open(dir + "/s");
    // Hostile storage can hold lock words naming live pids (1 = init):
    // take such locks over at once instead of after the default grace.
    set_lock_grace_ms(0);
  }
  ~FuzzStore() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  std::string dir;
  std::shared_ptr<Store> store;
};

FuzzStore& fs() {
  static FuzzStore s;
  return s;
}

const MapType kTypes[] = {
    MapType::Array,      MapType::PercpuArray, MapType::Hash,        MapType::PercpuHash, MapType::LruHash,
    MapType::LruPercpuHash, MapType::Ringbuf,  MapType::Queue,       MapType::Stack,      MapType::BloomFilter,
    MapType::ProgArray,  MapType::ArrayOfMaps, MapType::HashOfMaps,  MapType::LpmTrie,    MapType::PerfEventArray,
    MapType::StackTrace,
};

void write_file(const std::string& path, const uint8_t* data, size_t n) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;
  (void)!write(fd, data, n);
  close(fd);
}

uint32_t take32(const uint8_t*& p, size_t& n) {
  uint32_t v = 0;
  const size_t k = n < 4 ? n : 4;
  std::memcpy(&v, p, k);
  p += k;
  n -= k;
  return v;
}

// Every operation, user and program side, with keys/values from the input.
void exercise(Map& m, const uint8_t* p, size_t n) {
  std::vector<uint8_t> key(m.key_size() + 8), val(m.user_value_size() + 8), next(m.key_size() + 8);
  for (size_t i = 0; i < key.size() && i < n; ++i) key[i] = p[i];
  for (size_t i = 0; i < val.size() && i < n; ++i) val[i] = p[n - 1 - i];
  (void)m.lookup(key.data(), val.data(), 0);
  (void)m.get_next_key(nullptr, next.data());
  const void* k = nullptr;
  for (int i = 0; i < 64 && m.get_next_key(k, next.data()); ++i) {
    key.swap(next);
    k = key.data();
    (void)m.lookup(key.data(), val.data(), 0);
  }
  (void)m.lookup_elem(key.data());
  (void)m.update_elem(key.data(), val.data(), kAny);
  (void)m.update(key.data(), val.data(), kAny);
  (void)m.push_elem(val.data(), kExist);
  (void)m.pop_elem(val.data());
  (void)m.peek_elem(val.data());
  (void)m.delete_elem(key.data());
  (void)m.lookup_and_delete(key.data(), val.data(), 0);
  (void)m.remove(key.data());
  (void)prog_array_get(m, 0);
  if (m.type() == MapType::Ringbuf) {
    if (void* r = ringbuf_reserve(m, 8, 0)) ringbuf_submit(r, 0);
    RingBufferConsumer c;
    (void)c.add(std::shared_ptr<Map>(&m, [](Map*) {}), [](const void*, size_t) { return 0; });
    (void)c.consume();
  }
  if (m.type() == MapType::PerfEventArray) {
    (void)perf_event_output(m, 0, val.data(), 8);
    PerfBufferConsumer c;
    (void)c.add(std::shared_ptr<Map>(&m, [](Map*) {}), [](uint32_t, const void*, uint32_t) {});
    (void)c.consume();
  }
  const uint64_t ips[4] = {1, 2, 3, 4};
  (void)stack_get_id(m, ips, 4, 0);
}

void structured(uint32_t id, const uint8_t* p, size_t n) {
  MapAttr a;
  a.type = kTypes[(n ? p[0] : 0) % std::size(kTypes)];
  if (n) ++p, --n;
  a.key_size = take32(p, n) % 64;
  a.value_size = take32(p, n) % 256;
  a.max_entries = take32(p, n) % 64;
  a.map_flags = take32(p, n) & 0x1fff;
  a.map_extra = take32(p, n) & 0x1f;
  a.inner_map_id = take32(p, n) % 4;
  if (a.type == MapType::Ringbuf) a.max_entries = 4096;
  if (!detail::validate_attr(a)) return;
  const uint64_t storage = detail::find_ops(a.type)->storage_size(a);
  if (storage > (256U << 10)) return;  // keeps runs fast; sizes are not what is under test here
  std::vector<uint8_t> file(detail::kHeaderSize + storage);
  detail::fill_header(*reinterpret_cast<detail::ObjHeader*>(file.data()), ObjectKind::Map, id, a, storage);
  // Storage from the input, repeated, so chains and positions are attacker-chosen.
  for (size_t i = 0; n && i < storage; ++i) file[detail::kHeaderSize + i] = p[i % n];
  write_file(fs().dir + "/s/maps/" + std::to_string(id), file.data(), file.size());
  if (auto m = fs().store->open_map(id)) exercise(**m, p, n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint32_t next_id = 1U << 30;  // far above the ids the store hands out
  const uint32_t id = next_id++;
  const std::string path = fs().dir + "/s/maps/" + std::to_string(id);
  if (size && (data[0] & 1)) {
    structured(id, data + 1, size - 1);
  } else {
    write_file(path, data, size);
    if (auto m = fs().store->open_map(id)) exercise(**m, data, size);
    write_file(fs().dir + "/s/progs/" + std::to_string(id), data, size);
    (void)fs().store->program(id);
    unlink((fs().dir + "/s/progs/" + std::to_string(id)).c_str());
  }
  unlink(path.c_str());
  return 0;
}
