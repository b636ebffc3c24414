"""The onnx kind end to end, as a user runs it: `artem models import` (the real CLI) of a
Model Zoo-shaped fast-neural-style file, the model.onnx of an `artem-train export.onnx=true`
run (the debug preset), a graph that runs at its
fixed size only, and a Magenta-shaped pair; a real server on loopback; styles added to the pair
over gRPC (AddStyle); frames streamed through `artem client` and compared pixel by pixel with
what each network computes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from artem_training.train import train
from onnx_fixtures import SEPIA, SEPIA_BIAS, magenta_pair, zoo_expected, zoo_style
from PIL import Image
from test_backends import stream_one
from test_training import tiny

from artem_server.frames import FrameLimits
from artem_server.loopback import LoopbackServer
from artem_server.server import ServerConfig

ARTEM = str(Path(sys.executable).with_name("artem"))
RED, BLUE = (200, 40, 90), (20, 60, 230)


def artem(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [ARTEM, "--log-level", "WARNING", *args], capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"artem {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def png(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("onnx-files")
    (d / "candy-9.onnx").write_bytes(zoo_style())
    (d / "fixed.onnx").write_bytes(zoo_style(reshape=True))
    predict, transfer = magenta_pair()
    (d / "predict.onnx").write_bytes(predict)
    (d / "transfer.onnx").write_bytes(transfer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-weight loss network's warning
        result = train(tiny(d, "export.onnx=true", "export.name=gen-ref"))
    # the run's entry is served as a generator; its model.onnx is imported beside it
    shutil.copytree(result.entry.path.parent, d / "models")
    shutil.copy(result.entry.path / "model.onnx", d / "model.onnx")
    return d


@pytest.fixture(scope="module")
def imported(files: Path) -> dict[str, str]:
    """The CLI's messages for each import, made with no flags."""
    models = str(files / "models")
    out = {}
    for name, paths in (
        ("candy", ["candy-9.onnx"]),
        ("fixed", ["fixed.onnx"]),
        ("gen-onnx", ["model.onnx"]),
        ("magenta", ["transfer.onnx", "predict.onnx"]),
    ):
        run = artem(
            "models", "import", *(str(files / p) for p in paths), "--name", name,
            "--models-dir", models,
        )  # fmt: skip
        out[name] = run.stdout
    return out


@pytest.fixture(scope="module")
def server(files: Path, imported) -> Iterator[LoopbackServer]:
    s = LoopbackServer(
        ServerConfig(
            port=0,
            models_dir=files / "models",
            device="cpu",
            limits=FrameLimits(max_frame_bytes=4 * 1024 * 1024),
            watch_interval_s=0.2,
        )
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def frame(files: Path, photo: np.ndarray) -> Path:
    path = files / "frame.png"
    Image.fromarray(photo[100:196, 140:268]).save(path)  # 128x96, even: the zoo net's 2x2 cells
    return path


def stream(server, tmp_path: Path, source: Path, *style: str, stereo: bool = True) -> list:
    out = tmp_path / "out"
    run = artem(
        "client", "--server", server.address, *style, "--source", str(source), "--frames", "2",
        "--format", "rgb8", "--out", str(out), *(["--stereo"] if stereo else []),
    )  # fmt: skip
    assert "2 frames" in run.stdout, run.stdout
    return [np.asarray(Image.open(p)).astype(np.float32) for p in sorted(out.iterdir())]


def test_imports_need_no_flags_and_say_what_they_read(imported) -> None:
    assert "input1 NCHW RGB 0..255, any size, multiples of 2 -> output1" in imported["candy"]
    assert "fixed 224x224 (frames resized to it)" in imported["fixed"]
    assert "x NCHW RGB 0..255, any size, multiples of 4 -> y" in imported["gen-onnx"]
    assert "as onnx pair 'magenta'" in imported["magenta"]
    assert "content_image NHWC RGB 0..1" in imported["magenta"]
    assert "artem styles add IMAGE --name NAME --model magenta" in imported["magenta"]


def test_a_zoo_shaped_style_streams_at_the_frames_size(server, frame, tmp_path) -> None:
    views = stream(server, tmp_path, frame, "--style", "candy")
    rgb = np.asarray(Image.open(frame))
    expected = np.clip(zoo_expected(rgb), 0, 255)
    assert len(views) == 4 and views[0].shape == (96, 128, 3)
    for v in views:  # both eyes of both frames
        np.testing.assert_allclose(v, expected, atol=1.0)


def test_a_fixed_size_graph_streams_through_resizing(server, files, tmp_path) -> None:
    flat = files / "flat.png"
    colour = np.array([200, 120, 40], np.uint8)
    Image.fromarray(np.broadcast_to(colour, (40, 60, 3)).copy()).save(flat)
    views = stream(server, tmp_path, flat, "--style", "fixed")
    expected = np.clip(SEPIA @ colour.astype(np.float32) + SEPIA_BIAS, 0, 255)
    for v in views:
        assert v.shape == (40, 60, 3)
        np.testing.assert_allclose(v.reshape(-1, 3), np.broadcast_to(expected, (2400, 3)), atol=1.0)


def test_artem_trains_export_streams_what_its_generator_entry_streams(
    server, frame, tmp_path
) -> None:
    onnx_views = stream(server, tmp_path / "a", frame, "--style", "gen-onnx", stereo=False)
    torch_views = stream(server, tmp_path / "b", frame, "--style", "gen-ref", stereo=False)
    assert np.abs(onnx_views[0] - torch_views[0]).max() <= 1.0
    assert np.abs(onnx_views[0] - np.asarray(Image.open(frame))).mean() > 5  # it does restyle


def test_styles_added_to_the_pair_stream_and_mix(server, frame, tmp_path) -> None:
    with StylizerClient(server.address) as c:
        assert "magenta" in list(c.server_info().adain_models)  # the wire's list of such models
        for name, colour in (("red", RED), ("blue", BLUE)):
            image = np.broadcast_to(np.array(colour, np.uint8), (80, 120, 3)).copy()
            reply = c.add_style(name, "magenta", png(image))
            assert reply.style.kind == "onnx"
        with pytest.raises(grpc.RpcError) as refused:
            c.add_style("nope", "candy", png(image))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    rgb = np.asarray(Image.open(frame)).astype(np.float32)
    red = stream(server, tmp_path / "red", frame, "--style", "red")
    np.testing.assert_allclose(red[0], (rgb + RED) / 2, atol=1.0)
    mixed = stream(server, tmp_path / "mix", frame, "--mix", "red=0.25,blue=0.75", stereo=False)
    mean = 0.25 * np.array(RED) + 0.75 * np.array(BLUE)
    np.testing.assert_allclose(mixed[0], (rgb + mean) / 2, atol=1.0)


def test_sessions_get_the_kinds_backend_and_refusals_name_it(server, frame) -> None:
    view = np.dstack([np.asarray(Image.open(frame)), np.full((96, 128), 255, np.uint8)])
    plain = stream_one(server.address, pb.SessionConfig(style="candy"), [view])
    assert (plain[0].session.backend, plain[0].session.precision) == ("onnxruntime", "fp32")
    assert not plain[1].HasField("error")
    eager = stream_one(
        server.address, pb.SessionConfig(style="candy", backend="torch-eager"), [view]
    )
    assert eager[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "onnx styles run on onnxruntime in fp32" in eager[0].error.message
    mix = artem(
        "client", "--server", server.address, "--mix", "candy=0.5,fixed=0.5", "--source",
        str(frame), "--frames", "1", check=False,
    )  # fmt: skip
    assert mix.returncode != 0 and "only styles of an onnx pair mix" in mix.stderr
