// One Stylize stream from a native engine: frames in slots of a shared-memory region (same
// host; docs/shared-memory.md) or, for remote servers, inline in the messages, raw or as JPEG.
// The slot API is the same for both: write a frame into a request slot, send it, read the
// reply slot once its reply has come. A render thread sends without waiting (Send) and picks
// replies up when it can (Receive); Stylize does both for one frame in flight.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "grpc_client.h"
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
  std::uint32_t slot = 0;            // the slot the frame was sent from: its reply is in this reply slot
  std::uint32_t dropped_frames = 0;  // earlier frames replaced unanswered (their slots are free again)
  float queue_ms = 0, convert_ms = 0, model_ms = 0, transfer_ms = 0, total_ms = 0;
  int code = 0;                      // 0, or the gRPC status code of a refused frame
  std::string message;               // why it was refused
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
  enum class Transport { kSharedMemory, kInline, kJpeg };
  static constexpr int kDefaultJpegQuality = 90;

  // Connects to `address` (with `security`'s token and TLS), opens the stream and configures it (style, strength, and for
  // shared memory a new region of `slot_count` slots sized for `views`). Throws Error.
  Session(const std::string& address, const std::string& style, float strength, std::vector<ViewDesc> views,
          std::uint32_t slot_count, Transport transport = Transport::kSharedMemory,
          int jpeg_quality = kDefaultJpegQuality, const rpc::Security& security = {});
  ~Session();  // half-closes the stream, waits for its end, then releases the region
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::uint8_t* request_view(std::uint32_t slot, std::uint32_t view);
  // Inline, the reply view's address may change from one reply to the next: ask after each.
  const std::uint8_t* reply_view(std::uint32_t slot, std::uint32_t view) const;
  const std::vector<ViewDesc>& views() const { return views_; }
  std::uint64_t view_bytes(std::uint32_t view) const;
  std::uint32_t slot_count() const { return slot_count_; }

  // Sends frame `id` from request slot `slot` without waiting. The slot is the server's until
  // the frame's reply, or a later frame's reply, has been received. Throws Error.
  void Send(std::uint64_t id, std::uint32_t slot);
  // The next frame reply, waiting up to `timeout_ms` (< 0: no limit); false on timeout. A reply
  // without `code` accounts for every earlier frame still out (answered or dropped). Throws
  // Error when the stream has ended.
  bool Receive(FrameInfo* info, int timeout_ms = -1);
  // Send, then Receive until this frame's reply. Throws Error, also for a refused frame.
  FrameInfo Stylize(std::uint64_t id, std::uint32_t slot);
  void SetStyle(const std::string& style, float strength);  // throws Error

 private:
  struct Stream;
  struct Incoming;  // a reply's bytes and what was parsed from them
  void Configure(const std::string& style, float strength, bool register_region);
  void CheckSlot(std::uint32_t slot, std::uint32_t view) const;
  void ReadLoop();
  void KeepInlineReply(std::unique_ptr<Incoming> reply, std::uint32_t slot);
  void DecodeJpegReply(const Incoming& reply, std::uint32_t slot);

  std::vector<ViewDesc> views_;
  std::vector<std::uint64_t> offsets_;  // each view's offset inside a slot (multiples of 64)
  std::uint32_t slot_count_;
  std::uint64_t slot_size_;
  Transport transport_;
  int jpeg_quality_;  // kJpeg: both ways (the server encodes its replies at the session's quality)
  std::unique_ptr<ShmRegion> region_;      // kSharedMemory
  std::vector<std::uint8_t> local_slots_;  // kInline: request slots, then reply slots
  // Where each slot's reply views are (slot * views + view): the region's reply slots, or for
  // inline the pixels of the reply kept for that slot (`held_`), parsed in place.
  std::vector<const std::uint8_t*> reply_at_;
  std::vector<std::unique_ptr<Incoming>> held_;
  std::unique_ptr<Stream> stream_;

  // Replies, read by `reader_` as they come; frames out, by id: their slots.
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::unique_ptr<Incoming>> replies_;
  std::vector<std::unique_ptr<Incoming>> spare_;  // read into again: no new allocations
  std::unordered_map<std::uint64_t, std::uint32_t> out_;
  bool ended_ = false;
  int end_code_ = 0;
  std::string end_message_;
  std::thread reader_;
};

}  // namespace artem
