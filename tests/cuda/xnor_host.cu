// Host harness for kernels/xnor.cu: the pack and CUDA-core conv kernels' per-thread bodies in
// plain loops (one iteration per CUDA thread), built by the tests with `nvcc -shared`. Each
// host_<name> takes exactly the parameters of the kernel artem_<name>, so tests can stand it in
// for the launch and check kernels/xnor.py's launch code too. The tensor-core kernel is a
// warp-wide MMA and has no host form.
#include "../../kernels/xnor.cu"

#define ARTEM_HOST_XNOR_PACK(DT)                                                                \
  extern "C" void host_xnor_pack_##DT##_nhwc(const void* x, const float* coef, artem::u32* out, \
                                              int n, int h, int w, int c, int pad, int cw,      \
                                              int total) {                                      \
    artem::XnorPackArgs a = {x, coef, out, n, h, w, c, pad, cw};                                \
    for (int t = 0; t < total; ++t) artem::xnor_pack_thread<artem::DT>(a, t);                   \
  }

ARTEM_HOST_XNOR_PACK(f32)
ARTEM_HOST_XNOR_PACK(f16)
ARTEM_HOST_XNOR_PACK(bf16)

extern "C" void host_xnor_conv3x3_xor_f16_nhwc(const artem::u32* a, const artem::u32* wb,
                                               const int* popw, const float* alpha,
                                               const float* bias, const artem::u16* res,
                                               artem::u16* out, int n, int h, int w, int cw,
                                               int co, int k, int total) {
  artem::XnorConvArgs args = {a, wb, popw, alpha, bias, res, out, n, h, w, cw, co, k};
  for (int t = 0; t < total; ++t) artem::xnor_conv_xor_thread(args, t);
}
