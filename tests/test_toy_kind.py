"""A kind is one module: tests/toy_kind.py (a colour matrix) is installed the way a plugin is,
through a distribution that declares it in the `artem.kinds` entry point group, and then goes
through the real commands untouched: `artem models import` makes an entry, `artem styles list`
lists it, `artem serve` serves it and `artem client` streams through it, with the session
options and backends the kind allows and clear refusals for the others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest
from artem_client import StylizerClient
from artem_client.client import StylizeError
from artem_client.frames import encode_view
from artem_protocol.rpc import pb
from PIL import Image
from test_cli import ARTEM, free_port
from test_stream import frame, lockstep

TESTS = Path(__file__).resolve().parent
MATRIX = [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]]  # sepia
OFFSET = [10.0, -5.0, 0.0]


def sepia(rgb: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """What the toy kind should give, in float64: the matrix, then the pixel blend."""
    x = rgb.astype(np.float64)
    y = x @ np.array(MATRIX).T + np.array(OFFSET)
    return np.clip(x + strength * (y - x), 0, 255)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    """An environment in which tests/toy_kind.py is an installed plugin: a distribution's
    metadata (as `pip install` writes it) declaring the entry point, on PYTHONPATH."""
    site = tmp_path_factory.mktemp("site")
    dist = site / "artem_toy_kind-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: artem-toy-kind\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[artem.kinds]\nmatrix = toy_kind:KIND\n")
    path = os.pathsep.join([str(site), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [ARTEM, "--log-level", "WARNING", *args], capture_output=True, text=True, env=env
    )
    assert not check or proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_a_kind_from_the_test_folder_is_served_end_to_end(plugin_env, tmp_path, photo):
    models = tmp_path / "models"
    spec = tmp_path / "sepia.json"
    spec.write_text(json.dumps({"matrix": MATRIX, "offset": OFFSET}))
    out = run(
        plugin_env, "models", "import", str(spec), "--name", "sepia", "--models-dir", str(models)
    )
    assert "colour matrix 'sepia'" in out.stdout
    listed = run(plugin_env, "styles", "list", "--models-dir", str(models)).stdout
    assert any(line.split()[:2] == ["sepia", "matrix"] for line in listed.splitlines()), listed
    kinds = run(plugin_env, "models", "kinds").stdout
    assert (
        "matrix     a fixed 3x3 colour matrix" in kinds and "runs on: torch-eager in fp32" in kinds
    )
    # without the plugin the same command does not know the file, and says what it imports
    bare = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    refused = run(
        bare, "models", "import", str(spec), "--name", "x", "--models-dir", str(models), check=False
    )
    assert refused.returncode == 2 and "no kind imports" in refused.stderr

    content = photo[100:140, 120:168]  # 40x48
    Image.fromarray(content).save(tmp_path / "content.png")
    port = free_port()
    server = subprocess.Popen(
        [ARTEM, "serve", "--port", str(port), "--models-dir", str(models), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=plugin_env,
    )
    address = f"127.0.0.1:{port}"
    try:
        with StylizerClient(address) as c:
            c.wait_ready(60)
            styles = {s.id: s for s in c.list_styles()}
            assert styles["sepia"].kind == "matrix"
            assert styles["sepia"].thumbnail_png.startswith(b"\x89PNG")
            run(
                plugin_env,
                "client",
                "--server",
                address,
                "--style",
                "sepia",
                "--source",
                str(tmp_path / "content.png"),
                "--frames",
                "1",
                "--format",
                "rgb8",
                "--out",
                str(tmp_path / "out"),
            )
            got = np.asarray(Image.open(tmp_path / "out" / "frame_00000.png")).astype(int)
            assert np.abs(got - sepia(content)).max() <= 1

            # strength: the kind takes it (blended in pixels)
            half: list[np.ndarray] = []
            c.stream(
                [[content]],
                "sepia",
                strength=0.5,
                fmt=pb.PIXEL_FORMAT_RGB8,
                on_images=lambda i, images: half.append(np.array(images[0])),
            )
            assert np.abs(half[0].astype(int) - sepia(content, 0.5)).max() <= 1

            # what it does not take is refused, naming the field, and the stream goes on
            with pytest.raises(StylizeError) as e:
                c.stream([[content]], "sepia", preserve_color=True, fmt=pb.PIXEL_FORMAT_RGB8)
            assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert "config.preserve_color: style 'sepia' is a matrix" in str(e.value)
            with pytest.raises(StylizeError) as e:
                c.stream([[content]], "", mix={"sepia": 1.0}, fmt=pb.PIXEL_FORMAT_RGB8)
            assert "config.mix[0].style 'sepia' is a matrix style" in str(e.value)
            view = encode_view(content, pb.PIXEL_FORMAT_RGB8)
            replies = lockstep(
                c,
                [
                    pb.StylizeRequest(config=pb.SessionConfig(style="sepia")),
                    pb.StylizeRequest(
                        config=pb.SessionConfig(style="sepia", backend="torch-optimized")
                    ),
                    frame(1, view),
                ],
            )
            assert (
                replies[0].session.backend == "torch-eager" and replies[0].session.kind == "matrix"
            )
            assert replies[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert "matrix styles run on torch-eager" in replies[1].error.message
            assert not replies[2].HasField("error") and replies[2].frame.style == "sepia"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output


def test_register_makes_a_kind_known_in_this_process(tmp_path):
    """`register` is the in-process way in (what an entry point does for a whole install): the
    registry loads the kind's entries, a backend finds the kind of its modules, and a second,
    different kind of a taken name is refused."""
    import toy_kind

    from artem_server.backends import torch_optimized
    from artem_server.kinds import import_files, kind_of_module, register
    from artem_server.registry import Registry

    assert register(toy_kind.KIND) is register(toy_kind.KIND)  # twice: a no-op
    with pytest.raises(ValueError, match="'matrix' is already registered"):
        register(toy_kind.ColourMatrixKind())
    spec = tmp_path / "grey.json"
    spec.write_text(json.dumps({"matrix": [[1 / 3] * 3] * 3, "offset": [0, 0, 0]}))
    import_files([spec], "grey", tmp_path / "models")
    registry = Registry(tmp_path / "models", builtin_dir=None)
    model = registry.get("grey").model
    assert registry.get("grey").kind is toy_kind.KIND and kind_of_module(model) is toy_kind.KIND
    assert (
        torch_optimized.default_mode(model, cuda=True) == "compile"
    )  # a kind without its own: compile
