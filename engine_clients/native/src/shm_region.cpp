#ifdef _WIN32
#define _CRT_RAND_S  // rand_s (the system's cryptographic random source); before any C header
#endif
#include "shm_region.h"

#ifdef _WIN32
#include <stdlib.h>
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#if defined(__linux__)
#include <sys/random.h>
#else
#include <stdlib.h>  // arc4random_buf
#endif
#include <unistd.h>
#endif

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace artem {
namespace {

void PutU32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));  // little-endian
}

void PutU64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// `n` bytes from the system's cryptographic random source (not std::random_device: statically
// linked, its libstdc++ would tie the plugin to the newest glibc, for arc4random).
void OsRandom(void* out, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(out);
#if defined(_WIN32)
  for (std::size_t i = 0; i < n; i += 4) {
    unsigned int r = 0;
    if (rand_s(&r) != 0) throw std::runtime_error("rand_s failed");
    for (std::size_t j = 0; j < 4 && i + j < n; ++j) p[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
#elif defined(__linux__)
  for (std::size_t got = 0; got < n;) {
    const ssize_t k = getrandom(p + got, n - got, 0);
    if (k < 0 && errno != EINTR) throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    if (k > 0) got += static_cast<std::size_t>(k);
  }
#else
  arc4random_buf(p, n);
#endif
}

#ifdef _WIN32
std::runtime_error SysError(const std::string& what, const std::string& name) {
  return std::runtime_error(what + "(\"" + name + "\"): Windows error " + std::to_string(GetLastError()));
}

std::wstring Wide(const std::string& s) { return std::wstring(s.begin(), s.end()); }  // names are ASCII

// A named file mapping backed by the paging file, as Python's SharedMemory makes on Windows;
// the name lives while a handle is open.
std::uint8_t* Create(const std::string& name, std::uint64_t size, void** handle) {
  HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, static_cast<DWORD>(size >> 32),
                                static_cast<DWORD>(size & 0xffffffffu), Wide(name).c_str());
  if (!h) throw SysError("CreateFileMappingW", name);
  if (GetLastError() == ERROR_ALREADY_EXISTS) {
    CloseHandle(h);
    throw std::runtime_error("CreateFileMappingW(\"" + name + "\"): the name is taken");
  }
  void* p = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, static_cast<SIZE_T>(size));
  if (!p) {
    const auto err = SysError("MapViewOfFile", name);
    CloseHandle(h);
    throw err;
  }
  *handle = h;
  return static_cast<std::uint8_t*>(p);
}

void Release(const std::string&, std::uint8_t* base, std::uint64_t, void* handle) {
  if (base) UnmapViewOfFile(base);
  if (handle) CloseHandle(static_cast<HANDLE>(handle));
}

long ProcessId() { return static_cast<long>(GetCurrentProcessId()); }
#else
std::runtime_error SysError(const std::string& what, const std::string& name) {
  return std::runtime_error(what + "(\"" + name + "\"): " + std::strerror(errno));
}

// shm_open(O_CREAT | O_EXCL), sized and mapped; the name lives until shm_unlink.
std::uint8_t* Create(const std::string& name, std::uint64_t size, void**) {
  const std::string path = "/" + name;
  const int fd = shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) throw SysError("shm_open", path);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const auto err = SysError("ftruncate", path);
    close(fd);
    shm_unlink(path.c_str());
    throw err;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the region
  if (p == MAP_FAILED) {
    const auto err = SysError("mmap", path);
    shm_unlink(path.c_str());
    throw err;
  }
  return static_cast<std::uint8_t*>(p);
}

void Release(const std::string& name, std::uint8_t* base, std::uint64_t size, void*) {
  if (base) munmap(base, size);
  shm_unlink(("/" + name).c_str());
}

long ProcessId() { return static_cast<long>(getpid()); }
#endif

}  // namespace

std::uint64_t AlignUp(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

std::uint64_t ViewBytes(std::uint32_t width, std::uint32_t height, std::uint32_t bytes_per_pixel,
                        std::uint32_t row_stride) {
  const std::uint64_t packed = std::uint64_t{width} * bytes_per_pixel;
  const std::uint64_t stride = row_stride ? row_stride : packed;
  return height ? stride * (height - 1) + packed : 0;
}

std::uint64_t RegionSize(std::uint32_t slot_count, std::uint64_t slot_size) {
  return kHeaderSize + 2 * std::uint64_t{slot_count} * slot_size;
}

ShmRegion::ShmRegion(std::string name, std::uint32_t slot_count, std::uint64_t slot_size)
    : name_(std::move(name)), slot_count_(slot_count), slot_size_(slot_size),
      size_(RegionSize(slot_count, slot_size)) {
  if (slot_count < 1 || slot_count > kMaxSlots)
    throw std::invalid_argument("slot_count = " + std::to_string(slot_count) + ": expected 1.." +
                                std::to_string(kMaxSlots));
  if (slot_size == 0 || slot_size % kSlotAlign)
    throw std::invalid_argument("slot_size = " + std::to_string(slot_size) +
                                ": expected a positive multiple of 4096");
  base_ = Create(name_, size_, &handle_);
  std::memset(base_, 0, kHeaderSize);  // the reserved rest of the header is zero
  std::memcpy(base_, "ARTEMSHM", 8);
  PutU32(base_ + 8, kLayoutVersion);
  PutU32(base_ + 12, slot_count_);
  PutU64(base_ + 16, slot_size_);
  key_.resize(kKeyBytes);
  OsRandom(key_.data(), kKeyBytes);
  std::memcpy(base_ + 24, key_.data(), kKeyBytes);
}

ShmRegion::~ShmRegion() { Release(name_, base_, size_, handle_); }

std::string ShmRegion::UniqueName() {
  std::uint64_t r;
  OsRandom(&r, sizeof r);
  char buf[64];
  std::snprintf(buf, sizeof buf, "artem-native-%ld-%016llx", ProcessId(), static_cast<unsigned long long>(r));
  return buf;
}

std::uint8_t* ShmRegion::request_slot(std::uint32_t i) const {
  if (i >= slot_count_) throw std::out_of_range("slot " + std::to_string(i));
  return base_ + kHeaderSize + std::uint64_t{i} * slot_size_;
}

std::uint8_t* ShmRegion::reply_slot(std::uint32_t i) const {
  if (i >= slot_count_) throw std::out_of_range("slot " + std::to_string(i));
  return base_ + kHeaderSize + (std::uint64_t{slot_count_} + i) * slot_size_;
}

}  // namespace artem
