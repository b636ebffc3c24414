#include "grpc_client.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <thread>

#include "hpack.h"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
using Socket = SOCKET;
constexpr Socket kNoSocket = INVALID_SOCKET;
#else
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
using Socket = int;
constexpr Socket kNoSocket = -1;
#endif

namespace artem::rpc {

namespace {

// HTTP/2 frame types, flags, settings and error codes (RFC 9113).
enum : std::uint8_t { kData, kHeaders, kPriority, kRstStream, kSettings, kPushPromise, kPing, kGoaway,
                      kWindowUpdate, kContinuation };
constexpr std::uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriorityFlag = 0x20;
constexpr std::uint16_t kSettingsInitialWindow = 0x4, kSettingsMaxFrame = 0x5, kSettingsEnablePush = 0x2;
constexpr std::uint32_t kRefusedStream = 0x7, kCancel = 0x8;

constexpr std::uint32_t kMaxWindow = 0x7fffffff;
constexpr std::uint32_t kOurMaxFrame = 1 << 22;      // 4 MiB DATA frames from the server
constexpr std::uint32_t kReplenishAt = 1 << 24;      // window given back every 16 MiB read
constexpr int kConnectTimeoutMs = 20000;              // as gRPC's minimum connect timeout
constexpr std::size_t kReadBuffer = 1 << 16;

std::string SocketError() {
#ifdef _WIN32
  return "socket error " + std::to_string(WSAGetLastError());
#else
  return std::strerror(errno);
#endif
}

bool SocketsReady() {
#ifdef _WIN32
  static const bool ready = [] {
    WSADATA data;
    return WSAStartup(MAKEWORD(2, 2), &data) == 0;
  }();
  return ready;
#else
  return true;
#endif
}

void SetBlocking(Socket s, bool blocking) {
#ifdef _WIN32
  u_long nonblocking = blocking ? 0 : 1;
  ioctlsocket(s, FIONBIO, &nonblocking);
#else
  const int flags = fcntl(s, F_GETFL, 0);
  fcntl(s, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
#endif
}

// Connects to one address within `timeout_ms`; kNoSocket and `why` on failure.
Socket ConnectTo(const sockaddr* addr, socklen_t len, int timeout_ms, std::string* why) {
  const Socket s = socket(addr->sa_family, SOCK_STREAM, 0);
  if (s == kNoSocket) {
    *why = SocketError();
    return kNoSocket;
  }
  SetBlocking(s, false);
  int rc = connect(s, addr, len);
#ifdef _WIN32
  const bool pending = rc != 0 && WSAGetLastError() == WSAEWOULDBLOCK;
#else
  const bool pending = rc != 0 && errno == EINPROGRESS;
#endif
  if (pending) {
#ifdef _WIN32
    WSAPOLLFD p{s, POLLOUT, 0};
    rc = WSAPoll(&p, 1, timeout_ms);
#else
    pollfd p{s, POLLOUT, 0};
    do rc = poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
#endif
    int error = 0;
    socklen_t n = sizeof error;
    if (rc == 1) getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&error), &n);
    if (rc != 1 || error) {
      *why = rc == 0 ? "timed out after " + std::to_string(timeout_ms) + " ms" : std::strerror(error);
      CloseSocket(s);
      return kNoSocket;
    }
  } else if (rc != 0) {
    *why = SocketError();
    CloseSocket(s);
    return kNoSocket;
  }
  SetBlocking(s, true);
  if (addr->sa_family != AF_UNIX) {
    const int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof one);
  }
#ifdef __APPLE__
  const int one = 1;
  setsockopt(s, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return s;
}

// `address` as gRPC names targets: host:port (or [v6]:port), with an optional dns:///, ipv4: or
// ipv6: scheme, or unix:PATH. Returns the socket, or kNoSocket with `why`; `authority` gets
// what the :authority header says.
// `host` gets the host part (what a TLS certificate must name).
Socket Dial(const std::string& address, int timeout_ms, std::string* authority, std::string* host_out,
            std::string* why) {
  std::string target = address;
  for (const char* scheme : {"dns:///", "ipv4:", "ipv6:"})
    if (target.rfind(scheme, 0) == 0) target = target.substr(std::strlen(scheme));
  *authority = target;
#ifndef _WIN32
  if (target.rfind("unix:", 0) == 0) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const std::string path = target.substr(5);
    if (path.size() >= sizeof un.sun_path) {
      *why = "unix socket path too long";
      return kNoSocket;
    }
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    *authority = *host_out = "localhost";
    return ConnectTo(reinterpret_cast<sockaddr*>(&un), sizeof un, timeout_ms, why);
  }
#endif
  const std::size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon + 1 == target.size()) {
    *why = "expected host:port";
    return kNoSocket;
  }
  std::string host = target.substr(0, colon);
  const std::string port = target.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  *host_out = host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found)) {
    *why = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    return kNoSocket;
  }
  Socket s = kNoSocket;
  for (addrinfo* a = found; a && s == kNoSocket; a = a->ai_next)
    s = ConnectTo(a->ai_addr, static_cast<socklen_t>(a->ai_addrlen), timeout_ms, why);
  freeaddrinfo(found);
  return s;
}

// Sends every byte of `parts` (no SIGPIPE where the peer has gone). False on a broken socket.
bool SendAll(Socket s, std::vector<Piece> parts) {
  std::size_t first = 0;
  while (first < parts.size()) {
    const std::size_t n = std::min<std::size_t>(parts.size() - first, 512);
#ifdef _WIN32
    std::vector<WSABUF> bufs(n);
    for (std::size_t i = 0; i < n; ++i)
      bufs[i] = {static_cast<ULONG>(parts[first + i].size),
                 const_cast<char*>(static_cast<const char*>(parts[first + i].data))};
    DWORD sent = 0;
    if (WSASend(s, bufs.data(), static_cast<DWORD>(n), &sent, 0, nullptr, nullptr) != 0) return false;
    std::size_t done = sent;
#else
    std::vector<iovec> iov(n);
    for (std::size_t i = 0; i < n; ++i) iov[i] = {const_cast<void*>(parts[first + i].data), parts[first + i].size};
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = n;
    const ssize_t sent = sendmsg(s, &msg, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0) return false;
    std::size_t done = static_cast<std::size_t>(sent);
#endif
    while (done && first < parts.size()) {  // drop what went, trim what went partly
      Piece& p = parts[first];
      const std::size_t k = std::min(done, p.size);
      p.data = static_cast<const char*>(p.data) + k;
      p.size -= k;
      done -= k;
      if (!p.size) ++first;
    }
    while (first < parts.size() && !parts[first].size) ++first;
  }
  return true;
}

// The socket itself.
class PlainLink : public Link {
 public:
  explicit PlainLink(Socket s) : socket_(s) {}
  ~PlainLink() override { CloseSocket(socket_); }
  bool Send(std::vector<Piece> parts) override { return SendAll(socket_, std::move(parts)); }
  long Receive(void* into, std::size_t n) override {
    for (;;) {
      const auto got = recv(socket_, static_cast<char*>(into), static_cast<int>(std::min<std::size_t>(n, 1 << 30)), 0);
#ifndef _WIN32
      if (got < 0 && errno == EINTR) continue;
#endif
      return static_cast<long>(got);
    }
  }
  void Shutdown() override { ShutdownSocket(socket_); }

 private:
  const Socket socket_;
};

void Put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24), p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8), p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t Get32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

using FrameHeader = std::array<std::uint8_t, 9>;

FrameHeader Header(std::uint32_t length, std::uint8_t type, std::uint8_t flags, std::uint32_t stream) {
  FrameHeader h;
  h[0] = static_cast<std::uint8_t>(length >> 16), h[1] = static_cast<std::uint8_t>(length >> 8);
  h[2] = static_cast<std::uint8_t>(length), h[3] = type, h[4] = flags;
  Put32(h.data() + 5, stream & kMaxWindow);
  return h;
}

std::string PercentDecoded(const std::string& s) {  // grpc-message is percent-encoded
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

void ShutdownSocket(std::intptr_t socket) {
#ifdef _WIN32
  shutdown(static_cast<Socket>(socket), SD_BOTH);
#else
  shutdown(static_cast<Socket>(socket), SHUT_RDWR);
#endif
}

void CloseSocket(std::intptr_t socket) {
#ifdef _WIN32
  closesocket(static_cast<Socket>(socket));
#else
  close(static_cast<Socket>(socket));
#endif
}

// One call's side of a connection: what the reader thread has received for it.
struct StreamState {
  std::uint32_t id = 0;
  std::int64_t send_window = 0;
  bool got_headers = false, ended = false;
  Status status;
  std::deque<std::pair<std::vector<std::uint8_t>, std::size_t>> messages;  // complete, not yet read
  std::vector<std::vector<std::uint8_t>> spare;  // buffers handed back by Read, received into again
  std::uint32_t unacked = 0;                      // bytes read since the window was last given back
  // The message being received (the reader thread's alone): its 5-byte prefix (compressed flag,
  // length), then its bytes.
  std::uint8_t prefix[5] = {0};
  std::size_t prefix_have = 0, need = 0, have = 0;
  std::vector<std::uint8_t> message;
};

// One HTTP/2 connection: a reader thread takes every frame as it comes; callers write.
class Connection {
 public:
  static std::shared_ptr<Connection> Open(const std::string& address, const Security& security, int timeout_ms,
                                          Status* error);
  ~Connection();

  bool accepting() {
    std::lock_guard<std::mutex> lock(mutex_);
    return !dead_ && !goaway_;
  }
  std::shared_ptr<StreamState> Start(const std::string& path, const std::string& timeout);
  bool Send(StreamState& s, const std::vector<Piece>& message, bool end_stream);
  void SendEnd(StreamState& s);
  void Reset(StreamState& s, std::uint32_t code);
  bool Read(StreamState& s, std::vector<std::uint8_t>* into, std::size_t* size);
  // Waits until the stream has ended or `deadline` passed (false).
  bool WaitEnded(StreamState& s, std::chrono::steady_clock::time_point deadline);
  Status StatusOf(StreamState& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    return s.status;
  }

 private:
  Connection(std::unique_ptr<Link> link, std::string authority, std::string address, const Security& security)
      : link_(std::move(link)),
        authority_(std::move(authority)),
        address_(std::move(address)),
        token_(security.token),
        tls_(!security.tls.ca_pem.empty()) {}
  bool Write(std::vector<Piece> parts);  // one or more whole frames, not interleaved with others
  bool Control(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const void* payload, std::size_t size);
  void ReadLoop();
  bool ReadExact(void* into, std::size_t n);
  bool OnFrame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::uint32_t length);
  bool OnData(std::uint8_t flags, std::uint32_t stream, std::uint32_t length);
  bool OnHeaderBlock(std::uint32_t stream, bool end_stream);
  void End(StreamState& s, int code, const std::string& message);  // mutex_ held

  const std::unique_ptr<Link> link_;
  const std::string authority_, address_, token_;
  const bool tls_;
  std::mutex write_mutex_;  // whole frames at a time
  std::mutex mutex_;        // everything below
  std::condition_variable changed_;
  std::map<std::uint32_t, std::shared_ptr<StreamState>> streams_;
  std::uint32_t next_id_ = 1;
  std::int64_t send_window_ = 65535;
  std::uint32_t peer_initial_window_ = 65535, peer_max_frame_ = 16384;
  std::uint32_t unacked_ = 0;  // connection-level bytes read since the window was given back
  bool dead_ = false, goaway_ = false;
  std::string why_dead_;
  // The reader thread's own.
  hpack::Decoder decoder_;
  std::string block_;  // a header block across CONTINUATION frames
  std::uint32_t block_stream_ = 0;
  bool block_end_stream_ = false;
  std::vector<std::uint8_t> buffer_ = std::vector<std::uint8_t>(kReadBuffer);
  std::size_t buffered_ = 0, consumed_ = 0;

  std::thread reader_;
};

std::shared_ptr<Connection> Connection::Open(const std::string& address, const Security& security, int timeout_ms,
                                             Status* error) {
  std::string authority, host, why;
  const auto started = std::chrono::steady_clock::now();
  const Socket s = SocketsReady() ? Dial(address, timeout_ms, &authority, &host, &why) : kNoSocket;
  if (s == kNoSocket) {
    *error = {kUnavailable, "failed to connect to " + address + ": " + (why.empty() ? "no sockets" : why)};
    return nullptr;
  }
  std::unique_ptr<Link> link;
  if (security.tls.ca_pem.empty()) {
    link = std::make_unique<PlainLink>(s);
  } else {
    using std::chrono::milliseconds;
    const auto spent = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    link = StartTls(static_cast<std::intptr_t>(s), host, security.tls,
                    std::max<int>(1, timeout_ms - static_cast<int>(spent.count())), &why);
    if (!link) {
      *error = {kUnavailable, "failed to connect to " + address + " over TLS: " + why};
      return nullptr;
    }
  }
  std::shared_ptr<Connection> c(new Connection(std::move(link), authority, address, security));
  // The preface, our settings (no push, the largest stream window, 4 MiB frames) and the largest
  // connection window: the server may send as fast as it can; we give the window back as we read.
  std::string start = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::uint8_t settings[18];
  const std::pair<std::uint16_t, std::uint32_t> values[3] = {
      {kSettingsEnablePush, 0}, {kSettingsInitialWindow, kMaxWindow}, {kSettingsMaxFrame, kOurMaxFrame}};
  for (int i = 0; i < 3; ++i) {
    settings[6 * i] = static_cast<std::uint8_t>(values[i].first >> 8);
    settings[6 * i + 1] = static_cast<std::uint8_t>(values[i].first);
    Put32(settings + 6 * i + 2, values[i].second);
  }
  const FrameHeader sh = Header(sizeof settings, kSettings, 0, 0);
  std::uint8_t increment[4];
  Put32(increment, kMaxWindow - 65535);
  const FrameHeader wh = Header(4, kWindowUpdate, 0, 0);
  if (!c->Write({{start.data(), start.size()}, {sh.data(), sh.size()}, {settings, sizeof settings},
                 {wh.data(), wh.size()}, {increment, 4}})) {
    *error = {kUnavailable, "failed to connect to " + address + ": the connection broke"};
    return nullptr;
  }
  c->reader_ = std::thread([raw = c.get()] { raw->ReadLoop(); });
  return c;
}

Connection::~Connection() {
  link_->Shutdown();
  if (reader_.joinable()) reader_.join();
}

bool Connection::Write(std::vector<Piece> parts) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  return link_->Send(std::move(parts));
}

bool Connection::Control(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const void* payload,
                         std::size_t size) {
  const FrameHeader h = Header(static_cast<std::uint32_t>(size), type, flags, stream);
  return Write({{h.data(), h.size()}, {payload, size}});
}

std::shared_ptr<StreamState> Connection::Start(const std::string& path, const std::string& timeout) {
  std::vector<hpack::Header> headers = {{":method", "POST"},          {":scheme", tls_ ? "https" : "http"},
                                        {":path", path},              {":authority", authority_},
                                        {"content-type", "application/grpc"}, {"te", "trailers"},
                                        {"user-agent", "artem-native/0.1"}};
  if (!timeout.empty()) headers.emplace_back("grpc-timeout", timeout);
  if (!token_.empty()) headers.emplace_back("authorization", "Bearer " + token_);
  std::string block;
  hpack::Encode(headers, &block);
  auto s = std::make_shared<StreamState>();
  std::unique_lock<std::mutex> lock(mutex_);
  if (dead_ || goaway_) {
    End(*s, kUnavailable, dead_ ? why_dead_ : "the server is going away");
    return s;
  }
  s->id = next_id_;
  next_id_ += 2;
  s->send_window = peer_initial_window_;
  streams_[s->id] = s;
  // Stream ids must reach the server in order: the header frame goes out under mutex_ too.
  std::unique_lock<std::mutex> write(write_mutex_);
  const FrameHeader h = Header(static_cast<std::uint32_t>(block.size()), kHeaders, kEndHeaders, s->id);
  if (!link_->Send({{h.data(), h.size()}, {block.data(), block.size()}})) {
    // The reader usually learns why (what the server sent before it closed): wait for it briefly.
    write.unlock();
    changed_.wait_for(lock, std::chrono::seconds(1), [&] { return dead_; });
    End(*s, kUnavailable, dead_ ? why_dead_ : "the connection to " + address_ + " broke");
  }
  return s;
}

bool Connection::Send(StreamState& s, const std::vector<Piece>& message, bool end_stream) {
  std::size_t total = 0;
  for (const Piece& p : message) total += p.size;
  std::uint8_t prefix[5] = {0};  // not compressed, then the length
  Put32(prefix + 1, static_cast<std::uint32_t>(total));
  std::vector<Piece> left = {{prefix, 5}};
  for (const Piece& p : message)
    if (p.size) left.push_back(p);
  total += 5;
  std::size_t first = 0;  // the next piece of `left` to send
  std::deque<FrameHeader> headers;
  while (total > 0) {
    std::size_t budget;  // what the windows let through now
    std::uint32_t max_frame;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return s.ended || dead_ || (send_window_ > 0 && s.send_window > 0); });
      if (s.ended || dead_) return false;
      budget = static_cast<std::size_t>(std::min({send_window_, s.send_window, std::int64_t{64 << 20}}));
      budget = std::min(budget, total);
      send_window_ -= static_cast<std::int64_t>(budget);
      s.send_window -= static_cast<std::int64_t>(budget);
      max_frame = peer_max_frame_;
    }
    std::vector<Piece> parts;
    headers.clear();
    std::size_t in_batch = 0;
    while (in_batch < budget) {
      const std::size_t frame = std::min<std::size_t>(budget - in_batch, max_frame);
      in_batch += frame;
      total -= frame;
      headers.push_back(Header(static_cast<std::uint32_t>(frame), kData,
                               total == 0 && end_stream ? kEndStream : 0, s.id));
      parts.push_back({headers.back().data(), headers.back().size()});
      for (std::size_t need = frame; need > 0;) {  // the frame's bytes, from the pieces in order
        Piece& p = left[first];
        const std::size_t k = std::min(need, p.size);
        parts.push_back({p.data, k});
        p.data = static_cast<const char*>(p.data) + k;
        p.size -= k;
        need -= k;
        if (!p.size) ++first;
      }
    }
    if (!Write(std::move(parts))) return false;
  }
  return true;
}

void Connection::SendEnd(StreamState& s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (s.ended || dead_) return;
  }
  Control(kData, kEndStream, s.id, nullptr, 0);
}

void Connection::Reset(StreamState& s, std::uint32_t code) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (s.ended) return;
    End(s, kCancelled, "cancelled");
  }
  std::uint8_t payload[4];
  Put32(payload, code);
  Control(kRstStream, 0, s.id, payload, 4);
}

bool Connection::Read(StreamState& s, std::vector<std::uint8_t>* into, std::size_t* size) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !s.messages.empty() || s.ended; });
  if (s.messages.empty()) return false;
  std::swap(*into, s.messages.front().first);
  *size = s.messages.front().second;
  s.spare.push_back(std::move(s.messages.front().first));
  s.messages.pop_front();
  return true;
}

bool Connection::WaitEnded(StreamState& s, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return s.ended; });
}

void Connection::End(StreamState& s, int code, const std::string& message) {
  if (s.ended) return;
  s.ended = true;
  s.status = {code, message};
  if (s.id) streams_.erase(s.id);
  changed_.notify_all();
}

bool Connection::ReadExact(void* into, std::size_t n) {
  auto* out = static_cast<std::uint8_t*>(into);
  while (n > 0) {
    if (consumed_ < buffered_) {  // what is buffered first
      const std::size_t k = std::min(n, buffered_ - consumed_);
      std::memcpy(out, buffer_.data() + consumed_, k);
      consumed_ += k, out += k, n -= k;
      continue;
    }
    // Large payloads go straight into place; small frames are read a buffer at a time.
    const bool direct = n >= buffer_.size();
    char* at = direct ? reinterpret_cast<char*>(out) : reinterpret_cast<char*>(buffer_.data());
    const std::size_t want = direct ? std::min<std::size_t>(n, 1 << 30) : buffer_.size();
    const long got = link_->Receive(at, want);
    if (got <= 0) return false;
    if (direct) {
      out += got, n -= static_cast<std::size_t>(got);
    } else {
      buffered_ = static_cast<std::size_t>(got), consumed_ = 0;
    }
  }
  return true;
}

void Connection::ReadLoop() {
  std::string why = "the server closed the connection";
  // A server's first frame is SETTINGS (RFC 9113 3.4); without it, it does not speak HTTP/2 here.
  const std::string not_h2 = tls_ ? "the server did not answer in HTTP/2"
                                  : "the server did not answer in HTTP/2 (a TLS server? then connect with the CA "
                                    "file of its certificate)";
  for (bool first = true;; first = false) {
    std::uint8_t h[9];
    if (!ReadExact(h, 9)) {
      if (first) why = not_h2;
      break;
    }
    const std::uint32_t length = std::uint32_t{h[0]} << 16 | std::uint32_t{h[1]} << 8 | h[2];
    if (first && h[3] != kSettings) {
      why = not_h2;
      break;
    }
    if (length > kOurMaxFrame) {
      why = "the server sent a frame larger than allowed";
      break;
    }
    if (!OnFrame(h[3], h[4], Get32(h + 5) & kMaxWindow, length)) {
      why = "the server broke the HTTP/2 protocol";
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  dead_ = true;
  why_dead_ = "the connection to " + address_ + " ended: " + why;
  while (!streams_.empty()) End(*streams_.begin()->second, kUnavailable, why_dead_);
  changed_.notify_all();
}

bool Connection::OnFrame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::uint32_t length) {
  if (type == kData) return OnData(flags, stream, length);
  std::vector<std::uint8_t> p(length);
  if (!ReadExact(p.data(), length)) return false;
  switch (type) {
    case kHeaders: {
      std::size_t from = 0, to = length;
      if (flags & kPadded) {
        if (!length || p[0] >= length) return false;
        to -= p[0], from = 1;
      }
      if (flags & kPriorityFlag) from += 5;
      if (from > to) return false;
      block_.assign(reinterpret_cast<const char*>(p.data()) + from, to - from);
      block_stream_ = stream;
      block_end_stream_ = flags & kEndStream;
      return !(flags & kEndHeaders) || OnHeaderBlock(stream, block_end_stream_);
    }
    case kContinuation:
      if (stream != block_stream_) return false;
      block_.append(reinterpret_cast<const char*>(p.data()), length);
      return !(flags & kEndHeaders) || OnHeaderBlock(stream, block_end_stream_);
    case kRstStream: {
      if (length != 4) return false;
      const std::uint32_t code = Get32(p.data());
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = streams_.find(stream);
      if (it != streams_.end())
        End(*it->second, code == kRefusedStream ? kUnavailable : code == kCancel ? kCancelled : kInternal,
            "the server reset the stream (HTTP/2 error " + std::to_string(code) + ")");
      return true;
    }
    case kSettings: {
      if (flags & kAck) return true;
      if (length % 6) return false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t i = 0; i < length; i += 6) {
          const std::uint16_t id = static_cast<std::uint16_t>(p[i] << 8 | p[i + 1]);
          const std::uint32_t value = Get32(p.data() + i + 2);
          if (id == kSettingsInitialWindow) {  // changes every open stream's window by the difference
            if (value > kMaxWindow) return false;
            for (auto& [id_, s] : streams_) s->send_window += std::int64_t{value} - peer_initial_window_;
            peer_initial_window_ = value;
          } else if (id == kSettingsMaxFrame) {
            if (value < 16384 || value > 16777215) return false;
            peer_max_frame_ = value;
          }
        }
        changed_.notify_all();
      }
      Control(kSettings, kAck, 0, nullptr, 0);  // a broken socket shows at the next read
      return true;
    }
    case kPing:
      if (length != 8) return false;
      if (!(flags & kAck)) Control(kPing, kAck, 0, p.data(), 8);
      return true;
    case kGoaway: {
      if (length < 8) return false;
      const std::uint32_t last = Get32(p.data()) & kMaxWindow;
      std::lock_guard<std::mutex> lock(mutex_);
      goaway_ = true;
      for (auto it = streams_.begin(); it != streams_.end();) {
        auto s = (it++)->second;  // End erases it
        if (s->id > last) End(*s, kUnavailable, "the server is going away");
      }
      return true;
    }
    case kWindowUpdate: {
      if (length != 4) return false;
      const std::uint32_t increment = Get32(p.data()) & kMaxWindow;
      std::lock_guard<std::mutex> lock(mutex_);
      if (stream == 0) {
        send_window_ += increment;
      } else if (const auto it = streams_.find(stream); it != streams_.end()) {
        it->second->send_window += increment;
      }
      changed_.notify_all();
      return true;
    }
    case kPushPromise:  // disabled in our settings
      return false;
    default:  // PRIORITY and unknown types: nothing to do
      return true;
  }
}

bool Connection::OnData(std::uint8_t flags, std::uint32_t stream, std::uint32_t length) {
  std::uint32_t pad = 0, left = length;
  if (flags & kPadded) {
    std::uint8_t n;
    if (!length || !ReadExact(&n, 1) || n >= length) return false;
    pad = n, left = length - 1 - n;
  }
  std::shared_ptr<StreamState> s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = streams_.find(stream);
    if (it != streams_.end()) s = it->second;
  }
  // Messages are read straight into a buffer of the stream's (a spare one when there is one).
  while (left > 0) {
    if (!s) {  // a stream already ended here: its bytes are read and dropped
      std::uint8_t sink[4096];
      const std::uint32_t k = std::min<std::uint32_t>(left, sizeof sink);
      if (!ReadExact(sink, k)) return false;
      left -= k;
      continue;
    }
    if (s->prefix_have < 5) {
      const std::size_t k = std::min<std::size_t>(5 - s->prefix_have, left);
      if (!ReadExact(s->prefix + s->prefix_have, k)) return false;
      s->prefix_have += k, left -= static_cast<std::uint32_t>(k);
      if (s->prefix_have < 5) break;
      if (s->prefix[0]) return false;  // compressed: we never ask for compression
      s->need = Get32(s->prefix + 1), s->have = 0;
      std::lock_guard<std::mutex> lock(mutex_);
      if (!s->spare.empty()) {
        s->message = std::move(s->spare.back());
        s->spare.pop_back();
      }
      if (s->message.size() < s->need) s->message.resize(s->need);
    }
    const std::size_t k = std::min<std::size_t>(s->need - s->have, left);
    if (k && !ReadExact(s->message.data() + s->have, k)) return false;
    s->have += k, left -= static_cast<std::uint32_t>(k);
    if (s->have == s->need) {
      std::lock_guard<std::mutex> lock(mutex_);
      s->messages.emplace_back(std::move(s->message), s->need);
      s->message = std::vector<std::uint8_t>();
      s->prefix_have = 0;
      changed_.notify_all();
    }
  }
  if (pad) {
    std::uint8_t padding[256];
    if (!ReadExact(padding, pad)) return false;
  }
  // Give the windows back once a good part of them has been read.
  std::uint32_t give_connection = 0, give_stream = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    unacked_ += length;
    if (unacked_ >= kReplenishAt) give_connection = unacked_, unacked_ = 0;
    if (s && !s->ended) {
      s->unacked += length;
      if (s->unacked >= kReplenishAt) give_stream = s->unacked, s->unacked = 0;
    }
  }
  std::uint8_t increment[4];
  if (give_connection) Put32(increment, give_connection), Control(kWindowUpdate, 0, 0, increment, 4);
  if (give_stream) Put32(increment, give_stream), Control(kWindowUpdate, 0, stream, increment, 4);
  if (flags & kEndStream && s) {  // the end without trailers: no status
    std::lock_guard<std::mutex> lock(mutex_);
    End(*s, kInternal, "the server ended the stream without a status");
  }
  return true;
}

bool Connection::OnHeaderBlock(std::uint32_t stream, bool end_stream) {
  std::vector<hpack::Header> headers;
  if (!decoder_.Decode(reinterpret_cast<const std::uint8_t*>(block_.data()), block_.size(), &headers)) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = streams_.find(stream);
  if (it == streams_.end()) return true;
  StreamState& s = *it->second;
  std::string http_status, grpc_status, grpc_message;
  for (const auto& [name, value] : headers) {
    if (name == ":status") http_status = value;
    if (name == "grpc-status") grpc_status = value;
    if (name == "grpc-message") grpc_message = PercentDecoded(value);
  }
  const bool first = !s.got_headers;
  s.got_headers = true;
  if (first && !http_status.empty() && http_status != "200") {  // not a gRPC server's answer
    End(s, http_status == "503" ? kUnavailable : http_status == "404" ? kUnimplemented : kUnknown,
        "HTTP status " + http_status + " from " + address_);
    return true;
  }
  if (!end_stream) return true;
  if (grpc_status.empty()) {
    End(s, kUnknown, "the server ended the stream without grpc-status");
  } else {
    int code = kUnknown;
    try {
      code = std::stoi(grpc_status);
    } catch (const std::exception&) {
    }
    End(s, code, grpc_message);
  }
  return true;
}

Channel::Channel(std::string address, Security security)
    : address_(std::move(address)), security_(std::move(security)) {}

Channel::~Channel() = default;

std::shared_ptr<Connection> Channel::Get(int timeout_ms, Status* error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!connection_ || !connection_->accepting()) connection_ = Connection::Open(address_, security_, timeout_ms, error);
  return connection_;
}

Stream::Stream(Channel& channel, const char* method) {
  Status error;
  connection_ = channel.Get(kConnectTimeoutMs, &error);
  if (connection_) {
    state_ = connection_->Start(method, "");
  } else {
    state_ = std::make_shared<StreamState>();
    state_->ended = true;
    state_->status = error;
  }
}

Stream::~Stream() {
  if (connection_) connection_->Reset(*state_, kCancel);  // nothing when it has ended
}

bool Stream::Write(const std::vector<Piece>& message) {
  return connection_ && connection_->Send(*state_, message, false);
}

void Stream::WritesDone() {
  if (connection_) connection_->SendEnd(*state_);
}

bool Stream::Read(std::vector<std::uint8_t>* into, std::size_t* size) {
  return connection_ && connection_->Read(*state_, into, size);
}

Status Stream::Finish() {
  if (!connection_) return state_->status;
  connection_->WaitEnded(*state_, std::chrono::steady_clock::time_point::max());
  return connection_->StatusOf(*state_);
}

void Stream::Cancel() {
  if (connection_) connection_->Reset(*state_, kCancel);
}

Status Unary(Channel& channel, const char* method, const std::string& request, std::int32_t timeout_ms,
             std::string* reply) {
  const int ms = std::max(timeout_ms, 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  Status status;
  const std::shared_ptr<Connection> c = channel.Get(ms, &status);
  if (!c) return status;
  const std::shared_ptr<StreamState> s = c->Start(method, std::to_string(ms) + "m");
  if (!c->Send(*s, {{request.data(), request.size()}}, true)) {
    // The write failed under us, most often because the server closed the connection: the
    // reader, which sees that end, says why (e.g. the server does not speak HTTP/2). Give it a
    // moment rather than a vaguer reason of our own.
    c->WaitEnded(*s, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
    if (!c->StatusOf(*s).code) return {kUnavailable, "the request could not be sent"};
  }
  if (!c->WaitEnded(*s, deadline)) {
    c->Reset(*s, kCancel);
    return {kDeadlineExceeded, "no reply within " + std::to_string(ms) + " ms"};
  }
  status = c->StatusOf(*s);
  std::vector<std::uint8_t> bytes;
  std::size_t size = 0;
  if (c->Read(*s, &bytes, &size)) reply->assign(reinterpret_cast<const char*>(bytes.data()), size);
  else if (!status.code) status = {kInternal, "the server sent no reply"};
  return status;
}

}  // namespace artem::rpc
