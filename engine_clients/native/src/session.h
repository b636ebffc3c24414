// One Stylize stream from a native engine: frames in slots of a shared-memory region (same
// host; docs/shared-memory.md) or, for comparison and remote servers, inline in the messages.
// The slot API is the same for both: write a frame into a request slot, Stylize, read the
// reply slot.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shm_region.h"

namespace artem {

struct ViewDesc {
  std::uint32_t width = 0, height = 0;
  std::uint32_t format = 1;      // artem.v1.PixelFormat: 1 RGBA8, 2 BGRA8, 3 RGB8
  std::uint32_t row_stride = 0;  // 0: packed
  bool linear = false;
};

struct FrameInfo {
  std::uint64_t id = 0;
  std::uint32_t dropped_frames = 0;
  float queue_ms = 0, convert_ms = 0, model_ms = 0, transfer_ms = 0, total_ms = 0;
};

// A refused request or a broken stream: the gRPC status code and the server's message.
class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

std::uint32_t BytesPerPixel(std::uint32_t format);  // throws Error(3) for an unknown format

class Session {
 public:
  enum class Transport { kSharedMemory, kInline };

  // Connects to `address`, opens the stream and configures it (style, strength, and for
  // shared memory a new region of `slot_count` slots sized for `views`). Throws Error.
  Session(const std::string& address, const std::string& style, float strength, std::vector<ViewDesc> views,
          std::uint32_t slot_count, Transport transport = Transport::kSharedMemory);
  ~Session();  // half-closes the stream, then releases the region
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::uint8_t* request_view(std::uint32_t slot, std::uint32_t view);
  const std::uint8_t* reply_view(std::uint32_t slot, std::uint32_t view) const;
  const std::vector<ViewDesc>& views() const { return views_; }
  std::uint64_t view_bytes(std::uint32_t view) const;
  std::uint32_t slot_count() const { return slot_count_; }
  const ShmRegion* region() const { return region_.get(); }

  // Sends frame `id` from request slot `slot` and waits for its reply. Throws Error.
  FrameInfo Stylize(std::uint64_t id, std::uint32_t slot);
  void SetStyle(const std::string& style, float strength);  // throws Error

 private:
  struct Stream;
  void Configure(const std::string& style, float strength, bool register_region);
  void CheckSlot(std::uint32_t slot, std::uint32_t view) const;

  std::vector<ViewDesc> views_;
  std::vector<std::uint64_t> offsets_;  // each view's offset inside a slot (multiples of 64)
  std::uint32_t slot_count_;
  std::uint64_t slot_size_;
  Transport transport_;
  std::unique_ptr<ShmRegion> region_;       // kSharedMemory
  std::vector<std::uint8_t> local_slots_;   // kInline: request slots, then reply slots
  std::unique_ptr<Stream> stream_;
};

}  // namespace artem
