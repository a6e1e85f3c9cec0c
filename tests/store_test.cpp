// The object store: directory checks, ids, sharing between instances
// (= processes), pins, reclamation (also of killed processes), program
// records, corrupt object files.
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "maps/lock.hpp"
#include "maps/shm.hpp"
#include "maps/store.hpp"
#include "maps/store_impl.hpp"

namespace fs = std::filesystem;
using namespace xbpf;
using namespace xbpf::maps;

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/xbpf-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/store";
    auto s = Store::open(dir_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = *s;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::shared_ptr<Map> make_array(uint32_t entries = 4, const std::string& name = "arr") {
    MapAttr a;
    a.type = MapType::Array;
    a.key_size = 4;
    a.value_size = 8;
    a.max_entries = entries;
    a.name = name;
    auto m = store_->create_map(a);
    EXPECT_TRUE(m) << m.error().message;
    return m ? *m : nullptr;
  }
  std::string map_file(uint32_t id) const { return dir_ + "/maps/" + std::to_string(id); }

  std::string root_, dir_;
  std::shared_ptr<Store> store_;
};

TEST_F(StoreTest, DefaultDirHonoursEnvironment) {
  setenv("XBPF_STORE", "/tmp/somewhere", 1);
  EXPECT_EQ(Store::default_dir(), "/tmp/somewhere");
  unsetenv("XBPF_STORE");
  EXPECT_EQ(Store::default_dir(), "/dev/shm/xbpf-" + std::to_string(geteuid()));
}

TEST_F(StoreTest, CreatesPrivateDirectory) {
  struct stat st{};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
  EXPECT_TRUE(fs::is_directory(dir_ + "/maps"));
  EXPECT_TRUE(fs::is_directory(dir_ + "/pins"));
}

TEST_F(StoreTest, RefusesAnotherUsersDirectory) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown a directory to uid 65534";
  const std::string other = root_ + "/other";
  ASSERT_EQ(mkdir(other.c_str(), 0700), 0);
  ASSERT_EQ(chown(other.c_str(), 65534, 65534), 0);
  auto s = Store::open(other);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, EACCES);
  EXPECT_NE(s.error().message.find("owned by uid 65534"), std::string::npos) << s.error().message;
}

TEST_F(StoreTest, RefusesNonDirectory) {
  const std::string file = root_ + "/file";
  close(open(file.c_str(), O_CREAT | O_WRONLY, 0600));
  auto s = Store::open(file);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, ENOTDIR);
}

TEST_F(StoreTest, TwoInstancesShareUpdatesImmediately) {
  auto other = Store::open(dir_);
  ASSERT_TRUE(other);
  auto m = make_array();
  auto m2 = (*other)->open_map(m->id());
  ASSERT_TRUE(m2) << m2.error().message;
  uint32_t k = 2;
  uint64_t v = 0xdeadbeef, out = 0;
  ASSERT_TRUE(m->update(&k, &v, kAny));
  ASSERT_TRUE((*m2)->lookup(&k, &out, 0));
  EXPECT_EQ(out, v);
  // Program-side pointers alias the same shared memory.
  *static_cast<uint64_t*>((*m2)->lookup_elem(&k)) = 7;
  EXPECT_EQ(*static_cast<uint64_t*>(m->lookup_elem(&k)), 7U);
  EXPECT_EQ((*m2)->name(), "arr");
  EXPECT_EQ((*m2)->info().id, m->id());
}

TEST_F(StoreTest, IdsAreNeverReused) {
  uint32_t first;
  {
    auto m = make_array();
    first = m->id();
  }
  auto m2 = make_array();
  EXPECT_GT(m2->id(), first);
  auto other = Store::open(dir_);
  ASSERT_TRUE(other);
  MapAttr a = m2->attr();
  auto m3 = (*other)->create_map(a);
  ASSERT_TRUE(m3);
  EXPECT_GT((*m3)->id(), m2->id());
}

TEST_F(StoreTest, UnpinnedMapIsReclaimedWhenLastHolderDrops) {
  auto m = make_array();
  const uint32_t id = m->id();
  auto again = store_->open_map(id);
  ASSERT_TRUE(again);
  m.reset();
  EXPECT_TRUE(fs::exists(map_file(id))) << "still held by the second handle";
  again->reset();
  EXPECT_FALSE(fs::exists(map_file(id)));
  auto gone = store_->open_map(id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().errnum, ENOENT);
}

TEST_F(StoreTest, PinKeepsMapAlive) {
  auto m = make_array();
  const uint32_t id = m->id();
  uint32_t k = 1;
  uint64_t v = 42, out = 0;
  ASSERT_TRUE(m->update(&k, &v, kAny));
  ASSERT_TRUE(store_->pin(ObjectKind::Map, id, "dir/counters"));
  m.reset();
  auto ids = store_->map_ids();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<uint32_t>{id});
  auto p = store_->pinned("dir/counters");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->first, ObjectKind::Map);
  EXPECT_EQ(p->second, id);
  auto m2 = store_->open_map(id);
  ASSERT_TRUE(m2);
  ASSERT_TRUE((*m2)->lookup(&k, &out, 0));
  EXPECT_EQ(out, 42U);
  m2->reset();
  ASSERT_TRUE(store_->unpin("dir/counters"));
  EXPECT_FALSE(fs::exists(map_file(id)));
}

TEST_F(StoreTest, PinErrors) {
  auto m = make_array();
  ASSERT_TRUE(store_->pin(ObjectKind::Map, m->id(), "a"));
  auto dup = store_->pin(ObjectKind::Map, m->id(), "a");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().errnum, EEXIST);
  for (const char* bad : {"", "/abs", "../up", "a/../b", "a//b", "trailing/"}) {
    auto r = store_->pin(ObjectKind::Map, m->id(), bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().errnum, EINVAL) << bad;
  }
  auto missing = store_->pinned("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errnum, ENOENT);
  auto no_obj = store_->pin(ObjectKind::Map, 999999, "x");
  ASSERT_FALSE(no_obj);
  EXPECT_EQ(no_obj.error().errnum, ENOENT);
  auto unpin_missing = store_->unpin("nope");
  ASSERT_FALSE(unpin_missing);
  EXPECT_EQ(unpin_missing.error().errnum, ENOENT);
}

// A child creates maps and is SIGKILLed: its unpinned map is swept, its pinned one survives.
TEST_F(StoreTest, KilledProcessObjectsAreReclaimed) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Store::open(dir_);
    MapAttr a;
    a.type = MapType::Array;
    a.key_size = 4;
    a.value_size = 8;
    a.max_entries = 1;
    auto loose = (*s)->create_map(a);
    auto kept = (*s)->create_map(a);
    uint32_t ids[2] = {(*loose)->id(), (*kept)->id()};
    (void)!(*s)->pin(ObjectKind::Map, ids[1], "kept");
    (void)!write(fds[1], ids, sizeof ids);
    pause();
    _exit(0);
  }
  close(fds[1]);
  uint32_t ids[2] = {};
  ASSERT_EQ(read(fds[0], ids, sizeof ids), static_cast<ssize_t>(sizeof ids));
  close(fds[0]);
  EXPECT_TRUE(fs::exists(map_file(ids[0])));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  auto list = store_->map_ids();
  ASSERT_TRUE(list);
  EXPECT_EQ(*list, std::vector<uint32_t>{ids[1]});
  EXPECT_FALSE(fs::exists(map_file(ids[0])));
  auto kept = store_->open_map(ids[1]);
  EXPECT_TRUE(kept);
}

TEST_F(StoreTest, ProgramRecordsRoundTrip) {
  ProgramRecord rec;
  rec.name = "a_rather_long_program_name";
  rec.prog_type = 6;
  rec.tag = "0123456789abcdef";
  rec.insns = {0x95, 0xb7, 0x1234567890abcdefULL};
  auto m1 = make_array(4, "m1");
  auto m2 = make_array(4, "m2");
  rec.map_ids = {m1->id(), m2->id()};
  rec.load_time_ns = 123456789;
  rec.owner_uid = 1000;
  rec.owner_pid = 42;
  rec.gpl = true;
  rec.jited = true;
  rec.jited_len = 77;
  rec.verified_insns = 12;
  rec.expected_attach_type = 3;
  rec.func_info = {{0, 5}, {2, 9}};
  rec.line_info = {{0, 1, 20, 7 << 10 | 3}, {2, 1, 40, 9 << 10}};
  auto id = store_->add_program(rec);
  ASSERT_TRUE(id) << id.error().message;
  auto other = Store::open(dir_);
  ASSERT_TRUE(other);
  auto back = (*other)->program(*id);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->id, *id);
  EXPECT_EQ(back->name, rec.name);
  EXPECT_EQ(back->prog_type, 6U);
  EXPECT_EQ(back->tag, rec.tag);
  EXPECT_EQ(back->insns, rec.insns);
  EXPECT_EQ(back->map_ids, rec.map_ids);
  EXPECT_EQ(back->load_time_ns, rec.load_time_ns);
  EXPECT_EQ(back->owner_uid, 1000U);
  EXPECT_EQ(back->owner_pid, 42U);
  EXPECT_TRUE(back->gpl);
  EXPECT_TRUE(back->jited);
  EXPECT_EQ(back->jited_len, 77U);
  EXPECT_EQ(back->verified_insns, 12U);
  EXPECT_EQ(back->expected_attach_type, 3U);
  ASSERT_EQ(back->func_info.size(), 2U);
  EXPECT_EQ(back->func_info[1].type_id, 9U);
  ASSERT_EQ(back->line_info.size(), 2U);
  EXPECT_EQ(back->line_info[0].line_col, 7U << 10 | 3);
  EXPECT_EQ(back->line_info[1].line_off, 40U);
  auto ids = (*other)->program_ids();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<uint32_t>{*id});
  EXPECT_TRUE(store_->has_program(*id));
}

// A record of the first format (no extension) still reads, with the new
// fields zero; a damaged extension is refused.
TEST_F(StoreTest, ProgramRecordFormats) {
  ProgramRecord rec{.name = "old", .tag = "00", .insns = {0x95}};
  std::vector<uint8_t> body = detail::serialize_program(rec);
  const size_t first_format = body.size() - 8 * 4;  // the extension: marker + 7 words, no infos
  auto old = detail::parse_program(body.data(), first_format, "rec");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->name, "old");
  EXPECT_FALSE(old->gpl);
  EXPECT_EQ(old->btf_id, 0U);
  body[first_format] ^= 1;  // the marker
  auto bad = detail::parse_program(body.data(), body.size(), "rec");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("rec: corrupt program record"), std::string::npos) << bad.error().message;
  body[first_format] ^= 1;
  body.push_back(0);  // a stray byte after the infos
  EXPECT_FALSE(detail::parse_program(body.data(), body.size(), "rec"));
}

// A program keeps its maps and BTF alive, as the kernel's program holds its
// used maps: pinned, it outlives its loader; unpinned, everything goes.
TEST_F(StoreTest, ProgramHoldsItsMapsAndBtf) {
  const std::vector<uint8_t> raw = {0x9f, 0xeb, 1, 0, 24, 0, 0, 0};
  auto btf = store_->add_btf(raw);
  ASSERT_TRUE(btf) << btf.error().message;
  uint32_t map_id = 0;
  {
    MapAttr a;
    a.type = MapType::Hash;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 8;
    a.name = "h";
    a.btf_id = *btf;
    auto m = store_->create_map(a);
    ASSERT_TRUE(m) << m.error().message;
    map_id = (*m)->id();
    EXPECT_EQ((*m)->info().attr.btf_id, *btf);
    auto id = store_->add_program(ProgramRecord{.name = "p", .map_ids = {map_id}, .btf_id = *btf});
    ASSERT_TRUE(id) << id.error().message;
    ASSERT_TRUE(store_->pin(ObjectKind::Program, *id, "dir/p"));
    store_.reset();  // the loading process exits
  }
  auto s = Store::open(dir_);
  ASSERT_TRUE(s);
  store_ = *s;
  EXPECT_TRUE(store_->open_map(map_id));
  auto back = store_->btf(*btf);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, raw);
  auto pins = store_->pins();
  ASSERT_TRUE(pins);
  ASSERT_EQ(pins->size(), 1U);
  EXPECT_EQ((*pins)[0].path, "dir/p");
  EXPECT_EQ((*pins)[0].kind, ObjectKind::Program);
  ASSERT_TRUE(store_->unpin("dir/p"));
  EXPECT_FALSE(store_->open_map(map_id));
  EXPECT_FALSE(store_->btf(*btf));
  EXPECT_TRUE(store_->btf_ids()->empty());
  EXPECT_TRUE(fs::is_empty(dir_ + "/refs"));
}

// A record naming a map that does not exist is refused and leaves nothing.
TEST_F(StoreTest, ProgramWithMissingMapIsRefused) {
  auto id = store_->add_program(ProgramRecord{.name = "p", .map_ids = {999}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().errnum, ENOENT);
  EXPECT_NE(id.error().message.find("map 999 no longer exists"), std::string::npos) << id.error().message;
  EXPECT_TRUE(store_->program_ids()->empty());
  EXPECT_TRUE(fs::is_empty(dir_ + "/refs"));
  EXPECT_FALSE(store_->add_btf({}));
}

TEST_F(StoreTest, ProgramLivesWhileHeld) {
  auto id = store_->add_program(ProgramRecord{.name = "p"});
  ASSERT_TRUE(id);
  auto hold = store_->hold_program(*id);
  ASSERT_TRUE(hold);
  auto other = Store::open(dir_);
  (*other)->sweep();
  EXPECT_TRUE(store_->has_program(*id));
  hold->reset();
  EXPECT_FALSE(store_->has_program(*id));
  auto missing = store_->program(*id);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errnum, ENOENT);
}

// ---- corrupt object files

class CorruptStoreTest : public StoreTest {
 protected:
  // A pinned map with its holders gone, so only the file remains.
  uint32_t pinned_map() {
    auto m = make_array(16);
    const uint32_t id = m->id();
    EXPECT_TRUE(store_->pin(ObjectKind::Map, id, "m" + std::to_string(id)));
    return id;
  }
  void expect_corrupt(uint32_t id, const char* what) {
    auto m = store_->open_map(id);
    ASSERT_FALSE(m) << what;
    EXPECT_EQ(m.error().errnum, EINVAL) << what;
    EXPECT_NE(m.error().message.find("corrupt"), std::string::npos) << m.error().message;
  }
  detail::ObjHeader read_hdr(uint32_t id) {
    detail::ObjHeader h;
    const int fd = open(map_file(id).c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
    close(fd);
    return h;
  }
  void write_hdr(uint32_t id, detail::ObjHeader h, bool fix_checksum) {
    if (fix_checksum) h.checksum = detail::header_checksum(h);
    const int fd = open(map_file(id).c_str(), O_WRONLY);
    EXPECT_EQ(pwrite(fd, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
    close(fd);
  }
};

TEST_F(CorruptStoreTest, Truncated) {
  const uint32_t id = pinned_map();
  ASSERT_EQ(truncate(map_file(id).c_str(), 100), 0);
  expect_corrupt(id, "truncated into the header");
  const uint32_t id2 = pinned_map();
  ASSERT_EQ(truncate(map_file(id2).c_str(), detail::kHeaderSize + 8), 0);
  expect_corrupt(id2, "truncated storage");
}

TEST_F(CorruptStoreTest, BadMagicAndChecksum) {
  const uint32_t id = pinned_map();
  auto h = read_hdr(id);
  h.magic ^= 1;
  write_hdr(id, h, true);
  expect_corrupt(id, "magic");
  const uint32_t id2 = pinned_map();
  auto h2 = read_hdr(id2);
  h2.max_entries = 17;
  write_hdr(id2, h2, false);
  expect_corrupt(id2, "checksum");
}

TEST_F(CorruptStoreTest, HugeOrInconsistentSizes) {
  const uint32_t id = pinned_map();
  auto h = read_hdr(id);
  h.max_entries = 0xffffffff;
  h.value_size = 1 << 20;
  write_hdr(id, h, true);
  expect_corrupt(id, "huge sizes");
  const uint32_t id2 = pinned_map();
  auto h2 = read_hdr(id2);
  h2.storage_size = uint64_t{1} << 62;
  write_hdr(id2, h2, true);
  expect_corrupt(id2, "huge storage size");
  const uint32_t id3 = pinned_map();
  auto h3 = read_hdr(id3);
  h3.type = 9999;
  write_hdr(id3, h3, true);
  expect_corrupt(id3, "unknown type");
  const uint32_t id4 = pinned_map();
  auto h4 = read_hdr(id4);
  h4.id = id4 + 1;
  write_hdr(id4, h4, true);
  expect_corrupt(id4, "other id");
}

TEST_F(CorruptStoreTest, CorruptProgramRecord) {
  auto id = store_->add_program(ProgramRecord{.name = "p", .insns = {1, 2, 3}});
  ASSERT_TRUE(id);
  const std::string path = dir_ + "/progs/" + std::to_string(*id);
  // Claim a billion instructions in a small record.
  const uint32_t huge = 1U << 30;
  const int fd = open(path.c_str(), O_WRONLY);
  ASSERT_EQ(pwrite(fd, &huge, 4, detail::kHeaderSize + 28), 4);
  close(fd);
  auto r = store_->program(*id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errnum, EINVAL);
}

}  // namespace

namespace {

TEST_F(StoreTest, PinnedProgramOutlivesItsHolders) {
  auto id = store_->add_program(ProgramRecord{.name = "pinned_prog"});
  ASSERT_TRUE(id);
  ASSERT_TRUE(store_->pin(ObjectKind::Program, *id, "progs/p"));
  store_.reset();  // drops the creation hold
  auto s = Store::open(dir_);
  ASSERT_TRUE(s);
  store_ = *s;
  auto p = store_->pinned("progs/p");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, ObjectKind::Program);
  auto rec = store_->program(p->second);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->name, "pinned_prog");
  ASSERT_TRUE(store_->unpin("progs/p"));
  EXPECT_FALSE(store_->has_program(*id));
}

TEST_F(StoreTest, CorruptMetaIsRefused) {
  const std::string other = root_ + "/bad";
  ASSERT_EQ(mkdir(other.c_str(), 0700), 0);
  const int fd = open((other + "/meta").c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_EQ(write(fd, "garbage", 7), 7);
  close(fd);
  auto s = Store::open(other);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, EINVAL);
}

TEST_F(StoreTest, CachedMapIsShared) {
  auto m = make_array();
  auto a = store_->cached_map(m->id());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->get(), m.get());
  auto missing = store_->cached_map(987654);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errnum, ENOENT);
}

}  // namespace

// A lock word that reads as this process's own pid (a corrupt or hostile map
// file: the store fuzzer found one) is taken over after the grace period
// instead of spinning for ever.
TEST(ShmLock, OwnPidInTheWordDoesNotHang) {
  std::atomic<uint32_t> word{static_cast<uint32_t>(getpid())};
  xbpf::maps::set_lock_grace_ms(20);
  xbpf::maps::shm_lock(word);
  EXPECT_EQ(word.load(), static_cast<uint32_t>(getpid()));
  xbpf::maps::shm_unlock(word);
  EXPECT_EQ(word.load(), 0u);
  xbpf::maps::set_lock_grace_ms(500);
}
