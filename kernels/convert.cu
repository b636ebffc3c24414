// ArtEm's fused frame conversions: 8-bit engine pixels <-> the model's planar float layout.
//
// Written for ArtEm (no code copied). Loaded by kernels/convert.py through cupy.RawModule
// (NVRTC), compile-checked by nvcc in tests/test_kernels_compile.py, and its per-pixel bodies
// are run on the host by tests/test_kernels_host.py (tests/cuda/convert_host.cu): every
// function below that does the arithmetic is __host__ __device__ for that reason.
//
// Contract (validated in Python before launch; the kernels trust their arguments):
//   src   (N, H, W, bpp) uint8, packed rows, channels at r/g/b/a indices, sRGB or linear.
//   model (N, 3, Hs, Ws) in `layout`: nchw = planar, nhwc = channels-last (same logical shape);
//         values RGB 0..255 sRGB in the kernel's dtype (f32, f16 as IEEE binary16 bits,
//         bf16 as bfloat16 bits). Hs >= H, Ws >= W: rows/columns past the image are padded by
//         reflection (or by repeating the border when `replicate`), as F.pad does.
//   unpack reads the model output's top-left (Hm, Wm) region of an (Hs, Ws) buffer, resizes it
//   bilinearly (align_corners=False, as F.interpolate) to (H, W) when the sizes differ, blends
//   with the input (strength, as torch.lerp), clamps to 0..255, encodes linear if the view is,
//   rounds half to even and writes (N, H, W, bpp) uint8 with alpha copied from src.
// All indices are 32-bit: Python refuses buffers of 2^31 elements or more.

#ifndef ARTEM_CONVERT_CU
#define ARTEM_CONVERT_CU

#ifndef __CUDACC_RTC__
#include <math.h>
#endif

#ifndef ARTEM_HD
#define ARTEM_HD __host__ __device__ __forceinline__
#endif

namespace artem {

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

// ---- storage types ------------------------------------------------------------------------
// Half and bfloat16 are carried as raw 16-bit patterns so the source needs no CUDA headers
// (NVRTC finds none by default) and so the host harness can run the same code.

struct f32 { typedef float storage; };
struct f16 { typedef u16 storage; };
struct bf16 { typedef u16 storage; };

ARTEM_HD u32 float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  union { float f; u32 u; } v; v.f = x; return v.u;
#endif
}

ARTEM_HD float bits_float(u32 u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  union { float f; u32 u; } v; v.u = u; return v.f;
#endif
}

// float -> binary16, round to nearest even (the device uses the one PTX instruction).
ARTEM_HD u16 float_to_half_bits(float x) {
#ifdef __CUDA_ARCH__
  u16 h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return h;
#else
  u32 u = float_bits(x);
  u32 sign = (u >> 16) & 0x8000u;
  u32 absu = u & 0x7fffffffu;
  if (absu >= 0x7f800000u) return (u16)(sign | 0x7c00u | (absu > 0x7f800000u ? 0x200u : 0u));
  if (absu >= 0x477ff000u) return (u16)(sign | 0x7c00u);  // rounds to >= 65520: infinity
  if (absu < 0x38800000u) {                                // subnormal half (or zero)
    float f = bits_float(absu) * 16777216.0f;                // exact: scale by 2^24
    u32 m = (u32)f; float rem = f - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m += 1u;
    return (u16)(sign | m);
  }
  u32 mant = absu + 0xc8000fffu + ((absu >> 13) & 1u);  // rebias exponent, round to nearest even
  return (u16)(sign | (mant >> 13));
#endif
}

ARTEM_HD float half_bits_to_float(u16 h) {
#ifdef __CUDA_ARCH__
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  u32 sign = ((u32)h & 0x8000u) << 16;
  u32 exp = ((u32)h >> 10) & 0x1fu, mant = (u32)h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (mant << 13));
  if (exp == 0u) {
    float f = (float)mant * (1.0f / 16777216.0f);  // subnormal: mant * 2^-24
    return sign ? -f : f;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
#endif
}

// float <-> bfloat16 by integer arithmetic on every target (cvt.rn.bf16.f32 needs sm_80).
ARTEM_HD u16 float_to_bf16_bits(float x) {
  u32 u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (u16)(u >> 16);
}

ARTEM_HD float bf16_bits_to_float(u16 h) { return bits_float((u32)h << 16); }

template <class T> struct Convert;
template <> struct Convert<f32> {
  static ARTEM_HD float store(float x) { return x; }
  static ARTEM_HD float load(float x) { return x; }
};
template <> struct Convert<f16> {
  static ARTEM_HD u16 store(float x) { return float_to_half_bits(x); }
  static ARTEM_HD float load(u16 x) { return half_bits_to_float(x); }
};
template <> struct Convert<bf16> {
  static ARTEM_HD u16 store(float x) { return float_to_bf16_bits(x); }
  static ARTEM_HD float load(u16 x) { return bf16_bits_to_float(x); }
};

// ---- layouts ------------------------------------------------------------------------------

struct nchw {
  static ARTEM_HD int at(int n, int c, int y, int x, int hs, int ws) {
    return ((n * 3 + c) * hs + y) * ws + x;
  }
};
struct nhwc {
  static ARTEM_HD int at(int n, int c, int y, int x, int hs, int ws) {
    return ((n * hs + y) * ws + x) * 3 + c;
  }
};

// ---- colour ---------------------------------------------------------------------------------
// IEC 61966-2-1, on 0..1 values, the same formulas as artem_server/pipeline.py.

ARTEM_HD float linear_to_srgb(float v) {
  v = fminf(fmaxf(v, 0.0f), 1.0f);
  return v <= 0.0031308f ? v * 12.92f : 1.055f * powf(fmaxf(v, 0.0031308f), 1.0f / 2.4f) - 0.055f;
}

ARTEM_HD float srgb_to_linear(float v) {
  return v <= 0.04045f ? v / 12.92f : powf((v + 0.055f) / 1.055f, 2.4f);
}

// One input pixel's colour channel as the model sees it: 0..255 sRGB.
ARTEM_HD float model_value(u8 byte, int linear) {
  float v = (float)byte;
  return linear ? linear_to_srgb(v / 255.0f) * 255.0f : v;
}

// F.pad's index map: reflect without repeating the edge, or repeat the border.
ARTEM_HD int pad_index(int i, int n, int replicate) {
  if (i < n) return i;
  return replicate ? n - 1 : 2 * (n - 1) - i;
}

struct PackArgs {
  const u8* src;
  void* dst;
  int n, h, w, bpp;     // source views
  int hs, ws;           // destination spatial size (>= h, w)
  int r, g, b;          // channel indices in a source pixel
  int linear, replicate;
};

// Destination pixel `i` of n*hs*ws: read one source pixel, write its three channels.
template <class T, class L>
ARTEM_HD void pack_pixel(const PackArgs& a, int i) {
  typedef typename T::storage S;
  int x = i % a.ws, t = i / a.ws;
  int y = t % a.hs, n = t / a.hs;
  int sy = pad_index(y, a.h, a.replicate), sx = pad_index(x, a.w, a.replicate);
  const u8* p = a.src + ((n * a.h + sy) * a.w + sx) * a.bpp;
  S* out = (S*)a.dst;
  out[L::at(n, 0, y, x, a.hs, a.ws)] = Convert<T>::store(model_value(p[a.r], a.linear));
  out[L::at(n, 1, y, x, a.hs, a.ws)] = Convert<T>::store(model_value(p[a.g], a.linear));
  out[L::at(n, 2, y, x, a.hs, a.ws)] = Convert<T>::store(model_value(p[a.b], a.linear));
}

struct UnpackArgs {
  const void* model;
  const u8* src;       // the frame's input pixels: strength blend and alpha
  u8* dst;
  int n, h, w, bpp;    // output views (same geometry as src)
  int hm, wm;          // valid model-output region
  int hs, ws;          // model-output buffer's spatial size
  int r, g, b, a;      // channel indices; a < 0: no alpha channel
  int linear;
  float strength;
};

// F.interpolate(mode="bilinear", align_corners=False): source coordinate and weight.
ARTEM_HD void source_coord(int d, int out_size, int in_size, int* i0, int* i1, float* frac) {
  if (in_size == out_size) { *i0 = d; *i1 = d; *frac = 0.0f; return; }
  float scale = (float)in_size / (float)out_size;
  float s = fmaxf(scale * ((float)d + 0.5f) - 0.5f, 0.0f);
  int lo = (int)s;
  if (lo > in_size - 1) lo = in_size - 1;
  *i0 = lo;
  *i1 = lo + (lo < in_size - 1 ? 1 : 0);
  *frac = s - (float)lo;
}

template <class T, class L>
ARTEM_HD float model_sample(const UnpackArgs& a, int n, int c, int y0, int y1, float fy,
                            int x0, int x1, float fx) {
  typedef typename T::storage S;
  const S* m = (const S*)a.model;
  float v00 = Convert<T>::load(m[L::at(n, c, y0, x0, a.hs, a.ws)]);
  float v01 = Convert<T>::load(m[L::at(n, c, y0, x1, a.hs, a.ws)]);
  float v10 = Convert<T>::load(m[L::at(n, c, y1, x0, a.hs, a.ws)]);
  float v11 = Convert<T>::load(m[L::at(n, c, y1, x1, a.hs, a.ws)]);
  // The same association as ATen's upsample_bilinear2d: rows weighted, then columns.
  return (1.0f - fy) * ((1.0f - fx) * v00 + fx * v01) + fy * ((1.0f - fx) * v10 + fx * v11);
}

// torch.lerp's formula, so strength < 1 rounds as the CPU path does.
ARTEM_HD float lerp(float start, float end, float weight) {
  float diff = end - start;
  return weight < 0.5f ? start + weight * diff : end - diff * (1.0f - weight);
}

ARTEM_HD u8 to_byte(float v, int linear) {
  v = fminf(fmaxf(v, 0.0f), 255.0f);
  if (linear) v = srgb_to_linear(v / 255.0f) * 255.0f;
  return (u8)rintf(v);  // half to even, as torch.round
}

// Output pixel `i` of n*h*w: sample the model output, blend, encode, write bpp bytes.
template <class T, class L>
ARTEM_HD void unpack_pixel(const UnpackArgs& a, int i) {
  int x = i % a.w, t = i / a.w;
  int y = t % a.h, n = t / a.h;
  int y0, y1, x0, x1;
  float fy, fx;
  source_coord(y, a.h, a.hm, &y0, &y1, &fy);
  source_coord(x, a.w, a.wm, &x0, &x1, &fx);
  const u8* in = a.src + i * a.bpp;
  u8* out = a.dst + i * a.bpp;
  const int idx[3] = {a.r, a.g, a.b};
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    float v = model_sample<T, L>(a, n, c, y0, y1, fy, x0, x1, fx);
    if (a.strength < 1.0f) v = lerp(model_value(in[idx[c]], a.linear), v, a.strength);
    out[idx[c]] = to_byte(v, a.linear);
  }
  if (a.a >= 0) out[a.a] = in[a.a];
}

}  // namespace artem

// ---- kernels: artem_<op>_<dtype>_<layout> ----------------------------------------------------
// One thread per pixel; a 1-D grid over n*hs*ws (pack) or n*h*w (unpack).

// Flat scalar parameters (no structs by value), so CuPy passes them without layout rules.
#ifdef __CUDACC__
#define ARTEM_DEFINE_KERNELS(DT, LY)                                                          \
  extern "C" __global__ void artem_pack_##DT##_##LY(                                          \
      const artem::u8* src, void* dst, int n, int h, int w, int bpp, int hs, int ws,          \
      int r, int g, int b, int linear, int replicate) {                                       \
    artem::PackArgs a = {src, dst, n, h, w, bpp, hs, ws, r, g, b, linear, replicate};         \
    int i = blockIdx.x * blockDim.x + threadIdx.x;                                            \
    if (i < n * hs * ws) artem::pack_pixel<artem::DT, artem::LY>(a, i);                       \
  }                                                                                           \
  extern "C" __global__ void artem_unpack_##DT##_##LY(                                        \
      const void* model, const artem::u8* src, artem::u8* dst, int n, int h, int w, int bpp,  \
      int hm, int wm, int hs, int ws, int r, int g, int b, int alpha, int linear,             \
      float strength) {                                                                       \
    artem::UnpackArgs a = {model, src, dst, n, h, w, bpp, hm, wm, hs, ws,                     \
                           r, g, b, alpha, linear, strength};                                 \
    int i = blockIdx.x * blockDim.x + threadIdx.x;                                            \
    if (i < n * h * w) artem::unpack_pixel<artem::DT, artem::LY>(a, i);                       \
  }

ARTEM_DEFINE_KERNELS(f32, nchw)
ARTEM_DEFINE_KERNELS(f32, nhwc)
ARTEM_DEFINE_KERNELS(f16, nchw)
ARTEM_DEFINE_KERNELS(f16, nhwc)
ARTEM_DEFINE_KERNELS(bf16, nchw)
ARTEM_DEFINE_KERNELS(bf16, nhwc)
#endif

#endif  // ARTEM_CONVERT_CU
