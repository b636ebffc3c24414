"""Every backend on CUDA against eager fp32, CUDA-graph replay after a style switch, and
compilation at prepare time (not on the first frame). Skipped without CUDA; bench/gpu_check.sh
runs them on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_generator
from test_backends import photo_batch, psnr

from artem_server.backends import BackendUnavailable, create_runner
from artem_server.backends.base import Runner
from artem_server.models.generator import GeneratorConfig

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

CUDA = torch.device("cuda")
FULL = GeneratorConfig()  # the real generator's size: 32 channels, 5 residual blocks


def run(runner: Runner, x: torch.Tensor) -> torch.Tensor:
    x = x.to(CUDA, runner.dtype).contiguous(
        memory_format=torch.channels_last if runner.channels_last else torch.contiguous_format
    )
    with torch.inference_mode():
        y = runner(x).float().clone()  # a graph's output buffer is reused by its next replay
    torch.cuda.synchronize()
    return y


@pytest.fixture(scope="module")
def net():
    return random_generator(21, FULL)


@pytest.fixture(scope="module")
def photos(photo):
    return photo_batch(
        photo, 256, 352
    )  # (2, 3, 256, 352): two crops of a real photograph (512x512)


@pytest.fixture(scope="module")
def reference(net, photos):
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        return run(create_runner("torch-eager", net, CUDA, "fp32"), photos)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


@pytest.mark.parametrize(
    "backend,precision,options,min_psnr",
    [
        ("torch-eager", "fp16", {}, 40.0),
        ("torch-eager", "bf16", {}, 30.0),
        ("torch-optimized", "fp32", {"mode": "graph"}, 50.0),
        ("torch-optimized", "fp16", {"mode": "graph"}, 40.0),
        ("torch-optimized", "bf16", {"mode": "graph"}, 30.0),
        ("torch-optimized", "fp16", {"mode": "compile", "compile_mode": "default"}, 40.0),
        ("torch-optimized", "fp16", {"mode": "fused"}, 40.0),
        ("torch-optimized", "bf16", {"mode": "fused"}, 30.0),
        ("torch-optimized", "fp32", {"mode": "fused"}, 50.0),
        ("onnxruntime", "fp32", {}, 50.0),
        ("onnxruntime", "fp16", {}, 40.0),
    ],
)
def test_backend_agrees_with_eager_fp32(
    net, photos, reference, backend, precision, options, min_psnr
):
    try:
        runner = create_runner(backend, net, CUDA, precision, **options)
    except BackendUnavailable as e:
        pytest.skip(str(e))
    y = run(runner, photos)
    assert y.shape == reference.shape and torch.isfinite(y).all()
    assert psnr(y, reference) >= min_psnr, psnr(y, reference)


@pytest.mark.parametrize("mode", ["graph", "fused"])
def test_graph_replay_after_a_style_switch(photos, mode):
    """Two styles, each with its captured graph: A, B, A again gives A's answer each time."""
    a, b = random_generator(31), random_generator(32)
    ra = create_runner("torch-optimized", a, CUDA, "fp16", mode=mode)
    rb = create_runner("torch-optimized", b, CUDA, "fp16", mode=mode)
    ea = run(create_runner("torch-eager", a, CUDA, "fp16"), photos)
    eb = run(create_runner("torch-eager", b, CUDA, "fp16"), photos)
    first = run(ra, photos)
    assert psnr(first, ea) > 40
    assert psnr(run(rb, photos), eb) > 40
    again = run(ra, photos)
    assert torch.equal(again, first), "replaying A after B must give A's output exactly"
    assert psnr(again, eb) < 30, "the styles differ, so A's output is not B's"
    # A new shape gets its own graph; the old one still replays.
    run(ra, photos[:1])
    assert torch.equal(run(ra, photos), first)
    assert sorted(ra.graph_shapes()) == sorted([tuple(photos.shape), tuple(photos[:1].shape)])


def test_prepare_captures_before_the_first_frame(net):
    runner = create_runner("torch-optimized", net, CUDA, "fp16", mode="graph")
    runner.prepare([(2, 64, 96)])
    assert runner.graph_shapes() == [(2, 3, 64, 96)]


def test_onnxruntime_binds_torch_memory(net, photos):
    try:
        runner = create_runner("onnxruntime", net, CUDA, "fp16")
    except BackendUnavailable as e:
        pytest.skip(str(e))
    x = photos.to(CUDA, torch.float16)
    with torch.inference_mode():
        y = runner(x)
    assert y.is_cuda and y.data_ptr() != x.data_ptr() and y.shape == x.shape
    assert np.isfinite(y.float().cpu().numpy()).all()
