"""The binary 3x3 convolution of xnor.cu on torch CUDA tensors, through CuPy.

`pack(x, coef, pad)` sign-binarizes a channels-last activation (after an optional instance-norm
affine) into 32-channel words, reflection padded; `conv3x3(packed, conv, residual)` is the binary
conv with alpha, bias and the residual add fused, fp16 channels-last out. Both follow
xnor_reference.py bit for bit (same layouts, same rounding).

Two conv kernels: artem_xnor_conv3x3_mma_f16_nhwc on the 1-bit tensor cores (mma.sync
m16n8k128 .and.popc, compute capability 8.0 and newer; the AND form is the one Hopper runs
natively) and artem_xnor_conv3x3_xor_f16_nhwc on CUDA cores (XOR and popcount) for older GPUs.
The module is built once per device; launches go on torch's current stream, memory is shared
through DLPack. Validation happens here, before launch.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import convert
from .xnor_reference import CO_TILE, WORD_GROUP, BinaryConv3x3, words_for

SOURCE = Path(__file__).with_name("xnor.cu")
MMA_THREADS = 256  # ARTEM_XNOR_WARPS_M * ARTEM_XNOR_WARPS_N * 32
MMA_PIXELS = 128  # ARTEM_XNOR_BM
MAX_SHARED = 48 * 1024  # the weight tile lives in shared memory


def kernel_names() -> list[str]:
    return [f"artem_xnor_pack_{dt}_nhwc" for dt in convert.DTYPES.values()] + [
        f"artem_xnor_conv3x3_{path}_f16_nhwc" for path in ("xor", "mma")
    ]


def available() -> bool:
    return convert.available()


def module_source() -> str:
    """convert.cu then xnor.cu: NVRTC has no file to #include, so the loader joins them."""
    return convert.module_source() + "\n" + SOURCE.read_text()


@functools.cache
def _module(device_index: int) -> Any:
    """The RawModule of module_source() for one device, compiled once and kept."""
    return convert.build_module(module_source(), kernel_names()[0], device_index)


def _kernel(device_index: int, name: str) -> Any:
    return _module(device_index).get_function(name)


def tensor_cores(device: torch.device) -> bool:
    """Whether the 1-bit MMA with AND exists here (compute capability 8.0 and newer)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def _check_limit(t: torch.Tensor | tuple, name: str) -> None:
    numel = t.numel() if isinstance(t, torch.Tensor) else int(np.prod(t))
    if numel >= 2**31:
        raise ValueError(f"{name}: {numel} elements exceed the kernels' 32-bit indexing")


def pack(x: torch.Tensor, coef: torch.Tensor | None = None, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) channels-last f32/f16/bf16 -> (N, H + 2 pad, W + 2 pad, CW) int32 bits."""
    if x.dim() != 4 or (convert.REQUIRE_CUDA and not x.is_cuda) or x.dtype not in convert.DTYPES:
        raise ValueError(
            f"x: expected a 4-D CUDA float32/float16/bfloat16 tensor, got "
            f"{x.dtype} {tuple(x.shape)} on {x.device}"
        )
    if not x.is_contiguous(memory_format=torch.channels_last):
        raise ValueError(f"x: expected channels-last memory, got strides {x.stride()}")
    n, c, h, w = x.shape
    if not 0 <= pad < min(h, w):
        raise ValueError(f"pad {pad}: expected 0 <= pad < {min(h, w)} (reflection)")
    if coef is not None and (
        coef.shape != (n, c, 2)
        or coef.dtype != torch.float32
        or not coef.is_contiguous()
        or coef.device != x.device
    ):
        raise ValueError(f"coef: expected a contiguous ({n}, {c}, 2) float32 tensor on {x.device}")
    cw = words_for(c)
    out = torch.empty((n, h + 2 * pad, w + 2 * pad, cw), dtype=torch.int32, device=x.device)
    _check_limit(x, "x")
    _check_limit(out, "packed")
    i32 = np.int32
    convert._launch(
        _kernel(x.device.index, f"artem_xnor_pack_{convert.DTYPES[x.dtype]}_nhwc"),
        out.numel(),
        (
            x,
            coef if coef is not None else np.uintp(0),
            out,
            i32(n),
            i32(h),
            i32(w),
            i32(c),
            i32(pad),
            i32(cw),
            i32(out.numel()),
        ),
    )
    return out


def _check_conv(packed: torch.Tensor, conv: BinaryConv3x3) -> None:
    if packed.dim() != 4 or packed.dtype != torch.int32 or not packed.is_contiguous():
        raise ValueError(
            f"packed: expected a contiguous (N, H + 2, W + 2, CW) int32 tensor, got "
            f"{packed.dtype} {tuple(packed.shape)}"
        )
    cw = words_for(conv.c_in)
    co_pad = CO_TILE * -(-conv.c_out // CO_TILE)
    if packed.shape[-1] != cw or packed.shape[1] < 3 or packed.shape[2] < 3:
        raise ValueError(
            f"packed: {tuple(packed.shape)} does not hold {conv.c_in} channels "
            f"({cw} words) padded by 1"
        )
    expected = {
        "bits": ((co_pad, 9, cw), torch.int32),
        "popw": ((co_pad,), torch.int32),
        "alpha": ((conv.c_out,), torch.float32),
        "bias": ((conv.c_out,), torch.float32),
    }
    for name, (shape, dtype) in expected.items():
        t = getattr(conv, name)
        if (
            tuple(t.shape) != shape
            or t.dtype != dtype
            or t.device != packed.device
            or not t.is_contiguous()
        ):
            raise ValueError(
                f"conv.{name}: expected a contiguous {shape} {dtype} on {packed.device}"
            )


def conv3x3(
    packed: torch.Tensor,
    conv: BinaryConv3x3,
    residual: torch.Tensor | None = None,
    path: str = "auto",
) -> torch.Tensor:
    """The binary 3x3 conv of pack(x, pad=1): (N, CO, H, W) float16, channels-last.

    out = alpha * dot + bias (+ residual, (N, CO, H, W) float16 channels-last), per output
    channel. `path`: "mma" (tensor cores), "xor" (CUDA cores) or "auto" (mma where it exists).
    """
    if convert.REQUIRE_CUDA and not packed.is_cuda:
        raise ValueError(f"packed: expected a CUDA tensor, got one on {packed.device}")
    _check_conv(packed, conv)
    n, hp, wp, cw = packed.shape
    h, w, co = hp - 2, wp - 2, conv.c_out
    if residual is not None and (
        tuple(residual.shape) != (n, co, h, w)
        or residual.dtype != torch.float16
        or residual.device != packed.device
        or not residual.is_contiguous(memory_format=torch.channels_last)
    ):
        raise ValueError(
            f"residual: expected ({n}, {co}, {h}, {w}) float16 channels-last on {packed.device}, "
            f"got {residual.dtype} {tuple(residual.shape)}"
        )
    if path == "auto":
        path = "mma" if tensor_cores(packed.device) else "xor"
    if path not in ("mma", "xor"):
        raise ValueError(f"path {path!r}: expected 'auto', 'mma' or 'xor'")
    out = torch.empty(
        (n, co, h, w), dtype=torch.float16, device=packed.device, memory_format=torch.channels_last
    )
    _check_limit(out, "out")
    i32 = np.int32
    args = (
        packed,
        conv.bits,
        conv.popw,
        conv.alpha,
        conv.bias,
        residual if residual is not None else np.uintp(0),
        out,
        i32(n),
        i32(h),
        i32(w),
        i32(cw),
        i32(co),
        i32(9 * conv.c_in),
    )
    name = f"artem_xnor_conv3x3_{path}_f16_nhwc"
    if path == "xor":
        convert._launch(_kernel(packed.device.index, name), out.numel(), (*args, i32(out.numel())))
    else:
        _launch_mma(_kernel(packed.device.index, name), n * h * w, co, cw, args)
    return out


def _launch_mma(kernel: Any, pixels: int, co: int, cw: int, args: tuple) -> None:
    """A 2-D grid (pixel tiles, 64-channel tiles) with the weight tile in shared memory."""
    shared = CO_TILE * 9 * cw * 4
    if shared > MAX_SHARED or cw % WORD_GROUP:
        raise ValueError(f"{cw} input words: the weight tile needs {shared} bytes of shared memory")
    cp = convert._cupy()
    stream = torch.cuda.current_stream()
    grid = (-(-pixels // MMA_PIXELS), -(-co // CO_TILE))
    with cp.cuda.Device(stream.device.index), cp.cuda.ExternalStream(stream.cuda_stream):
        args = tuple(convert.as_cupy(a) if isinstance(a, torch.Tensor) else a for a in args)
        kernel(grid, (MMA_THREADS,), args, shared_mem=shared)
