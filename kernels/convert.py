"""Launch the fused frame conversions of convert.cu on torch CUDA tensors, through CuPy.

Memory is torch's: CuPy wraps it through DLPack (no copy, same data pointer) and launches on
torch's current stream, so torch and the kernels stay ordered without synchronizing. Modules
are built once per device (memoized) from the static convert.cu; kernel names spell out the
specialization: artem_<op>_<dtype>_<layout>, dtype f32/f16/bf16, layout nchw/nhwc.

Everything is validated here, before launch; the kernels trust their arguments.
CuPy is optional: `available()` says whether these kernels can run; callers fall back to
torch ops when it is False.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

SOURCE = Path(__file__).with_name("convert.cu")
DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
LAYOUTS = ("nchw", "nhwc")
THREADS = 256
_INT32_LIMIT = 2**31
# Tensors must be on CUDA; tests that stand the host-compiled kernel bodies in for the launch
# (tests/test_kernels_emulated.py) turn this off to run this module's code on CPU tensors.
REQUIRE_CUDA = True


def kernel_names() -> list[str]:
    """Every kernel convert.cu defines."""
    return [
        f"artem_{op}_{dt}_{ly}"
        for op in ("pack", "unpack")
        for dt in DTYPES.values()
        for ly in LAYOUTS
    ]


@functools.lru_cache(maxsize=1)
def _cupy() -> Any | None:
    try:
        import cupy
    except Exception:  # not installed, or installed for another CUDA: the torch path takes over
        return None
    return cupy


def available() -> bool:
    """CuPy imports and sees a CUDA device."""
    cp = _cupy()
    if cp is None or not torch.cuda.is_available():
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def module_source() -> str:
    """The code the RawModule compiles (tests compile the same text with NVRTC directly)."""
    return SOURCE.read_text()


def build_module(source: str, first_kernel: str, device_index: int) -> Any:
    """A RawModule of `source` for one device, compiled (NVRTC) now, at load, not on the first
    frame. The loaders keep theirs (one per device)."""
    cp = _cupy()
    with cp.cuda.Device(device_index):
        module = cp.RawModule(code=source)
        module.get_function(first_kernel)
    return module


@functools.cache
def _module(device_index: int) -> Any:
    """convert.cu's RawModule for one device, compiled once and kept."""
    return build_module(module_source(), kernel_names()[0], device_index)


def _kernel(device_index: int, op: str, dtype: torch.dtype, layout: str) -> Any:
    return _module(device_index).get_function(f"artem_{op}_{DTYPES[dtype]}_{layout}")


def layout_of(t: torch.Tensor) -> str:
    """'nchw' or 'nhwc' for a dense (N, 3, H, W) tensor; raises for anything else."""
    if t.dim() != 4 or t.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) tensor, got shape {tuple(t.shape)}")
    if t.is_contiguous():
        return "nchw"
    if t.is_contiguous(memory_format=torch.channels_last):
        return "nhwc"
    raise ValueError(
        f"tensor of shape {tuple(t.shape)} and strides {t.stride()} is neither "
        "contiguous nor channels-last"
    )


def _check_pixels(t: torch.Tensor, name: str) -> None:
    if t.dtype != torch.uint8 or t.dim() != 4 or t.shape[-1] not in (3, 4) or not t.is_contiguous():
        raise ValueError(
            f"{name}: expected a contiguous (N, H, W, 3|4) uint8 tensor, got "
            f"{t.dtype} {tuple(t.shape)}"
        )
    if REQUIRE_CUDA and not t.is_cuda:
        raise ValueError(f"{name}: expected a CUDA tensor, got one on {t.device}")
    if t.numel() >= _INT32_LIMIT:
        raise ValueError(f"{name}: {t.numel()} bytes exceed the kernels' 32-bit indexing")


def _launch(kernel: Any, total: int, args: tuple) -> None:
    """Launch on torch's current stream; tensors in `args` become CuPy views inside the stream
    context, so DLPack's producer/consumer stream handshake is a no-op (same stream)."""
    cp = _cupy()
    stream = torch.cuda.current_stream()
    with cp.cuda.Device(stream.device.index), cp.cuda.ExternalStream(stream.cuda_stream):
        args = tuple(as_cupy(a) if isinstance(a, torch.Tensor) else a for a in args)
        kernel(((total + THREADS - 1) // THREADS,), (THREADS,), args)


def as_cupy(t: torch.Tensor) -> Any:
    """A CuPy view of `t` through DLPack: the same memory (same data pointer), no copy.
    CuPy has no bfloat16, so bf16 tensors travel as int16 of the same bits."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return _cupy().from_dlpack(t)


def pack(
    src: torch.Tensor,
    rgb: tuple[int, int, int],
    linear: bool,
    dtype: torch.dtype,
    channels_last: bool,
    size: tuple[int, int] | None = None,
    replicate: bool = False,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, H, W, bpp) uint8 -> (N, 3, Hs, Ws) `dtype` RGB 0..255 sRGB, planar or channels-last.

    `size` = (Hs, Ws) >= (H, W) pads the bottom/right by reflection (or by repeating the
    border when `replicate`), as pipeline.pad_to_multiple does.
    """
    _check_pixels(src, "src")
    n, h, w, bpp = src.shape
    hs, ws = size or (h, w)
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype}: expected one of {', '.join(map(str, DTYPES))}")
    if hs < h or ws < w:
        raise ValueError(f"size {(hs, ws)} is smaller than the image {(h, w)}")
    if not replicate and (hs - h >= h or ws - w >= w):
        raise ValueError(
            f"padding {(h, w)} to {(hs, ws)} by reflection needs pads smaller than "
            "the image: use replicate"
        )
    if not all(0 <= i < bpp for i in rgb):
        raise ValueError(f"channel indices {rgb} outside a {bpp}-byte pixel")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if out is None:
        out = torch.empty(
            (n, 3, hs, ws), dtype=dtype, device=src.device, memory_format=memory_format
        )
    elif (
        out.shape != (n, 3, hs, ws)
        or out.dtype != dtype
        or out.device != src.device
        or layout_of(out) != ("nhwc" if channels_last else "nchw")
    ):
        raise ValueError(
            f"out: expected {(n, 3, hs, ws)} {dtype} "
            f"{'channels-last' if channels_last else 'contiguous'} on {src.device}"
        )
    if out.numel() >= _INT32_LIMIT:
        raise ValueError(f"out: {out.numel()} elements exceed the kernels' 32-bit indexing")
    import numpy as np

    kernel = _kernel(src.device.index, "pack", dtype, "nhwc" if channels_last else "nchw")
    i32 = np.int32
    _launch(
        kernel,
        n * hs * ws,
        (
            src,
            out,
            i32(n),
            i32(h),
            i32(w),
            i32(bpp),
            i32(hs),
            i32(ws),
            i32(rgb[0]),
            i32(rgb[1]),
            i32(rgb[2]),
            i32(int(linear)),
            i32(int(replicate)),
        ),
    )
    return out


def unpack(
    model_out: torch.Tensor,
    src: torch.Tensor,
    valid: tuple[int, int],
    rgb: tuple[int, int, int],
    alpha: int | None,
    linear: bool,
    strength: float = 1.0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Model output (N, 3, Hs, Ws) -> (N, H, W, bpp) uint8 in src's format.

    Reads the top-left `valid` = (Hm, Wm) region, resizes it bilinearly to (H, W) when the
    sizes differ, blends with src's pixels (`strength`), clamps, encodes linear when `linear`,
    rounds half to even, and copies alpha from `src`.
    """
    _check_pixels(src, "src")
    n, h, w, bpp = src.shape
    layout = layout_of(model_out)
    if model_out.dtype not in DTYPES or model_out.device != src.device or model_out.shape[0] != n:
        raise ValueError(
            f"model_out: expected ({n}, 3, H, W) float32/float16/bfloat16 on {src.device}, "
            f"got {model_out.dtype} {tuple(model_out.shape)} on {model_out.device}"
        )
    hs, ws = model_out.shape[-2:]
    hm, wm = valid
    if not (0 < hm <= hs and 0 < wm <= ws):
        raise ValueError(f"valid region {valid} outside the model output's {(hs, ws)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength {strength}: expected a number in [0, 1]")
    if alpha is not None and not 0 <= alpha < bpp:
        raise ValueError(f"alpha index {alpha} outside a {bpp}-byte pixel")
    if model_out.numel() >= _INT32_LIMIT:
        raise ValueError(f"model_out: {model_out.numel()} elements exceed 32-bit indexing")
    if out is None:
        out = torch.empty_like(src)
    elif out.shape != src.shape or out.dtype != torch.uint8 or not out.is_contiguous():
        raise ValueError(f"out: expected a contiguous uint8 tensor of shape {tuple(src.shape)}")
    if out.data_ptr() == src.data_ptr():
        raise ValueError(
            "out must not alias src: the blend and alpha read src while out is written"
        )
    import numpy as np

    kernel = _kernel(src.device.index, "unpack", model_out.dtype, layout)
    i32 = np.int32
    _launch(
        kernel,
        n * h * w,
        (
            model_out,
            src,
            out,
            i32(n),
            i32(h),
            i32(w),
            i32(bpp),
            i32(hm),
            i32(wm),
            i32(hs),
            i32(ws),
            i32(rgb[0]),
            i32(rgb[1]),
            i32(rgb[2]),
            i32(-1 if alpha is None else alpha),
            i32(int(linear)),
            np.float32(strength),
        ),
    )
    return out
