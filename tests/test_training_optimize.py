"""`artem stylize --method optimize`: Gatys et al.'s pixel optimization on the training loss
lowers that loss, and the CLI writes images (and refuses what it cannot do)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from artem_training.optimize import optimize_image
from artem_training.style_images import mosaic
from PIL import Image

from artem_server import cli


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG fallback warning
        yield
    torch.set_num_threads(threads)


def content() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(128, 40, (40, 48, 3)), 0, 255).astype(np.uint8)


def test_optimization_lowers_the_perceptual_loss() -> None:
    # One step reports the loss of the content image itself (taken before its update).
    _, start = optimize_image(content(), "builtin:mosaic", 1, progress=False)
    out, end = optimize_image(content(), "builtin:mosaic", 25, progress=False)
    assert start["content_loss"] == 0 and start["style_loss"] > 0
    assert end["content_loss"] + end["style_loss"] < 0.8 * start["style_loss"]
    assert out.shape == content().shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - content()).mean() > 1


def test_cli_writes_the_stylized_image(tmp_path: Path, capsys) -> None:
    src, style = tmp_path / "in.png", tmp_path / "style.png"
    Image.fromarray(content()).save(src)
    Image.fromarray(mosaic(64, seed=1)).save(style)
    rc = cli.main(
        [
            "--log-level",
            "WARNING",
            "stylize",
            str(src),
            "-o",
            str(tmp_path / "out" / "a.png"),
            "--method",
            "optimize",
            "--style-image",
            str(style),
            "--steps",
            "2",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0 and "style loss" in capsys.readouterr().out
    assert Image.open(tmp_path / "out" / "a.png").size == (48, 40)


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "--style-image"),
        (["--style-image", "builtin:mosaic", "--steps", "0"], "--steps"),
        (["--style-image", "/no/such.png"], "/no/such.png"),
    ],
)
def test_cli_refusals_say_why(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(content()).save(src)
    rc = cli.main(
        [
            "--log-level",
            "WARNING",
            "stylize",
            str(src),
            "-o",
            str(tmp_path / "o.png"),
            "--method",
            "optimize",
            "--device",
            "cpu",
            *extra,
        ]
    )
    assert rc == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
