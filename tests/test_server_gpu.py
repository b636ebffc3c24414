"""The whole server on CUDA, over gRPC: what a stream gets back from a GPU server, through each
transport, against the CPU server. The kernels and backends have their own GPU tests; this one
covers the parts that join them on a real stream (pinned staging, replies built in place,
shared-memory regions, nvJPEG)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from artem_client import StylizerClient
from artem_client.frames import from_rgb
from artem_protocol.rpc import pb
from conftest import add_generator_entry
from test_transport_jpeg import FORMATS, psnr

from artem_server.frames import FrameLimits
from artem_server.loopback import LoopbackServer
from artem_server.models.generator import GeneratorConfig
from artem_server.runs import RunOptions
from artem_server.server import ServerConfig

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, LoopbackServer]]:
    """A CPU server, a CUDA server with each device's default backend, and one per optimized
    mode a CUDA server may be told to run, over one models directory holding a full-size
    generator with random weights."""
    models = tmp_path_factory.mktemp("gpu-models")
    add_generator_entry(models, "full", seed=21, config=GeneratorConfig())

    def start(device: str, mode: str | None = None) -> LoopbackServer:
        return LoopbackServer(
            ServerConfig(
                port=0,
                models_dir=models,
                device=device,
                watch_interval_s=3600,
                limits=FrameLimits(max_frame_bytes=16 << 20),
                run=RunOptions(optimize_mode=mode),
            )
        )

    made = {"cpu": start("cpu"), "cuda": start("cuda")}
    made.update({f"cuda-{mode}": start("cuda", mode) for mode in ("graph", "compile", "fused")})
    yield made
    for s in made.values():
        s.stop()


@pytest.fixture(scope="module")
def eyes(photo) -> list[np.ndarray]:
    """Two eyes of odd sizes (the model pads to a multiple of 4 and crops back)."""
    return [
        np.ascontiguousarray(photo[20:270, 30:401]),
        np.ascontiguousarray(photo[230:480, 111:482]),
    ]


def stylize(
    server: LoopbackServer,
    views: list[np.ndarray],
    style: str,
    transport: str,
    fmt: int = pb.PIXEL_FORMAT_RGBA8,
    **kwargs,
) -> list[np.ndarray]:
    got: dict[int, list[np.ndarray]] = {}
    with StylizerClient(server.address) as client:
        stats = client.stream(
            iter([views]),
            style,
            fmt=fmt,
            transport=transport,
            on_images=lambda i, images: got.__setitem__(i, [np.array(v) for v in images]),
            **kwargs,
        )
    assert stats.received == 1
    return got[0]


def with_alpha(rgb: np.ndarray, fmt: int, seed: int) -> np.ndarray:
    """The view in `fmt`, with a random alpha where it has one (the server must keep it)."""
    view = from_rgb(rgb, fmt)
    if fmt != pb.PIXEL_FORMAT_RGB8:
        view[..., 3] = np.random.default_rng(seed).integers(0, 256, view.shape[:2], dtype=np.uint8)
    return view


@pytest.mark.parametrize("transport", ["inline", "shm"])
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
def test_identity_comes_back_bit_for_bit(servers, eyes, transport, fmt):
    views = [with_alpha(e, fmt, i) for i, e in enumerate(eyes)]
    back = stylize(servers["cuda"], views, "identity", transport, fmt)
    for sent, got in zip(views, back):
        assert got.shape == sent.shape and np.array_equal(got, sent)


@pytest.mark.parametrize("server", ["cuda", "cuda-graph", "cuda-compile", "cuda-fused"])
@pytest.mark.parametrize("transport", ["inline", "shm"])
@pytest.mark.parametrize(
    "fmt", [pb.PIXEL_FORMAT_RGBA8, pb.PIXEL_FORMAT_BGRA8], ids=lambda f: pb.PixelFormat.Name(f)
)
def test_a_generator_on_cuda_gives_what_the_cpu_server_gives(servers, eyes, server, transport, fmt):
    """The CUDA default and each optimized mode (fp16) within the issue's 40 dB of the CPU's
    eager fp32, with the alpha channel untouched, through each same-host transport."""
    views = [with_alpha(e, fmt, 7 + i) for i, e in enumerate(eyes)]
    cpu = stylize(servers["cpu"], views, "full", "inline", fmt)
    gpu = stylize(servers[server], views, "full", transport, fmt)
    for sent, c, g in zip(views, cpu, gpu):
        assert g.shape == c.shape == sent.shape
        assert psnr(g[..., :3], c[..., :3]) >= 40.0, psnr(g[..., :3], c[..., :3])
        assert np.array_equal(g[..., 3], sent[..., 3])


def test_jpeg_frames_on_cuda_match_the_cpu_server(servers, eyes):
    """JPEG both ways on a CUDA server (nvJPEG where torchvision has it): as close to the sent
    frame as the CPU server's libjpeg round trip, give or take 2 dB."""
    views = [from_rgb(e, pb.PIXEL_FORMAT_RGBA8) for e in eyes]
    cpu = stylize(servers["cpu"], views, "identity", "jpeg", jpeg_quality=90)
    gpu = stylize(servers["cuda"], views, "identity", "jpeg", jpeg_quality=90)
    for e, c, g in zip(eyes, cpu, gpu):
        assert g.shape == c.shape
        assert abs(psnr(g[..., :3], e) - psnr(c[..., :3], e)) < 2.0
        assert psnr(g[..., :3], e) >= 30.0
