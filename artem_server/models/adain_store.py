"""AdaIN entries in a models directory. Both are kind "adain"; the card's architecture says
which one (`role`):

- a model: `weights.safetensors` holds `encoder.*` (31 modules) and `decoder.*`; the
  architecture is an AdaINConfig. It is not a style: it cannot stylize without one. With
  `network: cin` in the architecture it is the fast net instead (models/adain_cin.py: a
  style predictor and a conditional-instance-norm generator; a CINConfig).
- a style: `weights.safetensors` holds its image's statistics (StyleStats, fp32), or for the
  fast net its style vector; the architecture is an AdaINStyleSpec naming the model it belongs
  to and a digest of the encoder (the predictor) that computed them, so a style never runs
  against an encoder it was not made with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .adain import AdaINConfig, AdaINNet
from .adain_cin import NETWORK as CIN
from .adain_cin import VECTOR_KEY, CINConfig, CINNet, CINStylizer
from .adain_style import AdaINStylizer, StyleStats, compute_style_stats
from .card import ModelCard
from .onnx_shipped import attach
from .store import Entry, write_entry
from .thumbnail import render_thumbnail

ROLE_MODEL = "model"
ROLE_STYLE = "style"


def encoder_digest(net: AdaINNet) -> str:
    """A short hash of the encoder's fp32 weights (as loaded, so fp16-stored files hash the same
    every time they load). An anti-aliased encoder computes other statistics from the same
    weights, so it has its own digest."""
    h = hashlib.sha256()
    for key, t in sorted(net.encoder.state_dict().items()):
        h.update(key.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    if net.config.antialias:
        h.update(b"antialias")
    return h.hexdigest()[:16]


def model_config(architecture: dict[str, Any]) -> AdaINConfig | CINConfig:
    """A model card's architecture as its net's config: the VGG net's, or with `network: cin`
    the fast net's (ValueError naming the field when it is neither)."""
    network = architecture.get("network", "vgg")
    if network == CIN:
        return CINConfig.from_dict(architecture)
    if network != "vgg":
        raise ValueError(f"adain card: architecture.network {network!r}: expected vgg or {CIN}")
    return AdaINConfig.from_dict(architecture)


def build_net(config: AdaINConfig | CINConfig) -> AdaINNet | CINNet:
    return CINNet(config) if isinstance(config, CINConfig) else AdaINNet(config)


@dataclass(frozen=True)
class AdaINModel:
    """A loaded adain model: eval-mode fp32 CPU net, its encoder digest and its card."""

    name: str
    net: AdaINNet | CINNet
    digest: str
    card: ModelCard


@dataclass(frozen=True)
class AdaINStyleSpec:
    """A style entry's architecture: the model it belongs to, the digest of that model's encoder
    when the statistics were computed, and the (width, height) the image was encoded at."""

    model: str
    encoder_digest: str
    image_size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": ROLE_STYLE,
            "model": self.model,
            "encoder_digest": self.encoder_digest,
            "image_size": list(self.image_size),
            "layer": "relu4_1",
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AdaINStyleSpec:
        try:
            w, h = (int(v) for v in d["image_size"])
            return cls(
                model=str(d["model"]), encoder_digest=str(d["encoder_digest"]), image_size=(w, h)
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"adain style card: architecture {d} lacks model/encoder_digest/image_size"
            ) from e


def load_adain_model(entry: Entry) -> AdaINModel:
    """Rebuild the net from a model entry; refuses missing, unexpected or misshapen tensors."""
    net = build_net(model_config(entry.card.architecture))
    sd = entry.load_weights()
    expected = net.state_dict()
    bad = sorted(set(expected) ^ set(sd)) + sorted(
        k for k in set(sd) & set(expected) if sd[k].shape != expected[k].shape
    )
    if bad:
        raise ValueError(
            f"{entry.path}: weights do not fit an adain net with {net.config} "
            f"(missing, unexpected or misshapen: {bad[:6]})"
        )
    net.load_state_dict(sd)
    net = net.eval().requires_grad_(False)
    attach(net, entry.path)
    digest = net.predictor_digest() if isinstance(net, CINNet) else encoder_digest(net)
    return AdaINModel(entry.name, net, digest, entry.card)


Style = StyleStats | torch.Tensor  # what a style entry holds: statistics, or a fast net's vector


def compute_style(
    model: AdaINModel, rgb: np.ndarray, cancelled: Callable[[], bool] | None = None
) -> Style:
    """What an (H, W, 3) uint8 RGB image is as a style of `model`."""
    if isinstance(model.net, CINNet):
        return model.net.style_vector(rgb, cancelled)
    return compute_style_stats(model.net, rgb, cancelled)


def stylizer(net: AdaINNet | CINNet, style: Style) -> AdaINStylizer | CINStylizer:
    """The style as a runnable module on `net` (alpha 1, its own colours)."""
    if isinstance(net, CINNet):
        assert isinstance(style, torch.Tensor)
        return CINStylizer(net, style)
    assert isinstance(style, StyleStats)
    return AdaINStylizer(net, style)


def _style_tensors(style: Style) -> dict[str, torch.Tensor]:
    if isinstance(style, torch.Tensor):
        return {VECTOR_KEY: style.float().reshape(-1)}
    return style.to_tensors()


def load_adain_style(entry: Entry, model: AdaINModel) -> AdaINStylizer | CINStylizer:
    """The style as a runnable stylizer (alpha 1, its own colours) on `model`'s net."""
    spec = AdaINStyleSpec.from_dict(entry.card.architecture)
    if spec.model != model.name:
        raise ValueError(f"{entry.path}: style belongs to model {spec.model!r}, not {model.name!r}")
    if spec.encoder_digest != model.digest:
        raise ValueError(
            f"{entry.path}: its statistics were computed with another encoder than model "
            f"{model.name!r} has now (digest {spec.encoder_digest} != {model.digest}); "
            "add the style again"
        )
    tensors = entry.load_weights()
    if isinstance(model.net, CINNet):
        if VECTOR_KEY not in tensors:
            raise ValueError(f"{entry.path}: a style of a fast adain net lacks {VECTOR_KEY!r}")
        vector = tensors[VECTOR_KEY].float().reshape(-1)
        if vector.numel() != model.net.config.style_dim:
            raise ValueError(
                f"{entry.path}: style vector of {vector.numel()} numbers; model {model.name!r} "
                f"takes {model.net.config.style_dim}"
            )
        return CINStylizer(model.net, vector)
    return AdaINStylizer(model.net, StyleStats.from_tensors(tensors))


def write_adain_model(
    models_dir: Path,
    name: str,
    net: AdaINNet | CINNet,
    *,
    source: str,
    made_by: dict[str, Any],
    license: str,
    notes: str,
    display_name: str = "",
    half: bool = False,
    overwrite: bool = False,
    files: dict[str, bytes] | None = None,
) -> Entry:
    """Store a model entry. fp32 by default: imported weights then give the peer's output
    exactly; `half` halves the file for shipped models. `files`: as write_entry's."""
    card = ModelCard(
        name=name,
        kind="adain",
        display_name=display_name,
        architecture={"role": ROLE_MODEL, **net.config.to_dict()},
        source=source,
        made_by=made_by,
        license=license,
        notes=notes,
    )
    return write_entry(
        Path(models_dir), card, net.state_dict(), half=half, overwrite=overwrite, files=files
    )


def write_adain_style(
    models_dir: Path,
    name: str,
    model: AdaINModel,
    stats: Style,
    image_size: tuple[int, int],
    *,
    source: str,
    made_by: dict[str, Any] | None = None,
    license: str = "",
    notes: str = "",
    display_name: str = "",
    overwrite: bool = False,
    commit: Callable[[], None] | None = None,
) -> Entry:
    """Store a style entry (statistics or vector in fp32, a few kB) with a thumbnail of it.
    `commit`, when given, is called after the thumbnail and before anything is written: it may
    raise to store nothing."""
    spec = AdaINStyleSpec(model.name, model.digest, image_size)
    layer = "style_vector" if isinstance(model.net, CINNet) else "relu4_1"
    card = ModelCard(
        name=name,
        kind="adain",
        display_name=display_name,
        architecture={**spec.to_dict(), "layer": layer},
        source=source,
        made_by=made_by or {},
        license=license,
        notes=notes,
    )
    thumb = render_thumbnail(stylizer(model.net, stats))
    if commit is not None:
        commit()
    return write_entry(
        Path(models_dir), card, _style_tensors(stats), thumb, half=False, overwrite=overwrite
    )
