// JPEG for a session's views (a server on a network: a headset on Wi-Fi), through libjpeg-turbo's
// libjpeg API, straight from and into the slot's rows (RGBA/BGRA/RGB, any row stride): no
// conversion copies. JPEG has no alpha: decoding into a 4-byte format fills it with 255.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace artem {

// Whether this build has JPEG (libjpeg-turbo found at build time).
bool JpegAvailable();

// Encodes `height` rows of `width` pixels of `format` (artem.v1.PixelFormat), `stride` bytes
// apart, at `quality` (1..100) into `out` (replaced). Throws Error.
void EncodeJpeg(const std::uint8_t* pixels, std::uint32_t width, std::uint32_t height, std::uint32_t format,
                std::uint64_t stride, int quality, std::string* out);

// Decodes the `size` bytes at `jpeg` into rows `stride` bytes apart in `format`; throws Error(13) unless it is
// `width` x `height`, and for data that is not a JPEG image. `what` names the view in messages.
void DecodeJpeg(const std::uint8_t* jpeg, std::size_t size, std::uint8_t* pixels, std::uint32_t width, std::uint32_t height,
                std::uint32_t format, std::uint64_t stride, const std::string& what);

}  // namespace artem
