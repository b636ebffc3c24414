"""artem-train: configs compose, a tiny run exports a loadable entry (in-process and through the
real CLI), bad configs fail early naming their key, and the VGG loads torchvision's layout."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from artem_training.app import CONFIG_DIR
from artem_training.errors import ConfigError
from artem_training.losses import gram
from artem_training.style_images import mosaic
from artem_training.train import train
from artem_training.vgg import TAPS, VGG16Features, load_imagenet_weights
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig

from artem_server.models.loading import load_model
from artem_server.models.store import read_entry

GROUPS = ["model", "data", "style", "loss", "trainer", "export", "paths", "consistency"]


def compose_cfg(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def tiny(tmp_path: Path, *extra: str) -> DictConfig:
    """The debug preset, with its run folder in tmp_path (train needs no Hydra runtime)."""
    return compose_cfg(["debug=default", f"paths.output_dir={tmp_path / 'run'}", *extra])


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS + ["experiment", "debug"])
def test_every_option_composes(group: str) -> None:
    for option in options(group):
        cfg = compose_cfg([f"{group}={option}"])
        assert {"model", "data", "style", "loss", "trainer", "export", "paths"} <= set(cfg)


def test_default_style_experiment_is_the_shipped_recipe() -> None:
    cfg = compose_cfg(["experiment=default_style"])
    assert cfg.export.name == "tessera"
    assert cfg.style.image == "builtin:mosaic"
    assert cfg.model.width == 32 and cfg.model.res_blocks == 5


def test_tiny_run_exports_a_loadable_entry_that_stylizes(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # the random-VGG fallback warns when ImageNet weights are absent
        result = train(tiny(tmp_path))
    entry = read_entry(result.entry.path)
    assert entry.card.kind == "generator" and "VGG-16" in entry.card.notes
    assert entry.card.made_by["config"]["trainer"]["steps"] == 3
    assert (entry.path / "thumbnail.png").stat().st_size > 0
    assert result.sample_grid.is_file() and len(result.checkpoints) == 1
    ckpt = torch.load(result.checkpoints[0], weights_only=True)
    assert ckpt["step"] == 2 and "conv1.conv2d.weight" in ckpt["generator"]
    x = torch.rand(1, 3, 32, 32) * 255
    y = load_model(entry)(x)
    assert y.shape == x.shape and not torch.allclose(y, x, atol=1.0)
    assert result.metrics["steps"] == 3 and result.metrics["loss"] > 0


def test_bf16_mixed_precision_run_trains_and_says_so(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(tiny(tmp_path, "trainer.precision=bf16"))
    card = read_entry(result.entry.path).card
    assert card.made_by["precision"] == "bf16" and "bf16" in card.notes
    assert 0 < result.metrics["loss"] < float("inf")
    weights = load_model(read_entry(result.entry.path)).state_dict()
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in weights.values())


def test_cli_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "cli-run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "artem_training.app",
            "debug=default",
            "export.name=cli-smoke",
            f"hydra.run.dir={run_dir}",
            "trainer.steps=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    entry = read_entry(run_dir / "models" / "cli-smoke")
    assert entry.card.made_by["command"].startswith("artem-train debug=default")
    assert (run_dir / "samples.png").is_file()
    load_model(entry)


def test_cli_unknown_group_option_names_the_group(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "artem_training.app", "data=nonesuch", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "data" in proc.stderr and "nonesuch" in proc.stderr


def test_unknown_group_option_fails_at_composition() -> None:
    with pytest.raises(ConfigCompositionException, match="data"):
        compose_cfg(["data=nonesuch"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("style.image=/no/such/style.jpg", "style.image"),
        ("style.image=builtin:nonesuch", "style.image"),
        ("trainer.device=tpu", "trainer.device"),
        ("trainer.image_size=66", "trainer.image_size"),
        ("loss.content_layer=relu9_9", "loss.content_layer"),
        ("loss.weights=/no/such/vgg.pth", "loss.weights"),
        ("export.name=Not/A/Name", "export.name"),
        ("trainer.precision=fp8", "trainer.precision"),
        ("trainer.precision=fp16", "trainer.precision"),  # the debug preset runs on the CPU
    ],
)
def test_bad_value_fails_before_training_naming_the_key(
    tmp_path: Path, override: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        train(tiny(tmp_path, override))
    assert not (tmp_path / "run" / "models").exists()


def test_empty_content_folder_names_the_key(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"data\.content_dir"):
        train(tiny(tmp_path, "data=folder", f"data.content_dir={empty}"))


def test_missing_required_value_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"content_dir"):
        train(tiny(tmp_path, "data=folder"))


def test_existing_entry_is_kept_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "run" / "models" / "debug").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"export\.overwrite"):
        train(tiny(tmp_path))


def test_folder_data_trains(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "content" / "sub"
    folder.mkdir(parents=True)
    Image.fromarray(mosaic(80, seed=3)).save(folder / "a.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = tiny(
            tmp_path, "data=folder", f"data.content_dir={tmp_path / 'content'}", "trainer.steps=1"
        )
        result = train(cfg)
    assert "1 images" in result.entry.card.notes


def test_vgg_loads_torchvision_layout_and_taps_match_functional(tmp_path: Path) -> None:
    torch.manual_seed(0)
    # torchvision's vgg16 state dict: features.{0,2,5,7,10,12,14,17,19,21,24,26,28} + classifier.
    convs = [
        (0, 3, 64),
        (2, 64, 64),
        (5, 64, 128),
        (7, 128, 128),
        (10, 128, 256),
        (12, 256, 256),
        (14, 256, 256),
        (17, 256, 512),
        (19, 512, 512),
        (21, 512, 512),
        (24, 512, 512),
        (26, 512, 512),
        (28, 512, 512),
    ]
    sd = {}
    for i, cin, cout in convs:
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3) * (2 / (9 * cin)) ** 0.5
        sd[f"features.{i}.bias"] = torch.randn(cout) * 0.1
    sd["classifier.0.weight"] = torch.randn(8, 8)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(sd, path)
    net = VGG16Features()
    load_imagenet_weights(net, path)

    x = torch.randn(2, 3, 40, 48)
    got = net(x)

    def conv(h: torch.Tensor, i: int) -> torch.Tensor:
        return F.relu(F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1))

    expected = {}
    h = conv(conv(x, 0), 2)
    expected["relu1_2"] = h
    h = conv(conv(F.max_pool2d(h, 2), 5), 7)
    expected["relu2_2"] = h
    h = conv(conv(conv(F.max_pool2d(h, 2), 10), 12), 14)
    expected["relu3_3"] = h
    h = conv(conv(conv(F.max_pool2d(h, 2), 17), 19), 21)
    expected["relu4_3"] = h
    assert list(got) == list(TAPS)
    for k in TAPS:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-4, atol=1e-4)
    only = net(x, ["relu2_2"])
    assert list(only) == ["relu2_2"]


def test_gram_definition() -> None:
    f = torch.randn(2, 3, 4, 5)
    flat = f.reshape(2, 3, 20)
    torch.testing.assert_close(gram(f), torch.einsum("nci,ndi->ncd", flat, flat) / 60)


def test_gram_of_half_features_is_finite_under_autocast() -> None:
    """fp16 training: relu1_2 at 256x256 sums 65,536 products a channel pair, past fp16's 65504.
    The Gram matrix must come out finite (an inf style loss makes the scaler skip every step)."""
    f = torch.full((1, 4, 256, 256), 8.0, dtype=torch.float16)
    with torch.autocast("cpu", dtype=torch.float16):
        g = gram(f)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()
    torch.testing.assert_close(g, torch.full((1, 4, 4), 16.0))


def test_mosaic_is_deterministic_and_colourful() -> None:
    a, b, c = mosaic(64, seed=1), mosaic(64, seed=1), mosaic(64, seed=2)
    assert a.shape == (64, 64, 3) and (a == b).all() and not (a == c).all()
    assert a.std(axis=(0, 1)).mean() > 30  # vivid, varied colours
