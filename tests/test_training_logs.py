"""Run logs: samples.png always; TensorBoard scalars and the grid when tensorboard is installed,
one info line (and a normal run) when it is not."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from artem_training import tb
from artem_training.app import CONFIG_DIR
from artem_training.train import train
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image


def tiny(tmp_path: Path, *extra: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                "debug=default",
                f"paths.output_dir={tmp_path / 'run'}",
                "trainer.threads=1",
                "trainer.checkpoint_every=null",
                *extra,
            ],
        )


def quiet_train(cfg: DictConfig):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG fallback warning
        return train(cfg)


class FakeWriter:
    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []
        self.images: list[tuple[str, tuple, int]] = []
        self.closed = False

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def add_image(self, tag: str, img, step: int, dataformats: str) -> None:
        assert dataformats == "HWC"
        self.images.append((tag, img.shape, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_losses_and_grid_go_to_the_writer(tmp_path: Path, monkeypatch) -> None:
    writer = FakeWriter()
    opened: list[Path] = []
    monkeypatch.setattr("artem_training.run.open_writer", lambda d: opened.append(d) or writer)
    result = quiet_train(tiny(tmp_path))
    assert opened == [tmp_path / "run" / "tensorboard"]
    assert [(tag, step) for tag, _, step in writer.scalars] == [
        (f"loss/{k}", s) for s in (1, 2, 3) for k in ("content", "style", "total")
    ]
    assert writer.scalars[-1][1] == pytest.approx(result.metrics["loss"])
    grid = Image.open(result.sample_grid)
    assert writer.images == [("samples", (grid.height, grid.width, 3), 3)] and writer.closed


def test_tensorboard_off_opens_no_writer(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("artem_training.run.open_writer", lambda d: pytest.fail("opened a writer"))
    result = quiet_train(tiny(tmp_path, "trainer.tensorboard=false", "trainer.steps=1"))
    assert result.sample_grid.is_file()


def test_without_tensorboard_one_info_line(tmp_path: Path, monkeypatch, caplog) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with caplog.at_level(logging.INFO, logger="artem_training.tb"):
        assert tb.open_writer(tmp_path / "tb") is None
    assert [r.getMessage() for r in caplog.records] == [
        "tensorboard is not installed: no TensorBoard logs (pip install -e '.[tensorboard]')"
    ]
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("model", ["generator", "adain"])
def test_real_tensorboard_logs_losses_and_samples(tmp_path: Path, model: str) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    extra = ["model=adain", "debug=adain", "loss.pixel_warmup_steps=1"] if model == "adain" else []
    result = quiet_train(tiny(tmp_path, *extra, "trainer.steps=2", "trainer.log_every=1"))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    total = events.Scalars("loss/total")
    assert [e.step for e in total] == [1, 2]
    assert total[-1].value == pytest.approx(result.metrics["loss"], rel=1e-5)
    assert result.entry.card.architecture.get("role", "generator") == (
        "model" if model == "adain" else "generator"
    )
    assert events.Tags()["images"] == ["samples"]
