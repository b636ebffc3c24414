"""The README's comfort grid: how much a style's picture jumps when the view moves, before and
after a style's comfort work.

    .venv/bin/python scripts/comfort_grid.py --before DIR [--style NAME ...] [-o FILE]

One row per style: the pan's first frame (a crop of scikit-image's astronaut, as `artem eval
comfort` pans it), the style from `--before` (a models directory holding the earlier entries of
the same names, e.g. checked out from the repository's history), the built-in style now, then
how much each stylized frame changes when the view moves 3 px sideways (|stylized moved frame -
stylized frame moved| x4, black = none), before and now. Everything runs on the CPU through
ArtEm's pipeline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from artem_server.comfort import pan_frames
from artem_server.local import stylize_array
from artem_server.pipeline import Pipeline
from artem_server.registry import Registry
from artem_server.runs import Runs

MOVE = (0, 3)  # not a multiple of any net's stride: the move a stride-locked texture gets wrong
GAIN = 4


def move_difference(first: np.ndarray, moved: np.ndarray, dx: int) -> np.ndarray:
    """|stylized moved frame - stylized first frame moved|, x GAIN, on the common part."""
    a = first[:, dx:].astype(np.float32)
    b = moved[:, : moved.shape[1] - dx].astype(np.float32)
    d = np.clip(np.abs(a - b) * GAIN, 0, 255).astype(np.uint8)
    return np.pad(d, ((0, 0), (0, dx), (0, 0)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="models dir of the earlier entries")
    p.add_argument(
        "--style",
        action="append",
        help="repeatable (default: nocturne tessera swirl stained-glass)",
    )
    p.add_argument("-o", "--output", type=Path, default=Path("docs/images/comfort-grid.jpg"))
    p.add_argument("--tile", type=int, default=192)
    args = p.parse_args()
    styles = args.style or ["nocturne", "tessera", "swirl", "stained-glass"]
    pipe = Runs(Pipeline(torch.device("cpu"))).bind(None)
    now, before = Registry(None), Registry(args.before, builtin_dir=None)
    first, (moved,) = pan_frames(256, [MOVE])
    rows = []
    for name in styles:
        outs = []
        for reg in (before, now):
            style = reg.get(name)
            a, b = stylize_array(pipe, style, first), stylize_array(pipe, style, moved)
            outs.append((a, move_difference(a, b, MOVE[1])))
        tiles = [first, outs[0][0], outs[1][0], outs[0][1], outs[1][1]]
        rows.append(
            np.concatenate(
                [np.asarray(Image.fromarray(t).resize((args.tile,) * 2)) for t in tiles], 1
            )
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(args.output, quality=90)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
