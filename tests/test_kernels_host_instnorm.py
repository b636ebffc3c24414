"""The fused instance-norm kernels' arithmetic, run on the CPU against `reference_norm`.

tests/cuda/instnorm_host.cu runs kernels/instnorm.cu's per-thread bodies in loops (stats
threads' atomic adds become plain adds): statistics, coefficients, and the apply pass with
ReLU, residual, upsampling and reflection padding, on odd sizes and every dtype.
"""

from __future__ import annotations

import ctypes

import pytest
import torch
from host_build import build_host_library, needs_nvcc

from artem_server.backends.fused_generator import block, reference_norm, unblock

DT = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}

pytestmark = needs_nvcc


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> ctypes.CDLL:
    return build_host_library(tmp_path_factory.mktemp("host"), "instnorm_host.cu")


def p(t: torch.Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr() if t is not None else 0)


def host_norm(
    lib,
    y,
    weight,
    bias,
    eps,
    *,
    relu,
    residual=None,
    residual_pad=0,
    upsample=1,
    pad=0,
    blocked_in=False,
    blocked_out=False,
):
    """The kernels on the plain image y; with blocked_in they read block(y), and with blocked_out
    they write blocks, unblocked here. Returns the output image and the statistics."""
    n, c, h, w = y.shape
    dt = DT[y.dtype]
    src = (
        block(y) if blocked_in else y
    )  # the same pixels in another order: the statistics read it as is
    acc = torch.zeros((n, c, 2), dtype=torch.float64)
    chunks = -(-h * w // 256)
    getattr(lib, f"host_in_stats_{dt}_nhwc")(
        p(src), p(acc), *map(ctypes.c_int, (n, h * w, c, n * chunks * (c // 8)))
    )
    coef = torch.empty((n, c, 2), dtype=torch.float32)
    getattr(lib, f"host_in_coef_{dt}_nhwc")(
        p(src),
        p(acc),
        p(weight),
        p(bias),
        p(coef),
        ctypes.c_int(c),
        ctypes.c_double(h * w),
        ctypes.c_float(eps),
        ctypes.c_int(n * c),
    )
    ho, wo = h * upsample + 2 * pad, w * upsample + 2 * pad
    shape = (n, 4 * c, ho // 2, wo // 2) if blocked_out else (n, c, ho, wo)
    out = torch.full(shape, float("nan"), dtype=y.dtype).contiguous(
        memory_format=torch.channels_last
    )
    getattr(lib, f"host_in_apply_{dt}_nhwc")(
        p(src),
        p(coef),
        p(residual),
        p(out),
        *map(
            ctypes.c_int,
            (
                n,
                h,
                w,
                c,
                upsample,
                pad,
                int(relu),
                residual_pad,
                int(blocked_in),
                int(blocked_out),
                n * ho * wo * (c // 8),
            ),
        ),
    )
    return (unblock(out) if blocked_out else out), acc


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "c,h,w,relu,res_pad,upsample,pad,blocked",
    [
        (8, 13, 21, True, None, 1, 1, ""),  # odd sizes, conv-to-conv
        (16, 30, 17, False, 1, 1, 1, ""),  # a residual block's second norm
        (24, 9, 11, False, 1, 2, 1, ""),  # the last block: residual, upsample, pad
        (32, 20, 28, True, None, 2, 1, ""),  # in4: upsample then pad
        (8, 37, 45, True, None, 1, 4, ""),  # in5: the 9x9 output conv's pad
        (16, 300, 7, True, None, 1, 0, ""),  # more than one stats chunk per image
        (8, 22, 30, True, None, 1, 1, "in"),  # in1: the blocked 9x9 conv's output
        (16, 18, 26, True, None, 1, 4, "out"),  # in5: the blocked 9x9 conv's input
        (8, 16, 250, False, 1, 2, 1, "in,out"),  # both, with a residual, upsampled
    ],
)
def test_fused_norm_matches_reference(lib, dtype, c, h, w, relu, res_pad, upsample, pad, blocked):
    torch.manual_seed(c * h + w)
    n = 2
    # Conv outputs sit off zero with their own scale per channel: the variance must survive.
    y = torch.randn(n, c, h, w) * torch.rand(1, c, 1, 1) * 20 + torch.randn(1, c, 1, 1) * 30
    y = y.to(dtype).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.rand(c) + 0.5, torch.randn(c)
    residual = None
    if res_pad is not None:
        residual = (torch.randn(n, c, h + 2 * res_pad, w + 2 * res_pad) * 5).to(dtype)
        residual = residual.contiguous(memory_format=torch.channels_last)
    kwargs = dict(
        relu=relu, residual=residual, residual_pad=res_pad or 0, upsample=upsample, pad=pad
    )
    ours, acc = host_norm(
        lib,
        y,
        weight,
        bias,
        1e-5,
        blocked_in="in" in blocked,
        blocked_out="out" in blocked,
        **kwargs,
    )
    ref = reference_norm(y, weight, bias, 1e-5, **kwargs)
    d = y.double() - y.double()[..., :1, :1]  # the kernels' shift: each image's first pixel
    torch.testing.assert_close(acc[..., 0], d.sum((2, 3)), rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(acc[..., 1], (d**2).sum((2, 3)), rtol=1e-5, atol=1e-2)
    assert not torch.isnan(ours.float()).any(), "every element written"
    tol = {
        torch.float32: (1e-4, 1e-4),
        torch.float16: (2e-3, 2e-2),
        torch.bfloat16: (1.6e-2, 1e-1),
    }[dtype]
    torch.testing.assert_close(ours.float(), ref.float(), rtol=tol[0], atol=tol[1])
