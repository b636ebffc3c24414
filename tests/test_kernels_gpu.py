"""The fused conversions on a real GPU: against the CPU path, DLPack sharing without copies,
ordering on torch's current stream, and the whole CUDA pipeline against the CPU pipeline.
Skipped without CUDA and CuPy; bench/gpu_check.sh runs them on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_kernels_host import frame

from artem_server.frames import PixelFormat, View
from artem_server.pipeline import (
    Pipeline,
    from_model_output,
    pad_to_multiple,
    padded_size,
    resize,
    to_model_input,
)

convert = pytest.importorskip("artem_kernels.convert")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not convert.available(), reason="needs CUDA and CuPy"),
]

CUDA = torch.device("cuda")
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("channels_last", [False, True])
def test_dlpack_shares_memory_without_copying(dtype, channels_last):
    t = torch.empty((2, 3, 40, 56), dtype=dtype, device=CUDA)
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last)
    view = convert.as_cupy(t)
    assert view.data.ptr == t.data_ptr()
    assert tuple(view.strides) == tuple(s * t.element_size() for s in t.stride())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "fmt,linear,shape",
    [
        (PixelFormat.RGBA8, False, (2, 181, 243)),
        (PixelFormat.BGRA8, True, (2, 97, 130)),
        (PixelFormat.RGB8, True, (1, 9, 13)),  # replicate padding
    ],
)
def test_pack_matches_cpu_path(photo, dtype, channels_last, fmt, linear, shape):
    n, h, w = shape
    src = frame(photo, n, h, w, fmt, seed=h)
    hs, ws, replicate = padded_size(h, w, 4, 16)
    ours = convert.pack(
        src.to(CUDA), fmt.rgb_order, linear, dtype, channels_last, (hs, ws), replicate
    )
    torch.cuda.synchronize()
    ref = pad_to_multiple(to_model_input(src, fmt, linear), 4, 16).to(dtype)
    assert ours.is_contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )
    torch.testing.assert_close(
        ours.cpu().float(), ref.float(), rtol=2e-6 if dtype == torch.float32 else 1e-2, atol=0
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "fmt,linear,strength,shape,valid,padded",
    [
        (PixelFormat.RGBA8, False, 1.0, (2, 181, 243), (181, 243), (184, 244)),
        (PixelFormat.BGRA8, True, 0.4, (2, 120, 160), (60, 80), (64, 80)),
        (PixelFormat.RGB8, False, 0.7, (1, 50, 70), (17, 23), (20, 24)),
    ],
)
def test_unpack_matches_cpu_path(
    photo, dtype, channels_last, fmt, linear, strength, shape, valid, padded
):
    n, h, w = shape
    src = frame(photo, n, h, w, fmt, seed=w)
    torch.manual_seed(w)
    y = (torch.rand(n, 3, *padded) * 300 - 25).to(dtype)
    y = y.contiguous(
        memory_format=torch.channels_last if channels_last else torch.contiguous_format
    )
    ours = convert.unpack(
        y.to(CUDA), src.to(CUDA), valid, fmt.rgb_order, fmt.alpha_index, linear, strength
    ).cpu()
    ref_y = resize(y[..., : valid[0], : valid[1]].float(), (h, w))
    if strength < 1.0:
        ref_y = torch.lerp(to_model_input(src, fmt, linear), ref_y, strength)
    ref = from_model_output(ref_y, fmt, linear, src)
    diff = (ours.int() - ref.int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 2e-3


def test_kernels_run_on_torchs_current_stream(photo):
    """On a side stream, a kernel's output feeds a torch op on that stream with no sync: if the
    kernel ran elsewhere, the torch op would read unwritten memory."""
    src = frame(photo, 2, 300, 400, PixelFormat.RGBA8, seed=1).to(CUDA)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(5):
            x = convert.pack(src, (0, 1, 2), False, torch.float16, True)
            total = x.float().sum()
    torch.cuda.synchronize()
    assert total.item() == pytest.approx(src[..., :3].double().sum().item(), rel=1e-5)


def test_validation_refuses_before_launch():
    src = torch.zeros((1, 8, 8, 4), dtype=torch.uint8, device=CUDA)
    with pytest.raises(ValueError, match="smaller than the image"):
        convert.pack(src, (0, 1, 2), False, torch.float16, False, (4, 8))
    with pytest.raises(ValueError, match="reflection needs pads smaller"):
        convert.pack(src, (0, 1, 2), False, torch.float16, False, (16, 16))
    with pytest.raises(ValueError, match="must not alias"):
        convert.unpack(
            torch.zeros((1, 3, 8, 8), device=CUDA), src, (8, 8), (0, 1, 2), 3, False, out=src
        )


@pytest.mark.parametrize(
    "fmt,linear,strength,scale",
    [
        (PixelFormat.RGBA8, False, 1.0, 1.0),
        (PixelFormat.BGRA8, True, 0.5, 1.0),
        (PixelFormat.RGBA8, False, 1.0, 0.5),
    ],
)
def test_cuda_pipeline_matches_cpu_pipeline(photo, fmt, linear, strength, scale):
    from conftest import random_generator

    from artem_server.backends import create_runner

    net = random_generator(9)
    views = []
    for dx in (0, 7):
        px = np.empty((200, 264, fmt.bpp), np.uint8)
        px[..., list(fmt.rgb_order)] = photo[:200, dx : dx + 264]
        px[..., fmt.alpha_index] = 77
        views.append(View(px, fmt, linear))
    cpu = Pipeline().run(net, views, strength, render_scale=scale)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # fp32 convolutions as on the CPU
    try:
        runner = create_runner("torch-eager", net, CUDA, "fp32")
        fused = Pipeline(CUDA, fused=True).run(runner, views, strength, render_scale=scale)
        unfused = Pipeline(CUDA, fused=False).run(runner, views, strength, render_scale=scale)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    for a, b, c in zip(fused, unfused, cpu):
        assert np.abs(a.astype(int) - b).max() <= 1
        assert np.abs(a.astype(int) - c).max() <= 2
        assert np.array_equal(a[..., 3], c[..., 3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "c,h,w,relu,res_pad,upsample,pad,blocked",
    [
        (32, 181, 243, True, None, 1, 1, ""),
        (128, 46, 61, False, 1, 2, 1, ""),
        (64, 90, 122, True, None, 2, 1, ""),
        (32, 360, 484, True, None, 1, 4, ""),
        (32, 360, 484, True, None, 1, 1, "in"),  # in1 after the blocked 9x9 conv
        (32, 180, 242, True, None, 1, 4, "out"),  # in5 before it
    ],
)
def test_fused_instance_norm_matches_reference(
    dtype, c, h, w, relu, res_pad, upsample, pad, blocked
):
    from artem_kernels import instnorm

    from artem_server.backends.fused_generator import block, reference_norm, unblock

    torch.manual_seed(c + h)
    y = torch.randn(2, c, h, w) * torch.rand(1, c, 1, 1) * 20 + torch.randn(1, c, 1, 1) * 30
    y = y.to(dtype).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.rand(c) + 0.5, torch.randn(c)
    residual = None
    if res_pad is not None:
        residual = (torch.randn(2, c, h + 2 * res_pad, w + 2 * res_pad) * 5).to(dtype)
        residual = residual.contiguous(memory_format=torch.channels_last)
    kwargs = dict(relu=relu, residual_pad=res_pad or 0, upsample=upsample, pad=pad)
    src = block(y) if "in" in blocked else y
    ours = instnorm.instance_norm(
        src.to(CUDA),
        weight.to(CUDA),
        bias.to(CUDA),
        1e-5,
        residual=residual.to(CUDA) if residual is not None else None,
        blocked_in="in" in blocked,
        blocked_out="out" in blocked,
        **kwargs,
    )
    ours = unblock(ours) if "out" in blocked else ours
    ref = reference_norm(y, weight, bias, 1e-5, residual=residual, **kwargs)
    assert ours.is_contiguous(memory_format=torch.channels_last)
    tol = {
        torch.float32: (1e-4, 1e-4),
        torch.float16: (2e-3, 2e-2),
        torch.bfloat16: (1.6e-2, 1e-1),
    }[dtype]
    torch.testing.assert_close(ours.cpu().float(), ref.float(), rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize(
    "c,h,w",
    [
        (32, 360, 484),  # blocks within one image: summed over the block first
        (64, 300, 301),  # blocks across two images: each thread adds its own
        (256, 40, 50),  # 32 channel groups: a whole warp per pixel
        (24, 200, 130),  # 3 groups do not tile a warp: each thread adds its own
        (8, 1, 1),  # one pixel
    ],
)
def test_stats_match_double_sums(c, h, w):
    from artem_kernels import instnorm

    torch.manual_seed(c + h)
    y = (torch.randn(2, c, h, w) * 20 + torch.randn(1, c, 1, 1) * 30).half()
    y = y.contiguous(memory_format=torch.channels_last)
    acc = instnorm.stats(y.to(CUDA)).cpu()
    d = y.double() - y.double()[..., :1, :1]
    torch.testing.assert_close(acc[..., 0], d.sum((2, 3)), rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(acc[..., 1], (d**2).sum((2, 3)), rtol=1e-5, atol=1e-2)


def test_registered_host_memory_is_copied_directly(photo):
    """Views and outputs in registered (pinned) memory, as a shared-memory region would be:
    the pipeline DMAs from and to them and gets the same pixels as through its staging."""
    from conftest import random_generator

    from artem_server import pinned
    from artem_server.backends import create_runner

    region = np.zeros((4, 120, 160, 4), np.uint8)  # two request views, two reply views
    for i in range(2):
        region[i, ..., :3] = photo[:120, 10 * i : 10 * i + 160]
        region[i, ..., 3] = 200
    assert pinned.register(region) and pinned.is_pinned(region[0])
    try:
        views = [View(region[i], PixelFormat.RGBA8, False) for i in range(2)]
        runner = create_runner("torch-eager", random_generator(4), CUDA, "fp32")
        dests = [region[2], region[3]]
        direct = Pipeline(CUDA, fused=True).run(runner, views, outputs=dests)
        staged = Pipeline(CUDA, fused=True).run(
            runner, [View(region[i].copy(), PixelFormat.RGBA8, False) for i in range(2)]
        )
        assert direct[0] is dests[0] and direct[1] is dests[1]
        for a, b in zip(direct, staged):
            assert np.array_equal(a, b)
    finally:
        pinned.unregister(region)


def test_pageable_outputs_get_the_same_pixels(photo):
    """Outputs in ordinary host memory (an inline reply's own bytes) are filled through pinned
    staging: the same pixels as the pipeline returns on its own."""
    from artem_protocol import fresh_bytes
    from conftest import random_generator

    from artem_server.backends import create_runner

    views = [
        View(np.ascontiguousarray(photo[:120, 10 * i : 10 * i + 160]), PixelFormat.RGB8, False)
        for i in range(2)
    ]
    runner = create_runner("torch-eager", random_generator(4), CUDA, "fp32")
    _, buf = fresh_bytes.new(2 * 120 * 160 * 3)
    dests = [buf[i * 57600 : (i + 1) * 57600].reshape(120, 160, 3) for i in range(2)]
    direct = Pipeline(CUDA).run(runner, views, outputs=dests)
    staged = Pipeline(CUDA).run(runner, views)
    assert direct[0] is dests[0] and direct[1] is dests[1]
    for a, b in zip(direct, staged):
        assert np.array_equal(a, b)
