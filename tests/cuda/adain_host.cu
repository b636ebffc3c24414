// Host harness for kernels/adain.cu: the kernels' per-thread bodies in plain loops (one
// iteration per CUDA thread), built by the tests with `nvcc -shared`. Each host_<name> takes
// exactly the parameters of the kernel artem_<name>, so tests can stand it in for the launch.
#include "../../kernels/adain.cu"

#define ARTEM_HOST_AD(DT)                                                                       \
  extern "C" void host_ad_epilogue_##DT##_nhwc(const void* y, const float* bias, void* out,     \
                                                int n, int h, int w, int c, int pool, int up,   \
                                                int pad, int relu, int total) {                 \
    artem::EpilogueArgs a = {y, bias, out, n, h, w, c, pool, up, pad, relu};                    \
    for (int t = 0; t < total; ++t) artem::ad_epilogue_thread<artem::DT>(a, t);                 \
  }                                                                                             \
  extern "C" void host_ad_coef_##DT##_nhwc(const void* f, const double* acc,                    \
                                            const float* style_mean, const float* style_std,    \
                                            float* coef, int c, double count, float eps,        \
                                            float alpha, int total) {                           \
    for (int t = 0; t < total; ++t)                                                             \
      artem::ad_coef_thread<artem::DT>(f, acc, style_mean, style_std, coef, c, count, eps,      \
                                       alpha, t);                                               \
  }

ARTEM_HOST_AD(f32)
ARTEM_HOST_AD(f16)
ARTEM_HOST_AD(bf16)
