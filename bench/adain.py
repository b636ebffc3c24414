"""AdaIN on this machine: per-frame time of an adain style against a generator at square sizes,
through the same pipeline the server runs (conversions included), and the time to add a style.

    .venv/bin/python bench/adain.py [--sizes 256 512] [--repeats 5] [--models-dir DIR]

Styles: the shipped `swirl` (adain-lite) and `tessera` (generator) when present, else a
full-size random generator; AddStyle is timed on a 512x512 photograph into a temporary folder.
Warms up, times, prints; never asserts (the tests do).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from artem_server.local import stylize_array
from artem_server.models.card import ModelCard
from artem_server.models.generator import Generator
from artem_server.pipeline import Pipeline
from artem_server.registry import Registry, Style
from artem_server.style_choice import ChoiceCache, choose
from artem_server.styles import add_style


def photo(size: int) -> np.ndarray:
    from skimage import data

    return np.asarray(
        Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.BICUBIC)
    )


def time_styles(
    pipeline: Pipeline, styles: list[Style], rgb: np.ndarray, repeats: int
) -> list[list[float]]:
    """Milliseconds per call for each style, the styles interleaved in every round so that load
    from other jobs falls on all of them alike."""
    for style in styles:
        stylize_array(pipeline, style, rgb)  # warm-up
    times: list[list[float]] = [[] for _ in styles]
    for _ in range(repeats):
        for i, style in enumerate(styles):
            start = time.perf_counter()
            stylize_array(pipeline, style, rgb)
            times[i].append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--models-dir", type=Path, default=Path("models"))
    p.add_argument("--adain-style", default="swirl")
    p.add_argument("--generator-style", default="tessera")
    args = p.parse_args()
    registry = Registry(args.models_dir)
    pipeline = Pipeline(torch.device("cpu"))
    adain = registry.get(args.adain_style)
    if args.generator_style in registry.ids():
        generator = registry.get(args.generator_style)
    else:  # the cost of any full-size generator
        generator = Style(
            "random-generator",
            ModelCard(name="random-generator", kind="generator"),
            Generator().eval(),
            b"",
            "server",
            (),
        )
    mixed = (
        choose(registry, ChoiceCache(), "", [(adain.id, 0.5), ("stained-glass", 0.5)], 0.8, True)
        if "stained-glass" in registry.ids()
        else None
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; adain {adain.id!r} "
        f"(model {adain.card.architecture.get('model')}), generator {generator.id!r}"
    )
    print("per frame, ms: min / median of the rounds (min is the least disturbed by other jobs)")
    print(
        f"{'size':>9}  {'generator':>15}  {'adain':>15}  {'adain mix+colour':>17}  "
        f"{'adain/generator (min)':>21}"
    )
    for size in args.sizes:
        styles = [generator, adain] + ([replace(adain, model=mixed.model)] if mixed else [])
        g, a, *m = time_styles(pipeline, styles, photo(size), args.repeats)
        cell = lambda t: f"{min(t):.0f} / {statistics.median(t):.0f}"  # noqa: E731
        print(
            f"{size:>4}x{size:<4}  {cell(g):>15}  {cell(a):>15}  {cell(m[0]) if m else 'n/a':>17}  "
            f"{min(a) / min(g):>21.2f}"
        )
    buf = io.BytesIO()
    Image.fromarray(photo(512)).save(buf, format="PNG")
    model = str(adain.card.architecture.get("model"))
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry(Path(tmp))
        for size in (None, 256):
            start = time.perf_counter()
            add_style(
                reg,
                Path(tmp),
                f"bench-{size or 'own'}",
                model,
                buf.getvalue(),
                size,
                source="bench",
            )
            label = "own size (512x512)" if size is None else f"size {size}"
            print(
                f"add a style from a 512x512 PNG at {label}: "
                f"{(time.perf_counter() - start) * 1e3:.0f} ms "
                "(decode, two encoder passes, thumbnail, write, registry refresh)"
            )


if __name__ == "__main__":
    main()
