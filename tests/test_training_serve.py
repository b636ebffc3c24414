"""A model trained while the server runs reaches it: a tiny model=generator_small run exports
into the watched models directory, ListStyles shows it within seconds (no restart), and a frame
streams through it. The card says how the model was made."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from artem_training.app import CONFIG_DIR
from artem_training.train import train
from conftest import RunningServer
from hydra import compose, initialize_config_dir

from artem_server.models.store import read_entry
from artem_server.server import ServerConfig


def test_small_generator_config() -> None:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=generator_small"])
    assert (cfg.model.width, cfg.model.res_blocks) == (16, 3)
    assert cfg.model._target_ == "artem_server.models.generator.GeneratorConfig"


def test_trained_model_reaches_a_running_server(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    server = RunningServer(
        ServerConfig(port=0, models_dir=models, device="cpu", watch_interval_s=0.2)
    )
    try:
        with StylizerClient(server.address) as client:
            assert "fresh" not in {s.id for s in client.list_styles()}
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                # Not debug=default: it would shrink the model too; this shrinks only the run.
                cfg = compose(
                    config_name="train",
                    overrides=[
                        "model=generator_small",
                        "style.size=64",
                        "trainer.steps=2",
                        "trainer.batch_size=1",
                        "trainer.image_size=64",
                        "trainer.sample_size=64",
                        "trainer.device=cpu",
                        "trainer.threads=1",
                        "trainer.log_every=1",
                        "trainer.checkpoint_every=null",
                        f"paths.output_dir={tmp_path / 'run'}",
                        f"export.models_dir={models}",
                        "export.name=fresh",
                    ],
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the random-VGG fallback warning
                result = train(cfg)
            deadline = time.monotonic() + 10
            while (
                "fresh" not in {s.id for s in client.list_styles()} and time.monotonic() < deadline
            ):
                time.sleep(0.1)
            styles = {s.id: s for s in client.list_styles()}
            assert "fresh" in styles and styles["fresh"].kind == "generator"

            rng = np.random.default_rng(0)
            rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
            got: list[np.ndarray] = []
            stats = client.stream(
                [[rgb]],
                "fresh",
                fmt=pb.PIXEL_FORMAT_RGB8,
                on_images=lambda i, images: got.append(images[0].copy()),
            )
            assert stats.received == 1 and got[0].shape == (32, 48, 3)
            assert np.abs(got[0].astype(int) - rgb).mean() > 5  # restyled, not passed through
    finally:
        server.stop()

    card = read_entry(result.entry.path).card
    assert card.architecture["width"] == 16 and card.architecture["res_blocks"] == 3
    made = card.made_by
    assert made["config"]["model"]["res_blocks"] == 3 and made["metrics"]["steps"] == 2
    assert (
        made["device"] == "cpu"
        and "VGG-16" in made["loss_network"]
        and made["pretrained_loss_network"] is False
    )
    assert made["metrics"]["seconds"] >= 0 and made["metrics"]["loss"] == result.metrics["loss"]
