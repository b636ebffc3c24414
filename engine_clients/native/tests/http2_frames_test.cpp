// The HTTP/2 client (src/grpc_client.cpp) against a scripted server on loopback that sends what
// real servers may send and ours seldom do: response headers split over HEADERS + CONTINUATION
// with padding and priority, padded DATA, trailers-only responses split the same way with a
// percent-encoded grpc-message, a PING (which must be answered with the same payload), and a
// GOAWAY that ends calls past its last stream id, after which the channel connects again. A
// server whose first frame is not SETTINGS is reported as not speaking HTTP/2. POSIX only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc_client.h"

using namespace std::string_literals;

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL %s\n", what.c_str());
    ++failures;
  }
}

enum : std::uint8_t { kData = 0, kHeaders = 1, kSettings = 4, kPing = 6, kGoaway = 7, kContinuation = 9 };
constexpr std::uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriority = 0x20;

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const std::string& payload) {
  const std::size_t n = payload.size();
  std::string f = {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                   static_cast<char>(type),    static_cast<char>(flags),  static_cast<char>(stream >> 24),
                   static_cast<char>(stream >> 16), static_cast<char>(stream >> 8), static_cast<char>(stream)};
  return f + payload;
}

std::string Literal(const std::string& name, const std::string& value) {  // no indexing, new name
  return std::string(1, '\0') + static_cast<char>(name.size()) + name + static_cast<char>(value.size()) + value;
}

std::string U32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// The server side of one connection: reads frames, answers with a script per request.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() { close(fd_); }
  bool Send(const std::string& bytes) { return write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()); }
  bool ReadExact(void* into, std::size_t n) {
    auto* p = static_cast<char*>(into);
    while (n > 0) {
      const ssize_t got = read(fd_, p, n);
      if (got <= 0) return false;
      p += got, n -= static_cast<std::size_t>(got);
    }
    return true;
  }
  // The next frame: type, flags, stream, payload; false at the end of the connection.
  bool Next(std::uint8_t* type, std::uint8_t* flags, std::uint32_t* stream, std::string* payload) {
    unsigned char h[9];
    if (!ReadExact(h, 9)) return false;
    const std::size_t n = std::size_t{h[0]} << 16 | std::size_t{h[1]} << 8 | h[2];
    *type = h[3], *flags = h[4];
    *stream = (std::uint32_t{h[5]} << 24 | std::uint32_t{h[6]} << 16 | std::uint32_t{h[7]} << 8 | h[8]) & 0x7fffffff;
    payload->assign(n, '\0');
    return n == 0 || ReadExact(&(*payload)[0], n);
  }
  // Reads until a request's DATA with END_STREAM; its stream id (0: the connection ended). Notes
  // a PING acknowledgement with `ping_payload`.
  std::uint32_t NextRequest(const std::string& ping_payload = "", bool* ping_acked = nullptr) {
    std::uint8_t type, flags;
    std::uint32_t stream;
    std::string payload;
    while (Next(&type, &flags, &stream, &payload)) {
      if (type == kPing && (flags & 1) && ping_acked) *ping_acked = payload == ping_payload;
      if (type == kData && (flags & kEndStream)) return stream;
    }
    return 0;
  }

 private:
  int fd_;
};

int Listen(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), n) != 0 || listen(fd, 4) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0)
    return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

std::unique_ptr<Peer> Accept(int listener) {
  const int fd = accept(listener, nullptr, nullptr);
  auto peer = std::make_unique<Peer>(fd);
  char preface[24];
  if (fd < 0 || !peer->ReadExact(preface, sizeof preface) || std::memcmp(preface, "PRI * HTTP/2.0", 14) != 0)
    return nullptr;
  return peer;
}

void Scripted(int listener) {
  std::unique_ptr<Peer> peer = Accept(listener);
  if (!peer) return;
  peer->Send(Frame(kSettings, 0, 0, ""));
  // 1: a reply "hello" with headers over HEADERS (padded, priority) + CONTINUATION, padded DATA,
  // trailers over HEADERS + CONTINUATION.
  std::uint32_t s = peer->NextRequest();
  const std::string status = "\x88";  // :status 200 (static index 8)
  const std::string type = Literal("content-type", "application/grpc");
  peer->Send(Frame(kHeaders, kPadded | kPriority, s, std::string(1, '\3') + U32(0) + '\x10' + status + "\0\0\0"s) +
             Frame(kContinuation, kEndHeaders, s, type));
  peer->Send(Frame(kData, kPadded, s, std::string(1, '\4') + std::string("\0\0\0\0\5", 5) + "hello" + "\0\0\0\0"s));
  const std::string ok = Literal("grpc-status", "0");
  peer->Send(Frame(kHeaders, kEndStream, s, ok.substr(0, 5)) + Frame(kContinuation, 0, s, ok.substr(5, 3)) +
             Frame(kContinuation, kEndHeaders, s, ok.substr(8)));
  // 2: trailers-only, split, with a percent-encoded message; a PING on the way.
  bool acked = false;
  const std::string ping = "p1n9-d4t";
  s = peer->NextRequest();
  peer->Send(Frame(kPing, 0, 0, ping));
  const std::string refused = status + Literal("grpc-status", "5") + Literal("grpc-message", "no%20such%20style%3A x");
  peer->Send(Frame(kHeaders, kEndStream, s, refused.substr(0, 10)) +
             Frame(kContinuation, kEndHeaders, s, refused.substr(10)));
  // 3: GOAWAY naming the last stream it handled (before this one): the call ends with 14.
  s = peer->NextRequest(ping, &acked);
  Check(acked, "the client answered the PING with its payload");
  peer->Send(Frame(kGoaway, 0, 0, U32(s - 2) + U32(0)));
  peer->NextRequest();  // until the client closes the connection
  // 4: the channel connects again; a plain reply.
  peer = Accept(listener);
  if (!peer) return;
  peer->Send(Frame(kSettings, 0, 0, ""));
  s = peer->NextRequest();
  peer->Send(Frame(kHeaders, kEndHeaders, s, status) + Frame(kData, 0, s, std::string("\0\0\0\0\2", 5) + "ok") +
             Frame(kHeaders, kEndStream | kEndHeaders, s, ok));
  peer->NextRequest();
  // 5: a server that answers with something else than SETTINGS.
  peer = Accept(listener);
  if (peer) peer->Send("HTTP/1.1 400 Bad Request\r\n\r\n");
}

}  // namespace

int main() {
  int port = 0;
  const int listener = Listen(&port);
  if (listener < 0) {
    std::perror("listen");
    return 1;
  }
  std::thread server(Scripted, listener);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  {
    artem::rpc::Channel channel(address);
    std::string reply;
    artem::rpc::Status st = artem::rpc::Unary(channel, "/t/One", "", 5000, &reply);
    Check(st.code == 0 && reply == "hello", "CONTINUATION and padding: " + std::to_string(st.code) + " " + st.message);
    st = artem::rpc::Unary(channel, "/t/Two", "", 5000, &reply);
    Check(st.code == 5 && st.message == "no such style: x", "trailers-only: " + std::to_string(st.code) + " " + st.message);
    st = artem::rpc::Unary(channel, "/t/Three", "", 5000, &reply);
    Check(st.code == 14 && st.message.find("going away") != std::string::npos,
          "GOAWAY: " + std::to_string(st.code) + " " + st.message);
    reply.clear();
    st = artem::rpc::Unary(channel, "/t/Four", "", 5000, &reply);
    Check(st.code == 0 && reply == "ok", "a new connection after GOAWAY: " + std::to_string(st.code) + " " + st.message);
  }
  {
    artem::rpc::Channel channel(address);
    std::string reply;
    const artem::rpc::Status st = artem::rpc::Unary(channel, "/t/Five", "", 5000, &reply);
    Check(st.code == 14 && st.message.find("did not answer in HTTP/2") != std::string::npos,
          "not HTTP/2: " + std::to_string(st.code) + " " + st.message);
  }
  server.join();
  close(listener);
  if (failures) {
    std::fprintf(stderr, "http2_frames: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("http2_frames: all checks passed\n");
  return 0;
}
