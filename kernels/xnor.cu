// ArtEm's binary (XNOR-Net) 3x3 convolution: sign-pack activations, then an implicit GEMM over
// 1-bit words, on the 1-bit tensor cores (sm_80+) or on CUDA cores (popcount).
//
// Written for ArtEm (no code copied). Loaded by kernels/xnor.py (cupy.RawModule, NVRTC);
// compile-checked by tests/test_kernels_compile.py (nvcc, sm_80 and sm_90) and
// tests/test_kernels_nvrtc.py; the pack and CUDA-core conv bodies run on the host in
// tests/test_xnor_kernels_host.py (tests/cuda/xnor_host.cu) against kernels/xnor_reference.py,
// bit for bit. The tensor-core kernel (warp-wide mma.sync) runs only on a GPU:
// tests/test_xnor_gpu.py.
//
// Bits: 1 means +1 (v >= 0, so sign(0) = +1), 0 means -1. Channel c of a pixel is bit c % 32 of
// word c / 32; words are padded with zero bits up to a multiple of 4 words (128 bits, one MMA's
// K). A padded bit is 0 in both operands, so it adds nothing to popc(a AND w), popc(a),
// popc(w) or popc(a XOR w), and the true length N = 9 * C_in makes the dot product exact:
//   dot = N - 2 * popc(a XOR w)                              (CUDA cores)
//       = 4 * popc(a AND w) - 2 * popc(a) - 2 * popc(w) + N  (tensor cores: on sm_90 only the
//                                                              AND form is native)
//
// Contract (validated in Python before launch; the kernels trust their arguments):
//   pack:  x    (N, H, W, C) channels-last, dtype f32/f16/bf16.
//          coef (N, C, 2) float32 (scale, shift) or null: v = x * scale + shift first (the
//               instance norm before the sign, instnorm.cu's coefficients), else v = x.
//          out  (N, H + 2p, W + 2p, CW) u32, CW = 4 * ceil(C / 128): the bits of v at
//               (reflect(y - p), reflect(x - p)): reflection padding commutes with sign, so
//               padding the packed tensor is exact.
//   conv:  a    packed input (N, H + 2, W + 2, CW) from pack with p = 1.
//          wb   (CO_pad, 9, CW) u32 weight bits, tap = 3 * ky + kx, CO_pad = 64 * ceil(CO / 64),
//               rows past CO all zero; popw (CO_pad,) int32: popc of each row.
//          alpha, bias (CO,) float32; res (N, H, W, CO) f16 or null; out (N, H, W, CO) f16:
//          out = f16(((alpha * dot) + bias) + res), each operation rounded to float32 (no
//          fused multiply-add, so the host reference gets the same bits).
// All indices are 32-bit: Python refuses tensors of 2^31 elements or more.

#ifndef ARTEM_XNOR_CU
#define ARTEM_XNOR_CU

#ifndef ARTEM_CONVERT_CU  // the loader may have prepended it: NVRTC has no file to include
#include "convert.cu"
#endif

#ifndef ARTEM_XNOR_WARPS_M
#define ARTEM_XNOR_WARPS_M 4  // warps of a block along the pixels
#endif
#ifndef ARTEM_XNOR_WARPS_N
#define ARTEM_XNOR_WARPS_N 2  // warps of a block along the output channels
#endif
#ifndef ARTEM_XNOR_MT
#define ARTEM_XNOR_MT 2  // 16-pixel MMA tiles per warp
#endif
#ifndef ARTEM_XNOR_NT
#define ARTEM_XNOR_NT 4  // 8-channel MMA tiles per warp
#endif
#define ARTEM_XNOR_BM (ARTEM_XNOR_WARPS_M * ARTEM_XNOR_MT * 16)  // pixels per block
#define ARTEM_XNOR_BN (ARTEM_XNOR_WARPS_N * ARTEM_XNOR_NT * 8)   // output channels per block

namespace artem {

ARTEM_HD int xnor_popc(u32 v) {
#ifdef __CUDA_ARCH__
  return __popc(v);
#else
  return __builtin_popcount(v);
#endif
}

// Rounded float32 multiply and add that the compiler may not contract into an FMA: the host
// reference rounds after each operation too.
ARTEM_HD float xnor_mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  volatile float p = a * b;
  return p;
#endif
}
ARTEM_HD float xnor_add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  volatile float s = a + b;
  return s;
#endif
}

ARTEM_HD int xnor_reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

struct XnorPackArgs {
  const void* x;
  const float* coef;  // null: no norm
  u32* out;
  int n, h, w, c, pad, cw;
};

// The bit of channel c: v >= 0, v = x (or x * scale + shift with the norm's coefficients).
template <class T>
ARTEM_HD bool xnor_sign_bit(typename T::storage x, const float* coef, int c) {
  float v = Convert<T>::load(x);
  if (coef) v = xnor_add(xnor_mul(v, coef[2 * c]), coef[2 * c + 1]);
  return v >= 0.0f;
}

// Thread t of n * (h + 2p) * (w + 2p) * cw: one packed word (32 channels of one pixel).
template <class T>
ARTEM_HD void xnor_pack_thread(const XnorPackArgs& a, int t) {
  typedef typename T::storage S;
  int hp = a.h + 2 * a.pad, wp = a.w + 2 * a.pad;
  int word = t % a.cw, rest = t / a.cw;
  int px = rest % wp; rest /= wp;
  int py = rest % hp; int b = rest / hp;
  int iy = xnor_reflect(py - a.pad, a.h), ix = xnor_reflect(px - a.pad, a.w);
  const S* src = (const S*)a.x + (((long long)b * a.h + iy) * a.w + ix) * a.c;
  int c0 = word * 32, c1 = c0 + 32 < a.c ? c0 + 32 : a.c;
  const float* coef = a.coef ? a.coef + (long long)b * a.c * 2 : 0;
  u32 bits = 0u;
  if (a.c % 8 == 0 && ((unsigned long long)a.x & 15u) == 0) {
    // 16-byte loads (8 halves or 4 floats): every chunk is aligned when c is a multiple of 8
    const int per = 16 / (int)sizeof(S);
    for (int c = c0; c < c1; c += per) {
      union { uint4 v; S s[16 / sizeof(S)]; } u;
      u.v = *(const uint4*)(src + c);
      for (int i = 0; i < per; ++i)
        if (xnor_sign_bit<T>(u.s[i], coef, c + i)) bits |= 1u << (c + i - c0);
    }
  } else {
    for (int c = c0; c < c1; ++c)
      if (xnor_sign_bit<T>(src[c], coef, c)) bits |= 1u << (c - c0);
  }
  a.out[t] = bits;
}

struct XnorConvArgs {
  const u32* a;       // (n, h + 2, w + 2, cw)
  const u32* wb;      // (co_pad, 9, cw)
  const int* popw;    // (co_pad,)
  const float* alpha; // (co,)
  const float* bias;  // (co,)
  const u16* res;     // (n, h, w, co) f16 bits or null
  u16* out;           // (n, h, w, co) f16 bits
  int n, h, w, cw, co, k;  // k = 9 * c_in, the true length of the dot product
};

// The epilogue both convolutions share: scale, bias, residual, f16.
ARTEM_HD u16 xnor_epilogue(const XnorConvArgs& a, long long pixel, int co, int dot) {
  float v = xnor_add(xnor_mul(a.alpha[co], (float)dot), a.bias[co]);
  if (a.res) v = xnor_add(v, half_bits_to_float(a.res[pixel * a.co + co]));
  return float_to_half_bits(v);
}

// Thread t of n * h * w * co: one output value on CUDA cores, dot = N - 2 * popc(a XOR w).
// Neighbouring threads take neighbouring output channels of one pixel: they read the same
// activation words (a broadcast) and write consecutive halves.
ARTEM_HD void xnor_conv_xor_thread(const XnorConvArgs& a, int t) {
  int co = t % a.co;
  long long pixel = t / a.co;
  int x = (int)(pixel % a.w), y = (int)(pixel / a.w % a.h), b = (int)(pixel / a.w / a.h);
  int wp = a.w + 2;
  const u32* w = a.wb + (long long)co * 9 * a.cw;
  int mismatches = 0;
  for (int ky = 0; ky < 3; ++ky) {
    for (int kx = 0; kx < 3; ++kx) {
      const u32* in = a.a + (((long long)b * (a.h + 2) + y + ky) * wp + x + kx) * a.cw;
      const u32* wt = w + (ky * 3 + kx) * a.cw;
      for (int i = 0; i < a.cw; ++i) mismatches += xnor_popc(in[i] ^ wt[i]);
    }
  }
  a.out[pixel * a.co + co] = xnor_epilogue(a, pixel, co, a.k - 2 * mismatches);
}

#ifdef __CUDACC__
// One warp-wide m16n8k128 MMA: d += popc(A AND B) over 128 bits. Fragments (PTX ISA, b1
// m16n8k128): lane = 4 * g + q; a0 = row g, a1 = row g + 8, each 32 bits at K = 32 q; b0 = column
// g, 32 bits at K = 32 q; d0, d1 = row g, columns 2q, 2q + 1; d2, d3 = row g + 8, the same.
__device__ __forceinline__ void xnor_mma_and(int* d, u32 a0, u32 a1, u32 b0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k128.row.col.s32.b1.b1.s32.and.popc "
      "{%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a0), "r"(a1), "r"(b0));
#else
  __trap();  // the loader launches this kernel only on compute capability 8.0 and newer
#endif
}

// The tensor-core convolution. A block computes ARTEM_XNOR_BM pixels (flattened n, y, x) times
// ARTEM_XNOR_BN output channels; its weight rows sit in shared memory (dynamic: BN * 9 * cw
// words). Each warp holds MT x NT accumulator tiles; per tap and 128-bit chunk it loads its A
// fragments straight from global memory (a pixel's 16 bytes per tap are contiguous, 8 pixels
// of a fragment are 128 consecutive bytes), counts popc(a) for the AND identity, and issues
// MT * NT MMAs. Rows past the last pixel read the last pixel and are not stored.
__device__ void xnor_conv_mma_block(const XnorConvArgs& a) {
  extern __shared__ u32 ws[];
  const int per_row = 9 * a.cw;
  const int n0 = blockIdx.y * ARTEM_XNOR_BN;
  for (int i = threadIdx.x; i < ARTEM_XNOR_BN * per_row; i += blockDim.x)
    ws[i] = a.wb[(long long)n0 * per_row + i];
  __syncthreads();

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, q = lane % 4;
  const int wm = warp % ARTEM_XNOR_WARPS_M, wn = warp / ARTEM_XNOR_WARPS_M;
  const long long pixels = (long long)a.n * a.h * a.w;
  const long long m0 = (long long)blockIdx.x * ARTEM_XNOR_BM + wm * ARTEM_XNOR_MT * 16;
  const int wp = a.w + 2;

  int base[ARTEM_XNOR_MT][2];  // word offset of each fragment row's pixel at tap (0, 0)
#pragma unroll
  for (int mt = 0; mt < ARTEM_XNOR_MT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      long long m = m0 + mt * 16 + g + 8 * r;
      if (m >= pixels) m = pixels - 1;
      int x = (int)(m % a.w), y = (int)(m / a.w % a.h), b = (int)(m / a.w / a.h);
      base[mt][r] = ((b * (a.h + 2) + y) * wp + x) * a.cw + q;
    }
  }
  int acc[ARTEM_XNOR_MT][ARTEM_XNOR_NT][4];
  int popa[ARTEM_XNOR_MT][2];
#pragma unroll
  for (int mt = 0; mt < ARTEM_XNOR_MT; ++mt) {
    popa[mt][0] = popa[mt][1] = 0;
#pragma unroll
    for (int nt = 0; nt < ARTEM_XNOR_NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0;
  }
  const u32* wrow = ws + (wn * ARTEM_XNOR_NT * 8 + g) * per_row + q;
  for (int tap = 0; tap < 9; ++tap) {
    const int tap_off = ((tap / 3) * wp + tap % 3) * a.cw;
    for (int kc = 0; kc < a.cw; kc += 4) {
      u32 fa[ARTEM_XNOR_MT][2];
#pragma unroll
      for (int mt = 0; mt < ARTEM_XNOR_MT; ++mt) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          fa[mt][r] = __ldg(a.a + base[mt][r] + tap_off + kc);
          popa[mt][r] += __popc(fa[mt][r]);
        }
      }
#pragma unroll
      for (int nt = 0; nt < ARTEM_XNOR_NT; ++nt) {
        u32 fb = wrow[nt * 8 * per_row + tap * a.cw + kc];
#pragma unroll
        for (int mt = 0; mt < ARTEM_XNOR_MT; ++mt) xnor_mma_and(acc[mt][nt], fa[mt][0], fa[mt][1], fb);
      }
    }
  }
  // popc(a) of a row: the four lanes of group g each counted a quarter of its words
#pragma unroll
  for (int mt = 0; mt < ARTEM_XNOR_MT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      popa[mt][r] += __shfl_xor_sync(0xffffffffu, popa[mt][r], 1);
      popa[mt][r] += __shfl_xor_sync(0xffffffffu, popa[mt][r], 2);
    }
  }
#pragma unroll
  for (int mt = 0; mt < ARTEM_XNOR_MT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      long long m = m0 + mt * 16 + g + 8 * r;
      if (m >= pixels) continue;
#pragma unroll
      for (int nt = 0; nt < ARTEM_XNOR_NT; ++nt) {
        int co = n0 + (wn * ARTEM_XNOR_NT + nt) * 8 + 2 * q;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          if (co + j >= a.co) continue;
          int dot = 4 * acc[mt][nt][2 * r + j] - 2 * popa[mt][r] - 2 * a.popw[co + j] + a.k;
          a.out[m * a.co + co + j] = xnor_epilogue(a, m, co + j, dot);
        }
      }
    }
  }
}
#endif

}  // namespace artem

// ---- kernels: artem_xnor_pack_<dtype>_nhwc, artem_xnor_conv3x3_{xor,mma}_f16_nhwc ---------

#ifdef __CUDACC__
#define ARTEM_DEFINE_XNOR_PACK(DT)                                                              \
  extern "C" __global__ void artem_xnor_pack_##DT##_nhwc(const void* x, const float* coef,      \
                                                         artem::u32* out, int n, int h, int w,  \
                                                         int c, int pad, int cw, int total) {   \
    artem::XnorPackArgs a = {x, coef, out, n, h, w, c, pad, cw};                                \
    int t = blockIdx.x * blockDim.x + threadIdx.x;                                              \
    if (t < total) artem::xnor_pack_thread<artem::DT>(a, t);                                    \
  }

ARTEM_DEFINE_XNOR_PACK(f32)
ARTEM_DEFINE_XNOR_PACK(f16)
ARTEM_DEFINE_XNOR_PACK(bf16)

extern "C" __global__ void artem_xnor_conv3x3_xor_f16_nhwc(
    const artem::u32* a, const artem::u32* wb, const int* popw, const float* alpha,
    const float* bias, const artem::u16* res, artem::u16* out, int n, int h, int w, int cw,
    int co, int k, int total) {
  artem::XnorConvArgs args = {a, wb, popw, alpha, bias, res, out, n, h, w, cw, co, k};
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < total) artem::xnor_conv_xor_thread(args, t);
}

extern "C" __global__ void __launch_bounds__(ARTEM_XNOR_WARPS_M * ARTEM_XNOR_WARPS_N * 32)
artem_xnor_conv3x3_mma_f16_nhwc(const artem::u32* a, const artem::u32* wb, const int* popw,
                                const float* alpha, const float* bias, const artem::u16* res,
                                artem::u16* out, int n, int h, int w, int cw, int co, int k) {
  artem::XnorConvArgs args = {a, wb, popw, alpha, bias, res, out, n, h, w, cw, co, k};
  artem::xnor_conv_mma_block(args);
}
#endif

#endif  // ARTEM_XNOR_CU
