#include "shm_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

namespace artem {
namespace {

std::runtime_error SysError(const std::string& what, const std::string& name) {
  return std::runtime_error(what + "(\"" + name + "\"): " + std::strerror(errno));
}

void PutU32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));  // little-endian
}

void PutU64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

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
  const std::string path = "/" + name_;
  const int fd = shm_open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) throw SysError("shm_open", path);
  if (ftruncate(fd, static_cast<off_t>(size_)) != 0) {
    const auto err = SysError("ftruncate", path);
    close(fd);
    shm_unlink(path.c_str());
    throw err;
  }
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the region
  if (p == MAP_FAILED) {
    const auto err = SysError("mmap", path);
    shm_unlink(path.c_str());
    throw err;
  }
  base_ = static_cast<std::uint8_t*>(p);
  std::memset(base_, 0, kHeaderSize);  // the reserved rest of the header is zero
  std::memcpy(base_, "ARTEMSHM", 8);
  PutU32(base_ + 8, kLayoutVersion);
  PutU32(base_ + 12, slot_count_);
  PutU64(base_ + 16, slot_size_);
}

ShmRegion::~ShmRegion() {
  if (base_) munmap(base_, size_);
  shm_unlink(("/" + name_).c_str());
}

std::string ShmRegion::UniqueName() {
  std::random_device rd;
  const std::uint64_t r = (std::uint64_t{rd()} << 32) | rd();
  char buf[64];
  std::snprintf(buf, sizeof buf, "artem-native-%ld-%016llx", static_cast<long>(getpid()),
                static_cast<unsigned long long>(r));
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
