"""The fused conversion kernels' arithmetic, run on the CPU against the torch pipeline.

kernels/convert.cu keeps each thread's work in __host__ __device__ functions; nvcc builds them
into a host library (tests/cuda/convert_host.cu) that loops over the "threads". So index
arithmetic, padding, resizing, blending and colour coding are checked here without a GPU;
tests/test_kernels_gpu.py checks the real launches where CUDA exists.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch
from host_build import build_host_library, needs_nvcc

from artem_server.frames import PixelFormat
from artem_server.pipeline import (
    from_model_output,
    pad_to_multiple,
    padded_size,
    resize,
    to_model_input,
)

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}

pytestmark = needs_nvcc


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> ctypes.CDLL:
    return build_host_library(tmp_path_factory.mktemp("host"), "convert_host.cu")


def host_pack(
    lib,
    src: torch.Tensor,
    fmt: PixelFormat,
    linear: bool,
    dt: str,
    layout: str,
    size: tuple[int, int],
    replicate: bool,
) -> torch.Tensor:
    n, h, w, bpp = src.shape
    hs, ws = size
    mf = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    out = torch.full((n, 3, hs, ws), float("nan"), dtype=DTYPES[dt]).contiguous(memory_format=mf)
    r, g, b = fmt.rgb_order
    getattr(lib, f"host_pack_{dt}_{layout}")(
        ctypes.c_void_p(src.data_ptr()),
        ctypes.c_void_p(out.data_ptr()),
        *map(ctypes.c_int, (n, h, w, bpp, hs, ws, r, g, b, int(linear), int(replicate))),
    )
    return out


def host_unpack(
    lib,
    y: torch.Tensor,
    src: torch.Tensor,
    valid: tuple[int, int],
    fmt: PixelFormat,
    linear: bool,
    strength: float,
) -> torch.Tensor:
    n, h, w, bpp = src.shape
    dt = {v: k for k, v in DTYPES.items()}[y.dtype]
    layout = "nchw" if y.is_contiguous() else "nhwc"
    out = torch.full_like(src, 7)  # poisoned: every byte must be written
    r, g, b = fmt.rgb_order
    alpha = -1 if fmt.alpha_index is None else fmt.alpha_index
    getattr(lib, f"host_unpack_{dt}_{layout}")(
        ctypes.c_void_p(y.data_ptr()),
        ctypes.c_void_p(src.data_ptr()),
        ctypes.c_void_p(out.data_ptr()),
        *map(ctypes.c_int, (n, h, w, bpp, *valid, *y.shape[-2:], r, g, b, alpha, int(linear))),
        ctypes.c_float(strength),
    )
    return out


def frame(photo: np.ndarray, n: int, h: int, w: int, fmt: PixelFormat, seed: int) -> torch.Tensor:
    """(n, h, w, bpp) uint8 crops of a photograph with a random alpha channel."""
    rng = np.random.default_rng(seed)
    views = []
    for _ in range(n):
        y0, x0 = rng.integers(0, photo.shape[0] - h), rng.integers(0, photo.shape[1] - w)
        rgb = photo[y0 : y0 + h, x0 : x0 + w]
        px = np.empty((h, w, fmt.bpp), np.uint8)
        px[..., list(fmt.rgb_order)] = rgb
        if fmt.alpha_index is not None:
            px[..., fmt.alpha_index] = rng.integers(0, 256, (h, w))
        views.append(px)
    return torch.from_numpy(np.stack(views))


@pytest.mark.parametrize("dt", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize(
    "fmt,linear,shape,multiple",
    [
        (PixelFormat.RGBA8, False, (2, 37, 53), 4),
        (PixelFormat.BGRA8, True, (1, 21, 30), 4),
        (PixelFormat.RGB8, False, (2, 9, 14), 4),  # smaller than the minimum: replicate
        (PixelFormat.RGBA8, True, (1, 16, 24), 8),  # already a multiple: no pad
    ],
)
def test_pack_matches_torch_path(lib, photo, dt, layout, fmt, linear, shape, multiple):
    n, h, w = shape
    src = frame(photo, n, h, w, fmt, seed=h * w)
    hs, ws, replicate = padded_size(h, w, multiple, 16)
    ours = host_pack(lib, src, fmt, linear, dt, layout, (hs, ws), replicate)
    ref = pad_to_multiple(to_model_input(src, fmt, linear), multiple, 16).to(DTYPES[dt])
    assert ours.shape == ref.shape and not torch.isnan(ours.float()).any(), "every element written"
    assert (
        ours.is_contiguous(memory_format=torch.channels_last)
        if layout == "nhwc"
        else ours.is_contiguous()
    )
    if linear:  # powf here vs torch's pow: a last-bit difference before the final rounding
        torch.testing.assert_close(
            ours.float(), ref.float(), rtol=2e-6 if dt == "f32" else 1e-2, atol=0
        )
    else:
        assert torch.equal(ours, ref)


@pytest.mark.parametrize("dt", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize(
    "fmt,linear,strength,shape,valid,padded",
    [
        (PixelFormat.RGBA8, False, 1.0, (2, 37, 53), (37, 53), (40, 56)),
        (PixelFormat.BGRA8, True, 0.3, (1, 21, 30), (21, 30), (24, 32)),
        (PixelFormat.RGB8, False, 0.8, (2, 40, 60), (20, 30), (20, 32)),  # render scale 1/2
        (PixelFormat.RGBA8, True, 1.0, (1, 33, 47), (11, 15), (16, 16)),  # render scale ~1/3
    ],
)
def test_unpack_matches_torch_path(
    lib, photo, dt, layout, fmt, linear, strength, shape, valid, padded
):
    n, h, w = shape
    src = frame(photo, n, h, w, fmt, seed=7 * h + w)
    torch.manual_seed(h)
    y = (torch.rand(n, 3, *padded) * 300 - 25).to(DTYPES[dt])  # beyond 0..255: clamping matters
    y = y.contiguous(
        memory_format=torch.channels_last if layout == "nhwc" else torch.contiguous_format
    )
    ours = host_unpack(lib, y, src, valid, fmt, linear, strength)
    ref_y = resize(y[..., : valid[0], : valid[1]].float(), (h, w))
    if strength < 1.0:
        ref_y = torch.lerp(to_model_input(src, fmt, linear), ref_y, strength)
    ref = from_model_output(ref_y, fmt, linear, src)
    diff = (ours.int() - ref.int()).abs()
    # Float association in the resize and powf vs torch's pow can move a value across a
    # rounding boundary: one level, rarely.
    assert diff.max() <= 1 and (diff > 0).float().mean() < 2e-3, (diff.max(), (diff > 0).sum())
    if fmt.alpha_index is not None:
        assert torch.equal(ours[..., fmt.alpha_index], src[..., fmt.alpha_index]), "alpha untouched"


def test_half_conversion_matches_torch(lib):
    """The host twin of cvt.rn.f16.f32 rounds like torch, normals, subnormals and overflow."""
    lib.host_float_to_half_bits.restype = ctypes.c_ushort
    lib.host_half_bits_to_float.restype = ctypes.c_float
    values = torch.cat(
        [
            torch.randn(2000) * 300,
            torch.randn(500) * 1e-5,
            torch.tensor(
                [0.0, -0.0, 65504.0, 65519.0, 65520.0, 1e9, -1e9, 6.1e-5, 5.9e-8, 2.98e-8, 1 / 3]
            ),
        ]
    )
    ours = torch.tensor(
        [lib.host_float_to_half_bits(ctypes.c_float(v)) for v in values.tolist()], dtype=torch.int32
    ).to(torch.int16)
    assert torch.equal(ours.view(torch.float16), values.half())
    back = torch.tensor(
        [lib.host_half_bits_to_float(ctypes.c_ushort(int(b) & 0xFFFF)) for b in ours]
    )
    assert torch.equal(back, values.half().float())
