"""Import the peers' published checkpoints into our format, fixing their quirks in one place.

Only data is read: `torch.load(weights_only=True)` refuses pickled code.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import torch

from .card import ModelCard, validate_name
from .generator import Generator, GeneratorConfig
from .store import Entry, write_entry
from .thumbnail import render_thumbnail


class CheckpointError(ValueError):
    """A checkpoint that is not what it claims to be; the message says what was expected."""


# pytorch/examples' 2017 checkpoints (PyTorch < 0.4) carry InstanceNorm running statistics that
# today's InstanceNorm2d(track_running_stats=False) has no buffers for (pytorch/examples #367).
# neural_style.py's `stylize` drops them with this same pattern; so do we.
_LEGACY_IN_STATS = re.compile(r"in\d+\.running_(mean|var)$")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A flat {key: tensor} dict from a `.pth`/`.model` file, refusing anything but tensors."""
    path = Path(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only raises UnpicklingError for code; zip errors for junk
        raise CheckpointError(
            f"{path}: not a PyTorch state dict that loads as data ({e.__class__.__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path}: expected a dict of tensors (a state_dict), got {type(obj).__name__}"
        )
    return dict(obj)


def generator_config_from_keys(sd: dict[str, torch.Tensor]) -> GeneratorConfig:
    """Infer the widths and residual-block count from the tensors present."""
    w = sd.get("conv1.conv2d.weight")
    if w is None or w.ndim != 4 or tuple(w.shape[1:]) != (3, 9, 9):
        raise CheckpointError(
            "not a fast_neural_style TransformerNet checkpoint: expected key 'conv1.conv2d.weight' "
            f"of shape [width, 3, 9, 9], found {tuple(w.shape) if w is not None else 'no such key'}"
        )
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"res(\d+)\.", k))}
    edge = int(w.shape[0])
    down, up = sd.get("conv2.conv2d.weight"), sd.get("deconv1.conv2d.weight")
    width = int(down.shape[0]) // 2 if down is not None and down.ndim == 4 else edge
    up_width = int(up.shape[0]) if up is not None and up.ndim == 4 else 2 * width
    return GeneratorConfig(
        width=width,
        res_blocks=max(blocks) if blocks else 0,
        edge_width=None if edge == width else edge,  # a slim decoder (GeneratorConfig)
        up_width=None if up_width == 2 * width else up_width,
    )


def generator_from_state_dict(
    sd: dict[str, torch.Tensor], antialias: bool = False
) -> tuple[Generator, list[str]]:
    """Build a Generator from a pytorch/examples state dict (modern or 2017 legacy).
    `antialias` is the one architecture option the keys cannot show (its blur has no weights).

    Returns the net and the legacy keys that were dropped. Any other missing or unexpected key
    is refused with a message listing them.
    """
    dropped = sorted(k for k in sd if _LEGACY_IN_STATS.search(k))
    sd = {k: v for k, v in sd.items() if k not in dropped}
    net = Generator(replace(generator_config_from_keys(sd), antialias=antialias))
    expected = net.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong_shape = sorted(k for k in set(sd) & set(expected) if sd[k].shape != expected[k].shape)
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if wrong_shape:
            parts.append(
                "wrong shapes "
                + ", ".join(
                    f"{k} {tuple(sd[k].shape)} (expected {tuple(expected[k].shape)})"
                    for k in wrong_shape
                )
            )
        raise CheckpointError("not a TransformerNet state dict: " + "; ".join(parts))
    net.load_state_dict({k: v.float() for k, v in sd.items()})
    return net.eval(), dropped


def import_generator(
    path: Path,
    name: str,
    models_dir: Path,
    *,
    license: str = "",
    overwrite: bool = False,
    source: str = "",
) -> tuple[Entry, list[str]]:
    """Store a pytorch/examples `.pth`/`.model` file as a models-directory entry. `source`
    (default: the file's name) is where it came from, e.g. the URL `artem models pull` used.

    Returns the entry and the legacy keys that were dropped."""
    path = Path(path)
    validate_name(name)
    net, dropped = generator_from_state_dict(read_state_dict(path))
    card = ModelCard(
        name=name,
        kind="generator",
        architecture=net.config.to_dict(),
        source=source or f"imported from {path.name}",
        license=license or "unknown: as published with the source file",
        made_by={
            "command": f"artem models import {path.name} --name {name}",
            "legacy_keys_dropped": len(dropped),
        },
        notes="pytorch/examples fast_neural_style TransformerNet",
    )
    entry = write_entry(
        models_dir, card, net.state_dict(), render_thumbnail(net), overwrite=overwrite
    )
    return entry, dropped
