// Host harness for kernels/convert.cu: runs the kernels' per-pixel bodies on the CPU, one
// loop iteration per CUDA thread, so tests can check the index arithmetic, padding, resizing,
// blending and colour coding against the torch pipeline without a GPU. Built by
// tests/test_kernels_host.py with `nvcc -shared`; the device-only conversions (the PTX cvt
// instructions) are replaced by their software twins under #ifndef __CUDA_ARCH__.
#include "../../kernels/convert.cu"

#define ARTEM_HOST_ENTRY(DT, LY)                                                               \
  extern "C" void host_pack_##DT##_##LY(const artem::u8* src, void* dst, int n, int h, int w,  \
                                         int bpp, int hs, int ws, int r, int g, int b,         \
                                         int linear, int replicate) {                          \
    artem::PackArgs a = {src, dst, n, h, w, bpp, hs, ws, r, g, b, linear, replicate};          \
    for (int i = 0; i < n * hs * ws; ++i) artem::pack_pixel<artem::DT, artem::LY>(a, i);       \
  }                                                                                            \
  extern "C" void host_unpack_##DT##_##LY(const void* model, const artem::u8* src,             \
                                           artem::u8* dst, int n, int h, int w, int bpp,       \
                                           int hm, int wm, int hs, int ws, int r, int g,       \
                                           int b, int alpha, int linear, float strength) {     \
    artem::UnpackArgs a = {model, src, dst, n, h, w, bpp, hm, wm, hs, ws,                      \
                           r, g, b, alpha, linear, strength};                                  \
    for (int i = 0; i < n * h * w; ++i) artem::unpack_pixel<artem::DT, artem::LY>(a, i);      \
  }

ARTEM_HOST_ENTRY(f32, nchw)
ARTEM_HOST_ENTRY(f32, nhwc)
ARTEM_HOST_ENTRY(f16, nchw)
ARTEM_HOST_ENTRY(f16, nhwc)
ARTEM_HOST_ENTRY(bf16, nchw)
ARTEM_HOST_ENTRY(bf16, nhwc)

extern "C" unsigned short host_float_to_half_bits(float x) { return artem::float_to_half_bits(x); }
extern "C" float host_half_bits_to_float(unsigned short h) { return artem::half_bits_to_float(h); }
