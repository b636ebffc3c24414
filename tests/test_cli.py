"""The real `artem` command, as a user runs it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from artem_client import StylizerClient
from PIL import Image
from test_import import peer_state_dict

ARTEM = str(Path(sys.executable).with_name("artem"))


def artem(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [ARTEM, "--log-level", "WARNING", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"artem {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    torch.save(peer_state_dict(5), root / "candy.pth")
    artem(
        "models",
        "import",
        str(root / "candy.pth"),
        "--name",
        "candy",
        "--models-dir",
        str(root / "models"),
    )
    return root / "models"


def test_models_import_and_styles_list(cli_models, tmp_path):
    out = artem("styles", "list", "--models-dir", str(cli_models)).stdout
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "generator" in lines["candy"] and "identity" in lines
    torch.save(peer_state_dict(6), tmp_path / "again.pth")
    dup = artem(
        "models",
        "import",
        str(tmp_path / "again.pth"),
        "--name",
        "candy",
        "--models-dir",
        str(cli_models),
        check=False,
    )
    assert dup.returncode == 2 and "already exists" in dup.stderr and "--force" in dup.stderr
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    bad = artem(
        "models",
        "import",
        str(tmp_path / "junk.pth"),
        "--name",
        "junk",
        "--models-dir",
        str(cli_models),
        check=False,
    )
    assert bad.returncode == 2 and "junk.pth" in bad.stderr and "Traceback" not in bad.stderr


def test_stylize_images(cli_models, tmp_path, photo):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo[:90, :70]).save(src / "a.png")
    Image.fromarray(photo[100:160, 50:130]).save(src / "b.jpg", quality=95)
    artem(
        "stylize",
        str(src / "a.png"),
        "-o",
        str(tmp_path / "one.png"),
        "--style",
        "candy",
        "--models-dir",
        str(cli_models),
        "--device",
        "cpu",
    )
    one = np.asarray(Image.open(tmp_path / "one.png"))
    assert one.shape == (90, 70, 3) and np.abs(one.astype(int) - photo[:90, :70]).mean() > 10
    artem(
        "stylize",
        str(src / "a.png"),
        str(src / "b.jpg"),
        "-o",
        str(tmp_path / "many"),
        "--style",
        "candy",
        "--models-dir",
        str(cli_models),
    )
    assert np.asarray(Image.open(tmp_path / "many" / "b.jpg")).shape == (60, 80, 3)
    missing = artem(
        "stylize",
        str(src / "a.png"),
        "-o",
        str(tmp_path / "x.png"),
        "--style",
        "nope",
        "--models-dir",
        str(cli_models),
        check=False,
    )
    assert missing.returncode == 2 and "'nope'" in missing.stderr and "candy" in missing.stderr


def test_stylize_video_frames_in_frames_out(cli_models, tmp_path, photo):
    import av

    src = tmp_path / "clip.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(8):
            img = np.ascontiguousarray(photo[i * 8 : i * 8 + 48, :64])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    proc = artem(
        "stylize",
        str(src),
        "-o",
        str(tmp_path / "styled.mp4"),
        "--style",
        "candy",
        "--models-dir",
        str(cli_models),
    )
    assert "frame" in proc.stderr  # the progress bar
    with av.open(str(tmp_path / "styled.mp4")) as styled:
        frames = [f.to_ndarray(format="rgb24") for f in styled.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (48, 64, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_client_and_clean_stop(cli_models, tmp_path, sig):
    port = free_port()
    server = subprocess.Popen(
        [ARTEM, "serve", "--port", str(port), "--models-dir", str(cli_models), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with StylizerClient(f"127.0.0.1:{port}") as c:
            c.wait_ready(60)
        listed = artem("styles", "list", "--server", f"127.0.0.1:{port}").stdout
        assert "candy" in listed
        run = artem(
            "client",
            "--server",
            f"127.0.0.1:{port}",
            "--style",
            "candy",
            "--source",
            "synthetic",
            "--frames",
            "4",
            "--size",
            "48x40",
            "--stereo",
            "--out",
            str(tmp_path / "out"),
        )
        assert (
            "4 frames" in run.stdout
            and "p50" in run.stdout
            and "p95" in run.stdout
            and "p99" in run.stdout
        )
        saved = sorted(p.name for p in (tmp_path / "out").iterdir())
        assert saved[:2] == ["frame_00000_left.png", "frame_00000_right.png"] and len(saved) == 8
        assert Image.open(tmp_path / "out" / saved[0]).size == (48, 40)
    finally:
        server.send_signal(sig)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output


def test_client_streams_a_mix_of_the_shipped_adain_styles(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            ARTEM,
            "--log-level",
            "WARNING",
            "serve",
            "--port",
            str(port),
            "--models-dir",
            str(tmp_path / "models"),
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        with StylizerClient(address) as c:
            c.wait_ready(60)
        common = [
            "client",
            "--server",
            address,
            "--frames",
            "1",
            "--size",
            "48x40",
            "--format",
            "rgb8",
        ]
        mixed = artem(
            *common,
            "--mix",
            "swirl=0.3,stained-glass=0.7",
            "--preserve-color",
            "--out",
            str(tmp_path / "mix"),
        )
        assert "mix swirl=0.3,stained-glass=0.7" in mixed.stdout
        artem(*common, "--style", "swirl", "--out", str(tmp_path / "swirl"))
        a, b = (
            np.asarray(Image.open(tmp_path / d / "frame_00000.png")).astype(int)
            for d in ("mix", "swirl")
        )
        assert a.shape == (40, 48, 3) and np.abs(a - b).mean() > 1, (
            "a colour-preserving mix is another picture"
        )
        neither = artem(*common, check=False)
        assert neither.returncode == 2 and "--style or --mix" in neither.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert server.returncode == 0
