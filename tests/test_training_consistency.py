"""artem-train's comfort options: the shift-consistency loss (`consistency.*`), anti-aliased nets
(`model.antialias`) and fine-tuning from an entry (`trainer.init_weights`), for the generator
and for model=adain; the shipped recipes use them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from artem_training.consistency import ShiftViews
from artem_training.errors import ConfigError
from artem_training.train import train
from test_training import compose_cfg, tiny

from artem_server.models.loading import load_model
from artem_server.models.store import read_entry
from artem_server.registry import Registry


def test_the_shipped_recipes_fine_tune_with_the_comfort_options() -> None:
    base = compose_cfg(["experiment=default_style_base"])
    assert not base.model.antialias and base.consistency.weight == 0
    cfg = compose_cfg(["experiment=default_style"])
    assert cfg.model.antialias and cfg.consistency.weight > 0 and cfg.export.name == "tessera"
    assert cfg.trainer.init_weights == f"{base.export.models_dir}/{base.export.name}"
    adain = compose_cfg(["experiment=adain_default"])
    assert (
        adain.model.antialias and adain.consistency.weight > 0 and adain.export.name == "adain-lite"
    )
    assert not compose_cfg([]).model.antialias and compose_cfg([]).consistency.weight == 0


def test_moved_views_show_the_same_pixels_and_only_motion_costs() -> None:
    x = torch.rand(2, 3, 40, 40)
    shifts = ShiftViews(max_shift=7, margin=2, seed=0)
    for _ in range(5):
        views, (dy, dx) = shifts.views(x)
        assert views.shape == (4, 3, 32, 32) and (dy, dx) != (0, 0)
        torch.testing.assert_close(views[2:, :, : 32 - dy, : 32 - dx], views[:2, :, dy:, dx:])
        assert shifts.loss(views * 255, (dy, dx)) == 0  # a net that follows the motion
        coarse = views[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2)
        if dy % 4 or dx % 4:
            assert shifts.loss(coarse * 255, (dy, dx)) > 0.01  # one that snaps to a stride does not


def test_a_fine_tune_with_the_options_starts_from_an_entry_and_says_so(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG fallback warns without ImageNet weights
        base = train(tiny(tmp_path / "base"))
        result = train(
            tiny(
                tmp_path / "ft",
                "model.antialias=true",
                "consistency.weight=5",
                f"trainer.init_weights={base.entry.path}",
                "trainer.steps=2",
            )
        )
    card = read_entry(result.entry.path).card
    assert card.architecture["antialias"] is True
    assert "Shift consistency" in card.notes and str(base.entry.path) in card.notes
    assert result.metrics["consistency_loss"] > 0
    net = load_model(read_entry(result.entry.path))
    assert net.config.antialias
    # the fine-tune moved the weights, starting from the base's (2 Adam steps at lr 1e-3)
    delta = (net.conv1.conv2d.weight - base.model.conv1.conv2d.weight.detach()).abs().max()
    assert 0 < delta < 0.01


@pytest.mark.parametrize(
    "override, key",
    [
        ("consistency.max_shift=9", "consistency.max_shift"),
        ("consistency.weight=-1", "consistency.weight"),
        ("trainer.image_size=66", "trainer.image_size"),
        ("trainer.init_weights=/no/such/entry", "trainer.init_weights"),
    ],
)
def test_bad_comfort_values_fail_before_training_naming_the_key(
    tmp_path: Path, override: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        train(tiny(tmp_path, "consistency.weight=5", override))


def test_adain_fine_tune_with_the_options_exports_an_antialiased_model_and_styles(
    tmp_path: Path,
) -> None:
    def adain(path: Path, *extra: str):
        return compose_cfg(
            [
                "model=adain",
                "debug=adain",
                f"paths.output_dir={path}",
                "loss.pixel_warmup_steps=1",
                "+export.styles=[{name: dots, image: 'builtin:mosaic', seed: 5, size: 48}]",
                *extra,
            ]
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = train(adain(tmp_path / "base"))
        result = train(
            adain(
                tmp_path / "ft",
                "model.antialias=true",
                "consistency.weight=5",
                f"trainer.init_weights={base.entry.path}",
                "loss.pixel_warmup_steps=0",
                "trainer.image_size=72",
            )
        )
    assert result.entry.card.architecture["antialias"] is True
    assert (
        "Anti-aliased" in result.entry.card.notes and "Shift consistency" in result.entry.card.notes
    )
    assert result.metrics["consistency_loss"] > 0
    reg = Registry(tmp_path / "ft" / "models", builtin_dir=None)
    assert reg.base("debug-adain").net.config.antialias
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.inference_mode():
        y = reg.get("dots").model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
