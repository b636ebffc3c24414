// The region's bytes are exactly docs/shared-memory.md's layout; no server needed.
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "shm_region.h"

static int failures = 0;
#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) {                                                \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                 \
    }                                                             \
  } while (0)

static std::uint64_t U64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// Whether another process could open the region by its name now.
static bool Visible(const std::string& name) {
#ifdef _WIN32
  HANDLE h = OpenFileMappingW(FILE_MAP_READ, FALSE, std::wstring(name.begin(), name.end()).c_str());
  if (h) CloseHandle(h);
  return h != nullptr;
#else
  const int fd = shm_open(("/" + name).c_str(), O_RDWR, 0);
  if (fd >= 0) close(fd);
  return fd >= 0;
#endif
}

int main() {
  using namespace artem;
  CHECK(ViewBytes(1832, 1920, 4, 0) == 1832ull * 1920 * 4);
  CHECK(ViewBytes(3, 2, 3, 16) == 16 + 9);  // the last row stops after its last pixel
  CHECK(RegionSize(2, 28139520) == 4096 + 4ull * 28139520);  // the doc's Quest 2 example
  CHECK(AlignUp(28139520, 4096) == 28139520 && AlignUp(1, 64) == 64 && AlignUp(64, 64) == 64);

  std::string name;
  {
    ShmRegion r(ShmRegion::UniqueName(), 3, 8192);
    name = r.name();
    const std::uint8_t* b = r.base();
    CHECK(std::memcmp(b, "ARTEMSHM", 8) == 0);
    CHECK(b[8] == 2 && b[9] == 0 && b[10] == 0 && b[11] == 0);  // version 2, little-endian
    CHECK(b[12] == 3 && b[13] == 0);                           // slot_count
    CHECK(U64(b + 16) == 8192);                                // slot_size
    CHECK(r.key().size() == kKeyBytes && std::memcmp(b + 24, r.key().data(), kKeyBytes) == 0);  // key
    bool key_zero = true;
    for (std::size_t i = 24; i < 24 + kKeyBytes; ++i) key_zero = key_zero && b[i] == 0;
    CHECK(!key_zero);
    bool reserved_zero = true;
    for (std::size_t i = 24 + kKeyBytes; i < 4096; ++i) reserved_zero = reserved_zero && b[i] == 0;
    CHECK(reserved_zero);
    CHECK(r.size() == 4096 + 6 * 8192);
    CHECK(r.request_slot(0) == r.base() + 4096 && r.request_slot(2) == r.base() + 4096 + 2 * 8192);
    CHECK(r.reply_slot(0) == r.base() + 4096 + 3 * 8192 && r.reply_slot(2) == r.base() + 4096 + 5 * 8192);
    bool threw = false;
    try {
      r.reply_slot(3);
    } catch (const std::out_of_range&) {
      threw = true;
    }
    CHECK(threw);
    CHECK(Visible(name));  // other processes open it by name
    bool exclusive = false;  // a second region of the same name is refused
    try {
      ShmRegion again(name, 1, 4096);
    } catch (const std::runtime_error& e) {
      exclusive = std::strstr(e.what(), name.c_str()) != nullptr;
    }
    CHECK(exclusive);
  }
  CHECK(!Visible(name));  // gone with the region

  for (auto bad : {std::pair<std::uint32_t, std::uint64_t>{0, 4096}, {65, 4096}, {1, 4095}, {1, 0}}) {
    bool refused = false;
    try {
      ShmRegion r(ShmRegion::UniqueName(), bad.first, bad.second);
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused);
  }
  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
