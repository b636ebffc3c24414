// One camera's stream to an ArtEm server, run by a thread of its own so that the render thread
// never waits for the network or the server: the render thread copies each eye it read back into a
// request slot and picks up the newest stylized frame; the streaming thread connects (and
// reconnects), sends the newest complete frame (latest frame wins: an older frame not yet sent is
// dropped), receives replies and copies the newest into a frame the render thread can read until it
// takes the next one. Engine-free: over the native core's C ABI (artem.h).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ArtEmCore/CoreApi.h"
#include "ArtEmCore/FrameSlots.h"
#include "ArtEmCore/StereoLayout.h"
#include "ArtEmCore/StreamChoices.h"

struct artem_session;

namespace ArtEm {

struct StreamConfig {
  std::string address = "127.0.0.1:50051";
  std::string style = "identity";
  float strength = 1.0f;
  Transport transport = Transport::SharedMemory;
  Credentials credentials;  // token file, TLS CA file (empty: none, plaintext)
  StereoLayout layout;      // the eyes; the render thread sets it (EnsureLayout)
  bool linear = false;      // the eyes' colour space (ColourForOutputDevice)
  std::int32_t format = 2;  // ARTEM_BGRA8: Unreal's 8-bit scene colour order
  int slots = 3;            // request slots: reading back, queued, out at the server
  int retry_ms = 2000;      // after a failed connection
};

enum class LinkState { Stopped, WaitingForFrames, Connecting, Streaming, Failed };
ARTEMCORE_API const char* LinkStateName(LinkState s);

struct StreamStatus {
  LinkState state = LinkState::Stopped;
  int code = 0;         // the last failure's gRPC status code
  std::string message;  // why it failed, or the last refusal
  std::string address, style, layout;
  float strength = 1.0f;
  Transport transport = Transport::SharedMemory;
  double round_trip_ms = 0;  // smoothed: sent to reply received
  double server_ms = 0;      // the server's total for the last reply
  std::uint64_t sent = 0, shown = 0;
  std::uint64_t dropped = 0;     // replaced unanswered by the server (latest frame wins there)
  std::uint64_t superseded = 0;  // complete here, dropped before sending for a newer frame
  std::uint64_t skipped = 0;     // no request slot was free
  std::uint64_t refused = 0;     // frames the server answered with an error
  std::string Summary() const;   // one line for a status display or log
};

// The newest stylized frame: its eyes' packed pixels (format of the stream), owned by the
// Streamer and valid until the next TakeNewest that returns true.
struct StylizedFrame {
  std::uint64_t id = 0;
  StereoLayout layout;
  const std::uint8_t* eye[2] = {nullptr, nullptr};
};

class ARTEMCORE_API Streamer {
 public:
  Streamer() = default;
  ~Streamer();
  Streamer(const Streamer&) = delete;
  Streamer& operator=(const Streamer&) = delete;

  // Game thread. Start (re)opens the stream with `config` on the streaming thread and returns at
  // once; a config without eyes waits for the render thread's first EnsureLayout.
  void Start(const StreamConfig& config);
  void Stop();
  // Switches style on the same stream (a refusal leaves the old one and says why in Status).
  void SetStyle(const std::string& style, float strength);
  StreamStatus Status() const;
  StreamConfig Config() const;

  // Render thread. EnsureLayout reopens the stream when the eyes change (a resized window, a
  // headset put on); the colour space likewise.
  void EnsureLayout(const StereoLayout& layout, bool linear);
  // A request slot for this frame's eyes and the connection generation it belongs to, or -1:
  // not streaming, or every slot busy (the frame is skipped, never waited for).
  int BeginFrame(std::uint64_t* generation);
  // Copies eye `eye` of the frame in `slot` (`size` pixels, rows of `src_stride` bytes) into the
  // request slot; the frame goes out once all its eyes are in. Ignored for a slot of an earlier
  // generation (the stream was reopened meanwhile); a size other than the stream's eye abandons the
  // frame (the view was resized since: the next layout reopens the stream). False when not taken.
  bool WriteEye(int slot, std::uint64_t generation, int eye, EyeSize size, const std::uint8_t* src,
                std::uint64_t src_stride);
  // The GPU could not read the frame back: its slot is free again.
  void ReadbackFailed(int slot, std::uint64_t generation);
  // True, with `frame`, when a newer stylized frame came since the last call.
  bool TakeNewest(StylizedFrame* frame);

 private:
  void Run();
  bool Connect(std::unique_lock<std::mutex>& lock);
  void Fail(std::unique_lock<std::mutex>& lock, int code, const std::string& message);
  void CloseSession(std::unique_lock<std::mutex>& lock);
  void SendNewest(std::unique_lock<std::mutex>& lock);
  void ReceiveReplies(std::unique_lock<std::mutex>& lock);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  bool stop_ = false;
  bool restart_ = false;  // the config changed: reopen
  bool style_pending_ = false;
  std::string next_style_;
  float next_strength_ = 1.0f;
  StreamConfig config_;
  StreamStatus status_;

  // Only while streaming; the session itself is touched by the streaming thread alone (request
  // views are written by the render thread under the mutex, so a close never races a copy).
  artem_session* session_ = nullptr;
  StreamConfig open_;  // what session_ was opened with
  std::uint64_t generation_ = 0;
  std::unique_ptr<FrameSlots> slots_;
  std::vector<std::uint8_t*> request_views_;  // slot * eyes + eye
  std::map<std::uint64_t, std::chrono::steady_clock::time_point> sent_at_;

  // Triple buffer of stylized frames: the streaming thread fills `back_`, publishes it as
  // `ready_`; the render thread swaps `ready_` into `front_` and reads that.
  struct Buffer {
    std::uint64_t id = 0;
    StereoLayout layout;
    std::vector<std::uint8_t> eye[2];
  };
  Buffer front_, ready_, back_;
  bool ready_new_ = false;
};

}  // namespace ArtEm
