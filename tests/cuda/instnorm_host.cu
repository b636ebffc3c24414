// Host harness for kernels/instnorm.cu: the kernels' per-thread bodies in plain loops (one
// iteration per CUDA thread; the stats threads' atomic adds become ordinary adds), built by the
// tests with `nvcc -shared`. Each host_<name> takes exactly the parameters of the kernel
// artem_<name>, so tests can stand it in for the launch and check the Python launch code too.
#include "../../kernels/instnorm.cu"

#define ARTEM_HOST_IN(DT)                                                                       \
  extern "C" void host_in_stats_##DT##_nhwc(const void* y, double* acc, int n, int hw, int c,   \
                                             int total) {                                       \
    for (int t = 0; t < total; ++t) artem::in_stats_thread<artem::DT>(y, acc, n, hw, c, t);     \
  }                                                                                             \
  extern "C" void host_in_apply_##DT##_nhwc(const void* y, const float* coef, const void* res,  \
                                             void* out, int n, int h, int w, int c, int up,     \
                                             int pad, int relu, int res_pad, int in_blocked,    \
                                             int out_blocked, int total) {                      \
    artem::ApplyArgs a = {y, coef, res, out, n, h, w, c, up, pad, relu, res_pad, in_blocked,    \
                          out_blocked};                                                         \
    for (int t = 0; t < total; ++t) artem::in_apply_thread<artem::DT>(a, t);                    \
  }                                                                                             \
  extern "C" void host_in_coef_##DT##_nhwc(const void* y, const double* acc, const float* gamma, \
                                            const float* beta, float* coef, int c, double count, \
                                            float eps, int total) {                             \
    for (int t = 0; t < total; ++t)                                                             \
      artem::in_coef_thread<artem::DT>(y, acc, gamma, beta, coef, c, count, eps, t);            \
  }

ARTEM_HOST_IN(f32)
ARTEM_HOST_IN(f16)
ARTEM_HOST_IN(bf16)
