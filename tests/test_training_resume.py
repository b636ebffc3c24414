"""Generator checkpoints resume: a run stopped at a checkpoint and resumed ends with the same
weights as the run that was never stopped (weights, Adam's moments and crop draws restored)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from artem_training.app import CONFIG_DIR
from artem_training.errors import ConfigError
from artem_training.train import train
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig


def tiny(run_dir: Path, *extra: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name="train",
            overrides=["debug=default", f"paths.output_dir={run_dir}", "trainer.threads=1", *extra],
        )


def quiet_train(cfg: DictConfig):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG fallback warning
        return train(cfg)


def test_resume_continues_from_the_saved_step(tmp_path: Path) -> None:
    whole = quiet_train(tiny(tmp_path / "whole", "trainer.steps=4"))
    assert [p.name for p in whole.checkpoints] == ["step_000002.pt", "step_000004.pt"]
    resumed = quiet_train(
        tiny(tmp_path / "resumed", "trainer.steps=4", f"trainer.resume={whole.checkpoints[0]}")
    )
    assert resumed.metrics["resumed_at"] == 2 and whole.metrics["resumed_at"] == 0
    assert [p.name for p in resumed.checkpoints] == ["step_000004.pt"]  # steps 3 and 4 only ran
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    # Without Adam's state the same two steps land elsewhere: the comparison above can fail.
    ckpt = torch.load(whole.checkpoints[0], weights_only=True)
    ckpt["optimizer"]["state"] = {}
    torch.save(ckpt, tmp_path / "no_adam.pt")
    fresh = quiet_train(
        tiny(tmp_path / "fresh", "trainer.steps=4", f"trainer.resume={tmp_path / 'no_adam.pt'}")
    )
    assert not torch.equal(
        fresh.model.state_dict()["conv1.conv2d.weight"], a["conv1.conv2d.weight"]
    )


@pytest.mark.parametrize("problem", ["missing", "finished", "other_model"])
def test_bad_resume_names_the_key(tmp_path: Path, problem: str) -> None:
    first = quiet_train(tiny(tmp_path / "first", "trainer.steps=2"))
    extra = {
        "missing": [f"trainer.resume={tmp_path / 'nope.pt'}"],
        "finished": [f"trainer.resume={first.checkpoints[0]}", "trainer.steps=2"],
        "other_model": [
            f"trainer.resume={first.checkpoints[0]}",
            "trainer.steps=4",
            "model.width=16",
        ],
    }[problem]
    with pytest.raises(ConfigError, match=r"trainer\.resume"):
        quiet_train(tiny(tmp_path / "again", *extra))
    assert not (tmp_path / "again" / "models").exists()


def test_checkpoint_without_crop_state_resumes_with_a_warning(tmp_path: Path, caplog) -> None:
    first = quiet_train(tiny(tmp_path / "first", "trainer.steps=2"))
    ckpt = torch.load(first.checkpoints[0], weights_only=True)
    del ckpt["rng"]  # as written before the crop state was saved
    torch.save(ckpt, tmp_path / "old.pt")
    result = quiet_train(
        tiny(tmp_path / "again", "trainer.steps=3", f"trainer.resume={tmp_path / 'old.pt'}")
    )
    assert result.metrics["resumed_at"] == 2
    assert "no crop-sampler state" in caplog.text
