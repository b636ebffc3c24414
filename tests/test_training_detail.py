"""artem-train's fine-detail floor (`consistency.detail_weight`, `consistency.detail_target`):
the guard that keeps the shift-consistency fine-tunes from buying steadiness with blur. Its
gain is `artem eval comfort`'s detail figure, and it pushes a blurred output's gain back up."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from artem_training.detail import DetailFloor, detail_gain
from artem_training.errors import ConfigError
from artem_training.train import train
from scipy import ndimage
from skimage import data
from test_training import compose_cfg, tiny

from artem_server import comfort


def as_batch(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float()


def test_the_floor_measures_what_artem_eval_comfort_reports() -> None:
    x = data.astronaut()[:128, :128]
    soft = ndimage.gaussian_filter(x.astype(np.float32), (1.5, 1.5, 0)).clip(0, 255)
    for y in (x, soft.astype(np.uint8), (x * 0.5).astype(np.uint8)):
        expected = comfort.detail_gain([x], [y], margin=4)
        assert float(detail_gain(as_batch(y), as_batch(x))) == pytest.approx(expected, abs=2e-3)
    assert comfort.detail_gain([x], [soft.astype(np.uint8)], margin=4) < 0.5


def test_the_floor_pulls_a_blurred_output_toward_the_inputs_detail_and_is_silent_above() -> None:
    x = as_batch(data.coffee()[:96, :96])
    y = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False).requires_grad_()
    floor = DetailFloor(weight=1.0, target=0.8)
    before = float(detail_gain(y.detach(), x))
    assert before < 0.8 and float(floor(y.detach(), x)) == pytest.approx(0.8 - before, rel=1e-4)
    floor(y, x).backward()
    with torch.no_grad():
        stepped = y - 1e5 * y.grad
    assert float(detail_gain(stepped, x)) > before + 0.05
    assert float(DetailFloor(weight=1.0, target=0.8)(x, x)) == 0  # gain 1: nothing to ask


def test_a_fine_tune_with_the_floor_says_so_on_its_card(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG fallback warns without ImageNet weights
        result = train(
            tiny(
                tmp_path,
                "consistency.weight=5",
                "consistency.detail_weight=2",
                "consistency.detail_target=0.5",
            )
        )
    assert "Fine-detail floor: weight 2 below a gain of 0.5" in result.entry.card.notes


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["consistency.detail_weight=1"], "consistency.detail_weight"),  # consistency off
        (["consistency.weight=5", "consistency.detail_weight=-1"], "consistency.detail_weight"),
        (["consistency.weight=5", "consistency.detail_target=0"], "consistency.detail_target"),
        (["consistency.weight=5", "consistency.detail_target=1.5"], "consistency.detail_target"),
    ],
)
def test_bad_floor_values_fail_before_training_naming_the_key(
    tmp_path: Path, overrides: list[str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        train(tiny(tmp_path, *overrides))


def test_adain_refuses_the_floor_naming_the_key(tmp_path: Path) -> None:
    cfg = compose_cfg(
        [
            "model=adain",
            "debug=adain",
            f"paths.output_dir={tmp_path}",
            "consistency.weight=5",
            "consistency.detail_weight=1",
            "trainer.image_size=72",
        ]
    )
    with pytest.raises(ConfigError, match=r"consistency\.detail_weight.*model=adain"):
        train(cfg)
