// Choices made from the project's settings and the renderer's state before a stream opens: the
// transport, the colour space of the pixels read back after tonemapping, the bearer token file;
// and the row copy between a GPU staging buffer and a session's packed view. Engine-free.
#pragma once

#include <cstdint>
#include <string>

#include "ArtEmCore/CoreApi.h"

namespace ArtEm {

// The native core's transports (artem.h: ARTEM_SHARED_MEMORY, ARTEM_INLINE, ARTEM_JPEG).
enum class Transport : std::int32_t { SharedMemory = 0, Inline = 1, Jpeg = 2 };

// The project setting: Automatic picks from the address and the platform.
enum class TransportSetting : std::int32_t {
  Automatic = 0,
  SharedMemory = 1,
  Inline = 2,
  Jpeg = 3
};

// "Automatic", "SharedMemory", "Inline" or "Jpeg" (any case; also "shm"); false with `why`
// naming the value and what was expected.
ARTEMCORE_API bool ParseTransport(const std::string& text, TransportSetting* out, std::string* why);
ARTEMCORE_API const char* TransportName(Transport t);

// Whether `address` (host:port, [v6]:port, unix:path) is this machine by loopback.
ARTEMCORE_API bool IsThisHost(const std::string& address);

// Automatic: shared memory for a server on this host where the platform has it (Windows, Linux,
// macOS; not Android), raw inline for this host otherwise, JPEG for a server on another host (a
// standalone headset on Wi-Fi cannot carry raw frames). Any other setting is taken as given.
ARTEMCORE_API Transport TransportFor(TransportSetting setting, const std::string& address,
                                     bool platform_has_shared_memory);

// What the tonemapper wrote, by Unreal's display output format (r.HDR.Display.OutputDevice,
// EDisplayOutputFormat): SDR outputs (0 sRGB, 1 Rec709, 2 explicit gamma) are display-encoded
// bytes the server takes as sRGB; the linear outputs (7, 8, 9) are linear light; the ST2084 and
// scRGB HDR outputs (3-6) are refused: the styles are trained on SDR images.
struct ColourChoice {
  bool supported = false;
  bool linear = false;
  std::string why;  // when not supported
};
ARTEMCORE_API ColourChoice ColourForOutputDevice(int output_device);

// How to reach a server started with --token-file and/or --tls-cert/--tls-key (the plugin's
// settings): files, so that neither the token nor a certificate sits in a project's config.
struct Credentials {
  std::string token_file;       // the server's bearer token; empty: none
  std::string tls_ca_file;      // PEM of the CA of the server's certificate; empty: plaintext
  std::string tls_server_name;  // the name the certificate must carry; empty: the address's host
};

// The bearer token in `path` (surrounding whitespace trimmed); false with `why` for a file that
// cannot be read or holds fewer than 16 characters (the server refuses shorter tokens).
ARTEMCORE_API bool LoadTokenFile(const std::string& path, std::string* token, std::string* why);

// Copies `rows` rows of `row_bytes` bytes between buffers with their own strides (a GPU staging
// buffer's row pitch is padded; a session's views are packed).
ARTEMCORE_API void CopyRows(std::uint8_t* dst, std::uint64_t dst_stride, const std::uint8_t* src,
                            std::uint64_t src_stride, std::uint64_t row_bytes, int rows);

}  // namespace ArtEm
