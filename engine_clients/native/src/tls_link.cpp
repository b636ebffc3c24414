// TLS for a channel (tls_link.h) with mbedTLS. One mbedTLS context serves a reader thread and
// writers, which it does not allow at the same time: each call into it holds `mutex_`, and the
// socket is non-blocking so that the reader waits for bytes in poll(), outside the lock.
#include "tls_link.h"

#ifndef ARTEM_HAVE_MBEDTLS

namespace artem::rpc {

bool TlsAvailable() { return false; }

std::unique_ptr<Link> StartTls(std::intptr_t, const std::string&, const TlsOptions&, int, std::string* why) {
  *why = "this build of the native core has no TLS";
  return nullptr;
}

}  // namespace artem::rpc

#else

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"  // its error codes only: the sockets are ours
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
using Socket = SOCKET;
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
using Socket = int;
#endif

namespace artem::rpc {

namespace {

constexpr std::size_t kRecord = 16384;  // TLS's largest record: writes are gathered up to it

bool WouldBlock() {
#ifdef _WIN32
  return WSAGetLastError() == WSAEWOULDBLOCK;
#else
  return errno == EAGAIN || errno == EWOULDBLOCK;
#endif
}

bool Interrupted() {
#ifdef _WIN32
  return false;
#else
  return errno == EINTR;
#endif
}

// Waits until `s` can be read (or written); false on timeout. `timeout_ms` < 0: no limit.
bool Wait(Socket s, bool for_write, int timeout_ms) {
#ifdef _WIN32
  WSAPOLLFD p{s, static_cast<SHORT>(for_write ? POLLOUT : POLLIN), 0};
  return WSAPoll(&p, 1, timeout_ms) != 0;
#else
  pollfd p{s, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
  int rc;
  do rc = poll(&p, 1, timeout_ms);
  while (rc < 0 && errno == EINTR);
  return rc != 0;
#endif
}

int BioSend(void* context, const unsigned char* data, std::size_t size) {
  const Socket s = *static_cast<Socket*>(context);
  for (;;) {
#ifdef _WIN32
    const int n =
        send(s, reinterpret_cast<const char*>(data), static_cast<int>(std::min<std::size_t>(size, 1 << 30)), 0);
#else
    const ssize_t n = send(s, data, size, MSG_NOSIGNAL);
#endif
    if (n >= 0) return static_cast<int>(n);
    if (Interrupted()) continue;
    return WouldBlock() ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
  }
}

int BioReceive(void* context, unsigned char* into, std::size_t size) {
  const Socket s = *static_cast<Socket*>(context);
  for (;;) {
    const auto n = recv(s, reinterpret_cast<char*>(into), static_cast<int>(std::min<std::size_t>(size, 1 << 30)), 0);
    if (n >= 0) return static_cast<int>(n);  // 0: the end, which mbedTLS reports as such
    if (Interrupted()) continue;
    return WouldBlock() ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
  }
}

std::string MbedError(int code) {
  char text[200];
  mbedtls_strerror(code, text, sizeof text);
  return text;
}

// The names a certificate is for (its subject alternative names: DNS names and IP addresses).
std::vector<std::string> NamesOf(const mbedtls_x509_crt& crt) {
  std::vector<std::string> names;
  for (const mbedtls_x509_sequence* san = &crt.subject_alt_names; san && san->buf.p; san = san->next) {
    const int tag = san->buf.tag & 0x1f;
    if (tag == 2) {  // dNSName
      names.emplace_back(reinterpret_cast<const char*>(san->buf.p), san->buf.len);
    } else if (tag == 7 && (san->buf.len == 4 || san->buf.len == 16)) {  // iPAddress
      char text[64] = {0};
      inet_ntop(san->buf.len == 4 ? AF_INET : AF_INET6, san->buf.p, text, sizeof text);
      names.emplace_back(text);
    }
  }
  return names;
}

// Whether `host` is an IP address, and its bytes.
bool IpBytes(const std::string& host, std::string* bytes) {
  unsigned char b[16];
  if (inet_pton(AF_INET, host.c_str(), b) == 1) return bytes->assign(reinterpret_cast<char*>(b), 4), true;
  if (inet_pton(AF_INET6, host.c_str(), b) == 1) return bytes->assign(reinterpret_cast<char*>(b), 16), true;
  return false;
}

bool CertificateNamesIp(const mbedtls_x509_crt& crt, const std::string& ip) {
  for (const mbedtls_x509_sequence* san = &crt.subject_alt_names; san && san->buf.p; san = san->next)
    if ((san->buf.tag & 0x1f) == 7 && san->buf.len == ip.size() && std::memcmp(san->buf.p, ip.data(), ip.size()) == 0)
      return true;
  return false;
}

// mbedTLS's verify callback: keeps the server certificate's names, changes nothing.
int KeepNames(void* names, mbedtls_x509_crt* crt, int depth, std::uint32_t*) {
  if (depth == 0) *static_cast<std::vector<std::string>*>(names) = NamesOf(*crt);
  return 0;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "no names" : out;
}

class TlsLink : public Link {
 public:
  explicit TlsLink(Socket s) : socket_(s) {
    mbedtls_ssl_init(&ssl_);
    mbedtls_ssl_config_init(&config_);
    mbedtls_x509_crt_init(&ca_);
    mbedtls_ctr_drbg_init(&random_);
    mbedtls_entropy_init(&entropy_);
  }
  ~TlsLink() override {
    mbedtls_ssl_free(&ssl_);
    mbedtls_ssl_config_free(&config_);
    mbedtls_x509_crt_free(&ca_);
    mbedtls_ctr_drbg_free(&random_);
    mbedtls_entropy_free(&entropy_);
    CloseSocket(socket_);
  }

  bool Handshake(const std::string& host, const TlsOptions& options, int timeout_ms, std::string* why);

  bool Send(std::vector<Piece> parts) override {
    std::size_t staged = 0;
    for (const Piece& part : parts) {
      const auto* p = static_cast<const unsigned char*>(part.data);
      std::size_t left = part.size;
      while (left > 0) {
        if (staged == 0 && left >= kRecord) {  // whole records straight from the caller's bytes
          const std::size_t n = left - left % kRecord;
          if (!WriteAll(p, n)) return false;
          p += n, left -= n;
          continue;
        }
        const std::size_t k = std::min(left, kRecord - staged);
        std::memcpy(staging_ + staged, p, k);
        staged += k, p += k, left -= k;
        if (staged == kRecord) {
          if (!WriteAll(staging_, staged)) return false;
          staged = 0;
        }
      }
    }
    return staged == 0 || WriteAll(staging_, staged);
  }

  long Receive(void* into, std::size_t n) override {
    for (;;) {
      int rc;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        rc = mbedtls_ssl_read(&ssl_, static_cast<unsigned char*>(into), std::min<std::size_t>(n, 1 << 30));
      }
      if (rc > 0) return rc;
      if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF) return 0;
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        Wait(socket_, rc == MBEDTLS_ERR_SSL_WANT_WRITE, -1);  // Shutdown wakes it
        continue;
      }
      return -1;
    }
  }

  void Shutdown() override { ShutdownSocket(socket_); }

 private:
  // Writes `size` bytes as TLS records. The lock is held while the socket is full: the reader
  // then waits, which is safe because the server reads whatever HTTP/2 lets us send.
  bool WriteAll(const unsigned char* data, std::size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    while (size > 0) {
      const int rc = mbedtls_ssl_write(&ssl_, data, size);
      if (rc > 0) {
        data += rc, size -= static_cast<std::size_t>(rc);
      } else if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
        if (!Wait(socket_, rc == MBEDTLS_ERR_SSL_WANT_WRITE, 30000)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  Socket socket_;
  std::mutex mutex_;  // every call into ssl_
  mbedtls_ssl_context ssl_;
  mbedtls_ssl_config config_;
  mbedtls_x509_crt ca_;
  mbedtls_ctr_drbg_context random_;
  mbedtls_entropy_context entropy_;
  std::vector<std::string> peer_names_;  // the server certificate's names
  unsigned char staging_[kRecord];
};

bool TlsLink::Handshake(const std::string& host, const TlsOptions& options, int timeout_ms, std::string* why) {
  static const char* alpn[] = {"h2", nullptr};  // gRPC servers speak HTTP/2 only when asked for h2
  int rc = mbedtls_x509_crt_parse(&ca_, reinterpret_cast<const unsigned char*>(options.ca_pem.c_str()),
                                  options.ca_pem.size() + 1);
  if (rc < 0) {
    *why = options.ca_source + " holds no usable PEM certificate (" + MbedError(rc) + ")";
    return false;
  }
  const char personal[] = "artem-native";
  if ((rc = mbedtls_ctr_drbg_seed(&random_, mbedtls_entropy_func, &entropy_,
                                  reinterpret_cast<const unsigned char*>(personal), sizeof personal)) ||
      (rc = mbedtls_ssl_config_defaults(&config_, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT))) {
    *why = "TLS could not be set up: " + MbedError(rc);
    return false;
  }
  mbedtls_ssl_conf_authmode(&config_, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&config_, &ca_, nullptr);
  mbedtls_ssl_conf_rng(&config_, mbedtls_ctr_drbg_random, &random_);
  mbedtls_ssl_conf_min_version(&config_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);  // TLS 1.2
  mbedtls_ssl_conf_alpn_protocols(&config_, alpn);
  mbedtls_ssl_conf_verify(&config_, KeepNames, &peer_names_);  // for messages: which names it has
  // A name is checked by mbedTLS; an IP address (which mbedTLS 2 does not match against the
  // certificate's IP entries) is checked below, after the handshake.
  const std::string name = options.server_name.empty() ? host : options.server_name;
  std::string ip;
  const bool by_ip = IpBytes(name, &ip);
  if ((rc = mbedtls_ssl_setup(&ssl_, &config_)) ||
      (rc = mbedtls_ssl_set_hostname(&ssl_, by_ip ? nullptr : name.c_str()))) {
    *why = "TLS could not be set up: " + MbedError(rc);
    return false;
  }
  mbedtls_ssl_set_bio(&ssl_, &socket_, BioSend, BioReceive, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while ((rc = mbedtls_ssl_handshake(&ssl_)) != 0) {
    if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) break;
    using std::chrono::milliseconds;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !Wait(socket_, rc == MBEDTLS_ERR_SSL_WANT_WRITE, static_cast<int>(left.count()))) {
      *why = "the TLS handshake timed out after " + std::to_string(timeout_ms) + " ms";
      return false;
    }
  }
  if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl_);
    std::string reasons;
    if (flags & ~MBEDTLS_X509_BADCERT_CN_MISMATCH) {
      char info[512] = {0};
      mbedtls_x509_crt_verify_info(info, sizeof info, "", flags & ~MBEDTLS_X509_BADCERT_CN_MISMATCH);
      for (const char* c = info; *c; ++c) reasons += *c == '\n' ? (c[1] ? "; " : "") : std::string(1, *c);
      reasons += " (is " + options.ca_source + " the CA that signed the server's certificate?)";
    }
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
      reasons += (reasons.empty() ? "it is for " : "; it is for ") + Joined(peer_names_) + ", not " + name +
                 " (set the TLS server name to one of those)";
    *why = "the server's certificate was refused: " + reasons;
    return false;
  }
  if (rc == MBEDTLS_ERR_SSL_CONN_EOF || rc == MBEDTLS_ERR_NET_RECV_FAILED || rc == MBEDTLS_ERR_NET_SEND_FAILED) {
    *why = "the server closed the connection during the TLS handshake (a plaintext server? then connect "
           "without a TLS CA file)";
    return false;
  }
  if (rc == MBEDTLS_ERR_SSL_INVALID_RECORD || rc == MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO ||
      rc == MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE) {
    *why = "the server did not answer in TLS (a plaintext server? then connect without a TLS CA file): " +
           MbedError(rc);
    return false;
  }
  if (rc) {
    *why = "the TLS handshake failed: " + MbedError(rc);
    return false;
  }
  const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl_);
  if (by_ip && (!peer || !CertificateNamesIp(*peer, ip))) {
    *why = "the server's certificate was refused: it is for " + Joined(peer_names_) + ", not " + name +
           " (set the TLS server name to one of those)";
    return false;
  }
  const char* protocol = mbedtls_ssl_get_alpn_protocol(&ssl_);
  if (protocol && std::strcmp(protocol, "h2") != 0) {
    *why = std::string("the server chose protocol ") + protocol + " over TLS, not HTTP/2 (h2)";
    return false;
  }
  return true;
}

}  // namespace

bool TlsAvailable() { return true; }

std::unique_ptr<Link> StartTls(std::intptr_t socket, const std::string& host, const TlsOptions& options,
                               int timeout_ms, std::string* why) {
  const auto s = static_cast<Socket>(socket);
#ifdef _WIN32
  u_long nonblocking = 1;
  ioctlsocket(s, FIONBIO, &nonblocking);
#else
  fcntl(s, F_SETFL, fcntl(s, F_GETFL, 0) | O_NONBLOCK);
#endif
  auto link = std::make_unique<TlsLink>(s);
  if (!link->Handshake(host, options, timeout_ms, why)) return nullptr;
  return link;
}

}  // namespace artem::rpc

#endif  // ARTEM_HAVE_MBEDTLS
