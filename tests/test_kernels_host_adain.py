"""The fused adain kernels' arithmetic, run on the CPU against their torch twins.

tests/cuda/adain_host.cu runs kernels/adain.cu's per-thread bodies in loops: the epilogue
(bias, ReLU, ceil-mode max pool or nearest upsampling, reflection padding) and AdaIN's
coefficients (from instnorm.cu's statistics, also run here), on odd sizes and every dtype.
"""

from __future__ import annotations

import ctypes

import pytest
import torch
from host_build import build_host_library, needs_nvcc

from artem_server.backends.fused_adain import reference_adain, reference_epilogue

DT = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
TOL = {torch.float32: (1e-4, 1e-4), torch.float16: (2e-3, 2e-2), torch.bfloat16: (1.6e-2, 1e-1)}

pytestmark = needs_nvcc


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> ctypes.CDLL:
    return build_host_library(tmp_path_factory.mktemp("host"), "instnorm_host.cu", "adain_host.cu")


def p(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def features(n: int, c: int, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """Conv outputs off zero with their own scale per channel, channels-last."""
    y = torch.randn(n, c, h, w) * torch.rand(1, c, 1, 1) * 20 + torch.randn(1, c, 1, 1) * 30
    return y.to(dtype).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "c,h,w,relu,pool,upsample,pad",
    [
        (8, 13, 21, True, False, 1, 1),  # a plain conv-to-conv step, odd sizes
        (16, 13, 21, True, True, 1, 1),  # pool with ceil mode's odd edges, then pad
        (24, 10, 12, True, True, 1, 0),  # pool, no pad
        (8, 9, 11, True, False, 2, 1),  # the decoder's upsample then pad
        (16, 7, 5, False, False, 1, 0),  # bias only (relu4_1 without ReLU would be this)
    ],
)
def test_epilogue_matches_reference(lib, dtype, c, h, w, relu, pool, upsample, pad):
    torch.manual_seed(c * h + w)
    n = 2
    y = features(n, c, h, w, dtype)
    bias = torch.randn(c) * 10
    kwargs = dict(relu=relu, pool=pool, upsample=upsample, pad=pad)
    ref = reference_epilogue(y, bias, **kwargs)
    out = torch.full(ref.shape, float("nan"), dtype=dtype).contiguous(
        memory_format=torch.channels_last
    )
    total = n * ref.shape[2] * ref.shape[3] * (c // 8)
    getattr(lib, f"host_ad_epilogue_{DT[dtype]}_nhwc")(
        p(y),
        p(bias),
        p(out),
        *map(ctypes.c_int, (n, h, w, c, int(pool), upsample, pad, int(relu), total)),
    )
    assert not torch.isnan(out.float()).any(), "every element written"
    # bias added in float32 then rounded once, as the twin does
    torch.testing.assert_close(out.float(), ref.float(), rtol=TOL[dtype][0], atol=TOL[dtype][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("alpha", [1.0, 0.3])
@pytest.mark.parametrize("c,h,w", [(16, 9, 11), (8, 40, 70), (32, 3, 2)])
def test_adain_matches_reference(lib, dtype, alpha, c, h, w):
    torch.manual_seed(c + h * w)
    n = 2
    f = features(n, c, h, w, dtype).abs()  # relu4_1 features are >= 0
    style_mean, style_std = torch.rand(c) * 5, torch.rand(c) * 3 + 0.1
    chunks = -(-h * w // 256)
    acc = torch.zeros((n, c, 2), dtype=torch.float64)
    getattr(lib, f"host_in_stats_{DT[dtype]}_nhwc")(
        p(f), p(acc), *map(ctypes.c_int, (n, h * w, c, n * chunks * (c // 8)))
    )
    coef = torch.empty((n, c, 2), dtype=torch.float32)
    getattr(lib, f"host_ad_coef_{DT[dtype]}_nhwc")(
        p(f),
        p(acc),
        p(style_mean),
        p(style_std),
        p(coef),
        ctypes.c_int(c),
        ctypes.c_double(h * w),
        ctypes.c_float(1e-5),
        ctypes.c_float(alpha),
        ctypes.c_int(n * c),
    )
    ours = f.float() * coef[..., 0, None, None] + coef[..., 1, None, None]
    ref = reference_adain(f, style_mean, style_std, alpha).float()
    torch.testing.assert_close(ours, ref, rtol=TOL[dtype][0], atol=TOL[dtype][1] * 5)
    if alpha == 1.0:  # the swap itself: each channel now has the style's mean and std
        flat = ours.flatten(2)
        torch.testing.assert_close(flat.mean(-1), style_mean.expand(n, c), rtol=1e-3, atol=1e-3)
        torch.testing.assert_close(
            flat.std(-1), style_std.expand(n, c), rtol=5e-3, atol=1e-3
        )  # eps
