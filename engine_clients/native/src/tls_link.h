// What a connection's bytes travel over: the TCP socket itself, or TLS on top of it (mbedTLS,
// ALPN "h2", the server's certificate checked against the CA the user gives). The HTTP/2 code
// in grpc_client.cpp reads and writes through a Link and does not know which it has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace artem::rpc {

// A piece of an outgoing message: gRPC reads it in place, so it must stay unchanged until
// Write returns.
struct Piece {
  const void* data;
  std::size_t size;
};

class Link {
 public:
  virtual ~Link() = default;
  // Sends every byte of `parts`; false on a broken connection. One caller at a time.
  virtual bool Send(std::vector<Piece> parts) = 0;
  // Up to `n` bytes into `into`: how many (> 0), 0 at the end of the connection, < 0 on an
  // error. One caller at a time, alongside a Send.
  virtual long Receive(void* into, std::size_t n) = 0;
  // Wakes a blocked Receive (it returns <= 0); the socket is closed by the destructor.
  virtual void Shutdown() = 0;
};

// TLS settings of a channel; `ca_pem` non-empty turns TLS on.
struct TlsOptions {
  std::string ca_pem;       // PEM certificate(s) the server's certificate must chain to
  std::string ca_source;    // where they came from, for messages (a file name)
  std::string server_name;  // the name the certificate must carry; empty: the address's host
};

// A connected socket (an int on POSIX, a SOCKET on Windows): both directions shut down, which
// wakes a reader blocked on it; closed. Both links use them (defined in grpc_client.cpp).
void ShutdownSocket(std::intptr_t socket);
void CloseSocket(std::intptr_t socket);

// Whether this build has TLS (it was built with mbedTLS).
bool TlsAvailable();

// Runs a TLS handshake over the connected socket `socket` (an int on POSIX, a SOCKET on
// Windows), which the link owns from here on, even on failure. `host` is the address's host
// (a name or an IP address). Null with `why` when the handshake failed or timed out.
std::unique_ptr<Link> StartTls(std::intptr_t socket, const std::string& host, const TlsOptions& options,
                               int timeout_ms, std::string* why);

}  // namespace artem::rpc
