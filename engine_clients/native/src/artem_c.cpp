// The C ABI (include/artem/artem.h) over artem::Session: no exception crosses it.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#endif

#include "artem/artem.h"
#include "grpc_client.h"
#include "session.h"
#include "wire.h"

#ifdef ARTEM_SOURCE_STAMP
// Which sources built this library (scripts/build_native.py): tests compare it with the checkout's.
// A C name the link keeps (--undefined) although nothing refers to it (--gc-sections).
extern "C" [[gnu::used]] const char ArtemSourceStamp[] = "artem-native-sources:" ARTEM_SOURCE_STAMP;
#endif

struct artem_session {
  std::unique_ptr<artem::Session> session;
};

struct artem_style_list {
  std::vector<artem::wire::StyleInfo> styles;
};

namespace {


void Fill(char* error, std::size_t error_len, const std::string& message) {
  if (!error || error_len == 0) return;
  const std::size_t n = std::min(message.size(), error_len - 1);
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

// Runs `body`, mapping exceptions to a status code and message; 0 when it returned.
template <typename Body>
int Guard(char* error, std::size_t error_len, Body&& body) {
  try {
    body();
    Fill(error, error_len, "");
    return 0;
  } catch (const artem::Error& e) {
    Fill(error, error_len, e.what());
    return e.code() ? e.code() : artem::rpc::kUnknown;
  } catch (const std::exception& e) {
    Fill(error, error_len, e.what());
    return artem::rpc::kInternal;
  }
}

// The bytes of the file at `path` (UTF-8); false when it cannot be read. stdio, not iostreams:
// those would bring libstdc++'s locale machinery (a third of a megabyte) into the plugins.
bool ReadFile(const std::string& path, std::string* bytes) {
#ifdef _WIN32
  std::wstring wide(path.size() + 1, L'\0');
  wide.resize(static_cast<std::size_t>(std::max(
      0, MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, &wide[0], static_cast<int>(wide.size())) - 1)));
  std::FILE* f = _wfopen(wide.c_str(), L"rb");
#else
  std::FILE* f = std::fopen(path.c_str(), "rb");
#endif
  if (!f) return false;
  char chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) bytes->append(chunk, n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

// The options' token and TLS settings, each checked (3 naming the field when unusable).
artem::rpc::Security SecurityOf(const artem_connect_options* options) {
  artem::rpc::Security security;
  if (!options) return security;
  if (options->struct_size < sizeof(artem_connect_options))
    throw artem::Error(artem::rpc::kInvalidArgument,
                       "options->struct_size = " + std::to_string(options->struct_size) +
                           ": expected sizeof(artem_connect_options) = " +
                           std::to_string(sizeof(artem_connect_options)));
  if (options->token && *options->token) {
    security.token = options->token;
    for (const char c : security.token)
      if (c <= ' ' || c > '~')
        throw artem::Error(artem::rpc::kInvalidArgument,
                           "options->token: expected one line of printable characters without spaces "
                           "(the token as the server's --token-file holds it)");
  }
  if (options->tls_ca_file && *options->tls_ca_file) {
    const std::string path = options->tls_ca_file;
    std::string pem;
    const bool read = ReadFile(path, &pem);
    if (!read || pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      throw artem::Error(artem::rpc::kInvalidArgument,
                         "options->tls_ca_file = " + path +
                             (read ? ": expected PEM certificates (-----BEGIN CERTIFICATE-----)"
                                   : ": the file cannot be read"));
    if (!artem::rpc::TlsAvailable())
      throw artem::Error(artem::rpc::kUnimplemented,
                         "options->tls_ca_file: this build of the native core has no TLS (built without mbedTLS)");
    security.tls.ca_pem = std::move(pem);
    security.tls.ca_source = path;
    if (options->tls_server_name) security.tls.server_name = options->tls_server_name;
  } else if (options->tls_server_name && *options->tls_server_name) {
    throw artem::Error(artem::rpc::kInvalidArgument,
                       "options->tls_server_name is set without options->tls_ca_file: TLS needs the CA file");
  }
  return security;
}

artem_frame_info ToC(const artem::FrameInfo& f) {
  return {f.id, f.slot, f.dropped_frames, f.code, f.queue_ms, f.convert_ms, f.model_ms, f.transfer_ms, f.total_ms};
}

}  // namespace

extern "C" {

ARTEM_API int artem_open(const char* address, const char* style, float strength, const artem_view_desc* views,
                         uint32_t n_views, uint32_t slot_count, artem_session** session, char* error,
                         size_t error_len) {
  return artem_open_transport(address, style, strength, views, n_views, slot_count, ARTEM_SHARED_MEMORY, session,
                              error, error_len);
}

ARTEM_API int artem_open_transport(const char* address, const char* style, float strength,
                                   const artem_view_desc* views, uint32_t n_views, uint32_t slot_count,
                                   int32_t transport, artem_session** session, char* error, size_t error_len) {
  return artem_open_ex(address, nullptr, style, strength, views, n_views, slot_count, transport, session, error,
                       error_len);
}

ARTEM_API int artem_open_ex(const char* address, const artem_connect_options* options, const char* style,
                            float strength, const artem_view_desc* views, uint32_t n_views, uint32_t slot_count,
                            int32_t transport, artem_session** session, char* error, size_t error_len) {
  std::unique_ptr<artem_session> out;
  const int code = Guard(error, error_len, [&] {
    if (!session) throw artem::Error(artem::rpc::kInvalidArgument, "session (the result) must not be NULL");
    *session = nullptr;
    if (!address || !style || (!views && n_views))
      throw artem::Error(artem::rpc::kInvalidArgument, "address, style and views must not be NULL");
    if (transport != ARTEM_SHARED_MEMORY && transport != ARTEM_INLINE && transport != ARTEM_JPEG)
      throw artem::Error(artem::rpc::kInvalidArgument,
                         "transport = " + std::to_string(transport) +
                             ": expected 0 (ARTEM_SHARED_MEMORY), 1 (ARTEM_INLINE) or 2 (ARTEM_JPEG)");
    std::vector<artem::ViewDesc> descs;
    for (uint32_t i = 0; i < n_views; ++i) {
      const artem_view_desc& v = views[i];
      if (v.width <= 0 || v.height <= 0 || v.row_stride < 0)
        throw artem::Error(artem::rpc::kInvalidArgument,
                           "views[" + std::to_string(i) + "] is " + std::to_string(v.width) + "x" +
                               std::to_string(v.height) + " with row_stride " + std::to_string(v.row_stride) +
                               ": expected a positive size and a row_stride >= 0");
      descs.push_back({static_cast<uint32_t>(v.width), static_cast<uint32_t>(v.height),
                       static_cast<uint32_t>(v.format), static_cast<uint32_t>(v.row_stride), v.linear != 0});
    }
    const artem::rpc::Security security = SecurityOf(options);
    out = std::make_unique<artem_session>();
    out->session = std::make_unique<artem::Session>(
        address, style, strength, std::move(descs), slot_count,
        transport == ARTEM_INLINE ? artem::Session::Transport::kInline
        : transport == ARTEM_JPEG ? artem::Session::Transport::kJpeg
                                  : artem::Session::Transport::kSharedMemory,
        artem::Session::kDefaultJpegQuality, security);
  });
  if (code == 0) *session = out.release();
  return code;
}

ARTEM_API uint8_t* artem_request_view(artem_session* s, uint32_t slot, uint32_t view) {
  if (!s || slot >= s->session->slot_count() || view >= s->session->views().size()) return nullptr;
  return s->session->request_view(slot, view);
}

ARTEM_API const uint8_t* artem_reply_view(artem_session* s, uint32_t slot, uint32_t view) {
  if (!s || slot >= s->session->slot_count() || view >= s->session->views().size()) return nullptr;
  return s->session->reply_view(slot, view);
}

ARTEM_API int artem_stylize(artem_session* s, uint64_t id, uint32_t slot, artem_frame_info* info, char* error,
                            size_t error_len) {
  return Guard(error, error_len, [&] {
    if (!s) throw artem::Error(artem::rpc::kInvalidArgument, "session is NULL");
    const artem::FrameInfo f = s->session->Stylize(id, slot);
    if (info) *info = ToC(f);
  });
}

ARTEM_API int artem_send(artem_session* s, uint64_t id, uint32_t slot, char* error, size_t error_len) {
  return Guard(error, error_len, [&] {
    if (!s) throw artem::Error(artem::rpc::kInvalidArgument, "session is NULL");
    s->session->Send(id, slot);
  });
}

ARTEM_API int artem_receive(artem_session* s, int32_t timeout_ms, artem_frame_info* info, char* error,
                            size_t error_len) {
  bool received = false;
  artem::FrameInfo f;
  const int code = Guard(error, error_len, [&] {
    if (!s || !info) throw artem::Error(artem::rpc::kInvalidArgument, "session and info must not be NULL");
    received = s->session->Receive(&f, timeout_ms);
  });
  if (code) return code;
  if (!received) {
    Fill(error, error_len, "no frame reply within " + std::to_string(timeout_ms) + " ms");
    return artem::rpc::kDeadlineExceeded;
  }
  *info = ToC(f);
  Fill(error, error_len, f.message);
  return 0;
}

ARTEM_API int artem_set_style(artem_session* s, const char* style, float strength, char* error, size_t error_len) {
  return Guard(error, error_len, [&] {
    if (!s || !style) throw artem::Error(artem::rpc::kInvalidArgument, "session and style must not be NULL");
    s->session->SetStyle(style, strength);
  });
}

ARTEM_API void artem_close(artem_session* s) { delete s; }

ARTEM_API int artem_list_styles(const char* address, int32_t timeout_ms, artem_style_list** list, char* error,
                                size_t error_len) {
  return artem_list_styles_ex(address, nullptr, timeout_ms, list, error, error_len);
}

ARTEM_API int artem_list_styles_ex(const char* address, const artem_connect_options* options, int32_t timeout_ms,
                                   artem_style_list** list, char* error, size_t error_len) {
  std::unique_ptr<artem_style_list> out;
  const int code = Guard(error, error_len, [&] {
    if (!list) throw artem::Error(artem::rpc::kInvalidArgument, "list (the result) must not be NULL");
    *list = nullptr;
    if (!address) throw artem::Error(artem::rpc::kInvalidArgument, "address must not be NULL");
    artem::rpc::Channel channel(address, SecurityOf(options));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 1));
    out = std::make_unique<artem_style_list>();
    std::string token;
    for (;;) {  // the server pages its replies: ask until the last page
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      std::string page;
      const artem::rpc::Status status =
          artem::rpc::Unary(channel, "/artem.v1.Stylizer/ListStyles", artem::wire::EncodeListStylesRequest(token),
                            static_cast<std::int32_t>(left.count()), &page);
      if (status.code) throw artem::Error(status.code, address + std::string(": ") + status.message);
      const std::size_t before = out->styles.size();
      if (!artem::wire::ParseListStylesReply(reinterpret_cast<const std::uint8_t*>(page.data()), page.size(),
                                             &out->styles, &token))
        throw artem::Error(artem::rpc::kInternal, "a ListStyles reply could not be parsed");
      if (token.empty() || out->styles.size() == before) break;
    }
  });
  if (code == 0) *list = out.release();
  return code;
}

ARTEM_API uint32_t artem_style_count(const artem_style_list* list) {
  return list ? static_cast<uint32_t>(list->styles.size()) : 0;
}

ARTEM_API int artem_style_at(const artem_style_list* list, uint32_t index, artem_style_info* info) {
  if (!list || !info || index >= artem_style_count(list)) return artem::rpc::kInvalidArgument;
  const artem::wire::StyleInfo& s = list->styles[index];
  const std::string& png = s.thumbnail_png;
  *info = {s.id.c_str(), s.kind.c_str(), s.display_name.c_str(),
           png.empty() ? nullptr : reinterpret_cast<const uint8_t*>(png.data()), png.size()};
  return 0;
}

ARTEM_API void artem_style_list_free(artem_style_list* list) { delete list; }

}  // extern "C"
