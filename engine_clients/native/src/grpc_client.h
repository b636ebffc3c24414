// gRPC calls over HTTP/2 (RFC 9113) on a TCP connection, plaintext or TLS (tls_link.h), written
// for this client: a bidirectional stream of raw messages and a unary call, which is all the
// native core needs of gRPC. No gRPC library: the plugin is one self-contained library on every
// platform (Linux, Windows, Android), and inline pixels go from the request slot straight into
// the socket (writev) and come out of it straight into the reply's buffer. A bearer token rides
// on every call as `authorization: Bearer <token>`, as the server's --token-file asks. Not
// supported, because a server of ours does not need them: compression, proxies, load balancing
// over several addresses, client certificates (mutual TLS).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tls_link.h"

namespace artem::rpc {

// gRPC status codes this library returns itself.
enum Code : int {
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kUnauthenticated = 16,
};

struct Status {
  int code = 0;
  std::string message;
};

// Who the client is to the server and how the server proves who it is.
struct Security {
  std::string token;  // when not empty: `authorization: Bearer <token>` on every call
  TlsOptions tls;     // TLS when tls.ca_pem is not empty
};

class Connection;
struct StreamState;

// Where calls go: `address` is host:port (a name, an IPv4 address or [IPv6]), optionally with
// gRPC's "dns:///", "ipv4:" or "ipv6:" prefix, or "unix:PATH" (not on Windows). The connection
// is made on the first call, and made again for a call after it has gone.
class Channel {
 public:
  explicit Channel(std::string address, Security security = {});
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

 private:
  friend class Stream;
  friend Status Unary(Channel&, const char*, const std::string&, std::int32_t, std::string*);
  std::shared_ptr<Connection> Get(int timeout_ms, Status* error);

  std::string address_;
  Security security_;
  std::mutex mutex_;
  std::shared_ptr<Connection> connection_;
};

// One bidirectional-streaming call. Write from one thread at a time; Read from one (other)
// thread; Cancel from any.
class Stream {
 public:
  Stream(Channel& channel, const char* method);  // connects if needed, sends the call's headers
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool Write(const std::vector<Piece>& message);  // false: the call has ended
  bool Write(const std::string& message) { return Write({{message.data(), message.size()}}); }
  void WritesDone();
  // The next message: its bytes at the start of `into`, which is swapped with the buffer they
  // were received into (so it may come back larger, never smaller, and bytes past `size` are
  // left over from earlier messages); false when the server has sent its last one.
  bool Read(std::vector<std::uint8_t>* into, std::size_t* size);
  Status Finish();  // once Read has returned false: the call's status
  void Cancel();

 private:
  std::shared_ptr<Connection> connection_;
  std::shared_ptr<StreamState> state_;
};

// A unary call with a deadline; the reply's bytes are in `reply`.
Status Unary(Channel& channel, const char* method, const std::string& request, std::int32_t timeout_ms,
             std::string* reply);

}  // namespace artem::rpc
