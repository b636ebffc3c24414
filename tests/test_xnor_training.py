"""The xnor kind end to end on the CPU: `artem-train model=xnor` distils a generator entry into
its binary twin, a running server lists that entry as an xnor style and streams frames through
it (the reference arithmetic), and the shipped twin of the default style stylizes through the
real `artem client`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from artem_training.errors import ConfigError
from artem_training.kinds.xnor import quality
from artem_training.train import train
from conftest import RunningServer, random_generator
from PIL import Image
from test_cli import ARTEM, artem, free_port
from test_training import compose_cfg

from artem_server.kinds import kind_named
from artem_server.models.card import WEIGHTS_FILE, ModelCard
from artem_server.models.generator import GeneratorConfig
from artem_server.models.store import read_entry, write_entry
from artem_server.models.xnor import PackedXnorGenerator
from artem_server.server import ServerConfig

BUILTIN = Path(__file__).resolve().parents[1] / "artem_server" / "builtin_models"


def teacher_entry(models: Path) -> Path:
    net = random_generator(1, GeneratorConfig(width=8, res_blocks=1))
    card = ModelCard(
        name="tiny-teacher", kind="generator", architecture=net.config.to_dict(), license="test"
    )
    return write_entry(models, card, net.state_dict()).path


def xnor_cfg(tmp_path: Path, teacher: Path, models: Path, *extra: str):
    return compose_cfg(
        [
            "model=xnor",
            f"model.teacher={teacher}",
            "trainer.steps=2",
            "trainer.batch_size=1",
            "trainer.image_size=64",
            "trainer.sample_size=64",
            "trainer.device=cpu",
            "trainer.threads=1",
            "trainer.log_every=1",
            "trainer.checkpoint_every=null",
            "trainer.tensorboard=false",
            f"paths.output_dir={tmp_path / 'run'}",
            f"export.models_dir={models}",
            "export.name=tiny-xnor",
            *extra,
        ]
    )


def test_the_shipped_recipe_twins_the_default_style() -> None:
    cfg = compose_cfg(["experiment=nocturne_xnor"])
    assert cfg.model.kind == "xnor" and cfg.model.teacher == "nocturne"
    assert cfg.loss.perceptual_weight > 0 and cfg.export.name == "nocturne-xnor"


@pytest.mark.parametrize(
    "twin",
    sorted(
        p.parent.name
        for p in BUILTIN.glob("*/card.json")
        if json.loads(p.read_text())["kind"] == "xnor"
    ),
)
def test_shipped_twin_is_of_the_shipped_teacher_with_the_figures_its_card_states(twin: str) -> None:
    """A retrained teacher leaves its twin stale: re-make it (its recipe) when this fails."""
    entry = read_entry(BUILTIN / twin)
    made_by = entry.card.made_by
    teacher = read_entry(BUILTIN / made_by["config"]["model"]["teacher"])
    digest = hashlib.sha256((teacher.path / WEIGHTS_FILE).read_bytes()).hexdigest()
    recorded = made_by.get("teacher", {}).get("weights_sha256")
    assert recorded == digest, f"{twin} is not the twin of the shipped {teacher.name}"
    got = quality(kind_named("xnor").load(entry), kind_named("generator").load(teacher))
    assert set(got) == set(made_by["quality_vs_teacher"])
    for photo, (psnr, ssim) in got.items():
        stated = made_by["quality_vs_teacher"][photo]
        assert psnr == pytest.approx(stated["psnr_db"], abs=0.1), photo
        assert ssim == pytest.approx(stated["ssim"], abs=0.005), photo


def test_a_teacher_that_is_not_a_generator_entry_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.teacher.*'nonesuch'"):
        train(xnor_cfg(tmp_path, Path("nonesuch"), tmp_path / "models"))
    with pytest.raises(ConfigError, match=r"model\.teacher.*'adain'"):
        train(xnor_cfg(tmp_path, BUILTIN / "swirl", tmp_path / "models"))


def test_trained_twin_reaches_a_running_server_and_streams(tmp_path: Path) -> None:
    models = tmp_path / "models"
    teacher = teacher_entry(tmp_path / "teachers")
    models.mkdir()
    server = RunningServer(
        ServerConfig(port=0, models_dir=models, device="cpu", watch_interval_s=0.2)
    )
    try:
        with StylizerClient(server.address) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the random-VGG fallback warning
                result = train(xnor_cfg(tmp_path, teacher, models))
            deadline = time.monotonic() + 10
            while "tiny-xnor" not in {s.id for s in client.list_styles()}:
                assert time.monotonic() < deadline, "the new entry was not listed"
                time.sleep(0.1)
            styles = {s.id: s for s in client.list_styles()}
            assert styles["tiny-xnor"].kind == "xnor"

            rng = np.random.default_rng(0)
            rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
            got: list[np.ndarray] = []
            stats = client.stream(
                [[rgb]],
                "tiny-xnor",
                fmt=pb.PIXEL_FORMAT_RGB8,
                on_images=lambda i, images: got.append(images[0].copy()),
            )
            assert stats.received == 1 and got[0].shape == (32, 48, 3)
            assert np.abs(got[0].astype(int) - rgb).mean() > 5  # restyled, not passed through
    finally:
        server.stop()
    entry = read_entry(result.entry.path)
    assert entry.card.kind == "xnor" and "PSNR" in entry.card.notes
    assert "KiB" in entry.card.notes and result.metrics["psnr_vs_teacher"] > 0
    digest = hashlib.sha256((teacher / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert entry.card.made_by["teacher"] == {"entry": "tiny-teacher", "weights_sha256": digest}
    weights = entry.load_weights()
    assert weights["res1.conv1.bits"].dtype == torch.int32
    model = kind_named("xnor").load(entry)
    assert isinstance(model, PackedXnorGenerator)


@pytest.mark.skipif(
    not (BUILTIN / "nocturne-xnor").is_dir(), reason="the shipped xnor style is not built yet"
)
def test_shipped_xnor_style_stylizes_through_artem_client(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [ARTEM, "--log-level", "WARNING", "serve", "--port", str(port)]
        + ["--models-dir", str(tmp_path / "models"), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with StylizerClient(f"127.0.0.1:{port}") as c:
            c.wait_ready(120)
            kinds = {s.id: s.kind for s in c.list_styles()}
        assert kinds["nocturne-xnor"] == "xnor"
        run = artem(
            "client",
            "--server",
            f"127.0.0.1:{port}",
            "--style",
            "nocturne-xnor",
            "--source",
            "synthetic",
            "--frames",
            "2",
            "--size",
            "64x48",
            "--out",
            str(tmp_path / "out"),
        )
        assert "2 frames" in run.stdout
        frame = np.asarray(Image.open(tmp_path / "out" / "frame_00000.png").convert("RGB"))
        assert frame.shape == (48, 64, 3) and frame.std() > 5
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
