"""What a run leaves behind: the models-directory entry the server picks up, and a sample grid
in the run folder for a person to look at."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from artem_server.models.card import ModelCard
from artem_server.models.onnx_export import ONNX_FILE
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


@dataclass(frozen=True)
class EntryKind:
    """What a training kind tells the export about its net: the card's `kind`, the card's
    `architecture` fields (what the server rebuilds the net from), and optionally how to write
    `model.onnx` from the stored weights, with the note that states the graph's inputs."""

    name: str
    architecture: Callable[[torch.nn.Module], dict[str, Any]]
    onnx: Callable[[torch.nn.Module], bytes] | None = None
    onnx_io: str = ""


def export_entry(
    net: torch.nn.Module,
    kind: EntryKind,
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
    """Write `net` (an image-to-image net, moved to CPU, eval mode) as a `kind` entry with a
    thumbnail, and with model.onnx when `onnx` (the kind's exporter). `licence`: the card's
    licence note (a distilled style adds its teacher's)."""
    net = net.cpu().eval()
    files = {ONNX_FILE: kind.onnx(as_stored(net, fp16))} if onnx and kind.onnx else None
    card = ModelCard(
        name=name,
        kind=kind.name,
        display_name=display_name,
        architecture=kind.architecture(net),
        source=source,
        made_by=made_by,
        license=licence,
        notes=f"{notes} {kind.onnx_io}." if files else notes,
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
    net: torch.nn.Module,
    contents: Sequence[np.ndarray],
    style: np.ndarray,
    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Image.Image:
    """Top row: the style image, then each content square; bottom row: blank, then each one
    stylized; with a `teacher`, a middle row of its outputs, to compare the two by eye.
    `contents`: (S, S, 3) uint8 RGB squares; `style`: any (H, W, 3) uint8 RGB."""
    size = contents[0].shape[0]
    device = next(net.parameters()).device
    batch = to_batch(contents).to(device)
    with torch.inference_mode():
        outs = [net.eval()(batch)] if teacher is None else [teacher(batch), net.eval()(batch)]
    style_sq = np.asarray(Image.fromarray(style).resize((size, size), Image.Resampling.BICUBIC))
    blank = np.full_like(style_sq, 255)
    rows = [np.concatenate([style_sq, *contents], axis=1)]
    for out in outs:
        images = out.clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        rows.append(np.concatenate([blank, *images], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))
