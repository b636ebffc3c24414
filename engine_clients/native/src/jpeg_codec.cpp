#include "jpeg_codec.h"

#include "session.h"

#ifdef ARTEM_HAVE_JPEG
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <jpeglib.h>
#endif

namespace artem {

namespace {
constexpr int kInternal = 13;  // gRPC's INTERNAL
constexpr int kUnimplemented = 12;
}  // namespace

#ifndef ARTEM_HAVE_JPEG

bool JpegAvailable() { return false; }

void EncodeJpeg(const std::uint8_t*, std::uint32_t, std::uint32_t, std::uint32_t, std::uint64_t, int, std::string*) {
  throw Error(kUnimplemented, "this build of the native core has no JPEG (libjpeg-turbo was not found)");
}

void DecodeJpeg(const std::uint8_t*, std::size_t, std::uint8_t*, std::uint32_t, std::uint32_t, std::uint32_t, std::uint64_t,
                const std::string&) {
  throw Error(kUnimplemented, "this build of the native core has no JPEG (libjpeg-turbo was not found)");
}

#else

namespace {

J_COLOR_SPACE ColorSpace(std::uint32_t format) {
  switch (format) {
    case 1: return JCS_EXT_RGBA;
    case 2: return JCS_EXT_BGRA;
    default: return JCS_RGB;
  }
}

// libjpeg reports errors through a callback that must not return: jump back and throw from there.
struct ErrorJump {
  jpeg_error_mgr mgr;
  std::jmp_buf back;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr info) {
  auto* e = reinterpret_cast<ErrorJump*>(info->err);
  (*info->err->format_message)(info, e->message);
  std::longjmp(e->back, 1);
}

}  // namespace

bool JpegAvailable() { return true; }

void EncodeJpeg(const std::uint8_t* pixels, std::uint32_t width, std::uint32_t height, std::uint32_t format,
                std::uint64_t stride, int quality, std::string* out) {
  jpeg_compress_struct c;
  ErrorJump err;
  c.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = OnError;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(err.back)) {
    jpeg_destroy_compress(&c);
    std::free(buffer);
    throw Error(kInternal, std::string("JPEG encoding: ") + err.message);
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = width;
  c.image_height = height;
  c.input_components = format == 3 ? 3 : 4;
  c.in_color_space = ColorSpace(format);
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels + c.next_scanline * stride);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  out->assign(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
}

void DecodeJpeg(const std::uint8_t* jpeg, std::size_t size, std::uint8_t* pixels, std::uint32_t width, std::uint32_t height,
                std::uint32_t format, std::uint64_t stride, const std::string& what) {
  jpeg_decompress_struct d;
  ErrorJump err;
  d.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = OnError;
  if (setjmp(err.back)) {
    jpeg_destroy_decompress(&d);
    throw Error(kInternal, what + " is not a JPEG image the client can read: " + err.message);
  }
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, jpeg, static_cast<unsigned long>(size));
  jpeg_read_header(&d, TRUE);
  if (d.image_width != width || d.image_height != height) {
    const std::string size = std::to_string(d.image_width) + "x" + std::to_string(d.image_height);
    jpeg_destroy_decompress(&d);
    throw Error(kInternal, what + " is " + size + ": expected " + std::to_string(width) + "x" + std::to_string(height));
  }
  d.out_color_space = ColorSpace(format);
  jpeg_start_decompress(&d);
  while (d.output_scanline < height) {
    JSAMPROW row = pixels + d.output_scanline * stride;
    jpeg_read_scanlines(&d, &row, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
}

#endif

}  // namespace artem
