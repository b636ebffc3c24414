"""The xnor kind in the server: an xnor entry loads as the packed net, a running server lists it
with its kind and streams frames through it on the CPU (the reference arithmetic), the runs it
allows are the kernels' (torch-optimized fp16) and the reference's (torch-eager fp32), and
`artem bench` times a random-weight xnor style."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import RunningServer, random_generator

from artem_server.cli import main
from artem_server.kinds import kind_named, kind_of_module
from artem_server.models.card import ModelCard
from artem_server.models.generator import GeneratorConfig
from artem_server.models.store import read_entry, write_entry
from artem_server.models.xnor import PackedXnorGenerator, XnorGenerator
from artem_server.server import ServerConfig


def xnor_entry(models: Path, name: str = "binary") -> PackedXnorGenerator:
    teacher = random_generator(2, GeneratorConfig(width=8, res_blocks=2))
    packed = XnorGenerator.from_generator(teacher, gain=1.0).packed().eval()
    card = ModelCard(name=name, kind="xnor", architecture=packed.config.to_dict(), license="test")
    write_entry(models, card, packed.state_dict(), half=False)
    return packed


def test_server_lists_and_streams_an_xnor_style(tmp_path: Path) -> None:
    packed = xnor_entry(tmp_path)
    rgb = np.random.default_rng(0).integers(0, 256, (36, 44, 3), dtype=np.uint8)
    with RunningServer(ServerConfig(port=0, models_dir=tmp_path, device="cpu")) as server:
        with StylizerClient(server.address) as client:
            styles = {s.id: s for s in client.list_styles()}
            assert styles["binary"].kind == "xnor"
            got: list[np.ndarray] = []
            stats = client.stream(
                [[rgb]],
                "binary",
                fmt=pb.PIXEL_FORMAT_RGB8,
                on_images=lambda i, images: got.append(images[0].copy()),
            )
    assert stats.received == 1 and got[0].shape == rgb.shape
    # what the packed net computes on the frame (36 x 44: no padding to a multiple of 4)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        expected = packed(x).clamp(0, 255).round()[0].permute(1, 2, 0).byte().numpy()
    assert np.abs(got[0].astype(int) - rgb).mean() > 5  # restyled, not passed through
    assert np.abs(got[0].astype(int) - expected.astype(int)).mean() < 1.0


def test_kind_loads_the_packed_net_and_runs_where_its_arithmetic_is(tmp_path: Path) -> None:
    xnor_entry(tmp_path)
    kind = kind_named("xnor")
    model = kind.load(read_entry(tmp_path / "binary"))
    assert isinstance(model, PackedXnorGenerator) and kind_of_module(model) is kind
    assert kind.supports("torch-eager", "fp32") and kind.supports("torch-optimized", "fp16")
    assert not kind.supports("onnxruntime", "fp32") and not kind.supports("torch-eager", "fp16")
    assert kind.default_run(cuda=True) == ("torch-optimized", "fp16")
    assert kind.default_run(cuda=False) == ("torch-eager", "fp32")


def test_bench_times_a_random_xnor_style(tmp_path: Path) -> None:
    out = tmp_path / "xnor.json"
    args = ["--log-level", "WARNING", "bench", "--what", "model", "--size", "tiny"]
    args += ["--style", "random-xnor", "--variant", "torch-eager:fp32", "--warmup", "0"]
    assert main([*args, "--repeats", "1", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["style"], row["error"]) == ("random-xnor", "") and row["median_ms"] > 0
