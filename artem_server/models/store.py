"""Entries in a models directory: `<dir>/<name>/{card.json, weights.safetensors, thumbnail.png}`
(and model.onnx when training exported one).

Writes are atomic: an entry is assembled in a hidden sibling folder and renamed into place, so
the directory watcher never sees half an entry and a failed import leaves nothing behind.
Weights are safetensors: loading never unpickles code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .card import CARD_FILE, THUMBNAIL_FILE, WEIGHTS_FILE, ModelCard, validate_name


class EntryExists(FileExistsError):
    pass


class Cancelled(Exception):
    """Making an entry was stopped before anything was stored (a style's encoding, an add)."""


@dataclass(frozen=True)
class Entry:
    path: Path
    card: ModelCard

    @property
    def name(self) -> str:
        return self.card.name

    def load_weights(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        weights = self.path / WEIGHTS_FILE
        if not weights.exists():
            return {}
        # integer tensors (an xnor entry's packed sign bits) are kept as they are
        return {
            k: v.to(dtype) if v.is_floating_point() else v
            for k, v in load_file(str(weights)).items()
        }

    def thumbnail_png(self) -> bytes:
        p = self.path / THUMBNAIL_FILE
        return p.read_bytes() if p.exists() else b""


def write_entry(
    models_dir: Path,
    card: ModelCard,
    tensors: dict[str, torch.Tensor],
    thumbnail_png: bytes = b"",
    *,
    half: bool = True,
    overwrite: bool = False,
    files: dict[str, bytes] | None = None,
) -> Entry:
    """Store one entry. `half` keeps the floating-point weights as fp16 on disk (half the size;
    loading converts back to fp32); integer tensors are stored as they are. `files`: more files
    for the entry ({name: content}, e.g. an ONNX export). An existing entry of the same name is
    kept unless `overwrite`."""
    validate_name(card.name)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / card.name
    if final.exists() and not overwrite:
        raise EntryExists(
            f"a model named {card.name!r} already exists in {models_dir} (use --force to replace "
            f"it)"
        )
    staging = Path(tempfile.mkdtemp(prefix=f".incoming-{card.name}-", dir=models_dir))
    try:
        if tensors:
            dtype = torch.float16 if half else torch.float32
            save_file(
                {
                    k: v.detach()
                    .to("cpu", dtype if v.is_floating_point() else v.dtype)
                    .contiguous()
                    for k, v in tensors.items()
                },
                str(staging / WEIGHTS_FILE),
            )
        if thumbnail_png:
            (staging / THUMBNAIL_FILE).write_bytes(thumbnail_png)
        for name, content in (files or {}).items():
            if Path(name).name != name or name in (CARD_FILE, WEIGHTS_FILE, THUMBNAIL_FILE):
                raise ValueError(
                    f"entry file name {name!r}: expected a plain file name other than the entry's "
                    f"own"
                )
            (staging / name).write_bytes(content)
        # The card goes last: the watcher treats a folder without a card as incomplete.
        (staging / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".replaced-{card.name}-", dir=models_dir))
            os.replace(final, trash / card.name)
            os.replace(staging, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Entry(final, card)


def read_entry(path: Path) -> Entry:
    """Read one entry's card; raises if the card is missing or malformed."""
    path = Path(path)
    card = ModelCard.read(path / CARD_FILE)
    if card.name != path.name:
        raise ValueError(f"card name {card.name!r} does not match its folder {path.name!r}")
    return Entry(path, card)


def list_entry_dirs(models_dir: Path) -> list[Path]:
    """Folders that look like entries (hidden staging folders are skipped)."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    return sorted(
        p
        for p in models_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / CARD_FILE).exists()
    )
