"""The adain kind's fused steps (adain.cu) on torch channels-last CUDA tensors, via CuPy.

`epilogue(y, bias, relu=..., pool=..., upsample=..., pad=...)` is, for a conv's output `y`
computed without its bias ((N, C, H, W) channels-last):

    v = relu(y + bias) if relu else y + bias
    v = F.max_pool2d(v, 2, 2, ceil_mode=True) if pool else F.interpolate(v, scale_factor=upsample)
    out = F.pad(v, [pad] * 4, mode="reflect")

in one launch (one read, one write). `adain(f, style_mean, style_std, alpha, pad=...)` is
lerp(f, AdaIN(f), alpha), reflection-padded, in three: instnorm's statistics, `coefficients`
(the style's statistics and alpha folded into a per-(n, c) scale and shift), instnorm's apply.
Kernel names: artem_ad_{epilogue,coef}_<dtype>_nhwc; the module is built once per device.
Validation happens here, before launch.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import convert, instnorm

SOURCE = Path(__file__).with_name("adain.cu")
EPS = 1e-5  # pytorch-AdaIN's calc_mean_std, as artem_server.models.adain


def kernel_names() -> list[str]:
    return [
        f"artem_ad_{op}_{dt}_nhwc" for op in ("epilogue", "coef") for dt in convert.DTYPES.values()
    ]


def available() -> bool:
    return convert.available()


def module_source() -> str:
    """convert.cu, instnorm.cu, then adain.cu: NVRTC has no file to #include."""
    return instnorm.module_source() + "\n" + SOURCE.read_text()


@functools.cache
def _module(device_index: int) -> Any:
    """The RawModule of module_source() for one device, compiled once and kept."""
    return convert.build_module(module_source(), kernel_names()[0], device_index)


def _kernel(device_index: int, name: str) -> Any:
    return _module(device_index).get_function(name)


def _vector(t: torch.Tensor, name: str, c: int, device: torch.device) -> None:
    if t.shape != (c,) or t.dtype != torch.float32 or t.device != device or not t.is_contiguous():
        raise ValueError(
            f"{name}: expected a contiguous ({c},) float32 tensor on {device}, got "
            f"{t.dtype} {tuple(t.shape)} on {t.device}"
        )


def epilogue(
    y: torch.Tensor,
    bias: torch.Tensor,
    *,
    relu: bool,
    pool: bool = False,
    upsample: int = 1,
    pad: int = 0,
) -> torch.Tensor:
    """Bias, ReLU, 2x2 ceil-mode max pool or nearest upsampling, reflection pad: one pass."""
    instnorm._check(y, "y")
    n, c, h, w = y.shape
    _vector(bias, "bias", c, y.device)
    if upsample not in (1, 2) or (pool and upsample != 1):
        raise ValueError(
            f"upsample {upsample} with pool {pool}: expected 1 or 2, and 1 when pooling"
        )
    hm, wm = ((h + 1) // 2, (w + 1) // 2) if pool else (h * upsample, w * upsample)
    if not 0 <= pad < min(hm, wm):
        raise ValueError(f"pad {pad}: expected a pad smaller than the {hm}x{wm} image (reflection)")
    out = torch.empty(
        (n, c, hm + 2 * pad, wm + 2 * pad),
        dtype=y.dtype,
        device=y.device,
        memory_format=torch.channels_last,
    )
    if out.numel() >= 2**31:
        raise ValueError(f"out: {out.numel()} elements exceed the kernels' 32-bit indexing")
    total = n * out.shape[2] * out.shape[3] * (c // 8)
    i32 = np.int32
    convert._launch(
        _kernel(y.device.index, f"artem_ad_epilogue_{convert.DTYPES[y.dtype]}_nhwc"),
        total,
        (
            y,
            bias,
            out,
            i32(n),
            i32(h),
            i32(w),
            i32(c),
            i32(int(pool)),
            i32(upsample),
            i32(pad),
            i32(int(relu)),
            i32(total),
        ),
    )
    return out


def coefficients(
    f: torch.Tensor,
    acc: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    alpha: float,
    eps: float = EPS,
) -> torch.Tensor:
    """(N, C, 2) float32 (scale, shift) so that f * scale + shift = lerp(f, AdaIN(f), alpha);
    `acc` is instnorm.stats(f)."""
    instnorm._check(f, "f")
    n, c, h, w = f.shape
    if acc.shape != (n, c, 2) or acc.dtype != torch.float64 or acc.device != f.device:
        raise ValueError(f"acc: expected ({n}, {c}, 2) float64 on {f.device}")
    _vector(style_mean, "style_mean", c, f.device)
    _vector(style_std, "style_std", c, f.device)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: expected a number in [0, 1]")
    coef = torch.empty((n, c, 2), dtype=torch.float32, device=f.device)
    total = n * c
    convert._launch(
        _kernel(f.device.index, f"artem_ad_coef_{convert.DTYPES[f.dtype]}_nhwc"),
        total,
        (
            f,
            acc,
            style_mean,
            style_std,
            coef,
            np.int32(c),
            np.float64(h * w),
            np.float32(eps),
            np.float32(alpha),
            np.int32(total),
        ),
    )
    return coef


def adain(
    f: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    alpha: float = 1.0,
    *,
    pad: int = 0,
) -> torch.Tensor:
    """lerp(f, AdaIN(f), alpha), reflection-padded by `pad`, in f's dtype, channels-last."""
    coef = coefficients(f, instnorm.stats(f), style_mean, style_std, alpha)
    return instnorm.apply(f, coef, relu=False, pad=pad)
