// ArtEm's fused AdaIN steps for channels-last activations (the adain kind's VGG encoder and
// decoder between cuDNN convs).
//
// Written for ArtEm (no code copied). Loaded by kernels/adain.py (cupy.RawModule, NVRTC, after
// convert.cu and instnorm.cu); compile-checked by tests/test_kernels_compile.py; per-thread
// bodies run on the host in tests/test_kernels_host_adain.py (tests/cuda/adain_host.cu).
//
// Why: the VGG encoder and its mirror decoder are 19 3x3 convs, each followed in eager torch
// by a bias add (a separate slow pass on channels-last output), a ReLU, a max pool or an
// upsample, and the next conv's reflection padding: five passes over each activation. Here the
// convs run without bias and one pass (the epilogue) does all of it, writing the next conv's
// padded input directly. AdaIN itself is instnorm.cu's statistics kernel over the relu4_1
// features, one small kernel that turns them and the style's statistics into a per-(n, c)
// scale and shift (alpha folded in), and instnorm.cu's apply pass, which also pads.
//
// Contract (validated in Python before launch):
//   y    (N, H, W, C) channels-last conv output without its bias, C a multiple of 8.
//   bias (C,) float32.
//   out  (N, Hm + 2*pad, Wm + 2*pad, C), Hm = ceil(H/2) when pool, H*up otherwise:
//        out[n, oy, ox, c] = g(v), my = reflect(oy - pad, Hm) (F.pad's reflect), and
//        v = max(y[n, 2my + a, 2mx + b, c]) over the 2x2 window inside the image when pool
//        (MaxPool2d(2, 2, ceil_mode=True)), y[n, my / up, mx / up, c] otherwise (nearest);
//        g(v) = relu?(v + bias[c]). The max is taken before the bias and the ReLU: both are
//        monotone, so that equals pooling after them.
//   AdaIN coef (N, C, 2) float32 from instnorm's acc (shifted sums of f over H*W, shift
//        k = f[n, 0, 0, c]), count = H*W pixels, the style's mean and std (C,) float32, alpha:
//        std_f = sqrt(unbiased variance + eps) (pytorch-AdaIN's calc_mean_std), r = std_s / std_f,
//        scale = (1 - alpha) + alpha * r, shift = alpha * (mean_s - mean_f * r), so that
//        f * scale + shift = lerp(f, AdaIN(f), alpha).

#ifndef ARTEM_ADAIN_CU
#define ARTEM_ADAIN_CU

#ifndef ARTEM_INSTNORM_CU  // the loader may have prepended it: NVRTC has no file to include
#include "instnorm.cu"
#endif

namespace artem {

struct EpilogueArgs {
  const void* y;
  const float* bias;
  void* out;
  int n, h, w, c;
  int pool, up, pad, relu;
};

ARTEM_HD int pooled(int n) { return (n + 1) / 2; }

// Thread t of n * ho * wo * (c / 8): one output pixel's 8 channels.
template <class T>
ARTEM_HD void ad_epilogue_thread(const EpilogueArgs& a, int t) {
  int groups = a.c / 8;
  int hm = a.pool ? pooled(a.h) : a.h * a.up, wm = a.pool ? pooled(a.w) : a.w * a.up;
  int ho = hm + 2 * a.pad, wo = wm + 2 * a.pad;
  int g = t % groups, rest = t / groups;
  int ox = rest % wo; rest /= wo;
  int oy = rest % ho; int b = rest / ho;
  int my = reflect(oy - a.pad, hm), mx = reflect(ox - a.pad, wm);
  int c0 = g * 8;
  const int eb = Elem<T>::bytes;
  const char* img = (const char*)a.y + (long long)b * a.h * a.w * a.c * eb;
  float v[8];
  if (a.pool) {
    int y0 = 2 * my, x0 = 2 * mx;
    int y1 = y0 + 1 < a.h ? y0 + 1 : y0, x1 = x0 + 1 < a.w ? x0 + 1 : x0;  // ceil mode's edge
    float u[8];
    Vec8<T>::load(img + ((long long)y0 * a.w + x0) * a.c * eb + c0 * eb, v);
    int ys[3] = {y0, y1, y1}, xs[3] = {x1, x0, x1};
#pragma unroll
    for (int k = 0; k < 3; ++k) {
      Vec8<T>::load(img + ((long long)ys[k] * a.w + xs[k]) * a.c * eb + c0 * eb, u);
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = fmaxf(v[i], u[i]);
    }
  } else {
    Vec8<T>::load(img + ((long long)(my / a.up) * a.w + mx / a.up) * a.c * eb + c0 * eb, v);
  }
  union { float4 v[2]; float f[8]; } k;  // the 8 channels' biases: 32 aligned bytes
  const float4* kp = (const float4*)(a.bias + c0);
  k.v[0] = kp[0]; k.v[1] = kp[1];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    float x = v[i] + k.f[i];
    v[i] = a.relu ? fmaxf(x, 0.0f) : x;
  }
  Vec8<T>::store((char*)a.out + ((((long long)b * ho + oy) * wo + ox) * a.c + c0) * eb, v);
}

// Thread t of n * c: AdaIN's statistics swap as one multiply-add per element (see above).
template <class T>
ARTEM_HD void ad_coef_thread(const void* f, const double* acc, const float* style_mean,
                             const float* style_std, float* coef, int c, double count, float eps,
                             float alpha, int t) {
  typedef typename T::storage S;
  long long pixels = (long long)count;
  double k = (double)Convert<T>::load(((const S*)f)[(long long)(t / c) * pixels * c + t % c]);
  double shifted = acc[2 * t] / count;  // mean of f - k
  double var = acc[2 * t + 1] / count - shifted * shifted;
  if (var < 0.0) var = 0.0;
  if (count > 1.0) var *= count / (count - 1.0);  // unbiased, as calc_mean_std
  double r = (double)style_std[t % c] / sqrt(var + (double)eps);
  coef[2 * t] = (float)((1.0 - (double)alpha) + (double)alpha * r);
  coef[2 * t + 1] = (float)((double)alpha * ((double)style_mean[t % c] - (k + shifted) * r));
}

}  // namespace artem

// ---- kernels: artem_ad_{epilogue,coef}_<dtype>_nhwc ---------------------------------------

#ifdef __CUDACC__
#define ARTEM_DEFINE_AD_KERNELS(DT)                                                            \
  extern "C" __global__ void artem_ad_epilogue_##DT##_nhwc(                                    \
      const void* y, const float* bias, void* out, int n, int h, int w, int c, int pool,      \
      int up, int pad, int relu, int total) {                                                  \
    artem::EpilogueArgs a = {y, bias, out, n, h, w, c, pool, up, pad, relu};                   \
    int t = blockIdx.x * blockDim.x + threadIdx.x;                                             \
    if (t < total) artem::ad_epilogue_thread<artem::DT>(a, t);                                 \
  }                                                                                            \
  extern "C" __global__ void artem_ad_coef_##DT##_nhwc(                                        \
      const void* f, const double* acc, const float* style_mean, const float* style_std,       \
      float* coef, int c, double count, float eps, float alpha, int total) {                   \
    int t = blockIdx.x * blockDim.x + threadIdx.x;                                             \
    if (t < total)                                                                             \
      artem::ad_coef_thread<artem::DT>(f, acc, style_mean, style_std, coef, c, count, eps,     \
                                       alpha, t);                                              \
  }

ARTEM_DEFINE_AD_KERNELS(f32)
ARTEM_DEFINE_AD_KERNELS(f16)
ARTEM_DEFINE_AD_KERNELS(bf16)
#endif

#endif  // ARTEM_ADAIN_CU
