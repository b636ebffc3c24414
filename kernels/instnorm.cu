// ArtEm's fused instance normalization for channels-last activations (the generator's hot spot).
//
// Written for ArtEm (no code copied). Loaded by kernels/instnorm.py (cupy.RawModule, NVRTC);
// compile-checked by tests/test_kernels_compile.py; per-thread bodies run on the host in
// tests/test_kernels_host_instnorm.py (tests/cuda/instnorm_host.cu). The statistics' sum over a
// block (warp shuffles, shared memory) runs only on a GPU: tests/test_kernels_gpu.py.
//
// Why: on an H100, eager fp16 channels-last runs reflection padding and instance norm as slow
// separate kernels (bench/NOTES-gpu.md). Here one kernel reads a conv's output once
// for the statistics, and one more pass normalizes, applies the affine, ReLU and the residual
// add, and writes straight into the next conv's input: reflection-padded, and for the
// upsampling layers nearest-x2 upsampled too. The pad and upsample tensors never exist.
//
// Contract (validated in Python before launch):
//   y    (N, H, W, C) channels-last, C a multiple of 8, 16-byte aligned rows of 8 channels.
//   acc  (N, C, 2) float64: sum and sum of squares of (y - k) over H*W, zeroed before
//        artem_in_stats, where k = y[n, 0, 0, c] is a shift that keeps the float partial sums
//        from cancelling when a channel's mean is far larger than its spread.
//   coef (N, C, 2) float32: per (n, c) scale and shift, from acc, gamma, beta (artem_in_coef).
//   out  (N, H*up + 2*pad, W*up + 2*pad, C): out[n, oy, ox, c] = f(y[n, iy, ix, c]) with
//        iy = reflect(oy - pad, H*up) / up (F.pad's reflect, then nearest upsampling's source).
//   Blocked layout (apply's in_blocked for y, out_blocked for out; even H and W): an image in
//        2x2 pixel blocks, (N, H/2, W/2, 4, C), pixel (2I+a, 2J+b) at block (I, J) slot 2a+b.
//        It is the 5x5 conv form of a 9x9 conv's input and output (fused_generator.py); as
//        (N, H*W, C) it is the same pixels in another order, so the statistics need no change.
//   f(v) = relu?(v * scale + shift) + res[n, iy + rp, ix + rp, c], where scale = gamma * rstd and
//        shift = beta - mean * scale, rstd = 1 / sqrt(var + eps), var the biased variance
//        (InstanceNorm2d's); res (N, H + 2rp, W + 2rp, C) or null.

#ifndef ARTEM_INSTNORM_CU
#define ARTEM_INSTNORM_CU

#ifndef ARTEM_CONVERT_CU  // the loader may have prepended it: NVRTC has no file to include
#include "convert.cu"
#endif

#ifndef ARTEM_IN_CHUNK
#define ARTEM_IN_CHUNK 256  // pixels one stats thread sums before its atomic adds
#endif

namespace artem {

ARTEM_HD void atomic_add(double* p, double v) {
#ifdef __CUDA_ARCH__
  atomicAdd(p, v);
#else
  *p += v;  // the host harness runs threads one after another
#endif
}

// Eight consecutive channels, loaded and stored as 16 (or 32) bytes.
template <class T> struct Vec8;
template <> struct Vec8<f16> {
  union U { uint4 v; u16 h[8]; };
  static ARTEM_HD void load(const void* p, float* out) {
    U u; u.v = *(const uint4*)p;
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = half_bits_to_float(u.h[i]);
  }
  static ARTEM_HD void store(void* p, const float* in) {
    U u;
#pragma unroll
    for (int i = 0; i < 8; ++i) u.h[i] = float_to_half_bits(in[i]);
    *(uint4*)p = u.v;
  }
};
template <> struct Vec8<bf16> {
  union U { uint4 v; u16 h[8]; };
  static ARTEM_HD void load(const void* p, float* out) {
    U u; u.v = *(const uint4*)p;
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = bf16_bits_to_float(u.h[i]);
  }
  static ARTEM_HD void store(void* p, const float* in) {
    U u;
#pragma unroll
    for (int i = 0; i < 8; ++i) u.h[i] = float_to_bf16_bits(in[i]);
    *(uint4*)p = u.v;
  }
};
template <> struct Vec8<f32> {
  union U { float4 v[2]; float f[8]; };
  static ARTEM_HD void load(const void* p, float* out) {
    U u; u.v[0] = ((const float4*)p)[0]; u.v[1] = ((const float4*)p)[1];
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = u.f[i];
  }
  static ARTEM_HD void store(void* p, const float* in) {
    U u;
#pragma unroll
    for (int i = 0; i < 8; ++i) u.f[i] = in[i];
    ((float4*)p)[0] = u.v[0]; ((float4*)p)[1] = u.v[1];
  }
};

template <class T> struct Elem { static const int bytes = 2; };
template <> struct Elem<f32> { static const int bytes = 4; };

// Thread t of n * chunks * (c / 8): sums one chunk of pixels for 8 channels, shifted by the
// image's first pixel, into s and q. Partials stay small (ARTEM_IN_CHUNK pixels) so float is
// exact enough; they are added up in double. Returns the thread's image; t >= total adds zeros.
template <class T>
ARTEM_HD int in_stats_partial(const void* y, int hw, int c, int t, int total, float* s, float* q) {
  int groups = c / 8, chunks = (hw + ARTEM_IN_CHUNK - 1) / ARTEM_IN_CHUNK;
  int g = t % groups, rest = t / groups;
  int chunk = rest % chunks, b = rest / chunks;
  int p0 = chunk * ARTEM_IN_CHUNK, p1 = p0 + ARTEM_IN_CHUNK < hw ? p0 + ARTEM_IN_CHUNK : hw;
  float v[8], k[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) { s[i] = 0.0f; q[i] = 0.0f; }
  if (t >= total) return b;
  const char* base = (const char*)y + ((long long)b * hw * c + g * 8) * Elem<T>::bytes;
  Vec8<T>::load(base, k);
  for (int p = p0; p < p1; ++p) {
    Vec8<T>::load(base + (long long)p * c * Elem<T>::bytes, v);
#pragma unroll
    for (int i = 0; i < 8; ++i) { float d = v[i] - k[i]; s[i] += d; q[i] += d * d; }
  }
  return b;
}

// One thread's partial sums added to acc: 16 atomic adds.
template <class T>
ARTEM_HD void in_stats_thread(const void* y, double* acc, int n, int hw, int c, int t) {
  float s[8], q[8];
  int b = in_stats_partial<T>(y, hw, c, t, n * ((hw + ARTEM_IN_CHUNK - 1) / ARTEM_IN_CHUNK) * (c / 8), s, q);
  double* a = acc + ((long long)b * c + (t % (c / 8)) * 8) * 2;
#pragma unroll
  for (int i = 0; i < 8; ++i) { atomic_add(a + 2 * i, (double)s[i]); atomic_add(a + 2 * i + 1, (double)q[i]); }
}

#ifdef __CUDACC__
#define ARTEM_IN_BLOCK 256   // the stats kernel's block size (kernels/convert.py's THREADS)
#define ARTEM_IN_GROUPS 32   // most channel groups (256 channels) a block reduces

// The stats kernel's block: every thread's partials, summed over the block before they reach
// acc, so that acc's few addresses take ARTEM_IN_BLOCK / groups times fewer atomic adds (they
// serialize: one thread's adds per chunk made the kernel atomic-bound). A block reduces when
// all its threads sum one image and the channel groups tile a warp (groups divides 32);
// otherwise each thread adds its own, as in_stats_thread does. The test is the same for the
// whole block, so every thread takes the same branch to __syncthreads.
template <class T>
__device__ void in_stats_block(const void* y, double* acc, int n, int hw, int c, int total) {
  int groups = c / 8, chunks = (hw + ARTEM_IN_CHUNK - 1) / ARTEM_IN_CHUNK;
  int first = blockIdx.x * blockDim.x, t = first + threadIdx.x;
  int last = first + (int)blockDim.x - 1 < total - 1 ? first + (int)blockDim.x - 1 : total - 1;
  int image = first / groups / chunks;
  bool reduce = blockDim.x == ARTEM_IN_BLOCK && 32 % groups == 0 && image == last / groups / chunks;
  if (!reduce) {
    if (t < total) in_stats_thread<T>(y, acc, n, hw, c, t);
    return;
  }
  __shared__ double partial[ARTEM_IN_BLOCK / 32][ARTEM_IN_GROUPS * 16];
  float s[8], q[8];
  in_stats_partial<T>(y, hw, c, t, total, s, q);
  double d[16];
#pragma unroll
  for (int i = 0; i < 8; ++i) { d[2 * i] = s[i]; d[2 * i + 1] = q[i]; }
  // lanes l and l ^ off hold the same channel group for every off >= groups
  for (int off = 16; off >= groups; off >>= 1) {
#pragma unroll
    for (int i = 0; i < 16; ++i) d[i] += __shfl_xor_sync(0xffffffffu, d[i], off);
  }
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane < groups) {  // lane == its channel group; d's order is acc's: (channel, sum|squares)
#pragma unroll
    for (int i = 0; i < 16; ++i) partial[warp][lane * 16 + i] = d[i];
  }
  __syncthreads();
  for (int j = threadIdx.x; j < groups * 16; j += blockDim.x) {
    double sum = 0.0;
    for (int w = 0; w < ARTEM_IN_BLOCK / 32; ++w) sum += partial[w][j];
    atomicAdd(acc + (long long)image * c * 2 + j, sum);
  }
}
#endif

ARTEM_HD int reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

// Thread t of n * c: the statistics become one multiply-add per element for the apply pass.
template <class T>
ARTEM_HD void in_coef_thread(const void* y, const double* acc, const float* gamma, const float* beta,
                             float* coef, int c, double count, float eps, int t) {
  typedef typename T::storage S;
  long long pixels = (long long)count;
  double k = (double)Convert<T>::load(((const S*)y)[(long long)(t / c) * pixels * c + t % c]);
  double shifted = acc[2 * t] / count;  // mean of y - k
  double var = acc[2 * t + 1] / count - shifted * shifted;
  double mean = k + shifted;
  double rstd = 1.0 / sqrt((var > 0.0 ? var : 0.0) + (double)eps);
  double scale = rstd * (double)gamma[t % c];
  coef[2 * t] = (float)scale;
  coef[2 * t + 1] = (float)((double)beta[t % c] - mean * scale);
}

struct ApplyArgs {
  const void* y;
  const float* coef;
  const void* res;   // null: no residual
  void* out;
  int n, h, w, c;
  int up, pad, relu, res_pad;
  int in_blocked, out_blocked;  // y, out in the blocked layout
};

// Element offset of pixel (y, x)'s channel c0 in an (n, h, w, c) image, plain or blocked.
ARTEM_HD long long pixel_offset(int b, int y, int x, int c0, int h, int w, int c, int blocked) {
  if (!blocked) return (((long long)b * h + y) * w + x) * c + c0;
  return ((((long long)b * (h / 2) + y / 2) * (w / 2) + x / 2) * 4 + (y % 2) * 2 + x % 2) * c + c0;
}

// Thread t of n * ho * wo * (c / 8): one output pixel's 8 channels.
template <class T>
ARTEM_HD void in_apply_thread(const ApplyArgs& a, int t) {
  int groups = a.c / 8;
  int ho = a.h * a.up + 2 * a.pad, wo = a.w * a.up + 2 * a.pad;
  int g = t % groups, rest = t / groups;
  int ox = rest % wo; rest /= wo;
  int oy = rest % ho; int b = rest / ho;
  int iy = reflect(oy - a.pad, a.h * a.up) / a.up;
  int ix = reflect(ox - a.pad, a.w * a.up) / a.up;
  int c0 = g * 8;
  float v[8], r[8];
  const int eb = Elem<T>::bytes;
  Vec8<T>::load((const char*)a.y + pixel_offset(b, iy, ix, c0, a.h, a.w, a.c, a.in_blocked) * eb, v);
  if (a.res) {
    int rh = a.h + 2 * a.res_pad, rw = a.w + 2 * a.res_pad;
    Vec8<T>::load((const char*)a.res +
                  ((((long long)b * rh + iy + a.res_pad) * rw + ix + a.res_pad) * a.c + c0) * eb, r);
  }
  union { float4 v[4]; float f[16]; } k;  // (scale, shift) of the 8 channels: 64 aligned bytes
  const float4* kp = (const float4*)(a.coef + ((long long)b * a.c + c0) * 2);
#pragma unroll
  for (int i = 0; i < 4; ++i) k.v[i] = kp[i];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    float x = v[i] * k.f[2 * i] + k.f[2 * i + 1];
    if (a.relu) x = fmaxf(x, 0.0f);
    if (a.res) x += r[i];
    v[i] = x;
  }
  Vec8<T>::store((char*)a.out + pixel_offset(b, oy, ox, c0, ho, wo, a.c, a.out_blocked) * eb, v);
}

}  // namespace artem

// ---- kernels: artem_in_{stats,coef,apply}_<dtype>_nhwc ------------------------------------

#ifdef __CUDACC__
#define ARTEM_DEFINE_IN_KERNELS(DT)                                                            \
  extern "C" __global__ void artem_in_stats_##DT##_nhwc(const void* y, double* acc, int n,     \
                                                         int hw, int c, int total) {           \
    artem::in_stats_block<artem::DT>(y, acc, n, hw, c, total);                                 \
  }                                                                                            \
  extern "C" __global__ void artem_in_apply_##DT##_nhwc(                                       \
      const void* y, const float* coef, const void* res, void* out, int n, int h, int w, int c, \
      int up, int pad, int relu, int res_pad, int in_blocked, int out_blocked, int total) {    \
    artem::ApplyArgs a = {y, coef, res, out, n, h, w, c, up, pad, relu, res_pad, in_blocked,   \
                          out_blocked};                                                        \
    int t = blockIdx.x * blockDim.x + threadIdx.x;                                             \
    if (t < total) artem::in_apply_thread<artem::DT>(a, t);                                    \
  }                                                                                            \
  extern "C" __global__ void artem_in_coef_##DT##_nhwc(                                        \
      const void* y, const double* acc, const float* gamma, const float* beta, float* coef,    \
      int c, double count, float eps, int total) {                                             \
    int t = blockIdx.x * blockDim.x + threadIdx.x;                                             \
    if (t < total) artem::in_coef_thread<artem::DT>(y, acc, gamma, beta, coef, c, count, eps, t); \
  }

ARTEM_DEFINE_IN_KERNELS(f32)
ARTEM_DEFINE_IN_KERNELS(f16)
ARTEM_DEFINE_IN_KERNELS(bf16)
#endif

#endif  // ARTEM_INSTNORM_CU
