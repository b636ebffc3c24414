"""Fused instance normalization (instnorm.cu) on torch channels-last CUDA tensors, via CuPy.

`instance_norm(y, gamma, beta, eps, relu=..., residual=..., upsample=..., pad=...)` is, for
(N, C, H, W) channels-last `y`:

    v = InstanceNorm2d(affine)(y); v = relu(v) if relu; v = v + residual's interior
    out = F.pad(F.interpolate(v, scale_factor=upsample, mode="nearest"), [pad] * 4, mode="reflect")

in three launches (statistics, coefficients, one read-once/write-once pass), on torch's current
stream, memory shared through DLPack. `blocked_in` / `blocked_out`: y / out in 2x2 pixel blocks,
(N, 4C, H/2, W/2) channels-last whose channel s*C + c is pixel (2I + s//2, 2J + s%2)'s channel c
(instnorm.cu's blocked layout: the 5x5-conv form of the generator's 9x9 convs).
Kernel names: artem_in_{stats,coef,apply}_<dtype>_nhwc; the module is built once per device.
Validation happens here, before launch.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import convert

SOURCE = Path(__file__).with_name("instnorm.cu")
CHUNK = 256  # ARTEM_IN_CHUNK in instnorm.cu


def kernel_names() -> list[str]:
    return [
        f"artem_in_{op}_{dt}_nhwc"
        for op in ("stats", "coef", "apply")
        for dt in convert.DTYPES.values()
    ]


def available() -> bool:
    return convert.available()


def module_source() -> str:
    """convert.cu then instnorm.cu: NVRTC has no file to #include, so the loader joins them."""
    return convert.module_source() + "\n" + SOURCE.read_text()


@functools.cache
def _module(device_index: int) -> Any:
    """The RawModule of module_source() for one device, compiled once and kept."""
    return convert.build_module(module_source(), kernel_names()[0], device_index)


def _kernel(device_index: int, name: str) -> Any:
    return _module(device_index).get_function(name)


def _check(y: torch.Tensor, name: str) -> None:
    if y.dim() != 4 or (convert.REQUIRE_CUDA and not y.is_cuda) or y.dtype not in convert.DTYPES:
        raise ValueError(
            f"{name}: expected a 4-D CUDA float32/float16/bfloat16 tensor, got "
            f"{y.dtype} {tuple(y.shape)} on {y.device}"
        )
    if not y.is_contiguous(memory_format=torch.channels_last):
        raise ValueError(f"{name}: expected channels-last memory, got strides {y.stride()}")
    if y.shape[1] % 8:
        raise ValueError(f"{name}: {y.shape[1]} channels; the kernels take multiples of 8")
    if y.numel() >= 2**31:
        raise ValueError(f"{name}: {y.numel()} elements exceed the kernels' 32-bit indexing")


def _image_shape(y: torch.Tensor, blocked: bool) -> tuple[int, int, int, int]:
    """(N, C, H, W) of the image `y` holds, plain or blocked."""
    n, c, h, w = y.shape
    if not blocked:
        return n, c, h, w
    if c % 32:
        raise ValueError(f"y: a blocked image of {c} channels; expected 4 x a multiple of 8")
    return n, c // 4, 2 * h, 2 * w


def _pixels(y: torch.Tensor, blocked: bool) -> torch.Tensor:
    """y as the statistics read it: a blocked image is its pixels in another order, the same
    memory as (N, C, H/2, 2W) channels-last (a view, no copy)."""
    if not blocked:
        return y
    n, c, h, w = _image_shape(y, True)
    return y.permute(0, 2, 3, 1).reshape(n, h // 2, 2 * w, c).permute(0, 3, 1, 2)


def stats(y: torch.Tensor) -> torch.Tensor:
    """(N, C, 2) float64: the sum and the sum of squares of y - y[:, :, 0, 0] over H*W."""
    _check(y, "y")
    n, c, h, w = y.shape
    acc = torch.zeros((n, c, 2), dtype=torch.float64, device=y.device)
    total = n * (-(-h * w // CHUNK)) * (c // 8)
    convert._launch(
        _kernel(y.device.index, f"artem_in_stats_{convert.DTYPES[y.dtype]}_nhwc"),
        total,
        (y, acc, np.int32(n), np.int32(h * w), np.int32(c), np.int32(total)),
    )
    return acc


def coefficients(
    y: torch.Tensor, acc: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float
) -> torch.Tensor:
    """(N, C, 2) float32 (scale, shift) so that normalized = y * scale + shift."""
    _check(y, "y")
    n, c, h, w = y.shape
    if acc.shape != (n, c, 2) or acc.dtype != torch.float64 or acc.device != y.device:
        raise ValueError(f"acc: expected ({n}, {c}, 2) float64 on {y.device}")
    for t, name in ((gamma, "gamma"), (beta, "beta")):
        if (
            t.shape != (c,)
            or t.dtype != torch.float32
            or t.device != acc.device
            or not t.is_contiguous()
        ):
            raise ValueError(f"{name}: expected a contiguous ({c},) float32 tensor on {acc.device}")
    coef = torch.empty((n, c, 2), dtype=torch.float32, device=acc.device)
    total = n * c
    convert._launch(
        _kernel(y.device.index, f"artem_in_coef_{convert.DTYPES[y.dtype]}_nhwc"),
        total,
        (
            y,
            acc,
            gamma,
            beta,
            coef,
            np.int32(c),
            np.float64(h * w),
            np.float32(eps),
            np.int32(total),
        ),
    )
    return coef


def apply(
    y: torch.Tensor,
    coef: torch.Tensor,
    *,
    relu: bool,
    residual: torch.Tensor | None = None,
    residual_pad: int = 0,
    upsample: int = 1,
    pad: int = 0,
    blocked_in: bool = False,
    blocked_out: bool = False,
) -> torch.Tensor:
    """One pass: normalize with `coef`, ReLU, add the residual's interior, upsample, pad."""
    _check(y, "y")
    n, c, h, w = _image_shape(y, blocked_in)
    if coef.shape != (n, c, 2) or coef.dtype != torch.float32 or not coef.is_contiguous():
        raise ValueError(f"coef: expected a contiguous ({n}, {c}, 2) float32 tensor")
    if upsample not in (1, 2) or not 0 <= pad < min(h, w) * upsample:
        raise ValueError(
            f"upsample {upsample}, pad {pad}: expected 1 or 2, and a pad smaller than "
            f"the {h * upsample}x{w * upsample} image (reflection)"
        )
    if residual is not None:
        _check(residual, "residual")
        expected = (n, c, h + 2 * residual_pad, w + 2 * residual_pad)
        if tuple(residual.shape) != expected or residual.dtype != y.dtype:
            raise ValueError(
                f"residual: expected {expected} {y.dtype}, got {tuple(residual.shape)} "
                f"{residual.dtype}"
            )
    ho, wo = h * upsample + 2 * pad, w * upsample + 2 * pad
    if blocked_out and (ho % 2 or wo % 2):
        raise ValueError(
            f"out: a blocked {ho}x{wo} image; 2x2 blocks need an even height and width"
        )
    shape = (n, 4 * c, ho // 2, wo // 2) if blocked_out else (n, c, ho, wo)
    out = torch.empty(shape, dtype=y.dtype, device=y.device, memory_format=torch.channels_last)
    if out.numel() >= 2**31:
        raise ValueError(f"out: {out.numel()} elements exceed the kernels' 32-bit indexing")
    total = n * ho * wo * (c // 8)
    res_arg = residual if residual is not None else np.uintp(0)
    i32 = np.int32
    convert._launch(
        _kernel(y.device.index, f"artem_in_apply_{convert.DTYPES[y.dtype]}_nhwc"),
        total,
        (
            y,
            coef,
            res_arg,
            out,
            i32(n),
            i32(h),
            i32(w),
            i32(c),
            i32(upsample),
            i32(pad),
            i32(int(relu)),
            i32(residual_pad),
            i32(int(blocked_in)),
            i32(int(blocked_out)),
            i32(total),
        ),
    )
    return out


def instance_norm(
    y: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    eps: float = 1e-5,
    *,
    relu: bool = False,
    residual: torch.Tensor | None = None,
    residual_pad: int = 0,
    upsample: int = 1,
    pad: int = 0,
    blocked_in: bool = False,
    blocked_out: bool = False,
) -> torch.Tensor:
    pixels = _pixels(y, blocked_in)
    coef = coefficients(pixels, stats(pixels), gamma, beta, eps)
    return apply(
        y,
        coef,
        relu=relu,
        residual=residual,
        residual_pad=residual_pad,
        upsample=upsample,
        pad=pad,
        blocked_in=blocked_in,
        blocked_out=blocked_out,
    )
