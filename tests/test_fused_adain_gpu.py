"""The fused adain path on a real GPU: adain.cu's kernels against their torch twins on the
device, the optimized backend's default (fused) mode for adain styles against eager fp32, and
graph capture at prepare time. Skipped without CUDA and CuPy; bench/gpu_check.sh runs them on a
GPU machine."""

from __future__ import annotations

import pytest
import torch
from test_backends import photo_batch, psnr
from test_backends_gpu import run

from artem_server.backends import create_runner, torch_optimized
from artem_server.backends.fused_adain import reference_adain, reference_epilogue

adain = pytest.importorskip("artem_kernels.adain")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not adain.available(), reason="needs CUDA and CuPy"),
]

CUDA = torch.device("cuda")


def features(n, c, h, w, dtype):
    y = torch.randn(n, c, h, w) * torch.rand(1, c, 1, 1) * 20 + torch.randn(1, c, 1, 1) * 30
    return y.to(CUDA, dtype).contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "c,h,w,relu,pool,upsample,pad",
    [
        (64, 123, 97, True, True, 1, 1),  # conv1_2 -> pool -> conv2_1's pad, odd sizes
        (256, 30, 34, True, False, 2, 1),  # decoder: upsample then pad
        (512, 29, 30, True, False, 1, 0),  # relu4_1
    ],
)
def test_epilogue_matches_reference(dtype, c, h, w, relu, pool, upsample, pad):
    torch.manual_seed(c + h)
    y, bias = features(2, c, h, w, dtype), (torch.randn(c) * 10).to(CUDA)
    kwargs = dict(relu=relu, pool=pool, upsample=upsample, pad=pad)
    ours, ref = adain.epilogue(y, bias, **kwargs), reference_epilogue(y, bias, **kwargs)
    tol = {torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 1e-1}[dtype]
    torch.testing.assert_close(ours.float(), ref.float(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_adain_matches_reference(dtype, alpha):
    torch.manual_seed(3)
    f = features(
        2, 512, 229, 240, dtype
    ).abs()  # relu4_1 of a Quest 2 stereo frame: block reduction too
    mean, std = (torch.rand(512) * 5).to(CUDA), (torch.rand(512) * 3 + 0.1).to(CUDA)
    ours, ref = adain.adain(f, mean, std, alpha, pad=1), reference_adain(f, mean, std, alpha, pad=1)
    tol = {torch.float32: 1e-3, torch.float16: 3e-2, torch.bfloat16: 2e-1}[dtype]
    torch.testing.assert_close(ours.float(), ref.float(), rtol=tol, atol=tol)


@pytest.mark.parametrize("precision,min_psnr", [("fp16", 35.0), ("bf16", 28.0), ("fp32", 45.0)])
def test_default_mode_agrees_with_eager_fp32(photo, builtin_adain, precision, min_psnr):
    stylizer = builtin_adain()
    photos = photo_batch(photo, 256, 352).to(CUDA)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        reference = run(create_runner("torch-eager", stylizer, CUDA, "fp32"), photos)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    runner = create_runner("torch-optimized", stylizer, CUDA, precision)
    assert runner.mode == "fused" == torch_optimized.default_mode(stylizer, cuda=True)
    y = run(runner, photos)
    assert y.shape == reference.shape and torch.isfinite(y).all()
    assert psnr(y, reference) >= min_psnr, psnr(y, reference)


def test_prepare_captures_before_the_first_frame(builtin_adain):
    runner = create_runner("torch-optimized", builtin_adain(), CUDA, "fp16")
    runner.prepare([(2, 64, 96)])
    assert runner.graph_shapes() == [(2, 3, 64, 96)]
