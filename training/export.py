"""What a run leaves behind: the models-directory entry the server picks up, and a sample grid
in the run folder for a person to look at."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from artem_server.models.card import ModelCard
from artem_server.models.generator import Generator
from artem_server.models.onnx_export import GENERATOR_IO, ONNX_FILE, export_onnx
from artem_server.models.store import Entry, write_entry
from artem_server.models.thumbnail import render_thumbnail

from .data import to_batch

LICENSE_NOTE = (
    "BSD-3-Clause, like ArtEm. Made by artem-train from its own generated style image "
    "and the content images named in the notes (check their licences before shipping "
    "a model trained on a folder you supplied)."
)

DISTILLED_NOTE = (
    "BSD-3-Clause, like ArtEm. Made by artem-train from a teacher network's outputs on "
    "the content images named in the notes."
)


def as_stored(net: torch.nn.Module, fp16: bool) -> torch.nn.Module:
    """A CPU copy of `net` with its weights as an entry keeps them (fp16-rounded when `fp16`):
    an ONNX export made from it computes what the server computes from the entry."""
    out = copy.deepcopy(net).cpu().eval()
    if fp16:
        with torch.no_grad():
            for t in out.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.half().float())
    return out


def export_entry(
    generator: Generator,
    models_dir: Path,
    name: str,
    display_name: str,
    made_by: dict[str, Any],
    notes: str,
    source: str,
    *,
    fp16: bool,
    overwrite: bool,
    onnx: bool = False,
    licence: str = LICENSE_NOTE,
) -> Entry:
    """Write `generator` (moved to CPU, eval mode) as a `generator` entry with a thumbnail,
    and with model.onnx when `onnx`. `licence`: the card's licence note (a distilled style adds
    its teacher's)."""
    net = generator.cpu().eval()
    files = {ONNX_FILE: export_onnx(as_stored(net, fp16))} if onnx else None
    card = ModelCard(
        name=name,
        kind="generator",
        display_name=display_name,
        architecture=net.config.to_dict(),
        source=source,
        made_by=made_by,
        license=licence,
        notes=f"{notes} {GENERATOR_IO}." if onnx else notes,
    )
    return write_entry(
        Path(models_dir),
        card,
        net.state_dict(),
        render_thumbnail(net),
        half=fp16,
        overwrite=overwrite,
        files=files,
    )


def sample_grid(
    generator: Generator,
    contents: Sequence[np.ndarray],
    style: np.ndarray,
    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Image.Image:
    """Top row: the style image, then each content square; bottom row: blank, then each one
    stylized; with a `teacher`, a middle row of its outputs, to compare the two by eye.
    `contents`: (S, S, 3) uint8 RGB squares; `style`: any (H, W, 3) uint8 RGB."""
    size = contents[0].shape[0]
    device = next(generator.parameters()).device
    batch = to_batch(contents).to(device)
    with torch.inference_mode():
        outs = (
            [generator.eval()(batch)]
            if teacher is None
            else [teacher(batch), generator.eval()(batch)]
        )
    style_sq = np.asarray(Image.fromarray(style).resize((size, size), Image.Resampling.BICUBIC))
    blank = np.full_like(style_sq, 255)
    rows = [np.concatenate([style_sq, *contents], axis=1)]
    for out in outs:
        images = out.clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        rows.append(np.concatenate([blank, *images], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))
