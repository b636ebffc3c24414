// A shared-memory region in ArtEm's layout (docs/shared-memory.md): a 4096-byte header, then
// `slot_count` request slots and as many reply slots of `slot_size` bytes each. The client
// creates, owns and unlinks it; the server only maps it for the stream that registered it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace artem {

constexpr std::size_t kHeaderSize = 4096;
constexpr std::size_t kSlotAlign = 4096;  // slot_size is a multiple: slots start on pages
constexpr std::size_t kViewAlign = 64;    // a view's offset inside its slot: a cache line
constexpr std::uint32_t kLayoutVersion = 2;  // 2: the header holds the region's key
constexpr std::size_t kKeyBytes = 16;         // at header offset 24; the registration repeats it
constexpr std::uint32_t kMaxSlots = 64;

// Bytes a view takes from its offset: full rows but the last, which may stop at its last pixel.
std::uint64_t ViewBytes(std::uint32_t width, std::uint32_t height, std::uint32_t bytes_per_pixel,
                        std::uint32_t row_stride);
std::uint64_t AlignUp(std::uint64_t n, std::uint64_t to);
// The region size for a layout: the header and 2 * slot_count slots.
std::uint64_t RegionSize(std::uint32_t slot_count, std::uint64_t slot_size);

class ShmRegion {
 public:
  // Creates `name` (POSIX: shm_open O_CREAT|O_EXCL, mode 0600; Windows: a named file mapping),
  // sizes and maps it, writes the header with a new random key. Throws std::runtime_error naming the call and reason.
  ShmRegion(std::string name, std::uint32_t slot_count, std::uint64_t slot_size);
  ~ShmRegion();  // unmaps and unlinks (Windows: closes the last handle)
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;

  // A name no other process uses: "artem-native-<pid>-<16 hex>".
  static std::string UniqueName();

  const std::string& name() const { return name_; }
  std::uint32_t slot_count() const { return slot_count_; }
  std::uint64_t slot_size() const { return slot_size_; }
  std::uint64_t size() const { return size_; }
  // The key in the header: SharedMemoryRegion.key, which binds the region to this client.
  const std::string& key() const { return key_; }
  std::uint8_t* base() const { return base_; }
  std::uint8_t* request_slot(std::uint32_t i) const;
  std::uint8_t* reply_slot(std::uint32_t i) const;

 private:
  std::string name_;
  std::uint32_t slot_count_;
  std::uint64_t slot_size_;
  std::uint64_t size_;
  std::string key_;
  std::uint8_t* base_ = nullptr;
  void* handle_ = nullptr;  // Windows: the file mapping's handle, which keeps the name alive
};

}  // namespace artem
