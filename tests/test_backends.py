"""Backends on the CPU: each against eager fp32, the ONNX export's dynamic sizes, the runner
cache, the choice validation, and the server running sessions on a chosen backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import RunningServer, random_generator

from artem_server.backends import (
    RunnerCache,
    available_backends,
    create_runner,
    default_choice,
    validate_choice,
)
from artem_server.backends.base import Runner
from artem_server.frames import FrameLimits
from artem_server.runs import RunOptions
from artem_server.server import ServerConfig

CPU = torch.device("cpu")


def photo_batch(photo: np.ndarray, h: int = 64, w: int = 96) -> torch.Tensor:
    """(2, 3, h, w) float32 0..255: two crops of a real photograph."""
    if 100 + h > photo.shape[0] or 150 + w > photo.shape[1]:
        raise ValueError(
            f"{h}x{w} crops at (100, 150) do not fit a {photo.shape[0]}x{photo.shape[1]} photograph"
        )
    crops = [photo[:h, :w], photo[100 : 100 + h, 150 : 150 + w]]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().contiguous()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float().clamp(0, 255) - b.float().clamp(0, 255)) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def run(runner: Runner, x: torch.Tensor) -> torch.Tensor:
    x = x.to(runner.dtype).contiguous(
        memory_format=torch.channels_last if runner.channels_last else torch.contiguous_format
    )
    with torch.inference_mode():
        return runner(x).float()


@pytest.mark.parametrize(
    "backend,precision,min_psnr,mode",
    [
        ("torch-eager", "bf16", 30.0, None),
        ("torch-optimized", "fp32", 60.0, None),
        ("torch-optimized", "bf16", 30.0, None),
        ("torch-optimized", "fp32", 60.0, "fused"),  # the fused norms' torch twin on CPU
        ("torch-optimized", "bf16", 30.0, "fused"),
        ("onnxruntime", "fp32", 60.0, None),
    ],
)
def test_backend_agrees_with_eager_fp32(photo, backend, precision, min_psnr, mode):
    net = random_generator(8)
    x = photo_batch(photo)
    with torch.inference_mode():
        ref = net(x)
    runner = create_runner(backend, net, CPU, precision, **({"mode": mode} if mode else {}))
    y = run(runner, x)
    assert y.shape == ref.shape
    assert psnr(y, ref) >= min_psnr, psnr(y, ref)
    if precision == "fp32":
        torch.testing.assert_close(y, ref, atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("out_c,in_c,k", [(32, 3, 9), (3, 32, 9), (5, 8, 3)])
def test_blocked_conv_is_the_same_conv(out_c, in_c, k):
    """The fused mode runs the generator's 9x9 ends on 2x2 pixel blocks (fused_generator.py):
    exactly the conv it replaces, bias included."""
    from artem_server.backends.fused_generator import block, blocked_weight, unblock

    torch.manual_seed(k + in_c)
    x = torch.randn(2, in_c, 20 + k - 1, 28 + k - 1, dtype=torch.float64)
    w, b = (
        torch.randn(out_c, in_c, k, k, dtype=torch.float64),
        torch.randn(out_c, dtype=torch.float64),
    )
    y = unblock(torch.nn.functional.conv2d(block(x), blocked_weight(w), b.repeat(4)))
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, w, b), rtol=0, atol=1e-11)
    assert torch.equal(unblock(block(x)), x)


def test_fused_mode_is_for_generator_and_adain_styles_only():
    from artem_server.backends import BackendUnavailable
    from artem_server.kinds.identity import Identity

    # the message lists every kind with a fused form (xnor's came later)
    with pytest.raises(BackendUnavailable, match=r"runs generator, adain\b.* styles"):
        create_runner("torch-optimized", Identity(), CPU, "fp32", mode="fused")


@pytest.mark.parametrize("kernels", [True, False])
def test_default_mode_is_fused_for_generators_on_cuda_when_the_kernels_build(monkeypatch, kernels):
    """fused runs a generator as fast as compile and is ready in a second, not a minute; models
    with no fused form get compile (adain's: tests/test_fused_adain.py); the CPU gets eager."""
    from artem_server.backends import torch_optimized
    from artem_server.kinds.identity import Identity

    monkeypatch.setattr(torch_optimized, "_fused_kernels_available", lambda: kernels)
    assert torch_optimized.default_mode(random_generator(1), cuda=True) == (
        "fused" if kernels else "compile"
    )
    assert torch_optimized.default_mode(Identity(), cuda=True) == "compile"
    assert torch_optimized.default_mode(random_generator(1), cuda=False) == "eager"


def test_eager_fp32_on_cpu_is_the_module_itself():
    net = random_generator(1)
    assert create_runner("torch-eager", net, CPU, "fp32").model is net


def test_onnx_export_has_dynamic_batch_height_and_width(photo):
    net = random_generator(2)
    runner = create_runner("onnxruntime", net, CPU, "fp32")
    dims = runner.session.get_inputs()[0].shape
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3])), dims
    for n, h, w in [(1, 32, 48), (2, 72, 40)]:  # neither is the traced example's size
        x = photo_batch(photo, h, w)[:n]
        with torch.inference_mode():
            torch.testing.assert_close(run(runner, x), net(x), atol=2e-3, rtol=1e-4)


def test_runner_cache_builds_once_per_model_backend_precision():
    prepared: list[list[tuple[int, int, int]]] = []
    cache = RunnerCache(
        CPU, capacity=2, warm_shapes=lambda r: prepared.append([(1, 16, 16)]) or [(1, 16, 16)]
    )
    a, b = random_generator(1), random_generator(2)
    first = cache.get(a, "torch-eager", "fp32")
    assert cache.get(a, "torch-eager", "fp32") is first
    assert cache.get(a, "torch-eager", "bf16") is not first
    assert len(prepared) == 2, "each new runner is prepared for the warm shapes"
    cache.get(b, "torch-eager", "fp32")  # a third runner: the least recently used one goes
    assert len(cache) == 2
    assert cache.get(a, "torch-eager", "fp32") is not first


@pytest.mark.parametrize(
    "backend,precision,message",
    [
        ("tensorrt", "fp16", "expected one of torch-eager, torch-optimized, onnxruntime"),
        ("torch-eager", "fp8", "expected one of fp32, fp16, bf16"),
        ("onnxruntime", "fp16", "expected one of fp32"),
    ],
)
def test_invalid_choices_name_the_alternatives(backend, precision, message):
    with pytest.raises(ValueError, match=message):
        validate_choice(backend, precision, CPU)


def test_cpu_defaults_and_availability():
    assert default_choice(CPU) == ("torch-eager", "fp32")
    assert available_backends(CPU) == ["torch-eager", "torch-optimized", "onnxruntime"]


@pytest.fixture(scope="module")
def ort_server(models_dir):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            limits=FrameLimits(max_frame_bytes=4 * 1024 * 1024),
            watch_interval_s=60,
            run=RunOptions(backend="onnxruntime", warm_sizes=[(2, 48, 64)]),
        )
    )
    yield s
    s.stop()


def stream_one(
    address: str, config: pb.SessionConfig, views: list[np.ndarray]
) -> list[pb.StylizeReply]:
    """Send one config and one frame on a raw stream; return every reply."""
    import grpc
    from artem_client.frames import encode_view
    from artem_protocol.rpc import pb_grpc

    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StylizerStub(channel)
        requests = [
            pb.StylizeRequest(config=config),
            pb.StylizeRequest(frame=pb.Frame(id=1, views=[encode_view(v) for v in views])),
        ]
        return list(stub.Stylize(iter(requests), timeout=120))


def rgba(photo: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.dstack([photo[:h, :w], np.full((h, w), 200, np.uint8)])


def test_server_default_backend_and_session_choices(ort_server, server, photo):
    views = [rgba(photo, 48, 64), rgba(photo[10:], 48, 64)]
    replies = stream_one(ort_server.address, pb.SessionConfig(style="gen-a"), views)
    assert (replies[0].session.backend, replies[0].session.precision) == ("onnxruntime", "fp32")
    assert replies[0].session.render_scale == 1.0
    ort_frame = replies[1].frame
    assert not replies[1].HasField("error"), replies[1].error
    # The eager CPU server returns the same pixels within a level or two.
    eager = stream_one(
        server.address,
        pb.SessionConfig(style="gen-a", backend="torch-eager", precision="fp32"),
        views,
    )[1].frame
    for a, b in zip(ort_frame.views, eager.views):
        diff = np.abs(np.frombuffer(a.data, np.uint8).astype(int) - np.frombuffer(b.data, np.uint8))
        assert diff.max() <= 2
    with StylizerClient(ort_server.address) as c:
        assert list(c.server_info().backends) == ["torch-eager", "torch-optimized", "onnxruntime"]


def test_session_render_scale_and_precision(server, photo):
    replies = stream_one(
        server.address,
        pb.SessionConfig(
            style="gen-b", backend="torch-optimized", precision="bf16", render_scale=0.5
        ),
        [rgba(photo, 40, 60)],
    )
    state, frame = replies[0].session, replies[1].frame
    assert (state.backend, state.precision, state.render_scale) == ("torch-optimized", "bf16", 0.5)
    assert not replies[1].HasField("error"), replies[1].error
    assert (frame.views[0].width, frame.views[0].height) == (60, 40)


@pytest.mark.parametrize(
    "config,field",
    [
        (pb.SessionConfig(style="gen-a", backend="tensorrt"), "backend"),
        (pb.SessionConfig(style="gen-a", precision="fp64"), "precision"),
        (pb.SessionConfig(style="gen-a", backend="onnxruntime", precision="bf16"), "precision"),
        (pb.SessionConfig(style="gen-a", render_scale=0.0), "render_scale"),
        (pb.SessionConfig(style="gen-a", render_scale=float("nan")), "render_scale"),
    ],
)
def test_bad_run_choices_are_answered_in_the_config_reply(server, config, field):
    reply = stream_one(server.address, config, [np.zeros((16, 16, 4), np.uint8)])[0]
    assert reply.error.code == 3 and field in reply.error.message, reply.error


def test_warm_sizes_build_every_styles_runner_at_start(ort_server):
    """--warm-size: the server builds (exports, compiles) each style's default runner when it
    starts, on the model thread, so the first frame of a session does not wait for it."""
    import time

    engine = ort_server.server.engine
    models = {engine.registry.get(name).model for name in ("gen-a", "gen-b")}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        built = {key[0] for key in list(engine.runs.cache._runners)}
        if models <= built:
            break
        time.sleep(0.2)
    assert models <= built
