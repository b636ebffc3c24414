"""The adain path of the real `artem` command: import the peer's two files, add a style from an
image, list it, stylize with it (strength, mix, colour)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from adain_reference import peer_decoder_state_dict, peer_encoder_state_dict, ref_style_transfer
from PIL import Image
from test_cli import artem


def t01(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def peer(tmp_path_factory, photo):
    root = tmp_path_factory.mktemp("adain-cli")
    enc, dec = peer_encoder_state_dict(8), peer_decoder_state_dict(9, width=8)
    torch.save(enc, root / "vgg_normalised.pth")
    torch.save(dec, root / "decoder.pth")
    Image.fromarray(photo[300:364, 0:80]).save(root / "blue.png")
    Image.fromarray(photo[60:120, 150:230]).save(root / "red.jpg", quality=95)
    Image.fromarray(photo[100:148, 120:184]).save(root / "content.png")
    models = root / "models"
    # swapped order on purpose: the files are told apart by their keys
    out = artem(
        "models",
        "import",
        str(root / "decoder.pth"),
        str(root / "vgg_normalised.pth"),
        "--name",
        "art",
        "--models-dir",
        str(models),
    ).stdout
    assert "adain model 'art'" in out
    for name, img in (("blue", "blue.png"), ("red", "red.jpg")):
        artem(
            "styles",
            "add",
            str(root / img),
            "--name",
            name,
            "--model",
            "art",
            "--models-dir",
            str(models),
        )
    return root, models, enc, dec


def test_styles_list_shows_adain_styles_and_models(peer):
    _, models, _, _ = peer
    out = artem("styles", "list", "--models-dir", str(models)).stdout
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "adain:art" in lines["blue"] and "adain:art" in lines["red"]
    (models_line,) = [line for line in out.splitlines() if line.startswith("adain models")]
    assert "art" in models_line.split(": ")[1].split(", ")  # beside the shipped adain-lite


def test_stylize_with_an_adain_style_equals_the_peer(peer, tmp_path):
    root, models, enc, dec = peer
    content = np.asarray(Image.open(root / "content.png"))
    styles = {
        "blue": np.asarray(Image.open(root / "blue.png")),
        "red": np.asarray(Image.open(root / "red.jpg")),
    }
    runs = {
        "plain": (["--style", "blue"], [styles["blue"]], None, 1.0),
        "alpha": (["--style", "blue", "--strength", "0.5"], [styles["blue"]], None, 0.5),
        "mix": (["--mix", "blue=0.3,red=0.7"], [styles["blue"], styles["red"]], [0.3, 0.7], 1.0),
    }
    for name, (flags, style_imgs, weights, alpha) in runs.items():
        artem(
            "stylize",
            str(root / "content.png"),
            "-o",
            str(tmp_path / f"{name}.png"),
            *flags,
            "--models-dir",
            str(models),
            "--device",
            "cpu",
        )
        got = np.asarray(Image.open(tmp_path / f"{name}.png")).astype(int)
        with torch.inference_mode():
            ref = ref_style_transfer(
                enc, dec, t01(content), [t01(s) for s in style_imgs], weights, alpha
            )[0]
        want = (ref * 255).clamp(0, 255).round().permute(1, 2, 0).numpy().astype(int)
        assert np.abs(got - want).max() <= 1, name
    artem(
        "stylize",
        str(root / "content.png"),
        "-o",
        str(tmp_path / "kept.png"),
        "--style",
        "blue",
        "--preserve-color",
        "--models-dir",
        str(models),
    )
    kept = np.asarray(Image.open(tmp_path / "kept.png")).astype(int)
    assert np.abs(kept - np.asarray(Image.open(tmp_path / "plain.png")).astype(int)).mean() > 2


def test_cli_errors_say_what_is_wrong_and_store_nothing(peer, tmp_path):
    root, models, _, _ = peer
    before = sorted(p.name for p in models.iterdir())
    (tmp_path / "junk.png").write_bytes(b"not an image")
    cases = [
        (
            [
                "models",
                "import",
                str(root / "decoder.pth"),
                str(root / "decoder.pth"),
                "--name",
                "x",
            ],
            "decoder.pth is a pytorch-AdaIN decoder",
        ),
        (["models", "import", str(root / "vgg_normalised.pth"), "--name", "x"], "needs both files"),
        (
            ["styles", "add", str(tmp_path / "junk.png"), "--name", "x", "--model", "art"],
            "image does not decode",
        ),
        (
            ["styles", "add", str(root / "blue.png"), "--name", "x", "--model", "nope"],
            "model 'nope'",
        ),
        (
            ["styles", "add", str(root / "blue.png"), "--name", "blue", "--model", "art"],
            "name 'blue' is taken",
        ),
        (
            [
                "styles",
                "add",
                str(root / "blue.png"),
                "--name",
                "x",
                "--model",
                "art",
                "--size",
                "3",
            ],
            "size = 3",
        ),
        (
            [
                "stylize",
                str(root / "content.png"),
                "-o",
                str(tmp_path / "o.png"),
                "--mix",
                "blue=1,red=-1",
            ],
            "--mix[1].weight = -1.0",
        ),
        (
            [
                "stylize",
                str(root / "content.png"),
                "-o",
                str(tmp_path / "o.png"),
                "--style",
                "blue",
                "--strength",
                "1.5",
            ],
            "--strength 1.5",
        ),
    ]
    for args, text in cases:
        proc = artem(*args, "--models-dir", str(models), check=False)
        assert proc.returncode == 2 and text in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in models.iterdir()) == before
    assert not (tmp_path / "o.png").exists()
