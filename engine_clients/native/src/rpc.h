// Calls over gRPC's C core API (grpc/grpc.h): a channel, a bidirectional stream of raw messages
// and a unary call, each operation a batch waited for on the call's own completion queue (what
// gRPC C++'s synchronous API does underneath). No gRPC C++ or protobuf: the plugin links gRPC's
// C core statically and encodes its few messages itself (wire.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct grpc_channel grpc_channel;
typedef struct grpc_call grpc_call;
typedef struct grpc_completion_queue grpc_completion_queue;

namespace artem::rpc {

// gRPC status codes this library returns itself (the values of grpc_status_code).
enum Code : int {
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
};

struct Status {
  int code = 0;
  std::string message;
};

// An insecure channel to `address` (host:port, ipv4:, ipv6:, unix:), without limits on message
// size. `own_connection`: not shared with other channels (servers bound streams per connection).
class Channel {
 public:
  Channel(const std::string& address, bool own_connection);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  grpc_channel* get() const { return channel_; }

 private:
  grpc_channel* channel_;
};

// A piece of an outgoing message: bytes copied into the call, or (borrowed) bytes gRPC reads in
// place, which must stay unchanged until the message's stream has answered past it.
struct Piece {
  const void* data;
  std::size_t size;
  bool borrowed;
};

// One bidirectional-streaming call. Write from one thread at a time; Read from one (other)
// thread; Cancel from any.
class Stream {
 public:
  Stream(const Channel& channel, const char* method);  // sends the call's headers
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool Write(const std::vector<Piece>& message);  // false: the call has ended
  bool Write(std::string message);                // the message's bytes are moved into the call
  void WritesDone();
  // The next message, its bytes in `into` (grown as needed, never shrunk) and its size in
  // `size`; false when the server has sent its last one.
  bool Read(std::vector<std::uint8_t>* into, std::size_t* size);
  Status Finish();  // once Read has returned false: the call's status
  void Cancel();

 private:
  bool Run(void* ops, std::size_t n, void* tag);

  grpc_completion_queue* cq_;
  grpc_call* call_;
  struct Received;
  Received* received_;
  bool first_read_ = true;
};

// A unary call with a deadline; the reply's bytes are in `reply`.
Status Unary(const Channel& channel, const char* method, const std::string& request, std::int32_t timeout_ms,
             std::string* reply);

}  // namespace artem::rpc
